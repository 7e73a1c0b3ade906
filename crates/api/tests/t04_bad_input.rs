//! Bad input: exact statuses and error envelopes, and that failed requests change nothing.

mod common;

use axum::http::{Method, StatusCode};
use common::{TestNode, error_message, grid_points};
use serde_json::{Value, json};

const DIM_ERROR: &str = "Wrong input: Vector dimension error: expected dim: 4, got 3";
const BAD_ID: &str = "is not a valid point ID, valid values are either an unsigned integer or a UUID";

async fn seeded() -> (TestNode, Vec<Value>) {
    let t = TestNode::new();
    t.create("c", json!({"vectors": {"size": 4, "distance": "Cosine"}, "shard_number": 2})).await;
    t.upsert("c", grid_points(12)).await;
    let before = t.all_points("c").await;
    (t, before)
}

async fn assert_unchanged(t: &TestNode, before: &[Value]) {
    let after = t.all_points("c").await;
    assert_eq!(after, before, "data changed after bad requests");
    let info = t.ok(Method::GET, "/collections/c", None).await;
    assert_eq!(info["config"]["params"]["vectors"]["size"], 4);
}

#[tokio::test]
async fn malformed_json_is_400_format_error() {
    let (t, before) = seeded().await;
    let bodies: [&[u8]; 5] =
        [b"{", b"{\"points\": [", b"not json at all", b"{\"points\": [{\"id\": 1, \"vector\": [1,2,3,4]},]}", b"[1, 2"];
    for body in bodies {
        for (method, path) in [
            (Method::PUT, "/collections/c/points?wait=true"),
            (Method::POST, "/collections/c/points/scroll"),
            (Method::POST, "/collections/c/points/query"),
            (Method::POST, "/collections/c/points/delete?wait=true"),
            (Method::PUT, "/collections/new"),
        ] {
            let (status, reply) = t.raw(method.clone(), path, Some(body.to_vec())).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {reply}");
            let msg = error_message(&reply);
            assert!(msg.starts_with("Format error in JSON body"), "{method} {path}: {msg}");
        }
    }
    // Well-formed JSON of the wrong shape is a format error too.
    let msg = t
        .err(Method::PUT, "/collections/c/points?wait=true", Some(json!({"points": "nope"})), StatusCode::BAD_REQUEST)
        .await;
    assert!(msg.starts_with("Format error in JSON body"), "{msg}");
    let msg = t
        .err(
            Method::PUT,
            "/collections/new",
            Some(json!({"vectors": {"size": "four", "distance": "Cosine"}})),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert!(msg.starts_with("Format error in JSON body"), "{msg}");
    let msg = t
        .err(
            Method::PUT,
            "/collections/new",
            Some(json!({"vectors": {"size": 4, "distance": "Hamming"}})),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert!(msg.starts_with("Format error in JSON body"), "{msg}");
    assert_eq!(t.ok(Method::GET, "/collections/new/exists", None).await, json!({"exists": false}));
    assert_unchanged(&t, &before).await;
}

#[tokio::test]
async fn bad_point_ids_are_400() {
    let (t, before) = seeded().await;
    for bad in [json!("not-a-uuid"), json!(-1), json!(1.5), json!("12ab")] {
        let msg = t
            .err(
                Method::PUT,
                "/collections/c/points?wait=true",
                Some(json!({"points": [
                    {"id": 100, "vector": [1.0, 1.0, 1.0, 1.0]},
                    {"id": bad, "vector": [1.0, 1.0, 1.0, 1.0]},
                ]})),
                StatusCode::BAD_REQUEST,
            )
            .await;
        assert!(msg.contains(BAD_ID), "{bad}: {msg}");
    }
    for path in ["/collections/c/points/not-a-uuid", "/collections/c/points/-3", "/collections/c/points/1.5"] {
        let msg = t.err(Method::GET, path, None, StatusCode::BAD_REQUEST).await;
        assert!(msg.contains(BAD_ID), "{path}: {msg}");
    }
    let msg =
        t.err(Method::POST, "/collections/c/points", Some(json!({"ids": [1, "zzz"]})), StatusCode::BAD_REQUEST).await;
    assert!(msg.contains(BAD_ID), "{msg}");
    let msg = t
        .err(
            Method::POST,
            "/collections/c/points/delete?wait=true",
            Some(json!({"points": [1, "zzz"]})),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert!(msg.contains(BAD_ID), "{msg}");
    assert_unchanged(&t, &before).await;
}

#[tokio::test]
async fn wrong_dimension_is_400_and_nothing_written() {
    let (t, before) = seeded().await;
    // One good point and one bad point in the same request: the whole request fails.
    let msg = t
        .err(
            Method::PUT,
            "/collections/c/points?wait=true",
            Some(json!({"points": [
                {"id": 500, "vector": [1.0, 1.0, 1.0, 1.0]},
                {"id": 501, "vector": [1.0, 1.0, 1.0]},
            ]})),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(msg, DIM_ERROR);
    let msg = t
        .err(
            Method::PUT,
            "/collections/c/points?wait=true",
            Some(json!({"batch": {"ids": [600], "vectors": [[1.0, 2.0, 3.0]]}})),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(msg, DIM_ERROR);
    let msg = t
        .err(
            Method::PUT,
            "/collections/c/points/vectors?wait=true",
            Some(json!({"points": [{"id": 1, "vector": [1.0, 2.0, 3.0]}]})),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(msg, DIM_ERROR);
    let msg = t
        .err(
            Method::POST,
            "/collections/c/points/query",
            Some(json!({"query": [1.0, 2.0, 3.0]})),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(msg, DIM_ERROR);
    let msg = t
        .err(
            Method::POST,
            "/collections/c/points/search",
            Some(json!({"vector": [1.0, 2.0, 3.0], "limit": 3})),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(msg, DIM_ERROR);
    assert_unchanged(&t, &before).await;
}

#[tokio::test]
async fn zero_limits_are_422() {
    let (t, before) = seeded().await;
    for (path, body) in [
        ("/collections/c/points/scroll", json!({"limit": 0})),
        ("/collections/c/points/query", json!({"query": [1.0, 0.0, 0.0, 0.0], "limit": 0})),
        ("/collections/c/points/search", json!({"vector": [1.0, 0.0, 0.0, 0.0], "limit": 0})),
    ] {
        let msg = t.err(Method::POST, path, Some(body), StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(msg.starts_with("Validation error in JSON body"), "{path}: {msg}");
    }
    assert_unchanged(&t, &before).await;
}

#[tokio::test]
async fn invalid_collection_parameters_are_422() {
    let t = TestNode::new();
    for body in [
        json!({"vectors": {"size": 4, "distance": "Dot"}, "shard_number": 0}),
        json!({"vectors": {"size": 4, "distance": "Dot"}, "replication_factor": 0}),
        json!({"vectors": {"size": 4, "distance": "Dot"}, "write_consistency_factor": 0}),
        json!({"vectors": {"size": 0, "distance": "Dot"}}),
    ] {
        let msg = t.err(Method::PUT, "/collections/c", Some(body.clone()), StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(msg.starts_with("Validation error in "), "{body}: {msg}");
    }
    // Forbidden characters in a new collection's name.
    for name in ["a*b", "a%3Cb", "a:b", "a%7Cb"] {
        let (status, reply) = t
            .call(
                Method::PUT,
                &format!("/collections/{name}"),
                Some(json!({"vectors": {"size": 4, "distance": "Dot"}})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {reply}");
        error_message(&reply);
    }
    assert_eq!(t.ok(Method::GET, "/collections", None).await, json!({"collections": []}));
}

#[tokio::test]
async fn bad_query_parameters_are_400() {
    let (t, before) = seeded().await;
    let msg = t
        .err(
            Method::PUT,
            "/collections/c/points?wait=maybe",
            Some(json!({"points": [{"id": 99, "vector": [1.0, 1.0, 1.0, 1.0]}]})),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert!(msg.starts_with("Deserialize error in query parameters"), "{msg}");
    assert_unchanged(&t, &before).await;
}

#[tokio::test]
async fn unknown_vector_name_is_400() {
    let (t, before) = seeded().await;
    let msg = t
        .err(
            Method::POST,
            "/collections/c/points/query",
            Some(json!({"query": [1.0, 0.0, 0.0, 0.0], "using": "nope"})),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert!(msg.starts_with("Wrong input: "), "{msg}");
    let msg = t
        .err(
            Method::PUT,
            "/collections/c/points?wait=true",
            Some(json!({"points": [{"id": 77, "vector": {"nope": [1.0, 0.0, 0.0, 0.0]}}]})),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert!(msg.starts_with("Wrong input: "), "{msg}");
    assert_unchanged(&t, &before).await;
}

#[tokio::test]
async fn unknown_route_is_404_envelope() {
    let t = TestNode::new();
    for (method, path) in [
        (Method::GET, "/no/such/thing"),
        (Method::POST, "/collections/c/points/scroll/extra"),
        (Method::DELETE, "/collections/c/points/1/2"),
        (Method::GET, "/collectionz"),
    ] {
        let (status, reply) = t.call(method.clone(), path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {reply}");
        let msg = error_message(&reply);
        assert!(msg.starts_with("Not found"), "{msg}");
    }
}

#[tokio::test]
async fn cluster_ops_in_standalone_mode() {
    let (t, before) = seeded().await;
    let msg = t
        .err(
            Method::POST,
            "/collections/c/cluster",
            Some(json!({"move_shard": {"shard_id": 0, "from_peer_id": 1, "to_peer_id": 2}})),
            StatusCode::METHOD_NOT_ALLOWED,
        )
        .await;
    assert_eq!(msg, "Qdrant is running in standalone mode");
    let msg = t.err(Method::DELETE, "/cluster/peer/5", None, StatusCode::METHOD_NOT_ALLOWED).await;
    assert_eq!(msg, "Qdrant is running in standalone mode");
    // GET on the same path still works.
    let info = t.ok(Method::GET, "/collections/c/cluster", None).await;
    assert_eq!(info["shard_count"], 2);
    let cluster = t.ok(Method::GET, "/cluster", None).await;
    assert_eq!(cluster, json!({"status": "disabled"}));
    assert_unchanged(&t, &before).await;
}

#[tokio::test]
async fn selector_with_neither_ids_nor_filter_is_rejected() {
    let (t, before) = seeded().await;
    let (status, reply) = t.call(Method::POST, "/collections/c/points/delete?wait=true", Some(json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    error_message(&reply);
    assert_unchanged(&t, &before).await;
}
