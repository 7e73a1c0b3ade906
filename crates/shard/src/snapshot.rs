//! The shard snapshot file: a consistent copy of one replica as of a sequence number, written
//! by a transfer source (`snapshot` method) and restored by the target.
//!
//! Layout: a magic, the sequence number (u64 LE), then frames of `len: u32 LE | crc32: u32 LE |
//! body`, ended by a frame of length 0. Format 2 (`QVSHARD2`, design record 019): each body is a
//! point frame of up to 1000 points (`quiver_storage::frames`, raw little-endian vectors).
//! Format 1 (`QVSHARD1`, MessagePack `Vec<StoredPoint>` bodies) is still read. Restores are
//! streamed: frames are checked (CRC) and decoded one at a time into an install
//! (`install.rs`) that touches nothing live before the end marker has been read, so a truncated
//! or corrupt file leaves the replica as it was.

use crate::error::{Result, ShardError};
use crate::install::ShardInstall;
use crate::shard::LocalShard;
use quiver_storage::StorageError;
use quiver_storage::frames::{self, FrameReader};
use quiver_storage::points::StoredPoint;
use quiver_types::SeqNo;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

const MAGIC_V1: &[u8; 8] = b"QVSHARD1";
const MAGIC_V2: &[u8; 8] = b"QVSHARD2";
/// Points per frame.
pub(crate) const FRAME_POINTS: usize = 1000;
/// Bytes read from a snapshot file at a time.
const READ_BYTES: usize = 1 << 20;

/// What a snapshot file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The replica's applied sequence number the copy is consistent with.
    pub seq: SeqNo,
    pub points: usize,
    pub bytes: u64,
}

/// How a snapshot's frame bodies are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotFormat {
    /// `QVSHARD1`: MessagePack lists of points.
    MessagePack,
    /// `QVSHARD2`: point frames.
    Frames,
}

fn io<'a>(context: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> ShardError + 'a {
    move |e| StorageError::io(context, path, e).into()
}

fn corrupt(message: impl Into<String>) -> ShardError {
    StorageError::Corrupt(message.into()).into()
}

/// Splits a shard snapshot's bytes, as they arrive, into CRC-checked frame bodies.
#[derive(Default)]
pub struct SnapshotDecoder {
    buf: Vec<u8>,
    pos: usize,
    header: Option<(SnapshotFormat, SeqNo)>,
    ended: bool,
    bytes: u64,
}

impl SnapshotDecoder {
    /// Appends received bytes; bytes after the end marker are refused.
    pub fn push(&mut self, bytes: &[u8]) -> Result<()> {
        if self.ended && !bytes.is_empty() {
            return Err(corrupt("shard snapshot has bytes after its end marker"));
        }
        if self.pos > 0 && self.pos * 2 >= self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    fn available(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// The next whole, checked frame body, or `None` until more bytes arrive (or after the end).
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>> {
        if self.header.is_none() {
            let Some(head) = self.available().get(..16) else { return Ok(None) };
            let format = match &head[..8] {
                m if m == MAGIC_V2 => SnapshotFormat::Frames,
                m if m == MAGIC_V1 => SnapshotFormat::MessagePack,
                _ => return Err(corrupt("not a shard snapshot")),
            };
            let seq = u64::from_le_bytes(head[8..16].try_into().unwrap_or_default());
            self.header = Some((format, seq));
            self.consume(16);
        }
        if self.ended {
            return Ok(None);
        }
        let Some(len) = self.available().get(..4) else { return Ok(None) };
        let len = u32::from_le_bytes(len.try_into().unwrap_or_default()) as usize;
        if len == 0 {
            self.ended = true;
            self.consume(4);
            return match self.available().is_empty() {
                true => Ok(None),
                false => Err(corrupt("shard snapshot has bytes after its end marker")),
            };
        }
        let Some(frame) = self.available().get(..8 + len) else { return Ok(None) };
        let crc = u32::from_le_bytes(frame[4..8].try_into().unwrap_or_default());
        let body = frame[8..].to_vec();
        if crc32fast::hash(&body) != crc {
            return Err(corrupt("shard snapshot frame fails its checksum"));
        }
        self.consume(8 + len);
        Ok(Some(body))
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        self.bytes += n as u64;
    }

    /// The format, once the header has arrived.
    pub fn format(&self) -> Option<SnapshotFormat> {
        self.header.map(|(format, _)| format)
    }

    /// After every byte was pushed: the sequence number and size, if the snapshot was whole.
    pub fn finish(&self) -> Result<(SeqNo, u64)> {
        match (self.header, self.ended) {
            (Some((_, seq)), true) => Ok((seq, self.bytes)),
            (None, _) => Err(corrupt("not a shard snapshot (too short)")),
            (Some(_), false) => Err(corrupt("shard snapshot is truncated")),
        }
    }
}

/// Decodes a format-1 frame body.
fn decode_msgpack(body: &[u8]) -> Result<Vec<StoredPoint>> {
    rmp_serde::from_slice(body).map_err(|e| StorageError::Encoding(e.to_string()).into())
}

/// A shard snapshot being restored as its bytes arrive (from a file or a peer).
pub struct SnapshotRestore {
    decoder: SnapshotDecoder,
    install: ShardInstall,
}

impl SnapshotRestore {
    pub fn new(install: ShardInstall) -> SnapshotRestore {
        SnapshotRestore { decoder: SnapshotDecoder::default(), install }
    }

    /// Takes received bytes and installs every frame they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Result<()> {
        self.decoder.push(bytes)?;
        while let Some(body) = self.decoder.next_frame()? {
            match self.decoder.format() {
                Some(SnapshotFormat::Frames) => self.install.add_frame(body)?,
                Some(SnapshotFormat::MessagePack) | None => self.install.add_points(decode_msgpack(&body)?)?,
            };
        }
        Ok(())
    }

    /// Once every byte was pushed: makes the snapshot `shard`'s data.
    pub fn finish(self, shard: &LocalShard) -> Result<SnapshotInfo> {
        let (seq, bytes) = self.decoder.finish()?;
        let points = self.install.points();
        shard.finish_install(self.install, seq)?;
        Ok(SnapshotInfo { seq, points, bytes })
    }

    pub(crate) fn finish_locked(self, shard: &LocalShard) -> Result<SnapshotInfo> {
        let (seq, bytes) = self.decoder.finish()?;
        let points = self.install.points();
        shard.finish_install_locked(self.install, seq)?;
        Ok(SnapshotInfo { seq, points, bytes })
    }
}

/// Feeds the file at `path` to `f` in pieces of [`READ_BYTES`].
fn read_pieces(path: &Path, mut f: impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
    let mut file = std::fs::File::open(path).map_err(io("open shard snapshot", path))?;
    let mut piece = vec![0u8; READ_BYTES];
    loop {
        let n = file.read(&mut piece).map_err(io("read shard snapshot", path))?;
        if n == 0 {
            return Ok(());
        }
        f(&piece[..n])?;
    }
}

/// The first 16 bytes of a format-2 snapshot: the magic and the sequence number.
pub(crate) fn header(seq: SeqNo) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(MAGIC_V2);
    out[8..].copy_from_slice(&seq.to_le_bytes());
    out
}

