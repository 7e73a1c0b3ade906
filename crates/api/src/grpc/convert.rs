//! Conversions shared by every gRPC service: payload values, point ids, selectors, vectors,
//! returned points, read settings. Filters go through their REST JSON form so that gRPC and REST
//! parse them with the same code.

use crate::grpc::status::missing;
use crate::inference::Embedding;
use crate::wire::ReadSettings;
use qdrant_client::qdrant as pb;
use quiver_types::point::{NamedVectors, Record, ScoredPoint, Vector, VectorStruct};
use quiver_types::query::{WithPayload, WithVector};
use quiver_types::shard_key::ShardKeySelector;
use quiver_types::{Payload, PointId, SparseVector};
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use tonic::Status;

/// A proto `Value` as JSON.
pub fn value_to_json(value: pb::Value) -> Json {
    use pb::value::Kind;
    match value.kind {
        None | Some(Kind::NullValue(_)) => Json::Null,
        Some(Kind::DoubleValue(d)) => serde_json::Number::from_f64(d).map_or(Json::Null, Json::Number),
        Some(Kind::IntegerValue(i)) => Json::from(i),
        Some(Kind::StringValue(s)) => Json::String(s),
        Some(Kind::BoolValue(b)) => Json::Bool(b),
        Some(Kind::StructValue(s)) => Json::Object(map_to_json(s.fields)),
        Some(Kind::ListValue(l)) => Json::Array(l.values.into_iter().map(value_to_json).collect()),
    }
}

/// A JSON value as a proto `Value` (integers that fit `i64` stay integers).
pub fn json_to_value(value: Json) -> pb::Value {
    use pb::value::Kind;
    let kind = match value {
        Json::Null => Kind::NullValue(0),
        Json::Bool(b) => Kind::BoolValue(b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Kind::IntegerValue(i),
            None => Kind::DoubleValue(n.as_f64().unwrap_or_default()),
        },
        Json::String(s) => Kind::StringValue(s),
        Json::Array(list) => Kind::ListValue(pb::ListValue { values: list.into_iter().map(json_to_value).collect() }),
        Json::Object(map) => Kind::StructValue(pb::Struct { fields: payload_to_map(map) }),
    };
    pb::Value { kind: Some(kind) }
}

/// A proto payload map as a JSON object.
pub fn map_to_json(fields: HashMap<String, pb::Value>) -> Map<String, Json> {
    fields.into_iter().map(|(k, v)| (k, value_to_json(v))).collect()
}

pub fn payload_to_map(payload: Payload) -> HashMap<String, pb::Value> {
    payload.into_iter().map(|(k, v)| (k, json_to_value(v))).collect()
}

pub fn point_id(id: Option<pb::PointId>) -> Result<PointId, Status> {
    use pb::point_id::PointIdOptions;
    match id.and_then(|i| i.point_id_options) {
        Some(PointIdOptions::Num(n)) => Ok(PointId::Num(n)),
        Some(PointIdOptions::Uuid(u)) => Ok(PointId::parse(&u).map_err(crate::ApiError::from)?),
        None => Err(missing("id")),
    }
}

pub fn point_ids(ids: Vec<pb::PointId>) -> Result<Vec<PointId>, Status> {
    ids.into_iter().map(|i| point_id(Some(i))).collect()
}

pub fn point_id_out(id: PointId) -> pb::PointId {
    use pb::point_id::PointIdOptions;
    let options = match id {
        PointId::Num(n) => PointIdOptions::Num(n),
        PointId::Uuid(u) => PointIdOptions::Uuid(u.hyphenated().to_string()),
    };
    pb::PointId { point_id_options: Some(options) }
}

/// A request's shard key selector (`None` when it names no key).
pub fn shard_key(selector: Option<pb::ShardKeySelector>) -> Result<Option<ShardKeySelector>, Status> {
    crate::grpc::shard_keys::selector_in(selector)
}

pub fn with_payload(selector: Option<pb::WithPayloadSelector>, default: bool) -> WithPayload {
    use pb::with_payload_selector::SelectorOptions;
    match selector.and_then(|s| s.selector_options) {
        None => WithPayload::Bool(default),
        Some(SelectorOptions::Enable(b)) => WithPayload::Bool(b),
        Some(SelectorOptions::Include(i)) => WithPayload::Include { include: i.fields },
        Some(SelectorOptions::Exclude(e)) => WithPayload::Exclude { exclude: e.fields },
    }
}

pub fn with_vector(selector: Option<pb::WithVectorsSelector>) -> WithVector {
    use pb::with_vectors_selector::SelectorOptions;
    match selector.and_then(|s| s.selector_options) {
        None => WithVector::Bool(false),
        Some(SelectorOptions::Enable(b)) => WithVector::Bool(b),
        Some(SelectorOptions::Include(i)) => WithVector::Names(i.names),
    }
}

/// The read settings of a request, checked like REST's `?consistency=&timeout=`.
pub fn read_settings(consistency: Option<pb::ReadConsistency>, timeout: Option<u64>) -> Result<ReadSettings, Status> {
    use pb::read_consistency::Value;
    let text = match consistency.and_then(|c| c.value) {
        None => None,
        Some(Value::Factor(n)) => Some(n.to_string()),
        Some(Value::Type(t)) => Some(match pb::ReadConsistencyType::try_from(t) {
            Ok(pb::ReadConsistencyType::All) => "all".to_string(),
            Ok(pb::ReadConsistencyType::Majority) => "majority".to_string(),
            Ok(pb::ReadConsistencyType::Quorum) => "quorum".to_string(),
            Err(_) => format!("type {t}"),
        }),
    };
    let params = crate::wire::ReadParams { consistency: text, timeout };
    Ok(params.check()?)
}

