//! From merged [`Settings`] to a checked [`Config`]: defaults filled in (each from the module that
//! owns the option), URLs and headers checked, secrets read, the grant built and the collections
//! planned. Every configuration mistake is found here, before any request or file is made.

use std::path::PathBuf;
use std::time::Duration;

use oneroster::{CollectionId, Scope, scope_param};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret as _, SecretString};
use url::Url;

use super::{HeaderSetting, Provider, Secret, Settings, SettingsError};
use crate::auth::{
    AuthKind, ClientCredentials, Credentials, Grant, OAuth1Signer, PasswordGrant,
    RefreshTokenGrant, TokenEndpoint, TokenStore, TokenUrl,
};
use crate::env_vars as env;
use crate::export::{Destination, Format, OutputOptions};
use crate::http::{HttpSettings, Limit, PaceSettings, RetryPolicy};
use crate::pager::PagerSettings;
use crate::urls::{base_url, checked_url};

/// A run's settings, resolved once: whom to ask (the connection, whose base URL is set) and
/// what to export where (the plan).
#[derive(Debug)]
pub struct Config {
    pub connection: Connection,
    pub plan: Plan,
}

/// How to reach and authenticate to a host.
#[derive(Debug)]
pub struct Connection {
    /// The API base, ending in `/ims/oneroster/v1p1/` (`None` when no command needs it).
    pub base_url: Option<Url>,
    pub credentials: Credentials,
    pub scopes: Vec<Scope>,
    /// Extra headers for API requests; every value is marked sensitive.
    pub headers: HeaderMap,
    pub http: HttpSettings,
}

/// What an export fetches and where it writes.
#[derive(Debug)]
pub struct Plan {
    /// The collections to export, in export order.
    pub collections: Vec<CollectionId>,
    pub output: OutputOptions,
    pub pager: PagerSettings,
    /// Publish the collections that are complete and mark the others absent, instead of failing.
    pub allow_partial: bool,
    pub pull: Pull,
}

/// How a run pulls its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pull {
    /// Everything, every run.
    Full,
    /// What changed since the last run, applied to the previous output.
    Incremental(Incremental),
    /// What changed since a time, as a delta bundle.
    Since(jiff::Timestamp),
}

/// The settings of an incremental run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incremental {
    /// The state file; `None`: the default one of the output.
    pub state: Option<PathBuf>,
    /// Pull in full this time.
    pub full: bool,
    /// Pull in full when the last full pull is this many days old; 0: never.
    pub full_every_days: u32,
}

/// `--full-every`'s default: a weekly full pull reconciles what changes cannot show.
pub const DEFAULT_FULL_EVERY_DAYS: u32 = 7;

fn pull(settings: &Settings) -> Result<Pull, SettingsError> {
    let incremental = settings.incremental.unwrap_or(false);
    if let Some(since) = &settings.since {
        if incremental {
            return Err(SettingsError(
                "--since writes a delta bundle and cannot be combined with --incremental".into(),
            ));
        }
        let at = since.parse::<jiff::Timestamp>().map_err(|e| {
            SettingsError(format!(
                "--since {since:?} is not an RFC 3339 date-time such as 2026-11-30T00:00:00Z: {e}"
            ))
        })?;
        return Ok(Pull::Since(at));
    }
    if !incremental {
        if settings.full == Some(true) {
            return Err(SettingsError(
                "--full forces a full pull of an --incremental run; without --incremental every \
                 run pulls in full"
                    .into(),
            ));
        }
        return Ok(Pull::Full);
    }
    Ok(Pull::Incremental(Incremental {
        state: settings.state.clone(),
        full: settings.full.unwrap_or(false),
        full_every_days: settings.full_every.unwrap_or(DEFAULT_FULL_EVERY_DAYS),
    }))
}

impl Config {
    /// Checks `settings` for an export.
    pub fn resolve(settings: &Settings) -> Result<Config, SettingsError> {
        let connection = Connection::resolve(settings, true)?;
        let collections = connection.planned(settings)?;
        let pull = pull(settings)?;
        let mut output = output(settings)?;
        output.delta = matches!(pull, Pull::Since(_));
        let defaults = PagerSettings::default();
        let pager = PagerSettings {
            page_size: settings.page_size.unwrap_or(defaults.page_size).max(1),
            // Pages fetched ahead; the host's pacer decides how many are in flight.
            concurrency: connection.http.pace.max_concurrency(),
            ..defaults
        };
        Ok(Config {
            connection,
            plan: Plan {
                collections,
                output,
                pager,
                allow_partial: settings.allow_partial.unwrap_or(false),
                pull,
            },
        })
    }
}

