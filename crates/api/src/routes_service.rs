//! Service endpoints (spec §1) and the cluster endpoints (spec §4.1–4.4; 405 on a standalone node).

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{JsonBody, OptionalJsonBody, Params, Started};
use crate::response::ok;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use quiver_node::Locks;
use serde::Deserialize;

/// The `title` of `GET /` and of the gRPC health check.
pub(crate) const TITLE: &str = "qdrant - vector search engine";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(root))
        .route("/healthz", get(healthz))
        .route("/livez", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/locks", get(get_locks).post(post_locks))
        .route("/cluster", get(cluster))
        .route("/cluster/recover", post(recover))
        .route("/cluster/peer/{peer_id}", delete(remove_peer))
        .route("/cluster/peer/{peer_id}/drain", get(drain_status).post(drain_peer).delete(cancel_drain))
        .route("/cluster/metadata/keys", get(metadata_keys))
        .route("/cluster/metadata/keys/{key}", get(metadata_get).put(metadata_put).delete(metadata_delete))
        .route("/debug/partition", post(partition))
}

type Reply = Result<Response, ApiError>;

async fn root(State(state): State<AppState>) -> Response {
    axum::Json(serde_json::json!({"title": TITLE, "version": state.version})).into_response()
}

fn text(status: StatusCode, body: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

async fn healthz() -> Response {
    text(StatusCode::OK, "healthz check passed")
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.node.is_ready().await {
        true => text(StatusCode::OK, "all shards are ready"),
        false => text(StatusCode::SERVICE_UNAVAILABLE, "some shards are not ready"),
    }
}

#[derive(Deserialize)]
pub(crate) struct MetricsParams {
    #[serde(default)]
    per_collection: Option<bool>,
    /// Accepted for compatibility: nothing in the metrics is personal.
    #[serde(default, rename = "anonymize")]
    _anonymize: Option<bool>,
    #[serde(default, rename = "timeout")]
    _timeout: Option<u64>,
}

/// `GET /metrics` (also served alone on `service.metrics_port`).
pub(crate) async fn metrics(State(state): State<AppState>, Params(p): Params<MetricsParams>) -> Response {
    let per_collection = p.per_collection.unwrap_or(false);
    let node = std::sync::Arc::clone(&state.node);
    let metrics = std::sync::Arc::clone(&state.metrics);
    // Reading every collection and /proc is blocking work.
    let render = tokio::task::spawn_blocking(move || metrics.render(&node, state.version, per_collection));
    match render.await {
        Ok(body) => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response(),
        Err(e) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("metrics failed: {e}")).into_response(),
    }
}

async fn get_locks(State(state): State<AppState>, started: Started) -> Reply {
    Ok(ok(started.0, state.node.locks()))
}

/// `POST /locks`: answers the setting it replaced (Qdrant's behaviour).
async fn post_locks(State(state): State<AppState>, started: Started, JsonBody(locks): JsonBody<Locks>) -> Reply {
    Ok(ok(started.0, state.node.set_locks(locks)))
}

async fn cluster(State(state): State<AppState>, started: Started) -> Reply {
    match state.node.cluster() {
        None => Ok(ok(started.0, serde_json::json!({"status": "disabled"}))),
        Some(_) => Ok(ok(started.0, state.node.cluster_status()?)),
    }
}

async fn recover(State(state): State<AppState>, started: Started) -> Reply {
    Ok(ok(started.0, state.node.recover_consensus().await?))
}

#[derive(Deserialize)]
struct RemovePeerParams {
    #[serde(default)]
    force: Option<bool>,
    #[serde(default)]
    timeout: Option<u64>,
    /// Ours: drain the peer first, then remove it (design record 012 §4).
    #[serde(default)]
    drain: Option<bool>,
}

/// `DELETE /cluster/peer/{id}`; with `drain=true` (ours) the peer is drained and then removed
/// by the placement keeper: the answer is the drain's progress (`GET …/drain` follows it).
async fn remove_peer(
    State(state): State<AppState>,
    Path(peer_id): Path<u64>,
    Params(p): Params<RemovePeerParams>,
    started: Started,
) -> Reply {
    let timeout = p.timeout.filter(|t| *t > 0).map(std::time::Duration::from_secs);
    if p.drain.unwrap_or(false) && !p.force.unwrap_or(false) {
        return Ok(ok(started.0, state.node.drain_peer(peer_id, true, timeout).await?));
    }
    Ok(ok(started.0, state.node.remove_peer(peer_id, p.force.unwrap_or(false), timeout).await?))
}

#[derive(Deserialize)]
struct TimeoutParams {
    #[serde(default)]
    timeout: Option<u64>,
}

async fn drain_peer(
    State(state): State<AppState>,
    Path(peer_id): Path<u64>,
    Params(p): Params<TimeoutParams>,
    started: Started,
) -> Reply {
    let timeout = p.timeout.filter(|t| *t > 0).map(std::time::Duration::from_secs);
    Ok(ok(started.0, state.node.drain_peer(peer_id, false, timeout).await?))
}

async fn cancel_drain(
    State(state): State<AppState>,
    Path(peer_id): Path<u64>,
    Params(p): Params<TimeoutParams>,
    started: Started,
) -> Reply {
    let timeout = p.timeout.filter(|t| *t > 0).map(std::time::Duration::from_secs);
    Ok(ok(started.0, state.node.cancel_drain(peer_id, timeout).await?))
}

async fn drain_status(State(state): State<AppState>, Path(peer_id): Path<u64>, started: Started) -> Reply {
    Ok(ok(started.0, state.node.drain_status(peer_id)?))
}

async fn metadata_keys(State(state): State<AppState>, started: Started) -> Reply {
    Ok(ok(started.0, state.node.cluster_metadata_keys()?))
}

async fn metadata_get(State(state): State<AppState>, Path(key): Path<String>, started: Started) -> Reply {
    Ok(ok(started.0, state.node.cluster_metadata_key(&key)?))
}

#[derive(Deserialize)]
struct WaitParams {
    #[serde(default)]
    wait: Option<bool>,
}

async fn metadata_put(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Params(p): Params<WaitParams>,
    started: Started,
    OptionalJsonBody(value): OptionalJsonBody<serde_json::Value>,
) -> Reply {
    Ok(ok(started.0, state.node.set_cluster_metadata(&key, value, p.wait.unwrap_or(false)).await?))
}

async fn metadata_delete(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Params(p): Params<WaitParams>,
    started: Started,
) -> Reply {
    Ok(ok(started.0, state.node.set_cluster_metadata(&key, None, p.wait.unwrap_or(false)).await?))
}

#[derive(Deserialize)]
struct PartitionBody {
    #[serde(default)]
    blocked: Vec<u64>,
    /// One-way: what this peer sends to these peers is lost.
    #[serde(default)]
    outgoing: Vec<u64>,
    /// One-way: what this peer receives from these peers is lost.
    #[serde(default)]
    incoming: Vec<u64>,
}

/// Test-only fault injection (enabled with `QUIVER_ENABLE_FAULTS=1`): blocks p2p traffic with
/// the given peers (`blocked`: both directions; `outgoing` / `incoming`: one way), replacing
/// the previous rules; empty lists heal.
async fn partition(
    State(state): State<AppState>,
    started: Started,
    crate::extract::JsonBody(body): crate::extract::JsonBody<PartitionBody>,
) -> Reply {
    if !state.faults_enabled {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "Not found: no such endpoint"));
    }
    state.node.set_partition(&body.blocked, &body.outgoing, &body.incoming)?;
    Ok(ok(started.0, true))
}

pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "Not found: no such endpoint")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed for this endpoint")
}
