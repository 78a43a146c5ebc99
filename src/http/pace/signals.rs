//! What a reply says about the host's limit: the IETF `RateLimit-Policy` / `RateLimit` fields, the
//! older `RateLimit-Limit/-Remaining/-Reset`, and the common `X-RateLimit-*`, read liberally
//! (docs/oneroster-notes.md §10).

use std::time::Duration;

use reqwest::header::HeaderMap;

/// A limit the host announced in a reply. Every part is optional: hosts send what they send.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Announced {
    /// Requests allowed per window.
    pub limit: Option<u64>,
    /// The window the limit is counted over.
    pub window: Option<Duration>,
    /// Requests left in the current window.
    pub remaining: Option<u64>,
    /// Time until the window (or the quota) resets.
    pub reset: Option<Duration>,
}

impl Announced {
    /// The sustained rate the host allows, in requests per second, when it says so.
    pub fn rate(&self) -> Option<f64> {
        match (self.limit, self.window) {
            (Some(limit), Some(window)) if !window.is_zero() => {
                Some(limit as f64 / window.as_secs_f64())
            }
            _ => None,
        }
    }

    fn is_empty(&self) -> bool {
        *self == Announced::default()
    }
}

/// The limit announced in `headers`, if any; the most restrictive policy when several are.
pub fn announced(headers: &HeaderMap) -> Option<Announced> {
    let found = ietf(headers)
        .or_else(|| legacy(headers, "ratelimit-"))
        .or_else(|| legacy(headers, "x-ratelimit-"))
        .or_else(|| legacy(headers, "x-rate-limit-"))?;
    (!found.is_empty()).then_some(found)
}

/// All values of a field, comma-split, trimmed.
fn items<'a>(headers: &'a HeaderMap, name: &str) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(name)
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// `name;k=v;k2=v2` → the name (quotes removed) and its parameters.
fn item(text: &str) -> (&str, Vec<(&str, &str)>) {
    let mut parts = text.split(';').map(str::trim);
    let name = parts.next().unwrap_or("").trim_matches('"');
    let params = parts
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
        .collect();
    (name, params)
}

fn param(params: &[(&str, &str)], key: &str) -> Option<u64> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .and_then(|(_, v)| v.parse().ok())
}

/// The current draft: `RateLimit-Policy: "p";q=100;w=60` and `RateLimit: "p";r=50;t=30`.
fn ietf(headers: &HeaderMap) -> Option<Announced> {
    let mut best: Option<Announced> = None;
    for policy in items(headers, "ratelimit-policy") {
        let (name, params) = item(policy);
        let Some(limit) = param(&params, "q") else {
            continue;
        };
        // Quotas counted in bytes or concurrent requests are not request rates.
        if params.iter().any(|(k, v)| *k == "qu" && *v != "requests") {
            continue;
        }
        let mut found = Announced {
            limit: Some(limit),
            window: param(&params, "w").map(Duration::from_secs),
            ..Announced::default()
        };
        for state in items(headers, "ratelimit") {
            let (state_name, state_params) = item(state);
            if state_name == name {
                found.remaining = param(&state_params, "r");
                found.reset = param(&state_params, "t").map(Duration::from_secs);
            }
        }
        best = Some(stricter(best, found));
    }
    if best.is_none() {
        // A `RateLimit` without its policy still says what is left.
        for state in items(headers, "ratelimit") {
            let (_, params) = item(state);
            if let Some(r) = param(&params, "r") {
                best = Some(Announced {
                    remaining: Some(r),
                    reset: param(&params, "t").map(Duration::from_secs),
                    ..Announced::default()
                });
            }
        }
    }
    best
}

/// The one whose sustained rate is lower (an unknown rate counts as no limit).
fn stricter(a: Option<Announced>, b: Announced) -> Announced {
    match a {
        Some(a) if a.rate().unwrap_or(f64::INFINITY) <= b.rate().unwrap_or(f64::INFINITY) => a,
        _ => b,
    }
}

