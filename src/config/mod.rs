//! Turning the command line and environment (already merged by clap), a profile of the config
//! file and a provider preset into one checked `Config`, in that order of precedence. Every
//! configuration mistake is found here, before any request or file is made.

mod profile;
mod provider;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::SecretString;
use url::Url;

pub use profile::{Profile, SecretRef, default_path, listing as profile_listing};
pub use provider::Provider;

use crate::auth::{
    ClientCredentials, Grant, OAuth1Signer, PasswordGrant, RefreshTokenGrant, SignatureMethod,
    TokenEndpoint, TokenStore, TokenUrl,
};
use crate::cli::{AuthKind, ClientAuth, ConnectionArgs, ExportArgs, NetworkArgs, env};
use crate::error::Error;
use crate::export::{Destination, Format, OutputOptions};
use crate::http::{HttpSettings, RetryPolicy, safe_url};
use crate::oneroster::{BASE_PATH_SUFFIX, CollectionId, Scope, scope_param};
use crate::pager::PagerSettings;
use profile::{Loaded, read_secret_file};

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

/// A run's settings, resolved once: whom to ask (the connection, whose base URL is set) and
/// what to export where (the plan).
#[derive(Debug)]
pub struct Config {
    pub connection: Connection,
    pub plan: Plan,
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
}

/// The layers under the command line: a profile, a provider preset, or the demo sandbox.
struct Layers<'a> {
    profile: Option<Loaded>,
    provider: Option<Provider>,
    demo: Option<&'a Demo>,
}

