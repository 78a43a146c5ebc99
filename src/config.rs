//! Turning the command line and environment (already merged by clap) into one checked `Config`.
//! Every configuration mistake is found here, before any request or file is made.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::cli::ExportArgs;
use crate::error::Error;
use crate::export::{Destination, Format, OutputOptions};
use crate::http::{HttpSettings, RetryPolicy};
use crate::oneroster::{BASE_PATH_SUFFIX, CollectionId, Scope};
use crate::pager::PagerSettings;

/// Where the data comes from.
pub enum Source {
    /// The built-in sandbox, started in-process for this run.
    Demo,
    Remote(Box<Remote>),
}

/// A real host's URLs and credentials.
pub struct Remote {
    pub base_url: Url,
    pub token_url: Url,
    pub client_id: String,
    pub client_secret: SecretString,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Demo => f.write_str("Demo"),
            Source::Remote(r) => f
                .debug_struct("Remote")
                .field("base_url", &r.base_url.as_str())
                .field("token_url", &r.token_url.as_str())
                .field("client_id", &r.client_id)
                .field("client_secret", &"[REDACTED]")
                .finish(),
        }
    }
}

/// A run's settings, resolved once.
#[derive(Debug)]
pub struct Config {
    pub source: Source,
    pub scopes: Vec<Scope>,
    /// The collections to export, in export order.
    pub collections: Vec<CollectionId>,
    pub output: OutputOptions,
    pub http: HttpSettings,
    pub pager: PagerSettings,
    /// Publish the collections that are complete and mark the others absent, instead of failing.
    pub allow_partial: bool,
    pub quiet: bool,
}

impl Config {
    pub fn from_args(args: &ExportArgs) -> Result<Config, Error> {
        let scopes = args
            .scopes
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| Scope::parse(s).map_err(|e| Error::usage(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        if scopes.is_empty() {
            return Err(Error::usage(
                "no scope given: add --scope roster.readonly (or another scope)",
            ));
        }
        let collections = plan(&scopes, &args.only)?;
        let source = if args.demo {
            Source::Demo
        } else {
            remote(args)?
        };
        let output = output(args)?;
        if !args.rate.is_finite() || args.rate <= 0.0 {
            return Err(Error::usage(format!(
                "--rate must be a positive number of requests per second, not {}",
                args.rate
            )));
        }
        let http = HttpSettings {
            rate: args.rate,
            burst: args.burst,
            retry: RetryPolicy {
                max_attempts: args.max_attempts,
                max_retry_after: Duration::from_secs(args.max_retry_wait),
                max_delay: Duration::from_secs(args.backoff_max),
                ..RetryPolicy::default()
            },
            request_timeout: Duration::from_secs(args.timeout),
            ca_certs: args.ca_cert.clone(),
            ..HttpSettings::default()
        };
        let pager = PagerSettings {
            page_size: args.page_size,
            concurrency: args.concurrency as usize,
            ..PagerSettings::default()
        };
        Ok(Config {
            source,
            scopes,
            collections,
            output,
            http,
            pager,
            allow_partial: args.allow_partial,
            quiet: args.quiet,
        })
    }
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

fn remote(args: &ExportArgs) -> Result<Source, Error> {
    let missing = |flag: &str, var: &str| {
        Error::usage(format!("{flag} is required (or set {var}), unless --demo"))
    };
    let base = args
        .base_url
        .as_deref()
        .ok_or_else(|| missing("--base-url", crate::cli::env::BASE_URL))?;
    let token = args
        .token_url
        .as_deref()
        .ok_or_else(|| missing("--token-url", crate::cli::env::TOKEN_URL))?;
    let client_id = args
        .client_id
        .clone()
        .ok_or_else(|| missing("--client-id", crate::cli::env::CLIENT_ID))?;
    let client_secret = match (&args.client_secret_file, &args.client_secret) {
        (Some(path), _) => read_secret_file(path)?,
        (None, Some(secret)) => secret.clone(),
        (None, None) => {
            return Err(Error::usage(format!(
                "no client secret: set {} or pass --client-secret-file FILE",
                crate::cli::env::CLIENT_SECRET
            )));
        }
    };
    Ok(Source::Remote(Box::new(Remote {
        base_url: base_url(base)?,
        token_url: checked_url("--token-url", token)?,
        client_id,
        client_secret,
    })))
}

fn read_secret_file(path: &Path) -> Result<SecretString, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::usage(format!("--client-secret-file {}: {e}", path.display())))?;
    let secret = text.trim_end_matches(['\r', '\n']);
    if secret.is_empty() {
        return Err(Error::usage(format!(
            "--client-secret-file {}: the file is empty",
            path.display()
        )));
    }
    Ok(SecretString::from(secret.to_string()))
}

/// Parses a URL and refuses plain http anywhere but loopback.
fn checked_url(flag: &str, text: &str) -> Result<Url, Error> {
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

fn output(args: &ExportArgs) -> Result<OutputOptions, Error> {
    let out = args.out.as_ref().ok_or_else(|| {
        Error::usage("--out is required: a .zip file, a folder, or - (with --format ndjson)")
    })?;
    let destination = if out.as_os_str() == "-" {
        if args.format != Format::Ndjson {
            return Err(Error::usage(
                "--out - (stdout) needs --format ndjson; CSV and JSON write a folder or a zip",
            ));
        }
        Destination::Stdout
    } else {
        Destination::Path(out.clone())
    };
    Ok(OutputOptions {
        format: args.format,
        destination,
        include_passwords: args.include_passwords,
        system_name: "roster-export".to_string(),
        system_code: args.system_code.clone(),
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
}
