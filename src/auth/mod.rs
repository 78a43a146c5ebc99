//! Credentials for API requests: the grant that obtains them, a cached token that is replaced
//! shortly before it expires, one refresh at a time however many requests wait, and a re-fetch
//! when the server rejects a token it should have accepted.
//!
//! Callers only ever call [`TokenSource::authorize`] on a built request and
//! [`TokenSource::reject`] on a 401, so further grants (refresh token, password, request signing)
//! slot in as new [`Grant`] variants without touching them.

mod client_credentials;
pub mod oauth1;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use tokio::time::Instant;

pub use client_credentials::ClientCredentials;

use crate::http::{HttpError, Transport};

/// How the run obtains credentials.
#[derive(Debug)]
pub enum Grant {
    /// OAuth 2.0 client credentials (ONEROSTER.md §2.1).
    ClientCredentials(ClientCredentials),
}

/// Why no credentials could be had.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the token endpoint refused the request: {source}{hint}")]
    Refused {
        source: HttpError,
        hint: &'static str,
    },
    #[error("the token endpoint could not be reached: {0}")]
    Unreachable(HttpError),
    #[error("the token endpoint {url} sent a reply that is not a token: {reason}")]
    BadReply { url: String, reason: String },
}

/// An access token as the server issued it. `Debug` never shows the value.
pub struct AccessToken {
    pub value: SecretString,
    /// Seconds until it expires, as the server said.
    pub expires_in: Duration,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &"[REDACTED]")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

struct Cached {
    header: HeaderValue,
    /// When to stop using it: a little before the server's expiry.
    use_until: Instant,
    generation: u64,
}

/// The run's source of credentials, shared by every request.
pub struct TokenSource {
    grant: Grant,
    transport: Arc<Transport>,
    cache: Mutex<Option<Cached>>,
    generation: AtomicU64,
    fetched: AtomicU64,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("grant", &self.grant)
            .field("tokens_fetched", &self.tokens_fetched())
            .finish_non_exhaustive()
    }
}

/// Which token a request carried, so a 401 can retire exactly that one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credential {
    generation: u64,
}

impl TokenSource {
    pub fn new(grant: Grant, transport: Arc<Transport>) -> TokenSource {
        TokenSource {
            grant,
            transport,
            cache: Mutex::new(None),
            generation: AtomicU64::new(0),
            fetched: AtomicU64::new(0),
        }
    }

    /// How many tokens this run has fetched.
    pub fn tokens_fetched(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }

    /// Fetches a token now unless a fresh one is cached, so bad credentials fail before any
    /// output is prepared.
    pub async fn ensure_fresh(&self) -> Result<(), AuthError> {
        self.current().await.map(|_| ())
    }

    /// Puts credentials on `request`, fetching a token first when none is fresh.
    pub async fn authorize(&self, request: &mut reqwest::Request) -> Result<Credential, AuthError> {
        let (header, credential) = self.current().await?;
        request.headers_mut().insert(AUTHORIZATION, header);
        Ok(credential)
    }

    /// The cached token, or a new one. The lock makes concurrent callers wait for one fetch.
    async fn current(&self) -> Result<(HeaderValue, Credential), AuthError> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref().filter(|c| Instant::now() < c.use_until) {
            return Ok((
                c.header.clone(),
                Credential {
                    generation: c.generation,
                },
            ));
        }
        let token = match &self.grant {
            Grant::ClientCredentials(cc) => cc.fetch(&self.transport).await?,
        };
        self.fetched.fetch_add(1, Ordering::Relaxed);
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(
            expires_in = token.expires_in.as_secs(),
            generation,
            "fetched an access token"
        );
        let cached = cache.insert(Cached {
            header: bearer_header(&token.value),
            use_until: Instant::now()
                + token
                    .expires_in
                    .saturating_sub(refresh_margin(token.expires_in)),
            generation,
        });
        Ok((cached.header.clone(), Credential { generation }))
    }

    /// The server rejected `credential` (401): forget it unless another request already replaced it.
    pub async fn reject(&self, credential: Credential) {
        let mut cache = self.cache.lock().await;
        if cache
            .as_ref()
            .is_some_and(|c| c.generation == credential.generation)
        {
            tracing::info!("the server rejected the access token; fetching a new one");
            *cache = None;
        }
    }
}

/// Replace tokens a little before they expire: a tenth of their life, at most a minute.
fn refresh_margin(lifetime: Duration) -> Duration {
    (lifetime / 10).min(Duration::from_secs(60))
}

fn bearer_header(token: &SecretString) -> HeaderValue {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
        .unwrap_or_else(|_| HeaderValue::from_static("Bearer invalid"));
    // Keeps the value out of reqwest's and hyper's Debug output.
    value.set_sensitive(true);
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_is_a_tenth_capped_at_a_minute() {
        assert_eq!(
            refresh_margin(Duration::from_secs(3600)),
            Duration::from_secs(60)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(5)),
            Duration::from_millis(500)
        );
    }

    #[test]
    fn debug_hides_the_token() {
        let token = AccessToken {
            value: SecretString::from("tok-very-secret"),
            expires_in: Duration::from_secs(1),
        };
        assert!(!format!("{token:?}").contains("tok-very-secret"));
        assert!(format!("{:?}", bearer_header(&token.value)).contains("Sensitive"));
    }
}
