//! Cluster mode of a node: the consensus handle, the p2p request handler, metadata proposals
//! with Qdrant's timeouts and messages, and the cluster status endpoints' data.

use crate::cluster_context::ClusterContext;
use crate::error::{NodeError, Result};
use crate::node::Node;
use quiver_cluster::state::{ClusterState, MetaError, MetaOperation, MetaResponse};
use quiver_cluster::{ClusterError, RaftInfo};
use quiver_transport::{HandlerFuture, PeerHandler, PeerRequest, SendFailure, display_uri};
use quiver_types::PeerId;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Default wait for metadata operations (`CONSENSUS_META_OP_WAIT`).
pub const META_OP_TIMEOUT: Duration = Duration::from_secs(10);

/// `GET /cluster` in cluster mode (spec §4.1).
#[derive(Debug, Clone, Serialize)]
pub struct ClusterStatus {
    pub status: &'static str,
    pub peer_id: PeerId,
    pub peers: BTreeMap<String, PeerUri>,
    pub raft_info: RaftInfo,
    pub consensus_thread_status: serde_json::Value,
    pub message_send_failures: BTreeMap<String, SendFailure>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeerUri {
    pub uri: String,
}

impl From<MetaError> for NodeError {
    fn from(e: MetaError) -> Self {
        match e {
            MetaError::NotFound(m) => NodeError::NotFound(m),
            MetaError::BadInput(m) => NodeError::BadInput(m),
            MetaError::BadRequest(m) => NodeError::BadRequest(m),
            MetaError::AlreadyExists(name) => NodeError::AlreadyExists(name),
        }
    }
}

impl From<ClusterError> for NodeError {
    fn from(e: ClusterError) -> Self {
        match e {
            ClusterError::Refused(meta) => NodeError::from(meta),
            ClusterError::BadRequest(m) => NodeError::BadRequest(m),
            ClusterError::JoinRefused(m) => NodeError::BadRequest(m),
            ClusterError::Removed(m) => NodeError::RemovedFromCluster(m),
            ClusterError::NoLeader(_)
            | ClusterError::NotLeader
            | ClusterError::Timeout(_)
            | ClusterError::Transport(_)
            | ClusterError::Raft(_) => NodeError::Service(e.to_string()),
        }
    }
}

/// Serves p2p requests for a node (held weakly: the server must not keep the node alive).
pub struct NodePeerHandler {
    pub node: Weak<Node>,
}

impl PeerHandler for NodePeerHandler {
    fn peer_id(&self) -> Option<PeerId> {
        self.node.upgrade().map(|node| node.peer_id())
    }

    fn handle(&self, from: PeerId, request: PeerRequest) -> HandlerFuture<'_> {
        let node = self.node.upgrade();
        Box::pin(async move {
            let node = node.ok_or_else(|| "node is shutting down".to_string())?;
            let cluster = node.cluster().ok_or_else(|| "cluster mode is not enabled".to_string())?;
            match request {
                PeerRequest::Shard { collection, shard_id, body } => {
                    // A removed peer's view of the cluster is stale: nothing it sends is served.
                    if cluster.consensus.is_removed_peer(from) {
                        return Err(format!("peer {from} was removed from the cluster"));
                    }
                    let body = node.handle_shard_request(&collection, shard_id, &body).await?;
                    Ok(quiver_transport::PeerResponse::Shard { body })
                }
                other @ (PeerRequest::Raft { .. }
                | PeerRequest::Propose { .. }
                | PeerRequest::AddPeer { .. }
                | PeerRequest::Ping
                | PeerRequest::Cluster { .. }) => cluster.consensus.handle(from, other).await,
                PeerRequest::Batch { .. } => Err("a batch is unpacked by the transport, not served whole".into()),
            }
        })
    }
}

impl Node {
    /// The cluster context, when running in cluster mode.
    pub fn cluster(&self) -> Option<&ClusterContext> {
        self.cluster.get()
    }

    /// Switches the node to cluster mode (once, at startup).
    pub fn attach_cluster(&self, context: ClusterContext) -> Result<()> {
        self.cluster.set(context).map_err(|_| NodeError::Service("cluster mode attached twice".into()))
    }

