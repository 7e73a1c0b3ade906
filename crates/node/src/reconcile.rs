//! The reconciler: turns committed cluster metadata into local effects. For each collection with
//! replicas on this peer it opens or creates the local shards, keeps config, payload index
//! definitions, aliases and local replica states in step, proposes `Active` for its own
//! `Initializing` replicas, and removes collections that were deleted.

use crate::node::Node;
use quiver_cluster::state::{ClusterState, CollectionMeta, MetaOperation};
use quiver_collection::Collection;
use quiver_types::ShardId;
use quiver_types::replica::ReplicaState;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

impl Node {
    /// Applies the latest cluster state locally (idempotent; serialised).
    pub fn reconcile_now(&self) {
        let Some(cluster) = self.cluster() else { return };
        let applied = cluster.consensus.state();
        let _guard = self.reconcile_lock.lock();
        self.reconcile(&applied.state, applied.applied_index());
    }

    fn reconcile(&self, state: &ClusterState, view: u64) {
        let me = self.peer_id();
        let restoring = self.restoring.lock().clone();
        for (name, meta) in state.collections.iter().filter(|(name, _)| !restoring.contains(*name)) {
            let local: Vec<ShardId> =
                meta.shards.iter().filter(|(_, replicas)| replicas.contains_key(&me)).map(|(s, _)| *s).collect();
            if let Err(e) = self.reconcile_collection(name, meta, &local, view) {
                tracing::error!(collection = %name, error = %e, "reconciling collection failed");
            }
        }
        let stale: Vec<String> = self
            .collections
            .read()
            .keys()
            .filter(|n| !state.collections.contains_key(*n) && !restoring.contains(*n))
            .cloned()
            .collect();
        for name in stale {
            self.drop_local_collection(&name);
        }
        if self.aliases.all() != state.aliases
            && let Err(e) = self.aliases.replace(state.aliases.clone())
        {
            tracing::error!(error = %e, "persisting aliases failed");
        }
        self.telemetry.settle_transfers(state);
    }

    fn reconcile_collection(
        &self,
        name: &str,
        meta: &CollectionMeta,
        local: &[ShardId],
        view: u64,
    ) -> crate::error::Result<()> {
        let existing = self.collections.read().get(name).cloned();
        let existing = match existing {
            // A local directory of a dropped collection of the same name (design record 009 §5).
            Some(c) if c.incarnation().is_some_and(|i| meta.incarnation != 0 && i != meta.incarnation) => {
                tracing::warn!(collection = %name, "local data belongs to a dropped collection of this name; removing it");
                self.drop_local_collection(name);
                None
            }
            other => other,
        };
        let collection = match existing {
            Some(c) => c,
            None => {
                let collection = Arc::new(self.open_or_create_local(name, meta, local)?);
                self.collections.write().insert(name.to_string(), Arc::clone(&collection));
                collection
            }
        };
        if meta.incarnation != 0 && collection.incarnation() != Some(meta.incarnation) {
            collection.set_incarnation(meta.incarnation)?;
        }
        if collection.config() != meta.config {
            collection.set_config(meta.config.clone())?;
        }
        if collection.payload_index() != meta.payload_index {
            sync_payload_index(&collection, &meta.payload_index)?;
        }
        // Shards of a key created since the last look start empty: never lost (design 016).
        let known: Vec<ShardId> = collection.routing().all_shards();
        if meta.config.params.is_custom_sharding() {
            collection.set_shard_keys(&meta.shard_keys)?;
        }
        self.attach_ports(&collection);
        for set in collection.replica_sets() {
            let fresh = !known.contains(&set.shard_id);
            let mut states = states_of(meta, set.shard_id);
            // A replica is created before and removed after the new states take effect, so a
            // peer never sees itself holding a replica that is not there.
            let wanted = states.get(&self.peer_id()).copied();
            if wanted.is_some() {
                self.sync_local_shard(name, &collection, &set, &states, fresh)?;
            }
            let lost = self.check_lost_replica(name, &collection, set.shard_id, wanted)?;
            if lost {
                // Never served, never primary until the cluster records it `Dead`.
                states.insert(self.peer_id(), ReplicaState::Dead);
            }
            set.set_states(self.peer_id(), states.clone(), view);
            if wanted.is_none() {
                self.sync_local_shard(name, &collection, &set, &states, fresh)?;
            }
            if let Some(local) = set.local() {
                let behind = states.values().any(|s| s.catches_up());
                local.set_wal_retention(behind.then_some(self.config.wal_delta_retention_bytes));
                if !lost && !self.finish_interrupted_restore(name, &set, &local, &states) {
                    self.propose_local_transition(name, &set, &states);
                }
            }
        }
        for transfer in meta.transfers.iter().filter(|t| t.to == self.peer_id()) {
            self.run_incoming_transfer(name, transfer);
        }
        Ok(())
    }

