//! Custom sharding vocabulary (spec §2.6, §3 routing, §10): shard keys, the selectors requests
//! name them with, and a collection's mapping of keys to the shards created for them.

use crate::ShardId;
use serde::{Deserialize, Serialize};

/// How a collection's points are spread over shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShardingMethod {
    /// Shards `0..shard_number`, points placed by hashing their ids.
    #[default]
    Auto,
    /// Shards created per shard key; every write names its key.
    Custom,
}

/// A shard key: a string or an unsigned integer (distinct: `"1"` is not `1`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ShardKey {
    Number(u64),
    Keyword(String),
}

impl std::fmt::Display for ShardKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShardKey::Number(n) => write!(f, "{n}"),
            ShardKey::Keyword(k) => f.write_str(k),
        }
    }
}

impl From<&str> for ShardKey {
    fn from(key: &str) -> Self {
        ShardKey::Keyword(key.to_string())
    }
}

impl From<u64> for ShardKey {
    fn from(key: u64) -> Self {
        ShardKey::Number(key)
    }
}

/// Route to `target`'s shards while they serve, else to `fallback`'s (tiered multitenancy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyWithFallback {
    pub target: ShardKey,
    pub fallback: ShardKey,
}

/// The `shard_key` of a request: one key, several keys, or a key with a fallback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ShardKeySelector {
    Key(ShardKey),
    Keys(Vec<ShardKey>),
    WithFallback(KeyWithFallback),
}

impl ShardKeySelector {
    /// The selector a request's `shard_key` field gives: an empty list selects nothing, as
    /// when the field is absent (as gRPC's empty `shard_keys` does).
    pub fn given(selector: Option<ShardKeySelector>) -> Option<ShardKeySelector> {
        selector.filter(|s| !matches!(s, ShardKeySelector::Keys(keys) if keys.is_empty()))
    }
}

/// The shards of one shard key, in creation order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyShards {
    pub key: ShardKey,
    pub shards: Vec<ShardId>,
    /// The key's own replication factor; `None` follows the collection's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_factor: Option<u32>,
    /// Created with an explicit `placement`: the automatic rebalancing leaves its shards on the
    /// peers the user chose (a lost or drained peer's replicas are still replaced).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pinned: bool,
}

/// A custom-sharded collection's shard keys and their shards. Shard ids are never reused within
/// a collection: a peer that missed a key's drop must never take a later key's shard for the
/// dropped one's.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ShardKeys {
    /// Ordered by key.
    #[serde(default)]
    keys: Vec<KeyShards>,
    /// The lowest shard id no key has used yet.
    #[serde(default)]
    next_shard_id: ShardId,
}

impl ShardKeys {
    /// No key was ever created.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.next_shard_id == 0
    }

    pub fn keys(&self) -> impl Iterator<Item = &KeyShards> {
        self.keys.iter()
    }

    pub fn get(&self, key: &ShardKey) -> Option<&KeyShards> {
        self.keys.binary_search_by(|k| k.key.cmp(key)).ok().and_then(|i| self.keys.get(i))
    }

    /// The key whose shard `shard_id` is.
    pub fn key_of(&self, shard_id: ShardId) -> Option<&KeyShards> {
        self.keys.iter().find(|k| k.shards.contains(&shard_id))
    }

    /// Every shard of every key.
    pub fn shard_ids(&self) -> impl Iterator<Item = ShardId> + '_ {
        self.keys.iter().flat_map(|k| k.shards.iter().copied())
    }

    /// The next `count` unused shard ids (custom shards count from 1, as Qdrant's do).
    pub fn fresh_ids(&self, count: u32) -> Vec<ShardId> {
        let used = self.shard_ids().max().map_or(1, |max| max.saturating_add(1));
        let first = self.next_shard_id.max(used).max(1);
        (0..count).map(|i| first.saturating_add(i)).collect()
    }

    /// Whether `shard_id` was never used by a key.
    pub fn is_fresh(&self, shard_id: ShardId) -> bool {
        self.fresh_ids(1).first().is_some_and(|first| shard_id >= *first)
    }

    /// Adds a key (replacing one of the same name) and marks its shard ids used.
    pub fn insert(&mut self, entry: KeyShards) {
        if let Some(max) = entry.shards.iter().max() {
            self.next_shard_id = self.next_shard_id.max(max.saturating_add(1));
        }
        match self.keys.binary_search_by(|k| k.key.cmp(&entry.key)) {
            Ok(i) => self.keys[i] = entry,
            Err(i) => self.keys.insert(i, entry),
        }
    }

    /// Removes a key; its shard ids stay used.
    pub fn remove(&mut self, key: &ShardKey) -> Option<KeyShards> {
        let i = self.keys.binary_search_by(|k| k.key.cmp(key)).ok()?;
        Some(self.keys.remove(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_and_selectors_parse_as_qdrant_sends_them() {
        let key: ShardKey = serde_json::from_value(json!("tenant")).unwrap();
        assert_eq!(key, ShardKey::from("tenant"));
        assert_eq!(serde_json::from_value::<ShardKey>(json!(7)).unwrap(), ShardKey::Number(7));
        assert!(serde_json::from_value::<ShardKey>(json!(-1)).is_err());
        assert!(serde_json::from_value::<ShardKey>(json!(1.5)).is_err());
        let parse = |v| serde_json::from_value::<ShardKeySelector>(v);
        assert_eq!(parse(json!("a")).unwrap(), ShardKeySelector::Key("a".into()));
        assert_eq!(parse(json!(["a", 2])).unwrap(), ShardKeySelector::Keys(vec!["a".into(), 2.into()]));
        let fallback = parse(json!({"target": "a", "fallback": "b"})).unwrap();
        assert_eq!(
            fallback,
            ShardKeySelector::WithFallback(KeyWithFallback { target: "a".into(), fallback: "b".into() })
        );
        assert!(parse(json!({"target": "a"})).is_err());
        assert!(parse(json!(true)).is_err());
        assert_eq!(ShardKeySelector::given(Some(ShardKeySelector::Keys(vec![]))), None);
        assert_eq!(ShardKey::Number(3).to_string(), "3");
    }

    #[test]
    fn shard_ids_are_never_reused() {
        let mut keys = ShardKeys::default();
        assert_eq!(keys.fresh_ids(2), vec![1, 2]);
        keys.insert(KeyShards { key: "a".into(), shards: vec![1, 2], replication_factor: None, pinned: false });
        keys.insert(KeyShards { key: 5.into(), shards: vec![3], replication_factor: Some(2), pinned: false });
        assert_eq!(keys.key_of(3).map(|k| &k.key), Some(&ShardKey::Number(5)));
        assert_eq!(keys.shard_ids().collect::<Vec<_>>(), vec![3, 1, 2], "numbers sort before keywords");
        assert!(keys.remove(&ShardKey::Number(5)).is_some());
        assert_eq!(keys.fresh_ids(1), vec![4]);
        assert!(!keys.is_fresh(3) && keys.is_fresh(4));
        let json = serde_json::to_string(&keys).unwrap();
        assert_eq!(serde_json::from_str::<ShardKeys>(&json).unwrap(), keys);
        assert!(keys.get(&"a".into()).is_some() && keys.get(&"b".into()).is_none());
    }
}
