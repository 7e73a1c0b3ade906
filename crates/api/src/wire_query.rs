//! REST bodies of searches and universal queries (spec §3.3) and their conversion.

use crate::error::ApiError;
use crate::wire::{positive_limit, shard_key_unsupported};
use quiver_node::service::SearchRequest;
use quiver_node::service::{QueryInput, QueryPoints};
use quiver_types::filter::Filter;
use quiver_types::query::{QueryVector, SearchParams, WithPayload, WithVector};
use quiver_types::{PointId, SparseVector};
use serde::Deserialize;
use serde_json::Value;

fn no_payload() -> WithPayload {
    WithPayload::Bool(false)
}

fn no_vector() -> WithVector {
    WithVector::Bool(false)
}

/// The `vector` of a legacy search: a bare list or a named dense/sparse vector.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum NamedVectorWire {
    Dense(Vec<f32>),
    NamedDense { name: String, vector: Vec<f32> },
    NamedSparse { name: String, vector: SparseVector },
}

/// `POST …/points/search`.
#[derive(Debug, Deserialize)]
pub struct SearchWire {
    vector: NamedVectorWire,
    #[serde(default)]
    filter: Option<Filter>,
    #[serde(default)]
    params: Option<SearchParams>,
    #[serde(alias = "top")]
    limit: usize,
    #[serde(default)]
    offset: Option<usize>,
    #[serde(default = "no_payload")]
    with_payload: WithPayload,
    #[serde(default = "no_vector", alias = "with_vectors")]
    with_vector: WithVector,
    #[serde(default)]
    score_threshold: Option<f32>,
    #[serde(default)]
    shard_key: Option<Value>,
}

impl SearchWire {
    pub fn into_request(self) -> Result<SearchRequest, ApiError> {
        shard_key_unsupported(&self.shard_key)?;
        let (vector_name, query) = match self.vector {
            NamedVectorWire::Dense(v) => (String::new(), QueryVector::Dense(v)),
            NamedVectorWire::NamedDense { name, vector } => (name, QueryVector::Dense(vector)),
            NamedVectorWire::NamedSparse { name, vector } => (name, QueryVector::Sparse(vector)),
        };
        Ok(SearchRequest {
            vector_name,
            query,
            filter: self.filter,
            params: self.params,
            limit: positive_limit(self.limit)?,
            offset: self.offset.unwrap_or(0),
            score_threshold: self.score_threshold,
            with_payload: self.with_payload,
            with_vector: self.with_vector,
        })
    }
}

/// `POST …/points/search/batch`.
#[derive(Debug, Deserialize)]
pub struct SearchBatchWire {
    pub searches: Vec<SearchWire>,
}

/// A vector input of a query: dense, sparse, multi (refused), or a point id.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum VectorInputWire {
    Dense(Vec<f32>),
    Sparse(SparseVector),
    Multi(#[allow(dead_code)] Vec<Vec<f32>>),
    Id(PointId),
}

/// The `query` of a universal query.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum QueryWire {
    Nearest { nearest: VectorInputWire },
    Vector(VectorInputWire),
    Other(serde_json::Map<String, Value>),
}

/// `POST …/points/query`.
#[derive(Debug, Deserialize)]
pub struct QueryRequestWire {
    #[serde(default)]
    query: Option<QueryWire>,
    #[serde(default)]
    using: Option<String>,
    #[serde(default)]
    prefetch: Option<Value>,
    #[serde(default)]
    filter: Option<Filter>,
    #[serde(default)]
    params: Option<SearchParams>,
    #[serde(default)]
    score_threshold: Option<f32>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    offset: Option<usize>,
    #[serde(default = "no_vector", alias = "with_vectors")]
    with_vector: WithVector,
    #[serde(default = "no_payload")]
    with_payload: WithPayload,
    #[serde(default)]
    lookup_from: Option<Value>,
    #[serde(default)]
    shard_key: Option<Value>,
}

fn vector_input(input: VectorInputWire) -> Result<QueryInput, ApiError> {
    match input {
        VectorInputWire::Dense(v) => Ok(QueryInput::Dense(v)),
        VectorInputWire::Sparse(v) => Ok(QueryInput::Sparse(v)),
        VectorInputWire::Id(id) => Ok(QueryInput::Point(id)),
        VectorInputWire::Multi(_) => Err(ApiError::bad_input("Multivector queries are not supported")),
    }
}

impl QueryRequestWire {
    pub fn into_query(self) -> Result<QueryPoints, ApiError> {
        shard_key_unsupported(&self.shard_key)?;
        if self.prefetch.as_ref().is_some_and(|p| !p.is_null()) {
            return Err(ApiError::bad_input("prefetch is not supported yet"));
        }
        if self.lookup_from.as_ref().is_some_and(|p| !p.is_null()) {
            return Err(ApiError::bad_input("lookup_from is not supported yet"));
        }
        let query = match self.query {
            None => None,
            Some(QueryWire::Nearest { nearest }) | Some(QueryWire::Vector(nearest)) => Some(vector_input(nearest)?),
            Some(QueryWire::Other(map)) => {
                let kind = map.keys().next().cloned().unwrap_or_default();
                return Err(ApiError::bad_input(format!("query `{kind}` is not supported yet")));
            }
        };
        Ok(QueryPoints {
            query,
            using: self.using,
            filter: self.filter,
            params: self.params,
            limit: positive_limit(self.limit.unwrap_or(10))?,
            offset: self.offset.unwrap_or(0),
            score_threshold: self.score_threshold,
            with_payload: self.with_payload,
            with_vector: self.with_vector,
        })
    }
}

/// `POST …/points/query/batch`.
#[derive(Debug, Deserialize)]
pub struct QueryBatchWire {
    pub searches: Vec<QueryRequestWire>,
}
