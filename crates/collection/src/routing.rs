//! Which shards a request reaches (spec §3.2, §10.2, design record 016). Auto sharding hashes
//! point ids over shards `0..shard_number`; custom sharding keeps one hash ring per shard key,
//! every write names its key, and a read without a key reaches every key's shards.

use crate::error::{CollectionError, Result};
use crate::hash_ring::HashRing;
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
    fn resolve_fallback<'a>(&self, target: &'a ShardKey, fallback: &'a ShardKey) -> &'a ShardKey {
        match self.rings.contains_key(target) {
            true => target,
            false => fallback,
        }
    }

    /// The keys `selector` names (resolved fallbacks), unchecked.
    fn named_keys<'a>(&self, selector: &'a ShardKeySelector) -> Vec<&'a ShardKey> {
        match selector {
            ShardKeySelector::Key(key) => vec![key],
            ShardKeySelector::Keys(keys) => keys.iter().collect(),
            ShardKeySelector::WithFallback(f) => vec![self.resolve_fallback(&f.target, &f.fallback)],
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
