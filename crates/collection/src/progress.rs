//! The progress of a shard transfer into this peer's replica, shown in the progress comment of
//! `GET /collections/{c}/cluster`.

use std::sync::atomic::{AtomicU64, Ordering};
use tokio::time::Instant;

/// The progress of one running transfer, for `GET /collections/{c}/cluster` comments.
pub struct TransferProgress {
    pub(crate) started: Instant,
    stage: parking_lot::Mutex<&'static str>,
    points: AtomicU64,
    pub(crate) bytes: AtomicU64,
}

impl Default for TransferProgress {
    fn default() -> Self {
        TransferProgress::new()
    }
}

impl TransferProgress {
    pub fn new() -> TransferProgress {
        TransferProgress {
            started: Instant::now(),
            stage: parking_lot::Mutex::new("waiting consensus"),
            points: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    pub fn set_stage(&self, stage: &'static str) {
        *self.stage.lock() = stage;
    }

    pub(crate) fn add(&self, points: u64, bytes: u64) {
        self.points.fetch_add(points, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// E.g. `transferring: 12000 points, 23.1 MB (1.20s)`.
    pub fn comment(&self) -> String {
        let points = self.points.load(Ordering::Relaxed);
        let mb = self.bytes.load(Ordering::Relaxed) as f64 / 1e6;
        format!("{}: {points} points, {mb:.1} MB ({:.2}s)", self.stage.lock(), self.started.elapsed().as_secs_f64())
    }
}
