//! Search tests: indexed vs exact recall, the planner's plans, filters (randomised property
//! checks), and searches racing upserts and deletes.

use crate::index_config::IndexConfig;
use crate::search::SearchPlan;
use crate::shard::{LocalShard, ShardConfig};
use quiver_types::PointId;
use quiver_types::config::{Distance, HnswConfig};
use quiver_types::filter::Filter;
use quiver_types::ops::{PointSelector, UpdateMode, UpdateOperation};
use quiver_types::point::{NamedVectors, PointStruct, ScoredPoint, Vector};
use quiver_types::query::{CoreSearch, QueryVector, SearchParams, WithPayload, WithVector};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

pub(crate) const DIM: usize = 16;

pub(crate) fn shard(dir: &std::path::Path, distance: Distance, threshold_kb: usize, full_scan_kb: usize) -> LocalShard {
    let hnsw = HnswConfig { m: 16, ef_construct: 64, full_scan_threshold: full_scan_kb, ..HnswConfig::default() };
    let config = ShardConfig {
        sparse: Default::default(),
        dense: BTreeMap::from([(String::new(), quiver_storage::vectors::VectorSpec::plain(DIM, distance))]),
        wal_segment_bytes: 8 << 20,
        index: IndexConfig {
            hnsw: BTreeMap::from([(String::new(), hnsw)]),
            indexing_threshold_kb: threshold_kb,
            ..IndexConfig::default()
        },
    };
    LocalShard::open(dir, config).unwrap()
}

/// Clustered vectors (like real embeddings), unit length.
pub(crate) fn vector(rng: &mut StdRng, centers: &[Vec<f32>]) -> Vec<f32> {
    let c = &centers[rng.random_range(0..centers.len())];
    let mut v: Vec<f32> = c.iter().map(|x| x + rng.random_range(-0.3..0.3)).collect();
    quiver_storage::distance::normalize(&mut v);
    v
}

pub(crate) fn centers(rng: &mut StdRng) -> Vec<Vec<f32>> {
    (0..20).map(|_| (0..DIM).map(|_| rng.random_range(-1.0..1.0)).collect()).collect()
}

pub(crate) fn point(id: u64, v: Vec<f32>, rng: &mut StdRng) -> PointStruct {
    let color = ["red", "green", "blue", "white"][rng.random_range(0..4)];
    let payload = serde_json::json!({
        "color": color,
        "n": rng.random_range(0..100),
        "rare": rng.random_range(0..200) == 0,
    });
    PointStruct {
        id: PointId::Num(id),
        vectors: NamedVectors::from([(String::new(), Vector::Dense(v))]),
        payload: Some(payload.as_object().unwrap().clone()),
    }
}

pub(crate) fn upsert(shard: &LocalShard, points: Vec<PointStruct>) {
    shard.update(&UpdateOperation::Upsert { points, mode: UpdateMode::Upsert, update_filter: None }, false).unwrap();
}

pub(crate) fn request(q: &[f32], limit: usize, exact: bool, filter: Option<Filter>) -> CoreSearch {
    CoreSearch {
        vector_name: String::new(),
        query: QueryVector::Dense(q.to_vec()),
        filter,
        params: Some(SearchParams { exact, ..SearchParams::default() }),
        limit,
        score_threshold: None,
        with_payload: WithPayload::Bool(true),
        with_vector: WithVector::Bool(false),
    }
}

/// How long a test waits for the indexer's background work (graphs, quantized copies, saves)
/// before it fails. The indexer runs at background priority: on a 2-core machine busy with the
/// other tests it may get little CPU for a while, so this bounds a hang, not the work's speed.
pub(crate) const BACKGROUND_WORK: Duration = Duration::from_secs(300);

