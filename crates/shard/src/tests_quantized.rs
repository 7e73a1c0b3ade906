//! Quantized search: int8 and binary copies built in the background, candidates scored on them
//! and rescored with the originals, and `params.quantization` (`ignore`, `rescore`,
//! `oversampling`).

use crate::search::SearchPlan;
use crate::shard::LocalShard;
use crate::tests_search::wait_indexed;
use crate::tests_search::{ids, load, request, shard, vector, wait_frozen};
use quiver_storage::quantized::{BinaryEncoding, QuantizationKind};
use quiver_types::config::Distance;
use quiver_types::query::SearchParams;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub(crate) fn quantize(shard: &LocalShard, kind: Option<QuantizationKind>) {
    shard.set_quantization(&kind.map(|k| BTreeMap::from([(String::new(), k)])).unwrap_or_default());
    let deadline = Instant::now() + crate::tests_search::BACKGROUND_WORK;
    while !shard.quantization_ready() {
        assert!(Instant::now() < deadline, "quantized copy not built");
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub(crate) fn with_quantization(q: &[f32], json: serde_json::Value) -> quiver_types::query::CoreSearch {
    let mut r = request(q, 10, false, None);
    r.params = Some(SearchParams { quantization: Some(json), ..SearchParams::default() });
    r
}

/// Dimensions of the vectors here (closer to embeddings than the 16 of the search tests).
pub(crate) const DIM: usize = 64;

pub(crate) fn centers(rng: &mut StdRng) -> Vec<Vec<f32>> {
    (0..20).map(|_| (0..DIM).map(|_| rng.random_range(-1.0..1.0)).collect()).collect()
}

pub(crate) fn indexed_shard(
    dir: &std::path::Path,
    distance: Distance,
    rng: &mut StdRng,
    centers: &[Vec<f32>],
) -> LocalShard {
    let mut config = shard(&dir.join("probe"), distance, 1, 1).config().clone();
    config.dense.values_mut().for_each(|spec| spec.dim = DIM);
    let shard = LocalShard::open(dir, config).unwrap();
    load(&shard, 4000, rng, centers);
    wait_indexed(&shard, 4000);
    wait_frozen(&shard, &vector(rng, centers));
    shard
}

#[test]
fn int8_with_rescoring_keeps_recall_and_exact_scores() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(31);
    let centers = centers(&mut rng);
    for distance in [Distance::Cosine, Distance::Euclid, Distance::Dot, Distance::Manhattan] {
        let shard = indexed_shard(&dir.path().join(format!("{distance:?}")), distance, &mut rng, &centers);
        quantize(&shard, Some(QuantizationKind::Int8 { quantile: Some(0.99) }));
        // The codes (and the int8 Dot/Cosine correction, 4 bytes) of the 4000 slots, no more.
        let quantized = shard.memory_report().quantized;
        assert!((4000 * DIM..=4000 * (DIM + 4)).contains(&quantized), "{distance:?}: {quantized} bytes");
        let (mut hits, queries) = (0, 50);
        for _ in 0..queries {
            let q = vector(&mut rng, &centers);
            let request = with_quantization(&q, serde_json::json!({"rescore": true, "oversampling": 2.0}));
            let (found, plan) = shard.search_planned(&request).unwrap();
            assert_eq!(plan, SearchPlan::FrozenGraph);
            let exact = shard.search(&crate::tests_search::request(&q, 10, true, None)).unwrap();
            for p in &found {
                if let Some(e) = exact.iter().find(|e| e.id == p.id) {
                    assert!((e.score - p.score).abs() < 1e-5, "rescored scores are exact");
                }
            }
            hits += found.iter().filter(|p| exact.iter().any(|e| e.id == p.id)).count();
        }
        let recall = hits as f64 / (queries * 10) as f64;
        assert!(recall >= 0.95, "{distance:?}: int8 recall {recall}");
    }
}

#[test]
fn binary_rescored_with_oversampling_returns_exact_scores() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(32);
    // Centred data (binary quantization keeps signs: around a shared centre they say little).
    let centers = vec![vec![0.0; DIM]];
    let shard = indexed_shard(dir.path(), Distance::Cosine, &mut rng, &centers);
    quantize(&shard, Some(QuantizationKind::Binary { encoding: BinaryEncoding::OneBit, query_bits: 1 }));
    let (mut hits, queries) = (0, 40);
    for _ in 0..queries {
        let q = vector(&mut rng, &centers);
        let (found, plan) =
            shard.search_planned(&with_quantization(&q, serde_json::json!({"oversampling": 8.0}))).unwrap();
        assert_eq!(plan, SearchPlan::FrozenGraph);
        let exact = shard.search(&request(&q, 10, true, None)).unwrap();
        hits += found.iter().filter(|p| exact.iter().any(|e| e.id == p.id)).count();
        for p in &found {
            let score = quiver_storage::distance::dot(&q, &stored_vector(&shard, p.id));
            assert!((score - p.score).abs() < 1e-5, "rescored with the original vector");
        }
    }
    let recall = hits as f64 / (queries * 10) as f64;
    // 64 bits per vector: a random order would give 0.0025.
    assert!(recall >= 0.5, "binary recall {recall}");
}

