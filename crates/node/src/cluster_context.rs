//! What a node holds in cluster mode besides its collections (the consensus handle, the p2p
//! client, readiness), the transfers its runners execute, and new collection incarnations. A
//! leaf of the crate's module graph: `Node` holds these, the modules implementing `Node` use them.

use quiver_cluster::Consensus;
use quiver_collection::TransferProgress;
use quiver_transport::{Faults, PeerClient};
use quiver_types::ShardId;
use quiver_types::cluster::ShardTransfer;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// What a node in cluster mode holds besides its collections.
pub struct ClusterContext {
    pub consensus: Arc<Consensus>,
    pub client: Arc<PeerClient>,
    pub faults: Arc<Faults>,
    /// Started with `--bootstrap` into a new deployment: not ready until it sees another peer.
    pub bootstrapped: bool,
    pub(crate) ready: AtomicBool,
}

impl ClusterContext {
    pub fn new(consensus: Arc<Consensus>, client: Arc<PeerClient>, faults: Arc<Faults>, bootstrapped: bool) -> Self {
        ClusterContext { consensus, client, faults, bootstrapped, ready: AtomicBool::new(false) }
    }
}

/// A transfer into this peer that a runner is executing.
pub(crate) struct Running {
    pub transfer: ShardTransfer,
    pub progress: Arc<TransferProgress>,
}

/// Incoming transfers in flight on this peer: (collection, shard) → runner.
pub(crate) type Transfers = Arc<parking_lot::Mutex<HashMap<(String, ShardId), Arc<Running>>>>;

/// A new collection incarnation (design record 009 §5): random, never 0.
pub(crate) fn new_incarnation() -> u64 {
    rand::random::<u64>().max(1)
}
