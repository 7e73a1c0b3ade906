//! f32 distance kernels (dot product, squared Euclidean, Manhattan), and kernels on the codes of
//! quantized vectors (int8 dot / L2 / L1, binary Hamming, the ternary sums of the 1.5/2-bit
//! binary codes: design record 033), chosen once per process by
//! run-time CPU feature detection: AVX-512F, then AVX2 + FMA, then a portable fallback written in
//! 8 lanes so the compiler vectorises it for the baseline target (and for NEON on Arm).
//!
//! This is one of the three modules of the workspace allowed `unsafe` (design record 005, "SIMD";
//! the others are `mapped.rs`, design record 025, and `index_view.rs`, design record 041): the
//! vector loads of `std::arch`, calling a `#[target_feature]` function, reading the two
//! vectors usearch hands our metric callback as raw pointers, and the slot metric's reads of a
//! table column borrowed for one index call (`with_slot_vectors`, design record 023). Every
//! `unsafe` block says why it holds. The kernels accumulate in f32 lanes (four independent accumulators), like hnswlib's;
//! the f64 accumulation of usearch's built-in kernel costs about half the throughput.
#![allow(unsafe_code)]

use std::sync::OnceLock;

/// A kernel: two slices of equal length in, a sum out.
pub type Kernel = fn(&[f32], &[f32]) -> f32;

/// A kernel on the codes of quantized vectors: two byte slices of equal length in.
pub type CodeKernel = fn(&[u8], &[u8]) -> u32;

/// A kernel on ternary codes (design record 033): a code and a code or bit plane in, a signed sum out.
pub type TernaryKernel = fn(&[u8], &[u8]) -> i32;

/// A kernel on two `one_and_half_bits` codes: two signed sums out (see `ternary_dot_mixed`).
pub type MixedKernel = fn(&[u8], &[u8]) -> [i32; 2];

/// The kernels selected for this CPU.
#[derive(Debug, Clone, Copy)]
pub struct Kernels {
    /// Which instruction set they use (for logs and benchmarks).
    pub isa: &'static str,
    pub dot: Kernel,
    /// Squared Euclidean distance.
    pub l2sq: Kernel,
    pub l1: Kernel,
    /// Dot product of two int8 code vectors (bytes as 0–255).
    pub dot_u8: CodeKernel,
    /// Squared Euclidean distance of two int8 code vectors.
    pub l2_u8: CodeKernel,
    /// Manhattan distance of two int8 code vectors.
    pub l1_u8: CodeKernel,
    /// Differing bits of two binary codes (whole 8-byte words).
    pub hamming: CodeKernel,
    /// `Σ v·w` of two `two_bits` codes (values −1, 0, +1: `W` words of signs, then `W` of
    /// non-zero masks).
    pub ternary_dot: TernaryKernel,
    /// `Σ v·w` of two `one_and_half_bits` codes (`W` words of signs, then `W` 32-bit masks: bit
    /// `j` of a mask is dimension `j` of its word; dimensions 32–63 of a word are never zero),
    /// over the three-level dimensions and over the sign-only ones.
    pub ternary_dot_mixed: MixedKernel,
    /// `Σ v·p` of a `two_bits` code and a bit plane of `W` words.
    pub ternary_plane: TernaryKernel,
    /// `Σ v·p` of a `one_and_half_bits` code and a bit plane of `W` words.
    pub ternary_plane_mixed: TernaryKernel,
}

/// The portable kernels (the fallback, and the reference in tests).
pub const PORTABLE: Kernels = Kernels {
    isa: "portable",
    dot: portable::dot,
    l2sq: portable::l2sq,
    l1: portable::l1,
    dot_u8: codes::dot_u8,
    l2_u8: codes::l2_u8,
    l1_u8: codes::l1_u8,
    hamming: codes::hamming,
    ternary_dot: codes::ternary_dot,
    ternary_dot_mixed: codes::ternary_dot_mixed,
    ternary_plane: codes::ternary_plane,
    ternary_plane_mixed: codes::ternary_plane_mixed,
};

/// The best kernels this CPU supports, detected on first use.
pub fn best() -> &'static Kernels {
    static BEST: OnceLock<Kernels> = OnceLock::new();
    BEST.get_or_init(detect)
}

