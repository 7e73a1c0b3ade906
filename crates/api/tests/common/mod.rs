//! Shared harness: a `quiver_node::Node` in a temporary directory behind the REST router,
//! driven in-process with `tower::ServiceExt::oneshot`.

#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use quiver_api::AppState;
use quiver_api::metrics::Metrics;
use quiver_node::{Node, NodeConfig};
use serde_json::{Value, json};
use std::sync::Arc;
use tempfile::TempDir;
use tower::ServiceExt;

/// A node on a temporary storage directory and its router.
pub struct TestNode {
    pub dir: TempDir,
    inner: Option<Inner>,
}

struct Inner {
    node: Arc<Node>,
    router: Router,
}

fn open(dir: &TempDir) -> Inner {
    let node = Arc::new(
        Node::open(NodeConfig {
            storage_path: dir.path().join("storage"),
            snapshots_path: dir.path().join("snapshots"),
            ..Default::default()
        })
        .expect("open node"),
    );
    let state = AppState {
        node: Arc::clone(&node),
        metrics: Arc::new(Metrics::default()),
        version: "1.19.0",
        app: quiver_api::AppInfo::starting_now(None),
        faults_enabled: false,
        logger: Arc::new(quiver_api::log_control::LogControl::detached("INFO")),
    };
    Inner { node, router: quiver_api::router(state, 32) }
}

impl Default for TestNode {
    fn default() -> Self {
        TestNode::new()
    }
}

impl TestNode {
    pub fn new() -> TestNode {
        let dir = tempfile::tempdir().expect("tempdir");
        let inner = Some(open(&dir));
        TestNode { dir, inner }
    }

    /// Sends `body` (serialized JSON, if any) and returns the status and the parsed JSON reply.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let bytes = body.map(|b| serde_json::to_vec(&b).expect("serialize body"));
        self.raw(method, path, bytes).await
    }

    /// Sends arbitrary bytes as a JSON body.
    pub async fn raw(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> (StatusCode, Value) {
        let (status, bytes) = self.raw_bytes(method, path, body).await;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{path}: response is not JSON ({e}): {:?}", String::from_utf8_lossy(&bytes)))
        };
        (status, value)
    }

    /// Sends arbitrary bytes and returns the raw reply body.
    pub async fn raw_bytes(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> (StatusCode, Vec<u8>) {
        let mut builder = Request::builder().method(method).uri(path);
        let body = match body {
            Some(b) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(b)
            }
            None => Body::empty(),
        };
        let request = builder.body(body).expect("build request");
        let response = self
            .inner
            .as_ref()
            .expect("node is open")
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router is infallible");
        let status = response.status();
        let bytes = response.into_body().collect().await.expect("read body").to_bytes().to_vec();
        (status, bytes)
    }

    /// Calls, asserts a 200 success envelope and returns its `result`.
    pub async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, reply) = self.call(method.clone(), path, body).await;
        assert_eq!(status, StatusCode::OK, "{method} {path}: {reply}");
        assert_ok_envelope(&reply);
        reply["result"].clone()
    }

    /// Calls, asserts an error envelope with `status`, and returns the error message.
    pub async fn err(&self, method: Method, path: &str, body: Option<Value>, status: StatusCode) -> String {
        let (got, reply) = self.call(method.clone(), path, body).await;
        assert_eq!(got, status, "{method} {path}: {reply}");
        error_message(&reply)
    }

    /// Graceful restart: `shutdown()`, drop, open again on the same directory.
    pub fn reopen(&mut self) {
        self.node().shutdown().expect("shutdown");
        self.reopen_without_shutdown();
    }

    /// Crash-like restart: drop the node without `shutdown()` and open it again.
    pub fn reopen_without_shutdown(&mut self) {
        let inner = self.inner.take().expect("node is open");
        let Inner { node, router } = inner;
        drop(router);
        assert_eq!(Arc::strong_count(&node), 1, "the old node is still referenced elsewhere");
        drop(node);
        self.inner = Some(open(&self.dir));
    }

    pub fn node(&self) -> &Arc<Node> {
        &self.inner.as_ref().expect("node is open").node
    }

    // ----- convenience wrappers -------------------------------------------------------------

    /// Creates collection `name` with `body`, asserting `true`.
    pub async fn create(&self, name: &str, body: Value) {
        let result = self.ok(Method::PUT, &format!("/collections/{name}"), Some(body)).await;
        assert_eq!(result, json!(true));
    }

    /// Upserts `points` (list form) with `wait=true`, asserting `completed`.
    pub async fn upsert(&self, name: &str, points: Value) {
        let result = self
            .ok(Method::PUT, &format!("/collections/{name}/points?wait=true"), Some(json!({ "points": points })))
            .await;
        assert_eq!(result["status"], "completed", "{result}");
    }

    /// All points of a collection via scroll, with payload and vectors, sorted by id.
    pub async fn all_points(&self, name: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut offset = Value::Null;
        loop {
            let mut body = json!({"limit": 7, "with_payload": true, "with_vector": true});
            if !offset.is_null() {
                body["offset"] = offset.clone();
            }
            let page = self.ok(Method::POST, &format!("/collections/{name}/points/scroll"), Some(body)).await;
            out.extend(page["points"].as_array().expect("points").iter().cloned());
            offset = page["next_page_offset"].clone();
            if offset.is_null() {
                break;
            }
        }
        out
    }

    pub async fn count(&self, name: &str, filter: Option<Value>) -> u64 {
        let body = match filter {
            Some(f) => json!({"filter": f, "exact": true}),
            None => json!({"exact": true}),
        };
        let result = self.ok(Method::POST, &format!("/collections/{name}/points/count"), Some(body)).await;
        result["count"].as_u64().expect("count")
    }
}

