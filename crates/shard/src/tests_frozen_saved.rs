//! The frozen graph copy saved beside the HNSW index (design record 026): a reopened shard
//! searches through it once its indexer has read it (first thing after the open), with the
//! points changed since the save scored exactly, and a damaged copy, or one of another graph
//! file, is not used.

use crate::search::SearchPlan;
use crate::shard::LocalShard;
use crate::tests_graphs::{checkpoint_and_wait_saved, files, flip_byte, saved_shard};
use crate::tests_search::{BACKGROUND_WORK, centers, ids, point, request, upsert, vector, wait_indexed};
use quiver_types::config::Distance;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn frozen_file(dir: &Path) -> PathBuf {
    files(dir).0.with_extension("frozen")
}

/// Waits until the indexer has saved the frozen copy of the graph now in the graph file.
fn wait_frozen_saved(dir: &Path) {
    let graph = files(dir).0;
    let deadline = Instant::now() + BACKGROUND_WORK;
    let current = || {
        let saved = std::fs::metadata(frozen_file(dir)).and_then(|m| m.modified()).ok();
        saved.is_some_and(|at| std::fs::metadata(&graph).and_then(|m| m.modified()).is_ok_and(|g| at >= g))
    };
    while !current() {
        assert!(Instant::now() < deadline, "frozen copy not saved");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn reopen(dir: &Path) -> LocalShard {
    crate::tests_search::shard(dir, Distance::Cosine, 1, 1)
}

/// Reopens the shard and waits until its indexer has read the saved frozen copy.
fn reopen_with_saved_copy(dir: &Path) -> LocalShard {
    let shard = reopen(dir);
    let deadline = Instant::now() + BACKGROUND_WORK;
    while shard.restored_frozen_graphs() == 0 {
        assert!(Instant::now() < deadline, "the saved frozen copy was not read");
        std::thread::sleep(Duration::from_millis(5));
    }
    shard
}

#[test]
fn a_reopened_shard_searches_its_saved_frozen_copy_from_the_open_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(31);
    let centers = centers(&mut rng);
    let queries: Vec<Vec<f32>> = (0..40).map(|_| vector(&mut rng, &centers)).collect();
    let shard = saved_shard(dir.path(), &mut rng, &centers);
    wait_frozen_saved(dir.path());
    crate::tests_search::wait_frozen(&shard, &queries[0]);
    let search = |shard: &LocalShard, q: &Vec<f32>| shard.search_planned(&request(q, 10, false, None)).unwrap();
    let before: Vec<_> = queries.iter().map(|q| search(&shard, q)).collect();
    drop(shard);
    let saved_at = std::fs::metadata(frozen_file(dir.path())).unwrap().modified().unwrap();
    let reopened = reopen_with_saved_copy(dir.path());
    assert_eq!(reopened.restored_frozen_graphs(), 1);
    for (q, (found, plan)) in queries.iter().zip(&before) {
        let (again, again_plan) = search(&reopened, q);
        assert_eq!((*plan, again_plan), (SearchPlan::FrozenGraph, SearchPlan::FrozenGraph));
        assert_eq!(ids(found), ids(&again));
        assert!(found.iter().zip(&again).all(|(x, y)| x.score == y.score));
    }
    // The copy matches the graph file already: it is not written again.
    reopened.checkpoint().unwrap();
    drop(reopened);
    assert_eq!(std::fs::metadata(frozen_file(dir.path())).unwrap().modified().unwrap(), saved_at);
}

#[test]
fn points_changed_after_the_save_are_found_through_the_saved_copy() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(32);
    let centers = centers(&mut rng);
    let shard = saved_shard(dir.path(), &mut rng, &centers);
    wait_frozen_saved(dir.path());
    // After the save (in the WAL only): 30 vectors move, 20 points come.
    let moved: Vec<_> = (1..=30).map(|i| point(i * 5 + 1, vector(&mut rng, &centers), &mut rng)).collect();
    let added: Vec<_> = (7000..7020).map(|i| point(i, vector(&mut rng, &centers), &mut rng)).collect();
    upsert(&shard, moved.clone());
    upsert(&shard, added.clone());
    let live = shard.points_count();
    shard.sync().unwrap();
    drop(shard);
    // The searches run on the copy read from the file, or on the indexer's next one (taken
    // once it has indexed the changed points): the results must be right on either.
    let reopened = reopen_with_saved_copy(dir.path());
    for p in moved.iter().chain(&added) {
        let Some(quiver_types::point::Vector::Dense(v)) = p.vectors.get("") else { panic!("dense") };
        let (found, plan) = reopened.search_planned(&request(v, 1, false, None)).unwrap();
        assert_eq!(plan, SearchPlan::FrozenGraph);
        assert_eq!(found.first().map(|f| f.id), Some(p.id), "its own vector finds it");
        assert!((found[0].score - 1.0).abs() < 1e-4, "scored on its new vector: {}", found[0].score);
    }
    wait_indexed(&reopened, live);
}

#[test]
fn a_damaged_copy_or_a_copy_of_another_graph_file_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(33);
    let centers = centers(&mut rng);
    let shard = saved_shard(dir.path(), &mut rng, &centers);
    let live = shard.points_count();
    wait_frozen_saved(dir.path());
    drop(shard);
    flip_byte(&frozen_file(dir.path()));
    let damaged = std::fs::read(frozen_file(dir.path())).unwrap();
    let reopened = reopen(dir.path());
    assert_eq!(reopened.restored_index_slots(), live);
    // The indexer tries the saved copy first in its round, then copies the graph itself.
    crate::tests_search::wait_frozen(&reopened, &vector(&mut rng, &centers));
    assert_eq!(reopened.restored_frozen_graphs(), 0, "a damaged copy is not used");
    // The indexer's own copy is saved in place of the damaged one.
    wait_frozen_saved(dir.path());
    let good = std::fs::read(frozen_file(dir.path())).unwrap();
    assert_ne!(good, damaged);
    // A new point: the graph file is written again at the checkpoint; the copy of the graph
    // file before is put back.
    upsert(&reopened, vec![point(9500, vector(&mut rng, &centers), &mut rng)]);
    wait_indexed(&reopened, live + 1);
    checkpoint_and_wait_saved(&reopened);
    drop(reopened);
    std::fs::write(frozen_file(dir.path()), &good).unwrap();
    let again = reopen(dir.path());
    assert_eq!(again.restored_index_slots(), live + 1);
    crate::tests_search::wait_frozen(&again, &vector(&mut rng, &centers));
    assert_eq!(again.restored_frozen_graphs(), 0, "a copy of the graph file before is not used");
    let (found, _) = again.search_planned(&request(&vector(&mut rng, &centers), 5, false, None)).unwrap();
    assert_eq!(found.len(), 5);
}
