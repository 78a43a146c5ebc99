//! roster-export: pull rosters out of a OneRoster v1.1 REST API into OneRoster 1.1 CSV bundles,
//! JSON or NDJSON.
//!
//! Data moves one way: `auth` feeds `http`, which `pager` drives over each `oneroster` collection;
//! pages (`records`) flow into `export` sinks inside a staged bundle published at the end. `run`
//! strings one export together, `app` wraps it for the binary, and `sandbox` is a real OneRoster
//! server for the demo, the tests and the benchmarks.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod error;
pub mod export;
pub mod http;
pub mod logging;
pub mod oneroster;
pub mod pager;
pub mod progress;
pub mod records;
pub mod run;
pub mod sandbox;
pub mod signal;
