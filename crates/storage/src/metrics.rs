//! This crate's Prometheus metrics, registered in the process's default registry (rendered by
//! the API's `/metrics`): the latency of WAL fsyncs.

use prometheus::{Histogram, HistogramOpts};
use std::sync::LazyLock;

/// `quiver_wal_fsync_duration_seconds`: one observation per fsync of a WAL segment (a group
/// commit counts once, however many writers it makes durable).
pub static WAL_FSYNC_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    let buckets = vec![0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];
    let opts = HistogramOpts::new("quiver_wal_fsync_duration_seconds", "duration of WAL fsyncs").buckets(buckets);
    let histogram = Histogram::with_opts(opts).expect("valid histogram options");
    // Registered once (LazyLock); a second registration cannot happen.
    let _ = prometheus::register(Box::new(histogram.clone()));
    histogram
});

/// Registers this crate's metrics, so they are rendered (as zero) before their first event.
pub fn register() {
    LazyLock::force(&WAL_FSYNC_SECONDS);
}
