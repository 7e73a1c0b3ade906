//! Point writes and plain reads: upsert (list/batch), wait semantics, ids, retrieve, delete,
//! payload and vector updates, batch operations, update modes, versions, scroll and count.

mod common;

use axum::http::{Method, StatusCode};
use common::{TestNode, assert_vector, grid_points, grid_vector, ids};
use serde_json::{Value, json};
use std::collections::BTreeSet;

async fn payload_of(t: &TestNode, name: &str, id: u64) -> Value {
    let path = format!("/collections/{name}/points/{id}");
    t.ok(Method::GET, &path, None).await["payload"].clone()
}

async fn version_of(t: &TestNode) -> u64 {
    let r = t
        .ok(Method::POST, "/collections/c/points/query", Some(json!({"query": [1.0, 1.0, 1.0, 1.0], "limit": 1})))
        .await;
    assert_eq!(r["points"][0]["id"], 1);
    r["points"][0]["version"].as_u64().expect("version")
}

async fn dot4(t: &TestNode, name: &str, shards: u32) {
    t.create(name, json!({"vectors": {"size": 4, "distance": "Dot"}, "shard_number": shards})).await;
}

#[tokio::test]
async fn upsert_list_and_batch_forms() {
    let t = TestNode::new();
    dot4(&t, "c", 1).await;
    let r = t
        .ok(
            Method::PUT,
            "/collections/c/points?wait=true",
            Some(json!({"points": [
                {"id": 1, "vector": [1.0, 0.0, 0.0, 0.0], "payload": {"a": 1}},
                {"id": 2, "vector": [0.0, 1.0, 0.0, 0.0]},
            ]})),
        )
        .await;
    assert_eq!(r["status"], "completed");
    assert!(r.as_object().unwrap().contains_key("operation_id"), "{r}");

    let r = t
        .ok(
            Method::PUT,
            "/collections/c/points?wait=true",
            Some(json!({"batch": {
                "ids": [3, 4],
                "vectors": [[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]],
                "payloads": [{"b": 3}, null],
            }})),
        )
        .await;
    assert_eq!(r["status"], "completed");

    let points = t.all_points("c").await;
    assert_eq!(ids(&Value::Array(points.clone())), [1, 2, 3, 4]);
    assert_eq!(points[0]["payload"], json!({"a": 1}));
    assert_eq!(points[2]["payload"], json!({"b": 3}));
    assert_eq!(points[2]["vector"], json!([0.0, 0.0, 1.0, 0.0]));
    assert_eq!(points[3]["vector"], json!([0.0, 0.0, 0.0, 1.0]));
    for p in [&points[1], &points[3]] {
        assert!(p["payload"].is_null() || p["payload"] == json!({}), "no payload expected: {p}");
    }
}