/// Every kernel set this CPU can run, best first (tests compare them with each other).
pub fn available() -> Vec<Kernels> {
    let mut all = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            all.push(x86::AVX512);
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            all.push(x86::AVX2);
        }
    }
    all.push(PORTABLE);
    all
}

fn detect() -> Kernels {
    available()[0]
}

/// A metric for usearch's custom-metric hook: `kernel` over two vectors of `dim` f32 each,
/// turned into a "smaller is closer" distance by `finish`.
pub fn raw_metric(
    dim: usize,
    kernel: Kernel,
    finish: fn(f32) -> f32,
) -> Box<dyn Fn(*const f32, *const f32) -> f32 + Send + Sync> {
    Box::new(move |a: *const f32, b: *const f32| {
        // usearch's first `add` counts its node before it stores the node's vector: a search
        // beside it is handed a null pointer for it.
        if a.is_null() || b.is_null() {
            return f32::MAX;
        }
        // SAFETY: usearch calls its metric with two pointers to vectors of the index's
        // `dimensions` scalars, f32 here (the index is created with `ScalarKind::F32` and
        // `dimensions = dim`, and the metric is only installed on such an index); they stay
        // valid and unchanged for the duration of the call (null ones are refused above).
        let (a, b) = unsafe { (std::slice::from_raw_parts(a, dim), std::slice::from_raw_parts(b, dim)) };
        finish(kernel(a, b))
    })
}

/// The 8-byte record a slot-mode index stores instead of a vector (one f64 whose bits are a
/// tag and a number): the tag's exponent bits make every record a normal f64, so no copy or
/// conversion can change its bits.
const SLOT_TAG: u64 = 0x4010_0000 << 32;
const QUERY_TAG: u64 = 0x4020_0000 << 32;
const TAG_MASK: u64 = 0xFFFF_FFFF << 32;

/// The record of the vector in table slot `slot`.
pub fn slot_record(slot: u32) -> f64 {
    f64::from_bits(SLOT_TAG | u64::from(slot))
}

/// The record standing for the query of the current call (see `with_slot_vectors`).
pub fn query_record() -> f64 {
    f64::from_bits(QUERY_TAG)
}

/// The vectors the slot metric reads on this thread while `with_slot_vectors` runs: raw parts of
/// two borrowed slices, set from live borrows and cleared before they end.
#[derive(Clone, Copy)]
struct SlotSource {
    column: *const f32,
    column_len: usize,
    query: *const f32,
    query_len: usize,
}

thread_local! {
    static SLOT_SOURCE: std::cell::Cell<Option<SlotSource>> = const { std::cell::Cell::new(None) };
}

/// Puts back the source that was current before a `with_slot_vectors` (also on unwinding).
struct RestoreSource(Option<SlotSource>);

impl Drop for RestoreSource {
    fn drop(&mut self) {
        SLOT_SOURCE.set(self.0);
    }
}

/// Runs `f` with `column` (a table column's f32 elements, `dim` per slot) and `query` as the
/// vectors that a metric made by `slot_metric` reads on this thread. Both slices are borrowed
/// for the whole call, so they can neither move nor change while `f` runs; a metric called on
/// another thread, or outside any such call, finds no vectors and answers `f32::MAX`.
pub fn with_slot_vectors<R>(column: &[f32], query: &[f32], f: impl FnOnce() -> R) -> R {
    let source =
        SlotSource { column: column.as_ptr(), column_len: column.len(), query: query.as_ptr(), query_len: query.len() };
    let _restore = RestoreSource(SLOT_SOURCE.replace(Some(source)));
    f()
}

impl SlotSource {
    /// The `dim` values a record stands for, if they lie inside the borrowed slices.
    fn resolve(&self, record: u64, dim: usize) -> Option<&[f32]> {
        let (base, len, start) = match record & TAG_MASK {
            SLOT_TAG => (self.column, self.column_len, (record & !TAG_MASK) as usize * dim),
            QUERY_TAG => (self.query, self.query_len, 0),
            _ => return None,
        };
        if start.checked_add(dim)? > len {
            return None;
        }
        // SAFETY: `base..base + len` is a slice borrowed by the `with_slot_vectors` call that is
        // running on this thread (the source is set from it on entry and put back before the
        // borrow ends, even on unwinding), and `start + dim <= len` was checked above.
        Some(unsafe { std::slice::from_raw_parts(base.add(start), dim) })
    }
}

