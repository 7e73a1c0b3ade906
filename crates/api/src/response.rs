//! The success envelopes of spec §0.1.

use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::time::Instant;

/// `{"result": …, "status": "ok", "time": seconds}`.
pub fn ok<T: Serialize>(started: Instant, result: T) -> Response {
    let body = serde_json::json!({
        "result": result,
        "status": "ok",
        "time": started.elapsed().as_secs_f64(),
    });
    axum::Json(body).into_response()
}
