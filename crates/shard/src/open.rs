//! Loading a shard's table at open: the saved graph records, the checkpoint, the WAL suffix and
//! the saved indexes, each phase timed and logged (`shard opened`, debug level).

use crate::error::Result;
use crate::graphs::SavedGraphs;
use crate::index_config::IndexConfig;
use quiver_storage::StorageError;
use quiver_storage::checkpoint::CheckpointStore;
use quiver_storage::points::{PointTable, VectorSchema};
use quiver_types::PointId;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Instant;

/// Threads reading the checkpoint at most (more contend in redb's page cache).
const MAX_READERS: usize = 3;

/// A table loaded at open, with what the open found.
pub(crate) struct Loaded {
    pub(crate) table: PointTable,
    /// Points stored with vectors of names dropped since (rewritten by a checkpoint).
    pub(crate) trimmed: HashSet<PointId>,
    pub(crate) checkpoint_seq: u64,
    /// Vectors found in their saved HNSW index.
    pub(crate) restored_index_slots: usize,
    /// Columns whose index is its saved file's graph, with their count of index changes.
    pub(crate) saved_graphs: BTreeMap<String, u64>,
    /// Columns with a frozen copy saved beside their graph file, with that file.
    pub(crate) saved_frozen: BTreeMap<String, quiver_storage::index::SavedFile>,
}

/// Milliseconds spent in each phase of an open, in order.
struct Phases {
    last: Instant,
    laps: Vec<(&'static str, u128)>,
}

impl Phases {
    fn start() -> Phases {
        Phases { last: Instant::now(), laps: Vec::new() }
    }

    fn lap(&mut self, phase: &'static str) {
        let now = Instant::now();
        self.laps.push((phase, now.duration_since(self.last).as_millis()));
        self.last = now;
    }

    fn summary(&self) -> String {
        self.laps.iter().map(|(phase, ms)| format!("{phase} {ms} ms")).collect::<Vec<_>>().join(", ")
    }
}

/// What the table of a shard is made of.
pub(crate) struct Sources<'a> {
    pub(crate) dir: &'a Path,
    pub(crate) schema: VectorSchema,
    pub(crate) index: &'a IndexConfig,
    pub(crate) checkpoint: &'a CheckpointStore,
}

/// Loads the table of the shard in `dir` from its checkpoint, WAL and saved indexes; `replay`
/// applies the WAL suffix after the checkpoint and returns the checkpoint's sequence number and
/// the records replayed.
pub(crate) fn load_table(
    sources: Sources<'_>,
    replay: impl FnOnce(&mut PointTable) -> Result<(u64, u64)>,
) -> Result<Loaded> {
    let Sources { dir, schema, index, checkpoint } = sources;
    let mut phases = Phases::start();
    let dense = schema.dense.clone();
    let mut table = PointTable::with_schema(schema);
    let graphs = SavedGraphs::read(dir, &dense, index);
    phases.lap("graph records");
    // The checkpoint is read on the other cores while this thread fills the table.
    let readers = std::thread::available_parallelism().map_or(1, |n| n.get()).saturating_sub(1).clamp(1, MAX_READERS);
    let (trimmed, checkpoint_seq, replayed, loaded) = std::thread::scope(|scope| {
        // The saved indexes are read (and checksummed) beside the checkpoint.
        let indexes = scope.spawn(|| graphs.load_indexes(&dense, index));
        let count = checkpoint.point_count()? as usize;
        let trimmed = graphs.load_table(&mut table, count, |f| checkpoint.load_parallel_frames(readers, f))?;
        table.take_dirty();
        table.restore_dirty(trimmed.clone());
        phases.lap("checkpoint");
        let (checkpoint_seq, replayed) = replay(&mut table)?;
        phases.lap("wal replay");
        let loaded = indexes.join().map_err(|_| StorageError::Index("loading a saved index panicked".into()))?;
        phases.lap("index files (rest)");
        Ok::<_, crate::ShardError>((trimmed, checkpoint_seq, replayed, loaded))
    })?;
    let restored = graphs.attach(&mut table, loaded);
    phases.lap("slot checks");
    tracing::debug!(
        dir = %dir.display(), points = table.len(), checkpoint_seq, replayed, trimmed = trimmed.len(),
        restored_index_slots = restored.slots, saved_frozen = restored.frozen.len(), phases = %phases.summary(), "shard opened"
    );
    Ok(Loaded {
        table,
        trimmed,
        checkpoint_seq,
        restored_index_slots: restored.slots,
        saved_graphs: restored.unchanged,
        saved_frozen: restored.frozen,
    })
}
