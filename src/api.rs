//! The OneRoster API client: credentials only for the configured origin, a fresh token once on a
//! 401, and each 200 read into a [`Page`] inside the retry loop, so a body cut short or garbled in
//! transit is fetched again rather than taken for data.
//!
//! The pager sees it only through [`PageSource`], so walking is tested against fakes.

use std::future::Future;
use std::sync::Arc;

use oneroster::{Collection, StatusInfo};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use url::Url;

use crate::auth::{AuthError, Authorizer, Refusal};
use crate::http::{HttpError, Step, Target, Transport, classify, info_suffix, retry_after};
use crate::records::{Page, PageError};
use crate::urls::safe_url;

/// Why a page could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{target}: {source}")]
    Auth { target: Target, source: AuthError },
    #[error("{target}: HTTP 401{} — {hint}", info_suffix(.info))]
    Unauthorized {
        target: Target,
        hint: &'static str,
        info: Option<Box<StatusInfo>>,
    },
    #[error(
        "{target}: HTTP 403 Forbidden{} — the credentials are not allowed `{collection}`; \
         it needs the scope {scope} (or drop it with --only)",
        info_suffix(.info)
    )]
    Forbidden {
        target: Target,
        collection: &'static str,
        scope: &'static str,
        info: Option<Box<StatusInfo>>,
    },
    #[error("{target}: {source}")]
    Page { target: Target, source: PageError },
}

/// A page and the response headers the pager reads (`X-Total-Count`, `Link`).
#[derive(Debug)]
pub struct Fetched {
    pub page: Page,
    pub headers: HeaderMap,
    /// Requests it took, retries included.
    pub attempts: u32,
}

/// Where the pager gets pages: the API client, or a fake in tests.
pub trait PageSource: Send + Sync + 'static {
    /// The URL of `collection`'s page of `limit` records from `offset`, with `filter` (the v1.1
    /// filter grammar, e.g. `dateLastModified>'2026-11-30T00:00:00Z'`) when given.
    fn collection_url(
        &self,
        collection: &Collection,
        filter: Option<&str>,
        limit: u64,
        offset: u64,
    ) -> Url;

    /// GETs one page of `collection` at `url` (whose records start at `offset`).
    fn get_page(
        &self,
        collection: &'static Collection,
        url: &Url,
        offset: u64,
    ) -> impl Future<Output = Result<Fetched, ApiError>> + Send;
}

/// What the client has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApiStats {
    /// Requests sent, retries and token requests included.
    pub requests: u64,
    pub retries: u64,
    /// Replies that slowed the whole run (429, 503, a quota 403).
    pub rate_limited: u64,
    pub tokens_fetched: u64,
}

impl std::ops::Sub for ApiStats {
    type Output = ApiStats;

    fn sub(self, earlier: ApiStats) -> ApiStats {
        ApiStats {
            requests: self.requests - earlier.requests,
            retries: self.retries - earlier.retries,
            rate_limited: self.rate_limited - earlier.rate_limited,
            tokens_fetched: self.tokens_fetched - earlier.tokens_fetched,
        }
    }
}

/// The API side of the run's HTTP client.
#[derive(Debug)]
pub struct ApiClient {
    transport: Arc<Transport>,
    credentials: Authorizer,
    base: Url,
    /// Extra headers (`--header`, a provider's subscription key), for the API origin only.
    headers: HeaderMap,
}

impl ApiClient {
    /// `base` must end in `/` (the settings normalise it).
    pub fn new(
        transport: Arc<Transport>,
        credentials: Authorizer,
        base: Url,
        headers: HeaderMap,
    ) -> ApiClient {
        ApiClient {
            transport,
            credentials,
            base,
            headers,
        }
    }

    /// Fetches a token now unless a fresh one is cached, so bad credentials fail before any
    /// output is prepared.
    pub async fn ensure_credentials(&self) -> Result<(), AuthError> {
        self.credentials.ensure_fresh().await
    }

    /// The counters so far.
    pub fn stats(&self) -> ApiStats {
        let http = self.transport.stats();
        ApiStats {
            requests: http.requests,
            retries: http.retries,
            rate_limited: http.rate_limited,
            tokens_fetched: self.credentials.tokens_fetched(),
        }
    }
}

