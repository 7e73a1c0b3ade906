//! Replica-level operations of the state machine: replica state changes with the "last active
//! replica" rule (spec §5.3), adding and dropping replicas (§4.6 `drop_replica`), and the shard
//! transfer lifecycle (§4.6 validations, §4.7 start / finish / abort).

use super::{AutoTransfer, CollectionMeta, MetaError, MetaResponse, PeerInfo, ReplicaSet, TransferLimits};
use quiver_types::cluster::{ShardTransfer, TransferMethod};
use quiver_types::replica::ReplicaState;
use quiver_types::{PeerId, ShardId};
use std::collections::BTreeMap;

/// A transfer's key: (shard, from, to).
pub(super) type TransferKey = (ShardId, PeerId, PeerId);

/// Counts as an Active copy: a valid transfer source, protected by the last-active rule (§5.2 ¹).
pub fn is_active(state: ReplicaState) -> bool {
    match state {
        ReplicaState::Active | ReplicaState::ReshardingScaleDown => true,
        ReplicaState::Dead
        | ReplicaState::Partial
        | ReplicaState::Initializing
        | ReplicaState::Listener
        | ReplicaState::PartialSnapshot
        | ReplicaState::Recovery
        | ReplicaState::Resharding
        | ReplicaState::ActiveRead
        | ReplicaState::ManualRecovery => false,
    }
}

/// Counts as the last copy when a shard has no active replica at all (§5.3).
fn is_fallback_source(state: ReplicaState) -> bool {
    match state {
        ReplicaState::Initializing | ReplicaState::Listener => true,
        ReplicaState::Active
        | ReplicaState::ReshardingScaleDown
        | ReplicaState::Dead
        | ReplicaState::Partial
        | ReplicaState::PartialSnapshot
        | ReplicaState::Recovery
        | ReplicaState::Resharding
        | ReplicaState::ActiveRead
        | ReplicaState::ManualRecovery => false,
    }
}

/// Whether `SetReplicaState` may make a replica in `state` `Active`: one that holds every write
/// (just created, a listener, a user's snapshot recovery). A replica that may have missed writes
/// (`Dead`, a transfer's target) turns `Active` only through `FinishTransfer`, which the shard's
/// primary proposes once the target holds every acknowledged write (design record 007 §6).
fn may_turn_active(state: ReplicaState) -> bool {
    match state {
        ReplicaState::Active
        | ReplicaState::ReshardingScaleDown
        | ReplicaState::Initializing
        | ReplicaState::Listener
        | ReplicaState::ManualRecovery => true,
        ReplicaState::Dead
        | ReplicaState::Partial
        | ReplicaState::PartialSnapshot
        | ReplicaState::Recovery
        | ReplicaState::Resharding
        | ReplicaState::ActiveRead => false,
    }
}

/// The state a transfer's target replica takes when the transfer starts (§4.7 step 1).
/// `None` (not resolved by the proposer) is treated as `stream_records`.
pub fn transfer_initial_state(method: Option<TransferMethod>) -> ReplicaState {
    match method {
        None | Some(TransferMethod::StreamRecords) => ReplicaState::Partial,
        Some(TransferMethod::Snapshot) | Some(TransferMethod::WalDelta) => ReplicaState::Recovery,
        Some(TransferMethod::ReshardingStreamRecords) => ReplicaState::Resharding,
    }
}

/// Whether `peer` is the last replica of the shard that holds the truth: the only active one, or,
/// when none is active, the only Initializing/Listener one.
fn is_last_source_of_truth(replicas: &ReplicaSet, peer: PeerId) -> bool {
    let active: Vec<PeerId> = replicas.iter().filter(|(_, s)| is_active(**s)).map(|(p, _)| *p).collect();
    let candidates = match active.is_empty() {
        true => replicas.iter().filter(|(_, s)| is_fallback_source(**s)).map(|(p, _)| *p).collect(),
        false => active,
    };
    candidates == [peer]
}

fn shard_missing(collection: &str, shard: ShardId) -> MetaError {
    MetaError::BadInput(format!("Shard {shard} of {collection} does not exist"))
}

