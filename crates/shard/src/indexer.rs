//! The background indexer of a shard: one thread that attaches an HNSW index to each dense
//! vector once its column passes `indexing_threshold` (KB, Qdrant's semantics: smaller shards are
//! searched exactly), then keeps the index in step with the table. Vectors are copied out under
//! the read lock and added without any table lock; a slot counts as indexed only when its vector
//! did not change meanwhile (see `PointTable::index_done`). Once an index has caught up, the
//! thread also takes the frozen search copy of its graph (`quiver_storage::graph`).

use parking_lot::{Condvar, Mutex, RwLock};
use quiver_storage::graph::FrozenGraph;
use quiver_storage::index::{HnswIndex, HnswParams, IndexScalar, VectorIndex};
use quiver_storage::points::{DenseStats, PointTable};
use quiver_storage::vectors::VectorSpec;
use quiver_types::config::{Datatype, Distance, HnswConfig};
use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Indexing settings of a shard.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexConfig {
    /// Effective HNSW settings per dense vector name (collection level merged with vector level);
    /// names missing here use `HnswConfig::default()`.
    pub hnsw: BTreeMap<String, HnswConfig>,
    /// Vectors (KB) above which a dense column gets an HNSW index; 0 disables indexing.
    pub indexing_threshold_kb: usize,
    /// Element type of the index's own vector copies (f32 unless chosen otherwise).
    pub scalar: IndexScalar,
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig { hnsw: BTreeMap::new(), indexing_threshold_kb: 10_000, scalar: IndexScalar::F32 }
    }
}

impl IndexConfig {
    pub fn hnsw_for(&self, name: &str) -> HnswConfig {
        self.hnsw.get(name).cloned().unwrap_or_default()
    }
}

/// Whether a column without an index should get one: indexing enabled, and more vector bytes
/// than `indexing_threshold` KB.
pub(crate) fn due(config: &IndexConfig, stats: &DenseStats) -> bool {
    config.indexing_threshold_kb > 0
        && stats.vectors * stats.dim * stats.element_bytes >= config.indexing_threshold_kb * 1024
}

/// Vectors copied per batch (bounds the time the read lock is held and the memory of a copy).
const BATCH: usize = 2048;

#[derive(Default)]
struct Signal {
    dirty: bool,
    stop: bool,
}

pub(crate) struct Shared {
    signal: Mutex<Signal>,
    cv: Condvar,
    /// The dense columns to index and how (changed when vector names are created or dropped).
    settings: Mutex<Settings>,
}

#[derive(Clone)]
struct Settings {
    dense: BTreeMap<String, VectorSpec>,
    config: IndexConfig,
}

/// Handle of the indexer thread; dropping it stops the thread.
pub(crate) struct Indexer {
    shared: Arc<Shared>,
    handle: Option<JoinHandle<()>>,
}

impl Indexer {
    pub(crate) fn start(
        table: Weak<RwLock<PointTable>>,
        dense: BTreeMap<String, VectorSpec>,
        config: IndexConfig,
    ) -> Indexer {
        let settings = Mutex::new(Settings { dense, config });
        let shared = Arc::new(Shared { signal: Mutex::new(Signal::default()), cv: Condvar::new(), settings });
        let worker = Worker { table, shared: shared.clone(), frozen_at: Mutex::default() };
        let handle = std::thread::Builder::new()
            .name("quiver-indexer".into())
            .spawn(move || worker.run())
            .map_err(|e| tracing::error!(error = %e, "cannot start the indexer thread; searches stay exact"))
            .ok();
        let indexer = Indexer { shared, handle };
        indexer.notify();
        indexer
    }

    /// Indexes the dense columns `dense` from now on.
    pub(crate) fn set_vectors(&self, dense: BTreeMap<String, VectorSpec>, config: IndexConfig) {
        *self.shared.settings.lock() = Settings { dense, config };
    }

    /// Tells the indexer that the table changed.
    pub(crate) fn notify(&self) {
        let mut signal = self.shared.signal.lock();
        signal.dirty = true;
        self.shared.cv.notify_one();
    }
}

