//! roster-export: pull rosters out of a OneRoster v1.1 REST API into OneRoster 1.1 CSV bundles,
//! JSON or NDJSON.
//!
//! The layers, each using only those below it (the `oneroster` crate, the v1.1 vocabulary, is
//! under them all):
//!
//! 1. Foundations: `urls`, `records` (a page as the server sent it), `progress`, `logging`,
//!    `signal`, `env_vars`, `spelling`, `storage` (remote outputs, the output lock, private work
//!    folders).
//! 2. `http`: the one HTTP client of a run (pacing, retries, `Retry-After`, body caps).
//!    `export`: CSV, JSON and NDJSON writers, staging and atomic publish (locally or through
//!    `storage`).
//!    `validate`: checks a OneRoster 1.1 CSV bundle (a zip or a folder) against the binding.
//! 3. `auth`: grants, the token cache, OAuth 1.0a signing.
//! 4. `api`: the OneRoster API client (credentials for the configured origin only), behind the
//!    `PageSource` seam.
//! 5. `pager`: walking one collection over any `PageSource`.
//! 6. `settings`: flags, profile, preset and demo merged and checked into a `Config`.
//! 7. `error` (the one mapping to exit codes), then `run`: one export end to end; `fleet`: many
//!    tenants' exports at once, sharing each host's pacer; `check`: what a host is like, from a
//!    token and one small page of each collection.
//! 8. `cli` (clap), then `app` (the commands); `main.rs` only dispatches.
//!
//! The sandbox server lives in its own crate, `roster-sandbox`, used by `--demo` (the default
//! `demo` feature) and by the tests.

pub mod api;
pub mod app;
pub mod auth;
pub mod check;
pub mod cli;
pub mod env_vars;
pub mod error;
pub mod export;
pub mod fleet;
pub mod http;
pub mod logging;
mod named;
pub mod pager;
pub mod progress;
pub mod records;
pub mod run;
pub mod settings;
pub mod signal;
mod spelling;
pub mod state;
pub mod storage;
pub mod urls;
pub mod validate;

#[cfg(test)]
mod test_rng;
