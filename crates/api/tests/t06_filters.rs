//! Filter language (spec §3.4) through count / scroll, conditional upserts (`update_filter`)
//! and payload / vector selectors.

mod common;

use axum::http::Method;
use common::{TestNode, ids};
use serde_json::{Value, json};

async fn setup() -> TestNode {
    let t = TestNode::new();
    t.create(
        "f",
        json!({
            "vectors": {"a": {"size": 2, "distance": "Dot"}, "b": {"size": 2, "distance": "Dot"}},
            "shard_number": 2,
        }),
    )
    .await;
    let both = json!({"a": [1.0, 0.0], "b": [0.0, 1.0]});
    let only_a = json!({"a": [1.0, 0.0]});
    t.upsert(
        "f",
        json!([
            {"id": 1, "vector": both, "payload": {"color": "red", "n": 1, "tags": ["x", "y"],
                "city": {"name": "Berlin"}, "items": [{"k": "a", "v": 1}, {"k": "b", "v": 2}],
                "text": "the quick brown fox"}},
            {"id": 2, "vector": both, "payload": {"color": "green", "n": 2, "tags": ["y"],
                "city": {"name": "Paris"}, "items": [{"k": "a", "v": 2}], "text": "lazy dog"}},
            {"id": 3, "vector": only_a, "payload": {"color": "blue", "n": 3, "tags": [],
                "city": {"name": "Berlin"}, "items": [{"k": "b", "v": 1}]}},
            {"id": 4, "vector": only_a, "payload": {"color": "red", "n": 4.5, "maybe": null}},
            {"id": 5, "vector": both, "payload": {"n": 5, "flag": true, "tags": ["x", "z", "w"]}},
            {"id": "11111111-2222-3333-4444-555555555555", "vector": both,
                "payload": {"color": "red", "flag": false}},
        ]),
    )
    .await;
    t
}

async fn matching(t: &TestNode, filter: Value) -> Vec<Value> {
    let page = t
        .ok(
            Method::POST,
            "/collections/f/points/scroll",
            Some(json!({"filter": filter.clone(), "limit": 100, "with_payload": false})),
        )
        .await;
    let found = ids(&page["points"]);
    let count = t.count("f", Some(filter.clone())).await;
    assert_eq!(count as usize, found.len(), "count vs scroll for {filter}");
    found
}

const UUID: &str = "11111111-2222-3333-4444-555555555555";

#[tokio::test]
async fn field_conditions() {
    let t = setup().await;
    let cases = [
        (json!({"must": [{"key": "color", "match": {"value": "red"}}]}), json!([1, 4, UUID])),
        (json!({"must": {"key": "tags", "match": {"value": "x"}}}), json!([1, 5])),
        (json!({"must": [{"key": "color", "match": {"any": ["green", "blue"]}}]}), json!([2, 3])),
        (json!({"must": [{"key": "n", "match": {"any": [1, 5]}}]}), json!([1, 5])),
        (json!({"must": [{"key": "color", "match": {"except": ["red", "green"]}}]}), json!([3])),
        (json!({"must": [{"key": "n", "range": {"gt": 1, "lte": 4.5}}]}), json!([2, 3, 4])),
        (json!({"must": [{"key": "n", "range": {"gte": 5}}]}), json!([5])),
        (json!({"must": [{"key": "flag", "match": {"value": true}}]}), json!([5])),
        (json!({"must": [{"key": "flag", "match": {"value": false}}]}), json!([UUID])),
        (json!({"must": [{"key": "city.name", "match": {"value": "Berlin"}}]}), json!([1, 3])),
        (json!({"must": [{"key": "items[].k", "match": {"value": "b"}}]}), json!([1, 3])),
        (json!({"must": [{"key": "text", "match": {"text": "quick"}}]}), json!([1])),
        (json!({"must": [{"key": "tags", "values_count": {"gte": 2}}]}), json!([1, 5])),
        (json!({"must": [{"is_empty": {"key": "tags"}}]}), json!([3, 4, UUID])),
        (json!({"must": [{"key": "tags", "is_empty": true}]}), json!([3, 4, UUID])),
        (json!({"must": [{"is_null": {"key": "maybe"}}]}), json!([4])),
        (json!({"must": [{"has_id": [2, UUID, 99]}]}), json!([2, UUID])),
        (json!({"must": [{"has_vector": "b"}]}), json!([1, 2, 5, UUID])),
    ];
    for (filter, expected) in cases {
        assert_eq!(Value::Array(matching(&t, filter.clone()).await), expected, "{filter}");
    }
}

