//! One export run from start to finish: credentials, then each planned collection paged into the
//! staged bundle, then publish. Any failure or interruption drops the staging area and leaves the
//! previous output exactly as it was.

mod sink;
mod summary;

use std::sync::Arc;
use std::time::Instant;

use oneroster::CollectionId;

pub use summary::{CollectionSummary, RunSummary};

use crate::api::{ApiClient, ApiError};
use crate::auth::Authorizer;
use crate::error::Error;
use crate::export::{Bundle, Destination};
use crate::http::Transport;
use crate::pager::{self, PagerError};
use crate::progress::Progress;
use crate::settings::{Config, Plan};
use sink::SinkWorker;

/// Runs the export described by `config`, stopping cleanly on Ctrl-C or SIGTERM.
pub async fn run(config: Config, progress: Progress) -> Result<RunSummary, Error> {
    let started = Instant::now();
    let Config { connection, plan } = config;
    let base_url = connection
        .base_url
        .ok_or_else(|| Error::Internal("an export needs a base URL".into()))?;
    let transport = Transport::standalone(connection.http)?;
    let credentials = Authorizer::new(connection.credentials, transport.clone());
    let api = Arc::new(ApiClient::new(
        transport,
        credentials,
        base_url,
        connection.headers,
    ));

    let outcome = tokio::select! {
        outcome = export(&plan, api.clone(), &progress) => outcome,
        () = crate::signal::shutdown() => Err(Error::Interrupted),
    };
    let (collections, output) = outcome?;
    let stats = api.stats();
    Ok(RunSummary {
        collections,
        output,
        tokens_fetched: stats.tokens_fetched,
        requests: stats.requests,
        retries: stats.retries,
        seconds: started.elapsed().as_secs_f64(),
    })
}

async fn export(
    plan: &Plan,
    api: Arc<ApiClient>,
    progress: &Progress,
) -> Result<(Vec<CollectionSummary>, crate::export::PublishReport), Error> {
    // Credentials first: a wrong secret fails before any output is prepared.
    api.ensure_credentials().await?;
    let bundle = Bundle::create(&plan.output, &plan.collections)?;
    let worker = SinkWorker::start(bundle);
    match export_collections(plan, &api, progress, &worker).await {
        Ok(collections) => {
            let report = worker.publish().await?;
            Ok((collections, report))
        }
        Err(err) => {
            worker.close().await;
            Err(err)
        }
    }
}

async fn export_collections(
    plan: &Plan,
    api: &Arc<ApiClient>,
    progress: &Progress,
    worker: &SinkWorker,
) -> Result<Vec<CollectionSummary>, Error> {
    let mut summaries = Vec::new();
    for &id in &plan.collections {
        if let Some(summary) = export_collection(plan, api, progress, worker, id).await? {
            summary.log();
            summaries.push(summary);
        }
    }
    Ok(summaries)
}

/// Walks one collection into the bundle, walking it again when the result does not add up.
/// `None` when the collection is left out (absent) rather than failing the run.
async fn export_collection(
    plan: &Plan,
    api: &Arc<ApiClient>,
    progress: &Progress,
    worker: &SinkWorker,
    id: CollectionId,
) -> Result<Option<CollectionSummary>, Error> {
    let collection = id.info();
    let before = api.stats();
    // Lines already streamed to stdout cannot be taken back, so there a doubt is final.
    let walks = if plan.output.destination == Destination::Stdout {
        1
    } else {
        1 + MAX_REWALKS
    };
    let mut walk = 0;
    loop {
        walk += 1;
        let bar = progress.collection(collection.name);
        let (pages, drained) = worker.collection(id).await?;
        let walked = pager::walk(api.clone(), collection, &plan.pager, &pages, &bar).await;
        drop(pages);
        // The writer's own failure explains a pager that found the channel closed.
        drained.await.unwrap_or_else(|_| Err(sink::gone()))?;
        let stats = match walked {
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
            let spent = api.stats() - before;
            return Ok(Some(CollectionSummary {
                collection: id,
                records: stats.records,
                duplicates: stats.duplicates,
                total: stats.total,
                pages: stats.pages,
                requests: spent.requests,
                retries: spent.retries,
                seconds: stats.elapsed.as_secs_f64(),
                walks: walk,
                written,
            }));
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
