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
    /// Serialises the ordering of this shard's writes on its primary (held until a write is
    /// sent to the replicas, not until they answer: design record 017).
    pub(crate) order: tokio::sync::Mutex<()>,
    /// As a replica: woken after each record the primary sent is applied, for a record that
    /// overtook its predecessor (pipelined writes).
    pub(crate) applied: tokio::sync::Notify,
    /// Cluster mode: the local replica was confirmed current with the primary since this peer
    /// (re)gained contact with the cluster; until then it does not serve reads.
    verified: std::sync::atomic::AtomicBool,
    /// The local replica was confirmed current (by its primary, or by becoming `Active` through
    /// creation or a transfer) at least once since this process started and has stayed `Active`
    /// since: it missed no acknowledged write while this process ran, so after a lost contact or
    /// with its primary down a consensus read barrier can confirm it again (design record 003 §8).
    confirmed_in_process: std::sync::atomic::AtomicBool,
    /// This peer, as primary, has adopted any longer suffix the other replicas hold.
    primary_synced: std::sync::atomic::AtomicBool,
    /// As a transfer source: the frozen copy a target is paging through (dropped when no page
    /// was read for a while, `transfer::FROZEN_IDLE`).
    pub(crate) frozen: Arc<parking_lot::Mutex<Option<FrozenCopy>>>,
    /// As a transfer source: the snapshot stream a target is reading (`snapshot` method).
    pub(crate) snapshot_stream: parking_lot::Mutex<Option<TransferStream>>,
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
    /// Turns of the remote replicas a read asks first (`remote_read_order`).
    read_turn: std::sync::atomic::AtomicUsize,
    /// Held (shared) by the primary while it checks its term and appends a write, and
    /// (exclusively) while the replica states change: a role change never slips between them.
    pub(crate) role: parking_lot::RwLock<()>,
    /// While this peer is the shard's primary: the view in which its current tenure began (its
    /// term). A write forwarded from a view older than that was addressed to an earlier tenure
    /// and is refused (design record 003 §9).
    term: std::sync::atomic::AtomicU64,
    /// As primary: peers whose replica stopped being readable in a recent view (removed,
    /// deactivated), with when this peer applied that view. They may still serve reads until
    /// they apply the same view, so writes keep going to them for a short while (see
    /// `replication.rs`, `departed_targets`).
    departed: parking_lot::Mutex<Vec<(PeerId, tokio::time::Instant)>>,
    /// The view in which each peer's replica state last changed (added, removed or another
    /// state).
    changed_in: parking_lot::Mutex<BTreeMap<PeerId, u64>>,
    /// As a transfer target: the running transfer (from, to) and its progress.
    transfer_progress: parking_lot::Mutex<Option<(PeerId, PeerId, Arc<crate::progress::TransferProgress>)>>,
    /// As primary: the last sequence number each other replica is known to hold (replication
    /// lag, `metrics.rs`).
    pub(crate) known_seq: parking_lot::Mutex<BTreeMap<PeerId, quiver_types::SeqNo>>,
    /// As primary: when replicas' content digests were last compared, and how many checks in a
    /// row writes kept from comparing (`digest_check.rs`).
    pub(crate) digest_checks: parking_lot::Mutex<DigestChecks>,
}

/// How long a primary keeps sending writes to a replica that stopped being readable in its
/// view (removed or deactivated while its peer may lag in applying that view): as long as the
/// write path waits before deactivating a failed replica (`DEACTIVATION_DELAY`), longer than a
/// peer's contact window, so a peer cut off meanwhile has stopped serving reads.
pub(crate) const DEPARTED_GRACE: std::time::Duration = std::time::Duration::from_millis(2500);

/// A shard snapshot a transfer's target reads, encoded as it is read (design record 019);
/// closed (its encoder stopped, its bytes freed) when released, replaced or dropped.
pub struct TransferStream {
    pub token: u64,
    pub stream: Arc<quiver_shard::SnapshotStream>,
}

impl Drop for TransferStream {
    fn drop(&mut self) {
        self.stream.close();
    }
}

