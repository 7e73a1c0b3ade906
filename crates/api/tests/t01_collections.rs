//! Collections: create / get / list / exists / patch / delete, named & sparse vectors,
//! multi-shard placement, aliases.

mod common;

use axum::http::{Method, StatusCode};
use common::{TestNode, grid_points};
use serde_json::json;

#[tokio::test]
async fn create_get_list_exists_delete() {
    let t = TestNode::new();
    t.create("c", json!({"vectors": {"size": 4, "distance": "Cosine"}, "replication_factor": 1})).await;

    let info = t.ok(Method::GET, "/collections/c", None).await;
    assert_eq!(info["status"], "green");
    assert_eq!(info["optimizer_status"], "ok");
    assert_eq!(info["points_count"], 0);
    let params = &info["config"]["params"];
    assert_eq!(params["vectors"], json!({"size": 4, "distance": "Cosine"}));
    assert_eq!(params["shard_number"], 1);
    assert_eq!(params["replication_factor"], 1);
    assert_eq!(params["write_consistency_factor"], 1);
    assert!(info["config"]["optimizer_config"].is_object(), "{info}");
    assert!(info["config"]["hnsw_config"].is_object(), "{info}");
    assert!(info["payload_schema"].is_object(), "{info}");

    let list = t.ok(Method::GET, "/collections", None).await;
    assert_eq!(list, json!({"collections": [{"name": "c"}]}));

    let exists = t.ok(Method::GET, "/collections/c/exists", None).await;
    assert_eq!(exists, json!({"exists": true}));
    let exists = t.ok(Method::GET, "/collections/nope/exists", None).await;
    assert_eq!(exists, json!({"exists": false}));

    assert_eq!(t.ok(Method::DELETE, "/collections/c", None).await, json!(true));
    assert_eq!(t.ok(Method::DELETE, "/collections/c", None).await, json!(false));
    let list = t.ok(Method::GET, "/collections", None).await;
    assert_eq!(list, json!({"collections": []}));
    let exists = t.ok(Method::GET, "/collections/c/exists", None).await;
    assert_eq!(exists, json!({"exists": false}));
}

#[tokio::test]
async fn delete_unknown_collection_is_false() {
    let t = TestNode::new();
    let result = t.ok(Method::DELETE, "/collections/never", None).await;
    assert_eq!(result, json!(false));
}

#[tokio::test]
async fn duplicate_create_is_409() {
    let t = TestNode::new();
    let body = json!({"vectors": {"size": 4, "distance": "Dot"}});
    t.create("x", body.clone()).await;
    let msg = t.err(Method::PUT, "/collections/x", Some(body), StatusCode::CONFLICT).await;
    assert_eq!(msg, "Wrong input: Collection `x` already exists!");
}

#[tokio::test]
async fn unknown_collection_is_404() {
    let t = TestNode::new();
    let msg = t.err(Method::GET, "/collections/x", None, StatusCode::NOT_FOUND).await;
    assert_eq!(msg, "Not found: Collection `x` doesn't exist!");
    let msg = t
        .err(
            Method::PUT,
            "/collections/x/points?wait=true",
            Some(json!({"points": [{"id": 1, "vector": [1.0, 2.0]}]})),
            StatusCode::NOT_FOUND,
        )
        .await;
    assert_eq!(msg, "Not found: Collection `x` doesn't exist!");
    let msg = t.err(Method::POST, "/collections/x/points/scroll", Some(json!({})), StatusCode::NOT_FOUND).await;
    assert_eq!(msg, "Not found: Collection `x` doesn't exist!");
    let msg = t
        .err(
            Method::PATCH,
            "/collections/x",
            Some(json!({"optimizers_config": {"indexing_threshold": 0}})),
            StatusCode::NOT_FOUND,
        )
        .await;
    assert_eq!(msg, "Not found: Collection `x` doesn't exist!");
}

