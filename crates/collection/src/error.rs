//! The one error enum of the collection crate; its kinds follow spec §0.2. It is also the
//! refusal a replica sends back to another peer (the shard protocol's replies carry it typed,
//! so an error raised where the data lives reaches the client unchanged whichever peer the
//! request entered, and no decision is made by matching message text).

use quiver_shard::ShardError;
use quiver_types::{PeerId, SeqNo, ShardId};
use serde::{Deserialize, Serialize};

/// Why a collection operation failed. Each variant maps to one HTTP status in the API layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum CollectionError {
    /// Invalid data for this collection (400 `Wrong input: `).
    #[error("{0}")]
    BadInput(String),
    /// A request this collection cannot serve as asked (400 `Bad request: `).
    #[error("{0}")]
    BadRequest(String),
    /// A validation rule was broken (422).
    #[error("{0}")]
    Validation(String),
    /// A point or other object does not exist (404 `Not found: `).
    #[error("{0}")]
    NotFound(String),
    /// `peer` is not the primary of `shard_id` in the view of the replica that refused (its
    /// primary: `primary`); the caller retries with the primary once views agree (503).
    #[error("peer {peer} is not the primary of shard {shard_id} here (primary: {})", describe_peer(*primary))]
    NotPrimary { shard_id: ShardId, peer: PeerId, primary: Option<PeerId> },
    /// The replica may not serve reads (yet): not `Active` in its own view, not confirmed current,
    /// or cut off from the cluster; the caller tries another replica (503).
    #[error("replica of shard {shard_id} is not readable here: {reason}")]
    NotReadable { shard_id: ShardId, reason: String },
    /// The shard cannot serve the request right now (503).
    #[error("{0}")]
    ShardUnavailable(String),
    /// Calling `peer` failed: it could not be reached or did not answer in time (503). Raised
    /// by the caller's transport, so it always names the peer that was called.
    #[error("{message}")]
    Unreachable { peer: PeerId, message: String },
    /// Nothing listens at `peer`'s address: its process is not running (503). Raised by the
    /// caller's transport (a refused connection), so it always names the peer that was called.
    #[error("{message}")]
    PeerDown { peer: PeerId, message: String },
    /// The operation did not finish in time (408).
    #[error("{0}")]
    Timeout(String),
    /// Replica `peer` of `shard_id` holds a different record at `seq`, or cannot show it holds
    /// the same one (design record 003 §3): it must be recovered by a copy (500).
    #[error("replica {peer} of shard {shard_id} diverged at {seq}")]
    Diverged { shard_id: ShardId, peer: PeerId, seq: SeqNo },
    /// Anything else (500 `Service internal error: `).
    #[error("{0}")]
    Service(String),
}

fn describe_peer(peer: Option<PeerId>) -> String {
    peer.map_or_else(|| "none".to_string(), |p| p.to_string())
}

impl CollectionError {
    /// Whether retrying the same call may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            CollectionError::NotPrimary { .. }
            | CollectionError::NotReadable { .. }
            | CollectionError::ShardUnavailable(_)
            | CollectionError::Unreachable { .. }
            | CollectionError::PeerDown { .. }
            | CollectionError::Timeout(_)
            | CollectionError::Diverged { .. }
            | CollectionError::Service(_) => true,
            CollectionError::BadInput(_)
            | CollectionError::BadRequest(_)
            | CollectionError::Validation(_)
            | CollectionError::NotFound(_) => false,
        }
    }
}

impl From<ShardError> for CollectionError {
    fn from(e: ShardError) -> Self {
        match e {
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
