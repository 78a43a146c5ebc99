//! One export run from start to finish: credentials, then every planned collection walked at
//! once into the staged bundle (one pool of requests per host, memory paid from fixed budgets),
//! then publish. Any failure or interruption drops the staging area and leaves the previous
//! output exactly as it was. An incremental run pulls only the changes of the collections its
//! state covers, and writes a new state once the output is published.

mod incremental;
mod sink;
mod summary;

use std::sync::Arc;
use std::time::Instant;

use oneroster::CollectionId;

pub use summary::{CollectionSummary, Mode, RunSummary, failure_json, host_json};

use crate::api::{ApiClient, ApiError};
use crate::auth::Authorizer;
use crate::error::Error;
use crate::export::{Bundle, Destination, PublishReport};
use crate::http::{BodyBuffers, Pacing, Transport};
use crate::pager::{self, Budget, Feed, PagerError};
use crate::progress::Progress;
use crate::settings::{Config, Plan, Pull};
use incremental::{Pulled, Tracker};
use sink::SinkWorker;

/// Page bytes a run holds at once, in flight or waiting to be written. With the idle body
/// buffers and the seen-id sets this is most of a large export's peak: 16 MiB put the 200k-user
/// CSV export at 61-63 MiB against the 64 it is held to, 12 MiB at 54-59 with the same CPU and
/// wall time (pages of 5000 records are ~2.5 MiB; a few in flight keep the writer busy).
const PAGE_BUDGET: usize = 12 * 1024 * 1024;
/// Page bytes per run of a fleet, up to eight runs' worth. A fleet starts every tenant's first
/// pages at once, each paid at a guess from the page size, so it is given more room to overlap
/// them (50 tenants at once took ~10% longer with 12 MiB a run).
const FLEET_PAGE_BUDGET: usize = 16 * 1024 * 1024;
/// Bytes the seen-id sets of the collections walked at once may take.
const ID_BUDGET: usize = 32 * 1024 * 1024;

/// What the runs of one process share: each host's pacer (tenants on one host share its limit),
/// the memory budgets their pages and seen-id sets are paid from, and the page buffers.
#[derive(Debug, Clone)]
pub struct Pool {
    pub pacing: Arc<Pacing>,
    bodies: Arc<BodyBuffers>,
    pages: Budget,
    ids: Budget,
}

impl Pool {
    /// The pool of one run, or of `runs` runs at once: the budgets grow with the runs, pages up to
    /// eight runs' worth and seen ids up to four (beyond that they wait their turn, which bounds
    /// the memory of a large fleet). Pages get more: every collection's first page is paid at a
    /// guess from the page size, and at a fleet's start hundreds of them are asked for at once.
    pub fn new(pacing: Arc<Pacing>, runs: usize) -> Pool {
        Pool {
            pacing,
            bodies: BodyBuffers::new(),
            pages: Budget::new(match runs {
                0 | 1 => PAGE_BUDGET,
                _ => FLEET_PAGE_BUDGET * runs.min(8),
            }),
            ids: Budget::new(ID_BUDGET * runs.clamp(1, 4)),
        }
    }
}

/// Runs the export described by `config`, stopping cleanly on Ctrl-C or SIGTERM.
pub async fn run(config: Config, progress: Progress) -> Result<RunSummary, Error> {
    let pool = Pool::new(Pacing::new(config.connection.http.pace), 1);
    run_in(config, progress, &pool).await
}

