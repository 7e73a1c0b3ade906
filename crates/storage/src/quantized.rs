//! Quantized copies of a dense column's vectors (design record 020): scalar `int8` (one byte
//! per element, `x ≈ offset + scale · code`, the range cut at a `quantile` of the values) and
//! binary (one bit per element: `x > 0`; or 1.5 / 2 bits: values −1, 0, +1 around each
//! dimension's mean, `crate::ternary`, design record 033) and product (one byte per chunk of dimensions: the
//! nearest of 256 trained centroids, `crate::product`, design record 029). Graph searches score candidates on them with our
//! kernels (`kernels::dot_u8`, `l2_u8`, `l1_u8`, `hamming`, `ternary_*`; product codes by a per-query
//! look-up table) and rescore the best with the
//! original vectors. Codes are kept per slot and re-encoded on every change of a slot's vector
//! (with the range fixed when the store was built).

use crate::kernels;
use crate::planes::{PlanedQuery, planed_query};
use crate::product::{self, Codebook};
use crate::ternary::{TernaryCodec, TernaryQuery};
use crate::vectors::VectorRef;
use quiver_types::config::Distance;
pub use quiver_types::quantization::BinaryEncoding;

/// How vectors are quantized.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QuantizationKind {
    /// One byte per element; `quantile` (0.5–1) of the values sets the range (`None`: all).
    Int8 { quantile: Option<f32> },
    /// One, 1.5 or 2 bits per element (`encoding`); the query in `query_bits` bits per element
    /// (1: coded as the vectors are; 4 or 8: Qdrant's asymmetric `scalar4bits` / `scalar8bits`
    /// query encodings).
    Binary { encoding: BinaryEncoding, query_bits: u32 },
    /// One byte per chunk of `compression / 4` elements (`compression`: 4, 8, 16, 32 or 64).
    Product { compression: u32 },
}

/// The quantized vectors of one column.
#[derive(Debug, Clone)]
pub struct QuantizedVectors {
    kind: QuantizationKind,
    distance: Distance,
    dim: usize,
    /// Bytes per slot (`dim` for int8, whole 8-byte words of bits for binary — 1.5 or 2 planes
    /// of them for the ternary encodings —, one per chunk for product).
    stride: usize,
    offset: f32,
    scale: f32,
    codes: Vec<u8>,
    /// Each vector's share of its score: with int8 Dot/Cosine its sum of codes (the offset's
    /// share of a dot product), with the ternary encodings `TernaryCodec::encode`'s; empty
    /// otherwise.
    shares: Vec<f32>,
    /// Vectors the column held when the range was fitted.
    fitted_on: usize,
    /// Product quantization only: the trained centroids.
    codebook: Option<Codebook>,
    /// Binary `one_and_half_bits` / `two_bits` only: the means and levels.
    ternary: Option<TernaryCodec>,
}

/// A query prepared for one store.
pub struct QuantizedQuery {
    codes: Vec<u8>,
    code_sum: f32,
    /// Product quantization only: the query's look-up table (`product::Codebook::table`).
    table: Vec<f32>,
    /// Binary with a 4- or 8-bit query only: the query's bit planes.
    planed: Option<PlanedQuery>,
    /// The ternary encodings only.
    ternary: Option<TernaryQuery>,
}