impl Layers<'_> {
    fn profile(&self) -> Option<&Profile> {
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

impl Config {
    pub fn from_args(args: &ExportArgs, demo: Option<&Demo>) -> Result<Config, Error> {
        let layers = layers(&args.connection, demo)?;
        let connection = connection(&args.connection, &args.network, &layers, true)?;
        let profile = layers.profile();
        if connection.scopes.is_empty() {
            return Err(Error::usage(
                "no scope given: add --scope roster.readonly (or another scope)",
            ));
        }
        let only = if args.only.is_empty() {
            profile.and_then(|p| p.only.clone()).unwrap_or_default()
        } else {
            args.only.clone()
        };
        let collections = plan(&connection.scopes, &only)?;
        let output = output(args, profile)?;
        let pager = PagerSettings {
            page_size: args
                .page_size
                .or(profile.and_then(|p| p.page_size))
                .unwrap_or(5000)
                .max(1),
            concurrency: args
                .concurrency
                .or(profile.and_then(|p| p.concurrency))
                .unwrap_or(4)
                .clamp(1, 256) as usize,
            ..PagerSettings::default()
        };
        Ok(Config {
            connection,
            plan: Plan {
                collections,
                output,
                pager,
                allow_partial: args.allow_partial,
            },
        })
    }
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

fn layers<'a>(args: &ConnectionArgs, demo: Option<&'a Demo>) -> Result<Layers<'a>, Error> {
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

fn connection(
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
            Grant::RefreshToken(Box::new(RefreshTokenGrant {
                endpoint: endpoint(Some(required_secret()?))?,
                store: TokenStore::new(store),
                seed,
                preserve: args.preserve_refresh_token
                    || profile.and_then(|p| p.preserve_refresh_token) == Some(true),
                warn_after: Duration::from_secs(u64::from(days) * 86_400),
                warned: AtomicBool::new(false),
            }))
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

/// The collections the scopes grant, narrowed by `--only`, in export order.
fn plan(scopes: &[Scope], only: &[String]) -> Result<Vec<CollectionId>, Error> {
    let granted: Vec<CollectionId> = CollectionId::all()
        .filter(|c| {
            scopes
                .iter()
                .filter_map(Scope::known)
                .any(|s| s.collections().contains(c))
        })
        .collect();
    if granted.is_empty() {
        return Err(Error::usage(
            "the requested scopes grant no collection this tool knows; add a read scope such as roster.readonly",
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
            .map_err(|e: String| Error::usage(format!("--only: {e}")))?;
        if !granted.contains(&id) {
            return Err(Error::usage(format!(
                "--only {id}: the requested scopes do not cover it; add --scope {}",
                id.info().scope.short_name()
            )));
        }
        wanted.push(id);
    }
    Ok(granted.into_iter().filter(|c| wanted.contains(c)).collect())
}

/// Parses a URL and refuses plain http anywhere but loopback.
pub fn checked_url(flag: &str, text: &str) -> Result<Url, Error> {
    let url = Url::parse(text.trim())
        .map_err(|e| Error::usage(format!("{flag} {text:?} is not a URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(Error::usage(format!(
                "{flag}: plain http:// is only allowed for loopback addresses; use https:// for {}",
                url.host_str().unwrap_or("")
            )));
        }
        other => {
            return Err(Error::usage(format!(
                "{flag}: unsupported scheme {other}:// (use https://)"
            )));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::usage(format!(
            "{flag}: put credentials in --client-id and the secret, not in the URL"
        )));
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// The API base, ending in `/ims/oneroster/v1p1/` whether or not the user wrote the suffix.
pub fn base_url(text: &str) -> Result<Url, Error> {
    let mut url = checked_url("--base-url", text)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::usage(
            "--base-url must not carry a query or fragment",
        ));
    }
    let path = url.path().trim_end_matches('/').to_string();
    let path = if path.ends_with(&format!("/{BASE_PATH_SUFFIX}")) {
        path
    } else {
        format!("{path}/{BASE_PATH_SUFFIX}")
    };
    url.set_path(&format!("{path}/"));
    Ok(url)
}

fn output(args: &ExportArgs, profile: Option<&Profile>) -> Result<OutputOptions, Error> {
    let out = args
        .out
        .clone()
        .or_else(|| profile.and_then(|p| p.out.clone()))
        .ok_or_else(|| {
            Error::usage("--out is required: a .zip file, a folder, or - (with --format ndjson)")
        })?;
    let format = args
        .format
        .or(profile.and_then(|p| p.format))
        .unwrap_or(Format::Csv);
    let destination = if out.as_os_str() == "-" {
        if format != Format::Ndjson {
            return Err(Error::usage(
                "--out - (stdout) needs --format ndjson; CSV and JSON write a folder or a zip",
            ));
        }
        Destination::Stdout
    } else {
        Destination::Path(out)
    };
    Ok(OutputOptions {
        format,
        destination,
        include_passwords: args.include_passwords,
        system_name: "roster-export".to_string(),
        system_code: args
            .system_code
            .clone()
            .or_else(|| profile.and_then(|p| p.system_code.clone())),
        max_shrink: args.max_shrink.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_gain_the_suffix_once() {
        for input in [
            "https://h.example/aeries",
            "https://h.example/aeries/",
            "https://h.example/aeries/ims/oneroster/v1p1",
            "https://h.example/aeries/ims/oneroster/v1p1/",
        ] {
            assert_eq!(
                base_url(input).unwrap().as_str(),
                "https://h.example/aeries/ims/oneroster/v1p1/",
                "{input}"
            );
        }
        assert_eq!(
            base_url("http://127.0.0.1:8080").unwrap().as_str(),
            "http://127.0.0.1:8080/ims/oneroster/v1p1/"
        );
    }

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(base_url("http://localhost:1/x").is_ok());
        assert!(base_url("http://[::1]:1/x").is_ok());
        let err = base_url("http://district.example/x").unwrap_err();
        assert!(
            err.to_string().contains("only allowed for loopback"),
            "{err}"
        );
        assert!(base_url("https://u:p@h.example/").is_err());
    }

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

    fn parse(args: &[&str]) -> Result<Config, Error> {
        use clap::Parser as _;
        let cli = crate::cli::Cli::try_parse_from(
            [
                "roster-export",
                "--scope",
                "roster.readonly",
                "--out",
                "x.zip",
            ]
            .iter()
            .chain(args),
        )
        .map_err(|e| Error::usage(e.to_string()))?;
        Config::from_args(&cli.export, None)
    }

    #[test]
    fn flags_win_over_the_preset() {
        let config = parse(&[
            "--provider",
            "blackbaud",
            "--client-id",
            "key",
            "--client-secret",
            "s3cret-value",
            "--token-url",
            "https://auth.example/t",
        ])
        .unwrap();
        let c = &config.connection;
        assert_eq!(
            c.base_url.as_ref().unwrap().as_str(),
            "https://api.sky.blackbaud.com/afe-rostr/ims/oneroster/v1p1/"
        );
        assert_eq!(c.http.rate, 5.0, "Blackbaud's documented rate");
        match &c.grant {
            Grant::ClientCredentials(cc) => {
                assert_eq!(cc.endpoint.url.as_str(), "https://auth.example/t");
                assert_eq!(
                    cc.scope,
                    "https://purl.imsglobal.org/spec/or/v1p1/scope/roster.readonly"
                );
            }
            other => panic!("{other:?}"),
        }
        let written = parse(&[
            "--provider",
            "blackbaud",
            "--client-id",
            "key",
            "--client-secret",
            "x",
            "--scope-as-written",
            "--scope",
            "custom.scope",
        ])
        .unwrap();
        match &written.connection.grant {
            Grant::ClientCredentials(cc) => assert_eq!(cc.scope, "roster.readonly custom.scope"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn no_grant_shows_its_secrets_in_debug_output() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        };
        let password = file("pw", "pw-secret-value\n");
        let token = file("tok", "bearer-secret-value\n");
        let refresh = file("rt", "refresh-secret-value\n");
        let store = dir.path().join("store.json").display().to_string();
        let common = [
            "--base-url",
            "https://h.example",
            "--token-url",
            "https://h.example/token",
            "--client-id",
            "key",
            "--client-secret",
            "client-secret-value",
            "--header",
            "X-Api-Key: header-secret-value",
        ];
        for extra in [
            vec!["--auth", "client-credentials"],
            vec!["--auth", "oauth1", "--signature-method", "hmac-sha1"],
            vec![
                "--auth",
                "password",
                "--username",
                "u",
                "--password-file",
                &password,
            ],
            vec!["--auth", "bearer", "--access-token-file", &token],
            vec![
                "--auth",
                "refresh-token",
                "--token-store",
                &store,
                "--refresh-token-file",
                &refresh,
            ],
        ] {
            let args: Vec<&str> = common.iter().copied().chain(extra.clone()).collect();
            let config = parse(&args).unwrap();
            let shown = format!("{config:?}");
            for secret in [
                "client-secret-value",
                "header-secret-value",
                "pw-secret-value",
                "bearer-secret-value",
                "refresh-secret-value",
            ] {
                assert!(!shown.contains(secret), "{extra:?} shows {secret}: {shown}");
            }
        }
        let err = parse(&["--base-url", "https://h.example", "--auth", "refresh-token"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--token-store"), "{err}");
        let err = parse(&[
            "--provider",
            "blackbaud-sky",
            "--client-id",
            "k",
            "--client-secret",
            "s",
            "--token-store",
            &store,
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("Bb-Api-Subscription-Key"), "{err}");
        let with_header = |header: &str| {
            let mut args = common[..8].to_vec();
            args.extend(["--header", header]);
            parse(&args).unwrap_err().to_string()
        };
        let err = with_header("Authorization: x");
        assert!(err.contains("set by the tool itself"), "{err}");
        let err = with_header("no colon here");
        assert!(err.contains("expected `Name: value`"), "{err}");
    }
}
