//! Approximate nearest-neighbour indexes behind our own trait. The one implementation is an HNSW
//! graph from `usearch` (design record 005): keys are point-table slots, vectors are compared
//! with our own SIMD kernels (`crate::kernels`, which also give Manhattan an index), and every
//! call is bounded by the number of thread contexts reserved in the index (usearch fails a call
//! when none is free).
//!
//! An index over an f32 column keeps no copy of the vectors (`IndexScalar::Table`, design record
//! 023): usearch stores an 8-byte record naming each key's slot, and our metric reads the
//! vectors from the column, which every call borrows (so it cannot move or change meanwhile).
//! Other columns' indexes keep their own copy (f16 for `float16`/`uint8` columns).

use crate::error::{Result, StorageError};
use crate::graph::GraphNode;
use crate::index_gate::{Access, Gate};
use crate::index_view::GraphMap;
pub use crate::index_view::SavedFile;
use parking_lot::{Mutex, RwLock, RwLockUpgradableReadGuard};
use quiver_types::config::Distance;
use std::sync::atomic::{AtomicU64, Ordering};
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

/// How the index stores its copy of the vectors (graph distances only: search results are
/// always rescored from the table's f32 vectors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IndexScalar {
    /// No copy (the default): each key is a slot of an f32 column whose vectors every call
    /// borrows; usearch holds an 8-byte record per key (design record 023).
    #[default]
    Table,
    /// An exact f32 copy.
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

impl HnswParams {
    /// The degree and construction beam a graph built with these parameters has (as
    /// [`VectorIndex::built_with`] reports them).
    pub fn graph_shape(&self) -> (usize, usize) {
        (self.m.max(2), self.ef_construct.max(4))
    }
}

/// An ANN index over `u64` keys. Distances are "smaller is better"; callers rescore exactly.
pub trait VectorIndex: Send + Sync {
    /// Inserts `vector` under `key`, replacing what the key held. `column` is the f32 column the
    /// index reads when it keeps no copy (`reads_column`): then `key` is a slot of it and its
    /// vector is read from there; other indexes ignore it (pass `&[]`).
    fn upsert(&self, key: u64, vector: &[f32], column: &[f32]) -> Result<()>;
    /// Removes `key` if present.
    fn remove(&self, key: u64) -> Result<()>;
    /// The keys nearest to `query`, best first, exploring with a beam of `ef`: at least
    /// `count` when that many pass, and all of the beam's `max(count, ef)` candidates, so the
    /// caller can rescore them exactly. Only keys for which `allow` returns true are returned.
    /// `column`: as for `upsert`.
    fn search(
        &self,
        query: &[f32],
        count: usize,
        ef: usize,
        allow: Option<&(dyn Fn(u64) -> bool + Sync)>,
        column: &[f32],
    ) -> Result<Vec<u64>>;
    /// Whether the index reads its keys' vectors from the column each call borrows (it keeps
    /// no copy of them): its callers must then hold the table while they call it.
    fn reads_column(&self) -> bool {
        false
    }
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
    /// The graph's degree and construction beam (`m`, `ef_construct` as usearch holds them), if
    /// the implementation builds a graph: an index built with others than the configured ones
    /// is rebuilt.
    fn built_with(&self) -> Option<(usize, usize)> {
        None
    }
    /// Writes the whole index (its vectors or slot records, and graph) to `path`, for
    /// `HnswIndex::load` (only this call may run on the index meanwhile: the caller is the
    /// thread that changes it).
    fn save(&self, path: &std::path::Path) -> Result<()> {
        let _ = path;
        Err(StorageError::Index("this index cannot be saved".into()))
    }
    /// A count of the changes made to the index: taken before a `save`, and given back to
    /// `mark_saved` with the file it wrote.
    fn change_stamp(&self) -> u64 {
        0
    }
    /// Records that `file` holds the index as it was at `stamp` (it is current until the next
    /// change): the file `release_graph` may view.
    fn mark_saved(&self, file: SavedFile, stamp: u64) {
        let _ = (file, stamp);
    }
    /// The saved file that holds the index as it is now (no change since `mark_saved`).
    fn current_file(&self) -> Option<SavedFile> {
        None
    }
    /// Releases the graph held in anonymous memory for a read-only view of the saved file that
    /// holds it unchanged (design record 041); the next change loads it back from that view.
    /// Returns whether the index is viewed now (false: no current file, or nothing to release).
    fn release_graph(&self) -> Result<bool> {
        Ok(false)
    }
    /// Whether the graph is a read-only view of its saved file (`release_graph`).
    fn graph_viewed(&self) -> bool {
        false
    }
}

