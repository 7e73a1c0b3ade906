//! Snapshot endpoints (spec §7): collection, shard and full-storage snapshots. Downloads stream
//! the file as `application/octet-stream` and answer errors in plain text; uploads (multipart
//! field `snapshot`) are served outside the JSON body buffer and size-checked (declared length
//! first, then while streaming to disk).

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{JsonBody, Params, Started};
use crate::response::ok;
use axum::Router;
use axum::body::Body;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use quiver_node::{Node, NodeError, SnapshotPriority, SnapshotSource};
use serde::Deserialize;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/collections/{name}/snapshots", post(create).get(list))
        .route("/collections/{name}/snapshots/recover", put(recover))
        .route("/collections/{name}/snapshots/{snapshot}", get(download).delete(remove))
        .route("/snapshots", post(create_full).get(list_full))
        .route("/snapshots/{snapshot}", get(download_full).delete(remove_full))
}

/// Routes whose bodies may exceed the JSON limit (served without the body buffer).
pub fn upload_routes() -> Router<AppState> {
    Router::new().route("/collections/{name}/snapshots/upload", post(upload))
}

/// `?wait=` (default true).
#[derive(Deserialize, Default)]
pub(crate) struct WaitParams {
    #[serde(default)]
    pub wait: Option<bool>,
}

/// `?wait=&priority=&checksum=` of uploads.
#[derive(Deserialize, Default)]
pub(crate) struct UploadParams {
    #[serde(default)]
    pub wait: Option<bool>,
    #[serde(default)]
    pub priority: Option<WirePriority>,
    #[serde(default)]
    pub checksum: Option<String>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WirePriority {
    NoSync,
    Snapshot,
    Replica,
}

impl From<WirePriority> for SnapshotPriority {
    fn from(p: WirePriority) -> Self {
        match p {
            WirePriority::NoSync => SnapshotPriority::NoSync,
            WirePriority::Snapshot => SnapshotPriority::Snapshot,
            WirePriority::Replica => SnapshotPriority::Replica,
        }
    }
}

/// `SnapshotRecover` / `ShardSnapshotRecover`.
#[derive(Deserialize)]
pub(crate) struct RecoverBody {
    pub location: String,
    #[serde(default)]
    pub priority: Option<WirePriority>,
    #[serde(default)]
    pub checksum: Option<String>,
    #[serde(default)]
    pub api_key: Option<String>,
}

/// Runs `work` now (`wait` true or absent), or in the background answering 202.
pub(crate) async fn run<T, F>(started: Started, wait: Option<bool>, work: F) -> Result<Response, ApiError>
where
    T: serde::Serialize + Send + 'static,
    F: Future<Output = Result<T, NodeError>> + Send + 'static,
{
    if wait == Some(false) {
        tokio::spawn(async move {
            if let Err(e) = work.await {
                tracing::warn!(error = %e, "background snapshot operation failed");
            }
        });
        let body = serde_json::json!({"status": "accepted", "time": started.0.elapsed().as_secs_f64()});
        return Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response());
    }
    Ok(ok(started.0, work.await?))
}

/// Streams a snapshot file; errors are plain text (spec §7).
pub(crate) async fn stream_file(path: Result<PathBuf, NodeError>) -> Response {
    let plain = |status: StatusCode, message: String| (status, message).into_response();
    let path = match path {
        Ok(path) => path,
        Err(e) => {
            let api = ApiError::from(e);
            return plain(api.status, api.message);
        }
    };
    let file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(e) => return plain(StatusCode::NOT_FOUND, format!("Not found: Snapshot: {e}")),
    };
    let size = file.metadata().await.map(|m| m.len()).ok();
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let mut response = Body::from_stream(tokio_util::io::ReaderStream::new(file)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/octet-stream"));
    if let Some(size) = size {
        headers.insert(header::CONTENT_LENGTH, size.into());
    }
    if let Ok(value) = header::HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// Stores the multipart field `snapshot` as `staging/upload.snapshot`, refusing anything over
/// `max` bytes (by the declared length before reading, then by count while writing). A refused
/// body is drained for a few seconds, so the client reads the answer instead of a reset.
pub(crate) async fn store_upload(
    headers: &HeaderMap,
    mut multipart: Multipart,
    staging: &std::path::Path,
    max: u64,
) -> Result<PathBuf, ApiError> {
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let stored = match declared.is_some_and(|len| len > max.saturating_add(64 * 1024)) {
        true => Err(too_large(max)),
        false => store_field(&mut multipart, staging, max).await,
    };
    if stored.as_ref().is_err_and(|e| e.status == StatusCode::PAYLOAD_TOO_LARGE) {
        let drain = async {
            while let Ok(Some(mut field)) = multipart.next_field().await {
                while let Ok(Some(_)) = field.chunk().await {}
            }
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), drain).await;
    }
    stored
}

