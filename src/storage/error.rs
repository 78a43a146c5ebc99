//! What can go wrong with a remote output or the private folders; messages name the URL or path
//! and never carry a key or credential.

use std::io;
use std::path::PathBuf;

/// Why a host key was not trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyProblem {
    /// known_hosts does not list the host.
    Unknown,
    /// known_hosts lists another key of the same type for the host, at this line.
    Changed { line: usize },
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The output URL is malformed or unsupported.
    #[error("{url}: {message}")]
    Url { url: String, message: String },

    /// The settings cannot work (e.g. a plain-http endpoint off loopback, a missing key file).
    #[error("{url}: {message}")]
    Config { url: String, message: String },

    /// The SFTP server offered a host key that known_hosts does not vouch for.
    #[error("{}", host_key_message(.host, *.port, .offered, .known_hosts, .problem))]
    HostKey {
        host: String,
        port: u16,
        /// The key type and SHA-256 fingerprint offered, as `ssh-keygen -l` shows them.
        offered: String,
        known_hosts: PathBuf,
        problem: HostKeyProblem,
    },

    /// The server refused or failed a request, or could not be reached.
    #[error("{action} {url}: {message}")]
    Remote {
        action: &'static str,
        url: String,
        message: String,
    },

    /// A local file operation failed.
    #[error("{action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// Something failed that should not (a bug or a broken runtime).
    #[error("{0}")]
    Internal(String),
}

impl StorageError {
    /// The request itself was wrong: exit code 2 rather than an output failure.
    pub fn is_usage(&self) -> bool {
        matches!(self, StorageError::Url { .. } | StorageError::Config { .. })
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> StorageError {
        let path = path.into();
        move |source| StorageError::Io {
            action,
            path,
            source,
        }
    }

    pub(crate) fn remote(
        action: &'static str,
        url: &impl std::fmt::Display,
    ) -> impl FnOnce(String) -> StorageError {
        let url = url.to_string();
        move |message| StorageError::Remote {
            action,
            url,
            message,
        }
    }
}

fn host_key_message(
    host: &str,
    port: u16,
    offered: &str,
    known_hosts: &std::path::Path,
    problem: &HostKeyProblem,
) -> String {
    let known = known_hosts.display();
    let entry = if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    };
    match problem {
        HostKeyProblem::Unknown => format!(
            "the SFTP server {host}:{port} offered the host key {offered}, which {known} does not \
             list; nothing was uploaded. Check the fingerprint with the server's administrator \
             (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub on the server), then run once with \
             --sftp-accept-new-host-key to trust and record it, or add it to {known} yourself"
        ),
        HostKeyProblem::Changed { line } => format!(
            "the SFTP server {host}:{port} offered the host key {offered}, but {known} line {line} \
             records another key of that type for it; nothing was uploaded. The server may have \
             been reinstalled, or someone may be intercepting the connection: confirm the new \
             fingerprint with the server's administrator, then remove line {line} \
             (ssh-keygen -R '{entry}' -f {known}) and run again"
        ),
    }
}