impl QuantizedVectors {
    /// An empty store for `dim`-vectors whose range (int8) or centroids (product) are taken
    /// from `sample` (whole vectors of the column, which held `fitted_on`).
    pub fn new(
        kind: QuantizationKind,
        distance: Distance,
        dim: usize,
        sample: &[f32],
        fitted_on: usize,
    ) -> QuantizedVectors {
        let (offset, scale) = match kind {
            QuantizationKind::Int8 { quantile } => range(sample, quantile.unwrap_or(1.0)),
            QuantizationKind::Binary { .. } | QuantizationKind::Product { .. } => (0.0, 1.0),
        };
        let codebook = match kind {
            QuantizationKind::Product { compression } => Some(Codebook::train(dim, compression, sample)),
            QuantizationKind::Int8 { .. } | QuantizationKind::Binary { .. } => None,
        };
        let ternary = match kind {
            QuantizationKind::Binary { encoding: BinaryEncoding::OneAndHalfBits, .. } => {
                Some(TernaryCodec::fit(true, distance, dim, sample))
            }
            QuantizationKind::Binary { encoding: BinaryEncoding::TwoBits, .. } => {
                Some(TernaryCodec::fit(false, distance, dim, sample))
            }
            QuantizationKind::Binary { encoding: BinaryEncoding::OneBit, .. }
            | QuantizationKind::Int8 { .. }
            | QuantizationKind::Product { .. } => None,
        };
        let stride = match (kind, &codebook, &ternary) {
            (QuantizationKind::Int8 { .. }, _, _) => dim,
            (QuantizationKind::Binary { .. }, _, Some(codec)) => codec.bytes_per_vector(),
            (QuantizationKind::Binary { .. }, _, None) => dim.div_ceil(64) * 8,
            (QuantizationKind::Product { .. }, book, _) => book.as_ref().map_or(0, Codebook::codes_per_vector),
        };
        QuantizedVectors {
            kind,
            distance,
            dim,
            stride,
            offset,
            scale,
            codes: Vec::new(),
            shares: Vec::new(),
            fitted_on,
            codebook,
            ternary,
        }
    }

    pub fn kind(&self) -> QuantizationKind {
        self.kind
    }

    /// Vectors the column held when the range was fitted (the copy is built again, with a new
    /// range, once the column holds twice as many).
    pub fn fitted_on(&self) -> usize {
        self.fitted_on
    }

    /// Bytes held (codes, shares, centroids, means and levels).
    pub fn memory_bytes(&self) -> usize {
        self.codes.capacity()
            + self.shares.capacity() * 4
            + self.codebook.as_ref().map_or(0, Codebook::memory_bytes)
            + self.ternary.as_ref().map_or(0, TernaryCodec::memory_bytes)
    }

    /// Bytes of codes per slot.
    pub fn bytes_per_vector(&self) -> usize {
        self.stride
    }

    /// Bytes held per slot: its codes and its share, if the store keeps shares.
    pub fn bytes_per_slot(&self) -> usize {
        self.stride + if self.keeps_shares() { 4 } else { 0 }
    }

    fn encode_into(&self, values: &[f32], out: &mut [u8]) -> f32 {
        match self.kind {
            QuantizationKind::Int8 { .. } => {
                let mut sum = 0u32;
                for (o, x) in out.iter_mut().zip(values) {
                    *o = ((x - self.offset) / self.scale).round().clamp(0.0, 255.0) as u8;
                    sum += u32::from(*o);
                }
                sum as f32
            }
            QuantizationKind::Binary { .. } => {
                if let Some(codec) = &self.ternary {
                    return codec.encode(values, out);
                }
                out.fill(0);
                for (i, x) in values.iter().enumerate() {
                    if *x > 0.0 {
                        out[i / 8] |= 1 << (i % 8);
                    }
                }
                0.0
            }
            QuantizationKind::Product { .. } => {
                if let Some(book) = &self.codebook {
                    book.encode(values, out);
                }
                0.0
            }
        }
    }

    /// Makes room for `slots` slots exactly (a build knows how many; later growth doubles).
    pub fn reserve_slots(&mut self, slots: usize) {
        self.codes.reserve_exact((slots * self.stride).saturating_sub(self.codes.len()));
        if self.keeps_shares() {
            self.shares.reserve_exact(slots.saturating_sub(self.shares.len()));
        }
    }

    fn keeps_shares(&self) -> bool {
        let dot = matches!(self.distance, Distance::Cosine | Distance::Dot);
        (dot && matches!(self.kind, QuantizationKind::Int8 { .. })) || self.ternary.is_some()
    }