    /// Proposes a metadata operation and applies its local effects before returning.
    pub(crate) async fn propose(&self, op: MetaOperation, timeout: Option<Duration>) -> Result<MetaResponse> {
        let cluster = self.cluster().ok_or(NodeError::StandaloneMode)?;
        let response = cluster.consensus.propose(op, timeout.unwrap_or(META_OP_TIMEOUT)).await?;
        self.reconcile_now();
        Ok(response)
    }

    /// The applied cluster metadata (cluster mode).
    pub fn cluster_state(&self) -> Option<ClusterState> {
        self.cluster().map(|c| c.consensus.state().state.clone())
    }

    /// `GET /cluster` in cluster mode.
    pub fn cluster_status(&self) -> Result<ClusterStatus> {
        let cluster = self.cluster().ok_or(NodeError::StandaloneMode)?;
        let state = cluster.consensus.state();
        let peers =
            state.state.peers.iter().map(|(id, p)| (id.to_string(), PeerUri { uri: display_uri(&p.uri) })).collect();
        // Qdrant reports a removed peer's consensus as `stopped` (not an error); why it stopped
        // is in the 503 of every request it refuses.
        let thread_status = match cluster.consensus.removed() {
            Some(_) => serde_json::json!({"consensus_thread_status": "stopped"}),
            None => consensus_thread_status(cluster.consensus.running().err()),
        };
        Ok(ClusterStatus {
            status: "enabled",
            peer_id: self.peer_id(),
            peers,
            raft_info: cluster.consensus.raft_info(),
            consensus_thread_status: thread_status,
            message_send_failures: cluster
                .client
                .send_failures()
                .into_iter()
                .map(|(uri, failure)| (display_uri(&uri), failure))
                .collect(),
        })
    }

    /// `POST /cluster/recover` (spec §4.3).
    pub async fn recover_consensus(&self) -> Result<bool> {
        let cluster = self.cluster().ok_or(NodeError::StandaloneMode)?;
        cluster.consensus.request_snapshot(META_OP_TIMEOUT).await?;
        Ok(true)
    }

    /// Waits (within `timeout`) until every peer applied what this peer has; only logs if some
    /// peer does not get there (spec §2: `await_consensus_sync`).
    pub(crate) async fn await_peers_synced(&self, timeout: Duration) {
        let Some(cluster) = self.cluster() else { return };
        let applied = cluster.consensus.state();
        let target = applied.applied_index();
        let deadline = tokio::time::Instant::now() + timeout;
        for (peer, info) in &applied.state.peers {
            if *peer == self.peer_id() {
                continue;
            }
            loop {
                let left =
                    deadline.saturating_duration_since(tokio::time::Instant::now()).max(Duration::from_millis(100));
                match cluster.consensus.peer_applied(&info.uri, left).await {
                    Ok(index) if index >= target => break,
                    Ok(_) if tokio::time::Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Ok(_) => {
                        tracing::warn!(peer, "peer did not catch up with the consensus in time");
                        break;
                    }
                    // A peer that does not answer (down, unreachable) is not waited for: every
                    // collection operation would otherwise take the whole timeout while a peer
                    // is down. It catches up when it returns.
                    Err(e) => {
                        tracing::warn!(peer, error = %e, "peer not reachable: not waiting for it to catch up");
                        break;
                    }
                }
            }
        }
    }

    /// `DELETE /cluster/peer/{id}` (spec §4.2).
    pub async fn remove_peer(&self, peer_id: PeerId, force: bool, timeout: Option<Duration>) -> Result<bool> {
        let cluster = self.cluster().ok_or(NodeError::StandaloneMode)?;
        let state = cluster.consensus.state();
        if !state.state.peers.contains_key(&peer_id) {
            return Err(NodeError::BadRequest(format!("Peer {peer_id} does not exist")));
        }
        // Checked before anything is proposed: its `RemovePeer` would apply and only the
        // membership change after it fail, leaving a cluster that lists no peer.
        if state.membership.voter_ids().all(|voter| voter == peer_id) {
            return Err(NodeError::BadRequest(format!(
                "Cannot remove peer {peer_id}: it is the last voting peer of the cluster"
            )));
        }
        if !force && state.state.peer_has_replicas(peer_id) {
            return Err(NodeError::BadRequest(format!("Cannot remove peer {peer_id} as there are shards on it")));
        }
        let timeout = timeout.unwrap_or(META_OP_TIMEOUT);
        self.propose(MetaOperation::RemovePeer { peer_id }, Some(timeout)).await?;
        cluster.consensus.remove_peer(peer_id, timeout).await?;
        if let Some(p) = state.state.peers.get(&peer_id) {
            cluster.client.forget(&p.uri);
        }
        Ok(true)
    }

