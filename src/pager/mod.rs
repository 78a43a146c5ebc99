//! Walking one collection: limit/offset paging, `X-Total-Count` fan-out, `Link rel="next"`, pages
//! that a host silently caps, and de-duplication by `sourcedId`.
//!
//! With a total, the first page tells how many records a page holds, and the remaining offsets are
//! fetched concurrently, each on its own task, consumed in order so output is deterministic. Without
//! one, the walk follows `Link rel="next"` (a Link-aware server that sends no `next` has ended), or
//! advances the offset by what each page held until a page comes back empty.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use futures::StreamExt;
use reqwest::header::{HeaderMap, LINK};
use tokio::sync::mpsc;
use tokio_util::task::AbortOnDropHandle;
use url::Url;

use oneroster::Collection;

use crate::api::{ApiError, Fetched, PageSource};
use crate::progress::CollectionBar;
use crate::records::Page;
use crate::urls::safe_url;

mod budget;
mod seen;
#[cfg(test)]
mod walk_tests;
use seen::{BYTES_PER_ID, SeenIds};

pub use budget::{Budget, Hold};

/// How the pager walks.
#[derive(Debug, Clone)]
pub struct PagerSettings {
    /// The `limit` asked for; hosts may send fewer.
    pub page_size: u64,
    /// Pages of one collection fetched ahead, in flight or waiting to be passed on (the host's
    /// pacer decides how many are actually in flight).
    pub concurrency: usize,
    /// A bound on the pages of one collection, against servers that never end.
    pub max_pages: u64,
}

impl Default for PagerSettings {
    fn default() -> Self {
        PagerSettings {
            page_size: 5000,
            concurrency: crate::http::PaceSettings::AUTO_MAX_CONCURRENCY,
            max_pages: 1_000_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PagerError {
    #[error(transparent)]
    Api(Box<ApiError>),
    #[error("{collection}: the server keeps sending pages past {pages} pages; stopping")]
    TooManyPages {
        collection: &'static str,
        pages: u64,
    },
    #[error("{collection}: the Link header sends the walk back to {url}, which it already fetched")]
    LinkLoop {
        collection: &'static str,
        url: String,
    },
    #[error(
        "{collection}: the server repeats records it already sent (offset {offset}); it seems to ignore `offset`"
    )]
    Stuck {
        collection: &'static str,
        offset: u64,
    },
    #[error("{collection}: the writer stopped taking pages")]
    SinkClosed { collection: &'static str },
    #[error("{collection}: a page task failed: {reason}")]
    Task {
        collection: &'static str,
        reason: String,
    },
}

impl From<ApiError> for PagerError {
    fn from(e: ApiError) -> PagerError {
        PagerError::Api(Box::new(e))
    }
}

/// What one walk did.
#[derive(Debug, Clone, Default)]
pub struct WalkStats {
    /// Distinct records passed on.
    pub records: u64,
    /// Records dropped because their sourcedId had been seen.
    pub duplicates: u64,
    pub pages: u64,
    /// Requests the pages took, retries included, and the retries alone.
    pub requests: u64,
    pub retries: u64,
    /// `X-Total-Count` of the first page, when sent.
    pub total: Option<u64>,
    /// Whether a later page reported a different `X-Total-Count`: the collection changed while
    /// it was being paged, so offsets may have skipped or repeated records.
    pub drift: bool,
    /// With `track_changes`: the newest `dateLastModified` passed on, and the sourcedIds of the
    /// records passed on that are marked deleted (`tobedeleted`, or 1.0's `inactive`).
    pub newest: Option<jiff::Timestamp>,
    pub deleted: Vec<String>,
    /// With `keep_ids`: the sourcedId of every record passed on.
    pub ids: Vec<String>,
    /// With `track_changes`: when the walk began, by the host's clock where its first reply
    /// said (`Date`), else by ours; a change made later is newer than this.
    pub read_from: Option<jiff::Timestamp>,
    pub elapsed: Duration,
}

impl WalkStats {
    /// Why the walk cannot be trusted to hold the whole collection, if it cannot.
    pub fn doubt(&self) -> Option<String> {
        if self.drift {
            return Some("X-Total-Count changed while it was paged".to_string());
        }
        match self.total {
            Some(total) if total != self.records => Some(format!(
                "{} distinct records arrived but X-Total-Count said {total}",
                self.records
            )),
            _ => None,
        }
    }
}

/// A page passed on, with what it holds of the memory budget until it is written.
#[derive(Debug)]
pub struct Passed {
    pub page: Page,
    pub hold: Hold,
}

/// Where a walk's pages go: a channel (shared by every collection of the run; pages carry their
/// collection), the memory budgets pages and seen-id sets are paid from, and the progress bar.
#[derive(Debug)]
pub struct Feed<'a, T> {
    pub out: &'a mpsc::Sender<T>,
    pub pages: &'a Budget,
    pub ids: &'a Budget,
    pub bar: &'a CollectionBar,
}

/// What to walk: a collection, all of it or what a filter selects, and whether to note the
/// newest `dateLastModified` and the records marked deleted (for incremental exports).
#[derive(Debug, Clone)]
pub struct Request {
    pub collection: &'static Collection,
    /// A v1.1 filter, e.g. `dateLastModified>'2026-11-30T00:00:00Z'`.
    pub filter: Option<String>,
    pub track_changes: bool,
    /// Keep every sourcedId passed on (for a walk of changes, which is small).
    pub keep_ids: bool,
}

impl Request {
    /// The whole collection.
    pub fn all(collection: &'static Collection) -> Request {
        Request {
            collection,
            filter: None,
            track_changes: false,
            keep_ids: false,
        }
    }
}

/// What a one-record request says about a collection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Probe {
    /// `X-Total-Count`: what the whole (or filtered) collection holds.
    pub total: Option<u64>,
    /// The reply's `Date`: the host's clock.
    pub date: Option<jiff::Timestamp>,
}

