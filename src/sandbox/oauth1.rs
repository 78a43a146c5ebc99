//! The sandbox's check of OAuth 1.0a signed requests (RFC 5849 §3.2), so the exporter's signer
//! can be exercised end to end: the consumer key must be the sandbox's client id, the signature
//! is recomputed with its client secret over the request as received, the timestamp must be
//! within five minutes, and a nonce is accepted once per timestamp.
//!
//! Signing and base strings come from [`crate::auth::oauth1`]: the point is to check that code
//! against a server, and the vectors in its tests check it against the rest of the world.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use axum::http::{HeaderMap, header};

use super::tokens::same;
use crate::auth::oauth1::{SignatureMethod, parse_authorization, request_base_string, signature};

/// How far a timestamp may be from the server's clock, either way.
pub(crate) const WINDOW_SECS: u64 = 300;

/// Nonces remembered at most; the oldest are forgotten first.
pub(crate) const MAX_NONCES: usize = 100_000;

/// Why a signed request was refused. The text names what failed and never quotes the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Failure {
    #[error("malformed OAuth Authorization header: {0}")]
    Malformed(&'static str),
    #[error("unknown consumer key")]
    UnknownConsumer,
    #[error("unsupported signature method: use HMAC-SHA256 or HMAC-SHA1")]
    UnsupportedMethod,
    #[error("unsupported oauth_version: use 1.0 or leave it out")]
    UnsupportedVersion,
    #[error("stale timestamp: more than 300 seconds from the server's clock")]
    StaleTimestamp,
    #[error("replayed nonce: already used with this timestamp")]
    ReplayedNonce,
    #[error("bad signature: it does not match the request and the consumer secret")]
    BadSignature,
}

/// A request as the server received it, for [`Verifier::verify`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Received<'a> {
    /// The HTTP method, e.g. `GET`.
    pub method: &'a str,
    /// `http://{host}{path}`, rebuilt from the `Host` header and the path as sent.
    pub base_uri: &'a str,
    /// The raw query string as sent, still encoded.
    pub query: Option<&'a str>,
    /// The whole `Authorization` value.
    pub authorization: &'a str,
}

/// Whether the request's `Authorization` header uses the `OAuth` scheme.
pub(crate) fn is_oauth(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim_start().get(..6))
        .is_some_and(|start| {
            start.eq_ignore_ascii_case("oauth ") || start.eq_ignore_ascii_case("oauth\t")
        })
}

/// The nonces seen within the window, in arrival order.
#[derive(Debug, Default)]
struct Seen {
    set: HashSet<(u64, String)>,
    order: VecDeque<(u64, String)>,
}

/// Verifies signatures and remembers nonces.
#[derive(Debug, Default)]
pub(crate) struct Verifier {
    seen: Mutex<Seen>,
}

impl Verifier {
    /// Accepts `request` if it is signed by `client_id`/`client_secret`, fresh at `now` (Unix
    /// seconds) and not a replay; records its nonce only then, so refused requests cannot fill
    /// the replay set.
    pub(crate) fn verify(
        &self,
        request: &Received<'_>,
        client_id: &str,
        client_secret: &str,
        now: u64,
    ) -> Result<(), Failure> {
        let params = parse_authorization(request.authorization)
            .map_err(|_| Failure::Malformed("not OAuth k=\"v\" pairs of percent-encoded UTF-8"))?;
        let get = |name: &str| -> Result<Option<&str>, Failure> {
            let mut found = params
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.as_str());
            let first = found.next();
            match found.next() {
                Some(_) => Err(Failure::Malformed("a parameter is given twice")),
                None => Ok(first),
            }
        };
        let required = |name: &str| {
            get(name)?.ok_or(Failure::Malformed("a required oauth_ parameter is missing"))
        };
        let consumer_key = required("oauth_consumer_key")?;
        let method_name = required("oauth_signature_method")?;
        let timestamp = required("oauth_timestamp")?;
        let nonce = required("oauth_nonce")?;
        let given = required("oauth_signature")?;
        let version = get("oauth_version")?;

