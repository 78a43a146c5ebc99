//! Naming what could not be reached: the host and port, and the proxy in between when the
//! environment routes the request through one (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, less
//! `NO_PROXY`, read exactly as reqwest reads them), so "connection refused" says whose.

use url::Url;

/// `host:port` of `url`, the port filled in from the scheme when the URL leaves it out.
pub fn host_port(url: &Url) -> String {
    let host = match url.host() {
        Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
        Some(host) => host.to_string(),
        None => String::new(),
    };
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

/// The proxy a request to `url` goes through, if any: `scheme://host:port` (never its
/// credentials) and where it was configured.
pub fn proxy_for(url: &Url) -> Option<(String, &'static str)> {
    let uri: http::Uri = format!("{}://{}/", url.scheme(), host_port(url))
        .parse()
        .ok()?;
    let matcher = hyper_util::client::proxy::matcher::Matcher::from_system();
    let intercept = matcher.intercept(&uri)?;
    let proxy = intercept.uri();
    let shown = format!(
        "{}://{}{}",
        proxy.scheme_str().unwrap_or("http"),
        proxy.host().unwrap_or(""),
        proxy
            .port_u16()
            .map(|p| format!(":{p}"))
            .unwrap_or_default()
    );
    let names: &[&'static str] = match url.scheme() {
        "https" => &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"],
        _ => &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"],
    };
    let source = names
        .iter()
        .copied()
        .find(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
        .unwrap_or("the system's proxy settings");
    Some((shown, source))
}

/// "cannot reach HOST:PORT (why)" for a request that never got an answer because the
/// connection could not be made; `None` for other failures.
pub fn cannot_reach(err: &reqwest::Error) -> Option<String> {
    if !err.is_connect() {
        return None;
    }
    let url = err.url()?;
    let why = cause(err);
    Some(match proxy_for(url) {
        Some((proxy, source)) => format!(
            "cannot reach {} through the proxy {proxy} (from {source}): {why}; hosts listed in \
             NO_PROXY are reached directly",
            host_port(url)
        ),
        None => format!("cannot reach {} ({why})", host_port(url)),
    })
}

/// Why the connection failed, in a few words.
fn cause(err: &reqwest::Error) -> String {
    let mut innermost = String::new();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return "connection refused".into(),
                std::io::ErrorKind::TimedOut => return "timed out while connecting".into(),
                _ => {}
            }
        }
        let text = s.to_string();
        if text.to_ascii_lowercase().contains("dns") {
            let mut detail = text;
            let mut inner = s.source();
            while let Some(i) = inner {
                detail = i.to_string();
                inner = i.source();
            }
            return format!("the name does not resolve: {detail}");
        }
        innermost = text;
        source = s.source();
    }
    if err.is_timeout() {
        return "timed out while connecting".into();
    }
    innermost
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_come_from_the_scheme_when_left_out() {
        let url = |s: &str| Url::parse(s).unwrap();
        assert_eq!(host_port(&url("https://h.example/x")), "h.example:443");
        assert_eq!(host_port(&url("http://127.0.0.1:8080/")), "127.0.0.1:8080");
        assert_eq!(host_port(&url("https://[::1]/")), "[::1]:443");
    }
}
