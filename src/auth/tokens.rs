//! The token cache: one bearer token shared by every request, replaced a little before it expires,
//! fetched by one caller at a time however many wait, and forgotten when the server rejects it.
//!
//! Where tokens come from is behind [`TokenFetch`], so the cache's timing is tested with tokio's
//! paused clock and a counting fake instead of a server.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::{AuthError, Rotation};

/// An access token as the server issued it. `Debug` never shows the value.
pub struct AccessToken {
    pub value: SecretString,
    /// Seconds until it expires, as the server said.
    pub expires_in: Duration,
    /// The scopes the server says it granted (`scope` in its reply), when it says.
    pub scope: Option<String>,
}

/// What a token reply said, for `check`: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub expires_in: Duration,
    pub scope: Option<String>,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &"[REDACTED]")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

pub type FetchFuture<'a> =
    Pin<Box<dyn Future<Output = Result<AccessToken, AuthError>> + Send + 'a>>;
pub type RotateFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Rotation>, AuthError>> + Send + 'a>>;

/// Where a [`TokenSource`] gets its tokens.
pub trait TokenFetch: Send + Sync + std::fmt::Debug {
    /// A new access token.
    fn fetch(&self) -> FetchFuture<'_>;

    /// Whether a new token can be had once this one is refused (a ready bearer token cannot).
    fn renewable(&self) -> bool;

    /// Trades a stored refresh token for a new one; `None` when there is none to trade.
    fn rotate(&self) -> RotateFuture<'_>;
}

/// What a 401 said about the token a request carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Another request already replaced it: no fault of ours.
    Stale,
    /// The token in use, after it had served other requests: it wore out (by time or by use).
    Worn,
    /// The token in use, refused before it served any request: twice for one request means the
    /// credentials themselves are refused.
    Fresh,
}

impl Refusal {
    /// Whether the refused token was the one in use (and is now forgotten).
    pub fn was_current(self) -> bool {
        self != Refusal::Stale
    }
}

/// Which token a request carried, so a 401 can retire exactly that one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credential {
    generation: u64,
}

impl Credential {
    /// A signed request's: there is no token to retire.
    pub(super) const SIGNED: Credential = Credential { generation: 0 };
}

struct Cached {
    token: SecretString,
    info: TokenInfo,
    /// `Bearer <token>`, built once and marked sensitive.
    header: HeaderValue,
    /// When to stop using it: a little before the server's expiry.
    use_until: Instant,
    generation: u64,
}

/// The run's bearer token, shared by every request.
pub struct TokenSource {
    fetcher: Box<dyn TokenFetch>,
    cache: Mutex<Option<Cached>>,
    generation: AtomicU64,
    fetched: AtomicU64,
    /// The newest generation the server accepted at least once.
    served: AtomicU64,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("fetcher", &self.fetcher)
            .field("tokens_fetched", &self.tokens_fetched())
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    pub fn new(fetcher: Box<dyn TokenFetch>) -> TokenSource {
        TokenSource {
            fetcher,
            cache: Mutex::new(None),
            generation: AtomicU64::new(0),
            fetched: AtomicU64::new(0),
            served: AtomicU64::new(0),
        }
    }

    pub(super) fn fetcher(&self) -> &dyn TokenFetch {
        self.fetcher.as_ref()
    }

    /// How many tokens have been fetched.
    pub fn tokens_fetched(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }

    /// Fetches a token now unless a fresh one is cached.
    pub async fn ensure_fresh(&self) -> Result<(), AuthError> {
        self.with_current(|_| ()).await
    }

    /// What the reply of the current token said (a token is fetched when none is fresh).
    pub async fn info(&self) -> Result<TokenInfo, AuthError> {
        self.with_current(|c| c.info.clone()).await
    }

    /// The access token itself.
    pub async fn access_token(&self) -> Result<SecretString, AuthError> {
        self.with_current(|c| c.token.clone()).await
    }

