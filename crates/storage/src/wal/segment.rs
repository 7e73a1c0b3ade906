//! On-disk format of one WAL segment: file naming, the 16-byte header, record framing, and the
//! sequential record reader shared by startup recovery and `for_each_from`.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use quiver_types::SeqNo;

use crate::error::{Result, StorageError};

/// First bytes of every segment file.
pub(super) const MAGIC: [u8; 4] = *b"QWAL";
/// Segment format version written in the header.
pub(super) const VERSION: u32 = 1;
/// Header: magic, version u32 LE, first seq u64 LE.
pub(super) const HEADER_LEN: u64 = 16;
/// Record framing before the payload: len u32, crc32 u32, seq u64 (all LE).
pub(super) const RECORD_HEADER_LEN: u64 = 16;

/// What the WAL knows about one segment file.
#[derive(Debug, Clone)]
pub(super) struct SegmentInfo {
    pub(super) path: PathBuf,
    /// Seq of the first record (from the header); the segment may hold no record yet.
    pub(super) first_seq: SeqNo,
    /// Seq of the last record; `first_seq - 1` when the segment is empty.
    pub(super) last_seq: SeqNo,
    /// Bytes of header plus complete records.
    pub(super) size: u64,
}

impl SegmentInfo {
    /// Whether the segment holds at least one record.
    pub(super) fn has_records(&self) -> bool {
        self.last_seq >= self.first_seq
    }
}

/// `wal-<first_seq:020>.log`.
pub(super) fn file_name(first: SeqNo) -> String {
    format!("wal-{first:020}.log")
}

/// The first seq encoded in a segment file name, or `None` for any other file.
pub(super) fn parse_file_name(name: &str) -> Option<SeqNo> {
    let digits = name.strip_prefix("wal-")?.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// All segment files in `dir`, sorted by first seq.
pub(super) fn list_segments(dir: &Path) -> Result<Vec<(SeqNo, PathBuf)>> {
    let err = |e| StorageError::io("list WAL directory", dir, e);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let entry = entry.map_err(err)?;
        if let Some(seq) = entry.file_name().to_str().and_then(parse_file_name) {
            out.push((seq, entry.path()));
        }
    }
    out.sort_by_key(|(seq, _)| *seq);
    Ok(out)
}

/// fsyncs a directory so that file creations and deletions in it are durable.
pub(super) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StorageError::io("sync WAL directory", dir, e))
}

/// Removes a segment file; a file that is already gone is fine.
pub(super) fn remove_segment(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StorageError::io("delete WAL segment", path, e)),
    }
}

/// Creates (or overwrites) the segment starting at `first`, writes its header and fsyncs the
/// directory. The returned file is positioned at the end of the header.
pub(super) fn create_segment(dir: &Path, first: SeqNo) -> Result<(SegmentInfo, File)> {
    let path = dir.join(file_name(first));
    let mut header = [0u8; HEADER_LEN as usize];
    header[0..4].copy_from_slice(&MAGIC);
    header[4..8].copy_from_slice(&VERSION.to_le_bytes());
    header[8..16].copy_from_slice(&first.to_le_bytes());
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(|e| StorageError::io("create WAL segment", &path, e))?;
    file.write_all(&header).map_err(|e| StorageError::io("write WAL segment header", &path, e))?;
    sync_dir(dir)?;
    let info = SegmentInfo { path, first_seq: first, last_seq: first.saturating_sub(1), size: HEADER_LEN };
    Ok((info, file))
}

/// Opens an existing segment for appending at `info.size`.
pub(super) fn open_for_append(info: &SegmentInfo) -> Result<File> {
    let mut file = OpenOptions::new()
        .write(true)
        .open(&info.path)
        .map_err(|e| StorageError::io("open WAL segment for append", &info.path, e))?;
    file.seek(SeekFrom::Start(info.size)).map_err(|e| StorageError::io("seek WAL segment", &info.path, e))?;
    Ok(file)
}

/// Frames one record: `[len u32][crc32 over seq bytes + payload][seq u64][payload]`.
pub(super) fn encode_record(seq: SeqNo, payload: &[u8]) -> Result<Vec<u8>> {
    let len = u32::try_from(payload.len())
        .map_err(|_| StorageError::BadInput(format!("WAL record of {} bytes exceeds 4 GiB", payload.len())))?;
    let seq_bytes = seq.to_le_bytes();
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seq_bytes);
    hasher.update(payload);
    let mut buf = Vec::with_capacity(RECORD_HEADER_LEN as usize + payload.len());
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&hasher.finalize().to_le_bytes());
    buf.extend_from_slice(&seq_bytes);
    buf.extend_from_slice(payload);
    Ok(buf)
}

/// Outcome of reading a segment header.
pub(super) enum Header {
    /// Too short to hold a header (or all zero bytes, when allowed): a crash right after creation.
    Torn,
    /// A valid header carrying the segment's first seq.
    Valid(SeqNo),
}

