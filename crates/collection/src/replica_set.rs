//! The replicas of one shard. On a single node a replica set holds one local `Active` replica;
//! the replication issue adds remote replicas behind the same interface.

use parking_lot::RwLock;
use quiver_shard::LocalShard;
use quiver_types::ShardId;
use quiver_types::replica::ReplicaState;
use std::sync::Arc;

/// One shard's replicas as seen from this peer.
pub struct ReplicaSet {
    pub shard_id: ShardId,
    local: Arc<LocalShard>,
    local_state: RwLock<ReplicaState>,
}

impl ReplicaSet {
    pub fn new(shard_id: ShardId, local: Arc<LocalShard>) -> ReplicaSet {
        ReplicaSet { shard_id, local, local_state: RwLock::new(ReplicaState::Active) }
    }

    /// The local replica, for writes (every state that receives updates).
    pub fn local(&self) -> &Arc<LocalShard> {
        &self.local
    }

    pub fn local_state(&self) -> ReplicaState {
        *self.local_state.read()
    }

    /// Records the local replica's state as the control plane decided it.
    pub fn set_local_state(&self, state: ReplicaState) {
        *self.local_state.write() = state;
    }

    /// The local replica if it may serve reads.
    pub fn readable_local(&self) -> Option<&Arc<LocalShard>> {
        self.local_state().is_readable().then_some(&self.local)
    }
}
