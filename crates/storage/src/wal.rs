//! The per-shard write-ahead log: a directory of segment files holding every shard operation in
//! sequence-number order until a checkpoint makes them redundant.
//!
//! # Format
//! Each segment is a file `wal-<first_seq:020>.log` starting with a 16-byte header: magic
//! `QWAL`, format version (u32 LE, = 1), first seq (u64 LE). Records follow, each framed as
//! `[len: u32 LE][crc32: u32 LE over seq bytes + payload][seq: u64 LE][payload: len bytes]`.
//! Seqs are consecutive across the whole log; segment `n + 1` starts at the seq after the last
//! record of segment `n`. A new segment is started when the next record would push the active
//! one past [`WalOptions::segment_size_bytes`] (a segment always gets at least one record).
//!
//! # Durability contract
//! [`Wal::append`] writes the record into the file (the OS page cache) before it returns, but the
//! record is durable only once [`Wal::sync_through`] covering its seq has returned. Concurrent
//! `sync_through` calls share fsyncs (group commit), and appends continue while an fsync runs.
//! A full segment is fsynced before the next one is created; creating or deleting segment files
//! fsyncs the directory. After a failed write that cannot be rolled back, or a failed fsync, the
//! log refuses further appends and syncs (the page cache state is unknown) until it is reopened
//! or reset with [`Wal::truncate_all_and_reset`].
//!
//! # Torn-tail rule
//! On [`Wal::open`] a crash may have left the last segment with a short record, a bad length, a
//! bad checksum or an out-of-sequence record: the file is truncated at the first bad record
//! and a warning is logged, so the node always starts. A last segment with no complete header
//! (or an all-zero one) is deleted; an empty log keeps the start seq from its file name. Damage
//! inside an earlier (non-last) segment, including a torn header, is handled the same way:
//! everything from the bad record onward is treated as lost, that segment is truncated there and
//! all later segments are deleted, with a warning (those records cannot be replayed without the
//! missing ones before them). A valid-length header with a wrong magic or version, a header that
//! disagrees with the file name, or a gap between two intact segments is not a crash artifact
//! and fails with [`StorageError::Corrupt`].

mod recovery;
mod segment;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
use quiver_types::SeqNo;

use crate::error::{Result, StorageError};
use segment::SegmentInfo;

/// Tuning of a [`Wal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalOptions {
    /// The active segment is closed once the next record would take it past this many bytes.
    pub segment_size_bytes: u64,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions { segment_size_bytes: 32 * 1024 * 1024 }
    }
}

/// Segment bookkeeping, guarded by the append mutex.
#[derive(Debug)]
struct Inner {
    /// Full segments, oldest first; all records precede the active segment's.
    closed: VecDeque<SegmentInfo>,
    /// The segment appends go to.
    active: SegmentInfo,
    /// Open handle of the active segment, positioned at `active.size`.
    file: Arc<File>,
}

impl Inner {
    fn first_seq(&self) -> SeqNo {
        self.closed.front().map_or(self.active.first_seq, |s| s.first_seq)
    }

    fn next_seq(&self) -> Result<SeqNo> {
        self.active
            .last_seq
            .checked_add(1)
            .ok_or_else(|| StorageError::BadInput("WAL sequence numbers exhausted (u64 overflow)".into()))
    }
}

/// A segmented, checksummed write-ahead log for one shard. `Send + Sync`; every method takes
/// `&self`. See the module docs for format, durability and recovery rules.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    options: WalOptions,
    /// Append mutex: segment list and active file.
    inner: Mutex<Inner>,
    /// Serializes fsyncs (group commit) and resets; taken before `inner`, never after.
    sync_lock: Mutex<()>,
    /// Seq of the last appended record (0 if none ever).
    last_seq: AtomicU64,
    /// Every record with seq ≤ this is durable.
    synced_seq: AtomicU64,
    /// Set after a failed fsync or an un-rollbackable write; cleared by a reset.
    poisoned: AtomicBool,
}

impl Wal {
    /// Opens the log in `dir`, creating the directory if needed, and recovers existing segments
    /// (cutting a torn tail, see the module docs). Everything recovered counts as synced.
    pub fn open(dir: &Path, options: WalOptions) -> Result<Wal> {
        std::fs::create_dir_all(dir).map_err(|e| StorageError::io("create WAL directory", dir, e))?;
        let inner = recovery::recover(dir)?;
        inner.file.sync_data().map_err(|e| StorageError::io("sync WAL segment", &inner.active.path, e))?;
        let last = inner.active.last_seq;
        Ok(Wal {
            dir: dir.to_path_buf(),
            options,
            inner: Mutex::new(inner),
            sync_lock: Mutex::new(()),
            last_seq: AtomicU64::new(last),
            synced_seq: AtomicU64::new(last),
            poisoned: AtomicBool::new(false),
        })
    }

    /// Appends `payload` under the next seq (`last_seq + 1`) and returns that seq. The record is
    /// in the file when this returns but durable only after [`Wal::sync_through`].
    pub fn append(&self, payload: &[u8]) -> Result<SeqNo> {
        let mut inner = self.inner.lock();
        let seq = inner.next_seq()?;
        self.write_record(&mut inner, seq, payload)?;
        Ok(seq)
    }

