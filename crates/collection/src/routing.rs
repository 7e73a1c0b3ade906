//! Which shards a request reaches (spec §3.2, §10.2, design record 016). Auto sharding hashes
//! point ids over shards `0..shard_number`; custom sharding keeps one hash ring per shard key,
//! every write names its key, and a read without a key reaches every key's shards.

use crate::error::{CollectionError, Result};
use crate::hash_ring::HashRing;
use quiver_types::replica::ReplicaState;
use quiver_types::shard_key::{ShardKey, ShardKeySelector, ShardKeys};
use quiver_types::{PointId, ShardId};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A collection's routing table: immutable, replaced whole when shard keys change.
#[derive(Debug, Clone)]
pub struct Routing {
    custom: bool,
    /// Auto sharding: the ring over `0..shard_number`.
    auto: Arc<HashRing>,
    keys: ShardKeys,
    rings: BTreeMap<ShardKey, Arc<HashRing>>,
}

/// One write's destination: the shards of one key (or of the whole auto-sharded collection)
/// and the ring that places point ids among them.
#[derive(Debug, Clone)]
pub struct WriteTarget {
    pub ring: Arc<HashRing>,
    pub shards: Vec<ShardId>,
}

impl WriteTarget {
    pub fn shard_of(&self, id: &PointId) -> ShardId {
        self.ring.shard_of(id)
    }
}

/// `Shard key <k> not found`.
pub fn key_not_found(key: &ShardKey) -> String {
    format!("Shard key {key} not found")
}

impl Routing {
    pub fn new(custom: bool, shard_number: u32, keys: ShardKeys) -> Routing {
        let rings = keys.keys().map(|k| (k.key.clone(), Arc::new(HashRing::over(&k.shards)))).collect();
        Routing { custom, auto: Arc::new(HashRing::new(shard_number)), keys, rings }
    }

    pub fn is_custom(&self) -> bool {
        self.custom
    }

    pub fn keys(&self) -> &ShardKeys {
        &self.keys
    }

    /// Every shard of the collection, in id order.
    pub fn all_shards(&self) -> Vec<ShardId> {
        match self.custom {
            true => {
                let mut ids: Vec<ShardId> = self.keys.shard_ids().collect();
                ids.sort_unstable();
                ids
            }
            false => self.auto.shard_ids(),
        }
    }

    /// The key shard `shard_id` belongs to (custom sharding).
    pub fn key_of(&self, shard_id: ShardId) -> Option<&ShardKey> {
        self.keys.key_of(shard_id).map(|k| &k.key)
    }

    /// The ring that places points among shard `shard_id` and its siblings: the auto ring, or
    /// with custom sharding the ring of the shard's key; `None` for a shard the table lacks.
    pub fn ring_of(&self, shard_id: ShardId) -> Option<Arc<HashRing>> {
        match self.custom {
            true => self.key_of(shard_id).and_then(|key| self.rings.get(key)).cloned(),
            false => self.auto.shard_ids().contains(&shard_id).then(|| Arc::clone(&self.auto)),
        }
    }

    /// The key a fallback selector resolves to: its target while that key exists.
    fn existing_or_fallback<'a>(&self, target: &'a ShardKey, fallback: &'a ShardKey) -> &'a ShardKey {
        match self.rings.contains_key(target) {
            true => target,
            false => fallback,
        }
    }