    /// Opens the collection's directory, or creates it with the local replicas `local`; a
    /// replica the state counts on for data is marked lost before its empty directory exists.
    fn open_or_create_local(
        &self,
        name: &str,
        meta: &CollectionMeta,
        local: &[ShardId],
    ) -> crate::error::Result<Collection> {
        let dir = self.collection_dir(name);
        if dir.join("config.json").exists() {
            return Ok(Collection::open(name, &dir)?);
        }
        let io = |e: std::io::Error| crate::error::NodeError::Service(format!("create collection {name}: {e}"));
        std::fs::create_dir_all(&dir).map_err(io)?;
        if meta.incarnation != 0 {
            quiver_collection::local_files::write_incarnation(&dir, meta.incarnation).map_err(io)?;
        }
        for shard_id in local {
            if meta.replica_state(*shard_id, self.peer_id()).is_some_and(ReplicaState::claims_data) {
                tracing::warn!(collection = %name, shard_id, "the cluster counts on data this peer's disk lacks");
                quiver_collection::local_files::mark_lost(&dir, *shard_id).map_err(io)?;
            }
        }
        Ok(Collection::create(name, &dir, meta.config.clone(), Some(local))?)
    }

    /// Creates the local replica the cluster state gives this peer (a transfer target), or
    /// removes the one it no longer gives (dropped, moved away). A replica created in a state
    /// that claims data is marked lost first (design record 009 §6), unless its shard is
    /// `fresh` (a shard key's new shard).
    fn sync_local_shard(
        &self,
        name: &str,
        collection: &Collection,
        set: &quiver_collection::replica_set::ReplicaSet,
        states: &BTreeMap<u64, ReplicaState>,
        fresh: bool,
    ) -> crate::error::Result<()> {
        let wanted = states.get(&self.peer_id()).copied();
        match (wanted, set.has_local()) {
            (Some(state), false) => {
                tracing::info!(collection = %name, shard_id = set.shard_id, ?state, "creating a local replica");
                if state.claims_data() && !fresh {
                    collection.mark_replica_lost(set.shard_id)?;
                }
                collection.add_local_shard(set.shard_id)?;
            }
            (None, true) => {
                tracing::info!(collection = %name, shard_id = set.shard_id, "removing the local replica");
                collection.remove_local_shard(set.shard_id)?;
            }
            (Some(_), true) | (None, false) => {}
        }
        Ok(())
    }

    /// Moves a local replica to the state its node type wants: `Initializing → Active` once
    /// created; on a Listener node `Active → Listener` (unless it is the only active replica);
    /// on a normal node `Listener → Active`.
    fn propose_local_transition(
        &self,
        name: &str,
        set: &quiver_collection::replica_set::ReplicaSet,
        states: &BTreeMap<u64, ReplicaState>,
    ) {
        let me = self.peer_id();
        let others_active = states.iter().any(|(p, s)| *p != me && *s == ReplicaState::Active);
        let target = match (set.local_state(), self.config.listener) {
            (ReplicaState::Initializing, _) => ReplicaState::Active,
            (ReplicaState::Active, true) if others_active => ReplicaState::Listener,
            (ReplicaState::Listener, false) => ReplicaState::Active,
            // Left by a snapshot recovery that failed or crashed: re-sync from the others.
            (ReplicaState::ManualRecovery, _)
                if others_active && !crate::snapshot_cluster::is_recovering(name, set.shard_id) =>
            {
                ReplicaState::Dead
            }
            (
                ReplicaState::Active
                | ReplicaState::Listener
                | ReplicaState::Dead
                | ReplicaState::Partial
                | ReplicaState::PartialSnapshot
                | ReplicaState::Recovery
                | ReplicaState::Resharding
                | ReplicaState::ReshardingScaleDown
                | ReplicaState::ActiveRead
                | ReplicaState::ManualRecovery,
                _,
            ) => return,
        };
        self.propose_state(name, set.shard_id, set.local_state(), target, || {});
    }

