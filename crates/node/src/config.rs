//! What a node needs from the configuration file (spec §8.5 `storage.*` defaults).

use quiver_types::config::{HnswConfig, OptimizersConfig, WalConfig};
use std::path::PathBuf;

/// Storage-level settings of a node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub storage_path: PathBuf,
    pub snapshots_path: PathBuf,
    pub replication_factor: u32,
    pub write_consistency_factor: u32,
    pub shard_number: Option<u32>,
    pub on_disk_payload: bool,
    pub max_collections: Option<usize>,
    pub hnsw: HnswConfig,
    pub optimizers: OptimizersConfig,
    pub wal: WalConfig,
    /// Configured peer id (`cluster.peer_id`), else a persisted random one.
    pub peer_id: Option<u64>,
    /// `storage.node_type: Listener`: local replicas receive writes but never serve reads.
    pub listener: bool,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            storage_path: PathBuf::from("./storage"),
            snapshots_path: PathBuf::from("./snapshots"),
            replication_factor: 1,
            write_consistency_factor: 1,
            shard_number: None,
            on_disk_payload: true,
            max_collections: None,
            hnsw: HnswConfig::default(),
            optimizers: OptimizersConfig::default(),
            wal: WalConfig::default(),
            peer_id: None,
            listener: false,
        }
    }
}
