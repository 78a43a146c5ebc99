//! URLs the tool is given or shown: plain http only on loopback, no credentials in them, the API
//! base normalised once, and a form fit for logs (no user info, no query).

use std::net::IpAddr;

use url::Url;

/// Why a URL cannot be used; the message names the flag (or field) it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadUrl(pub String);

/// Parses a URL and refuses plain http anywhere but loopback, and credentials in the URL.
pub fn checked_url(flag: &str, text: &str) -> Result<Url, BadUrl> {
    let url = Url::parse(text.trim())
        .map_err(|e| BadUrl(format!("{flag} {text:?} is not a URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(BadUrl(format!(
                "{flag}: plain http:// is only allowed for loopback addresses; use https:// for {}",
                url.host_str().unwrap_or("")
            )));
        }
        other => {
            return Err(BadUrl(format!(
                "{flag}: unsupported scheme {other}:// (use https://)"
            )));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(BadUrl(format!(
            "{flag}: put credentials in --client-id and the secret, not in the URL"
        )));
    }
    Ok(url)
}

/// Whether the URL's host is a loopback address (or `localhost`).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// The API base, ending in `/ims/oneroster/v1p1/` whether or not the user wrote the suffix, so
/// that joining a collection's path keeps the whole base.
///
/// A path that already looks like part of an API path (a OneRoster 1.2 or 1.0 path, an endpoint
/// pasted after the base, a misspelt `/ims/oneroster/v1p1`) is refused rather than extended, since
/// extending it could only lead to 404s (docs/oneroster-notes.md §11).
pub fn base_url(text: &str) -> Result<Url, BadUrl> {
    let mut url = checked_url("--base-url", text)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(BadUrl(
            "--base-url must not carry a query or fragment".to_string(),
        ));
    }
    let suffix = oneroster::BASE_PATH_SUFFIX;
    let path = url.path().trim_end_matches('/').to_string();
    let path = if path.ends_with(&format!("/{suffix}")) {
        path
    } else {
        if let Some(problem) = api_like_path(&url, &path) {
            return Err(BadUrl(problem));
        }
        format!("{path}/{suffix}")
    };
    url.set_path(&format!("{path}/"));
    Ok(url)
}

/// Why `path` (the base URL's, no trailing `/`) cannot be a server root, with what the tool would
/// have asked and the likely fix; `None` when it can be.
fn api_like_path(url: &Url, path: &str) -> Option<String> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    let origin = url.origin().ascii_serialization();
    let at = |i: usize| {
        let root = segments[..i].join("/");
        let root = if root.is_empty() {
            String::new()
        } else {
            format!("/{root}")
        };
        format!("{origin}{root}/{}", oneroster::BASE_PATH_SUFFIX)
    };
    let shown = format!("{origin}{path}");
    // An endpoint pasted after a good base: `…/ims/oneroster/v1p1/users`.
    if let Some(i) = lower
        .windows(3)
        .position(|w| w[0] == "ims" && w[1] == "oneroster" && w[2] == "v1p1")
    {
        return Some(format!(
            "--base-url {shown}: the API base ends at /ims/oneroster/v1p1, and this goes on past \
             it (an endpoint pasted by mistake?); use --base-url {}",
            at(i)
        ));
    }
    if let Some(i) = lower.iter().position(|s| s == "ims")
        && lower[i..].iter().any(|s| s.ends_with("v1p2"))
    {
        return Some(format!(
            "--base-url {shown}: this is a OneRoster 1.2 path; this tool reads OneRoster 1.1. \
             Ask the host whether it also offers 1.1, usually at {}",
            at(i)
        ));
    }
    if let Some(i) = lower.iter().position(|s| s == "learningdata") {
        return Some(format!(
            "--base-url {shown}: this is a OneRoster 1.0 path (/learningdata/v1), which this tool \
             does not read. Ask the host whether it also offers 1.1, usually at {}",
            at(i)
        ));
    }
    let last = lower.last().map(String::as_str).unwrap_or("");
    let collection = oneroster::CollectionId::all().any(|c| c.name().eq_ignore_ascii_case(last))
        || matches!(
            last,
            "students" | "teachers" | "schools" | "terms" | "gradingperiods"
        );
    let looks_like_api =
        |s: &str| s == "ims" || is_version(s) || (s != "oneroster" && near(s, "oneroster"));
    let first = lower.iter().position(|s| looks_like_api(s));
    let start = match (first, collection) {
        (Some(i), _) => i,
        (None, true) => segments.len() - 1,
        (None, false) => return None,
    };
    Some(format!(
        "--base-url {shown}: the path looks like part of a OneRoster API path but does not end in \
         /ims/oneroster/v1p1, so the tool would ask {shown}/{}/orgs, which cannot exist. \
         Did you mean --base-url {}? (Give either the whole base, ending in /ims/oneroster/v1p1, \
         or the server root it hangs off.)",
        oneroster::BASE_PATH_SUFFIX,
        at(start)
    ))
}

