//! A changed `hnsw_config` (`m`, `ef_construct`) rebuilds the index beside the live one, which
//! searches keep using; writes made meanwhile reach the new index; its graph is saved under the
//! new parameters and trusted at the next open.

use crate::index_config::IndexConfig;
use crate::search::SearchPlan;
use crate::shard::LocalShard;
use crate::tests_graphs::checkpoint_and_wait_saved;
use crate::tests_search::{centers, load, point, recall_with_exact_scores, shard, upsert, vector, wait_indexed};
use quiver_types::PointId;
use quiver_types::config::Distance;
use quiver_types::ops::{PointSelector, UpdateOperation};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::{Duration, Instant};

const POINTS: u64 = 3000;

/// The degree and construction beam of the shard's live index.
fn built_with(shard: &LocalShard) -> Option<(usize, usize)> {
    shard.table.read().dense_index("").and_then(|view| view.index.built_with())
}

fn with_hnsw(shard: &LocalShard, m: usize, ef_construct: usize) -> IndexConfig {
    let mut index = shard.config.read().index.clone();
    let hnsw = index.hnsw.entry(String::new()).or_default();
    (hnsw.m, hnsw.ef_construct) = (m, ef_construct);
    index
}

fn graph_plan(plan: SearchPlan) -> bool {
    matches!(plan, SearchPlan::Graph | SearchPlan::FrozenGraph)
}

fn wait_built_with(shard: &LocalShard, shape: (usize, usize)) {
    let deadline = Instant::now() + crate::tests_search::BACKGROUND_WORK;
    while built_with(shard) != Some(shape) {
        assert!(Instant::now() < deadline, "index still built with {:?}", built_with(shard));
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn changed_hnsw_parameters_rebuild_the_index_and_keep_writes_made_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(33);
    let centers = centers(&mut rng);
    let shard = shard(dir.path(), Distance::Cosine, 1, 1);
    load(&shard, POINTS, &mut rng, &centers);
    wait_indexed(&shard, POINTS as usize);
    assert_eq!(built_with(&shard), Some((16, 64)));

    shard.set_index_settings(&with_hnsw(&shard, 24, 96));
    // Writes while the new index is built: new points, replaced vectors, deletions.
    let added = (POINTS..POINTS + 200).chain(0..100).map(|i| point(i, vector(&mut rng, &centers), &mut rng)).collect();
    upsert(&shard, added);
    let gone = PointSelector::Ids((100..POINTS).step_by(9).map(PointId::Num).collect());
    shard.update(&UpdateOperation::Delete { selector: gone }, false).unwrap();

    wait_built_with(&shard, (24, 96));
    let live = shard.points_count();
    wait_indexed(&shard, live);
    assert_eq!(shard.index_status().indexed_vectors, live, "every live vector is in the new index");
    let recall = recall_with_exact_scores(&shard, &mut rng, &centers, 40, graph_plan, 1e-4);
    assert!(recall >= 0.9, "recall {recall}");

    checkpoint_and_wait_saved(&shard);
    let config = shard.config.read().clone();
    drop(shard);
    let reopened = LocalShard::open(dir.path(), config).unwrap();
    assert_eq!(reopened.restored_index_slots(), live, "the rebuilt graph is saved and trusted");
    assert_eq!(built_with(&reopened), Some((24, 96)));
    let recall = recall_with_exact_scores(&reopened, &mut rng, &centers, 40, graph_plan, 1e-4);
    assert!(recall >= 0.9, "recall after reopening {recall}");
}
