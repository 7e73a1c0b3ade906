//! REST request bodies for point writes and plain reads (spec §3.2–3.3), and their conversion
//! into domain operations.

use crate::error::ApiError;
use crate::wire_nullable::{all_payload, no_vector, payload_or_all};
use quiver_types::PointId;
use quiver_types::filter::Filter;
use quiver_types::ops::{PointSelector, PointVectors, UpdateMode, UpdateOperation, UpdateResult, UpdateStatus};
use quiver_types::point::{NamedVectors, Payload, PointStruct, Vector, VectorStruct};
use quiver_types::query::{OrderByInterface, ScrollRequest, WithPayload, WithVector};
use quiver_types::shard_key::ShardKeySelector;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Query parameters of writes.
#[derive(Debug, Deserialize, Default)]
pub struct WriteParams {
    #[serde(default)]
    pub wait: Option<bool>,
    #[serde(default)]
    pub ordering: Option<Ordering>,
    #[serde(default)]
    pub timeout: Option<u64>,
}

/// `ordering` (accepted; every write is strongly ordered).
#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum Ordering {
    Weak,
    Medium,
    Strong,
}

impl WriteParams {
    /// The `timeout` as a duration; 0 is a validation error.
    pub fn timeout(&self) -> Result<Option<std::time::Duration>, ApiError> {
        seconds(self.timeout)
    }
}

/// A `timeout` query parameter in seconds as a duration; 0 is a validation error.
pub(crate) fn seconds(timeout: Option<u64>) -> Result<Option<std::time::Duration>, ApiError> {
    match timeout {
        Some(0) => Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "Validation error in query parameters: [timeout: value 0 invalid, must be 1 or larger]",
        )),
        Some(s) => Ok(Some(std::time::Duration::from_secs(s))),
        None => Ok(None),
    }
}

/// Query parameters of reads.
#[derive(Debug, Deserialize, Default)]
pub struct ReadParams {
    #[serde(default)]
    pub consistency: Option<String>,
    #[serde(default)]
    pub timeout: Option<u64>,
}

/// What a read's query parameters ask for.
#[derive(Debug, Clone, Copy)]
pub struct ReadSettings {
    pub timeout: Option<std::time::Duration>,
    pub consistency: quiver_types::query::ReadConsistency,
    /// The size of the batch the read belongs to (strict mode's `search_max_batchsize`).
    pub batch: Option<usize>,
}

impl ReadSettings {
    /// The settings of each read of a batch of `size`.
    pub fn in_batch(self, size: usize) -> ReadSettings {
        ReadSettings { batch: Some(size), ..self }
    }
}

impl ReadParams {
    /// Checks `consistency` (a positive integer, `majority`, `quorum`, `all`, or empty) and
    /// `timeout`.
    pub fn check(&self) -> Result<ReadSettings, ApiError> {
        let consistency = quiver_types::query::ReadConsistency::parse(self.consistency.as_deref()).ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                format!(
                    "Deserialize error in query parameters: invalid read consistency `{}`: expected a positive integer, `majority`, `quorum` or `all`",
                    self.consistency.as_deref().unwrap_or_default()
                ),
            )
        })?;
        Ok(ReadSettings { timeout: seconds(self.timeout)?, consistency, batch: None })
    }
}

/// Runs a read with the request's timeout (408 when it elapses), its shape known to strict mode.
/// A read that runs on the worker (`with_inline_reads`) is cheap by construction (≈ 1–2 ms), far
/// below the smallest timeout (1 s).
///
/// Not an `async fn`: the read is put on the heap before any future holds it, so the request's
/// future (and the handler's around it) holds a pointer where it held the whole read (≈ 9 KB for
/// a query; 84 KB before, when every layer was an `async fn` holding its argument twice), and the
/// layers above move it cheaply.
pub fn bounded<T>(
    settings: ReadSettings,
    read: impl std::future::Future<Output = Result<T, quiver_node::NodeError>>,
) -> impl std::future::Future<Output = Result<T, ApiError>> {
    let shape =
        quiver_node::service::RequestShape { timeout_s: settings.timeout.map(|t| t.as_secs()), batch: settings.batch };
    let read = quiver_node::service::with_request_shape(shape, Box::pin(read));
    let read = quiver_node::service::with_read_consistency(settings.consistency, read);
    // One request's cheap local reads run on this worker; a batch's go to the blocking pool
    // (design record 022).
    let inline = if settings.batch.is_none() { quiver_node::service::INLINE_READ_BUDGET } else { 0 };
    let read = quiver_node::service::with_inline_reads(inline, read);
    let limit = settings.timeout;
    async move {
        match limit {
            None => Ok(read.await?),
            Some(limit) => match tokio::time::timeout(limit, read).await {
                Ok(result) => Ok(result?),
                Err(_) => Err(ApiError::from(quiver_node::NodeError::Timeout(format!(
                    "Operation timed out after {} seconds",
                    limit.as_secs()
                )))),
            },
        }
    }
}

