//! The `two_bits` and `one_and_half_bits` binary codes (design record 033): each value as −1, 0
//! or +1 around its dimension's mean, `x̂ᵢ = meanᵢ + levelᵢ · vᵢ`, the means and levels learned
//! from a sample of the column. A code is a plane of signs (`x > mean`) then a plane of non-zero
//! masks: one bit per dimension (`two_bits`), or one bit per pair of dimensions `j`, `j + 32` of
//! each 64-dimension word (`one_and_half_bits`: both zero or both ±level). A value is non-zero
//! when that lowers the squared error (`|d| > level / 2`; for a pair, summed over the pair), and
//! each level is fitted by Lloyd's iteration: the mean `|d|` of the values coded non-zero.
//!
//! Scores split `x = mean + d`: Dot/Cosine `x·y = mean·y + mean·d_x + d_x·d_y`, Euclid (and
//! Manhattan, ranked as Euclid) `|x − y|² = |d_x|² − 2·d_x·d_y + |d_y|²`. Every term but the
//! cross term `d_x·d_y` is exact (a vector's share, `mean·d_x` or `|d_x|²`, is kept beside its
//! code; the query's is computed once); the cross term is popcounts (`kernels::ternary_*`) of
//! the code against the query either coded the same way (`query_encoding` `default`/`binary`:
//! `Σ v·w` times the levels' mean square) or kept in 4 or 8 bits as bit planes of
//! `levelᵢ·(yᵢ − meanᵢ)`.

use crate::kernels;
use crate::planes::{PlanedQuery, planed_query};
use quiver_types::config::Distance;

/// Lloyd rounds fitting the levels on the sample.
const FIT_ROUNDS: usize = 6;
/// Where the fit starts, in standard deviations: the level of the best three-level code of a
/// normal distribution.
const NORMAL_LEVEL: f32 = 1.224;

/// The means and levels of a ternary code, and how to score it.
#[derive(Debug, Clone)]
pub struct TernaryCodec {
    /// `one_and_half_bits`: one mask bit per pair of dimensions.
    pairs: bool,
    distance: Distance,
    dim: usize,
    /// 64-dimension words per plane.
    words: usize,
    mean: Vec<f32>,
    level: Vec<f32>,
    /// The mean of `levelᵢ²` (weights a coded query's `Σ v·w`).
    level_sq: f32,
    /// `one_and_half_bits`: the pair bits of the last word whose second dimension is padding.
    edge: u32,
}

/// A query prepared for a ternary store.
pub struct TernaryQuery {
    /// Coded the store's way (empty when planed).
    code: Vec<u8>,
    /// `levelᵢ · (yᵢ − meanᵢ)` in 4 or 8 bits.
    planed: Option<PlanedQuery>,
    /// The bits of the real dimensions (`Σ v` of a code).
    all: Vec<u8>,
    /// The query's share of the score: `mean·y` (Dot/Cosine) or `|d_y|²`.
    constant: f32,
}

/// The other dimension of `i`'s pair in `one_and_half_bits`.
fn partner(i: usize) -> usize {
    i / 64 * 64 + (i % 64 + 32) % 64
}

/// The mask bit of dimension `i`.
fn mask_bit(pairs: bool, i: usize) -> usize {
    if pairs { i / 64 * 32 + i % 32 } else { i }
}

/// Whether dimension `i` is coded non-zero: when `±level` is nearer than the mean, summed over
/// the pair in `one_and_half_bits` (a padding partner counts as zero).
fn nonzero(pairs: bool, level: &[f32], deviation: &[f32], i: usize) -> bool {
    let gain = |i: usize| level[i] * (2.0 * deviation[i].abs() - level[i]);
    let partner_gain = match pairs {
        true => Some(partner(i)).filter(|k| *k < deviation.len()).map_or(0.0, gain),
        false => 0.0,
    };
    gain(i) + partner_gain > 0.0
}