fn too_large(max: u64) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("Snapshot is larger than {max} bytes"))
}

async fn store_field(multipart: &mut Multipart, staging: &std::path::Path, max: u64) -> Result<PathBuf, ApiError> {
    let bad = |e: &dyn std::fmt::Display| ApiError::bad_input(format!("Invalid multipart upload: {e}"));
    let failed = |e: std::io::Error| ApiError::from(NodeError::Service(format!("store upload: {e}")));
    while let Some(mut field) = multipart.next_field().await.map_err(|e| bad(&e))? {
        if field.name() != Some("snapshot") {
            continue;
        }
        let path = staging.join("upload.snapshot");
        let mut file = tokio::fs::File::create(&path).await.map_err(failed)?;
        let mut written = 0u64;
        while let Some(chunk) = field.chunk().await.map_err(|e| bad(&e))? {
            written += chunk.len() as u64;
            if written > max {
                return Err(too_large(max));
            }
            file.write_all(&chunk).await.map_err(failed)?;
        }
        file.sync_all().await.map_err(failed)?;
        return Ok(path);
    }
    Err(ApiError::bad_input("Multipart upload has no `snapshot` field"))
}

async fn create(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<WaitParams>,
    started: Started,
) -> Result<Response, ApiError> {
    let node = state.node;
    run(started, p.wait, async move { node.create_collection_snapshot(&name).await }).await
}

async fn list(State(state): State<AppState>, Path(name): Path<String>, started: Started) -> Result<Response, ApiError> {
    Ok(ok(started.0, state.node.list_collection_snapshots(&name).await?))
}

async fn download(State(state): State<AppState>, Path((name, snapshot)): Path<(String, String)>) -> Response {
    stream_file(state.node.collection_snapshot_path(&name, &snapshot)).await
}

async fn remove(
    State(state): State<AppState>,
    Path((name, snapshot)): Path<(String, String)>,
    Params(p): Params<WaitParams>,
    started: Started,
) -> Result<Response, ApiError> {
    let node = state.node;
    run(started, p.wait, async move { node.delete_collection_snapshot(&name, &snapshot).await }).await
}

async fn recover(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<WaitParams>,
    started: Started,
    JsonBody(body): JsonBody<RecoverBody>,
) -> Result<Response, ApiError> {
    let node = state.node;
    let source = SnapshotSource::Location { location: body.location, api_key: body.api_key };
    let priority = body.priority.map(SnapshotPriority::from).unwrap_or_default();
    run(started, p.wait, async move { node.recover_collection_snapshot(&name, source, priority, body.checksum).await })
        .await
}

async fn upload(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<UploadParams>,
    started: Started,
    headers: HeaderMap,
    multipart: Multipart,
) -> Result<Response, ApiError> {
    recover_upload(state, started, p, headers, multipart, move |node, source, priority, checksum| async move {
        node.recover_collection_snapshot(&name, source, priority, checksum).await
    })
    .await
}

/// Stores an upload (size-checked) in a staging directory, then runs `recover` on it (now or,
/// with `wait=false`, in the background); the staging directory goes when `recover` ends.
pub(crate) async fn recover_upload<F, Fut>(
    state: AppState,
    started: Started,
    p: UploadParams,
    headers: HeaderMap,
    multipart: Multipart,
    recover: F,
) -> Result<Response, ApiError>
where
    F: FnOnce(Arc<Node>, SnapshotSource, SnapshotPriority, Option<String>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<bool, NodeError>> + Send + 'static,
{
    let node = state.node;
    let staging = node.snapshot_staging()?;
    let path = store_upload(&headers, multipart, &staging.path, node.config().snapshot_max_bytes).await?;
    let priority = p.priority.map(SnapshotPriority::from).unwrap_or_default();
    run(started, p.wait, async move {
        let result = recover(node, SnapshotSource::Uploaded(path), priority, p.checksum).await;
        drop(staging);
        result
    })
    .await
}

async fn create_full(
    State(state): State<AppState>,
    Params(p): Params<WaitParams>,
    started: Started,
) -> Result<Response, ApiError> {
    let node = state.node;
    run(started, p.wait, async move { node.create_full_snapshot().await }).await
}

async fn list_full(State(state): State<AppState>, started: Started) -> Result<Response, ApiError> {
    Ok(ok(started.0, state.node.list_full_snapshots().await?))
}

async fn download_full(State(state): State<AppState>, Path(snapshot): Path<String>) -> Response {
    stream_file(state.node.full_snapshot_path(&snapshot)).await
}

async fn remove_full(
    State(state): State<AppState>,
    Path(snapshot): Path<String>,
    Params(p): Params<WaitParams>,
    started: Started,
) -> Result<Response, ApiError> {
    let node = state.node;
    run(started, p.wait, async move { node.delete_full_snapshot(&snapshot).await }).await
}