        if !same(consumer_key, client_id) {
            return Err(Failure::UnknownConsumer);
        }
        // Parameter values are case sensitive (RFC 5849 §3.1), so only the exact names.
        let method = match method_name {
            "HMAC-SHA1" => SignatureMethod::HmacSha1,
            "HMAC-SHA256" => SignatureMethod::HmacSha256,
            _ => return Err(Failure::UnsupportedMethod),
        };
        if version.is_some_and(|v| v != "1.0") {
            return Err(Failure::UnsupportedVersion);
        }
        let timestamp: u64 = timestamp
            .parse()
            .map_err(|_| Failure::Malformed("oauth_timestamp is not a whole number of seconds"))?;
        if timestamp.abs_diff(now) > WINDOW_SECS {
            return Err(Failure::StaleTimestamp);
        }
        let protocol: Vec<(String, String)> = params
            .iter()
            .filter(|(name, _)| name != "oauth_signature")
            .cloned()
            .collect();
        let base = request_base_string(request.method, request.base_uri, request.query, &protocol);
        // Two-legged: no token, so the token secret is empty.
        if !same(given, &signature(method, client_secret, "", &base)) {
            return Err(Failure::BadSignature);
        }
        self.remember(timestamp, nonce, now)
    }

    /// Records `(timestamp, nonce)`, refusing one already seen.
    fn remember(&self, timestamp: u64, nonce: &str, now: u64) -> Result<(), Failure> {
        let key = (timestamp, nonce.to_string());
        let mut seen = self.seen.lock().expect("nonce set lock");
        if seen.set.contains(&key) {
            return Err(Failure::ReplayedNonce);
        }
        // Entries that fell out of the window can go: their requests are refused as stale anyway.
        // Arrival order roughly follows timestamps, so this sweeps from the front.
        while seen
            .order
            .front()
            .is_some_and(|(ts, _)| ts.saturating_add(WINDOW_SECS) < now)
            || seen.order.len() >= MAX_NONCES
        {
            if let Some(old) = seen.order.pop_front() {
                seen.set.remove(&old);
            }
        }
        seen.set.insert(key.clone());
        seen.order.push_back(key);
        Ok(())
    }

    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.seen.lock().expect("nonce set lock").set.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::oauth1::OAuth1Signer;
    use reqwest::Method;
    use secrecy::SecretString;

    const NOW: u64 = 1_700_000_000;
    const BASE: &str = "http://127.0.0.1:8080/ims/oneroster/v1p1/users";

    fn header(
        secret: &str,
        method: SignatureMethod,
        query: &str,
        timestamp: u64,
        nonce: &str,
    ) -> String {
        let signer = OAuth1Signer {
            consumer_key: "demo-client".to_string(),
            consumer_secret: SecretString::from(secret),
            method,
        };
        let url = url::Url::parse(&format!("{BASE}?{query}")).unwrap();
        signer.authorization_header(&Method::GET, &url, timestamp, nonce)
    }

    fn check(verifier: &Verifier, authorization: &str, query: &str) -> Result<(), Failure> {
        let request = Received {
            method: "GET",
            base_uri: BASE,
            query: Some(query),
            authorization,
        };
        verifier.verify(&request, "demo-client", "demo-secret", NOW)
    }

    #[test]
    fn accepts_once_and_says_what_failed_otherwise() {
        let v = Verifier::default();
        let q = "limit=10&offset=20";
        for method in [SignatureMethod::HmacSha1, SignatureMethod::HmacSha256] {
            let good = header("demo-secret", method, q, NOW - 10, &format!("n{method}"));
            assert_eq!(check(&v, &good, q), Ok(()));
            assert_eq!(check(&v, &good, q), Err(Failure::ReplayedNonce));
        }
        let sha = SignatureMethod::HmacSha256;
        let wrong = header("other", sha, q, NOW, "a");
        assert_eq!(check(&v, &wrong, q), Err(Failure::BadSignature));
        let moved = header("demo-secret", sha, q, NOW, "b");
        assert_eq!(
            check(&v, &moved, "limit=10&offset=30"),
            Err(Failure::BadSignature)
        );
        let old = header("demo-secret", sha, q, NOW - WINDOW_SECS - 1, "c");
        assert_eq!(check(&v, &old, q), Err(Failure::StaleTimestamp));
        let future = header("demo-secret", sha, q, NOW + WINDOW_SECS + 1, "d");
        assert_eq!(check(&v, &future, q), Err(Failure::StaleTimestamp));
        let edge = header("demo-secret", sha, q, NOW - WINDOW_SECS, "e");
        assert_eq!(check(&v, &edge, q), Ok(()));
        let stranger = good_with(
            &header("demo-secret", sha, q, NOW, "f"),
            "demo-client",
            "someone",
        );
        assert_eq!(check(&v, &stranger, q), Err(Failure::UnknownConsumer));
        let plaintext = good_with(
            &header("demo-secret", sha, q, NOW, "g"),
            "HMAC-SHA256",
            "PLAINTEXT",
        );
        assert_eq!(check(&v, &plaintext, q), Err(Failure::UnsupportedMethod));
        let lower = good_with(
            &header("demo-secret", sha, q, NOW, "h"),
            "HMAC-SHA256",
            "hmac-sha256",
        );
        assert_eq!(check(&v, &lower, q), Err(Failure::UnsupportedMethod));
        let v2 = good_with(
            &header("demo-secret", sha, q, NOW, "i"),
            "\"1.0\"",
            "\"2.0\"",
        );
        assert_eq!(check(&v, &v2, q), Err(Failure::UnsupportedVersion));
        assert!(matches!(
            check(&v, "OAuth oauth_consumer_key=\"demo-client\"", q),
            Err(Failure::Malformed(_))
        ));
        assert!(matches!(
            check(&v, "OAuth nonsense", q),
            Err(Failure::Malformed(_))
        ));
        let twice = format!(
            "{}, oauth_nonce=\"x\"",
            header("demo-secret", sha, q, NOW, "j")
        );
        assert!(matches!(check(&v, &twice, q), Err(Failure::Malformed(_))));
        // Only the accepted requests left a nonce behind.
        assert_eq!(v.remembered(), 3);
        for failure in [
            Failure::BadSignature,
            Failure::StaleTimestamp,
            Failure::ReplayedNonce,
            Failure::UnknownConsumer,
        ] {
            assert!(!failure.to_string().contains("demo-secret"));
        }
    }

    fn good_with(header: &str, from: &str, to: &str) -> String {
        assert!(header.contains(from));
        header.replacen(from, to, 1)
    }

    #[test]
    fn a_header_without_oauth_version_is_accepted() {
        // RFC 5849 makes oauth_version optional; the signature then leaves it out too.
        let protocol = [
            ("oauth_consumer_key", "demo-client"),
            ("oauth_nonce", "nov"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "1700000000"),
        ]
        .map(|(n, v)| (n.to_string(), v.to_string()));
        let base = request_base_string("GET", BASE, Some("limit=5"), &protocol);
        let sig = signature(SignatureMethod::HmacSha1, "demo-secret", "", &base);
        let authorization = format!(
            "OAuth realm=\"sandbox\", oauth_consumer_key=\"demo-client\", oauth_nonce=\"nov\", \
             oauth_signature_method=\"HMAC-SHA1\", oauth_timestamp=\"1700000000\", oauth_signature=\"{}\"",
            crate::auth::oauth1::percent_encode(&sig)
        );
        assert_eq!(
            check(&Verifier::default(), &authorization, "limit=5"),
            Ok(())
        );
    }

    #[test]
    fn the_nonce_set_stays_bounded_and_sheds_stale_entries() {
        let v = Verifier::default();
        for i in 0..MAX_NONCES + 5 {
            v.remember(NOW, &i.to_string(), NOW).unwrap();
        }
        assert_eq!(v.remembered(), MAX_NONCES);
        assert_eq!(
            v.remember(NOW, &(MAX_NONCES + 4).to_string(), NOW),
            Err(Failure::ReplayedNonce)
        );
        v.remember(NOW + WINDOW_SECS + 1, "late", NOW + WINDOW_SECS + 1)
            .unwrap();
        assert_eq!(v.remembered(), 1);
    }

    #[test]
    fn oauth_scheme_is_recognised_in_any_case() {
        let with = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, value.parse().unwrap());
            is_oauth(&h)
        };
        assert!(with("OAuth oauth_consumer_key=\"x\"") && with("oauth a=\"b\""));
        assert!(!with("Bearer abc") && !with("OAuthx") && !is_oauth(&HeaderMap::new()));
    }
}
