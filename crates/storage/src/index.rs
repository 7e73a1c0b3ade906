//! Approximate nearest-neighbour indexes behind our own trait. The one implementation is an HNSW
//! graph from `usearch` (design record 005): keys are point-table slots, vectors are stored as
//! f32 (usearch defaults to bf16) and compared with our own SIMD kernels (`crate::kernels`,
//! which also give Manhattan an index), and every call is bounded by the number of thread
//! contexts reserved in the index (usearch fails a call when none is free).

use crate::error::{Result, StorageError};
use crate::graph::GraphNode;
use parking_lot::{Condvar, Mutex, RwLock};
use quiver_types::config::Distance;
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

/// How the index stores its copy of the vectors (graph distances only: search results are
/// always rescored from the table's f32 vectors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IndexScalar {
    /// Exact f32 (the default).
    #[default]
    F32,
    /// bfloat16: half the memory; on CPUs with AVX-512 BF16 the distance kernel is ~3× faster.
    Bf16,
    /// IEEE half precision (the copies of `float16` and `uint8` columns: exact for both).
    F16,
}

/// Graph parameters of one index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswParams {
    pub dim: usize,
    pub m: usize,
    pub ef_construct: usize,
    pub scalar: IndexScalar,
    /// Normalise vectors and queries before use (`uint8` Cosine columns store unnormalised
    /// whole numbers; the graph navigates by the angle between them).
    pub normalize: bool,
}

/// An ANN index over `u64` keys. Distances are "smaller is better"; callers rescore exactly.
pub trait VectorIndex: Send + Sync {
    /// Inserts `vector` under `key`, replacing what the key held.
    fn upsert(&self, key: u64, vector: &[f32]) -> Result<()>;
    /// Removes `key` if present.
    fn remove(&self, key: u64) -> Result<()>;
    /// The keys nearest to `query`, best first, exploring with a beam of `ef`: at least
    /// `count` when that many pass, and all of the beam's `max(count, ef)` candidates, so the
    /// caller can rescore them exactly. Only keys for which `allow` returns true are returned.
    fn search(
        &self,
        query: &[f32],
        count: usize,
        ef: usize,
        allow: Option<&(dyn Fn(u64) -> bool + Sync)>,
    ) -> Result<Vec<u64>>;
    /// Number of keys held.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Bytes of memory held (vectors and graph).
    fn memory_bytes(&self) -> usize;
    /// The graph's links for the nodes under `keys` (for a `FrozenGraph`), if the
    /// implementation has a graph to give.
    fn export_graph(&self, keys: &[u32]) -> Option<Vec<GraphNode>> {
        let _ = keys;
        None
    }
    /// Writes the whole index (vectors and graph) to `path`, for `HnswIndex::load` (only this
    /// call may run on the index meanwhile: the caller is the thread that changes it).
    fn save(&self, path: &std::path::Path) -> Result<()> {
        let _ = path;
        Err(StorageError::Index("this index cannot be saved".into()))
    }
}

/// Installs our f32 kernel as the index's metric ("smaller is closer", as usearch's own:
/// `1 - dot` for inner product, squared L2, L1).
fn install_metric(index: &mut Index, distance: Distance, dim: usize) {
    let kernels = crate::kernels::best();
    let metric = match distance {
        Distance::Cosine | Distance::Dot => crate::kernels::raw_metric(dim, kernels.dot, |d| 1.0 - d),
        Distance::Euclid => crate::kernels::raw_metric(dim, kernels.l2sq, |d| d),
        Distance::Manhattan => crate::kernels::raw_metric(dim, kernels.l1, |d| d),
    };
    index.change_metric::<f32>(metric);
}

/// A counting semaphore: usearch holds `permits` thread contexts; each call takes one.
struct Permits {
    free: Mutex<usize>,
    cv: Condvar,
}

impl Permits {
    fn acquire(&self) -> PermitGuard<'_> {
        let mut free = self.free.lock();
        while *free == 0 {
            self.cv.wait(&mut free);
        }
        *free -= 1;
        PermitGuard(self)
    }
}

struct PermitGuard<'a>(&'a Permits);

