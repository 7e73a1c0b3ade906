//! A graceful stop in cluster mode (design record 012 §6): before its servers stop, a peer
//! deactivates its own `Active` replicas wherever another `Active` replica exists, so the
//! primary role of its shards passes to the others, writes stop waiting for it, and no request
//! fails while it restarts; it stops recovering replicas meanwhile. After the restart its
//! replicas recover from the others' WAL (`wal_delta`) and serve again once `Active`.

use crate::node::Node;
use quiver_cluster::state::MetaOperation;
use quiver_types::replica::ReplicaState;
use std::sync::atomic::Ordering;
use std::time::Duration;

impl Node {
    /// Whether this node is stopping (it recovers nothing any more).
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Hands this peer's shards to the other replicas (within `timeout`); returns how many
    /// replicas it deactivated. A replica that is a shard's only `Active` one stays (its shard
    /// is unavailable while this peer restarts).
    pub async fn hand_off_replicas(&self, timeout: Duration) -> usize {
        self.stopping.store(true, Ordering::Release);
        let Some(cluster) = self.cluster() else { return 0 };
        let me = self.peer_id();
        let state = cluster.consensus.state();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut handed = 0;
        for (name, meta) in &state.state.collections {
            for (shard_id, replicas) in &meta.shards {
                let others_active = replicas.iter().any(|(p, s)| *p != me && *s == ReplicaState::Active);
                if replicas.get(&me) != Some(&ReplicaState::Active) || !others_active {
                    continue;
                }
                let op = MetaOperation::SetReplicaState {
                    collection: name.clone(),
                    shard_id: *shard_id,
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
        }
        tracing::info!(replicas = handed, "replicas handed off to the other peers before stopping");
        handed
    }
}
