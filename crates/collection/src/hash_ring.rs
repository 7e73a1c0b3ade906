//! Consistent hashing of point ids to shards (spec §10.2): each shard owns 100 virtual nodes on
//! a SipHash-2-4 ring; a point belongs to the first virtual node at or after its hash.

use quiver_types::{PointId, ShardId};
use siphasher::sip::SipHasher24;
use std::hash::Hasher;

/// Virtual nodes per shard.
const SHARD_SCALE: u32 = 100;

/// The ring of a collection's shards.
#[derive(Debug, Clone)]
pub struct HashRing {
    nodes: Vec<(u64, ShardId)>,
}

fn hash_bytes(parts: &[&[u8]]) -> u64 {
    let mut hasher = SipHasher24::new();
    for part in parts {
        hasher.write(part);
    }
    hasher.finish()
}

impl HashRing {
    /// A ring over shards `0..shard_number`.
    pub fn new(shard_number: u32) -> HashRing {
        Self::over(&(0..shard_number).collect::<Vec<_>>())
    }

    /// A ring over `shards` (the shards of one shard key).
    pub fn over(shards: &[ShardId]) -> HashRing {
        let mut nodes: Vec<(u64, ShardId)> = shards
            .iter()
            .flat_map(|shard| {
                (0..SHARD_SCALE).map(move |idx| (hash_bytes(&[&shard.to_le_bytes(), &idx.to_le_bytes()]), *shard))
            })
            .collect();
        nodes.sort_unstable();
        HashRing { nodes }
    }

    /// The ring's shards, in id order.
    pub fn shard_ids(&self) -> Vec<ShardId> {
        let mut ids: Vec<ShardId> = self.nodes.iter().map(|(_, s)| *s).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The shard that owns `id`.
    pub fn shard_of(&self, id: &PointId) -> ShardId {
        let key = match id {
            PointId::Num(n) => hash_bytes(&[&0u64.to_le_bytes(), &n.to_le_bytes()]),
            PointId::Uuid(u) => hash_bytes(&[&1u64.to_le_bytes(), &16u64.to_le_bytes(), u.as_bytes()]),
        };
        let index = self.nodes.partition_point(|(h, _)| *h < key);
        match self.nodes.get(index).or_else(|| self.nodes.first()) {
            Some((_, shard)) => *shard,
            None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_points_over_all_shards_stably() {
        let ring = HashRing::new(4);
        let mut counts = [0usize; 4];
        for i in 0..4000u64 {
            counts[ring.shard_of(&PointId::Num(i)) as usize] += 1;
        }
        assert!(counts.iter().all(|c| *c > 600), "{counts:?}");
        let again = HashRing::new(4);
        assert!((0..100u64).all(|i| ring.shard_of(&PointId::Num(i)) == again.shard_of(&PointId::Num(i))));
        assert_eq!(HashRing::new(1).shard_of(&PointId::Num(77)), 0);
    }
}
