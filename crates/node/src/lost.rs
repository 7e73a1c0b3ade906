//! Local replicas whose data is lost (design record 009 §6): a replica the cluster counts on
//! for data but whose files this peer's disk lacks is marked lost on disk, kept locally `Dead`
//! (never read, never primary), and reported through consensus (`ReplicaLost`); the marker goes
//! once the cluster state no longer counts on its data. Start-up waits until every lost replica
//! is recorded before the APIs serve.

use crate::node::Node;
use quiver_cluster::state::MetaOperation;
use quiver_collection::Collection;
use quiver_types::ShardId;
use quiver_types::replica::ReplicaState;
use std::time::Duration;
use tokio::time::Instant;

/// How often start-up re-proposes lost replicas while waiting for them to be recorded.
const RETRY_EVERY: Duration = Duration::from_millis(500);

impl Node {
    /// Whether this peer's replica of `shard_id` is lost and still counted on by the cluster
    /// (`wanted` is its applied state): then it proposes `ReplicaLost`. Clears the marker once
    /// the state no longer counts on the replica's data.
    pub(crate) fn check_lost_replica(
        &self,
        name: &str,
        collection: &Collection,
        shard_id: ShardId,
        wanted: Option<ReplicaState>,
    ) -> crate::error::Result<bool> {
        if !collection.is_replica_lost(shard_id) {
            return Ok(false);
        }
        if !wanted.is_some_and(ReplicaState::claims_data) {
            tracing::info!(collection = %name, shard_id, state = ?wanted, "lost replica recorded by the cluster");
            collection.clear_replica_lost(shard_id)?;
            return Ok(false);
        }
        let op = MetaOperation::ReplicaLost { collection: name.to_string(), shard_id, peer_id: self.peer_id() };
        self.propose_local_change(name, shard_id, op, || {});
        Ok(true)
    }

    /// Local replicas marked lost whose loss the applied state does not show yet.
    fn unrecorded_lost_replicas(&self) -> Vec<(String, ShardId)> {
        let Some(state) = self.cluster_state() else { return Vec::new() };
        let me = self.peer_id();
        let mut lost = Vec::new();
        for collection in self.collections() {
            let Some(meta) = state.collections.get(collection.name()) else { continue };
            for set in collection.replica_sets() {
                let counted_on = meta.replica_state(set.shard_id, me).is_some_and(ReplicaState::claims_data);
                if counted_on && collection.is_replica_lost(set.shard_id) {
                    lost.push((collection.name().to_string(), set.shard_id));
                }
            }
        }
        lost
    }

    /// Start-up: reconciles once and waits (at most `timeout`) until the cluster has recorded
    /// every lost local replica. Returns whether it did; lost replicas stay locally `Dead`
    /// either way.
    pub async fn await_lost_replicas_recorded(&self, timeout: Duration) -> bool {
        let Some(cluster) = self.cluster() else { return true };
        let mut states = cluster.consensus.subscribe();
        let deadline = Instant::now() + timeout;
        loop {
            self.reconcile_now();
            let lost = self.unrecorded_lost_replicas();
            if lost.is_empty() {
                return true;
            }
            if Instant::now() >= deadline {
                tracing::warn!(?lost, "lost local replicas not recorded by the cluster yet; they stay unserved");
                return false;
            }
            // Wake on a new state, or after a while to propose again (a proposal may have failed
            // for want of a leader).
            let _ = tokio::time::timeout(RETRY_EVERY, states.changed()).await;
        }
    }
}
