//! The run's error type and the one mapping from errors to exit codes.

use std::process::ExitCode;

use crate::api::ApiError;
use crate::auth::{AuthError, StoreError};
use crate::export::ExportError;
use crate::http::HttpError;
use crate::pager::PagerError;
use crate::settings::SettingsError;

/// Exit codes, as documented in the README and `--help`.
pub mod exit {
    pub const SUCCESS: u8 = 0;
    pub const UNEXPECTED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const AUTH: u8 = 3;
    pub const SERVER: u8 = 4;
    pub const OUTPUT: u8 = 5;
    pub const INTERRUPTED: u8 = 130;
}

/// Everything that can end a run early.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad flags, environment or configuration.
    #[error("{0}")]
    Usage(String),
    /// "authentication failed" only when the host refused: an unreachable or misnamed token
    /// endpoint, or a token store problem, says so in its own words.
    #[error("{}{}", if .0.is_refusal() { "authentication failed: " } else { "" }, .0)]
    Auth(Box<AuthError>),
    #[error(transparent)]
    Pager(Box<PagerError>),
    #[error(transparent)]
    Http(Box<HttpError>),
    #[error("{0}")]
    Export(#[from] ExportError),
    /// A collection did not add up even after walking it again.
    #[error(
        "{collection}: {doubt} (after {walks} walks); nothing was published, the previous output is \
         untouched (--allow-partial publishes the complete collections and marks this one absent)"
    )]
    Incomplete {
        collection: &'static str,
        walks: u32,
        doubt: String,
    },
    #[error("interrupted; the previous output is untouched")]
    Interrupted,
    #[error("{0}")]
    Internal(String),
}

// Boxed: errors are rare, and a small `Result` keeps every happy path cheap.
impl From<AuthError> for Error {
    fn from(e: AuthError) -> Error {
        Error::Auth(Box::new(e))
    }
}

impl From<PagerError> for Error {
    fn from(e: PagerError) -> Error {
        Error::Pager(Box::new(e))
    }
}

impl From<SettingsError> for Error {
    fn from(e: SettingsError) -> Error {
        Error::Usage(e.0)
    }
}

impl From<HttpError> for Error {
    fn from(e: HttpError) -> Error {
        Error::Http(Box::new(e))
    }
}

impl Error {
    pub fn usage(message: impl Into<String>) -> Error {
        Error::Usage(message.into())
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::Auth(e) => auth_exit_code(e),
            Error::Pager(e) => match &**e {
                PagerError::Api(api) => api_exit_code(api),
                _ => exit::SERVER,
            },
            // A `--ca-cert` file that cannot be used is caught before any request is sent.
            Error::Http(e) if matches!(**e, HttpError::CaCert(_)) => exit::USAGE,
            Error::Http(_) | Error::Incomplete { .. } => exit::SERVER,
            Error::Export(e) if e.is_broken_pipe() => exit::SUCCESS,
            Error::Export(e) if e.is_usage() => exit::USAGE,
            // The data, not the disk, is the problem: a collection shrank suspiciously, or a
            // record could not be read into its CSV row.
            Error::Export(e) if e.is_shrink() || e.is_bad_record() || e.is_invalid() => {
                exit::SERVER
            }
            Error::Export(_) => exit::OUTPUT,
            Error::Interrupted => exit::INTERRUPTED,
            Error::Internal(_) => exit::UNEXPECTED,
        }
    }

    /// Whether to stay silent: the reader of stdout went away (`| head`), which is not a failure.
    pub fn is_quiet(&self) -> bool {
        matches!(self, Error::Export(e) if e.is_broken_pipe())
    }
}

fn auth_exit_code(err: &AuthError) -> u8 {
    match err {
        AuthError::Unreachable(_) => exit::SERVER,
        // A missing, mismatched or damaged token store, or a token URL that is not there, is a
        // setup mistake.
        AuthError::WrongUrl { .. }
        | AuthError::NoRefreshToken { .. }
        | AuthError::StoreMismatch { .. }
        | AuthError::Store(StoreError::Corrupt { .. }) => exit::USAGE,
        AuthError::Store(_) => exit::OUTPUT,
        AuthError::Refused { .. }
        | AuthError::BadReply { .. }
        | AuthError::RefreshRefused { .. } => exit::AUTH,
    }
}

fn api_exit_code(err: &ApiError) -> u8 {
    match err {
        ApiError::Auth { source, .. } => auth_exit_code(source),
        ApiError::Unauthorized { .. } | ApiError::Forbidden { .. } => exit::AUTH,
        ApiError::Http(_) | ApiError::Page { .. } => exit::SERVER,
    }
}

/// Converts an exit code number into the process's `ExitCode`.
pub fn to_exit_code(code: u8) -> ExitCode {
    ExitCode::from(code)
}
