//! Opening a node's storage: the peer id, interrupted swaps and stagings finished, partial
//! snapshots cleared, collections whose creation was cut short removed (and shard keys' finished),
//! every collection and alias loaded.

use crate::aliases::Aliases;
use crate::config::NodeConfig;
use crate::error::{NodeError, Result};
use crate::node::Node;
use parking_lot::RwLock;
use quiver_collection::Collection;
use quiver_types::PeerId;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

fn service(context: &str, e: impl std::fmt::Display) -> NodeError {
    NodeError::Service(format!("{context}: {e}"))
}

/// Reads the persisted peer id, or creates one (`random % 2^53 + 1`, spec §8.2).
fn load_peer_id(storage: &Path, configured: Option<u64>) -> Result<PeerId> {
    let path = storage.join("peer_id.json");
    if let Ok(bytes) = std::fs::read(&path) {
        return serde_json::from_slice::<PeerId>(&bytes).map_err(|e| service("parse peer id", e));
    }
    let id = configured.unwrap_or_else(|| rand::random::<u64>() % (1u64 << 53) + 1);
    let bytes = serde_json::to_vec(&id).map_err(|e| service("encode peer id", e))?;
    quiver_collection_write(&path, &bytes)?;
    Ok(id)
}

fn quiver_collection_write(path: &Path, bytes: &[u8]) -> Result<()> {
    quiver_collection::write_atomic(path, bytes).map_err(|e| service("write file", e))
}

impl Node {
    /// Opens the node's storage, loading every collection and alias.
    pub fn open(config: NodeConfig) -> Result<Node> {
        let collections_dir = config.storage_path.join("collections");
        std::fs::create_dir_all(&collections_dir).map_err(|e| service("create storage dir", e))?;
        let _ = std::fs::remove_dir_all(config.storage_path.join(".deleted"));
        crate::snapshot_recovery::finish_interrupted_swaps(&config.storage_path)?;
        crate::snapshots::clear_partial_snapshots(&config.snapshots_path, 3);
        let peer_id = load_peer_id(&config.storage_path, config.peer_id)?;
        let mut collections = BTreeMap::new();
        for entry in std::fs::read_dir(&collections_dir).map_err(|e| service("list collections", e))? {
            let entry = entry.map_err(|e| service("list collections", e))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if crate::creating::collection_unfinished(&entry.path()) {
                tracing::warn!(collection = %name, "removing a collection whose creation was cut short");
                std::fs::remove_dir_all(entry.path()).map_err(|e| service("remove unfinished collection", e))?;
                continue;
            }
            if !entry.path().join("config.json").exists() {
                tracing::warn!(collection = %name, "skipping collection directory without config.json");
                continue;
            }
            crate::snapshot_cluster::commit_interrupted_staging(&entry.path())?;
            let collection = Collection::open(&name, &entry.path())?;
            crate::creating::finish_key_creation(&collection, &entry.path())?;
            tracing::info!(collection = %name, points = collection.points_count(), "loaded collection");
            collections.insert(name, Arc::new(collection));
        }
        let aliases = Aliases::load(&config.storage_path.join("aliases"))?;
        Ok(Node {
            config,
            peer_id,
            collections: RwLock::new(collections),
            aliases,
            meta_lock: Default::default(),
            cluster: Default::default(),
            reconcile_lock: Default::default(),
            activating: Default::default(),
            restoring: Default::default(),
            rate_limits: Default::default(),
            issues: Default::default(),
            stopping: Default::default(),
            me: Default::default(),
            transfers: Default::default(),
            telemetry: Default::default(),
            keeper_starts: Default::default(),
            locks: Default::default(),
        })
    }
}