/// Asks for one record of `request`'s collection: its total and the host's clock, for one small
/// request.
pub async fn probe<S: PageSource>(api: &S, request: &Request) -> Result<Probe, PagerError> {
    let url = api.collection_url(request.collection, request.filter.as_deref(), 1, 0);
    let fetched = api.get_page(request.collection, &url, 0).await?;
    Ok(Probe {
        total: header_total(&fetched.headers),
        date: header_date(&fetched.headers),
    })
}

/// Walks a collection and sends its pages, de-duplicated and in order, into `feed`.
pub async fn walk<S: PageSource, T: From<Passed> + Send + 'static>(
    api: Arc<S>,
    request: &Request,
    settings: &PagerSettings,
    feed: Feed<'_, T>,
) -> Result<WalkStats, PagerError> {
    let started = Instant::now();
    let collection = request.collection;
    let mut walk = Walk {
        api,
        collection,
        filter: request.filter.clone(),
        track_changes: request.track_changes,
        keep_ids: request.keep_ids,
        settings,
        feed,
        page_bytes: (settings.page_size as usize).saturating_mul(BYTES_PER_RECORD),
        page_seen: false,
        ids_hold: None,
        seen: SeenIds::default(),
        stats: WalkStats::default(),
    };
    walk.run().await?;
    walk.stats.elapsed = started.elapsed();
    Ok(walk.stats)
}

/// What a record is guessed to take before the first page says: a few hundred bytes of JSON.
const BYTES_PER_RECORD: usize = 512;

struct Walk<'a, S, T> {
    api: Arc<S>,
    collection: &'static Collection,
    filter: Option<String>,
    track_changes: bool,
    keep_ids: bool,
    settings: &'a PagerSettings,
    feed: Feed<'a, T>,
    /// What the next page is paid for in advance: a guess from the page size until a page
    /// arrives, then the collection's biggest page so far (a host that caps pages sends far
    /// less than the guess, and paying the guess would leave the budget idle).
    page_bytes: usize,
    page_seen: bool,
    /// What the seen-id set holds of its budget, once the total is known.
    ids_hold: Option<Hold>,
    /// The sourcedIds passed on.
    seen: SeenIds,
    stats: WalkStats,
}

