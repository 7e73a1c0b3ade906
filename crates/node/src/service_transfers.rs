//! `POST /collections/{c}/cluster` (spec §4.6): shard transfers (`move_shard`,
//! `replicate_shard`, `abort_transfer`, `restart_transfer`) and `drop_replica`, validated here
//! and then committed through consensus. The call returns once the operation is applied on this
//! peer, not when a transfer finishes.

use crate::cluster_mode::META_OP_TIMEOUT;
use crate::error::{NodeError, Result};
use crate::node::Node;
use quiver_cluster::state::{CollectionMeta, MetaOperation};
use quiver_types::cluster::{ClusterOperation, ShardTransfer, TransferMethod, TransferShardRequest};
use quiver_types::{PeerId, ShardId};
use std::time::Duration;

/// The method of a transfer that names none (spec §4.6): the configured one, else `snapshot`.
pub(crate) fn default_method(configured: Option<TransferMethod>) -> TransferMethod {
    configured.unwrap_or(TransferMethod::Snapshot)
}

impl Node {
    /// Validates and commits one cluster operation on collection `name`.
    pub async fn update_collection_cluster(
        &self,
        name: &str,
        operation: ClusterOperation,
        timeout: Option<Duration>,
    ) -> Result<bool> {
        let state = self.cluster_state().ok_or(NodeError::StandaloneMode)?;
        let (real_name, meta) = state.resolve_collection(name).ok_or_else(|| NodeError::collection_not_found(name))?;
        let collection = real_name.to_string();
        let op = match operation {
            ClusterOperation::MoveShard(request) => {
                self.transfer_op(&state.peers, meta, collection, &request, false)?
            }
            ClusterOperation::ReplicateShard(request) => {
                self.transfer_op(&state.peers, meta, collection, &request, true)?
            }
            ClusterOperation::AbortTransfer(request) => {
                check_not_itself("abort_transfer", request.from_peer_id, request.to_peer_id)?;
                MetaOperation::AbortTransfer {
                    collection,
                    shard_id: request.shard_id,
                    from: request.from_peer_id,
                    to: request.to_peer_id,
                    reason: "user request".into(),
                }
            }
            ClusterOperation::RestartTransfer(request) => {
                check_not_itself("restart_transfer", request.from_peer_id, request.to_peer_id)?;
                MetaOperation::RestartTransfer {
                    collection,
                    shard_id: request.shard_id,
                    from: request.from_peer_id,
                    to: request.to_peer_id,
                    method: request.method,
                }
            }
            ClusterOperation::DropReplica(request) => {
                check_shard(meta, &collection, request.shard_id)?;
                check_peer(&state.peers, request.peer_id)?;
                MetaOperation::DropReplica { collection, shard_id: request.shard_id, peer_id: request.peer_id }
            }
            ClusterOperation::CreateShardingKey(request) => return self.create_shard_key(name, request, timeout).await,
            ClusterOperation::DropShardingKey(request) => return self.drop_shard_key(name, request, timeout).await,
            ClusterOperation::ReplicatePoints(request) => return self.replicate_points(name, request, timeout).await,
        };
        self.propose(op, Some(timeout.unwrap_or(META_OP_TIMEOUT))).await?;
        Ok(true)
    }

    /// `move_shard` (`sync = false`) or `replicate_shard` (`sync = true`) after the handler
    /// pre-checks; the state machine re-checks the rest when the operation is applied.
    fn transfer_op(
        &self,
        peers: &std::collections::BTreeMap<PeerId, quiver_cluster::state::PeerInfo>,
        meta: &CollectionMeta,
        collection: String,
        request: &TransferShardRequest,
        sync: bool,
    ) -> Result<MetaOperation> {
        let TransferShardRequest { shard_id, from_peer_id: from, to_peer_id: to, method, to_shard_id } = *request;
        check_not_itself(if sync { "replicate_shard" } else { "move_shard" }, from, to)?;
        if to_shard_id.is_some() {
            return Err(NodeError::BadInput(format!(
                "Target shard of shard {shard_id} can only be set for resharding transfers"
            )));
        }
        check_shard(meta, &collection, shard_id)?;
        check_peer(peers, from)?;
        check_peer(peers, to)?;
        let method = Some(method.unwrap_or(default_method(self.config.shard_transfer_method)));
        Ok(MetaOperation::StartTransfer {
            collection,
            transfer: ShardTransfer { shard_id, from, to, sync, method },
            limits: None,
        })
    }
}

/// Qdrant's text for a transfer to the peer it starts from (`operation` names the JSON key).
fn check_not_itself(operation: &str, from: PeerId, to: PeerId) -> Result<()> {
    match from == to {
        true => Err(NodeError::Validation(quiver_types::validation::json_body(format!(
            "{operation}.to_peer_id: value {to} must not match from_peer_id"
        )))),
        false => Ok(()),
    }
}

fn check_shard(meta: &CollectionMeta, collection: &str, shard_id: ShardId) -> Result<()> {
    match meta.shards.contains_key(&shard_id) {
        true => Ok(()),
        false => Err(NodeError::BadInput(format!("Shard {shard_id} of {collection} does not exist"))),
    }
}

fn check_peer(peers: &std::collections::BTreeMap<PeerId, quiver_cluster::state::PeerInfo>, peer: PeerId) -> Result<()> {
    match peers.contains_key(&peer) {
        true => Ok(()),
        false => Err(NodeError::BadInput(format!("Peer {peer} does not exist"))),
    }
}
