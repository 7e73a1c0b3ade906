//! The placement keeper's planner (design record 012): from the applied cluster state, the steps
//! that bring every shard back to its replication factor on peers that take replicas, move
//! replicas off draining peers, drop those a shard no longer needs, and balance replica counts
//! after a peer joined. Pure and deterministic: every peer computes the same plan from the same
//! state; the Raft leader carries it out (node's `keeper`).

#[cfg(test)]
mod tests;

use crate::state::{ClusterState, CollectionMeta, PeerInfo, ReplicaSet, is_active};
use quiver_types::{PeerId, ShardId};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What the planner may use besides the state.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// `cluster.rebalance`: balance replica counts after a peer joined.
    pub rebalance: bool,
    /// Peers not answering right now (not gone yet): neither copied from nor placed on.
    pub unreachable: BTreeSet<PeerId>,
}

/// One change of placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Action {
    /// A new replica on `to`, copied from `from`'s `Active` one.
    Replicate { from: PeerId, to: PeerId },
    /// `from`'s replica moves to `to` (the source stays `Active` until the copy is done).
    Move { from: PeerId, to: PeerId },
    /// `peer`'s replica is dropped once `active_left` `Active` replicas remain without it.
    Trim { peer: PeerId, active_left: u32 },
}

/// Why a step is planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Fewer replicas than the shard's replication factor (its shard key's, else the
    /// collection's).
    BelowFactor,
    /// A replica is on a peer gone for longer than the grace period.
    PeerGone,
    /// A replica is on a draining peer.
    Draining,
    /// Replica counts differ by more than one between peers.
    Rebalance,
}

/// A planned step for one shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub collection: String,
    pub shard_id: ShardId,
    #[serde(flatten)]
    pub action: Action,
    pub reason: Reason,
}

/// A shard that needs a step no peer can take now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocked {
    pub collection: String,
    pub shard_id: ShardId,
    pub why: String,
}

/// Every step the state calls for now (at most one per shard), and what cannot progress.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub blocked: Vec<Blocked>,
}

/// Replica counts per peer, of one collection and of all: targets take the least loaded peer.
struct Loads {
    collection: BTreeMap<PeerId, usize>,
    global: BTreeMap<PeerId, usize>,
}

impl Loads {
    fn key(&self, peer: PeerId) -> (usize, usize, PeerId) {
        (self.collection.get(&peer).copied().unwrap_or(0), self.global.get(&peer).copied().unwrap_or(0), peer)
    }

    fn shift(&mut self, from: Option<PeerId>, to: PeerId) {
        for counts in [&mut self.collection, &mut self.global] {
            *counts.entry(to).or_insert(0) += 1;
            if let Some(count) = from.and_then(|from| counts.get_mut(&from)) {
                *count = count.saturating_sub(1);
            }
        }
    }
}

/// The peers placement works with.
struct Peers<'a> {
    info: &'a BTreeMap<PeerId, PeerInfo>,
    /// Take new replicas: neither gone nor draining.
    takers: BTreeSet<PeerId>,
    unreachable: &'a BTreeSet<PeerId>,
}

impl Peers<'_> {
    fn usable(&self, peer: PeerId) -> bool {
        !self.unreachable.contains(&peer) && self.info.get(&peer).is_some_and(|info| !info.gone)
    }

    fn draining(&self, peer: PeerId) -> bool {
        self.info.get(&peer).is_some_and(|info| info.drain.is_some())
    }

    fn gone(&self, peer: PeerId) -> bool {
        self.info.get(&peer).is_none_or(|info| info.gone)
    }
}

