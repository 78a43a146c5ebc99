//! The OneRoster v1.1 vocabulary: scopes, the collection table, CSV file layouts and status info.
//!
//! Nothing here does I/O. One table ([`COLLECTIONS`]) drives the planner, the pager, the sandbox and
//! the writers, so adding a collection is one row.

mod collection;
mod csv_file;
mod scope;
mod status_info;

pub use collection::{COLLECTIONS, Collection, CollectionId};
pub use csv_file::CsvFile;
pub use scope::{KnownScope, Scope, ScopeError, scope_param};
pub use status_info::StatusInfo;

/// The path every v1.1 REST endpoint hangs off, after the host's own prefix.
pub const BASE_PATH_SUFFIX: &str = "ims/oneroster/v1p1";