/// One page of a fan-out, to be fetched on a task of its own.
struct PageTask<S> {
    api: Arc<S>,
    collection: &'static Collection,
    filter: Option<String>,
    limit: u64,
    offset: u64,
}

/// What a page task ends with: its offset, the page (or why not), and its hold on the budget.
type PageDone = (u64, Result<Fetched, ApiError>, Hold);

impl<S: PageSource> PageTask<S> {
    /// Pays for the page, then starts fetching it; the handle resolves once it is fetched.
    async fn start(self, budget: Budget, bytes: usize) -> AbortOnDropHandle<PageDone> {
        let hold = budget.hold(bytes).await;
        let PageTask {
            api,
            collection,
            filter,
            limit,
            offset,
        } = self;
        // In the caller's span, so a tenant's logs name the tenant.
        let fetch = async move {
            let url = api.collection_url(collection, filter.as_deref(), limit, offset);
            (offset, api.get_page(collection, &url, offset).await, hold)
        };
        AbortOnDropHandle::new(tokio::spawn(tracing::Instrument::in_current_span(fetch)))
    }
}

/// Where the sequential part of a walk stands.
struct Cursor {
    /// The offset the next page starts at.
    offset: u64,
    /// Records on the last page fetched.
    last_len: u64,
    /// The last page's `rel="next"`, and whether it carried a Link header at all.
    next: Option<Url>,
    link_aware: bool,
}

impl<S: PageSource, T: From<Passed> + Send + 'static> Walk<'_, S, T> {
    async fn run(&mut self) -> Result<(), PagerError> {
        let limit = self.settings.page_size.max(1);
        let first_url = self.url(limit, 0);
        let asked = jiff::Timestamp::now();
        let (first, hold) = self.fetch(&first_url, 0).await?;
        if self.track_changes {
            self.stats.read_from = Some(header_date(&first.headers).unwrap_or(asked));
        }
        let total = self.stats.total;
        let (next, link_aware) = next_link(&first.headers, &first_url);
        let n0 = first.page.len() as u64;
        self.emit(first.page, hold).await?;
        if let Some(total) = total {
            self.feed.bar.set_total(total);
            let bytes = (total as usize).saturating_mul(BYTES_PER_ID);
            self.ids_hold = Some(self.feed.ids.hold(bytes).await);
            self.seen.reserve(total);
        }
        if n0 == 0 {
            return Ok(());
        }
        // How many records a full page holds: the limit, unless the host capped it at n0.
        let capacity = match total {
            Some(t) if n0 < limit && t > n0 => n0,
            None if n0 < limit => n0,
            _ => limit,
        };
        let mut cursor = Cursor {
            offset: n0,
            last_len: n0,
            next,
            link_aware,
        };
        if let Some(total) = total {
            self.fan_out(limit, capacity, total, &mut cursor).await?;
        }
        self.sequential(limit, capacity, total, cursor).await
    }

