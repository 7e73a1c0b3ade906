//! The durable checkpoint of a shard's points in a `redb` file.
//!
//! The WAL makes writes durable; the checkpoint bounds restart time. A checkpoint writes the
//! points changed since the previous one together with the sequence number they reflect in one
//! fsynced redb transaction; the WAL before that number can then be dropped. Restart loads the
//! checkpoint and replays only the WAL suffix after it.

use crate::error::{Result, StorageError};
use crate::points::StoredPoint;
use quiver_types::PointId;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::Path;

const POINTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("points");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const APPLIED_SEQ: &str = "applied_seq";
const FORMAT: &str = "format_version";
/// Version of the value encoding; bumped on any change to `StoredPoint`'s encoding.
const FORMAT_VERSION: u64 = 1;

/// One shard's checkpoint file.
pub struct CheckpointStore {
    db: Database,
}

/// A change to write at the next checkpoint: a point's new content, or its removal.
pub enum CheckpointChange {
    Put(StoredPoint),
    Remove(PointId),
}

fn store_err(e: impl std::fmt::Display) -> StorageError {
    StorageError::Store(e.to_string())
}

/// Encodes a point id as an ordered key: tag byte then big-endian bytes.
pub fn encode_key(id: &PointId) -> Vec<u8> {
    match id {
        PointId::Num(n) => {
            let mut key = vec![0u8];
            key.extend_from_slice(&n.to_be_bytes());
            key
        }
        PointId::Uuid(u) => {
            let mut key = vec![1u8];
            key.extend_from_slice(u.as_bytes());
            key
        }
    }
}

/// Encodes a stored point (version-prefixed MessagePack).
pub fn encode_point(point: &StoredPoint) -> Result<Vec<u8>> {
    let mut out = vec![FORMAT_VERSION as u8];
    rmp_serde::encode::write_named(&mut out, point).map_err(|e| StorageError::Encoding(e.to_string()))?;
    Ok(out)
}

/// Decodes a stored point written by `encode_point`.
pub fn decode_point(bytes: &[u8]) -> Result<StoredPoint> {
    match bytes.split_first() {
        Some((&v, rest)) if u64::from(v) == FORMAT_VERSION => {
            rmp_serde::from_slice(rest).map_err(|e| StorageError::Encoding(e.to_string()))
        }
        Some((v, _)) => Err(StorageError::Corrupt(format!("unknown point format version {v}"))),
        None => Err(StorageError::Corrupt("empty point record".into())),
    }
}

impl CheckpointStore {
    /// Opens or creates the checkpoint file at `path`.
    pub fn open(path: &Path) -> Result<CheckpointStore> {
        let db = Database::create(path).map_err(store_err)?;
        let store = CheckpointStore { db };
        store.check_format()?;
        Ok(store)
    }

    fn check_format(&self) -> Result<()> {
        let txn = self.db.begin_write().map_err(store_err)?;
        {
            let mut meta = txn.open_table(META).map_err(store_err)?;
            let found = meta.get(FORMAT).map_err(store_err)?.map(|g| g.value());
            match found {
                Some(v) if v != FORMAT_VERSION => {
                    return Err(StorageError::Corrupt(format!("checkpoint format {v}, expected {FORMAT_VERSION}")));
                }
                Some(_) => {}
                None => {
                    meta.insert(FORMAT, FORMAT_VERSION).map_err(store_err)?;
                }
            }
            txn.open_table(POINTS).map_err(store_err)?;
        }
        txn.commit().map_err(store_err)
    }

    /// The WAL sequence number the checkpoint reflects (0 for none).
    pub fn applied_seq(&self) -> Result<u64> {
        let txn = self.db.begin_read().map_err(store_err)?;
        let meta = txn.open_table(META).map_err(store_err)?;
        Ok(meta.get(APPLIED_SEQ).map_err(store_err)?.map(|g| g.value()).unwrap_or(0))
    }

    /// Calls `f` with every checkpointed point.
    pub fn load(&self, mut f: impl FnMut(StoredPoint)) -> Result<()> {
        let txn = self.db.begin_read().map_err(store_err)?;
        let points = txn.open_table(POINTS).map_err(store_err)?;
        for item in points.iter().map_err(store_err)? {
            let (_, value) = item.map_err(store_err)?;
            f(decode_point(value.value())?);
        }
        Ok(())
    }

    /// Writes `changes` and `applied_seq` in one durable (fsynced) transaction.
    pub fn write(&self, changes: &[CheckpointChange], applied_seq: u64) -> Result<()> {
        let txn = self.db.begin_write().map_err(store_err)?;
        {
            let mut points = txn.open_table(POINTS).map_err(store_err)?;
            for change in changes {
                match change {
                    CheckpointChange::Put(point) => {
                        let value = encode_point(point)?;
                        points.insert(encode_key(&point.id).as_slice(), value.as_slice()).map_err(store_err)?;
                    }
                    CheckpointChange::Remove(id) => {
                        points.remove(encode_key(id).as_slice()).map_err(store_err)?;
                    }
                }
            }
            let mut meta = txn.open_table(META).map_err(store_err)?;
            meta.insert(APPLIED_SEQ, applied_seq).map_err(store_err)?;
        }
        txn.commit().map_err(store_err)
    }

    /// Replaces every point with `points` as of `applied_seq`, in one durable transaction (a
    /// shard replaced wholesale by a transfer).
    pub fn replace_all(&self, points: &[StoredPoint], applied_seq: u64) -> Result<()> {
        let txn = self.db.begin_write().map_err(store_err)?;
        txn.delete_table(POINTS).map_err(store_err)?;
        {
            let mut table = txn.open_table(POINTS).map_err(store_err)?;
            for point in points {
                let value = encode_point(point)?;
                table.insert(encode_key(&point.id).as_slice(), value.as_slice()).map_err(store_err)?;
            }
            let mut meta = txn.open_table(META).map_err(store_err)?;
            meta.insert(APPLIED_SEQ, applied_seq).map_err(store_err)?;
        }
        txn.commit().map_err(store_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiver_types::point::{NamedVectors, Payload, Vector};

    #[test]
    fn write_reopen_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("points.redb");
        let point = StoredPoint {
            id: PointId::Num(7),
            version: 3,
            vectors: NamedVectors::from([(String::new(), Vector::Dense(vec![1.0, 2.0]))]),
            payload: serde_json::from_str::<Payload>(r#"{"a": {"b": [1, "x", null]}}"#).unwrap(),
        };
        {
            let store = CheckpointStore::open(&path).unwrap();
            store.write(&[CheckpointChange::Put(point.clone())], 3).unwrap();
        }
        let store = CheckpointStore::open(&path).unwrap();
        assert_eq!(store.applied_seq().unwrap(), 3);
        let mut loaded = vec![];
        store.load(|p| loaded.push(p)).unwrap();
        assert_eq!(loaded, vec![point]);
        store.write(&[CheckpointChange::Remove(PointId::Num(7))], 4).unwrap();
        let mut count = 0;
        store.load(|_| count += 1).unwrap();
        assert_eq!(count, 0);
    }
}