    /// Stores the codes of `vector` for `slot` (growing the store by an eighth at a time, not
    /// by doubling: a store built exactly for a million slots does not take room for two
    /// million at the next point).
    pub fn put(&mut self, slot: u32, vector: VectorRef<'_>) {
        let s = slot as usize;
        if self.codes.len() < (s + 1) * self.stride {
            grow_by_an_eighth(&mut self.codes, (s + 1) * self.stride);
            self.codes.resize((s + 1) * self.stride, 0);
        }
        let mut values = vec![0.0; self.dim];
        vector.convert_into(0, &mut values[..vector.len().min(self.dim)]);
        let mut codes = std::mem::take(&mut self.codes);
        let sum = self.encode_into(&values, &mut codes[s * self.stride..(s + 1) * self.stride]);
        self.codes = codes;
        if self.keeps_shares() {
            if self.shares.len() <= s {
                grow_by_an_eighth(&mut self.shares, s + 1);
                self.shares.resize(s + 1, 0.0);
            }
            self.shares[s] = sum;
        }
    }

    /// The query in this store's codes.
    pub fn query(&self, query: &[f32]) -> QuantizedQuery {
        let (mut codes, mut code_sum, mut table, mut planed) = (Vec::new(), 0.0, Vec::new(), None);
        if let (QuantizationKind::Binary { query_bits, .. }, Some(codec)) = (self.kind, &self.ternary) {
            let ternary = Some(codec.query(query, query_bits));
            return QuantizedQuery { codes, code_sum, table, planed, ternary };
        }
        match (self.kind, &self.codebook) {
            (QuantizationKind::Product { .. }, Some(book)) => table = book.table(self.distance, query),
            (QuantizationKind::Binary { query_bits, .. }, _) if query_bits > 1 => {
                planed = Some(planed_query(&query[..query.len().min(self.dim)], self.stride, query_bits));
            }
            (QuantizationKind::Int8 { .. } | QuantizationKind::Binary { .. } | QuantizationKind::Product { .. }, _) => {
                codes = vec![0; self.stride];
                code_sum = self.encode_into(query, &mut codes);
            }
        }
        QuantizedQuery { codes, code_sum, table, planed, ternary: None }
    }

    /// The approximate distance ("smaller is closer", as `-similarity`) of `slot` to `query`.
    #[inline]
    pub fn distance(&self, query: &QuantizedQuery, slot: u32) -> Option<f32> {
        let s = slot as usize;
        let codes = self.codes.get(s * self.stride..(s + 1) * self.stride)?;
        let k = kernels::best();
        if let (Some(codec), Some(ternary)) = (&self.ternary, &query.ternary) {
            return Some(codec.distance(ternary, codes, self.shares.get(s).copied().unwrap_or(0.0)));
        }
        Some(match self.kind {
            QuantizationKind::Binary { .. } => match &query.planed {
                // Agreeing minus differing signs: a dot product of ±1 vectors (any distance).
                None => (2 * (k.hamming)(&query.codes, codes) as i64 - self.dim as i64) as f32,
                Some(planed) => -self.planed_dot(planed, codes) * (self.dim as f32).sqrt(),
            },
            QuantizationKind::Int8 { .. } => match self.distance {
                Distance::Cosine | Distance::Dot => {
                    let (o, sc) = (self.offset, self.scale);
                    let dot = sc * sc * (k.dot_u8)(&query.codes, codes) as f32
                        + o * sc * (query.code_sum + self.shares.get(s).copied().unwrap_or(0.0))
                        + self.dim as f32 * o * o;
                    -dot
                }
                Distance::Euclid => self.scale * self.scale * (k.l2_u8)(&query.codes, codes) as f32,
                Distance::Manhattan => self.scale * (k.l1_u8)(&query.codes, codes) as f32,
            },
            QuantizationKind::Product { .. } => product::score(&query.table, codes),
        })
    }

