//! The durable checkpoint of a shard's points in a `redb` file.
//!
//! The WAL makes writes durable; the checkpoint bounds restart time. A checkpoint writes the
//! points changed since the previous one together with the sequence number they reflect in one
//! fsynced redb transaction; the WAL before that number can then be dropped. Restart loads the
//! checkpoint and replays only the WAL suffix after it. A shard replaced wholesale (transfer,
//! snapshot) gets a new checkpoint built beside the live one in one transaction per batch and
//! renamed over it once complete.

use crate::error::{Result, StorageError};
use crate::frames;
use crate::points::StoredPoint;
use quiver_types::PointId;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::path::{Path, PathBuf};

const POINTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("points");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const APPLIED_SEQ: &str = "applied_seq";
/// Set by an install: the first sequence number the shard's WAL may hold with this checkpoint
/// (records before it belong to the replaced data; see [`CheckpointStore::wal_from`]).
const WAL_FROM: &str = "wal_from";
const FORMAT: &str = "format_version";
/// Version of the store; 2 since values may be point frames (design record 019). A store of
/// version 1 (MessagePack values only) is upgraded in place when opened: both value encodings
/// stay readable, and a binary older than version 2 refuses the file instead of misreading it.
const FORMAT_VERSION: u64 = 2;
/// Value prefix of a MessagePack point (format 1).
const VALUE_MSGPACK: u8 = 1;
/// Value prefix of a point frame (`frames::encode_point`).
const VALUE_FRAME: u8 = 2;
/// Suffix of the file an install builds beside the live one.
const INSTALL_SUFFIX: &str = "install";

