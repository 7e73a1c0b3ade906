use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::segment::{HEADER_LEN, file_name};
use super::*;

fn small() -> WalOptions {
    WalOptions { segment_size_bytes: 200 }
}

fn payload(i: u64) -> Vec<u8> {
    format!("record-{i}-{}", "x".repeat((i % 7) as usize)).into_bytes()
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    segment::list_segments(dir).unwrap().into_iter().map(|(_, p)| p).collect()
}

fn last_segment(dir: &Path) -> PathBuf {
    segment_files(dir).pop().unwrap()
}

/// Appends payloads 1..=n and syncs them.
fn fill(wal: &Wal, n: u64) {
    for i in 1..=n {
        let seq = wal.append(&payload(i)).unwrap();
        assert_eq!(seq, i);
    }
    wal.sync_through(n).unwrap();
}

fn assert_records(wal: &Wal, from: SeqNo, through: SeqNo) {
    let got = wal.read_from(from).unwrap();
    let want: Vec<(SeqNo, Vec<u8>)> = (from..=through).map(|i| (i, payload(i))).collect();
    assert_eq!(got, want);
}

#[test]
fn wal_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Wal>();
}

#[test]
fn round_trip_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = Wal::open(dir.path(), small()).unwrap();
        assert_eq!((wal.first_seq(), wal.last_seq(), wal.synced_seq()), (1, 0, 0));
        assert!(wal.read_from(1).unwrap().is_empty());
        fill(&wal, 50);
        assert_eq!(wal.synced_seq(), 50);
        assert_records(&wal, 1, 50);
        assert_records(&wal, 37, 50);
        assert!(segment_files(dir.path()).len() > 3);
        let on_disk: u64 = segment_files(dir.path()).iter().map(|p| std::fs::metadata(p).unwrap().len()).sum();
        assert_eq!(wal.size_bytes(), on_disk);
    }
    let wal = Wal::open(dir.path(), small()).unwrap();
    assert_eq!((wal.first_seq(), wal.last_seq(), wal.synced_seq()), (1, 50, 50));
    assert_records(&wal, 1, 50);
    assert_eq!(wal.append(&payload(51)).unwrap(), 51);
    wal.sync_through(51).unwrap();
    drop(wal);
    let wal = Wal::open(dir.path(), small()).unwrap();
    assert_records(&wal, 1, 51);
}

/// Writes 10 records into one segment, damages the file, reopens and checks what survived.
fn torn_case(damage: impl FnOnce(&Path), survivors: SeqNo) {
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
        fill(&wal, 10);
    }
    damage(&last_segment(dir.path()));
    let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
    assert_eq!(wal.last_seq(), survivors);
    assert_records(&wal, 1, survivors);
    assert_eq!(wal.append(&payload(survivors + 1)).unwrap(), survivors + 1);
    wal.sync_through(survivors + 1).unwrap();
    drop(wal);
    let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
    assert_records(&wal, 1, survivors + 1);
}

fn set_len_minus(path: &Path, cut: u64) {
    let file = OpenOptions::new().write(true).open(path).unwrap();
    let len = file.metadata().unwrap().len();
    file.set_len(len - cut).unwrap();
}

fn append_bytes(path: &Path, bytes: &[u8]) {
    OpenOptions::new().append(true).open(path).unwrap().write_all(bytes).unwrap();
}

fn flip_last_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x5a;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn torn_tail_short_record() {
    torn_case(|p| set_len_minus(p, 3), 9);
    torn_case(|p| set_len_minus(p, payload(10).len() as u64 + 10), 9);
}

#[test]
fn torn_tail_garbage() {
    torn_case(|p| append_bytes(p, &[0xab; 7]), 10);
    // A full-size record header whose length runs past the end of the file.
    torn_case(|p| append_bytes(p, &[0xff; 20]), 10);
    // Zeros (as left by a crash after the file size grew).
    torn_case(|p| append_bytes(p, &[0; 64]), 10);
}

#[test]
fn torn_tail_bad_checksum() {
    torn_case(flip_last_byte, 9);
}

#[test]
fn torn_tail_cut_is_persisted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
        fill(&wal, 3);
    }
    let path = last_segment(dir.path());
    let good_len = std::fs::metadata(&path).unwrap().len();
    append_bytes(&path, b"garbage");
    drop(Wal::open(dir.path(), WalOptions::default()).unwrap());
    assert_eq!(std::fs::metadata(&path).unwrap().len(), good_len);
}

