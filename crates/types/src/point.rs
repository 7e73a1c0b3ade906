//! Points: vectors (dense, sparse), payloads, and the records returned by reads.

use crate::PointId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A point's payload: a JSON object.
pub type Payload = serde_json::Map<String, serde_json::Value>;

/// The name of the unnamed (default) dense vector.
pub const DEFAULT_VECTOR_NAME: &str = "";

/// A sparse vector: parallel lists of dimension indices and values. In JSON it is only the
/// object `{"indices": [...], "values": [...]}` (read by `point_serde.rs`): a list of two lists
/// is a multivector.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SparseVector {
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl SparseVector {
    /// Checks the lists have equal lengths and no index repeats.
    pub fn validate(&self) -> Result<(), crate::TypesError> {
        match self.shape_fault() {
            Some(SparseFault::Lengths) => {
                Err(crate::TypesError::Validation("Sparse vector indices and values must have the same length".into()))
            }
            Some(SparseFault::RepeatedIndex) => {
                Err(crate::TypesError::Validation("Sparse vector indices must be unique".into()))
            }
            None => Ok(()),
        }
    }

    /// [`SparseVector::validate`] of a vector of a point in a request body, worded as Qdrant's
    /// validation of it at `path` (`points[0].vector.?`: Qdrant's validator names no map key).
    pub fn validate_at(&self, path: &str) -> Result<(), crate::TypesError> {
        let issue = match self.shape_fault() {
            Some(SparseFault::Lengths) => "values: Validation error: must be the same length as indices [{}]",
            Some(SparseFault::RepeatedIndex) => "indices: Validation error: must be unique [{}]",
            None => return Ok(()),
        };
        Err(crate::TypesError::Validation(format!("{path}.{issue}")))
    }

    fn shape_fault(&self) -> Option<SparseFault> {
        if self.indices.len() != self.values.len() {
            return Some(SparseFault::Lengths);
        }
        let mut seen = self.indices.clone();
        seen.sort_unstable();
        seen.windows(2).any(|w| w[0] == w[1]).then_some(SparseFault::RepeatedIndex)
    }

    /// Returns a copy with indices sorted ascending (values follow their indices).
    pub fn sorted(&self) -> SparseVector {
        let mut pairs: Vec<(u32, f32)> = self.indices.iter().copied().zip(self.values.iter().copied()).collect();
        pairs.sort_unstable_by_key(|p| p.0);
        SparseVector { indices: pairs.iter().map(|p| p.0).collect(), values: pairs.iter().map(|p| p.1).collect() }
    }
}

/// What is wrong with a sparse vector's lists.
enum SparseFault {
    Lengths,
    RepeatedIndex,
}

/// One vector of a point (read by `point_serde.rs`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Vector {
    Dense(Vec<f32>),
    Sparse(SparseVector),
    Multi(Vec<Vec<f32>>),
}

/// The vectors of a point as clients send and receive them: one unnamed vector or a map (read
/// by `point_serde.rs`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum VectorStruct {
    Single(Vec<f32>),
    Multi(Vec<Vec<f32>>),
    Named(BTreeMap<String, Vector>),
}

/// A point's vectors by name; the unnamed vector has the name `""`.
pub type NamedVectors = BTreeMap<String, Vector>;

impl VectorStruct {
    /// Normalises into vectors by name.
    pub fn into_named(self) -> NamedVectors {
        match self {
            VectorStruct::Single(v) => BTreeMap::from([(DEFAULT_VECTOR_NAME.to_string(), Vector::Dense(v))]),
            VectorStruct::Multi(v) => BTreeMap::from([(DEFAULT_VECTOR_NAME.to_string(), Vector::Multi(v))]),
            VectorStruct::Named(map) => map,
        }
    }

    /// The output form: a bare list (of lists for a multivector) when the only vector is the
    /// unnamed dense one.
    pub fn from_named(mut named: NamedVectors) -> VectorStruct {
        if named.len() == 1 {
            match named.remove(DEFAULT_VECTOR_NAME) {
                Some(Vector::Dense(v)) => return VectorStruct::Single(v),
                Some(Vector::Multi(v)) => return VectorStruct::Multi(v),
                Some(other) => {
                    named.insert(DEFAULT_VECTOR_NAME.to_string(), other);
                }
                None => {}
            }
        }
        VectorStruct::Named(named)
    }
}

/// A point to insert: id, vectors, optional payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointStruct {
    pub id: PointId,
    pub vectors: NamedVectors,
    pub payload: Option<Payload>,
}

/// A point as reads return it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: PointId,
    pub payload: Option<Payload>,
    pub vector: Option<VectorStruct>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub shard_key: Option<crate::shard_key::ShardKey>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub order_value: Option<serde_json::Value>,
}

/// A point with its similarity score, as searches return it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredPoint {
    pub id: PointId,
    pub version: u64,
    pub score: f32,
    pub payload: Option<Payload>,
    pub vector: Option<VectorStruct>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub shard_key: Option<crate::shard_key::ShardKey>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub order_value: Option<serde_json::Value>,
}