    /// `Σ q·b` of a planed query and a code's ±1 elements: with `n` the code's ones and
    /// `S = Σ u·[bit set]`, `offset·(2n − dim) + step·(2S − Σu)` (scaled by √dim in `distance`
    /// so that `rescore: false` divides it back to a cosine-like score).
    fn planed_dot(&self, planed: &PlanedQuery, codes: &[u8]) -> f32 {
        let k = kernels::best();
        let ones = (k.hamming)(&planed.zeros, codes) as f32;
        let mut selected = 0.0;
        for (bit, plane) in planed.planes.chunks_exact(self.stride.max(1)).enumerate() {
            let both = (planed.ones[bit] as f32 + ones - (k.hamming)(plane, codes) as f32) / 2.0;
            selected += both * (1u32 << bit) as f32;
        }
        planed.offset * (2.0 * ones - self.dim as f32) + planed.step * (2.0 * selected - planed.sum)
    }

    /// The similarity a search with `rescore: false` returns for an approximate `distance`
    /// (before `distance::postprocess`), or `None` when the codes give no such score (the
    /// search then always rescores): one-bit codes of Euclid/Manhattan vectors, and Manhattan
    /// with the ternary encodings (ranked by their Euclidean estimate).
    pub fn approximate_similarity(&self, distance: f32) -> Option<f32> {
        let one_bit = matches!(self.kind, QuantizationKind::Binary { encoding: BinaryEncoding::OneBit, .. });
        match (self.kind, self.distance) {
            (QuantizationKind::Int8 { .. } | QuantizationKind::Product { .. }, _) => Some(-distance),
            // Agreeing minus differing signs over the dimensions: a cosine-like score.
            (QuantizationKind::Binary { .. }, Distance::Cosine | Distance::Dot) if one_bit => {
                Some(-distance / self.dim.max(1) as f32)
            }
            (QuantizationKind::Binary { .. }, Distance::Cosine | Distance::Dot) => Some(-distance),
            (QuantizationKind::Binary { .. }, Distance::Euclid) if !one_bit => Some(-distance.max(0.0)),
            (QuantizationKind::Binary { .. }, Distance::Euclid | Distance::Manhattan) => None,
        }
    }

    /// Whether the codes give scores a search with `rescore: false` may return.
    pub fn scores_approximately(&self) -> bool {
        self.approximate_similarity(0.0).is_some()
    }

    /// Asks the CPU for the codes of `slot` ahead of scoring them.
    #[inline]
    pub fn prefetch(&self, slot: u32) {
        let s = slot as usize;
        if let Some(codes) = self.codes.get(s * self.stride..(s + 1) * self.stride) {
            codes.chunks(64).take(2).for_each(kernels::prefetch);
        }
    }
}

/// Makes room in `values` for `len` elements and an eighth more (amortised growth without the
/// doubling of `Vec`'s own: at most 1/8 of the store is slack).
fn grow_by_an_eighth<T>(values: &mut Vec<T>, len: usize) {
    if values.capacity() < len {
        values.reserve_exact(len + len / 8 - values.len());
    }
}

