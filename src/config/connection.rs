//! The connection: which host, how to authenticate, which extra headers and how to pace
//! requests, resolved from the command line and environment, a profile and a provider preset
//! (or the demo sandbox), in that order.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::SecretString;
use url::Url;

use super::profile::{self, Loaded, Profile, SecretRef, read_secret_file};
use super::provider::Provider;
use super::{base_url, checked_url};
use crate::auth::{
    ClientCredentials, Grant, OAuth1Signer, PasswordGrant, RefreshTokenGrant, SignatureMethod,
    TokenEndpoint, TokenStore, TokenUrl,
};
use crate::cli::{AuthKind, ClientAuth, ConnectionArgs, NetworkArgs, env};
use crate::error::Error;
use crate::http::{HttpSettings, RetryPolicy, safe_url};
use crate::oneroster::{Scope, scope_param};

/// What the built-in sandbox supplies under `--demo`: it stands in for a provider preset.
#[derive(Clone)]
pub struct Demo {
    pub base_url: String,
    pub token_url: String,
    /// The sandbox's own origin, an OIDC authority.
    pub authority: String,
    pub client_id: String,
    pub client_secret: String,
    pub username: String,
    pub password: String,
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for Demo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Demo")
            .field("base_url", &self.base_url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// How to reach and authenticate to a host, resolved from flags, environment, profile and preset.
#[derive(Debug)]
pub struct Connection {
    /// The API base, ending in `/ims/oneroster/v1p1/` (`None` when no command needs it).
    pub base_url: Option<Url>,
    pub grant: Grant,
    pub scopes: Vec<Scope>,
    /// Extra headers for API requests; every value is marked sensitive.
    pub headers: HeaderMap,
    pub http: HttpSettings,
}

/// The layers under the command line: a profile, a provider preset, or the demo sandbox.
pub(super) struct Layers<'a> {
    profile: Option<Loaded>,
    provider: Option<Provider>,
    demo: Option<&'a Demo>,
}

impl Layers<'_> {
    pub(super) fn profile(&self) -> Option<&Profile> {
        self.profile.as_ref().map(|l| &l.profile)
    }

    /// A text setting: the command line first, then the profile, then the preset or demo.
    fn text(
        &self,
        cli: &Option<String>,
        profile: impl Fn(&Profile) -> &Option<String>,
        preset: impl Fn(&Provider) -> Option<&'static str>,
        demo: impl Fn(&Demo) -> String,
    ) -> Option<String> {
        cli.clone()
            .or_else(|| self.profile().and_then(|p| profile(p).clone()))
            .or_else(|| self.provider.as_ref().and_then(&preset).map(str::to_string))
            .or_else(|| self.demo.map(demo))
    }

    /// A secret: a file named on the command line, the environment variable, the profile's
    /// reference, then the demo's well-known value.
    fn secret(
        &self,
        file: &Option<PathBuf>,
        file_flag: &str,
        value: Option<SecretString>,
        profile_field: &str,
        profile: impl Fn(&Profile) -> &Option<SecretRef>,
        demo: impl Fn(&Demo) -> Option<String>,
    ) -> Result<Option<SecretString>, Error> {
        if let Some(path) = file {
            return read_secret_file(path, file_flag).map(Some);
        }
        if value.is_some() {
            return Ok(value);
        }
        if let Some(loaded) = &self.profile
            && let Some(reference) = profile(&loaded.profile)
        {
            return loaded.secret(profile_field, reference).map(Some);
        }
        Ok(self.demo.and_then(demo).map(SecretString::from))
    }
}

/// An environment variable holding a secret (never a flag: process lists show flags).
fn env_secret(name: &str) -> Option<SecretString> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .map(SecretString::from)
}

/// Resolves the connection for `token` and `auth rotate` (no base URL needed).
pub fn token_connection(
    args: &ConnectionArgs,
    network: &NetworkArgs,
    demo: Option<&Demo>,
) -> Result<Connection, Error> {
    let layers = layers(args, demo)?;
    connection(args, network, &layers, false)
}