/// Installs our f32 kernel as the index's metric ("smaller is closer", as usearch's own:
/// `1 - dot` for inner product, squared L2, L1): on f32 copies, or on the slot records of a
/// `Table` index; half-precision copies keep usearch's own kernels.
fn install_metric(index: &mut Index, distance: Distance, dim: usize, scalar: IndexScalar) {
    let kernels = crate::kernels::best();
    let (kernel, finish): (crate::kernels::Kernel, fn(f32) -> f32) = match distance {
        Distance::Cosine | Distance::Dot => (kernels.dot, |d| 1.0 - d),
        Distance::Euclid => (kernels.l2sq, |d| d),
        Distance::Manhattan => (kernels.l1, |d| d),
    };
    match scalar {
        IndexScalar::F32 => index.change_metric::<f32>(crate::kernels::raw_metric(dim, kernel, finish)),
        IndexScalar::Table => index.change_metric::<f64>(crate::kernels::slot_metric(dim, kernel, finish)),
        IndexScalar::Bf16 | IndexScalar::F16 => {}
    }
}

/// Scalars usearch stores per key: the vector, or one f64 slot record.
fn stored_dims(scalar: IndexScalar, dim: usize) -> usize {
    match scalar {
        IndexScalar::Table => 1,
        IndexScalar::F32 | IndexScalar::Bf16 | IndexScalar::F16 => dim,
    }
}

/// usearch's settings for an index of `distance` with `params` storing `scalar`.
fn index_options(distance: Distance, params: &HnswParams, scalar: IndexScalar) -> IndexOptions {
    IndexOptions {
        dimensions: stored_dims(scalar, params.dim),
        metric: match distance {
            Distance::Cosine | Distance::Dot => MetricKind::IP,
            Distance::Euclid => MetricKind::L2sq,
            // No built-in L1: the metric installed is ours, so the kind is nominal.
            Distance::Manhattan => MetricKind::L2sq,
        },
        quantization: match scalar {
            IndexScalar::Table => ScalarKind::F64,
            IndexScalar::F32 => ScalarKind::F32,
            IndexScalar::Bf16 => ScalarKind::BF16,
            IndexScalar::F16 => ScalarKind::F16,
        },
        connectivity: params.graph_shape().0,
        expansion_add: params.graph_shape().1,
        // The beam is chosen per query by asking for max(ef, k) results.
        expansion_search: 1,
        multi: false,
    }
}

/// usearch's index, and the mapped file it views when its graph is released (design record
/// 041). The index is declared first: it is dropped before the map it may point into.
struct Held {
    index: Index,
    view: Option<GraphMap>,
}

impl std::ops::Deref for Held {
    type Target = Index;
    fn deref(&self) -> &Index {
        &self.index
    }
}

impl std::ops::DerefMut for Held {
    fn deref_mut(&mut self) -> &mut Index {
        &mut self.index
    }
}

/// HNSW over usearch.
pub struct HnswIndex {
    /// Write-locked only to grow the capacity (usearch's `reserve` is not safe beside searches)
    /// and to swap a view of the saved graph in or out.
    inner: RwLock<Held>,
    distance: Distance,
    params: HnswParams,
    /// Changes made (counted before each is made, under the read lock).
    changes: AtomicU64,
    /// The saved file that holds the index, and the change count it holds it at.
    saved: Mutex<Option<(SavedFile, u64)>>,
    /// Thread contexts, and searches kept apart from changes (`index_gate`).
    gate: Gate,
    threads: usize,
    normalize: bool,
    /// The element type the index really stores (Manhattan forces f32 on a copy).
    scalar: IndexScalar,
    /// Dimensions of the vectors (of the column's, for a `Table` index).
    dim: usize,
}

