//! Qdrant's diagnostic service endpoints (design record 046): the runtime logger, and the
//! answers of Qdrant's open-source build where Quiver has no such facility — no thread stack
//! collector (`GET /stacktrace`: no threads, as Qdrant built without its `stacktrace` feature),
//! no slow-request log (`GET /profiler/slow_requests`: none recorded), no pyroscope agent
//! (`/debugger`: none configured, a patch not applied, as Qdrant where pyroscope is unavailable)
//! and no audit log (`POST /audit/logs`: 400, as Qdrant without audit logging configured).
//! Each needs what Qdrant's handler checks: global read for `GET /logger`, manage otherwise
//! (`auth_rest.rs`).

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{JsonBody, OptionalJsonBody, Params, Started};
use crate::log_control::LoggerConfig;
use crate::response::ok;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/logger", get(get_logger).post(post_logger))
        .route("/stacktrace", get(stacktrace))
        .route("/profiler/slow_requests", get(slow_requests))
        .route("/debugger", get(get_debugger).patch(patch_debugger))
        .route("/audit/logs", post(audit_logs))
}

type Reply = Result<Response, ApiError>;

async fn get_logger(State(s): State<AppState>, t: Started) -> Reply {
    Ok(ok(t.0, s.logger.config()))
}

async fn post_logger(State(s): State<AppState>, t: Started, JsonBody(update): JsonBody<LoggerConfig>) -> Reply {
    s.logger.update(update)?;
    Ok(ok(t.0, true))
}

async fn stacktrace(t: Started) -> Reply {
    Ok(ok(t.0, serde_json::json!({"threads": []})))
}

/// `?limit=&request=` of `GET /profiler/slow_requests`, checked as Qdrant types them.
#[derive(Deserialize)]
struct SlowRequestsParams {
    #[serde(default, rename = "limit")]
    _limit: Option<usize>,
    #[serde(default, rename = "request")]
    _request: Option<String>,
}

async fn slow_requests(Params(_): Params<SlowRequestsParams>, t: Started) -> Reply {
    Ok(ok(t.0, serde_json::json!({"requests": []})))
}

async fn get_debugger(t: Started) -> Reply {
    Ok(ok(t.0, serde_json::json!({"pyroscope": null})))
}

/// `PATCH /debugger`: Qdrant's `DebugConfigPatch` (`{"pyroscope": {…} | null}`); nothing is
/// applied, answered `false`.
#[derive(Deserialize)]
struct DebuggerPatch {
    #[serde(default, rename = "pyroscope")]
    _pyroscope: Option<PyroscopeConfig>,
}

#[derive(Deserialize)]
struct PyroscopeConfig {
    #[serde(rename = "url")]
    _url: String,
    #[serde(rename = "identifier")]
    _identifier: String,
    #[serde(default, rename = "user")]
    _user: Option<String>,
    #[serde(default, rename = "password")]
    _password: Option<String>,
    #[serde(default, rename = "sampling_rate")]
    _sampling_rate: Option<u32>,
}

async fn patch_debugger(t: Started, JsonBody(_): JsonBody<DebuggerPatch>) -> Reply {
    Ok(ok(t.0, false))
}

/// `?timeout=` of `POST /audit/logs`.
#[derive(Deserialize)]
struct AuditParams {
    #[serde(default, rename = "timeout")]
    _timeout: Option<u64>,
}

async fn audit_logs(Params(_): Params<AuditParams>, OptionalJsonBody(_): OptionalJsonBody<serde_json::Value>) -> Reply {
    Err(ApiError::new(StatusCode::BAD_REQUEST, "Bad request: Audit logging is not configured"))
}
