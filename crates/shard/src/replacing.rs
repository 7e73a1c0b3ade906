//! Installs under way that will replace a replica's data wholesale (`install.rs`). While one
//! runs, work on the data it replaces is wasted: the periodic checkpointer skips the replica
//! (its WAL keeps every record, so an install that fails loses nothing) and the indexer leaves
//! its graphs alone, leaving both cores to the install.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts the installs under way on one replica (shared by the shard and its indexer).
#[derive(Clone, Default)]
pub(crate) struct Replacing(Arc<AtomicUsize>);

impl Replacing {
    /// Whether an install is under way.
    pub(crate) fn under_way(&self) -> bool {
        self.0.load(Ordering::Acquire) > 0
    }

    /// Counts one install until the returned guard is dropped (finished, failed or abandoned).
    pub(crate) fn begin(&self) -> ReplacingGuard {
        self.0.fetch_add(1, Ordering::AcqRel);
        ReplacingGuard(self.clone())
    }
}

/// One install under way ([`Replacing::begin`]).
pub(crate) struct ReplacingGuard(Replacing);

impl Drop for ReplacingGuard {
    fn drop(&mut self) {
        (self.0).0.fetch_sub(1, Ordering::AcqRel);
    }
}
