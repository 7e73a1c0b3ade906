//! Checkers: the history of each key against what reads returned and what the replicas hold
//! (Jepsen's rule for unknown outcomes: a write that may have taken effect may do so at any
//! time after it was invoked), and the replicas against each other and against the applied
//! cluster state.

use crate::history::{COLLECTION, Op, OpKind, Outcome, value_of};
use quiver_collection::LocalShard;
use quiver_node::Node;
use quiver_types::PointId;
use quiver_types::query::{WithPayload, WithVector};
use quiver_types::replica::ReplicaState;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A broken promise, with what showed it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Violation {
    /// An acknowledged write is not what a replica holds at the end (nor a later write's value).
    Lost { key: u64, detail: String },
    /// A read returned a value older than a write acknowledged before the read started.
    Stale { key: u64, detail: String },
    /// Replicas of a shard hold different contents once everything healed.
    Diverged { shard: u32, detail: String },
    /// Right after a write was acknowledged, a replica `Active` in the cluster state lacked it,
    /// or fewer than `write_consistency_factor` replicas held it.
    Unreplicated { key: u64, detail: String },
    /// The cluster did not heal (replicas not all `Active` and equal) in time.
    NotHealed { detail: String },
    /// Two replicas hold different records at the same sequence number.
    Forked { shard: u32, detail: String },
    /// Two peers applied different metadata operations at the same Raft log index.
    RaftLog { detail: String },
}

/// What a key may hold at a point of its history.
#[derive(Debug, Default, Clone)]
pub struct KeyModel {
    /// The value of the last write known to have taken effect (acknowledged, or seen by a read);
    /// `None` inside: no point.
    current: Option<u64>,
    /// Values of writes whose outcome is unknown: each may take effect at any later time.
    pending: BTreeSet<Option<u64>>,
}

impl KeyModel {
    /// Whether the key may hold `value` now.
    pub fn allows(&self, value: Option<u64>) -> bool {
        self.current == value || self.pending.contains(&value)
    }

    fn describe(&self) -> String {
        format!("expected {:?} or one of the unknown writes {:?}", self.current, self.pending)
    }

    /// Takes the next operation of the key into account; a read that returned a value the key
    /// could not hold is a stale read.
    pub fn apply(&mut self, key: u64, op: &Op) -> Option<Violation> {
        match (&op.kind, &op.outcome) {
            (OpKind::Write { value, .. }, Outcome::Ok) => self.current = *value,
            (OpKind::Write { value, .. }, Outcome::Unknown(_)) => {
                self.pending.insert(*value);
            }
            (OpKind::Read { consistency }, Outcome::Read(seen)) => {
                let stale = (!self.allows(*seen)).then(|| {
                    let detail = format!(
                        "read at consistency={consistency} via peer {} at {:?} returned {seen:?}; {}",
                        op.peer,
                        op.invoked,
                        self.describe()
                    );
                    Violation::Stale { key, detail }
                });
                // What a read saw has taken effect.
                self.current = *seen;
                return stale;
            }
            (OpKind::Write { .. } | OpKind::FilterWrite | OpKind::Read { .. }, _) => {}
        }
        None
    }
}

/// Replays the history of each key (its operations are sequential) and reports stale reads;
/// returns each key's final model.
pub fn check_history(history: &[Op]) -> (BTreeMap<u64, KeyModel>, Vec<Violation>) {
    let mut by_key: BTreeMap<u64, Vec<&Op>> = BTreeMap::new();
    for op in history {
        by_key.entry(op.key).or_default().push(op);
    }
    let mut models = BTreeMap::new();
    let mut violations = Vec::new();
    for (key, mut ops) in by_key {
        ops.sort_by_key(|op| op.invoked);
        let mut model = KeyModel::default();
        violations.extend(ops.into_iter().filter_map(|op| model.apply(key, op)));
        models.insert(key, model);
    }
    (models, violations)
}

/// The value of `key` in a local replica.
pub fn local_value(shard: &LocalShard, key: u64) -> Option<u64> {
    let records = shard.retrieve(&[PointId::Num(key)], &WithPayload::Bool(true), &WithVector::Bool(false));
    records.first().and_then(value_of)
}

/// Every live peer's local replica of `shard_id` with its state in `states`.
pub fn replicas_of(
    nodes: &BTreeMap<u64, Arc<Node>>,
    states: &BTreeMap<u64, ReplicaState>,
    shard_id: u32,
) -> Vec<(u64, ReplicaState, Arc<LocalShard>)> {
    let mut out = Vec::new();
    for (peer, state) in states {
        let Some(node) = nodes.get(peer) else { continue };
        let Ok(collection) = node.resolve(COLLECTION) else { continue };
        let Ok(set) = collection.replica_set(shard_id) else { continue };
        if let Some(local) = set.local() {
            out.push((*peer, *state, local));
        }
    }
    out
}

