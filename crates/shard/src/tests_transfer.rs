//! Streamed installs of point frames and format-2 shard snapshots (design record 019): every
//! vector kind and datatype copied exactly, format-1 files still restored, a crash between the
//! checkpoint swap and the WAL reset repaired on open, and bad input refused with the target
//! untouched.

use crate::error::ShardError;
use crate::index_config::IndexConfig;
use crate::shard::{LocalShard, ShardConfig};
use crate::snapshot::{SnapshotRestore, verify_snapshot};
use quiver_storage::StorageError;
use quiver_storage::points::StoredPoint;
use quiver_storage::vectors::VectorSpec;
use quiver_types::config::{Datatype, Distance};
use quiver_types::ops::{UpdateMode, UpdateOperation};
use quiver_types::point::{NamedVectors, PointStruct, Vector};
use quiver_types::{PointId, SparseVector};
use std::collections::BTreeMap;
use std::path::Path;

const DIM: usize = 4;

fn spec(datatype: Datatype, multivector: bool) -> VectorSpec {
    VectorSpec { dim: DIM, distance: Distance::Dot, datatype, multivector }
}

pub(crate) fn config() -> ShardConfig {
    let dense = BTreeMap::from([
        ("f32".to_string(), spec(Datatype::Float32, false)),
        ("f16".to_string(), spec(Datatype::Float16, false)),
        ("u8".to_string(), spec(Datatype::Uint8, false)),
        ("multi".to_string(), spec(Datatype::Float32, true)),
        ("multi_u8".to_string(), spec(Datatype::Uint8, true)),
    ]);
    ShardConfig { dense, sparse: Default::default(), wal_segment_bytes: 1 << 16, index: IndexConfig::default() }
}

fn shard(dir: &Path) -> LocalShard {
    LocalShard::open(dir, config()).unwrap()
}

fn values(i: u64, scale: f32) -> Vec<f32> {
    (0..DIM).map(|d| ((i as usize * DIM + d) % 200) as f32 * scale).collect()
}

fn vectors(i: u64) -> NamedVectors {
    let sparse = SparseVector { indices: vec![i as u32 + 7, 1], values: vec![0.25, i as f32] };
    NamedVectors::from([
        ("f32".into(), Vector::Dense(values(i, 0.37))),
        ("f16".into(), Vector::Dense(values(i, 0.1))),
        ("u8".into(), Vector::Dense(values(i, 1.0))),
        ("multi".into(), Vector::Multi(vec![values(i, 0.5), values(i + 1, -0.5)])),
        ("multi_u8".into(), Vector::Multi(vec![values(i, 1.0); 3])),
        ("sparse".into(), Vector::Sparse(sparse)),
    ])
}

pub(crate) fn upsert(ids: std::ops::Range<u64>) -> UpdateOperation {
    let points = ids
        .map(|i| PointStruct {
            id: if i % 3 == 0 { PointId::Uuid(uuid::Uuid::from_u128(u128::from(i) + 1)) } else { i.into() },
            vectors: vectors(i),
            payload: Some(serde_json::from_value(serde_json::json!({"i": i, "tag": ["a", {"b": i * 2}]})).unwrap()),
        })
        .collect();
    UpdateOperation::Upsert { points, mode: UpdateMode::Upsert, update_filter: None }
}

/// A source with 2,300 points of every kind (three snapshot frames) and a target with other data.
pub(crate) fn fixture(dir: &Path) -> (LocalShard, LocalShard) {
    let source = shard(&dir.join("source"));
    source.update(&upsert(0..2300), true).unwrap();
    let target = shard(&dir.join("target"));
    target.update(&upsert(5000..5004), true).unwrap();
    (source, target)
}

fn vectors_of(shard: &LocalShard) -> Vec<(PointId, NamedVectors)> {
    shard.snapshot_points().1.into_iter().map(|p| (p.id, p.vectors)).collect()
}

