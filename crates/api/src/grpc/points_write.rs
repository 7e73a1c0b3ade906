//! Point writes over gRPC: each request becomes the same domain operation the REST body does
//! (through the REST wire structs and their checks) and runs through `wire::apply_write`.

use crate::grpc::convert::{map_to_json, point_id, point_ids, shard_key, vectors_in};
use crate::grpc::filter::filter_in;
use crate::grpc::status::{from_node, missing};
use crate::wire::{self, DeletePayloadWire, DeleteVectorsWire, SelectorWire, SetPayloadWire, Write, WriteParams};
use qdrant_client::qdrant as pb;
use quiver_node::Node;
use quiver_types::ops::{UpdateMode, UpdateResult, UpdateStatus};
use quiver_types::point::{PointStruct, VectorStruct};
use std::time::Instant;
use tonic::Status;

fn params(wait: Option<bool>, timeout: Option<u64>) -> WriteParams {
    WriteParams { wait, ordering: None, timeout }
}

pub fn result_out(result: UpdateResult) -> pb::UpdateResult {
    let status = match result.status {
        UpdateStatus::Acknowledged => pb::UpdateStatus::Acknowledged,
        UpdateStatus::Completed => pb::UpdateStatus::Completed,
        UpdateStatus::WaitTimeout => pb::UpdateStatus::WaitTimeout,
    };
    pb::UpdateResult { operation_id: result.operation_id, status: status as i32 }
}

fn response(started: Instant, result: UpdateResult) -> pb::PointsOperationResponse {
    pb::PointsOperationResponse { result: Some(result_out(result)), time: started.elapsed().as_secs_f64(), usage: None }
}

/// Runs one write and wraps its result.
async fn write(node: &Node, name: &str, params: WriteParams, op: Write) -> Result<pb::PointsOperationResponse, Status> {
    let started = Instant::now();
    Ok(response(started, wire::apply_write(node, name, &params, op).await?))
}

/// `PointsSelector` as the REST selector body (`points` or `filter`).
fn selector(selector: Option<pb::PointsSelector>, shard: Option<pb::ShardKeySelector>) -> Result<SelectorWire, Status> {
    use pb::points_selector::PointsSelectorOneOf as S;
    let (points, filter) = match selector.and_then(|s| s.points_selector_one_of) {
        None => (None, None),
        Some(S::Points(list)) => (Some(point_ids(list.ids)?), None),
        Some(S::Filter(f)) => (None, filter_in(Some(f))?),
    };
    Ok(SelectorWire { points, filter, shard_key: shard_key(shard)? })
}

fn update_mode(mode: Option<i32>) -> Result<Option<UpdateMode>, Status> {
    let Some(mode) = mode else { return Ok(None) };
    match pb::UpdateMode::try_from(mode) {
        Ok(pb::UpdateMode::Upsert) => Ok(Some(UpdateMode::Upsert)),
        Ok(pb::UpdateMode::InsertOnly) => Ok(Some(UpdateMode::InsertOnly)),
        Ok(pb::UpdateMode::UpdateOnly) => Ok(Some(UpdateMode::UpdateOnly)),
        Err(_) => Err(Status::invalid_argument(format!("Wrong input: unknown update mode {mode}"))),
    }
}

/// The points of an upsert. As in Qdrant, a point must carry its `vectors` message (empty named
/// vectors make a point without vectors); one without it is refused.
fn points_in(points: Vec<pb::PointStruct>) -> Result<Vec<PointStruct>, Status> {
    points
        .into_iter()
        .map(|p| {
            let payload = (!p.payload.is_empty()).then(|| map_to_json(p.payload));
            let vectors = p.vectors.ok_or_else(|| Status::invalid_argument("Expected some vectors"))?;
            Ok(PointStruct { id: point_id(p.id)?, vectors: vectors_in(Some(vectors))?, payload })
        })
        .collect()
}

fn upsert_op(
    points: Vec<pb::PointStruct>,
    shard: Option<pb::ShardKeySelector>,
    update_filter: Option<pb::Filter>,
    mode: Option<i32>,
) -> Result<Write, Status> {
    let points = points_in(points)?;
    Ok(wire::upsert_points(points, shard_key(shard)?, filter_in(update_filter)?, update_mode(mode)?))
}

