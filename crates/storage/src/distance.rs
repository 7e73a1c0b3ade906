//! Similarity scores for dense and sparse vectors. Dense scores use the SIMD kernels of
//! `crate::kernels`, selected at run time for the CPU (AVX-512, AVX2 + FMA, or portable).

use crate::kernels;
use quiver_types::SparseVector;
use quiver_types::config::Distance;

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

    #[test]
    fn sparse_dot_needs_overlap() {
        let a = SparseVector { indices: vec![1, 3, 5], values: vec![1.0, 2.0, 3.0] };
        let b = SparseVector { indices: vec![3, 4, 5], values: vec![1.0, 1.0, 2.0] };
        assert_eq!(sparse_dot(&a, &b), Some(8.0));
        let c = SparseVector { indices: vec![7], values: vec![1.0] };
        assert_eq!(sparse_dot(&a, &c), None);
    }
}
