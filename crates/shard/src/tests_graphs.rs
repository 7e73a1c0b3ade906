//! Saved HNSW indexes: a reopened shard searches its saved graph with the same results, the
//! slots changed since the save are indexed again, and damaged files are rebuilt.

use crate::search::SearchPlan;
use crate::shard::LocalShard;
use crate::tests_search::{centers, ids, load, point, recall_with_exact_scores, request, shard, upsert, vector};
use crate::tests_search::{wait_frozen, wait_indexed};
use quiver_types::PointId;
use quiver_types::config::Distance;
use quiver_types::ops::{PointSelector, UpdateOperation};
use quiver_types::point::ScoredPoint;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const POINTS: u64 = 3000;

/// Damages the saved graph (its usearch file, its record).
type Damage = fn(&Path, &Path);

pub(crate) fn files(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("graphs/vector-.usearch"), dir.join("graphs/vector-.meta"))
}

/// Checkpoints and waits until the indexer has saved the graph (the record file changes).
pub(crate) fn checkpoint_and_wait_saved(shard: &LocalShard) {
    let meta = files(shard.dir()).1;
    let before = std::fs::metadata(&meta).and_then(|m| m.modified()).ok();
    shard.checkpoint().unwrap();
    let deadline = Instant::now() + crate::tests_search::BACKGROUND_WORK;
    while std::fs::metadata(&meta).and_then(|m| m.modified()).ok() == before {
        assert!(Instant::now() < deadline, "graph not saved");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A shard of `POINTS` points with deleted and reused slots, indexed, its graph saved.
pub(crate) fn saved_shard(dir: &Path, rng: &mut StdRng, centers: &[Vec<f32>]) -> LocalShard {
    let shard = shard(dir, Distance::Cosine, 1, 1);
    load(&shard, POINTS, rng, centers);
    let gone = PointSelector::Ids((0..POINTS).step_by(7).map(PointId::Num).collect());
    shard.update(&UpdateOperation::Delete { selector: gone }, false).unwrap();
    let reused = (POINTS..POINTS + 300).map(|i| point(i, vector(rng, centers), rng)).collect();
    upsert(&shard, reused);
    let live = shard.points_count();
    wait_indexed(&shard, live);
    checkpoint_and_wait_saved(&shard);
    shard
}

fn results(shard: &LocalShard, queries: &[Vec<f32>]) -> Vec<Vec<ScoredPoint>> {
    wait_frozen(shard, &queries[0]);
    queries
        .iter()
        .map(|q| {
            let (found, plan) = shard.search_planned(&request(q, 10, false, None)).unwrap();
            assert_eq!(plan, SearchPlan::FrozenGraph);
            found
        })
        .collect()
}

#[test]
fn reopened_graph_gives_the_same_results() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(21);
    let centers = centers(&mut rng);
    let queries: Vec<Vec<f32>> = (0..40).map(|_| vector(&mut rng, &centers)).collect();
    let shard = saved_shard(dir.path(), &mut rng, &centers);
    let live = shard.points_count();
    let before = results(&shard, &queries);
    drop(shard);
    let reopened = crate::tests_search::shard(dir.path(), Distance::Cosine, 1, 1);
    assert_eq!(reopened.restored_index_slots(), live, "every vector comes from the saved graph");
    assert_eq!(reopened.index_status().indexed_vectors, live);
    let after = results(&reopened, &queries);
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(ids(b), ids(a));
        assert!(b.iter().zip(a).all(|(x, y)| x.score == y.score));
    }
}

#[test]
fn points_changed_after_the_save_are_indexed_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(22);
    let centers = centers(&mut rng);
    let shard = saved_shard(dir.path(), &mut rng, &centers);
    let live = shard.points_count();
    // After the save: 100 vectors change, 50 points go, 80 come (some into freed slots).
    let changed = (1..=100).map(|i| point(i * 3 + 1, vector(&mut rng, &centers), &mut rng)).collect();
    upsert(&shard, changed);
    let gone = PointSelector::Ids((2000..2050).map(PointId::Num).collect());
    shard.update(&UpdateOperation::Delete { selector: gone }, false).unwrap();
    upsert(&shard, (5000..5080).map(|i| point(i, vector(&mut rng, &centers), &mut rng)).collect());
    let now_live = shard.points_count();
    shard.sync().unwrap();
    drop(shard);
    let reopened = crate::tests_search::shard(dir.path(), Distance::Cosine, 1, 1);
    let restored = reopened.restored_index_slots();
    assert!(restored >= live - 250 && restored <= live - 100, "{restored} of {live} restored");
    wait_indexed(&reopened, now_live);
    let graph = |plan: SearchPlan| matches!(plan, SearchPlan::Graph | SearchPlan::FrozenGraph);
    let recall = recall_with_exact_scores(&reopened, &mut rng, &centers, 50, graph, 1e-5);
    assert!(recall >= 0.9, "recall {recall}");
}