fn update_vectors_op(
    points: Vec<pb::PointVectors>,
    shard: Option<pb::ShardKeySelector>,
    update_filter: Option<pb::Filter>,
) -> Result<Write, Status> {
    let points = points
        .into_iter()
        .map(|p| {
            Ok(wire::PointVectorsWire { id: point_id(p.id)?, vector: VectorStruct::Named(vectors_in(p.vectors)?) })
        })
        .collect::<Result<Vec<_>, Status>>()?;
    let body =
        wire::UpdateVectorsWire { points, shard_key: shard_key(shard)?, update_filter: filter_in(update_filter)? };
    Ok(body.into_operation()?)
}

fn set_payload_op(
    payload: std::collections::HashMap<String, pb::Value>,
    points: Option<pb::PointsSelector>,
    shard: Option<pb::ShardKeySelector>,
    key: Option<String>,
    overwrite: bool,
) -> Result<Write, Status> {
    let body = SetPayloadWire { payload: map_to_json(payload), selector: selector(points, shard)?, key };
    Ok(wire::set_payload_operation(body, overwrite)?)
}

fn delete_payload_op(
    keys: Vec<String>,
    points: Option<pb::PointsSelector>,
    shard: Option<pb::ShardKeySelector>,
) -> Result<Write, Status> {
    Ok(wire::delete_payload_operation(DeletePayloadWire { keys, selector: selector(points, shard)? })?)
}

fn delete_vectors_op(
    points: Option<pb::PointsSelector>,
    vectors: Option<pb::VectorsSelector>,
    shard: Option<pb::ShardKeySelector>,
) -> Result<Write, Status> {
    let vector = vectors.ok_or_else(|| missing("vectors"))?.names;
    Ok(wire::delete_vectors_operation(DeleteVectorsWire { selector: selector(points, shard)?, vector })?)
}

pub async fn upsert(node: &Node, r: pb::UpsertPoints) -> Result<pb::PointsOperationResponse, Status> {
    let op = upsert_op(r.points, r.shard_key_selector, r.update_filter, r.update_mode)?;
    write(node, &r.collection_name, params(r.wait, r.timeout), op).await
}

pub async fn delete(node: &Node, r: pb::DeletePoints) -> Result<pb::PointsOperationResponse, Status> {
    let op = wire::delete_operation(selector(r.points, r.shard_key_selector)?)?;
    write(node, &r.collection_name, params(r.wait, r.timeout), op).await
}

pub async fn update_vectors(node: &Node, r: pb::UpdatePointVectors) -> Result<pb::PointsOperationResponse, Status> {
    let op = update_vectors_op(r.points, r.shard_key_selector, r.update_filter)?;
    write(node, &r.collection_name, params(r.wait, r.timeout), op).await
}

pub async fn delete_vectors(node: &Node, r: pb::DeletePointVectors) -> Result<pb::PointsOperationResponse, Status> {
    let op = delete_vectors_op(r.points_selector, r.vectors, r.shard_key_selector)?;
    write(node, &r.collection_name, params(r.wait, r.timeout), op).await
}

pub async fn set_payload(
    node: &Node,
    r: pb::SetPayloadPoints,
    overwrite: bool,
) -> Result<pb::PointsOperationResponse, Status> {
    let op = set_payload_op(r.payload, r.points_selector, r.shard_key_selector, r.key, overwrite)?;
    write(node, &r.collection_name, params(r.wait, r.timeout), op).await
}

pub async fn delete_payload(node: &Node, r: pb::DeletePayloadPoints) -> Result<pb::PointsOperationResponse, Status> {
    let op = delete_payload_op(r.keys, r.points_selector, r.shard_key_selector)?;
    write(node, &r.collection_name, params(r.wait, r.timeout), op).await
}

pub async fn clear_payload(node: &Node, r: pb::ClearPayloadPoints) -> Result<pb::PointsOperationResponse, Status> {
    let op = wire::clear_payload_operation(selector(r.points, r.shard_key_selector)?)?;
    write(node, &r.collection_name, params(r.wait, r.timeout), op).await
}