/// A metric for a slot-mode index (records of `slot_record` / `query_record`, one f64 each):
/// `kernel` over the `dim` f32 values each record stands for, read from the slices given to the
/// running `with_slot_vectors`, turned into a "smaller is closer" distance by `finish`; a record
/// that names nothing readable is as far as can be (`f32::MAX`).
pub fn slot_metric(
    dim: usize,
    kernel: Kernel,
    finish: fn(f32) -> f32,
) -> Box<dyn Fn(*const f64, *const f64) -> f32 + Send + Sync> {
    Box::new(move |a: *const f64, b: *const f64| {
        // A null pointer: a node counted by usearch's first `add` before its record is stored.
        if a.is_null() || b.is_null() {
            return f32::MAX;
        }
        // SAFETY: usearch calls its metric with two pointers to vectors of the index's
        // `dimensions` scalars: one f64 here (a slot-mode index is created with
        // `ScalarKind::F64` and one dimension, and this metric is only installed on such an
        // index), valid for the duration of the call (null ones are refused above).
        let (a, b) = unsafe { (a.read_unaligned().to_bits(), b.read_unaligned().to_bits()) };
        let Some(source) = SLOT_SOURCE.get() else { return f32::MAX };
        match (source.resolve(a, dim), source.resolve(b, dim)) {
            (Some(x), Some(y)) => finish(kernel(x, y)),
            _ => f32::MAX,
        }
    })
}