/// `v1p1`, `v1p2`, `v1p0`: a OneRoster version segment.
fn is_version(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 4
        && b[0] == b'v'
        && s[1..].split_once('p').is_some_and(|(major, minor)| {
            !major.is_empty()
                && !minor.is_empty()
                && major.bytes().all(|c| c.is_ascii_digit())
                && minor.bytes().all(|c| c.is_ascii_digit())
        })
}

/// Within two edits of `word`: a misspelling.
fn near(s: &str, word: &str) -> bool {
    crate::spelling::edit_distance(s, word) <= 2
}

/// A URL fit for logs: scheme, host, port and path only.
pub fn safe_url(url: &Url) -> String {
    let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    shown.push_str(url.path());
    shown
}

/// A URL for a request log line: [`safe_url`] and the query, with the value of any parameter
/// whose name suggests a secret (`token`, `key`, `signature`, `oauth_…`, …) replaced by `…`.
pub fn loggable_url(url: &Url) -> String {
    let mut shown = safe_url(url);
    let pairs: Vec<String> = url
        .query_pairs()
        .map(|(name, value)| {
            if is_secret_name(&name) {
                format!("{name}=…")
            } else {
                format!("{name}={value}")
            }
        })
        .collect();
    if !pairs.is_empty() {
        shown.push('?');
        shown.push_str(&pairs.join("&"));
    }
    shown
}

/// Whether a query parameter or header named `name` may carry a secret.
pub fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "token",
        "secret",
        "password",
        "key",
        "signature",
        "oauth",
        "auth",
        "cookie",
        "session",
        "code",
        "credential",
    ]
    .iter()
    .any(|word| name.contains(word))
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
    fn api_like_paths_are_refused_with_the_likely_fix() {
        let cases = [
            (
                "https://h.example/ims/onerostr/v1p1",
                "Did you mean --base-url https://h.example/ims/oneroster/v1p1?",
            ),
            (
                "https://h.example/aeries/ims/oneroster/v1p1/users",
                "use --base-url https://h.example/aeries/ims/oneroster/v1p1",
            ),
            (
                "https://h.example/ims/oneroster/rostering/v1p2",
                "OneRoster 1.2",
            ),
            ("https://h.example/learningdata/v1", "OneRoster 1.0"),
            (
                "https://h.example/district/users",
                "Did you mean --base-url https://h.example/district/ims/oneroster/v1p1?",
            ),
            (
                "https://h.example/x/ims/oneroster",
                "would ask https://h.example/x/ims/oneroster/ims/oneroster/v1p1/orgs",
            ),
        ];
        for (input, expected) in cases {
            let err = base_url(input).unwrap_err().to_string();
            assert!(err.contains(expected), "{input}: {err}");
        }
        // Server roots, Infinite Campus's included, are extended as before.
        for root in [
            "https://h.example/campus/oneroster/district-app",
            "https://d.aeries.net/aeries",
            "https://h.example/api",
        ] {
            assert!(base_url(root).is_ok(), "{root}");
        }
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
    fn safe_urls_hide_user_info_and_query() {
        let url = Url::parse("https://me:pw@host.example:8443/a/b?limit=5&token=x").unwrap();
        assert_eq!(safe_url(&url), "https://host.example:8443/a/b");
        assert_eq!(
            loggable_url(&url),
            "https://host.example:8443/a/b?limit=5&token=…"
        );
    }
}