/// The most advanced applied cluster state among `nodes`.
pub fn latest_state(nodes: &BTreeMap<u64, Arc<Node>>) -> Option<quiver_cluster::state::ClusterState> {
    nodes
        .values()
        .filter_map(|n| n.cluster().map(|c| c.consensus.state()))
        .max_by_key(|s| s.applied_index())
        .map(|s| s.state.clone())
}

/// Right after a write of `key` was acknowledged: every live replica `Active` in the latest
/// state holds it (or a value an unknown write may have set), and at least `wcf` replicas do.
pub fn check_acknowledged(
    nodes: &BTreeMap<u64, Arc<Node>>,
    key: u64,
    model: &KeyModel,
    wcf: usize,
) -> Option<Violation> {
    let state = latest_state(nodes)?;
    let meta = state.collections.get(COLLECTION)?;
    let node = nodes.values().next()?;
    let shard_id = crate::history::shard_of_key(&*node.resolve(COLLECTION).ok()?, key);
    let states = meta.shards.get(&shard_id)?;
    let replicas = replicas_of(nodes, states, shard_id);
    let holding = replicas.iter().filter(|(_, _, local)| model.allows(local_value(local, key))).count();
    for (peer, state, local) in &replicas {
        let value = local_value(local, key);
        if *state == ReplicaState::Active && !model.allows(value) {
            let detail =
                format!("shard {shard_id}: Active replica on peer {peer} holds {value:?}; {}", model.describe());
            return Some(Violation::Unreplicated { key, detail });
        }
    }
    let down = states.keys().filter(|p| !nodes.contains_key(p)).count();
    if holding + down < wcf.min(states.len()) {
        let detail = format!("shard {shard_id}: {holding} replicas hold it, write_consistency_factor {wcf}");
        return Some(Violation::Unreplicated { key, detail });
    }
    None
}

/// After healing: every replica of every shard `Active` with the same digest; each key's value
/// allowed by its model on every replica; no two replicas with different records at one
/// sequence number.
pub fn check_final(nodes: &BTreeMap<u64, Arc<Node>>, models: &BTreeMap<u64, KeyModel>) -> Vec<Violation> {
    let mut violations = Vec::new();
    let Some(state) = latest_state(nodes) else { return vec![Violation::NotHealed { detail: "no live peer".into() }] };
    let Some(meta) = state.collections.get(COLLECTION) else { return violations };
    for (shard_id, states) in &meta.shards {
        let replicas = replicas_of(nodes, states, *shard_id);
        let digests: BTreeSet<u64> = replicas.iter().map(|(_, _, l)| l.digest()).collect();
        if digests.len() > 1 {
            let detail: Vec<String> = replicas
                .iter()
                .map(|(p, _, l)| format!("peer {p}: {} points, seq {}", l.points_count(), l.applied_seq()))
                .collect();
            violations.push(Violation::Diverged { shard: *shard_id, detail: detail.join("; ") });
        }
        violations.extend(check_forks(*shard_id, &replicas));
    }
    let node = nodes.values().next();
    for (key, model) in models {
        let Some(collection) = node.and_then(|n| n.resolve(COLLECTION).ok()) else { break };
        let shard_id = crate::history::shard_of_key(&collection, *key);
        let Some(states) = meta.shards.get(&shard_id) else { continue };
        for (peer, _, local) in replicas_of(nodes, states, shard_id) {
            let value = local_value(&local, *key);
            if !model.allows(value) {
                let detail = format!("peer {peer} shard {shard_id} holds {value:?}; {}", model.describe());
                violations.push(Violation::Lost { key: *key, detail });
            }
        }
    }
    violations
}

/// Records at the same sequence number must be identical on every replica that holds them.
fn check_forks(shard_id: u32, replicas: &[(u64, ReplicaState, Arc<LocalShard>)]) -> Vec<Violation> {
    let Some(from) = replicas.iter().map(|(_, _, l)| l.wal_first_seq()).max() else { return Vec::new() };
    let Some(to) = replicas.iter().map(|(_, _, l)| l.applied_seq()).min() else { return Vec::new() };
    if from == 0 || from > to {
        return Vec::new();
    }
    let logs: Vec<(u64, Vec<String>)> = replicas
        .iter()
        .map(|(peer, _, local)| {
            let records = local.wal_records(from, to).unwrap_or_default();
            (*peer, records.iter().map(|(seq, op)| format!("{seq}:{op:?}")).collect())
        })
        .collect();
    let mut out = Vec::new();
    for pair in logs.windows(2) {
        let ((a, la), (b, lb)) = (&pair[0], &pair[1]);
        if let Some((x, y)) = la.iter().zip(lb).find(|(x, y)| x != y) {
            let detail = format!("peer {a} has {x}, peer {b} has {y}");
            out.push(Violation::Forked { shard: shard_id, detail });
        }
    }
    out
}