#[test]
fn damaged_middle_segment_drops_everything_after() {
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = Wal::open(dir.path(), small()).unwrap();
        fill(&wal, 40);
    }
    let files = segment_files(dir.path());
    assert!(files.len() >= 4);
    let victim = &files[1];
    flip_last_byte(victim);
    let wal = Wal::open(dir.path(), small()).unwrap();
    let last = wal.last_seq();
    assert!((2..40).contains(&last), "last = {last}");
    assert_records(&wal, 1, last);
    assert_eq!(segment_files(dir.path()).len(), 2);
    assert_eq!(wal.append(&payload(last + 1)).unwrap(), last + 1);
}

#[test]
fn headerless_last_segment_is_recreated() {
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = Wal::open(dir.path(), small()).unwrap();
        fill(&wal, 20);
    }
    // A crash right after creating the next segment: the file exists but is empty or torn.
    let next = dir.path().join(file_name(21));
    std::fs::write(&next, b"").unwrap();
    let wal = Wal::open(dir.path(), small()).unwrap();
    assert_eq!(wal.last_seq(), 20);
    assert_eq!(wal.append(&payload(21)).unwrap(), 21);
    drop(wal);
    std::fs::write(dir.path().join(file_name(22)), b"QWA").unwrap();
    let wal = Wal::open(dir.path(), small()).unwrap();
    assert_records(&wal, 1, 21);
    assert_eq!(wal.append(&payload(22)).unwrap(), 22);
}

#[test]
fn lone_headerless_segment_keeps_its_start_seq() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(file_name(500)), b"").unwrap();
    let wal = Wal::open(dir.path(), small()).unwrap();
    assert_eq!((wal.first_seq(), wal.last_seq()), (500, 499));
    assert_eq!(wal.append(b"a").unwrap(), 500);
}

#[test]
fn bad_magic_or_version_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
        fill(&wal, 2);
    }
    let path = last_segment(dir.path());
    let original = std::fs::read(&path).unwrap();
    let mut bytes = original.clone();
    bytes[0] = b'X';
    std::fs::write(&path, &bytes).unwrap();
    let err = Wal::open(dir.path(), WalOptions::default()).unwrap_err();
    assert!(matches!(err, StorageError::Corrupt(_)), "{err}");
    let mut bytes = original;
    bytes[4] = 9;
    std::fs::write(&path, &bytes).unwrap();
    let err = Wal::open(dir.path(), WalOptions::default()).unwrap_err();
    assert!(matches!(err, StorageError::Corrupt(_)), "{err}");
}

#[test]
fn append_at_rejects_gap_and_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
    wal.append_at(1, b"a").unwrap();
    wal.append_at(2, b"b").unwrap();
    let dup = wal.append_at(2, b"again").unwrap_err();
    assert!(matches!(&dup, StorageError::BadInput(m) if m.contains("duplicate")), "{dup}");
    let gap = wal.append_at(4, b"d").unwrap_err();
    assert!(matches!(&gap, StorageError::BadInput(m) if m.contains("gap")), "{gap}");
    wal.append_at(3, b"c").unwrap();
    assert_eq!(wal.append(b"d").unwrap(), 4);
    let seqs: Vec<SeqNo> = wal.read_from(0).unwrap().into_iter().map(|(s, _)| s).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4]);
}

#[test]
fn truncate_before_keeps_newer_records() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small()).unwrap();
    fill(&wal, 40);
    let size_before = wal.size_bytes();
    wal.truncate_before(25).unwrap();
    let first = wal.first_seq();
    assert!(first > 1 && first <= 25, "first = {first}");
    assert!(wal.size_bytes() < size_before);
    assert_records(&wal, first, 40);
    // Everything below the active segment can go, never the active segment itself.
    wal.truncate_before(1000).unwrap();
    assert_eq!(segment_files(dir.path()).len(), 1);
    assert_eq!(wal.last_seq(), 40);
    let first = wal.first_seq();
    assert!(first <= 40);
    assert_records(&wal, first, 40);
    drop(wal);
    let wal = Wal::open(dir.path(), small()).unwrap();
    assert_eq!(wal.first_seq(), first);
    assert_eq!(wal.append(&payload(41)).unwrap(), 41);
}

#[test]
fn truncate_all_and_reset_starts_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small()).unwrap();
    fill(&wal, 30);
    wal.truncate_all_and_reset(1000).unwrap();
    assert_eq!((wal.first_seq(), wal.last_seq(), wal.synced_seq()), (1000, 999, 999));
    assert!(wal.read_from(0).unwrap().is_empty());
    assert_eq!(segment_files(dir.path()).len(), 1);
    assert_eq!(wal.size_bytes(), HEADER_LEN);
    assert_eq!(wal.append(b"x").unwrap(), 1000);
    wal.sync_through(1000).unwrap();
    drop(wal);
    let wal = Wal::open(dir.path(), small()).unwrap();
    assert_eq!(wal.read_from(0).unwrap(), vec![(1000, b"x".to_vec())]);
    // Resetting to a lower seq works too (a snapshot from an older primary).
    wal.truncate_all_and_reset(1).unwrap();
    assert_eq!(wal.append(b"y").unwrap(), 1);
    assert!(wal.truncate_all_and_reset(0).is_err());
}

