//! Shard snapshot endpoints (spec §7.2), sharing the helpers of `routes_snapshots`.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{JsonBody, Params, Started};
use crate::response::ok;
use crate::routes_snapshots::{RecoverBody, UploadParams, WaitParams, recover_upload, run, stream_file};
use axum::Router;
use axum::extract::{Multipart, Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post, put};
use quiver_node::{SnapshotPriority, SnapshotSource};
use quiver_types::ShardId;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/collections/{name}/shards/{shard_id}/snapshots", post(create).get(list))
        .route("/collections/{name}/shards/{shard_id}/snapshots/recover", put(recover))
        .route("/collections/{name}/shards/{shard_id}/snapshots/{snapshot}", get(download).delete(remove))
        .route("/collections/{name}/shards/{shard_id}/snapshot", get(stream))
}

pub fn upload_routes() -> Router<AppState> {
    Router::new().route("/collections/{name}/shards/{shard_id}/snapshots/upload", post(upload))
}

async fn create(
    State(state): State<AppState>,
    Path((name, shard_id)): Path<(String, ShardId)>,
    Params(p): Params<WaitParams>,
    started: Started,
) -> Result<Response, ApiError> {
    let node = state.node;
    run(started, p.wait, async move { node.create_shard_snapshot(&name, shard_id).await }).await
}

async fn list(
    State(state): State<AppState>,
    Path((name, shard_id)): Path<(String, ShardId)>,
    started: Started,
) -> Result<Response, ApiError> {
    Ok(ok(started.0, state.node.list_shard_snapshots(&name, shard_id).await?))
}

async fn download(
    State(state): State<AppState>,
    Path((name, shard_id, snapshot)): Path<(String, ShardId, String)>,
) -> Response {
    stream_file(state.node.shard_snapshot_path(&name, shard_id, &snapshot)).await
}

async fn remove(
    State(state): State<AppState>,
    Path((name, shard_id, snapshot)): Path<(String, ShardId, String)>,
    Params(p): Params<WaitParams>,
    started: Started,
) -> Result<Response, ApiError> {
    let node = state.node;
    run(started, p.wait, async move { node.delete_shard_snapshot(&name, shard_id, &snapshot).await }).await
}

async fn stream(State(state): State<AppState>, Path((name, shard_id)): Path<(String, ShardId)>) -> Response {
    match state.node.stream_shard_snapshot(&name, shard_id).await {
        // The file is opened before the staging directory (and the file) is removed.
        Ok((staging, path)) => {
            let response = stream_file(Ok(path)).await;
            drop(staging);
            response
        }
        Err(e) => stream_file(Err(e)).await,
    }
}

async fn recover(
    State(state): State<AppState>,
    Path((name, shard_id)): Path<(String, ShardId)>,
    Params(p): Params<WaitParams>,
    started: Started,
    JsonBody(body): JsonBody<RecoverBody>,
) -> Result<Response, ApiError> {
    let node = state.node;
    let source = SnapshotSource::Location { location: body.location, api_key: body.api_key };
    let priority = body.priority.map(SnapshotPriority::from).unwrap_or_default();
    run(
        started,
        p.wait,
        async move { node.recover_shard_snapshot(&name, shard_id, source, priority, body.checksum).await },
    )
    .await
}

async fn upload(
    State(state): State<AppState>,
    Path((name, shard_id)): Path<(String, ShardId)>,
    Params(p): Params<UploadParams>,
    started: Started,
    headers: HeaderMap,
    multipart: Multipart,
) -> Result<Response, ApiError> {
    recover_upload(state, started, p, headers, multipart, move |node, source, priority, checksum| async move {
        node.recover_shard_snapshot(&name, shard_id, source, priority, checksum).await
    })
    .await
}
