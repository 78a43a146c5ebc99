//! Buffers for page bodies, handed back when the page that holds one is dropped. A page body is
//! megabytes and a run reads hundreds; a fresh buffer for each has the kernel map and zero new
//! memory every time (page faults were a third of a 200k-user export's CPU). A few buffers lent
//! out again and again serve the whole run, and no more are kept than were in use at once.

use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;

/// Bodies smaller than this take an ordinary allocation: the allocator reuses small blocks by
/// itself (token responses, error bodies).
pub const POOLED_FROM: usize = 256 * 1024;
/// Idle buffers kept at most. Keeping two let a burst of returned pages go back to the
/// allocator and the next burst of responses fault in new ones: a 200k-user NDJSON export lent
/// 726 buffers and made ~150 of them anew with two kept, ~35 with four, 7 (all it ever had out
/// at once) with eight. Every buffer kept idle is resident at the run's peak too: four took
/// page faults 140k -> 70k and ~0.3 s of kernel time for ~1.5 MiB more at the peak; sixteen
/// saved a little more for 2-4 MiB, too near the 64 MiB the export is held to.
const KEEP: usize = 4;
/// A buffer grown past this (a host that sends huge pages) goes back to the allocator.
const LARGEST_KEPT: usize = 64 * 1024 * 1024;

/// The pool, shared by every transport of a process (the tenants of a fleet too), so the idle
/// buffers are a few for the process, not a few per tenant.
#[derive(Debug, Default)]
pub struct BodyBuffers {
    idle: Mutex<Vec<Vec<u8>>>,
}

impl BodyBuffers {
    pub fn new() -> Arc<BodyBuffers> {
        Arc::new(BodyBuffers::default())
    }

    /// An empty buffer with room for `size` bytes: the smallest idle one that fits, else the
    /// largest idle one grown, else a new one.
    pub fn take(&self, size: usize) -> Vec<u8> {
        let mut buf = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            let fits = idle
                .iter()
                .enumerate()
                .filter(|(_, b)| b.capacity() >= size)
                .min_by_key(|(_, b)| b.capacity())
                .map(|(i, _)| i);
            let largest = || {
                idle.iter()
                    .enumerate()
                    .max_by_key(|(_, b)| b.capacity())
                    .map(|(i, _)| i)
            };
            match fits.or_else(largest) {
                Some(i) => idle.swap_remove(i),
                None => Vec::new(),
            }
        };
        buf.clear();
        buf.reserve(size);
        buf
    }

    /// The filled buffer as `Bytes`; it comes back here when the last clone is dropped (unless
    /// the pool is gone by then).
    pub fn freeze(self: &Arc<Self>, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(Lent {
            buf,
            home: Arc::downgrade(self),
        })
    }

    fn give_back(&self, buf: Vec<u8>) {
        if buf.capacity() < POOLED_FROM || buf.capacity() > LARGEST_KEPT {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < KEEP {
            idle.push(buf);
        }
    }

    #[cfg(test)]
    fn idle(&self) -> usize {
        self.idle.lock().unwrap().len()
    }
}

/// A buffer out on loan as the storage of a `Bytes`.
struct Lent {
    buf: Vec<u8>,
    /// Weak, so pages that outlive their transport do not keep its pool alive.
    home: Weak<BodyBuffers>,
}

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        if let Some(home) = self.home.upgrade() {
            home.give_back(std::mem::take(&mut self.buf));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_comes_back_when_its_last_clone_is_dropped_and_is_lent_again() {
        let pool = BodyBuffers::new();
        let mut buf = pool.take(POOLED_FROM);
        buf.extend_from_slice(b"{\"users\":[]}");
        let at = buf.as_ptr();
        let bytes = pool.freeze(buf);
        let clone = bytes.slice(2..7);
        assert_eq!(&bytes[..], b"{\"users\":[]}");
        drop(bytes);
        assert_eq!(pool.idle(), 0, "a clone still holds it");
        assert_eq!(&clone[..], b"users");
        drop(clone);
        assert_eq!(pool.idle(), 1);
        let again = pool.take(100);
        assert_eq!(again.as_ptr(), at, "the same memory is lent again");
        assert!(again.is_empty());
    }

    #[test]
    fn the_smallest_idle_buffer_that_fits_is_lent_and_small_ones_are_not_kept() {
        let pool = BodyBuffers::new();
        let sizes = [POOLED_FROM, 4 * POOLED_FROM, 2 * POOLED_FROM, 1024];
        let bufs: Vec<Bytes> = sizes
            .iter()
            .map(|&n| pool.freeze(Vec::with_capacity(n)))
            .collect();
        drop(bufs);
        assert_eq!(pool.idle(), 3, "the 1 KiB one is not kept");
        assert_eq!(pool.take(POOLED_FROM + 1).capacity(), 2 * POOLED_FROM);
        assert_eq!(pool.take(1).capacity(), POOLED_FROM);
        assert_eq!(
            pool.take(1).capacity(),
            4 * POOLED_FROM,
            "the last one, large"
        );
        assert!(pool.take(1).capacity() < POOLED_FROM, "a new one");
    }

    #[test]
    fn no_more_than_keep_are_kept_idle() {
        let pool = BodyBuffers::new();
        let bufs: Vec<Bytes> = (0..KEEP + 3)
            .map(|_| pool.freeze(Vec::with_capacity(POOLED_FROM)))
            .collect();
        drop(bufs);
        assert_eq!(pool.idle(), KEEP);
    }

    #[test]
    fn a_page_that_outlives_its_pool_is_freed_as_usual() {
        let pool = BodyBuffers::new();
        let bytes = pool.freeze(pool.take(POOLED_FROM));
        drop(pool);
        drop(bytes);
    }
}