/// One shard's checkpoint file.
pub struct CheckpointStore {
    /// `None` once a write failed: redb refuses every later transaction of that handle
    /// ("Previous I/O error occurred"), so it is closed and the next write opens the file again.
    db: Option<Database>,
    path: PathBuf,
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

/// Encodes a stored point (version-prefixed point frame).
pub fn encode_point(point: &StoredPoint) -> Result<Vec<u8>> {
    let mut out = vec![VALUE_FRAME];
    frames::encode_point(&mut out, point)?;
    Ok(out)
}

/// Decodes a stored point written by `encode_point` (or by format 1, MessagePack).
pub fn decode_point(bytes: &[u8]) -> Result<StoredPoint> {
    match bytes.split_first() {
        Some((&VALUE_FRAME, rest)) => frames::decode_point(rest),
        Some((&VALUE_MSGPACK, rest)) => rmp_serde::from_slice(rest).map_err(|e| StorageError::Encoding(e.to_string())),
        Some((v, _)) => Err(StorageError::Corrupt(format!("unknown point format version {v}"))),
        None => Err(StorageError::Corrupt("empty point record".into())),
    }
}

/// Calls `f` with the point stored as `bytes`, borrowed as a frame (format 1's MessagePack is
/// encoded as a frame first).
fn with_point_frame(bytes: &[u8], f: &mut impl FnMut(frames::PointFrame<'_>) -> Result<()>) -> Result<()> {
    match bytes.split_first() {
        Some((&VALUE_FRAME, rest)) => f(frames::decode_point_frame(rest)?),
        Some(_) | None => {
            let mut frame = Vec::new();
            frames::encode_point(&mut frame, &decode_point(bytes)?)?;
            f(frames::decode_point_frame(&frame)?)
        }
    }
}

/// Bytes of redb's page cache (read cache and write buffer together) per checkpoint file. The
/// points live in the table; the file is read once at open and written by checkpoints, so a
/// cache only duplicates the table. With redb's default of 1 GiB a file, the pages of every point
/// written stayed cached: 300k × 384-d points loaded over REST grew the process by 5,586 bytes a
/// point, and by 2,925 with this cache (`bench/scale.py`, same machine, one run each).
const CHECKPOINT_CACHE_BYTES: usize = 16 << 20;

/// Opens or creates a checkpoint file with `CHECKPOINT_CACHE_BYTES` of cache.
fn create_database(path: &Path) -> Result<Database> {
    redb::Builder::new().set_cache_size(CHECKPOINT_CACHE_BYTES).create(path).map_err(store_err)
}

impl CheckpointStore {
    /// Opens or creates the checkpoint file at `path`; an install interrupted before it was put
    /// in place (its file beside this one) is discarded.
    ///
    /// A new file is created and formatted under an install name and renamed in once complete:
    /// redb writes its magic number last, so a process killed while creating it in place would
    /// leave a file no later start can open.
    pub fn open(path: &Path) -> Result<CheckpointStore> {
        remove_unfinished_installs(path)?;
        let fresh = !path.exists();
        let creating = if fresh { path.with_extension(format!("{INSTALL_SUFFIX}.new")) } else { path.to_path_buf() };
        let db = create_database(&creating)?;
        let store = CheckpointStore { db: Some(db), path: path.to_path_buf() };
        store.check_format()?;
        if fresh {
            std::fs::rename(&creating, path).map_err(|e| StorageError::io("create checkpoint", path, e))?;
            sync_parent_dir(path)?;
        }
        Ok(store)
    }

    fn db(&self) -> Result<&Database> {
        self.db.as_ref().ok_or_else(|| StorageError::Store("checkpoint file closed after a failed write".into()))
    }

    fn check_format(&self) -> Result<()> {
        let txn = self.db()?.begin_write().map_err(store_err)?;
        {
            let mut meta = txn.open_table(META).map_err(store_err)?;
            let found = meta.get(FORMAT).map_err(store_err)?.map(|g| g.value());
            match found {
                Some(v) if v > FORMAT_VERSION || v == 0 => {
                    return Err(StorageError::Corrupt(format!(
                        "checkpoint format {v}, this build reads 1 to {FORMAT_VERSION}"
                    )));
                }
                Some(FORMAT_VERSION) => {}
                Some(_) | None => {
                    meta.insert(FORMAT, FORMAT_VERSION).map_err(store_err)?;
                }
            }
            txn.open_table(POINTS).map_err(store_err)?;
        }
        txn.commit().map_err(store_err)
    }

    /// The WAL sequence number the checkpoint reflects (0 for none).
    pub fn applied_seq(&self) -> Result<u64> {
        self.meta(APPLIED_SEQ).map(|v| v.unwrap_or(0))
    }

    /// Points the checkpoint holds.
    pub fn point_count(&self) -> Result<u64> {
        let txn = self.db()?.begin_read().map_err(store_err)?;
        let points = txn.open_table(POINTS).map_err(store_err)?;
        points.len().map_err(store_err)
    }

    /// After an install: the first sequence number the WAL may hold with this checkpoint. WAL
    /// records below it predate the install (a crash came between the checkpoint swap and the
    /// WAL reset) and must be dropped, not replayed.
    pub fn wal_from(&self) -> Result<Option<u64>> {
        self.meta(WAL_FROM)
    }

    fn meta(&self, key: &str) -> Result<Option<u64>> {
        let txn = self.db()?.begin_read().map_err(store_err)?;
        let meta = txn.open_table(META).map_err(store_err)?;
        Ok(meta.get(key).map_err(store_err)?.map(|g| g.value()))
    }

    /// Calls `f` with every checkpointed point.
    pub fn load(&self, mut f: impl FnMut(StoredPoint)) -> Result<()> {
        let txn = self.db()?.begin_read().map_err(store_err)?;
        let points = txn.open_table(POINTS).map_err(store_err)?;
        for item in points.iter().map_err(store_err)? {
            let (_, value) = item.map_err(store_err)?;
            f(decode_point(value.value())?);
        }
        Ok(())
    }

    /// Calls `f` with every checkpointed point, as [`Self::load`] does, the file read meanwhile
    /// by `threads` (at least one) other threads over ranges of keys (design record 026): they
    /// hand over redb's value guards in batches, decoded and given to `f` on the calling thread.
    /// The points of one range come in key order, the ranges in any order.
    pub fn load_parallel(&self, threads: usize, mut f: impl FnMut(StoredPoint)) -> Result<()> {
        self.load_parallel_frames(threads, |frame| {
            let payload = rmp_serde::from_slice(frame.payload)
                .map_err(|e| StorageError::Corrupt(format!("payload of point {}: {e}", frame.id)))?;
            let mut point = frame.into_point();
            point.payload = payload;
            f(point);
            Ok(())
        })
    }

    /// As [`Self::load_parallel`], each point given as a frame borrowing the stored bytes (its
    /// payload still encoded, its dense vectors little-endian bytes: copied once, into the
    /// table's column); an error of `f` stops the load.
    pub fn load_parallel_frames(
        &self,
        threads: usize,
        mut f: impl FnMut(frames::PointFrame<'_>) -> Result<()>,
    ) -> Result<()> {
        let threads = threads.max(1);
        let txn = self.db()?.begin_read().map_err(store_err)?;
        let points = txn.open_table(POINTS).map_err(store_err)?;
        let ranges = key_ranges(&points, threads * RANGES_PER_THREAD)?;
        let next = std::sync::atomic::AtomicUsize::new(0);
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<StoredBatch<'_>>>(threads * 2);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                let (tx, points, ranges, next) = (tx.clone(), &points, &ranges, &next);
                scope.spawn(move || {
                    while let Some(range) = ranges.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
                        if let Err(e) = read_range(points, range, &tx) {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                });
            }
            drop(tx);
            // On an error the receiver is dropped here, so the readers stop at their next send.
            let rx = rx;
            for batch in rx {
                for value in batch? {
                    with_point_frame(value.value(), &mut f)?;
                }
            }
            Ok(())
        })
    }

    /// Writes `changes` and `applied_seq` in one durable (fsynced) transaction. A failed write
    /// (the disk full, say) closes the file; the next write opens it again, which puts it back
    /// to its last committed transaction, so checkpoints resume once the cause is gone instead
    /// of failing until a restart (the WAL keeps every change meanwhile).
    pub fn write(&mut self, changes: &[CheckpointChange], applied_seq: u64) -> Result<()> {
        if self.db.is_none() {
            self.db = Some(create_database(&self.path)?);
        }
        let written = self.write_transaction(changes, applied_seq);
        if written.is_err() {
            self.db = None;
        }
        written
    }

    fn write_transaction(&self, changes: &[CheckpointChange], applied_seq: u64) -> Result<()> {
        let txn = self.db()?.begin_write().map_err(store_err)?;
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

    /// Starts a new checkpoint that will replace this one wholesale (a shard replaced by a
    /// transfer or a snapshot), built in a file beside it.
    pub fn build_replacement(&self) -> Result<CheckpointBuilder> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        CheckpointBuilder::create(install_path(&self.path, n))
    }

    /// Puts the finished replacement in place of this checkpoint (an atomic rename: a crash
    /// leaves the old checkpoint or the new one, never a mix).
    pub fn replace_with(&mut self, built: BuiltCheckpoint) -> Result<()> {
        std::fs::rename(&built.path, &self.path).map_err(|e| StorageError::io("install checkpoint", &self.path, e))?;
        sync_parent_dir(&self.path)?;
        self.db = Some(create_database(&self.path)?);
        Ok(())
    }
}

/// Key ranges per reading thread of [`CheckpointStore::load_parallel`] (more ranges than
/// threads even out ranges of unequal density).
const RANGES_PER_THREAD: usize = 8;
/// Points a reading thread hands over at a time.
const LOAD_BATCH: usize = 256;

type KeyRange = (std::ops::Bound<Vec<u8>>, std::ops::Bound<Vec<u8>>);

/// A key's place on a line through the key space: its first 9 bytes (the id's tag and the 8
/// leading bytes of the id), big-endian.
fn key_position(key: &[u8]) -> u128 {
    let mut bytes = [0u8; 16];
    let n = key.len().min(9);
    bytes[7..7 + n].copy_from_slice(&key[..n]);
    u128::from_be_bytes(bytes)
}

/// `count` ranges covering every key, cut at even places between the first and last keys
/// (ids spread unevenly only make some ranges longer).
fn key_ranges(points: &redb::ReadOnlyTable<&[u8], &[u8]>, count: usize) -> Result<Vec<KeyRange>> {
    use std::ops::Bound::{Excluded, Included, Unbounded};
    let first = points.first().map_err(store_err)?.map(|(k, _)| key_position(k.value()));
    let last = points.last().map_err(store_err)?.map(|(k, _)| key_position(k.value()));
    let (Some(low), Some(high)) = (first, last) else { return Ok(vec![(Unbounded, Unbounded)]) };
    let mut cuts: Vec<Vec<u8>> = (1..count as u128)
        .map(|i| low + (high - low) * i / count as u128)
        .map(|p| p.to_be_bytes()[7..].to_vec())
        .collect();
    cuts.dedup();
    let starts: Vec<_> = std::iter::once(Unbounded).chain(cuts.iter().cloned().map(Included)).collect();
    let ends = cuts.into_iter().map(Excluded).chain(std::iter::once(Unbounded));
    Ok(starts.into_iter().zip(ends).collect())
}

/// Stored values of consecutive points, as redb hands them out: the receiving thread reads
/// each in place and drops it (the reading thread neither copies nor frees the pages).
type StoredBatch<'t> = Vec<redb::AccessGuard<'t, &'static [u8]>>;

/// Reads the stored values of `range`, sending them in batches.
fn read_range<'t>(
    points: &'t redb::ReadOnlyTable<&[u8], &[u8]>,
    (start, end): &KeyRange,
    tx: &std::sync::mpsc::SyncSender<Result<StoredBatch<'t>>>,
) -> Result<()> {
    let bounds = (start.as_ref().map(Vec::as_slice), end.as_ref().map(Vec::as_slice));
    let mut batch = Vec::with_capacity(LOAD_BATCH);
    for item in points.range::<&[u8]>(bounds).map_err(store_err)? {
        let (_, value) = item.map_err(store_err)?;
        batch.push(value);
        if batch.len() == LOAD_BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(LOAD_BATCH));
            if tx.send(Ok(full)).is_err() {
                return Ok(()); // the receiver stopped (an error elsewhere)
            }
        }
    }
    if !batch.is_empty() {
        let _ = tx.send(Ok(batch));
    }
    Ok(())
}

