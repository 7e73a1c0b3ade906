//! Qdrant's REST API over axum: wire shapes, extraction with Qdrant's error messages, the
//! response envelope, error → status mapping, metrics, and the web dashboard. Handlers stay
//! thin: they convert wire shapes to domain values and call one `quiver_node::Node` service
//! function.

pub mod auth;
mod auth_access;
mod auth_jwt;
mod auth_rest;
mod dashboard;
mod error;
mod extract;
pub mod grpc;
mod inference;
mod inference_bm25;
mod inference_sites;
pub mod log_control;
pub mod metrics;
mod response;
pub(crate) mod routes_analytics;
mod routes_collections;
mod routes_diagnostics;
mod routes_local_shard;
mod routes_points;
mod routes_search;
mod routes_service;
mod routes_shard_snapshots;
mod routes_snapshots;
mod routes_telemetry;
mod telemetry_app;
mod wire;
mod wire_discover;
mod wire_formula;
mod wire_groups;
mod wire_nullable;
mod wire_query;
mod wire_query_kinds;
mod wire_upsert;
mod wire_vector;

pub use error::ApiError;
pub use telemetry_app::AppInfo;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use quiver_node::Node;
use std::sync::Arc;

/// Shared state of the REST handlers.
#[derive(Clone)]
pub struct AppState {
    pub node: Arc<Node>,
    pub metrics: Arc<metrics::Metrics>,
    pub version: &'static str,
    /// What `/telemetry` reports of the process (start time, `jwt_rbac`).
    pub app: AppInfo,
    /// Whether the test-only fault injection endpoint is served.
    pub faults_enabled: bool,
    /// The process's log filter, read and changed by `/logger`.
    pub logger: Arc<log_control::LogControl>,
}

/// The router of `service.metrics_port`: `/metrics` only, without API key checks (as Qdrant's
/// metrics listener; keep that port on a private network).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(routes_service::metrics))
        .fallback(routes_service::not_found)
        .with_state(state)
}

/// The whole REST router; `max_request_size_mb` bounds JSON bodies (`service.max_request_size_mb`).
pub fn router(state: AppState, max_request_size_mb: usize) -> Router {
    router_with_auth(state, max_request_size_mb, None)
}

/// [`router`] with the API keys and tokens of `auth` checked on every request (`auth.rs`),
/// before its body is read; refusals are counted in the metrics like any response.
pub fn router_with_auth(state: AppState, max_request_size_mb: usize, auth: Option<Arc<auth::Auth>>) -> Router {
    let metrics = Arc::clone(&state.metrics);
    let limit_bytes = max_request_size_mb.saturating_mul(1024 * 1024);
    let mut router = Router::new()
        .merge(routes_service::routes())
        .merge(dashboard::routes())
        .merge(routes_collections::routes())
        .merge(routes_points::routes())
        .merge(routes_search::routes())
        .merge(routes_analytics::routes())
        .merge(routes_telemetry::routes())
        .merge(routes_snapshots::routes())
        .merge(routes_shard_snapshots::routes())
        .merge(routes_local_shard::routes())
        .merge(routes_diagnostics::routes())
        .fallback(routes_service::not_found)
        .method_not_allowed_fallback(routes_service::method_not_allowed)
        .layer(DefaultBodyLimit::max(limit_bytes))
        .layer(axum::middleware::from_fn_with_state(limit_bytes, extract::buffer_body))
        // Snapshot uploads stream to disk with their own size cap (`storage.snapshots_config`).
        .merge(routes_snapshots::upload_routes().layer(DefaultBodyLimit::disable()))
        .merge(routes_shard_snapshots::upload_routes().layer(DefaultBodyLimit::disable()));
    if let Some(auth) = auth {
        router = router.layer(axum::middleware::from_fn_with_state(auth, auth_rest::authorize));
    }
    router.layer(axum::middleware::from_fn_with_state(metrics, metrics::count_responses)).with_state(state)
}