pub(crate) fn wait_indexed(shard: &LocalShard, n: usize) {
    let deadline = Instant::now() + crate::tests_search::BACKGROUND_WORK;
    loop {
        let status = shard.index_status();
        if !status.indexing && status.indexed_vectors >= n {
            return;
        }
        assert!(Instant::now() < deadline, "index not built: {status:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until searches go through the frozen copy of the graph.
pub(crate) fn wait_frozen(shard: &LocalShard, q: &[f32]) {
    let deadline = Instant::now() + crate::tests_search::BACKGROUND_WORK;
    while shard.search_planned(&request(q, 1, false, None)).unwrap().1 != SearchPlan::FrozenGraph {
        assert!(Instant::now() < deadline, "no frozen copy of the graph");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Recall@10 of `queries` random queries against exact search; every plan must satisfy
/// `plan_ok` and every score returned must equal the exact one within `tolerance`.
pub(crate) fn recall_with_exact_scores(
    shard: &LocalShard,
    rng: &mut StdRng,
    centers: &[Vec<f32>],
    queries: usize,
    plan_ok: impl Fn(SearchPlan) -> bool,
    tolerance: f32,
) -> f64 {
    let (mut hits, mut total) = (0, 0);
    for _ in 0..queries {
        let q = vector(rng, centers);
        let (approx, plan) = shard.search_planned(&request(&q, 10, false, None)).unwrap();
        assert!(plan_ok(plan), "{plan:?}");
        let exact = shard.search(&request(&q, 10, true, None)).unwrap();
        let truth: HashSet<PointId> = ids(&exact).into_iter().collect();
        hits += approx.iter().filter(|p| truth.contains(&p.id)).count();
        total += truth.len();
        // Scores are exact whatever the plan.
        for p in &approx {
            if let Some(e) = exact.iter().find(|e| e.id == p.id) {
                assert!((e.score - p.score).abs() < tolerance, "exact scores");
            }
        }
    }
    hits as f64 / total as f64
}

pub(crate) fn ids(points: &[ScoredPoint]) -> Vec<PointId> {
    points.iter().map(|p| p.id).collect()
}

pub(crate) fn load(shard: &LocalShard, n: u64, rng: &mut StdRng, centers: &[Vec<f32>]) {
    for start in (0..n).step_by(500) {
        let points = (start..(start + 500).min(n)).map(|i| point(i, vector(rng, centers), rng)).collect();
        upsert(shard, points);
    }
}

#[test]
fn indexed_search_matches_exact_within_tolerance() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let centers = centers(&mut rng);
    for distance in [Distance::Cosine, Distance::Euclid, Distance::Dot, Distance::Manhattan] {
        let shard = shard(&dir.path().join(format!("{distance:?}")), distance, 1, 1);
        load(&shard, 3000, &mut rng, &centers);
        wait_indexed(&shard, 3000);
        let graph = |plan: SearchPlan| matches!(plan, SearchPlan::Graph | SearchPlan::FrozenGraph);
        let recall = recall_with_exact_scores(&shard, &mut rng, &centers, 50, graph, 1e-5);
        assert!(recall >= 0.9, "{distance:?} recall {recall}");
    }
}

#[test]
fn small_shards_are_searched_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(8);
    let centers = centers(&mut rng);
    let small = shard(&dir.path().join("small"), Distance::Cosine, 10_000, 10_000);
    load(&small, 300, &mut rng, &centers);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(small.index_status().indexed_vectors, 0);
    let q = vector(&mut rng, &centers);
    assert_eq!(small.search_planned(&request(&q, 5, false, None)).unwrap().1, SearchPlan::FullScan);
}

fn random_filter(rng: &mut StdRng) -> Filter {
    let color = ["red", "green", "blue", "white"][rng.random_range(0..4)];
    let lo = rng.random_range(0..100);
    let hi = lo + rng.random_range(0..60);
    let json = match rng.random_range(0..5) {
        0 => serde_json::json!({"must": [{"key": "color", "match": {"value": color}}]}),
        1 => serde_json::json!({"must": [{"key": "n", "range": {"gte": lo, "lt": hi}}]}),
        2 => serde_json::json!({"must": [{"key": "rare", "match": {"value": true}}]}),
        3 => serde_json::json!({"must_not": [{"key": "color", "match": {"value": color}}],
                                "must": [{"key": "n", "range": {"gte": lo}}]}),
        _ => serde_json::json!({"should": [{"key": "color", "match": {"value": color}},
                                           {"key": "n", "range": {"lt": rng.random_range(0..5)}}]}),
    };
    serde_json::from_value(json).unwrap()
}

#[test]
fn filtered_results_always_match_and_exact_misses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(9);
    let centers = centers(&mut rng);
    // Indexed, with a full-scan threshold between the selective and the broad filters.
    let shard = shard(dir.path(), Distance::Cosine, 1, 20);
    // `color` and `n` get payload indexes (one before the load, one after); `rare` has none.
    shard.set_payload_indexes(&BTreeMap::from([("color".to_string(), serde_json::json!("keyword"))]));
    load(&shard, 3000, &mut rng, &centers);
    shard.set_payload_indexes(&BTreeMap::from([
        ("color".to_string(), serde_json::json!("keyword")),
        ("n".to_string(), serde_json::json!({"type": "integer"})),
    ]));
    // Payload changes after the index exists are followed.
    let recolor = serde_json::json!({"color": "white"}).as_object().unwrap().clone();
    let selector = PointSelector::Ids((0..300).map(PointId::Num).collect());
    shard.update(&UpdateOperation::SetPayload { payload: recolor, selector, key: None }, false).unwrap();
    wait_indexed(&shard, 3000);
    let mut plans = HashSet::new();
    for _ in 0..150 {
        let filter = random_filter(&mut rng);
        let compiled = quiver_storage::filter::CompiledFilter::compile(&filter).unwrap();
        let q = vector(&mut rng, &centers);
        let limit = rng.random_range(1..20);
        let table = shard.table.read();
        let all_matching: Vec<(PointId, f32)> = table
            .iter_slots()
            .filter(|p| compiled.check(p))
            .map(|p| (p.id(), quiver_storage::distance::dot(&q, &p.dense("").unwrap().to_vec())))
            .collect();
        drop(table);
        let matching: HashSet<PointId> = all_matching.iter().map(|(id, _)| *id).collect();
        let matches = |id: &PointId| matching.contains(id);
        let (approx, plan) = shard.search_planned(&request(&q, limit, false, Some(filter.clone()))).unwrap();
        plans.insert(format!("{plan:?}"));
        assert!(approx.iter().all(|p| matches(&p.id)), "every result matches the filter");
        assert_eq!(approx.len(), limit.min(all_matching.len()));
        let exact = shard.search(&request(&q, limit, true, Some(filter))).unwrap();
        assert!(exact.iter().all(|p| matches(&p.id)));
        assert_eq!(exact.len(), limit.min(all_matching.len()));
        if let Some(worst) = exact.last() {
            let returned: HashSet<PointId> = ids(&exact).into_iter().collect();
            for (id, score) in &all_matching {
                assert!(returned.contains(id) || *score <= worst.score + 1e-6, "a better matching point is missing");
            }
        }
    }
    let graph = plans.contains("Graph") || plans.contains("FrozenGraph");
    assert!(graph && plans.contains("FilteredScan"), "both plans exercised: {plans:?}");
}

#[test]
fn search_stays_correct_during_upserts_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(10);
    let centers = centers(&mut rng);
    let shard = shard(dir.path(), Distance::Cosine, 1, 1);
    load(&shard, 2000, &mut rng, &centers);
    wait_indexed(&shard, 2000);
    let far: Vec<f32> = {
        let mut v = vec![0.0; DIM];
        v[0] = 1.0;
        v
    };
    std::thread::scope(|s| {
        let (shard, centers, far) = (&shard, &centers, &far);
        s.spawn(move || {
            let mut rng = StdRng::seed_from_u64(11);
            for round in 0..40u64 {
                // Delete a range, then move one point exactly onto the probe.
                let ids: Vec<PointId> = (round * 20..round * 20 + 20).map(PointId::Num).collect();
                shard.update(&UpdateOperation::Delete { selector: PointSelector::Ids(ids) }, false).unwrap();
                let moved = 1000 + round;
                let mut p = point(moved, far.clone(), &mut rng);
                p.payload = Some(serde_json::Map::new());
                upsert(shard, vec![p]);
                let found = shard.search(&request(far, 1, false, None)).unwrap();
                assert_eq!(found[0].id, PointId::Num(moved), "an updated vector is found at its new place");
                // Move it away again, so the next round's point is the only one there.
                let back = vector(&mut rng, centers);
                upsert(shard, vec![point(moved, back, &mut rng)]);
            }
        });
        for reader in 0..2 {
            s.spawn(move || {
                let mut rng = StdRng::seed_from_u64(20 + reader);
                let deadline = Instant::now() + Duration::from_millis(600);
                while Instant::now() < deadline {
                    let q = vector(&mut rng, centers);
                    let found = shard.search(&request(&q, 10, false, None)).unwrap();
                    assert!(found.windows(2).all(|w| w[0].score >= w[1].score));
                    assert_eq!(found.len(), 10);
                }
            });
        }
    });
    // Deleted points never come back, before or after the indexer catches up.
    for _ in 0..2 {
        for _ in 0..40 {
            let q = vector(&mut rng, &centers);
            let found = shard.search(&request(&q, 50, false, None)).unwrap();
            assert!(found.iter().all(|p| !matches!(p.id, PointId::Num(n) if n < 800)));
        }
        wait_indexed(&shard, 1200);
    }
}

#[test]
fn installed_and_reopened_shards_rebuild_their_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(12);
    let centers = centers(&mut rng);
    let source = shard(&dir.path().join("a"), Distance::Cosine, 1, 1);
    load(&source, 1500, &mut rng, &centers);
    let (seq, points) = source.snapshot_points();
    let target = shard(&dir.path().join("b"), Distance::Cosine, 1, 1);
    load(&target, 100, &mut rng, &centers);
    target.install(seq, points).unwrap();
    wait_indexed(&target, 1500);
    let q = vector(&mut rng, &centers);
    let exact = ids(&source.search(&request(&q, 10, true, None)).unwrap());
    let (found, plan) = target.search_planned(&request(&q, 10, false, None)).unwrap();
    assert!(matches!(plan, SearchPlan::Graph | SearchPlan::FrozenGraph), "{plan:?}");
    assert!(ids(&found).iter().filter(|id| exact.contains(id)).count() >= 8);
    drop(target);
    let reopened = shard(&dir.path().join("b"), Distance::Cosine, 1, 1);
    wait_indexed(&reopened, 1500);
    let (found, plan) = reopened.search_planned(&request(&q, 10, false, None)).unwrap();
    assert!(matches!(plan, SearchPlan::Graph | SearchPlan::FrozenGraph), "{plan:?}");
    assert!(ids(&found).iter().filter(|id| exact.contains(id)).count() >= 8);
}

