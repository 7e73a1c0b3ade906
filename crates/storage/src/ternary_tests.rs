//! The ternary codes against a scalar reference, and recall with rescoring against exact search
//! on centered and on shifted (non-centered) data (design record 033).

use super::*;
use crate::quantized::{BinaryEncoding, QuantizationKind, QuantizedVectors};
use crate::vectors::VectorRef;

/// `n` vectors of `dim` uniform values in `shift ± 1` (each dimension spread by `1 + i % 3`).
fn data(n: usize, dim: usize, seed: u64, shift: f32) -> Vec<Vec<f32>> {
    let mut state = seed.max(1);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 20_000) as f32 / 10_000.0 - 1.0
    };
    (0..n).map(|_| (0..dim).map(|i| shift + next() * (1 + i % 3) as f32).collect()).collect()
}

fn fitted(mixed: bool, distance: Distance, rows: &[Vec<f32>]) -> TernaryCodec {
    let sample: Vec<f32> = rows.iter().flatten().copied().collect();
    TernaryCodec::fit(mixed, distance, rows[0].len(), &sample)
}

fn coded(codec: &TernaryCodec, v: &[f32]) -> (Vec<u8>, f32) {
    let mut code = vec![0; codec.bytes_per_vector()];
    let share = codec.encode(v, &mut code);
    (code, share)
}

#[test]
fn values_are_coded_at_the_nearest_level_and_levels_fit_a_normal() {
    // Sums of 12 uniforms: near-normal values, mean 0.5, σ = 1 per dimension.
    let uniform = data(800 * 12, 70, 1, 0.0);
    let rows: Vec<Vec<f32>> = uniform
        .chunks_exact(12)
        .map(|parts| {
            (0..70).map(|i| 0.5 + parts.iter().map(|p| p[i] / (1 + i % 3) as f32).sum::<f32>() / 2.0).collect()
        })
        .collect();
    for mixed in [false, true] {
        let codec = fitted(mixed, Distance::Dot, &rows);
        for row in rows.iter().take(50) {
            let (code, _) = coded(&codec, row);
            for (i, x) in row.iter().enumerate() {
                let d = x - codec.mean()[i];
                let sign = if d > 0.0 { 1 } else { -1 };
                let small = d.abs() <= codec.level()[i] / 2.0;
                let expected = if mixed && i % 64 >= 32 {
                    sign
                } else if small {
                    0
                } else {
                    sign
                };
                assert_eq!(codec.value(&code, i), expected, "mixed {mixed} dimension {i}");
            }
        }
        if !mixed {
            // Lloyd's fixed point for a unit normal: the level 1.224, the cut at 0.612.
            for (i, level) in codec.level().iter().enumerate() {
                assert!((level - 1.224).abs() < 0.12, "dimension {i}: level {level}");
                assert!((codec.mean()[i] - 0.5).abs() < 0.15, "dimension {i}: mean {}", codec.mean()[i]);
            }
        } else {
            // A sign alone: the mean |d| of a unit normal, √(2/π).
            for level in &codec.level()[32..64] {
                assert!((level - 0.798).abs() < 0.08, "level {level}");
            }
        }
    }
}