/// Asks the CPU to start loading the beginning of `data` into the cache (a hint: no effect on
/// results, and none at all off x86-64).
#[inline]
pub fn prefetch<T>(data: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch never faults, and the pointer comes from a live slice.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(data.as_ptr().cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

mod portable {
    const LANES: usize = 8;

    fn fold(a: &[f32], b: &[f32], term: impl Fn(f32, f32) -> f32) -> f32 {
        let mut acc = [0.0f32; LANES];
        let (chunks_a, chunks_b) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
        let tail: f32 = chunks_a.remainder().iter().zip(chunks_b.remainder()).map(|(x, y)| term(*x, *y)).sum();
        for (ca, cb) in chunks_a.zip(chunks_b) {
            for i in 0..LANES {
                acc[i] += term(ca[i], cb[i]);
            }
        }
        acc.iter().sum::<f32>() + tail
    }

    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        fold(a, b, |x, y| x * y)
    }

    pub fn l2sq(a: &[f32], b: &[f32]) -> f32 {
        fold(a, b, |x, y| (x - y) * (x - y))
    }

    pub fn l1(a: &[f32], b: &[f32]) -> f32 {
        fold(a, b, |x, y| (x - y).abs())
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Kernels;
    use std::arch::x86_64::*;

    pub const AVX512: Kernels = Kernels { isa: "avx512f", dot: dot_avx512, l2sq: l2sq_avx512, l1: l1_avx512, ..AVX2 };
    pub const AVX2: Kernels = Kernels {
        isa: "avx2+fma",
        dot: dot_avx2,
        l2sq: l2sq_avx2,
        l1: l1_avx2,
        dot_u8: super::codes_avx2::dot_u8,
        l2_u8: super::codes_avx2::l2_u8,
        l1_u8: super::codes_avx2::l1_u8,
        hamming: super::codes_avx2::hamming,
        ternary_dot: super::codes_avx2::ternary_dot,
        ternary_dot_mixed: super::codes_avx2::ternary_dot_mixed,
        ternary_plane: super::codes_avx2::ternary_plane,
        ternary_plane_mixed: super::codes_avx2::ternary_plane_mixed,
    };

    // What a kernel adds per lane, as a const parameter so each kernel is compiled on its own
    // (a `#[target_feature]` function is not inlined into its safe wrapper, so a runtime
    // argument would stay a branch inside the loop).
    const DOT: u8 = 0;
    const L2SQ: u8 = 1;
    const L1: u8 = 2;

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn step512<const TERM: u8>(x: __m512, y: __m512, acc: __m512) -> __m512 {
        match TERM {
            DOT => _mm512_fmadd_ps(x, y, acc),
            L2SQ => {
                let d = _mm512_sub_ps(x, y);
                _mm512_fmadd_ps(d, d, acc)
            }
            _ => _mm512_add_ps(_mm512_abs_ps(_mm512_sub_ps(x, y)), acc),
        }
    }

    #[target_feature(enable = "avx512f")]
    fn sum512<const TERM: u8>(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut i = 0;
        // SAFETY (every load below): `i + 16 <= n` (or the mask covers only `n - i < 16`
        // lanes), so each load reads inside both slices.
        while i + 64 <= n {
            for (k, lane) in acc.iter_mut().enumerate() {
                let (x, y) = unsafe { (_mm512_loadu_ps(pa.add(i + 16 * k)), _mm512_loadu_ps(pb.add(i + 16 * k))) };
                *lane = step512::<TERM>(x, y, *lane);
            }
            i += 64;
        }
        while i + 16 <= n {
            let (x, y) = unsafe { (_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i))) };
            acc[0] = step512::<TERM>(x, y, acc[0]);
            i += 16;
        }
        if i < n {
            let mask: __mmask16 = (1u16 << (n - i)) - 1;
            let (x, y) = unsafe { (_mm512_maskz_loadu_ps(mask, pa.add(i)), _mm512_maskz_loadu_ps(mask, pb.add(i))) };
            acc[1] = step512::<TERM>(x, y, acc[1]);
        }
        _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])))
    }

    fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: `AVX512` is only handed out after `is_x86_feature_detected!("avx512f")`.
        unsafe { sum512::<DOT>(a, b) }
    }

    fn l2sq_avx512(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: as `dot_avx512`.
        unsafe { sum512::<L2SQ>(a, b) }
    }

    fn l1_avx512(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: as `dot_avx512`.
        unsafe { sum512::<L1>(a, b) }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn step256<const TERM: u8>(x: __m256, y: __m256, acc: __m256) -> __m256 {
        match TERM {
            DOT => _mm256_fmadd_ps(x, y, acc),
            L2SQ => {
                let d = _mm256_sub_ps(x, y);
                _mm256_fmadd_ps(d, d, acc)
            }
            _ => {
                let d = _mm256_sub_ps(x, y);
                _mm256_add_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0), d), acc)
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    fn sum256<const TERM: u8>(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        // SAFETY (every load below): `i + 8 <= n`, so each load reads inside both slices.
        while i + 32 <= n {
            for (k, lane) in acc.iter_mut().enumerate() {
                let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(i + 8 * k)), _mm256_loadu_ps(pb.add(i + 8 * k))) };
                *lane = step256::<TERM>(x, y, *lane);
            }
            i += 32;
        }
        while i + 8 <= n {
            let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
            acc[0] = step256::<TERM>(x, y, acc[0]);
            i += 8;
        }
        let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let half = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps::<1>(sum));
        let pairs = _mm_add_ps(half, _mm_movehl_ps(half, half));
        let total = _mm_cvtss_f32(_mm_add_ss(pairs, _mm_shuffle_ps::<0b01>(pairs, pairs)));
        let tail = match TERM {
            DOT => super::portable::dot(&a[i..n], &b[i..n]),
            L2SQ => super::portable::l2sq(&a[i..n], &b[i..n]),
            _ => super::portable::l1(&a[i..n], &b[i..n]),
        };
        total + tail
    }

    fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: `AVX2` is only handed out after detecting both `avx2` and `fma`.
        unsafe { sum256::<DOT>(a, b) }
    }

    fn l2sq_avx2(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: as `dot_avx2`.
        unsafe { sum256::<L2SQ>(a, b) }
    }

    fn l1_avx2(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: as `dot_avx2`.
        unsafe { sum256::<L1>(a, b) }
    }
}

/// Kernels on quantized codes, written as plain integer loops in 32 lanes: compiled for the
/// baseline target here, and for AVX2 (+ POPCNT) in `codes_avx2`, where the compiler turns
/// them into widening multiply-adds, byte sums of absolute differences and `popcnt`.
#[path = "kernels_codes.rs"]
mod codes;

