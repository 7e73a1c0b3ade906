//! `Node`: the collections and aliases of this peer, loaded from and kept on disk.

use crate::aliases::Aliases;
use crate::config::NodeConfig;
use crate::error::{NodeError, Result};
use parking_lot::RwLock;
use quiver_collection::Collection;
use quiver_types::PeerId;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// One peer's registry of collections.
pub struct Node {
    pub(crate) config: NodeConfig,
    pub(crate) peer_id: PeerId,
    pub(crate) collections: RwLock<BTreeMap<String, Arc<Collection>>>,
    pub(crate) aliases: Aliases,
    /// Serialises collection create/update/delete and alias changes.
    pub(crate) meta_lock: tokio::sync::Mutex<()>,
    /// Cluster mode: consensus and p2p (set once at startup).
    pub(crate) cluster: std::sync::OnceLock<crate::cluster_context::ClusterContext>,
    /// Serialises reconciliations.
    pub(crate) reconcile_lock: parking_lot::Mutex<()>,
    /// Incoming shard transfers in flight.
    pub(crate) transfers: crate::cluster_context::Transfers,
    /// A handle to itself, for background work that must not keep the node alive.
    pub(crate) me: parking_lot::RwLock<std::sync::Weak<Node>>,
    /// Local replicas whose `Active` proposal is in flight.
    pub(crate) activating: Arc<parking_lot::Mutex<std::collections::HashSet<(String, quiver_types::ShardId)>>>,
    /// A graceful stop began: nothing is recovered any more.
    pub(crate) stopping: std::sync::atomic::AtomicBool,
    /// Collections a start-up restore is registering: the reconciler leaves them alone.
    pub(crate) restoring: parking_lot::Mutex<std::collections::BTreeSet<String>>,
    /// Strict mode's read and write rate limits, per collection.
    pub(crate) rate_limits: crate::registers::RateLimits,
    /// Problems noticed while serving (`GET /issues`).
    pub(crate) issues: crate::registers::Issues,
    /// Snapshot and automatic transfer counters (metrics).
    pub(crate) telemetry: crate::telemetry::NodeTelemetry,
    /// When the placement keeper last started each transfer, by (collection, shard, source,
    /// target) (`keeper.rs`).
    pub(crate) keeper_starts:
        parking_lot::Mutex<HashMap<(String, quiver_types::ShardId, PeerId, PeerId), tokio::time::Instant>>,
    /// The write lock of `POST /locks` (this node only, not kept across restarts).
    pub(crate) locks: parking_lot::Mutex<crate::registers::Locks>,
}

impl Node {
    /// Records the `Arc` this node lives in (called once after `Node::open`).
    pub fn set_self(self: &Arc<Self>) {
        *self.me.write() = Arc::downgrade(self);
    }

    pub(crate) fn weak_self(&self) -> std::sync::Weak<Node> {
        self.me.read().clone()
    }

    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The counters behind the metrics.
    pub fn telemetry(&self) -> &crate::telemetry::NodeTelemetry {
        &self.telemetry
    }

    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    pub(crate) fn collection_dir(&self, name: &str) -> PathBuf {
        self.config.storage_path.join("collections").join(name)
    }

    /// The collection called `name`, or the collection the alias `name` points to.
    pub fn resolve(&self, name: &str) -> Result<Arc<Collection>> {
        // A peer removed from the cluster serves no collection data (design record 031).
        if let Some(removed) = self.cluster().and_then(|c| c.consensus.removed()) {
            return Err(NodeError::RemovedFromCluster(removed));
        }
        let found = self.resolve_local(name);
        if found.is_err() && self.cluster_state().is_some_and(|s| s.resolve_collection(name).is_some()) {
            // Committed but not reconciled yet on this peer: apply it now.
            self.reconcile_now();
            return self.resolve_local(name);
        }
        found
    }

    fn resolve_local(&self, name: &str) -> Result<Arc<Collection>> {
        let collections = self.collections.read();
        if let Some(c) = collections.get(name) {
            return Ok(Arc::clone(c));
        }
        self.aliases.target(name).and_then(|target| collections.get(&target).cloned()).ok_or_else(|| {
            match crate::collection_name::validate_name(name) {
                Err(invalid) => invalid,
                Ok(()) => NodeError::collection_not_found(name),
            }
        })
    }

    /// All collections (for metrics).
    pub fn collections(&self) -> Vec<Arc<Collection>> {
        self.collections.read().values().cloned().collect()
    }

    /// Checkpoints shards: those whose WAL outgrew the limit, or every changed one with `force`.
    pub fn checkpoint(&self, force: bool) -> Result<()> {
        let wal_bytes_max = (self.config.wal.wal_capacity_mb.max(1) as u64) * 1024 * 1024;
        for collection in self.collections() {
            collection.checkpoint_due_shards(wal_bytes_max, force)?;
        }
        Ok(())
    }

    /// Runs checkpoints in the background until the node is dropped: by WAL size every second and
    /// of every changed shard each `flush_interval_sec`.
    pub fn spawn_checkpointer(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let flush_every = self.config.optimizers.flush_interval_sec.max(1);
        tokio::spawn(async move {
            let mut tick: u64 = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                tick += 1;
                let Some(node) = weak.upgrade() else { return };
                let force = tick.is_multiple_of(flush_every);
                let result = tokio::task::spawn_blocking(move || node.checkpoint(force)).await;
                match result {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "checkpoint failed"),
                    Err(e) => tracing::error!(error = %e, "checkpoint task failed"),
                }
            }
        });
    }

    /// Makes every write durable and checkpoints every shard (graceful shutdown).
    pub fn shutdown(&self) -> Result<()> {
        for collection in self.collections() {
            collection.sync()?;
        }
        self.checkpoint(true)
    }
}

/// Moves a deleted collection's directory `dir` out of its name, into the storage's `.deleted/`
/// (emptied at open), and returns where it went: a collection created under the name next finds
/// none of the old files, whenever their removal runs.
pub(crate) fn move_to_trash(storage_path: &std::path::Path, dir: &std::path::Path) -> std::io::Result<PathBuf> {
    let trash = storage_path.join(".deleted");
    std::fs::create_dir_all(&trash)?;
    let moved = trash.join(uuid::Uuid::new_v4().to_string());
    std::fs::rename(dir, &moved)?;
    Ok(moved)
}