impl Drop for PermitGuard<'_> {
    fn drop(&mut self) {
        *self.0.free.lock() += 1;
        self.0.cv.notify_one();
    }
}

/// HNSW over usearch.
pub struct HnswIndex {
    /// Write-locked only to grow the capacity (usearch's `reserve` is not safe beside searches).
    inner: RwLock<Index>,
    permits: Permits,
    threads: usize,
    normalize: bool,
    /// The element type the index really stores (Manhattan forces f32).
    scalar: IndexScalar,
}

fn usearch_err(context: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::Index(format!("{context}: {e}"))
}

impl HnswIndex {
    /// An empty index for `distance` (Cosine expects normalised vectors, so it uses inner product).
    pub fn new(distance: Distance, params: HnswParams, capacity: usize) -> Result<HnswIndex> {
        let metric = match distance {
            Distance::Cosine | Distance::Dot => MetricKind::IP,
            Distance::Euclid => MetricKind::L2sq,
            // No built-in L1: the metric installed below is ours, so the kind is nominal.
            Distance::Manhattan => MetricKind::L2sq,
        };
        // Our L1 kernel reads f32: a Manhattan index keeps f32 vectors whatever was asked.
        let scalar = match distance {
            Distance::Manhattan => IndexScalar::F32,
            Distance::Cosine | Distance::Dot | Distance::Euclid => params.scalar,
        };
        let options = IndexOptions {
            dimensions: params.dim,
            metric,
            quantization: match scalar {
                IndexScalar::F32 => ScalarKind::F32,
                IndexScalar::Bf16 => ScalarKind::BF16,
                IndexScalar::F16 => ScalarKind::F16,
            },
            connectivity: params.m.max(2),
            expansion_add: params.ef_construct.max(4),
            // The beam is chosen per query by asking for max(ef, k) results.
            expansion_search: 1,
            multi: false,
        };
        let mut index = Index::new(&options).map_err(|e| usearch_err("create index", e))?;
        match scalar {
            IndexScalar::F32 => install_metric(&mut index, distance, params.dim),
            IndexScalar::Bf16 | IndexScalar::F16 => {}
        }
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2) * 8;
        index.reserve_capacity_and_threads(capacity.max(64), threads).map_err(|e| usearch_err("reserve", e))?;
        Ok(HnswIndex {
            inner: RwLock::new(index),
            permits: Permits { free: Mutex::new(threads), cv: Condvar::new() },
            threads,
            normalize: params.normalize,
            scalar,
        })
    }

    /// An index read from `path` (written by `VectorIndex::save` with the same `distance` and
    /// `params`; the caller has checked the file's checksum: usearch trusts what it reads),
    /// with room for `capacity` keys.
    pub fn load(distance: Distance, params: HnswParams, path: &std::path::Path, capacity: usize) -> Result<HnswIndex> {
        let loaded = HnswIndex::new(distance, params, 64)?;
        {
            let mut index = loaded.inner.write();
            let path_str = path.to_str().ok_or_else(|| StorageError::Index(format!("path {path:?} is not UTF-8")))?;
            index.load(path_str).map_err(|e| usearch_err("load", e))?;
            if index.dimensions() != params.dim {
                return Err(StorageError::Corrupt(format!("graph file of {} dimensions", index.dimensions())));
            }
            // Loading puts back usearch's built-in metric and the saved settings.
            match loaded.scalar {
                IndexScalar::F32 => install_metric(&mut index, distance, params.dim),
                IndexScalar::Bf16 | IndexScalar::F16 => {}
            }
            index.change_expansion_search(1);
            index.change_expansion_add(params.ef_construct.max(4));
            let room = capacity.max(index.size() + loaded.threads).max(64);
            index.reserve_capacity_and_threads(room, loaded.threads).map_err(|e| usearch_err("reserve", e))?;
        }
        Ok(loaded)
    }

    /// `vector` as the index sees it (normalised when asked).
    fn prepared<'v>(&self, vector: &'v [f32]) -> std::borrow::Cow<'v, [f32]> {
        match self.normalize {
            false => std::borrow::Cow::Borrowed(vector),
            true => {
                let mut copy = vector.to_vec();
                crate::distance::normalize(&mut copy);
                std::borrow::Cow::Owned(copy)
            }
        }
    }

    /// Whether an `add` made now fits: every call in flight holds one of `threads` permits, so
    /// `threads` free places cover all the adds that may run beside this one.
    fn has_room(&self, index: &Index) -> bool {
        index.size() + self.threads <= index.capacity()
    }

    /// Grows the capacity (under the write lock: usearch's `reserve` is not safe beside calls).
    fn grow(&self) -> Result<()> {
        let index = self.inner.write();
        if !self.has_room(&index) {
            let capacity = (index.capacity() * 2).max(index.size() + self.threads).max(1024);
            index.reserve_capacity_and_threads(capacity, self.threads).map_err(|e| usearch_err("reserve", e))?;
        }
        Ok(())
    }
}

