//! The node's implementations of the data plane's ports: shard calls to other peers over the p2p
//! transport, `Dead` marking through consensus and catching up with the cluster's metadata;
//! plus serving incoming shard requests.

use crate::node::Node;
use quiver_cluster::Consensus;
use quiver_cluster::state::MetaOperation;
use quiver_collection::context::ClusterPorts;
use quiver_collection::remote::{BoxFuture, ControlPlane, NOT_UNDERSTOOD, ShardRequest, ShardResponse, ShardTransport};
use quiver_collection::{Collection, CollectionError};
use quiver_transport::{PeerClient, PeerError, PeerRequest, PeerResponse};
use quiver_types::replica::ReplicaState;
use quiver_types::{PeerId, ShardId};
use std::sync::Arc;
use std::time::Duration;

/// Shard calls over p2p (MessagePack bodies: vectors travel as binary floats, not text); peer
/// addresses come from the applied cluster state.
pub struct P2pShardTransport {
    pub client: Arc<PeerClient>,
    pub consensus: Arc<Consensus>,
}

/// A failure of the call to `peer` itself (not a refusal `peer` answered with).
fn transport_error(peer: PeerId, e: PeerError) -> CollectionError {
    match e {
        PeerError::Unreachable(message) | PeerError::Timeout(message) => CollectionError::Unreachable { peer, message },
        PeerError::Down(message) => CollectionError::PeerDown { peer, message },
        PeerError::Remote(m) | PeerError::Codec(m) => CollectionError::Service(m),
    }
}

impl ShardTransport for P2pShardTransport {
    fn call(
        &self,
        peer: PeerId,
        collection: &str,
        shard_id: ShardId,
        request: ShardRequest,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<ShardResponse, CollectionError>> {
        let collection = collection.to_string();
        Box::pin(async move {
            let state = self.consensus.state();
            let uri = state
                .state
                .peers
                .get(&peer)
                .map(|p| p.uri.clone())
                .ok_or_else(|| CollectionError::ShardUnavailable(format!("peer {peer} is unknown")))?;
            let lane = coalescing_lane(&request);
            let body = rmp_serde::to_vec_named(&request).map_err(|e| CollectionError::Service(e.to_string()))?;
            let request = PeerRequest::Shard { collection, shard_id, body };
            let answer = match lane {
                Some(lane) => self.client.call_peer_coalesced(peer, &uri, lane, request, timeout).await,
                None => self.client.call_peer(peer, &uri, request, timeout).await,
            };
            match answer.map_err(|e| transport_error(peer, e))? {
                // The replica's answer or its typed refusal.
                PeerResponse::Shard { body } => rmp_serde::from_slice::<ShardReply>(&body)
                    .map_err(|e| CollectionError::Service(format!("bad shard reply: {e}")))?,
                other @ (PeerResponse::Raft { .. }
                | PeerResponse::Proposed { .. }
                | PeerResponse::AllPeers { .. }
                | PeerResponse::Pong { .. }
                | PeerResponse::Cluster { .. }
                | PeerResponse::Batch { .. }) => {
                    Err(CollectionError::Service(format!("unexpected reply to a shard call: {other:?}")))
                }
            }
        })
    }
}

/// The lane a shard call shares one RPC in with the calls to the same peer issued at the same
/// moment (design record 055), or `None` for a call sent alone. Writes of one request to
/// several shards are forwarded, records of several shards replicated, and a read's shards on
/// one peer asked, together; transfers, digests and other control calls are sent alone (a
/// batch is answered when its slowest call is).
fn coalescing_lane(request: &ShardRequest) -> Option<&'static str> {
    match request {
        ShardRequest::Update { .. } => Some("forwarded writes"),
        ShardRequest::Apply { .. } | ShardRequest::ApplyRecord { .. } => Some("replicated records"),
        ShardRequest::Search(_)
        | ShardRequest::Scroll(_)
        | ShardRequest::Count(_)
        | ShardRequest::Retrieve { .. }
        | ShardRequest::Versioned(_)
        | ShardRequest::Facet(_)
        | ShardRequest::SparseStats { .. } => Some("reads"),
        ShardRequest::Versions(_)
        | ShardRequest::Digest
        | ShardRequest::WalRecords { .. }
        | ShardRequest::LastSeq
        | ShardRequest::PrimaryLastSeq { .. }
        | ShardRequest::SnapshotBegin
        | ShardRequest::SnapshotPage { .. }
        | ShardRequest::SnapshotEnd { .. }
        | ShardRequest::SnapshotCreate
        | ShardRequest::SnapshotChunk { .. }
        | ShardRequest::WalRange
        | ShardRequest::FinishTransfer { .. }
        | ShardRequest::TransferComment { .. }
        | ShardRequest::SnapshotFrames { .. }
        | ShardRequest::WalRecordBytes { .. }
        | ShardRequest::Info
        | ShardRequest::ContentDigest => None,
    }
}

