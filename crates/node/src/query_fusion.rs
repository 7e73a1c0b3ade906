//! Fusion of prefetch results as Qdrant scores it: reciprocal rank fusion (with weights) and
//! distribution-based score fusion.

use crate::query_request::Fusion;
use quiver_types::PointId;
use quiver_types::point::ScoredPoint;
use std::collections::HashMap;

/// The prefetch `lists` (each best-first) fused into one list, best first (ties by id).
pub(crate) fn fuse(lists: Vec<Vec<ScoredPoint>>, fusion: &Fusion) -> Vec<ScoredPoint> {
    let mut fused: HashMap<PointId, (f32, ScoredPoint)> = HashMap::new();
    for (i, list) in lists.into_iter().enumerate() {
        let scores = fusion_scores(&list, fusion, i);
        for (point, score) in list.into_iter().zip(scores) {
            fused.entry(point.id).or_insert((0.0, point)).0 += score;
        }
    }
    let mut out: Vec<ScoredPoint> = fused
        .into_values()
        .map(|(score, mut point)| {
            point.score = score;
            point
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
    out
}

/// Per-list fused contributions of the `index`-th prefetch. Lists come best-first.
fn fusion_scores(list: &[ScoredPoint], fusion: &Fusion, index: usize) -> Vec<f32> {
    match fusion {
        Fusion::Rrf { k, weights } => {
            let weight = weights.get(index).copied().unwrap_or(1.0);
            (0..list.len()).map(|rank| rrf_score(rank, *k, weight)).collect()
        }
        Fusion::Dbsf => dbsf_scores(list),
    }
}

/// Qdrant's reciprocal rank score of the 0-based `rank`: `1 / ((rank + 1) / weight + k - 1)`,
/// i.e. `1 / (rank + k)` with the default weight 1 (the best of a list scores `1 / k`). A weight
/// stretches or compresses the positions; a weight of 0 or less contributes nothing.
fn rrf_score(rank: usize, k: usize, weight: f32) -> f32 {
    if weight <= 0.0 {
        return 0.0;
    }
    1.0 / ((rank as f32 + 1.0) / weight + k as f32 - 1.0)
}

/// Distribution-based normalisation as Qdrant does it: each score is mapped linearly from
/// [mean − 3σ, mean + 3σ] (σ from the sample variance) to [0, 1], not clamped; a single score,
/// or a list whose scores are all equal, becomes 0.5. The scores are taken as they are, a
/// distance (Euclid, Manhattan) too: Qdrant does not flip them, so there the farther of a
/// list's points gains more.
fn dbsf_scores(list: &[ScoredPoint]) -> Vec<f32> {
    let raw: Vec<f32> = list.iter().map(|p| p.score).collect();
    if raw.len() < 2 {
        return vec![0.5; raw.len()];
    }
    let n = raw.len() as f32;
    let mean = raw.iter().sum::<f32>() / n;
    let variance = raw.iter().map(|s| (s - mean) * (s - mean)).sum::<f32>() / (n - 1.0);
    let (low, high) = (mean - 3.0 * variance.sqrt(), mean + 3.0 * variance.sqrt());
    raw.iter().map(|s| if high > low { (s - low) / (high - low) } else { 0.5 }).collect()
}
