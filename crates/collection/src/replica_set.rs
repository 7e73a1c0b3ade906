//! The replicas of one shard as this peer sees them: the local replica (if this peer holds one)
//! and the state of every replica from the applied cluster metadata. Standalone, the set is one
//! local `Active` replica.

use crate::context::CollectionContext;
use parking_lot::RwLock;
use quiver_shard::LocalShard;
use quiver_types::replica::ReplicaState;
use quiver_types::{PeerId, ShardId};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One shard's replicas, and the owner of the shard's protocol: ordering and replicating
/// writes as primary (`replication.rs`), serving other peers and reading with consistency
/// (`serve.rs`), copying and finishing transfers (`transfer.rs`).
pub struct ReplicaSet {
    pub shard_id: ShardId,
    /// The collection's name, directory, configuration and cluster ports.
    pub(crate) ctx: Arc<CollectionContext>,
    local: RwLock<Option<Arc<LocalShard>>>,
    local_state: RwLock<ReplicaState>,
    /// Replica states of every peer (cluster mode; empty standalone).
    peers: RwLock<BTreeMap<PeerId, ReplicaState>>,
    /// Serialises ordering + replication of this shard's writes on its primary.
    pub(crate) order: tokio::sync::Mutex<()>,
    /// Cluster mode: the local replica was confirmed current with the primary since this peer
    /// (re)gained contact with the cluster; until then it does not serve reads.
    verified: std::sync::atomic::AtomicBool,
    /// This peer, as primary, has adopted any longer suffix the other replicas hold.
    primary_synced: std::sync::atomic::AtomicBool,
    /// As a transfer source: the frozen copy a target is paging through.
    pub(crate) frozen: parking_lot::Mutex<Option<FrozenCopy>>,
    /// As a transfer source: the snapshot file a target is downloading.
    pub(crate) snapshot_file: parking_lot::Mutex<Option<SnapshotFile>>,
    /// As a transfer target: a copy is being made; ordered writes are refused meanwhile (and
    /// filled in from the primary's WAL afterwards).
    awaiting_copy: std::sync::atomic::AtomicBool,
    /// Bumped whenever the replica states change (wakes writes waiting for a new primary).
    states_changed: tokio::sync::watch::Sender<u64>,
    /// The applied metadata index of the replica states this peer holds now.
    view: std::sync::atomic::AtomicU64,
    /// As primary: some replica failed a write and may lag (it stays `Active` when the write
    /// failed as a whole); the next repair round brings it up to date.
    pub(crate) lagging: std::sync::atomic::AtomicBool,
    /// As primary: when replicas were last compared with this one.
    pub(crate) last_repair: parking_lot::Mutex<Option<tokio::time::Instant>>,
    /// Held (shared) by the primary while it checks its term and appends a write, and
    /// (exclusively) while the replica states change: a role change never slips between them.
    pub(crate) role: parking_lot::RwLock<()>,
    /// While this peer is the shard's primary: the view in which its current tenure began (its
    /// term). A write forwarded from a view older than that was addressed to an earlier tenure
    /// and is refused (design record 003 §9).
    term: std::sync::atomic::AtomicU64,
    /// As a transfer target: the running transfer (from, to) and its progress.
    transfer_progress: parking_lot::Mutex<Option<(PeerId, PeerId, Arc<crate::progress::TransferProgress>)>>,
    /// As primary: the last sequence number each other replica is known to hold (replication
    /// lag, `metrics.rs`).
    pub(crate) known_seq: parking_lot::Mutex<BTreeMap<PeerId, quiver_types::SeqNo>>,
    /// As primary: when replicas' content digests were last compared (`digest_check.rs`).
    pub(crate) last_digest_check: parking_lot::Mutex<Option<tokio::time::Instant>>,
}

/// A shard snapshot file written for a transfer; removed when dropped.
pub struct SnapshotFile {
    pub token: u64,
    pub path: std::path::PathBuf,
}

impl Drop for SnapshotFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A consistent copy of a replica for a transfer.
pub struct FrozenCopy {
    pub token: u64,
    pub seq: quiver_types::SeqNo,
    pub points: Arc<Vec<quiver_shard::StoredPoint>>,
}

impl ReplicaSet {
    pub(crate) fn new(shard_id: ShardId, local: Option<Arc<LocalShard>>, ctx: Arc<CollectionContext>) -> ReplicaSet {
        ReplicaSet {
            shard_id,
            ctx,
            local: RwLock::new(local),
            local_state: RwLock::new(ReplicaState::Active),
            peers: RwLock::new(BTreeMap::new()),
            order: tokio::sync::Mutex::new(()),
            verified: std::sync::atomic::AtomicBool::new(false),
            primary_synced: std::sync::atomic::AtomicBool::new(false),
            frozen: parking_lot::Mutex::new(None),
            snapshot_file: parking_lot::Mutex::new(None),
            awaiting_copy: std::sync::atomic::AtomicBool::new(false),
            states_changed: tokio::sync::watch::channel(0).0,
            view: std::sync::atomic::AtomicU64::new(0),
            role: parking_lot::RwLock::new(()),
            lagging: std::sync::atomic::AtomicBool::new(false),
            last_repair: parking_lot::Mutex::new(None),
            term: std::sync::atomic::AtomicU64::new(0),
            transfer_progress: parking_lot::Mutex::new(None),
            known_seq: parking_lot::Mutex::new(BTreeMap::new()),
            last_digest_check: parking_lot::Mutex::new(None),
        }
    }