pub(super) fn layers<'a>(
    args: &ConnectionArgs,
    demo: Option<&'a Demo>,
) -> Result<Layers<'a>, Error> {
    let profile = match &args.profile {
        Some(name) => Some(profile::load(name, args.config.as_deref())?),
        None => None,
    };
    let provider = args
        .provider
        .or_else(|| profile.as_ref().and_then(|l| l.profile.provider))
        .map(Provider::get);
    Ok(Layers {
        profile,
        provider,
        demo,
    })
}

fn missing(flag: &str, var: &str) -> Error {
    Error::usage(format!(
        "{flag} is required (or set {var}, use a --profile or --provider, or --demo)"
    ))
}

pub(super) fn connection(
    args: &ConnectionArgs,
    network: &NetworkArgs,
    layers: &Layers,
    need_base: bool,
) -> Result<Connection, Error> {
    let profile = layers.profile();
    // Scopes: as given, expanded to URIs unless sent as written.
    let written: Vec<String> = if args.scopes.iter().any(|s| !s.trim().is_empty()) {
        args.scopes.clone()
    } else {
        profile.and_then(|p| p.scopes.clone()).unwrap_or_default()
    };
    let written: Vec<String> = written
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let as_written =
        args.scope_as_written || profile.and_then(|p| p.scope_as_written) == Some(true);
    let mut scopes = Vec::new();
    for word in &written {
        match Scope::parse(word) {
            Ok(scope) => scopes.push(scope),
            // A host's own scope names are sent as written and grant nothing we know of.
            Err(_) if as_written => {}
            Err(e) => return Err(Error::usage(e.to_string())),
        }
    }
    let scope = if as_written {
        written.join(" ")
    } else {
        scope_param(&scopes)
    };

    let base_url = match layers.text(
        &args.base_url,
        |p| &p.base_url,
        |p| p.base_url,
        |d| d.base_url.clone(),
    ) {
        Some(text) => Some(base_url(&text)?),
        None if need_base => return Err(missing("--base-url", env::BASE_URL)),
        None => None,
    };
    let auth = args
        .auth
        .or(profile.and_then(|p| p.auth))
        .or(layers.provider.map(|p| p.auth))
        .unwrap_or(AuthKind::ClientCredentials);
    let client_auth = args
        .client_auth
        .or(profile.and_then(|p| p.client_auth))
        .unwrap_or(ClientAuth::Basic);
    let client_id = || {
        layers
            .text(
                &args.client_id,
                |p| &p.client_id,
                |_| None,
                |d| d.client_id.clone(),
            )
            .ok_or_else(|| missing("--client-id", env::CLIENT_ID))
    };
    let client_secret = || {
        layers.secret(
            &args.client_secret_file,
            "--client-secret-file",
            args.client_secret.clone(),
            "client_secret",
            |p| &p.client_secret,
            |d| Some(d.client_secret.clone()),
        )
    };
    let required_secret = || {
        client_secret()?.ok_or_else(|| {
            Error::usage(format!(
                "no client secret: set {} or pass --client-secret-file FILE",
                env::CLIENT_SECRET
            ))
        })
    };
    let token_url = || -> Result<Url, Error> {
        let text = layers
            .text(
                &args.token_url,
                |p| &p.token_url,
                |p| p.token_url,
                |d| d.token_url.clone(),
            )
            .ok_or_else(|| missing("--token-url", env::TOKEN_URL))?;
        checked_url("--token-url", &text)
    };
    let endpoint = |secret: Option<SecretString>| -> Result<TokenEndpoint, Error> {
        Ok(TokenEndpoint {
            url: token_url()?,
            client_id: client_id()?,
            client_secret: secret,
            client_auth,
        })
    };

    let grant = match auth {
        AuthKind::ClientCredentials => Grant::ClientCredentials(ClientCredentials {
            endpoint: endpoint(Some(required_secret()?))?,
            scope,
        }),
        AuthKind::RefreshToken => {
            let store = args
                .token_store
                .clone()
                .or_else(|| profile.and_then(|p| p.token_store.clone()))
                .ok_or_else(|| {
                    Error::usage(format!(
                        "--auth refresh-token needs --token-store FILE (or {}): the file that keeps the refresh token",
                        env::TOKEN_STORE
                    ))
                })?;
            let seed = layers.secret(
                &args.refresh_token_file,
                "--refresh-token-file",
                env_secret(env::REFRESH_TOKEN),
                "refresh_token",
                |p| &p.refresh_token,
                |d| d.refresh_token.clone(),
            )?;
            let days = args
                .refresh_token_warn_days
                .or(profile.and_then(|p| p.refresh_token_warn_days))
                .unwrap_or(330);
            Grant::RefreshToken(Box::new(RefreshTokenGrant::new(
                endpoint(Some(required_secret()?))?,
                TokenStore::new(store),
                seed,
                args.preserve_refresh_token
                    || profile.and_then(|p| p.preserve_refresh_token) == Some(true),
                Duration::from_secs(u64::from(days) * 86_400),
            )))
        }
        AuthKind::Password => {
            let direct = args
                .token_url
                .clone()
                .or_else(|| profile.and_then(|p| p.token_url.clone()));
            let authority = args
                .oidc_authority
                .clone()
                .or_else(|| profile.and_then(|p| p.oidc_authority.clone()));
            let token_url = match (direct, authority) {
                (Some(url), _) => TokenUrl::Direct(checked_url("--token-url", &url)?),
                (None, Some(authority)) => {
                    TokenUrl::Discover(checked_url("--oidc-authority", &authority)?)
                }
                (None, None) => match (layers.provider.and_then(|p| p.token_url), layers.demo) {
                    (Some(url), _) => TokenUrl::Direct(checked_url("--token-url", url)?),
                    (None, Some(demo)) => {
                        TokenUrl::Discover(checked_url("--oidc-authority", &demo.authority)?)
                    }
                    (None, None) => {
                        return Err(Error::usage(format!(
                            "--auth password needs --oidc-authority URL or --token-url URL (or {})",
                            env::OIDC_AUTHORITY
                        )));
                    }
                },
            };
            let username = layers
                .text(
                    &args.username,
                    |p| &p.username,
                    |_| None,
                    |d| d.username.clone(),
                )
                .ok_or_else(|| missing("--username", env::USERNAME))?;
            let password = layers
                .secret(
                    &args.password_file,
                    "--password-file",
                    env_secret(env::PASSWORD),
                    "password",
                    |p| &p.password,
                    |d| Some(d.password.clone()),
                )?
                .ok_or_else(|| {
                    Error::usage(format!(
                        "no password: set {} or pass --password-file FILE",
                        env::PASSWORD
                    ))
                })?;
            Grant::Password(Box::new(PasswordGrant::new(
                token_url,
                client_id()?,
                client_secret()?,
                client_auth,
                username,
                password,
                scope,
            )))
        }
        AuthKind::OAuth1 => {
            let method = layers
                .text(
                    &args.signature_method,
                    |p| &p.signature_method,
                    |p| p.signature_method,
                    |_| "hmac-sha256".to_string(),
                )
                .map(|m| {
                    m.parse::<SignatureMethod>()
                        .map_err(|e| Error::usage(format!("--signature-method: {e}")))
                })
                .transpose()?
                .unwrap_or_default();
            Grant::OAuth1(OAuth1Signer {
                consumer_key: client_id()?,
                consumer_secret: required_secret()?,
                method,
            })
        }
        AuthKind::Bearer => {
            let token = layers
                .secret(
                    &args.access_token_file,
                    "--access-token-file",
                    env_secret(env::ACCESS_TOKEN),
                    "access_token",
                    |p| &p.access_token,
                    |_| None,
                )?
                .ok_or_else(|| {
                    Error::usage(format!(
                        "--auth bearer needs an access token: set {} or pass --access-token-file FILE",
                        env::ACCESS_TOKEN
                    ))
                })?;
            Grant::Bearer(token)
        }
    };

    let headers = headers(args, layers)?;
    let rate = network
        .rate
        .or(profile.and_then(|p| p.rate))
        .or(layers.provider.and_then(|p| p.rate))
        .unwrap_or(10.0);
    if !rate.is_finite() || rate <= 0.0 {
        return Err(Error::usage(format!(
            "--rate must be a positive number of requests per second, not {rate}"
        )));
    }
    let mut ca_certs = network.ca_cert.clone();
    ca_certs.extend(profile.and_then(|p| p.ca_cert.clone()).unwrap_or_default());
    let http = HttpSettings {
        rate,
        burst: network.burst,
        retry: RetryPolicy {
            max_attempts: network.max_attempts,
            max_retry_after: Duration::from_secs(network.max_retry_wait),
            max_delay: Duration::from_secs(network.backoff_max),
            ..RetryPolicy::default()
        },
        request_timeout: Duration::from_secs(network.timeout),
        ca_certs,
        ..HttpSettings::default()
    };
    if let (Grant::OAuth1(_), Some(url)) = (&grant, &base_url) {
        tracing::debug!(base_url = %safe_url(url), "signing every request with OAuth 1.0a");
    }
    Ok(Connection {
        base_url,
        grant,
        scopes,
        headers,
        http,
    })
}