/// One input vector; the deprecated flat fields are read when the oneof is unset.
#[allow(deprecated)]
pub fn vector_in(vector: pb::Vector) -> Result<Vector, Status> {
    use pb::vector::Vector as V;
    match vector.vector {
        Some(V::Dense(d)) => Ok(Vector::Dense(d.data)),
        Some(V::Sparse(s)) => Ok(Vector::Sparse(SparseVector { indices: s.indices, values: s.values })),
        Some(V::MultiDense(m)) => Ok(Vector::Multi(m.vectors.into_iter().map(|v| v.data).collect())),
        Some(V::Document(d)) => {
            let options = map_to_json(d.options);
            Ok(Vector::Sparse(crate::inference::infer_document(&d.text, &d.model, options, Embedding::Document)?))
        }
        Some(V::Image(pb::Image { model, .. }) | V::Object(pb::InferenceObject { model, .. })) => {
            Err(crate::inference::refuse_non_text(&model).into())
        }
        None => match (vector.indices, vector.vectors_count) {
            (Some(indices), _) => Ok(Vector::Sparse(SparseVector { indices: indices.data, values: vector.data })),
            (None, Some(count)) => flat_multivector(vector.data, count),
            (None, None) => Ok(Vector::Dense(vector.data)),
        },
    }
}

/// The deprecated flat form of a multivector: `data` holds `count` vectors of equal length one
/// after the other. Any count, 1 included, makes a multivector; Qdrant refuses a count of 0 and
/// a `data` its count does not divide with these validation messages.
fn flat_multivector(data: Vec<f32>, count: u32) -> Result<Vector, Status> {
    let refuse =
        |issue: &str| Status::invalid_argument(format!("Validation error in body: [data: Validation error: {issue}]"));
    let count = count as usize;
    if count == 0 {
        return Err(refuse("vectors count must be greater than 0"));
    }
    if !data.len().is_multiple_of(count) {
        return Err(refuse("invalid dense vector length for vectors count"));
    }
    let dim = (data.len() / count).max(1);
    Ok(Vector::Multi(data.chunks(dim).map(<[f32]>::to_vec).collect()))
}

/// The vectors of a point by name (`""` for the unnamed one).
pub fn vectors_in(vectors: Option<pb::Vectors>) -> Result<NamedVectors, Status> {
    use pb::vectors::VectorsOptions;
    match vectors.and_then(|v| v.vectors_options) {
        None => Ok(NamedVectors::new()),
        Some(VectorsOptions::Vector(v)) => Ok(NamedVectors::from([(String::new(), vector_in(v)?)])),
        Some(VectorsOptions::Vectors(named)) => {
            named.vectors.into_iter().map(|(name, v)| Ok((name, vector_in(v)?))).collect()
        }
    }
}

#[allow(deprecated)]
fn vector_out(vector: Vector) -> pb::VectorOutput {
    use pb::vector_output::Vector as V;
    let vector = match vector {
        Vector::Dense(data) => V::Dense(pb::DenseVector { data }),
        Vector::Sparse(s) => V::Sparse(pb::SparseVector { values: s.values, indices: s.indices }),
        Vector::Multi(m) => V::MultiDense(pb::MultiDenseVector {
            vectors: m.into_iter().map(|data| pb::DenseVector { data }).collect(),
        }),
    };
    pb::VectorOutput { data: Vec::new(), indices: None, vectors_count: None, vector: Some(vector) }
}

fn vectors_out(vectors: VectorStruct) -> pb::VectorsOutput {
    use pb::vectors_output::VectorsOptions;
    let options = match vectors {
        VectorStruct::Single(v) => VectorsOptions::Vector(vector_out(Vector::Dense(v))),
        VectorStruct::Multi(m) => VectorsOptions::Vector(vector_out(Vector::Multi(m))),
        VectorStruct::Named(map) => VectorsOptions::Vectors(pb::NamedVectorsOutput {
            vectors: map.into_iter().map(|(k, v)| (k, vector_out(v))).collect(),
        }),
    };
    pb::VectorsOutput { vectors_options: Some(options) }
}

fn order_value_out(value: Option<Json>) -> Option<pb::OrderValue> {
    use pb::order_value::Variant;
    let variant = match value? {
        Json::Number(n) => match n.as_i64() {
            Some(i) => Variant::Int(i),
            None => Variant::Float(n.as_f64().unwrap_or_default()),
        },
        Json::Null | Json::Bool(_) | Json::String(_) | Json::Array(_) | Json::Object(_) => return None,
    };
    Some(pb::OrderValue { variant: Some(variant) })
}

pub fn record_out(record: Record) -> pb::RetrievedPoint {
    pb::RetrievedPoint {
        id: Some(point_id_out(record.id)),
        payload: record.payload.map(payload_to_map).unwrap_or_default(),
        vectors: record.vector.map(vectors_out),
        shard_key: record.shard_key.as_ref().map(crate::grpc::shard_keys::key_out),
        order_value: order_value_out(record.order_value),
    }
}

pub fn scored_out(point: ScoredPoint) -> pb::ScoredPoint {
    pb::ScoredPoint {
        id: Some(point_id_out(point.id)),
        payload: point.payload.map(payload_to_map).unwrap_or_default(),
        score: point.score,
        version: point.version,
        vectors: point.vector.map(vectors_out),
        shard_key: point.shard_key.as_ref().map(crate::grpc::shard_keys::key_out),
        order_value: order_value_out(point.order_value),
    }
}

pub fn scored_list(points: Vec<ScoredPoint>) -> Vec<pb::ScoredPoint> {
    points.into_iter().map(scored_out).collect()
}
