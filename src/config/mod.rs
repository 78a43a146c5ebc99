//! Turning the command line and environment (already merged by clap), a profile of the config
//! file and a provider preset into one checked `Config`, in that order of precedence. Every
//! configuration mistake is found here, before any request or file is made.

mod connection;
mod profile;
mod provider;

use std::net::IpAddr;

use url::Url;

pub use connection::{Connection, Demo, token_connection};
pub use profile::{Profile, SecretRef, default_path, listing as profile_listing};
pub use provider::Provider;

use crate::cli::ExportArgs;
use crate::error::Error;
use crate::export::{Destination, Format, OutputOptions};
use crate::oneroster::{BASE_PATH_SUFFIX, CollectionId, Scope};
use crate::pager::PagerSettings;

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

impl Config {
    pub fn from_args(args: &ExportArgs, demo: Option<&Demo>) -> Result<Config, Error> {
        let layers = connection::layers(&args.connection, demo)?;
        let connection = connection::connection(&args.connection, &args.network, &layers, true)?;
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
    use crate::auth::Grant;

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