fn transfer_missing(collection: &str, (shard, from, to): TransferKey) -> MetaError {
    MetaError::NotFound(format!("Shard transfer {from} -> {to} for collection {collection}:{shard} does not exist"))
}

fn check_peer_known(peers: &BTreeMap<PeerId, PeerInfo>, peer: PeerId) -> Result<(), MetaError> {
    match peers.contains_key(&peer) {
        true => Ok(()),
        false => Err(MetaError::BadInput(format!("Peer {peer} does not exist"))),
    }
}

impl CollectionMeta {
    pub(super) fn shard(&self, collection: &str, shard: ShardId) -> Result<&ReplicaSet, MetaError> {
        self.shards.get(&shard).ok_or_else(|| shard_missing(collection, shard))
    }

    /// `SetReplicaState` (§5.3): checks existence, `from_state`, the last-active rule; `Dead`
    /// aborts the transfers the replica takes part in.
    pub(super) fn set_replica_state(
        &mut self,
        collection: &str,
        shard: ShardId,
        peer: PeerId,
        state: ReplicaState,
        from_state: Option<ReplicaState>,
    ) -> Result<MetaResponse, MetaError> {
        let replicas = self.shard(collection, shard)?;
        let current = replicas.get(&peer).copied().ok_or_else(|| {
            MetaError::BadInput(format!(
                "Can't set replica {peer}:{shard} state to {state:?}, because replica {peer}:{shard} does not exist"
            ))
        })?;
        if let Some(expected) = from_state.filter(|expected| *expected != current) {
            return Err(MetaError::BadInput(format!(
                "Replica {peer} of shard {shard} has state {current:?}, but expected {expected:?}"
            )));
        }
        // A shard's only replica, `Partial` with no transfer under way (a shard key created
        // `Partial` and filled by `replicate_points`), holds every write there is.
        let sole_partial = current == ReplicaState::Partial
            && replicas.len() == 1
            && !self.transfers.iter().any(|t| t.shard_id == shard);
        if state == ReplicaState::Active && !may_turn_active(current) && !sole_partial {
            return Err(MetaError::BadInput(format!(
                "Replica {peer} of shard {shard} is {current:?}: only the end of a transfer makes it Active"
            )));
        }
        if state != current && !is_active(state) && is_last_source_of_truth(replicas, peer) {
            return Err(MetaError::BadInput(format!(
                "Cannot deactivate the last active replica {peer} of shard {shard}"
            )));
        }
        if let Some(slot) = self.shards.get_mut(&shard).and_then(|replicas| replicas.get_mut(&peer)) {
            *slot = state;
        }
        if state == ReplicaState::Dead {
            self.abort_transfers_where(|t| t.shard_id == shard && (t.from == peer || t.to == peer));
        }
        Ok(MetaResponse::Done)
    }

    /// `ReplicaLost` (design record 009 §6): a replica the cluster counts on for data turns
    /// `Dead`, even the last active one, and its transfers are aborted; other states are left
    /// as they are (`Changed(false)`).
    pub(super) fn replica_lost(
        &mut self,
        collection: &str,
        shard: ShardId,
        peer: PeerId,
    ) -> Result<MetaResponse, MetaError> {
        let replicas = self.shard(collection, shard)?;
        let Some(current) = replicas.get(&peer).copied() else {
            return Err(MetaError::BadInput(format!("Replica {peer} of shard {shard} does not exist")));
        };
        // A replica the cluster does not count on for data (`Dead`, a transfer's target) is
        // left alone: its recovery may be under way already.
        if !current.claims_data() {
            return Ok(MetaResponse::Changed(false));
        }
        if let Some(slot) = self.shards.get_mut(&shard).and_then(|replicas| replicas.get_mut(&peer)) {
            *slot = ReplicaState::Dead;
        }
        self.abort_transfers_where(|t| t.shard_id == shard && (t.from == peer || t.to == peer));
        Ok(MetaResponse::Changed(true))
    }

