//! The one error enum of the node crate; each variant is one row of spec §0.2.

use quiver_collection::CollectionError;

/// Why a node service call failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// 400 `Wrong input: `.
    #[error("Wrong input: {0}")]
    BadInput(String),
    /// 400 `Bad request: `.
    #[error("Bad request: {0}")]
    BadRequest(String),
    /// 422 validation failure; the message is complete.
    #[error("{0}")]
    Validation(String),
    /// 404 `Not found: `.
    #[error("Not found: {0}")]
    NotFound(String),
    /// 409 for an existing collection.
    #[error("Wrong input: Collection `{0}` already exists!")]
    AlreadyExists(String),
    /// 405: a cluster operation on a standalone node.
    #[error("Qdrant is running in standalone mode")]
    StandaloneMode,
    /// 408.
    #[error("Timeout: {0}")]
    Timeout(String),
    /// 503.
    #[error("Shard temporarily unavailable: {0}")]
    ShardUnavailable(String),
    /// 403 `Forbidden: `.
    #[error("Forbidden: {0}")]
    Forbidden(String),
    /// 403 while the write lock of `POST /locks` is set.
    #[error("Storage locked: {0}")]
    Locked(String),
    /// 400: a snapshot's sha256 differs from the one the client gave.
    #[error("Checksum mismatch: expected {expected}, actual {actual}")]
    ChecksumMismatch { expected: String, actual: String },
    /// 429 (strict mode's read and write rate limits), with `Retry-After` unless the request
    /// costs more than the limit's whole bucket and so can never pass.
    #[error("Rate limiting exceeded: {message}")]
    RateLimited { message: String, retry_after_s: Option<u64> },
    /// 500.
    #[error("Service internal error: {0}")]
    Service(String),
    /// 503: this peer was removed from the cluster (design record 031); the message is complete.
    #[error("{0}")]
    RemovedFromCluster(String),
}

impl NodeError {
    pub fn collection_not_found(name: &str) -> NodeError {
        NodeError::NotFound(format!("Collection `{name}` doesn't exist!"))
    }

    /// Whether retrying the same call may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            NodeError::Timeout(_)
            | NodeError::ShardUnavailable(_)
            | NodeError::Service(_)
            | NodeError::RateLimited { .. } => true,
            NodeError::BadInput(_)
            | NodeError::BadRequest(_)
            | NodeError::Validation(_)
            | NodeError::NotFound(_)
            | NodeError::AlreadyExists(_)
            | NodeError::Forbidden(_)
            | NodeError::Locked(_)
            | NodeError::ChecksumMismatch { .. }
            | NodeError::StandaloneMode
            | NodeError::RemovedFromCluster(_) => false,
        }
    }
}

impl From<CollectionError> for NodeError {
    fn from(e: CollectionError) -> Self {
        match e {
            CollectionError::BadInput(m) => NodeError::BadInput(m),
            CollectionError::BadRequest(m) => NodeError::BadRequest(m),
            CollectionError::Validation(m) => NodeError::Validation(quiver_types::validation::json_body(m)),
            CollectionError::NotFound(m) => NodeError::NotFound(m),
            e @ (CollectionError::NotPrimary { .. } | CollectionError::NotReadable { .. }) => {
                NodeError::ShardUnavailable(e.to_string())
            }
            CollectionError::ShardUnavailable(message)
            | CollectionError::Unreachable { message, .. }
            | CollectionError::PeerDown { message, .. } => NodeError::ShardUnavailable(message),
            CollectionError::Timeout(m) => NodeError::Timeout(m),
            e @ CollectionError::Diverged { .. } => NodeError::Service(e.to_string()),
            CollectionError::Service(m) => NodeError::Service(m),
        }
    }
}

impl From<quiver_types::TypesError> for NodeError {
    fn from(e: quiver_types::TypesError) -> Self {
        NodeError::from(CollectionError::from(e))
    }
}

pub type Result<T, E = NodeError> = std::result::Result<T, E>;
