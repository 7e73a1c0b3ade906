//! Persistence across restarts: graceful (`shutdown()` then reopen), crash-like (drop without
//! shutdown; `wait=true` writes are durable in the WAL), and WAL replay after a checkpoint.

mod common;

use axum::http::Method;
use common::{TestNode, grid_points};
use serde_json::{Value, json};

/// Everything observable about the node's data, for before/after comparisons.
async fn snapshot(t: &TestNode) -> Value {
    let mut collections = serde_json::Map::new();
    let list = t.ok(Method::GET, "/collections", None).await;
    for c in list["collections"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let info = t.ok(Method::GET, &format!("/collections/{name}"), None).await;
        let points = t.all_points(name).await;
        // Id-ordered query: same points, plus their versions.
        let versions =
            t.ok(Method::POST, &format!("/collections/{name}/points/query"), Some(json!({"limit": 10000}))).await;
        let versions: Vec<Value> =
            versions["points"].as_array().unwrap().iter().map(|p| json!([p["id"], p["version"]])).collect();
        let cluster = t.ok(Method::GET, &format!("/collections/{name}/cluster"), None).await;
        collections.insert(
            name.to_string(),
            json!({
                "config": info["config"],
                "points_count": info["points_count"],
                "points": points,
                "versions": versions,
                "local_shards": cluster["local_shards"],
                "peer_id": cluster["peer_id"],
            }),
        );
    }
    let aliases = t.ok(Method::GET, "/aliases", None).await;
    json!({"collections": collections, "aliases": aliases})
}

/// A varied data set: multi-shard collection with named dense + sparse vectors, payload edits,
/// deletes, vector updates, config patch and aliases. All writes use `wait=true`.
async fn populate(t: &TestNode) {
    t.create(
        "rich",
        json!({
            "vectors": {"": {"size": 3, "distance": "Cosine"}, "e": {"size": 2, "distance": "Euclid"}},
            "sparse_vectors": {"s": {}},
            "shard_number": 3,
            "hnsw_config": {"m": 24},
            "metadata": {"owner": "tests"},
        }),
    )
    .await;
    let points: Vec<Value> = (0..40u64)
        .map(|i| {
            let f = i as f32;
            json!({
                "id": i,
                "vector": {
                    "": [1.0 + f, 0.5, -f],
                    "e": [f, f * 2.0],
                    "s": {"indices": [i as u32 % 5, 10 + i as u32], "values": [0.5, f]},
                },
                "payload": {"i": i, "group": format!("g{}", i % 4), "nested": {"a": i}},
            })
        })
        .collect();
    t.upsert("rich", Value::Array(points)).await;
    t.upsert(
        "rich",
        json!([{"id": "a1b2c3d4-0000-4000-8000-000000000001", "vector": {"": [0.0, 1.0, 0.0], "e": [1.0, 1.0]},
                "payload": {"uuid": true}}]),
    )
    .await;
    let writes = [
        (
            Method::POST,
            "/collections/rich/points/payload?wait=true",
            json!({"payload": {"extra": [1, 2, 3]}, "points": [1, 2, 3]}),
        ),
        (
            Method::POST,
            "/collections/rich/points/payload?wait=true",
            json!({"payload": {"b": "deep"}, "points": [4], "key": "nested"}),
        ),
        (
            Method::PUT,
            "/collections/rich/points/payload?wait=true",
            json!({"payload": {"replaced": true}, "points": [5]}),
        ),
        (
            Method::POST,
            "/collections/rich/points/payload/delete?wait=true",
            json!({"keys": ["group"], "points": [6, 7]}),
        ),
        (Method::POST, "/collections/rich/points/payload/clear?wait=true", json!({"points": [8]})),
        (Method::POST, "/collections/rich/points/delete?wait=true", json!({"points": [9, 10]})),
        (
            Method::POST,
            "/collections/rich/points/delete?wait=true",
            json!({"filter": {"must": [{"key": "group", "match": {"value": "g3"}}]}}),
        ),
        (
            Method::PUT,
            "/collections/rich/points/vectors?wait=true",
            json!({"points": [{"id": 12, "vector": {"e": [100.0, 200.0]}}]}),
        ),
        (Method::POST, "/collections/rich/points/vectors/delete?wait=true", json!({"points": [13], "vector": ["s"]})),
    ];
    for (method, path, body) in writes {
        let r = t.ok(method, path, Some(body)).await;
        assert_eq!(r["status"], "completed", "{r}");
    }
    assert_eq!(
        t.ok(
            Method::PATCH,
            "/collections/rich",
            Some(json!({"optimizers_config": {"indexing_threshold": 0}, "metadata": {"v": 2}})),
        )
        .await,
        json!(true)
    );

    t.create("plain", json!({"vectors": {"size": 4, "distance": "Dot"}})).await;
    t.upsert("plain", grid_points(15)).await;
    let r = t
        .ok(
            Method::POST,
            "/collections/aliases",
            Some(json!({"actions": [
                {"create_alias": {"collection_name": "rich", "alias_name": "r"}},
                {"create_alias": {"collection_name": "plain", "alias_name": "p0"}},
                {"rename_alias": {"old_alias_name": "p0", "new_alias_name": "p"}},
            ]})),
        )
        .await;
    assert_eq!(r, json!(true));
}

