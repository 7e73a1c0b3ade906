//! Cluster vocabulary shared by the control and data planes: alias actions, shard transfers and
//! the operations of `POST /collections/{c}/cluster`.

use crate::replica::ReplicaState;
use crate::shard_key::ShardKey;
use crate::{PeerId, ShardId};
use serde::{Deserialize, Serialize};

/// One action of `POST /collections/aliases`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AliasAction {
    CreateAlias { collection_name: String, alias_name: String },
    DeleteAlias { alias_name: String },
    RenameAlias { old_alias_name: String, new_alias_name: String },
}

/// How a shard transfer copies data (spec §4.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferMethod {
    StreamRecords,
    Snapshot,
    WalDelta,
    ReshardingStreamRecords,
}

/// A running shard transfer as the cluster state records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardTransfer {
    pub shard_id: ShardId,
    pub from: PeerId,
    pub to: PeerId,
    /// `true`: replicate (source kept); `false`: move (source dropped on finish).
    pub sync: bool,
    pub method: Option<TransferMethod>,
}

impl ShardTransfer {
    /// The key that identifies a transfer: (shard, from, to).
    pub fn key(&self) -> (ShardId, PeerId, PeerId) {
        let ShardTransfer { shard_id, from, to, sync: _, method: _ } = self;
        (*shard_id, *from, *to)
    }
}

/// A shard transfer request of `POST /collections/{c}/cluster` (`move_shard`, `replicate_shard`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferShardRequest {
    pub shard_id: ShardId,
    pub from_peer_id: PeerId,
    pub to_peer_id: PeerId,
    #[serde(default)]
    pub method: Option<TransferMethod>,
    /// Resharding / filtered transfers only; refused otherwise.
    #[serde(default)]
    pub to_shard_id: Option<ShardId>,
}

/// `abort_transfer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbortTransferRequest {
    pub shard_id: ShardId,
    pub from_peer_id: PeerId,
    pub to_peer_id: PeerId,
    #[serde(default)]
    pub to_shard_id: Option<ShardId>,
}

/// `restart_transfer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartTransferRequest {
    pub shard_id: ShardId,
    pub from_peer_id: PeerId,
    pub to_peer_id: PeerId,
    pub method: TransferMethod,
    #[serde(default)]
    pub to_shard_id: Option<ShardId>,
}

/// `drop_replica`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropReplicaRequest {
    pub shard_id: ShardId,
    pub peer_id: PeerId,
}

/// `create_sharding_key`, and the body of `PUT /collections/{c}/shards` (spec §2.6, §4.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateShardingKey {
    pub shard_key: ShardKey,
    /// Shards of this key; the collection's `shard_number` when absent.
    #[serde(default, alias = "shard_number")]
    pub shards_number: Option<u32>,
    /// Replicas of each shard of this key; the collection's when absent.
    #[serde(default)]
    pub replication_factor: Option<u32>,
    /// The peers the key's shards go to; every peer that takes replicas when absent.
    #[serde(default)]
    pub placement: Option<Vec<PeerId>>,
    #[serde(default)]
    pub initial_state: Option<ReplicaState>,
}

/// `drop_sharding_key`, and the body of `POST /collections/{c}/shards/delete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropShardingKey {
    pub shard_key: ShardKey,
}

/// `replicate_points`: the points of `from_shard_key` (those matching `filter`) copied into
/// `to_shard_key`, Qdrant's step of moving a tenant from a shared key to a key of its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicatePointsRequest {
    pub from_shard_key: ShardKey,
    pub to_shard_key: ShardKey,
    #[serde(default)]
    pub filter: Option<crate::filter::Filter>,
}

/// One operation of `POST /collections/{c}/cluster` (spec §4.6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ClusterOperation {
    MoveShard(TransferShardRequest),
    ReplicateShard(TransferShardRequest),
    AbortTransfer(AbortTransferRequest),
    RestartTransfer(RestartTransferRequest),
    DropReplica(DropReplicaRequest),
    CreateShardingKey(CreateShardingKey),
    DropShardingKey(DropShardingKey),
    ReplicatePoints(ReplicatePointsRequest),
}
