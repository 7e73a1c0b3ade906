//! Multivector (`max_sim`), datatype and custom-objective search tests: indexed multivector
//! searches against exact `max_sim`, stored `float16`/`uint8` values, and exact scores of
//! discover, context, `sum_scores` and random samples.

use crate::index_config::IndexConfig;
use crate::search::SearchPlan;
use crate::shard::{LocalShard, ShardConfig};
use quiver_storage::vectors::VectorSpec;
use quiver_types::PointId;
use quiver_types::config::{Datatype, Distance, HnswConfig};
use quiver_types::ops::{UpdateMode, UpdateOperation};
use quiver_types::point::{NamedVectors, PointStruct, Vector};
use quiver_types::query::{ContextPair, CoreSearch, CustomQuery, QueryVector, SearchParams, WithPayload, WithVector};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

const DIM: usize = 8;

fn shard(dir: &std::path::Path, spec: VectorSpec, threshold_kb: usize) -> LocalShard {
    let hnsw = HnswConfig { m: 16, ef_construct: 64, full_scan_threshold: 1, ..HnswConfig::default() };
    let config = ShardConfig {
        sparse: Default::default(),
        dense: BTreeMap::from([(String::new(), spec)]),
        wal_segment_bytes: 8 << 20,
        index: IndexConfig {
            hnsw: BTreeMap::from([(String::new(), hnsw)]),
            indexing_threshold_kb: threshold_kb,
            ..IndexConfig::default()
        },
    };
    LocalShard::open(dir, config).unwrap()
}

fn unit(rng: &mut StdRng) -> Vec<f32> {
    let mut v: Vec<f32> = (0..DIM).map(|_| rng.random_range(-1.0..1.0)).collect();
    quiver_storage::distance::normalize(&mut v);
    v
}

fn upsert(shard: &LocalShard, points: Vec<(u64, Vector)>) {
    let points = points
        .into_iter()
        .map(|(id, v)| PointStruct {
            id: PointId::Num(id),
            vectors: NamedVectors::from([(String::new(), v)]),
            payload: None,
        })
        .collect();
    shard.update(&UpdateOperation::Upsert { points, mode: UpdateMode::Upsert, update_filter: None }, false).unwrap();
}

fn request(query: QueryVector, limit: usize, exact: bool) -> CoreSearch {
    CoreSearch {
        vector_name: String::new(),
        query,
        filter: None,
        params: Some(SearchParams { exact, hnsw_ef: Some(128), ..SearchParams::default() }),
        limit,
        score_threshold: None,
        with_payload: WithPayload::Bool(false),
        with_vector: WithVector::Bool(false),
    }
}

/// Exact `max_sim` by hand (Dot).
fn max_sim(query: &[Vec<f32>], stored: &[Vec<f32>]) -> f32 {
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    query.iter().map(|q| stored.iter().map(|s| dot(q, s)).fold(f32::NEG_INFINITY, f32::max)).sum()
}

#[test]
fn indexed_multivector_search_agrees_with_exact_max_sim() {
    let dir = tempfile::tempdir().unwrap();
    let spec = VectorSpec { dim: DIM, distance: Distance::Dot, datatype: Datatype::Float32, multivector: true };
    let shard = shard(dir.path(), spec, 1);
    let mut rng = StdRng::seed_from_u64(13);
    let mut stored = BTreeMap::new();
    for id in 0..600u64 {
        let m: Vec<Vec<f32>> = (0..rng.random_range(1..5)).map(|_| unit(&mut rng)).collect();
        stored.insert(id, m);
    }
    upsert(&shard, stored.iter().map(|(id, m)| (*id, Vector::Multi(m.clone()))).collect());
    let deadline = Instant::now() + crate::tests_search::BACKGROUND_WORK;
    while shard.search_planned(&request(QueryVector::Multi(vec![unit(&mut rng)]), 1, false)).unwrap().1
        == SearchPlan::FullScan
    {
        assert!(Instant::now() < deadline, "multivector rows never indexed");
        std::thread::sleep(Duration::from_millis(10));
    }
    let (mut hits, mut total) = (0, 0);
    for _ in 0..30 {
        let q: Vec<Vec<f32>> = (0..3).map(|_| unit(&mut rng)).collect();
        let exact = shard.search(&request(QueryVector::Multi(q.clone()), 10, true)).unwrap();
        let (approx, plan) = shard.search_planned(&request(QueryVector::Multi(q.clone()), 10, false)).unwrap();
        assert!(matches!(plan, SearchPlan::Graph | SearchPlan::FrozenGraph), "{plan:?}");
        // Exact scores, computed by hand.
        for p in exact.iter().chain(&approx) {
            let PointId::Num(id) = p.id else { panic!() };
            assert!((p.score - max_sim(&q, &stored[&id])).abs() < 1e-4);
        }
        let truth: HashSet<PointId> = exact.iter().map(|p| p.id).collect();
        hits += approx.iter().filter(|p| truth.contains(&p.id)).count();
        total += truth.len();
    }
    let recall = hits as f64 / total as f64;
    assert!(recall >= 0.9, "recall {recall}");
}