/// Spot checks after a restart, beyond equality with the snapshot.
async fn spot_checks(t: &TestNode) {
    let p = t.ok(Method::GET, "/collections/r/points/4", None).await;
    assert_eq!(p["payload"]["nested"], json!({"a": 4, "b": "deep"}));
    let p = t.ok(Method::GET, "/collections/rich/points/12", None).await;
    assert_eq!(p["vector"]["e"], json!([100.0, 200.0]));
    let p = t.ok(Method::GET, "/collections/rich/points/13", None).await;
    assert!(p["vector"].get("s").is_none(), "{p}");
    let p = t.ok(Method::GET, "/collections/rich/points/a1b2c3d4-0000-4000-8000-000000000001", None).await;
    assert_eq!(p["payload"], json!({"uuid": true}));
    let info = t.ok(Method::GET, "/collections/rich", None).await;
    assert_eq!(info["config"]["params"]["shard_number"], 3);
    assert_eq!(info["config"]["hnsw_config"]["m"], 24);
    assert_eq!(info["config"]["optimizer_config"]["indexing_threshold"], 0);
    assert_eq!(info["config"]["metadata"], json!({"owner": "tests", "v": 2}));
    assert_eq!(t.count("p", None).await, 15);
    // 40 numeric points - 2 deleted by id (9, 10) - 9 deleted by filter (group g3: 3, 11, 15,
    // …, 39; 7 lost its `group` key before) + 1 UUID point.
    assert_eq!(t.count("rich", None).await, 40 - 2 - 9 + 1);
}

/// A search whose result must survive a restart unchanged.
async fn search_fingerprint(t: &TestNode) -> Value {
    let a = t
        .ok(
            Method::POST,
            "/collections/rich/points/query",
            Some(json!({"query": [1.0, 0.2, -3.0], "limit": 5, "with_payload": true})),
        )
        .await;
    let b = t
        .ok(
            Method::POST,
            "/collections/rich/points/query",
            Some(json!({"query": {"indices": [2, 20], "values": [1.0, 1.0]}, "using": "s", "limit": 3})),
        )
        .await;
    json!([a, b])
}

#[tokio::test]
async fn graceful_restart_keeps_everything() {
    let mut t = TestNode::new();
    populate(&t).await;
    let before = snapshot(&t).await;
    let search = search_fingerprint(&t).await;
    t.reopen();
    assert_eq!(snapshot(&t).await, before);
    assert_eq!(search_fingerprint(&t).await, search);
    spot_checks(&t).await;
    // And once more, with further writes in between.
    t.upsert("p", json!([{"id": 1000, "vector": [1.0, 2.0, 3.0, 4.0]}])).await;
    let before = snapshot(&t).await;
    t.reopen();
    assert_eq!(snapshot(&t).await, before);
}

#[tokio::test]
async fn crash_restart_keeps_acknowledged_wait_true_writes() {
    let mut t = TestNode::new();
    populate(&t).await;
    // A rejected write just before the crash must not disturb recovery.
    let (status, _) = t
        .call(
            Method::PUT,
            "/collections/rich/points?wait=true",
            Some(json!({"points": [{"id": 999, "vector": {"": [1.0, 2.0]}}]})),
        )
        .await;
    assert_eq!(status, axum::http::StatusCode::BAD_REQUEST);
    let before = snapshot(&t).await;
    let search = search_fingerprint(&t).await;
    t.reopen_without_shutdown();
    assert_eq!(snapshot(&t).await, before);
    assert_eq!(search_fingerprint(&t).await, search);
    spot_checks(&t).await;
}