/// Extra API headers from `--header`, ROSTER_EXPORT_HEADERS, `--header-file` and the profile;
/// the preset's required ones must be among them.
fn headers(args: &ConnectionArgs, layers: &Layers) -> Result<HeaderMap, Error> {
    let mut map = HeaderMap::new();
    let mut add = |place: &str, name: &str, value: SecretString| -> Result<(), Error> {
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
            Error::usage(format!("{place}: `{}` is not a header name", name.trim()))
        })?;
        if matches!(
            name.as_str(),
            "authorization" | "host" | "content-length" | "transfer-encoding" | "connection"
        ) {
            return Err(Error::usage(format!(
                "{place}: the {name} header is set by the tool itself"
            )));
        }
        let mut value = HeaderValue::from_str(secrecy::ExposeSecret::expose_secret(&value).trim())
            .map_err(|_| {
                Error::usage(format!(
                    "{place}: the value of {name} has characters a header cannot carry"
                ))
            })?;
        // Header values are often keys: keep them out of Debug output and logs.
        value.set_sensitive(true);
        map.insert(name, value);
        Ok(())
    };
    let lines = |place: String, text: &str| -> Result<Vec<(String, String, SecretString)>, Error> {
        let mut out = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, value) = line.split_once(':').ok_or_else(|| {
                Error::usage(format!("{place}, line {}: expected `Name: value`", n + 1))
            })?;
            out.push((
                format!("{place}, line {}", n + 1),
                name.to_string(),
                SecretString::from(value.to_string()),
            ));
        }
        Ok(out)
    };
    if let Some(loaded) = &layers.profile {
        for (name, reference) in loaded.profile.headers.iter().flatten() {
            let field = format!("headers.{name}");
            let value = loaded.secret(&field, reference)?;
            add(&format!("profile {}, {field}", loaded.name), name, value)?;
        }
    }
    if let Some(path) = &args.header_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::usage(format!("--header-file {}: {e}", path.display())))?;
        for (place, name, value) in lines(format!("--header-file {}", path.display()), &text)? {
            add(&place, &name, value)?;
        }
    }
    if let Ok(text) = std::env::var(env::HEADERS) {
        for (place, name, value) in lines(env::HEADERS.to_string(), &text)? {
            add(&place, &name, value)?;
        }
    }
    for header in &args.headers {
        let (name, value) = header.split_once(':').ok_or_else(|| {
            Error::usage("--header: expected `Name: value` (the value is not shown)")
        })?;
        add("--header", name, SecretString::from(value.to_string()))?;
    }
    if let Some(provider) = &layers.provider {
        for required in provider.required_headers {
            if !map.contains_key(*required) {
                return Err(Error::usage(format!(
                    "the {} provider needs the {required} header on every request: set {}='{required}: …' \
                     or put it in --header-file or the profile's headers",
                    clap::ValueEnum::to_possible_value(&provider.name)
                        .map(|v| v.get_name().to_string())
                        .unwrap_or_default(),
                    env::HEADERS
                )));
            }
        }
    }
    Ok(map)
}
