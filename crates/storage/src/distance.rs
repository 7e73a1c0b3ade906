//! Similarity scores for dense, multi and sparse vectors. Dense scores use the SIMD kernels of
//! `crate::kernels`, selected at run time for the CPU (AVX-512, AVX2 + FMA, or portable);
//! `float16` and `uint8` elements are converted block by block into a buffer the kernels read.
//!
//! Two scales: the *similarity* (larger is closer: dot product, −squared L2, −L1, Qdrant's raw
//! metric), which custom objectives and `max_sim` combine, and the *score* a nearest search
//! reports (`postprocess`: the Euclidean distance itself, the L1 distance itself).

use crate::kernels::{self, Kernel};
use crate::vectors::{Metric, VectorRef};
use quiver_types::SparseVector;
use quiver_types::config::{Datatype, Distance};
use quiver_types::point::Vector;
use quiver_types::query::CustomQuery;
use std::cmp::Ordering;

/// Dot product of two equal-length slices.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    (kernels::best().dot)(a, b)
}

/// Euclidean distance.
pub fn euclid(a: &[f32], b: &[f32]) -> f32 {
    (kernels::best().l2sq)(a, b).sqrt()
}

/// Manhattan distance.
pub fn manhattan(a: &[f32], b: &[f32]) -> f32 {
    (kernels::best().l1)(a, b)
}