#[tokio::test]
async fn boolean_combinations_and_nested() {
    let t = setup().await;
    let cases = [
        (
            json!({"should": [
                {"key": "color", "match": {"value": "green"}},
                {"key": "n", "range": {"gt": 4}},
            ]}),
            json!([2, 4, 5]),
        ),
        (json!({"must_not": [{"key": "color", "match": {"value": "red"}}]}), json!([2, 3, 5])),
        (
            json!({
                "must": [{"key": "color", "match": {"value": "red"}}],
                "must_not": [{"has_id": [4]}],
            }),
            json!([1, UUID]),
        ),
        (
            json!({"must": [
                {"should": [{"has_id": [1]}, {"has_id": [2]}]},
                {"should": [{"has_id": [2]}, {"has_id": [3]}]},
            ]}),
            json!([2]),
        ),
        (
            json!({"min_should": {"min_count": 2, "conditions": [
                {"key": "color", "match": {"value": "red"}},
                {"key": "tags", "match": {"value": "x"}},
                {"key": "city.name", "match": {"value": "Berlin"}},
            ]}}),
            json!([1]),
        ),
        // Nested: both conditions on the same array element.
        (
            json!({"must": [{"nested": {"key": "items", "filter": {"must": [
                {"key": "k", "match": {"value": "a"}},
                {"key": "v", "match": {"value": 2}},
            ]}}}]}),
            json!([2]),
        ),
        // Without nested, the conditions may match different elements.
        (
            json!({"must": [
                {"key": "items[].k", "match": {"value": "a"}},
                {"key": "items[].v", "match": {"value": 2}},
            ]}),
            json!([1, 2]),
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(Value::Array(matching(&t, filter.clone()).await), expected, "{filter}");
    }
}

#[tokio::test]
async fn filters_apply_to_search_and_delete() {
    let t = setup().await;
    let r = t
        .ok(
            Method::POST,
            "/collections/f/points/query",
            Some(json!({
                "query": [1.0, 0.0], "using": "a", "limit": 10,
                "filter": {"must": [{"key": "color", "match": {"value": "red"}}]},
            })),
        )
        .await;
    let mut found: Vec<String> = ids(&r["points"]).iter().map(Value::to_string).collect();
    found.sort();
    assert_eq!(found, ["\"11111111-2222-3333-4444-555555555555\"", "1", "4"]);
    t.ok(
        Method::POST,
        "/collections/f/points/delete?wait=true",
        Some(json!({"filter": {"should": [{"has_id": [UUID]}, {"key": "n", "range": {"lt": 2}}]}})),
    )
    .await;
    assert_eq!(Value::Array(matching(&t, json!({})).await), json!([2, 3, 4, 5]));
}

#[tokio::test]
async fn conditional_upsert_with_update_filter() {
    let t = setup().await;
    t.ok(
        Method::PUT,
        "/collections/f/points?wait=true",
        Some(json!({
            "points": [
                {"id": 1, "vector": {"a": [5.0, 5.0]}, "payload": {"color": "updated"}},
                {"id": 2, "vector": {"a": [5.0, 5.0]}, "payload": {"color": "updated"}},
                {"id": 77, "vector": {"a": [5.0, 5.0]}, "payload": {"color": "inserted"}},
            ],
            "update_filter": {"must": [{"key": "color", "match": {"value": "red"}}]},
        })),
    )
    .await;
    let color = |r: &Value| r["payload"]["color"].clone();
    let p1 = t.ok(Method::GET, "/collections/f/points/1", None).await;
    assert_eq!(color(&p1), "updated", "red point matches the filter: {p1}");
    let p2 = t.ok(Method::GET, "/collections/f/points/2", None).await;
    assert_eq!(color(&p2), "green", "green point must not be updated: {p2}");
    let p77 = t.ok(Method::GET, "/collections/f/points/77", None).await;
    assert_eq!(color(&p77), "inserted", "new points are inserted: {p77}");
}

#[tokio::test]
async fn payload_and_vector_selectors() {
    let t = setup().await;
    let get = |body: Value| {
        let t = &t;
        async move { t.ok(Method::POST, "/collections/f/points", Some(body)).await[0].clone() }
    };
    let p = get(json!({"ids": [1], "with_payload": ["color", "n"]})).await;
    assert_eq!(p["payload"], json!({"color": "red", "n": 1}));
    let p = get(json!({"ids": [1], "with_payload": {"include": ["city"]}})).await;
    assert_eq!(p["payload"], json!({"city": {"name": "Berlin"}}));
    let p = get(json!({"ids": [2], "with_payload": {"exclude": ["items", "text", "tags", "city"]}})).await;
    assert_eq!(p["payload"], json!({"color": "green", "n": 2}));
    let p = get(json!({"ids": [1], "with_payload": false, "with_vector": ["b"]})).await;
    assert_eq!(p["vector"], json!({"b": [0.0, 1.0]}));
    let p = get(json!({"ids": [1], "with_payload": false, "with_vector": true})).await;
    assert_eq!(p["vector"], json!({"a": [1.0, 0.0], "b": [0.0, 1.0]}));
    // Search results honour the same selectors.
    let r = t
        .ok(
            Method::POST,
            "/collections/f/points/query",
            Some(json!({
                "query": [0.0, 1.0], "using": "b", "limit": 1,
                "filter": {"must": [{"has_id": [2]}]},
                "with_payload": ["n"], "with_vector": ["a"],
            })),
        )
        .await;
    assert_eq!(r["points"][0]["payload"], json!({"n": 2}));
    assert_eq!(r["points"][0]["vector"], json!({"a": [1.0, 0.0]}));
}
