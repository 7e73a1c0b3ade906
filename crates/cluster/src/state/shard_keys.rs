//! Shard keys of custom-sharded collections (spec §2.6, §4.6, §10.1): creating a key adds its
//! shards with their replicas in one entry; dropping it removes them and their transfers.

use super::{CollectionMeta, MetaError, MetaResponse, PeerInfo, ReplicaSet};
use quiver_types::replica::ReplicaState;
use quiver_types::shard_key::{KeyShards, ShardKey};
use quiver_types::{PeerId, ShardId};
use std::collections::BTreeMap;

/// Where a new key's shards go: one entry of `placement` per shard, with its peers.
pub(super) struct KeyPlacement<'a> {
    pub placement: &'a [Vec<PeerId>],
    /// The key's own replication factor; `None` follows the collection's.
    pub replication_factor: Option<u32>,
    /// The shards' ids when the operation names them (snapshot recovery).
    pub shard_ids: Option<&'a [ShardId]>,
    /// The user chose the peers (`KeyShards::pinned`).
    pub pinned: bool,
}

impl CollectionMeta {
    /// Whether shard `shard` belongs to a key whose peers the user chose: the rebalancing
    /// leaves it where it is.
    pub fn shard_pinned(&self, shard: ShardId) -> bool {
        self.shard_keys.key_of(shard).is_some_and(|k| k.pinned)
    }

    /// The replication factor shard `shard` is kept at: its key's own, else the collection's.
    pub fn shard_factor(&self, shard: ShardId) -> u32 {
        let own = self.shard_keys.key_of(shard).and_then(|k| k.replication_factor);
        own.unwrap_or(self.config.params.replication_factor).max(1)
    }

    /// Whether shard `shard` follows the collection's replication factor (no key of its own).
    pub(super) fn follows_collection_factor(&self, shard: ShardId) -> bool {
        self.shard_keys.key_of(shard).and_then(|k| k.replication_factor).is_none()
    }

    /// The shard key shard `shard` belongs to (custom sharding).
    pub fn shard_key_of(&self, shard: ShardId) -> Option<&ShardKey> {
        self.shard_keys.key_of(shard).map(|k| &k.key)
    }

    /// `CreateShardKey`: shards with fresh ids (the next unused ones, in order, unless the
    /// operation names them) placed on `placement`'s peers, all replicas in `initial_state`.
    pub(super) fn create_shard_key(
        &mut self,
        peers: &BTreeMap<PeerId, PeerInfo>,
        key: &ShardKey,
        plan: KeyPlacement<'_>,
        initial_state: ReplicaState,
    ) -> Result<MetaResponse, MetaError> {
        let KeyPlacement { placement, replication_factor, shard_ids, pinned } = plan;
        if !self.config.params.is_custom_sharding() {
            return Err(MetaError::BadRequest(format!("Shard Key {key} cannot be created with Auto sharding method")));
        }
        if self.shard_keys.get(key).is_some() {
            return Err(MetaError::BadRequest(format!("Shard key {key} already exists")));
        }
        if placement.is_empty() || placement.iter().any(Vec::is_empty) {
            return Err(MetaError::BadRequest(format!("Shard key {key} placement cannot be empty")));
        }
        if replication_factor == Some(0) {
            return Err(MetaError::BadInput("replication_factor: value 0 invalid, must be 1 or greater".into()));
        }
        // Each unknown peer once, however many shards it is placed on.
        let unknown: Vec<PeerId> = placement
            .iter()
            .flatten()
            .filter(|p| !peers.contains_key(p))
            .copied()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !unknown.is_empty() {
            return Err(MetaError::BadRequest(format!(
                "Shard Key {key} placement contains unknown peers: {unknown:?}"
            )));
        }
        let count = u32::try_from(placement.len()).map_err(|_| MetaError::BadInput("too many shards".into()))?;
        let ids = match shard_ids {
            None => self.shard_keys.fresh_ids(count),
            Some(ids) => self.named_shard_ids(key, ids, placement.len())?,
        };
        let mut shards = Vec::with_capacity(placement.len());
        for (shard_id, holders) in ids.iter().zip(placement) {
            let mut replicas = ReplicaSet::new();
            for peer in holders {
                if replicas.insert(*peer, initial_state).is_some() {
                    return Err(MetaError::BadInput(format!("Peer {peer} is placed twice in a shard of key {key}")));
                }
            }
            if self.shards.contains_key(shard_id) {
                return Err(MetaError::BadInput(format!("Shard {shard_id} exists already")));
            }
            shards.push((*shard_id, replicas));
        }
        self.shards.extend(shards);
        self.shard_keys.insert(KeyShards { key: key.clone(), shards: ids, replication_factor, pinned });
        Ok(MetaResponse::Done)
    }

    /// The shard ids a `CreateShardKey` names: one per shard, distinct, each never used before
    /// in the collection (a peer that missed a drop must never take a new shard for an old one).
    fn named_shard_ids(&self, key: &ShardKey, ids: &[ShardId], count: usize) -> Result<Vec<ShardId>, MetaError> {
        if ids.len() != count {
            return Err(MetaError::BadInput(format!(
                "Shard key {key}: {} shard ids named for {count} shards",
                ids.len()
            )));
        }
        let distinct: std::collections::BTreeSet<&ShardId> = ids.iter().collect();
        match ids.iter().find(|id| !self.shard_keys.is_fresh(**id)) {
            Some(used) => Err(MetaError::BadInput(format!("Shard key {key}: shard id {used} was used before"))),
            None if distinct.len() != ids.len() => {
                Err(MetaError::BadInput(format!("Shard key {key}: a shard id is named twice")))
            }
            None => Ok(ids.to_vec()),
        }
    }

    /// `DropShardKey`: removes the key, its shards and their transfers.
    pub(super) fn drop_shard_key(&mut self, key: &ShardKey) -> Result<MetaResponse, MetaError> {
        let dropped = self.shard_keys.remove(key).ok_or_else(|| MetaError::BadRequest(key_not_found(key)))?;
        self.transfers.retain(|t| !dropped.shards.contains(&t.shard_id));
        self.shards.retain(|shard_id, _| !dropped.shards.contains(shard_id));
        Ok(MetaResponse::Done)
    }
}

/// `Shard key <k> not found`.
pub fn key_not_found(key: &ShardKey) -> String {
    format!("Shard key {key} not found")
}