/// `Dead` marking through consensus (then reconciled locally before returning).
pub struct ConsensusControl {
    pub node: std::sync::Weak<Node>,
}

/// How long a peer waits to catch up with the cluster's metadata before refusing a write that
/// names a vector it does not know.
const METADATA_CATCH_UP: Duration = Duration::from_secs(10);

impl ControlPlane for ConsensusControl {
    fn catch_up_metadata(&self) -> BoxFuture<'_, Result<(), CollectionError>> {
        Box::pin(async move {
            let node = self.node.upgrade().ok_or_else(|| CollectionError::Service("node is stopping".into()))?;
            let cluster = node.cluster().ok_or_else(|| CollectionError::Service("not in cluster mode".into()))?;
            let unavailable = |e: quiver_cluster::ClusterError| {
                CollectionError::ShardUnavailable(format!("cannot catch up with the cluster's metadata: {e}"))
            };
            let commit = cluster.consensus.cluster_commit(METADATA_CATCH_UP).await.map_err(unavailable)?;
            cluster.consensus.wait_applied(commit, METADATA_CATCH_UP).await.map_err(unavailable)?;
            let node = Arc::clone(&node);
            tokio::task::spawn_blocking(move || node.reconcile_now())
                .await
                .map_err(|e| CollectionError::Service(format!("reconcile task: {e}")))
        })
    }

    fn is_indispensable(&self) -> bool {
        self.node.upgrade().and_then(|n| n.cluster().map(|c| c.consensus.indispensable())).unwrap_or(false)
    }

    fn is_connected(&self) -> bool {
        self.node.upgrade().and_then(|n| n.cluster().map(|c| c.consensus.in_contact())).unwrap_or(false)
    }

    fn since_contact(&self) -> Option<Duration> {
        self.node.upgrade().and_then(|n| n.cluster().and_then(|c| c.consensus.since_contact()))
    }

    fn finish_transfer(
        &self,
        collection: &str,
        shard_id: ShardId,
        from: PeerId,
        to: PeerId,
    ) -> BoxFuture<'_, Result<(), CollectionError>> {
        let collection = collection.to_string();
        Box::pin(async move {
            let node = self.node.upgrade().ok_or_else(|| CollectionError::Service("node is stopping".into()))?;
            // Finished by this peer as the shard's primary: refused if it no longer is.
            let by = Some(node.peer_id());
            let op = MetaOperation::FinishTransfer { collection, shard_id, from, to, by };
            match node.propose(op, Some(Duration::from_secs(30))).await {
                Ok(_) => Ok(()),
                Err(e @ crate::error::NodeError::Timeout(_)) => Err(CollectionError::Timeout(e.to_string())),
                Err(e) => Err(CollectionError::Service(e.to_string())),
            }
        })
    }

    fn mark_dead(
        &self,
        collection: &str,
        shard_id: ShardId,
        peer: PeerId,
        from_state: ReplicaState,
    ) -> BoxFuture<'_, Result<(), CollectionError>> {
        let collection = collection.to_string();
        let op = MetaOperation::SetReplicaState {
            collection: collection.clone(),
            shard_id,
            peer_id: peer,
            state: ReplicaState::Dead,
            from_state: Some(from_state),
        };
        Box::pin(async move {
            let node = self.node.upgrade().ok_or_else(|| CollectionError::Service("node is stopping".into()))?;
            let in_contact = node.cluster().is_some_and(|c| c.consensus.in_contact());
            if !in_contact {
                return Err(CollectionError::ShardUnavailable(format!(
                    "cannot mark replica {peer} of shard {shard_id} Dead: no Raft majority is reachable"
                )));
            }
            match node.propose(op, Some(Duration::from_secs(30))).await {
                Ok(_) => Ok(()),
                // Refused because it was deactivated first (the health checker marked it Dead, a
                // graceful stop handed it off and its recovery has begun since, it was dropped):
                // it serves no read until a transfer that began after this write brings it back.
                Err(_) if deactivated_since(node.replica_state(&collection, shard_id, peer), from_state) => Ok(()),
                Err(e) => Err(CollectionError::Service(e.to_string())),
            }
        })
    }
}

/// Whether a replica seen in `from_state` when a write failed on it no longer serves reads in
/// its `current` state (or is gone): that is what marking it `Dead` was for.
fn deactivated_since(current: Option<ReplicaState>, from_state: ReplicaState) -> bool {
    match current {
        None => true,
        Some(ReplicaState::Dead) => true,
        Some(state) => from_state.is_readable() && !state.is_readable(),
    }
}

/// What a replica answers another peer's shard request: its response or its typed refusal
/// (MessagePack inside `PeerResponse::Shard`).
pub type ShardReply = Result<ShardResponse, CollectionError>;

