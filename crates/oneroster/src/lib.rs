//! The OneRoster v1.1 vocabulary, with no I/O: the collection table, the OAuth scopes and what they
//! grant, the CSV binding's files and columns, the entities' JSON members, the relationship reads,
//! the enumerations, and status-info bodies.
//!
//! One table ([`COLLECTIONS`]) drives the planner, the pager, the sandbox and the writers, and
//! the scopes' grants are read off it; one column table per CSV file ([`CsvFile::columns`]) drives
//! the header row, the mapping from JSON members, the checks and the references between files.
//! A new collection is a [`CollectionId`] variant with its row, and a [`CsvFile`] with its columns
//! when it has a file.
//! The facts come from `docs/oneroster-notes.md` in the repository.

mod collection;
mod csv;
mod members;
mod nested;
mod scope;
mod status_info;
mod vocab;

pub use collection::{COLLECTIONS, Collection, CollectionId};
pub use csv::{Column, ColumnType, CsvFile, Required};
pub use members::{Member, MemberKind};
pub use nested::{NESTED_READS, NestedRead};
pub use scope::{KnownScope, SCOPE_URI_PREFIX, Scope, ScopeError, scope_param};
pub use status_info::StatusInfo;
pub use vocab::Vocab;

/// The path every v1.1 REST endpoint hangs off, after the host's own prefix.
pub const BASE_PATH_SUFFIX: &str = "ims/oneroster/v1p1";
