//! `UpdateCollectionClusterSetup` requests → the cluster operations of
//! `POST /collections/{c}/cluster` (spec §4.6), run by the same node function.

use qdrant_client::qdrant as pb;
use quiver_types::cluster::{
    AbortTransferRequest, ClusterOperation, DropReplicaRequest, ReplicatePointsRequest, RestartTransferRequest,
    TransferMethod, TransferShardRequest,
};
use tonic::Status;

fn method_in(method: i32) -> Result<TransferMethod, Status> {
    match pb::ShardTransferMethod::try_from(method) {
        Ok(pb::ShardTransferMethod::StreamRecords) => Ok(TransferMethod::StreamRecords),
        Ok(pb::ShardTransferMethod::Snapshot) => Ok(TransferMethod::Snapshot),
        Ok(pb::ShardTransferMethod::WalDelta) => Ok(TransferMethod::WalDelta),
        Ok(pb::ShardTransferMethod::ReshardingStreamRecords) => Ok(TransferMethod::ReshardingStreamRecords),
        Err(_) => Err(Status::invalid_argument(format!("unknown shard transfer method {method}"))),
    }
}

fn transfer_in(
    shard_id: u32,
    to_shard_id: Option<u32>,
    from_peer_id: u64,
    to_peer_id: u64,
    method: Option<i32>,
) -> Result<TransferShardRequest, Status> {
    let method = method.map(method_in).transpose()?;
    Ok(TransferShardRequest { shard_id, from_peer_id, to_peer_id, method, to_shard_id })
}

/// `replicate_points`: both keys are required.
fn replicate_points_in(request: pb::ReplicatePoints) -> Result<ReplicatePointsRequest, Status> {
    use crate::grpc::shard_keys::key_in;
    Ok(ReplicatePointsRequest {
        from_shard_key: key_in(request.from_shard_key)?,
        to_shard_key: key_in(request.to_shard_key)?,
        filter: crate::grpc::filter::filter_in(request.filter)?,
    })
}

/// The cluster operation of a request.
pub fn operation_in(
    operation: Option<pb::update_collection_cluster_setup_request::Operation>,
) -> Result<ClusterOperation, Status> {
    use pb::update_collection_cluster_setup_request::Operation;
    match operation.ok_or_else(|| crate::grpc::status::missing("operation"))? {
        Operation::MoveShard(m) => Ok(ClusterOperation::MoveShard(transfer_in(
            m.shard_id,
            m.to_shard_id,
            m.from_peer_id,
            m.to_peer_id,
            m.method,
        )?)),
        Operation::ReplicateShard(r) => Ok(ClusterOperation::ReplicateShard(transfer_in(
            r.shard_id,
            r.to_shard_id,
            r.from_peer_id,
            r.to_peer_id,
            r.method,
        )?)),
        Operation::AbortTransfer(a) => Ok(ClusterOperation::AbortTransfer(AbortTransferRequest {
            shard_id: a.shard_id,
            from_peer_id: a.from_peer_id,
            to_peer_id: a.to_peer_id,
            to_shard_id: a.to_shard_id,
        })),
        Operation::RestartTransfer(r) => Ok(ClusterOperation::RestartTransfer(RestartTransferRequest {
            shard_id: r.shard_id,
            from_peer_id: r.from_peer_id,
            to_peer_id: r.to_peer_id,
            method: method_in(r.method)?,
            to_shard_id: r.to_shard_id,
        })),
        Operation::DropReplica(r) => {
            Ok(ClusterOperation::DropReplica(DropReplicaRequest { shard_id: r.shard_id, peer_id: r.peer_id }))
        }
        Operation::CreateShardKey(r) => {
            Ok(ClusterOperation::CreateShardingKey(crate::grpc::shard_keys::create_in(Some(r))?))
        }
        Operation::DeleteShardKey(r) => {
            Ok(ClusterOperation::DropShardingKey(crate::grpc::shard_keys::drop_in(Some(r))?))
        }
        Operation::ReplicatePoints(r) => Ok(ClusterOperation::ReplicatePoints(replicate_points_in(r)?)),
    }
}