    /// Proposes `from → to` for a local replica, in the background; `then` runs once it is
    /// applied.
    pub(crate) fn propose_state(
        &self,
        name: &str,
        shard_id: ShardId,
        from: ReplicaState,
        to: ReplicaState,
        then: impl FnOnce() + Send + 'static,
    ) {
        let op = MetaOperation::SetReplicaState {
            collection: name.to_string(),
            shard_id,
            peer_id: self.peer_id(),
            state: to,
            from_state: Some(from),
        };
        self.propose_local_change(name, shard_id, op, then);
    }

    /// Proposes `op` about this peer's replica of a shard, in the background, unless a change of
    /// that replica is in flight already; `then` runs once it is applied.
    pub(crate) fn propose_local_change(
        &self,
        name: &str,
        shard_id: ShardId,
        op: MetaOperation,
        then: impl FnOnce() + Send + 'static,
    ) {
        let Some(cluster) = self.cluster() else { return };
        let key = (name.to_string(), shard_id);
        if !self.activating.lock().insert(key.clone()) {
            return;
        }
        let consensus = Arc::clone(&cluster.consensus);
        let activating = Arc::clone(&self.activating);
        tokio::spawn(async move {
            match consensus.propose(op, Duration::from_secs(10)).await {
                Ok(_) => then(),
                Err(e) => {
                    tracing::warn!(error = %e, "changing a local replica's state failed; will retry on the next state change")
                }
            }
            activating.lock().remove(&key);
        });
    }

    fn drop_local_collection(&self, name: &str) {
        if self.collections.write().remove(name).is_none() {
            return;
        }
        let moved = crate::node::move_to_trash(&self.config.storage_path, &self.collection_dir(name));
        if let Err(e) = moved.and_then(std::fs::remove_dir_all) {
            tracing::warn!(collection = %name, error = %e, "removing a deleted collection's files failed");
        }
    }

    /// Whether every local replica is in a healthy state (for `/readyz`).
    pub(crate) fn local_replicas_healthy(&self) -> bool {
        self.collections()
            .iter()
            .all(|c| c.replica_sets().iter().filter(|s| s.local().is_some()).all(|s| s.local_state().is_healthy()))
    }

    /// Reconciles on every newly applied state until the node is dropped.
    pub fn spawn_reconciler(self: &Arc<Self>) {
        let Some(cluster) = self.cluster() else { return };
        let mut states = cluster.consensus.subscribe();
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(node) = weak.upgrade() else { return };
                node.reconcile_now();
                drop(node);
                if states.changed().await.is_err() {
                    return;
                }
            }
        });
    }
}

fn states_of(meta: &CollectionMeta, shard_id: ShardId) -> BTreeMap<u64, ReplicaState> {
    meta.shards.get(&shard_id).cloned().unwrap_or_default()
}

fn sync_payload_index(
    collection: &Collection,
    wanted: &BTreeMap<String, serde_json::Value>,
) -> crate::error::Result<()> {
    let current = collection.payload_index();
    for field in current.keys().filter(|f| !wanted.contains_key(*f)) {
        collection.set_payload_index(field, None)?;
    }
    for (field, schema) in wanted {
        if current.get(field) != Some(schema) {
            collection.set_payload_index(field, Some(schema.clone()))?;
        }
    }
    Ok(())
}