    /// `PUT|DELETE /cluster/metadata/keys/{key}`: with `wait` returns once applied here, else once
    /// the proposal is submitted (spec §4.4).
    pub async fn set_cluster_metadata(&self, key: &str, value: Option<serde_json::Value>, wait: bool) -> Result<bool> {
        let cluster = self.cluster().ok_or(NodeError::StandaloneMode)?;
        let op = MetaOperation::SetMetadata { key: key.to_string(), value: value.filter(|v| !v.is_null()) };
        if wait {
            self.propose(op, None).await?;
        } else {
            let consensus = Arc::clone(&cluster.consensus);
            tokio::spawn(async move {
                if let Err(e) = consensus.propose(op, META_OP_TIMEOUT).await {
                    tracing::warn!(error = %e, "cluster metadata update failed");
                }
            });
        }
        Ok(true)
    }

    /// `GET /cluster/metadata/keys`.
    pub fn cluster_metadata_keys(&self) -> Result<Vec<String>> {
        let state = self.cluster_state().ok_or(NodeError::StandaloneMode)?;
        Ok(state.metadata.keys().cloned().collect())
    }

    /// `GET /cluster/metadata/keys/{key}`.
    pub fn cluster_metadata_key(&self, key: &str) -> Result<serde_json::Value> {
        let state = self.cluster_state().ok_or(NodeError::StandaloneMode)?;
        Ok(state.metadata.get(key).cloned().unwrap_or(serde_json::Value::Null))
    }

    /// `/readyz` (spec §1): standalone always; in a cluster once this peer is in contact with a
    /// quorum, has applied the leader's commit, a bootstrapped peer sees another peer, and local
    /// replicas are healthy. Once ready, ready for the process lifetime.
    ///
    /// The contact comes first: a restarted former leader takes up its old term as leader
    /// (openraft restores a committed vote for itself) and answers its own stale commit, while
    /// the others have elected a new leader and may have marked its replicas `Dead`; without a
    /// quorum's acknowledgement since the restart, its view proves nothing.
    pub async fn is_ready(&self) -> bool {
        let Some(cluster) = self.cluster() else { return true };
        if cluster.consensus.removed().is_some() {
            return false;
        }
        if cluster.ready.load(Ordering::Acquire) {
            return true;
        }
        let state = cluster.consensus.state();
        if (cluster.bootstrapped && state.state.peers.len() < 2) || !cluster.consensus.in_contact() {
            return false;
        }
        let Ok(commit) = cluster.consensus.cluster_commit(Duration::from_millis(500)).await else { return false };
        if state.applied_index() < commit || !self.local_replicas_healthy() {
            return false;
        }
        cluster.ready.store(true, Ordering::Release);
        true
    }

    /// Fault injection for tests: replaces the partition rules with these: traffic with
    /// `blocked` cut both ways, to `outgoing` and from `incoming` cut one way (all empty: healed).
    pub fn set_partition(&self, blocked: &[PeerId], outgoing: &[PeerId], incoming: &[PeerId]) -> Result<()> {
        let cluster = self.cluster().ok_or(NodeError::StandaloneMode)?;
        let state = cluster.consensus.state();
        let uri = |peer: &PeerId| state.state.peers.get(peer).map(|p| p.uri.clone()).unwrap_or_default();
        cluster.faults.unblock_all();
        for peer in blocked {
            cluster.faults.block_peer(*peer, &uri(peer));
        }
        for peer in outgoing {
            cluster.faults.block_outgoing(*peer, &uri(peer));
        }
        for peer in incoming {
            cluster.faults.block_incoming(*peer, &uri(peer));
        }
        Ok(())
    }
}

/// `consensus_thread_status` of a peer whose consensus stopped with this error, if it did.
pub(crate) fn consensus_thread_status(stopped_with: Option<String>) -> serde_json::Value {
    match stopped_with {
        None => serde_json::json!({"consensus_thread_status": "working", "last_update": chrono_now()}),
        Some(err) => serde_json::json!({"consensus_thread_status": "stopped_with_err", "err": err}),
    }
}

fn chrono_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