    /// Fetches the offsets up to `total` concurrently, consuming them in order.
    async fn fan_out(
        &mut self,
        limit: u64,
        capacity: u64,
        total: u64,
        cursor: &mut Cursor,
    ) -> Result<(), PagerError> {
        let offsets: Vec<u64> = (cursor.offset..total).step_by(capacity as usize).collect();
        if offsets.is_empty() {
            return Ok(());
        }
        self.check_page_budget(offsets.len() as u64)?;
        let collection = self.collection;
        let filter = self.filter.clone();
        let api = self.api.clone();
        let budget = self.feed.pages.clone();
        let page_bytes = self.page_estimate();
        // Each page is paid for in offset order before its task starts, so the pages this walk
        // waits on always hold their share of the budget.
        let pages = futures::stream::iter(offsets)
            .then(move |offset| {
                let page = PageTask {
                    api: api.clone(),
                    collection,
                    filter: filter.clone(),
                    limit,
                    offset,
                };
                page.start(budget.clone(), page_bytes)
            })
            .buffered(self.settings.concurrency.max(1));
        let mut pages = std::pin::pin!(pages);
        while let Some(joined) = pages.next().await {
            let (offset, fetched, hold) = joined.map_err(|e| PagerError::Task {
                collection: self.collection.name,
                reason: e.to_string(),
            })?;
            let fetched = fetched?;
            self.count(&fetched);
            let len = fetched.page.len() as u64;
            self.emit(fetched.page, hold).await?;
            cursor.offset = offset + len;
            cursor.last_len = len;
            // A short page before the end leaves a hole: fill it before going on, to keep order.
            let planned_end = (offset + capacity).min(total);
            if len > 0 && cursor.offset < planned_end {
                self.fill(limit, cursor.offset, planned_end).await?;
                cursor.offset = planned_end;
            }
            if len == 0 {
                // The collection shrank under us; the sequential pass decides what follows.
                break;
            }
        }
        cursor.next = None;
        cursor.link_aware = false;
        Ok(())
    }

    /// Fetches `[from, to)` sequentially (after a page came back shorter than its neighbours).
    async fn fill(&mut self, limit: u64, mut from: u64, to: u64) -> Result<(), PagerError> {
        while from < to {
            let url = self.url(limit.min(to - from).max(1), from);
            let (fetched, hold) = self.fetch(&url, from).await?;
            let len = fetched.page.len() as u64;
            self.emit(fetched.page, hold).await?;
            if len == 0 {
                break;
            }
            from += len;
        }
        Ok(())
    }

    /// Pages one at a time until the end: the Link chain, or offsets until an empty page.
    async fn sequential(
        &mut self,
        limit: u64,
        capacity: u64,
        total: Option<u64>,
        mut c: Cursor,
    ) -> Result<(), PagerError> {
        let mut visited: HashSet<String> = HashSet::new();
        let mut stuck = 0;
        loop {
            if c.last_len == 0 {
                return Ok(());
            }
            let url = if c.link_aware {
                match c.next.take() {
                    Some(next) => {
                        if !visited.insert(next.as_str().to_string()) {
                            return Err(PagerError::LinkLoop {
                                collection: self.collection.name,
                                url: safe_url(&next),
                            });
                        }
                        next
                    }
                    // A server that speaks Link and offers no next page has ended.
                    None => return Ok(()),
                }
            } else {
                if total.is_some_and(|t| c.offset >= t) && c.last_len < capacity {
                    return Ok(());
                }
                self.url(limit, c.offset)
            };
            self.check_page_budget(1)?;
            let (fetched, hold) = self.fetch(&url, c.offset).await?;
            let (next, link_aware) = next_link(&fetched.headers, &url);
            let len = fetched.page.len() as u64;
            let fresh = self.emit(fetched.page, hold).await?;
            if len > 0 && fresh == 0 {
                stuck += 1;
                if stuck >= 3 {
                    return Err(PagerError::Stuck {
                        collection: self.collection.name,
                        offset: c.offset,
                    });
                }
            } else {
                stuck = 0;
            }
            c = Cursor {
                offset: c.offset + len,
                last_len: len,
                next,
                link_aware,
            };
        }
    }

    /// The URL of the page of `limit` records from `offset`.
    fn url(&self, limit: u64, offset: u64) -> Url {
        self.api
            .collection_url(self.collection, self.filter.as_deref(), limit, offset)
    }

    /// Fetches one page, paid for from the budget first.
    async fn fetch(&mut self, url: &Url, offset: u64) -> Result<(Fetched, Hold), PagerError> {
        let hold = self.feed.pages.hold(self.page_estimate()).await;
        let fetched = self.api.get_page(self.collection, url, offset).await?;
        self.count(&fetched);
        Ok((fetched, hold))
    }