#[derive(Debug, Deserialize)]
struct PointWire {
    id: PointId,
    #[serde(default)]
    vector: Option<VectorStruct>,
    #[serde(default)]
    payload: Option<Payload>,
}

#[derive(Debug, Deserialize)]
struct PointsListWire {
    points: Vec<PointWire>,
    #[serde(default)]
    shard_key: Option<ShardKeySelector>,
    #[serde(default)]
    update_filter: Option<Filter>,
    #[serde(default)]
    update_mode: Option<UpdateMode>,
}

/// The `vectors` of a batch upsert: one unnamed vector per id (dense, or a multivector), or
/// lists of vectors by name.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum BatchVectors {
    Single(Vec<Vec<f32>>),
    Multi(Vec<Vec<Vec<f32>>>),
    Named(BTreeMap<String, Vec<Vector>>),
}

#[derive(Debug, Deserialize)]
struct BatchWire {
    ids: Vec<PointId>,
    #[serde(default)]
    vectors: Option<BatchVectors>,
    #[serde(default)]
    payloads: Option<Vec<Option<Payload>>>,
}

#[derive(Debug, Deserialize)]
struct PointsBatchWire {
    batch: BatchWire,
    #[serde(default)]
    shard_key: Option<ShardKeySelector>,
    #[serde(default)]
    update_filter: Option<Filter>,
    #[serde(default)]
    update_mode: Option<UpdateMode>,
}

/// A write and the shard keys it goes to (custom sharding; `None`: the collection decides).
#[derive(Debug, Clone)]
pub struct Write {
    pub op: UpdateOperation,
    pub shard_key: Option<ShardKeySelector>,
}

impl Write {
    fn new(op: UpdateOperation, shard_key: Option<ShardKeySelector>) -> Write {
        Write { op, shard_key: ShardKeySelector::given(shard_key) }
    }
}

/// Qdrant's validation of the batch form: as many vectors (of each name) and payloads as ids.
fn batch_count_error(what: &str, ids: usize, given: usize) -> ApiError {
    ApiError::validation(format!("batch: number of ids and {what} must be equal ({ids} != {given})"))
}

/// Gives each of the batch's points its unnamed vector from `list` (one per id).
fn unnamed_batch<T>(vectors: &mut [NamedVectors], list: Vec<T>, vector: fn(T) -> Vector) -> Result<(), ApiError> {
    if list.len() != vectors.len() {
        return Err(batch_count_error("vectors", vectors.len(), list.len()));
    }
    for (slot, v) in vectors.iter_mut().zip(list) {
        slot.insert(String::new(), vector(v));
    }
    Ok(())
}

fn batch_points(batch: BatchWire) -> Result<Vec<PointStruct>, ApiError> {
    let n = batch.ids.len();
    let mut vectors: Vec<NamedVectors> = vec![NamedVectors::new(); n];
    match batch.vectors {
        None => {}
        Some(BatchVectors::Single(list)) => unnamed_batch(&mut vectors, list, Vector::Dense)?,
        Some(BatchVectors::Multi(list)) => unnamed_batch(&mut vectors, list, Vector::Multi)?,
        Some(BatchVectors::Named(map)) => {
            for (name, list) in map {
                if list.len() != n {
                    return Err(batch_count_error("vectors", n, list.len()));
                }
                for (slot, v) in vectors.iter_mut().zip(list) {
                    slot.insert(name.clone(), v);
                }
            }
        }
    }
    let payloads = batch.payloads.unwrap_or_else(|| vec![None; n]);
    if payloads.len() != n {
        return Err(batch_count_error("payloads", n, payloads.len()));
    }
    let mut payloads = payloads.into_iter();
    Ok(batch
        .ids
        .into_iter()
        .zip(vectors)
        .map(|(id, vectors)| PointStruct { id, vectors, payload: payloads.next().flatten() })
        .collect())
}