    /// The keys a `{target, fallback}` selector stands for, given each shard's replica states
    /// (`states`), as Qdrant's `route_with_fallback_for_read` and `_for_write`: the target while
    /// it has shards each with an `Active` replica; otherwise the fallback, and for a write also
    /// the target when some target shard has only `Partial` replicas (it is being filled, and
    /// must not miss the write). Other selectors are returned as they are.
    pub fn resolve_fallback(
        &self,
        selector: &ShardKeySelector,
        write: bool,
        states: impl Fn(ShardId) -> Vec<ReplicaState>,
    ) -> Result<ShardKeySelector> {
        let ShardKeySelector::WithFallback(f) = selector else { return Ok(selector.clone()) };
        let (target, fallback) = (&f.target, &f.fallback);
        let shards = self.keys.get(target).map(|k| k.shards.as_slice()).unwrap_or_default();
        let has_fallback = self.keys.get(fallback).is_some();
        let active = |shard: &ShardId| states(*shard).into_iter().any(ReplicaState::is_readable);
        let filling = |shard: &ShardId| {
            let states = states(*shard);
            !states.is_empty() && states.iter().all(|s| *s == ReplicaState::Partial)
        };
        let one = |key: &ShardKey| Ok(ShardKeySelector::Key(key.clone()));
        match (shards.is_empty(), has_fallback) {
            (true, true) => one(fallback),
            (true, false) => Err(CollectionError::NotFound(format!(
                "Neither target shard key {target} nor fallback shard key {fallback} exist"
            ))),
            (false, _) if shards.iter().all(active) => one(target),
            (false, true) if write && shards.iter().any(filling) => {
                Ok(ShardKeySelector::Keys(vec![target.clone(), fallback.clone()]))
            }
            (false, true) => one(fallback),
            (false, false) => Err(CollectionError::ShardUnavailable(format!(
                "Neither target shard key {target} nor fallback shard key {fallback} have active replicas"
            ))),
        }
    }