    /// Refuses an automatic transfer (the recovery of a `Dead` replica) whose target replica is
    /// not `Dead` any more — dropped meanwhile, it must not come back — or when the collection
    /// already runs `limits` transfers into its target or out of its source (spec §4.7, design
    /// record 009 §7).
    /// A placement's transfer (design record 012) needs a target that takes replicas and holds
    /// none of this shard, and a shard with no other transfer running.
    pub(super) fn check_transfer_limits(
        &self,
        transfer: &ShardTransfer,
        limits: &TransferLimits,
        peers: &BTreeMap<PeerId, PeerInfo>,
    ) -> Result<(), MetaError> {
        let (shard, to) = (transfer.shard_id, transfer.to);
        match limits.purpose {
            AutoTransfer::Recovery if self.replica_state(shard, to) != Some(ReplicaState::Dead) => {
                return Err(MetaError::BadRequest(format!(
                    "Replica {to} of shard {shard} is not Dead: nothing to recover"
                )));
            }
            AutoTransfer::Recovery => {}
            AutoTransfer::Placement => {
                if self.replica_state(shard, to).is_some() || !peers.get(&to).is_some_and(PeerInfo::takes_replicas) {
                    return Err(MetaError::BadRequest(format!("Peer {to} cannot take a new replica of shard {shard}")));
                }
                if self.transfers.iter().any(|t| t.shard_id == shard) {
                    return Err(MetaError::BadRequest(format!("Shard {shard} is already being transferred")));
                }
                // Planned from an older state (the factor was lowered since): a new replica
                // would go over the factor.
                // The shard's own factor: its shard key's when the key has one (custom sharding).
                let factor = usize::try_from(self.shard_factor(shard)).unwrap_or(usize::MAX);
                // Replicas on gone or draining peers are being replaced: not counted.
                let staying = |peer: &PeerId| peers.get(peer).is_some_and(PeerInfo::takes_replicas);
                let replicas = self.shards.get(&shard).map_or(0, |r| r.keys().filter(|p| staying(p)).count());
                if transfer.sync && replicas >= factor {
                    return Err(MetaError::BadRequest(format!(
                        "Shard {shard} already has {replicas} replicas (replication_factor {factor})"
                    )));
                }
            }
        }
        let incoming = self.transfers.iter().filter(|t| t.to == transfer.to).count();
        let outgoing = self.transfers.iter().filter(|t| t.from == transfer.from).count();
        if limits.incoming.is_some_and(|limit| incoming >= limit) {
            return Err(MetaError::BadRequest(format!(
                "Peer {} already receives {incoming} automatic transfers (incoming_shard_transfers_limit)",
                transfer.to
            )));
        }
        if limits.outgoing.is_some_and(|limit| outgoing >= limit) {
            return Err(MetaError::BadRequest(format!(
                "Peer {} already sends {outgoing} automatic transfers (outgoing_shard_transfers_limit)",
                transfer.from
            )));
        }
        Ok(())
    }

    /// `PromoteReplica` (spec §7.1 step 5, `priority=snapshot`): `peer` → `Active`; of the other
    /// active replicas of the shard the excess over its replication factor − 1 is dropped (highest
    /// peer ids first) and the rest turn `Dead`, so they re-sync from `peer`; their transfers
    /// are aborted.
    pub(super) fn promote_replica(
        &mut self,
        collection: &str,
        shard: ShardId,
        peer: PeerId,
    ) -> Result<MetaResponse, MetaError> {
        let replicas = self.shard(collection, shard)?;
        if !replicas.contains_key(&peer) {
            return Err(MetaError::BadInput(format!("Replica {peer} of shard {shard} does not exist")));
        }
        let demoted: Vec<PeerId> =
            replicas.iter().filter(|(p, s)| **p != peer && is_active(**s)).map(|(p, _)| *p).collect();
        let keep = (self.shard_factor(shard).saturating_sub(1) as usize).min(demoted.len());
        let (kept, dropped) = demoted.split_at(keep);
        let involved = |p: &PeerId| *p == peer || demoted.contains(p);
        self.abort_transfers_where(|t| t.shard_id == shard && (involved(&t.from) || involved(&t.to)));
        if let Some(replicas) = self.shards.get_mut(&shard) {
            replicas.retain(|p, _| !dropped.contains(p));
            for (p, state) in replicas.iter_mut() {
                if *p == peer {
                    *state = ReplicaState::Active;
                } else if kept.contains(p) {
                    *state = ReplicaState::Dead;
                }
            }
        }
        Ok(MetaResponse::Done)
    }

