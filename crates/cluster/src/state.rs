//! The cluster metadata state machine (DESIGN §2, control plane): peers and their addresses,
//! collections with their shard placement, shard keys and replica states, running shard
//! transfers, aliases, payload index schemas and cluster metadata keys.
//!
//! [`ClusterState::apply`] is a pure, deterministic function of the state and one
//! [`MetaOperation`]: no IO, no clock, no randomness. Every operation validates first and mutates
//! only when valid, so an error leaves the state unchanged. Raft applies committed entries
//! through it and stores the whole state (serde) in its snapshots. Encode states and operations
//! with `serde_json` or `rmp_serde::to_vec_named`; compact `rmp_serde::to_vec` does not round-trip
//! (`CollectionConfig` skips absent fields, which shifts positional fields).
//!
//! Operations that address an existing collection accept an alias as well (resolved at apply
//! time); `CreateCollection` and `DeleteCollection` take the real collection name.

mod peers;
mod placement;
mod replicas;
mod shard_keys;
#[cfg(test)]
mod tests;
mod vectors;

pub use placement::place_shards;
pub use replicas::{is_active, transfer_initial_state};
use shard_keys::KeyPlacement;
pub use shard_keys::key_not_found;

use quiver_types::cluster::{AliasAction, ShardTransfer, TransferMethod};
use quiver_types::config::{CollectionConfig, UpdateCollection};
use quiver_types::replica::ReplicaState;
use quiver_types::shard_key::{ShardKey, ShardKeys};
use quiver_types::vector_name::VectorNameConfig;
use quiver_types::{PeerId, ShardId, TypesError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What the cluster knows about one peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PeerInfo {
    /// The peer's p2p URI as it registered it.
    pub uri: String,
    /// Unreachable for longer than `cluster.replica_grace_period_sec` (design record 012 §3):
    /// its replicas are replaced elsewhere. Cleared when it answers again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gone: bool,
    /// Being drained: every replica is moved off it (design record 012 §4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain: Option<Drain>,
}

impl PeerInfo {
    /// A peer known by its URI only.
    pub fn new(uri: impl Into<String>) -> Self {
        PeerInfo { uri: uri.into(), gone: false, drain: None }
    }

    /// Whether new replicas may be placed on this peer (neither gone nor draining).
    pub fn takes_replicas(&self) -> bool {
        !self.gone && self.drain.is_none()
    }
}

/// A drain in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drain {
    /// Remove the peer from the cluster once it holds no replica (`DELETE …?drain=true`).
    pub then_remove: bool,
}

/// The replicas of one shard: peer → state.
pub type ReplicaSet = BTreeMap<PeerId, ReplicaState>;

/// One collection as the control plane records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionMeta {
    pub config: CollectionConfig,
    /// Replica set per shard id.
    #[serde(default)]
    pub shards: BTreeMap<ShardId, ReplicaSet>,
    /// Running shard transfers (at most one per (shard, peer) pair).
    #[serde(default)]
    pub transfers: Vec<ShardTransfer>,
    /// Payload index schema per field.
    #[serde(default)]
    pub payload_index: BTreeMap<String, serde_json::Value>,
    /// Tells this collection apart from earlier ones of the same name (design record 009 §5);
    /// 0 when unknown (created before incarnations existed).
    #[serde(default)]
    pub incarnation: u64,
    /// Custom sharding: each shard key and its shards (every one of them in `shards`).
    #[serde(default, skip_serializing_if = "ShardKeys::is_empty")]
    pub shard_keys: ShardKeys,
    /// Shards an operator took under their factor with `drop_replica`: the keeper does not add
    /// the replica back until the next event that calls for balance (design record 012 §5).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub held_below: BTreeSet<ShardId>,
}

impl CollectionMeta {
    /// A collection with no shards, transfers or payload indexes.
    pub fn new(config: CollectionConfig) -> Self {
        CollectionMeta {
            config,
            shards: BTreeMap::new(),
            transfers: Vec::new(),
            payload_index: BTreeMap::new(),
            incarnation: 0,
            shard_keys: ShardKeys::default(),
            held_below: BTreeSet::new(),
        }
    }

