//! The walk against a fake host on tokio's paused clock: fan-out order and bounds, the fallbacks
//! when headers are missing, silent page caps, and the loops a broken host can cause. Latency is
//! virtual, so timing assertions are exact and the tests take no real time.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use oneroster::CollectionId;
use reqwest::header::HeaderValue;

use super::*;
use crate::progress::Progress;

/// A host serving `records` users, with knobs for the ways real hosts differ.
struct Fake {
    records: u64,
    /// Serve at most this many records a page, whatever `limit` asks.
    cap: Option<u64>,
    total_count: bool,
    link: bool,
    /// Every page starts at 0, whatever `offset` asks (a host that ignores it).
    ignores_offset: bool,
    /// `rel="next"` always points back at the first page.
    loops: bool,
    /// How long the page at an offset takes.
    latency: fn(u64) -> Duration,
    in_flight: AtomicU64,
    most_in_flight: AtomicU64,
    requests: Mutex<Vec<u64>>,
}

impl Fake {
    fn new(records: u64) -> Fake {
        Fake {
            records,
            cap: None,
            total_count: true,
            link: true,
            ignores_offset: false,
            loops: false,
            latency: |_| Duration::from_millis(50),
            in_flight: AtomicU64::new(0),
            most_in_flight: AtomicU64::new(0),
            requests: Mutex::new(Vec::new()),
        }
    }
}