#[tokio::test]
async fn checkpoint_then_more_writes_replays_only_the_suffix() {
    let mut t = TestNode::new();
    populate(&t).await;
    t.node().checkpoint(true).expect("checkpoint");
    // Writes after the checkpoint: overwrite, delete, payload changes, new points. If the WAL
    // prefix were replayed again, the re-applied older upserts would resurrect deleted points or
    // older payloads; if the suffix were lost, these changes would be missing.
    t.upsert(
        "rich",
        json!([
            {"id": 0, "vector": {"": [9.0, 9.0, 9.0], "e": [9.0, 9.0]}, "payload": {"after": "cp"}},
            {"id": 500, "vector": {"": [1.0, 1.0, 1.0], "e": [0.0, 0.0]}, "payload": {"new": true}},
        ]),
    )
    .await;
    for (method, path, body) in [
        (Method::POST, "/collections/rich/points/delete?wait=true", json!({"points": [1, 2]})),
        (
            Method::POST,
            "/collections/rich/points/payload?wait=true",
            json!({"payload": {"late": 1}, "filter": {"must": [{"key": "group", "match": {"value": "g1"}}]}}),
        ),
        (
            Method::POST,
            "/collections/plain/points/delete?wait=true",
            json!({"filter": {"must": [{"key": "even", "match": {"value": true}}]}}),
        ),
    ] {
        let r = t.ok(method, path, Some(body)).await;
        assert_eq!(r["status"], "completed", "{r}");
    }
    let before = snapshot(&t).await;
    t.reopen_without_shutdown();
    let after = snapshot(&t).await;
    assert_eq!(after, before);
    let p = t.ok(Method::GET, "/collections/rich/points/0", None).await;
    assert_eq!(p["payload"], json!({"after": "cp"}));
    assert_eq!(p["vector"]["e"], json!([9.0, 9.0]));
    t.err(Method::GET, "/collections/rich/points/1", None, axum::http::StatusCode::NOT_FOUND).await;
    assert_eq!(t.count("plain", None).await, 7);

    // A second round: checkpoint, write, graceful restart.
    t.node().checkpoint(true).expect("checkpoint");
    t.upsert("plain", json!([{"id": 0, "vector": [0.0, 0.0, 0.0, 1.0]}])).await;
    let before = snapshot(&t).await;
    t.reopen();
    assert_eq!(snapshot(&t).await, before);
    assert_eq!(t.count("plain", None).await, 8);
}

#[tokio::test]
async fn versions_keep_increasing_after_restart() {
    let mut t = TestNode::new();
    t.create("v", json!({"vectors": {"size": 2, "distance": "Dot"}})).await;
    t.upsert("v", json!([{"id": 1, "vector": [1.0, 0.0]}])).await;
    t.upsert("v", json!([{"id": 1, "vector": [1.0, 1.0]}])).await;
    let version = |r: &Value| r["points"][0]["version"].as_u64().expect("version");
    let q = json!({"query": [1.0, 1.0], "limit": 1});
    let v1 = version(&t.ok(Method::POST, "/collections/v/points/query", Some(q.clone())).await);
    t.reopen_without_shutdown();
    let v2 = version(&t.ok(Method::POST, "/collections/v/points/query", Some(q.clone())).await);
    assert_eq!(v1, v2);
    t.upsert("v", json!([{"id": 1, "vector": [2.0, 2.0]}])).await;
    let v3 = version(&t.ok(Method::POST, "/collections/v/points/query", Some(q.clone())).await);
    assert!(v3 > v2, "{v2} -> {v3}");
}

#[tokio::test]
async fn deleted_collection_stays_deleted() {
    let mut t = TestNode::new();
    populate(&t).await;
    assert_eq!(t.ok(Method::DELETE, "/collections/plain", None).await, json!(true));
    t.reopen_without_shutdown();
    assert_eq!(t.ok(Method::GET, "/collections/plain/exists", None).await, json!({"exists": false}));
    // Its alias went with it; the other one stays.
    assert_eq!(
        t.ok(Method::GET, "/aliases", None).await,
        json!({"aliases": [{"alias_name": "r", "collection_name": "rich"}]})
    );
    // The name can be reused, and the new collection starts empty.
    t.create("plain", json!({"vectors": {"size": 4, "distance": "Dot"}})).await;
    assert_eq!(t.count("plain", None).await, 0);
    t.reopen();
    assert_eq!(t.count("plain", None).await, 0);
}

#[tokio::test]
async fn acknowledged_writes_survive_graceful_shutdown() {
    let mut t = TestNode::new();
    t.create("a", json!({"vectors": {"size": 4, "distance": "Dot"}, "shard_number": 2})).await;
    for i in 0..20u64 {
        let r = t
            .ok(
                Method::PUT,
                "/collections/a/points?wait=false",
                Some(json!({"points": [{"id": i, "vector": [1.0, 2.0, 3.0, i as f32]}]})),
            )
            .await;
        assert_eq!(r["status"], "acknowledged");
    }
    t.reopen();
    assert_eq!(t.count("a", None).await, 20);
}