    /// The state of `peer`'s replica of `shard`, if it has one.
    pub fn replica_state(&self, shard: ShardId, peer: PeerId) -> Option<ReplicaState> {
        self.shards.get(&shard).and_then(|replicas| replicas.get(&peer)).copied()
    }

    /// The running transfer `from -> to` of `shard`, if any.
    pub fn transfer(&self, shard: ShardId, from: PeerId, to: PeerId) -> Option<&ShardTransfer> {
        self.transfers.iter().find(|t| t.key() == (shard, from, to))
    }
}

/// The whole replicated cluster metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ClusterState {
    #[serde(default)]
    pub peers: BTreeMap<PeerId, PeerInfo>,
    #[serde(default)]
    pub collections: BTreeMap<String, CollectionMeta>,
    /// alias → collection name.
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
    /// Cluster metadata keys (spec §4.4).
    #[serde(default)]
    pub metadata: BTreeMap<String, serde_json::Value>,
    /// A peer joined or came back since replica counts were last balanced (design record 012
    /// §5): the placement keeper moves replicas onto the emptier peers, then clears it.
    #[serde(default)]
    pub rebalance_pending: bool,
    /// Peers removed from the cluster (`RemovePeer`), so that a removed peer asking whether it
    /// still belongs can be told (design record 031); cleared if the same id joins again.
    #[serde(default)]
    pub removed_peers: BTreeSet<PeerId>,
}

/// One change of the cluster metadata: the payload of a Raft entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MetaOperation {
    AddPeer {
        peer_id: PeerId,
        uri: String,
    },
    RemovePeer {
        peer_id: PeerId,
    },
    CreateCollection {
        name: String,
        config: CollectionConfig,
        placement: BTreeMap<ShardId, Vec<PeerId>>,
        initial_state: ReplicaState,
        /// Chosen at random by the proposer (design record 009 §5); 0 = unknown.
        #[serde(default)]
        incarnation: u64,
    },
    UpdateCollection {
        name: String,
        update: UpdateCollection,
    },
    DeleteCollection {
        name: String,
    },
    UpdateAliases {
        actions: Vec<AliasAction>,
    },
    CreatePayloadIndex {
        collection: String,
        field: String,
        schema: serde_json::Value,
    },
    DropPayloadIndex {
        collection: String,
        field: String,
    },
    SetReplicaState {
        collection: String,
        shard_id: ShardId,
        peer_id: PeerId,
        state: ReplicaState,
        from_state: Option<ReplicaState>,
    },
    /// A replica recovered from a snapshot becomes the shard's source of truth: it turns
    /// `Active` and every other active replica `Dead` (so they re-sync from it), in one entry.
    PromoteReplica {
        collection: String,
        shard_id: ShardId,
        peer_id: PeerId,
    },
    /// A peer found its replica's data missing from its disk (design record 009 §6): the replica
    /// turns `Dead`, even when it is the last active one — its data is gone either way.
    ReplicaLost {
        collection: String,
        shard_id: ShardId,
        peer_id: PeerId,
    },
    AddReplica {
        collection: String,
        shard_id: ShardId,
        peer_id: PeerId,
        state: ReplicaState,
    },
    DropReplica {
        collection: String,
        shard_id: ShardId,
        peer_id: PeerId,
    },
    StartTransfer {
        collection: String,
        transfer: ShardTransfer,
        /// An automatic transfer carries the limits it must respect (design record 009 §7);
        /// a user-requested one carries none.
        #[serde(default)]
        limits: Option<TransferLimits>,
    },
    FinishTransfer {
        collection: String,
        shard_id: ShardId,
        from: PeerId,
        to: PeerId,
        /// The shard's primary that brought the target up to date: refused unless it is still
        /// the primary (the highest `Active` replica) when the entry applies, so a peer that
        /// lost the role meanwhile can never activate a target missing newer writes.
        #[serde(default)]
        by: Option<PeerId>,
    },
    AbortTransfer {
        collection: String,
        shard_id: ShardId,
        from: PeerId,
        to: PeerId,
        reason: String,
    },
    /// Spec §4.6 `restart_transfer`: the same transfer (same `sync`) with another method; the
    /// target takes the new method's initial state.
    RestartTransfer {
        collection: String,
        shard_id: ShardId,
        from: PeerId,
        to: PeerId,
        method: TransferMethod,
    },
    /// `None` deletes the key.
    SetMetadata {
        key: String,
        value: Option<serde_json::Value>,
    },
    /// The placement keeper's view of a peer unreachable for longer than the grace period
    /// (design record 012 §3); `gone: false` when it answers again.
    MarkPeerGone {
        peer_id: PeerId,
        gone: bool,
    },
    /// Starts (`Some`) or cancels (`None`) draining a peer (design record 012 §4).
    SetDrain {
        peer_id: PeerId,
        drain: Option<Drain>,
    },
    /// Drops a replica the shard no longer needs (on a gone or draining peer), only if the shard
    /// keeps at least `active_left` `Active` replicas without it.
    TrimReplica {
        collection: String,
        shard_id: ShardId,
        peer_id: PeerId,
        active_left: u32,
    },
    /// The replica counts are balanced (design record 012 §5).
    RebalanceDone,
    /// Custom sharding (spec §4.6 `create_sharding_key`): one new shard per entry of
    /// `placement`, with the next unused shard ids, replicas on its peers in `initial_state`.
    CreateShardKey {
        collection: String,
        shard_key: ShardKey,
        placement: Vec<Vec<PeerId>>,
        /// The key's own replication factor; `None` follows the collection's.
        replication_factor: Option<u32>,
        initial_state: ReplicaState,
        /// The shards' ids, one per entry of `placement`: the next unused ones when `None`; a
        /// snapshot recovery names the snapshot's (each must be one never used before, since a
        /// key's ring hashes point ids over its shard ids).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shard_ids: Option<Vec<ShardId>>,
        /// The user gave `placement`: automatic rebalancing leaves the key's shards there.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        pinned: bool,
    },
    /// `drop_sharding_key`: the key and its shards go.
    DropShardKey {
        collection: String,
        shard_key: ShardKey,
    },
    /// `PUT /collections/{c}/vectors/{name}` (design record 018): every peer then gives its
    /// local shards an empty column for it.
    CreateVectorName {
        collection: String,
        name: String,
        config: VectorNameConfig,
    },
    /// `DELETE /collections/{c}/vectors/{name}`: every peer drops the column and its index.
    DeleteVectorName {
        collection: String,
        name: String,
    },
}

