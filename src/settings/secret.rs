//! Where a secret comes from, kept as a reference until the run needs the value: a value given
//! directly, a file, a profile's environment variable, or a value written in the config file.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

use super::SettingsError;

/// A secret setting. `Debug` shows where it comes from, never the value.
#[derive(Clone)]
pub enum Secret {
    /// Given directly: a flag, an environment variable the command line read, the demo.
    Value(SecretString),
    /// The first line of a file; `place` names the setting for messages.
    File { path: PathBuf, place: String },
    /// A profile's `{ env = "NAME" }`.
    Env { var: String, place: String },
    /// Written in the config file, allowed only when the file is readable by its owner alone.
    Inline {
        value: SecretString,
        place: String,
        file: PathBuf,
        private: bool,
    },
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Secret {
    /// Where it comes from, never the value: `given`, `env NAME`, `file PATH`, `inline`.
    pub fn describe(&self) -> String {
        match self {
            Secret::Value(_) => "given".to_string(),
            Secret::Env { var, .. } => format!("env {var}"),
            Secret::File { path, .. } => format!("file {}", path.display()),
            Secret::Inline { .. } => "inline".to_string(),
        }
    }

    /// Whether the value can be had right now (for `roster-export profiles`).
    pub fn available(&self) -> bool {
        match self {
            Secret::Value(_) => true,
            Secret::Env { var, .. } => std::env::var_os(var).is_some_and(|v| !v.is_empty()),
            Secret::File { path, .. } => std::fs::metadata(path).is_ok_and(|m| m.is_file()),
            Secret::Inline { private, .. } => *private,
        }
    }

    /// The value, or what stands in the way of it.
    pub fn resolve(&self) -> Result<SecretString, SettingsError> {
        match self {
            Secret::Value(value) => Ok(value.clone()),
            Secret::File { path, place } => read_secret_file(path, place),
            Secret::Env { var, place } => match std::env::var(var) {
                Ok(value) if !value.is_empty() => Ok(SecretString::from(value)),
                _ => Err(SettingsError(format!(
                    "{place}: the environment variable {var} is not set"
                ))),
            },
            Secret::Inline {
                value,
                private: true,
                ..
            } => Ok(value.clone()),
            Secret::Inline { place, file, .. } => Err(SettingsError(format!(
                "{place}: a secret written in the file needs the file to be readable by its owner \
                 only (chmod 600 {}), or name it by reference: {{ env = \"VAR\" }} or {{ file = \"PATH\" }}",
                file.display()
            ))),
        }
    }
}

/// A secret from a file: the first line's content, trailing newline ignored.
pub fn read_secret_file(path: &Path, place: &str) -> Result<SecretString, SettingsError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SettingsError(format!("{place} {}: {e}", path.display())))?;
    let secret = text.trim_end_matches(['\r', '\n']);
    if secret.is_empty() {
        return Err(SettingsError(format!(
            "{place} {}: the file is empty",
            path.display()
        )));
    }
    Ok(SecretString::from(secret.to_string()))
}
