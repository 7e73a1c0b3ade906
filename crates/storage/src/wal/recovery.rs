//! Startup scan of a WAL directory: checks every segment, cuts a torn tail, drops what follows a
//! damaged record, and reopens (or creates) the active segment.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::BufReader;
use std::path::{Path, PathBuf};

use quiver_types::SeqNo;

use super::Inner;
use super::segment::{self, Header, Next, RecordReader, SegmentInfo};
use crate::error::{Result, StorageError};

/// What scanning one segment found.
enum Scan {
    /// Every byte after the header is a valid, in-sequence record.
    Complete(SegmentInfo),
    /// Records are valid up to `info.size`; the bytes after are damaged.
    Damaged { info: SegmentInfo, reason: &'static str, file_len: u64 },
    /// The file is too short for a header (or, for the last segment, the header is all zeros).
    TornHeader,
}

/// Recovers the segments in `dir` (which must exist). See the module docs of `wal` for the
/// rules; the returned state has its active segment open for appending.
pub(super) fn recover(dir: &Path) -> Result<Inner> {
    let names = segment::list_segments(dir)?;
    let mut kept: Vec<SegmentInfo> = Vec::new();
    let mut next_if_none: SeqNo = 1;
    for (idx, (name_seq, path)) in names.iter().enumerate() {
        let is_last = idx + 1 == names.len();
        let expected = match kept.last() {
            Some(prev) => Some(
                prev.last_seq
                    .checked_add(1)
                    .ok_or_else(|| StorageError::Corrupt(format!("{}: WAL seq overflow", prev.path.display())))?,
            ),
            None => None,
        };
        match scan_segment(path, *name_seq, expected, is_last)? {
            Scan::Complete(info) => kept.push(info),
            Scan::Damaged { info, reason, file_len } => {
                cut_tail(&info, reason, file_len, is_last)?;
                kept.push(info);
                drop_later(&names[idx + 1..], path)?;
                break;
            }
            Scan::TornHeader => {
                tracing::warn!(
                    path = %path.display(),
                    last_segment = is_last,
                    "WAL segment has no complete header (crash right after creating it); deleting it"
                );
                segment::remove_segment(path)?;
                if kept.is_empty() {
                    next_if_none = (*name_seq).max(1);
                }
                drop_later(&names[idx + 1..], path)?;
                break;
            }
        }
    }
    segment::sync_dir(dir)?;
    let (active, file) = match kept.pop() {
        Some(info) => {
            let file = segment::open_for_append(&info)?;
            (info, file)
        }
        None => segment::create_segment(dir, next_if_none)?,
    };
    Ok(Inner { closed: VecDeque::from(kept), active, file: std::sync::Arc::new(file) })
}

/// Reads one segment and validates header, name, continuity with the previous segment, record
/// checksums and seq order.
fn scan_segment(path: &Path, name_seq: SeqNo, expected_first: Option<SeqNo>, is_last: bool) -> Result<Scan> {
    let file = File::open(path).map_err(|e| StorageError::io("open WAL segment", path, e))?;
    let file_len = file.metadata().map_err(|e| StorageError::io("stat WAL segment", path, e))?.len();
    let mut reader = BufReader::new(file);
    let first = match segment::read_header(&mut reader, file_len, path, is_last)? {
        Header::Torn => return Ok(Scan::TornHeader),
        Header::Valid(first) => first,
    };
    if first != name_seq || first == 0 {
        return Err(StorageError::Corrupt(format!(
            "{}: WAL header says first seq {first}, file name says {name_seq}",
            path.display()
        )));
    }
    if let Some(expected) = expected_first.filter(|&e| e != first) {
        return Err(StorageError::Corrupt(format!(
            "{}: WAL segment starts at seq {first} but the previous segment ends at {}",
            path.display(),
            expected - 1
        )));
    }
    let mut records = RecordReader::new(reader, path, file_len);
    let mut last = first - 1;
    loop {
        let start = records.offset();
        let damaged = |reason, last| Scan::Damaged {
            info: SegmentInfo { path: path.to_path_buf(), first_seq: first, last_seq: last, size: start },
            reason,
            file_len,
        };
        match records.next()? {
            Next::End => {
                let info = SegmentInfo { path: path.to_path_buf(), first_seq: first, last_seq: last, size: file_len };
                return Ok(Scan::Complete(info));
            }
            Next::Record(seq) if Some(seq) == last.checked_add(1) => last = seq,
            Next::Record(_) => return Ok(damaged("record out of sequence", last)),
            Next::Torn(reason) => return Ok(damaged(reason, last)),
        }
    }
}

/// Truncates a segment right after its last valid record and makes the cut durable.
fn cut_tail(info: &SegmentInfo, reason: &'static str, file_len: u64, is_last: bool) -> Result<()> {
    tracing::warn!(
        path = %info.path.display(),
        offset = info.size,
        dropped_bytes = file_len - info.size,
        last_valid_seq = info.last_seq,
        last_segment = is_last,
        reason,
        "WAL segment has a damaged tail; truncating it at the last valid record"
    );
    let file = OpenOptions::new()
        .write(true)
        .open(&info.path)
        .map_err(|e| StorageError::io("open WAL segment for truncation", &info.path, e))?;
    file.set_len(info.size)
        .and_then(|()| file.sync_all())
        .map_err(|e| StorageError::io("truncate WAL segment", &info.path, e))
}

/// Deletes the segments after a damaged one: their records no longer follow a valid prefix.
fn drop_later(later: &[(SeqNo, PathBuf)], damaged: &Path) -> Result<()> {
    for (_, path) in later {
        tracing::warn!(
            path = %path.display(),
            damaged = %damaged.display(),
            "deleting WAL segment that follows a damaged segment; its records are lost"
        );
        segment::remove_segment(path)?;
    }
    Ok(())
}
