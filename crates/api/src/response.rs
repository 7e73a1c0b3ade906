//! The success envelopes of spec §0.1.

use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::time::Instant;

/// `{"result": …, "status": "ok", "time": seconds}`, serialized straight from `result` (no
/// intermediate `serde_json::Value`).
#[derive(Serialize)]
struct Envelope<T> {
    result: T,
    status: &'static str,
    time: f64,
}

/// `{"result": …, "status": "ok", "time": seconds}`.
pub fn ok<T: Serialize>(started: Instant, result: T) -> Response {
    axum::Json(Envelope { result, status: "ok", time: started.elapsed().as_secs_f64() }).into_response()
}

/// A query's `{"points": […]}` (and a scroll page's `next_page_offset`, when it has one).
#[derive(Serialize)]
pub struct Points<P, O: Serialize = ()> {
    pub points: P,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_offset: Option<Option<O>>,
}

impl<P> Points<P> {
    pub fn of(points: P) -> Points<P> {
        Points { points, next_page_offset: None }
    }
}