/// A consistent copy of a replica for a transfer.
pub struct FrozenCopy {
    pub token: u64,
    pub seq: quiver_types::SeqNo,
    pub points: Arc<Vec<quiver_shard::StoredPoint>>,
    /// When a page of it was last read (or it was taken).
    pub last_read: tokio::time::Instant,
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
            applied: tokio::sync::Notify::new(),
            verified: std::sync::atomic::AtomicBool::new(false),
            confirmed_in_process: std::sync::atomic::AtomicBool::new(false),
            primary_synced: std::sync::atomic::AtomicBool::new(false),
            frozen: Arc::new(parking_lot::Mutex::new(None)),
            snapshot_stream: parking_lot::Mutex::new(None),
            awaiting_copy: std::sync::atomic::AtomicBool::new(false),
            states_changed: tokio::sync::watch::channel(0).0,
            view: std::sync::atomic::AtomicU64::new(0),
            role: parking_lot::RwLock::new(()),
            lagging: std::sync::atomic::AtomicBool::new(false),
            last_repair: parking_lot::Mutex::new(None),
            read_turn: std::sync::atomic::AtomicUsize::new(0),
            term: std::sync::atomic::AtomicU64::new(0),
            transfer_progress: parking_lot::Mutex::new(None),
            departed: parking_lot::Mutex::new(Vec::new()),
            changed_in: parking_lot::Mutex::new(BTreeMap::new()),
            known_seq: parking_lot::Mutex::new(BTreeMap::new()),
            digest_checks: parking_lot::Mutex::new(Default::default()),
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
        if verified {
            self.confirmed_in_process.store(true, std::sync::atomic::Ordering::Release);
        }
        self.verified.store(verified, std::sync::atomic::Ordering::Release);
    }

    /// Whether the local replica was confirmed current in this process and stayed `Active`.
    pub fn confirmed_in_process(&self) -> bool {
        self.confirmed_in_process.load(std::sync::atomic::Ordering::Acquire)
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
        // Other data: whatever this process confirmed was about the replica it replaces.
        self.confirmed_in_process.store(false, std::sync::atomic::Ordering::Release);
        std::mem::replace(&mut *self.local.write(), local)
    }

    pub fn local_state(&self) -> ReplicaState {
        *self.local_state.read()
    }

    /// The local replica, if its data is worth a checkpoint now: not while it is `Dead` or
    /// waiting for a manual recovery, nor while a transfer brings it up to date (`snapshot` and
    /// `stream_records` copies replace it wholesale, and the state does not tell them from a
    /// `wal_delta`). Its WAL keeps every record meanwhile, so the checkpoint only waits, and the
    /// copy gets the cores.
    pub fn local_to_checkpoint(&self) -> Option<Arc<LocalShard>> {
        let current = match self.local_state() {
            ReplicaState::Dead
            | ReplicaState::ManualRecovery
            | ReplicaState::Partial
            | ReplicaState::PartialSnapshot
            | ReplicaState::Recovery => false,
            ReplicaState::Active
            | ReplicaState::Initializing
            | ReplicaState::Listener
            | ReplicaState::Resharding
            | ReplicaState::ReshardingScaleDown
            | ReplicaState::ActiveRead => true,
        };
        if current { self.local() } else { None }
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
            self.confirmed_in_process.store(false, Ordering::Release);
        } else if made_current_by_cluster(*self.local_state.read()) && self.has_local() {
            // Created, or copied by a transfer, while this process ran, and fed every write since.
            self.confirmed_in_process.store(true, Ordering::Release);
        }
        let previous_primary = self.primary();
        self.note_departed(me, &states);
        self.note_changes(&states, view);
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

    /// Records the peers whose replicas were readable before `states` and are not in them.
    fn note_departed(&self, me: PeerId, states: &BTreeMap<PeerId, ReplicaState>) {
        let now = tokio::time::Instant::now();
        let gone: Vec<PeerId> = self
            .peers
            .read()
            .iter()
            .filter(|(peer, state)| **peer != me && state.is_readable())
            .filter(|(peer, _)| !states.get(peer).is_some_and(|s| s.is_readable()))
            .map(|(peer, _)| *peer)
            .collect();
        let mut departed = self.departed.lock();
        departed.retain(|(peer, at)| now.duration_since(*at) < DEPARTED_GRACE && !gone.contains(peer));
        departed.extend(gone.into_iter().map(|peer| (peer, now)));
    }

    /// Records the view in which each peer's replica state changed.
    fn note_changes(&self, states: &BTreeMap<PeerId, ReplicaState>, view: u64) {
        let peers = self.peers.read();
        let mut changed_in = self.changed_in.lock();
        for peer in peers.keys().chain(states.keys()) {
            if peers.get(peer) != states.get(peer) {
                changed_in.insert(*peer, view);
            }
        }
    }

    /// Whether `peer`'s replica state changed after view `view`.
    pub(crate) fn changed_since(&self, peer: PeerId, view: u64) -> bool {
        self.changed_in.lock().get(&peer).is_some_and(|changed| *changed > view)
    }

    /// Peers whose replicas departed less than `DEPARTED_GRACE` ago and that no longer receive
    /// updates in this view, with the end of their grace.
    pub(crate) fn departed_targets(&self, now: tokio::time::Instant) -> Vec<(PeerId, tokio::time::Instant)> {
        let peers = self.peers.read();
        self.departed
            .lock()
            .iter()
            .map(|(peer, at)| (*peer, *at + DEPARTED_GRACE))
            .filter(|(peer, until)| *until > now && !peers.get(peer).is_some_and(|s| s.receives_updates()))
            .collect()
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

    /// Other peers with readable replicas, in the order a read asks them: each read starts one
    /// further along, so reads from a peer without a local replica spread over the replicas
    /// instead of all going to the lowest peer id (deterministic, for the simulation).
    pub fn remote_read_order(&self, me: PeerId) -> Vec<PeerId> {
        let mut remotes = self.remote_readable(me);
        if remotes.len() > 1 {
            let turn = self.read_turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let first = turn % remotes.len();
            remotes.rotate_left(first);
        }
        remotes
    }

    /// Whether no replica of the shard, on any peer, may serve reads in this peer's view.
    pub fn none_readable(&self) -> bool {
        !self.peers.read().values().any(|s| s.is_readable())
    }

    /// Number of replicas in any state (for `write_consistency_factor`).
    pub fn replica_count(&self) -> usize {
        self.peers.read().len().max(1)
    }
}

