//! `LocalShard`: open (checkpoint + WAL replay), ordered durable writes, checkpoints.

use crate::apply;
use crate::error::{Result, ShardError};
use crate::index_config::IndexConfig;
use crate::indexer::Indexer;
use crate::record::{LoggedRecord, decode_record, encode_record};
use parking_lot::{Mutex, RwLock};
use quiver_storage::StorageError;
use quiver_storage::checkpoint::{CheckpointChange, CheckpointStore};
use quiver_storage::points::{PointTable, VectorSchema};
use quiver_storage::quantized::QuantizationKind;
use quiver_storage::vectors::VectorSpec;
use quiver_storage::wal::{Wal, WalOptions};
use quiver_types::SeqNo;
use quiver_types::index_params::FieldSchema;
use quiver_types::ops::{UpdateOperation, UpdateResult, UpdateStatus};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a shard needs to know of its collection's configuration.
#[derive(Debug, Clone)]
pub struct ShardConfig {
    /// Dense vectors (plain and multivector) by name.
    pub dense: BTreeMap<String, VectorSpec>,
    /// Sparse vector names.
    pub sparse: BTreeSet<String>,
    /// WAL segment size.
    pub wal_segment_bytes: u64,
    /// ANN indexing settings.
    pub index: IndexConfig,
}

/// Progress of a shard's ANN indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexStatus {
    /// Dense vectors whose current value is in an HNSW index.
    pub indexed_vectors: usize,
    /// Whether the indexer still has work queued.
    pub indexing: bool,
}

/// Memory held by a shard's search structures, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoryReport {
    /// Dense vectors in the point table.
    pub vectors: usize,
    /// ANN indexes (their own vector copies and graphs).
    pub index: usize,
    /// Payload indexes.
    pub payload_index: usize,
    /// Quantized copies of the vectors.
    pub quantized: usize,
}

impl ShardConfig {
    /// The vector columns of a table of the shard in `dir` (`on_disk` vectors mapped from
    /// scratch files in its `mapped/`, design record 025; payloads too with `on_disk_payload`,
    /// design record 037).
    pub fn schema(&self, dir: &Path) -> VectorSchema {
        VectorSchema {
            dense: self.dense.clone(),
            sparse: self.sparse.clone(),
            on_disk: self.index.on_disk.clone(),
            mapped_dir: Some(crate::index_config::mapped_dir(dir)),
            on_disk_payload: self.index.on_disk_payload,
        }
    }
}

impl MemoryReport {
    pub fn total(&self) -> usize {
        self.vectors + self.index + self.payload_index + self.quantized
    }
}

/// One local replica of a shard.
pub struct LocalShard {
    dir: PathBuf,
    /// Changes when vector names are created or dropped (`set_vectors`).
    pub(crate) config: RwLock<ShardConfig>,
    pub(crate) wal: Wal,
    pub(crate) checkpoint: Mutex<CheckpointStore>,
    /// Keeps the ANN indexes of `table` in step with it, in the background (dropped, and its
    /// thread joined, before the table: a save due at shutdown is still made).
    pub(crate) indexer: Indexer,
    pub(crate) table: Arc<RwLock<PointTable>>,
    /// Serialises WAL append + apply so the table applies operations in sequence order.
    pub(crate) write_lock: Mutex<()>,
    /// Where the records applied as a replica came from (taken after `write_lock`).
    pub(crate) history: Mutex<crate::history::History>,
    pub(crate) applied_seq: AtomicU64,
    /// While non-zero: checkpoints keep the WAL (up to this many bytes) so that a replica that
    /// fell behind can catch up from it (`wal_delta`).
    wal_retention_bytes: AtomicU64,
    /// Payload index definitions (field → type), applied to every table this shard holds.
    pub(crate) payload_fields: Mutex<BTreeMap<String, FieldSchema>>,
    /// Vectors found in their saved HNSW index at open (not indexed again).
    restored_index_slots: usize,
    /// Installs under way that will replace this replica's data (`replacing.rs`).
    pub(crate) replacing: crate::replacing::Replacing,
}