/// Reads and checks the header of a file of `file_len` bytes. Wrong magic or version is
/// `Corrupt`; with `zero_is_torn`, an all-zero header counts as torn (never-written blocks).
pub(super) fn read_header(reader: &mut impl Read, file_len: u64, path: &Path, zero_is_torn: bool) -> Result<Header> {
    if file_len < HEADER_LEN {
        return Ok(Header::Torn);
    }
    let mut buf = [0u8; HEADER_LEN as usize];
    reader.read_exact(&mut buf).map_err(|e| StorageError::io("read WAL segment header", path, e))?;
    if zero_is_torn && buf.iter().all(|&b| b == 0) {
        return Ok(Header::Torn);
    }
    if buf[0..4] != MAGIC {
        return Err(StorageError::Corrupt(format!(
            "{}: not a WAL segment (magic {:02x?})",
            path.display(),
            &buf[0..4]
        )));
    }
    let version = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
    if version != VERSION {
        return Err(StorageError::Corrupt(format!(
            "{}: unsupported WAL format version {version} (expected {VERSION})",
            path.display()
        )));
    }
    Ok(Header::Valid(le_u64(&buf, 8)))
}

fn le_u64(b: &[u8; 16], at: usize) -> u64 {
    let mut a = [0u8; 8];
    for (i, byte) in a.iter_mut().enumerate() {
        *byte = b[at + i];
    }
    u64::from_le_bytes(a)
}

/// Result of [`RecordReader::next`].
pub(super) enum Next {
    /// A complete record with a valid checksum; its payload is in [`RecordReader::payload`].
    Record(SeqNo),
    /// Clean end exactly at the byte limit.
    End,
    /// The bytes at [`RecordReader::offset`] are not a valid record; the reason says why.
    Torn(&'static str),
}

/// Reads records sequentially after the header, never past `end` bytes of the file.
pub(super) struct RecordReader<'a, R> {
    reader: R,
    path: &'a Path,
    offset: u64,
    end: u64,
    payload: Vec<u8>,
}

impl<'a, R: Read> RecordReader<'a, R> {
    /// A reader positioned right after the header (the caller has consumed it).
    pub(super) fn new(reader: R, path: &'a Path, end: u64) -> Self {
        RecordReader { reader, path, offset: HEADER_LEN, end, payload: Vec::new() }
    }

    /// File offset just past the last valid record returned.
    pub(super) fn offset(&self) -> u64 {
        self.offset
    }

    /// Payload of the record last returned by [`Self::next`].
    pub(super) fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Reads the next record. After `Torn` the reader must not be used again.
    pub(super) fn next(&mut self) -> Result<Next> {
        let remaining = self.end.saturating_sub(self.offset);
        if remaining == 0 {
            return Ok(Next::End);
        }
        if remaining < RECORD_HEADER_LEN {
            return Ok(Next::Torn("short record header"));
        }
        let mut head = [0u8; RECORD_HEADER_LEN as usize];
        self.read_exact_buf(&mut head)?;
        let len = u64::from(u32::from_le_bytes([head[0], head[1], head[2], head[3]]));
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        let seq = le_u64(&head, 8);
        if len > remaining - RECORD_HEADER_LEN {
            return Ok(Next::Torn("record length runs past the end of the segment"));
        }
        let len_usize =
            usize::try_from(len).map_err(|_| StorageError::Corrupt("WAL record too large for this platform".into()))?;
        let mut payload = std::mem::take(&mut self.payload);
        payload.resize(len_usize, 0);
        let read = self.read_exact_buf(&mut payload);
        self.payload = payload;
        read?;
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&head[8..16]);
        hasher.update(&self.payload);
        if hasher.finalize() != crc {
            return Ok(Next::Torn("checksum mismatch"));
        }
        self.offset += RECORD_HEADER_LEN + len;
        Ok(Next::Record(seq))
    }

    fn read_exact_buf(&mut self, buf: &mut [u8]) -> Result<()> {
        self.reader.read_exact(buf).map_err(|e| StorageError::io("read WAL record", self.path, e))
    }
}

/// Calls `f` for every record of `seg` with `from ≤ seq ≤ to` (`seg` starts at or before `to`),
/// reading only `seg.size` bytes, up to `seg.last_seq` and no further than `to`. A segment deleted meanwhile (concurrent truncation) yields nothing.
pub(super) fn read_records(
    seg: &SegmentInfo,
    from: SeqNo,
    to: SeqNo,
    f: &mut impl FnMut(SeqNo, &[u8]) -> Result<()>,
) -> Result<()> {
    let path = seg.path.as_path();
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StorageError::io("open WAL segment for reading", path, e)),
    };
    let mut reader = BufReader::new(file);
    match read_header(&mut reader, seg.size, path, false)? {
        Header::Valid(first) if first == seg.first_seq => {}
        Header::Valid(_) | Header::Torn => {
            return Err(StorageError::Corrupt(format!("{}: WAL segment header changed while reading", path.display())));
        }
    }
    let mut records = RecordReader::new(reader, path, seg.size);
    let mut expected = seg.first_seq;
    while seg.has_records() {
        let seq = match records.next()? {
            Next::Record(seq) if seq == expected => seq,
            Next::Record(_) | Next::End | Next::Torn(_) => {
                return Err(StorageError::Corrupt(format!(
                    "{}: WAL record {expected} missing or damaged at offset {}",
                    path.display(),
                    records.offset()
                )));
            }
        };
        if seq >= from {
            f(seq, records.payload())?;
        }
        if seq >= seg.last_seq || seq >= to {
            break;
        }
        expected = seq + 1;
    }
    Ok(())
}
