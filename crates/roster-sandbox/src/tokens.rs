//! Access tokens the sandbox issues: random, scoped, expiring, and bounded in number; plus reading
//! client credentials and requested scopes off a token request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use rand::Rng as _;

use oneroster::KnownScope;

/// Tokens kept at most; the oldest go first once expired ones are swept out.
pub(crate) const MAX_TOKENS: usize = 10_000;

/// A set of [`KnownScope`]s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ScopeSet(u8);

impl ScopeSet {
    pub(crate) fn all() -> ScopeSet {
        KnownScope::ALL
            .into_iter()
            .fold(ScopeSet::default(), ScopeSet::with)
    }

    fn bit(scope: KnownScope) -> u8 {
        1 << KnownScope::ALL
            .iter()
            .position(|s| *s == scope)
            .expect("scope in ALL")
    }

    pub(crate) fn with(self, scope: KnownScope) -> ScopeSet {
        ScopeSet(self.0 | Self::bit(scope))
    }

    pub(crate) fn contains(self, scope: KnownScope) -> bool {
        self.0 & Self::bit(scope) != 0
    }

    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The space-separated scope URIs, in [`KnownScope::ALL`] order.
    pub(crate) fn uris(self) -> String {
        KnownScope::ALL
            .into_iter()
            .filter(|s| self.contains(*s))
            .map(KnownScope::uri)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Parses a token request's `scope`: space-separated read-scope URIs, or short names when the
    /// host knows only those (`short`). An empty value grants every read scope. The first unknown
    /// word is the error.
    pub(crate) fn parse_words(scope: &str, short: bool) -> Result<ScopeSet, String> {
        let mut set = ScopeSet::default();
        for word in scope.split_ascii_whitespace() {
            let known = KnownScope::ALL.into_iter().find(|s| {
                if short {
                    s.short_name() == word
                } else {
                    s.uri() == word
                }
            });
            match known {
                Some(known) => set = set.with(known),
                None => return Err(word.to_string()),
            }
        }
        Ok(if set.is_empty() { ScopeSet::all() } else { set })
    }
}

#[derive(Debug, Clone, Copy)]
struct Grant {
    scopes: ScopeSet,
    expires: Instant,
    /// API requests it may still authorize, when limited.
    uses_left: Option<u64>,
}

/// Why a bearer token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    Missing,
    Unknown,
    Expired,
}

impl Rejection {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Rejection::Missing => "a bearer access token is required",
            Rejection::Unknown => "the access token is not one this server issued",
            Rejection::Expired => "the access token has expired",
        }
    }
}

/// 43 random URL-safe characters.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Refresh tokens that are still valid, oldest first, bounded like access tokens.
#[derive(Debug, Default)]
pub(crate) struct RefreshTokens {
    live: Mutex<Vec<String>>,
}

impl RefreshTokens {
    pub(crate) fn new(initial: &[String]) -> RefreshTokens {
        RefreshTokens {
            live: Mutex::new(initial.to_vec()),
        }
    }

    pub(crate) fn add(&self, token: String) {
        let mut live = self.live.lock().expect("refresh token lock");
        if live.len() >= MAX_TOKENS {
            live.remove(0);
        }
        live.push(token);
    }

    /// Whether `token` is valid; when `retire`, it stops being valid.
    pub(crate) fn spend(&self, token: &str, retire: bool) -> bool {
        let mut live = self.live.lock().expect("refresh token lock");
        match live.iter().position(|t| same(t, token)) {
            Some(at) => {
                if retire {
                    live.remove(at);
                }
                true
            }
            None => false,
        }
    }
}

/// The issued tokens.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    grants: Mutex<HashMap<String, Grant>>,
}

impl Tokens {
    /// A new random token (43 URL-safe characters) granting `scopes` for `lifetime`, and for at
    /// most `max_uses` API requests when given.
    pub(crate) fn issue(
        &self,
        scopes: ScopeSet,
        lifetime: Duration,
        max_uses: Option<u64>,
    ) -> String {
        let token = random_token();
        let now = Instant::now();
        let mut grants = self.grants.lock().expect("token map lock");
        if grants.len() >= MAX_TOKENS {
            grants.retain(|_, g| g.expires > now);
        }
        while grants.len() >= MAX_TOKENS {
            let oldest = grants
                .iter()
                .min_by_key(|(_, g)| g.expires)
                .map(|(t, _)| t.clone())
                .expect("map is not empty");
            grants.remove(&oldest);
        }
        grants.insert(
            token.clone(),
            Grant {
                scopes,
                expires: now + lifetime,
                uses_left: max_uses,
            },
        );
        token
    }

