//! The config file: named profiles, one per district or tenant, in TOML.
//!
//! ```toml
//! [profiles.northside]
//! provider = "blackbaud"
//! client_id = "0a1b2c"
//! client_secret = { env = "NORTHSIDE_SECRET" }   # or { file = "/etc/roster/northside.secret" }
//! scopes = ["roster.readonly", "roster-demographics.readonly"]
//! out = "/srv/rosters/northside.zip"
//! ```
//!
//! Secrets are named by reference (an environment variable or a file). A secret written inline is
//! refused unless the config file is readable by its owner only. Relative paths are taken from
//! the config file's folder, so a cron job's working directory does not matter.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

use super::{HeaderSetting, ProviderName, Secret, Settings, SettingsError};
use crate::auth::{AuthKind, ClientAuth, SignatureMethod};
use crate::export::{Format, ShrinkLimit, ValidateMode};
use crate::http::Limit;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The profile used when no `--profile` is given.
    pub default_profile: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// One profile: every option a flag sets, each optional; flags and the environment win over it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub provider: Option<ProviderName>,
    pub base_url: Option<String>,
    pub token_url: Option<String>,
    pub oidc_authority: Option<String>,
    pub auth: Option<AuthKind>,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretRef>,
    pub client_auth: Option<ClientAuth>,
    pub scopes: Option<Vec<String>>,
    pub scope_as_written: Option<bool>,
    pub username: Option<String>,
    pub password: Option<SecretRef>,
    pub token_store: Option<PathBuf>,
    pub refresh_token: Option<SecretRef>,
    pub preserve_refresh_token: Option<bool>,
    pub refresh_token_warn_days: Option<u32>,
    pub access_token: Option<SecretRef>,
    #[serde(default, deserialize_with = "signature_method")]
    pub signature_method: Option<SignatureMethod>,
    /// Extra API request headers; values are secrets by reference like the others.
    pub headers: Option<BTreeMap<String, SecretRef>>,
    /// A file of `Name: value` lines, as `--header-file` takes.
    pub header_file: Option<PathBuf>,
    pub ca_cert: Option<Vec<PathBuf>>,
    pub pin_cert: Option<Vec<PathBuf>>,
    pub rate: Option<Limit<f64>>,
    pub burst: Option<u32>,
    pub max_attempts: Option<u32>,
    pub backoff_max: Option<u64>,
    pub max_retry_wait: Option<u64>,
    pub timeout: Option<u64>,
    pub page_size: Option<u64>,
    pub concurrency: Option<Limit<usize>>,
    pub only: Option<Vec<String>>,
    pub out: Option<PathBuf>,
    pub format: Option<Format>,
    pub include_passwords: Option<bool>,
    pub system_code: Option<String>,
    pub max_shrink: Option<ShrinkLimit>,
    pub zip_level: Option<u32>,
    pub validate: Option<ValidateMode>,
    pub allow_partial: Option<bool>,
    pub incremental: Option<bool>,
    pub full_every: Option<u32>,
    pub state: Option<PathBuf>,
    pub sftp_key: Option<PathBuf>,
    pub sftp_known_hosts: Option<PathBuf>,
    pub sftp_accept_new_host_key: Option<bool>,
}

fn signature_method<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<SignatureMethod>, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map(Some).map_err(serde::de::Error::custom)
}

/// Where a secret comes from.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum SecretRef {
    Env { env: String },
    File { file: PathBuf },
    Inline(String),
}

impl std::fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretRef::Env { env } => write!(f, "env {env}"),
            SecretRef::File { file } => write!(f, "file {}", file.display()),
            SecretRef::Inline(_) => f.write_str("inline"),
        }
    }
}

/// A profile read from its file, with what its secrets need to be resolved.
#[derive(Debug)]
pub struct Loaded {
    pub name: String,
    pub file: PathBuf,
    pub profile: Profile,
    /// The file has no group or other permission bits, so inline secrets are allowed.
    pub private: bool,
}

/// The default config file: `$XDG_CONFIG_HOME/roster-export/config.toml` on Linux, the platform's
/// config folder elsewhere.
pub fn default_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("roster-export").join("config.toml"))
}

