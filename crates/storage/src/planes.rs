//! A query in `bits` bits per element kept as bit planes, so that its sum against a binary code
//! is a weighted sum of popcounts: the asymmetric `query_encoding`s `scalar4bits` /
//! `scalar8bits` of binary quantization (design records 029 and 033).

/// A query quantized as `q ≈ offset + step · u` with `u` in `0..2^bits`, kept as `bits` bit
/// planes so that `Σ u·[bit set]` is a weighted sum of popcounts.
pub(crate) struct PlanedQuery {
    pub(crate) offset: f32,
    pub(crate) step: f32,
    /// `Σ u` over the elements.
    pub(crate) sum: f32,
    /// Plane `k` (bit `k` of every `u`), `stride` bytes each, one after another.
    pub(crate) planes: Vec<u8>,
    /// The ones of each plane.
    pub(crate) ones: Vec<u32>,
    /// `stride` zero bytes (a code's ones are its Hamming distance to them).
    pub(crate) zeros: Vec<u8>,
}

impl PlanedQuery {
    /// The planes, `stride` bytes each, with their weight `2^k`.
    pub(crate) fn weighted_planes(&self) -> impl Iterator<Item = (f32, &[u8])> {
        let stride = self.zeros.len().max(1);
        self.planes.chunks_exact(stride).enumerate().map(|(k, plane)| ((1u32 << k) as f32, plane))
    }
}

/// `values` in `bits` bits each over their own range, as planes of `stride` bytes.
pub(crate) fn planed_query(values: &[f32], stride: usize, bits: u32) -> PlanedQuery {
    let finite = values.iter().copied().filter(|x| x.is_finite());
    let (lo, hi) = finite.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), x| (lo.min(x), hi.max(x)));
    let levels = ((1u32 << bits) - 1) as f32;
    let (offset, step) = match (hi > lo, lo.is_finite()) {
        (true, _) => (lo, (hi - lo) / levels),
        (false, true) => (lo, 1.0),
        (false, false) => (0.0, 1.0),
    };
    let mut planes = vec![0u8; bits as usize * stride];
    let mut sum = 0.0;
    for (i, x) in values.iter().enumerate() {
        let u = ((x - offset) / step).round().clamp(0.0, levels) as u32;
        sum += u as f32;
        for k in 0..bits as usize {
            if u >> k & 1 == 1 {
                planes[k * stride + i / 8] |= 1 << (i % 8);
            }
        }
    }
    let ones = planes.chunks_exact(stride.max(1)).map(|p| p.iter().map(|b| b.count_ones()).sum()).collect();
    PlanedQuery { offset, step, sum, planes, ones, zeros: vec![0; stride] }
}
