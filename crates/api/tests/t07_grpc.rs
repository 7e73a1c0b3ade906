//! The gRPC API driven by the official Rust `qdrant-client`, as a user would, against a node
//! served in-process on a free port; plus parity with the REST answers of the same node.

mod common;

use axum::http::{Method, StatusCode};
use common::TestNode;
use qdrant_client::qdrant::{
    ClearPayloadPointsBuilder, Condition, CountPointsBuilder, CreateCollectionBuilder,
    CreateFieldIndexCollectionBuilder, DeletePayloadPointsBuilder, DeletePointsBuilder, Distance, FieldType, Filter,
    GetPointsBuilder, PointId, PointStruct, PointsIdsList, QueryPointsBuilder, Range, RecommendPointsBuilder,
    ScrollPointsBuilder, SearchPointsBuilder, SetPayloadPointsBuilder, UpsertPointsBuilder, Value, VectorParamsBuilder,
};
use qdrant_client::{Payload, Qdrant, QdrantError};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

/// A node with REST (in-process router) and gRPC (real socket) over the same storage.
struct Harness {
    rest: TestNode,
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Harness {
    async fn start() -> Harness {
        let rest = TestNode::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let metrics = Arc::new(quiver_api::metrics::Metrics::default());
        let state = quiver_api::grpc::GrpcState { node: Arc::clone(rest.node()), version: "1.19.0", metrics };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(quiver_api::grpc::serve(state, listener, 32 * 1024 * 1024, async move {
            let _ = rx.await;
        }));
        Harness { rest, url, stop: Some(tx) }
    }

    fn client(&self) -> Qdrant {
        Qdrant::from_url(&self.url).build().expect("client")
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

fn code(e: QdrantError) -> (tonic::Code, String) {
    let QdrantError::ResponseError { status } = e else { panic!("expected a gRPC status, got {e:?}") };
    (status.code(), status.message().to_string())
}

fn payload(city: &str, n: i64) -> Payload {
    Payload::from(HashMap::from([("city", Value::from(city)), ("n", Value::from(n))]))
}

fn points() -> Vec<PointStruct> {
    vec![
        PointStruct::new(1, vec![0.05, 0.61, 0.76, 0.74], payload("Berlin", 1)),
        PointStruct::new(2, vec![0.19, 0.81, 0.75, 0.11], payload("London", 2)),
        PointStruct::new(3, vec![0.36, 0.55, 0.47, 0.94], payload("Moscow", 3)),
        PointStruct::new(4, vec![0.18, 0.01, 0.85, 0.80], payload("Berlin", 4)),
        PointStruct::new(5, vec![0.24, 0.18, 0.22, 0.44], payload("London", 5)),
    ]
}

fn num(id: &Option<PointId>) -> u64 {
    use qdrant_client::qdrant::point_id::PointIdOptions;
    match id.as_ref().and_then(|i| i.point_id_options.clone()) {
        Some(PointIdOptions::Num(n)) => n,
        other => panic!("unexpected id {other:?}"),
    }
}

async fn seeded(h: &Harness, name: &str) -> Qdrant {
    let client = h.client();
    client
        .create_collection(
            CreateCollectionBuilder::new(name).vectors_config(VectorParamsBuilder::new(4, Distance::Dot)),
        )
        .await
        .expect("create");
    client.upsert_points(UpsertPointsBuilder::new(name, points()).wait(true)).await.expect("upsert");
    client
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_snippet_creates_six_shards_replicated_twice() {
    let h = Harness::start().await;
    let collection_name = "seed";
    // The seed's Rust snippet, verbatim but for the address of the test server.
    let client = Qdrant::from_url(&h.url).build().expect("client");
    client
        .create_collection(
            CreateCollectionBuilder::new(collection_name)
                .vectors_config(VectorParamsBuilder::new(300, Distance::Cosine))
                .shard_number(6)
                .replication_factor(2),
        )
        .await
        .expect("create");
    let info = client.collection_info(collection_name).await.expect("info").result.expect("result");
    let params = info.config.expect("config").params.expect("params");
    assert_eq!(params.shard_number, 6);
    assert_eq!(params.replication_factor, Some(2));
    let cluster = client.collection_cluster_info(collection_name).await.expect("cluster info");
    assert_eq!(cluster.shard_count, 6);
    assert_eq!(cluster.local_shards.len(), 6);
    let (c, m) = code(client.create_collection(CreateCollectionBuilder::new(collection_name)).await.unwrap_err());
    assert_eq!(c, tonic::Code::AlreadyExists);
    assert_eq!(m, "Wrong input: Collection `seed` already exists!");
}

#[tokio::test(flavor = "multi_thread")]
async fn health_collections_and_aliases() {
    let h = Harness::start().await;
    let client = seeded(&h, "c").await;
    let health = client.health_check().await.expect("health");
    assert_eq!(health.title, "qdrant - vector search engine");
    assert_eq!(health.version, "1.19.0");
    let names: Vec<String> =
        client.list_collections().await.expect("list").collections.into_iter().map(|c| c.name).collect();
    assert_eq!(names, vec!["c".to_string()]);
    assert!(client.collection_exists("c").await.expect("exists"));
    assert!(!client.collection_exists("nope").await.expect("exists"));
    client.create_alias(qdrant_client::qdrant::CreateAliasBuilder::new("c", "a")).await.expect("alias");
    let aliases = client.list_collection_aliases("c").await.expect("aliases").aliases;
    assert_eq!(aliases.len(), 1);
    assert_eq!(aliases[0].alias_name, "a");
    let count = client.count(CountPointsBuilder::new("a").exact(true)).await.expect("count via alias");
    assert_eq!(count.result.expect("count").count, 5);
    let (c, m) = code(client.collection_info("nope").await.unwrap_err());
    assert_eq!((c, m.as_str()), (tonic::Code::NotFound, "Not found: Collection `nope` doesn't exist!"));
    assert!(client.delete_collection("c").await.expect("delete").result);
    assert!(!client.collection_exists("c").await.expect("exists"));
}

#[tokio::test(flavor = "multi_thread")]
async fn points_read_with_filters() {
    let h = Harness::start().await;
    let client = seeded(&h, "p").await;
    let got = client
        .get_points(GetPointsBuilder::new("p", vec![PointId::from(1), PointId::from(9)]).with_vectors(true))
        .await
        .expect("get")
        .result;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload.get("city"), Some(&Value::from("Berlin")));
    assert!(got[0].vectors.is_some());
    let berlin = Filter::must([Condition::matches("city", "Berlin".to_string())]);
    let page = client.scroll(ScrollPointsBuilder::new("p").filter(berlin.clone()).limit(1)).await.expect("scroll");
    assert_eq!(page.result.len(), 1);
    assert_eq!(num(&page.next_page_offset), 4);
    let count = client.count(CountPointsBuilder::new("p").filter(berlin.clone())).await.expect("count");
    assert_eq!(count.result.expect("count").count, 2);
    let search = client
        .search_points(
            SearchPointsBuilder::new("p", vec![0.2, 0.1, 0.9, 0.7], 3).filter(berlin.clone()).with_payload(true),
        )
        .await
        .expect("search")
        .result;
    assert_eq!(search.iter().map(|p| num(&p.id)).collect::<Vec<_>>(), vec![4, 1]);
    let range = Filter::must([Condition::range("n", Range { gte: Some(2.0), ..Default::default() })]);
    let query = client
        .query(QueryPointsBuilder::new("p").query(vec![0.2, 0.1, 0.9, 0.7]).filter(range).limit(2))
        .await
        .expect("query")
        .result;
    assert_eq!(query.iter().map(|p| num(&p.id)).collect::<Vec<_>>(), vec![4, 3]);
    let recommend = client
        .recommend(RecommendPointsBuilder::new("p", 2).add_positive(PointId::from(4)))
        .await
        .expect("recommend")
        .result;
    assert_eq!(recommend.len(), 2);
    assert!(recommend.iter().all(|p| num(&p.id) != 4));
    let (c, m) = code(client.search_points(SearchPointsBuilder::new("p", vec![1.0, 2.0], 3)).await.unwrap_err());
    assert_eq!(c, tonic::Code::InvalidArgument, "{m}");
}

#[tokio::test(flavor = "multi_thread")]
async fn payload_operations_and_delete() {
    let h = Harness::start().await;
    let client = seeded(&h, "w").await;
    let ids = PointsIdsList { ids: vec![PointId::from(1), PointId::from(2)] };
    let extra = Payload::from(HashMap::from([("color", Value::from("red"))]));
    client
        .set_payload(SetPayloadPointsBuilder::new("w", extra).points_selector(ids.clone()).wait(true))
        .await
        .expect("set payload");
    client
        .delete_payload(DeletePayloadPointsBuilder::new("w", vec!["n".to_string()]).points_selector(ids).wait(true))
        .await
        .expect("delete payload");
    let got = client.get_points(GetPointsBuilder::new("w", vec![PointId::from(1)])).await.expect("get").result;
    assert_eq!(got[0].payload.get("color"), Some(&Value::from("red")));
    assert_eq!(got[0].payload.get("n"), None);
    client
        .clear_payload(
            ClearPayloadPointsBuilder::new("w").points(PointsIdsList { ids: vec![PointId::from(2)] }).wait(true),
        )
        .await
        .expect("clear payload");
    let got = client.get_points(GetPointsBuilder::new("w", vec![PointId::from(2)])).await.expect("get").result;
    assert!(got[0].payload.is_empty());
    client
        .create_field_index(CreateFieldIndexCollectionBuilder::new("w", "city", FieldType::Keyword).wait(true))
        .await
        .expect("index");
    let info = client.collection_info("w").await.expect("info").result.expect("result");
    assert!(info.payload_schema.contains_key("city"));
    let london = Filter::must([Condition::matches("city", "London".to_string())]);
    client.delete_points(DeletePointsBuilder::new("w").points(london).wait(true)).await.expect("delete");
    let count = client.count(CountPointsBuilder::new("w")).await.expect("count").result.expect("count").count;
    assert_eq!(count, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn collection_snapshots_over_grpc() {
    let h = Harness::start().await;
    let client = seeded(&h, "s").await;
    let created = client.create_snapshot("s").await.expect("create").snapshot_description.expect("description");
    assert!(created.name.starts_with("s-"), "{}", created.name);
    assert!(created.size > 0 && created.checksum.as_ref().is_some_and(|c| c.len() == 64));
    assert!(created.creation_time.is_some());
    let listed = client.list_snapshots("s").await.expect("list").snapshot_descriptions;
    assert_eq!(listed.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), [created.name.as_str()]);
    client
        .delete_snapshot(qdrant_client::qdrant::DeleteSnapshotRequestBuilder::new("s", &created.name))
        .await
        .expect("delete");
    assert!(client.list_snapshots("s").await.expect("list").snapshot_descriptions.is_empty());
    let (c, _) = code(
        client
            .delete_snapshot(qdrant_client::qdrant::DeleteSnapshotRequestBuilder::new("s", &created.name))
            .await
            .unwrap_err(),
    );
    assert_eq!(c, tonic::Code::NotFound);
    let (c, _) = code(client.create_snapshot("missing").await.unwrap_err());
    assert_eq!(c, tonic::Code::NotFound);
}

#[tokio::test(flavor = "multi_thread")]
async fn named_vectors_and_facets_are_served() {
    use qdrant_client::qdrant::create_vector_name_request::VectorConfig;
    use qdrant_client::qdrant::{DeleteVectorNameRequestBuilder, DenseVectorCreationConfig};
    let h = Harness::start().await;
    let client = seeded(&h, "u").await;
    let (c, m) = code(client.delete_vector_name(DeleteVectorNameRequestBuilder::new("u", "image")).await.unwrap_err());
    assert_eq!(c, tonic::Code::InvalidArgument);
    assert!(m.contains("Not existing vector name error: image"), "{m}");
    let dense = DenseVectorCreationConfig { size: 3, distance: Distance::Euclid.into(), ..Default::default() };
    let create = qdrant_client::qdrant::CreateVectorNameRequest {
        collection_name: "u".into(),
        vector_name: "image".into(),
        wait: Some(true),
        vector_config: Some(VectorConfig::DenseConfig(dense)),
        ..Default::default()
    };
    client.create_vector_name(create.clone()).await.expect("create vector name");
    let info = h.rest.ok(Method::GET, "/collections/u", None).await;
    assert_eq!(info["config"]["params"]["vectors"]["image"], json!({"size": 3, "distance": "Euclid"}));
    let (c, m) = code(client.create_vector_name(create).await.unwrap_err());
    assert_eq!(c, tonic::Code::InvalidArgument);
    assert!(m.contains("Vector with name `image` already exists"), "{m}");
    client.delete_vector_name(DeleteVectorNameRequestBuilder::new("u", "image").wait(true)).await.expect("delete");
    let info = h.rest.ok(Method::GET, "/collections/u", None).await;
    assert_eq!(info["config"]["params"]["vectors"], json!({"size": 4, "distance": "Dot"}));
    // Facets are served, and need an index on the key as in Qdrant.
    let (c, m) = code(client.facet(qdrant_client::qdrant::FacetCountsBuilder::new("u", "city")).await.unwrap_err());
    assert_eq!(c, tonic::Code::InvalidArgument);
    assert!(m.contains("Index required but not found for \"city\""), "{m}");
}

#[tokio::test(flavor = "multi_thread")]
async fn rest_and_grpc_agree() {
    let h = Harness::start().await;
    let client = seeded(&h, "par").await;
    let body = json!({"query": [0.2, 0.1, 0.9, 0.7], "limit": 4, "with_payload": true,
                      "filter": {"must_not": [{"key": "city", "match": {"value": "Moscow"}}]}});
    let rest = h.rest.ok(Method::POST, "/collections/par/points/query", Some(body)).await;
    let filter = Filter::must_not([Condition::matches("city", "Moscow".to_string())]);
    let grpc = client
        .query(
            QueryPointsBuilder::new("par").query(vec![0.2, 0.1, 0.9, 0.7]).limit(4).filter(filter).with_payload(true),
        )
        .await
        .expect("query")
        .result;
    let rest_points = rest["points"].as_array().expect("points").clone();
    assert_eq!(rest_points.len(), grpc.len());
    for (r, g) in rest_points.iter().zip(&grpc) {
        assert_eq!(r["id"].as_u64(), Some(num(&g.id)));
        assert!((r["score"].as_f64().expect("score") as f32 - g.score).abs() < 1e-6);
        assert_eq!(r["payload"]["city"].as_str(), g.payload.get("city").and_then(|v| v.as_str()).map(|s| s.as_str()));
    }
    let message = h
        .rest
        .err(
            Method::POST,
            "/collections/par/points/query",
            Some(json!({"query": [1.0], "limit": 0})),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    let (c, m) = code(client.query(QueryPointsBuilder::new("par").query(vec![1.0]).limit(0)).await.unwrap_err());
    // Qdrant's REST body holds the fields in a flattened `internal` its validation paths name;
    // the gRPC message holds them directly, and its edge says `in body` (REST: `in JSON body`).
    assert_eq!(message, "Validation error in JSON body: [internal.limit: value 0 invalid, must be 1 or larger]");
    let grpc = message.replace("[internal.", "[").replace("Validation error in JSON body", "Validation error in body");
    assert_eq!((c, m), (tonic::Code::InvalidArgument, grpc));
}

#[tokio::test(flavor = "multi_thread")]
async fn gzip_compressed_calls() {
    let h = Harness::start().await;
    let client = Qdrant::from_url(&h.url)
        .compression(Some(qdrant_client::config::CompressionEncoding::Gzip))
        .build()
        .expect("client");
    client
        .create_collection(CreateCollectionBuilder::new("z").vectors_config(VectorParamsBuilder::new(4, Distance::Dot)))
        .await
        .expect("create");
    client.upsert_points(UpsertPointsBuilder::new("z", points()).wait(true)).await.expect("upsert");
    let found =
        client.query(QueryPointsBuilder::new("z").query(vec![0.0, 0.0, 1.0, 0.0]).limit(1)).await.expect("query");
    assert_eq!(num(&found.result[0].id), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn reflection_lists_the_services() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let h = Harness::start().await;
    let channel = tonic::transport::Channel::from_shared(h.url.clone()).expect("url").connect().await.expect("connect");
    let mut client = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies =
        client.server_reflection_info(futures::stream::iter([request])).await.expect("reflect").into_inner();
    let reply = replies.message().await.expect("reply").expect("one reply");
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
        panic!("unexpected reply {reply:?}")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in
        ["qdrant.Qdrant", "qdrant.Collections", "qdrant.Points", "qdrant.Snapshots", "grpc.health.v1.Health"]
    {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
}