impl LocalShard {
    /// Opens the shard in `dir` (creating it), loading the checkpoint and replaying the WAL suffix;
    /// an interrupted restore staged in `dir` is redone first (`staged.rs`).
    pub fn open(dir: &Path, config: ShardConfig) -> Result<LocalShard> {
        std::fs::create_dir_all(dir).map_err(|e| StorageError::io("create shard dir", dir, e))?;
        let redo = LocalShard::take_pending_restore(dir)?;
        let checkpoint = CheckpointStore::open(&dir.join("points.redb"))?;
        let options = WalOptions { segment_size_bytes: config.wal_segment_bytes };
        let wal = Wal::open(&dir.join("wal"), options)?;
        let sources =
            crate::open::Sources { dir, schema: config.schema(dir), index: &config.index, checkpoint: &checkpoint };
        let loaded = crate::open::load_table(sources, |table| {
            let checkpoint_seq = checkpoint.applied_seq()?;
            if let Some(from) = checkpoint.wal_from()?
                && wal.first_seq() < from
            {
                // An install's WAL reset did not happen (crash after the checkpoint swap): the
                // records are the replaced data's.
                wal.truncate_all_and_reset(from)?;
            }
            Ok((checkpoint_seq, Self::replay(&wal, table, checkpoint_seq)?))
        })?;
        let (mut table, trimmed, checkpoint_seq) = (loaded.table, loaded.trimmed, loaded.checkpoint_seq);
        for name in config.dense.keys() {
            table.set_quantization(name, config.index.quantization.get(name).copied());
        }
        let applied = wal.last_seq().max(checkpoint_seq);
        let table = Arc::new(RwLock::new(table));
        let replacing = crate::replacing::Replacing::default();
        let indexer = Indexer::start(
            Arc::downgrade(&table),
            replacing.clone(),
            config.dense.clone(),
            config.index.clone(),
            dir.to_path_buf(),
            loaded.saved_graphs,
            loaded.saved_frozen,
        );
        let shard = LocalShard {
            dir: dir.to_path_buf(),
            config: RwLock::new(config),
            wal,
            checkpoint: Mutex::new(checkpoint),
            table,
            indexer,
            write_lock: Mutex::new(()),
            history: Mutex::default(),
            applied_seq: AtomicU64::new(applied),
            wal_retention_bytes: AtomicU64::new(0),
            payload_fields: Mutex::new(BTreeMap::new()),
            restored_index_slots: loaded.restored_index_slots,
            replacing,
        };
        if redo.is_some() {
            shard.restore_staged()?;
        }
        if !trimmed.is_empty() {
            shard.checkpoint()?;
        }
        Ok(shard)
    }

    fn replay(wal: &Wal, table: &mut PointTable, checkpoint_seq: SeqNo) -> Result<u64> {
        if wal.last_seq() == 0 && checkpoint_seq > 0 {
            wal.set_next_seq(checkpoint_seq + 1)?;
            return Ok(0);
        }
        if wal.first_seq() > checkpoint_seq + 1 && wal.last_seq() >= wal.first_seq() {
            return Err(StorageError::Corrupt(format!(
                "WAL starts at {} but the checkpoint covers only up to {checkpoint_seq}",
                wal.first_seq()
            ))
            .into());
        }
        let mut replayed = 0;
        wal.for_each_from(checkpoint_seq + 1, |seq, bytes| {
            let op = decode_record(bytes).map_err(|e| StorageError::Corrupt(e.to_string()))?;
            apply::apply(table, seq, &op);
            replayed += 1;
            Ok(())
        })?;
        Ok(replayed)
    }

    /// Vectors whose saved HNSW index was loaded at open (the indexer did not add them again).
    pub fn restored_index_slots(&self) -> usize {
        self.restored_index_slots
    }

    /// Vector columns whose search copy of the graph was read from the file saved with their
    /// HNSW index since the open (design record 026), not copied from the loaded graph again.
    pub fn restored_frozen_graphs(&self) -> usize {
        self.indexer.frozen_loaded()
    }

