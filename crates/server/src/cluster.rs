//! Starting cluster mode: the p2p listener, consensus (new cluster, join, or resume), start-up
//! snapshot restores (registered through consensus), and the reconciler.

use crate::settings::Settings;
use quiver_cluster::{ClusterError, ConsensusConfig};
use quiver_node::ClusterStart;
use quiver_node::Node;
use quiver_node::cluster_mode::NodePeerHandler;
use quiver_transport::{Faults, PeerClient};
use quiver_types::replica::ReplicaState;
use std::sync::Arc;
use std::time::Duration;

/// Why start-up stopped, and the process's exit status for it.
#[derive(Debug)]
pub struct StartError {
    pub message: String,
    pub exit_code: u8,
}

impl StartError {
    /// The cluster refused this peer (its URI belongs to another peer): exit status 101, as
    /// Qdrant's process has there.
    fn refused(message: String) -> StartError {
        StartError { message: format!("cannot join the cluster: {message}"), exit_code: 101 }
    }
}

impl From<String> for StartError {
    fn from(message: String) -> StartError {
        StartError { message, exit_code: 1 }
    }
}

impl From<&str> for StartError {
    fn from(message: &str) -> StartError {
        StartError::from(message.to_string())
    }
}

/// CLI values that matter for cluster mode.
pub struct ClusterArgs {
    pub uri: Option<String>,
    pub bootstrap: Option<String>,
    pub reinit: bool,
    /// Snapshots to restore once consensus runs (`--snapshot`, `--storage-snapshot`).
    pub restore: Option<quiver_node::PreparedRestore>,
}

