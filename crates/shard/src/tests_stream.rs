//! Streamed snapshot sources (design record 019): the stream is the snapshot file byte for byte
//! and stays the state of its sequence number while writes continue; a closed, dropped or idle
//! stream stops its encoder and refuses reads.

use super::*;
use crate::snapshot::SnapshotRestore;
use crate::tests_transfer::{fixture, upsert};
use quiver_types::ops::{PointSelector, UpdateOperation};

const WAIT: Duration = Duration::from_secs(10);

fn limits(ahead_bytes: u64) -> StreamLimits {
    StreamLimits { idle: Duration::from_secs(60), ahead_bytes }
}

/// The whole stream, read in requests of `chunk` bytes.
fn read_all(stream: &SnapshotStream, chunk: u32) -> Vec<u8> {
    let mut out = Vec::new();
    while (out.len() as u64) < stream.info().bytes {
        let bytes = stream.read(out.len() as u64, chunk, WAIT).unwrap();
        assert!(!bytes.is_empty());
        out.extend_from_slice(&bytes);
    }
    assert!(stream.read(out.len() as u64, chunk, WAIT).unwrap().is_empty(), "nothing after the end");
    out
}

/// Waits (bounded) until `done` holds.
fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_stream_is_the_snapshot_file_at_its_sequence_number_while_writes_continue() {
    let dir = tempfile::tempdir().unwrap();
    let (source, target) = fixture(dir.path());
    let path = dir.path().join("file");
    let written = source.write_snapshot(&path).unwrap();
    let digest = source.digest();
    // A small lookahead: the encoder waits for the reader while the source takes writes.
    let stream = source.stream_snapshot(limits(16 << 10)).unwrap();
    assert_eq!(stream.info(), written);
    source.update(&upsert(2000..2600), true).unwrap();
    let delete = UpdateOperation::Delete { selector: PointSelector::Ids(vec![1u64.into(), 2u64.into()]) };
    source.update(&delete, true).unwrap();
    assert_ne!(source.digest(), digest);
    let bytes = read_all(&stream, 10_000);
    assert_eq!(bytes, std::fs::read(&path).unwrap(), "the stream is the file, byte for byte");
    let mut restore = SnapshotRestore::new(target.begin_install().unwrap());
    restore.push(&bytes).unwrap();
    let restored = restore.finish(&target).unwrap();
    assert_eq!(restored, written);
    assert_eq!((target.applied_seq(), target.digest()), (written.seq, digest));
}

#[test]
fn a_repeated_read_is_answered_again_and_acknowledged_bytes_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let (source, _) = fixture(dir.path());
    let stream = source.stream_snapshot(limits(4 << 10)).unwrap();
    let first = stream.read(0, 1000, WAIT).unwrap();
    assert_eq!(first.len(), 1000);
    assert_eq!(stream.read(0, 1000, WAIT).unwrap(), first, "a retried request gets the same bytes");
    let second = stream.read(1000, 1000, WAIT).unwrap();
    assert_eq!(second.len(), 1000);
    let err = stream.read(0, 1000, WAIT).unwrap_err();
    assert!(err.to_string().contains("already read"), "{err}");
    // One read may ask for more than the lookahead (and the rest of the stream): no deadlock.
    let rest = stream.read(2000, u32::MAX, WAIT).unwrap();
    assert_eq!(2000 + rest.len() as u64, stream.info().bytes);
}

#[test]
fn closing_or_dropping_a_stream_mid_read_stops_its_encoder() {
    let dir = tempfile::tempdir().unwrap();
    let (source, _) = fixture(dir.path());
    let stream = source.stream_snapshot(limits(4 << 10)).unwrap();
    let first = stream.read(0, 1000, WAIT).unwrap();
    assert!(!stream.encoder_ended(), "the encoder waits for the reader");
    stream.close();
    wait_for("the closed stream's encoder ended", || stream.encoder_ended());
    let err = stream.read(first.len() as u64, 1000, WAIT).unwrap_err();
    assert!(err.to_string().contains("closed"), "{err}");

    let stream = source.stream_snapshot(limits(4 << 10)).unwrap();
    stream.read(0, 1000, WAIT).unwrap();
    let shared = Arc::downgrade(&stream.shared);
    drop(stream);
    wait_for("the dropped stream's encoder ended", || shared.strong_count() == 0);
}

#[test]
fn a_stream_nobody_reads_expires_and_frees_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (source, _) = fixture(dir.path());
    // Long enough for the first read to come before it, even on a loaded machine.
    let idle = StreamLimits { idle: Duration::from_millis(500), ahead_bytes: 4 << 10 };
    // A target that went away mid-copy: the encoder waits for room, then gives up.
    let stream = source.stream_snapshot(idle).unwrap();
    let first = stream.read(0, 1000, WAIT).unwrap();
    wait_for("the abandoned stream expired", || stream.encoder_ended());
    let err = stream.read(first.len() as u64, 1000, WAIT).unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    assert!(stream.shared.state.lock().pieces.is_empty());
    // Read to the end but never released: the last bytes are kept only until it expires.
    let whole = source.stream_snapshot(StreamLimits { ahead_bytes: 64 << 20, ..idle }).unwrap();
    let bytes = whole.read(0, u32::MAX, WAIT).unwrap();
    assert_eq!(bytes.len() as u64, whole.info().bytes);
    wait_for("the finished stream expired", || whole.encoder_ended());
    assert!(whole.shared.state.lock().pieces.is_empty());
}

#[test]
fn an_empty_shard_streams_its_header_and_end_marker() {
    let dir = tempfile::tempdir().unwrap();
    let empty = LocalShard::open(&dir.path().join("empty"), crate::tests_transfer::config()).unwrap();
    let path = dir.path().join("file");
    empty.write_snapshot(&path).unwrap();
    let stream = empty.stream_snapshot(limits(4 << 10)).unwrap();
    assert_eq!(stream.info().points, 0);
    assert_eq!(read_all(&stream, 7), std::fs::read(&path).unwrap());
}