/// Limits of concurrent transfers per collection (`storage.performance.*_shard_transfers_limit`):
/// transfers into the target peer and out of the source peer; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferLimits {
    pub incoming: Option<usize>,
    pub outgoing: Option<usize>,
    /// What the automatic transfer is for, which decides what its target must be.
    #[serde(default)]
    pub purpose: AutoTransfer,
}

/// Why an automatic transfer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum AutoTransfer {
    /// Recovers a `Dead` replica (its target must still be `Dead`).
    #[default]
    Recovery,
    /// A new replica placed by the placement keeper (its target must hold no replica).
    Placement,
}

/// The result of a successfully applied operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MetaResponse {
    Done,
    /// Whether the operation changed anything (e.g. `false` when deleting a missing collection).
    Changed(bool),
}

/// Why an operation was refused; the state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum MetaError {
    /// → HTTP 404 "Not found: …"
    #[error("{0}")]
    NotFound(String),
    /// → HTTP 400 "Wrong input: …"
    #[error("{0}")]
    BadInput(String),
    /// → HTTP 400 "Bad request: …"
    #[error("{0}")]
    BadRequest(String),
    /// The name of a collection that exists already → HTTP 409.
    #[error("Collection `{0}` already exists!")]
    AlreadyExists(String),
}

impl From<TypesError> for MetaError {
    fn from(error: TypesError) -> Self {
        match error {
            TypesError::BadInput(message) | TypesError::Validation(message) => MetaError::BadInput(message),
        }
    }
}

/// `Collection `x` doesn't exist!`
pub(crate) fn collection_not_found(name: &str) -> MetaError {
    MetaError::NotFound(format!("Collection `{name}` doesn't exist!"))
}

