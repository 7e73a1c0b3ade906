//! The background indexer of a shard: one thread that attaches an HNSW index to each dense
//! vector once its column passes `indexing_threshold` (KB, Qdrant's semantics: smaller shards are
//! searched exactly), then keeps the index in step with the table. An index that keeps its own
//! copy of the vectors (of `float16`/`uint8` columns) gets them copied out under the read lock
//! and added without any table lock; an index that reads the table's column (f32 columns,
//! design record 023) is added to under the read lock, in batches sized to hold it about
//! `TARGET_HOLD`. Either way a slot counts as indexed only when its vector did not change
//! meanwhile (see `PointTable::index_done`). Once an index has caught up, the thread also takes
//! the frozen search copy of its graph (`quiver_storage::graph`; its level-0 neighbours in a mapped
//! scratch file with `hnsw_config.on_disk`, design record 025).

use crate::index_config::{IndexConfig, due};
use crate::replacing::Replacing;
use parking_lot::{Condvar, Mutex, RwLock};
use quiver_storage::graph::FrozenGraph;
use quiver_storage::index::{HnswIndex, HnswParams, SavedFile, VectorIndex, add_batch};
use quiver_storage::points::PointTable;
use quiver_storage::vectors::VectorSpec;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Vectors copied per batch (bounds the time the read lock is held and the memory of a copy).
const BATCH: usize = 2048;

/// How long one batch of adds to an index that reads the table may hold the table's read lock
/// (writers wait that long at most, and the searches queued behind them).
const TARGET_HOLD: Duration = Duration::from_millis(4);

/// The times the indexer held the table's read lock to add to indexes that read the table.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LockHolds {
    pub batches: u64,
    pub slots: u64,
    pub total: Duration,
    pub longest: Duration,
    /// Batches that held it 16 ms or more.
    pub long: u64,
}

impl LockHolds {
    fn record(&mut self, held: Duration, slots: usize) {
        self.batches += 1;
        self.slots += slots as u64;
        self.total += held;
        self.longest = self.longest.max(held);
        self.long += u64::from(held >= Duration::from_millis(16));
    }
}

/// The size of the next batch of adds under the read lock: what fitted `TARGET_HOLD` last time.
struct Pace {
    batch: usize,
    /// Two slots per indexing thread at least.
    least: usize,
}

impl Pace {
    fn next(&mut self, held: Duration, slots: usize) {
        let per_slot = held.as_secs_f64() / slots.max(1) as f64;
        let fits = (TARGET_HOLD.as_secs_f64() / per_slot.max(1e-7)) as usize;
        self.batch = fits.clamp(self.least, BATCH);
    }
}

#[derive(Default)]
struct Signal {
    dirty: bool,
    stop: bool,
    /// A checkpoint was written: save the indexes that changed once they have caught up.
    save: bool,
}

