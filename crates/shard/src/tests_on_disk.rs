//! `on_disk` vectors and `hnsw_config.on_disk` (design record 025): a shard whose column (and
//! frozen graph copy) lives in mapped scratch files stores, searches and reopens exactly like one
//! whose column is in memory, and a changed `on_disk` moves the column.

use crate::shard::LocalShard;
use crate::tests_search::{centers, load, recall_with_exact_scores, request, shard, vector, wait_frozen, wait_indexed};
use quiver_storage::mapped::Placement;
use quiver_storage::points::StoredPoint;
use quiver_storage::quantized::QuantizationKind;
use quiver_types::config::Distance;
use quiver_types::query::SearchParams;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const POINTS: u64 = 3000;

/// A shard like `tests_search::shard` (indexed from the first KB), its vector and the frozen
/// copy of its graph `on_disk`.
fn on_disk_shard(dir: &Path) -> LocalShard {
    let mut config = shard(&dir.join("probe"), Distance::Cosine, 1, 1).config();
    config.index.on_disk = BTreeSet::from([String::new()]);
    config.index.hnsw.values_mut().for_each(|hnsw| hnsw.on_disk = Some(true));
    LocalShard::open(dir, config).unwrap()
}

fn frozen_placement(shard: &LocalShard) -> Option<Placement> {
    shard.table.read().dense_index("").and_then(|view| view.frozen.map(|f| f.graph.placement()))
}

fn placement(shard: &LocalShard) -> Option<Placement> {
    shard.table.read().placement("")
}

fn stored(shard: &LocalShard) -> Vec<StoredPoint> {
    shard.table.read().iter_from(None).map(|p| p.to_stored()).collect()
}

/// Exact searches give the same points with the same scores on both shards.
fn assert_same_exact_results(a: &LocalShard, b: &LocalShard, rng: &mut StdRng, centers: &[Vec<f32>]) {
    for _ in 0..20 {
        let q = vector(rng, centers);
        let (x, y) = (a.search(&request(&q, 10, true, None)).unwrap(), b.search(&request(&q, 10, true, None)).unwrap());
        let scored = |r: &[quiver_types::point::ScoredPoint]| r.iter().map(|p| (p.id, p.score)).collect::<Vec<_>>();
        assert_eq!(scored(&x), scored(&y));
    }
}

#[test]
fn an_on_disk_shard_stores_searches_and_reopens_like_an_in_memory_one() {
    let dir = tempfile::tempdir().unwrap();
    let centers = centers(&mut StdRng::seed_from_u64(1));
    let memory = shard(&dir.path().join("memory"), Distance::Cosine, 1, 1);
    let mapped = on_disk_shard(&dir.path().join("mapped"));
    assert_eq!(placement(&memory), Some(Placement::Memory));
    assert_eq!(placement(&mapped), Some(Placement::Mapped(dir.path().join("mapped/mapped"))));
    load(&memory, POINTS, &mut StdRng::seed_from_u64(2), &centers);
    load(&mapped, POINTS, &mut StdRng::seed_from_u64(2), &centers);
    assert_eq!(stored(&mapped), stored(&memory));
    wait_indexed(&mapped, POINTS as usize);
    let mut rng = StdRng::seed_from_u64(3);
    wait_frozen(&mapped, &vector(&mut rng, &centers));
    assert!(matches!(frozen_placement(&mapped), Some(Placement::Mapped(_))));
    assert_same_exact_results(&memory, &mapped, &mut rng, &centers);
    let frozen = |plan| plan == crate::search::SearchPlan::FrozenGraph;
    let recall = recall_with_exact_scores(&mapped, &mut rng, &centers, 30, frozen, 1e-5);
    assert!(recall >= 0.9, "recall {recall}");
    // The scratch file has no name: nothing of it is left for a restart to trust.
    assert_eq!(std::fs::read_dir(dir.path().join("mapped/mapped")).unwrap().count(), 0);
    drop(mapped);
    let mapped = on_disk_shard(&dir.path().join("mapped"));
    assert!(matches!(placement(&mapped), Some(Placement::Mapped(_))));
    assert_eq!(stored(&mapped), stored(&memory), "rebuilt from the checkpoint and the WAL");
    assert_same_exact_results(&memory, &mapped, &mut rng, &centers);
}

#[test]
fn int8_codes_rescored_with_on_disk_originals_give_exact_scores() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(4);
    let centers = centers(&mut rng);
    let mapped = on_disk_shard(dir.path());
    load(&mapped, POINTS, &mut rng, &centers);
    mapped.set_quantization(&BTreeMap::from([(String::new(), QuantizationKind::Int8 { quantile: None })]));
    wait_indexed(&mapped, POINTS as usize);
    let deadline = std::time::Instant::now() + crate::tests_search::BACKGROUND_WORK;
    while !mapped.quantization_ready() {
        assert!(std::time::Instant::now() < deadline, "int8 codes not built");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(mapped.memory_report().quantized >= POINTS as usize * crate::tests_search::DIM);
    for _ in 0..20 {
        let q = vector(&mut rng, &centers);
        let mut quantized = request(&q, 10, false, None);
        let rescore = serde_json::json!({"rescore": true, "oversampling": 2.0});
        quantized.params = Some(SearchParams { quantization: Some(rescore), ..SearchParams::default() });
        let exact = mapped.search(&request(&q, 10, true, None)).unwrap();
        for p in mapped.search(&quantized).unwrap() {
            if let Some(e) = exact.iter().find(|e| e.id == p.id) {
                assert!((e.score - p.score).abs() < 1e-5, "rescored from the mapped originals");
            }
        }
    }
}

#[test]
fn changing_on_disk_moves_the_column_and_keeps_its_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    let centers = centers(&mut rng);
    let shard = shard(dir.path(), Distance::Cosine, 1, 1);
    load(&shard, 500, &mut rng, &centers);
    let before = stored(&shard);
    let mut config = shard.config();
    config.index.on_disk = BTreeSet::from([String::new()]);
    shard.set_vectors(config.clone()).unwrap();
    assert_eq!(placement(&shard), Some(Placement::Mapped(dir.path().join("mapped"))));
    assert_eq!(stored(&shard), before);
    config.index.on_disk.clear();
    shard.set_vectors(config).unwrap();
    assert_eq!(placement(&shard), Some(Placement::Memory));
    assert_eq!(stored(&shard), before);
}
