//! The Raft state machine: applies `MetaOperation`s to `ClusterState` (pure), keeps peer
//! addresses in step with Raft membership, persists the applied state atomically after every
//! batch, builds and installs snapshots, and publishes each new state to watchers (the node's
//! reconciler).

use super::{MetaResult, StorageError, TypeConfig, io_error};
use crate::state::{ClusterState, MetaResponse, PeerInfo};
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, RaftSnapshotBuilder, SnapshotMeta, StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{Mutex, watch};

/// What the state machine persists and snapshots.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AppliedState {
    pub last_applied: Option<LogId<u64>>,
    pub membership: StoredMembership<u64, BasicNode>,
    pub state: ClusterState,
}

impl AppliedState {
    /// Index of the last applied entry (0 if none).
    pub fn applied_index(&self) -> u64 {
        self.last_applied.map_or(0, |l| l.index)
    }
}

#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<u64, BasicNode>,
    data: Vec<u8>,
}

struct Inner {
    applied: AppliedState,
    snapshot: Option<StoredSnapshot>,
}

/// One applied entry's operation, its log index and whether the state machine accepted it.
pub type AppliedOp = (u64, crate::state::MetaOperation, bool);

/// Cheaply cloned handle to the state machine.
#[derive(Clone)]
pub struct StateMachine {
    inner: Arc<Mutex<Inner>>,
    dir: PathBuf,
    publish: watch::Sender<Arc<AppliedState>>,
    /// Every applied operation, for observers that need each one (the simulation's checkers);
    /// costs nothing without receivers.
    applied_ops: tokio::sync::broadcast::Sender<AppliedOp>,
}

const STATE_FILE: &str = "raft_state.json";
const SNAPSHOT_FILE: &str = "raft_snapshot.json";

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

fn sm_write_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::write_state_machine(&io_error(e)).into()
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| format!("parse {}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("read {}: {e}", path.display())),
    }
}

impl StateMachine {
    /// Opens the persisted state in `dir` (empty on first start).
    pub fn open(dir: &Path) -> Result<StateMachine, String> {
        let applied: AppliedState = read_json(&dir.join(STATE_FILE))?.unwrap_or_default();
        let snapshot: Option<StoredSnapshot> = read_json(&dir.join(SNAPSHOT_FILE))?;
        let (publish, _) = watch::channel(Arc::new(applied.clone()));
        let inner = Arc::new(Mutex::new(Inner { applied, snapshot }));
        let applied_ops = tokio::sync::broadcast::channel(4096).0;
        Ok(StateMachine { inner, dir: dir.to_path_buf(), publish, applied_ops })
    }

    /// Watches every newly applied state.
    pub fn subscribe(&self) -> watch::Receiver<Arc<AppliedState>> {
        self.publish.subscribe()
    }

    /// Every operation applied from now on (a lagging receiver misses some: `Lagged`).
    pub fn subscribe_ops(&self) -> tokio::sync::broadcast::Receiver<AppliedOp> {
        self.applied_ops.subscribe()
    }

    /// The latest applied state.
    pub fn current(&self) -> Arc<AppliedState> {
        self.publish.borrow().clone()
    }

    fn persist_and_publish(&self, applied: &AppliedState) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(applied).map_err(sm_write_err)?;
        write_atomic(&self.dir.join(STATE_FILE), &bytes).map_err(sm_write_err)?;
        self.publish.send_replace(Arc::new(applied.clone()));
        Ok(())
    }
}

