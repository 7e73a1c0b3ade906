//! Snapshot recovery in cluster mode (spec §7.1 steps 2–5, seed "Recover from snapshot"): the
//! collection is created through consensus if it is missing, then for every shard in the
//! snapshot this peer gets (or keeps) a replica held in `ManualRecovery` while its data is
//! replaced, and the priority decides who re-syncs from whom:
//! - no other active replica, or `no_sync`: the local replica turns `Active`;
//! - `snapshot`: `PromoteReplica` makes it `Active` and every other active replica `Dead` in one
//!   entry; automatic recovery then copies the recovered data to them (a `wal_delta` attempt
//!   falls back to a full copy, since the recovered replica's WAL starts after the snapshot);
//! - `replica`: a `snapshot` transfer from another active replica overwrites the local one.
//!
//! The data is replaced in place, crash-safely: the verified shard file is first staged in the
//! replica's directory (the redo record, `quiver_shard`'s `staged.rs`), so a replica reopened
//! after `kill -9` holds either its old data or the whole snapshot; a `recover.done` marker left
//! by a recovery that did not finish is finished by the reconciler
//! ([`Node::finish_interrupted_restore`]). The only active copy of a shard stays `Active`
//! throughout (the last-active rule), which is why the redo happens when the shard is opened.

use crate::error::{NodeError, Result};
use crate::node::Node;
use crate::snapshot_recovery::{SnapshotPriority, Unpacked, check_compatible, check_keys_compatible};
use crate::snapshots::blocking;
use quiver_cluster::state::{MetaOperation, is_active, place_shards};
use quiver_collection::LocalShard;
use quiver_types::PeerId;
use quiver_types::ShardId;
use quiver_types::cluster::{ShardTransfer, TransferMethod};
use quiver_types::replica::ReplicaState;
use quiver_types::shard_key::{KeyShards, ShardKeys};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Local replicas that a snapshot recovery in this process is replacing. A local replica found
/// in `ManualRecovery` that is not in here was left by a recovery that failed or crashed; the
/// reconciler turns it `Dead` (when another replica is active) so it re-syncs from the others,
/// or finishes the recovery when its staged snapshot was installed.
static RECOVERING: parking_lot::Mutex<BTreeSet<(String, ShardId)>> = parking_lot::Mutex::new(BTreeSet::new());

/// Whether a recovery in this process is replacing the local replica of the shard.
pub(crate) fn is_recovering(name: &str, shard_id: ShardId) -> bool {
    RECOVERING.lock().contains(&(name.to_string(), shard_id))
}

/// Registers a recovery of a local replica until dropped.
struct Recovering((String, ShardId));

impl Recovering {
    fn new(name: &str, shard_id: ShardId) -> Recovering {
        let key = (name.to_string(), shard_id);
        RECOVERING.lock().insert(key.clone());
        Recovering(key)
    }
}

impl Drop for Recovering {
    fn drop(&mut self) {
        RECOVERING.lock().remove(&self.0);
    }
}

/// Lists the shards whose staging files are complete: from the moment it is written they are
/// the recovery's redo records, committed on open if a crash comes first.
const STAGE_JOURNAL: &str = "recover-staged.json";

fn restore_failed(e: quiver_collection::ShardError) -> NodeError {
    NodeError::Service(format!("restore shard: {e}"))
}

fn io_failed(context: &'static str) -> impl Fn(std::io::Error) -> NodeError {
    move |e| NodeError::Service(format!("{context}: {e}"))
}

/// Stages every verified shard file in its replica's directory (design 008 point 10), all or
/// none: each copy is written and fsynced under its staging name, then the journal naming them
/// is made durable (the commit point), then each is renamed into place and the journal removed.
/// Nothing live changes here.
fn stage_all(collection_dir: &Path, locals: &[(ShardId, Arc<LocalShard>, PathBuf)]) -> Result<()> {
    for (_, local, path) in locals {
        local.write_staging(path).map_err(restore_failed)?;
    }
    pause_point("recovery-written");
    let ids: Vec<ShardId> = locals.iter().map(|(shard_id, _, _)| *shard_id).collect();
    let journal = collection_dir.join(STAGE_JOURNAL);
    let part = collection_dir.join(format!("{STAGE_JOURNAL}.part"));
    let bytes = serde_json::to_vec(&ids).map_err(|e| NodeError::Service(e.to_string()))?;
    std::fs::write(&part, bytes).map_err(io_failed("write stage journal"))?;
    std::fs::File::open(&part).and_then(|f| f.sync_all()).map_err(io_failed("sync stage journal"))?;
    std::fs::rename(&part, &journal).map_err(io_failed("write stage journal"))?;
    sync_dir(collection_dir)?;
    pause_point("recovery-staged");
    commit_staged(collection_dir, &ids)
}

