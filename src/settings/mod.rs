//! The settings layer: every option of an export as one struct of optional fields per source, the
//! sources merged in one step, then checked once into a [`Config`].
//!
//! The sources, highest first: the command line and its environment variables (built by `cli`), a
//! profile of the config file ([`profile`]), a provider preset ([`provider`]), and the demo
//! sandbox. [`Settings::combine`] keeps, field by field, the first value set; [`Config::resolve`]
//! fills the defaults (each kept by the module that owns the option) and finds every mistake
//! before any request or file is made. It is a plain function of its layers, so the many-tenant
//! run builds one `Config` per profile the same way.

mod init;
mod keys;
mod profile;
mod provider;
mod resolve;
mod secret;

use std::path::PathBuf;

use crate::auth::{AuthKind, ClientAuth, SignatureMethod};
use crate::export::{Format, ShrinkLimit, ValidateMode};
use crate::http::Limit;

pub use init::{Initialized, init_profile};
pub use profile::{
    ConfigFile, DefaultProfile, Loaded as LoadedProfile, Profile, default_path, default_profile,
    listing as profile_listing, names as profile_names,
};
pub use provider::{Provider, ProviderName};
pub use resolve::{Config, Connection, DEFAULT_FULL_EVERY_DAYS, Incremental, Plan, Pull};
pub use secret::{Secret, read_secret_file};

/// A configuration mistake, in words that name the flag, variable or file to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

impl From<crate::urls::BadUrl> for SettingsError {
    fn from(e: crate::urls::BadUrl) -> SettingsError {
        SettingsError(e.0)
    }
}

/// One extra API request header, its value a secret.
#[derive(Debug, Clone)]
pub struct HeaderSetting {
    /// Where it was given, for messages (`--header`, `profile north, headers.X-Key`, …).
    pub place: String,
    pub name: String,
    pub value: Secret,
}

/// `Name: value` lines, as `--header-file` and ROSTER_EXPORT_HEADERS hold them (blank lines and
/// `#` comments skipped). `place` names the source in messages; values are never shown.
pub fn header_lines(place: &str, text: &str) -> Result<Vec<HeaderSetting>, SettingsError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let place = format!("{place}, line {}", n + 1);
        let Some((name, value)) = line.split_once(':') else {
            return Err(SettingsError(format!("{place}: expected `Name: value`")));
        };
        out.push(HeaderSetting {
            place,
            name: name.to_string(),
            value: Secret::Value(secrecy::SecretString::from(value.to_string())),
        });
    }
    Ok(out)
}