#[test]
fn every_kind_and_datatype_survives_a_snapshot_and_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (source, target) = fixture(dir.path());
    let path = dir.path().join("snap");
    let written = source.write_snapshot(&path).unwrap();
    assert_eq!(&std::fs::read(&path).unwrap()[..8], b"QVSHARD2");
    assert_eq!(verify_snapshot(&path).unwrap(), written);
    assert_eq!(target.restore_snapshot(&path).unwrap(), written);
    assert_eq!(vectors_of(&target), vectors_of(&source));
    assert_eq!((target.digest(), target.applied_seq()), (source.digest(), 1));
    drop(target);
    let reopened = shard(&dir.path().join("target"));
    assert_eq!(reopened.digest(), source.digest());
    let f16 = reopened.snapshot_points().1[1].vectors["f16"].clone();
    assert_ne!(f16, Vector::Dense(values(1, 0.1)), "float16 values are the stored (rounded) ones");
}

#[test]
fn pages_of_point_frames_install_like_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let (source, target) = fixture(dir.path());
    let (seq, points) = source.snapshot_points();
    let mut install = target.begin_install().unwrap();
    for page in points.chunks(700) {
        let frame = crate::encode_point_frame(page).unwrap();
        assert_eq!(install.add_frame(frame).unwrap(), page.len());
    }
    assert_eq!(target.points_count(), 4, "nothing changes before the install finishes");
    target.finish_install(install, seq).unwrap();
    assert_eq!(target.digest(), source.digest());
    target.update(&upsert(9000..9001), true).unwrap();
    assert_eq!(target.applied_seq(), seq + 1);
}

#[test]
fn format_1_snapshots_still_restore() {
    let dir = tempfile::tempdir().unwrap();
    let (source, target) = fixture(dir.path());
    let (seq, points) = source.snapshot_points();
    let mut file = b"QVSHARD1".to_vec();
    file.extend_from_slice(&seq.to_le_bytes());
    for chunk in points.chunks(1000) {
        let body = rmp_serde::to_vec_named(chunk).unwrap();
        file.extend_from_slice(&(body.len() as u32).to_le_bytes());
        file.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        file.extend_from_slice(&body);
    }
    file.extend_from_slice(&0u32.to_le_bytes());
    let path = dir.path().join("v1.snapshot");
    std::fs::write(&path, &file).unwrap();
    assert_eq!(verify_snapshot(&path).unwrap().points, 2300);
    let info = target.restore_snapshot(&path).unwrap();
    assert_eq!((info.seq, info.points, info.bytes), (seq, 2300, file.len() as u64));
    assert_eq!(target.digest(), source.digest());
}

#[test]
fn bytes_arriving_in_odd_pieces_restore_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let (source, target) = fixture(dir.path());
    let path = dir.path().join("snap");
    source.write_snapshot(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let mut restore = SnapshotRestore::new(target.begin_install().unwrap());
    for piece in bytes.chunks(4099) {
        restore.push(piece).unwrap();
    }
    assert!(restore.push(b"x").is_err(), "bytes after the end marker");
    let mut restore = SnapshotRestore::new(target.begin_install().unwrap());
    bytes.chunks(7777).for_each(|piece| restore.push(piece).unwrap());
    restore.finish(&target).unwrap();
    assert_eq!(target.digest(), source.digest());
}

#[test]
fn a_crash_between_checkpoint_swap_and_wal_reset_is_repaired_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let (source, target) = fixture(dir.path());
    for i in 0..30 {
        target.update(&upsert(6000 + i..6001 + i), true).unwrap(); // WAL up to seq 31 > 1
    }
    let path = dir.path().join("snap");
    source.write_snapshot(&path).unwrap();
    crate::snapshot::crash_after_checkpoint_swap(&target, &path);
    drop(target);
    let reopened = shard(&dir.path().join("target"));
    assert_eq!((reopened.digest(), reopened.applied_seq()), (source.digest(), 1));
    reopened.update(&upsert(7000..7001), true).unwrap();
    drop(reopened);
    assert_eq!(shard(&dir.path().join("target")).applied_seq(), 2);
}

fn refused(result: crate::error::Result<usize>) -> bool {
    matches!(result, Err(ShardError::Storage(StorageError::Corrupt(_))))
}

