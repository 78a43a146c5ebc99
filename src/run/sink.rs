//! The bridge from the async download to the blocking writers: a bundle owned by one blocking
//! thread, fed over one bounded channel that every collection's pages share (each page names its
//! collection), so disk work never stalls the runtime and a slow disk (or a slow `jq` on stdout)
//! slows the download instead of filling memory.
//!
//! Commands travel on the same channel as pages, so "finish users" is handled after every users
//! page sent before it. A write that fails ends the worker: the pagers find the channel closed,
//! and [`SinkWorker::failure`] says why.

use oneroster::CollectionId;
use tokio::sync::{mpsc, oneshot};

use crate::export::{Bundle, CollectionOutput, ExportError, PublishReport};
use crate::pager::Passed;

type Reply<T> = oneshot::Sender<Result<T, ExportError>>;

/// What the writer thread is asked to do.
#[derive(Debug)]
pub enum Msg {
    Begin(CollectionId),
    BeginChanges(CollectionId),
    Page(Passed),
    Apply(CollectionId, Reply<u64>),
    Fingerprint(Reply<Option<String>>),
    Finish(CollectionId, Reply<CollectionOutput>),
    Abandon(CollectionId, Reply<()>),
    Publish(Reply<PublishReport>),
}

impl From<Passed> for Msg {
    fn from(passed: Passed) -> Msg {
        Msg::Page(passed)
    }
}

/// Messages buffered between the pagers and the writer (pages and commands together).
const IN_CHANNEL: usize = 4;

/// Handle to the writer thread. Dropping it (or `close`) drops the bundle, which removes staging.
pub struct SinkWorker {
    tx: mpsc::Sender<Msg>,
    thread: tokio::task::JoinHandle<Result<(), ExportError>>,
}

impl SinkWorker {
    pub fn start(bundle: Bundle) -> SinkWorker {
        let (tx, mut rx) = mpsc::channel::<Msg>(IN_CHANNEL);
        let span = tracing::Span::current();
        let thread = tokio::task::spawn_blocking(move || {
            let _in_span = span.enter();
            let mut bundle = bundle;
            while let Some(msg) = rx.blocking_recv() {
                match msg {
                    Msg::Begin(id) => bundle.begin_collection(id)?,
                    Msg::BeginChanges(id) => bundle.begin_changes(id)?,
                    Msg::Apply(id, reply) => {
                        let _ = reply.send(bundle.apply_changes(id));
                    }
                    Msg::Fingerprint(reply) => {
                        let _ = reply.send(bundle.previous_fingerprint());
                    }
                    // The page's hold on the memory budget is paid back once it is written.
                    Msg::Page(passed) => bundle.write_page(&passed.page)?,
                    Msg::Finish(id, reply) => {
                        let _ = reply.send(bundle.finish_collection(id));
                    }
                    Msg::Abandon(id, reply) => {
                        let _ = reply.send(bundle.abandon_collection(id));
                    }
                    Msg::Publish(reply) => {
                        let _ = reply.send(bundle.publish());
                        return Ok(());
                    }
                }
            }
            // The run ended without publishing: dropping the bundle removes its staging area.
            Ok(())
        });
        SinkWorker { tx, thread }
    }

    /// The channel the pagers send into.
    pub fn pages(&self) -> &mpsc::Sender<Msg> {
        &self.tx
    }

    pub async fn begin(&self, id: CollectionId) -> Result<(), ExportError> {
        self.send(Msg::Begin(id)).await
    }

    pub async fn begin_changes(&self, id: CollectionId) -> Result<(), ExportError> {
        self.send(Msg::BeginChanges(id)).await
    }

    /// Applies the changes received for `id`; returns the rows the result holds.
    pub async fn apply(&self, id: CollectionId) -> Result<u64, ExportError> {
        self.ask(|reply| Msg::Apply(id, reply)).await
    }

    /// The hash of the output the run would replace.
    pub async fn previous_fingerprint(&self) -> Result<Option<String>, ExportError> {
        self.ask(Msg::Fingerprint).await
    }

    async fn ask<T>(&self, msg: impl FnOnce(Reply<T>) -> Msg) -> Result<T, ExportError> {
        let (reply, rx) = oneshot::channel();
        self.send(msg(reply)).await?;
        rx.await.unwrap_or_else(|_| Err(gone()))
    }

    pub async fn finish(&self, id: CollectionId) -> Result<CollectionOutput, ExportError> {
        self.ask(|reply| Msg::Finish(id, reply)).await
    }

    pub async fn abandon(&self, id: CollectionId) -> Result<(), ExportError> {
        self.ask(|reply| Msg::Abandon(id, reply)).await
    }

    pub async fn publish(self) -> Result<PublishReport, ExportError> {
        let (reply, rx) = oneshot::channel();
        self.send(Msg::Publish(reply)).await?;
        let result = rx.await.unwrap_or_else(|_| Err(gone()));
        let _ = self.thread.await;
        result
    }

    /// Why the writer stopped, once it has: its error, for a run whose pager found the channel
    /// closed. Ends the writer if it is still running.
    pub async fn failure(self) -> ExportError {
        drop(self.tx);
        match self.thread.await {
            Ok(Err(err)) => err,
            _ => gone(),
        }
    }

    /// Ends the writer without publishing and waits until its staging area is gone.
    pub async fn close(self) {
        drop(self.tx);
        let _ = self.thread.await;
    }

    async fn send(&self, msg: Msg) -> Result<(), ExportError> {
        self.tx.send(msg).await.map_err(|_| gone())
    }
}

pub(super) fn gone() -> ExportError {
    ExportError::Internal("the writer thread stopped unexpectedly".into())
}