/// The headers of a file of `Name: value` lines; `place` names the setting that named the file.
pub fn header_file(
    place: &str,
    path: &std::path::Path,
) -> Result<Vec<HeaderSetting>, SettingsError> {
    let place = format!("{place} {}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| SettingsError(format!("{place}: {e}")))?;
    header_lines(&place, &text)
}

/// Declares [`Settings`] and its field-by-field [`Settings::combine`], so each option is listed once.
macro_rules! settings {
    ($( $(#[$doc:meta])* $field:ident : $ty:ty, )*) => {
        /// Every option of an export, each unset until a layer sets it.
        #[derive(Debug, Clone, Default)]
        pub struct Settings {
            $( $(#[$doc])* pub $field: Option<$ty>, )*
            /// The token URL and the OIDC authority are one choice of where tokens come from:
            /// the highest layer that names either decides both.
            pub token_url: Option<String>,
            pub oidc_authority: Option<String>,
            /// Extra API headers, in the order given; a later one of the same name wins.
            pub headers: Vec<HeaderSetting>,
            /// Extra certificate authorities: every layer's are trusted.
            pub ca_certs: Vec<PathBuf>,
            /// Server certificates trusted as they are: every layer's.
            pub pin_certs: Vec<PathBuf>,
        }

        impl Settings {
            /// `self` over `lower`: each option keeps `self`'s value when it has one.
            pub fn combine(self, lower: Settings) -> Settings {
                let (token_url, oidc_authority) =
                    if self.token_url.is_some() || self.oidc_authority.is_some() {
                        (self.token_url, self.oidc_authority)
                    } else {
                        (lower.token_url, lower.oidc_authority)
                    };
                let mut headers = lower.headers;
                headers.extend(self.headers);
                let mut ca_certs = self.ca_certs;
                ca_certs.extend(lower.ca_certs);
                let mut pin_certs = self.pin_certs;
                pin_certs.extend(lower.pin_certs);
                Settings {
                    $( $field: self.$field.or(lower.$field), )*
                    token_url,
                    oidc_authority,
                    headers,
                    ca_certs,
                    pin_certs,
                }
            }
        }
    };
}

settings! {
    /// A known host whose preset fills in what the higher layers leave unset.
    provider: ProviderName,
    /// The API base URL, with or without `/ims/oneroster/v1p1`.
    base_url: String,
    auth: AuthKind,
    client_auth: ClientAuth,
    client_id: String,
    client_secret: Secret,
    /// Scopes as written: short names or URIs.
    scopes: Vec<String>,
    scope_as_written: bool,
    username: String,
    password: Secret,
    token_store: PathBuf,
    /// The refresh token a missing token store is created from.
    refresh_token: Secret,
    preserve_refresh_token: bool,
    refresh_token_warn_days: u32,
    access_token: Secret,
    signature_method: SignatureMethod,
    /// Requests per second to each host: found by the pacer, or at most this.
    rate: Limit<f64>,
    burst: u32,
    max_attempts: u32,
    /// Seconds.
    backoff_max: u64,
    /// Seconds.
    max_retry_wait: u64,
    /// Seconds per request.
    timeout: u64,
    page_size: u64,
    /// Requests in flight to each host: found by the pacer, or at most this.
    concurrency: Limit<usize>,
    /// Collection names to narrow the scopes to.
    only: Vec<String>,
    out: PathBuf,
    format: Format,
    include_passwords: bool,
    system_code: String,
    max_shrink: ShrinkLimit,
    /// Deflate level of a zip output, 0 to 9.
    zip_level: u32,
    /// Check a CSV bundle before publishing it.
    validate: ValidateMode,
    allow_partial: bool,
    /// Pull only what changed since the last run (after a first full pull).
    incremental: bool,
    /// Pull in full this time (an incremental run).
    full: bool,
    /// Days after which an incremental run pulls in full anyway; 0 = never.
    full_every: u32,
    /// The incremental state file.
    state: PathBuf,
    /// A delta bundle of what changed since this RFC 3339 time.
    since: String,
    /// The SSH private key for an sftp:// output.
    sftp_key: PathBuf,
    /// The known_hosts file that vouches for SFTP servers.
    sftp_known_hosts: PathBuf,
    /// Trust (and record) an SFTP host key that known_hosts does not list yet.
    sftp_accept_new_host_key: bool,
}

/// Every profile of the config file (`config`, or the default one), read once; each gives its
/// settings layer with [`LoadedProfile::settings`].
pub fn profiles(config: Option<&std::path::Path>) -> Result<Vec<LoadedProfile>, SettingsError> {
    profile::load_all(config)
}

/// The settings layer of profile `name` of the config file (`config`, or the default one).
pub fn profile_layer(
    name: &str,
    config: Option<&std::path::Path>,
) -> Result<Settings, SettingsError> {
    profile::load(name, config)?.settings()
}

impl Settings {
    /// The layers of one run merged: the command line over a profile, over the preset of the
    /// provider either of them names, over the demo sandbox.
    pub fn layered(flags: Settings, profile: Option<Settings>, demo: Option<Settings>) -> Settings {
        let upper = flags.combine(profile.unwrap_or_default());
        let preset = upper
            .provider
            .map(|name| Provider::get(name).settings())
            .unwrap_or_default();
        upper.combine(preset).combine(demo.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_higher_layer_wins_field_by_field() {
        let flags = Settings {
            rate: Some(Limit::Max(2.0)),
            token_url: Some("https://flag.example/t".into()),
            ca_certs: vec!["flag.pem".into()],
            ..Settings::default()
        };
        let profile = Settings {
            rate: Some(Limit::Max(9.0)),
            burst: Some(4),
            oidc_authority: Some("https://profile.example".into()),
            ca_certs: vec!["profile.pem".into()],
            ..Settings::default()
        };
        let s = Settings::layered(flags, Some(profile), None);
        assert_eq!(s.rate, Some(Limit::Max(2.0)));
        assert_eq!(s.burst, Some(4), "a profile sets what no flag set");
        assert_eq!(s.token_url.as_deref(), Some("https://flag.example/t"));
        assert_eq!(
            s.oidc_authority, None,
            "where tokens come from is one choice"
        );
        assert_eq!(
            s.ca_certs,
            [PathBuf::from("flag.pem"), "profile.pem".into()]
        );
    }

    #[test]
    fn a_provider_named_in_a_profile_brings_its_preset_under_it() {
        let profile = Settings {
            provider: Some(ProviderName::Blackbaud),
            rate: Some(Limit::Max(2.0)),
            ..Settings::default()
        };
        let s = Settings::layered(Settings::default(), Some(profile), None);
        assert_eq!(s.rate, Some(Limit::Max(2.0)));
        assert_eq!(s.auth, Some(AuthKind::ClientCredentials));
        assert!(s.base_url.unwrap().contains("blackbaud"));
        assert!(s.token_url.unwrap().contains("blackbaud"));
    }
}