#[test]
fn set_next_seq_only_on_empty_log() {
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
        wal.set_next_seq(77).unwrap();
        assert_eq!((wal.first_seq(), wal.last_seq()), (77, 76));
    }
    let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
    assert_eq!(wal.last_seq(), 76);
    assert_eq!(wal.append(b"a").unwrap(), 77);
    let err = wal.set_next_seq(5).unwrap_err();
    assert!(matches!(err, StorageError::BadInput(_)), "{err}");
}

#[test]
fn sync_through_beyond_last_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
    wal.sync_through(0).unwrap();
    assert!(matches!(wal.sync_through(1), Err(StorageError::BadInput(_))));
    wal.append(b"a").unwrap();
    assert_eq!(wal.synced_seq(), 0);
    wal.sync_through(1).unwrap();
    assert_eq!(wal.synced_seq(), 1);
}

#[test]
fn group_commit_many_threads() {
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions { segment_size_bytes: 4096 };
    let wal = Arc::new(Wal::open(dir.path(), opts).unwrap());
    let threads: Vec<_> = (0..8u8)
        .map(|t| {
            let wal = Arc::clone(&wal);
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                for i in 0..200u32 {
                    let mut p = vec![t];
                    p.extend_from_slice(&i.to_le_bytes());
                    let seq = wal.append(&p).unwrap();
                    wal.sync_through(seq).unwrap();
                    assert!(wal.synced_seq() >= seq);
                    mine.push(seq);
                }
                mine
            })
        })
        .collect();
    let mut all: Vec<SeqNo> = threads.into_iter().flat_map(|h| h.join().unwrap()).collect();
    all.sort_unstable();
    assert_eq!(all, (1..=1600).collect::<Vec<_>>());
    drop(wal);
    let wal = Wal::open(dir.path(), opts).unwrap();
    let records = wal.read_from(1).unwrap();
    assert_eq!(records.len(), 1600);
    let mut next_per_thread = [0u32; 8];
    for (idx, (seq, p)) in records.iter().enumerate() {
        assert_eq!(*seq, idx as u64 + 1);
        let t = p[0] as usize;
        let i = u32::from_le_bytes([p[1], p[2], p[3], p[4]]);
        assert_eq!(i, next_per_thread[t], "thread {t} records out of order");
        next_per_thread[t] += 1;
    }
}

#[test]
fn read_while_appending() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Arc::new(Wal::open(dir.path(), WalOptions { segment_size_bytes: 1024 }).unwrap());
    fill(&wal, 10);
    let writer = {
        let wal = Arc::clone(&wal);
        std::thread::spawn(move || {
            for i in 11..=2000 {
                assert_eq!(wal.append(&payload(i)).unwrap(), i);
            }
        })
    };
    let mut reads = 0;
    loop {
        let last_before = wal.last_seq();
        let got = wal.read_from(1).unwrap();
        assert!(got.len() as u64 >= last_before);
        for (idx, (seq, p)) in got.iter().enumerate() {
            assert_eq!(*seq, idx as u64 + 1);
            assert_eq!(*p, payload(*seq));
        }
        reads += 1;
        if last_before == 2000 {
            break;
        }
    }
    writer.join().unwrap();
    assert!(reads >= 1);
    let mut count = 0;
    wal.for_each_from(1990, |seq, p| {
        assert_eq!(p, payload(seq).as_slice());
        count += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(count, 11);
}

#[test]
fn for_each_from_propagates_callback_error() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
    fill(&wal, 5);
    let mut seen = Vec::new();
    let err = wal
        .for_each_from(2, |seq, _| {
            seen.push(seq);
            if seq == 3 {
                return Err(StorageError::BadInput("stop".into()));
            }
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(err, StorageError::BadInput(_)));
    assert_eq!(seen, vec![2, 3]);
}

#[test]
fn for_each_in_reads_only_the_range_and_its_segments() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small()).unwrap();
    fill(&wal, 300);
    assert!(segment_files(dir.path()).len() > 3, "the range must span only some segments");
    let mut seen = Vec::new();
    wal.for_each_in(40, 45, |seq, p| {
        assert_eq!(p, payload(seq).as_slice());
        seen.push(seq);
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, (40..=45).collect::<Vec<_>>());
    // Segments wholly after the range are not read: a damaged one does not matter.
    let last = last_segment(dir.path());
    std::fs::write(&last, b"garbage").unwrap();
    let mut count = 0;
    wal.for_each_in(1, 10, |_, _| {
        count += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(count, 10);
}
