//! A graceful stop in cluster mode (design record 012 §6): before its servers stop, a peer
//! deactivates its own `Active` replicas wherever another `Active` replica exists, so the
//! primary role of its shards passes to the others, writes stop waiting for it, and no request
//! fails while it restarts; it stops recovering replicas meanwhile. After the restart its
//! replicas recover from the others' WAL (`wal_delta`) and serve again once `Active`.

use crate::node::Node;
use quiver_cluster::state::MetaOperation;
use quiver_types::replica::ReplicaState;
use quiver_types::{PeerId, ShardId};
use std::sync::atomic::Ordering;
use std::time::Duration;

impl Node {
    /// Whether this node is stopping (it recovers nothing any more).
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Hands this peer's shards to the other replicas (within `timeout`); returns how many
    /// replicas it deactivated. A shard whose other replicas are still being recovered (the
    /// previous peer of a rolling restart is catching up) is handed off once one of them is
    /// `Active`; a replica that is still a shard's only `Active` one at the deadline stays (its
    /// shard is unavailable while this peer restarts).
    pub async fn hand_off_replicas(&self, timeout: Duration) -> usize {
        self.stopping.store(true, Ordering::Release);
        let Some(cluster) = self.cluster() else { return 0 };
        let me = self.peer_id();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut states = cluster.consensus.subscribe();
        let mut handed = 0;
        loop {
            let (ready, waiting) = handoff_plan(&cluster.consensus.state(), me);
            for (name, shard_id) in ready {
                let op = MetaOperation::SetReplicaState {
                    collection: name.clone(),
                    shard_id,
                    peer_id: me,
                    state: ReplicaState::Dead,
                    from_state: Some(ReplicaState::Active),
                };
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                match self.propose(op, Some(left)).await {
                    Ok(_) => handed += 1,
                    Err(e) => tracing::warn!(collection = %name, shard_id, error = %e, "handing a replica off failed"),
                }
            }
            if waiting == 0 || tokio::time::timeout_at(deadline, states.changed()).await.is_err() {
                if waiting > 0 {
                    tracing::warn!(shards = waiting, "stopping while some shards have no other Active replica");
                }
                break;
            }
        }
        tracing::info!(replicas = handed, "replicas handed off to the other peers before stopping");
        handed
    }
}

/// This peer's `Active` replicas that another `Active` replica can take over now, and how many
/// more wait for another replica of their shard that is being recovered.
fn handoff_plan(state: &quiver_cluster::AppliedState, me: PeerId) -> (Vec<(String, ShardId)>, usize) {
    let mut ready = Vec::new();
    let mut waiting = 0;
    for (name, meta) in &state.state.collections {
        for (shard_id, replicas) in &meta.shards {
            if replicas.get(&me) != Some(&ReplicaState::Active) {
                continue;
            }
            let others: Vec<ReplicaState> = replicas.iter().filter(|(p, _)| **p != me).map(|(_, s)| *s).collect();
            if others.contains(&ReplicaState::Active) {
                ready.push((name.clone(), *shard_id));
            } else if !others.is_empty() {
                waiting += 1;
            }
        }
    }
    (ready, waiting)
}
