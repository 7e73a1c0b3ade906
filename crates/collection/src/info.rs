//! The figures of collection info (`GET /collections/{name}`) cover every shard of the
//! collection, whichever peer answers, as Qdrant's do: each shard is counted once, from this
//! peer's replica when it holds a readable one, else from one readable replica on another peer
//! (`ShardRequest::Info`). A shard none of whose replicas answers is left out rather than
//! failing the info. Standalone, every shard is local and nothing is asked of anyone.

use crate::collection::Collection;
use crate::context::ClusterPorts;
use crate::error::Result;
use crate::remote::{ShardInfo, ShardRequest, ShardResponse, is_not_understood};
use crate::replica_set::ReplicaSet;
use quiver_types::PeerId;
use std::time::Duration;

/// How long a replica on another peer may take to answer: collection info is asked often
/// (clients poll it for `green`) and should not hang on a peer that is unreachable.
pub(crate) const INFO_CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// Collection-wide figures for collection info.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CollectionCounts {
    /// Points over every counted shard.
    pub points: usize,
    /// Dense vectors held in ANN indexes over every counted shard.
    pub indexed_vectors: usize,
    /// Whether the indexer of any replica on this peer still has work queued (the status colour
    /// reflects this peer's indexers).
    pub indexing_here: bool,
    /// Shards none of whose replicas answered (not counted).
    pub unreachable_shards: usize,
}

impl Collection {
    /// The figures of collection info over every shard.
    pub async fn info_counts(&self) -> CollectionCounts {
        let sets = self.replica_sets();
        if self.cluster().is_none() {
            let local = sets.iter().filter_map(|set| set.local());
            return local.map(|shard| ShardInfo::of(&shard)).fold(CollectionCounts::default(), add_local);
        }
        let infos = futures::future::join_all(sets.iter().map(|set| set.info())).await;
        let mut counts = CollectionCounts::default();
        for (set, info) in sets.iter().zip(infos) {
            match info {
                Some(info) => {
                    counts.points += info.points;
                    counts.indexed_vectors += info.indexed_vectors;
                }
                None => counts.unreachable_shards += 1,
            }
            counts.indexing_here |= set.local().is_some_and(|shard| shard.index_status().indexing);
        }
        counts
    }
}

fn add_local(counts: CollectionCounts, info: ShardInfo) -> CollectionCounts {
    CollectionCounts {
        points: counts.points + info.points,
        indexed_vectors: counts.indexed_vectors + info.indexed_vectors,
        indexing_here: counts.indexing_here || info.indexing,
        unreachable_shards: counts.unreachable_shards,
    }
}

impl ReplicaSet {
    /// This shard's figures: the local replica's if it is readable, else the first readable
    /// replica on another peer that answers; `None` if none does.
    pub(crate) async fn info(&self) -> Option<ShardInfo> {
        if let Some(local) = self.readable_local() {
            return Some(ShardInfo::of(&local));
        }
        let ports = self.ctx.cluster()?;
        for peer in self.remote_readable(ports.me) {
            match self.remote_info(ports, peer).await {
                Ok(info) => return Some(info),
                Err(e) => {
                    tracing::debug!(shard_id = self.shard_id, peer, error = %e, "shard info from replica failed")
                }
            }
        }
        None
    }

    /// The figures of `peer`'s replica (this peer's read here, another's asked of it), whatever
    /// its state; `None` if it has no local files here or does not answer.
    pub async fn replica_info(&self, peer: PeerId) -> Option<ShardInfo> {
        let ports = self.ctx.cluster();
        if ports.is_none_or(|ports| ports.me == peer) {
            return self.local().map(|local| ShardInfo::of(&local));
        }
        let ports = ports?;
        self.remote_info(ports, peer)
            .await
            .inspect_err(|e| tracing::debug!(shard_id = self.shard_id, peer, error = %e, "replica figures failed"))
            .ok()
    }

    /// Asks `peer`'s replica for its figures; a peer that predates `Info` is asked its points
    /// (its indexed vectors are then not known and count as none).
    async fn remote_info(&self, ports: &ClusterPorts, peer: PeerId) -> Result<ShardInfo> {
        let call = |request| ports.transport.call(peer, self.ctx.name(), self.shard_id, request, INFO_CALL_TIMEOUT);
        match call(ShardRequest::Info).await {
            Err(e) if is_not_understood(&e) => {
                let points = call(ShardRequest::Count(None)).await.and_then(ShardResponse::into_count)?;
                Ok(ShardInfo { points, indexed_vectors: 0, indexing: false })
            }
            answer => answer.and_then(ShardResponse::into_info),
        }
    }
}