#[test]
fn sparse_search_through_the_inverted_index_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(13);
    let sparse = std::collections::BTreeSet::from(["s".to_string()]);
    let config =
        ShardConfig { dense: BTreeMap::new(), sparse, wal_segment_bytes: 8 << 20, index: IndexConfig::default() };
    let shard = LocalShard::open(dir.path(), config).unwrap();
    let sparse = |rng: &mut StdRng| {
        let n = rng.random_range(1..8);
        let mut indices: Vec<u32> = (0..n).map(|_| rng.random_range(0..40)).collect();
        indices.sort_unstable();
        indices.dedup();
        let values = indices.iter().map(|_| rng.random_range(-1.0..1.0)).collect();
        quiver_types::SparseVector { indices, values }
    };
    let mut stored = BTreeMap::new();
    for round in 0..3 {
        let points: Vec<PointStruct> = (0..400u64)
            .filter(|i| (i + round) % 3 != 0)
            .map(|i| {
                let v = sparse(&mut rng);
                stored.insert(i, v.clone());
                PointStruct {
                    id: PointId::Num(i),
                    vectors: NamedVectors::from([("s".to_string(), Vector::Sparse(v))]),
                    payload: Some(serde_json::json!({"even": i % 2 == 0}).as_object().unwrap().clone()),
                }
            })
            .collect();
        upsert(&shard, points);
    }
    let deleted: Vec<PointId> = (0..50).map(PointId::Num).collect();
    shard.update(&UpdateOperation::Delete { selector: PointSelector::Ids(deleted) }, false).unwrap();
    for _ in 0..30 {
        let q = sparse(&mut rng);
        let even: Filter =
            serde_json::from_value(serde_json::json!({"must": [{"key": "even", "match": {"value": true}}]})).unwrap();
        for filter in [None, Some(even)] {
            let request = CoreSearch {
                vector_name: "s".into(),
                query: QueryVector::Sparse(q.clone()),
                filter: filter.clone(),
                params: None,
                limit: 15,
                score_threshold: None,
                with_payload: WithPayload::Bool(false),
                with_vector: WithVector::Bool(false),
            };
            let (found, plan) = shard.search_planned(&request).unwrap();
            assert_eq!(plan, SearchPlan::SparseIndex);
            let mut expected: Vec<(f32, u64)> = stored
                .iter()
                .filter(|(id, _)| **id >= 50 && (filter.is_none() || **id % 2 == 0))
                .filter_map(|(id, v)| quiver_storage::distance::sparse_dot(&q, v).map(|s| (s, *id)))
                .collect();
            expected.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            expected.truncate(15);
            let got: Vec<(f32, PointId)> = found.iter().map(|p| (p.score, p.id)).collect();
            let want: Vec<(f32, PointId)> = expected.iter().map(|(s, id)| (*s, PointId::Num(*id))).collect();
            assert_eq!(got, want);
        }
    }
}

