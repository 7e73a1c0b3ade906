//! Kernels on quantized codes, written as plain integer loops in 32 lanes: compiled for the
//! baseline target here, and for AVX2 (+ POPCNT) in `codes_avx2`, where the compiler turns
//! them into widening multiply-adds, byte sums of absolute differences and `popcnt`.
//! (A child module of `kernels`, kept in its own file; no `unsafe` here.)

const LANES: usize = 32;

#[inline(always)]
fn fold(a: &[u8], b: &[u8], term: impl Fn(u32, u32) -> u32) -> u32 {
    let mut acc = [0u32; LANES];
    let (chunks_a, chunks_b) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: u32 =
        chunks_a.remainder().iter().zip(chunks_b.remainder()).map(|(x, y)| term(u32::from(*x), u32::from(*y))).sum();
    for (ca, cb) in chunks_a.zip(chunks_b) {
        for i in 0..LANES {
            acc[i] += term(u32::from(ca[i]), u32::from(cb[i]));
        }
    }
    acc.iter().sum::<u32>() + tail
}

#[inline(always)]
pub fn dot_u8(a: &[u8], b: &[u8]) -> u32 {
    fold(a, b, |x, y| x * y)
}

#[inline(always)]
pub fn l2_u8(a: &[u8], b: &[u8]) -> u32 {
    fold(a, b, |x, y| x.abs_diff(y) * x.abs_diff(y))
}

#[inline(always)]
pub fn l1_u8(a: &[u8], b: &[u8]) -> u32 {
    fold(a, b, |x, y| x.abs_diff(y))
}

#[inline(always)]
fn words(s: &[u8]) -> impl Iterator<Item = u64> + '_ {
    s.chunks_exact(8).map(|w| u64::from_le_bytes(w.try_into().unwrap_or([0; 8])))
}

#[inline(always)]
pub fn hamming(a: &[u8], b: &[u8]) -> u32 {
    words(a).zip(words(b)).map(|(x, y)| (x ^ y).count_ones()).sum()
}

/// The 32 stored mask bits of each `one_and_half_bits` word.
#[inline(always)]
fn lower_masks(s: &[u8]) -> impl Iterator<Item = u64> + '_ {
    s.chunks_exact(4).map(|h| u64::from(u32::from_le_bytes(h.try_into().unwrap_or([0; 4]))))
}

/// A `one_and_half_bits` mask word: 32 stored bits, the upper 32 dimensions always non-zero.
#[inline(always)]
fn mixed_masks(s: &[u8]) -> impl Iterator<Item = u64> + '_ {
    lower_masks(s).map(|m| m | 0xFFFF_FFFF << 32)
}

/// `Σ v·w` over words of signs `g`, `h` and masks `m`, `n`: agreeing minus differing signs
/// where both are non-zero.
#[inline(always)]
fn signed_agreement(words: impl Iterator<Item = ((u64, u64), (u64, u64))>) -> i32 {
    words.map(|((g, m), (h, n))| (m & n).count_ones() as i32 - 2 * (m & n & (g ^ h)).count_ones() as i32).sum()
}

/// `Σ v·p` over words of signs `g`, masks `m` and a plane `p`.
#[inline(always)]
fn signed_selection(words: impl Iterator<Item = ((u64, u64), u64)>) -> i32 {
    words.map(|((g, m), p)| 2 * (m & p & g).count_ones() as i32 - (m & p).count_ones() as i32).sum()
}

#[inline(always)]
pub fn ternary_dot(a: &[u8], b: &[u8]) -> i32 {
    let half = a.len().min(b.len()) / 16 * 8;
    let (ga, ma) = a.split_at(half);
    let (gb, mb) = b.split_at(half);
    signed_agreement(words(ga).zip(words(ma)).zip(words(gb).zip(words(mb))))
}

#[inline(always)]
pub fn ternary_dot_mixed(a: &[u8], b: &[u8]) -> [i32; 2] {
    let signs = a.len().min(b.len()) / 12 * 8;
    let (ga, ma) = a.split_at(signs);
    let (gb, mb) = b.split_at(signs);
    words(ga).zip(lower_masks(ma)).zip(words(gb).zip(lower_masks(mb))).fold([0, 0], |[three, two], ((g, m), (h, n))| {
        let differ = g ^ h;
        let both = (m & n).count_ones() as i32 - 2 * (m & n & differ).count_ones() as i32;
        [three + both, two + 32 - 2 * (differ >> 32).count_ones() as i32]
    })
}

#[inline(always)]
pub fn ternary_plane(code: &[u8], plane: &[u8]) -> i32 {
    let (g, m) = code.split_at(plane.len().min(code.len() / 2));
    signed_selection(words(g).zip(words(m)).zip(words(plane)))
}

#[inline(always)]
pub fn ternary_plane_mixed(code: &[u8], plane: &[u8]) -> i32 {
    let (g, m) = code.split_at(plane.len().min(code.len() / 12 * 8));
    signed_selection(words(g).zip(mixed_masks(m)).zip(words(plane)))
}