/// [`stage_all`], or on failure (nothing installed yet) every record dropped, so that a restart
/// does not apply a staging this process gave up.
fn stage_or_discard(collection_dir: &Path, locals: &[(ShardId, Arc<LocalShard>, PathBuf)]) -> Result<()> {
    let staged = stage_all(collection_dir, locals);
    if staged.is_err() {
        let _ = std::fs::remove_file(collection_dir.join(STAGE_JOURNAL));
        for (shard_id, local, _) in locals {
            if let Err(e) = local.discard_staging() {
                tracing::warn!(shard_id, error = %e, "dropping a failed staging failed");
            }
        }
    }
    staged
}

/// Renames each listed shard's staging file into place, then removes the journal.
fn commit_staged(collection_dir: &Path, ids: &[ShardId]) -> Result<()> {
    for shard_id in ids {
        quiver_collection::commit_staging_in(&collection_dir.join(shard_id.to_string())).map_err(restore_failed)?;
    }
    std::fs::remove_file(collection_dir.join(STAGE_JOURNAL)).map_err(io_failed("remove stage journal"))?;
    sync_dir(collection_dir)
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io_failed("sync collection dir"))
}

/// At start-up, before the collection in `collection_dir` is opened: commits a staging that a
/// crash interrupted after its journal was written; without a (whole) journal the staging files
/// are dropped when the shards open, and the old data stays.
pub(crate) fn commit_interrupted_staging(collection_dir: &Path) -> Result<()> {
    let _ = std::fs::remove_file(collection_dir.join(format!("{STAGE_JOURNAL}.part")));
    let journal = collection_dir.join(STAGE_JOURNAL);
    let Ok(bytes) = std::fs::read(&journal) else { return Ok(()) };
    let ids: Vec<ShardId> = match serde_json::from_slice(&bytes) {
        Ok(ids) => ids,
        Err(e) => {
            // Never torn (written by rename): discard it, the staging files go on open.
            tracing::warn!(journal = %journal.display(), error = %e, "discarding a malformed stage journal");
            std::fs::remove_file(&journal).map_err(io_failed("remove stage journal"))?;
            return Ok(());
        }
    };
    tracing::warn!(dir = %collection_dir.display(), ?ids, "committing the staged shard snapshots of an interrupted recovery");
    commit_staged(collection_dir, &ids)
}

/// Test-only fault point (`QUIVER_ENABLE_FAULTS=1` and `QUIVER_FAULT_PAUSE=<point>`): the
/// recovery stops here for good, so that a test can kill the process at a known moment.
fn pause_point(point: &str) {
    let enabled = std::env::var("QUIVER_ENABLE_FAULTS").is_ok_and(|v| v == "1");
    if enabled && std::env::var("QUIVER_FAULT_PAUSE").is_ok_and(|v| v == point) {
        tracing::warn!(point, "fault point reached: the recovery pauses until the process is killed");
        loop {
            std::thread::park();
        }
    }
}

const LOCAL_SHARD_WAIT: Duration = Duration::from_secs(30);
const CREATE_WAIT: Duration = Duration::from_secs(30);

impl Node {
    pub(crate) async fn recover_in_cluster(
        &self,
        name: &str,
        unpacked: Unpacked,
        priority: SnapshotPriority,
    ) -> Result<bool> {
        // Recoveries on this peer run one at a time (spec: concurrent recoveries are serialized).
        let _serialized = self.meta_lock.lock().await;
        let state = self.cluster_state().ok_or(NodeError::StandaloneMode)?;
        match state.collections.get(name) {
            Some(meta) => {
                check_compatible(&meta.config, &unpacked.config)?;
                check_keys_compatible(&meta.shard_keys, &unpacked.shard_keys)?;
            }
            None => self.create_from_snapshot(name, &unpacked).await?,
        }
        self.recover_shards_in_cluster(name, &unpacked.shards, priority).await?;
        Ok(true)
    }

