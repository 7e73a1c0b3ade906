//! Errors at the gRPC edge: node errors and REST-layer validation errors become `tonic::Status`
//! with the same message REST puts in its envelope (spec §0.2 rows → gRPC codes).

use crate::error::ApiError;
use axum::http::StatusCode;
use quiver_node::NodeError;
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

/// The gRPC status of a node error; the message is the REST message. A rate limit carries its
/// wait in `retry-after` metadata (whole seconds), as REST's `Retry-After` header does: clients
/// (qdrant-client's uploaders) wait that long before they retry.
pub fn from_node(e: NodeError) -> Status {
    let (code, retry_after_s) = match &e {
        NodeError::BadInput(_) | NodeError::BadRequest(_) | NodeError::Validation(_) => (Code::InvalidArgument, None),
        NodeError::ChecksumMismatch { .. } => (Code::DataLoss, None),
        NodeError::Forbidden(_) | NodeError::Locked(_) => (Code::PermissionDenied, None),
        NodeError::NotFound(_) => (Code::NotFound, None),
        NodeError::AlreadyExists(_) => (Code::AlreadyExists, None),
        NodeError::StandaloneMode => (Code::FailedPrecondition, None),
        NodeError::Timeout(_) => (Code::DeadlineExceeded, None),
        NodeError::ShardUnavailable(_) | NodeError::RemovedFromCluster(_) => (Code::Unavailable, None),
        NodeError::Service(_) => (Code::Internal, None),
        NodeError::RateLimited { retry_after_s, .. } => (Code::ResourceExhausted, *retry_after_s),
    };
    with_retry_after(Status::new(code, grpc_message(e.to_string())), retry_after_s)
}

/// A validation message as Qdrant's gRPC edge words it: a gRPC request has one body and no
/// path or query string, so REST's `Validation error in JSON body`/`… in path parameters` is
/// `Validation error in body` there (Qdrant's `basic_grpc_test.sh` looks for those words).
fn grpc_message(message: String) -> String {
    const REST_PREFIXES: [&str; 3] = [
        "Validation error in JSON body",
        "Validation error in path parameters",
        "Validation error in query parameters",
    ];
    match REST_PREFIXES.iter().find_map(|prefix| message.strip_prefix(prefix)) {
        Some(rest) => format!("Validation error in body{rest}"),
        None => message,
    }
}

fn with_retry_after(mut status: Status, retry_after_s: Option<u64>) -> Status {
    if let Some(seconds) = retry_after_s {
        status.metadata_mut().insert("retry-after", MetadataValue::from(seconds));
    }
    status
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
    with_retry_after(Status::new(code, grpc_message(e.message)), e.retry_after_s)
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
        let path = from_node(NodeError::Validation("Validation error in path parameters: [name: x]".into()));
        assert_eq!(path.message(), "Validation error in body: [name: x]");
    }

    #[test]
    fn a_rate_limit_carries_its_wait_and_a_checksum_mismatch_is_data_loss() {
        let s =
            from_node(NodeError::RateLimited { message: "write rate limit exceeded".into(), retry_after_s: Some(7) });
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert_eq!(s.metadata().get("retry-after").and_then(|v| v.to_str().ok()), Some("7"));
        assert!(from_node(NodeError::Timeout("t".into())).metadata().get("retry-after").is_none());
        let e = NodeError::ChecksumMismatch { expected: "a".into(), actual: "b".into() };
        assert_eq!(from_node(e).code(), Code::DataLoss);
    }

    #[test]
    fn api_errors_follow_their_http_status() {
        let s = from_api(ApiError::validation("limit: value 0 invalid, must be 1 or larger"));
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(s.message(), "Validation error in body: [limit: value 0 invalid, must be 1 or larger]");
        assert_eq!(from_api(ApiError::from(NodeError::Timeout("t".into()))).code(), Code::DeadlineExceeded);
        let limited = from_api(ApiError::from(NodeError::RateLimited { message: "m".into(), retry_after_s: Some(3) }));
        assert_eq!(limited.code(), Code::ResourceExhausted);
        assert_eq!(limited.metadata().get("retry-after").and_then(|v| v.to_str().ok()), Some("3"));
    }
}
