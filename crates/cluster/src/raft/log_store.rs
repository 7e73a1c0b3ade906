//! The Raft log, vote and committed id, persisted in one redb file. `append` reports completion
//! only after the durable commit (fsync), as openraft requires.

use super::{StorageError, TypeConfig, io_error};
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{Entry, LogId, RaftLogReader, StorageIOError, Vote};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const VOTE: &str = "vote";
const COMMITTED: &str = "committed";
const PURGED: &str = "last_purged";

/// Cheaply cloned handle to the log file.
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
    /// Index of the last committed entry, for `GET /cluster` and `/readyz`.
    committed_index: Arc<AtomicU64>,
}

fn read_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::read_logs(&io_error(e)).into()
}

fn write_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::write_logs(&io_error(e)).into()
}

impl LogStore {
    ///
    /// A new log is created under another name and renamed in once its tables are committed:
    /// redb writes its magic number last, so a process killed while creating the file in place
    /// would leave one no later start can open.
    pub fn open(path: &Path) -> Result<LogStore, String> {
        let fresh = !path.exists();
        let creating = path.with_extension("creating");
        if fresh {
            let _ = std::fs::remove_file(&creating); // a killed start's leftover
        }
        let at = if fresh { creating.as_path() } else { path };
        let db = Database::create(at).map_err(|e| format!("open raft log {}: {e}", at.display()))?;
        let txn = db.begin_write().map_err(|e| e.to_string())?;
        txn.open_table(LOG).map_err(|e| e.to_string())?;
        txn.open_table(META).map_err(|e| e.to_string())?;
        txn.commit().map_err(|e| e.to_string())?;
        if fresh {
            std::fs::rename(at, path).map_err(|e| format!("create raft log {}: {e}", path.display()))?;
            if let Some(dir) = path.parent() {
                std::fs::File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| format!("sync {}: {e}", dir.display()))?;
            }
        }
        let store = LogStore { db: Arc::new(db), committed_index: Arc::new(AtomicU64::new(0)) };
        let committed = store.meta_get::<Option<LogId<u64>>>(COMMITTED).map_err(|e| e.to_string())?.flatten();
        store.committed_index.store(committed.map_or(0, |c| c.index), Ordering::Release);
        Ok(store)
    }

    /// The last committed index this peer knows.
    pub fn committed_index(&self) -> u64 {
        self.committed_index.load(Ordering::Acquire)
    }

    fn meta_get<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StorageError> {
        let txn = self.db.begin_read().map_err(read_err)?;
        let table = txn.open_table(META).map_err(read_err)?;
        match table.get(key).map_err(read_err)? {
            Some(v) => serde_json::from_slice(v.value()).map(Some).map_err(read_err),
            None => Ok(None),
        }
    }

    fn meta_put<T: serde::Serialize>(&self, key: &str, value: &T) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(value).map_err(write_err)?;
        let txn = self.db.begin_write().map_err(write_err)?;
        txn.open_table(META).map_err(write_err)?.insert(key, bytes.as_slice()).map_err(write_err)?;
        txn.commit().map_err(write_err)
    }

    fn last_entry_id(&self) -> Result<Option<LogId<u64>>, StorageError> {
        let txn = self.db.begin_read().map_err(read_err)?;
        let table = txn.open_table(LOG).map_err(read_err)?;
        match table.last().map_err(read_err)? {
            Some((_, v)) => {
                let entry: Entry<TypeConfig> = serde_json::from_slice(v.value()).map_err(read_err)?;
                Ok(Some(entry.log_id))
            }
            None => Ok(None),
        }
    }

    /// Removes entries in `range` (used by truncate and purge).
    fn remove_range(&self, from: Bound<u64>, to: Bound<u64>) -> Result<(), StorageError> {
        let txn = self.db.begin_write().map_err(write_err)?;
        {
            let mut table = txn.open_table(LOG).map_err(write_err)?;
            let keys: Vec<u64> = table
                .range::<u64>((from, to))
                .map_err(write_err)?
                .map(|item| item.map(|(k, _)| k.value()))
                .collect::<Result<_, _>>()
                .map_err(write_err)?;
            for key in keys {
                table.remove(key).map_err(write_err)?;
            }
        }
        txn.commit().map_err(write_err)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError> {
        let txn = self.db.begin_read().map_err(read_err)?;
        let table = txn.open_table(LOG).map_err(read_err)?;
        let bounds = (range.start_bound().cloned(), range.end_bound().cloned());
        let mut out = Vec::new();
        for item in table.range::<u64>(bounds).map_err(read_err)? {
            let (_, v) = item.map_err(read_err)?;
            out.push(serde_json::from_slice(v.value()).map_err(read_err)?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id = self.meta_get::<LogId<u64>>(PURGED)?;
        let last_log_id = self.last_entry_id()?.or(last_purged_log_id);
        Ok(LogState { last_purged_log_id, last_log_id })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError> {
        self.meta_put(VOTE, vote)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError> {
        self.meta_get(VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId<u64>>) -> Result<(), StorageError> {
        self.meta_put(COMMITTED, &committed)?;
        self.committed_index.store(committed.map_or(0, |c| c.index), Ordering::Release);
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<u64>>, StorageError> {
        Ok(self.meta_get::<Option<LogId<u64>>>(COMMITTED)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let txn = self.db.begin_write().map_err(write_err)?;
        {
            let mut table = txn.open_table(LOG).map_err(write_err)?;
            for entry in entries {
                let bytes = serde_json::to_vec(&entry).map_err(write_err)?;
                table.insert(entry.log_id.index, bytes.as_slice()).map_err(write_err)?;
            }
        }
        let result = txn.commit().map_err(io_error);
        callback.log_io_completed(result);
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), StorageError> {
        self.remove_range(Bound::Included(log_id.index), Bound::Unbounded)
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), StorageError> {
        self.meta_put(PURGED, &log_id)?;
        self.remove_range(Bound::Unbounded, Bound::Included(log_id.index))
    }
}
