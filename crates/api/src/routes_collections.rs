//! Collection and alias endpoints (spec §2, §4.5).

use crate::AppState;
use crate::auth_rest::{Caller, check_read};
use crate::error::ApiError;
use crate::extract::{JsonBody, OptionalJsonBody, Params, Started};
use crate::response::ok;
use crate::wire::WriteParams;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use quiver_node::AliasAction;
use quiver_types::cluster::{ClusterOperation, CreateShardingKey, DropShardingKey};
use quiver_types::config::{CreateCollection, UpdateCollection};
use quiver_types::vector_name::VectorNameConfig;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/collections", get(list))
        .route("/collections/{name}", put(create).get(info).patch(update).delete(remove))
        .route("/collections/{name}/exists", get(exists))
        .route("/collections/{name}/cluster", get(cluster_info).post(update_cluster))
        .route("/collections/aliases", post(update_aliases))
        .route("/collections/{name}/aliases", get(collection_aliases))
        .route("/aliases", get(all_aliases))
        .route("/collections/{name}/shards", put(create_shard_key).get(list_shard_keys))
        .route("/collections/{name}/shards/delete", post(delete_shard_key))
        .route("/collections/{name}/shards/{shard_id}/digest", get(shard_digest))
        .route("/collections/{name}/index", put(create_index))
        .route("/collections/{name}/index/{field}", delete(delete_index))
        .route("/collections/{name}/vectors/{vector_name}", put(create_vector).delete(delete_vector))
}

async fn list(State(state): State<AppState>, caller: Caller, started: Started) -> Response {
    let collections: Vec<_> = state
        .node
        .list_collections()
        .into_iter()
        .filter(|name| check_read(&caller, name).is_ok())
        .map(|name| serde_json::json!({"name": name}))
        .collect();
    ok(started.0, serde_json::json!({"collections": collections}))
}

/// `?timeout=` of metadata operations (seconds).
#[derive(Deserialize, Default)]
struct MetaParams {
    #[serde(default)]
    timeout: Option<u64>,
}

impl MetaParams {
    /// The `timeout` as a duration; 0 is a validation error, as in Qdrant.
    fn timeout(&self) -> Result<Option<std::time::Duration>, ApiError> {
        crate::wire::seconds(self.timeout)
    }
}

async fn create(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<MetaParams>,
    started: Started,
    OptionalJsonBody(body): OptionalJsonBody<CreateCollection>,
) -> Result<Response, ApiError> {
    let request = body.unwrap_or_default();
    Ok(ok(started.0, state.node.create_collection(&name, request, p.timeout()?).await?))
}

async fn info(State(state): State<AppState>, Path(name): Path<String>, started: Started) -> Result<Response, ApiError> {
    Ok(ok(started.0, state.node.collection_info(&name).await?))
}

async fn update(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<MetaParams>,
    started: Started,
    JsonBody(request): JsonBody<UpdateCollection>,
) -> Result<Response, ApiError> {
    Ok(ok(started.0, state.node.update_collection(&name, request, p.timeout()?).await?))
}

async fn remove(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<MetaParams>,
    started: Started,
) -> Result<Response, ApiError> {
    Ok(ok(started.0, state.node.delete_collection(&name, p.timeout()?).await?))
}

async fn exists(
    State(state): State<AppState>,
    Path(name): Path<String>,
    started: Started,
) -> Result<Response, ApiError> {
    Ok(ok(started.0, serde_json::json!({"exists": state.node.collection_exists(&name)?})))
}

async fn cluster_info(
    State(state): State<AppState>,
    Path(name): Path<String>,
    started: Started,
) -> Result<Response, ApiError> {
    Ok(ok(started.0, state.node.collection_cluster_info(&name).await?))
}

/// Spec §4.6 operations Quiver does not implement (resharding).
const UNSUPPORTED_CLUSTER_OPERATIONS: [&str; 2] = ["start_resharding", "abort_resharding"];

async fn update_cluster(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<MetaParams>,
    started: Started,
    JsonBody(body): JsonBody<serde_json::Value>,
) -> Result<Response, ApiError> {
    if let Some(op) = UNSUPPORTED_CLUSTER_OPERATIONS.iter().find(|op| body.get(**op).is_some()) {
        return Err(ApiError::bad_input(format!("Operation `{op}` is not supported by Quiver (no resharding)")));
    }
    let operation: ClusterOperation = serde_json::from_value(body).map_err(ApiError::format)?;
    Ok(ok(started.0, state.node.update_collection_cluster(&name, operation, p.timeout()?).await?))
}

