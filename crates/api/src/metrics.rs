//! Prometheus metrics: REST response counters (by endpoint and status), gRPC response counters
//! (by endpoint; counted by `grpc::metrics`) and collection gauges.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use parking_lot::Mutex;
use quiver_node::Node;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

/// Counters kept by the REST and gRPC layers.
#[derive(Default)]
pub struct Metrics {
    responses: Mutex<BTreeMap<(String, String, u16), u64>>,
    /// gRPC endpoint → (responses, failures).
    grpc: Mutex<BTreeMap<String, (u64, u64)>>,
}

/// At most this many distinct gRPC endpoints are counted (paths come from clients).
const MAX_GRPC_ENDPOINTS: usize = 256;

/// Middleware: counts each response by method, matched route and status.
pub async fn count_responses(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let endpoint =
        request.extensions().get::<MatchedPath>().map_or_else(|| "unknown".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    let key = (method, endpoint, response.status().as_u16());
    *metrics.responses.lock().entry(key).or_default() += 1;
    response
}

impl Metrics {
    /// Counts one gRPC response of `endpoint` (`/package.Service/Method`).
    pub fn count_grpc(&self, endpoint: String, failed: bool) {
        let mut grpc = self.grpc.lock();
        if grpc.len() >= MAX_GRPC_ENDPOINTS && !grpc.contains_key(&endpoint) {
            return;
        }
        let entry = grpc.entry(endpoint).or_default();
        entry.0 += 1;
        entry.1 += u64::from(failed);
    }

    /// The response counts for `/telemetry`: REST by `METHOD /route` and status, gRPC by
    /// method path (responses and failures).
    pub fn telemetry(&self) -> serde_json::Value {
        let mut rest = serde_json::Map::new();
        for ((method, endpoint, status), count) in self.responses.lock().iter() {
            let entry = rest.entry(format!("{method} {endpoint}")).or_insert_with(|| serde_json::json!({}));
            entry[status.to_string()] = serde_json::json!({ "count": count });
        }
        let grpc: serde_json::Map<String, serde_json::Value> = self
            .grpc
            .lock()
            .iter()
            .map(|(endpoint, (count, failed))| {
                (endpoint.clone(), serde_json::json!({"count": count, "fail_count": failed}))
            })
            .collect();
        serde_json::json!({"rest": {"responses": rest}, "grpc": {"responses": grpc}})
    }

    /// Renders the Prometheus text format.
    pub fn render(&self, node: &Node, version: &str) -> String {
        let mut out = String::new();
        let collections = node.collections();
        let _ = writeln!(out, "# HELP app_info information about qdrant server\n# TYPE app_info gauge");
        let _ = writeln!(out, "app_info{{name=\"qdrant\",version=\"{version}\"}} 1");
        let _ = writeln!(out, "# HELP collections_total number of collections\n# TYPE collections_total gauge");
        let _ = writeln!(out, "collections_total {}", collections.len());
        let _ = writeln!(
            out,
            "# HELP collection_points approximate amount of points per collection\n# TYPE collection_points gauge"
        );
        for c in &collections {
            let _ = writeln!(out, "collection_points{{id=\"{}\"}} {}", escape(c.name()), c.points_count());
        }
        let _ = writeln!(
            out,
            "# HELP cluster_enabled is cluster support enabled\n# TYPE cluster_enabled gauge\ncluster_enabled 0"
        );
        let _ =
            writeln!(out, "# HELP rest_responses_total total number of responses\n# TYPE rest_responses_total counter");
        for ((method, endpoint, status), count) in self.responses.lock().iter() {
            let _ = writeln!(
                out,
                "rest_responses_total{{method=\"{method}\",endpoint=\"{}\",status=\"{status}\"}} {count}",
                escape(endpoint)
            );
        }
        self.render_grpc(&mut out);
        out
    }

    fn render_grpc(&self, out: &mut String) {
        let grpc = self.grpc.lock();
        let _ =
            writeln!(out, "# HELP grpc_responses_total total number of responses\n# TYPE grpc_responses_total counter");
        for (endpoint, (total, _)) in grpc.iter() {
            let _ = writeln!(out, "grpc_responses_total{{endpoint=\"{}\"}} {total}", escape(endpoint));
        }
        let _ = writeln!(
            out,
            "# HELP grpc_responses_fail_total total number of failed responses\n# TYPE grpc_responses_fail_total counter"
        );
        for (endpoint, (_, failed)) in grpc.iter() {
            let _ = writeln!(out, "grpc_responses_fail_total{{endpoint=\"{}\"}} {failed}", escape(endpoint));
        }
    }
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
