//! The vocabulary of a simulated run's history: what a client did to a key and how it ended.

use std::time::Duration;

/// The collection every client works on.
pub const COLLECTION: &str = "sim";
/// The one shard key of a custom-sharded run (design record 016): every point lives in it.
pub const SHARD_KEY: &str = "tenant";

/// The selector clients send in a custom-sharded run.
pub fn shard_key_selector() -> quiver_types::shard_key::ShardKeySelector {
    quiver_types::shard_key::ShardKeySelector::Key(SHARD_KEY.into())
}

/// The shard of `key` in `collection`: by the auto ring, or by the shard key's ring.
pub fn shard_of_key(collection: &quiver_collection::Collection, key: u64) -> u32 {
    let routing = collection.routing();
    let selector = routing.is_custom().then(shard_key_selector);
    let id = quiver_types::PointId::Num(key);
    match routing.write_targets(selector.as_ref()) {
        Ok(targets) => targets.first().map_or(0, |t| t.shard_of(&id)),
        Err(_) => collection.shard_of(&id),
    }
}
/// A client's wait for one operation (a timeout is an unknown outcome).
pub const OP_TIMEOUT: Duration = Duration::from_secs(10);

/// What a client did.
#[derive(Debug, Clone, PartialEq)]
pub enum OpKind {
    /// Sets the key's value (`Some`) or deletes the point (`None`).
    Write { value: Option<u64>, how: &'static str },
    /// Sets another payload field of the points matching a filter (not checked for values).
    FilterWrite,
    /// Reads the key's value at a consistency level.
    Read { consistency: &'static str },
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Ok,
    /// Refused with a 4xx: it did not take effect.
    Failed(String),
    /// Timed out or failed with a 5xx: it may or may not have taken effect.
    Unknown(String),
    /// A read's answer: the key's value (`None`: no such point).
    Read(Option<u64>),
}

/// One operation in the history.
#[derive(Debug, Clone)]
pub struct Op {
    pub key: u64,
    pub kind: OpKind,
    pub peer: u64,
    pub invoked: Duration,
    pub completed: Duration,
    pub outcome: Outcome,
}

/// The checked value of a point: its payload field `v`.
pub fn value_of(record: &quiver_types::point::Record) -> Option<u64> {
    record.payload.as_ref().and_then(|p| p.get("v")).and_then(serde_json::Value::as_u64)
}