/// Offset and scale mapping the central `quantile` of `values` onto 0–255.
fn range(values: &[f32], quantile: f32) -> (f32, f32) {
    let mut values: Vec<f32> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if values.is_empty() {
        return (0.0, 1.0);
    }
    let cut = (((1.0 - quantile.clamp(0.5, 1.0)) / 2.0) * (values.len() - 1) as f32) as usize;
    let (_, lo, _) = values.select_nth_unstable_by(cut, f32::total_cmp);
    let lo = *lo;
    let top = values.len() - 1 - cut;
    let (_, hi, _) = values.select_nth_unstable_by(top, f32::total_cmp);
    let hi = *hi;
    let scale = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
    (lo, scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                let mut v: Vec<f32> = (0..dim)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        (state % 20_000) as f32 / 10_000.0 - 1.0
                    })
                    .collect();
                crate::distance::normalize(&mut v);
                v
            })
            .collect()
    }

    /// Recall@10 of the quantized order, rescoring the best `10 × oversampling` exactly.
    fn recall(kind: QuantizationKind, distance: Distance, oversampling: usize) -> f64 {
        let data = random(2000, 64, 3);
        let sample: Vec<f32> = data.iter().flatten().copied().collect();
        let mut store = QuantizedVectors::new(kind, distance, 64, &sample, 2000);
        data.iter().enumerate().for_each(|(i, v)| store.put(i as u32, VectorRef::F32(v)));
        let exact = |q: &[f32], v: &[f32]| match distance {
            Distance::Cosine | Distance::Dot => -crate::distance::dot(q, v),
            Distance::Euclid => crate::distance::euclid(q, v),
            Distance::Manhattan => crate::distance::manhattan(q, v),
        };
        let (mut hits, queries) = (0, random(50, 64, 99));
        for q in &queries {
            let mut truth: Vec<(f32, u32)> = (0..2000).map(|i| (exact(q, &data[i]), i as u32)).collect();
            truth.sort_by(|a, b| a.0.total_cmp(&b.0));
            let qq = store.query(q);
            let mut approx: Vec<(f32, u32)> = (0..2000u32).map(|i| (store.distance(&qq, i).unwrap(), i)).collect();
            approx.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut rescored: Vec<(f32, u32)> =
                approx.iter().take(10 * oversampling).map(|(_, i)| (exact(q, &data[*i as usize]), *i)).collect();
            rescored.sort_by(|a, b| a.0.total_cmp(&b.0));
            hits += rescored.iter().take(10).filter(|(_, i)| truth[..10].iter().any(|(_, t)| t == i)).count();
        }
        hits as f64 / (queries.len() * 10) as f64
    }

    #[test]
    fn int8_with_rescoring_keeps_recall() {
        for distance in [Distance::Cosine, Distance::Euclid, Distance::Manhattan] {
            let r = recall(QuantizationKind::Int8 { quantile: Some(0.99) }, distance, 2);
            assert!(r >= 0.95, "{distance:?}: recall {r}");
        }
        assert!(recall(QuantizationKind::Int8 { quantile: None }, Distance::Dot, 1) >= 0.85);
    }

    #[test]
    fn binary_with_oversampling_keeps_recall() {
        let r =
            recall(QuantizationKind::Binary { encoding: BinaryEncoding::OneBit, query_bits: 1 }, Distance::Cosine, 8);
        // Random uniform 64-d data is binary quantization's hard case (a random order gives 0.04).
        assert!(r >= 0.5, "recall {r}");
        let store = QuantizedVectors::new(
            QuantizationKind::Binary { encoding: BinaryEncoding::OneBit, query_bits: 1 },
            Distance::Cosine,
            70,
            &[],
            0,
        );
        assert_eq!(store.stride, 16);
        // The query in 4 or 8 bits (asymmetric) ranks better than its signs.
        for bits in [4, 8] {
            let asymmetric = recall(
                QuantizationKind::Binary { encoding: BinaryEncoding::OneBit, query_bits: bits },
                Distance::Cosine,
                8,
            );
            assert!(asymmetric > r, "{bits} bits: {asymmetric} vs {r}");
        }
    }

    #[test]
    fn planed_query_scores_the_quantized_query_against_signs() {
        let data = random(3, 70, 11);
        for bits in [4, 8] {
            let mut store = QuantizedVectors::new(
                QuantizationKind::Binary { encoding: BinaryEncoding::OneBit, query_bits: bits },
                Distance::Dot,
                70,
                &[],
                0,
            );
            store.put(0, VectorRef::F32(&data[0]));
            let query = store.query(&data[1]);
            let planed = query.planed.as_ref().unwrap();
            // Σ (offset + step·u)·sign over the elements, u read back from the planes.
            let expected: f32 = (0..70)
                .map(|i| {
                    let u: u32 =
                        (0..bits as usize).map(|k| u32::from(planed.planes[k * 16 + i / 8] >> (i % 8) & 1) << k).sum();
                    let q = planed.offset + planed.step * u as f32;
                    assert!((q - data[1][i]).abs() <= planed.step / 2.0 + 1e-6);
                    if data[0][i] > 0.0 { q } else { -q }
                })
                .sum();
            let d = store.distance(&query, 0).unwrap();
            assert!((-d / 70f32.sqrt() - expected).abs() < 1e-4, "{bits}: {d} vs {expected}");
        }
    }

    #[test]
    fn product_with_rescoring_keeps_recall() {
        for distance in [Distance::Cosine, Distance::Euclid, Distance::Manhattan] {
            let r = recall(QuantizationKind::Product { compression: 16 }, distance, 4);
            assert!(r >= 0.8, "{distance:?}: recall {r}");
        }
        let store = QuantizedVectors::new(QuantizationKind::Product { compression: 16 }, Distance::Dot, 64, &[], 0);
        assert_eq!(store.bytes_per_vector(), 16);
    }

    #[test]
    fn product_codes_follow_a_changed_vector() {
        let data = random(600, 16, 5);
        let sample: Vec<f32> = data.iter().flatten().copied().collect();
        let mut store =
            QuantizedVectors::new(QuantizationKind::Product { compression: 16 }, Distance::Euclid, 16, &sample, 600);
        assert_eq!(store.bytes_per_vector(), 4);
        store.put(3, VectorRef::F32(&data[0]));
        let query = store.query(&data[1]);
        let before = store.distance(&query, 3).unwrap();
        store.put(3, VectorRef::F32(&data[1]));
        let after = store.distance(&query, 3).unwrap();
        assert!(after < before, "{after} vs {before}");
        assert!(after < 0.05, "a vector is near its own codes: {after}");
        assert!(store.distance(&query, 4).is_none());
    }

    /// The store holds its codes and corrections and little else (issue 19: the int8 store
    /// must cost about its codes): exact when built, at most an eighth more once it grows.
    #[test]
    fn int8_store_holds_its_codes_and_little_more() {
        let (n, dim) = (3000, 48);
        let data = random(n + 400, dim, 8);
        let sample: Vec<f32> = data[..n].iter().flatten().copied().collect();
        for (distance, per_slot) in [(Distance::Cosine, dim + 4), (Distance::Euclid, dim)] {
            let mut store =
                QuantizedVectors::new(QuantizationKind::Int8 { quantile: Some(0.99) }, distance, dim, &sample, n);
            assert_eq!(store.bytes_per_slot(), per_slot);
            store.reserve_slots(n);
            data[..n].iter().enumerate().for_each(|(i, v)| store.put(i as u32, VectorRef::F32(v)));
            assert_eq!(store.memory_bytes(), n * per_slot, "{distance:?}: built exactly");
            // Points added one at a time after the build.
            for (i, v) in data.iter().enumerate().skip(n) {
                store.put(i as u32, VectorRef::F32(v));
                let held = (i + 1) * per_slot;
                assert!(
                    store.memory_bytes() <= held + held / 8 + 64,
                    "{distance:?}, slot {i}: {}",
                    store.memory_bytes()
                );
            }
        }
    }

    #[test]
    fn int8_range_cuts_outliers_at_the_quantile() {
        let mut values: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
        values.push(1000.0);
        let (offset, scale) = range(&values, 0.99);
        assert!(offset > 0.0 && offset < 0.01, "{offset}");
        assert!(scale * 255.0 + offset < 1.0, "{scale}");
    }
}
