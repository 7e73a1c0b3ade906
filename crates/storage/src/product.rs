//! Product quantization (design record 029): a vector is cut into chunks of `compression / 4`
//! dimensions (Qdrant's `x4`…`x64`: one code byte per `compression` bytes of f32), each chunk
//! replaced by the nearest of 256 centroids trained for that chunk by k-means on a bounded,
//! evenly spread sample of the column. A query is scored against codes asymmetrically: per query,
//! a table of the query chunk's distance to every centroid, then per vector one table look-up
//! per chunk, summed.

use quiver_types::config::Distance;

/// Centroids per chunk (one code byte).
pub const CENTROIDS: usize = 256;
/// At most this many sampled vectors train the centroids.
const TRAINING_VECTORS: usize = 4096;
/// Lloyd iterations of the k-means (it stops earlier once no assignment changes).
const ITERATIONS: usize = 10;
/// Seed of the (deterministic) choice of initial centroids.
const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// The trained centroids of every chunk of a column's vectors.
#[derive(Debug, Clone)]
pub struct Codebook {
    dim: usize,
    /// Dimensions per chunk (the last chunk may be shorter).
    chunk: usize,
    /// Per chunk, the centroids by dimension: `CENTROIDS` values of the chunk's first
    /// dimension, then of its second… (so a point's distances to all centroids are computed
    /// 256 lanes wide).
    centroids: Vec<Vec<f32>>,
}

/// Chunks of `dim` dimensions at `chunk` dimensions each.
fn chunk_count(dim: usize, chunk: usize) -> usize {
    dim.div_ceil(chunk)
}

impl Codebook {
    /// Trains centroids for `dim`-vectors cut into chunks of `compression / 4` dimensions on
    /// `sample` (whole vectors one after another; an empty sample gives zero centroids).
    pub fn train(dim: usize, compression: u32, sample: &[f32]) -> Codebook {
        let chunk = (compression as usize / 4).clamp(1, dim.max(1));
        let vectors = sample.len().checked_div(dim).unwrap_or(0);
        let step = vectors.div_ceil(TRAINING_VECTORS).max(1);
        let picked: Vec<&[f32]> = sample.chunks_exact(dim.max(1)).step_by(step).collect();
        let centroids = (0..chunk_count(dim, chunk))
            .map(|c| {
                let (start, end) = (c * chunk, ((c + 1) * chunk).min(dim));
                let points: Vec<&[f32]> = picked.iter().map(|v| &v[start..end]).collect();
                transpose(&kmeans(&points, end - start, SEED ^ c as u64), end - start)
            })
            .collect();
        Codebook { dim, chunk, centroids }
    }

    /// Code bytes per vector (one per chunk).
    pub fn codes_per_vector(&self) -> usize {
        self.centroids.len()
    }

    /// Bytes held by the centroids.
    pub fn memory_bytes(&self) -> usize {
        self.centroids.iter().map(|c| c.capacity() * 4).sum()
    }

    fn bounds(&self, c: usize) -> (usize, usize) {
        (c * self.chunk, ((c + 1) * self.chunk).min(self.dim))
    }

    /// The codes of `values` (a `dim`-vector) into `out` (`codes_per_vector` bytes).
    pub fn encode(&self, values: &[f32], out: &mut [u8]) {
        for (c, code) in out.iter_mut().enumerate() {
            let (start, end) = self.bounds(c);
            *code = nearest(&values[start..end], &self.centroids[c]).0 as u8;
        }
    }

    /// The look-up table of `query` for `distance`: per chunk and centroid, that chunk's share
    /// of the distance ("smaller is closer": `-dot` for Cosine/Dot, squared L2 for Euclid, L1
    /// for Manhattan; each is a sum over dimensions, so over chunks).
    pub fn table(&self, distance: Distance, query: &[f32]) -> Vec<f32> {
        let mut table = vec![0.0; self.centroids.len() * CENTROIDS];
        for (c, row) in table.chunks_exact_mut(CENTROIDS).enumerate() {
            let (start, end) = self.bounds(c);
            for (q, column) in query[start..end].iter().zip(self.centroids[c].chunks_exact(CENTROIDS)) {
                let entries = row.iter_mut().zip(column);
                match distance {
                    Distance::Cosine | Distance::Dot => entries.for_each(|(e, x)| *e -= q * x),
                    Distance::Euclid => entries.for_each(|(e, x)| *e += (q - x) * (q - x)),
                    Distance::Manhattan => entries.for_each(|(e, x)| *e += (q - x).abs()),
                }
            }
        }
        table
    }
}

/// The asymmetric distance of a vector's `codes` under a query's look-up `table`.
#[inline]
pub fn score(table: &[f32], codes: &[u8]) -> f32 {
    let mut lanes = [0.0f32; 4];
    let mut rows = table.chunks_exact(CENTROIDS).zip(codes);
    for (i, (row, code)) in rows.by_ref().enumerate() {
        lanes[i % 4] += row[*code as usize];
    }
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3])
}

#[cfg(test)]
fn squared_l2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// `CENTROIDS` centroids of `width` dimensions, one after another, as dimension-major columns.
fn transpose(centroids: &[f32], width: usize) -> Vec<f32> {
    let mut columns = vec![0.0; centroids.len()];
    for (k, centroid) in centroids.chunks_exact(width.max(1)).enumerate() {
        for (j, x) in centroid.iter().enumerate() {
            columns[j * CENTROIDS + k] = *x;
        }
    }
    columns
}