/// One operation of `UpdateBatch` (the deprecated selector-only forms are still accepted).
#[allow(deprecated)]
fn batch_operation(op: pb::PointsUpdateOperation) -> Result<Write, Status> {
    use pb::points_update_operation::Operation as O;
    match op.operation.ok_or_else(|| missing("operation"))? {
        O::Upsert(u) => upsert_op(u.points, u.shard_key_selector, u.update_filter, u.update_mode),
        O::DeleteDeprecated(s) => Ok(wire::delete_operation(selector(Some(s), None)?)?),
        O::DeletePoints(d) => Ok(wire::delete_operation(selector(d.points, d.shard_key_selector)?)?),
        O::SetPayload(p) => set_payload_op(p.payload, p.points_selector, p.shard_key_selector, p.key, false),
        O::OverwritePayload(p) => set_payload_op(p.payload, p.points_selector, p.shard_key_selector, p.key, true),
        O::DeletePayload(p) => delete_payload_op(p.keys, p.points_selector, p.shard_key_selector),
        O::ClearPayloadDeprecated(s) => Ok(wire::clear_payload_operation(selector(Some(s), None)?)?),
        O::ClearPayload(c) => Ok(wire::clear_payload_operation(selector(c.points, c.shard_key_selector)?)?),
        O::UpdateVectors(u) => update_vectors_op(u.points, u.shard_key_selector, u.update_filter),
        O::DeleteVectors(d) => delete_vectors_op(d.points_selector, d.vectors, d.shard_key_selector),
    }
}

/// `UpdateBatch`: every operation is checked before the first runs, then they run in order
/// (as `POST …/points/batch`).
pub async fn update_batch(node: &Node, r: pb::UpdateBatchPoints) -> Result<pb::UpdateBatchResponse, Status> {
    let started = Instant::now();
    let ops = r.operations.into_iter().map(batch_operation).collect::<Result<Vec<_>, _>>()?;
    node.check_batch(ops.iter().map(|w| &w.op)).map_err(from_node)?;
    let wait = r.wait.unwrap_or(false);
    let mut result = Vec::with_capacity(ops.len());
    for write in ops {
        let update = node.update_points(&r.collection_name, write.op, write.shard_key.as_ref(), wait);
        result.push(result_out(update.await.map_err(from_node)?));
    }
    Ok(pb::UpdateBatchResponse { result, time: started.elapsed().as_secs_f64(), usage: None })
}

pub async fn create_field_index(
    node: &Node,
    r: pb::CreateFieldIndexCollection,
) -> Result<pb::PointsOperationResponse, Status> {
    let started = Instant::now();
    let schema = super::index_params::field_schema(r.field_type, r.field_index_params)?;
    let wait = r.wait.unwrap_or(false);
    let result = node.create_field_index(&r.collection_name, &r.field_name, schema, wait).await.map_err(from_node)?;
    Ok(response(started, result))
}

pub async fn delete_field_index(
    node: &Node,
    r: pb::DeleteFieldIndexCollection,
) -> Result<pb::PointsOperationResponse, Status> {
    let started = Instant::now();
    let wait = r.wait.unwrap_or(false);
    let result = node.delete_field_index(&r.collection_name, &r.field_name, wait).await.map_err(from_node)?;
    Ok(response(started, result))
}

fn timeout_of(seconds: Option<u64>) -> Option<std::time::Duration> {
    seconds.filter(|t| *t > 0).map(std::time::Duration::from_secs)
}

pub async fn create_vector_name(
    node: &Node,
    r: pb::CreateVectorNameRequest,
) -> Result<pb::PointsOperationResponse, Status> {
    let started = Instant::now();
    let config = super::collections_in::vector_name_in(r.vector_config)?;
    let (wait, timeout) = (r.wait.unwrap_or(false), timeout_of(r.timeout));
    let result =
        node.create_vector_name(&r.collection_name, &r.vector_name, config, wait, timeout).await.map_err(from_node)?;
    Ok(response(started, result))
}

pub async fn delete_vector_name(
    node: &Node,
    r: pb::DeleteVectorNameRequest,
) -> Result<pb::PointsOperationResponse, Status> {
    let started = Instant::now();
    let (wait, timeout) = (r.wait.unwrap_or(false), timeout_of(r.timeout));
    let result = node.delete_vector_name(&r.collection_name, &r.vector_name, wait, timeout).await.map_err(from_node)?;
    Ok(response(started, result))
}