impl Connection {
    /// Checks the connection part of `settings`; `need_base` when the command talks to the API.
    pub fn resolve(settings: &Settings, need_base: bool) -> Result<Connection, SettingsError> {
        let (scopes, scope) = scopes(settings)?;
        let base_url = match &settings.base_url {
            Some(text) => Some(base_url(text)?),
            None if need_base => return Err(missing("--base-url", env::BASE_URL, settings)),
            None => None,
        };
        let credentials = credentials(settings, scope)?;
        let headers = headers(settings)?;
        let http = http(settings)?;
        Ok(Connection {
            base_url,
            credentials,
            scopes,
            headers,
            http,
        })
    }
}

/// `flag` is needed and no layer set it. Only the URLs can come from a provider preset, so only
/// they suggest `--provider`, and not when one is already named.
impl Connection {
    /// The collections to fetch: those the scopes grant, narrowed by `--only`, in export order.
    pub fn planned(&self, settings: &Settings) -> Result<Vec<CollectionId>, SettingsError> {
        if self.scopes.is_empty() {
            return Err(SettingsError(
                "no scope given: add --scope roster.readonly (or another scope)".into(),
            ));
        }
        plan(&self.scopes, settings.only.as_deref().unwrap_or_default())
    }
}

fn missing(flag: &str, var: &str, settings: &Settings) -> SettingsError {
    let url = matches!(flag, "--base-url" | "--token-url");
    SettingsError(match settings.provider {
        Some(provider) if url => format!(
            "{flag} is required: the {provider} provider has no fixed one (each district has its \
             own); pass {flag} or set {var}"
        ),
        None if url => format!(
            "{flag} is required (or set {var}, use a --profile or a --provider that knows it, or \
             --demo)"
        ),
        _ => format!("{flag} is required (or set {var}, or put it in a --profile)"),
    })
}

/// The scopes as given, and the `scope` parameter: URIs, unless sent as written.
fn scopes(settings: &Settings) -> Result<(Vec<Scope>, String), SettingsError> {
    let written: Vec<String> = settings
        .scopes
        .iter()
        .flatten()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let as_written = settings.scope_as_written.unwrap_or(false);
    let mut scopes = Vec::new();
    for word in &written {
        match Scope::parse(word) {
            Ok(scope) => scopes.push(scope),
            // A host's own scope names are sent as written and grant nothing we know of.
            Err(_) if as_written => {}
            Err(e) => return Err(SettingsError(e.to_string())),
        }
    }
    let scope = if as_written {
        written.join(" ")
    } else {
        scope_param(&scopes)
    };
    Ok((scopes, scope))
}

/// A secret that must be there, or the message saying how to give it.
fn required(
    secret: Option<&Secret>,
    absent: impl FnOnce() -> String,
) -> Result<SecretString, SettingsError> {
    match secret {
        Some(secret) => secret.resolve(),
        None => Err(SettingsError(absent())),
    }
}