fn query(url: &Url, name: &str) -> u64 {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

impl PageSource for Fake {
    fn collection_url(
        &self,
        collection: &Collection,
        _filter: Option<&str>,
        limit: u64,
        offset: u64,
    ) -> Url {
        let base = format!(
            "http://fake.test/{}?limit={limit}&offset={offset}",
            collection.path
        );
        Url::parse(&base).unwrap()
    }

    async fn get_page(
        &self,
        collection: &'static Collection,
        url: &Url,
        offset: u64,
    ) -> Result<Fetched, ApiError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(now, Ordering::SeqCst);
        self.requests.lock().unwrap().push(query(url, "offset"));
        tokio::time::sleep((self.latency)(offset)).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let start = if self.ignores_offset {
            0
        } else {
            query(url, "offset")
        };
        let limit = query(url, "limit").min(self.cap.unwrap_or(u64::MAX));
        let end = (start + limit).min(self.records);
        let items: Vec<String> = (start.min(end)..end)
            .map(|i| format!(r#"{{"sourcedId":"u{i:03}"}}"#))
            .collect();
        let body = format!(r#"{{"users":[{}]}}"#, items.join(","));
        let page = Page::parse(collection, offset, Bytes::from(body)).unwrap();
        let mut headers = HeaderMap::new();
        if self.total_count {
            headers.insert("x-total-count", HeaderValue::from(self.records));
        }
        if self.link {
            let next = if self.loops { 0 } else { end };
            let link = if end < self.records || self.loops {
                format!(
                    "<{}>; rel=\"next\"",
                    self.collection_url(collection, None, limit, next)
                )
            } else {
                "<http://fake.test/users?offset=0>; rel=\"first\"".to_string()
            };
            headers.insert(LINK, HeaderValue::from_str(&link).unwrap());
        }
        Ok(Fetched {
            page,
            headers,
            attempts: 1,
        })
    }
}

/// Walks the fake's users and returns the ids passed on, in order, with the walk's outcome.
async fn walk_fake(
    fake: &Arc<Fake>,
    settings: PagerSettings,
) -> (Vec<String>, Result<WalkStats, PagerError>) {
    let (tx, mut rx) = mpsc::channel::<Passed>(2);
    let collect = tokio::spawn(async move {
        let mut ids = Vec::new();
        while let Some(Passed { page, .. }) = rx.recv().await {
            ids.extend((0..page.len()).map(|i| page.sourced_id(i).to_string()));
        }
        ids
    });
    let bar = Progress::hidden().collection("users");
    let users = CollectionId::Users.info();
    let feed = Feed {
        out: &tx,
        pages: &Budget::new(1 << 20),
        ids: &Budget::new(1 << 20),
        bar: &bar,
    };
    let result = walk(fake.clone(), &Request::all(users), &settings, feed).await;
    drop(tx);
    (collect.await.unwrap(), result)
}

fn settings(page_size: u64, concurrency: usize) -> PagerSettings {
    PagerSettings {
        page_size,
        concurrency,
        ..PagerSettings::default()
    }
}

fn ids(n: u64) -> Vec<String> {
    (0..n).map(|i| format!("u{i:03}")).collect()
}

#[tokio::test(start_paused = true)]
async fn with_a_total_the_rest_is_fetched_concurrently_and_passed_on_in_order() {
    let mut fake = Fake::new(120);
    // Later pages answer sooner: order must come from the offsets, not from arrival.
    fake.latency = |offset| Duration::from_millis(200 - offset);
    let fake = Arc::new(fake);
    let started = Instant::now();
    let (got, result) = walk_fake(&fake, settings(10, 4)).await;
    let stats = result.unwrap();
    assert_eq!(got, ids(120));
    // Twelve pages, and one at offset 120 that finds the end (a full last page might not be).
    assert_eq!(
        (stats.pages, stats.total, stats.records),
        (13, Some(120), 120)
    );
    assert_eq!(fake.most_in_flight.load(Ordering::SeqCst), 4);
    // The first page alone, eleven more four at a time (three rounds of at most 190 ms), the end.
    assert!(started.elapsed() <= Duration::from_millis(200 + 3 * 190 + 80));
    assert!(stats.doubt().is_none());
}

#[tokio::test(start_paused = true)]
async fn a_silent_page_cap_is_found_from_the_first_page() {
    let mut fake = Fake::new(50);
    fake.cap = Some(7);
    let fake = Arc::new(fake);
    let (got, result) = walk_fake(&fake, settings(1000, 3)).await;
    assert_eq!(got, ids(50));
    assert_eq!(result.unwrap().pages, 8, "ceil(50 / 7)");
    let requested = fake.requests.lock().unwrap().clone();
    assert!(requested.iter().all(|o| o % 7 == 0), "{requested:?}");
}

#[tokio::test(start_paused = true)]
async fn without_a_total_the_link_chain_is_followed() {
    let mut fake = Fake::new(23);
    fake.total_count = false;
    let fake = Arc::new(fake);
    let (got, result) = walk_fake(&fake, settings(5, 4)).await;
    assert_eq!(got, ids(23));
    let stats = result.unwrap();
    assert_eq!((stats.pages, stats.total), (5, None));
    assert_eq!(
        fake.most_in_flight.load(Ordering::SeqCst),
        1,
        "one at a time"
    );
}

#[tokio::test(start_paused = true)]
async fn without_either_header_offsets_advance_until_an_empty_page() {
    let mut fake = Fake::new(23);
    fake.total_count = false;
    fake.link = false;
    let fake = Arc::new(fake);
    let (got, result) = walk_fake(&fake, settings(5, 4)).await;
    assert_eq!(got, ids(23));
    assert_eq!(result.unwrap().pages, 6, "five pages and the empty one");
}

#[tokio::test(start_paused = true)]
async fn a_host_that_ignores_offset_is_stopped() {
    let mut fake = Fake::new(23);
    fake.total_count = false;
    fake.link = false;
    fake.ignores_offset = true;
    let fake = Arc::new(fake);
    let (got, result) = walk_fake(&fake, settings(5, 4)).await;
    assert_eq!(got, ids(5), "the repeats are dropped");
    assert!(
        matches!(result, Err(PagerError::Stuck { offset: 15, .. })),
        "{result:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_link_chain_that_loops_is_stopped() {
    let mut fake = Fake::new(23);
    fake.total_count = false;
    fake.loops = true;
    let fake = Arc::new(fake);
    let (_, result) = walk_fake(&fake, settings(5, 4)).await;
    assert!(
        matches!(result, Err(PagerError::LinkLoop { .. })),
        "{result:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_page_budget_bounds_a_host_that_never_ends() {
    let fake = Arc::new(Fake::new(1000));
    let (_, result) = walk_fake(
        &fake,
        PagerSettings {
            max_pages: 10,
            ..settings(5, 2)
        },
    )
    .await;
    assert!(
        matches!(result, Err(PagerError::TooManyPages { pages: 10, .. })),
        "{result:?}"
    );
}
