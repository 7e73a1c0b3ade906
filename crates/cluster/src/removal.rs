//! A removed peer stops (design record 031). A peer learns that it was removed from its own
//! applied state (the cluster committed `RemovePeer` for it and it is no voter any more), or,
//! since it may never receive the membership change that drops it (the leader stops
//! replicating to it at once; it may have been down), by asking the other peers while it hears
//! from no leader. Then it stops its Raft (no elections, no term inflation), remembers the
//! removal across restarts, and every call that needs consensus fails with a clear error.

use crate::consensus::{ClusterCall, ClusterReply, Consensus};
use crate::raft::state_machine::AppliedState;
use quiver_types::PeerId;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Marks a removed peer in its Raft directory (the peer stays stopped across restarts).
const REMOVED_FILE: &str = "removed";
/// How often a peer that hears from no leader asks the others whether it was removed.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// How long one such question may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// What a removed peer reports (`GET /cluster`) and answers to calls that need consensus.
pub(crate) fn removed_message(peer_id: PeerId) -> String {
    format!(
        "this peer (id {peer_id}) was removed from the cluster (DELETE /cluster/peer/{peer_id}): its consensus is \
         stopped; it accepts no writes and serves no collection data. To join the cluster again, start it with an \
         empty storage and --bootstrap"
    )
}

/// Whether this peer's Raft directory records that it was removed.
fn removed_on_disk(dir: &Path) -> bool {
    dir.join(REMOVED_FILE).exists()
}

/// Whether `applied` says that `peer` is removed: its `RemovePeer` committed and it is no voter
/// (while a removal is under way it still votes, and may be needed to commit its own removal).
fn removal_applied(applied: &AppliedState, peer: PeerId) -> bool {
    applied.state.removed_peers.contains(&peer) && !applied.membership.voter_ids().any(|v| v == peer)
}

impl Consensus {
    /// At start: stops consensus at once if this peer was removed before (its Raft directory
    /// says so); whether it did.
    pub(crate) async fn stop_if_removed_before(&self) -> bool {
        if !removed_on_disk(&self.config().dir) {
            return false;
        }
        self.stop_as_removed("it was removed before this start").await;
        true
    }

    /// Whether the removal of `peer` is done as far as this peer knows, waiting up to `within`
    /// for it to be applied here (this peer itself: whether it stopped as removed).
    pub(crate) async fn removal_done(&self, peer: PeerId, within: Duration) -> bool {
        if peer == self.peer_id() {
            return self.removed().is_some();
        }
        let mut states = self.subscribe();
        let applied = async {
            loop {
                if removal_applied(&states.borrow_and_update(), peer) {
                    return true;
                }
                if states.changed().await.is_err() {
                    return false;
                }
            }
        };
        tokio::time::timeout(within, applied).await.unwrap_or(false)
    }

    /// Why this peer takes no part in consensus any more: it was removed from the cluster.
    pub fn removed(&self) -> Option<String> {
        self.removed.lock().clone()
    }

    /// Whether the cluster removed `peer` (its requests are refused, design record 031).
    pub fn is_removed_peer(&self, peer: PeerId) -> bool {
        self.state().state.removed_peers.contains(&peer)
    }

    /// The answer to a peer asking whether it was removed, from this peer's applied state.
    pub(crate) fn membership_of(&self, peer: PeerId) -> ClusterReply {
        let applied = self.state();
        ClusterReply::Membership { removed: removal_applied(&applied, peer), applied: applied.applied_index() }
    }

    /// Stops Raft for good: this peer was removed from the cluster.
    pub(crate) async fn stop_as_removed(&self, how: &str) {
        let message = removed_message(self.peer_id());
        tracing::warn!(peer_id = self.peer_id(), how, "this peer was removed from the cluster: stopping its consensus");
        if let Err(e) = std::fs::write(self.config().dir.join(REMOVED_FILE), &message) {
            tracing::warn!(error = %e, "cannot record the removal on disk");
        }
        *self.removed.lock() = Some(message);
        if let Err(e) = self.raft().shutdown().await {
            tracing::warn!(error = %e, "raft shutdown failed");
        }
    }

    /// Watches for this peer's removal until it is removed or `self` is dropped: on every newly
    /// applied state, and every `PROBE_EVERY` while no leader is heard (asking the other peers).
    pub(crate) fn spawn_removal_watch(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let mut states = self.subscribe();
        tokio::spawn(async move {
            loop {
                let Some(consensus) = weak.upgrade() else { return };
                if consensus.removed().is_some() {
                    return;
                }
                if removal_applied(&consensus.state(), consensus.peer_id()) {
                    consensus.stop_as_removed("its own applied state says so").await;
                    return;
                }
                if !consensus.in_contact() && consensus.removal_confirmed_by_others().await {
                    consensus.stop_as_removed("another peer says so").await;
                    return;
                }
                drop(consensus);
                if let Ok(Err(_)) = tokio::time::timeout(PROBE_EVERY, states.changed()).await {
                    return;
                }
            }
        });
    }

    /// Asks every peer this peer knows whether it was removed. Only an answer from a peer that
    /// applied more than this one counts (a lagging peer may not know of a later re-join).
    async fn removal_confirmed_by_others(&self) -> bool {
        let applied = self.state();
        let me = self.peer_id();
        let mut targets: BTreeSet<String> =
            applied.state.peers.iter().filter(|(id, _)| **id != me).map(|(_, p)| p.uri.clone()).collect();
        targets.extend(applied.membership.nodes().filter(|(id, _)| **id != me).map(|(_, n)| n.addr.clone()));
        let call = ClusterCall::MembershipOf { peer_id: me };
        let asks = targets.iter().map(|uri| self.call_remote_within(uri, &call, PROBE_TIMEOUT));
        let answers = futures::future::join_all(asks).await;
        answers.into_iter().any(|answer| match answer {
            Ok(ClusterReply::Membership { removed, applied: theirs }) => removed && theirs > applied.applied_index(),
            Ok(_) | Err(_) => false,
        })
    }
}
