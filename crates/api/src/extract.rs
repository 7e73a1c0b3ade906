//! Extractors that fail with Qdrant's messages: JSON bodies (400 format errors), query strings
//! (400 deserialize errors) and the request start time.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use std::time::Instant;

/// A JSON body parsed with serde_json; malformed or mistyped → 400 `Format error in JSON body`.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = RawJsonBody::from_request(req, state).await?.0;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(ApiError::format)
    }
}

/// A JSON body's bytes, for a handler that decodes them itself; refused as [`JsonBody`] refuses
/// a body it cannot read.
pub struct RawJsonBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawJsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            let status = e.status();
            ApiError::new(status, format!("Format error in JSON body: {}", e.body_text()))
        })?;
        Ok(RawJsonBody(bytes))
    }
}

/// A JSON body that may be empty (an empty body gives `None`).
pub struct OptionalJsonBody<T>(pub Option<T>);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            let status = e.status();
            ApiError::new(status, format!("Format error in JSON body: {}", e.body_text()))
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(None));
        }
        serde_json::from_slice(&bytes).map(|v| OptionalJsonBody(Some(v))).map_err(ApiError::format)
    }
}

/// Query-string parameters; bad values → 400 `Deserialize error in query parameters`.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::try_from_uri(&parts.uri).map(|q| Params(q.0)).map_err(|e| {
            ApiError::new(StatusCode::BAD_REQUEST, format!("Deserialize error in query parameters: {}", e.body_text()))
        })
    }
}

/// The moment the handler started, for the envelope's `time`.
pub struct Started(pub Instant);

impl<S: Send + Sync> FromRequestParts<S> for Started {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(_parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Started(Instant::now()))
    }
}

/// Reads the whole request body before the handler runs, so a request refused before its body
/// is parsed (bad query parameters) does not leave unread bytes behind: closing a connection
/// with unread input resets it, and the client would lose the answer.
pub async fn buffer_body(
    axum::extract::State(limit_bytes): axum::extract::State<usize>,
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, limit_bytes).await {
        Ok(bytes) => next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await,
        Err(e) => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("Format error in JSON body: {e}")).into_response()
        }
    }
}