/// `points.install.<n>` beside `points.redb`: one name per replacement being built.
fn install_path(live: &Path, n: u64) -> PathBuf {
    live.with_extension(format!("{INSTALL_SUFFIX}.{n}"))
}

fn sync_parent_dir(path: &Path) -> Result<()> {
    match path.parent() {
        Some(dir) => {
            std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StorageError::io("sync shard dir", dir, e))
        }
        None => Ok(()),
    }
}

fn remove_unfinished_installs(live: &Path) -> Result<()> {
    let (Some(dir), Some(stem)) = (live.parent(), live.file_stem().and_then(|s| s.to_str())) else {
        return Ok(());
    };
    let prefix = format!("{stem}.{INSTALL_SUFFIX}.");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(()); // no directory yet: nothing was left
    };
    for entry in entries.flatten() {
        if entry.file_name().to_str().is_some_and(|n| n.starts_with(&prefix)) {
            remove_if_present(&entry.path())?;
        }
    }
    Ok(())
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StorageError::io("remove unfinished checkpoint", path, e)),
    }
}

/// A replacement checkpoint being built: one durable redb transaction per batch of points (so
/// the disk writes and fsyncs overlap the copy instead of piling up for the end), taken as the
/// replica's data only once [`CheckpointBuilder::finish`] has recorded its sequence number and
/// it is renamed in. Dropped unfinished, its file is removed (and a crash's leftover at open).
pub struct CheckpointBuilder {
    db: Option<Database>,
    path: PathBuf,
}

