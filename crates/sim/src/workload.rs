//! The client workload and its history. Each client owns a few keys (point ids) and works on
//! them one operation at a time, so the operations on a key form one sequence: upserts and
//! deletes by id, payload updates by id and by filter, and reads by id at `consistency=all` or
//! `majority`, each sent to a random live peer and recorded as ok / failed / unknown (timeouts
//! and 5xx answers are unknown: the write may or may not have taken effect).

use crate::check::{KeyModel, Violation, check_acknowledged};
pub use crate::history::{COLLECTION, OP_TIMEOUT, Op, OpKind, Outcome, value_of};
use quiver_collection::with_read_consistency;
use quiver_node::{Node, NodeError};
use quiver_types::PointId;
use quiver_types::filter::Filter;
use quiver_types::ops::{PointSelector, UpdateMode, UpdateOperation};
use quiver_types::point::{PointStruct, Vector};
use quiver_types::query::{ReadConsistency, WithPayload, WithVector};
use quiver_types::shard_key::ShardKeySelector;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The live peers clients may send to (updated as peers crash and restart).
pub type Targets = Arc<parking_lot::RwLock<BTreeMap<u64, Arc<Node>>>>;

/// The recorded history, shared by the clients.
pub type History = Arc<parking_lot::Mutex<Vec<Op>>>;

fn point(key: u64, value: u64) -> PointStruct {
    let vector = Vector::Dense(vec![1.0, (key % 7) as f32, (value % 11) as f32, 0.5]);
    let mut payload = serde_json::Map::new();
    payload.insert("v".into(), serde_json::json!(value));
    PointStruct { id: PointId::Num(key), vectors: BTreeMap::from([(String::new(), vector)]), payload: Some(payload) }
}

fn classify(e: &NodeError) -> Outcome {
    match e {
        NodeError::BadInput(_)
        | NodeError::BadRequest(_)
        | NodeError::Validation(_)
        | NodeError::NotFound(_)
        | NodeError::AlreadyExists(_)
        | NodeError::Forbidden(_)
        | NodeError::Locked(_)
        | NodeError::ChecksumMismatch { .. }
        | NodeError::StandaloneMode
        | NodeError::RemovedFromCluster(_) => Outcome::Failed(e.to_string()),
        NodeError::Timeout(_)
        | NodeError::ShardUnavailable(_)
        | NodeError::Service(_)
        | NodeError::RateLimited { .. } => Outcome::Unknown(e.to_string()),
    }
}

/// One client: owns `keys`, stops at `until` (simulated time since `origin`).
pub struct Client {
    keys: Vec<u64>,
    rng: StdRng,
    shared: Shared,
    values: u64,
    /// What each of its keys may hold (for the check right after an acknowledgement).
    models: BTreeMap<u64, KeyModel>,
}

/// What the clients share with the simulation.
#[derive(Clone)]
pub struct Shared {
    pub targets: Targets,
    pub history: History,
    pub violations: Arc<parking_lot::Mutex<Vec<Violation>>>,
    pub origin: Instant,
    pub write_consistency_factor: usize,
    /// The shard key every request names (custom-sharded runs).
    pub shard_key: Option<ShardKeySelector>,
}

impl Client {
    pub fn new(id: u64, seed: u64, keys: Vec<u64>, shared: Shared) -> Client {
        let rng = StdRng::seed_from_u64(seed.wrapping_mul(31).wrapping_add(id));
        Client { keys, rng, shared, values: id * 1_000_000, models: BTreeMap::new() }
    }