/// The code kernels compiled for AVX2 and POPCNT (installed only after both are detected).
#[cfg(target_arch = "x86_64")]
mod codes_avx2 {
    macro_rules! with_avx2 {
        ($name:ident, $inner:ident) => {
            with_avx2!($name, $inner, u32);
        };
        ($name:ident, $inner:ident, $out:ty) => {
            #[target_feature(enable = "avx2,popcnt")]
            fn $inner(a: &[u8], b: &[u8]) -> $out {
                super::codes::$name(a, b)
            }

            pub fn $name(a: &[u8], b: &[u8]) -> $out {
                // SAFETY: these kernels are only in the AVX2 set, which `available` lists
                // after detecting AVX2 (every AVX2 CPU has POPCNT).
                unsafe { $inner(a, b) }
            }
        };
    }
    with_avx2!(dot_u8, dot_u8_avx2);
    with_avx2!(l2_u8, l2_u8_avx2);
    with_avx2!(l1_u8, l1_u8_avx2);
    with_avx2!(hamming, hamming_avx2);
    with_avx2!(ternary_dot, ternary_dot_avx2, i32);
    with_avx2!(ternary_dot_mixed, ternary_dot_mixed_avx2, [i32; 2]);
    with_avx2!(ternary_plane, ternary_plane_avx2, i32);
    with_avx2!(ternary_plane_mixed, ternary_plane_mixed_avx2, i32);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_kernel_matches_plain_sums() {
        for len in (0..70).chain([127, 128, 384, 1536]) {
            let a: Vec<u8> = (0..len).map(|i| ((i * 7919) % 256) as u8).collect();
            let b: Vec<u8> = (0..len).map(|i| ((i * 104729 + 5) % 256) as u8).collect();
            let pairs = || a.iter().zip(&b).map(|(x, y)| (i64::from(*x), i64::from(*y)));
            let dot: i64 = pairs().map(|(x, y)| x * y).sum();
            let l2: i64 = pairs().map(|(x, y)| (x - y) * (x - y)).sum();
            let l1: i64 = pairs().map(|(x, y)| (x - y).abs()).sum();
            let whole = len / 8 * 8;
            let bits: u32 = a[..whole].iter().zip(&b[..whole]).map(|(x, y)| (x ^ y).count_ones()).sum();
            for k in available() {
                assert_eq!(i64::from((k.dot_u8)(&a, &b)), dot, "{} dot_u8 len {len}", k.isa);
                assert_eq!(i64::from((k.l2_u8)(&a, &b)), l2, "{} l2_u8 len {len}", k.isa);
                assert_eq!(i64::from((k.l1_u8)(&a, &b)), l1, "{} l1_u8 len {len}", k.isa);
                assert_eq!((k.hamming)(&a, &b), bits, "{} hamming len {len}", k.isa);
            }
        }
    }

    /// The value (−1, 0, +1) of dimension `i` of a ternary code of `words` words per plane.
    fn ternary_value(code: &[u8], words: usize, mixed: bool, i: usize) -> i32 {
        let bit = |s: &[u8], b: usize| i32::from(s[b / 8] >> (b % 8) & 1);
        let mask = match (mixed, i % 64 >= 32) {
            (true, true) => 1,
            (true, false) => bit(&code[words * 8..], i / 64 * 32 + i % 64),
            (false, _) => bit(&code[words * 8..], i),
        };
        mask * (2 * bit(code, i) - 1)
    }

    #[test]
    fn ternary_kernels_match_per_dimension_sums() {
        let bytes =
            |len: usize, seed: usize| -> Vec<u8> { (0..len).map(|i| ((i * 7919 + seed) % 251) as u8).collect() };
        for words in [0, 1, 2, 3, 6, 24] {
            for (mixed, len) in [(false, words * 16), (true, words * 12)] {
                let (a, b, plane) = (bytes(len, 3), bytes(len, 101), bytes(words * 8, 57));
                let v = |c: &[u8], i| ternary_value(c, words, mixed, i);
                let dot = |upper: bool| -> i32 {
                    (0..words * 64).filter(|i| !mixed || (i % 64 >= 32) == upper).map(|i| v(&a, i) * v(&b, i)).sum()
                };
                let selected: i32 = (0..words * 64).map(|i| v(&a, i) * i32::from(plane[i / 8] >> (i % 8) & 1)).sum();
                for k in available() {
                    let isa = k.isa;
                    match mixed {
                        true => {
                            assert_eq!((k.ternary_dot_mixed)(&a, &b), [dot(false), dot(true)], "{isa} words {words}")
                        }
                        false => assert_eq!((k.ternary_dot)(&a, &b), dot(false), "{isa} words {words}"),
                    }
                    let plane_kernel = if mixed { k.ternary_plane_mixed } else { k.ternary_plane };
                    assert_eq!(plane_kernel(&a, &plane), selected, "{isa} mixed {mixed} words {words}");
                }
            }
        }
    }

