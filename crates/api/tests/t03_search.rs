//! Searches and queries: exact scores and order for every distance computed here, thresholds,
//! offsets, query by id, sparse queries, legacy search and batch variants.

mod common;

use axum::http::Method;
use common::{TestNode, approx, assert_vector, ids};
use serde_json::{Value, json};

const DIM: usize = 5;
const N: u64 = 40;

/// Deterministic pseudo-random vectors (LCG), values in [-1, 1).
fn vectors() -> Vec<Vec<f32>> {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    (0..N)
        .map(|_| {
            (0..DIM)
                .map(|_| {
                    state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                    ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
                })
                .collect()
        })
        .collect()
}

fn query_vector() -> Vec<f32> {
    vec![0.3, -0.7, 0.1, 0.9, -0.2]
}

#[derive(Clone, Copy, Debug)]
enum Distance {
    Cosine,
    Dot,
    Euclid,
    Manhattan,
}

impl Distance {
    fn name(self) -> &'static str {
        match self {
            Distance::Cosine => "Cosine",
            Distance::Dot => "Dot",
            Distance::Euclid => "Euclid",
            Distance::Manhattan => "Manhattan",
        }
    }

    fn score(self, a: &[f32], b: &[f32]) -> f64 {
        let a: Vec<f64> = a.iter().map(|x| f64::from(*x)).collect();
        let b: Vec<f64> = b.iter().map(|x| f64::from(*x)).collect();
        let dot: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        match self {
            Distance::Cosine => {
                let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
                let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
                dot / (na * nb)
            }
            Distance::Dot => dot,
            Distance::Euclid => a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt(),
            Distance::Manhattan => a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum(),
        }
    }

    /// Higher is better for similarities, lower for distances.
    fn bigger_is_better(self) -> bool {
        matches!(self, Distance::Cosine | Distance::Dot)
    }

    /// Every point id with its expected score, best first.
    fn ranking(self, query: &[f32], exclude: Option<u64>) -> Vec<(u64, f64)> {
        let mut scored: Vec<(u64, f64)> = vectors()
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u64, self.score(query, v)))
            .filter(|(i, _)| Some(*i) != exclude)
            .collect();
        scored.sort_by(|a, b| {
            let ord = a.1.partial_cmp(&b.1).expect("no NaN");
            if self.bigger_is_better() { ord.reverse() } else { ord }
        });
        scored
    }
}

async fn setup(distance: Distance, shards: u32) -> TestNode {
    let t = TestNode::new();
    t.create("c", json!({"vectors": {"size": DIM, "distance": distance.name()}, "shard_number": shards})).await;
    let points: Vec<Value> = vectors()
        .into_iter()
        .enumerate()
        .map(|(i, v)| json!({"id": i, "vector": v, "payload": {"i": i, "odd": i % 2 == 1}}))
        .collect();
    t.upsert("c", Value::Array(points)).await;
    t
}

/// Asserts that `points` are exactly `expected` (ids in order, scores approximately).
fn assert_ranking(points: &Value, expected: &[(u64, f64)]) {
    let got = points.as_array().expect("list of scored points");
    let got_ids: Vec<u64> = got.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    let want_ids: Vec<u64> = expected.iter().map(|e| e.0).collect();
    assert_eq!(got_ids, want_ids, "{points}");
    for (p, (_, score)) in got.iter().zip(expected) {
        let s = p["score"].as_f64().expect("score");
        assert!(approx(s, *score), "score {s} != expected {score}: {p}");
        assert!(p["version"].is_u64(), "no version: {p}");
    }
}

async fn query(t: &TestNode, body: Value) -> Value {
    let r = t.ok(Method::POST, "/collections/c/points/query", Some(body)).await;
    let keys: Vec<&String> = r.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["points"], "{r}");
    r["points"].clone()
}