#[tokio::test]
async fn wait_true_completed_wait_false_acknowledged() {
    let t = TestNode::new();
    dot4(&t, "c", 2).await;
    let body = json!({"points": [{"id": 1, "vector": [1.0, 2.0, 3.0, 4.0]}]});
    let r = t.ok(Method::PUT, "/collections/c/points?wait=true", Some(body.clone())).await;
    assert_eq!(r["status"], "completed");
    let r = t
        .ok(
            Method::PUT,
            "/collections/c/points?wait=false",
            Some(json!({"points": [{"id": 2, "vector": [1.0, 2.0, 3.0, 4.0]}]})),
        )
        .await;
    assert_eq!(r["status"], "acknowledged");
    // Default is wait=false.
    let r = t
        .ok(Method::PUT, "/collections/c/points", Some(json!({"points": [{"id": 3, "vector": [1.0, 2.0, 3.0, 4.0]}]})))
        .await;
    assert_eq!(r["status"], "acknowledged");
    // An acknowledged write becomes visible (poll briefly).
    let mut seen = 0;
    for _ in 0..200 {
        seen = t.count("c", None).await;
        if seen == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(seen, 3);
}

#[tokio::test]
async fn get_by_id_numeric_and_uuid() {
    let t = TestNode::new();
    dot4(&t, "c", 3).await;
    let upper = "5C56C793-69F3-4FBF-87E6-C4BF54C28C26";
    let canonical = "5c56c793-69f3-4fbf-87e6-c4bf54c28c26";
    t.upsert(
        "c",
        json!([
            {"id": upper, "vector": [1.0, 2.0, 3.0, 4.0], "payload": {"u": true}},
            {"id": 18446744073709551615u64, "vector": [4.0, 3.0, 2.0, 1.0]},
        ]),
    )
    .await;
    let p = t.ok(Method::GET, &format!("/collections/c/points/{upper}"), None).await;
    assert_eq!(p["id"], canonical);
    assert_eq!(p["payload"], json!({"u": true}));
    assert_eq!(p["vector"], json!([1.0, 2.0, 3.0, 4.0]));
    let p = t.ok(Method::GET, &format!("/collections/c/points/{canonical}"), None).await;
    assert_eq!(p["id"], canonical);
    // Simple (un-hyphenated) UUID form parses too.
    let simple = canonical.replace('-', "");
    let p = t.ok(Method::GET, &format!("/collections/c/points/{simple}"), None).await;
    assert_eq!(p["id"], canonical);

    let p = t.ok(Method::GET, "/collections/c/points/18446744073709551615", None).await;
    assert_eq!(p["id"], json!(18446744073709551615u64));

    let msg = t.err(Method::GET, "/collections/c/points/5", None, StatusCode::NOT_FOUND).await;
    assert_eq!(msg, "Not found: Point with id 5 does not exists!");
}

#[tokio::test]
async fn retrieve_many_skips_missing() {
    let t = TestNode::new();
    dot4(&t, "c", 2).await;
    t.upsert("c", grid_points(10)).await;
    let r = t.ok(Method::POST, "/collections/c/points", Some(json!({"ids": [3, 99, 1, 7]}))).await;
    let mut got: Vec<u64> = ids(&r).iter().map(|v| v.as_u64().unwrap()).collect();
    got.sort_unstable();
    assert_eq!(got, [1, 3, 7]);
    for p in r.as_array().unwrap() {
        // Default: payload yes, vector no.
        assert_eq!(p["payload"]["n"], p["id"], "{p}");
        assert!(p["vector"].is_null(), "{p}");
    }
    let r = t
        .ok(
            Method::POST,
            "/collections/c/points",
            Some(json!({"ids": [2], "with_payload": false, "with_vector": true})),
        )
        .await;
    assert_eq!(r.as_array().unwrap().len(), 1);
    assert!(r[0]["payload"].is_null(), "{r}");
    assert_vector(&r[0]["vector"], &grid_vector(2));
    let r = t.ok(Method::POST, "/collections/c/points", Some(json!({"ids": [4], "with_payload": ["tag"]}))).await;
    assert_eq!(r[0]["payload"], json!({"tag": "t1"}));
}

#[tokio::test]
async fn delete_by_ids_and_filter() {
    let t = TestNode::new();
    dot4(&t, "c", 3).await;
    t.upsert("c", grid_points(20)).await;
    let r =
        t.ok(Method::POST, "/collections/c/points/delete?wait=true", Some(json!({"points": [0, 1, 2, 1000]}))).await;
    assert_eq!(r["status"], "completed");
    assert_eq!(t.count("c", None).await, 17);
    let r = t
        .ok(
            Method::POST,
            "/collections/c/points/delete?wait=true",
            Some(json!({"filter": {"must": [{"key": "even", "match": {"value": true}}]}})),
        )
        .await;
    assert_eq!(r["status"], "completed");
    let left: Vec<u64> = ids(&Value::Array(t.all_points("c").await)).iter().map(|v| v.as_u64().unwrap()).collect();
    assert_eq!(left, [3, 5, 7, 9, 11, 13, 15, 17, 19]);
}

#[tokio::test]
async fn payload_set_overwrite_delete_clear() {
    let t = TestNode::new();
    dot4(&t, "c", 2).await;
    t.upsert(
        "c",
        json!([
            {"id": 1, "vector": [1.0, 1.0, 1.0, 1.0], "payload": {"a": 1, "b": {"x": 1}}},
            {"id": 2, "vector": [1.0, 1.0, 1.0, 1.0], "payload": {"a": 2}},
        ]),
    )
    .await;

    // set (merge) by ids
    let r = t
        .ok(
            Method::POST,
            "/collections/c/points/payload?wait=true",
            Some(json!({"payload": {"c": "new", "a": 10}, "points": [1]})),
        )
        .await;
    assert_eq!(r["status"], "completed");
    assert_eq!(payload_of(&t, "c", 1).await, json!({"a": 10, "b": {"x": 1}, "c": "new"}));
    assert_eq!(payload_of(&t, "c", 2).await, json!({"a": 2}));

    // set with `key`: merged into the nested object
    t.ok(
        Method::POST,
        "/collections/c/points/payload?wait=true",
        Some(json!({"payload": {"y": 2}, "points": [1], "key": "b"})),
    )
    .await;
    assert_eq!(payload_of(&t, "c", 1).await["b"], json!({"x": 1, "y": 2}));

    // set by filter
    t.ok(
        Method::POST,
        "/collections/c/points/payload?wait=true",
        Some(json!({
            "payload": {"flag": true},
            "filter": {"must": [{"key": "a", "match": {"value": 2}}]},
        })),
    )
    .await;
    assert_eq!(payload_of(&t, "c", 2).await, json!({"a": 2, "flag": true}));
    assert!(payload_of(&t, "c", 1).await.get("flag").is_none());

    // overwrite
    t.ok(Method::PUT, "/collections/c/points/payload?wait=true", Some(json!({"payload": {"only": 1}, "points": [1]})))
        .await;
    assert_eq!(payload_of(&t, "c", 1).await, json!({"only": 1}));

    // delete keys
    t.ok(
        Method::POST,
        "/collections/c/points/payload/delete?wait=true",
        Some(json!({"keys": ["flag", "missing"], "points": [2]})),
    )
    .await;
    assert_eq!(payload_of(&t, "c", 2).await, json!({"a": 2}));

    // clear
    t.ok(Method::POST, "/collections/c/points/payload/clear?wait=true", Some(json!({"points": [1, 2]}))).await;
    for id in [1, 2] {
        let p = payload_of(&t, "c", id).await;
        assert!(p.is_null() || p == json!({}), "payload not cleared: {p}");
    }
}

#[tokio::test]
async fn update_and_delete_vectors() {
    let t = TestNode::new();
    t.create(
        "nv",
        json!({"vectors": {
            "a": {"size": 2, "distance": "Dot"},
            "b": {"size": 2, "distance": "Dot"},
        }}),
    )
    .await;
    t.upsert("nv", json!([{"id": 1, "vector": {"a": [1.0, 0.0], "b": [0.0, 1.0]}, "payload": {"k": 1}}])).await;
    let r = t
        .ok(
            Method::PUT,
            "/collections/nv/points/vectors?wait=true",
            Some(json!({"points": [{"id": 1, "vector": {"a": [3.0, 4.0]}}]})),
        )
        .await;
    assert_eq!(r["status"], "completed");
    let p = t.ok(Method::GET, "/collections/nv/points/1", None).await;
    assert_eq!(p["vector"], json!({"a": [3.0, 4.0], "b": [0.0, 1.0]}));
    assert_eq!(p["payload"], json!({"k": 1}));

    let r = t
        .ok(
            Method::POST,
            "/collections/nv/points/vectors/delete?wait=true",
            Some(json!({"points": [1], "vector": ["b"]})),
        )
        .await;
    assert_eq!(r["status"], "completed");
    let p = t.ok(Method::GET, "/collections/nv/points/1", None).await;
    assert_eq!(p["vector"], json!({"a": [3.0, 4.0]}));
    assert_eq!(p["payload"], json!({"k": 1}));
}

#[tokio::test]
async fn points_batch_operations() {
    let t = TestNode::new();
    dot4(&t, "c", 2).await;
    let r = t
        .ok(
            Method::POST,
            "/collections/c/points/batch?wait=true",
            Some(json!({"operations": [
                {"upsert": {"points": [
                    {"id": 1, "vector": [1.0, 0.0, 0.0, 0.0], "payload": {"a": 1}},
                    {"id": 2, "vector": [0.0, 1.0, 0.0, 0.0], "payload": {"a": 2}},
                    {"id": 3, "vector": [0.0, 0.0, 1.0, 0.0], "payload": {"a": 3}},
                ]}},
                {"upsert": {"batch": {"ids": [4], "vectors": [[0.0, 0.0, 0.0, 1.0]]}}},
                {"delete": {"points": [3]}},
                {"set_payload": {"payload": {"s": true}, "points": [1]}},
                {"overwrite_payload": {"payload": {"o": 1}, "points": [2]}},
                {"delete_payload": {"keys": ["a"], "points": [1]}},
                {"clear_payload": {"points": [4]}},
                {"update_vectors": {"points": [{"id": 4, "vector": [2.0, 2.0, 2.0, 2.0]}]}},
            ]})),
        )
        .await;
    let results = r.as_array().expect("list of UpdateResult");
    assert_eq!(results.len(), 8);
    for u in results {
        assert_eq!(u["status"], "completed", "{r}");
    }
    let points = t.all_points("c").await;
    assert_eq!(ids(&Value::Array(points.clone())), [1, 2, 4]);
    assert_eq!(points[0]["payload"], json!({"s": true}));
    assert_eq!(points[1]["payload"], json!({"o": 1}));
    assert_eq!(points[2]["vector"], json!([2.0, 2.0, 2.0, 2.0]));
}

#[tokio::test]
async fn update_modes_insert_only_and_update_only() {
    let t = TestNode::new();
    dot4(&t, "c", 2).await;
    t.upsert("c", json!([{"id": 1, "vector": [1.0, 1.0, 1.0, 1.0], "payload": {"v": "orig"}}])).await;
    // insert_only: existing point untouched, new point inserted.
    t.ok(
        Method::PUT,
        "/collections/c/points?wait=true",
        Some(json!({"update_mode": "insert_only", "points": [
            {"id": 1, "vector": [2.0, 2.0, 2.0, 2.0], "payload": {"v": "changed"}},
            {"id": 2, "vector": [2.0, 2.0, 2.0, 2.0], "payload": {"v": "inserted"}},
        ]})),
    )
    .await;
    let p1 = t.ok(Method::GET, "/collections/c/points/1", None).await;
    assert_eq!(p1["payload"], json!({"v": "orig"}));
    assert_eq!(p1["vector"], json!([1.0, 1.0, 1.0, 1.0]));
    let p2 = t.ok(Method::GET, "/collections/c/points/2", None).await;
    assert_eq!(p2["payload"], json!({"v": "inserted"}));

    // update_only: existing updated, missing not created.
    t.ok(
        Method::PUT,
        "/collections/c/points?wait=true",
        Some(json!({"update_mode": "update_only", "points": [
            {"id": 1, "vector": [3.0, 3.0, 3.0, 3.0], "payload": {"v": "updated"}},
            {"id": 3, "vector": [3.0, 3.0, 3.0, 3.0], "payload": {"v": "nope"}},
        ]})),
    )
    .await;
    let p1 = t.ok(Method::GET, "/collections/c/points/1", None).await;
    assert_eq!(p1["payload"], json!({"v": "updated"}));
    assert_eq!(p1["vector"], json!([3.0, 3.0, 3.0, 3.0]));
    t.err(Method::GET, "/collections/c/points/3", None, StatusCode::NOT_FOUND).await;
    assert_eq!(t.count("c", None).await, 2);
}

#[tokio::test]
async fn versions_increase_with_writes() {
    let t = TestNode::new();
    dot4(&t, "c", 1).await;
    t.upsert("c", json!([{"id": 1, "vector": [1.0, 0.0, 0.0, 0.0]}])).await;
    let v1 = version_of(&t).await;
    t.upsert("c", json!([{"id": 1, "vector": [0.0, 1.0, 0.0, 0.0]}])).await;
    let v2 = version_of(&t).await;
    assert!(v2 > v1, "{v1} -> {v2}");
    t.ok(Method::POST, "/collections/c/points/payload?wait=true", Some(json!({"payload": {"x": 1}, "points": [1]})))
        .await;
    let v3 = version_of(&t).await;
    assert!(v3 > v2, "{v2} -> {v3}");
}

#[tokio::test]
async fn scroll_pages_collect_all_exactly_once_multi_shard() {
    let t = TestNode::new();
    dot4(&t, "c", 4).await;
    t.upsert("c", grid_points(53)).await;
    let uuid_points: Vec<Value> = (0..5)
        .map(|i| {
            json!({"id": format!("00000000-0000-0000-0000-00000000000{i}"),
                   "vector": [1.0, 1.0, 1.0, 1.0]})
        })
        .collect();
    t.upsert("c", Value::Array(uuid_points)).await;

    let mut seen = Vec::new();
    let mut offset = Value::Null;
    let mut pages = 0;
    loop {
        let mut body = json!({"limit": 10});
        if !offset.is_null() {
            body["offset"] = offset.clone();
        }
        let page = t.ok(Method::POST, "/collections/c/points/scroll", Some(body)).await;
        let points = page["points"].as_array().unwrap();
        assert!(points.len() <= 10);
        // Defaults: payload included, vector not.
        for p in points {
            assert!(p["vector"].is_null(), "{p}");
        }
        seen.extend(ids(&page["points"]));
        offset = page["next_page_offset"].clone();
        pages += 1;
        if offset.is_null() {
            break;
        }
        assert!(pages < 100, "scroll does not terminate");
    }
    assert_eq!(seen.len(), 58, "{seen:?}");
    let unique: BTreeSet<String> = seen.iter().map(Value::to_string).collect();
    assert_eq!(unique.len(), 58, "duplicates in scroll: {seen:?}");
    // Numbers in ascending order first, then UUIDs.
    let nums: Vec<u64> = seen.iter().filter_map(Value::as_u64).collect();
    assert_eq!(nums, (0..53).collect::<Vec<_>>());
    assert!(seen[53..].iter().all(Value::is_string));

    // Default limit is 10.
    let page = t.ok(Method::POST, "/collections/c/points/scroll", Some(json!({}))).await;
    assert_eq!(page["points"].as_array().unwrap().len(), 10);
    assert_eq!(page["next_page_offset"], 10);
}

#[tokio::test]
async fn scroll_with_filter() {
    let t = TestNode::new();
    dot4(&t, "c", 3).await;
    t.upsert("c", grid_points(30)).await;
    let page = t
        .ok(
            Method::POST,
            "/collections/c/points/scroll",
            Some(json!({
                "limit": 100,
                "filter": {"must": [
                    {"key": "tag", "match": {"value": "t0"}},
                    {"key": "n", "range": {"gte": 6, "lt": 20}},
                ]},
            })),
        )
        .await;
    assert_eq!(ids(&page["points"]), [6, 9, 12, 15, 18]);
    assert!(page["next_page_offset"].is_null());
}

#[tokio::test]
async fn scroll_order_by_asc_desc() {
    let t = TestNode::new();
    dot4(&t, "c", 3).await;
    let points: Vec<Value> = (0..12u64)
        .map(|i| {
            json!({"id": i, "vector": [1.0, 0.0, 0.0, 0.0],
                   "payload": {"price": ((i * 7) % 12) as f64 + 0.5}})
        })
        .collect();
    t.upsert("c", Value::Array(points)).await;
    // Without a range index Qdrant refuses order_by.
    let refused = t
        .err(
            Method::POST,
            "/collections/c/points/scroll",
            Some(json!({"limit": 5, "order_by": "price"})),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert!(refused.starts_with("Wrong input: No range index for `order_by` key: `price`."), "{refused}");
    t.ok(Method::PUT, "/collections/c/index?wait=true", Some(json!({"field_name": "price", "field_schema": "float"})))
        .await;
    let prices = |page: &Value| -> Vec<f64> {
        page["points"].as_array().unwrap().iter().map(|p| p["payload"]["price"].as_f64().unwrap()).collect()
    };
    let asc = t.ok(Method::POST, "/collections/c/points/scroll", Some(json!({"limit": 5, "order_by": "price"}))).await;
    assert_eq!(prices(&asc), [0.5, 1.5, 2.5, 3.5, 4.5]);
    let asc2 = t
        .ok(
            Method::POST,
            "/collections/c/points/scroll",
            Some(json!({"limit": 5, "order_by": {"key": "price", "direction": "asc"}})),
        )
        .await;
    assert_eq!(prices(&asc2), [0.5, 1.5, 2.5, 3.5, 4.5]);
    let desc = t
        .ok(
            Method::POST,
            "/collections/c/points/scroll",
            Some(json!({"limit": 4, "order_by": {"key": "price", "direction": "desc"}})),
        )
        .await;
    assert_eq!(prices(&desc), [11.5, 10.5, 9.5, 8.5]);
    // Qdrant returns no next_page_offset with order_by.
    assert!(desc["next_page_offset"].is_null(), "{desc}");
}

#[tokio::test]
async fn count_with_and_without_filter() {
    let t = TestNode::new();
    dot4(&t, "c", 2).await;
    t.upsert("c", grid_points(25)).await;
    assert_eq!(t.count("c", None).await, 25);
    assert_eq!(t.count("c", Some(json!({"must": {"key": "even", "match": {"value": true}}}))).await, 13);
    assert_eq!(t.count("c", Some(json!({"must_not": [{"key": "tag", "match": {"any": ["t0", "t1"]}}]}))).await, 8);
    assert_eq!(
        t.count("c", Some(json!({"should": [{"has_id": [1, 2, 3]}, {"key": "n", "range": {"gt": 22}}]}))).await,
        5
    );
    // count with exact=false still answers
    let r = t.ok(Method::POST, "/collections/c/points/count", Some(json!({"exact": false}))).await;
    assert!(r["count"].is_u64(), "{r}");
}

#[tokio::test]
async fn scroll_offset_is_an_inclusive_start_id() {
    let t = TestNode::new();
    dot4(&t, "c", 2).await;
    t.upsert("c", grid_points(10)).await;
    let page = t.ok(Method::POST, "/collections/c/points/scroll", Some(json!({"offset": 5, "limit": 3}))).await;
    assert_eq!(ids(&page["points"]), [5, 6, 7]);
    assert_eq!(page["next_page_offset"], 8);
    t.ok(Method::POST, "/collections/c/points/delete?wait=true", Some(json!({"points": [5]}))).await;
    // A missing start id: the page starts at the next existing id.
    let page = t.ok(Method::POST, "/collections/c/points/scroll", Some(json!({"offset": 5, "limit": 3}))).await;
    assert_eq!(ids(&page["points"]), [6, 7, 8]);
    // The last page has no next offset.
    let page = t.ok(Method::POST, "/collections/c/points/scroll", Some(json!({"offset": 8, "limit": 2}))).await;
    assert_eq!(ids(&page["points"]), [8, 9]);
    assert!(page["next_page_offset"].is_null(), "{page}");
}

#[tokio::test]
async fn empty_collection_and_empty_writes() {
    let t = TestNode::new();
    dot4(&t, "c", 3).await;
    let r = t.ok(Method::POST, "/collections/c/points/query", Some(json!({"query": [1.0, 0.0, 0.0, 0.0]}))).await;
    assert_eq!(r, json!({"points": []}));
    let r = t.ok(Method::POST, "/collections/c/points/scroll", Some(json!({}))).await;
    assert_eq!(r, json!({"points": [], "next_page_offset": null}));
    assert_eq!(t.count("c", None).await, 0);
    let r = t.ok(Method::PUT, "/collections/c/points?wait=true", Some(json!({"points": []}))).await;
    assert_eq!(r["status"], "completed");
    let r = t.ok(Method::POST, "/collections/c/points/delete?wait=true", Some(json!({"points": [1, 2, 3]}))).await;
    assert_eq!(r["status"], "completed");
    assert_eq!(t.count("c", None).await, 0);
}
