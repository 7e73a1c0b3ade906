//! Shard placement at collection creation (spec §10.1): a min-heap of peers keyed by
//! (assigned-shard count, random per-call bias, peer id); each shard takes the top
//! `min(replication_factor, peers)` distinct peers. Counts end up differing by at most one and
//! the bias spreads small collections over different peers. Deterministic for a given seed.

use quiver_types::{PeerId, ShardId};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

/// SplitMix64: a tiny deterministic generator for the per-peer bias (any seed, including 0).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Places shards `0..shard_number` on `peers` (duplicates ignored), `min(replication_factor,
/// peers)` distinct peers per shard (a factor of 0 counts as 1). `bias_seed` drives the random
/// tie-breaking; the same inputs always give the same placement. No peers → empty replica lists.
pub fn place_shards(
    peers: &[PeerId],
    shard_number: u32,
    replication_factor: u32,
    bias_seed: u64,
) -> BTreeMap<ShardId, Vec<PeerId>> {
    let mut pool = peers.to_vec();
    pool.sort_unstable();
    pool.dedup();
    let mut rng = SplitMix64(bias_seed);
    let mut heap: BinaryHeap<Reverse<(u32, u64, PeerId)>> =
        pool.iter().map(|peer| Reverse((0, rng.next(), *peer))).collect();
    let replicas = usize::try_from(replication_factor.max(1)).unwrap_or(usize::MAX).min(pool.len());
    let mut placement = BTreeMap::new();
    for shard_id in 0..shard_number {
        let taken: Vec<(u32, u64, PeerId)> = (0..replicas).filter_map(|_| heap.pop().map(|Reverse(e)| e)).collect();
        placement.insert(shard_id, taken.iter().map(|(_, _, peer)| *peer).collect());
        heap.extend(taken.into_iter().map(|(count, bias, peer)| Reverse((count.saturating_add(1), bias, peer))));
    }
    placement
}