    pub fn is_primary_synced(&self) -> bool {
        self.primary_synced.load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn set_primary_synced(&self, synced: bool) {
        self.primary_synced.store(synced, std::sync::atomic::Ordering::Release);
    }

    /// Records (or clears) the transfer into this replica that this peer runs.
    pub fn set_transfer_progress(&self, progress: Option<(PeerId, PeerId, Arc<crate::progress::TransferProgress>)>) {
        *self.transfer_progress.lock() = progress;
    }

    /// The progress comment of the transfer `from -> to` into this replica, if this peer runs it.
    pub fn transfer_comment(&self, from: PeerId, to: PeerId) -> Option<String> {
        let progress = self.transfer_progress.lock();
        progress.as_ref().filter(|(f, t, _)| (*f, *t) == (from, to)).map(|(_, _, p)| p.comment())
    }

    pub fn is_awaiting_copy(&self) -> bool {
        self.awaiting_copy.load(std::sync::atomic::Ordering::Acquire)
    }

    pub(crate) fn set_awaiting_copy(&self, awaiting: bool) {
        self.awaiting_copy.store(awaiting, std::sync::atomic::Ordering::Release);
    }

    pub fn is_verified(&self) -> bool {
        self.verified.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Records whether the local replica is known to be current.
    pub fn set_verified(&self, verified: bool) {
        self.verified.store(verified, std::sync::atomic::Ordering::Release);
    }

    /// The local replica, if this peer holds one.
    pub fn local(&self) -> Option<Arc<LocalShard>> {
        self.local.read().clone()
    }

    /// Whether this peer holds a replica of the shard.
    pub fn has_local(&self) -> bool {
        self.local.read().is_some()
    }

    /// Installs (`Some`) or removes (`None`) the local replica; returns the previous one.
    pub(crate) fn replace_local(&self, local: Option<Arc<LocalShard>>) -> Option<Arc<LocalShard>> {
        let _role = self.role.write();
        std::mem::replace(&mut *self.local.write(), local)
    }

    pub fn local_state(&self) -> ReplicaState {
        *self.local_state.read()
    }

    /// Points in the local replica (0 without one).
    pub fn local_points(&self) -> usize {
        self.local.read().as_ref().map_or(0, |l| l.points_count())
    }

    /// Records the replica states decided by the control plane as of applied index `view`; `me`
    /// is this peer.
    pub fn set_states(&self, me: PeerId, states: BTreeMap<PeerId, ReplicaState>, view: u64) {
        use std::sync::atomic::Ordering;
        let _role = self.role.write();
        let local = states.get(&me).copied().unwrap_or(ReplicaState::Dead);
        if local != ReplicaState::Active {
            self.set_verified(false);
        }
        let previous_primary = self.primary();
        *self.local_state.write() = local;
        *self.peers.write() = states;
        self.view.store(view, Ordering::Release);
        if self.primary() != previous_primary {
            self.set_primary_synced(false);
            let term = if self.primary() == Some(me) { view } else { 0 };
            self.term.store(term, Ordering::Release);
            tracing::debug!(peer = me, shard_id = self.shard_id, primary = ?self.primary(), term, "primary changed");
        }
        self.states_changed.send_modify(|generation| *generation += 1);
    }

    /// The applied metadata index of this peer's view of the replica states.
    pub fn view(&self) -> u64 {
        self.view.load(std::sync::atomic::Ordering::Acquire)
    }

    /// This peer's current term as the shard's primary (0 while it is not the primary).
    pub(crate) fn current_term(&self) -> u64 {
        self.term.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether a write forwarded from view `seen_at` reached this peer during its current
    /// tenure as primary (not an earlier one it has since lost and regained).
    pub(crate) fn in_current_term(&self, seen_at: u64) -> bool {
        seen_at >= self.term.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Resolves once the shard's primary is no longer `primary` in this peer's view.
    pub async fn primary_changed(&self, primary: PeerId) {
        let mut changes = self.states_changed.subscribe();
        while self.primary() == Some(primary) {
            if changes.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    pub fn states(&self) -> BTreeMap<PeerId, ReplicaState> {
        self.peers.read().clone()
    }

    /// The local replica if it may serve reads.
    pub fn readable_local(&self) -> Option<Arc<LocalShard>> {
        self.local().filter(|_| self.local_state().is_readable())
    }

    /// The shard's primary: the `Active` replica with the highest peer id, or, while none is
    /// `Active` (creation), the highest replica that receives updates.
    pub fn primary(&self) -> Option<PeerId> {
        let peers = self.peers.read();
        let active = peers.iter().filter(|(_, s)| **s == ReplicaState::Active).map(|(p, _)| *p).max();
        active.or_else(|| peers.iter().filter(|(_, s)| s.receives_updates()).map(|(p, _)| *p).max())
    }

    /// Other peers whose replicas receive the primary's writes.
    pub fn remote_updatable(&self, me: PeerId) -> Vec<(PeerId, ReplicaState)> {
        let peers = self.peers.read();
        peers.iter().filter(|(p, s)| **p != me && s.receives_updates()).map(|(p, s)| (*p, *s)).collect()
    }

    /// Other peers with readable replicas.
    pub fn remote_readable(&self, me: PeerId) -> Vec<PeerId> {
        let peers = self.peers.read();
        peers.iter().filter(|(p, s)| **p != me && s.is_readable()).map(|(p, _)| *p).collect()
    }

    /// Number of replicas in any state (for `write_consistency_factor`).
    pub fn replica_count(&self) -> usize {
        self.peers.read().len().max(1)
    }
}