fn credentials(settings: &Settings, scope: String) -> Result<Credentials, SettingsError> {
    let client_id = || {
        settings
            .client_id
            .clone()
            .ok_or_else(|| missing("--client-id", env::CLIENT_ID, settings))
    };
    let client_secret = || {
        required(settings.client_secret.as_ref(), || {
            format!(
                "no client secret: set {} or pass --client-secret-file FILE",
                env::CLIENT_SECRET
            )
        })
    };
    let token_url = || -> Result<Url, SettingsError> {
        let text = settings
            .token_url
            .as_deref()
            .ok_or_else(|| missing("--token-url", env::TOKEN_URL, settings))?;
        Ok(checked_url("--token-url", text)?)
    };
    let client_auth = settings.client_auth.unwrap_or_default();
    let endpoint = |secret: Option<SecretString>| -> Result<TokenEndpoint, SettingsError> {
        Ok(TokenEndpoint {
            url: token_url()?,
            client_id: client_id()?,
            client_secret: secret,
            client_auth,
        })
    };
    let auth = settings.auth.unwrap_or(AuthKind::ClientCredentials);
    Ok(match auth {
        AuthKind::ClientCredentials => {
            Credentials::Token(Grant::ClientCredentials(ClientCredentials {
                endpoint: endpoint(Some(client_secret()?))?,
                scope,
            }))
        }
        AuthKind::RefreshToken => {
            let store = settings.token_store.clone().ok_or_else(|| {
                SettingsError(format!(
                    "--auth refresh-token needs --token-store FILE (or {}): the file that keeps the refresh token",
                    env::TOKEN_STORE
                ))
            })?;
            let seed = settings
                .refresh_token
                .as_ref()
                .map(Secret::resolve)
                .transpose()?;
            let days = settings
                .refresh_token_warn_days
                .unwrap_or(RefreshTokenGrant::DEFAULT_WARN_DAYS);
            Credentials::Token(Grant::RefreshToken(Box::new(RefreshTokenGrant::new(
                endpoint(Some(client_secret()?))?,
                TokenStore::new(store),
                seed,
                settings.preserve_refresh_token.unwrap_or(false),
                Duration::from_secs(u64::from(days) * 86_400),
            ))))
        }
        AuthKind::Password => {
            let token_url = match (&settings.token_url, &settings.oidc_authority) {
                (Some(url), _) => TokenUrl::Direct(checked_url("--token-url", url)?),
                (None, Some(authority)) => {
                    TokenUrl::Discover(checked_url("--oidc-authority", authority)?)
                }
                (None, None) => {
                    return Err(SettingsError(format!(
                        "--auth password needs --oidc-authority URL or --token-url URL (or {})",
                        env::OIDC_AUTHORITY
                    )));
                }
            };
            let username = settings
                .username
                .clone()
                .ok_or_else(|| missing("--username", env::USERNAME, settings))?;
            let password = required(settings.password.as_ref(), || {
                format!(
                    "no password: set {} or pass --password-file FILE",
                    env::PASSWORD
                )
            })?;
            let client_secret = settings
                .client_secret
                .as_ref()
                .map(Secret::resolve)
                .transpose()?;
            Credentials::Token(Grant::Password(Box::new(PasswordGrant::new(
                token_url,
                client_id()?,
                client_secret,
                client_auth,
                username,
                password,
                scope,
            ))))
        }
        AuthKind::OAuth1 => Credentials::Signed(OAuth1Signer {
            consumer_key: client_id()?,
            consumer_secret: client_secret()?,
            method: settings.signature_method.unwrap_or_default(),
        }),
        AuthKind::Bearer => Credentials::Token(Grant::Bearer(required(
            settings.access_token.as_ref(),
            || {
                format!(
                    "--auth bearer needs an access token: set {} or pass --access-token-file FILE",
                    env::ACCESS_TOKEN
                )
            },
        )?)),
    })
}

/// The extra API headers, checked; the preset's required ones must be among them.
fn headers(settings: &Settings) -> Result<HeaderMap, SettingsError> {
    let mut map = HeaderMap::new();
    for HeaderSetting { place, name, value } in &settings.headers {
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
            SettingsError(format!("{place}: `{}` is not a header name", name.trim()))
        })?;
        if matches!(
            name.as_str(),
            "authorization" | "host" | "content-length" | "transfer-encoding" | "connection"
        ) {
            return Err(SettingsError(format!(
                "{place}: the {name} header is set by the tool itself"
            )));
        }
        let mut value =
            HeaderValue::from_str(value.resolve()?.expose_secret().trim()).map_err(|_| {
                SettingsError(format!(
                    "{place}: the value of {name} has characters a header cannot carry"
                ))
            })?;
        // Header values are often keys: keep them out of Debug output and logs.
        value.set_sensitive(true);
        map.insert(name, value);
    }
    if let Some(provider) = settings.provider.map(Provider::get) {
        for required in provider.required_headers {
            if !map.contains_key(*required) {
                return Err(SettingsError(format!(
                    "the {} provider needs the {required} header on every request: set {}='{required}: …' \
                     or put it in --header-file or the profile's headers",
                    provider.name,
                    env::HEADERS
                )));
            }
        }
    }
    Ok(map)
}