    /// Creates the collection through consensus with the snapshot's config and payload indexes.
    async fn create_from_snapshot(&self, name: &str, unpacked: &Unpacked) -> Result<()> {
        let state = self.cluster_state().ok_or(NodeError::StandaloneMode)?;
        let peers: Vec<u64> = state.peers.keys().copied().collect();
        let params = &unpacked.config.params;
        // A custom-sharded collection starts without shards; its keys bring them.
        let placement = match params.is_custom_sharding() {
            true => BTreeMap::new(),
            false => place_shards(&peers, params.shard_number, params.replication_factor, rand::random()),
        };
        let op = MetaOperation::CreateCollection {
            name: name.to_string(),
            config: unpacked.config.clone(),
            placement,
            initial_state: ReplicaState::Initializing,
            incarnation: crate::cluster_context::new_incarnation(),
        };
        self.propose(op, None).await?;
        let factor = params.replication_factor;
        self.create_snapshot_keys(name, &unpacked.shard_keys, ReplicaState::Initializing, |key| {
            let count = u32::try_from(key.shards.len()).unwrap_or(u32::MAX);
            place_shards(&peers, count, key.replication_factor.unwrap_or(factor), rand::random())
                .into_values()
                .collect()
        })
        .await?;
        for (field, schema) in &unpacked.payload_index {
            let op = MetaOperation::CreatePayloadIndex {
                collection: name.into(),
                field: field.clone(),
                schema: schema.clone(),
            };
            self.propose(op, None).await?;
        }
        // The new (empty) replicas must be Active before the recovered ones take over from them.
        self.wait_replicas_active(name, CREATE_WAIT).await
    }

    /// Creates a snapshot's shard keys through consensus with the snapshot's own shard ids (keys
    /// in the order of their ids, so that each id is still unused when proposed), each key's
    /// shards placed by `place`.
    pub(crate) async fn create_snapshot_keys(
        &self,
        name: &str,
        keys: &ShardKeys,
        initial_state: ReplicaState,
        place: impl Fn(&KeyShards) -> Vec<Vec<PeerId>>,
    ) -> Result<()> {
        let mut ordered: Vec<&KeyShards> = keys.keys().collect();
        ordered.sort_by_key(|k| k.shards.iter().min().copied());
        for key in ordered {
            let op = MetaOperation::CreateShardKey {
                collection: name.to_string(),
                shard_key: key.key.clone(),
                placement: place(key),
                replication_factor: key.replication_factor,
                initial_state,
                shard_ids: Some(key.shards.clone()),
                pinned: key.pinned,
            };
            self.propose(op, None).await?;
        }
        Ok(())
    }

    fn replica_states(&self, name: &str, shard_id: ShardId) -> Result<BTreeMap<u64, ReplicaState>> {
        let state = self.cluster_state().ok_or(NodeError::StandaloneMode)?;
        let meta = state.collections.get(name).ok_or_else(|| NodeError::collection_not_found(name))?;
        meta.shards.get(&shard_id).cloned().ok_or_else(|| NodeError::NotFound(format!("Shard {shard_id} of {name}")))
    }

    async fn set_local_state(&self, name: &str, shard_id: ShardId, to: ReplicaState) -> Result<()> {
        let op = MetaOperation::SetReplicaState {
            collection: name.into(),
            shard_id,
            peer_id: self.peer_id(),
            state: to,
            from_state: None,
        };
        self.propose(op, None).await.map(|_| ())
    }