#[test]
fn scores_match_a_scalar_reference() {
    for dim in [40, 70, 128] {
        let rows = data(300, dim, 7, 0.3);
        for (mixed, distance) in [false, true].into_iter().flat_map(|m| [(m, Distance::Dot), (m, Distance::Euclid)]) {
            let codec = fitted(mixed, distance, &rows);
            let (mean, level) = (codec.mean(), codec.level());
            let signs_only = |i: usize| mixed && i % 64 >= 32;
            let level_sq = |signs: bool| {
                let squares: Vec<f32> =
                    (0..dim).filter(|i| signs_only(*i) == signs).map(|i| level[i] * level[i]).collect();
                squares.iter().sum::<f32>() / squares.len().max(1) as f32
            };
            let (x, y) = (&rows[0], &rows[1]);
            let (code, share) = coded(&codec, x);
            let v = |c: &[u8], i| codec.value(c, i) as f32;
            let dx: Vec<f32> = (0..dim).map(|i| x[i] - mean[i]).collect();
            let dy: Vec<f32> = (0..dim).map(|i| y[i] - mean[i]).collect();
            let dot = |a: &[f32], b: &[f32]| -> f32 { a.iter().zip(b).map(|(a, b)| a * b).sum() };
            // The exact terms, and the cross term d_x·d_y as the codes give it.
            let score = |cross: f32| match distance {
                Distance::Dot | Distance::Cosine => -(dot(mean, y) + dot(mean, &dx) + cross),
                Distance::Euclid | Distance::Manhattan => dot(&dx, &dx) - 2.0 * cross + dot(&dy, &dy),
            };
            // Coded query: Σ levelᵢ²·vᵢ·wᵢ with the levels' mean square (three-level and sign-only
            // dimensions apart).
            let query = codec.query(y, 1);
            let agreement: f32 = (0..dim).map(|i| v(&code, i) * v(&query.code, i) * level_sq(signs_only(i))).sum();
            let expected = score(agreement);
            let got = codec.distance(&query, &code, share);
            assert!(
                (got - expected).abs() < 1e-3 * (1.0 + expected.abs()),
                "{dim} {mixed} {distance:?}: {got} vs {expected}"
            );
            // A query in 4 or 8 bits: Σ levelᵢ·vᵢ·(yᵢ − meanᵢ), up to the query's rounding.
            for bits in [4, 8] {
                let query = codec.query(y, bits);
                let q: Vec<f32> = (0..dim).map(|i| level[i] * dy[i]).collect();
                let expected = score((0..dim).map(|i| v(&code, i) * q[i]).sum());
                let (lo, hi) = q.iter().fold((f32::MAX, f32::MIN), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
                let nonzero = (0..dim).filter(|i| v(&code, *i) != 0.0).count() as f32;
                let tolerance = 2.0 * nonzero * (hi - lo) / ((1 << bits) - 1) as f32 / 2.0 + 1e-3;
                let got = codec.distance(&query, &code, share);
                assert!((got - expected).abs() <= tolerance, "{dim} {mixed} {distance:?} {bits}: {got} vs {expected}");
            }
        }
    }
}

const N: usize = 2000;

/// Recall@10 of `kind` with the best `10 × oversampling` rescored exactly.
fn recall(
    kind: QuantizationKind,
    distance: Distance,
    rows: &[Vec<f32>],
    queries: &[Vec<f32>],
    oversampling: usize,
) -> f64 {
    let dim = rows[0].len();
    let sample: Vec<f32> = rows.iter().flatten().copied().collect();
    let mut store = QuantizedVectors::new(kind, distance, dim, &sample, rows.len());
    rows.iter().enumerate().for_each(|(i, v)| store.put(i as u32, VectorRef::F32(v)));
    let exact = |q: &[f32], v: &[f32]| match distance {
        Distance::Cosine | Distance::Dot => -crate::distance::dot(q, v),
        Distance::Euclid => crate::distance::euclid(q, v),
        Distance::Manhattan => crate::distance::manhattan(q, v),
    };
    let mut hits = 0;
    for q in queries {
        let mut truth: Vec<(f32, u32)> = rows.iter().enumerate().map(|(i, v)| (exact(q, v), i as u32)).collect();
        truth.sort_by(|a, b| a.0.total_cmp(&b.0));
        let prepared = store.query(q);
        let mut approx: Vec<(f32, u32)> =
            (0..rows.len() as u32).map(|i| (store.distance(&prepared, i).unwrap_or(f32::MAX), i)).collect();
        approx.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut rescored: Vec<(f32, u32)> =
            approx.iter().take(10 * oversampling).map(|(_, i)| (exact(q, &rows[*i as usize]), *i)).collect();
        rescored.sort_by(|a, b| a.0.total_cmp(&b.0));
        hits += rescored.iter().take(10).filter(|(_, i)| truth[..10].iter().any(|(_, t)| t == i)).count();
    }
    hits as f64 / (queries.len() * 10) as f64
}

fn binary(encoding: BinaryEncoding, query_bits: u32) -> QuantizationKind {
    QuantizationKind::Binary { encoding, query_bits }
}

/// Recall of one, 1.5 and 2 bits (query coded the same way, then in 8 bits) on `rows`.
fn recalls(distance: Distance, rows: &[Vec<f32>], queries: &[Vec<f32>]) -> [[f64; 3]; 2] {
    let encodings = [BinaryEncoding::OneBit, BinaryEncoding::OneAndHalfBits, BinaryEncoding::TwoBits];
    let r = |bits| encodings.map(|e| recall(binary(e, bits), distance, rows, queries, 4));
    let figures = [r(1), r(8)];
    eprintln!(
        "{distance:?} recall@10, oversampling 4 (1 / 1.5 / 2 bits): query coded {:?}, 8-bit {:?}",
        figures[0], figures[1]
    );
    figures
}

fn normalized(mut rows: Vec<Vec<f32>>) -> Vec<Vec<f32>> {
    rows.iter_mut().for_each(|v| crate::distance::normalize(v));
    rows
}

#[test]
fn more_bits_keep_recall_on_centered_data() {
    let (rows, queries) = (normalized(data(N, 64, 3, 0.0)), normalized(data(50, 64, 99, 0.0)));
    let [coded, planed] = recalls(Distance::Cosine, &rows, &queries);
    for [one, half, two] in [coded, planed] {
        assert!(two > one && half > one, "{one} {half} {two}");
    }
    // A coded query weighs every dimension alike (these spreads differ threefold); in 8 bits
    // it is weighed by each dimension's level.
    assert!(planed[2] >= 0.9 && planed[1] >= 0.8, "{planed:?}");
}

#[test]
fn two_bits_beat_one_bit_on_shifted_data() {
    // Every value positive: the signs of one bit say nothing, the means of 1.5 and 2 bits do.
    let (rows, queries) = (data(N, 48, 5, 2.0), data(50, 48, 77, 2.0));
    for distance in [Distance::Euclid, Distance::Dot, Distance::Manhattan] {
        for [one, half, two] in recalls(distance, &rows, &queries) {
            assert!(two > one + 0.2 && half > one + 0.2, "{distance:?}: {one} {half} {two}");
            assert!(two >= half - 0.05, "{distance:?}: {half} {two}");
        }
    }
    let (rows, queries) = (normalized(rows), normalized(queries));
    for [one, half, two] in recalls(Distance::Cosine, &rows, &queries) {
        assert!(two > one + 0.3 && half > one + 0.3, "cosine: {one} {half} {two}");
    }
}

#[test]
fn bytes_per_vector_of_each_encoding() {
    for (dim, [one, half, two]) in [(384, [48, 72, 96]), (70, [16, 24, 32]), (1536, [192, 288, 384])] {
        let bytes = |e| QuantizedVectors::new(binary(e, 1), Distance::Cosine, dim, &[], 0).bytes_per_slot();
        assert_eq!(bytes(BinaryEncoding::OneBit), one);
        assert_eq!(bytes(BinaryEncoding::OneAndHalfBits), half + 4, "codes and a 4-byte share");
        assert_eq!(bytes(BinaryEncoding::TwoBits), two + 4);
    }
}

/// Rows of a little-endian float16 `.npy` file (the shared benchmark data), at most `limit`.
fn npy_f16(path: &std::path::Path, limit: usize) -> Option<Vec<Vec<f32>>> {
    let bytes = std::fs::read(path).ok()?;
    let header_len = usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).ok()?;
    let shape = header.split("'shape': (").nth(1)?.split(')').next()?;
    let dims: Vec<usize> = shape.split(',').filter_map(|d| d.trim().parse().ok()).collect();
    let body = &bytes[10 + header_len..];
    let values: Vec<f32> = body.chunks_exact(2).map(|h| half::f16::from_le_bytes([h[0], h[1]]).to_f32()).collect();
    Some(values.chunks_exact(dims[1]).take(limit).map(|r| r.to_vec()).collect())
}

/// Recall on real sentence embeddings (`/work/shared/data`, 384-d MiniLM), every code scored
/// (no graph): run by hand with `--ignored --nocapture` (`BASE_ROWS`, default 20,000), figures
/// in design record 033.
#[test]
#[ignore]
fn recall_on_the_shared_embeddings() {
    let dir = std::path::Path::new("/work/shared/data");
    let rows = std::env::var("BASE_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let (Some(base), Some(queries)) = (npy_f16(&dir.join("base.npy"), rows), npy_f16(&dir.join("query.npy"), 100))
    else {
        return;
    };
    let (base, queries) = (normalized(base), normalized(queries));
    for oversampling in [2, 4] {
        let encodings = [BinaryEncoding::OneBit, BinaryEncoding::OneAndHalfBits, BinaryEncoding::TwoBits];
        for bits in [1, 8] {
            let r = encodings.map(|e| recall(binary(e, bits), Distance::Cosine, &base, &queries, oversampling));
            eprintln!("shared embeddings, {rows}, oversampling {oversampling}, query {bits} bits (1 / 1.5 / 2): {r:?}");
        }
    }
}