/// The plan for `state` (see the module documentation).
pub fn plan(state: &ClusterState, options: &PlanOptions) -> Plan {
    let takers = state.peers.iter().filter(|(_, info)| info.takes_replicas()).map(|(id, _)| *id).collect();
    let peers = Peers { info: &state.peers, takers, unreachable: &options.unreachable };
    let mut global = BTreeMap::new();
    for meta in state.collections.values() {
        for (peer, count) in counts(meta, &peers.takers) {
            *global.entry(peer).or_insert(0) += count;
        }
    }
    let mut plan = Plan::default();
    let mut settled = true;
    for (name, meta) in &state.collections {
        let mut loads = Loads { collection: counts(meta, &peers.takers), global };
        let before = plan.steps.len();
        let mut busy: BTreeSet<ShardId> = meta.transfers.iter().map(|t| t.shard_id).collect();
        for (shard_id, replicas) in &meta.shards {
            if busy.contains(shard_id) {
                continue;
            }
            match shard_step(meta.shard_factor(*shard_id), replicas, &peers, &loads) {
                // The operator dropped a replica of it: it stays under its factor until the next
                // event that calls for balance (design record 012 §5).
                Ok(Some((_, Reason::BelowFactor))) if meta.held_below.contains(shard_id) => {}
                Ok(Some((action, reason))) => {
                    record(&mut loads, action);
                    busy.insert(*shard_id);
                    plan.steps.push(Step { collection: name.clone(), shard_id: *shard_id, action, reason });
                }
                Ok(None) => {}
                Err(why) => plan.blocked.push(Blocked { collection: name.clone(), shard_id: *shard_id, why }),
            }
        }
        let quiet = plan.steps.len() == before && meta.transfers.is_empty();
        if options.rebalance && state.rebalance_pending && quiet {
            rebalance_collection(name, meta, &peers, &mut loads, &mut plan.steps);
        }
        settled &= plan.steps.len() == before && meta.transfers.is_empty();
        global = loads.global;
    }
    if options.rebalance && state.rebalance_pending && settled {
        rebalance_globally(state, &peers, &global, &mut plan.steps);
    }
    plan
}

/// Replicas (any state) of `meta` per peer taking replicas (0 for those holding none).
fn counts(meta: &CollectionMeta, takers: &BTreeSet<PeerId>) -> BTreeMap<PeerId, usize> {
    let mut counts: BTreeMap<PeerId, usize> = takers.iter().map(|peer| (*peer, 0)).collect();
    for peer in meta.shards.values().flat_map(|replicas| replicas.keys()) {
        if let Some(count) = counts.get_mut(peer) {
            *count += 1;
        }
    }
    counts
}

fn record(loads: &mut Loads, action: Action) {
    match action {
        Action::Replicate { to, .. } => loads.shift(None, to),
        Action::Move { from, to } => loads.shift(Some(from), to),
        Action::Trim { .. } => {}
    }
}

/// The step one shard kept at replication `factor` needs, if any; `Err` names what blocks it.
fn shard_step(
    factor: u32,
    replicas: &ReplicaSet,
    peers: &Peers,
    loads: &Loads,
) -> Result<Option<(Action, Reason)>, String> {
    let factor = usize::try_from(factor.max(1)).unwrap_or(usize::MAX);
    let desired = factor.min(peers.takers.len());
    let holding = replicas.keys().filter(|p| peers.takers.contains(p)).count();
    let leaving: Vec<PeerId> = replicas.keys().filter(|p| !peers.takers.contains(p)).copied().collect();
    if leaving.is_empty() && holding >= desired {
        return Ok(None);
    }
    if peers.takers.is_empty() {
        return Err("no peer takes replicas".into());
    }
    if holding < desired {
        return new_replica(replicas, peers, loads, &leaving).map(Some);
    }
    let active = replicas.iter().filter(|(p, s)| peers.takers.contains(p) && is_active(**s)).count();
    // A gone peer serves nothing: its replica goes once the shard is back at its factor on the
    // peers that are left. A draining one goes only if the shard keeps its full factor.
    let Some(peer) = leaving.iter().copied().find(|p| peers.gone(*p)).or_else(|| leaving.first().copied()) else {
        return Ok(None);
    };
    let (needed, reason) = match peers.gone(peer) {
        true => (desired.max(1), Reason::PeerGone),
        false => (factor, Reason::Draining),
    };
    if active < needed {
        // Copies still catching up wait; a drain the other peers cannot hold the factor for is
        // blocked.
        if reason == Reason::Draining && holding < factor {
            return Err(format!(
                "draining peer {peer} would leave the shard under its replication factor {factor}: {} peers take replicas",
                peers.takers.len()
            ));
        }
        return Ok(None);
    }
    let active_left = u32::try_from(needed).unwrap_or(u32::MAX);
    Ok(Some((Action::Trim { peer, active_left }, reason)))
}