async fn exact_results_for(distance: Distance) {
    let t = setup(distance, 3).await;
    let q = query_vector();
    let ranking = distance.ranking(&q, None);

    let points = query(&t, json!({"query": q, "limit": 7})).await;
    assert_ranking(&points, &ranking[..7]);
    // Defaults: no payload, no vector.
    for p in points.as_array().unwrap() {
        assert!(p.get("payload").is_none_or(Value::is_null), "{p}");
        assert!(p.get("vector").is_none_or(Value::is_null), "{p}");
    }
    // `nearest` form and exact search params give the same.
    let points = query(&t, json!({"query": {"nearest": q}, "limit": 7, "params": {"exact": true}})).await;
    assert_ranking(&points, &ranking[..7]);
    // Default limit is 10.
    let points = query(&t, json!({"query": q})).await;
    assert_ranking(&points, &ranking[..10]);
    // Filter.
    let odd: Vec<(u64, f64)> = ranking.iter().filter(|(i, _)| i % 2 == 1).copied().collect();
    let points =
        query(&t, json!({"query": q, "limit": 5, "filter": {"must": [{"key": "odd", "match": {"value": true}}]}}))
            .await;
    assert_ranking(&points, &odd[..5]);
    // Legacy search returns a bare list with the same results.
    let r = t.ok(Method::POST, "/collections/c/points/search", Some(json!({"vector": q, "limit": 4}))).await;
    assert_ranking(&r, &ranking[..4]);
}

#[tokio::test]
async fn exact_cosine() {
    exact_results_for(Distance::Cosine).await;
}

#[tokio::test]
async fn exact_dot() {
    exact_results_for(Distance::Dot).await;
}

#[tokio::test]
async fn exact_euclid() {
    exact_results_for(Distance::Euclid).await;
}

#[tokio::test]
async fn exact_manhattan() {
    exact_results_for(Distance::Manhattan).await;
}

#[tokio::test]
async fn score_threshold_similarity_and_distance() {
    for distance in [Distance::Dot, Distance::Cosine, Distance::Euclid] {
        let t = setup(distance, 2).await;
        let q = query_vector();
        let ranking = distance.ranking(&q, None);
        // Threshold between the 6th and 7th scores: exactly 6 results.
        let threshold = (ranking[5].1 + ranking[6].1) / 2.0;
        let points = query(&t, json!({"query": q, "limit": 20, "score_threshold": threshold})).await;
        assert_ranking(&points, &ranking[..6]);
        let r = t
            .ok(
                Method::POST,
                "/collections/c/points/search",
                Some(json!({"vector": q, "limit": 20, "score_threshold": threshold})),
            )
            .await;
        assert_ranking(&r, &ranking[..6]);
    }
}

#[tokio::test]
async fn offset_skips_best_results() {
    let t = setup(Distance::Dot, 4).await;
    let q = query_vector();
    let ranking = Distance::Dot.ranking(&q, None);
    let points = query(&t, json!({"query": q, "limit": 5, "offset": 3})).await;
    assert_ranking(&points, &ranking[3..8]);
    let r =
        t.ok(Method::POST, "/collections/c/points/search", Some(json!({"vector": q, "limit": 5, "offset": 10}))).await;
    assert_ranking(&r, &ranking[10..15]);
    // Offset past the end: empty.
    let points = query(&t, json!({"query": q, "limit": 5, "offset": 100})).await;
    assert_eq!(points, json!([]));
}

#[tokio::test]
async fn query_by_point_id_excludes_the_point() {
    let t = setup(Distance::Cosine, 3).await;
    let v = vectors();
    let ranking = Distance::Cosine.ranking(&v[5], Some(5));
    let points = query(&t, json!({"query": 5, "limit": 6})).await;
    assert_ranking(&points, &ranking[..6]);
    assert!(!ids(&points).contains(&json!(5)));
    let points = query(&t, json!({"query": {"nearest": 5}, "limit": 6})).await;
    assert_ranking(&points, &ranking[..6]);
}

#[tokio::test]
async fn query_without_vector_orders_by_id() {
    let t = setup(Distance::Dot, 3).await;
    let points = query(&t, json!({"limit": 4, "with_payload": true})).await;
    assert_eq!(ids(&points), [0, 1, 2, 3]);
    assert_eq!(points[2]["payload"]["i"], 2);
}

#[tokio::test]
async fn with_payload_and_vector_in_results() {
    let t = setup(Distance::Euclid, 1).await;
    let q = query_vector();
    let ranking = Distance::Euclid.ranking(&q, None);
    let points = query(&t, json!({"query": q, "limit": 2, "with_payload": true, "with_vector": true})).await;
    assert_ranking(&points, &ranking[..2]);
    let best = ranking[0].0;
    assert_eq!(points[0]["payload"]["i"], best);
    assert_vector(&points[0]["vector"], &vectors()[best as usize]);
}