    fn naive(a: &[f32], b: &[f32]) -> (f64, f64, f64) {
        let pairs = a.iter().zip(b).map(|(x, y)| (f64::from(*x), f64::from(*y)));
        pairs.fold((0.0, 0.0, 0.0), |(d, l2, l1), (x, y)| (d + x * y, l2 + (x - y) * (x - y), l1 + (x - y).abs()))
    }

    #[test]
    fn every_kernel_set_matches_f64_sums_on_every_length() {
        let sets = available();
        assert_eq!(sets.last().map(|k| k.isa), Some("portable"));
        assert_eq!(best().isa, sets[0].isa);
        for len in (0..70).chain([127, 128, 129, 384, 1000, 1536]) {
            let a: Vec<f32> = (0..len).map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0).collect();
            let b: Vec<f32> = (0..len).map(|i| ((i * 104729) % 97) as f32 / 40.0 - 1.2).collect();
            let (dot, l2sq, l1) = naive(&a, &b);
            let tol = 1e-4 * (len as f64 + 1.0);
            for k in &sets {
                assert!((f64::from((k.dot)(&a, &b)) - dot).abs() < tol, "{} dot len {len}", k.isa);
                assert!((f64::from((k.l2sq)(&a, &b)) - l2sq).abs() < tol, "{} l2sq len {len}", k.isa);
                assert!((f64::from((k.l1)(&a, &b)) - l1).abs() < tol, "{} l1 len {len}", k.isa);
            }
        }
    }

    #[test]
    fn slot_metric_reads_the_borrowed_column_and_query_only() {
        let column = [1.0f32, 0.0, 0.0, 2.0, 3.0, 4.0];
        let query = [1.0f32, 1.0];
        let metric = slot_metric(2, best().dot, |d| d);
        let (q, s0, s1, s2) = (query_record(), slot_record(0), slot_record(1), slot_record(2));
        // Outside `with_slot_vectors` nothing is readable.
        assert_eq!(metric(&q, &s0), f32::MAX);
        with_slot_vectors(&column, &query, || {
            assert_eq!(metric(&q, &s0), 1.0);
            assert_eq!(metric(&s1, &q), 2.0);
            assert_eq!(metric(&s1, &s2), 8.0);
            // Slot 3 lies past the column; another tag names nothing.
            assert_eq!(metric(&q, &slot_record(3)), f32::MAX);
            assert_eq!(metric(&q, &1.5f64), f32::MAX);
            // A nested call sees its own vectors, and the outer ones come back after it.
            with_slot_vectors(&column[2..], &query, || assert_eq!(metric(&q, &s0), 2.0));
            assert_eq!(metric(&q, &s0), 1.0);
            // Another thread sees nothing.
            std::thread::scope(|s| assert_eq!(s.spawn(|| metric(&q, &s0)).join().unwrap(), f32::MAX));
        });
        assert_eq!(metric(&q, &s0), f32::MAX);
        assert_eq!(metric(std::ptr::null(), &s0), f32::MAX);
        assert!(slot_record(7).is_normal() && query_record().is_normal() && slot_record(u32::MAX).is_normal());
    }

    #[test]
    fn raw_metric_reads_exactly_dim_values() {
        let a = [1.0f32, 2.0, 3.0, 100.0];
        let b = [4.0f32, 5.0, 6.0, 100.0];
        // Only the first 3 values are the vectors; the 4th must not be read.
        let metric = raw_metric(3, best().dot, |d| 1.0 - d);
        assert_eq!(metric(a.as_ptr(), b.as_ptr()), 1.0 - 32.0);
        assert_eq!(metric(a.as_ptr(), std::ptr::null()), f32::MAX);
    }
}