impl Drop for Indexer {
    fn drop(&mut self) {
        self.shared.signal.lock().stop = true;
        self.shared.cv.notify_one();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

struct Worker {
    table: Weak<RwLock<PointTable>>,
    shared: Arc<Shared>,
    /// When each column's graph was last frozen (a copy is taken at most once per `REFREEZE`).
    frozen_at: Mutex<BTreeMap<String, Instant>>,
}

/// Least time between two frozen copies of one column's graph while it keeps changing.
const REFREEZE: Duration = Duration::from_secs(1);

impl Worker {
    fn stopped(&self) -> bool {
        self.shared.signal.lock().stop
    }

    fn run(self) {
        loop {
            {
                let mut signal = self.shared.signal.lock();
                if !signal.dirty && !signal.stop {
                    self.shared.cv.wait_for(&mut signal, Duration::from_secs(1));
                }
                if signal.stop {
                    return;
                }
                signal.dirty = false;
            }
            let Some(table) = self.table.upgrade() else {
                return;
            };
            let settings = self.shared.settings.lock().clone();
            for (name, spec) in &settings.dense {
                if self.stopped() {
                    return;
                }
                if let Err(e) = self.index_column(&table, name, spec, &settings.config) {
                    tracing::warn!(vector = %name, error = %e, "indexing failed; searches of this vector stay exact");
                }
                self.freeze_column(&table, name);
            }
        }
    }

    fn index_column(
        &self,
        table: &RwLock<PointTable>,
        name: &str,
        spec: &VectorSpec,
        config: &IndexConfig,
    ) -> quiver_storage::Result<()> {
        if config.indexing_threshold_kb == 0 {
            return Ok(());
        }
        let Some(stats) = table.read().dense_stats(name) else {
            return Ok(());
        };
        if !stats.has_index {
            if !due(config, &stats) {
                return Ok(());
            }
            let hnsw = config.hnsw_for(name);
            let params = HnswParams {
                dim: stats.dim,
                m: hnsw.m,
                ef_construct: hnsw.ef_construct,
                // `float16` and `uint8` values are exact in half precision.
                scalar: match spec.datatype {
                    Datatype::Float32 => config.scalar,
                    Datatype::Float16 | Datatype::Uint8 => IndexScalar::F16,
                },
                normalize: spec.distance == Distance::Cosine && spec.datatype == Datatype::Uint8,
            };
            let index: Arc<dyn VectorIndex> =
                Arc::new(HnswIndex::new(spec.distance, params, stats.vectors + stats.vectors / 8)?);
            tracing::debug!(vector = %name, vectors = stats.vectors, "building HNSW index");
            table.write().attach_index(name, index);
        }
        let threads = match config.hnsw_for(name).max_indexing_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        loop {
            if self.stopped() {
                return Ok(());
            }
            let Some(batch) = table.read().index_batch(name, BATCH) else {
                return Ok(());
            };
            let done = add_batch(batch.index.as_ref(), &batch.items, threads)?;
            table.write().index_done(name, &batch.index, &done);
        }
    }
}

impl Worker {
    /// Takes a frozen search copy of the column's graph when the index has caught up and the
    /// last copy is missing or out of date (and at least `REFREEZE` old). The table is only
    /// read-locked to plan and write-locked to install; the copy itself is taken from the
    /// index, which only this thread changes.
    fn freeze_column(&self, table: &RwLock<PointTable>, name: &str) {
        let recent = self.frozen_at.lock().get(name).is_some_and(|at| at.elapsed() < REFREEZE);
        if recent || self.stopped() {
            return;
        }
        let Some(plan) = table.read().freeze_plan(name) else { return };
        let Some(nodes) = plan.index.export_graph(&plan.keys) else { return };
        let graph = FrozenGraph::new(nodes, plan.generation.len());
        table.write().install_frozen(name, &plan, graph);
        self.frozen_at.lock().insert(name.to_string(), Instant::now());
    }
}

/// Adds (or removes) the batch's vectors with `threads` threads; returns what was done.
fn add_batch(
    index: &dyn VectorIndex,
    items: &[(u32, u64, Option<Vec<f32>>)],
    threads: usize,
) -> quiver_storage::Result<Vec<(u32, u64, bool)>> {
    let one = |item: &(u32, u64, Option<Vec<f32>>)| -> quiver_storage::Result<(u32, u64, bool)> {
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
            let part =
                handle.join().map_err(|_| quiver_storage::StorageError::Index("indexing thread panicked".into()))?;
            out.extend(part.into_iter().collect::<quiver_storage::Result<Vec<_>>>()?);
        }
        Ok(out)
    })
}
