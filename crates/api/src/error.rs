//! API errors: every failure becomes Qdrant's error envelope with the status of spec §0.2.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use quiver_node::NodeError;

/// A failed request: status and complete message.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Seconds for the `Retry-After` header (429).
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into(), retry_after_s: None }
    }

    /// 400 for a body that is not the expected JSON.
    pub fn format(e: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, format!("Format error in JSON body: {e}"))
    }

    /// 422 for a body that breaks a validation rule.
    pub fn validation(e: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("Validation error in JSON body: [{e}]"))
    }

    /// This error, if it is a validation error (422) of a field of a struct that Qdrant's body
    /// nests in the field `parent` (flattened in its JSON, named in its validation paths): the
    /// path starts with `parent.` (`internal.limit` for `POST …/points/query`).
    pub fn within(self, parent: &str) -> ApiError {
        const PREFIX: &str = "Validation error in JSON body: [";
        match (self.status, self.message.strip_prefix(PREFIX)) {
            (StatusCode::UNPROCESSABLE_ENTITY, Some(issue)) => {
                ApiError { message: format!("{PREFIX}{parent}.{issue}"), ..self }
            }
            _ => self,
        }
    }

    /// 400 `Bad request: `.
    pub fn bad_request(e: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, format!("Bad request: {e}"))
    }

    /// 400 `Wrong input: `.
    pub fn bad_input(e: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, format!("Wrong input: {e}"))
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        let status = match &e {
            NodeError::BadInput(_) | NodeError::BadRequest(_) | NodeError::ChecksumMismatch { .. } => {
                StatusCode::BAD_REQUEST
            }
            NodeError::Forbidden(_) | NodeError::Locked(_) => StatusCode::FORBIDDEN,
            NodeError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            NodeError::NotFound(_) => StatusCode::NOT_FOUND,
            NodeError::AlreadyExists(_) => StatusCode::CONFLICT,
            NodeError::StandaloneMode => StatusCode::METHOD_NOT_ALLOWED,
            NodeError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            NodeError::ShardUnavailable(_) | NodeError::RemovedFromCluster(_) => StatusCode::SERVICE_UNAVAILABLE,
            NodeError::Service(_) => StatusCode::INTERNAL_SERVER_ERROR,
            NodeError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        };
        let retry_after_s = if let NodeError::RateLimited { retry_after_s, .. } = &e { *retry_after_s } else { None };
        ApiError { retry_after_s, ..ApiError::new(status, e.to_string()) }
    }
}

impl From<quiver_types::TypesError> for ApiError {
    fn from(e: quiver_types::TypesError) -> Self {
        ApiError::from(NodeError::from(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"status": {"error": self.message}, "time": 0.0});
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after_s {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(seconds));
        }
        response
    }
}