#[test]
fn damaged_or_mismatched_graph_files_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(23);
    let centers = centers(&mut rng);
    let shard = saved_shard(dir.path(), &mut rng, &centers);
    let live = shard.points_count();
    drop(shard);
    let (index_file, meta_file) = files(dir.path());
    let damages: [(&str, Damage); 4] = [
        ("a flipped byte in the graph", |index, _| flip_byte(index)),
        ("a truncated graph", |index, _| truncate(index)),
        ("a flipped byte in the record", |_, meta| flip_byte(meta)),
        ("a missing graph", |index, _| std::fs::remove_file(index).unwrap()),
    ];
    for (what, damage) in damages {
        damage(&index_file, &meta_file);
        let reopened = crate::tests_search::shard(dir.path(), Distance::Cosine, 1, 1);
        assert_eq!(reopened.restored_index_slots(), 0, "{what} is not trusted");
        wait_indexed(&reopened, live);
        let graph = |plan: SearchPlan| matches!(plan, SearchPlan::Graph | SearchPlan::FrozenGraph);
        let recall = recall_with_exact_scores(&reopened, &mut rng, &centers, 30, graph, 1e-5);
        assert!(recall >= 0.9, "{what}: recall {recall}");
        // The rebuilt graph is saved again and then trusted.
        checkpoint_and_wait_saved(&reopened);
        drop(reopened);
        let again = crate::tests_search::shard(dir.path(), Distance::Cosine, 1, 1);
        assert_eq!(again.restored_index_slots(), live, "after {what}, the rebuilt graph is saved");
    }
    // A graph saved for other HNSW settings is not used.
    let other = shard_with_m(dir.path(), 8);
    assert_eq!(other.restored_index_slots(), 0);
}

pub(crate) fn flip_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5A;
    std::fs::write(path, bytes).unwrap();
}

fn truncate(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..bytes.len() * 2 / 3]).unwrap();
}

fn shard_with_m(dir: &Path, m: usize) -> LocalShard {
    let mut config = crate::tests_search::shard(&dir.join("probe"), Distance::Cosine, 1, 1).config().clone();
    config.index.hnsw.values_mut().for_each(|h| h.m = m);
    LocalShard::open(dir, config).unwrap()
}

#[test]
fn a_save_asked_for_by_the_last_checkpoint_is_made_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(24);
    let centers = centers(&mut rng);
    let shard = shard(dir.path(), Distance::Cosine, 1, 1);
    load(&shard, 2000, &mut rng, &centers);
    wait_indexed(&shard, 2000);
    shard.checkpoint().unwrap();
    drop(shard);
    let reopened = crate::tests_search::shard(dir.path(), Distance::Cosine, 1, 1);
    assert_eq!(reopened.restored_index_slots(), 2000);
}

/// A graph saved by a build whose index kept its own copy of the vectors (record 023) is
/// rebuilt as one that reads the table, then saved and trusted.
#[test]
fn a_graph_saved_with_a_vector_copy_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(25);
    let centers = centers(&mut rng);
    let mut config = crate::tests_search::shard(&dir.path().join("probe"), Distance::Cosine, 1, 1).config().clone();
    config.index.scalar = quiver_storage::index::IndexScalar::F32;
    let path = dir.path().join("shard");
    let old = LocalShard::open(&path, config).unwrap();
    load(&old, 2000, &mut rng, &centers);
    wait_indexed(&old, 2000);
    checkpoint_and_wait_saved(&old);
    drop(old);
    let reopened = crate::tests_search::shard(&path, Distance::Cosine, 1, 1);
    assert_eq!(reopened.restored_index_slots(), 0, "a graph of the old layout is not trusted");
    wait_indexed(&reopened, 2000);
    let graph = |plan: SearchPlan| matches!(plan, SearchPlan::Graph | SearchPlan::FrozenGraph);
    let recall = recall_with_exact_scores(&reopened, &mut rng, &centers, 30, graph, 1e-5);
    assert!(recall >= 0.9, "recall {recall}");
    checkpoint_and_wait_saved(&reopened);
    drop(reopened);
    let again = crate::tests_search::shard(&path, Distance::Cosine, 1, 1);
    assert_eq!(again.restored_index_slots(), 2000, "the rebuilt graph is saved and trusted");
}