/// Reads and parses the config file (`--config`, or the default location).
pub fn read(explicit: Option<&Path>) -> Result<(PathBuf, ConfigFile, bool), SettingsError> {
    let path = match explicit {
        Some(path) => path.to_path_buf(),
        None => default_path().ok_or_else(|| {
            SettingsError("no config folder is known on this system; pass --config FILE".into())
        })?,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        SettingsError(format!(
            "config file {}: {e}{}",
            path.display(),
            if explicit.is_none() {
                " (pass --config FILE to use another)"
            } else {
                ""
            }
        ))
    })?;
    let private = std::fs::metadata(&path)
        .map(|m| m.permissions().mode() & 0o077 == 0)
        .unwrap_or(false);
    let unknown = super::keys::unknown_keys(
        &text,
        super::keys::field_names::<ConfigFile>(),
        super::keys::field_names::<Profile>(),
    );
    if !unknown.is_empty() {
        let lines: Vec<String> = unknown.iter().map(|u| format!("\n  {u}")).collect();
        return Err(SettingsError(format!(
            "config file {}: {} unknown key{}:{}",
            path.display(),
            unknown.len(),
            if unknown.len() == 1 { "" } else { "s" },
            lines.concat()
        )));
    }
    let file: ConfigFile = toml::from_str(&text).map_err(|e| {
        // The message and the place, not toml's quoted source line: it may hold a secret.
        let place = match e.span() {
            Some(span) => {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!(", line {line}, column {column}")
            }
            None => String::new(),
        };
        SettingsError(format!(
            "config file {}{place}: {}",
            path.display(),
            e.message().trim_end()
        ))
    })?;
    Ok((path, file, private))
}

/// The names of the config file's profiles, in name order.
pub fn names(explicit: Option<&Path>) -> Result<Vec<String>, SettingsError> {
    let (_, file, _) = read(explicit)?;
    Ok(file.profiles.into_keys().collect())
}

/// Loads every profile of the file, read once (a fleet of a thousand tenants would otherwise
/// parse the whole file once per tenant).
pub fn load_all(explicit: Option<&Path>) -> Result<Vec<Loaded>, SettingsError> {
    let (path, file, private) = read(explicit)?;
    Ok(file
        .profiles
        .into_iter()
        .map(|(name, mut profile)| {
            anchor_paths(&mut profile, &path);
            Loaded {
                name,
                file: path.clone(),
                profile,
                private,
            }
        })
        .collect())
}

/// Loads profile `name`.
pub fn load(name: &str, explicit: Option<&Path>) -> Result<Loaded, SettingsError> {
    let (path, mut file, private) = read(explicit)?;
    let Some(profile) = file.profiles.remove(name) else {
        let known: Vec<&String> = file.profiles.keys().collect();
        return Err(SettingsError(format!(
            "config file {}: no profile `{name}`; it has {}",
            path.display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        )));
    };
    let mut loaded = Loaded {
        name: name.to_string(),
        file: path,
        profile,
        private,
    };
    anchor_paths(&mut loaded.profile, &loaded.file);
    Ok(loaded)
}

/// The profile a run uses when none is named, and why that one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultProfile {
    pub name: String,
    pub file: PathBuf,
    pub why: &'static str,
}