    /// What the next page is paid for: the biggest so far, at most a quarter of the budget so
    /// several can always be in flight.
    fn page_estimate(&self) -> usize {
        self.page_bytes.min(self.feed.pages.bytes() / 4)
    }

    /// Counts a fetched page and learns from its headers and size.
    fn count(&mut self, fetched: &Fetched) {
        self.stats.pages += 1;
        self.stats.requests += u64::from(fetched.attempts);
        self.stats.retries += u64::from(fetched.attempts.saturating_sub(1));
        let bytes = fetched.page.body_len();
        self.page_bytes = if self.page_seen {
            self.page_bytes.max(bytes)
        } else {
            bytes.max(4096)
        };
        self.page_seen = true;
        self.note_total(&fetched.headers);
    }

    /// Keeps the first page's `X-Total-Count` and notices when a later page reports another.
    fn note_total(&mut self, headers: &HeaderMap) {
        let Some(total) = header_total(headers) else {
            return;
        };
        match self.stats.total {
            None if self.stats.pages <= 1 => self.stats.total = Some(total),
            Some(first) if first != total => {
                if !self.stats.drift {
                    tracing::warn!(
                        collection = self.collection.name,
                        "{}: X-Total-Count went from {first} to {total} during the walk; the collection changed under it",
                        self.collection.name
                    );
                }
                self.stats.drift = true;
            }
            _ => {}
        }
    }

    fn check_page_budget(&self, more: u64) -> Result<(), PagerError> {
        if self.stats.pages + more > self.settings.max_pages {
            return Err(PagerError::TooManyPages {
                collection: self.collection.name,
                pages: self.settings.max_pages,
            });
        }
        Ok(())
    }

    /// Drops records already seen and passes the page on. Returns how many records were new.
    async fn emit(&mut self, mut page: Page, hold: Hold) -> Result<u64, PagerError> {
        if let Some(key) = &page.found_under
            && self.stats.pages <= 1
        {
            tracing::warn!(
                collection = self.collection.name,
                "the server sent {} under `{key}` instead of `{}`",
                self.collection.name,
                self.collection.response_key
            );
        }
        let before = page.len() as u64;
        let mut is_new = self.seen.insert_all(page.sourced_ids()).into_iter();
        page.retain(|_| is_new.next().unwrap_or(true));
        if self.track_changes || self.keep_ids {
            for i in 0..page.len() {
                let record = page.record(i);
                if let Some(at) = crate::records::member(record, "dateLastModified")
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                {
                    self.stats.newest = self.stats.newest.max(Some(at));
                }
                if crate::records::is_deleted(record) {
                    self.stats.deleted.push(page.sourced_id(i).to_string());
                }
                if self.keep_ids {
                    self.stats.ids.push(page.sourced_id(i).to_string());
                }
            }
        }
        let fresh = page.len() as u64;
        self.stats.duplicates += before - fresh;
        self.stats.records += fresh;
        self.feed.bar.inc(fresh);
        if fresh > 0 {
            self.feed
                .out
                .send(T::from(Passed { page, hold }))
                .await
                .map_err(|_| PagerError::SinkClosed {
                    collection: self.collection.name,
                })?;
        }
        Ok(fresh)
    }
}

/// The `Date` header (RFC 9110's IMF-fixdate), when present and readable.
fn header_date(headers: &HeaderMap) -> Option<jiff::Timestamp> {
    let value = headers.get(reqwest::header::DATE)?.to_str().ok()?;
    jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(value)
        .ok()
}

/// `X-Total-Count`, when present and a number.
fn header_total(headers: &HeaderMap) -> Option<u64> {
    let value = headers.get("x-total-count")?.to_str().ok()?.trim();
    match value.parse() {
        Ok(n) => Some(n),
        Err(_) => {
            tracing::warn!("ignoring an X-Total-Count that is not a number: {value:?}");
            None
        }
    }
}