    /// Appends `payload` under a seq chosen by the caller (a replica applying its primary's
    /// log). `seq` must be exactly `last_seq + 1`; a gap or a duplicate is `BadInput`.
    pub fn append_at(&self, seq: SeqNo, payload: &[u8]) -> Result<()> {
        let mut inner = self.inner.lock();
        let expected = inner.next_seq()?;
        if seq < expected {
            return Err(StorageError::BadInput(format!(
                "WAL append_at: seq {seq} is a duplicate, the log already holds up to seq {}",
                expected - 1
            )));
        }
        if seq > expected {
            return Err(StorageError::BadInput(format!(
                "WAL append_at: seq {seq} would leave a gap, the next seq must be {expected}"
            )));
        }
        self.write_record(&mut inner, seq, payload)
    }

    /// Makes every record with seq ≤ `seq` durable. Returns at once if that is already so;
    /// otherwise one caller fsyncs on behalf of all waiting ones. `seq` beyond
    /// [`Wal::last_seq`] is `BadInput`.
    pub fn sync_through(&self, seq: SeqNo) -> Result<()> {
        if self.synced_seq.load(Ordering::Acquire) >= seq {
            return Ok(());
        }
        let _sync = self.sync_lock.lock();
        if self.synced_seq.load(Ordering::Acquire) >= seq {
            return Ok(());
        }
        self.check_poisoned()?;
        let (target, file, path) = {
            let inner = self.inner.lock();
            (inner.active.last_seq, Arc::clone(&inner.file), inner.active.path.clone())
        };
        if seq > target {
            return Err(StorageError::BadInput(format!(
                "WAL sync_through({seq}) beyond the last appended seq {target}"
            )));
        }
        // Earlier segments were fsynced when they were closed; only the active one is dirty.
        let timer = crate::metrics::WAL_FSYNC_SECONDS.start_timer();
        let synced = file.sync_data();
        timer.observe_duration();
        if let Err(e) = synced {
            self.poisoned.store(true, Ordering::Release);
            return Err(StorageError::io("sync WAL segment", path, e));
        }
        self.synced_seq.fetch_max(target, Ordering::AcqRel);
        Ok(())
    }

    /// Seq of the last appended record; 0 if nothing was ever appended (or `next - 1` after
    /// [`Wal::set_next_seq`] / [`Wal::truncate_all_and_reset`]).
    pub fn last_seq(&self) -> SeqNo {
        self.last_seq.load(Ordering::Acquire)
    }

    /// Seq of the first retained record; `last_seq() + 1` when the log is empty.
    pub fn first_seq(&self) -> SeqNo {
        self.inner.lock().first_seq()
    }

    /// Every record with seq ≤ this value is durable.
    pub fn synced_seq(&self) -> SeqNo {
        self.synced_seq.load(Ordering::Acquire)
    }

    /// Makes the next append get `next` (≥ 1). Only allowed while the log holds no record, e.g.
    /// after a checkpoint truncated everything; otherwise `BadInput`.
    pub fn set_next_seq(&self, next: SeqNo) -> Result<()> {
        check_next(next)?;
        let _sync = self.sync_lock.lock();
        let mut inner = self.inner.lock();
        let (first, last) = (inner.first_seq(), inner.active.last_seq);
        if first <= last {
            return Err(StorageError::BadInput(format!(
                "WAL set_next_seq({next}) needs an empty log, but it holds seqs {first}..={last}"
            )));
        }
        if inner.closed.is_empty() && inner.active.first_seq == next {
            return Ok(());
        }
        self.reset_locked(&mut inner, next)
    }

