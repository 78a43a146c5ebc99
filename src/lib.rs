//! roster-export: pull rosters out of a OneRoster v1.1 REST API into OneRoster 1.1 CSV bundles,
//! JSON or NDJSON.
//!
//! Data moves one way: `auth` feeds `http`, which `pager` drives over each `oneroster` collection;
//! pages (`records`) flow into `export` sinks inside a staged bundle published at the end.

pub mod auth;
pub mod export;
pub mod http;
pub mod oneroster;
pub mod pager;
pub mod progress;
pub mod records;
pub mod sandbox;
