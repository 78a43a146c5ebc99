//! Integration tests: each starts the project's sandbox OneRoster server on 127.0.0.1:0 and runs
//! the real binary against it, then reads what it wrote.

mod support;

mod auth;
mod check;
mod cli;
mod diagnosis;
mod faults;
mod fleet;
mod formats;
mod grants;
mod hosts;
mod incremental;
mod paging;
mod profiles;
mod remote;
mod roster_csv;
mod safety;
mod security;
mod servers;
mod setup;
mod signing;
mod summary;
mod tls;
mod validate;
