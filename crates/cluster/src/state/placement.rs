//! Shard placement at collection creation (spec §10.1): each shard takes
//! `min(replication_factor, peers)` distinct peers, one at a time, keyed by (assigned-shard
//! count, shards already shared with the shard's chosen peers, random per-call bias, peer id).
//! Counts end up differing by at most one, a peer's partners are spread, and the bias spreads
//! small collections over different peers. Deterministic for a given seed.

use quiver_types::{PeerId, ShardId};
use std::collections::BTreeMap;

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
///
/// Each replica goes to a peer with the fewest replicas so far; among those, to the one that
/// shares the fewest shards with the peers the shard already has, so a peer's shards have their
/// other copies spread over many peers (when it is lost for good, its replicas are copied back
/// from several sources at once instead of one after another).
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
    let bias: BTreeMap<PeerId, u64> = pool.iter().map(|peer| (*peer, rng.next())).collect();
    let replicas = usize::try_from(replication_factor.max(1)).unwrap_or(usize::MAX).min(pool.len());
    let mut counts: BTreeMap<PeerId, u32> = pool.iter().map(|peer| (*peer, 0)).collect();
    let mut shared: BTreeMap<(PeerId, PeerId), u32> = BTreeMap::new();
    let mut placement = BTreeMap::new();
    for shard_id in 0..shard_number {
        let mut chosen: Vec<PeerId> = Vec::with_capacity(replicas);
        for _ in 0..replicas {
            let shares =
                |peer: PeerId| -> u32 { chosen.iter().map(|c| shared.get(&(*c, peer)).copied().unwrap_or(0)).sum() };
            let next = pool
                .iter()
                .filter(|peer| !chosen.contains(peer))
                .min_by_key(|peer| (counts[peer], shares(**peer), bias[peer], **peer));
            let Some(&peer) = next else { break };
            for other in &chosen {
                *shared.entry((*other, peer)).or_insert(0) += 1;
                *shared.entry((peer, *other)).or_insert(0) += 1;
            }
            *counts.entry(peer).or_insert(0) += 1;
            chosen.push(peer);
        }
        placement.insert(shard_id, chosen);
    }
    placement
}
