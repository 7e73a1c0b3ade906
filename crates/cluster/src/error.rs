//! The one error enum of the cluster crate.

use crate::state::MetaError;

/// Why a control-plane call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No leader within the timeout (spec §2: `Failed to propose operation: leader is not established within …`).
    #[error("Failed to propose operation: leader is not established within {0} secs")]
    NoLeader(u64),
    /// The entry was not committed and applied within the timeout.
    #[error("Waiting for consensus operation commit failed. Timeout set at: {0} seconds")]
    Timeout(u64),
    /// The state machine refused the operation (validation inside apply).
    #[error("{0}")]
    Refused(MetaError),
    /// Talking to another peer failed.
    #[error("{0}")]
    Transport(String),
    /// Raft itself failed (storage, shutdown).
    #[error("consensus error: {0}")]
    Raft(String),
    /// Bad arguments (e.g. removing an unknown peer).
    #[error("{0}")]
    BadRequest(String),
    /// The peer asked to commit is not the leader (any more); transient.
    #[error("this peer is not the Raft leader")]
    NotLeader,
    /// The cluster refused to let this peer join (its URI belongs to a peer that holds replicas).
    #[error("{0}")]
    JoinRefused(String),
    /// This peer was removed from the cluster: its consensus is stopped (design record 031).
    #[error("{0}")]
    Removed(String),
}

impl ClusterError {
    /// Whether retrying the same call may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            ClusterError::NoLeader(_)
            | ClusterError::Timeout(_)
            | ClusterError::Transport(_)
            | ClusterError::NotLeader => true,
            ClusterError::Refused(_)
            | ClusterError::Raft(_)
            | ClusterError::BadRequest(_)
            | ClusterError::JoinRefused(_)
            | ClusterError::Removed(_) => false,
        }
    }
}