    /// The keys `selector` names (resolved fallbacks), unchecked.
    fn named_keys<'a>(&self, selector: &'a ShardKeySelector) -> Vec<&'a ShardKey> {
        match selector {
            ShardKeySelector::Key(key) => vec![key],
            ShardKeySelector::Keys(keys) => keys.iter().collect(),
            ShardKeySelector::WithFallback(f) => vec![self.existing_or_fallback(&f.target, &f.fallback)],
        }
    }

    /// Where a write goes (Qdrant's rules): one target per named key; without a key the auto
    /// ring, and a custom-sharded collection refuses (`Shard key not specified`).
    pub fn write_targets(&self, selector: Option<&ShardKeySelector>) -> Result<Vec<WriteTarget>> {
        let Some(selector) = selector else {
            return match self.custom {
                true => Err(CollectionError::BadInput("Shard key not specified".into())),
                false => Ok(vec![WriteTarget { ring: Arc::clone(&self.auto), shards: self.all_shards() }]),
            };
        };
        let mut targets = Vec::new();
        for key in self.named_keys(selector) {
            let ring = self.rings.get(key).ok_or_else(|| CollectionError::BadInput(key_not_found(key)))?;
            targets.push(WriteTarget { ring: Arc::clone(ring), shards: ring.shard_ids() });
        }
        Ok(targets)
    }

    /// The shards a read reaches: the named keys' shards, or every shard without a key.
    pub fn read_shards(&self, selector: Option<&ShardKeySelector>) -> Result<Vec<ShardId>> {
        let Some(selector) = selector else { return Ok(self.all_shards()) };
        let mut shards = Vec::new();
        for key in self.named_keys(selector) {
            let entry = self.keys.get(key).ok_or_else(|| CollectionError::BadRequest(key_not_found(key)))?;
            for shard in &entry.shards {
                if !shards.contains(shard) {
                    shards.push(*shard);
                }
            }
        }
        Ok(shards)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiver_types::shard_key::{KeyShards, KeyWithFallback};

    fn custom() -> Routing {
        let mut keys = ShardKeys::default();
        keys.insert(KeyShards { key: "a".into(), shards: vec![1, 2], replication_factor: None, pinned: false });
        keys.insert(KeyShards { key: 7.into(), shards: vec![3], replication_factor: None, pinned: false });
        Routing::new(true, 1, keys)
    }

    #[test]
    fn custom_writes_need_an_existing_key_and_reads_default_to_every_shard() {
        let routing = custom();
        let err = routing.write_targets(None).unwrap_err();
        assert_eq!(err, CollectionError::BadInput("Shard key not specified".into()));
        let unknown = ShardKeySelector::Key("zz".into());
        assert_eq!(routing.write_targets(Some(&unknown)).unwrap_err().to_string(), "Shard key zz not found");
        assert!(matches!(routing.read_shards(Some(&unknown)), Err(CollectionError::BadRequest(_))));
        let a = routing.write_targets(Some(&ShardKeySelector::Key("a".into()))).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].shards, vec![1, 2]);
        assert!((0..200u64).all(|i| [1, 2].contains(&a[0].shard_of(&PointId::Num(i)))));
        assert_eq!(routing.read_shards(None).unwrap(), vec![1, 2, 3]);
        let both = ShardKeySelector::Keys(vec![7.into(), "a".into()]);
        assert_eq!(routing.read_shards(Some(&both)).unwrap(), vec![3, 1, 2]);
        assert_eq!(routing.write_targets(Some(&both)).unwrap().len(), 2);
        let fallback = |target: &str| {
            ShardKeySelector::WithFallback(KeyWithFallback { target: target.into(), fallback: 7.into() })
        };
        assert_eq!(routing.read_shards(Some(&fallback("a"))).unwrap(), vec![1, 2]);
        assert_eq!(routing.read_shards(Some(&fallback("new"))).unwrap(), vec![3]);
        assert_eq!(routing.key_of(3), Some(&ShardKey::Number(7)));
    }

    /// Qdrant's `route_with_fallback_for_read` / `_for_write`: the target while each of its
    /// shards has an active replica; else the fallback, and for writes both while a target
    /// shard is only `Partial` (being filled).
    #[test]
    fn fallback_selectors_follow_the_target_replicas_states() {
        use ReplicaState::{Active, Dead, Partial};
        let routing = custom(); // key "a": shards 1, 2; key 7: shard 3
        let select = |target: &str| {
            ShardKeySelector::WithFallback(KeyWithFallback { target: target.into(), fallback: 7.into() })
        };
        let resolve = |target: &str, write: bool, states: &dyn Fn(ShardId) -> Vec<ReplicaState>| {
            routing.resolve_fallback(&select(target), write, states)
        };
        let key = |k: ShardKey| ShardKeySelector::Key(k);
        let all_active = |_| vec![Active, Partial];
        assert_eq!(resolve("a", false, &all_active).unwrap(), key("a".into()));
        assert_eq!(resolve("a", true, &all_active).unwrap(), key("a".into()));
        // Shard 2 of "a" is being filled: reads go to the fallback, writes to both.
        let filling = |s| if s == 2 { vec![Partial, Partial] } else { vec![Active] };
        assert_eq!(resolve("a", false, &filling).unwrap(), key(7.into()));
        assert_eq!(resolve("a", true, &filling).unwrap(), ShardKeySelector::Keys(vec!["a".into(), 7.into()]));
        // No active replica and not being filled: the fallback alone.
        let dead = |s| if s == 2 { vec![Dead, Partial] } else { vec![Active] };
        assert_eq!(resolve("a", true, &dead).unwrap(), key(7.into()));
        // A target that does not exist: the fallback; neither: not found.
        assert_eq!(resolve("new", true, &all_active).unwrap(), key(7.into()));
        let neither = ShardKeySelector::WithFallback(KeyWithFallback { target: "x".into(), fallback: "y".into() });
        let err = routing.resolve_fallback(&neither, false, all_active).unwrap_err();
        assert_eq!(err, CollectionError::NotFound("Neither target shard key x nor fallback shard key y exist".into()));
        // A target without an active replica and no fallback key: unavailable.
        let no_fallback = ShardKeySelector::WithFallback(KeyWithFallback { target: "a".into(), fallback: "y".into() });
        let err = routing.resolve_fallback(&no_fallback, false, filling).unwrap_err();
        assert!(matches!(err, CollectionError::ShardUnavailable(m) if m.contains("have active replicas")));
        // Other selectors pass through.
        assert_eq!(routing.resolve_fallback(&key("a".into()), true, all_active).unwrap(), key("a".into()));
    }

    #[test]
    fn auto_collections_refuse_keys() {
        let routing = Routing::new(false, 3, ShardKeys::default());
        assert_eq!(routing.read_shards(None).unwrap(), vec![0, 1, 2]);
        assert_eq!(routing.write_targets(None).unwrap()[0].shards, vec![0, 1, 2]);
        let key = ShardKeySelector::Key("a".into());
        assert!(
            matches!(routing.write_targets(Some(&key)), Err(CollectionError::BadInput(m)) if m == "Shard key a not found")
        );
        assert!(matches!(routing.read_shards(Some(&key)), Err(CollectionError::BadRequest(_))));
    }
}