#[tokio::test]
async fn patch_collection_updates_config() {
    let t = TestNode::new();
    t.create("c", json!({"vectors": {"size": 4, "distance": "Euclid"}, "metadata": {"a": 1, "b": 2}})).await;
    let patch = json!({
        "optimizers_config": {"indexing_threshold": 0},
        "params": {"replication_factor": 2, "write_consistency_factor": 2},
        "hnsw_config": {"m": 32},
        "vectors": {"": {"on_disk": true}},
        "metadata": {"b": null, "c": "x"},
    });
    assert_eq!(t.ok(Method::PATCH, "/collections/c", Some(patch)).await, json!(true));
    let info = t.ok(Method::GET, "/collections/c", None).await;
    let config = &info["config"];
    assert_eq!(config["optimizer_config"]["indexing_threshold"], 0);
    assert_eq!(config["params"]["replication_factor"], 2);
    assert_eq!(config["params"]["write_consistency_factor"], 2);
    assert_eq!(config["hnsw_config"]["m"], 32);
    assert_eq!(config["params"]["vectors"]["size"], 4);
    assert_eq!(config["params"]["vectors"]["on_disk"], true);
    assert_eq!(config["metadata"], json!({"a": 1, "c": "x"}));
}

#[tokio::test]
async fn named_vectors_including_empty_name() {
    let t = TestNode::new();
    t.create(
        "nv",
        json!({"vectors": {
            "": {"size": 2, "distance": "Dot"},
            "image": {"size": 3, "distance": "Euclid"},
        }}),
    )
    .await;
    let info = t.ok(Method::GET, "/collections/nv", None).await;
    assert_eq!(
        info["config"]["params"]["vectors"],
        json!({"": {"size": 2, "distance": "Dot"}, "image": {"size": 3, "distance": "Euclid"}})
    );
    t.upsert(
        "nv",
        json!([
            {"id": 1, "vector": {"": [1.0, 0.0], "image": [0.0, 0.0, 1.0]}},
            {"id": 2, "vector": {"": [0.0, 1.0], "image": [5.0, 5.0, 5.0]}},
        ]),
    )
    .await;
    let p = t.ok(Method::GET, "/collections/nv/points/1", None).await;
    assert_eq!(p["vector"], json!({"": [1.0, 0.0], "image": [0.0, 0.0, 1.0]}));
    // Query the unnamed vector (no `using`) and the named one.
    let r = t.ok(Method::POST, "/collections/nv/points/query", Some(json!({"query": [0.0, 2.0], "limit": 1}))).await;
    assert_eq!(r["points"][0]["id"], 2);
    let r = t
        .ok(
            Method::POST,
            "/collections/nv/points/query",
            Some(json!({"query": [0.0, 0.0, 0.0], "using": "image", "limit": 1})),
        )
        .await;
    assert_eq!(r["points"][0]["id"], 1);
}