/// A new replica for a shard under its factor: moved off a draining peer when one can send it,
/// else copied from an `Active` replica.
fn new_replica(
    replicas: &ReplicaSet,
    peers: &Peers,
    loads: &Loads,
    leaving: &[PeerId],
) -> Result<(Action, Reason), String> {
    let target = peers
        .takers
        .iter()
        .copied()
        .filter(|p| !replicas.contains_key(p) && !peers.unreachable.contains(p))
        .min_by_key(|p| loads.key(*p))
        .ok_or_else(|| "no peer can take another replica".to_string())?;
    let sends = |p: &PeerId| peers.usable(*p) && replicas.get(p).copied().is_some_and(is_active);
    if let Some(from) = leaving.iter().copied().find(|p| peers.draining(*p) && sends(p)) {
        return Ok((Action::Move { from, to: target }, Reason::Draining));
    }
    // The primary (highest `Active` replica) of the peers that take replicas, else any.
    let from = replicas
        .keys()
        .copied()
        .filter(sends)
        .max_by_key(|p| (peers.takers.contains(p), *p))
        .ok_or_else(|| "no Active replica to copy from".to_string())?;
    let reason = match leaving.iter().any(|p| peers.gone(*p)) {
        true => Reason::PeerGone,
        false if leaving.iter().any(|p| peers.draining(*p)) => Reason::Draining,
        false => Reason::BelowFactor,
    };
    Ok((Action::Replicate { from, to: target }, reason))
}

/// Moves replicas of one collection from its most to its least loaded peers while their counts
/// differ by more than one.
fn rebalance_collection(name: &str, meta: &CollectionMeta, peers: &Peers, loads: &mut Loads, steps: &mut Vec<Step>) {
    let mut moved: BTreeSet<ShardId> = BTreeSet::new();
    for _ in 0..meta.shards.len() {
        let reachable = || peers.takers.iter().copied().filter(|p| !peers.unreachable.contains(p));
        let (Some(most), Some(least)) =
            (reachable().max_by_key(|p| loads.key(*p)), reachable().min_by_key(|p| loads.key(*p)))
        else {
            return;
        };
        if loads.key(most).0 <= loads.key(least).0 + 1 {
            return;
        }
        let movable = |(shard, replicas): &(&ShardId, &ReplicaSet)| {
            !moved.contains(*shard)
                && !meta.shard_pinned(**shard)
                && replicas.get(&most).copied().is_some_and(is_active)
                && !replicas.contains_key(&least)
        };
        let Some((shard_id, _)) = meta.shards.iter().find(movable) else { return };
        let action = Action::Move { from: most, to: least };
        moved.insert(*shard_id);
        record(loads, action);
        steps.push(Step { collection: name.to_string(), shard_id: *shard_id, action, reason: Reason::Rebalance });
    }
}

/// One move from the peer holding the most replicas overall to the one holding the fewest, of a
/// collection where that keeps its own counts within one.
fn rebalance_globally(state: &ClusterState, peers: &Peers, global: &BTreeMap<PeerId, usize>, steps: &mut Vec<Step>) {
    let reachable = || peers.takers.iter().copied().filter(|p| !peers.unreachable.contains(p));
    let load = |p: PeerId| (global.get(&p).copied().unwrap_or(0), p);
    let (Some(most), Some(least)) = (reachable().max_by_key(|p| load(*p)), reachable().min_by_key(|p| load(*p))) else {
        return;
    };
    if load(most).0 <= load(least).0 + 1 {
        return;
    }
    for (name, meta) in &state.collections {
        let local = counts(meta, &peers.takers);
        if local.get(&most).copied().unwrap_or(0) <= local.get(&least).copied().unwrap_or(0) {
            continue;
        }
        let movable = |(shard, replicas): &(&ShardId, &ReplicaSet)| {
            !meta.shard_pinned(**shard)
                && replicas.get(&most).copied().is_some_and(is_active)
                && !replicas.contains_key(&least)
        };
        if let Some((shard_id, _)) = meta.shards.iter().find(movable) {
            let action = Action::Move { from: most, to: least };
            steps.push(Step { collection: name.clone(), shard_id: *shard_id, action, reason: Reason::Rebalance });
            return;
        }
    }
}