pub(crate) struct Shared {
    signal: Mutex<Signal>,
    cv: Condvar,
    /// The dense columns to index and how (changed when vector names are created or dropped).
    settings: Mutex<Settings>,
    holds: Mutex<LockHolds>,
    /// Columns whose saved frozen copy was installed (`graphs::load_frozen`).
    frozen_loaded: std::sync::atomic::AtomicUsize,
    /// Rounds skipped because an install was replacing the table's data.
    rounds_held_off: std::sync::atomic::AtomicUsize,
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
    /// Starts the indexer thread of a shard; `saved` holds the columns whose index is already
    /// their saved file's graph, with their count of index changes, and `saved_frozen` those
    /// with a frozen copy saved beside their graph file, read first (`graphs::attach`).
    pub(crate) fn start(
        table: Weak<RwLock<PointTable>>,
        replacing: Replacing,
        dense: BTreeMap<String, VectorSpec>,
        config: IndexConfig,
        shard_dir: PathBuf,
        saved: BTreeMap<String, u64>,
        saved_frozen: BTreeMap<String, SavedFile>,
    ) -> Indexer {
        let settings = Mutex::new(Settings { dense, config });
        let shared = Arc::new(Shared {
            signal: Mutex::new(Signal::default()),
            cv: Condvar::new(),
            settings,
            holds: Mutex::default(),
            frozen_loaded: Default::default(),
            rounds_held_off: Default::default(),
        });
        let worker = Worker {
            table,
            replacing,
            shared: shared.clone(),
            frozen_at: Mutex::default(),
            shard_dir,
            saved: Mutex::new(saved),
            frozen_saved: Mutex::new(BTreeMap::new()),
            frozen_to_read: Mutex::new(saved_frozen),
            tenant_builds: Mutex::default(),
        };
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

    /// Columns whose saved frozen copy was read and installed.
    pub(crate) fn frozen_loaded(&self) -> usize {
        self.shared.frozen_loaded.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Rounds skipped because an install was replacing the table's data.
    #[cfg(test)]
    pub(crate) fn rounds_held_off(&self) -> usize {
        self.shared.rounds_held_off.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The times the indexer held the table's read lock while adding to indexes.
    pub(crate) fn lock_holds(&self) -> LockHolds {
        *self.shared.holds.lock()
    }

    /// Asks the indexer to save the indexes that changed, once they have caught up.
    pub(crate) fn request_save(&self) {
        let mut signal = self.shared.signal.lock();
        (signal.dirty, signal.save) = (true, true);
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
    /// While an install replaces the table's data, its graphs are left alone (`replacing.rs`).
    replacing: Replacing,
    shared: Arc<Shared>,
    /// When each column's graph was last frozen (a copy is taken at most once per `REFREEZE`).
    frozen_at: Mutex<BTreeMap<String, Instant>>,
    shard_dir: PathBuf,
    /// Each saved column's index change count when it was saved.
    saved: Mutex<BTreeMap<String, u64>>,
    /// The graph file each column's saved frozen copy was taken from.
    frozen_saved: Mutex<BTreeMap<String, SavedFile>>,
    /// The saved frozen copies still to read, with the graph file each was taken from.
    frozen_to_read: Mutex<BTreeMap<String, SavedFile>>,
    tenant_builds: Mutex<crate::tenants::TenantBuilds>,
}

/// Least time between two frozen copies of one column's graph while it keeps changing.
const REFREEZE: Duration = Duration::from_secs(1);

impl Worker {
    /// The shard is stopping, or an install is replacing the data being indexed: the work in
    /// hand is left (a later round takes it up again, on whichever table is there then).
    fn interrupted(&self) -> bool {
        self.shared.signal.lock().stop || self.replacing.under_way()
    }

    fn run(self) {
        lower_thread_priority();
        while let Some(table) = self.next_round() {
            self.round(&table);
        }
        // A save asked for by the last checkpoint is still made at shutdown, whichever step
        // of a round the stop interrupted.
        if let Some(table) = self.table.upgrade() {
            self.save_due_graphs(&table);
        }
    }

    /// Waits for a change (or a second); `None` once the shard is stopping or gone.
    fn next_round(&self) -> Option<Arc<RwLock<PointTable>>> {
        let mut signal = self.shared.signal.lock();
        if !signal.dirty && !signal.stop {
            self.shared.cv.wait_for(&mut signal, Duration::from_secs(1));
        }
        if signal.stop {
            return None;
        }
        signal.dirty = false;
        drop(signal);
        self.table.upgrade()
    }

    /// Indexes, freezes, quantizes and saves each column, then builds tenant graphs; returns
    /// early when the shard stops or an install starts replacing its data.
    fn round(&self, table: &RwLock<PointTable>) {
        if self.replacing.under_way() {
            self.shared.rounds_held_off.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return;
        }
        let settings = self.shared.settings.lock().clone();
        for (name, spec) in &settings.dense {
            if self.interrupted() {
                return;
            }
            self.load_saved_frozen(table, name, &settings.config);
            if let Err(e) = self.index_column(table, name, spec, &settings.config) {
                tracing::warn!(vector = %name, error = %e, "indexing failed; searches of this vector stay exact");
            }
            // (A stop still lets the round save what it can; `run` saves the rest.)
            if self.replacing.under_way() {
                return;
            }
            self.freeze_column(table, name, &settings.config);
            quantize_column(table, name, spec);
        }
        if self.replacing.under_way() {
            return;
        }
        self.save_due_graphs(table);
        let mut frozen_saved = self.frozen_saved.lock();
        for name in settings.dense.keys() {
            crate::graphs::save_frozen(&self.shard_dir, table, name, &mut frozen_saved);
        }
        drop(frozen_saved);
        settings.dense.keys().for_each(|name| release_graph(table, name));
        let interrupted = || self.interrupted();
        self.tenant_builds.lock().run(table, &settings.dense, &settings.config, &interrupted);
    }

    /// Reads the frozen copy saved with `name`'s graph file, once, before the index changes:
    /// searches run on it while the indexer catches up (design record 026).
    fn load_saved_frozen(&self, table: &RwLock<PointTable>, name: &str, config: &IndexConfig) {
        let Some(file) = self.frozen_to_read.lock().remove(name) else { return };
        let placement = crate::index_config::frozen_placement(config, name, &self.shard_dir);
        if crate::graphs::load_frozen(&self.shard_dir, table, name, &file, &placement) {
            self.shared.frozen_loaded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.frozen_saved.lock().insert(name.to_string(), file);
            // Kept for `REFREEZE` as a copy just taken would be.
            self.frozen_at.lock().insert(name.to_string(), Instant::now());
        }
    }

    /// Saves the indexes that changed when a checkpoint asked for it; the request stays while
    /// an index has not caught up.
    fn save_due_graphs(&self, table: &RwLock<PointTable>) {
        if !std::mem::take(&mut self.shared.signal.lock().save) {
            return;
        }
        let settings = self.shared.settings.lock().clone();
        let mut saved = self.saved.lock();
        let mut done = true;
        for (name, spec) in &settings.dense {
            done &= crate::graphs::save_column(&self.shard_dir, table, name, spec, &settings.config, &mut saved);
        }
        if !done {
            self.shared.signal.lock().save = true;
        }
    }

    fn index_column(
        &self,
        table: &RwLock<PointTable>,
        name: &str,
        spec: &VectorSpec,
        config: &IndexConfig,
    ) -> quiver_storage::Result<()> {
        // `m: 0` asks for no graph of the whole shard (tenant graphs only, `tenants.rs`).
        if config.indexing_threshold_kb == 0 || config.hnsw_for(name).m == 0 {
            return Ok(());
        }
        let Some(stats) = table.read().dense_stats(name) else {
            return Ok(());
        };
        let params = HnswParams { dim: stats.dim, ..crate::index_config::hnsw_params(config, name, spec) };
        let threads = config.indexing_threads(name);
        if !stats.has_index {
            if !due(config, &stats) {
                return Ok(());
            }
            let index: Arc<dyn VectorIndex> =
                Arc::new(HnswIndex::new(spec.distance, params, stats.vectors + stats.vectors / 8)?);
            tracing::debug!(vector = %name, vectors = stats.vectors, "building HNSW index");
            table.write().attach_index(name, index);
        } else if crate::index_config::rebuild_due(&table.read(), name, config, spec) {
            self.rebuild_column(table, name, spec, params, threads)?;
        }
        let mut pace = Pace { batch: 16 * threads, least: 2 * threads };
        loop {
            if self.interrupted() {
                return Ok(());
            }
            let guard = table.read();
            let started = Instant::now();
            let reads_column = guard.dense_index(name).is_some_and(|view| view.index.reads_column());
            let Some(batch) = guard.index_batch(name, if reads_column { pace.batch } else { BATCH }) else {
                return Ok(());
            };
            let done = match reads_column {
                // The index reads the column: the read lock stays held until the adds are done.
                true => {
                    let done = add_batch(batch.index.as_ref(), &batch.items, threads, guard.dense_elements(name));
                    drop(guard);
                    let held = started.elapsed();
                    self.shared.holds.lock().record(held, batch.items.len());
                    pace.next(held, batch.items.len());
                    done?
                }
                false => {
                    drop(guard);
                    add_batch(batch.index.as_ref(), &batch.items, threads, &[])?
                }
            };
            table.write().index_done(name, &batch.index, &done);
        }
    }
}

impl Worker {
    /// Builds a new index of the column beside the live one, with `params`, and puts it in the
    /// live one's place once it holds every slot it was given (what changed meanwhile stays
    /// pending for it). Searches keep using the old index and its frozen copy until then, as
    /// Qdrant's searches use the old segments while an optimizer rebuilds them. Abandoned when
    /// the shard stops; the saved graph is not replaced before the swap (`graphs::save_column`).
    fn rebuild_column(
        &self,
        table: &RwLock<PointTable>,
        name: &str,
        spec: &VectorSpec,
        params: HnswParams,
        threads: usize,
    ) -> quiver_storage::Result<()> {
        let vectors = table.read().dense_stats(name).map_or(0, |s| s.vectors);
        let index: Arc<dyn VectorIndex> = Arc::new(HnswIndex::new(spec.distance, params, vectors + vectors / 8)?);
        tracing::info!(vector = %name, vectors, m = params.m, ef_construct = params.ef_construct, "rebuilding the HNSW index with changed parameters");
        let mut covered = Vec::with_capacity(vectors);
        let mut from = 0;
        loop {
            if self.interrupted() {
                return Ok(());
            }
            let guard = table.read();
            let Some(items) = guard.rebuild_batch(name, from, BATCH) else { return Ok(()) };
            let Some(last) = items.last() else { break };
            from = last.0 + 1;
            // An index that reads the column is given it under the read lock, as in `index_column`.
            let done = match index.reads_column() {
                true => add_batch(index.as_ref(), &items, threads, guard.dense_elements(name)),
                false => {
                    drop(guard);
                    add_batch(index.as_ref(), &items, threads, &[])
                }
            };
            covered.extend(done?.into_iter().map(|(slot, generation, _)| (slot, generation)));
        }
        table.write().replace_index(name, index, &covered);
        tracing::info!(vector = %name, "HNSW index rebuilt");
        Ok(())
    }

    /// Takes a frozen search copy of the column's graph when the index has caught up and the
    /// last copy is missing or out of date (and at least `REFREEZE` old). The table is only
    /// read-locked to plan and write-locked to install; the copy itself is taken from the
    /// index, which only this thread changes.
    /// With `hnsw_config.on_disk`, the copy's level-0 neighbours go to a mapped scratch file.
    fn freeze_column(&self, table: &RwLock<PointTable>, name: &str, config: &IndexConfig) {
        let recent = self.frozen_at.lock().get(name).is_some_and(|at| at.elapsed() < REFREEZE);
        if recent || self.interrupted() {
            return;
        }
        let Some(plan) = table.read().freeze_plan(name) else { return };
        let Some(nodes) = plan.index.export_graph(&plan.keys) else { return };
        let placement = crate::index_config::frozen_placement(config, name, &self.shard_dir);
        let graph = FrozenGraph::placed(nodes, plan.generation.len(), &placement);
        table.write().install_frozen(name, &plan, graph);
        self.frozen_at.lock().insert(name.to_string(), Instant::now());
    }
}

/// Builds the quantized copy the column waits for, if any: encoded under the read lock
/// (searches go on), installed under the write lock.
fn quantize_column(table: &RwLock<PointTable>, name: &str, spec: &VectorSpec) {
    if !table.read().quantization_due(name) {
        return;
    }
    let started = Instant::now();
    let Some(build) = table.read().build_quantized(name, spec.distance) else { return };
    table.write().install_quantized(name, build);
    tracing::debug!(vector = %name, ms = started.elapsed().as_millis() as u64, "quantized vectors built");
}

/// Releases the column's graph for a read-only view of the saved file that holds it (design
/// record 041) once the frozen copy is current and nothing is pending: searches run on the
/// copy, and the index loads its graph back from the view at its next change. Nothing happens
/// while no saved file holds the index as it is (the next checkpoint's save gives one).
fn release_graph(table: &RwLock<PointTable>, name: &str) {
    let index = {
        let guard = table.read();
        if !guard.frozen_current(name) {
            return;
        }
        match guard.dense_index(name) {
            Some(view) => view.index.clone(),
            None => return,
        }
    };
    if index.graph_viewed() {
        return;
    }
    match index.release_graph() {
        Ok(true) => tracing::debug!(vector = %name, "HNSW graph released for a view of its saved file"),
        Ok(false) => {}
        Err(e) => tracing::warn!(vector = %name, error = %e, "the HNSW graph stays in memory"),
    }
}

/// The priority of the indexer's threads in the `thread-priority` crate's scale, which maps
/// 0..=99 onto niceness 19..=-20: 22 is niceness 10 (tested), at which a busy request thread gets
/// about nine times the CPU of an indexing thread (the kernel's weights 1024 and 110). So a bulk
/// load keeps its pace while the graph grows, and indexing takes whatever the requests leave.
const INDEXING_PRIORITY: u8 = 22;

/// Moves the calling thread (and the threads it spawns, which inherit it) to `SCHED_BATCH` at
/// `INDEXING_PRIORITY`: indexing is background work and must not slow writes and searches
/// down. A refusal leaves the thread as it was, which is only slower for requests.
fn lower_thread_priority() {
    use thread_priority::{NormalThreadSchedulePolicy, ThreadPriority, ThreadPriorityValue, ThreadSchedulePolicy};
    let priority = ThreadPriorityValue::try_from(INDEXING_PRIORITY).map(ThreadPriority::Crossplatform);
    let policy = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch);
    let result = priority.map_err(|e| e.to_string()).and_then(|priority| {
        thread_priority::unix::set_thread_priority_and_policy(thread_priority::thread_native_id(), priority, policy)
            .map_err(|e| e.to_string())
    });
    if let Err(e) = result {
        tracing::debug!(error = %e, "indexer thread keeps its priority");
    }
}

#[cfg(test)]
mod priority_tests {
    /// The calling thread's niceness, field 19 of `/proc/thread-self/stat`.
    fn niceness() -> i32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("stat");
        let after_name = &stat[stat.rfind(')').expect("comm") + 2..];
        after_name.split(' ').nth(16).expect("nice field").parse().expect("number")
    }

    #[test]
    fn indexing_threads_run_at_background_priority_and_so_do_their_helpers() {
        let before = niceness();
        let (own, helper) = std::thread::spawn(|| {
            super::lower_thread_priority();
            let helper = std::thread::spawn(niceness).join().expect("helper");
            (niceness(), helper)
        })
        .join()
        .expect("thread");
        // Raising the niceness is always allowed; a process already nicer than that may keep its.
        let wanted = 10;
        assert!(own == wanted || (before > wanted && own == before), "niceness {own} (process {before})");
        assert_eq!(helper, own, "threads spawned by the indexer inherit its priority");
        assert_eq!(niceness(), before, "other threads keep theirs");
    }
}
