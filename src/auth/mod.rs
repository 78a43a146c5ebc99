//! Credentials for API requests: the grant that obtains them, a cached token that is replaced
//! shortly before it expires, one refresh at a time however many requests wait, and a re-fetch
//! when the server rejects a token it should have accepted.
//!
//! Callers only ever call [`TokenSource::authorize`] on a built request and
//! [`TokenSource::reject`] on a 401, whatever the grant: OAuth 2.0 client credentials, a stored
//! refresh token, a password with OIDC discovery, a ready bearer token, or OAuth 1.0a signing of
//! each request (which has no token at all).

mod client_credentials;
pub mod oauth1;
mod password;
mod refresh;
pub mod store;
mod token_endpoint;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use tokio::time::Instant;

pub use client_credentials::ClientCredentials;
pub use oauth1::{OAuth1Signer, SignatureMethod};
pub use password::{PasswordGrant, TokenUrl};
pub use refresh::{RefreshTokenGrant, Rotation};
pub use store::{StoreError, TokenStore};
pub use token_endpoint::TokenEndpoint;

use crate::http::{HttpError, Transport};

/// How the run obtains credentials.
#[derive(Debug)]
pub enum Grant {
    /// OAuth 2.0 client credentials (ONEROSTER.md §2.1).
    ClientCredentials(ClientCredentials),
    /// A refresh token kept in a token store (ONEROSTER.md §2.1b).
    RefreshToken(Box<RefreshTokenGrant>),
    /// A user name and password, the token URL found by OIDC discovery (ONEROSTER.md §2.1b).
    Password(Box<PasswordGrant>),
    /// OAuth 1.0a: each request signed; no token (ONEROSTER.md §2.1).
    OAuth1(OAuth1Signer),
    /// An access token obtained out of band; it cannot be renewed.
    Bearer(SecretString),
}

impl Grant {
    /// The `--auth` name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Grant::ClientCredentials(_) => "client-credentials",
            Grant::RefreshToken(_) => "refresh-token",
            Grant::Password(_) => "password",
            Grant::OAuth1(_) => "oauth1",
            Grant::Bearer(_) => "bearer",
        }
    }

    /// What to check when the API still answers 401 after a fresh credential.
    pub fn unauthorized_hint(&self) -> &'static str {
        match self {
            Grant::OAuth1(_) => {
                "the signed request was refused: check the client id (consumer key), the secret \
                 and --signature-method"
            }
            Grant::Bearer(_) => {
                "the access token was refused: it may have expired; supply a new one"
            }
            _ => "even a freshly fetched token was refused",
        }
    }
}

/// Why no credentials could be had.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the token endpoint refused the request: {source}{hint}")]
    Refused {
        source: Box<HttpError>,
        hint: &'static str,
    },
    #[error("the token request failed: {0}")]
    Unreachable(Box<HttpError>),
    #[error("the token endpoint {url} sent a reply that is not a token: {reason}")]
    BadReply { url: String, reason: String },
    #[error(
        "the refresh token in {store} (received {issued_at}) was refused: {source}; it may have \
         expired, been revoked, or been replaced by a run that stopped before saving the new one. \
         Authorize the app again and put the new refresh token in ROSTER_EXPORT_REFRESH_TOKEN after \
         moving {store} aside"
    )]
    RefreshRefused {
        store: String,
        issued_at: jiff::Timestamp,
        source: Box<AuthError>,
    },
    #[error(
        "no refresh token: the token store {store} does not exist yet; set ROSTER_EXPORT_REFRESH_TOKEN \
         or --refresh-token-file to the token the authorization gave you"
    )]
    NoRefreshToken { store: String },
    #[error("the token store {store} holds the refresh token of {stored}, not of {wanted}")]
    StoreMismatch {
        store: String,
        stored: String,
        wanted: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
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
    token: SecretString,
    /// `Bearer <token>`, built once and marked sensitive.
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
        if matches!(self.grant, Grant::OAuth1(_)) {
            return Ok(());
        }
        self.current().await.map(|_| ())
    }

    pub fn grant(&self) -> &Grant {
        &self.grant
    }

    /// The access token itself (for `roster-export token`); `None` under OAuth 1.0a.
    pub async fn access_token(&self) -> Result<Option<SecretString>, AuthError> {
        if matches!(self.grant, Grant::OAuth1(_)) {
            return Ok(None);
        }
        self.with_current(|c| c.token.clone()).await.map(Some)
    }

    /// `auth rotate`: a new refresh token now; `None` unless the grant is a refresh token.
    pub async fn rotate(&self) -> Result<Option<Rotation>, AuthError> {
        match &self.grant {
            Grant::RefreshToken(grant) => grant.rotate(&self.transport).await.map(Some),
            _ => Ok(None),
        }
    }

    /// Puts credentials on `request`, fetching a token first when none is fresh (or signing it,
    /// under OAuth 1.0a, over exactly the URL it will be sent to).
    pub async fn authorize(&self, request: &mut reqwest::Request) -> Result<Credential, AuthError> {
        if let Grant::OAuth1(signer) = &self.grant {
            signer.sign(request);
            return Ok(Credential { generation: 0 });
        }
        let (header, credential) = self.current().await?;
        request.headers_mut().insert(AUTHORIZATION, header);
        Ok(credential)
    }

    /// The header and credential of the cached token, or of a new one.
    async fn current(&self) -> Result<(HeaderValue, Credential), AuthError> {
        self.with_current(|c| {
            (
                c.header.clone(),
                Credential {
                    generation: c.generation,
                },
            )
        })
        .await
    }

    /// Runs `read` on the cached token, or on a new one. The lock makes concurrent callers wait
    /// for one fetch.
    async fn with_current<R>(&self, read: impl FnOnce(&Cached) -> R) -> Result<R, AuthError> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref().filter(|c| Instant::now() < c.use_until) {
            return Ok(read(c));
        }
        let token = match &self.grant {
            Grant::ClientCredentials(grant) => grant.fetch(&self.transport).await?,
            Grant::RefreshToken(grant) => grant.fetch(&self.transport).await?,
            Grant::Password(grant) => grant.fetch(&self.transport).await?,
            Grant::Bearer(token) => AccessToken {
                value: token.clone(),
                // Never renewed: kept until the server refuses it.
                expires_in: Duration::from_secs(100 * 365 * 86_400),
            },
            Grant::OAuth1(_) => unreachable!("OAuth 1.0a signs requests instead"),
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
            token: token.value,
            use_until: Instant::now()
                + token
                    .expires_in
                    .saturating_sub(refresh_margin(token.expires_in)),
            generation,
        });
        Ok(read(cached))
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