/// Scales a vector to unit length (zero vectors stay zero).
pub fn normalize(v: &mut [f32]) {
    let norm = dot(v, v).sqrt();
    if norm > f32::EPSILON {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// The score Qdrant reports for `distance` (Cosine expects both sides normalised).
pub fn score(distance: Distance, a: &[f32], b: &[f32]) -> f32 {
    match distance {
        Distance::Cosine | Distance::Dot => dot(a, b),
        Distance::Euclid => euclid(a, b),
        Distance::Manhattan => manhattan(a, b),
    }
}

/// Elements converted per block when a kernel reads `float16` or `uint8` vectors.
const BLOCK: usize = 256;

/// `kernel` over `query` and a stored vector of any element type (equal lengths).
pub fn kernel_ref(kernel: Kernel, query: &[f32], stored: VectorRef<'_>) -> f32 {
    if let VectorRef::F32(v) = stored {
        return kernel(query, v);
    }
    let mut buffer = [0.0f32; BLOCK];
    let mut sum = 0.0;
    for (i, chunk) in query.chunks(BLOCK).enumerate() {
        let out = &mut buffer[..chunk.len()];
        stored.convert_into(i * BLOCK, out);
        sum += kernel(chunk, out);
    }
    sum
}

/// Σ x² of a stored vector.
fn squared_norm(stored: VectorRef<'_>) -> f32 {
    let dot = kernels::best().dot;
    if let VectorRef::F32(v) = stored {
        return dot(v, v);
    }
    let mut buffer = [0.0f32; BLOCK];
    let mut sum = 0.0;
    for start in (0..stored.len()).step_by(BLOCK) {
        let out = &mut buffer[..BLOCK.min(stored.len() - start)];
        stored.convert_into(start, out);
        sum += dot(out, out);
    }
    sum
}

/// Qdrant's raw similarity of `query` to a stored vector under `metric` (larger is closer).
pub fn similarity(metric: Metric, query: &[f32], stored: VectorRef<'_>) -> f32 {
    if query.len() != stored.len() {
        return f32::NEG_INFINITY;
    }
    let k = kernels::best();
    match metric.distance {
        Distance::Cosine if metric.datatype == Datatype::Uint8 => {
            let dot = kernel_ref(k.dot, query, stored);
            let norms = (k.dot)(query, query).sqrt() * squared_norm(stored).sqrt();
            if norms > 0.0 { dot / norms } else { 0.0 }
        }
        Distance::Cosine | Distance::Dot => kernel_ref(k.dot, query, stored),
        Distance::Euclid => -kernel_ref(k.l2sq, query, stored),
        Distance::Manhattan => -kernel_ref(k.l1, query, stored),
    }
}

/// The score a nearest search reports for a similarity: the distance itself for Euclid
/// (√ of the squared distance) and Manhattan, the similarity otherwise.
pub fn postprocess(distance: Distance, similarity: f32) -> f32 {
    match distance {
        Distance::Cosine | Distance::Dot => similarity,
        Distance::Euclid => similarity.abs().sqrt(),
        Distance::Manhattan => similarity.abs(),
    }
}

/// `max_sim` of a query multivector against a stored one: Σ over the query's vectors of the
/// best similarity to any stored vector.
pub fn max_sim<'a>(metric: Metric, query: &[Vec<f32>], stored: impl Iterator<Item = VectorRef<'a>> + Clone) -> f32 {
    query.iter().map(|q| stored.clone().map(|v| similarity(metric, q, v)).fold(f32::NEG_INFINITY, f32::max)).sum()
}

/// Qdrant's `scaled_fast_sigmoid`: maps a similarity into (0, 1), monotonically.
pub fn scaled_sigmoid(x: f32) -> f32 {
    0.5 * (fast_sigmoid(x) + 1.0)
}

fn fast_sigmoid(x: f32) -> f32 {
    x / (1.0 + x.abs())
}

/// The score of a custom objective, given the similarity of the scored point to an example.
pub fn custom_score(query: &CustomQuery, sim: impl Fn(&Vector) -> f32) -> f32 {
    let best = |examples: &[Vector]| examples.iter().map(&sim).fold(f32::NEG_INFINITY, f32::max);
    match query {
        CustomQuery::BestScore { positive, negative } => {
            let (pos, neg) = (best(positive), best(negative));
            if pos > neg { scaled_sigmoid(pos) } else { -scaled_sigmoid(neg) }
        }
        CustomQuery::SumScores { positive, negative } => {
            positive.iter().map(&sim).sum::<f32>() - negative.iter().map(&sim).sum::<f32>()
        }
        CustomQuery::Discover { target, pairs } => {
            let rank: i32 = pairs.iter().map(|p| pair_rank(sim(&p.positive), sim(&p.negative))).sum();
            rank as f32 + scaled_sigmoid(sim(target))
        }
        CustomQuery::Context { pairs } => {
            pairs.iter().map(|p| fast_sigmoid((sim(&p.positive) - sim(&p.negative) - f32::EPSILON).min(0.0))).sum()
        }
        CustomQuery::Feedback { target, a, pairs } => {
            let deltas: f32 = pairs.iter().map(|p| p.weight * (sim(&p.positive) - sim(&p.negative))).sum();
            a * sim(target) + deltas
        }
    }
}

/// A discovery pair's vote for a point: 1 when it is closer to the positive example, −1 when
/// closer to the negative one, 0 when equally close (as Qdrant: `total_cmp` as an integer).
fn pair_rank(positive: f32, negative: f32) -> i32 {
    match positive.total_cmp(&negative) {
        Ordering::Greater => 1,
        Ordering::Equal => 0,
        Ordering::Less => -1,
    }
}

/// Similarity of two vectors of one column (examples, MMR candidates): dense and multi under
/// `metric`, sparse by dot product (0 without a shared dimension). Different kinds compare as
/// −∞ (validation keeps them apart).
pub fn vector_similarity(metric: Metric, a: &Vector, b: &Vector) -> f32 {
    match (a, b) {
        (Vector::Dense(a), Vector::Dense(b)) => similarity(metric, a, VectorRef::F32(b)),
        (Vector::Multi(a), Vector::Multi(b)) => max_sim(metric, a, b.iter().map(|v| VectorRef::F32(v))),
        (Vector::Dense(a), Vector::Multi(b)) => {
            max_sim(metric, std::slice::from_ref(a), b.iter().map(|v| VectorRef::F32(v)))
        }
        (Vector::Sparse(a), Vector::Sparse(b)) => sparse_dot(&a.sorted(), &b.sorted()).unwrap_or(0.0),
        (Vector::Multi(_) | Vector::Sparse(_), _) | (Vector::Dense(_), Vector::Sparse(_)) => f32::NEG_INFINITY,
    }
}

/// Whether larger scores are better for `distance`.
pub fn higher_is_better(distance: Distance) -> bool {
    match distance {
        Distance::Cosine | Distance::Dot => true,
        Distance::Euclid | Distance::Manhattan => false,
    }
}

/// Dot product of two sparse vectors whose indices are sorted ascending.
pub fn sparse_dot(a: &SparseVector, b: &SparseVector) -> Option<f32> {
    let (mut i, mut j, mut sum, mut overlap) = (0, 0, 0.0f32, false);
    while i < a.indices.len() && j < b.indices.len() {
        match a.indices[i].cmp(&b.indices[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                sum += a.values[i] * b.values[j];
                overlap = true;
                i += 1;
                j += 1;
            }
        }
    }
    overlap.then_some(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_match_naive_sums() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| 3.0 - i as f32).collect();
        let naive_dot: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        let naive_l2: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>().sqrt();
        let naive_l1: f32 = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum();
        assert!((score(Distance::Dot, &a, &b) - naive_dot).abs() < 1e-3);
        assert!((score(Distance::Euclid, &a, &b) - naive_l2).abs() < 1e-3);
        assert!((score(Distance::Manhattan, &a, &b) - naive_l1).abs() < 1e-3);
        let mut v = a.clone();
        normalize(&mut v);
        assert!((dot(&v, &v) - 1.0).abs() < 1e-5);
    }

    /// `best_score` and `sum_scores` with negative examples only, against scores worked out by
    /// hand: `best_score` is `-(0.5 · (s / (1 + |s|) + 1))` of the closest negative's similarity.
    #[test]
    fn negatives_only_recommend_scores() {
        let candidate = Vector::Dense(vec![1.0, 2.0]);
        let negative = vec![Vector::Dense(vec![1.0, 0.0]), Vector::Dense(vec![0.0, -1.0])];
        // Dot similarities to the negatives: 1 and -2; the closest negative is the first.
        let sim = |example: &Vector| match (&candidate, example) {
            (Vector::Dense(a), Vector::Dense(b)) => a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>(),
            (_, _) => unreachable!("dense examples only"),
        };
        let best = custom_score(&CustomQuery::BestScore { positive: Vec::new(), negative: negative.clone() }, sim);
        assert!((best - -0.75).abs() < 1e-6, "best_score {best}");
        let sum = custom_score(&CustomQuery::SumScores { positive: Vec::new(), negative: negative.clone() }, sim);
        assert!((sum - 1.0).abs() < 1e-6, "sum_scores {sum}");
        // A point farther from every negative ranks higher: similarities -1 and -3 → -0.25.
        let far = |example: &Vector| sim(example) - 2.0;
        let best_far = custom_score(&CustomQuery::BestScore { positive: Vec::new(), negative }, far);
        assert!((best_far - -0.25).abs() < 1e-6, "best_score far {best_far}");
        assert!(best_far > best);
    }

    /// A discovery pair whose examples are equally close to the point votes 0, not −1 (Qdrant
    /// ranks by `total_cmp`): with the same vector as positive and negative, the score is the
    /// target's sigmoid alone; a pair nearer its positive adds 1, nearer its negative −1.
    #[test]
    fn discovery_pair_tie_votes_zero() {
        use quiver_types::query::ContextPair;
        let pair = |p: f32, n: f32| ContextPair { positive: Vector::Dense(vec![p]), negative: Vector::Dense(vec![n]) };
        let sim = |example: &Vector| match example {
            Vector::Dense(v) => v[0],
            Vector::Sparse(_) | Vector::Multi(_) => unreachable!("dense examples only"),
        };
        let target = Vector::Dense(vec![0.5]);
        let discover = |pairs| custom_score(&CustomQuery::Discover { target: target.clone(), pairs }, sim);
        let base = scaled_sigmoid(0.5);
        assert_eq!(discover(vec![pair(2.0, 2.0)]), base);
        assert_eq!(discover(vec![pair(3.0, 2.0), pair(2.0, 2.0)]), 1.0 + base);
        assert_eq!(discover(vec![pair(1.0, 2.0), pair(2.0, 2.0)]), -1.0 + base);
    }

    #[test]
    fn sparse_dot_needs_overlap() {
        let a = SparseVector { indices: vec![1, 3, 5], values: vec![1.0, 2.0, 3.0] };
        let b = SparseVector { indices: vec![3, 4, 5], values: vec![1.0, 1.0, 2.0] };
        assert_eq!(sparse_dot(&a, &b), Some(8.0));
        let c = SparseVector { indices: vec![7], values: vec![1.0] };
        assert_eq!(sparse_dot(&a, &c), None);
    }
}
