//! The cluster map the dashboard draws (`GET /cluster/map`, ours): every peer with its Raft
//! role, URI and whether it answers this peer now; per collection, each shard's replicas with
//! their states and the primary marked (as this peer sees it); running transfers with their
//! progress. Standalone: this peer alone, every shard one local `Active` replica.

use crate::node::Node;
use quiver_transport::{PeerRequest, PeerResponse};
use quiver_types::cluster::TransferMethod;
use quiver_types::replica::ReplicaState;
use quiver_types::{PeerId, ShardId};
use serde::Serialize;
use std::time::Duration;

/// How long a peer may take to answer the map's ping.
const PING_TIMEOUT: Duration = Duration::from_millis(700);

#[derive(Debug, Clone, Serialize)]
pub struct ClusterMap {
    pub peer_id: PeerId,
    pub cluster_enabled: bool,
    pub leader: Option<PeerId>,
    pub term: u64,
    pub commit: u64,
    pub peers: Vec<PeerView>,
    pub collections: Vec<CollectionView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeerView {
    pub peer_id: PeerId,
    pub uri: String,
    /// `leader` or `follower`.
    pub role: &'static str,
    /// It answered a ping from this peer just now (this peer itself: always).
    pub reachable: bool,
    pub this_peer: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CollectionView {
    pub name: String,
    pub replication_factor: u32,
    pub shards: Vec<ShardView>,
    pub transfers: Vec<TransferView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ShardView {
    pub shard_id: ShardId,
    pub replicas: Vec<ReplicaView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplicaView {
    pub peer_id: PeerId,
    pub state: ReplicaState,
    pub primary: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TransferView {
    pub shard_id: ShardId,
    pub from: PeerId,
    pub to: PeerId,
    /// `true`: a copy (the source keeps its replica); `false`: a move.
    pub sync: bool,
    pub method: Option<TransferMethod>,
    /// The target's progress report, when it answers.
    pub comment: Option<String>,
}

impl Node {
    /// The map of the cluster as this peer sees it now.
    pub async fn cluster_map(&self) -> ClusterMap {
        let Some(cluster) = self.cluster() else { return self.standalone_map() };
        let me = self.peer_id();
        let info = cluster.consensus.raft_info();
        let state = cluster.consensus.state().state.clone();
        let pings = state.peers.iter().map(|(id, peer)| async move {
            let reachable = *id == me
                || matches!(
                    cluster.client.call_peer(*id, &peer.uri, PeerRequest::Ping, PING_TIMEOUT).await,
                    Ok(PeerResponse::Pong { peer_id }) if peer_id == *id
                );
            let role = if info.leader == Some(*id) { "leader" } else { "follower" };
            PeerView {
                peer_id: *id,
                uri: quiver_transport::display_uri(&peer.uri),
                role,
                reachable,
                this_peer: *id == me,
            }
        });
        let peers = futures::future::join_all(pings).await;
        let mut collections = Vec::new();
        for (name, meta) in &state.collections {
            let local = self.resolve(name).ok();
            let primary = |shard_id: ShardId| local.as_ref().and_then(|c| c.replica_set(shard_id).ok()?.primary());
            let shards = meta
                .shards
                .iter()
                .map(|(shard_id, replicas)| ShardView {
                    shard_id: *shard_id,
                    replicas: replicas
                        .iter()
                        .map(|(peer_id, state)| ReplicaView {
                            peer_id: *peer_id,
                            state: *state,
                            primary: primary(*shard_id) == Some(*peer_id),
                        })
                        .collect(),
                })
                .collect();
            let mut transfers = Vec::new();
            for t in &meta.transfers {
                let comment = match &local {
                    Some(c) => c.transfer_comment(t.shard_id, t.from, t.to).await,
                    None => None,
                };
                let (shard_id, from, to, sync, method) = (t.shard_id, t.from, t.to, t.sync, t.method);
                transfers.push(TransferView { shard_id, from, to, sync, method, comment });
            }
            let replication_factor = meta.config.params.replication_factor;
            collections.push(CollectionView { name: name.clone(), replication_factor, shards, transfers });
        }
        ClusterMap {
            peer_id: me,
            cluster_enabled: true,
            leader: info.leader,
            term: info.term,
            commit: info.commit,
            peers,
            collections,
        }
    }

    fn standalone_map(&self) -> ClusterMap {
        let me = self.peer_id();
        let collections = self
            .collections()
            .iter()
            .map(|c| CollectionView {
                name: c.name().to_string(),
                replication_factor: c.config().params.replication_factor,
                shards: c
                    .replica_sets()
                    .into_iter()
                    .map(|set| ShardView {
                        shard_id: set.shard_id,
                        replicas: vec![ReplicaView { peer_id: me, state: set.local_state(), primary: true }],
                    })
                    .collect(),
                transfers: Vec::new(),
            })
            .collect();
        let this = PeerView { peer_id: me, uri: String::new(), role: "leader", reachable: true, this_peer: true };
        ClusterMap {
            peer_id: me,
            cluster_enabled: false,
            leader: Some(me),
            term: 0,
            commit: 0,
            peers: vec![this],
            collections,
        }
    }
}
