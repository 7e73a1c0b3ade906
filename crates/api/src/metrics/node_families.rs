//! The node's metric families with Qdrant's names and labels (application, collections,
//! snapshots, cluster) and ours (`quiver_replication_lag_records`), read from the node at scrape
//! time.

use super::families::{Families, counter, gauge};
use quiver_node::Node;
use quiver_types::replica::ReplicaState;
use std::collections::BTreeMap;

pub fn add_app(out: &mut Families, version: &str) {
    out.gauge(
        "app_info",
        "information about qdrant server",
        vec![gauge(1.0, &[("name", "qdrant"), ("version", version)])],
    );
    out.single("app_status_recovery_mode", "features enabled in qdrant server", 0.0);
}

/// Active replicas per shard, the shards with a replica not `Active`, and running transfers in /
/// out of this peer, of one collection.
struct Placement {
    active_per_shard: Vec<usize>,
    not_active: usize,
    incoming: usize,
    outgoing: usize,
}

/// The placement of every collection from the applied cluster state (none standalone).
fn placements(node: &Node) -> BTreeMap<String, Placement> {
    let me = node.peer_id();
    let state = node.cluster_state();
    let collections = state.iter().flat_map(|s| s.collections.iter());
    collections
        .map(|(name, meta)| {
            let placement = Placement {
                active_per_shard: meta
                    .shards
                    .values()
                    .map(|r| r.values().filter(|s| **s == ReplicaState::Active).count())
                    .collect(),
                // As Qdrant counts it: shards that have a replica not `Active`.
                not_active: meta.shards.values().filter(|r| r.values().any(|s| *s != ReplicaState::Active)).count(),
                incoming: meta.transfers.iter().filter(|t| t.to == me).count(),
                outgoing: meta.transfers.iter().filter(|t| t.from == me).count(),
            };
            (name.clone(), placement)
        })
        .collect()
}

pub fn add_collections(out: &mut Families, node: &Node) {
    let collections = node.collections();
    let mut placements = placements(node);
    let (mut points, mut vectors, mut optimizing, mut incoming, mut outgoing) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut active_min, mut active_max, mut not_active, mut vectors_total) = (usize::MAX, 0, 0, 0);
    for collection in &collections {
        let id = collection.name();
        points.push(gauge(collection.points_count() as f64, &[("id", id)]));
        for (vector, n) in collection.vector_counts() {
            vectors_total += n;
            vectors.push(gauge(n as f64, &[("collection", id), ("vector", &vector)]));
        }
        let (_, indexing) = collection.index_status();
        optimizing.push(gauge(f64::from(u8::from(indexing)), &[("id", id)]));
        // Standalone, each shard is one local `Active` replica.
        let standalone = || Placement {
            active_per_shard: vec![1; collection.replica_sets().len()],
            not_active: 0,
            incoming: 0,
            outgoing: 0,
        };
        let p = placements.remove(id).unwrap_or_else(standalone);
        active_min = p.active_per_shard.iter().copied().fold(active_min, usize::min);
        active_max = p.active_per_shard.iter().copied().fold(active_max, usize::max);
        not_active += p.not_active;
        incoming.push(gauge(p.incoming as f64, &[("id", id)]));
        outgoing.push(gauge(p.outgoing as f64, &[("id", id)]));
    }
    out.single("collections_total", "number of collections", collections.len() as f64);
    out.single("collections_vector_total", "total number of vectors in all collections", vectors_total as f64);
    out.gauge("collection_vectors", "amount of vectors grouped by vector name", vectors);
    out.single(
        "collection_active_replicas_min",
        "minimum number of active replicas across all shards",
        if active_min == usize::MAX { 0.0 } else { active_min as f64 },
    );
    out.single(
        "collection_active_replicas_max",
        "maximum number of active replicas across all shards",
        active_max as f64,
    );
    out.gauge(
        "collection_running_optimizations",
        "number of currently running optimization tasks per collection",
        optimizing,
    );
    out.gauge("collection_points", "approximate amount of points per collection", points);
    out.single("collection_dead_replicas", "total amount of shard replicas in non-active state", not_active as f64);
    out.gauge("collection_shard_transfer_incoming", "incoming shard transfers currently running", incoming);
    out.gauge("collection_shard_transfer_outgoing", "outgoing shard transfers currently running", outgoing);
}

pub fn add_snapshots(out: &mut Families, node: &Node) {
    let snapshots = node.telemetry().snapshots();
    let (mut creating, mut recovering, mut created) = (vec![], vec![], vec![]);
    for (id, counts) in &snapshots {
        creating.push(gauge(counts.creating as f64, &[("id", id)]));
        recovering.push(gauge(counts.recovering as f64, &[("id", id)]));
        created.push(counter(counts.created as f64, &[("id", id)]));
    }
    out.gauge("snapshot_creation_running", "amount of snapshot creations that are currently running", creating);
    out.gauge("snapshot_recovery_running", "amount of snapshot recovery operations currently running", recovering);
    out.counter("snapshot_created_total", "total amount of snapshots created", created);
}

pub fn add_cluster(out: &mut Families, node: &Node) {
    let Some(cluster) = node.cluster() else {
        out.single("cluster_enabled", "is cluster support enabled", 0.0);
        return;
    };
    out.single("cluster_enabled", "is cluster support enabled", 1.0);
    let info = cluster.consensus.raft_info();
    let peers = cluster.consensus.state().state.peers.len();
    out.single("cluster_peers_total", "total number of cluster peers", peers as f64);
    out.counter("cluster_term", "current cluster term", vec![counter(info.term as f64, &[])]);
    let peer_id = node.peer_id().to_string();
    let commit = vec![counter(info.commit as f64, &[("peer_id", &peer_id)])];
    out.counter("cluster_commit", "index of last committed (finalized) operation cluster peer is aware of", commit);
    out.single(
        "cluster_pending_operations_total",
        "total number of pending operations for cluster peer",
        info.pending_operations as f64,
    );
    out.single("cluster_voter", "is cluster peer a voter or learner", f64::from(u8::from(info.is_voter)));
    let working = cluster.consensus.running().is_ok();
    if working {
        let now = chrono::Utc::now().timestamp() as f64;
        out.counter("cluster_last_update_timestamp_seconds", "unix timestamp of last update", vec![counter(now, &[])]);
    }
    let states = vec![
        gauge(f64::from(u8::from(working)), &[("state", "working")]),
        gauge(f64::from(u8::from(!working)), &[("state", "stopped")]),
    ];
    out.gauge("cluster_working_state", "working state of the cluster", states);
}

/// `quiver_replication_lag_records{collection, shard, peer}`, reported by each shard's primary.
pub fn add_replication(out: &mut Families, node: &Node) {
    let mut lag = Vec::new();
    for collection in node.collections() {
        for set in collection.replica_sets() {
            let shard = set.shard_id.to_string();
            for (peer, behind) in set.replication_lag() {
                let peer = peer.to_string();
                let labels = [("collection", collection.name()), ("shard", shard.as_str()), ("peer", peer.as_str())];
                lag.push(gauge(behind as f64, &labels));
            }
        }
    }
    out.gauge(
        "quiver_replication_lag_records",
        "records a replica is behind its shard's primary (reported by the primary)",
        lag,
    );
}
