//! Read-only descriptions a node returns: collection info and a collection's cluster view.

use quiver_types::config::CollectionConfig;
use quiver_types::replica::ReplicaState;
use quiver_types::{PeerId, ShardId};
use serde::Serialize;

/// `GET /collections/{name}` (spec §2.2).
#[derive(Debug, Clone, Serialize)]
pub struct CollectionInfo {
    pub status: &'static str,
    pub optimizer_status: &'static str,
    /// Why the collection is not healthy (spec §2.2; omitted when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<CollectionWarning>,
    pub indexed_vectors_count: usize,
    pub points_count: usize,
    pub segments_count: usize,
    pub config: CollectionConfig,
    pub payload_schema: serde_json::Map<String, serde_json::Value>,
    /// The collection's queue of updates not yet applied (spec §2.2), shown by REST and gRPC alike.
    pub update_queue: UpdateQueueInfo,
}

/// `update_queue` in collection info. Quiver does not measure a queue of pending updates; it
/// reports an empty one, as its gRPC answer always did.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Default)]
pub struct UpdateQueueInfo {
    pub length: usize,
}

/// One entry of `warnings` in collection info.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CollectionWarning {
    pub message: String,
}

/// One local replica in `GET /collections/{name}/cluster`.
#[derive(Debug, Clone, Serialize)]
pub struct LocalShardInfo {
    pub shard_id: ShardId,
    /// The shard's key (custom sharding); omitted otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard_key: Option<quiver_types::shard_key::ShardKey>,
    pub points_count: usize,
    pub state: ReplicaState,
}

/// One remote replica in `GET /collections/{name}/cluster`.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteShardInfo {
    pub shard_id: ShardId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard_key: Option<quiver_types::shard_key::ShardKey>,
    pub peer_id: PeerId,
    pub state: ReplicaState,
}

/// `GET /collections/{name}/cluster` (spec §4.5).
#[derive(Debug, Clone, Serialize)]
pub struct CollectionClusterInfo {
    pub peer_id: PeerId,
    pub shard_count: usize,
    pub local_shards: Vec<LocalShardInfo>,
    pub remote_shards: Vec<RemoteShardInfo>,
    pub shard_transfers: Vec<serde_json::Value>,
    /// Ours (cluster mode): the placement keeper's planned steps for this collection and the
    /// shards it cannot place now (design record 012).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<PlacementInfo>,
}

/// The placement keeper's view of one collection.
#[derive(Debug, Clone, Serialize)]
pub struct PlacementInfo {
    pub planned: Vec<quiver_cluster::planner::Step>,
    pub blocked: Vec<quiver_cluster::planner::Blocked>,
}

/// An alias and its collection.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AliasDescription {
    pub alias_name: String,
    pub collection_name: String,
}