#[test]
fn frames_that_do_not_fit_are_refused_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (source, target) = fixture(dir.path());
    let before = target.digest();
    let points = source.snapshot_points().1;
    let frame = crate::encode_point_frame(&points[..10]).unwrap();
    let mut install = target.begin_install().unwrap();
    assert!(refused(install.add_frame(&frame[..frame.len() - 3])), "truncated frame");
    let mut wrong_dim = points[0].clone();
    wrong_dim.vectors.insert("f32".into(), Vector::Dense(vec![1.0; DIM + 1]));
    let not_multi = StoredPoint {
        vectors: NamedVectors::from([("multi".into(), Vector::Dense(vec![1.0; DIM]))]),
        ..points[1].clone()
    };
    for bad in [wrong_dim, not_multi] {
        let frame = crate::encode_point_frame(std::slice::from_ref(&bad)).unwrap();
        assert!(refused(install.add_frame(frame)), "{:?}", bad.vectors.keys());
    }
    drop(install);
    assert_eq!(target.digest(), before);
    assert_eq!(install_files(&dir.path().join("target")), Vec::<String>::new(), "a dropped install leaves no file");
}

/// The files of installs being built in a shard's directory.
fn install_files(dir: &Path) -> Vec<String> {
    let names = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned());
    names.filter(|name| name.contains("install")).collect()
}

#[test]
fn an_install_dropped_while_its_frames_are_written_leaves_no_file_and_the_replica_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let (source, target) = fixture(dir.path());
    let before = target.digest();
    let points = source.snapshot_points().1;
    let mut install = target.begin_install().unwrap();
    for page in points.chunks(100) {
        install.add_frame(crate::encode_point_frame(page).unwrap()).unwrap();
    }
    assert_eq!(install_files(&dir.path().join("target")).len(), 1, "the checkpoint being built");
    drop(install);
    assert_eq!(install_files(&dir.path().join("target")), Vec::<String>::new());
    assert_eq!(target.digest(), before);
    assert!(target.checkpoint_due(0, true), "checkpoints resume");
}

#[test]
fn an_install_holds_off_checkpoints_of_the_data_it_replaces_until_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let (source, target) = fixture(dir.path());
    assert!(target.checkpoint_due(0, true), "the target's 4 points are not checkpointed yet");
    let install = target.begin_install().unwrap();
    assert!(!target.checkpoint_due(0, true), "checkpointing the data an install replaces is wasted work");
    drop(install);
    assert!(target.checkpoint_due(0, true), "a dropped install leaves the replica as it was, checkpoints too");
    let mut install = target.begin_install().unwrap();
    let points = source.snapshot_points().1;
    install.add_frame(crate::encode_point_frame(&points).unwrap()).unwrap();
    source.update(&upsert(9000..9001), true).unwrap();
    assert!(source.checkpoint_due(0, true), "another replica's install holds off only its own checkpoints");
    target.finish_install(install, source.applied_seq()).unwrap();
    target.update(&upsert(9000..9001), true).unwrap();
    assert!(target.checkpoint_due(0, true), "checkpoints resume once the install is finished");
}

#[test]
fn an_install_holds_off_indexing_of_the_data_it_replaces_until_it_ends() {
    use crate::tests_search::{centers, point, vector, wait_indexed};
    use rand::SeedableRng;
    let dir = tempfile::tempdir().unwrap();
    let target = crate::tests_search::shard(dir.path(), Distance::Cosine, 1, 1);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let centers = centers(&mut rng);
    let install = target.begin_install().unwrap();
    let points = (0..500).map(|i| point(i, vector(&mut rng, &centers), &mut rng)).collect();
    crate::tests_search::upsert(&target, points);
    // Two rounds held off after the upsert: the second began after it, with the points there.
    let held_off = target.indexer.rounds_held_off();
    let deadline = std::time::Instant::now() + crate::tests_search::BACKGROUND_WORK;
    while target.indexer.rounds_held_off() < held_off + 2 {
        assert!(std::time::Instant::now() < deadline, "the indexer never ran a round");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let status = target.index_status();
    assert!(status.indexing && status.indexed_vectors == 0, "indexed while being replaced: {status:?}");
    drop(install);
    wait_indexed(&target, 500);
}
