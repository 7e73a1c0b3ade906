//! Qdrant's endpoints on one shard of a collection (design record 046): its points retrieved,
//! scrolled and counted (the collection-level bodies, without `shard_key`, with Qdrant's
//! optional `hash_ring_filter`), its cleanup, and `truncate_unapplied_wal`.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{JsonBody, Params, Started};
use crate::response::{Points, ok};
use crate::routes_snapshots::{WaitParams, run};
use crate::wire::{self, ReadParams};
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use quiver_types::ShardId;
use serde::Deserialize;
use std::num::NonZeroU64;
use std::time::Duration;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/collections/{name}/shards/{shard_id}/points", post(retrieve))
        .route("/collections/{name}/shards/{shard_id}/points/scroll", post(scroll))
        .route("/collections/{name}/shards/{shard_id}/points/count", post(count))
        .route("/collections/{name}/shards/{shard_id}/cleanup", post(cleanup))
        .route("/collections/{name}/truncate_unapplied_wal", post(truncate_unapplied_wal))
}

type Reply = Result<Response, ApiError>;

/// `hash_ring_filter`: only the points the collection's ring places in `expected_shard_id`.
#[derive(Debug, Deserialize)]
struct HashRingFilter {
    expected_shard_id: ShardId,
}

#[derive(Debug, Deserialize)]
struct ShardScrollWire {
    #[serde(flatten)]
    scroll: wire::ScrollWire,
    #[serde(default)]
    hash_ring_filter: Option<HashRingFilter>,
}

#[derive(Debug, Deserialize)]
struct ShardCountWire {
    #[serde(flatten)]
    count: wire::CountWire,
    #[serde(default)]
    hash_ring_filter: Option<HashRingFilter>,
}

async fn retrieve(
    State(s): State<AppState>,
    Path((name, shard_id)): Path<(String, ShardId)>,
    Params(p): Params<ReadParams>,
    t: Started,
    JsonBody(body): JsonBody<wire::RetrieveWire>,
) -> Reply {
    let read = s.node.retrieve_in_shard(&name, shard_id, body.ids, body.with_payload, body.with_vector);
    Ok(ok(t.0, wire::bounded(p.check()?, read).await?))
}

async fn scroll(
    State(s): State<AppState>,
    Path((name, shard_id)): Path<(String, ShardId)>,
    Params(p): Params<ReadParams>,
    t: Started,
    JsonBody(body): JsonBody<ShardScrollWire>,
) -> Reply {
    let timeout = p.check()?;
    let expected = body.hash_ring_filter.map(|f| f.expected_shard_id);
    let request = body.scroll.into_request()?;
    let page = wire::bounded(timeout, s.node.scroll_in_shard(&name, shard_id, request, expected)).await?;
    Ok(ok(t.0, Points { points: page.points, next_page_offset: Some(page.next_page_offset) }))
}

async fn count(
    State(s): State<AppState>,
    Path((name, shard_id)): Path<(String, ShardId)>,
    Params(p): Params<ReadParams>,
    t: Started,
    JsonBody(body): JsonBody<ShardCountWire>,
) -> Reply {
    let expected = body.hash_ring_filter.map(|f| f.expected_shard_id);
    let read = s.node.count_in_shard(&name, shard_id, body.count.filter, expected);
    let count = wire::bounded(p.check()?, read).await?;
    Ok(ok(t.0, serde_json::json!({"count": count})))
}

#[derive(Debug, Deserialize)]
struct CleanupParams {
    #[serde(default)]
    wait: Option<bool>,
    #[serde(default)]
    timeout: Option<NonZeroU64>,
}

/// `POST …/shards/{id}/cleanup?wait=&timeout=`: `{"operation_id": null, "status": …}`.
async fn cleanup(
    State(s): State<AppState>,
    Path((name, shard_id)): Path<(String, ShardId)>,
    Params(p): Params<CleanupParams>,
    t: Started,
) -> Reply {
    let timeout = p.timeout.map(|s| Duration::from_secs(s.get()));
    let result = s.node.cleanup_local_shard(&name, shard_id, p.wait.unwrap_or(false), timeout).await?;
    Ok(ok(t.0, serde_json::json!({"operation_id": null, "status": result.status})))
}

/// `POST /collections/{c}/truncate_unapplied_wal?wait=`: the number of records dropped.
async fn truncate_unapplied_wal(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<WaitParams>,
    t: Started,
) -> Reply {
    let node = s.node;
    run(t, p.wait, async move { node.truncate_unapplied_wal(&name) }).await
}