#[test]
fn frozen_graph_copy_answers_exactly_scored_results_and_follows_changes() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(21);
    let centers = centers(&mut rng);
    let shard = shard(&dir.path().join("f"), Distance::Euclid, 1, 1);
    load(&shard, 3000, &mut rng, &centers);
    wait_indexed(&shard, 3000);
    let q = vector(&mut rng, &centers);
    wait_frozen(&shard, &q);
    let frozen = |plan: SearchPlan| plan == SearchPlan::FrozenGraph;
    let recall = recall_with_exact_scores(&shard, &mut rng, &centers, 30, frozen, 1e-4);
    assert!(recall >= 0.9, "recall {recall}");
    // Changes after the copy: deleted points never return, a moved point is found at its new
    // place, a new point is found, all before (and after) the copy is taken again.
    let deleted: Vec<PointId> = (0..200).map(PointId::Num).collect();
    shard.update(&UpdateOperation::Delete { selector: PointSelector::Ids(deleted) }, false).unwrap();
    let far: Vec<f32> = (0..DIM).map(|i| 50.0 + i as f32).collect();
    upsert(
        &shard,
        vec![point(2500, far.clone(), &mut rng), point(9000, far.iter().map(|x| x + 0.5).collect(), &mut rng)],
    );
    for round in 0..2 {
        let (found, plan) = shard.search_planned(&request(&far, 2, false, None)).unwrap();
        assert!(matches!(plan, SearchPlan::Graph | SearchPlan::FrozenGraph), "{plan:?}");
        assert_eq!(ids(&found), vec![PointId::Num(2500), PointId::Num(9000)], "round {round}");
        for _ in 0..20 {
            let found = shard.search(&request(&vector(&mut rng, &centers), 30, false, None)).unwrap();
            assert!(found.iter().all(|p| !matches!(p.id, PointId::Num(n) if n < 200)));
        }
        wait_indexed(&shard, 2801);
        wait_frozen(&shard, &q);
    }
}