/// Whether a replica that goes from `previous` to `Active` was brought current by the cluster
/// itself (created with its collection or shard key, or filled by a transfer) while receiving
/// every write: then it holds every acknowledged write without being confirmed by its primary.
fn made_current_by_cluster(previous: ReplicaState) -> bool {
    match previous {
        ReplicaState::Initializing | ReplicaState::Partial => true,
        ReplicaState::Active
        | ReplicaState::Dead
        | ReplicaState::Listener
        | ReplicaState::PartialSnapshot
        | ReplicaState::Recovery
        | ReplicaState::Resharding
        | ReplicaState::ReshardingScaleDown
        | ReplicaState::ActiveRead
        | ReplicaState::ManualRecovery => false,
    }
}

/// The primary's record of its digest checks of one shard (`digest_check.rs`).
#[derive(Debug, Default)]
pub(crate) struct DigestChecks {
    /// When the replicas' digests were last compared.
    pub(crate) last: Option<tokio::time::Instant>,
    /// Checks in a row that skipped a replica because writes moved the sequence numbers on.
    pub(crate) skipped: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReplicaState::{Active, Dead, Partial};

    fn replica_set() -> ReplicaSet {
        let config = crate::context::test_config(3);
        let ctx = Arc::new(CollectionContext::new("c", std::path::Path::new("/nonexistent"), config));
        ReplicaSet::new(0, None, ctx)
    }

    fn departed(set: &ReplicaSet, after: std::time::Duration) -> Vec<PeerId> {
        let now = tokio::time::Instant::now() + after;
        set.departed_targets(now).into_iter().map(|(peer, _)| peer).collect()
    }

    #[test]
    fn replicas_that_stop_being_readable_are_fed_for_a_grace_period() {
        let set = replica_set();
        let states = |list: &[(PeerId, ReplicaState)]| list.iter().copied().collect::<BTreeMap<_, _>>();
        set.set_states(1, states(&[(1, Active), (2, Active), (3, Active), (4, Partial)]), 1);
        assert!(departed(&set, std::time::Duration::ZERO).is_empty());
        // 2 removed (a trim, a dropped replica), 3 deactivated, 4 was never readable.
        set.set_states(1, states(&[(1, Active), (3, Dead)]), 2);
        assert_eq!(departed(&set, std::time::Duration::ZERO), vec![2, 3]);
        // Once 3 receives updates again (recovering), the normal write path reaches it.
        set.set_states(1, states(&[(1, Active), (3, Partial)]), 3);
        assert_eq!(departed(&set, std::time::Duration::ZERO), vec![2]);
        assert!(set.changed_since(3, 2) && !set.changed_since(3, 3));
        assert!(set.changed_since(2, 1) && !set.changed_since(2, 2) && !set.changed_since(1, 1));
        // The grace is over: nobody is fed any more.
        assert!(departed(&set, DEPARTED_GRACE + std::time::Duration::from_millis(1)).is_empty());
    }

    #[test]
    fn reads_start_at_each_remote_replica_in_turn() {
        let set = replica_set();
        let states = [(1, Active), (2, Active), (3, Dead), (4, Active), (5, Active)].into_iter().collect();
        set.set_states(1, states, 1);
        let firsts: Vec<PeerId> = (0..6).map(|_| set.remote_read_order(1)[0]).collect();
        assert_eq!(firsts, vec![2, 4, 5, 2, 4, 5], "every readable remote replica is asked first in turn");
        let mut order = set.remote_read_order(1);
        order.sort_unstable();
        assert_eq!(order, vec![2, 4, 5], "all readable remote replicas, none other");
    }
}