impl PageSource for ApiClient {
    fn collection_url(
        &self,
        collection: &Collection,
        filter: Option<&str>,
        limit: u64,
        offset: u64,
    ) -> Url {
        let mut url = self.base.clone();
        // The base ends in `/` (the settings see to it), so the path is appended.
        url.path_segments_mut()
            .map(|mut segments| {
                segments.pop_if_empty().push(collection.path);
            })
            .ok();
        {
            let mut query = url.query_pairs_mut();
            if let Some(filter) = filter {
                query.append_pair("filter", filter);
            }
            query
                .append_pair("limit", &limit.to_string())
                .append_pair("offset", &offset.to_string());
        }
        url
    }

    async fn get_page(
        &self,
        collection: &'static Collection,
        url: &Url,
        offset: u64,
    ) -> Result<Fetched, ApiError> {
        let target = Target::page(collection.id, url, offset);
        if url.origin() != self.base.origin() {
            return Err(HttpError::ForeignOrigin {
                target,
                url: safe_url(url),
                origin: self.base.origin().ascii_serialization(),
            }
            .into());
        }
        // Set once a 401 has cost us a token; a second 401 is then final.
        let refreshed = std::sync::atomic::AtomicBool::new(false);
        let attempts = std::sync::atomic::AtomicU32::new(0);
        self.transport
            .with_retry(&target, |_| {
                let target = &target;
                let refreshed = &refreshed;
                let attempts = &attempts;
                async move {
                    attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let request = match self.transport.json_get(url, &self.headers) {
                        Ok(r) => r,
                        Err(e) => {
                            return Step::Fatal(
                                HttpError::BadResponse {
                                    target: target.clone(),
                                    reason: e.to_string(),
                                }
                                .into(),
                            );
                        }
                    };
                    let (sent, credential) =
                        match self.credentials.send(&self.transport, request).await {
                            Ok(sent) => sent,
                            Err(source) => {
                                return Step::Fatal(ApiError::Auth {
                                    target: target.clone(),
                                    source,
                                });
                            }
                        };
                    let reply = match classify(target, sent) {
                        Ok(reply) => reply,
                        Err(step) => return step,
                    };
                    match reply.status {
                        StatusCode::UNAUTHORIZED => {
                            // A token another request already replaced, or one that wore out
                            // after serving, is no fault of ours; the second refusal of a token
                            // that never served is final.
                            match self.credentials.reject(credential).await {
                                Refusal::Stale | Refusal::Worn => Step::Renewed {
                                    reason: "HTTP 401: the token had run out".into(),
                                },
                                Refusal::Fresh
                                    if refreshed
                                        .swap(true, std::sync::atomic::Ordering::Relaxed) =>
                                {
                                    Step::Fatal(ApiError::Unauthorized {
                                        target: target.clone(),
                                        hint: self.credentials.unauthorized_hint(),
                                        info: StatusInfo::from_body(&reply.body).map(Box::new),
                                    })
                                }
                                Refusal::Fresh => Step::Retry {
                                    reason: "HTTP 401: the token was rejected".into(),
                                    after: Some(std::time::Duration::ZERO),
                                    rate_limited: false,
                                },
                            }
                        }
                        StatusCode::FORBIDDEN => {
                            let info = StatusInfo::from_body(&reply.body).map(Box::new);
                            // Blackbaud answers a spent quota with 403 and Retry-After (docs/oneroster-notes.md §8.1).
                            if let Some(after) = retry_after(&reply.headers) {
                                let what = info.as_ref().map(|i| i.summary()).unwrap_or_default();
                                return Step::Retry {
                                    reason: format!("HTTP 403 with Retry-After (quota) {what}"),
                                    after: Some(after),
                                    rate_limited: true,
                                };
                            }
                            Step::Fatal(ApiError::Forbidden {
                                target: target.clone(),
                                collection: collection.name,
                                scope: collection.scope.short_name(),
                                info,
                            })
                        }
                        _ => match Page::parse(collection, offset, reply.body) {
                            Ok(page) => Step::Done(Fetched {
                                page,
                                headers: reply.headers,
                                attempts: attempts.load(std::sync::atomic::Ordering::Relaxed),
                            }),
                            // Garbled JSON is usually a body cut short: fetch it again.
                            Err(PageError::InvalidJson(e)) => Step::Retry {
                                reason: format!("the body is not valid JSON ({e})"),
                                after: None,
                                rate_limited: false,
                            },
                            Err(source) => Step::Fatal(ApiError::Page {
                                target: target.clone(),
                                source,
                            }),
                        },
                    }
                }
            })
            .await
    }
}
