//! Prometheus metrics (design record 015): Qdrant's families — REST and gRPC responses with
//! Qdrant's labels and endpoint templates, collections, snapshots, cluster, process, memory —
//! and ours (`quiver_*`: replication lag here, the counters the lower crates register in the
//! process's default registry). Built as the `prometheus` crate's model and written by its text
//! encoder.

mod families;
mod node_families;
mod process;
pub mod responses;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use families::Families;
use prometheus::Encoder;
use prometheus::proto::MetricType;
use quiver_node::Node;
use responses::{ResponseKey, ResponseStats, ResponseTable};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// The response statistics kept by the REST and gRPC layers.
#[derive(Default)]
pub struct Metrics {
    rest: ResponseTable,
    grpc: ResponseTable,
    /// `service.metrics_prefix`: put before every family name.
    prefix: Option<String>,
}

/// The collection a gRPC call acts on, filled in by the handler once the message is decoded
/// (`grpc::auth::authorized`): the metrics layer puts an empty slot in the request.
#[derive(Clone, Default)]
pub struct CollectionSlot(pub Arc<OnceLock<String>>);

/// The method as a label value (methods a client invents count as `OTHER`).
fn rest_method(method: &axum::http::Method) -> &'static str {
    const KNOWN: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];
    KNOWN.iter().find(|known| **known == method.as_str()).copied().unwrap_or("OTHER")
}

/// Middleware: records each response by method, matched route and status (and collection).
pub async fn count_responses(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = rest_method(request.method());
    let endpoint = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
    let collection = endpoint
        .as_deref()
        .filter(|e| e.starts_with("/collections/{name}"))
        .and_then(|_| request.uri().path().split('/').nth(2).map(str::to_string));
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let key = ResponseKey { method, endpoint: endpoint.unwrap_or_else(|| "unknown".into()), status };
    metrics.rest.record(key, collection.as_deref(), started.elapsed(), status >= 400);
    response
}

impl Metrics {
    /// Metrics whose family names start with `prefix` (`service.metrics_prefix`).
    pub fn with_prefix(prefix: Option<String>) -> Metrics {
        Metrics { prefix: prefix.filter(|p| !p.is_empty()), ..Metrics::default() }
    }

    /// Records one gRPC response of `endpoint` (`/package.Service/Method`) with status `code`
    /// (series by endpoint, as Qdrant's: a failure counts in `_fail_total`).
    pub fn record_grpc(&self, endpoint: String, collection: Option<&str>, elapsed: std::time::Duration, code: u16) {
        let key = ResponseKey { method: "", endpoint, status: 0 };
        self.grpc.record(key, collection, elapsed, code != 0);
    }

    /// The response statistics for `/telemetry` (Qdrant's `OperationDurationStatistics`): REST
    /// by `METHOD /route` and status, gRPC by method path; with `details_level` ≥ 1 also when
    /// each series last responded.
    pub fn telemetry(&self, details_level: usize) -> serde_json::Value {
        let mut rest = serde_json::Map::new();
        for (key, stats) in self.rest.global() {
            let entry = rest.entry(format!("{} {}", key.method, key.endpoint)).or_insert_with(|| serde_json::json!({}));
            entry[key.status.to_string()] = duration_statistics(&stats, details_level);
        }
        let grpc: serde_json::Map<String, serde_json::Value> = self
            .grpc
            .global()
            .into_iter()
            .map(|(key, stats)| (key.endpoint, duration_statistics(&stats, details_level)))
            .collect();
        serde_json::json!({"rest": {"responses": rest}, "grpc": {"responses": grpc}})
    }

    /// Renders every family in the Prometheus text format; with `per_collection` (Qdrant's
    /// `?per_collection=true`) the response families are per collection (a `collection` label)
    /// instead of global.
    pub fn render(&self, node: &Node, version: &str, per_collection: bool) -> String {
        let mut out = Families::default();
        node_families::add_app(&mut out, version);
        node_families::add_collections(&mut out, node);
        node_families::add_snapshots(&mut out, node);
        node_families::add_cluster(&mut out, node);
        self.add_responses(&mut out, per_collection);
        process::add(&mut out);
        node_families::add_replication(&mut out, node);
        let mut all = out.0;
        all.extend(prometheus::gather());
        if let Some(prefix) = self.prefix.as_deref() {
            for family in &mut all {
                let name = format!("{prefix}{}", family.name());
                family.set_name(name);
            }
        }
        let mut buffer = Vec::new();
        match prometheus::TextEncoder::new().encode(&all, &mut buffer) {
            Ok(()) => String::from_utf8_lossy(&buffer).into_owned(),
            Err(e) => format!("# metrics could not be encoded: {e}\n"),
        }
    }