/// `PUT /collections/{name}/shards` (spec §2.6).
async fn create_shard_key(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<MetaParams>,
    started: Started,
    JsonBody(body): JsonBody<CreateShardingKey>,
) -> Result<Response, ApiError> {
    Ok(ok(started.0, state.node.create_shard_key(&name, body, p.timeout()?).await?))
}

/// `POST /collections/{name}/shards/delete`.
async fn delete_shard_key(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<MetaParams>,
    started: Started,
    JsonBody(body): JsonBody<DropShardingKey>,
) -> Result<Response, ApiError> {
    Ok(ok(started.0, state.node.drop_shard_key(&name, body, p.timeout()?).await?))
}

/// `GET /collections/{name}/shards`: `{"shard_keys": [{"key": …}]}`, `{}` for auto sharding.
async fn list_shard_keys(
    State(state): State<AppState>,
    Path(name): Path<String>,
    started: Started,
) -> Result<Response, ApiError> {
    let body = match state.node.list_shard_keys(&name)? {
        Some(keys) => {
            serde_json::json!({"shard_keys": keys.iter().map(|k| serde_json::json!({"key": k})).collect::<Vec<_>>()})
        }
        None => serde_json::json!({}),
    };
    Ok(ok(started.0, body))
}

#[derive(Deserialize)]
struct AliasActions {
    actions: Vec<AliasAction>,
}

async fn update_aliases(
    State(state): State<AppState>,
    Params(p): Params<MetaParams>,
    started: Started,
    JsonBody(body): JsonBody<AliasActions>,
) -> Result<Response, ApiError> {
    Ok(ok(started.0, state.node.update_aliases(body.actions, p.timeout()?).await?))
}

async fn collection_aliases(
    State(state): State<AppState>,
    Path(name): Path<String>,
    started: Started,
) -> Result<Response, ApiError> {
    Ok(ok(started.0, serde_json::json!({"aliases": state.node.list_aliases(Some(&name))?})))
}

async fn all_aliases(State(state): State<AppState>, caller: Caller, started: Started) -> Result<Response, ApiError> {
    let mut aliases = state.node.list_aliases(None)?;
    aliases.retain(|a| check_read(&caller, &a.collection_name).is_ok());
    Ok(ok(started.0, serde_json::json!({"aliases": aliases})))
}

#[derive(Deserialize)]
struct CreateIndexWire {
    field_name: String,
    #[serde(default)]
    field_schema: Option<serde_json::Value>,
}

async fn create_index(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<WriteParams>,
    started: Started,
    JsonBody(body): JsonBody<CreateIndexWire>,
) -> Result<Response, ApiError> {
    let wait = p.wait.unwrap_or(false);
    Ok(ok(started.0, state.node.create_field_index(&name, &body.field_name, body.field_schema, wait).await?))
}

async fn delete_index(
    State(state): State<AppState>,
    Path((name, field)): Path<(String, String)>,
    Params(p): Params<WriteParams>,
    started: Started,
) -> Result<Response, ApiError> {
    let wait = p.wait.unwrap_or(false);
    Ok(ok(started.0, state.node.delete_field_index(&name, &field, wait).await?))
}

async fn create_vector(
    State(state): State<AppState>,
    Path((name, vector)): Path<(String, String)>,
    Params(p): Params<WriteParams>,
    started: Started,
    JsonBody(body): JsonBody<VectorNameConfig>,
) -> Result<Response, ApiError> {
    let (wait, timeout) = (p.wait.unwrap_or(false), crate::wire::seconds(p.timeout)?);
    Ok(ok(started.0, state.node.create_vector_name(&name, &vector, body, wait, timeout).await?))
}

async fn delete_vector(
    State(state): State<AppState>,
    Path((name, vector)): Path<(String, String)>,
    Params(p): Params<WriteParams>,
    started: Started,
) -> Result<Response, ApiError> {
    let (wait, timeout) = (p.wait.unwrap_or(false), crate::wire::seconds(p.timeout)?);
    Ok(ok(started.0, state.node.delete_vector_name(&name, &vector, wait, timeout).await?))
}

/// Internal: the content digest of this peer's replica of a shard (tests compare replicas).
async fn shard_digest(
    State(state): State<AppState>,
    Path((name, shard_id)): Path<(String, u32)>,
    started: Started,
) -> Result<Response, ApiError> {
    Ok(ok(started.0, state.node.shard_digest(&name, shard_id).await?))
}
