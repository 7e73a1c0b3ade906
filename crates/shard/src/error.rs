//! The one error enum of the shard crate.

use quiver_storage::StorageError;

/// Why a shard operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    /// A storage primitive failed (IO, corruption).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The request is invalid for this shard's data (HTTP 400).
    #[error("{0}")]
    BadInput(String),
}

impl ShardError {
    /// Whether retrying the same call may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            ShardError::Storage(e) => e.is_transient(),
            ShardError::BadInput(_) => false,
        }
    }
}

impl From<quiver_types::TypesError> for ShardError {
    fn from(e: quiver_types::TypesError) -> Self {
        ShardError::BadInput(e.to_string())
    }
}

pub type Result<T, E = ShardError> = std::result::Result<T, E>;