#[test]
fn float16_and_uint8_columns_store_their_own_values() {
    for (datatype, distance) in [(Datatype::Float16, Distance::Dot), (Datatype::Uint8, Distance::Euclid)] {
        let dir = tempfile::tempdir().unwrap();
        let spec = VectorSpec { dim: 2, distance, datatype, multivector: false };
        let shard = shard(dir.path(), spec, 0);
        // Values as validation leaves them (already in the column's type).
        upsert(&shard, vec![(1, Vector::Dense(vec![3.0, 4.0])), (2, Vector::Dense(vec![0.5, 200.0]))]);
        let found = shard.search(&request(QueryVector::Dense(vec![1.0, 0.0]), 2, true)).unwrap();
        let score = |id: u64| found.iter().find(|p| p.id == PointId::Num(id)).unwrap().score;
        match distance {
            Distance::Dot => assert_eq!(score(1), 3.0),
            Distance::Cosine | Distance::Euclid | Distance::Manhattan => {
                assert!((score(1) - (4.0f32 + 16.0).sqrt()).abs() < 1e-5)
            }
        }
        let records = shard.retrieve(&[PointId::Num(2)], &WithPayload::Bool(false), &WithVector::Bool(true));
        let vector = records[0].vector.clone().unwrap().into_named().remove("").unwrap();
        // `uint8` keeps whole numbers (0.5 → 0), `float16` keeps 0.5 exactly.
        let half = quiver_storage::vectors::quantize_value(datatype, 0.5);
        assert_eq!(half, if datatype == Datatype::Uint8 { 0.0 } else { 0.5 });
        assert_eq!(vector, Vector::Dense(vec![half, 200.0]), "{datatype:?}");
    }
}

#[test]
fn custom_objectives_and_samples_score_every_matching_point() {
    let dir = tempfile::tempdir().unwrap();
    let shard = shard(dir.path(), VectorSpec::plain(2, Distance::Dot), 0);
    upsert(
        &shard,
        vec![
            (1, Vector::Dense(vec![1.0, 0.0])),
            (2, Vector::Dense(vec![0.0, 1.0])),
            (3, Vector::Dense(vec![-1.0, 0.0])),
        ],
    );
    let pair = ContextPair { positive: Vector::Dense(vec![1.0, 0.0]), negative: Vector::Dense(vec![-1.0, 0.0]) };
    let scores = |custom: CustomQuery| -> Vec<(PointId, f32)> {
        let found = shard.search(&request(QueryVector::Custom(custom), 3, true)).unwrap();
        found.into_iter().map(|p| (p.id, p.score)).collect()
    };
    // Context: on the positive side of the pair (point 1) scores 0; the others less.
    let context = scores(CustomQuery::Context { pairs: vec![pair.clone()] });
    assert_eq!(context[0], (PointId::Num(1), 0.0));
    assert!(context[1].1 < 0.0 && context[2].1 < context[1].1);
    // Discover: rank by pairs first (only point 1 is on the positive side), then by the target
    // (point 2 is closer to it than point 3).
    let target = Vector::Dense(vec![0.0, 1.0]);
    let discover = scores(CustomQuery::Discover { target, pairs: vec![pair] });
    let order: Vec<PointId> = discover.iter().map(|(id, _)| *id).collect();
    assert_eq!(order, vec![PointId::Num(1), PointId::Num(2), PointId::Num(3)], "{discover:?}");
    assert!((discover[0].1 - 1.5).abs() < 1e-6);
    // Sum of scores: Σ pos − Σ neg.
    let sum = scores(CustomQuery::SumScores {
        positive: vec![Vector::Dense(vec![1.0, 1.0])],
        negative: vec![Vector::Dense(vec![0.0, 2.0])],
    });
    assert_eq!(sum[0], (PointId::Num(1), 1.0));
    // A random sample: every point once, the order fixed by the seed.
    let sample = |seed| shard.search(&request(QueryVector::Random { seed }, 3, true)).unwrap();
    let a: Vec<PointId> = sample(7).iter().map(|p| p.id).collect();
    assert_eq!(a.iter().collect::<HashSet<_>>().len(), 3);
    assert_eq!(a, sample(7).iter().map(|p| p.id).collect::<Vec<_>>());
}
