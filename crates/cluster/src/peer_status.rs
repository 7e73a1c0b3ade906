//! Each peer's consensus status for cluster telemetry (`GET /cluster/telemetry`): this peer's
//! from its own Raft, another's by asking it (`ClusterCall::Status`).

use crate::consensus::{ClusterCall, ClusterReply, Consensus, PeerStatus};
use crate::error::ClusterError;
use std::time::Duration;

impl Consensus {
    /// This peer's consensus status.
    pub fn own_status(&self) -> PeerStatus {
        let info = self.raft_info();
        PeerStatus {
            version: self.config().version.clone(),
            term: info.term,
            commit: info.commit,
            pending_operations: info.pending_operations,
            role: info.role.map(str::to_string),
            is_voter: info.is_voter,
            stopped_with: self.running().err(),
        }
    }

    /// The consensus status of the peer at `uri`, asked within `timeout`.
    pub async fn peer_status(&self, uri: &str, timeout: Duration) -> Result<PeerStatus, ClusterError> {
        match self.call_remote_within(uri, &ClusterCall::Status, timeout).await? {
            ClusterReply::Status(status) => Ok(status),
            ClusterReply::Failed { message } | ClusterReply::Refused { message } => {
                Err(ClusterError::Transport(message))
            }
            other @ (ClusterReply::Applied { .. }
            | ClusterReply::Peers { .. }
            | ClusterReply::Commit { .. }
            | ClusterReply::NotLeader
            | ClusterReply::Membership { .. }) => Err(ClusterError::Transport(format!("unexpected reply {other:?}"))),
        }
    }
}