/// The profile to use when no `--profile` is given: the file's `default_profile`, else a profile
/// named `default`, else its only profile. `None` when there is no config file at the default
/// place (a file named by `--config` must exist) or no profile stands out.
pub fn default_profile(explicit: Option<&Path>) -> Result<Option<DefaultProfile>, SettingsError> {
    if explicit.is_none() && !default_path().is_some_and(|p| p.exists()) {
        return Ok(None);
    }
    let (file, config, _) = read(explicit)?;
    let names: Vec<&String> = config.profiles.keys().collect();
    let (name, why) = match &config.default_profile {
        Some(name) if config.profiles.contains_key(name) => (name.clone(), "its default_profile"),
        Some(name) => {
            return Err(SettingsError(format!(
                "config file {}: default_profile = \"{name}\" names no profile; it has {}",
                file.display(),
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names
                        .iter()
                        .map(|n| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            )));
        }
        None if config.profiles.contains_key("default") => {
            ("default".to_string(), "the profile named default")
        }
        None if names.len() == 1 => (names[0].clone(), "its only profile"),
        None => {
            tracing::debug!(
                config = %file.display(),
                "no profile chosen: the config file has {} profiles, none named default and no \
                 default_profile; pass --profile NAME",
                names.len()
            );
            return Ok(None);
        }
    };
    Ok(Some(DefaultProfile { name, file, why }))
}

impl Loaded {
    /// `reference`, the profile's field `field`, as a secret setting.
    fn secret(&self, field: &str, reference: &SecretRef) -> Secret {
        let place = format!(
            "config file {}, profile {}, {field}",
            self.file.display(),
            self.name
        );
        match reference {
            SecretRef::Env { env } => Secret::Env {
                var: env.clone(),
                place,
            },
            SecretRef::File { file } => Secret::File {
                path: file.clone(),
                place,
            },
            SecretRef::Inline(value) => Secret::Inline {
                value: SecretString::from(value.clone()),
                place,
                file: self.file.clone(),
                private: self.private,
            },
        }
    }

    /// The profile as a settings layer.
    pub fn settings(&self) -> Result<Settings, SettingsError> {
        let p = &self.profile;
        let secret = |field: &str, r: &Option<SecretRef>| r.as_ref().map(|r| self.secret(field, r));
        let mut headers = Vec::new();
        for (name, reference) in p.headers.iter().flatten() {
            let field = format!("headers.{name}");
            headers.push(HeaderSetting {
                place: format!("profile {}, {field}", self.name),
                name: name.clone(),
                value: self.secret(&field, reference),
            });
        }
        if let Some(path) = &p.header_file {
            headers.extend(super::header_file(
                &format!("profile {}, header_file", self.name),
                path,
            )?);
        }
        Ok(Settings {
            provider: p.provider,
            base_url: p.base_url.clone(),
            token_url: p.token_url.clone(),
            oidc_authority: p.oidc_authority.clone(),
            auth: p.auth,
            client_auth: p.client_auth,
            client_id: p.client_id.clone(),
            client_secret: secret("client_secret", &p.client_secret),
            scopes: p.scopes.clone(),
            scope_as_written: p.scope_as_written,
            username: p.username.clone(),
            password: secret("password", &p.password),
            token_store: p.token_store.clone(),
            refresh_token: secret("refresh_token", &p.refresh_token),
            preserve_refresh_token: p.preserve_refresh_token,
            refresh_token_warn_days: p.refresh_token_warn_days,
            access_token: secret("access_token", &p.access_token),
            signature_method: p.signature_method,
            headers,
            ca_certs: p.ca_cert.clone().unwrap_or_default(),
            pin_certs: p.pin_cert.clone().unwrap_or_default(),
            rate: p.rate,
            burst: p.burst,
            max_attempts: p.max_attempts,
            backoff_max: p.backoff_max,
            max_retry_wait: p.max_retry_wait,
            timeout: p.timeout,
            page_size: p.page_size,
            concurrency: p.concurrency,
            only: p.only.clone(),
            out: p.out.clone(),
            format: p.format,
            include_passwords: p.include_passwords,
            system_code: p.system_code.clone(),
            max_shrink: p.max_shrink,
            zip_level: p.zip_level,
            validate: p.validate,
            allow_partial: p.allow_partial,
            incremental: p.incremental,
            full_every: p.full_every,
            state: p.state.clone(),
            // One-off choices, for the command line only.
            full: None,
            since: None,
            sftp_key: p.sftp_key.clone(),
            sftp_known_hosts: p.sftp_known_hosts.clone(),
            sftp_accept_new_host_key: p.sftp_accept_new_host_key,
        })
    }
}

/// Makes `profile`'s relative paths relative to the folder of `file`, the config file.
fn anchor_paths(profile: &mut Profile, file: &Path) {
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let anchor = |p: &mut PathBuf| {
        // An output URL (s3://…, sftp://…) is not a path.
        if p.is_relative() && !crate::storage::is_url(p) {
            *p = base.join(&*p);
        }
    };
    for path in [
        &mut profile.token_store,
        &mut profile.out,
        &mut profile.header_file,
        &mut profile.state,
        &mut profile.sftp_key,
        &mut profile.sftp_known_hosts,
    ]
    .into_iter()
    .flatten()
    {
        anchor(path);
    }
    for path in profile
        .ca_cert
        .iter_mut()
        .chain(profile.pin_cert.iter_mut())
        .flatten()
    {
        anchor(path);
    }
    let secrets = [
        &mut profile.client_secret,
        &mut profile.password,
        &mut profile.refresh_token,
        &mut profile.access_token,
    ];
    for secret in secrets.into_iter().flatten() {
        if let SecretRef::File { file } = secret {
            anchor(file);
        }
    }
    for secret in profile.headers.iter_mut().flat_map(|h| h.values_mut()) {
        if let SecretRef::File { file } = secret {
            anchor(file);
        }
    }
}

/// `roster-export profiles`: one line per profile, secrets shown only by where they come from.
pub fn listing(explicit: Option<&Path>) -> Result<String, SettingsError> {
    let (path, mut file, private) = read(explicit)?;
    for profile in file.profiles.values_mut() {
        anchor_paths(profile, &path);
    }
    let mut out = format!(
        "{} ({} profile{}{})\n",
        path.display(),
        file.profiles.len(),
        if file.profiles.len() == 1 { "" } else { "s" },
        if private { "" } else { ", readable by others" }
    );
    for (name, p) in &file.profiles {
        let auth = p
            .auth
            .or_else(|| p.provider.map(|n| super::Provider::get(n).auth))
            .unwrap_or(AuthKind::ClientCredentials);
        out.push_str(&format!("\n{name}\n  auth: {auth}\n"));
        if let Some(provider) = p.provider {
            out.push_str(&format!("  provider: {provider}\n"));
        }
        for (label, value) in [
            ("base URL", &p.base_url),
            ("token URL", &p.token_url),
            ("OIDC authority", &p.oidc_authority),
            ("client id", &p.client_id),
            ("user", &p.username),
        ] {
            if let Some(value) = value {
                out.push_str(&format!("  {label}: {value}\n"));
            }
        }
        if let Some(scopes) = &p.scopes {
            out.push_str(&format!("  scopes: {}\n", scopes.join(", ")));
        }
        if let Some(store) = &p.token_store {
            out.push_str(&format!("  token store: {}\n", store.display()));
        }
        if let Some(o) = &p.out {
            out.push_str(&format!("  out: {}\n", o.display()));
        }
        let loaded = Loaded {
            name: name.clone(),
            file: path.clone(),
            profile: Profile::default(),
            private,
        };
        let mut secrets: Vec<(String, &SecretRef)> = [
            ("client_secret", &p.client_secret),
            ("password", &p.password),
            ("refresh_token", &p.refresh_token),
            ("access_token", &p.access_token),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_string(), v)))
        .collect();
        for (header, value) in p.headers.iter().flatten() {
            secrets.push((format!("header {header}"), value));
        }
        for (what, reference) in secrets {
            let secret = loaded.secret(&what, reference);
            let state = match reference {
                SecretRef::Inline(_) if !private => "refused: the file is readable by others",
                _ if secret.available() => "available",
                _ => "missing",
            };
            out.push_str(&format!("  {what}: {} ({state})\n", secret.describe()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret as _;

    fn write(dir: &Path, text: &str, mode: u32) -> PathBuf {
        let path = dir.join("config.toml");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn an_output_url_in_a_profile_is_left_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            r#"
            [profiles.remote]
            out = "sftp://rosters@files.example/in/district.zip"
            sftp_key = "keys/id_ed25519"
            sftp_accept_new_host_key = true
            "#,
            0o644,
        );
        let settings = load("remote", Some(&path)).unwrap().settings().unwrap();
        assert_eq!(
            settings.out.as_deref(),
            Some(Path::new("sftp://rosters@files.example/in/district.zip"))
        );
        assert_eq!(
            settings.sftp_key.as_deref(),
            Some(dir.path().join("keys/id_ed25519").as_path())
        );
        assert_eq!(settings.sftp_accept_new_host_key, Some(true));
    }

    #[test]
    fn profiles_resolve_references_and_anchor_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret.txt"), "s3cret\n").unwrap();
        let path = write(
            dir.path(),
            r#"
            [profiles.north]
            provider = "blackbaud"
            auth = "oauth1"
            client_id = "key"
            client_secret = { file = "secret.txt" }
            scopes = ["roster.readonly"]
            out = "north.zip"
            format = "ndjson"
            headers = { "X-Key" = "inline-value" }
            "#,
            0o644,
        );
        let loaded = load("north", Some(&path)).unwrap();
        let p = &loaded.profile;
        assert_eq!(p.provider, Some(ProviderName::Blackbaud));
        assert_eq!(p.auth, Some(AuthKind::OAuth1));
        assert_eq!(p.format, Some(Format::Ndjson));
        assert_eq!(
            p.out.as_deref(),
            Some(dir.path().join("north.zip").as_path())
        );
        let settings = loaded.settings().unwrap();
        let secret = settings.client_secret.as_ref().unwrap().resolve().unwrap();
        assert_eq!(secret.expose_secret(), "s3cret");
        // Inline values need a private file.
        let err = settings.headers[0].value.resolve().unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
        assert!(!err.to_string().contains("inline-value"));
        let listing = listing(Some(&path)).unwrap();
        assert!(listing.contains("north") && listing.contains("client_secret: file"));
        assert!(
            !listing.contains("s3cret") && !listing.contains("inline-value"),
            "{listing}"
        );
    }

    #[test]
    fn mistakes_name_the_file_and_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "[profiles.a]\nclient_id = \"x\"\nbase_ulr = \"https://h\"\n",
            0o600,
        );
        let err = load("a", Some(&path)).unwrap_err().to_string();
        assert!(
            err.contains("config.toml") && err.contains("base_ulr"),
            "{err}"
        );
        assert!(err.contains("line 3"), "{err}");
        // A broken line is placed, never quoted: it may hold a secret.
        let path = write(
            dir.path(),
            "[profiles.a]\nclient_secret = \"hunter2-secret\nclient_id = 1\n",
            0o600,
        );
        let err = load("a", Some(&path)).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(!err.contains("hunter2-secret"), "{err}");
        let path = write(dir.path(), "[profiles.a]\n[profiles.b]\n", 0o600);
        let err = load("c", Some(&path)).unwrap_err().to_string();
        assert!(
            err.contains("no profile `c`") && err.contains("a, b"),
            "{err}"
        );
    }
}
