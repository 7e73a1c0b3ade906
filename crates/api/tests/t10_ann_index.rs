//! HTTP-visible behaviour of issue 6: HNSW indexing status and searches with `hnsw_ef` /
//! `exact`, payload indexes with their `payload_schema` point counts, grouped queries.

mod common;

use axum::http::Method;
use common::{TestNode, ids};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const DIM: usize = 8;
const N: u64 = 600;

fn vector(i: u64) -> Vec<f32> {
    let mut state = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
    (0..DIM)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn points() -> Value {
    let colors = ["red", "green", "blue"];
    Value::Array(
        (0..N)
            .map(|i| json!({"id": i, "vector": vector(i), "payload": {"color": colors[(i % 3) as usize], "n": i, "rare": i % 100 == 7}}))
            .collect(),
    )
}

/// A collection indexed from the first KB of vectors.
async fn setup() -> TestNode {
    let t = TestNode::new();
    t.create(
        "c",
        json!({"vectors": {"size": DIM, "distance": "Cosine"}, "optimizers_config": {"indexing_threshold": 1},
               "hnsw_config": {"m": 8, "ef_construct": 32, "full_scan_threshold": 10}}),
    )
    .await;
    t.upsert("c", points()).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info = t.ok(Method::GET, "/collections/c", None).await;
        if info["indexed_vectors_count"] == json!(N) && info["status"] == "green" {
            break;
        }
        assert!(Instant::now() < deadline, "never indexed: {info}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    t
}

#[tokio::test]
async fn indexed_collection_reports_progress_and_searches_with_params() {
    let t = setup().await;
    let q = vector(10_000);
    let exact = t
        .ok(
            Method::POST,
            "/collections/c/points/query",
            Some(json!({"query": q, "limit": 10, "params": {"exact": true}})),
        )
        .await;
    let approx = t
        .ok(
            Method::POST,
            "/collections/c/points/query",
            Some(json!({"query": q, "limit": 10, "params": {"hnsw_ef": 128}})),
        )
        .await;
    let exact_ids = ids(&exact["points"]);
    let hits = ids(&approx["points"]).iter().filter(|id| exact_ids.contains(id)).count();
    assert!(hits >= 9, "recall too low: {hits}/10");
    let indexed_only = t
        .ok(
            Method::POST,
            "/collections/c/points/query",
            Some(json!({"query": q, "limit": 5, "params": {"indexed_only": true}})),
        )
        .await;
    assert_eq!(indexed_only["points"].as_array().unwrap().len(), 5);
    // Deleted points never come back; an updated vector is found at its new place.
    let best = exact_ids[0].clone();
    t.ok(Method::POST, "/collections/c/points/delete?wait=true", Some(json!({"points": [best.clone()]}))).await;
    t.upsert("c", json!([{"id": 3, "vector": q}])).await;
    let after = t.ok(Method::POST, "/collections/c/points/query", Some(json!({"query": q, "limit": 10}))).await;
    let after_ids = ids(&after["points"]);
    assert_eq!(after_ids[0], json!(3));
    assert!(!after_ids.contains(&best));
}

#[tokio::test]
async fn payload_indexes_report_points_and_keep_filters_exact() {
    let t = setup().await;
    for (field, schema) in [("color", json!("keyword")), ("n", json!({"type": "integer"})), ("rare", json!("bool"))] {
        t.ok(Method::PUT, "/collections/c/index?wait=true", Some(json!({"field_name": field, "field_schema": schema})))
            .await;
    }
    let info = t.ok(Method::GET, "/collections/c", None).await;
    assert_eq!(info["payload_schema"]["color"], json!({"data_type": "keyword", "points": N}));
    assert_eq!(info["payload_schema"]["n"]["points"], json!(N));
    let q = vector(20_000);
    for filter in [
        json!({"must": [{"key": "color", "match": {"value": "red"}}]}),
        json!({"must": [{"key": "rare", "match": {"value": true}}]}),
        json!({"must": [{"key": "n", "range": {"gte": 100, "lt": 130}}, {"key": "color", "match": {"any": ["red", "blue"]}}]}),
    ] {
        let exact = t
            .ok(
                Method::POST,
                "/collections/c/points/query",
                Some(
                    json!({"query": q, "limit": 5, "filter": filter, "params": {"exact": true}, "with_payload": true}),
                ),
            )
            .await;
        let fast = t
            .ok(
                Method::POST,
                "/collections/c/points/query",
                Some(json!({"query": q, "limit": 5, "filter": filter, "with_payload": true})),
            )
            .await;
        let count = t.count("c", Some(filter.clone())).await as usize;
        assert_eq!(exact["points"].as_array().unwrap().len(), count.min(5));
        assert_eq!(fast["points"].as_array().unwrap().len(), count.min(5), "{filter}");
        for p in fast["points"].as_array().unwrap() {
            let payload = &p["payload"];
            let n = payload["n"].as_u64().unwrap();
            let ok = match filter["must"][0]["key"].as_str().unwrap() {
                "color" => payload["color"] == "red",
                "rare" => payload["rare"] == true,
                _ => (100..130).contains(&n) && payload["color"] != "green",
            };
            assert!(ok, "{filter}: {p}");
        }
    }
    // The selective filter is answered from the index and is exact.
    let rare = json!({"must": [{"key": "rare", "match": {"value": true}}]});
    let a = t
        .ok(
            Method::POST,
            "/collections/c/points/query",
            Some(json!({"query": q, "limit": 3, "filter": rare, "params": {"exact": true}})),
        )
        .await;
    let b =
        t.ok(Method::POST, "/collections/c/points/query", Some(json!({"query": q, "limit": 3, "filter": rare}))).await;
    assert_eq!(ids(&a["points"]), ids(&b["points"]));
    t.ok(Method::DELETE, "/collections/c/index/color?wait=true", None).await;
    let info = t.ok(Method::GET, "/collections/c", None).await;
    assert!(info["payload_schema"].get("color").is_none());
}

#[tokio::test]
async fn query_and_search_groups() {
    let t = setup().await;
    let q = vector(30_000);
    let groups = t
        .ok(
            Method::POST,
            "/collections/c/points/query/groups",
            Some(json!({"query": q, "group_by": "color", "group_size": 2, "limit": 3, "with_payload": ["color"]})),
        )
        .await;
    let groups = groups["groups"].as_array().unwrap().clone();
    assert_eq!(groups.len(), 3);
    let mut seen = Vec::new();
    for g in &groups {
        let hits = g["hits"].as_array().unwrap();
        assert_eq!(hits.len(), 2);
        assert!(hits.iter().all(|h| h["payload"]["color"] == g["id"]));
        assert!(hits[0]["score"].as_f64() >= hits[1]["score"].as_f64());
        seen.push(g["id"].clone());
    }
    seen.sort_by_key(|v| v.to_string());
    assert_eq!(seen, vec![json!("blue"), json!("green"), json!("red")]);
    // Groups come in the order of their best hit, which is the overall best point's group first.
    let best = t
        .ok(Method::POST, "/collections/c/points/query", Some(json!({"query": q, "limit": 1, "with_payload": true})))
        .await;
    assert_eq!(groups[0]["id"], best["points"][0]["payload"]["color"]);
    let legacy = t
        .ok(
            Method::POST,
            "/collections/c/points/search/groups",
            Some(json!({"vector": q, "group_by": "color", "group_size": 1, "limit": 2})),
        )
        .await;
    assert_eq!(legacy["groups"].as_array().unwrap().len(), 2);
    assert_eq!(legacy["groups"][0]["id"], groups[0]["id"]);
}

#[tokio::test]
async fn recommend_best_score_scores_every_candidate_against_the_examples() {
    let t = TestNode::new();
    t.create("c", json!({"vectors": {"size": DIM, "distance": "Cosine"}})).await;
    t.upsert("c", points()).await;
    let normalized: Vec<Vec<f32>> = (0..N)
        .map(|i| {
            let v = vector(i);
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter().map(|x| x / norm).collect()
        })
        .collect();
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let sigmoid = |x: f32| 0.5 * (x / (1.0 + x.abs()) + 1.0);
    let (pos, neg) = (5u64, 17u64);
    let mut expected: Vec<(f32, u64)> = (0..N)
        .filter(|i| *i != pos && *i != neg)
        .map(|i| {
            let (p, n) = (
                dot(&normalized[pos as usize], &normalized[i as usize]),
                dot(&normalized[neg as usize], &normalized[i as usize]),
            );
            (if p > n { sigmoid(p) } else { -sigmoid(n) }, i)
        })
        .collect();
    expected.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let r = t
        .ok(
            Method::POST,
            "/collections/c/points/query",
            Some(json!({"query": {"recommend": {"positive": [pos], "negative": [neg], "strategy": "best_score"}}, "limit": 5})),
        )
        .await;
    let got: Vec<(f64, u64)> = r["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["score"].as_f64().unwrap(), p["id"].as_u64().unwrap()))
        .collect();
    assert_eq!(got.len(), 5);
    for ((score, id), (want_score, want_id)) in got.iter().zip(&expected) {
        assert_eq!(id, want_id);
        assert!((*score - f64::from(*want_score)).abs() < 1e-4);
    }
    let bad = t
        .err(
            Method::POST,
            "/collections/c/points/query",
            Some(json!({"query": {"recommend": {"positive": [pos], "strategy": "median"}}})),
            axum::http::StatusCode::BAD_REQUEST,
        )
        .await;
    assert!(bad.contains("median") && bad.contains("sum_scores"), "{bad}");
}