    /// `AddReplica`: a new replica of an existing shard on a known peer. An existing replica
    /// goes through the `SetReplicaState` rules instead. `Changed(false)` when nothing changed.
    pub(super) fn add_replica(
        &mut self,
        collection: &str,
        peers: &BTreeMap<PeerId, PeerInfo>,
        shard: ShardId,
        peer: PeerId,
        state: ReplicaState,
    ) -> Result<MetaResponse, MetaError> {
        let replicas = self.shard(collection, shard)?;
        check_peer_known(peers, peer)?;
        match replicas.get(&peer).copied() {
            Some(current) if current == state => Ok(MetaResponse::Changed(false)),
            Some(_) => {
                self.set_replica_state(collection, shard, peer, state, None)?;
                Ok(MetaResponse::Changed(true))
            }
            None => {
                if let Some(replicas) = self.shards.get_mut(&shard) {
                    replicas.insert(peer, state);
                }
                Ok(MetaResponse::Changed(true))
            }
        }
    }

    /// `DropReplica` (§4.6 `drop_replica`): refused for the only replica and for the last active
    /// one; aborts the transfers touching the replica.
    pub(super) fn drop_replica(
        &mut self,
        collection: &str,
        shard: ShardId,
        peer: PeerId,
    ) -> Result<MetaResponse, MetaError> {
        let replicas = self.shard(collection, shard)?;
        let current = replicas
            .get(&peer)
            .copied()
            .ok_or_else(|| MetaError::BadInput(format!("Peer {peer} has no replica of shard {shard}")))?;
        let active_count = replicas.values().filter(|s| is_active(**s)).count();
        if replicas.len() == 1 || (is_active(current) && active_count == 1) {
            return Err(MetaError::BadInput(format!(
                "Shard {shard} must have at least one active replica after removing {peer}"
            )));
        }
        self.abort_transfers_where(|t| t.shard_id == shard && (t.from == peer || t.to == peer));
        if let Some(replicas) = self.shards.get_mut(&shard) {
            replicas.remove(&peer);
        }
        Ok(MetaResponse::Done)
    }

    /// `StartTransfer` (§4.6 checks, §4.7 step 1): registers the transfer and puts the target
    /// replica (created if absent) in the method's initial state.
    pub(super) fn start_transfer(
        &mut self,
        collection: &str,
        peers: &BTreeMap<PeerId, PeerInfo>,
        transfer: &ShardTransfer,
    ) -> Result<MetaResponse, MetaError> {
        let ShardTransfer { shard_id, from, to, sync: _, method } = transfer;
        let (shard, from, to) = (*shard_id, *from, *to);
        let replicas = self.shard(collection, shard)?;
        if from == to {
            return Err(MetaError::BadInput(format!("cannot transfer shard to itself: {from} -> {to}")));
        }
        check_peer_known(peers, from)?;
        check_peer_known(peers, to)?;
        if !replicas.get(&from).copied().is_some_and(is_active) {
            return Err(MetaError::BadInput(format!("Shard {shard} is not active on peer {from}")));
        }
        let shares_peer = |t: &&ShardTransfer| [t.from, t.to].iter().any(|p| *p == from || *p == to);
        if let Some(running) = self.transfers.iter().filter(|t| t.shard_id == shard).find(shares_peer) {
            return Err(MetaError::BadInput(format!(
                "Shard {shard} is already involved in transfer {} -> {}",
                running.from, running.to
            )));
        }
        if let Some(replicas) = self.shards.get_mut(&shard) {
            replicas.insert(to, transfer_initial_state(*method));
        }
        self.transfers.push(transfer.clone());
        Ok(MetaResponse::Done)
    }