impl VectorIndex for HnswIndex {
    fn upsert(&self, key: u64, vector: &[f32]) -> Result<()> {
        let vector = self.prepared(vector);
        loop {
            {
                let index = self.inner.read();
                let _permit = self.permits.acquire();
                // Checked under the permit: usearch fails an `add` past its capacity.
                if self.has_room(&index) {
                    if index.contains(key) {
                        index.remove(key).map_err(|e| usearch_err("remove", e))?;
                    }
                    return index.add(key, &vector).map_err(|e| usearch_err("add", e));
                }
            }
            self.grow()?;
        }
    }

    fn remove(&self, key: u64) -> Result<()> {
        let index = self.inner.read();
        let _permit = self.permits.acquire();
        if index.contains(key) {
            index.remove(key).map_err(|e| usearch_err("remove", e))?;
        }
        Ok(())
    }

    fn search(
        &self,
        query: &[f32],
        count: usize,
        ef: usize,
        allow: Option<&(dyn Fn(u64) -> bool + Sync)>,
    ) -> Result<Vec<u64>> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let query = self.prepared(query);
        let query: &[f32] = &query;
        let index = self.inner.read();
        let _permit = self.permits.acquire();
        // No more than the index holds (`count` and `ef` come from clients).
        let wanted = count.max(ef).min(index.size().max(1));
        let matches = match allow {
            None => index.search(query, wanted),
            // The predicate runs inside C++: a panic must not unwind through it.
            Some(allow) => index.filtered_search(query, wanted, |key| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| allow(key))).unwrap_or(false)
            }),
        }
        .map_err(|e| usearch_err("search", e))?;
        Ok(matches.keys)
    }

    fn len(&self) -> usize {
        self.inner.read().size()
    }

    fn memory_bytes(&self) -> usize {
        self.inner.read().memory_usage()
    }

    fn export_graph(&self, keys: &[u32]) -> Option<Vec<GraphNode>> {
        let index = self.inner.read();
        let _permit = self.permits.acquire();
        let nodes = keys
            .iter()
            .filter(|key| index.contains(u64::from(**key)))
            .map(|key| {
                let top = index.level_of_key(u64::from(*key));
                let levels = (0..=top)
                    .map(|level| {
                        index.neighbors(u64::from(*key), level).filter_map(|n| u32::try_from(n).ok()).collect()
                    })
                    .collect();
                GraphNode { slot: *key, levels }
            })
            .collect();
        Some(nodes)
    }

    fn save(&self, path: &std::path::Path) -> Result<()> {
        let path_str = path.to_str().ok_or_else(|| StorageError::Index(format!("path {path:?} is not UTF-8")))?;
        let index = self.inner.read();
        let _permit = self.permits.acquire();
        index.save(path_str).map_err(|e| usearch_err("save", e))
    }
}

