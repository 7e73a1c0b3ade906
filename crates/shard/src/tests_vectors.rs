//! Vector names created and dropped on a live shard (design record 018): columns follow the
//! configuration, records and checkpoints that mention a dropped name still apply, and a
//! re-created name never receives vectors written before it was dropped.

use crate::index_config::IndexConfig;
use crate::shard::{LocalShard, ShardConfig};
use quiver_storage::vectors::VectorSpec;
use quiver_types::PointId;
use quiver_types::config::Distance;
use quiver_types::ops::{UpdateMode, UpdateOperation};
use quiver_types::point::{NamedVectors, PointStruct, Vector};
use std::collections::BTreeMap;

fn config(names: &[(&str, usize)]) -> ShardConfig {
    ShardConfig {
        dense: names.iter().map(|(n, d)| (n.to_string(), VectorSpec::plain(*d, Distance::Dot))).collect(),
        sparse: Default::default(),
        wal_segment_bytes: 1 << 20,
        index: IndexConfig::default(),
    }
}

fn upsert(shard: &LocalShard, id: u64, vectors: &[(&str, Vec<f32>)]) {
    let vectors: NamedVectors = vectors.iter().map(|(n, v)| (n.to_string(), Vector::Dense(v.clone()))).collect();
    let points = vec![PointStruct { id: PointId::Num(id), vectors, payload: None }];
    shard.update(&UpdateOperation::Upsert { points, mode: UpdateMode::Upsert, update_filter: None }, true).unwrap();
}

fn names_of(shard: &LocalShard, id: u64) -> Vec<String> {
    let table = shard.table.read();
    table.get(&PointId::Num(id)).map(|p| p.vectors().into_keys().collect()).unwrap_or_default()
}

#[test]
fn created_names_start_empty_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let shard = LocalShard::open(dir.path(), config(&[("a", 2)])).unwrap();
    upsert(&shard, 1, &[("a", vec![1.0, 0.0])]);
    shard.set_vectors(config(&[("a", 2), ("b", 3)])).unwrap();
    assert_eq!(names_of(&shard, 1), vec!["a"]);
    upsert(&shard, 2, &[("b", vec![1.0, 2.0, 3.0])]);
    drop(shard);
    let shard = LocalShard::open(dir.path(), config(&[("a", 2), ("b", 3)])).unwrap();
    assert_eq!(names_of(&shard, 1), vec!["a"]);
    assert_eq!(names_of(&shard, 2), vec!["b"]);
    assert_eq!(shard.vector_counts(), BTreeMap::from([("a".to_string(), 1), ("b".to_string(), 1)]));
}

#[test]
fn dropped_names_are_skipped_in_writes_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    let shard = LocalShard::open(dir.path(), config(&[("a", 2), ("b", 2)])).unwrap();
    upsert(&shard, 1, &[("a", vec![1.0, 0.0]), ("b", vec![0.0, 1.0])]);
    shard.set_vectors(config(&[("b", 2)])).unwrap();
    assert_eq!(names_of(&shard, 1), vec!["b"]);
    // A record written before the drop reaches the replica after it (catch-up): it applies,
    // without the dropped vector.
    upsert(&shard, 2, &[("a", vec![1.0, 1.0]), ("b", vec![1.0, 1.0])]);
    assert_eq!(names_of(&shard, 2), vec!["b"]);
    drop(shard);
    let shard = LocalShard::open(dir.path(), config(&[("b", 2)])).unwrap();
    assert_eq!(names_of(&shard, 1), vec!["b"]);
    assert_eq!(names_of(&shard, 2), vec!["b"]);
}

#[test]
fn a_recreated_name_never_gets_vectors_from_before_the_drop() {
    let dir = tempfile::tempdir().unwrap();
    let shard = LocalShard::open(dir.path(), config(&[("a", 2)])).unwrap();
    upsert(&shard, 1, &[("a", vec![1.0, 0.0])]);
    shard.set_vectors(config(&[])).unwrap();
    shard.set_vectors(config(&[("a", 2)])).unwrap();
    assert!(names_of(&shard, 1).is_empty());
    drop(shard);
    // The WAL still holds the upsert; the checkpoints taken at each change cover it.
    let shard = LocalShard::open(dir.path(), config(&[("a", 2)])).unwrap();
    assert!(names_of(&shard, 1).is_empty());
}

#[test]
fn a_drop_interrupted_before_the_shard_applied_it_is_finished_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let shard = LocalShard::open(dir.path(), config(&[("a", 2)])).unwrap();
    upsert(&shard, 1, &[("a", vec![1.0, 0.0])]);
    shard.checkpoint().unwrap();
    drop(shard);
    // The configuration lost `a` but the shard never ran `set_vectors` (a crash in between):
    // opening trims the stored point and rewrites it, so a later re-creation starts empty.
    let shard = LocalShard::open(dir.path(), config(&[])).unwrap();
    assert!(names_of(&shard, 1).is_empty());
    drop(shard);
    let shard = LocalShard::open(dir.path(), config(&[("a", 2)])).unwrap();
    assert!(names_of(&shard, 1).is_empty());
}