/// Pacing, retries and trust.
fn http(settings: &Settings) -> Result<HttpSettings, SettingsError> {
    let defaults = HttpSettings::default();
    let retry = RetryPolicy::default();
    let rate = settings.rate.unwrap_or(defaults.pace.rate);
    if let Limit::Max(r) = rate
        && (!r.is_finite() || r <= 0.0)
    {
        return Err(SettingsError(format!(
            "--rate must be `auto` or a positive number of requests per second, not {r}"
        )));
    }
    let concurrency = settings.concurrency.unwrap_or(defaults.pace.concurrency);
    if let Limit::Max(n) = concurrency
        && !(1..=256).contains(&n)
    {
        return Err(SettingsError(format!(
            "--concurrency must be `auto` or a number from 1 to 256, not {n}"
        )));
    }
    let secs = Duration::from_secs;
    Ok(HttpSettings {
        pace: PaceSettings {
            rate,
            concurrency,
            burst: settings.burst.unwrap_or(defaults.pace.burst).max(1),
        },
        retry: RetryPolicy {
            max_attempts: settings.max_attempts.unwrap_or(retry.max_attempts).max(1),
            max_retry_after: settings.max_retry_wait.map_or(retry.max_retry_after, secs),
            max_delay: settings.backoff_max.map_or(retry.max_delay, secs),
            ..retry
        },
        request_timeout: settings.timeout.map_or(defaults.request_timeout, secs),
        ca_certs: settings.ca_certs.clone(),
        pin_certs: settings.pin_certs.clone(),
        ..defaults
    })
}

/// The collections the scopes grant, narrowed by `--only`, in export order.
fn plan(scopes: &[Scope], only: &[String]) -> Result<Vec<CollectionId>, SettingsError> {
    let granted: Vec<CollectionId> = CollectionId::all()
        .filter(|c| {
            scopes
                .iter()
                .filter_map(Scope::known)
                .any(|s| c.info().granting_scopes().contains(&s))
        })
        .collect();
    if granted.is_empty() {
        return Err(SettingsError(
            "the requested scopes grant no collection this tool knows; add a read scope such as roster.readonly".into(),
        ));
    }
    let only: Vec<&str> = only
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if only.is_empty() {
        return Ok(granted);
    }
    let mut wanted = Vec::new();
    for name in only {
        let id: CollectionId = name
            .parse()
            .map_err(|e: String| SettingsError(format!("--only: {e}")))?;
        if !granted.contains(&id) {
            return Err(SettingsError(format!(
                "--only {id}: the requested scopes do not cover it; add --scope {}",
                id.info().scope.short_name()
            )));
        }
        wanted.push(id);
    }
    Ok(granted.into_iter().filter(|c| wanted.contains(c)).collect())
}

fn output(settings: &Settings) -> Result<OutputOptions, SettingsError> {
    let out = settings.out.clone().ok_or_else(|| {
        SettingsError(
            "--out is required: a .zip file, a folder, - (with --format ndjson), or an \
             s3://, gs://, az:// or sftp:// URL"
                .into(),
        )
    })?;
    let format = settings.format.unwrap_or_default();
    let location =
        crate::storage::Location::parse(&out).map_err(|e| SettingsError(e.to_string()))?;
    let destination = if out.as_os_str() == "-" {
        if format != Format::Ndjson {
            return Err(SettingsError(
                "--out - (stdout) needs --format ndjson; CSV and JSON write a folder or a zip"
                    .into(),
            ));
        }
        Destination::Stdout
    } else {
        match location {
            crate::storage::Location::Local(path) => Destination::Path(path),
            crate::storage::Location::Remote(url) => Destination::Remote(url),
        }
    };
    Ok(OutputOptions {
        format,
        destination,
        include_passwords: settings.include_passwords.unwrap_or(false),
        system_name: "roster-export".to_string(),
        system_code: settings.system_code.clone(),
        max_shrink: settings.max_shrink.unwrap_or_default().0,
        zip_level: settings
            .zip_level
            .unwrap_or(OutputOptions::DEFAULT_ZIP_LEVEL)
            .min(9),
        validate: settings.validate.unwrap_or_default(),
        delta: false,
        remote: crate::storage::RemoteOptions {
            sftp_key: settings.sftp_key.clone(),
            known_hosts: settings.sftp_known_hosts.clone(),
            accept_new_host_key: settings.sftp_accept_new_host_key.unwrap_or(false),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_follows_scopes_and_only() {
        let roster = [Scope::parse("roster.readonly").unwrap()];
        let all = plan(&roster, &[]).unwrap();
        assert_eq!(all.len(), 6);
        assert_eq!(
            plan(&roster, &["enrollments".into(), "users".into()]).unwrap(),
            vec![CollectionId::Users, CollectionId::Enrollments]
        );
        let err = plan(&roster, &["results".into()]).unwrap_err();
        assert!(err.to_string().contains("gradebook.readonly"), "{err}");
        assert!(plan(&[Scope::parse("https://x.example/s").unwrap()], &[]).is_err());
    }
}