/// `{prefix}limit`, `{prefix}remaining`, `{prefix}reset`: the older draft's fields and the
/// `X-RateLimit-*` family. `limit` may carry a `;w=60` policy.
fn legacy(headers: &HeaderMap, prefix: &str) -> Option<Announced> {
    let first = |suffix: &str| items(headers, &format!("{prefix}{suffix}")).next();
    let (limit, window) = match first("limit").map(item) {
        Some((value, params)) => (
            value.parse().ok(),
            param(&params, "w").map(Duration::from_secs),
        ),
        None => (None, None),
    };
    let found = Announced {
        limit,
        window,
        remaining: first("remaining").and_then(|v| v.parse().ok()),
        reset: first("reset").and_then(reset_in),
    };
    (!found.is_empty()).then_some(found)
}

/// A reset as a delay: seconds from now, epoch seconds or milliseconds, or an HTTP date.
fn reset_in(text: &str) -> Option<Duration> {
    let now = jiff::Timestamp::now();
    let until = |at: jiff::Timestamp| Duration::try_from(at.duration_since(now)).ok();
    if let Ok(n) = text.parse::<f64>() {
        return match n {
            n if !n.is_finite() || n < 0.0 => None,
            // Epoch milliseconds, then epoch seconds: no sane delay is that long.
            n if n > 1e12 => until(jiff::Timestamp::from_millisecond(n as i64).ok()?),
            n if n > 1e9 => until(jiff::Timestamp::from_second(n as i64).ok()?),
            n => Some(Duration::from_secs_f64(n)),
        }
        .or(Some(Duration::ZERO));
    }
    let at = jiff::fmt::rfc2822::parse(text)
        .map(|z| z.timestamp())
        .or_else(|_| text.parse::<jiff::Timestamp>())
        .ok()?;
    Some(until(at).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn the_current_draft_names_policy_and_state() {
        let a = announced(&headers(&[
            (
                "RateLimit-Policy",
                r#""burst";q=100;w=60, "daily";q=1000;w=86400"#,
            ),
            ("RateLimit", r#""burst";r=40;t=12, "daily";r=900;t=3600"#),
        ]))
        .unwrap();
        // The daily policy is the stricter sustained rate.
        assert_eq!(a.limit, Some(1000));
        assert_eq!(a.remaining, Some(900));
        assert_eq!(a.reset, Some(Duration::from_secs(3600)));
        let token_form = announced(&headers(&[
            ("RateLimit-Policy", "default;q=20;w=1"),
            ("RateLimit", "default;r=3;t=1"),
        ]))
        .unwrap();
        assert_eq!(token_form.rate(), Some(20.0));
        assert_eq!(token_form.remaining, Some(3));
    }

    #[test]
    fn older_fields_and_the_x_family() {
        let a = announced(&headers(&[
            ("RateLimit-Limit", "100;w=60"),
            ("RateLimit-Remaining", "7"),
            ("RateLimit-Reset", "30"),
        ]))
        .unwrap();
        assert_eq!(
            (a.limit, a.window, a.remaining, a.reset),
            (
                Some(100),
                Some(Duration::from_secs(60)),
                Some(7),
                Some(Duration::from_secs(30))
            )
        );
        let soon = jiff::Timestamp::now().as_second() + 40;
        let x = announced(&headers(&[
            ("X-RateLimit-Limit", "1200"),
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset", &soon.to_string()),
        ]))
        .unwrap();
        assert_eq!((x.limit, x.remaining), (Some(1200), Some(0)));
        let reset = x.reset.unwrap();
        assert!(reset > Duration::from_secs(35) && reset <= Duration::from_secs(40));
        assert_eq!(x.rate(), None, "no window: only remaining and reset pace");
    }

    #[test]
    fn resets_in_every_form() {
        assert_eq!(reset_in("2.5"), Some(Duration::from_millis(2500)));
        assert_eq!(
            reset_in("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        let ms = (jiff::Timestamp::now().as_millisecond() + 10_000).to_string();
        assert!(reset_in(&ms).unwrap() > Duration::from_secs(8));
        assert_eq!(reset_in("soon"), None);
        assert_eq!(announced(&HeaderMap::new()), None);
        assert_eq!(
            announced(&headers(&[(
                "RateLimit-Policy",
                r#""b";q=10;qu="content-bytes""#
            )])),
            None
        );
    }
}