    /// Collects the records with seq ≥ `from` (up to the last seq at call time), in order.
    /// See [`Wal::for_each_from`].
    pub fn read_from(&self, from: SeqNo) -> Result<Vec<(SeqNo, Vec<u8>)>> {
        let mut out = Vec::new();
        self.for_each_from(from, |seq, payload| {
            out.push((seq, payload.to_vec()));
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `f` for each retained record with seq ≥ `from`, in seq order, up to the last seq
    /// appended when the call started; appends may continue meanwhile. Records below
    /// [`Wal::first_seq`] are gone, so the first record passed may be later than `from`:
    /// callers needing a gap-free range must check the first seq they get. An error from `f`
    /// stops the walk and is returned.
    pub fn for_each_from(&self, from: SeqNo, f: impl FnMut(SeqNo, &[u8]) -> Result<()>) -> Result<()> {
        self.for_each_in(from, SeqNo::MAX, f)
    }

    /// [`Wal::for_each_from`] limited to `seq ≤ to`: segments wholly after `to` are not read,
    /// and a segment is read no further than `to`, so reading a range costs its own segments
    /// (up to the range's end) only.
    pub fn for_each_in(&self, from: SeqNo, to: SeqNo, mut f: impl FnMut(SeqNo, &[u8]) -> Result<()>) -> Result<()> {
        let segments: Vec<SegmentInfo> = {
            let inner = self.inner.lock();
            inner
                .closed
                .iter()
                .chain(std::iter::once(&inner.active))
                .filter(|s| s.has_records() && s.last_seq >= from && s.first_seq <= to)
                .cloned()
                .collect()
        };
        for seg in &segments {
            segment::read_records(seg, from, to, &mut f)?;
        }
        Ok(())
    }

    /// Deletes whole closed segments whose records are all < `seq` (a checkpoint covers them).
    /// The active segment is never deleted; records ≥ `seq` are always kept.
    pub fn truncate_before(&self, seq: SeqNo) -> Result<()> {
        let mut inner = self.inner.lock();
        let mut removed = false;
        while let Some(front) = inner.closed.front() {
            if front.last_seq >= seq {
                break;
            }
            segment::remove_segment(&front.path)?;
            inner.closed.pop_front();
            removed = true;
        }
        if removed {
            segment::sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Deletes every segment and starts a fresh one so that the next append gets `next` (≥ 1);
    /// used when the shard is replaced by a snapshot. Segments are deleted oldest first, so a
    /// crash midway leaves a valid suffix of the old log; the caller must redo the reset then.
    pub fn truncate_all_and_reset(&self, next: SeqNo) -> Result<()> {
        check_next(next)?;
        let _sync = self.sync_lock.lock();
        let mut inner = self.inner.lock();
        self.reset_locked(&mut inner, next)
    }

    /// Total bytes of the retained segment files.
    pub fn size_bytes(&self) -> u64 {
        let inner = self.inner.lock();
        inner.closed.iter().map(|s| s.size).sum::<u64>() + inner.active.size
    }

    /// Rolls over if needed, writes the framed record, and updates the bookkeeping. A failed
    /// write is cut back off the file so later records stay readable.
    fn write_record(&self, inner: &mut Inner, seq: SeqNo, payload: &[u8]) -> Result<()> {
        self.check_poisoned()?;
        let record = segment::encode_record(seq, payload)?;
        let record_len = record.len() as u64;
        self.maybe_roll(inner, record_len)?;
        if let Err(e) = (&*inner.file).write_all(&record) {
            self.rollback(inner);
            return Err(StorageError::io("append WAL record", &inner.active.path, e));
        }
        inner.active.size += record_len;
        inner.active.last_seq = seq;
        self.last_seq.store(seq, Ordering::Release);
        Ok(())
    }

    /// Cuts a partially written record; poisons the log if even that fails.
    fn rollback(&self, inner: &Inner) {
        let size = inner.active.size;
        let restored = inner.file.set_len(size).and_then(|()| (&*inner.file).seek(SeekFrom::Start(size)));
        if let Err(e) = restored {
            tracing::error!(
                path = %inner.active.path.display(),
                error = %e,
                "could not roll back a failed WAL write; refusing further appends"
            );
            self.poisoned.store(true, Ordering::Release);
        }
    }

    /// Starts a new segment when the active one holds records and `record_len` more bytes would
    /// exceed the segment size. The full segment is fsynced first.
    fn maybe_roll(&self, inner: &mut Inner, record_len: u64) -> Result<()> {
        let active = &inner.active;
        let limit = self.options.segment_size_bytes;
        if !active.has_records() || active.size.saturating_add(record_len) <= limit {
            return Ok(());
        }
        if let Err(e) = inner.file.sync_data() {
            self.poisoned.store(true, Ordering::Release);
            return Err(StorageError::io("sync full WAL segment", &active.path, e));
        }
        let full_through = active.last_seq;
        let (info, file) = segment::create_segment(&self.dir, inner.next_seq()?)?;
        let old = std::mem::replace(&mut inner.active, info);
        inner.closed.push_back(old);
        inner.file = Arc::new(file);
        self.synced_seq.fetch_max(full_through, Ordering::AcqRel);
        Ok(())
    }

    /// Deletes all segments and creates an empty one starting at `next`. Caller holds both
    /// locks. The log stays poisoned if this fails midway.
    fn reset_locked(&self, inner: &mut Inner, next: SeqNo) -> Result<()> {
        self.poisoned.store(true, Ordering::Release);
        while let Some(front) = inner.closed.front() {
            segment::remove_segment(&front.path)?;
            inner.closed.pop_front();
        }
        segment::remove_segment(&inner.active.path)?;
        segment::sync_dir(&self.dir)?;
        let (info, file) = segment::create_segment(&self.dir, next)?;
        file.sync_all().map_err(|e| StorageError::io("sync WAL segment", &info.path, e))?;
        inner.active = info;
        inner.file = Arc::new(file);
        self.last_seq.store(next - 1, Ordering::Release);
        self.synced_seq.store(next - 1, Ordering::Release);
        self.poisoned.store(false, Ordering::Release);
        Ok(())
    }

    fn check_poisoned(&self) -> Result<()> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(StorageError::io(
                "use WAL after a failed write or fsync",
                &self.dir,
                std::io::Error::other("WAL is poisoned; reopen it"),
            ));
        }
        Ok(())
    }
}

fn check_next(next: SeqNo) -> Result<()> {
    if next == 0 {
        return Err(StorageError::BadInput("WAL next seq must be at least 1".into()));
    }
    Ok(())
}
