//! What the placement keeper records (design record 012): peers joining, gone for longer than
//! the grace period, draining; replicas a shard no longer needs, and the trim of surplus
//! replicas when a collection's replication factor is lowered.

use super::{ClusterState, CollectionMeta, Drain, MetaError, MetaResponse, PeerInfo, is_active};
use quiver_types::replica::ReplicaState;
use quiver_types::{PeerId, ShardId};
use std::collections::BTreeMap;

impl ClusterState {
    /// `AddPeer`: a new peer (replica counts to balance again), or a known one on a new URI
    /// (it answers again: no longer gone). A removed peer's id joining again is no longer removed.
    pub(super) fn add_peer(&mut self, peer: PeerId, uri: &str) -> MetaResponse {
        self.removed_peers.remove(&peer);
        match self.peers.get_mut(&peer) {
            Some(info) => {
                info.uri = uri.to_string();
                info.gone = false;
            }
            None => {
                self.peers.insert(peer, PeerInfo::new(uri));
                self.call_for_balance();
            }
        }
        MetaResponse::Done
    }

    pub(super) fn mark_peer_gone(&mut self, peer: PeerId, gone: bool) -> Result<MetaResponse, MetaError> {
        let info = self.peers.get_mut(&peer).ok_or_else(|| peer_missing(peer))?;
        let changed = info.gone != gone;
        info.gone = gone;
        // Its replicas are placed elsewhere, or it may take replicas again: counts to balance.
        if changed {
            self.call_for_balance();
        }
        Ok(MetaResponse::Changed(changed))
    }

    pub(super) fn set_drain(&mut self, peer: PeerId, drain: Option<Drain>) -> Result<MetaResponse, MetaError> {
        let info = self.peers.get_mut(&peer).ok_or_else(|| peer_missing(peer))?;
        let changed = info.drain != drain;
        info.drain = drain;
        if changed {
            self.call_for_balance();
        }
        Ok(MetaResponse::Changed(changed))
    }

    /// An event that calls for balance (a peer joins, goes, returns or drains; a factor
    /// changes): the keeper balances counts again, and shards an operator held under their
    /// factor with `drop_replica` are brought back to it (design record 012 §5).
    pub(super) fn call_for_balance(&mut self) {
        self.rebalance_pending = true;
        for meta in self.collections.values_mut() {
            meta.held_below.clear();
        }
    }
}

fn peer_missing(peer: PeerId) -> MetaError {
    MetaError::BadInput(format!("Peer {peer} does not exist"))
}

impl CollectionMeta {
    /// `TrimReplica`: drops `peer`'s replica of `shard` if at least `active_left` (and at least
    /// one) `Active` replicas remain without it; `Changed(false)` when it holds none any more.
    pub(super) fn trim_replica(
        &mut self,
        collection: &str,
        shard: ShardId,
        peer: PeerId,
        active_left: u32,
    ) -> Result<MetaResponse, MetaError> {
        let replicas = self.shard(collection, shard)?;
        if !replicas.contains_key(&peer) {
            return Ok(MetaResponse::Changed(false));
        }
        let left = replicas.iter().filter(|(p, s)| **p != peer && is_active(**s)).count();
        if left < usize::try_from(active_left.max(1)).unwrap_or(usize::MAX) {
            return Err(MetaError::BadInput(format!(
                "Shard {shard} would keep {left} active replicas without peer {peer}; it needs {active_left}"
            )));
        }
        self.abort_transfers_where(|t| t.shard_id == shard && (t.from == peer || t.to == peer));
        if let Some(replicas) = self.shards.get_mut(&shard) {
            replicas.remove(&peer);
        }
        Ok(MetaResponse::Changed(true))
    }

    /// After `replication_factor` was lowered: each shard that follows it (not a shard key's
    /// with a factor of its own) keeps that many replicas, dropping first those on gone or
    /// draining peers, then those holding the least complete data (not `Active`), then those on
    /// the peers holding the most replicas of this collection (lowest peer id first, so the
    /// primary stays); never the last `Active` one.
    pub(super) fn trim_to_factor(&mut self, peers: &BTreeMap<PeerId, PeerInfo>) {
        let factor = usize::try_from(self.config.params.replication_factor.max(1)).unwrap_or(usize::MAX);
        let load = replica_counts(self);
        let shard_ids: Vec<ShardId> =
            self.shards.keys().copied().filter(|s| self.follows_collection_factor(*s)).collect();
        for shard in shard_ids {
            let Some(replicas) = self.shards.get(&shard) else { continue };
            let mut order: Vec<(PeerId, ReplicaState)> = replicas.iter().map(|(p, s)| (*p, *s)).collect();
            order.sort_by_key(|(peer, state)| {
                let leaving = peers.get(peer).is_none_or(|info| !info.takes_replicas());
                (!leaving, is_active(*state), std::cmp::Reverse(load.get(peer).copied().unwrap_or(0)), *peer)
            });
            let surplus = order.len().saturating_sub(factor);
            for (peer, _) in order.into_iter().take(surplus) {
                let Some(replicas) = self.shards.get(&shard) else { break };
                let active = replicas.values().filter(|s| is_active(**s)).count();
                if replicas.get(&peer).copied().is_some_and(is_active) && active <= 1 {
                    continue;
                }
                self.abort_transfers_where(|t| t.shard_id == shard && (t.from == peer || t.to == peer));
                if let Some(replicas) = self.shards.get_mut(&shard) {
                    replicas.remove(&peer);
                }
            }
        }
    }
}

/// Replicas (any state) of `meta` per peer.
pub(crate) fn replica_counts(meta: &CollectionMeta) -> BTreeMap<PeerId, usize> {
    let mut counts = BTreeMap::new();
    for peer in meta.shards.values().flat_map(|replicas| replicas.keys()) {
        *counts.entry(*peer).or_insert(0) += 1;
    }
    counts
}