/// A node-level failure while serving a shard request, as the caller will see it.
fn remote_refusal(e: crate::error::NodeError) -> CollectionError {
    use crate::error::NodeError;
    match e {
        NodeError::NotFound(m) => CollectionError::NotFound(m),
        NodeError::BadInput(m) => CollectionError::BadInput(m),
        NodeError::BadRequest(m) => CollectionError::BadRequest(m),
        NodeError::Timeout(m) => CollectionError::Timeout(m),
        NodeError::ShardUnavailable(m) | NodeError::RemovedFromCluster(m) => CollectionError::ShardUnavailable(m),
        e @ (NodeError::Validation(_)
        | NodeError::AlreadyExists(_)
        | NodeError::StandaloneMode
        | NodeError::Forbidden(_)
        | NodeError::Locked(_)
        | NodeError::ChecksumMismatch { .. }
        | NodeError::RateLimited { .. }
        | NodeError::Service(_)) => CollectionError::Service(e.to_string()),
    }
}

impl Node {
    /// The applied state of one replica (cluster mode).
    pub(crate) fn replica_state(&self, collection: &str, shard_id: ShardId, peer: PeerId) -> Option<ReplicaState> {
        let state = self.cluster_state()?;
        let (_, meta) = state.resolve_collection(collection)?;
        meta.replica_state(shard_id, peer)
    }

    /// Gives `collection` its ports to other peers and to consensus (cluster mode, once).
    pub(crate) fn attach_ports(&self, collection: &Collection) {
        let Some(cluster) = self.cluster() else { return };
        let transport =
            P2pShardTransport { client: Arc::clone(&cluster.client), consensus: Arc::clone(&cluster.consensus) };
        let control = ConsensusControl { node: self.weak_self() };
        collection.attach_cluster(ClusterPorts {
            me: self.peer_id(),
            transport: Arc::new(transport),
            control: Arc::new(control),
        });
    }

    /// Serves a shard request from another peer: the encoded [`ShardReply`]. `Err` only when
    /// the request cannot be decoded or the reply encoded.
    pub async fn handle_shard_request(
        &self,
        collection: &str,
        shard_id: ShardId,
        body: &[u8],
    ) -> Result<Vec<u8>, String> {
        let request: ShardRequest = rmp_serde::from_slice(body).map_err(|e| format!("{NOT_UNDERSTOOD}: {e}"))?;
        let reply: ShardReply = match self.resolve(collection) {
            Ok(collection) => collection.handle_shard_request(shard_id, request).await,
            Err(e) => Err(remote_refusal(e)),
        };
        rmp_serde::to_vec_named(&reply).map_err(|e| e.to_string())
    }
}

impl Node {
    /// The digest of this peer's replica of a shard (for convergence checks).
    pub async fn shard_digest(&self, collection: &str, shard_id: ShardId) -> crate::error::Result<serde_json::Value> {
        let collection = self.resolve(collection)?;
        let (digest, points, last_seq) =
            collection.handle_shard_request(shard_id, ShardRequest::ContentDigest).await?.into_digest()?;
        let (wal_first_seq, _) =
            collection.handle_shard_request(shard_id, ShardRequest::WalRange).await?.into_wal_range()?;
        Ok(serde_json::json!({
            "digest": digest.to_string(),
            "points_count": points,
            "last_seq": last_seq,
            "wal_first_seq": wal_first_seq,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiver_types::ops::{PointSelector, UpdateOperation};

    #[test]
    fn writes_records_and_reads_share_lanes_of_their_own_and_transfers_travel_alone() {
        let op = UpdateOperation::ClearPayload { selector: PointSelector::Ids(vec![]) };
        let update = ShardRequest::Update { op: op.clone(), wait: true, seen_at: 1 };
        let apply = ShardRequest::Apply { primary: 1, seq: 2, op, wait: true, term: 1 };
        let record = ShardRequest::ApplyRecord { primary: 1, seq: 2, record: vec![1], wait: true, term: 1 };
        let count = ShardRequest::Count(None);
        let versioned = ShardRequest::Versioned(Box::new(ShardRequest::Count(None)));
        assert_eq!(coalescing_lane(&update), Some("forwarded writes"));
        assert_eq!(coalescing_lane(&apply), coalescing_lane(&record));
        assert_ne!(coalescing_lane(&apply), coalescing_lane(&update));
        assert_eq!(coalescing_lane(&count), Some("reads"));
        assert_eq!(coalescing_lane(&versioned), Some("reads"));
        for alone in [
            ShardRequest::SnapshotFrames { token: 1, offset: 0, limit: 10 },
            ShardRequest::WalRecordBytes { from: 1, to: 2 },
            ShardRequest::ContentDigest,
            ShardRequest::FinishTransfer { from: 1, to: 2 },
        ] {
            assert_eq!(coalescing_lane(&alone), None, "{alone:?}");
        }
    }
}
