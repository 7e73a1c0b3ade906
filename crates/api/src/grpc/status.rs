//! Errors at the gRPC edge: node errors and REST-layer validation errors become `tonic::Status`
//! with the same message REST puts in its envelope (spec §0.2 rows → gRPC codes).

use crate::error::ApiError;
use axum::http::StatusCode;
use quiver_node::NodeError;
use tonic::{Code, Status};

/// The gRPC status of a node error; the message is the REST message.
pub fn from_node(e: NodeError) -> Status {
    let code = match &e {
        NodeError::BadInput(_)
        | NodeError::BadRequest(_)
        | NodeError::Validation(_)
        | NodeError::ChecksumMismatch { .. } => Code::InvalidArgument,
        NodeError::Forbidden(_) => Code::PermissionDenied,
        NodeError::NotFound(_) => Code::NotFound,
        NodeError::AlreadyExists(_) => Code::AlreadyExists,
        NodeError::StandaloneMode => Code::FailedPrecondition,
        NodeError::Timeout(_) => Code::DeadlineExceeded,
        NodeError::ShardUnavailable(_) | NodeError::RemovedFromCluster(_) => Code::Unavailable,
        NodeError::Service(_) => Code::Internal,
        NodeError::RateLimited { .. } => Code::ResourceExhausted,
    };
    Status::new(code, e.to_string())
}

/// The gRPC status of an error raised by the shared REST validation (an `ApiError` carries only
/// the HTTP status and message, so the code follows the HTTP status of spec §0.2).
pub fn from_api(e: ApiError) -> Status {
    let code = match e.status {
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => Code::InvalidArgument,
        StatusCode::NOT_FOUND => Code::NotFound,
        StatusCode::CONFLICT => Code::AlreadyExists,
        StatusCode::METHOD_NOT_ALLOWED => Code::FailedPrecondition,
        StatusCode::REQUEST_TIMEOUT => Code::DeadlineExceeded,
        StatusCode::SERVICE_UNAVAILABLE => Code::Unavailable,
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::TOO_MANY_REQUESTS => Code::ResourceExhausted,
        StatusCode::UNAUTHORIZED => Code::Unauthenticated,
        StatusCode::FORBIDDEN => Code::PermissionDenied,
        _ => Code::Internal,
    };
    Status::new(code, e.message)
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Self {
        from_api(e)
    }
}

/// A request field that gRPC requires but the message left unset.
pub fn missing(field: &str) -> Status {
    Status::invalid_argument(format!("Wrong input: `{field}` is required"))
}

/// An RPC whose feature has not landed yet: `Unimplemented` with a message naming it.
pub fn unimplemented(feature: &str) -> Status {
    Status::unimplemented(format!("{feature} is not implemented yet"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_errors_map_to_codes_with_rest_messages() {
        let s = from_node(NodeError::collection_not_found("c"));
        assert_eq!(s.code(), Code::NotFound);
        assert_eq!(s.message(), "Not found: Collection `c` doesn't exist!");
        assert_eq!(from_node(NodeError::AlreadyExists("c".into())).code(), Code::AlreadyExists);
        assert_eq!(from_node(NodeError::Timeout("t".into())).code(), Code::DeadlineExceeded);
        assert_eq!(from_node(NodeError::ShardUnavailable("s".into())).code(), Code::Unavailable);
        assert_eq!(from_node(NodeError::Service("x".into())).code(), Code::Internal);
        assert_eq!(from_node(NodeError::Validation("v".into())).code(), Code::InvalidArgument);
    }

    #[test]
    fn api_errors_follow_their_http_status() {
        let s = from_api(ApiError::validation("limit: value 0 invalid, must be 1 or larger"));
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(s.message().starts_with("Validation error in JSON body"));
        assert_eq!(from_api(ApiError::from(NodeError::Timeout("t".into()))).code(), Code::DeadlineExceeded);
    }
}