/// A finished replacement, durable in its file, for [`CheckpointStore::replace_with`].
pub struct BuiltCheckpoint {
    path: PathBuf,
}

impl CheckpointBuilder {
    fn create(path: PathBuf) -> Result<CheckpointBuilder> {
        remove_if_present(&path)?;
        let db = create_database(&path)?;
        Ok(CheckpointBuilder { db: Some(db), path })
    }

    fn db(&self) -> Result<&Database> {
        self.db.as_ref().ok_or_else(|| StorageError::Store("checkpoint builder is finished".into()))
    }

    /// Writes one batch of points, each given by its key and its point frame bytes
    /// (`frames::encode_point`), in one durable transaction.
    pub fn put_frames<'a>(&self, batch: impl IntoIterator<Item = (&'a PointId, &'a [u8])>) -> Result<()> {
        let mut txn = self.db()?.begin_write().map_err(store_err)?;
        txn.set_durability(Durability::Immediate).map_err(store_err)?;
        {
            let mut table = txn.open_table(POINTS).map_err(store_err)?;
            let mut value = Vec::new();
            for (id, frame) in batch {
                value.clear();
                value.push(VALUE_FRAME);
                value.extend_from_slice(frame);
                table.insert(encode_key(id).as_slice(), value.as_slice()).map_err(store_err)?;
            }
        }
        txn.commit().map_err(store_err)
    }

    /// Records `applied_seq` (and that the WAL continues at `applied_seq + 1`) durably.
    pub fn finish(mut self, applied_seq: u64) -> Result<BuiltCheckpoint> {
        let txn = self.db()?.begin_write().map_err(store_err)?;
        {
            txn.open_table(POINTS).map_err(store_err)?;
            let mut meta = txn.open_table(META).map_err(store_err)?;
            meta.insert(FORMAT, FORMAT_VERSION).map_err(store_err)?;
            meta.insert(APPLIED_SEQ, applied_seq).map_err(store_err)?;
            meta.insert(WAL_FROM, applied_seq + 1).map_err(store_err)?;
        }
        txn.commit().map_err(store_err)?;
        self.db = None; // closes the file before it is renamed
        Ok(BuiltCheckpoint { path: std::mem::take(&mut self.path) })
    }
}