    /// Runs operations until `stop` resolves (checked between operations).
    pub async fn run(mut self, stop: tokio::sync::watch::Receiver<bool>) {
        while !*stop.borrow() {
            let key = self.keys[self.rng.random_range(0..self.keys.len())];
            let Some((peer, node)) = self.pick_target() else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            self.step(key, peer, &node).await;
            let pause = self.rng.random_range(0..50);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    }

    fn pick_target(&mut self) -> Option<(u64, Arc<Node>)> {
        let targets = self.shared.targets.read();
        if targets.is_empty() {
            return None;
        }
        let index = self.rng.random_range(0..targets.len());
        targets.iter().nth(index).map(|(id, node)| (*id, Arc::clone(node)))
    }

    /// Whether `node` is still the running process instance of `peer`.
    fn instance_is_live(&self, peer: u64, node: &Node) -> bool {
        let targets = self.shared.targets.read();
        targets.get(&peer).is_some_and(|live| std::ptr::eq(Arc::as_ptr(live), node))
    }

    async fn step(&mut self, key: u64, peer: u64, node: &Node) {
        self.values += 1;
        let value = self.values;
        let roll = self.rng.random_range(0..100);
        let invoked = self.shared.origin.elapsed();
        let (kind, outcome) = match roll {
            0..35 => (OpKind::Write { value: Some(value), how: "upsert" }, self.upsert(node, key, value).await),
            35..45 => (OpKind::Write { value: None, how: "delete" }, self.delete(node, key).await),
            45..60 => {
                (OpKind::Write { value: Some(value), how: "set_payload" }, self.set_payload(node, key, value).await)
            }
            60..65 => (OpKind::FilterWrite, self.filter_write(node, key, value).await),
            65..82 => (OpKind::Read { consistency: "all" }, self.read(node, key, ReadConsistency::All).await),
            _ => (OpKind::Read { consistency: "majority" }, self.read(node, key, ReadConsistency::Majority).await),
        };
        // A process killed while the call was in flight cannot answer: whatever its leftover
        // tasks return reaches no client (the connection was reset), so the outcome is unknown.
        let outcome = match self.instance_is_live(peer, node) {
            true => outcome,
            false => Outcome::Unknown("the peer crashed before answering".into()),
        };
        let op = Op { key, kind, peer, invoked, completed: self.shared.origin.elapsed(), outcome };
        let model = self.models.entry(key).or_default();
        let mut found: Vec<Violation> = model.apply(key, &op).into_iter().collect();
        if matches!((&op.kind, &op.outcome), (OpKind::Write { .. }, Outcome::Ok)) {
            let nodes = self.shared.targets.read().clone();
            found.extend(check_acknowledged(&nodes, key, model, self.shared.write_consistency_factor));
        }
        self.shared.violations.lock().extend(found);
        self.shared.history.lock().push(op);
    }

    async fn write(&self, node: &Node, op: UpdateOperation) -> Outcome {
        let shard_key = self.shared.shard_key.as_ref();
        match tokio::time::timeout(OP_TIMEOUT, node.update_points(COLLECTION, op, shard_key, true)).await {
            Err(_) => Outcome::Unknown("client timeout".into()),
            Ok(Ok(_)) => Outcome::Ok,
            Ok(Err(e)) => classify(&e),
        }
    }

    async fn upsert(&self, node: &Node, key: u64, value: u64) -> Outcome {
        let op =
            UpdateOperation::Upsert { points: vec![point(key, value)], mode: UpdateMode::Upsert, update_filter: None };
        self.write(node, op).await
    }

    async fn delete(&self, node: &Node, key: u64) -> Outcome {
        self.write(node, UpdateOperation::Delete { selector: PointSelector::Ids(vec![PointId::Num(key)]) }).await
    }

    async fn set_payload(&self, node: &Node, key: u64, value: u64) -> Outcome {
        let payload = serde_json::Map::from_iter([("v".to_string(), serde_json::json!(value))]);
        let op =
            UpdateOperation::SetPayload { payload, selector: PointSelector::Ids(vec![PointId::Num(key)]), key: None };
        self.write(node, op).await
    }

    async fn filter_write(&self, node: &Node, key: u64, value: u64) -> Outcome {
        let filter: Filter =
            serde_json::from_value(serde_json::json!({"must": [{"has_id": [key]}]})).unwrap_or_default();
        let payload = serde_json::Map::from_iter([("w".to_string(), serde_json::json!(value))]);
        self.write(node, UpdateOperation::SetPayload { payload, selector: PointSelector::Filter(filter), key: None })
            .await
    }

    async fn read(&self, node: &Node, key: u64, consistency: ReadConsistency) -> Outcome {
        let read = node.retrieve_points(
            COLLECTION,
            vec![PointId::Num(key)],
            WithPayload::Bool(true),
            WithVector::Bool(false),
            self.shared.shard_key.as_ref(),
        );
        match tokio::time::timeout(OP_TIMEOUT, with_read_consistency(consistency, read)).await {
            Err(_) => Outcome::Unknown("client timeout".into()),
            Ok(Err(e)) => classify(&e),
            Ok(Ok(records)) => Outcome::Read(records.first().and_then(value_of)),
        }
    }
}
