//! Product quantization (design record 028): a vector is cut into chunks of `compression / 4`
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
    /// Per chunk, `CENTROIDS` centroids of that chunk's width, one after another.
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
                kmeans(&points, end - start, SEED ^ c as u64)
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
            *code = nearest(&values[start..end], &self.centroids[c], end - start).0 as u8;
        }
    }

    /// The look-up table of `query` for `distance`: per chunk and centroid, that chunk's share
    /// of the distance ("smaller is closer": `-dot` for Cosine/Dot, squared L2 for Euclid, L1
    /// for Manhattan; each is a sum over dimensions, so over chunks).
    pub fn table(&self, distance: Distance, query: &[f32]) -> Vec<f32> {
        let mut table = vec![0.0; self.centroids.len() * CENTROIDS];
        for (c, row) in table.chunks_exact_mut(CENTROIDS).enumerate() {
            let (start, end) = self.bounds(c);
            let q = &query[start..end];
            for (entry, centroid) in row.iter_mut().zip(self.centroids[c].chunks_exact(end - start)) {
                *entry = match distance {
                    Distance::Cosine | Distance::Dot => -q.iter().zip(centroid).map(|(a, b)| a * b).sum::<f32>(),
                    Distance::Euclid => squared_l2(q, centroid),
                    Distance::Manhattan => q.iter().zip(centroid).map(|(a, b)| (a - b).abs()).sum(),
                };
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

fn squared_l2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// The index and squared distance of the centroid (of `width` dimensions) nearest to `point`.
/// (Plain index loops: this is the whole cost of training and encoding.)
fn nearest(point: &[f32], centroids: &[f32], width: usize) -> (usize, f32) {
    let width = width.max(1);
    let point = &point[..width];
    let mut best = (0, f32::INFINITY);
    for i in 0..centroids.len() / width {
        let centroid = &centroids[i * width..(i + 1) * width];
        let mut d = 0.0;
        for j in 0..width {
            let e = point[j] - centroid[j];
            d += e * e;
        }
        if d < best.1 {
            best = (i, d);
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
        let mut changed = false;
        let mut farthest = (0, -1.0f32);
        for (i, point) in points.iter().enumerate() {
            let (k, d) = nearest(point, &centroids, width);
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
            (0..2).flat_map(|c| book.centroids[c][codes[c] as usize * 4..codes[c] as usize * 4 + 4].to_vec()).collect();
        for c in 0..2 {
            let own = nearest(&v[c * 4..c * 4 + 4], &book.centroids[c], 4);
            assert_eq!(own.0, codes[c] as usize);
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