/// Keeps `state.peers` equal to the membership's nodes (addresses come from Raft membership),
/// except removed peers: a removal commits `RemovePeer` before the membership changes that drop
/// the peer, which must not bring it back as a new peer.
fn sync_peers(state: &mut ClusterState, membership: &StoredMembership<u64, BasicNode>) {
    let nodes: Vec<(u64, String)> = membership
        .nodes()
        .filter(|(id, _)| !state.removed_peers.contains(id))
        .map(|(id, node)| (*id, node.addr.clone()))
        .collect();
    let previous = std::mem::take(&mut state.peers);
    state.peers = nodes
        .into_iter()
        .map(|(id, uri)| {
            // A peer that stays a member keeps what the state says of it (gone, draining).
            let info = match previous.get(&id) {
                Some(known) => PeerInfo { uri, ..known.clone() },
                None => {
                    // A new peer: replica counts are to be balanced again (design record 012 §5).
                    state.rebalance_pending = true;
                    PeerInfo::new(uri)
                }
            };
            (id, info)
        })
        .collect();
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let mut inner = self.inner.lock().await;
        let data = serde_json::to_vec(&inner.applied).map_err(sm_write_err)?;
        let last = inner.applied.last_applied;
        let meta = SnapshotMeta {
            last_log_id: last,
            last_membership: inner.applied.membership.clone(),
            snapshot_id: format!("{}-{}", last.map_or(0, |l| l.leader_id.term), last.map_or(0, |l| l.index)),
        };
        let stored = StoredSnapshot { meta: meta.clone(), data: data.clone() };
        let bytes = serde_json::to_vec(&stored).map_err(sm_write_err)?;
        write_atomic(&self.dir.join(SNAPSHOT_FILE), &bytes).map_err(sm_write_err)?;
        inner.snapshot = Some(stored);
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogId<u64>>, StoredMembership<u64, BasicNode>), StorageError> {
        let inner = self.inner.lock().await;
        Ok((inner.applied.last_applied, inner.applied.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<MetaResult>, StorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut inner = self.inner.lock().await;
        let mut results = Vec::new();
        for entry in entries {
            inner.applied.last_applied = Some(entry.log_id);
            let result = match entry.payload {
                EntryPayload::Blank => Ok(MetaResponse::Done),
                EntryPayload::Normal(op) => {
                    let outcome = inner.applied.state.apply(&op);
                    if let Err(e) = &outcome {
                        tracing::debug!(error = %e, ?op, "metadata operation refused");
                    }
                    if self.applied_ops.receiver_count() > 0 {
                        let _ = self.applied_ops.send((entry.log_id.index, op, outcome.is_ok()));
                    }
                    outcome
                }
                EntryPayload::Membership(membership) => {
                    inner.applied.membership = StoredMembership::new(Some(entry.log_id), membership);
                    let stored = inner.applied.membership.clone();
                    sync_peers(&mut inner.applied.state, &stored);
                    Ok(MetaResponse::Done)
                }
            };
            results.push(MetaResult(result));
        }
        self.persist_and_publish(&inner.applied)?;
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let applied: AppliedState = serde_json::from_slice(&data)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &io_error(e)))?;
        let stored = StoredSnapshot { meta: meta.clone(), data };
        let bytes = serde_json::to_vec(&stored).map_err(sm_write_err)?;
        write_atomic(&self.dir.join(SNAPSHOT_FILE), &bytes).map_err(sm_write_err)?;
        let mut inner = self.inner.lock().await;
        inner.applied = applied;
        inner.snapshot = Some(stored);
        self.persist_and_publish(&inner.applied)
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let inner = self.inner.lock().await;
        Ok(inner
            .snapshot
            .as_ref()
            .map(|s| Snapshot { meta: s.meta.clone(), snapshot: Box::new(Cursor::new(s.data.clone())) }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::MetaOperation;
    use openraft::Membership;
    use std::collections::{BTreeMap, BTreeSet};

    fn membership(voters: &[u64], nodes: &[u64]) -> StoredMembership<u64, BasicNode> {
        let nodes: BTreeMap<u64, BasicNode> =
            nodes.iter().map(|id| (*id, BasicNode::new(format!("http://peer{id}:6335")))).collect();
        StoredMembership::new(None, Membership::new(vec![voters.iter().copied().collect::<BTreeSet<_>>()], nodes))
    }

    #[test]
    fn a_removed_peer_is_not_brought_back_by_the_membership_changes_that_drop_it() {
        let mut state = ClusterState::default();
        sync_peers(&mut state, &membership(&[1, 2, 3], &[1, 2, 3]));
        state.rebalance_pending = false;
        state.apply(&MetaOperation::RemovePeer { peer_id: 3 }).unwrap();
        assert_eq!(state.removed_peers, BTreeSet::from([3]));
        // The joint configuration still lists peer 3 as a node: it stays out.
        sync_peers(&mut state, &membership(&[1, 2, 3], &[1, 2, 3]));
        assert_eq!(state.peers.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
        assert!(!state.rebalance_pending, "a removed peer is not a new peer");
        // The same id joining again is a member again.
        state.apply(&MetaOperation::AddPeer { peer_id: 3, uri: "http://peer3:6335".into() }).unwrap();
        assert!(state.removed_peers.is_empty());
        sync_peers(&mut state, &membership(&[1, 2], &[1, 2, 3]));
        assert_eq!(state.peers.keys().copied().collect::<Vec<_>>(), vec![1, 2, 3]);
    }
}
