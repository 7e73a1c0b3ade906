//! Starting cluster mode on a node, whatever carries its p2p traffic (the server's gRPC
//! listener, or a simulation's in-memory network): consensus started and attached, the cluster
//! joined or created, a changed address announced; then, once any start-up proposals are done,
//! lost replicas recorded and the background services started.

use crate::cluster_context::ClusterContext;
use crate::node::Node;
use quiver_cluster::{ClusterError, Consensus, ConsensusConfig};
use quiver_transport::{Faults, PeerClient};
use std::sync::Arc;
use std::time::Duration;

/// How long start-up waits for the cluster to record lost local replicas (design record 009 §6).
const LOST_REPLICAS_WAIT: Duration = Duration::from_secs(10);

/// What a node needs to run cluster mode.
pub struct ClusterStart {
    pub consensus: ConsensusConfig,
    pub client: Arc<PeerClient>,
    pub faults: Arc<Faults>,
    /// The URI this peer registered before, when it differs from `consensus.uri` (the peer
    /// moved): the new one is announced (design record 009 §2).
    pub moved_from: Option<String>,
    /// Where to announce a moved address besides the known peers (`--bootstrap`).
    pub announce_to: Option<String>,
}

impl Node {
    /// Starts consensus and attaches it: a fresh peer joins through `consensus.bootstrap` or
    /// creates the cluster; a peer with state resumes (announcing a changed address). A join the
    /// cluster refuses is [`ClusterError::JoinRefused`].
    pub async fn start_consensus(self: &Arc<Self>, start: ClusterStart) -> Result<Arc<Consensus>, ClusterError> {
        let bootstrapped = start.consensus.bootstrap.is_some();
        let new_uri = start.consensus.uri.clone();
        let consensus = Consensus::start(start.consensus, Arc::clone(&start.client)).await?;
        let context = ClusterContext::new(Arc::clone(&consensus), start.client, start.faults, bootstrapped);
        self.attach_cluster(context).map_err(|e| ClusterError::Raft(e.to_string()))?;
        consensus.bootstrap().await?;
        if let Some(old) = start.moved_from {
            tracing::warn!(%old, new = %new_uri, "this peer's address changed; announcing it to the cluster");
            consensus.spawn_uri_announcer(start.announce_to);
        }
        Ok(consensus)
    }

    /// Once start-up proposals are done (a `--reinit`'s re-proposals, start-up restores): waits
    /// until lost local replicas are recorded `Dead` — before anything is served — then starts
    /// the reconciler, the health checker and the replica verifier.
    pub async fn start_cluster_services(self: &Arc<Self>) {
        if let Some(removed) = self.cluster().and_then(|c| c.consensus.removed()) {
            tracing::error!("{removed}");
            return;
        }
        self.await_lost_replicas_recorded(LOST_REPLICAS_WAIT).await;
        self.spawn_reconciler();
        self.spawn_health_checker();
        self.spawn_verifier();
    }
}