impl TernaryCodec {
    /// Means and levels learned from `sample` (whole vectors; none: mean 0, level 1).
    pub fn fit(pairs: bool, distance: Distance, dim: usize, sample: &[f32]) -> TernaryCodec {
        let rows: Vec<&[f32]> = sample.chunks_exact(dim.max(1)).filter(|_| dim > 0).collect();
        let n = rows.len().max(1) as f64;
        let mut mean = vec![0.0f32; dim];
        let mut level = vec![1.0f32; dim];
        if !rows.is_empty() {
            for (i, m) in mean.iter_mut().enumerate() {
                *m = (rows.iter().map(|r| f64::from(r[i])).sum::<f64>() / n) as f32;
            }
            for (i, l) in level.iter_mut().enumerate() {
                let var = rows.iter().map(|r| f64::from(r[i] - mean[i]).powi(2)).sum::<f64>() / n;
                *l = NORMAL_LEVEL * var.sqrt() as f32;
            }
            for _ in 0..FIT_ROUNDS {
                refit(pairs, &mean, &mut level, &rows);
            }
        }
        let r = dim % 64;
        let edge = (0..32u32).filter(|j| pairs && r > 0 && (*j as usize) < r && *j as usize + 32 >= r);
        TernaryCodec {
            pairs,
            distance,
            dim,
            words: dim.div_ceil(64),
            level_sq: level.iter().map(|l| l * l).sum::<f32>() / dim.max(1) as f32,
            mean,
            level,
            edge: edge.fold(0, |e, j| e | 1 << j),
        }
    }

    /// Bytes of one code: the sign plane, then the mask plane (half as long for pairs).
    pub fn bytes_per_vector(&self) -> usize {
        self.words * if self.pairs { 12 } else { 16 }
    }

    /// Bytes of the means and levels.
    pub fn memory_bytes(&self) -> usize {
        (self.mean.capacity() + self.level.capacity()) * 4
    }

    fn centered(&self) -> bool {
        match self.distance {
            Distance::Cosine | Distance::Dot => false,
            Distance::Euclid | Distance::Manhattan => true,
        }
    }

    /// Codes `values` into `out` (`bytes_per_vector` bytes); returns the vector's share of the
    /// score: `mean·d` (Dot/Cosine) or `|d|²` (Euclid/Manhattan), `d = values − mean`.
    pub fn encode(&self, values: &[f32], out: &mut [u8]) -> f32 {
        out.fill(0);
        let deviation: Vec<f32> =
            self.mean.iter().enumerate().map(|(i, m)| values.get(i).copied().unwrap_or(0.0) - m).collect();
        let (signs, masks) = out.split_at_mut(self.words * 8);
        for (i, d) in deviation.iter().enumerate() {
            if *d > 0.0 {
                signs[i / 8] |= 1 << (i % 8);
            }
            if nonzero(self.pairs, &self.level, &deviation, i) {
                let bit = mask_bit(self.pairs, i);
                masks[bit / 8] |= 1 << (bit % 8);
            }
        }
        // Padding partners of a pair read as +1 in both codes: `agreement` takes them out.
        for i in (self.dim..self.words * 64).filter(|_| self.pairs) {
            signs[i / 8] |= 1 << (i % 8);
        }
        let finite = |d: &f32| if d.is_finite() { *d } else { 0.0 };
        match self.centered() {
            true => deviation.iter().map(|d| finite(d) * finite(d)).sum(),
            false => deviation.iter().zip(&self.mean).map(|(d, m)| finite(d) * m).sum(),
        }
    }

