//! Automatic recovery (DESIGN §3.5): a peer whose replica is `Dead` asks for a transfer from the
//! shard's primary through Raft (`Partial` target), copies the shard (`Collection::pull_shard`)
//! while ordered writes keep arriving, and finishes the transfer (`Active`) — or aborts it
//! (`Dead` again, retried later).

use crate::node::Node;
use quiver_cluster::state::MetaOperation;
use quiver_types::ShardId;
use quiver_types::cluster::{ShardTransfer, TransferMethod};
use quiver_types::replica::ReplicaState;
use std::sync::Arc;
use std::time::Duration;

const TRANSFER_PROPOSAL_TIMEOUT: Duration = Duration::from_secs(5);

impl Node {
    /// Proposes one transfer for a local `Dead` replica (one at a time per peer).
    pub(crate) async fn recover_dead_replicas(&self) {
        let Some(cluster) = self.cluster() else { return };
        if !cluster.consensus.in_contact() || !self.transfers.lock().is_empty() {
            return;
        }
        let me = self.peer_id();
        let state = cluster.consensus.state().state.clone();
        for (name, meta) in &state.collections {
            for (shard_id, replicas) in &meta.shards {
                if replicas.get(&me) != Some(&ReplicaState::Dead)
                    || meta.transfers.iter().any(|t| t.shard_id == *shard_id)
                {
                    continue;
                }
                let has_local =
                    self.resolve(name).is_ok_and(|c| c.replica_set(*shard_id).is_ok_and(|s| s.local().is_some()));
                let source =
                    replicas.iter().filter(|(p, s)| **p != me && **s == ReplicaState::Active).map(|(p, _)| *p).max();
                let (true, Some(source)) = (has_local, source) else { continue };
                let transfer = ShardTransfer {
                    shard_id: *shard_id,
                    from: source,
                    to: me,
                    sync: true,
                    method: Some(TransferMethod::StreamRecords),
                };
                let op = MetaOperation::StartTransfer { collection: name.clone(), transfer };
                match self.propose(op, Some(TRANSFER_PROPOSAL_TIMEOUT)).await {
                    Ok(_) => tracing::info!(collection = %name, shard_id, source, "recovering a Dead replica"),
                    Err(e) => tracing::debug!(collection = %name, shard_id, error = %e, "recovery not started"),
                }
                return;
            }
        }
    }

    /// Runs the transfer into this peer's replica of `shard_id` of `name` (in the background).
    pub(crate) fn run_incoming_transfer(&self, name: &str, shard_id: ShardId, source: u64) {
        let key = (name.to_string(), shard_id);
        if !self.transfers.lock().insert(key.clone()) {
            return;
        }
        let node = self.weak_self();
        let name = name.to_string();
        tokio::spawn(async move {
            let Some(node) = node.upgrade() else { return };
            let outcome = match node.resolve(&name) {
                Ok(collection) => collection.pull_shard(shard_id, source).await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let me = node.peer_id();
            let op = match &outcome {
                Ok(points) => {
                    tracing::info!(collection = %name, shard_id, points, "transfer copied; finishing");
                    MetaOperation::FinishTransfer { collection: name.clone(), shard_id, from: source, to: me }
                }
                Err(e) => {
                    tracing::warn!(collection = %name, shard_id, error = %e, "transfer failed; aborting");
                    MetaOperation::AbortTransfer {
                        collection: name.clone(),
                        shard_id,
                        from: source,
                        to: me,
                        reason: e.clone(),
                    }
                }
            };
            if let Err(e) = node.propose(op, Some(TRANSFER_PROPOSAL_TIMEOUT)).await {
                tracing::warn!(collection = %name, shard_id, error = %e, "recording the transfer's end failed");
            }
            node.transfers.lock().remove(&key);
        });
    }
}

/// Incoming transfers in flight on this peer: (collection, shard).
pub(crate) type Transfers = Arc<parking_lot::Mutex<std::collections::HashSet<(String, ShardId)>>>;