/// `--reinit`: set the Raft state aside (renamed, not deleted). Returns the metadata to re-propose
/// when this peer becomes a new one-peer cluster (no `--bootstrap`); with `--bootstrap` the peer
/// rejoins with the same id and receives the cluster's state by snapshot.
fn reinit(dir: &std::path::Path, bootstrap: bool) -> Result<Option<quiver_cluster::state::ClusterState>, String> {
    if !dir.exists() {
        return Ok(None);
    }
    let old: Option<quiver_cluster::AppliedState> =
        std::fs::read(dir.join("raft_state.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let aside = dir.with_file_name(format!("raft.before-reinit-{}", chrono_stamp()));
    std::fs::rename(dir, &aside).map_err(|e| format!("--reinit: cannot move {}: {e}", dir.display()))?;
    tracing::warn!(moved_to = %aside.display(), "--reinit: consensus state set aside");
    Ok(if bootstrap { None } else { old.map(|o| o.state) })
}

fn chrono_stamp() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Where each shard's data is after a `--reinit`: on the peers whose replica was `Active` in the
/// previous state (the others rejoin with `--reinit --bootstrap` and keep serving it); a shard
/// with no `Active` replica is placed on this peer (which records it lost if its disk lacks it).
fn previous_placement(
    meta: &quiver_cluster::state::CollectionMeta,
    me: quiver_types::PeerId,
) -> std::collections::BTreeMap<quiver_types::ShardId, Vec<quiver_types::PeerId>> {
    let active = |replicas: &quiver_cluster::state::ReplicaSet| -> Vec<quiver_types::PeerId> {
        replicas.iter().filter(|(_, state)| **state == ReplicaState::Active).map(|(peer, _)| *peer).collect()
    };
    meta.shards
        .iter()
        .map(|(shard, replicas)| {
            let holders = active(replicas);
            (*shard, if holders.is_empty() { vec![me] } else { holders })
        })
        .collect()
}

/// The address a previous peer is registered at after a `--reinit` until it joins again: one
/// nothing answers at (port 0 is refused at once), so that this new cluster never sends Raft
/// traffic to a peer that may still run in the old one (Qdrant forgets their addresses too).
fn previous_peer_placeholder(peer: quiver_types::PeerId) -> String {
    format!("http://127.0.0.1:0/previous-peer-{peer}")
}

/// Registers (as learners, at a placeholder address) the other peers that held an `Active`
/// replica, so that the re-proposed placement can name them (Qdrant keeps the placement too).
async fn readd_previous_peers(
    consensus: &quiver_cluster::Consensus,
    old: &quiver_cluster::state::ClusterState,
) -> Result<(), String> {
    let me = consensus.peer_id();
    let holders: std::collections::BTreeSet<_> = old
        .collections
        .values()
        .flat_map(|meta| meta.shards.values())
        .flat_map(|replicas| replicas.iter().filter(|(_, state)| **state == ReplicaState::Active))
        .map(|(peer, _)| *peer)
        .filter(|peer| *peer != me)
        .collect();
    for peer in holders {
        consensus
            .add_previous_peer(peer, &previous_peer_placeholder(peer), Duration::from_secs(30))
            .await
            .map_err(|e| format!("--reinit: cannot register previous peer {peer}: {e}"))?;
    }
    Ok(())
}

/// Re-proposes collections (their replicas where the data is, see [`previous_placement`]),
/// payload indexes, aliases and metadata keys after a `--reinit` that made this peer a new
/// one-peer cluster.
async fn repropose(node: &Node, old: quiver_cluster::state::ClusterState) -> Result<(), String> {
    use quiver_cluster::state::MetaOperation;
    let me = node.peer_id();
    let consensus = &node.cluster().ok_or("cluster mode not attached")?.consensus;
    readd_previous_peers(consensus, &old).await?;
    let mut ops = Vec::new();
    for (name, meta) in old.collections {
        let placement = previous_placement(&meta, me);
        let initial_state = ReplicaState::Active;
        let incarnation = meta.incarnation;
        ops.push(MetaOperation::CreateCollection {
            name: name.clone(),
            config: meta.config,
            placement,
            initial_state,
            incarnation,
        });
        for (field, schema) in meta.payload_index {
            ops.push(MetaOperation::CreatePayloadIndex { collection: name.clone(), field, schema });
        }
    }
    let actions = old
        .aliases
        .into_iter()
        .map(|(alias_name, collection_name)| quiver_types::cluster::AliasAction::CreateAlias {
            collection_name,
            alias_name,
        })
        .collect();
    ops.push(MetaOperation::UpdateAliases { actions });
    ops.extend(old.metadata.into_iter().map(|(key, value)| MetaOperation::SetMetadata { key, value: Some(value) }));
    for op in ops {
        consensus.propose(op, Duration::from_secs(30)).await.map_err(|e| format!("--reinit: {e}"))?;
    }
    Ok(())
}

/// Binds the p2p port, starts consensus and attaches it to `node`.
pub async fn start(
    node: &Arc<Node>,
    settings: &Settings,
    args: ClusterArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let p2p_port = settings.cluster.p2p.port.ok_or("cluster.p2p.port is required in cluster mode")?;
    let dir = settings.storage.storage_path.join("raft");
    let remembered_uri = stored_uri(&dir, node.peer_id());
    let previous = if args.reinit { reinit(&dir, args.bootstrap.is_some())? } else { None };
    // Applied metadata exists once this peer belonged to a cluster; a log alone (a join that
    // was refused) does not make it a member.
    let has_state = dir.join("raft_state.json").exists();
    let uri = match (&args.uri, has_state || previous.is_some()) {
        (Some(uri), _) => quiver_transport::normalize_uri(uri),
        (None, true) => remembered_uri.clone().ok_or("--uri is required: this peer's address is unknown")?,
        (None, false) => return Err("First peer should specify its uri (--uri http://HOST:P2P_PORT)".into()),
    };
    let address = format!("{}:{}", settings.service.host, p2p_port);
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|e| format!("cannot listen on {address} (cluster.p2p.port): {e}"))?;
    let faults = Arc::new(Faults::default());
    let security = crate::security::peer_security(settings)?;
    spawn_p2p_server(listener, node, &faults, security.clone(), shutdown);
    let timeout = Duration::from_millis(settings.cluster.connection_timeout_ms.max(100));
    let client = Arc::new(PeerClient::new(node.peer_id(), timeout, Arc::clone(&faults)).with_security(security));
    let config = ConsensusConfig {
        peer_id: node.peer_id(),
        uri: uri.clone(),
        bootstrap: if has_state { None } else { args.bootstrap.clone() },
        dir,
        tick_period_ms: settings.cluster.consensus.tick_period_ms,
        compact_wal_entries: settings.cluster.consensus.compact_wal_entries,
        bootstrap_timeout: Duration::from_secs(settings.cluster.consensus.bootstrap_timeout_sec.max(1)),
        rpc_timeout: Duration::from_millis(settings.cluster.grpc_timeout_ms.clamp(1000, 60_000)),
        version: crate::QDRANT_VERSION.to_string(),
    };
    tracing::info!(peer_id = node.peer_id(), %address, "cluster mode: p2p listening");
    let moved_from = remembered_uri.filter(|old| has_state && quiver_transport::normalize_uri(old) != uri);
    let start = ClusterStart { consensus: config, client, faults, moved_from, announce_to: args.bootstrap.clone() };
    node.start_consensus(start).await.map_err(|e| match e {
        ClusterError::JoinRefused(message) => StartError::refused(message),
        other @ (ClusterError::NoLeader(_)
        | ClusterError::NotLeader
        | ClusterError::Timeout(_)
        | ClusterError::Refused(_)
        | ClusterError::Transport(_)
        | ClusterError::Raft(_)
        | ClusterError::BadRequest(_)
        | ClusterError::Removed(_)) => StartError::from(format!("consensus: {other}")),
    })?;
    if let Some(old) = previous {
        repropose(node, old).await?;
    }
    if let Some(prepared) = args.restore {
        let restored = node.restore_at_startup(prepared).await.map_err(|e| format!("snapshot restore: {e}"))?;
        tracing::info!(collections = ?restored, "restored from snapshots and registered in the cluster");
    }
    // After a `--reinit` re-proposed this peer's collections (reconciling against the empty new
    // state would remove them).
    node.start_cluster_services().await;
    Ok(())
}

/// Serves the p2p port (protected by `security`: the p2p key, mutual TLS) until `shutdown`.
fn spawn_p2p_server(
    listener: tokio::net::TcpListener,
    node: &Arc<Node>,
    faults: &Arc<Faults>,
    security: quiver_transport::PeerSecurity,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let handler = Arc::new(NodePeerHandler { node: Arc::downgrade(node) });
    let faults = Arc::clone(faults);
    tokio::spawn(async move {
        if let Err(e) = quiver_transport::serve_with_security(listener, handler, faults, security, shutdown).await {
            tracing::error!(error = %e, "p2p server stopped");
        }
    });
}

/// This peer's URI as recorded in its persisted membership.
fn stored_uri(dir: &std::path::Path, peer_id: u64) -> Option<String> {
    let bytes = std::fs::read(dir.join("raft_state.json")).ok()?;
    let applied: quiver_cluster::AppliedState = serde_json::from_slice(&bytes).ok()?;
    applied.state.peers.get(&peer_id).map(|p| p.uri.clone())
}