/// Parses an upsert body: the list form (`points`) or the batch form (`batch`).
pub fn upsert_operation(body: Value) -> Result<Write, ApiError> {
    let body = crate::inference::upsert_body(body)?;
    let is_batch = body.get("batch").is_some();
    if is_batch {
        let wire: PointsBatchWire = serde_json::from_value(body).map_err(ApiError::format)?;
        let op = UpdateOperation::Upsert {
            points: batch_points(wire.batch)?,
            mode: wire.update_mode.unwrap_or_default(),
            update_filter: wire.update_filter,
        };
        return Ok(Write::new(op, wire.shard_key));
    }
    let wire: PointsListWire = serde_json::from_value(body).map_err(ApiError::format)?;
    let points = wire
        .points
        .into_iter()
        .map(|p| PointStruct {
            id: p.id,
            vectors: p.vector.map(VectorStruct::into_named).unwrap_or_default(),
            payload: p.payload,
        })
        .collect();
    Ok(upsert_points(points, wire.shard_key, wire.update_filter, wire.update_mode))
}

/// An upsert of `points` (both transports).
pub fn upsert_points(
    points: Vec<PointStruct>,
    shard_key: Option<ShardKeySelector>,
    update_filter: Option<Filter>,
    mode: Option<UpdateMode>,
) -> Write {
    Write::new(UpdateOperation::Upsert { points, mode: mode.unwrap_or_default(), update_filter }, shard_key)
}

/// Runs one write with the request's `wait` and `timeout` (both transports): a timeout that
/// elapses answers `wait_timeout`. `ordering` is accepted and needs no action: every write of a
/// shard is applied in one order (the shard's WAL order), at least as ordered as Qdrant's `strong`.
pub async fn apply_write(
    node: &quiver_node::Node,
    name: &str,
    params: &WriteParams,
    write: Write,
) -> Result<UpdateResult, ApiError> {
    let wait = params.wait.unwrap_or(false);
    tracing::trace!(ordering = ?params.ordering, wait, "write");
    let update = node.update_points(name, write.op, write.shard_key.as_ref(), wait);
    Ok(match params.timeout()? {
        None => update.await?,
        Some(limit) => match tokio::time::timeout(limit, update).await {
            Ok(result) => result?,
            Err(_) => UpdateResult { operation_id: None, status: UpdateStatus::WaitTimeout, missing_point: None },
        },
    })
}

/// `{"points": [...]}` or `{"filter": {...}}`, as several bodies share.
#[derive(Debug, Deserialize)]
pub struct SelectorWire {
    #[serde(default)]
    pub points: Option<Vec<PointId>>,
    #[serde(default)]
    pub filter: Option<Filter>,
    #[serde(default)]
    pub shard_key: Option<ShardKeySelector>,
}

