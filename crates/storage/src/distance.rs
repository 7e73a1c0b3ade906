//! Similarity kernels for dense and sparse vectors.
//!
//! Dot and Euclid go through `numkong` (the SIMD library under usearch), which picks the best
//! kernel for the running CPU at run time (AVX-512, AVX2, NEON, … and a serial fallback).
//! Manhattan, and any slice pair numkong refuses, use the portable kernels below, written in
//! 8 lanes so the compiler vectorises them for the baseline target.

use numkong::{Dot, Euclidean};
use quiver_types::SparseVector;
use quiver_types::config::Distance;

const LANES: usize = 8;

/// Dot product of two equal-length slices (SIMD, runtime dispatch).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    match f32::dot(a, b) {
        Some(d) => d as f32,
        None => dot_portable(a, b),
    }
}

/// Euclidean distance (SIMD, runtime dispatch).
pub fn euclid(a: &[f32], b: &[f32]) -> f32 {
    match f32::sqeuclidean(a, b) {
        Some(d) => (d as f32).sqrt(),
        None => euclid_portable(a, b),
    }
}

/// Portable dot product (the fallback, and the reference in tests).
pub fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks_a = a.chunks_exact(LANES);
    let chunks_b = b.chunks_exact(LANES);
    let tail: f32 = chunks_a.remainder().iter().zip(chunks_b.remainder()).map(|(x, y)| x * y).sum();
    for (ca, cb) in chunks_a.zip(chunks_b) {
        for i in 0..LANES {
            acc[i] += ca[i] * cb[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Portable Euclidean distance.
pub fn euclid_portable(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks_a = a.chunks_exact(LANES);
    let chunks_b = b.chunks_exact(LANES);
    let tail: f32 = chunks_a.remainder().iter().zip(chunks_b.remainder()).map(|(x, y)| (x - y) * (x - y)).sum();
    for (ca, cb) in chunks_a.zip(chunks_b) {
        for i in 0..LANES {
            let d = ca[i] - cb[i];
            acc[i] += d * d;
        }
    }
    (acc.iter().sum::<f32>() + tail).sqrt()
}

/// Manhattan distance.
pub fn manhattan(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks_a = a.chunks_exact(LANES);
    let chunks_b = b.chunks_exact(LANES);
    let tail: f32 = chunks_a.remainder().iter().zip(chunks_b.remainder()).map(|(x, y)| (x - y).abs()).sum();
    for (ca, cb) in chunks_a.zip(chunks_b) {
        for i in 0..LANES {
            acc[i] += (ca[i] - cb[i]).abs();
        }
    }
    acc.iter().sum::<f32>() + tail
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
    fn kernels_match_naive_sums() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| 3.0 - i as f32).collect();
        let naive_dot: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        let naive_l2: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>().sqrt();
        let naive_l1: f32 = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum();
        assert!((dot(&a, &b) - naive_dot).abs() < 1e-3);
        assert!((euclid(&a, &b) - naive_l2).abs() < 1e-3);
        assert!((manhattan(&a, &b) - naive_l1).abs() < 1e-3);
        assert!((dot_portable(&a, &b) - naive_dot).abs() < 1e-3);
        assert!((euclid_portable(&a, &b) - naive_l2).abs() < 1e-3);
    }

    #[test]
    fn simd_kernels_match_portable_ones_on_many_lengths() {
        for len in [1usize, 3, 8, 15, 16, 31, 64, 127, 384, 1000] {
            let a: Vec<f32> = (0..len).map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0).collect();
            let b: Vec<f32> = (0..len).map(|i| ((i * 104729) % 97) as f32 / 40.0 - 1.2).collect();
            let tol = 1e-3 * (len as f32).sqrt();
            assert!((dot(&a, &b) - dot_portable(&a, &b)).abs() < tol, "dot len {len}");
            assert!((euclid(&a, &b) - euclid_portable(&a, &b)).abs() < tol, "euclid len {len}");
        }
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