/// Runs the export described by `config` with the pacers and budgets of `pool`.
pub async fn run_in(config: Config, progress: Progress, pool: &Pool) -> Result<RunSummary, Error> {
    let started = Instant::now();
    let Config { connection, plan } = config;
    let base_url = connection
        .base_url
        .ok_or_else(|| Error::Internal("an export needs a base URL".into()))?;
    let mut tracker = match &plan.pull {
        Pull::Incremental(settings) => Some(Tracker::open(settings, &plan, base_url.as_str())?),
        _ => None,
    };
    let transport = Transport::new(connection.http, pool.pacing.clone(), pool.bodies.clone())?;
    let credentials = Authorizer::new(connection.credentials, transport.clone());
    let api = Arc::new(ApiClient::new(
        transport.clone(),
        credentials,
        base_url,
        connection.headers,
    ));

    let outcome = tokio::select! {
        outcome = export(&plan, api.clone(), &progress, pool, tracker.as_mut()) => outcome,
        () = crate::signal::shutdown() => Err(Error::Interrupted),
    };
    let (collections, output) = outcome?;
    if let Some(tracker) = tracker {
        let path = tracker.path().to_path_buf();
        // The output is in place; without a new state the next run notices and pulls in full.
        if let Err(e) = tracker.save(&collections, &output) {
            tracing::warn!(state = %path.display(), "{e}; the next run will pull in full");
        }
    }
    let stats = api.stats();
    let mode = if collections.iter().any(|c| c.changes_only) {
        Mode::Incremental
    } else {
        Mode::Full
    };
    Ok(RunSummary {
        mode,
        collections,
        output,
        hosts: transport.pacing(),
        tokens_fetched: stats.tokens_fetched,
        requests: stats.requests,
        retries: stats.retries,
        rate_limited: stats.rate_limited,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// What every collection's walk shares.
struct Shared<'a> {
    plan: &'a Plan,
    api: Arc<ApiClient>,
    progress: &'a Progress,
    worker: &'a SinkWorker,
    pages: Budget,
    ids: Budget,
    /// In an incremental run: the state it builds on.
    tracker: Option<&'a Tracker>,
}

async fn export(
    plan: &Plan,
    api: Arc<ApiClient>,
    progress: &Progress,
    pool: &Pool,
    mut tracker: Option<&mut Tracker>,
) -> Result<(Vec<CollectionSummary>, PublishReport), Error> {
    // Credentials first: a wrong secret fails before any output is prepared.
    api.ensure_credentials().await?;
    let mut bundle = Bundle::create(&plan.output, &plan.collections)?;
    let exists = bundle.has_previous();
    if tracker.is_some() {
        bundle.fingerprint_on_publish();
    }
    let worker = SinkWorker::start(bundle);
    if let Some(tracker) = tracker.as_deref_mut() {
        let fingerprint = worker.previous_fingerprint().await?;
        tracker.check_output(exists, fingerprint.as_deref());
    }
    let shared = Shared {
        plan,
        api,
        progress,
        worker: &worker,
        pages: pool.pages.clone(),
        ids: pool.ids.clone(),
        tracker: tracker.as_deref(),
    };
    let walks = plan
        .collections
        .iter()
        .map(|&id| export_collection(&shared, id));
    let walked = futures::future::try_join_all(walks).await;
    drop(shared);
    match walked {
        Ok(collections) => {
            let report = worker.publish().await?;
            Ok((collections.into_iter().flatten().collect(), report))
        }
        // A pager that found the writer gone: the writer's own failure says why.
        Err(Error::Pager(e)) if matches!(*e, PagerError::SinkClosed { .. }) => {
            Err(worker.failure().await.into())
        }
        Err(err) => {
            worker.close().await;
            Err(err)
        }
    }
}

/// Walks one collection into the bundle, walking it again when the result does not add up.
/// `None` when the collection is left out (absent) rather than failing the run.
async fn export_collection(
    shared: &Shared<'_>,
    id: CollectionId,
) -> Result<Option<CollectionSummary>, Error> {
    let Shared { plan, worker, .. } = shared;
    let collection = id.info();
    if let Some(base) = shared.tracker.and_then(|t| t.base_of(id)) {
        match incremental::pull_changes(shared, id, base).await? {
            Pulled::Done(summary) => return Ok(Some(*summary)),
            Pulled::Full { why, problem } => Pulled::log_full(&why, problem, collection.name),
        }
    }
    let request = pager::Request {
        collection,
        filter: match plan.pull {
            Pull::Since(at) => Some(incremental::changed_since(at)),
            _ => None,
        },
        track_changes: shared.tracker.is_some(),
        keep_ids: false,
    };
    // Lines already streamed to stdout cannot be taken back, so there a doubt is final.
    let walks = if plan.output.destination == Destination::Stdout {
        1
    } else {
        1 + MAX_REWALKS
    };
    let mut walk = 0;
    loop {
        walk += 1;
        let bar = shared.progress.collection(collection.name);
        worker.begin(id).await?;
        let feed = Feed {
            out: worker.pages(),
            pages: &shared.pages,
            ids: &shared.ids,
            bar: &bar,
        };
        let started = jiff::Timestamp::now();
        let stats = match pager::walk(shared.api.clone(), &request, &plan.pager, feed).await {
            Ok(stats) => stats,
            Err(err) if collection.optional_service && is_not_found(&err) => {
                // Many hosts leave out demographics, gradebook or resources: say so, mark it absent.
                tracing::warn!(
                    collection = collection.name,
                    "{err}; the server does not seem to offer {}, so it is left out (absent)",
                    collection.name
                );
                bar.abandon("not offered by the server");
                worker.abandon(id).await?;
                return Ok(None);
            }
            Err(err) => {
                bar.abandon("failed");
                return Err(err.into());
            }
        };
        let Some(doubt) = stats.doubt() else {
            let written = worker.finish(id).await?;
            bar.finish(&format!("{} records", stats.records));
            let state = shared.tracker.map(|_| {
                incremental::state_after_full(&stats, written.rows, plan.output.format, started)
            });
            let summary = CollectionSummary {
                walks: walk,
                state,
                ..CollectionSummary::of_walk(id, &stats, written)
            };
            summary.log();
            return Ok(Some(summary));
        };
        bar.abandon("incomplete");
        worker.abandon(id).await?;
        if walk < walks {
            tracing::warn!(
                collection = collection.name,
                walk,
                "{}: {doubt}; walking it again",
                collection.name
            );
            continue;
        }
        if plan.allow_partial {
            tracing::warn!(
                collection = collection.name,
                "{}: {doubt} after {walk} walks; left out (absent) because of --allow-partial",
                collection.name
            );
            return Ok(None);
        }
        return Err(Error::Incomplete {
            collection: collection.name,
            walks: walk,
            doubt,
        });
    }
}

/// How many times a collection that does not add up is walked again before the run gives up.
const MAX_REWALKS: u32 = 4;

/// A 404 on the collection itself (not a transient failure): the service is not there.
fn is_not_found(err: &PagerError) -> bool {
    matches!(err, PagerError::Api(api) if matches!(&**api, ApiError::Http(e) if e.status() == Some(reqwest::StatusCode::NOT_FOUND)))
}