/// Looks a collection up by name or alias, mutably (a free function so callers can borrow other
/// fields of the state at the same time).
fn lookup_mut<'a>(
    collections: &'a mut BTreeMap<String, CollectionMeta>,
    aliases: &BTreeMap<String, String>,
    name_or_alias: &str,
) -> Result<&'a mut CollectionMeta, MetaError> {
    let name = match collections.contains_key(name_or_alias) {
        true => name_or_alias,
        false => aliases.get(name_or_alias).map(String::as_str).unwrap_or(name_or_alias),
    };
    collections.get_mut(name).ok_or_else(|| collection_not_found(name_or_alias))
}

impl ClusterState {
    /// Applies one operation. Pure: no IO, deterministic. On error the state is unchanged
    /// (validate first, then mutate).
    pub fn apply(&mut self, op: &MetaOperation) -> Result<MetaResponse, MetaError> {
        match op {
            MetaOperation::AddPeer { peer_id, uri } => Ok(self.add_peer(*peer_id, uri)),
            MetaOperation::RemovePeer { peer_id } => Ok(self.remove_peer(*peer_id)),
            MetaOperation::CreateCollection { name, config, placement, initial_state, incarnation } => {
                self.create_collection(name, config, placement, *initial_state)?;
                if let Some(meta) = self.collections.get_mut(name) {
                    meta.incarnation = *incarnation;
                }
                Ok(MetaResponse::Done)
            }
            MetaOperation::UpdateCollection { name, update } => {
                let meta = lookup_mut(&mut self.collections, &self.aliases, name)?;
                let mut config = meta.config.clone();
                config.apply_update(update)?;
                let (before, after) = (meta.config.params.replication_factor, config.params.replication_factor);
                meta.config = config;
                if after < before {
                    meta.trim_to_factor(&self.peers);
                }
                // New or dropped replicas change the counts the keeper balances (design record 012 §5).
                if after != before {
                    self.call_for_balance();
                }
                Ok(MetaResponse::Done)
            }
            MetaOperation::DeleteCollection { name } => Ok(self.delete_collection(name)),
            MetaOperation::UpdateAliases { actions } => self.update_aliases(actions),
            MetaOperation::CreatePayloadIndex { collection, field, schema } => {
                self.meta_mut(collection)?.payload_index.insert(field.clone(), schema.clone());
                Ok(MetaResponse::Done)
            }
            MetaOperation::DropPayloadIndex { collection, field } => {
                Ok(MetaResponse::Changed(self.meta_mut(collection)?.payload_index.remove(field).is_some()))
            }
            MetaOperation::SetReplicaState { collection, shard_id, peer_id, state, from_state } => {
                self.meta_mut(collection)?.set_replica_state(collection, *shard_id, *peer_id, *state, *from_state)
            }
            MetaOperation::PromoteReplica { collection, shard_id, peer_id } => {
                self.meta_mut(collection)?.promote_replica(collection, *shard_id, *peer_id)
            }
            MetaOperation::ReplicaLost { collection, shard_id, peer_id } => {
                self.meta_mut(collection)?.replica_lost(collection, *shard_id, *peer_id)
            }
            MetaOperation::AddReplica { collection, shard_id, peer_id, state } => {
                let meta = lookup_mut(&mut self.collections, &self.aliases, collection)?;
                meta.add_replica(collection, &self.peers, *shard_id, *peer_id, *state)
            }
            MetaOperation::DropReplica { collection, shard_id, peer_id } => {
                let meta = self.meta_mut(collection)?;
                let dropped = meta.drop_replica(collection, *shard_id, *peer_id)?;
                meta.held_below.insert(*shard_id);
                self.rebalance_pending = false;
                Ok(dropped)
            }
            MetaOperation::StartTransfer { collection, transfer, limits } => {
                let meta = lookup_mut(&mut self.collections, &self.aliases, collection)?;
                if let Some(limits) = limits {
                    meta.check_transfer_limits(transfer, limits, &self.peers)?;
                }
                let started = meta.start_transfer(collection, &self.peers, transfer)?;
                // An operator placing replicas by hand takes over: the keeper does not move them
                // back until the next event that calls for balance (design record 012 §5).
                self.rebalance_pending &= limits.is_some();
                Ok(started)
            }
            MetaOperation::FinishTransfer { collection, shard_id, from, to, by } => {
                let meta = self.meta_mut(collection)?;
                if let Some(by) = by {
                    meta.check_primary(collection, *shard_id, *by)?;
                }
                meta.finish_transfer(collection, (*shard_id, *from, *to))
            }
            MetaOperation::AbortTransfer { collection, shard_id, from, to, reason: _ } => {
                self.meta_mut(collection)?.abort_transfer(collection, (*shard_id, *from, *to))
            }
            MetaOperation::RestartTransfer { collection, shard_id, from, to, method } => {
                self.meta_mut(collection)?.restart_transfer(collection, (*shard_id, *from, *to), *method)
            }
            MetaOperation::SetMetadata { key, value } => Ok(self.set_metadata(key, value.as_ref())),
            MetaOperation::MarkPeerGone { peer_id, gone } => self.mark_peer_gone(*peer_id, *gone),
            MetaOperation::SetDrain { peer_id, drain } => self.set_drain(*peer_id, *drain),
            MetaOperation::TrimReplica { collection, shard_id, peer_id, active_left } => {
                self.meta_mut(collection)?.trim_replica(collection, *shard_id, *peer_id, *active_left)
            }
            MetaOperation::RebalanceDone => {
                let changed = std::mem::replace(&mut self.rebalance_pending, false);
                Ok(MetaResponse::Changed(changed))
            }
            MetaOperation::CreateShardKey {
                collection,
                shard_key,
                placement,
                replication_factor,
                initial_state,
                shard_ids,
                pinned,
            } => {
                let meta = lookup_mut(&mut self.collections, &self.aliases, collection)?;
                let plan = KeyPlacement {
                    placement,
                    replication_factor: *replication_factor,
                    shard_ids: shard_ids.as_deref(),
                    pinned: *pinned,
                };
                meta.create_shard_key(&self.peers, shard_key, plan, *initial_state)
            }
            MetaOperation::DropShardKey { collection, shard_key } => {
                self.meta_mut(collection)?.drop_shard_key(shard_key)
            }
            MetaOperation::CreateVectorName { collection, name, config } => {
                self.meta_mut(collection)?.change_vector_name(collection, name, Some(config))
            }
            MetaOperation::DeleteVectorName { collection, name } => {
                self.meta_mut(collection)?.change_vector_name(collection, name, None)
            }
        }
    }

