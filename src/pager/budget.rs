//! How much memory a run's walks hold at once. Every page is paid for before its request goes out
//! and paid back once the writer has written it, so pages waiting for their turn (fetched out of
//! order, or while the writer is busy) stay within a fixed amount however many collections are
//! walked at once and however fast the host is. A walk that learns its total pays for its set of
//! seen sourcedIds from a second budget before it fans out, so two collections of millions of
//! records take turns instead of holding both sets at once.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The unit payments are made in.
const UNIT: usize = 64 * 1024;

/// The run's budget for page bytes.
#[derive(Debug, Clone)]
pub struct Budget {
    units: Arc<Semaphore>,
    total: usize,
}

/// What one page holds of the budget; dropping it pays the budget back.
#[derive(Debug)]
pub struct Hold {
    _permit: Option<OwnedSemaphorePermit>,
}

impl Budget {
    /// A budget of `bytes`.
    pub fn new(bytes: usize) -> Budget {
        let total = (bytes / UNIT).max(1);
        Budget {
            units: Arc::new(Semaphore::new(total)),
            total,
        }
    }

    /// No limit (tests and one-off fetches).
    pub fn unlimited() -> Budget {
        Budget::new(usize::MAX / 2)
    }

    /// The budget, in bytes.
    pub fn bytes(&self) -> usize {
        self.total * UNIT
    }

    /// Waits until `bytes` fit. More than the whole budget is paid as the whole budget, so
    /// anything can go once nothing else is held.
    pub async fn hold(&self, bytes: usize) -> Hold {
        let units = bytes.div_ceil(UNIT).clamp(1, self.total);
        let permit = self
            .units
            .clone()
            .acquire_many_owned(units as u32)
            .await
            .ok();
        Hold { _permit: permit }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn holds_wait_until_earlier_ones_are_paid_back() {
        let budget = Budget::new(4 * UNIT);
        let a = budget.hold(UNIT).await;
        let b = budget.hold(2 * UNIT).await;
        let c = budget.hold(UNIT).await;
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.hold(UNIT).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(a);
        waiting.await.unwrap();
        drop((b, c));
        // More than the whole budget waits for all of it, then goes.
        let all = budget.hold(100 * UNIT).await;
        drop(all);
    }
}