    /// The times the indexer held the table's read lock while adding to indexes that read the
    /// table (design record 023).
    pub fn indexer_lock_holds(&self) -> crate::LockHolds {
        self.indexer.lock_holds()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> ShardConfig {
        self.config.read().clone()
    }

    /// Makes the shard's vector columns those of `config` (a vector name created or dropped,
    /// design record 018): new names get empty columns, dropped ones lose their vectors and
    /// indexes. Then a checkpoint covers every record applied so far, so WAL replay never
    /// applies a record of the old columns to the new ones.
    pub fn set_vectors(&self, config: ShardConfig) -> Result<()> {
        {
            let _order = self.write_lock.lock();
            let lost = {
                let mut table = self.table.write();
                let lost = table.set_schema(config.schema(&self.dir));
                for name in config.dense.keys() {
                    table.set_quantization(name, config.index.quantization.get(name).copied());
                }
                lost
            };
            tracing::info!(dir = %self.dir.display(), points_changed = lost.len(), "vector columns changed");
            self.indexer.set_vectors(config.dense.clone(), config.index.clone());
            *self.config.write() = config;
        }
        self.indexer.notify();
        self.checkpoint()
    }

    /// The sequence number of the last applied operation.
    pub fn applied_seq(&self) -> SeqNo {
        self.applied_seq.load(Ordering::Acquire)
    }

    /// Number of points.
    /// Keeps the WAL through checkpoints (up to `max_bytes`; `None` releases it).
    pub fn set_wal_retention(&self, max_bytes: Option<u64>) {
        self.wal_retention_bytes.store(max_bytes.unwrap_or(0).max(u64::from(max_bytes.is_some())), Ordering::Release);
    }

    /// The first sequence number the WAL still holds (`applied_seq + 1` when it holds none).
    pub fn wal_first_seq(&self) -> SeqNo {
        self.wal.first_seq()
    }

    pub fn points_count(&self) -> usize {
        self.table.read().len()
    }

    /// Sets the payload indexes from the collection's definitions (field → field schema);
    /// new ones are built from the current payloads, dropped ones are freed. Unknown schemas
    /// are ignored (definitions are validated before they are stored).
    pub fn set_payload_indexes(&self, definitions: &BTreeMap<String, serde_json::Value>) {
        let wanted: BTreeMap<String, FieldSchema> = definitions
            .iter()
            .filter_map(|(field, schema)| FieldSchema::parse(schema).ok().map(|t| (field.clone(), t)))
            .collect();
        let _order = self.write_lock.lock();
        self.table.write().set_payload_indexes(&wanted);
        *self.payload_fields.lock() = wanted;
    }

    /// Sets the quantization of each dense vector (missing: none). A new kind is built by the
    /// indexer in the background; searches use the original vectors until it is installed.
    pub fn set_quantization(&self, quantization: &BTreeMap<String, QuantizationKind>) {
        self.set_indexing(|index| index.quantization = quantization.clone());
    }

    /// Takes the collection's index settings as changed at run time (`PATCH` of the
    /// quantization, `optimizers_config.indexing_threshold` or `hnsw_config`): a new quantized
    /// kind is built in the background, and a shard whose indexing was off (threshold 0,
    /// Qdrant's bulk-load recipe) or under the threshold starts its index now, and an index
    /// built with other HNSW parameters is rebuilt beside the live one (design record 035).
    pub fn set_index_settings(&self, settings: &crate::index_config::IndexConfig) {
        self.set_indexing(|index| {
            index.quantization = settings.quantization.clone();
            index.hnsw = settings.hnsw.clone();
            index.indexing_threshold_kb = settings.indexing_threshold_kb;
        });
    }

    /// Changes the index settings with `change`, gives the table the quantization they name and
    /// the indexer the settings, then wakes it.
    fn set_indexing(&self, change: impl FnOnce(&mut crate::index_config::IndexConfig)) {
        {
            // The table before the config, as every reader takes them (a search holds the table
            // while it reads the config): the other order could deadlock with a search.
            let mut table = self.table.write();
            let mut config = self.config.write();
            change(&mut config.index);
            for name in config.dense.keys() {
                table.set_quantization(name, config.index.quantization.get(name).copied());
            }
            self.indexer.set_vectors(config.dense.clone(), config.index.clone());
        }
        self.indexer.notify();
    }

    /// Whether every quantized copy the shard's vectors should have is built.
    pub fn quantization_ready(&self) -> bool {
        let table = self.table.read();
        self.config.read().dense.keys().all(|name| !table.quantization_due(name))
    }

    /// Bytes held by vectors and indexes.
    pub fn memory_report(&self) -> MemoryReport {
        let table = self.table.read();
        let mut report = MemoryReport::default();
        for name in table.dense_names() {
            if let Some(stats) = table.dense_stats(&name) {
                report.vectors += stats.vectors * stats.dim * stats.element_bytes;
            }
            if let Some(view) = table.dense_index(&name) {
                report.index += view.index.memory_bytes() + table.frozen_bytes(&name);
            }
            report.quantized += table.quantized_bytes(&name);
        }
        report.payload_index = table.payload_index().bytes();
        report
    }

    /// How far the ANN indexes are: vectors held in an index, and whether indexing work is left
    /// (a column with pending slots, or one past the threshold that has no index yet).
    pub fn index_status(&self) -> IndexStatus {
        let table = self.table.read();
        let mut status = IndexStatus { indexed_vectors: 0, indexing: false };
        let config = self.config.read();
        for name in config.dense.keys() {
            let Some(stats) = table.dense_stats(name) else { continue };
            if stats.has_index {
                status.indexed_vectors += stats.vectors.saturating_sub(stats.pending);
                status.indexing |= stats.pending > 0;
                // Being rebuilt with changed `hnsw_config` parameters (status yellow).
                let spec = &config.dense[name];
                status.indexing |= crate::index_config::rebuild_due(&table, name, &config.index, spec);
            } else {
                // `m: 0`: no graph of the whole shard is wanted (tenant graphs only).
                status.indexing |= crate::index_config::due(&config.index, &stats) && config.index.hnsw_for(name).m > 0;
            }
            // A quantized copy being built counts as indexing work (status yellow).
            status.indexing |= table.quantization_due(name);
        }
        status
    }

    /// Dense vectors stored per vector name (metrics).
    pub fn vector_counts(&self) -> std::collections::BTreeMap<String, usize> {
        let table = self.table.read();
        let config = self.config.read();
        let names = config.dense.keys();
        names.filter_map(|name| table.dense_stats(name).map(|stats| (name.clone(), stats.vectors))).collect()
    }

    /// Logs `op`, applies it, and with `wait` returns only once its WAL record is fsynced.
    ///
    /// Blocking: call from a blocking thread. Preconditions (points that must exist) are checked
    /// before the WAL append, so an operation in the WAL always applies.
    pub fn update(&self, op: &UpdateOperation, wait: bool) -> Result<UpdateResult> {
        self.update_resolved(op, wait).map(|(result, _)| result)
    }

    /// [`LocalShard::update`] of an operation nothing needs afterwards (a write of a shard with
    /// no other replica): its points' vectors and payloads move into the table, not copied.
    pub fn update_owned(&self, op: UpdateOperation, wait: bool) -> Result<UpdateResult> {
        if crate::resolve::needs_resolution(&op) {
            return self.update(&op, wait);
        }
        let mut record = encode_record(&op)?;
        let mut op = op;
        let (seq, missing_point) = {
            let _order = self.write_lock.lock();
            let missing = apply::without_missing(&self.table.read(), &op);
            let missing_point = match missing {
                Some((existing, first_missing)) => {
                    op = existing;
                    record = encode_record(&op)?;
                    Some(first_missing)
                }
                None => None,
            };
            let seq = self.wal.append(&record)?;
            apply::apply_owned(&mut self.table.write(), seq, op);
            self.applied_seq.store(seq, Ordering::Release);
            (seq, missing_point)
        };
        Ok(UpdateResult { missing_point, ..self.updated(seq, wait)? })
    }

    /// [`LocalShard::update`], returning the record as logged: a filter that matches text is
    /// resolved to the ids it selects now (`resolve.rs`); a primary sends that to its replicas.
    pub fn update_resolved(&self, op: &UpdateOperation, wait: bool) -> Result<(UpdateResult, LoggedRecord)> {
        let resolve = crate::resolve::needs_resolution(op);
        let encoded = if resolve { None } else { Some(LoggedRecord::encode(op.clone())?) };
        let (seq, logged, missing_point) = {
            let _order = self.write_lock.lock();
            let mut logged = match encoded {
                Some(logged) => logged,
                None => LoggedRecord::encode(crate::resolve::resolve(&self.table.read(), op.clone()))?,
            };
            let missing = apply::without_missing(&self.table.read(), logged.op());
            let missing_point = match missing {
                Some((existing, first_missing)) => {
                    logged = LoggedRecord::encode(existing)?;
                    Some(first_missing)
                }
                None => None,
            };
            let seq = self.wal.append(logged.bytes())?;
            apply::apply(&mut self.table.write(), seq, logged.op());
            self.applied_seq.store(seq, Ordering::Release);
            (seq, logged, missing_point)
        };
        Ok((UpdateResult { missing_point, ..self.updated(seq, wait)? }, logged))
    }

    /// After the operation `seq` is logged and applied: wakes the indexer and, with `wait`,
    /// returns only once the record is fsynced.
    fn updated(&self, seq: SeqNo, wait: bool) -> Result<UpdateResult> {
        self.indexer.notify();
        if wait {
            self.wal.sync_through(seq)?;
        }
        let status = if wait { UpdateStatus::Completed } else { UpdateStatus::Acknowledged };
        Ok(UpdateResult { operation_id: Some(seq), status, missing_point: None })
    }

    /// Makes every logged operation durable (used on shutdown and by `wait=false` flushes).
    pub fn sync(&self) -> Result<()> {
        Ok(self.wal.sync_through(self.wal.last_seq())?)
    }

    /// Whether a checkpoint is due: changed points exist and the WAL is larger than `wal_bytes_max`
    /// or `force` is set, and no install is replacing them.
    pub fn checkpoint_due(&self, wal_bytes_max: u64, force: bool) -> bool {
        // The data an install will replace is not worth writing (`replacing.rs`).
        if self.replacing.under_way() {
            return false;
        }
        let dirty = self.table.read().dirty_count() > 0;
        dirty && (force || self.wal.size_bytes() > wal_bytes_max)
    }

    /// Writes the points changed since the last checkpoint, then drops the WAL it covers.
    pub fn checkpoint(&self) -> Result<()> {
        let (changes, seq, dirty) = {
            let _order = self.write_lock.lock();
            let mut table = self.table.write();
            let dirty = table.take_dirty();
            let changes: Vec<CheckpointChange> = dirty
                .iter()
                .map(|id| match table.get(id) {
                    Some(p) => CheckpointChange::Put(p.to_stored()),
                    None => CheckpointChange::Remove(*id),
                })
                .collect();
            (changes, self.applied_seq(), dirty)
        };
        // The WAL must be durable up to `seq` before the checkpoint claims it.
        self.wal.sync_through(seq)?;
        if let Err(e) = self.checkpoint.lock().write(&changes, seq) {
            self.table.write().restore_dirty(dirty);
            return Err(e.into());
        }
        self.indexer.request_save();
        let retention = self.wal_retention_bytes.load(Ordering::Acquire);
        if retention == 0 || self.wal.size_bytes() > retention {
            self.wal.truncate_before(seq + 1)?;
        }
        Ok(())
    }
}

impl From<ShardError> for StorageError {
    fn from(e: ShardError) -> Self {
        match e {
            ShardError::Storage(s) => s,
            ShardError::BadInput(_) => StorageError::BadInput(e.to_string()),
        }
    }
}