    /// Puts `Authorization: Bearer …` on `request`, fetching a token first when none is fresh.
    pub async fn authorize(&self, request: &mut reqwest::Request) -> Result<Credential, AuthError> {
        let (header, credential) = self
            .with_current(|c| {
                (
                    c.header.clone(),
                    Credential {
                        generation: c.generation,
                    },
                )
            })
            .await?;
        request.headers_mut().insert(AUTHORIZATION, header);
        Ok(credential)
    }

    /// Runs `read` on the cached token, or on a new one. The lock makes concurrent callers wait
    /// for one fetch.
    async fn with_current<R>(&self, read: impl FnOnce(&Cached) -> R) -> Result<R, AuthError> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref().filter(|c| Instant::now() < c.use_until) {
            return Ok(read(c));
        }
        let token = self.fetcher.fetch().await?;
        self.fetched.fetch_add(1, Ordering::Relaxed);
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(
            expires_in = token.expires_in.as_secs(),
            generation,
            "fetched an access token"
        );
        let cached = cache.insert(Cached {
            info: TokenInfo {
                expires_in: token.expires_in,
                scope: token.scope.clone(),
            },
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

    /// Just before `request` goes out: puts the newest cached token on it in place of the one it
    /// was given while it waited its turn (a host that limits uses per token would otherwise see
    /// one spent by the requests ahead). Never waits: while a fetch is under way, or when no fresh
    /// token is cached, the request keeps what it has.
    pub fn renew(&self, request: &mut reqwest::Request, credential: Credential) -> Credential {
        let Ok(cache) = self.cache.try_lock() else {
            return credential;
        };
        match cache.as_ref() {
            Some(c) if c.generation != credential.generation && Instant::now() < c.use_until => {
                request
                    .headers_mut()
                    .insert(AUTHORIZATION, c.header.clone());
                Credential {
                    generation: c.generation,
                }
            }
            _ => credential,
        }
    }

    /// The server accepted `credential` (any answer but 401).
    pub fn accepted(&self, credential: Credential) {
        self.served
            .fetch_max(credential.generation, Ordering::Relaxed);
    }

    /// The server rejected `credential` (401): forget it unless another request already replaced
    /// it. A request may hold a token while it waits for its turn, and a host that limits uses
    /// per token refuses it once others spent it, so a refusal only doubts the credentials when
    /// the token never served any request.
    pub async fn reject(&self, credential: Credential) -> Refusal {
        let mut cache = self.cache.lock().await;
        let current = cache
            .as_ref()
            .is_some_and(|c| c.generation == credential.generation);
        if !current {
            return Refusal::Stale;
        }
        tracing::info!("the server rejected the access token; fetching a new one");
        *cache = None;
        if self.served.load(Ordering::Relaxed) >= credential.generation {
            Refusal::Worn
        } else {
            Refusal::Fresh
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
    use std::sync::Arc;

    /// Hands out `token-1`, `token-2`, … after `delay`, each living `lifetime`.
    #[derive(Debug)]
    struct Counting {
        lifetime: Duration,
        delay: Duration,
        calls: Arc<AtomicU64>,
    }

    impl TokenFetch for Counting {
        fn fetch(&self) -> FetchFuture<'_> {
            Box::pin(async move {
                tokio::time::sleep(self.delay).await;
                let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
                Ok(AccessToken {
                    value: SecretString::from(format!("token-{n}")),
                    expires_in: self.lifetime,
                    scope: None,
                })
            })
        }

        fn renewable(&self) -> bool {
            true
        }

        fn rotate(&self) -> RotateFuture<'_> {
            Box::pin(async { Ok(None) })
        }
    }

    fn source(lifetime: Duration, delay: Duration) -> (Arc<TokenSource>, Arc<AtomicU64>) {
        let calls = Arc::new(AtomicU64::new(0));
        let fetcher = Counting {
            lifetime,
            delay,
            calls: calls.clone(),
        };
        (Arc::new(TokenSource::new(Box::new(fetcher))), calls)
    }

    async fn token(tokens: &TokenSource) -> String {
        tokens
            .access_token()
            .await
            .unwrap()
            .expose_secret()
            .to_string()
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_is_reused_until_shortly_before_it_expires() {
        let (tokens, calls) = source(Duration::from_secs(3600), Duration::ZERO);
        assert_eq!(token(&tokens).await, "token-1");
        // 3600 s less the one-minute margin.
        tokio::time::advance(Duration::from_secs(3539)).await;
        assert_eq!(token(&tokens).await, "token-1");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(token(&tokens).await, "token-2");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(tokens.tokens_fetched(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_that_outlasts_short_tokens_renews_them() {
        let (tokens, calls) = source(Duration::from_secs(1), Duration::ZERO);
        for second in 0..5u64 {
            assert_eq!(token(&tokens).await, format!("token-{}", second + 1));
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        assert_eq!(calls.load(Ordering::SeqCst), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn many_waiting_callers_share_one_fetch() {
        let (tokens, calls) = source(Duration::from_secs(60), Duration::from_millis(500));
        let waiters: Vec<_> = (0..16)
            .map(|_| {
                let tokens = tokens.clone();
                tokio::spawn(async move { token(&tokens).await })
            })
            .collect();
        for waiter in waiters {
            assert_eq!(waiter.await.unwrap(), "token-1");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    /// A request for the cache to put a token on.
    fn get() -> reqwest::Request {
        reqwest::Request::new(reqwest::Method::GET, "http://127.0.0.1/x".parse().unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn a_rejection_retires_only_the_token_it_names() {
        let (tokens, _) = source(Duration::from_secs(3600), Duration::ZERO);
        let mut request = get();
        let first = tokens.authorize(&mut request).await.unwrap();
        assert_eq!(tokens.reject(first).await, Refusal::Fresh);
        let second = tokens.authorize(&mut request).await.unwrap();
        assert_ne!(first, second);
        // A late 401 for the first token must not throw away the second.
        assert_eq!(tokens.reject(first).await, Refusal::Stale);
        assert_eq!(tokens.authorize(&mut request).await.unwrap(), second);
        assert_eq!(tokens.tokens_fetched(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_request_is_renewed_with_the_newest_token() {
        let (tokens, _) = source(Duration::from_secs(3600), Duration::ZERO);
        let mut waiting = get();
        let first = tokens.authorize(&mut waiting).await.unwrap();
        assert_eq!(tokens.renew(&mut waiting, first), first);
        tokens.reject(first).await;
        // Nothing cached yet: it keeps what it has rather than wait for a fetch.
        assert_eq!(tokens.renew(&mut waiting, first), first);
        let mut other = get();
        let second = tokens.authorize(&mut other).await.unwrap();
        assert_eq!(tokens.renew(&mut waiting, first), second);
        assert_eq!(
            waiting.headers()[AUTHORIZATION].to_str().unwrap(),
            "Bearer token-2"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_refused_after_it_served_wore_out() {
        let (tokens, _) = source(Duration::from_secs(3600), Duration::ZERO);
        let mut request = get();
        let first = tokens.authorize(&mut request).await.unwrap();
        tokens.accepted(first);
        assert_eq!(tokens.reject(first).await, Refusal::Worn);
        // Its successor is judged on its own record, not its predecessor's.
        let second = tokens.authorize(&mut request).await.unwrap();
        assert_eq!(tokens.reject(second).await, Refusal::Fresh);
        let third = tokens.authorize(&mut request).await.unwrap();
        tokens.accepted(third);
        tokens.accepted(first);
        assert_eq!(tokens.reject(third).await, Refusal::Worn);
        assert!(Refusal::Worn.was_current() && !Refusal::Stale.was_current());
    }

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
            scope: None,
        };
        assert!(!format!("{token:?}").contains("tok-very-secret"));
        assert!(format!("{:?}", bearer_header(&token.value)).contains("Sensitive"));
    }
}