/// Adds (or removes) the batch's vectors with `threads` threads; returns what was done.
pub fn add_batch(
    index: &dyn VectorIndex,
    items: &[(u32, u64, Option<Vec<f32>>)],
    threads: usize,
) -> crate::Result<Vec<(u32, u64, bool)>> {
    let one = |item: &(u32, u64, Option<Vec<f32>>)| -> crate::Result<(u32, u64, bool)> {
        let (slot, generation, vector) = item;
        match vector {
            Some(v) => index.upsert(u64::from(*slot), v)?,
            None => index.remove(u64::from(*slot))?,
        }
        Ok((*slot, *generation, vector.is_some()))
    };
    if threads <= 1 || items.len() < 64 {
        return items.iter().map(one).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> =
            items.chunks(chunk).map(|part| scope.spawn(move || part.iter().map(one).collect::<Vec<_>>())).collect();
        let mut out = Vec::with_capacity(items.len());
        for handle in handles {
            let part = handle.join().map_err(|_| crate::StorageError::Index("indexing thread panicked".into()))?;
            out.extend(part.into_iter().collect::<crate::Result<Vec<_>>>()?);
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors(n: usize, dim: usize) -> Vec<Vec<f32>> {
        let mut state = 0x9E3779B97F4A7C15u64;
        (0..n)
            .map(|_| {
                let mut v: Vec<f32> = (0..dim)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        (state % 2000) as f32 / 1000.0 - 1.0
                    })
                    .collect();
                crate::distance::normalize(&mut v);
                v
            })
            .collect()
    }

    #[test]
    fn finds_itself_replaces_and_removes() {
        let data = vectors(500, 16);
        let index = HnswIndex::new(
            Distance::Cosine,
            HnswParams { dim: 16, m: 16, ef_construct: 100, scalar: IndexScalar::F32, normalize: false },
            10,
        )
        .unwrap();
        for (i, v) in data.iter().enumerate() {
            index.upsert(i as u64, v).unwrap();
        }
        assert_eq!(index.len(), 500);
        assert_eq!(index.search(&data[42], 1, 1, None).unwrap(), vec![42]);
        assert_eq!(index.search(&data[42], 1, 64, None).unwrap().len(), 64);
        // Key 42 moves to where 7 is; 7 is removed.
        index.upsert(42, &data[7]).unwrap();
        index.remove(7).unwrap();
        assert_eq!(index.search(&data[7], 1, 64, None).unwrap()[0], 42);
        let only_even = |k: u64| k.is_multiple_of(2);
        let found = index.search(&data[3], 10, 10, Some(&only_even)).unwrap();
        assert_eq!(found.len(), 10);
        assert!(found.iter().all(|k| k.is_multiple_of(2)));
        let panicking = |_k: u64| -> bool { panic!("filter bug") };
        assert!(index.search(&data[3], 10, 64, Some(&panicking)).unwrap().is_empty());
        assert!(index.memory_bytes() > 500 * 16 * 4);
    }

    #[test]
    fn euclid_index_and_many_threads() {
        let data = vectors(300, 8);
        let index = HnswIndex::new(
            Distance::Euclid,
            HnswParams { dim: 8, m: 8, ef_construct: 64, scalar: IndexScalar::Bf16, normalize: false },
            1,
        )
        .unwrap();
        std::thread::scope(|s| {
            for t in 0..4 {
                let (index, data) = (&index, &data);
                s.spawn(move || {
                    for i in (t..data.len()).step_by(4) {
                        index.upsert(i as u64, &data[i]).unwrap();
                        let _ = index.search(&data[i], 3, 16, None).unwrap();
                    }
                });
            }
        });
        assert_eq!(index.len(), 300);
        assert_eq!(index.search(&data[299], 1, 32, None).unwrap()[0], 299);
    }

    #[test]
    fn manhattan_index_ranks_by_l1_even_when_bf16_is_asked() {
        let data = vectors(400, 12);
        let params = HnswParams { dim: 12, m: 8, ef_construct: 64, scalar: IndexScalar::Bf16, normalize: false };
        let index = HnswIndex::new(Distance::Manhattan, params, 1).unwrap();
        for (i, v) in data.iter().enumerate() {
            index.upsert(i as u64, v).unwrap();
        }
        let query = &data[123];
        let mut truth: Vec<(f32, u64)> =
            data.iter().enumerate().map(|(i, v)| (crate::distance::manhattan(query, v), i as u64)).collect();
        truth.sort_by(|a, b| a.0.total_cmp(&b.0));
        let found = index.search(query, 5, 200, None).unwrap();
        assert_eq!(found[0], 123);
        let hits = found.iter().take(5).filter(|k| truth[..5].iter().any(|(_, t)| t == *k)).count();
        assert!(hits >= 4, "L1 top-5 {found:?} vs {:?}", &truth[..5]);
    }
}