    /// Resolves a collection name or alias to the real name and its metadata.
    pub fn resolve_collection(&self, name_or_alias: &str) -> Option<(&str, &CollectionMeta)> {
        if let Some((name, meta)) = self.collections.get_key_value(name_or_alias) {
            return Some((name.as_str(), meta));
        }
        let target = self.aliases.get(name_or_alias)?;
        self.collections.get_key_value(target).map(|(name, meta)| (name.as_str(), meta))
    }

    /// Whether `peer` holds a replica (any state) of any shard of any collection
    /// (`DELETE /cluster/peer` without `force`, spec §4.2).
    pub fn peer_has_replicas(&self, peer: PeerId) -> bool {
        self.collections.values().flat_map(|meta| meta.shards.values()).any(|replicas| replicas.contains_key(&peer))
    }

    /// The aliases pointing at collection `name`, sorted.
    pub fn aliases_of(&self, name: &str) -> Vec<&str> {
        self.aliases.iter().filter(|(_, target)| target.as_str() == name).map(|(alias, _)| alias.as_str()).collect()
    }

    fn meta_mut(&mut self, name_or_alias: &str) -> Result<&mut CollectionMeta, MetaError> {
        lookup_mut(&mut self.collections, &self.aliases, name_or_alias)
    }

    /// Spec §4.2: aborts transfers involving the peer, removes its replicas everywhere (even the
    /// last one), forgets the peer.
    fn remove_peer(&mut self, peer: PeerId) -> MetaResponse {
        let mut changed = self.peers.remove(&peer).is_some();
        changed |= self.removed_peers.insert(peer);
        for meta in self.collections.values_mut() {
            changed |= meta.abort_transfers_where(|t| t.from == peer || t.to == peer);
            for replicas in meta.shards.values_mut() {
                changed |= replicas.remove(&peer).is_some();
            }
        }
        MetaResponse::Changed(changed)
    }