    /// The scopes of a live token from an `Authorization: Bearer …` header.
    pub(crate) fn check(&self, headers: &HeaderMap) -> Result<ScopeSet, Rejection> {
        let token = bearer_token(headers).ok_or(Rejection::Missing)?;
        let mut grants = self.grants.lock().expect("token map lock");
        let grant = grants.get_mut(token).ok_or(Rejection::Unknown)?;
        if grant.expires <= Instant::now() || grant.uses_left == Some(0) {
            grants.remove(token);
            return Err(Rejection::Expired);
        }
        if let Some(left) = &mut grant.uses_left {
            *left -= 1;
        }
        Ok(grant.scopes)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.grants.lock().expect("token map lock").len()
    }
}

/// The token of an `Authorization: Bearer …` header (the scheme in any case), if there is one.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty())
}

/// `Authorization: Basic base64(id:secret)`, taken literally: plain base64, not URL-decoded
/// (OneRoster hosts differ from RFC 6749 here, and the exporter must not URL-encode).
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

/// Equality that takes the same time wherever the inputs differ.
pub(crate) fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        h
    }

    #[test]
    fn scopes_parse_from_uris_only() {
        let roster = KnownScope::Roster.uri();
        let set = ScopeSet::parse_words(&format!(" {roster}  "), false).unwrap();
        assert!(set.contains(KnownScope::Roster) && !set.contains(KnownScope::RosterCore));
        assert_eq!(set.uris(), roster);
        assert_eq!(ScopeSet::parse_words("", false).unwrap(), ScopeSet::all());
        assert_eq!(
            ScopeSet::parse_words("roster.readonly", false).unwrap_err(),
            "roster.readonly"
        );
        let write = "https://purl.imsglobal.org/spec/or/v1p1/scope/gradebook.createput";
        assert_eq!(ScopeSet::parse_words(write, false).unwrap_err(), write);
        let short = ScopeSet::parse_words("roster.readonly gradebook.readonly", true).unwrap();
        assert!(short.contains(KnownScope::Roster) && short.contains(KnownScope::Gradebook));
        assert!(ScopeSet::parse_words(&roster, true).is_err());
    }

    #[test]
    fn tokens_expire_and_stay_bounded() {
        let tokens = Tokens::default();
        let live = tokens.issue(ScopeSet::all(), Duration::from_secs(60), None);
        assert!(live.len() >= 32);
        assert_eq!(tokens.check(&bearer(&live)), Ok(ScopeSet::all()));
        let dead = tokens.issue(ScopeSet::all(), Duration::ZERO, None);
        assert_eq!(tokens.check(&bearer(&dead)), Err(Rejection::Expired));
        assert_eq!(tokens.check(&bearer("nope")), Err(Rejection::Unknown));
        assert_eq!(tokens.check(&HeaderMap::new()), Err(Rejection::Missing));
        let counted = tokens.issue(ScopeSet::all(), Duration::from_secs(60), Some(2));
        assert_eq!(tokens.check(&bearer(&counted)), Ok(ScopeSet::all()));
        assert_eq!(tokens.check(&bearer(&counted)), Ok(ScopeSet::all()));
        assert_eq!(tokens.check(&bearer(&counted)), Err(Rejection::Expired));
        for _ in 0..MAX_TOKENS + 10 {
            tokens.issue(ScopeSet::all(), Duration::from_secs(60), None);
        }
        assert_eq!(tokens.len(), MAX_TOKENS);
    }

    #[test]
    fn basic_credentials_are_plain_base64() {
        let mut h = HeaderMap::new();
        let encoded = base64::engine::general_purpose::STANDARD.encode("id:se:cr%2Bet");
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("basic {encoded}")).unwrap(),
        );
        assert_eq!(
            basic_credentials(&h),
            Some(("id".into(), "se:cr%2Bet".into()))
        );
        assert!(same("demo-secret", "demo-secret"));
        assert!(!same("demo-secret", "demo-secreT") && !same("demo", "demo-secret"));
    }
}