    /// Puts this peer's replica of the shard in `ManualRecovery` (adding it if missing), unless
    /// it is the shard's only active copy (then it stays `Active` and is replaced in place).
    async fn hold_local_replica(&self, name: &str, shard_id: ShardId) -> Result<()> {
        let me = self.peer_id();
        let states = self.replica_states(name, shard_id)?;
        let others_active = states.iter().any(|(p, s)| *p != me && is_active(*s));
        match states.get(&me) {
            None => {
                let op = MetaOperation::AddReplica {
                    collection: name.into(),
                    shard_id,
                    peer_id: me,
                    state: ReplicaState::ManualRecovery,
                };
                self.propose(op, None).await?;
            }
            Some(ReplicaState::ManualRecovery) => {}
            Some(s) if is_active(*s) && !others_active => {}
            Some(_) => self.set_local_state(name, shard_id, ReplicaState::ManualRecovery).await?,
        }
        let started = tokio::time::Instant::now();
        loop {
            self.reconcile_now();
            let has_local = self.resolve(name)?.replica_set(shard_id).is_ok_and(|set| set.has_local());
            if has_local {
                return Ok(());
            }
            if started.elapsed() > LOCAL_SHARD_WAIT {
                return Err(NodeError::Timeout(format!("local replica of shard {shard_id} of {name} not created")));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Replaces this peer's replicas of `shards` with the snapshot files: every replica held,
    /// every file staged (all or none, see [`stage_all`]), then each replica restored from its
    /// staged file and finished by `priority`.
    pub(crate) async fn recover_shards_in_cluster(
        &self,
        name: &str,
        shards: &BTreeMap<ShardId, PathBuf>,
        priority: SnapshotPriority,
    ) -> Result<()> {
        let _recovering: Vec<Recovering> = shards.keys().map(|shard_id| Recovering::new(name, *shard_id)).collect();
        let mut locals = Vec::new();
        for (shard_id, path) in shards {
            self.hold_local_replica(name, *shard_id).await?;
            let local = self.resolve(name)?.replica_set(*shard_id)?.local().ok_or_else(|| {
                NodeError::ShardUnavailable(format!("local replica of shard {shard_id} of {name} disappeared"))
            })?;
            locals.push((*shard_id, local, path.clone()));
        }
        let staged: Vec<(ShardId, Arc<LocalShard>)> = locals.iter().map(|(s, l, _)| (*s, Arc::clone(l))).collect();
        let dir = self.collection_dir(name);
        blocking(move || stage_or_discard(&dir, &locals)).await?;
        for (shard_id, local) in staged {
            let restored = Arc::clone(&local);
            blocking(move || {
                restored.restore_staged().map_err(restore_failed)?;
                pause_point("recovery-restored");
                Ok(())
            })
            .await?;
            self.finish_recovery(name, shard_id, priority).await?;
            blocking(move || local.clear_restored_marker().map_err(restore_failed)).await?;
        }
        Ok(())
    }

    /// The state change that ends the recovery of the local replica, by priority.
    async fn finish_recovery(&self, name: &str, shard_id: ShardId, priority: SnapshotPriority) -> Result<()> {
        let me = self.peer_id();
        let states = self.replica_states(name, shard_id)?;
        let source = states.iter().filter(|(p, s)| **p != me && is_active(**s)).map(|(p, _)| *p).max();
        match (source, priority) {
            (_, _) if states.get(&me).copied().is_some_and(is_active) => Ok(()),
            (None, _) | (Some(_), SnapshotPriority::NoSync) => {
                self.set_local_state(name, shard_id, ReplicaState::Active).await
            }
            (Some(_), SnapshotPriority::Snapshot) => {
                let op = MetaOperation::PromoteReplica { collection: name.into(), shard_id, peer_id: me };
                self.propose(op, None).await.map(|_| ())
            }
            (Some(from), SnapshotPriority::Replica) => {
                let transfer =
                    ShardTransfer { shard_id, from, to: me, sync: true, method: Some(TransferMethod::Snapshot) };
                self.propose(MetaOperation::StartTransfer { collection: name.into(), transfer, limits: None }, None)
                    .await
                    .map(|_| ())
            }
        }
    }
}

impl Node {
    /// A local replica whose staged snapshot was installed by a recovery that did not finish
    /// (killed, or its state change failed) is finished here, once no recovery in this process
    /// holds it: in `ManualRecovery` it turns `Active` when no other replica is active, else
    /// `Dead` so it re-syncs from the others (the "old" outcome: they may have taken writes
    /// since); in any other state the recovery's own change was applied. The marker is removed
    /// after that. Returns whether the replica was handled here.
    pub(crate) fn finish_interrupted_restore(
        &self,
        name: &str,
        set: &quiver_collection::replica_set::ReplicaSet,
        local: &Arc<LocalShard>,
        states: &BTreeMap<u64, ReplicaState>,
    ) -> bool {
        if !local.restored_marker() || is_recovering(name, set.shard_id) {
            return false;
        }
        let me = self.peer_id();
        let others_active = states.iter().any(|(p, s)| *p != me && is_active(*s));
        let clear = {
            let (local, name, shard_id) = (Arc::clone(local), name.to_string(), set.shard_id);
            move || match local.clear_restored_marker() {
                Ok(()) => tracing::info!(collection = %name, shard_id, "finished an interrupted snapshot recovery"),
                Err(e) => tracing::warn!(collection = %name, shard_id, error = %e, "removing a restore marker failed"),
            }
        };
        match (set.local_state(), others_active) {
            (ReplicaState::ManualRecovery, false) => {
                self.propose_state(name, set.shard_id, ReplicaState::ManualRecovery, ReplicaState::Active, clear)
            }
            (ReplicaState::ManualRecovery, true) => {
                self.propose_state(name, set.shard_id, ReplicaState::ManualRecovery, ReplicaState::Dead, clear)
            }
            (
                ReplicaState::Active
                | ReplicaState::Dead
                | ReplicaState::Partial
                | ReplicaState::Initializing
                | ReplicaState::Listener
                | ReplicaState::PartialSnapshot
                | ReplicaState::Recovery
                | ReplicaState::Resharding
                | ReplicaState::ReshardingScaleDown
                | ReplicaState::ActiveRead,
                _,
            ) => clear(),
        }
        true
    }
}