/// The index and squared distance of the centroid nearest to `point`, the centroids given as
/// dimension-major `columns` (this is the whole cost of training and encoding: 256 lanes wide).
fn nearest(point: &[f32], columns: &[f32]) -> (usize, f32) {
    let mut distances = [0.0f32; CENTROIDS];
    for (x, column) in point.iter().zip(columns.chunks_exact(CENTROIDS)) {
        distances.iter_mut().zip(column).for_each(|(d, c)| *d += (x - c) * (x - c));
    }
    let mut best = (0, f32::INFINITY);
    for (k, d) in distances.iter().enumerate() {
        if *d < best.1 {
            best = (k, *d);
        }
    }
    best
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// `CENTROIDS` centroids of `width`-dimensional `points` by Lloyd's k-means, started from
/// points drawn with `seed`. With fewer points than centroids every point is a centroid and
/// the rest repeat them (so any code decodes to a real point). A cluster left empty takes the
/// point farthest from its centroid.
fn kmeans(points: &[&[f32]], width: usize, seed: u64) -> Vec<f32> {
    let mut centroids = vec![0.0; CENTROIDS * width];
    if points.is_empty() || width == 0 {
        return centroids;
    }
    let mut state = seed | 1;
    let mut order: Vec<usize> = (0..points.len()).collect();
    for i in 0..order.len().min(CENTROIDS) {
        let j = i + (xorshift(&mut state) as usize) % (order.len() - i);
        order.swap(i, j);
    }
    for (k, centroid) in centroids.chunks_exact_mut(width).enumerate() {
        centroid.copy_from_slice(points[order[k % points.len()]]);
    }
    if points.len() <= CENTROIDS {
        return centroids;
    }
    let mut assigned = vec![usize::MAX; points.len()];
    for _ in 0..ITERATIONS {
        let columns = transpose(&centroids, width);
        let mut changed = false;
        let mut farthest = (0, -1.0f32);
        for (i, point) in points.iter().enumerate() {
            let (k, d) = nearest(point, &columns);
            changed |= assigned[i] != k;
            assigned[i] = k;
            if d > farthest.1 {
                farthest = (i, d);
            }
        }
        if !changed {
            break;
        }
        let mut sums = vec![0.0f64; CENTROIDS * width];
        let mut counts = vec![0usize; CENTROIDS];
        for (point, k) in points.iter().zip(&assigned) {
            counts[*k] += 1;
            sums[k * width..(k + 1) * width].iter_mut().zip(point.iter()).for_each(|(s, x)| *s += f64::from(*x));
        }
        for (k, centroid) in centroids.chunks_exact_mut(width).enumerate() {
            match counts[k] {
                0 => centroid.copy_from_slice(points[farthest.0]),
                n => centroid.iter_mut().zip(&sums[k * width..]).for_each(|(c, s)| *c = (s / n as f64) as f32),
            }
        }
    }
    centroids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_follow_the_compression_ratio() {
        let sample: Vec<f32> = (0..64 * 300).map(|i| (i % 97) as f32).collect();
        for (compression, chunks) in [(4, 64), (8, 32), (16, 16), (32, 8), (64, 4)] {
            assert_eq!(Codebook::train(64, compression, &sample).codes_per_vector(), chunks, "x{compression}");
        }
        // A last, shorter chunk; a chunk wider than the vector is the whole vector.
        assert_eq!(Codebook::train(10, 16, &sample[..100]).codes_per_vector(), 3);
        assert_eq!(Codebook::train(3, 64, &sample[..30]).codes_per_vector(), 1);
    }

    #[test]
    fn codes_pick_the_nearest_centroid_and_tables_sum_to_the_decoded_distance() {
        let sample: Vec<f32> = (0..8 * 1000).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
        let book = Codebook::train(8, 16, &sample);
        let v = &sample[8 * 17..8 * 18];
        let mut codes = [0u8; 2];
        book.encode(v, &mut codes);
        let decoded: Vec<f32> =
            (0..8).map(|d| book.centroids[d / 4][(d % 4) * CENTROIDS + codes[d / 4] as usize]).collect();
        for c in 0..2 {
            // No centroid of the chunk is nearer than the one its code names.
            let chunk = &v[c * 4..c * 4 + 4];
            let own = squared_l2(chunk, &decoded[c * 4..c * 4 + 4]);
            for k in 0..CENTROIDS {
                let other: Vec<f32> = (0..4).map(|j| book.centroids[c][j * CENTROIDS + k]).collect();
                assert!(own <= squared_l2(chunk, &other));
            }
        }
        let q = [0.5, -0.25, 1.0, 0.0, 0.3, 0.3, -0.7, 0.1];
        let dot: f32 = q.iter().zip(&decoded).map(|(a, b)| a * b).sum();
        assert!((score(&book.table(Distance::Dot, &q), &codes) + dot).abs() < 1e-5);
        let l2 = squared_l2(&q, &decoded);
        assert!((score(&book.table(Distance::Euclid, &q), &codes) - l2).abs() < 1e-5);
    }

    #[test]
    fn training_is_deterministic_and_handles_tiny_samples() {
        let sample: Vec<f32> = (0..16 * 700).map(|i| ((i * 31) % 257) as f32).collect();
        let (a, b) = (Codebook::train(16, 8, &sample), Codebook::train(16, 8, &sample));
        assert_eq!(a.centroids, b.centroids);
        let tiny = Codebook::train(4, 4, &[1.0, 2.0, 3.0, 4.0]);
        let mut codes = [9u8; 4];
        tiny.encode(&[1.0, 2.0, 3.0, 4.0], &mut codes);
        assert_eq!(score(&tiny.table(Distance::Euclid, &[1.0, 2.0, 3.0, 4.0]), &codes), 0.0);
        let empty = Codebook::train(4, 8, &[]);
        assert_eq!(empty.codes_per_vector(), 2);
    }
}