    /// The query coded the store's way (`query_bits` 1) or in 4 or 8 bits.
    pub fn query(&self, query: &[f32], query_bits: u32) -> TernaryQuery {
        let y = |i: usize| query.get(i).copied().unwrap_or(0.0);
        let stride = self.words * 8;
        let mut all = vec![0u8; stride];
        (0..self.dim).for_each(|i| all[i / 8] |= 1 << (i % 8));
        let constant = match self.centered() {
            true => (0..self.dim).map(|i| (y(i) - self.mean[i]).powi(2)).sum(),
            false => (0..self.dim).map(|i| self.mean[i] * y(i)).sum(),
        };
        if query_bits > 1 {
            let weights: Vec<f32> = (0..self.dim).map(|i| self.level[i] * (y(i) - self.mean[i])).collect();
            let planed = Some(planed_query(&weights, stride, query_bits));
            return TernaryQuery { code: Vec::new(), planed, all, constant };
        }
        let mut code = vec![0; self.bytes_per_vector()];
        self.encode(query, &mut code);
        TernaryQuery { code, planed: None, all, constant }
    }

    /// The approximate distance ("smaller is closer") of a stored code with its `share`.
    pub fn distance(&self, query: &TernaryQuery, code: &[u8], share: f32) -> f32 {
        // d_x·d_y ≈ Σ levelᵢ·vᵢ·(yᵢ − meanᵢ), or Σ levelᵢ²·vᵢ·wᵢ with the levels' mean square.
        let cross = match &query.planed {
            Some(planed) => self.planed_sum(planed, &query.all, code),
            None => self.agreement(&query.code, code) as f32 * self.level_sq,
        };
        match self.centered() {
            true => share - 2.0 * cross + query.constant,
            false => -(query.constant + share + cross),
        }
    }

    /// `Σ vᵢ·qᵢ` of a code and a planed query `q ≈ offset + step·u`.
    fn planed_sum(&self, planed: &PlanedQuery, all: &[u8], code: &[u8]) -> f32 {
        let k = kernels::best();
        let plane = if self.pairs { k.ternary_plane_pairs } else { k.ternary_plane };
        let mut selected = 0.0;
        for (weight, bits) in planed.weighted_planes() {
            selected += weight * plane(code, bits) as f32;
        }
        planed.offset * plane(code, all) as f32 + planed.step * selected
    }

    /// `Σ vᵢ·wᵢ` of two codes.
    fn agreement(&self, a: &[u8], b: &[u8]) -> i32 {
        let k = kernels::best();
        if !self.pairs {
            return (k.ternary_dot)(a, b);
        }
        let last = |c: &[u8]| {
            c.len().checked_sub(4).map_or(0, |at| u32::from_le_bytes([c[at], c[at + 1], c[at + 2], c[at + 3]]))
        };
        (k.ternary_dot_pairs)(a, b) - (last(a) & last(b) & self.edge).count_ones() as i32
    }

    /// The value (−1, 0, +1) of dimension `i` in `code` (tests and the design record's checks).
    pub fn value(&self, code: &[u8], i: usize) -> i32 {
        let (signs, masks) = code.split_at(self.words * 8);
        let bit = mask_bit(self.pairs, i);
        match (masks[bit / 8] >> (bit % 8) & 1, signs[i / 8] >> (i % 8) & 1) {
            (0, _) => 0,
            (_, 1) => 1,
            _ => -1,
        }
    }

    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    pub fn level(&self) -> &[f32] {
        &self.level
    }
}

/// One Lloyd round: each level becomes the mean `|d|` of the values coded non-zero with the
/// current levels.
fn refit(pairs: bool, mean: &[f32], level: &mut [f32], rows: &[&[f32]]) {
    let mut sums = vec![0.0f64; mean.len()];
    let mut counts = vec![0u32; mean.len()];
    let mut deviation = vec![0.0f32; mean.len()];
    for row in rows {
        deviation.iter_mut().zip(row.iter().zip(mean)).for_each(|(d, (x, m))| *d = x - m);
        for i in 0..mean.len() {
            if nonzero(pairs, level, &deviation, i) {
                sums[i] += f64::from(deviation[i].abs());
                counts[i] += 1;
            }
        }
    }
    for (i, l) in level.iter_mut().enumerate() {
        if counts[i] > 0 {
            *l = (sums[i] / f64::from(counts[i])) as f32;
        }
    }
}

#[cfg(test)]
#[path = "ternary_tests.rs"]
mod tests;
