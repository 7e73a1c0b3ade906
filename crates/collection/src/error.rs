//! The one error enum of the collection crate; its kinds follow spec §0.2.

use quiver_shard::ShardError;

/// Why a collection operation failed. Each variant maps to one HTTP status in the API layer.
#[derive(Debug, thiserror::Error)]
pub enum CollectionError {
    /// Invalid data for this collection (400 `Wrong input: `).
    #[error("{0}")]
    BadInput(String),
    /// A validation rule was broken (422).
    #[error("{0}")]
    Validation(String),
    /// A point or other object does not exist (404 `Not found: `).
    #[error("{0}")]
    NotFound(String),
    /// The shard cannot serve the request right now (503).
    #[error("{0}")]
    ShardUnavailable(String),
    /// The peer holding a replica is not running (its connection was refused) (503).
    #[error("{0}")]
    PeerDown(String),
    /// The operation did not finish in time (408).
    #[error("{0}")]
    Timeout(String),
    /// Anything else (500 `Service internal error: `).
    #[error("{0}")]
    Service(String),
}

impl CollectionError {
    /// Whether retrying the same call may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            CollectionError::ShardUnavailable(_)
            | CollectionError::PeerDown(_)
            | CollectionError::Timeout(_)
            | CollectionError::Service(_) => true,
            CollectionError::BadInput(_) | CollectionError::Validation(_) | CollectionError::NotFound(_) => false,
        }
    }
}

impl From<ShardError> for CollectionError {
    fn from(e: ShardError) -> Self {
        match e {
            ShardError::PointNotFound(_) => CollectionError::NotFound(e.to_string()),
            ShardError::BadInput(m) => CollectionError::BadInput(m),
            ShardError::Storage(s) => CollectionError::Service(s.to_string()),
        }
    }
}

impl From<quiver_types::TypesError> for CollectionError {
    fn from(e: quiver_types::TypesError) -> Self {
        match e {
            quiver_types::TypesError::BadInput(m) => CollectionError::BadInput(m),
            quiver_types::TypesError::Validation(m) => CollectionError::Validation(m),
        }
    }
}

pub type Result<T, E = CollectionError> = std::result::Result<T, E>;