impl Drop for CheckpointBuilder {
    fn drop(&mut self) {
        self.db = None;
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
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
            let mut store = CheckpointStore::open(&path).unwrap();
            store.write(&[CheckpointChange::Put(point.clone())], 3).unwrap();
        }
        let mut store = CheckpointStore::open(&path).unwrap();
        assert_eq!(store.applied_seq().unwrap(), 3);
        let mut loaded = vec![];
        store.load(|p| loaded.push(p)).unwrap();
        assert_eq!(loaded, vec![point]);
        store.write(&[CheckpointChange::Remove(PointId::Num(7))], 4).unwrap();
        let mut count = 0;
        store.load(|_| count += 1).unwrap();
        assert_eq!(count, 0);
    }

    #[test]
    fn a_create_killed_half_way_leaves_nothing_that_fails_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("points.redb");
        // What a kill during redb's first write leaves: its header, magic number not yet set.
        let half_made = path.with_extension(format!("{INSTALL_SUFFIX}.new"));
        std::fs::write(&half_made, [0u8; 4096]).unwrap();
        let mut store = CheckpointStore::open(&path).unwrap();
        assert!(!half_made.exists(), "the unfinished file is removed");
        store.write(&[CheckpointChange::Put(point(1))], 1).unwrap();
        drop(store);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("points.redb")]);
        assert_eq!(CheckpointStore::open(&path).unwrap().applied_seq().unwrap(), 1);
    }

    fn point(id: u64) -> StoredPoint {
        StoredPoint {
            id: PointId::Num(id),
            version: id,
            vectors: NamedVectors::from([(String::new(), Vector::Dense(vec![id as f32, 0.5]))]),
            payload: Payload::new(),
        }
    }

    #[test]
    fn a_replacement_is_built_beside_and_swapped_in_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("points.redb");
        let mut store = CheckpointStore::open(&path).unwrap();
        store.write(&[CheckpointChange::Put(point(1))], 5).unwrap();
        let frames: Vec<(PointId, Vec<u8>)> = (10..13)
            .map(|i| {
                let mut bytes = vec![];
                frames::encode_point(&mut bytes, &point(i)).unwrap();
                (PointId::Num(i), bytes)
            })
            .collect();
        let abandoned = store.build_replacement().unwrap();
        abandoned.put_frames(frames.iter().map(|(id, b)| (id, b.as_slice()))).unwrap();
        drop(abandoned);
        let left = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(left, 1, "an abandoned replacement is removed");
        let builder = store.build_replacement().unwrap();
        for chunk in frames.chunks(2) {
            builder.put_frames(chunk.iter().map(|(id, b)| (id, b.as_slice()))).unwrap();
        }
        let mut loaded = vec![];
        store.load(|p| loaded.push(p.id)).unwrap();
        assert_eq!(loaded, vec![PointId::Num(1)], "the live checkpoint is untouched until the swap");
        store.replace_with(builder.finish(40).unwrap()).unwrap();
        drop(store);
        let store = CheckpointStore::open(&path).unwrap();
        let mut loaded = vec![];
        store.load(|p| loaded.push(p)).unwrap();
        assert_eq!(loaded, (10..13).map(point).collect::<Vec<_>>());
        assert_eq!((store.applied_seq().unwrap(), store.wal_from().unwrap()), (40, Some(41)));
    }

    #[test]
    fn a_parallel_load_gives_every_point_once_and_stops_at_a_damaged_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = CheckpointStore::open(&dir.path().join("points.redb")).unwrap();
        let mut points: Vec<StoredPoint> = (0..2_000).map(|i| point(i * 7919 % 100_003)).collect();
        points.extend((0..300u128).map(|i| StoredPoint {
            id: PointId::Uuid(uuid::Uuid::from_u128(i.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835))),
            ..point(1)
        }));
        let changes: Vec<_> = points.iter().cloned().map(CheckpointChange::Put).collect();
        store.write(&changes, 1).unwrap();
        let mut expected: Vec<PointId> = points.iter().map(|p| p.id).collect();
        expected.sort();
        for readers in [1, 3] {
            let mut loaded = vec![];
            store.load_parallel(readers, |p| loaded.push(p.id)).unwrap();
            loaded.sort();
            assert_eq!(loaded, expected, "{readers} readers");
        }
        let txn = store.db().unwrap().begin_write().unwrap();
        txn.open_table(POINTS)
            .unwrap()
            .insert(encode_key(&PointId::Num(50_000)).as_slice(), [VALUE_FRAME, 9].as_slice())
            .unwrap();
        txn.commit().unwrap();
        assert!(matches!(store.load_parallel(2, |_| {}), Err(StorageError::Corrupt(_))));
    }

    #[test]
    fn format_1_stores_are_read_and_upgraded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("points.redb");
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut meta = txn.open_table(META).unwrap();
                meta.insert(FORMAT, 1u64).unwrap();
                meta.insert(APPLIED_SEQ, 9u64).unwrap();
                let mut points = txn.open_table(POINTS).unwrap();
                let mut value = vec![VALUE_MSGPACK];
                rmp_serde::encode::write_named(&mut value, &point(3)).unwrap();
                points.insert(encode_key(&PointId::Num(3)).as_slice(), value.as_slice()).unwrap();
            }
            txn.commit().unwrap();
        }
        let mut store = CheckpointStore::open(&path).unwrap();
        store.write(&[CheckpointChange::Put(point(4))], 10).unwrap();
        let mut loaded = vec![];
        store.load(|p| loaded.push(p)).unwrap();
        assert_eq!(loaded, vec![point(3), point(4)]);
        assert_eq!(store.meta(FORMAT).unwrap(), Some(FORMAT_VERSION));
        assert_eq!(store.wal_from().unwrap(), None);
        assert!(matches!(decode_point(&[7, 1]), Err(StorageError::Corrupt(_))));
    }
}
