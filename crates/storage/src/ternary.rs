//! The `two_bits` and `one_and_half_bits` binary codes (design record 033): each value as −1, 0
//! or +1 around its dimension's mean, `x̂ᵢ = meanᵢ + levelᵢ · vᵢ`, the means and levels learned
//! from a sample of the column. A code is a plane of signs (`x > mean`) then a plane of non-zero
//! masks: one bit per dimension (`two_bits`), or one bit for each of the first 32 dimensions of
//! every 64-dimension word (`one_and_half_bits`: those in three levels, the other 32 as their
//! signs alone, never zero). A value is zero when that lowers the squared error
//! (`|d| ≤ level / 2`), and each level is fitted by Lloyd's iteration: the mean `|d|` of the
//! values coded non-zero.
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
    /// `one_and_half_bits`: dimensions 32–63 of every word are signs only (never zero).
    mixed: bool,
    distance: Distance,
    dim: usize,
    /// 64-dimension words per plane.
    words: usize,
    mean: Vec<f32>,
    level: Vec<f32>,
    /// The mean of `levelᵢ²` over the three-level dimensions, then over the sign-only ones
    /// (weigh a coded query's `Σ v·w`).
    level_sq: [f32; 2],
    /// `one_and_half_bits`: padding dimensions among the never-zero ones (both codes' sign 0
    /// there: each adds 1 to `Σ v·w`, which `agreement` takes out).
    padding: i32,
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

/// Whether dimension `i` of a `mixed` code is a sign alone (never zero).
fn sign_only(mixed: bool, i: usize) -> bool {
    mixed && i % 64 >= 32
}

/// The mask bit of dimension `i` (not a `sign_only` one).
fn mask_bit(mixed: bool, i: usize) -> usize {
    if mixed { i / 64 * 32 + i % 64 } else { i }
}

/// Whether dimension `i` is coded non-zero: a sign alone, or `±level` nearer than the mean.
fn nonzero(mixed: bool, level: &[f32], deviation: &[f32], i: usize) -> bool {
    sign_only(mixed, i) || level[i] * (2.0 * deviation[i].abs() - level[i]) > 0.0
}

impl TernaryCodec {
    /// Means and levels learned from `sample` (whole vectors; none: mean 0, level 1).
    pub fn fit(mixed: bool, distance: Distance, dim: usize, sample: &[f32]) -> TernaryCodec {
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
                refit(mixed, &mean, &mut level, &rows);
            }
        }
        let words = dim.div_ceil(64);
        let padding = (dim..words * 64).filter(|i| sign_only(mixed, *i)).count() as i32;
        TernaryCodec {
            mixed,
            distance,
            dim,
            words,
            level_sq: [false, true].map(|signs| {
                let squares: Vec<f32> =
                    (0..dim).filter(|i| sign_only(mixed, *i) == signs).map(|i| level[i] * level[i]).collect();
                squares.iter().sum::<f32>() / squares.len().max(1) as f32
            }),
            mean,
            level,
            padding,
        }
    }

    /// Bytes of one code: the sign plane, then the mask plane (half as long when `mixed`).
    pub fn bytes_per_vector(&self) -> usize {
        self.words * if self.mixed { 12 } else { 16 }
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
            if !sign_only(self.mixed, i) && nonzero(self.mixed, &self.level, &deviation, i) {
                let bit = mask_bit(self.mixed, i);
                masks[bit / 8] |= 1 << (bit % 8);
            }
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
            None => self.agreement(&query.code, code),
        };
        match self.centered() {
            true => share - 2.0 * cross + query.constant,
            false => -(query.constant + share + cross),
        }
    }

    /// `Σ vᵢ·qᵢ` of a code and a planed query `q ≈ offset + step·u`.
    fn planed_sum(&self, planed: &PlanedQuery, all: &[u8], code: &[u8]) -> f32 {
        let k = kernels::best();
        let plane = if self.mixed { k.ternary_plane_mixed } else { k.ternary_plane };
        let mut selected = 0.0;
        for (weight, bits) in planed.weighted_planes() {
            selected += weight * plane(code, bits) as f32;
        }
        planed.offset * plane(code, all) as f32 + planed.step * selected
    }

    /// `Σ levelᵢ²·vᵢ·wᵢ` of two codes, the levels' mean square standing for `levelᵢ²` (over the
    /// three-level dimensions and over the sign-only ones apart).
    fn agreement(&self, a: &[u8], b: &[u8]) -> f32 {
        let k = kernels::best();
        match self.mixed {
            true => {
                let [three, signs] = (k.ternary_dot_mixed)(a, b);
                three as f32 * self.level_sq[0] + (signs - self.padding) as f32 * self.level_sq[1]
            }
            false => (k.ternary_dot)(a, b) as f32 * self.level_sq[0],
        }
    }

    /// The value (−1, 0, +1) of dimension `i` in `code` (tests and the design record's checks).
    pub fn value(&self, code: &[u8], i: usize) -> i32 {
        let (signs, masks) = code.split_at(self.words * 8);
        let bit = mask_bit(self.mixed, i);
        let mask = if sign_only(self.mixed, i) { 1 } else { masks[bit / 8] >> (bit % 8) & 1 };
        match (mask, signs[i / 8] >> (i % 8) & 1) {
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
fn refit(mixed: bool, mean: &[f32], level: &mut [f32], rows: &[&[f32]]) {
    let mut sums = vec![0.0f64; mean.len()];
    let mut counts = vec![0u32; mean.len()];
    let mut deviation = vec![0.0f32; mean.len()];
    for row in rows {
        deviation.iter_mut().zip(row.iter().zip(mean)).for_each(|(d, (x, m))| *d = x - m);
        for i in 0..mean.len() {
            if nonzero(mixed, level, &deviation, i) {
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