fn usearch_err(context: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::Index(format!("{context}: {e}"))
}

impl HnswIndex {
    /// An empty index for `distance` (Cosine expects normalised vectors, so it uses inner product).
    pub fn new(distance: Distance, params: HnswParams, capacity: usize) -> Result<HnswIndex> {
        // Our L1 kernel reads f32: a Manhattan index keeps f32 vectors whatever copy was asked.
        let scalar = match (distance, params.scalar) {
            (_, IndexScalar::Table) => IndexScalar::Table,
            (Distance::Manhattan, _) => IndexScalar::F32,
            (Distance::Cosine | Distance::Dot | Distance::Euclid, scalar) => scalar,
        };
        if scalar == IndexScalar::Table && params.normalize {
            return Err(StorageError::Index("an index without a copy cannot normalise vectors".into()));
        }
        let mut index =
            Index::new(&index_options(distance, &params, scalar)).map_err(|e| usearch_err("create index", e))?;
        install_metric(&mut index, distance, params.dim, scalar);
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2) * 8;
        index.reserve_capacity_and_threads(capacity.max(64), threads).map_err(|e| usearch_err("reserve", e))?;
        Ok(HnswIndex {
            inner: RwLock::new(Held { index, view: None }),
            distance,
            params,
            changes: AtomicU64::new(0),
            saved: Mutex::new(None),
            gate: Gate::new(threads),
            threads,
            normalize: params.normalize,
            scalar,
            dim: params.dim,
        })
    }

    /// An index read from `path` (written by `VectorIndex::save` with the same `distance` and
    /// `params`; the caller has checked the file's checksum: usearch trusts what it reads),
    /// with room for `capacity` keys.
    pub fn load(distance: Distance, params: HnswParams, path: &std::path::Path, capacity: usize) -> Result<HnswIndex> {
        let loaded = HnswIndex::new(distance, params, 64)?;
        {
            let mut held = loaded.inner.write();
            let path_str = path.to_str().ok_or_else(|| StorageError::Index(format!("path {path:?} is not UTF-8")))?;
            held.index.load(path_str).map_err(|e| usearch_err("load", e))?;
            loaded.settle(&mut held.index, capacity)?;
        }
        Ok(loaded)
    }

    /// An empty usearch index of this one's settings.
    fn fresh(&self) -> Result<Index> {
        Index::new(&index_options(self.distance, &self.params, self.scalar)).map_err(|e| usearch_err("create index", e))
    }

    /// Readies an index usearch has just loaded or viewed from a file: a file of another
    /// layout (a copy where slot records are expected, or the other way round) is refused (the
    /// caller rebuilds the index); our metric and beams are put back (the file brings usearch's
    /// own); room is made for `capacity` keys and the thread contexts.
    fn settle(&self, index: &mut Index, capacity: usize) -> Result<()> {
        let expected = stored_dims(self.scalar, self.dim);
        if index.dimensions() != expected {
            return Err(StorageError::Corrupt(format!(
                "graph file of {} dimensions, {expected} expected",
                index.dimensions()
            )));
        }
        install_metric(index, self.distance, self.dim, self.scalar);
        index.change_expansion_search(1);
        index.change_expansion_add(self.params.ef_construct.max(4));
        let room = capacity.max(index.size() + self.threads).max(64);
        index.reserve_capacity_and_threads(room, self.threads).map_err(|e| usearch_err("reserve", e))
    }

    /// Loads the graph back from the file it views (nothing to do when it holds its own), with
    /// room to grow by an eighth: the next change needs it in memory.
    fn load_back(&self) -> Result<()> {
        let held = self.inner.upgradable_read();
        let Some(map) = held.view.as_ref() else { return Ok(()) };
        let mut index = self.fresh()?;
        index.load_from_buffer(map.bytes()).map_err(|e| usearch_err("load back", e))?;
        let size = index.size();
        self.settle(&mut index, size + size / 8)?;
        // Searches go on on the view until here.
        *RwLockUpgradableReadGuard::upgrade(held) = Held { index, view: None };
        tracing::debug!(keys = size, "HNSW graph loaded back from its saved file");
        Ok(())
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

    /// Replaces what `key` held by what `add` adds, loading the graph back from its file when
    /// it is a view and growing the capacity first if needed.
    fn replace<E: std::fmt::Display>(
        &self,
        key: u64,
        add: impl Fn(&Index) -> std::result::Result<(), E>,
    ) -> Result<()> {
        loop {
            let viewed = {
                let held = self.inner.read();
                let viewed = held.view.is_some();
                let _pass = self.gate.enter(Access::Change);
                // Checked under the permit: usearch fails an `add` past its capacity.
                if !viewed && self.has_room(&held) {
                    // Counted before the change: a view is taken only of a file saved at the count.
                    self.changes.fetch_add(1, Ordering::SeqCst);
                    if held.contains(key) {
                        held.remove(key).map_err(|e| usearch_err("remove", e))?;
                    }
                    return add(&held).map_err(|e| usearch_err("add", e));
                }
                viewed
            };
            match viewed {
                true => self.load_back()?,
                false => self.grow()?,
            }
        }
    }

    /// The beam's keys (as `VectorIndex::search`) for `query` as usearch takes it: a vector, or
    /// the query record of a `Table` index.
    fn search_stored<T: usearch::VectorType>(
        &self,
        index: &Index,
        query: &[T],
        wanted: usize,
        allow: Option<&(dyn Fn(u64) -> bool + Sync)>,
    ) -> Result<Vec<u64>> {
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
}

impl VectorIndex for HnswIndex {
    fn upsert(&self, key: u64, vector: &[f32], column: &[f32]) -> Result<()> {
        if self.scalar != IndexScalar::Table {
            let vector = self.prepared(vector);
            return self.replace(key, |index| index.add(key, &vector));
        }
        // The record names the slot; its vector is read from `column` during the add.
        let slot = u32::try_from(key).map_err(|_| StorageError::Index(format!("key {key} is not a slot")))?;
        if (slot as usize + 1) * self.dim > column.len() {
            return Err(StorageError::Index(format!("slot {slot} is past the column")));
        }
        let record = [crate::kernels::slot_record(slot)];
        self.replace(key, |index| crate::kernels::with_slot_vectors(column, &[], || index.add(key, &record)))
    }

    fn reads_column(&self) -> bool {
        self.scalar == IndexScalar::Table
    }

    fn built_with(&self) -> Option<(usize, usize)> {
        let index = self.inner.read();
        Some((index.connectivity(), index.expansion_add()))
    }

    fn remove(&self, key: u64) -> Result<()> {
        loop {
            {
                let held = self.inner.read();
                if !held.contains(key) {
                    return Ok(());
                }
                if held.view.is_none() {
                    let _pass = self.gate.enter(Access::Change);
                    self.changes.fetch_add(1, Ordering::SeqCst);
                    return held.remove(key).map(|_| ()).map_err(|e| usearch_err("remove", e));
                }
            }
            self.load_back()?;
        }
    }

    fn search(
        &self,
        query: &[f32],
        count: usize,
        ef: usize,
        allow: Option<&(dyn Fn(u64) -> bool + Sync)>,
        column: &[f32],
    ) -> Result<Vec<u64>> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let index = self.inner.read();
        let _pass = self.gate.enter(Access::Read);
        // No more than the index holds (`count` and `ef` come from clients).
        let wanted = count.max(ef).min(index.size().max(1));
        match self.scalar {
            IndexScalar::Table => {
                if query.len() != self.dim {
                    return Err(StorageError::Index(format!("query of {} dimensions", query.len())));
                }
                let record = [crate::kernels::query_record()];
                crate::kernels::with_slot_vectors(column, query, || self.search_stored(&index, &record, wanted, allow))
            }
            IndexScalar::F32 | IndexScalar::Bf16 | IndexScalar::F16 => {
                self.search_stored(&index, &self.prepared(query), wanted, allow)
            }
        }
    }

    fn len(&self) -> usize {
        self.inner.read().size()
    }

    fn memory_bytes(&self) -> usize {
        self.inner.read().memory_usage()
    }

    fn export_graph(&self, keys: &[u32]) -> Option<Vec<GraphNode>> {
        let index = self.inner.read();
        let _pass = self.gate.enter(Access::Read);
        // Each neighbour list is copied in one call (`drain_into`), not one call per key.
        let mut drained: Vec<u64> = Vec::new();
        let nodes = keys
            .iter()
            .filter(|key| index.contains(u64::from(**key)))
            .map(|key| {
                let top = index.level_of_key(u64::from(*key));
                let levels = (0..=top)
                    .map(|level| {
                        let mut neighbours = index.neighbors(u64::from(*key), level);
                        drained.resize(neighbours.total(), 0);
                        let n = neighbours.drain_into(&mut drained);
                        drained[..n].iter().filter_map(|n| u32::try_from(*n).ok()).collect()
                    })
                    .collect();
                GraphNode { slot: *key, levels }
            })
            .collect();
        Some(nodes)
    }

    fn save(&self, path: &std::path::Path) -> Result<()> {
        let path_str = path.to_str().ok_or_else(|| StorageError::Index(format!("path {path:?} is not UTF-8")))?;
        let held = self.inner.read();
        let _pass = self.gate.enter(Access::Read);
        match &held.view {
            // The viewed file holds the index as it is, byte for byte.
            Some(map) => std::fs::write(path, map.bytes()).map_err(|e| StorageError::io("write graph file", path, e)),
            None => held.save(path_str).map_err(|e| usearch_err("save", e)),
        }
    }

    fn change_stamp(&self) -> u64 {
        self.changes.load(Ordering::SeqCst)
    }

    fn mark_saved(&self, file: SavedFile, stamp: u64) {
        *self.saved.lock() = Some((file, stamp));
    }

    fn current_file(&self) -> Option<SavedFile> {
        let saved = self.saved.lock();
        saved.as_ref().filter(|(_, stamp)| *stamp == self.changes.load(Ordering::SeqCst)).map(|(file, _)| file.clone())
    }

    fn release_graph(&self) -> Result<bool> {
        let held = self.inner.upgradable_read();
        if held.view.is_some() {
            return Ok(true);
        }
        let Some((file, stamp)) = self.saved.lock().clone() else { return Ok(false) };
        if stamp != self.changes.load(Ordering::SeqCst) {
            return Ok(false);
        }
        let viewed = || -> Result<(Index, GraphMap)> {
            let map = GraphMap::open(&file)?;
            let mut index = self.fresh()?;
            map.view_into(&index)?;
            self.settle(&mut index, 0)?;
            if index.size() != held.size() {
                return Err(StorageError::Corrupt(format!(
                    "graph file {} holds {} keys, the index {}",
                    file.path.display(),
                    index.size(),
                    held.size()
                )));
            }
            Ok((index, map))
        };
        // A file that fails is not tried again: the next save gives another.
        let (index, map) = viewed().inspect_err(|_| *self.saved.lock() = None)?;
        let mut held = RwLockUpgradableReadGuard::upgrade(held);
        // Changes are counted under the read lock, before they are made: none is under way now.
        if stamp != self.changes.load(Ordering::SeqCst) {
            return Ok(false);
        }
        *held = Held { index, view: Some(map) };
        Ok(true)
    }

    fn graph_viewed(&self) -> bool {
        self.inner.read().view.is_some()
    }
}

/// Adds (or removes) the batch's vectors with `threads` threads; returns what was done.
/// `column`: the column an index that `reads_column` reads (see `VectorIndex::upsert`).
pub fn add_batch(
    index: &dyn VectorIndex,
    items: &[(u32, u64, Option<Vec<f32>>)],
    threads: usize,
    column: &[f32],
) -> crate::Result<Vec<(u32, u64, bool)>> {
    let one = |item: &(u32, u64, Option<Vec<f32>>)| -> crate::Result<(u32, u64, bool)> {
        let (slot, generation, vector) = item;
        match vector {
            Some(v) => index.upsert(u64::from(*slot), v, column)?,
            None => index.remove(u64::from(*slot))?,
        }
        Ok((*slot, *generation, vector.is_some()))
    };
    if threads <= 1 || items.len() < 2 * threads {
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
#[path = "index_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "index_view_tests.rs"]
mod view_tests;
