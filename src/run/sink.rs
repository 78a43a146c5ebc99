//! The bridge from the async download to the blocking writers: a bundle owned by one blocking
//! thread, fed pages over bounded channels, so disk work never stalls the runtime and a slow
//! disk (or a slow `jq` on stdout) slows the download instead of filling memory.

use tokio::sync::{mpsc, oneshot};

use crate::export::{Bundle, CollectionOutput, ExportError, PublishReport};
use crate::records::Page;
use oneroster::CollectionId;

enum Command {
    /// Write the pages of `id` until the page channel closes, then say how it went.
    Collection {
        id: CollectionId,
        pages: mpsc::Receiver<Page>,
        drained: oneshot::Sender<Result<(), ExportError>>,
    },
    Finish {
        id: CollectionId,
        reply: oneshot::Sender<Result<CollectionOutput, ExportError>>,
    },
    Abandon {
        id: CollectionId,
        reply: oneshot::Sender<Result<(), ExportError>>,
    },
    Publish {
        reply: oneshot::Sender<Result<PublishReport, ExportError>>,
    },
}

/// Handle to the writer thread. Dropping it (or `close`) drops the bundle, which removes staging.
pub struct SinkWorker {
    commands: mpsc::Sender<Command>,
    thread: tokio::task::JoinHandle<()>,
}

/// Pages buffered between the pager and the writer, per collection.
const PAGES_IN_CHANNEL: usize = 2;

impl SinkWorker {
    pub fn start(bundle: Bundle) -> SinkWorker {
        let (commands, mut rx) = mpsc::channel::<Command>(2);
        let thread = tokio::task::spawn_blocking(move || {
            let mut bundle = bundle;
            while let Some(command) = rx.blocking_recv() {
                match command {
                    Command::Collection {
                        id,
                        mut pages,
                        drained,
                    } => {
                        let mut result = bundle.begin_collection(id);
                        while result.is_ok() {
                            match pages.blocking_recv() {
                                Some(page) => result = bundle.write_page(&page),
                                None => break,
                            }
                        }
                        // Closing the receiver tells the pager to stop if writing failed.
                        drop(pages);
                        let _ = drained.send(result);
                    }
                    Command::Finish { id, reply } => {
                        let _ = reply.send(bundle.finish_collection(id));
                    }
                    Command::Abandon { id, reply } => {
                        let _ = reply.send(bundle.abandon_collection(id));
                    }
                    Command::Publish { reply } => {
                        let _ = reply.send(bundle.publish());
                        return;
                    }
                }
            }
            // The run ended without publishing: dropping the bundle removes its staging area.
        });
        SinkWorker { commands, thread }
    }

    /// Opens `id` for writing; returns the sender the pager feeds and a receiver that reports
    /// once every page sent has been written (or writing failed).
    pub async fn collection(
        &self,
        id: CollectionId,
    ) -> Result<
        (
            mpsc::Sender<Page>,
            oneshot::Receiver<Result<(), ExportError>>,
        ),
        ExportError,
    > {
        let (pages_tx, pages) = mpsc::channel(PAGES_IN_CHANNEL);
        let (drained, drained_rx) = oneshot::channel();
        self.send(Command::Collection { id, pages, drained })
            .await?;
        Ok((pages_tx, drained_rx))
    }

    pub async fn finish(&self, id: CollectionId) -> Result<CollectionOutput, ExportError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Finish { id, reply }).await?;
        rx.await.unwrap_or_else(|_| Err(gone()))
    }

    pub async fn abandon(&self, id: CollectionId) -> Result<(), ExportError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Abandon { id, reply }).await?;
        rx.await.unwrap_or_else(|_| Err(gone()))
    }

    pub async fn publish(self) -> Result<PublishReport, ExportError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Publish { reply }).await?;
        let result = rx.await.unwrap_or_else(|_| Err(gone()));
        let _ = self.thread.await;
        result
    }

    /// Ends the writer without publishing and waits until its staging area is gone.
    pub async fn close(self) {
        drop(self.commands);
        let _ = self.thread.await;
    }

    async fn send(&self, command: Command) -> Result<(), ExportError> {
        self.commands.send(command).await.map_err(|_| gone())
    }
}

pub(super) fn gone() -> ExportError {
    ExportError::Internal("the writer thread stopped unexpectedly".into())
}