/// Whether the graph of the shard's unnamed vector is a view of its saved file (record 041).
fn viewed(shard: &LocalShard) -> bool {
    shard.table.read().dense_index("").is_some_and(|view| view.index.graph_viewed())
}

/// Waits until `viewed(shard)` is `wanted`.
fn wait_viewed(shard: &LocalShard, wanted: bool) {
    let deadline = Instant::now() + crate::tests_search::BACKGROUND_WORK;
    while viewed(shard) != wanted {
        assert!(Instant::now() < deadline, "graph viewed: {} (waited for {wanted})", viewed(shard));
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Design record 041: a reopened shard with nothing pending gives its graph up for a view of
/// the saved file, answers as before, loads the graph back to index a change, and views the
/// file again once a checkpoint has saved the changed graph.
#[test]
fn a_reopened_graph_is_viewed_until_the_next_change() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(26);
    let centers = centers(&mut rng);
    let queries: Vec<Vec<f32>> = (0..40).map(|_| vector(&mut rng, &centers)).collect();
    let shard = saved_shard(dir.path(), &mut rng, &centers);
    let before = results(&shard, &queries);
    drop(shard);
    let reopened = crate::tests_search::shard(dir.path(), Distance::Cosine, 1, 1);
    wait_viewed(&reopened, true);
    let index_bytes = reopened.memory_report().index;
    let after = results(&reopened, &queries);
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(ids(b), ids(a));
    }
    // A change: the graph is loaded back and indexes it; searches stay right meanwhile.
    let live = reopened.points_count();
    upsert(&reopened, (9000..9050).map(|i| point(i, vector(&mut rng, &centers), &mut rng)).collect());
    wait_indexed(&reopened, live + 50);
    assert!(!viewed(&reopened));
    assert!(reopened.memory_report().index > 4 * index_bytes, "the graph is held again");
    let graph = |plan: SearchPlan| matches!(plan, SearchPlan::Graph | SearchPlan::FrozenGraph);
    let recall = recall_with_exact_scores(&reopened, &mut rng, &centers, 30, graph, 1e-5);
    assert!(recall >= 0.9, "recall {recall}");
    checkpoint_and_wait_saved(&reopened);
    wait_viewed(&reopened, true);
    drop(reopened);
    // The file saved from the view-loaded graph is trusted at the next open.
    let again = crate::tests_search::shard(dir.path(), Distance::Cosine, 1, 1);
    assert_eq!(again.restored_index_slots(), live + 50);
}

/// The saved files of the unnamed vector's graph: inode and modification time of each, which
/// a save (written beside and renamed in) changes.
fn graph_files_identity(dir: &Path) -> Vec<(u64, std::time::SystemTime)> {
    use std::os::unix::fs::MetadataExt;
    let (index, meta) = files(dir);
    [index, meta]
        .iter()
        .map(|path| {
            let m = std::fs::metadata(path).unwrap();
            (m.ino(), m.modified().unwrap())
        })
        .collect()
}

/// A reopened shard whose graph is exactly its saved file does not write the file again at the
/// next checkpoint when only payloads changed (design record 026's follow-up); a changed vector
/// still gets the graph saved.
#[test]
fn an_unchanged_reopened_graph_is_not_saved_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(27);
    let centers = centers(&mut rng);
    let shard = saved_shard(dir.path(), &mut rng, &centers);
    let live = shard.points_count();
    drop(shard);
    let before = graph_files_identity(dir.path());
    let reopened = crate::tests_search::shard(dir.path(), Distance::Cosine, 1, 1);
    assert_eq!(reopened.restored_index_slots(), live);
    let payload = serde_json::from_value(serde_json::json!({"tag": "changed"})).unwrap();
    let selector = PointSelector::Ids(vec![PointId::Num(1), PointId::Num(2)]);
    reopened.update(&UpdateOperation::SetPayload { payload, selector, key: None }, false).unwrap();
    reopened.checkpoint().unwrap();
    // Dropping the shard makes the indexer carry out the save the checkpoint asked for.
    drop(reopened);
    assert_eq!(graph_files_identity(dir.path()), before, "an unchanged graph was written again");

    let again = crate::tests_search::shard(dir.path(), Distance::Cosine, 1, 1);
    assert_eq!(again.restored_index_slots(), live);
    upsert(&again, vec![point(9100, vector(&mut rng, &centers), &mut rng)]);
    wait_indexed(&again, live + 1);
    again.checkpoint().unwrap();
    drop(again);
    assert_ne!(graph_files_identity(dir.path()), before, "a changed graph was not saved");
    let last = crate::tests_search::shard(dir.path(), Distance::Cosine, 1, 1);
    assert_eq!(last.restored_index_slots(), live + 1);
}