/// The `rel="next"` target of a `Link` header, resolved against the request URL, and whether
/// the response had a Link header at all. Accepts the malformations seen in the wild: several
/// headers, URLs without `<>`, stray commas and whitespace, unquoted rel values.
fn next_link(headers: &HeaderMap, request: &Url) -> (Option<Url>, bool) {
    let mut present = false;
    for value in headers.get_all(LINK) {
        let Ok(text) = value.to_str() else { continue };
        present = true;
        for entry in split_links(text) {
            let mut parts = entry.split(';');
            let target = parts
                .next()
                .unwrap_or("")
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .trim();
            let is_next = parts.any(|p| {
                let p = p.trim();
                p.strip_prefix("rel=")
                    .map(|r| {
                        r.trim_matches('"')
                            .split_whitespace()
                            .any(|r| r.eq_ignore_ascii_case("next"))
                    })
                    .unwrap_or(false)
            });
            if is_next && !target.is_empty() {
                return (request.join(target).ok(), true);
            }
        }
    }
    (None, present)
}

/// Splits a Link header into entries at the commas that are not inside `<…>` or quotes.
fn split_links(text: &str) -> Vec<&str> {
    let mut entries = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    for (i, ch) in text.char_indices() {
        match ch {
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            '"' => quoted = !quoted,
            ',' if depth <= 0 && !quoted => {
                entries.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    entries.push(&text[start..]);
    entries
        .into_iter()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn link(value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(LINK, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn finds_next_among_other_relations() {
        let req =
            Url::parse("https://h.example/ims/oneroster/v1p1/users?limit=2&offset=0").unwrap();
        let h = link(
            "<https://h.example/ims/oneroster/v1p1/users?limit=2&offset=2>; rel=\"next\",, \
             <https://h.example/ims/oneroster/v1p1/users?limit=2&offset=8>; rel=\"last\",",
        );
        let (next, present) = next_link(&h, &req);
        assert!(present);
        assert_eq!(
            next.unwrap().as_str(),
            "https://h.example/ims/oneroster/v1p1/users?limit=2&offset=2"
        );
    }

    #[test]
    fn accepts_bare_and_relative_urls() {
        let req = Url::parse("https://h.example/ims/oneroster/v1p1/users?offset=0").unwrap();
        let (next, _) = next_link(
            &link("/ims/oneroster/v1p1/users?offset=100; rel=next"),
            &req,
        );
        assert_eq!(
            next.unwrap().as_str(),
            "https://h.example/ims/oneroster/v1p1/users?offset=100"
        );
    }

    #[test]
    fn last_page_has_link_without_next() {
        let req = Url::parse("https://h.example/x").unwrap();
        assert_eq!(
            next_link(&link("<https://h.example/x?offset=0>; rel=\"first\""), &req),
            (None, true)
        );
        assert_eq!(next_link(&HeaderMap::new(), &req), (None, false));
    }

    #[test]
    fn total_count_must_be_a_number() {
        let mut h = HeaderMap::new();
        h.insert("X-Total-Count", HeaderValue::from_static(" 42 "));
        assert_eq!(header_total(&h), Some(42));
        h.insert("X-Total-Count", HeaderValue::from_static("many"));
        assert_eq!(header_total(&h), None);
    }

    #[test]
    fn the_date_header_is_the_hosts_clock() {
        let mut h = HeaderMap::new();
        assert_eq!(header_date(&h), None);
        h.insert(
            "Date",
            HeaderValue::from_static("Tue, 01 Dec 2026 12:54:42 GMT"),
        );
        assert_eq!(
            header_date(&h),
            Some("2026-12-01T12:54:42Z".parse().unwrap())
        );
        h.insert("Date", HeaderValue::from_static("yesterday"));
        assert_eq!(header_date(&h), None);
    }
}