/// The end marker (a frame of length 0).
pub(crate) const END_MARKER: [u8; 4] = 0u32.to_le_bytes();

/// One frame of a format-2 snapshot as written: `len | crc32 | point frame of points`.
pub(crate) fn frame_bytes(points: &[StoredPoint]) -> Result<Vec<u8>> {
    let body = frames::encode_points(points)?;
    let len = u32::try_from(body.len()).map_err(|_| corrupt("snapshot frame over 4 GiB"))?;
    let mut out = Vec::with_capacity(8 + body.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// The exact size of the format-2 snapshot of `points` (frames of [`FRAME_POINTS`]), without
/// encoding it.
pub(crate) fn snapshot_len(points: &[StoredPoint]) -> Result<u64> {
    let mut bytes = (header(0).len() + END_MARKER.len()) as u64;
    for chunk in points.chunks(FRAME_POINTS) {
        bytes += 12; // len, crc, the point frame's count
        for point in chunk {
            bytes += frames::encoded_len(point)? as u64;
        }
    }
    Ok(bytes)
}

impl LocalShard {
    /// Writes a consistent copy of the replica to `path` (format 2, fsynced).
    pub fn write_snapshot(&self, path: &Path) -> Result<SnapshotInfo> {
        let (seq, points) = self.snapshot_points();
        let file = std::fs::File::create(path).map_err(io("create shard snapshot", path))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(&header(seq)).map_err(io("write shard snapshot", path))?;
        let mut bytes = 16u64;
        for chunk in points.chunks(FRAME_POINTS) {
            let frame = frame_bytes(chunk)?;
            out.write_all(&frame).map_err(io("write shard snapshot", path))?;
            bytes += frame.len() as u64;
        }
        out.write_all(&END_MARKER).map_err(io("write shard snapshot", path))?;
        let file = out.into_inner().map_err(|e| io("write shard snapshot", path)(e.into_error()))?;
        file.sync_all().map_err(io("sync shard snapshot", path))?;
        Ok(SnapshotInfo { seq, points: points.len(), bytes: bytes + 4 })
    }

    /// Replaces the replica with the snapshot at `path`, streamed; a truncated or corrupt file
    /// is refused with the replica untouched.
    pub fn restore_snapshot(&self, path: &Path) -> Result<SnapshotInfo> {
        let mut restore = SnapshotRestore::new(self.begin_install()?);
        read_pieces(path, |piece| restore.push(piece))?;
        restore.finish(self)
    }

    /// [`LocalShard::restore_snapshot`] with the write lock already held.
    pub(crate) fn restore_snapshot_locked(&self, path: &Path) -> Result<SnapshotInfo> {
        let mut restore = SnapshotRestore::new(self.begin_install()?);
        read_pieces(path, |piece| restore.push(piece))?;
        restore.finish_locked(self)
    }
}

/// Installs the snapshot at `path` into `shard` up to the checkpoint swap, then stops (a crash
/// before the WAL reset).
#[cfg(test)]
pub(crate) fn crash_after_checkpoint_swap(shard: &LocalShard, path: &Path) {
    let mut restore = SnapshotRestore::new(shard.begin_install().unwrap());
    read_pieces(path, |piece| restore.push(piece)).unwrap();
    let (seq, _) = restore.decoder.finish().unwrap();
    shard.swap_checkpoint_only(restore.install, seq);
}

/// Checks a whole snapshot file (every frame's CRC and every point's encoding) without keeping
/// its points: `(seq, points, bytes)`.
pub fn verify_snapshot(path: &Path) -> Result<SnapshotInfo> {
    let mut decoder = SnapshotDecoder::default();
    let mut points = 0usize;
    read_pieces(path, |piece| {
        decoder.push(piece)?;
        while let Some(body) = decoder.next_frame()? {
            points += match decoder.format() {
                Some(SnapshotFormat::Frames) => FrameReader::new(&body)?.try_fold(0, |n, p| p.map(|_| n + 1))?,
                Some(SnapshotFormat::MessagePack) | None => decode_msgpack(&body)?.len(),
            };
        }
        Ok(())
    })?;
    let (seq, bytes) = decoder.finish()?;
    Ok(SnapshotInfo { seq, points, bytes })
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
