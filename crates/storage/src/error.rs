//! The one error enum of the storage crate.

use std::path::PathBuf;

/// What can go wrong below a shard: IO, corrupt files, encoding, or bad input in an operation.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An IO call failed; `context` names the action ("open WAL segment").
    #[error("{context} ({path}): {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file's content failed its checksum, version or format check.
    #[error("corrupt storage: {0}")]
    Corrupt(String),
    /// A record could not be encoded or decoded.
    #[error("encoding error: {0}")]
    Encoding(String),
    /// The embedded point store failed.
    #[error("point store error: {0}")]
    Store(String),
    /// The operation is invalid for this data (maps to HTTP 400 `Wrong input`).
    #[error("{0}")]
    BadInput(String),
    /// The vector index failed (usearch reported an error).
    #[error("vector index error: {0}")]
    Index(String),
}

impl StorageError {
    /// Builds an IO error with its action and path.
    pub fn io(context: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StorageError::Io { context, path: path.into(), source }
    }

    /// Whether retrying the same call may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            StorageError::Io { .. } => true,
            StorageError::Corrupt(_)
            | StorageError::Encoding(_)
            | StorageError::Store(_)
            | StorageError::BadInput(_)
            | StorageError::Index(_) => false,
        }
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;
