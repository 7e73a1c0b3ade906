//! Point write endpoints and plain reads (spec §3.2–3.3).

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{JsonBody, Params, RawJsonBody, Started};
use crate::response::{Points, ok};
use crate::wire::{self, ReadParams, WriteParams};
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post, put};
use quiver_types::PointId;
use quiver_types::shard_key::ShardKeySelector;
use serde::Deserialize;
use serde_json::Value;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/collections/{name}/points", put(upsert).post(retrieve))
        .route("/collections/{name}/points/{id}", get(get_point))
        .route("/collections/{name}/points/delete", post(delete_points))
        .route("/collections/{name}/points/vectors", put(update_vectors))
        .route("/collections/{name}/points/vectors/delete", post(delete_vectors))
        .route("/collections/{name}/points/payload", post(set_payload).put(overwrite_payload))
        .route("/collections/{name}/points/payload/delete", post(delete_payload))
        .route("/collections/{name}/points/payload/clear", post(clear_payload))
        .route("/collections/{name}/points/batch", post(batch))
        .route("/collections/{name}/points/scroll", post(scroll))
        .route("/collections/{name}/points/count", post(count))
}

type Reply = Result<Response, ApiError>;

/// Runs one write (shared with gRPC in `wire::apply_write`).
async fn write(state: &AppState, name: &str, params: &WriteParams, op: wire::Write, started: Started) -> Reply {
    Ok(ok(started.0, wire::apply_write(&state.node, name, params, op).await?))
}

async fn upsert(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<WriteParams>,
    t: Started,
    RawJsonBody(body): RawJsonBody,
) -> Reply {
    write(&s, &name, &p, crate::wire_upsert::upsert_body(&body)?, t).await
}

async fn delete_points(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<WriteParams>,
    t: Started,
    JsonBody(body): JsonBody<wire::SelectorWire>,
) -> Reply {
    write(&s, &name, &p, wire::delete_operation(body)?, t).await
}

async fn update_vectors(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<WriteParams>,
    t: Started,
    crate::inference::Inferred(body): crate::inference::Inferred<wire::UpdateVectorsWire>,
) -> Reply {
    write(&s, &name, &p, body.checked()?.into_operation()?, t).await
}

async fn delete_vectors(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<WriteParams>,
    t: Started,
    JsonBody(body): JsonBody<wire::DeleteVectorsWire>,
) -> Reply {
    write(&s, &name, &p, wire::delete_vectors_operation(body)?, t).await
}

async fn set_payload(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<WriteParams>,
    t: Started,
    JsonBody(body): JsonBody<wire::SetPayloadWire>,
) -> Reply {
    write(&s, &name, &p, wire::set_payload_operation(body, false)?, t).await
}

async fn overwrite_payload(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<WriteParams>,
    t: Started,
    JsonBody(body): JsonBody<wire::SetPayloadWire>,
) -> Reply {
    write(&s, &name, &p, wire::set_payload_operation(body, true)?, t).await
}

async fn delete_payload(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<WriteParams>,
    t: Started,
    JsonBody(body): JsonBody<wire::DeletePayloadWire>,
) -> Reply {
    write(&s, &name, &p, wire::delete_payload_operation(body)?, t).await
}

async fn clear_payload(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<WriteParams>,
    t: Started,
    JsonBody(body): JsonBody<wire::SelectorWire>,
) -> Reply {
    write(&s, &name, &p, wire::clear_payload_operation(body)?, t).await
}

#[derive(Deserialize)]
struct BatchWire {
    operations: Vec<Value>,
}

async fn batch(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<WriteParams>,
    t: Started,
    JsonBody(body): JsonBody<BatchWire>,
) -> Reply {
    let ops = body.operations.into_iter().map(wire::batch_operation).collect::<Result<Vec<_>, _>>()?;
    s.node.check_batch(ops.iter().map(|w| &w.op))?;
    let wait = p.wait.unwrap_or(false);
    let mut results = Vec::with_capacity(ops.len());
    for write in ops {
        results.push(s.node.update_points(&name, write.op, write.shard_key.as_ref(), wait).await?);
    }
    Ok(ok(t.0, results))
}

async fn get_point(
    State(s): State<AppState>,
    Path((name, id)): Path<(String, String)>,
    Params(p): Params<ReadParams>,
    t: Started,
) -> Reply {
    let id = PointId::parse(&id)?;
    Ok(ok(t.0, wire::bounded(p.check()?, s.node.get_point(&name, id)).await?))
}

async fn retrieve(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<ReadParams>,
    t: Started,
    JsonBody(body): JsonBody<wire::RetrieveWire>,
) -> Reply {
    let shard_key = ShardKeySelector::given(body.shard_key);
    let read = s.node.retrieve_points(&name, body.ids, body.with_payload, body.with_vector, shard_key.as_ref());
    Ok(ok(t.0, wire::bounded(p.check()?, read).await?))
}

async fn scroll(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<ReadParams>,
    t: Started,
    JsonBody(body): JsonBody<wire::ScrollWire>,
) -> Reply {
    let timeout = p.check()?;
    let shard_key = ShardKeySelector::given(body.shard_key.clone());
    let request = body.into_request()?;
    let page = wire::bounded(timeout, s.node.scroll_points(&name, request, shard_key.as_ref())).await?;
    Ok(ok(t.0, Points { points: page.points, next_page_offset: Some(page.next_page_offset) }))
}

async fn count(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<ReadParams>,
    t: Started,
    JsonBody(body): JsonBody<wire::CountWire>,
) -> Reply {
    let shard_key = ShardKeySelector::given(body.shard_key);
    // Counts are always exact; `exact: false` is answered exactly too.
    let _exact = body.exact;
    let count = wire::bounded(p.check()?, s.node.count_points(&name, body.filter, shard_key.as_ref())).await?;
    Ok(ok(t.0, serde_json::json!({"count": count})))
}
