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
    /// `storage.shard_transfer_method`: the method of transfers that do not name one.
    pub shard_transfer_method: Option<quiver_types::cluster::TransferMethod>,
    /// Automatic transfers per collection into / out of this peer (`None`: unlimited).
    pub incoming_transfers_limit: Option<usize>,
    pub outgoing_transfers_limit: Option<usize>,
    /// WAL a replica keeps for `wal_delta` while another replica of its shard is not `Active`.
    pub wal_delta_retention_bytes: u64,
    /// `service.enable_snapshot_url_recovery`: whether recovery may download `http(s)://` URLs.
    pub snapshot_url_recovery: bool,
    /// The largest snapshot accepted (upload, download, or unpacked archive contents).
    pub snapshot_max_bytes: u64,
    /// `cluster.replica_grace_period_sec`: how long a peer may stay unreachable before its
    /// replicas are placed elsewhere (`None`: never).
    pub replica_grace_period: Option<std::time::Duration>,
    /// `cluster.rebalance`: balance replica counts after a peer joined (design record 012 §5).
    pub rebalance: bool,
    /// `cluster.digest_check_interval_sec` (ours): how often a shard's primary compares its
    /// content digest with the other `Active` replicas' (`None`: never).
    pub digest_check_interval: Option<std::time::Duration>,
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
            shard_transfer_method: None,
            incoming_transfers_limit: Some(1),
            outgoing_transfers_limit: Some(1),
            wal_delta_retention_bytes: 1024 * 1024 * 1024,
            snapshot_url_recovery: true,
            snapshot_max_bytes: 64 * 1024 * 1024 * 1024,
            replica_grace_period: Some(std::time::Duration::from_secs(300)),
            rebalance: true,
            digest_check_interval: None,
        }
    }
}
