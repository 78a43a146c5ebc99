//! The sandbox's check of OAuth 1.0a signed requests (RFC 5849 §3.2), so the exporter's signer
//! can be exercised end to end: the consumer key must be the sandbox's client id, the signature
//! is recomputed with its client secret over the request as received, the timestamp must be
//! within five minutes, and a nonce is accepted once per timestamp.
//!
//! The header parsing, base string and signature here are the sandbox's own, written apart from
//! the exporter's signer, so a mistake in one shows up as a refusal instead of hiding in both;
//! RFC 5849's own example checks them.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use axum::http::{HeaderMap, header};

use super::tokens::same;
use base64::Engine as _;
use hmac::{Hmac, Mac};

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
        let params = header_params(request.authorization).ok_or(Failure::Malformed(
            "not OAuth k=\"v\" pairs of percent-encoded UTF-8",
        ))?;
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
            "HMAC-SHA1" => Method::Sha1,
            "HMAC-SHA256" => Method::Sha256,
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
        let base = base_string(request.method, request.base_uri, request.query, &protocol);
        // Two-legged: no token, so the token secret is empty.
        if !same(given, &sign(method, client_secret, "", &base)) {
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

/// The HMAC a signature is made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Sha1,
    Sha256,
}

/// The `Authorization: OAuth name="value", …` parameters, decoded, `realm` left out; `None` when
/// it is not such a header. Values are percent-encoded, so they hold no comma or quote.
fn header_params(header: &str) -> Option<Vec<(String, String)>> {
    let header = header.trim();
    let (scheme, rest) = header.split_at_checked(5)?;
    if !scheme.eq_ignore_ascii_case("oauth") || !(rest.is_empty() || rest.starts_with([' ', '\t']))
    {
        return None;
    }
    let mut params = Vec::new();
    for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, quoted) = part.split_once('=')?;
        let value = quoted.trim().strip_prefix('"')?.strip_suffix('"')?;
        let name = name.trim();
        if name.is_empty() || name.contains(['"', ' ']) || value.contains('"') {
            return None;
        }
        if !name.eq_ignore_ascii_case("realm") {
            let value = percent_encoding::percent_decode_str(value)
                .decode_utf8()
                .ok()?;
            params.push((name.to_string(), value.into_owned()));
        }
    }
    Some(params)
}

/// RFC 5849 §3.6: every byte but the unreserved characters as `%XX`, upper-case hex.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The signature base string (RFC 5849 §3.4.1) of a request received as `method base_uri?query`
/// with these protocol parameters: every parameter encoded, sorted, joined, encoded again.
fn base_string(
    method: &str,
    base_uri: &str,
    query: Option<&str>,
    protocol: &[(String, String)],
) -> String {
    let from_query = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(name, value)| (encode(&name), encode(&value)));
    let from_header = protocol
        .iter()
        .map(|(name, value)| (encode(name), encode(value)));
    let mut pairs: Vec<(String, String)> = from_query.chain(from_header).collect();
    pairs.sort();
    let joined: Vec<String> = pairs.iter().map(|(n, v)| format!("{n}={v}")).collect();
    [
        encode(&method.to_ascii_uppercase()),
        encode(base_uri),
        encode(&joined.join("&")),
    ]
    .join("&")
}

/// The base64 HMAC of `base`, keyed by the encoded consumer and token secrets (RFC 5849 §3.4.2).
fn sign(method: Method, consumer_secret: &str, token_secret: &str, base: &str) -> String {
    let key = format!("{}&{}", encode(consumer_secret), encode(token_secret));
    let digest = match method {
        Method::Sha1 => {
            let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(key.as_bytes())
                .expect("HMAC takes keys of any length");
            mac.update(base.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        Method::Sha256 => {
            let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key.as_bytes())
                .expect("HMAC takes keys of any length");
            mac.update(base.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
    };
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;
    const BASE: &str = "http://127.0.0.1:8080/ims/oneroster/v1p1/users";

    /// A header signed with the sandbox's own code, as a client would send it.
    fn header(secret: &str, method: Method, query: &str, timestamp: u64, nonce: &str) -> String {
        let name = match method {
            Method::Sha1 => "HMAC-SHA1",
            Method::Sha256 => "HMAC-SHA256",
        };
        let protocol: Vec<(String, String)> = [
            ("oauth_consumer_key", "demo-client"),
            ("oauth_nonce", nonce),
            ("oauth_signature_method", name),
            ("oauth_timestamp", &timestamp.to_string()),
            ("oauth_version", "1.0"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
        let signature = sign(
            method,
            secret,
            "",
            &base_string("GET", BASE, Some(query), &protocol),
        );
        let fields: Vec<String> = protocol
            .iter()
            .chain(&[("oauth_signature".to_string(), signature)])
            .map(|(n, v)| format!("{n}=\"{}\"", encode(v)))
            .collect();
        format!("OAuth {}", fields.join(", "))
    }

    #[test]
    fn rfc5849_section_1_2_photos_request() {
        // RFC 5849 §1.2, the last request: HMAC-SHA1 with a token, no oauth_version.
        let params = header_params(
            r#"OAuth realm="Photos", oauth_consumer_key="dpf43f3p2l4k3l03",
            oauth_token="nnch734d00sl2jdk", oauth_signature_method="HMAC-SHA1",
            oauth_timestamp="137131202", oauth_nonce="chapoH",
            oauth_signature="MdpQcU8iPSUjWoN%2FUDMsK2sui9I%3D""#,
        )
        .unwrap();
        let (signed, protocol): (Vec<_>, Vec<_>) = params
            .into_iter()
            .partition(|(n, _)| n == "oauth_signature");
        let base = base_string(
            "GET",
            "http://photos.example.net/photos",
            Some("file=vacation.jpg&size=original"),
            &protocol,
        );
        assert_eq!(signed[0].1, "MdpQcU8iPSUjWoN/UDMsK2sui9I=");
        assert_eq!(
            sign(Method::Sha1, "kd94hf93k423kf44", "pfkkdhi9sl3r4s00", &base),
            signed[0].1
        );
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
        for method in [Method::Sha1, Method::Sha256] {
            let good = header("demo-secret", method, q, NOW - 10, &format!("n{method:?}"));
            assert_eq!(check(&v, &good, q), Ok(()));
            assert_eq!(check(&v, &good, q), Err(Failure::ReplayedNonce));
        }
        let sha = Method::Sha256;
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
        let base = base_string("GET", BASE, Some("limit=5"), &protocol);
        let sig = sign(Method::Sha1, "demo-secret", "", &base);
        let authorization = format!(
            "OAuth realm=\"sandbox\", oauth_consumer_key=\"demo-client\", oauth_nonce=\"nov\", \
             oauth_signature_method=\"HMAC-SHA1\", oauth_timestamp=\"1700000000\", oauth_signature=\"{}\"",
            encode(&sig)
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
