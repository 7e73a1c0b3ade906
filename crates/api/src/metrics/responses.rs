//! Response statistics of the REST and gRPC layers, kept per (method, endpoint, status) and per
//! collection: a count, failures, minimum and maximum, and a duration histogram. Recording one
//! response is a map lookup under a read lock and a few atomic operations.

use parking_lot::RwLock;
use prometheus::core::Metric as _;
use prometheus::proto::{LabelPair, Metric};
use prometheus::{Histogram, HistogramOpts};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the response duration histograms.
const DURATION_BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// At most this many endpoints (clients choose gRPC paths) and collections are tracked; the
/// responses of others are counted only in the totals they already have.
const MAX_ENDPOINTS: usize = 512;
const MAX_COLLECTIONS: usize = 1000;

/// What one series of response metrics is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResponseKey {
    /// HTTP method (REST; empty for gRPC).
    pub method: &'static str,
    /// The route template (REST, axum's syntax) or `/package.Service/Method` (gRPC).
    pub endpoint: String,
    /// HTTP status (REST; gRPC series are by endpoint only and keep 0 here).
    pub status: u16,
}

/// One series' statistics. As Qdrant's, the durations (histogram, average, minimum, maximum)
/// are those of successful responses only.
pub struct ResponseStats {
    histogram: Histogram,
    count: AtomicU64,
    failures: AtomicU64,
    min_micros: AtomicU64,
    max_micros: AtomicU64,
    /// When the last response was sent, in microseconds since the Unix epoch (0: never).
    last_micros: AtomicI64,
}

impl ResponseStats {
    fn new() -> ResponseStats {
        let opts =
            HistogramOpts::new("responses_duration_seconds", "response duration").buckets(DURATION_BUCKETS.to_vec());
        ResponseStats {
            histogram: Histogram::with_opts(opts).expect("valid histogram options"),
            count: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            min_micros: AtomicU64::new(u64::MAX),
            max_micros: AtomicU64::new(0),
            last_micros: AtomicI64::new(0),
        }
    }

    fn record(&self, elapsed: Duration, failed: bool) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.last_micros.store(chrono::Utc::now().timestamp_micros(), Ordering::Relaxed);
        if failed {
            self.failures.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.histogram.observe(elapsed.as_secs_f64());
        self.min_micros.fetch_min(micros, Ordering::Relaxed);
        self.max_micros.fetch_max(micros, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    pub fn avg_seconds(&self) -> f64 {
        match self.histogram.get_sample_count() {
            0 => 0.0,
            n => self.histogram.get_sample_sum() / n as f64,
        }
    }

    pub fn min_seconds(&self) -> f64 {
        match self.min_micros.load(Ordering::Relaxed) {
            u64::MAX => 0.0,
            micros => micros as f64 / 1e6,
        }
    }

    pub fn max_seconds(&self) -> f64 {
        self.max_micros.load(Ordering::Relaxed) as f64 / 1e6
    }

    /// Total duration of the successful responses, in seconds.
    pub fn total_seconds(&self) -> f64 {
        self.histogram.get_sample_sum()
    }

    /// When the last response was sent, if any was.
    pub fn last_responded(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        match self.last_micros.load(Ordering::Relaxed) {
            0 => None,
            micros => chrono::DateTime::from_timestamp_micros(micros),
        }
    }

    /// The histogram as a Prometheus metric with `labels`.
    pub fn histogram_metric(&self, labels: Vec<LabelPair>) -> Metric {
        let mut metric = self.histogram.metric();
        metric.set_label(labels);
        metric
    }
}

type Series = RwLock<HashMap<ResponseKey, Arc<ResponseStats>>>;

/// The statistics of one API (REST or gRPC), globally and per collection.
#[derive(Default)]
pub struct ResponseTable {
    global: Series,
    per_collection: RwLock<HashMap<String, Series>>,
}

fn stats_of(series: &Series, key: ResponseKey) -> Option<Arc<ResponseStats>> {
    if let Some(stats) = series.read().get(&key) {
        return Some(Arc::clone(stats));
    }
    let mut series = series.write();
    if series.len() >= MAX_ENDPOINTS * 8 && !series.contains_key(&key) {
        return None;
    }
    Some(Arc::clone(series.entry(key).or_insert_with(|| Arc::new(ResponseStats::new()))))
}

impl ResponseTable {
    /// Records one response (and, when the request named one, for its collection too).
    pub fn record(&self, key: ResponseKey, collection: Option<&str>, elapsed: Duration, failed: bool) {
        if let Some(collection) = collection {
            self.record_for_collection(key.clone(), collection, elapsed, failed);
        }
        if let Some(stats) = stats_of(&self.global, key) {
            stats.record(elapsed, failed);
        }
    }

    fn record_for_collection(&self, key: ResponseKey, collection: &str, elapsed: Duration, failed: bool) {
        let known = self.per_collection.read().get(collection).and_then(|series| stats_of(series, key.clone()));
        let stats = match known {
            Some(stats) => Some(stats),
            None => {
                let mut collections = self.per_collection.write();
                if collections.len() >= MAX_COLLECTIONS && !collections.contains_key(collection) {
                    return;
                }
                let series = collections.entry(collection.to_string()).or_default();
                stats_of(series, key)
            }
        };
        if let Some(stats) = stats {
            stats.record(elapsed, failed);
        }
    }

    /// Every global series, sorted.
    pub fn global(&self) -> Vec<(ResponseKey, Arc<ResponseStats>)> {
        sorted(&self.global)
    }

    /// Every per-collection series, sorted by collection then key.
    pub fn per_collection(&self) -> Vec<(String, ResponseKey, Arc<ResponseStats>)> {
        let collections = self.per_collection.read();
        let mut names: Vec<&String> = collections.keys().collect();
        names.sort();
        names
            .into_iter()
            .flat_map(|name| sorted(&collections[name]).into_iter().map(|(k, s)| (name.clone(), k, s)))
            .collect()
    }
}

fn sorted(series: &Series) -> Vec<(ResponseKey, Arc<ResponseStats>)> {
    let mut all: Vec<_> = series.read().iter().map(|(k, s)| (k.clone(), Arc::clone(s))).collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(status: u16) -> ResponseKey {
        ResponseKey { method: "POST", endpoint: "/collections/{name}/points/search".into(), status }
    }

    #[test]
    fn records_counts_extremes_and_collections() {
        let table = ResponseTable::default();
        table.record(key(200), Some("a"), Duration::from_millis(2), false);
        table.record(key(200), Some("b"), Duration::from_millis(8), false);
        table.record(key(404), None, Duration::from_micros(100), true);
        let global = table.global();
        assert_eq!(global.len(), 2);
        let (_, ok) = &global[0];
        assert_eq!((ok.count(), ok.failures()), (2, 0));
        assert!((ok.min_seconds() - 0.002).abs() < 1e-9 && (ok.max_seconds() - 0.008).abs() < 1e-9);
        assert!((ok.avg_seconds() - 0.005).abs() < 1e-6);
        assert_eq!((global[1].1.count(), global[1].1.failures()), (1, 1));
        // A failure is counted but not timed.
        assert_eq!(
            (global[1].1.max_seconds(), global[1].1.histogram_metric(vec![]).get_histogram().get_sample_count()),
            (0.0, 0)
        );
        let per: Vec<_> = table.per_collection().into_iter().map(|(c, k, s)| (c, k.status, s.count())).collect();
        assert_eq!(per, vec![("a".to_string(), 200, 1), ("b".to_string(), 200, 1)]);
    }
}