    fn create_collection(
        &mut self,
        name: &str,
        config: &CollectionConfig,
        placement: &BTreeMap<ShardId, Vec<PeerId>>,
        initial_state: ReplicaState,
    ) -> Result<MetaResponse, MetaError> {
        if self.collections.contains_key(name) {
            return Err(MetaError::AlreadyExists(name.to_string()));
        }
        if self.aliases.contains_key(name) {
            return Err(MetaError::BadInput(format!(
                "Can't create collection with name {name}. Alias with the same name already exists"
            )));
        }
        let mut shards = BTreeMap::new();
        for (shard_id, peers) in placement {
            let mut replicas = ReplicaSet::new();
            for peer in peers {
                if !self.peers.contains_key(peer) {
                    return Err(MetaError::BadInput(format!("Peer {peer} does not exist")));
                }
                if replicas.insert(*peer, initial_state).is_some() {
                    return Err(MetaError::BadInput(format!("Peer {peer} is placed twice in shard {shard_id}")));
                }
            }
            if replicas.is_empty() {
                return Err(MetaError::BadInput(format!("Shard {shard_id} of {name} has no replicas")));
            }
            shards.insert(*shard_id, replicas);
        }
        let mut meta = CollectionMeta::new(config.clone());
        meta.shards = shards;
        self.collections.insert(name.to_string(), meta);
        Ok(MetaResponse::Done)
    }

    /// Spec §2.3: `Changed(false)` if it did not exist; also removes its aliases.
    fn delete_collection(&mut self, name: &str) -> MetaResponse {
        if self.collections.remove(name).is_none() {
            return MetaResponse::Changed(false);
        }
        self.aliases.retain(|_, target| target != name);
        MetaResponse::Changed(true)
    }

    /// Spec §2.4: all actions or none.
    fn update_aliases(&mut self, actions: &[AliasAction]) -> Result<MetaResponse, MetaError> {
        let mut aliases = self.aliases.clone();
        for action in actions {
            match action {
                AliasAction::CreateAlias { collection_name, alias_name } => {
                    if !self.collections.contains_key(collection_name) {
                        return Err(collection_not_found(collection_name));
                    }
                    self.check_alias_name(alias_name)?;
                    aliases.insert(alias_name.clone(), collection_name.clone());
                }
                AliasAction::DeleteAlias { alias_name } => {
                    aliases.remove(alias_name).ok_or_else(|| alias_not_found(alias_name))?;
                }
                AliasAction::RenameAlias { old_alias_name, new_alias_name } => {
                    let target = aliases.remove(old_alias_name).ok_or_else(|| alias_not_found(old_alias_name))?;
                    self.check_alias_name(new_alias_name)?;
                    aliases.insert(new_alias_name.clone(), target);
                }
            }
        }
        self.aliases = aliases;
        Ok(MetaResponse::Done)
    }

    /// An alias may not take a collection's name: Qdrant's 409 for an existing collection.
    fn check_alias_name(&self, alias: &str) -> Result<(), MetaError> {
        match self.collections.contains_key(alias) {
            true => Err(MetaError::AlreadyExists(alias.to_string())),
            false => Ok(()),
        }
    }

    /// A JSON `null` value deletes the key too (spec §4.4).
    fn set_metadata(&mut self, key: &str, value: Option<&serde_json::Value>) -> MetaResponse {
        match value.filter(|value| !value.is_null()) {
            Some(value) => {
                self.metadata.insert(key.to_string(), value.clone());
                MetaResponse::Done
            }
            None => MetaResponse::Changed(self.metadata.remove(key).is_some()),
        }
    }
}

fn alias_not_found(alias: &str) -> MetaError {
    MetaError::NotFound(format!("Alias {alias} does not exists!"))
}