#[test]
fn search_params_ignore_and_rescore() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(33);
    let centers = centers(&mut rng);
    let shard = indexed_shard(dir.path(), Distance::Cosine, &mut rng, &centers);
    let queries: Vec<Vec<f32>> = (0..20).map(|_| vector(&mut rng, &centers)).collect();
    let originals: Vec<_> = queries.iter().map(|q| shard.search(&request(q, 10, false, None)).unwrap()).collect();
    quantize(&shard, Some(QuantizationKind::Int8 { quantile: None }));
    let mut approximate = 0;
    for (q, original) in queries.iter().zip(&originals) {
        // `ignore`: the original vectors only, as before the quantization.
        let ignored = shard.search(&with_quantization(q, serde_json::json!({"ignore": true}))).unwrap();
        assert_eq!(ids(&ignored), ids(original));
        // `rescore: false`: the quantized scores, close to the exact ones.
        let raw = shard.search(&with_quantization(q, serde_json::json!({"rescore": false}))).unwrap();
        assert_eq!(raw.len(), 10);
        for p in &raw {
            let exact = quiver_storage::distance::dot(q, &stored_vector(&shard, p.id));
            assert!((exact - p.score).abs() < 0.05, "{exact} vs {}", p.score);
            approximate += usize::from((exact - p.score).abs() > 1e-6);
        }
    }
    assert!(approximate > 0, "rescore=false returns the quantized scores");
    // Removing the quantization goes back to the original vectors.
    quantize(&shard, None);
    assert_eq!(shard.memory_report().quantized, 0);
}

#[test]
fn quantization_converges_in_the_background_while_searches_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(34);
    let centers = centers(&mut rng);
    let shard = indexed_shard(dir.path(), Distance::Cosine, &mut rng, &centers);
    let queries: Vec<Vec<f32>> = (0..50).map(|_| vector(&mut rng, &centers)).collect();
    shard.set_quantization(&BTreeMap::from([(String::new(), QuantizationKind::Int8 { quantile: Some(0.99) })]));
    let deadline = Instant::now() + crate::tests_search::BACKGROUND_WORK;
    let mut n = 0;
    // Searches answer while the copy is built, and after.
    while !shard.quantization_ready() || n < queries.len() {
        assert!(Instant::now() < deadline, "quantized copy not built");
        let found = shard.search(&request(&queries[n % queries.len()], 10, false, None)).unwrap();
        assert_eq!(found.len(), 10);
        n += 1;
    }
    assert!(shard.memory_report().quantized > 0);
}

pub(crate) fn stored_vector(shard: &LocalShard, id: quiver_types::PointId) -> Vec<f32> {
    let with_vector = quiver_types::query::WithVector::Bool(true);
    let record = shard.retrieve(&[id], &quiver_types::query::WithPayload::Bool(false), &with_vector).pop().unwrap();
    match record.vector {
        Some(quiver_types::point::VectorStruct::Single(v)) => v,
        Some(quiver_types::point::VectorStruct::Named(mut named)) => match named.remove("") {
            Some(quiver_types::point::Vector::Dense(v)) => v,
            other => panic!("no dense vector: {other:?}"),
        },
        other => panic!("no dense vector: {other:?}"),
    }
}
