//! Service endpoints (spec §1) and the cluster endpoints of a standalone node (spec §4).

use crate::AppState;
use crate::error::ApiError;
use crate::extract::Started;
use crate::response::ok;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use quiver_node::NodeError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(root))
        .route("/healthz", get(healthz))
        .route("/livez", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/cluster", get(cluster))
        .route("/cluster/recover", post(standalone))
        .route("/cluster/peer/{peer_id}", delete(standalone))
        .route("/cluster/metadata/keys", get(standalone))
        .route("/cluster/metadata/keys/{key}", get(standalone).put(standalone).delete(standalone))
        .route("/collections/{name}/cluster", post(standalone))
}

async fn root(State(state): State<AppState>) -> Response {
    axum::Json(serde_json::json!({"title": "qdrant - vector search engine", "version": state.version})).into_response()
}

fn text(status: StatusCode, body: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

async fn healthz() -> Response {
    text(StatusCode::OK, "healthz check passed")
}

async fn readyz() -> Response {
    text(StatusCode::OK, "all shards are ready")
}

async fn metrics(State(state): State<AppState>) -> Response {
    let body = state.metrics.render(&state.node, state.version);
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

async fn cluster(started: Started) -> Response {
    ok(started.0, serde_json::json!({"status": "disabled"}))
}

async fn standalone() -> ApiError {
    ApiError::from(NodeError::StandaloneMode)
}

pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "Not found: no such endpoint")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed for this endpoint")
}