/// Asserts `{"result": …, "status": "ok", "time": <number>}` and nothing else.
pub fn assert_ok_envelope(reply: &Value) {
    let obj = reply.as_object().expect("envelope is an object");
    assert_eq!(reply["status"], "ok", "{reply}");
    assert!(obj.contains_key("result"), "no result: {reply}");
    assert!(reply["time"].is_number(), "time not a number: {reply}");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["result", "status", "time"], "{reply}");
}

/// Asserts `{"status": {"error": msg}, "time": <number>}` without `result`; returns `msg`.
pub fn error_message(reply: &Value) -> String {
    let obj = reply.as_object().expect("error envelope is an object");
    assert!(!obj.contains_key("result"), "error with result: {reply}");
    assert!(reply["time"].is_number(), "time not a number: {reply}");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["status", "time"], "{reply}");
    reply["status"]["error"].as_str().unwrap_or_else(|| panic!("no status.error: {reply}")).to_string()
}

/// Points with ids `0..n` and 4-dim vectors derived from the id, payload `{"n": id, "even": bool}`.
pub fn grid_points(n: u64) -> Value {
    Value::Array(
        (0..n)
            .map(|i| {
                json!({
                    "id": i,
                    "vector": grid_vector(i),
                    "payload": {"n": i, "even": i % 2 == 0, "tag": format!("t{}", i % 3)},
                })
            })
            .collect(),
    )
}

pub fn grid_vector(i: u64) -> Vec<f32> {
    let f = i as f32;
    vec![1.0 + f, 2.0 - f * 0.5, (f * 0.7).sin(), 0.25 * f]
}

/// The ids of a list of records / scored points.
pub fn ids(points: &Value) -> Vec<Value> {
    points.as_array().expect("array of points").iter().map(|p| p["id"].clone()).collect()
}

pub fn approx(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-4 * (1.0 + a.abs().max(b.abs()))
}

/// Asserts that a JSON array of numbers equals `expected` within f32 precision.
pub fn assert_vector(got: &Value, expected: &[f32]) {
    let got: Vec<f64> = got
        .as_array()
        .unwrap_or_else(|| panic!("not a vector: {got}"))
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect();
    assert_eq!(got.len(), expected.len(), "{got:?} vs {expected:?}");
    for (g, e) in got.iter().zip(expected) {
        assert!(approx(*g, f64::from(*e)), "{got:?} vs {expected:?}");
    }
}
