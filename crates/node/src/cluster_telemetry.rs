//! `GET /cluster/telemetry` (Qdrant's `DistributedTelemetryData`): the cluster as every peer
//! reports it, gathered by the peer asked. Each peer's consensus status is asked of that peer
//! (`responsive: false` when it does not answer in time); each collection's shards with their
//! replicas' states from the applied metadata and each replica's figures asked of the peer that
//! holds it; running transfers as the collection's cluster info shows them. Standalone: this
//! peer's collections, every shard one local replica, and no `cluster` object.

use crate::cluster_mode::consensus_thread_status;
use crate::node::Node;
use quiver_cluster::PeerStatus;
use quiver_collection::Collection;
use quiver_collection::remote::ShardInfo;
use quiver_types::replica::ReplicaState;
use quiver_types::shard_key::ShardKey;
use quiver_types::{PeerId, ShardId};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, Serialize)]
pub struct DistributedTelemetry {
    pub collections: BTreeMap<String, CollectionTelemetry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterTelemetry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClusterTelemetry {
    pub enabled: bool,
    pub number_of_peers: usize,
    pub peers: BTreeMap<String, PeerTelemetry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeerTelemetry {
    pub uri: String,
    /// It answered this request.
    pub responsive: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<PeerDetails>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeerDetails {
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub is_voter: bool,
    pub term: u64,
    pub commit: u64,
    pub num_pending_operations: u64,
    pub consensus_thread_status: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct CollectionTelemetry {
    pub id: String,
    pub shards: Vec<ShardTelemetry>,
    pub shard_transfers: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ShardTelemetry {
    pub id: ShardId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<ShardKey>,
    pub replicas: Vec<ReplicaTelemetry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplicaTelemetry {
    pub peer_id: PeerId,
    pub state: ReplicaState,
    /// `green`, or `yellow` while its indexer works; absent when its peer did not answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_points: Option<usize>,
}

impl From<PeerStatus> for PeerDetails {
    fn from(s: PeerStatus) -> Self {
        PeerDetails {
            version: s.version,
            role: s.role,
            is_voter: s.is_voter,
            term: s.term,
            commit: s.commit,
            num_pending_operations: s.pending_operations,
            consensus_thread_status: consensus_thread_status(s.stopped_with),
        }
    }
}

impl Node {
    /// `GET /cluster/telemetry`: what the peers answer within `timeout`.
    pub async fn cluster_telemetry(&self, timeout: Duration) -> DistributedTelemetry {
        let (collections, cluster) =
            futures::future::join(self.collections_telemetry(), self.peers_telemetry(timeout)).await;
        DistributedTelemetry { collections, cluster }
    }

    async fn peers_telemetry(&self, timeout: Duration) -> Option<ClusterTelemetry> {
        let cluster = self.cluster()?;
        let consensus = &cluster.consensus;
        let peers = consensus.state().state.peers.clone();
        let asked = peers.iter().map(|(id, peer)| async move {
            let status = match *id == self.peer_id() {
                true => Some(consensus.own_status()),
                false => match tokio::time::timeout(timeout, consensus.peer_status(&peer.uri, timeout)).await {
                    Ok(Ok(status)) => Some(status),
                    Ok(Err(e)) => {
                        tracing::debug!(peer = id, error = %e, "peer status for cluster telemetry failed");
                        None
                    }
                    Err(_) => None,
                },
            };
            let entry = PeerTelemetry {
                uri: quiver_transport::display_uri(&peer.uri),
                responsive: status.is_some(),
                details: status.map(PeerDetails::from),
            };
            (id.to_string(), entry)
        });
        let peers: BTreeMap<String, PeerTelemetry> = futures::future::join_all(asked).await.into_iter().collect();
        Some(ClusterTelemetry { enabled: true, number_of_peers: peers.len(), peers })
    }

    async fn collections_telemetry(&self) -> BTreeMap<String, CollectionTelemetry> {
        let mut out = BTreeMap::new();
        for collection in self.collections() {
            let name = collection.name().to_string();
            let shard_transfers = match self.cluster_state() {
                Some(state) => match self.cluster_info_from_state(&state, &name) {
                    Ok(mut info) => {
                        self.add_transfer_comments(&name, &mut info).await;
                        info.shard_transfers
                    }
                    Err(_) => continue, // dropped meanwhile
                },
                None => Vec::new(),
            };
            let shards = shards_telemetry(&collection, self.peer_id(), self.cluster().is_some()).await;
            out.insert(name.clone(), CollectionTelemetry { id: name, shards, shard_transfers });
        }
        out
    }
}

/// Each shard of `collection` with its replicas: states as this peer's view has them, figures
/// from the peer holding each replica.
async fn shards_telemetry(collection: &Collection, me: PeerId, clustered: bool) -> Vec<ShardTelemetry> {
    let routing = collection.routing();
    let sets = collection.replica_sets();
    let shards = sets.iter().map(|set| {
        let routing = &routing;
        async move {
            let states = match clustered {
                true => set.states(),
                false => BTreeMap::from([(me, set.local_state())]),
            };
            let replicas = states.into_iter().map(|(peer_id, state)| async move {
                let info: Option<ShardInfo> = set.replica_info(peer_id).await;
                ReplicaTelemetry {
                    peer_id,
                    state,
                    status: info.map(|i| if i.indexing { "yellow" } else { "green" }),
                    num_points: info.map(|i| i.points),
                }
            });
            ShardTelemetry {
                id: set.shard_id,
                key: routing.key_of(set.shard_id).cloned(),
                replicas: futures::future::join_all(replicas).await,
            }
        }
    });
    futures::future::join_all(shards).await
}