#[tokio::test]
async fn sparse_vector_collection() {
    let t = TestNode::new();
    t.create(
        "sp",
        json!({
            "vectors": {"dense": {"size": 2, "distance": "Cosine"}},
            "sparse_vectors": {"text": {}},
        }),
    )
    .await;
    let info = t.ok(Method::GET, "/collections/sp", None).await;
    let params = &info["config"]["params"];
    assert!(params["sparse_vectors"]["text"].is_object(), "{info}");
    assert_eq!(params["vectors"]["dense"]["size"], 2);

    // A sparse vector named "" is refused; so is a name clash with a dense vector.
    let msg = t
        .err(Method::PUT, "/collections/bad1", Some(json!({"sparse_vectors": {"": {}}})), StatusCode::BAD_REQUEST)
        .await;
    assert!(msg.starts_with("Wrong input: "), "{msg}");
    let msg = t
        .err(
            Method::PUT,
            "/collections/bad2",
            Some(json!({
                "vectors": {"a": {"size": 2, "distance": "Dot"}},
                "sparse_vectors": {"a": {}},
            })),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert!(msg.starts_with("Wrong input: "), "{msg}");
    assert_eq!(t.ok(Method::GET, "/collections/bad1/exists", None).await, json!({"exists": false}));
}

#[tokio::test]
async fn sparse_only_collection_without_dense_vectors() {
    let t = TestNode::new();
    t.create("so", json!({"sparse_vectors": {"s": {}}})).await;
    t.upsert("so", json!([{"id": 1, "vector": {"s": {"indices": [1, 5], "values": [0.5, 2.0]}}}])).await;
    let p = t.ok(Method::GET, "/collections/so/points/1", None).await;
    assert_eq!(p["vector"], json!({"s": {"indices": [1, 5], "values": [0.5, 2.0]}}));
}

#[tokio::test]
async fn four_shards_spread_points() {
    let t = TestNode::new();
    t.create("s4", json!({"vectors": {"size": 4, "distance": "Dot"}, "shard_number": 4})).await;
    t.upsert("s4", grid_points(100)).await;
    let info = t.ok(Method::GET, "/collections/s4", None).await;
    assert_eq!(info["config"]["params"]["shard_number"], 4);
    assert_eq!(info["points_count"], 100);

    let cluster = t.ok(Method::GET, "/collections/s4/cluster", None).await;
    assert!(cluster["peer_id"].is_u64(), "{cluster}");
    assert_eq!(cluster["shard_count"], 4);
    assert_eq!(cluster["remote_shards"], json!([]));
    assert_eq!(cluster["shard_transfers"], json!([]));
    assert!(cluster.get("resharding_operations").is_none(), "{cluster}");
    let local = cluster["local_shards"].as_array().expect("local_shards");
    assert_eq!(local.len(), 4);
    let shard_ids: Vec<u64> = local.iter().map(|s| s["shard_id"].as_u64().unwrap()).collect();
    assert_eq!(shard_ids, [0, 1, 2, 3]);
    for s in local {
        assert_eq!(s["state"], "Active", "{cluster}");
    }
    let counts: Vec<u64> = local.iter().map(|s| s["points_count"].as_u64().unwrap()).collect();
    assert_eq!(counts.iter().sum::<u64>(), 100, "{counts:?}");
    assert!(counts.iter().filter(|c| **c > 0).count() >= 3, "points are not spread: {counts:?}");
    assert_eq!(t.count("s4", None).await, 100);
}

#[tokio::test]
async fn aliases_create_rename_delete_list_and_use() {
    let t = TestNode::new();
    t.create("c1", json!({"vectors": {"size": 4, "distance": "Dot"}})).await;
    t.create("c2", json!({"vectors": {"size": 4, "distance": "Dot"}})).await;
    let r = t
        .ok(
            Method::POST,
            "/collections/aliases",
            Some(json!({"actions": [
                {"create_alias": {"collection_name": "c1", "alias_name": "a1"}},
                {"create_alias": {"collection_name": "c2", "alias_name": "b2"}},
            ]})),
        )
        .await;
    assert_eq!(r, json!(true));
    let all = t.ok(Method::GET, "/aliases", None).await;
    let mut aliases = all["aliases"].as_array().unwrap().clone();
    aliases.sort_by_key(|a| a["alias_name"].as_str().unwrap().to_string());
    assert_eq!(
        aliases,
        vec![
            json!({"alias_name": "a1", "collection_name": "c1"}),
            json!({"alias_name": "b2", "collection_name": "c2"}),
        ]
    );
    let of_c1 = t.ok(Method::GET, "/collections/c1/aliases", None).await;
    assert_eq!(of_c1, json!({"aliases": [{"alias_name": "a1", "collection_name": "c1"}]}));

    // Point ops through the alias land in c1.
    t.upsert("a1", json!([{"id": 7, "vector": [1.0, 2.0, 3.0, 4.0], "payload": {"k": "v"}}])).await;
    let p = t.ok(Method::GET, "/collections/c1/points/7", None).await;
    assert_eq!(p["payload"], json!({"k": "v"}));
    let p = t.ok(Method::GET, "/collections/a1/points/7", None).await;
    assert_eq!(p["id"], 7);
    assert_eq!(t.count("c2", None).await, 0);
    assert_eq!(t.ok(Method::GET, "/collections/a1/exists", None).await, json!({"exists": true}));

    // Rename, then the old name is gone.
    let r = t
        .ok(
            Method::POST,
            "/collections/aliases",
            Some(json!({"actions": [
                {"rename_alias": {"old_alias_name": "a1", "new_alias_name": "a2"}},
            ]})),
        )
        .await;
    assert_eq!(r, json!(true));
    let msg = t.err(Method::GET, "/collections/a1/points/7", None, StatusCode::NOT_FOUND).await;
    assert!(msg.starts_with("Not found: "), "{msg}");
    let p = t.ok(Method::GET, "/collections/a2/points/7", None).await;
    assert_eq!(p["id"], 7);

    // An alias may not take a collection's name; a collection may not take an alias's name.
    let msg = t
        .err(
            Method::POST,
            "/collections/aliases",
            Some(json!({"actions": [
                {"create_alias": {"collection_name": "c1", "alias_name": "c2"}},
            ]})),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(msg, "Wrong input: Collection `c2` already exists!");
    let msg = t
        .err(
            Method::PUT,
            "/collections/a2",
            Some(json!({"vectors": {"size": 4, "distance": "Dot"}})),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert!(msg.starts_with("Wrong input: "), "{msg}");

    // Delete the alias.
    let r = t
        .ok(Method::POST, "/collections/aliases", Some(json!({"actions": [{"delete_alias": {"alias_name": "a2"}}]})))
        .await;
    assert_eq!(r, json!(true));
    let all = t.ok(Method::GET, "/aliases", None).await;
    assert_eq!(all, json!({"aliases": [{"alias_name": "b2", "collection_name": "c2"}]}));

    // Deleting a collection removes its aliases.
    assert_eq!(t.ok(Method::DELETE, "/collections/c2", None).await, json!(true));
    assert_eq!(t.ok(Method::GET, "/aliases", None).await, json!({"aliases": []}));
}

#[tokio::test]
async fn alias_actions_are_atomic() {
    let t = TestNode::new();
    t.create("c", json!({"vectors": {"size": 2, "distance": "Dot"}})).await;
    // Second action fails (unknown collection): the first must not be applied.
    let (status, _) = t
        .call(
            Method::POST,
            "/collections/aliases",
            Some(json!({"actions": [
                {"create_alias": {"collection_name": "c", "alias_name": "ok"}},
                {"create_alias": {"collection_name": "missing", "alias_name": "bad"}},
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(t.ok(Method::GET, "/aliases", None).await, json!({"aliases": []}));
}

#[tokio::test]
async fn root_and_cluster_endpoints() {
    let t = TestNode::new();
    let (status, root) = t.call(Method::GET, "/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(root["title"], "qdrant - vector search engine");
    assert!(root["version"].is_string());
    assert!(root.get("result").is_none());

    let cluster = t.ok(Method::GET, "/cluster", None).await;
    assert_eq!(cluster, json!({"status": "disabled"}));
}

#[tokio::test]
async fn patch_unknown_vector_name_is_400_and_config_unchanged() {
    let t = TestNode::new();
    t.create("c", json!({"vectors": {"size": 4, "distance": "Dot"}})).await;
    let before = t.ok(Method::GET, "/collections/c", None).await;
    let msg = t
        .err(
            Method::PATCH,
            "/collections/c",
            Some(json!({"vectors": {"nope": {"on_disk": true}}, "hnsw_config": {"m": 48}})),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert!(msg.starts_with("Wrong input: "), "{msg}");
    let after = t.ok(Method::GET, "/collections/c", None).await;
    assert_eq!(after["config"], before["config"]);
}

/// A delete moves the collection's files away before it answers, so a create of the same name
/// right after keeps its new files (the move used to run in the background and could take them).
#[tokio::test]
async fn recreate_right_after_delete_keeps_the_new_files() {
    let t = TestNode::new();
    let dir = t.dir.path().join("storage").join("collections").join("c");
    for round in 0..5 {
        t.create("c", json!({"vectors": {"size": 2, "distance": "Dot"}})).await;
        assert!(dir.exists(), "round {round}");
        t.upsert("c", json!([{"id": 1, "vector": [0.1, 0.2]}, {"id": 2, "vector": [0.3, 0.4]}])).await;
        assert_eq!(t.count("c", None).await, 2, "round {round}");
        assert_eq!(t.ok(Method::DELETE, "/collections/c", None).await, json!(true));
        assert!(!dir.exists(), "round {round}: the deleted collection's directory is still there");
    }
}