impl SelectorWire {
    /// The point selector; the shard key is the caller's to take first. Given both, the list of
    /// ids is used (as Qdrant applies it).
    pub fn into_selector(self) -> Result<PointSelector, ApiError> {
        match (self.points, self.filter) {
            (Some(ids), _) => Ok(PointSelector::Ids(ids)),
            (None, Some(filter)) => Ok(PointSelector::Filter(filter)),
            (None, None) => Err(ApiError::bad_input("Either list of point ids or filter must be provided")),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct SetPayloadWire {
    pub payload: Payload,
    #[serde(flatten)]
    pub selector: SelectorWire,
    #[serde(default)]
    pub key: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct DeletePayloadWire {
    pub keys: Vec<String>,
    #[serde(flatten)]
    pub selector: SelectorWire,
}

#[derive(Debug, Deserialize)]
pub struct PointVectorsWire {
    pub id: PointId,
    #[serde(alias = "vectors")]
    pub vector: VectorStruct,
}

impl PointVectorsWire {
    /// No vector at all (`{}`, `[]`): Qdrant's REST refuses such a point of an update.
    fn is_empty(&self) -> bool {
        match &self.vector {
            VectorStruct::Single(v) => v.is_empty(),
            VectorStruct::Multi(v) => v.is_empty(),
            VectorStruct::Named(map) => map.is_empty(),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct UpdateVectorsWire {
    pub points: Vec<PointVectorsWire>,
    #[serde(default)]
    pub shard_key: Option<ShardKeySelector>,
    #[serde(default)]
    pub update_filter: Option<Filter>,
}

#[derive(Debug, Deserialize)]
pub struct DeleteVectorsWire {
    #[serde(flatten)]
    pub selector: SelectorWire,
    #[serde(alias = "vectors")]
    pub vector: Vec<String>,
}

impl UpdateVectorsWire {
    /// REST's validation (gRPC accepts an empty list): at least one point, and each point with
    /// at least one vector.
    pub fn checked(self) -> Result<Self, ApiError> {
        if self.points.is_empty() {
            return Err(ApiError::validation("points: must specify points to update"));
        }
        match self.points.iter().position(PointVectorsWire::is_empty) {
            Some(i) => {
                Err(ApiError::validation(format!("points[{i}].vector: must specify vectors to update for point")))
            }
            None => Ok(self),
        }
    }

    pub fn into_operation(self) -> Result<Write, ApiError> {
        let points =
            self.points.into_iter().map(|p| PointVectors { id: p.id, vectors: p.vector.into_named() }).collect();
        Ok(Write::new(UpdateOperation::UpdateVectors { points, update_filter: self.update_filter }, self.shard_key))
    }
}

/// One operation of `POST …/points/batch`.
pub fn batch_operation(op: Value) -> Result<Write, ApiError> {
    let Value::Object(map) = op else {
        return Err(ApiError::format("each operation must be an object"));
    };
    let Some((kind, body)) = map.into_iter().next() else {
        return Err(ApiError::format("empty operation"));
    };
    let parse = |v: Value| -> Result<Write, ApiError> {
        Ok(match kind.as_str() {
            "upsert" => upsert_operation(v)?,
            "delete" => delete_operation(serde_json::from_value(v).map_err(ApiError::format)?)?,
            "set_payload" => set_payload_operation(serde_json::from_value(v).map_err(ApiError::format)?, false)?,
            "overwrite_payload" => set_payload_operation(serde_json::from_value(v).map_err(ApiError::format)?, true)?,
            "delete_payload" => delete_payload_operation(serde_json::from_value(v).map_err(ApiError::format)?)?,
            "clear_payload" => clear_payload_operation(serde_json::from_value(v).map_err(ApiError::format)?)?,
            "update_vectors" => serde_json::from_value::<UpdateVectorsWire>(crate::inference::points_body(v)?)
                .map_err(ApiError::format)?
                .checked()?
                .into_operation()?,
            "delete_vectors" => delete_vectors_operation(serde_json::from_value(v).map_err(ApiError::format)?)?,
            other => return Err(ApiError::format(format!("unknown variant `{other}`"))),
        })
    };
    parse(body)
}

pub fn delete_operation(mut wire: SelectorWire) -> Result<Write, ApiError> {
    let shard_key = wire.shard_key.take();
    Ok(Write::new(UpdateOperation::Delete { selector: wire.into_selector()? }, shard_key))
}

pub fn set_payload_operation(mut wire: SetPayloadWire, overwrite: bool) -> Result<Write, ApiError> {
    let shard_key = wire.selector.shard_key.take();
    let selector = wire.selector.into_selector()?;
    let op = match overwrite {
        // As Qdrant's, an overwrite replaces the whole payload: a `key` is not looked at.
        true => UpdateOperation::OverwritePayload { payload: wire.payload, selector, key: None },
        false => UpdateOperation::SetPayload { payload: wire.payload, selector, key: wire.key },
    };
    Ok(Write::new(op, shard_key))
}

pub fn delete_payload_operation(mut wire: DeletePayloadWire) -> Result<Write, ApiError> {
    let shard_key = wire.selector.shard_key.take();
    Ok(Write::new(
        UpdateOperation::DeletePayload { keys: wire.keys, selector: wire.selector.into_selector()? },
        shard_key,
    ))
}

pub fn clear_payload_operation(mut wire: SelectorWire) -> Result<Write, ApiError> {
    let shard_key = wire.shard_key.take();
    Ok(Write::new(UpdateOperation::ClearPayload { selector: wire.into_selector()? }, shard_key))
}

pub fn delete_vectors_operation(mut wire: DeleteVectorsWire) -> Result<Write, ApiError> {
    if wire.vector.is_empty() {
        return Err(ApiError::validation("vector: must specify vector names to delete"));
    }
    let shard_key = wire.selector.shard_key.take();
    let op = UpdateOperation::DeleteVectors { selector: wire.selector.into_selector()?, names: wire.vector };
    Ok(Write::new(op, shard_key))
}

/// `POST …/points` (retrieve).
#[derive(Debug, Deserialize)]
pub struct RetrieveWire {
    pub ids: Vec<PointId>,
    #[serde(default = "all_payload", deserialize_with = "payload_or_all")]
    pub with_payload: WithPayload,
    #[serde(default = "no_vector", alias = "with_vectors")]
    pub with_vector: WithVector,
    #[serde(default)]
    pub shard_key: Option<ShardKeySelector>,
}

/// `POST …/points/scroll`.
#[derive(Debug, Deserialize)]
pub struct ScrollWire {
    #[serde(default)]
    pub offset: Option<PointId>,
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default)]
    pub filter: Option<Filter>,
    #[serde(default = "all_payload", deserialize_with = "payload_or_all")]
    pub with_payload: WithPayload,
    #[serde(default = "no_vector", alias = "with_vectors")]
    pub with_vector: WithVector,
    #[serde(default)]
    pub order_by: Option<OrderByInterface>,
    #[serde(default)]
    pub shard_key: Option<ShardKeySelector>,
}

/// `POST …/points/count`.
#[derive(Debug, Deserialize)]
pub struct CountWire {
    #[serde(default)]
    pub filter: Option<Filter>,
    #[serde(default)]
    pub exact: Option<bool>,
    #[serde(default)]
    pub shard_key: Option<ShardKeySelector>,
}

/// Checks a limit: 0 is a validation error (422).
impl ScrollWire {
    /// The scroll request (both transports); a zero limit is a validation error.
    pub fn into_request(self) -> Result<ScrollRequest, ApiError> {
        Ok(ScrollRequest {
            offset: self.offset,
            limit: positive_limit(self.limit.unwrap_or(10))?,
            filter: self.filter,
            with_payload: self.with_payload,
            with_vector: self.with_vector,
            order_by: self.order_by.map(|o| o.into_order_by()),
        })
    }
}

pub fn positive_limit(limit: usize) -> Result<usize, ApiError> {
    match limit {
        0 => Err(ApiError::validation(quiver_types::validation::at_least("limit", 0, 1))),
        n => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request's future holds its read by pointer: the layers above (axum's handler boxing,
    /// the middleware) move it per request, and it held 84 KB of a query's state before.
    #[test]
    fn a_bounded_read_is_held_on_the_heap() {
        let read = async {
            let state = [7u8; 16 << 10];
            tokio::task::yield_now().await;
            Ok::<u64, quiver_node::NodeError>(state.iter().map(|b| u64::from(*b)).sum())
        };
        assert!(std::mem::size_of_val(&read) >= 16 << 10);
        for timeout in [None, Some(std::time::Duration::from_secs(1))] {
            let settings = ReadSettings { timeout, consistency: Default::default(), batch: None };
            let bounded = bounded(settings, read_again());
            assert!(std::mem::size_of_val(&bounded) < 1024, "{} bytes", std::mem::size_of_val(&bounded));
        }
        let settings = ReadSettings { timeout: None, consistency: Default::default(), batch: None };
        let answer = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(bounded(settings, read));
        assert_eq!(answer.unwrap(), 7 * (16 << 10));
    }

    async fn read_again() -> Result<u64, quiver_node::NodeError> {
        let state = [1u8; 16 << 10];
        tokio::task::yield_now().await;
        Ok(state.len() as u64)
    }
}