#[tokio::test]
async fn sparse_query() {
    let t = TestNode::new();
    t.create("c", json!({"vectors": {"d": {"size": 2, "distance": "Dot"}}, "sparse_vectors": {"s": {}}})).await;
    // Sparse dot products with query {1: 1.0, 3: 2.0}: 1 → 1*0.5 + 2*1 = 2.5, 2 → 2*3 = 6,
    // 3 → 1*1 = 1, 4 → 0.1*1 + 0.2*2 = 0.5.
    t.upsert(
        "c",
        json!([
            {"id": 1, "vector": {"d": [1.0, 0.0], "s": {"indices": [1, 3], "values": [0.5, 1.0]}}},
            {"id": 2, "vector": {"d": [1.0, 0.0], "s": {"indices": [3, 7], "values": [3.0, 9.0]}}},
            {"id": 3, "vector": {"d": [1.0, 0.0], "s": {"indices": [1], "values": [1.0]}}},
            {"id": 4, "vector": {"d": [1.0, 0.0], "s": {"indices": [3, 1], "values": [0.2, 0.1]}}},
        ]),
    )
    .await;
    let expected = [(2, 6.0), (1, 2.5), (3, 1.0), (4, 0.5)];
    let points = query(&t, json!({"query": {"indices": [1, 3], "values": [1.0, 2.0]}, "using": "s", "limit": 4})).await;
    assert_ranking(&points, &expected);
    let points = query(&t, json!({"query": {"indices": [3, 1], "values": [2.0, 1.0]}, "using": "s", "limit": 2})).await;
    assert_ranking(&points, &expected[..2]);
    // Legacy search with a named sparse vector.
    let r = t
        .ok(
            Method::POST,
            "/collections/c/points/search",
            Some(json!({
                "vector": {"name": "s", "vector": {"indices": [1, 3], "values": [1.0, 2.0]}},
                "limit": 3,
            })),
        )
        .await;
    assert_ranking(&r, &expected[..3]);
}

#[tokio::test]
async fn legacy_search_with_top_and_named_vector() {
    let t = TestNode::new();
    t.create("c", json!({"vectors": {"img": {"size": DIM, "distance": "Dot"}}})).await;
    let points: Vec<Value> =
        vectors().into_iter().enumerate().map(|(i, v)| json!({"id": i, "vector": {"img": v}})).collect();
    t.upsert("c", Value::Array(points)).await;
    let q = query_vector();
    let ranking = Distance::Dot.ranking(&q, None);
    let r = t
        .ok(
            Method::POST,
            "/collections/c/points/search",
            Some(json!({"vector": {"name": "img", "vector": q}, "top": 3})),
        )
        .await;
    assert_ranking(&r, &ranking[..3]);
    let points = query(&t, json!({"query": q, "using": "img", "limit": 3})).await;
    assert_ranking(&points, &ranking[..3]);
}

#[tokio::test]
async fn batch_search_and_batch_query() {
    let t = setup(Distance::Manhattan, 2).await;
    let q1 = query_vector();
    let q2 = vec![-1.0, 0.5, 0.5, 0.0, 1.0];
    let r1 = Distance::Manhattan.ranking(&q1, None);
    let r2 = Distance::Manhattan.ranking(&q2, None);

    let r = t
        .ok(
            Method::POST,
            "/collections/c/points/search/batch",
            Some(json!({"searches": [
                {"vector": q1, "limit": 3},
                {"vector": q2, "top": 2},
            ]})),
        )
        .await;
    let lists = r.as_array().expect("list of lists");
    assert_eq!(lists.len(), 2);
    assert_ranking(&lists[0], &r1[..3]);
    assert_ranking(&lists[1], &r2[..2]);

    let r = t
        .ok(
            Method::POST,
            "/collections/c/points/query/batch",
            Some(json!({"searches": [
                {"query": q1, "limit": 4},
                {"query": q2, "limit": 1, "offset": 1},
            ]})),
        )
        .await;
    let results = r.as_array().expect("list of query responses");
    assert_eq!(results.len(), 2);
    assert_ranking(&results[0]["points"], &r1[..4]);
    assert_ranking(&results[1]["points"], &r2[1..2]);
}
