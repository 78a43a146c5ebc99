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
        format!("{path}/{suffix}")
    };
    url.set_path(&format!("{path}/"));
    Ok(url)
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
    fn safe_urls_hide_user_info_and_query() {
        let url = Url::parse("https://me:pw@host.example:8443/a/b?limit=5&token=x").unwrap();
        assert_eq!(safe_url(&url), "https://host.example:8443/a/b");
    }
}