    /// Refuses unless `peer` is the shard's primary: its highest `Active` replica (design 003).
    pub(super) fn check_primary(&self, collection: &str, shard: ShardId, peer: PeerId) -> Result<(), MetaError> {
        let replicas = self.shard(collection, shard)?;
        let primary = replicas.iter().filter(|(_, s)| **s == ReplicaState::Active).map(|(p, _)| *p).max();
        match primary == Some(peer) {
            true => Ok(()),
            false => Err(MetaError::BadRequest(format!(
                "Peer {peer} is no longer the primary of shard {shard} (the primary is {primary:?})"
            ))),
        }
    }

    /// `FinishTransfer` (§4.7 step 5): target → Active (not for resharding transfers); a move
    /// drops the source replica; the transfer is unregistered.
    pub(super) fn finish_transfer(&mut self, collection: &str, key: TransferKey) -> Result<MetaResponse, MetaError> {
        let index =
            self.transfers.iter().position(|t| t.key() == key).ok_or_else(|| transfer_missing(collection, key))?;
        let transfer = self.transfers.remove(index);
        let resharding = match transfer.method {
            Some(TransferMethod::ReshardingStreamRecords) => true,
            None | Some(TransferMethod::StreamRecords | TransferMethod::Snapshot | TransferMethod::WalDelta) => false,
        };
        if let Some(replicas) = self.shards.get_mut(&transfer.shard_id) {
            if !resharding {
                replicas.insert(transfer.to, ReplicaState::Active);
            }
            if !transfer.sync && replicas.get(&transfer.to) == Some(&ReplicaState::Active) {
                replicas.remove(&transfer.from);
            }
        }
        Ok(MetaResponse::Done)
    }

    /// `RestartTransfer` (§4.6): same transfer with a different method; the target takes the new
    /// method's initial state.
    pub(super) fn restart_transfer(
        &mut self,
        collection: &str,
        key: TransferKey,
        method: TransferMethod,
    ) -> Result<MetaResponse, MetaError> {
        let transfer =
            self.transfers.iter_mut().find(|t| t.key() == key).ok_or_else(|| transfer_missing(collection, key))?;
        if transfer.method == Some(method) {
            return Err(MetaError::BadInput(format!(
                "Cannot restart transfer {} -> {} of shard {}, because its configuration did not change",
                key.1, key.2, key.0
            )));
        }
        transfer.method = Some(method);
        if let Some(state) = self.shards.get_mut(&key.0).and_then(|replicas| replicas.get_mut(&key.2)) {
            *state = transfer_initial_state(Some(method));
        }
        Ok(MetaResponse::Done)
    }

    /// `AbortTransfer` (§4.7 step 6).
    pub(super) fn abort_transfer(&mut self, collection: &str, key: TransferKey) -> Result<MetaResponse, MetaError> {
        match self.abort_transfers_where(|t| t.key() == key) {
            true => Ok(MetaResponse::Done),
            false => Err(transfer_missing(collection, key)),
        }
    }

    /// Aborts every transfer matching `pred`: unregistered; a replication's target becomes
    /// `Dead`, a move's target replica is removed. Returns whether any transfer was aborted.
    pub(super) fn abort_transfers_where(&mut self, pred: impl Fn(&ShardTransfer) -> bool) -> bool {
        let (aborted, kept): (Vec<ShardTransfer>, Vec<ShardTransfer>) =
            std::mem::take(&mut self.transfers).into_iter().partition(|t| pred(t));
        self.transfers = kept;
        for transfer in &aborted {
            let Some(replicas) = self.shards.get_mut(&transfer.shard_id) else { continue };
            match transfer.sync {
                true => {
                    if let Some(state) = replicas.get_mut(&transfer.to) {
                        *state = ReplicaState::Dead;
                    }
                }
                false => {
                    replicas.remove(&transfer.to);
                }
            }
        }
        !aborted.is_empty()
    }
}
