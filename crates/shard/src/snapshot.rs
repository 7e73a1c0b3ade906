//! The shard snapshot file: a consistent copy of one replica as of a sequence number, written
//! by a transfer source (`snapshot` method) and restored by the target.
//!
//! Layout: the magic `QVSHARD1`, the sequence number (u64 LE), then frames of
//! `len: u32 LE | crc32: u32 LE | MessagePack Vec<StoredPoint>`, ended by a frame of length 0.
//! Every frame is checked on restore; a truncated or corrupt file is refused before the replica
//! is touched.

use crate::error::{Result, ShardError};
use crate::shard::LocalShard;
use quiver_storage::StorageError;
use quiver_storage::points::StoredPoint;
use quiver_types::SeqNo;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

const MAGIC: &[u8; 8] = b"QVSHARD1";
/// Points per frame.
const FRAME_POINTS: usize = 1000;

/// What a snapshot file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The replica's applied sequence number the copy is consistent with.
    pub seq: SeqNo,
    pub points: usize,
    pub bytes: u64,
}

fn io<'a>(context: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> ShardError + 'a {
    move |e| StorageError::io(context, path, e).into()
}

fn corrupt(message: String) -> ShardError {
    StorageError::Corrupt(message).into()
}

impl LocalShard {
    /// Writes a consistent copy of the replica to `path` (fsynced).
    pub fn write_snapshot(&self, path: &Path) -> Result<SnapshotInfo> {
        let (seq, points) = self.snapshot_points();
        let file = std::fs::File::create(path).map_err(io("create shard snapshot", path))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(MAGIC).map_err(io("write shard snapshot", path))?;
        out.write_all(&seq.to_le_bytes()).map_err(io("write shard snapshot", path))?;
        let mut bytes = 16u64;
        for chunk in points.chunks(FRAME_POINTS) {
            let body = rmp_serde::to_vec_named(chunk).map_err(|e| StorageError::Encoding(e.to_string()))?;
            let len = u32::try_from(body.len()).map_err(|_| corrupt("snapshot frame over 4 GiB".into()))?;
            out.write_all(&len.to_le_bytes()).map_err(io("write shard snapshot", path))?;
            out.write_all(&crc32fast::hash(&body).to_le_bytes()).map_err(io("write shard snapshot", path))?;
            out.write_all(&body).map_err(io("write shard snapshot", path))?;
            bytes += 8 + body.len() as u64;
        }
        out.write_all(&0u32.to_le_bytes()).map_err(io("write shard snapshot", path))?;
        let file = out.into_inner().map_err(|e| io("write shard snapshot", path)(e.into_error()))?;
        file.sync_all().map_err(io("sync shard snapshot", path))?;
        Ok(SnapshotInfo { seq, points: points.len(), bytes: bytes + 4 })
    }

    /// Replaces the replica with the snapshot at `path` (checked whole before anything changes).
    pub fn restore_snapshot(&self, path: &Path) -> Result<SnapshotInfo> {
        let (seq, points, bytes) = read_snapshot(path)?;
        let count = points.len();
        self.install(seq, points)?;
        Ok(SnapshotInfo { seq, points: count, bytes })
    }
}

/// Reads and checks a whole snapshot file: `(seq, points, bytes)`.
pub fn read_snapshot(path: &Path) -> Result<(SeqNo, Vec<StoredPoint>, u64)> {
    let file = std::fs::File::open(path).map_err(io("open shard snapshot", path))?;
    let mut input = BufReader::with_capacity(1 << 20, file);
    let mut header = [0u8; 16];
    input.read_exact(&mut header).map_err(|_| corrupt(format!("{} is not a shard snapshot", path.display())))?;
    if &header[..8] != MAGIC {
        return Err(corrupt(format!("{} is not a shard snapshot", path.display())));
    }
    let seq = u64::from_le_bytes(header[8..16].try_into().unwrap_or_default());
    let (mut points, mut bytes) = (Vec::new(), 16u64);
    loop {
        let mut frame = [0u8; 4];
        input.read_exact(&mut frame).map_err(|_| corrupt("shard snapshot is truncated".into()))?;
        let len = u32::from_le_bytes(frame) as usize;
        bytes += 4;
        if len == 0 {
            return Ok((seq, points, bytes));
        }
        input.read_exact(&mut frame).map_err(|_| corrupt("shard snapshot is truncated".into()))?;
        let mut body = vec![0u8; len];
        input.read_exact(&mut body).map_err(|_| corrupt("shard snapshot is truncated".into()))?;
        if crc32fast::hash(&body) != u32::from_le_bytes(frame) {
            return Err(corrupt("shard snapshot frame fails its checksum".into()));
        }
        let chunk: Vec<StoredPoint> =
            rmp_serde::from_slice(&body).map_err(|e| StorageError::Encoding(e.to_string()))?;
        points.extend(chunk);
        bytes += 4 + len as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::ShardConfig;
    use quiver_types::config::Distance;
    use quiver_types::ops::{UpdateMode, UpdateOperation};
    use quiver_types::point::{PointStruct, Vector};
    use std::collections::BTreeMap;

    fn shard(dir: &Path) -> LocalShard {
        let dense = BTreeMap::from([(String::new(), quiver_storage::vectors::VectorSpec::plain(2, Distance::Dot))]);
        let index = crate::IndexConfig::default();
        LocalShard::open(dir, ShardConfig { dense, sparse: Default::default(), wal_segment_bytes: 1 << 20, index })
            .unwrap()
    }

    fn upsert(ids: std::ops::Range<u64>) -> UpdateOperation {
        let points = ids
            .map(|i| PointStruct {
                id: i.into(),
                vectors: BTreeMap::from([(String::new(), Vector::Dense(vec![i as f32, 1.0]))]),
                payload: Some(serde_json::from_value(serde_json::json!({"i": i})).unwrap()),
            })
            .collect();
        UpdateOperation::Upsert { points, mode: UpdateMode::Upsert, update_filter: None }
    }

    #[test]
    fn snapshot_round_trip_replaces_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let source = shard(&dir.path().join("source"));
        source.update(&upsert(0..2500), true).unwrap();
        source.update(&upsert(10..20), true).unwrap();
        let target = shard(&dir.path().join("target"));
        target.update(&upsert(5000..5003), true).unwrap();
        let path = dir.path().join("snap");
        let written = source.write_snapshot(&path).unwrap();
        assert_eq!((written.seq, written.points), (2, 2500));
        assert_eq!(written.bytes, std::fs::metadata(&path).unwrap().len());
        let restored = target.restore_snapshot(&path).unwrap();
        assert_eq!(restored, written);
        assert_eq!(target.digest(), source.digest());
        assert_eq!(target.applied_seq(), 2);
        drop(target);
        let reopened = shard(&dir.path().join("target"));
        assert_eq!(reopened.digest(), source.digest());
    }

    #[test]
    fn corrupt_or_truncated_snapshots_are_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let source = shard(&dir.path().join("source"));
        source.update(&upsert(0..1500), true).unwrap();
        let path = dir.path().join("snap");
        source.write_snapshot(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let target = shard(&dir.path().join("target"));
        target.update(&upsert(7..9), true).unwrap();
        let before = target.digest();
        let mut flipped = bytes.clone();
        flipped[40] ^= 0xff;
        for broken in [bytes[..bytes.len() - 10].to_vec(), flipped, b"not a snapshot at all".to_vec()] {
            std::fs::write(&path, &broken).unwrap();
            assert!(target.restore_snapshot(&path).is_err());
            assert_eq!(target.digest(), before);
        }
    }
}