    fn add_responses(&self, out: &mut Families, per_collection: bool) {
        for (api, table) in [("rest", &self.rest), ("grpc", &self.grpc)] {
            let rows: Vec<(Option<String>, ResponseKey, Arc<ResponseStats>)> = match per_collection {
                false => table.global().into_iter().map(|(k, s)| (None, k, s)).collect(),
                true => table.per_collection().into_iter().map(|(c, k, s)| (Some(c), k, s)).collect(),
            };
            add_response_families(out, api, &rows);
        }
    }
}

/// Qdrant's path parameter names in endpoint templates.
fn qdrant_template(endpoint: &str) -> String {
    endpoint
        .replace("{name}", "{collection_name}")
        .replace("{snapshot}", "{snapshot_name}")
        .replace("{field}", "{field_name}")
}

/// `{api}_responses_total`, `_fail_total`, `_avg/min/max_duration_seconds` and the
/// `_duration_seconds` histogram. As Qdrant does, REST timings are reported for status 200 only
/// (and every timing is of successful responses).
fn add_response_families(out: &mut Families, api: &str, rows: &[(Option<String>, ResponseKey, Arc<ResponseStats>)]) {
    let (mut total, mut failed, mut avg, mut min, mut max, mut histograms) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for (collection, key, stats) in rows {
        let endpoint = match api {
            "rest" => qdrant_template(&key.endpoint),
            _ => key.endpoint.clone(),
        };
        let status = key.status.to_string();
        let mut pairs: Vec<(&str, &str)> = match api {
            "rest" => vec![("method", key.method), ("endpoint", &endpoint), ("status", &status)],
            _ => vec![("endpoint", &endpoint)],
        };
        if let Some(collection) = collection {
            pairs.push(("collection", collection));
        }
        total.push(families::counter(stats.count() as f64, &pairs));
        failed.push(families::counter(stats.failures() as f64, &pairs));
        if api == "rest" && key.status != 200 {
            continue;
        }
        avg.push(families::gauge(stats.avg_seconds(), &pairs));
        min.push(families::gauge(stats.min_seconds(), &pairs));
        max.push(families::gauge(stats.max_seconds(), &pairs));
        histograms.push(stats.histogram_metric(families::labels(&pairs)));
    }
    let name = |suffix: &str| format!("{api}_responses_{suffix}");
    out.counter(&name("total"), "total number of responses", total);
    out.counter(&name("fail_total"), "total number of failed responses", failed);
    out.gauge(&name("avg_duration_seconds"), "average response duration", avg);
    out.gauge(&name("min_duration_seconds"), "minimum response duration", min);
    out.gauge(&name("max_duration_seconds"), "maximum response duration", max);
    out.push(&name("duration_seconds"), "response duration histogram", MetricType::HISTOGRAM, histograms);
}

/// One series as Qdrant's `OperationDurationStatistics`: `count`, `fail_count` (when some
/// failed), the durations of the successful responses in microseconds (when there are any) and,
/// with `details_level` ≥ 1, `last_responded`.
fn duration_statistics(stats: &ResponseStats, details_level: usize) -> serde_json::Value {
    let mut out = serde_json::json!({ "count": stats.count() });
    if stats.failures() > 0 {
        out["fail_count"] = stats.failures().into();
    }
    if stats.count() > stats.failures() {
        out["avg_duration_micros"] = (stats.avg_seconds() * 1e6).into();
        out["min_duration_micros"] = (stats.min_seconds() * 1e6).into();
        out["max_duration_micros"] = (stats.max_seconds() * 1e6).into();
        out["total_duration_micros"] = ((stats.total_seconds() * 1e6).round() as u64).into();
    }
    if let Some(last) = stats.last_responded().filter(|_| details_level >= 1) {
        out["last_responded"] = last.to_rfc3339_opts(chrono::SecondsFormat::Micros, true).into();
    }
    out
}
