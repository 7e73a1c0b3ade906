//! REST bodies of searches and universal queries (spec §3.3) and their conversion.

use crate::error::ApiError;
use crate::wire::positive_limit;
use quiver_node::service::SearchRequest;
use quiver_node::service::{Fusion, Prefetch, QueryInput, QueryPoints, VectorInput};
use quiver_types::filter::Filter;
use quiver_types::query::{OrderByInterface, QueryVector, SearchParams, WithPayload, WithVector};
use quiver_types::shard_key::ShardKeySelector;
use quiver_types::{PointId, SparseVector};
use serde::Deserialize;
use serde_json::Value;

fn no_payload() -> WithPayload {
    WithPayload::Bool(false)
}

pub(crate) fn no_vector() -> WithVector {
    WithVector::Bool(false)
}

/// The `vector` of a legacy search: a bare list or a named dense/sparse vector.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum NamedVectorWire {
    Dense(Vec<f32>),
    NamedDense { name: String, vector: Vec<f32> },
    NamedSparse { name: String, vector: SparseVector },
}

/// `POST …/points/search`.
#[derive(Debug, Deserialize)]
pub struct SearchWire {
    pub(crate) vector: NamedVectorWire,
    #[serde(default)]
    pub(crate) filter: Option<Filter>,
    #[serde(default)]
    pub(crate) params: Option<SearchParams>,
    #[serde(alias = "top")]
    pub(crate) limit: usize,
    #[serde(default)]
    pub(crate) offset: Option<usize>,
    #[serde(default = "no_payload")]
    pub(crate) with_payload: WithPayload,
    #[serde(default = "no_vector", alias = "with_vectors")]
    pub(crate) with_vector: WithVector,
    #[serde(default)]
    pub(crate) score_threshold: Option<f32>,
    #[serde(default)]
    pub(crate) shard_key: Option<ShardKeySelector>,
}

impl SearchWire {
    pub fn into_request(self) -> Result<SearchRequest, ApiError> {
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
            shard_key: ShardKeySelector::given(self.shard_key),
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
pub(crate) enum VectorInputWire {
    Dense(Vec<f32>),
    Sparse(SparseVector),
    Multi(#[allow(dead_code)] Vec<Vec<f32>>),
    Id(PointId),
}

#[derive(Debug, Deserialize)]
pub(crate) struct RecommendWire {
    #[serde(default)]
    pub(crate) positive: Vec<VectorInputWire>,
    #[serde(default)]
    pub(crate) negative: Vec<VectorInputWire>,
    #[serde(default)]
    pub(crate) strategy: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum FusionWire {
    Rrf,
    Dbsf,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RrfWire {
    #[serde(default)]
    pub(crate) k: Option<usize>,
}

/// The `query` of a universal query.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum QueryWire {
    Nearest { nearest: VectorInputWire },
    Recommend { recommend: RecommendWire },
    Fusion { fusion: FusionWire },
    Rrf { rrf: RrfWire },
    OrderBy { order_by: OrderByInterface },
    Vector(VectorInputWire),
    Other(serde_json::Map<String, Value>),
}

/// A prefetch (same shape recursively).
#[derive(Debug, Deserialize)]
pub(crate) struct PrefetchWire {
    #[serde(default)]
    pub(crate) prefetch: Option<OneOrMany<PrefetchWire>>,
    #[serde(default)]
    pub(crate) query: Option<QueryWire>,
    #[serde(default)]
    pub(crate) using: Option<String>,
    #[serde(default)]
    pub(crate) filter: Option<Filter>,
    #[serde(default)]
    pub(crate) params: Option<SearchParams>,
    #[serde(default)]
    pub(crate) score_threshold: Option<f32>,
    #[serde(default)]
    pub(crate) limit: Option<usize>,
    #[serde(default)]
    pub(crate) lookup_from: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany<T> {
    Many(Vec<T>),
    One(Box<T>),
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::Many(v) => v,
            OneOrMany::One(one) => vec![*one],
        }
    }
}

/// `POST …/points/query`.
#[derive(Debug, Deserialize)]
pub struct QueryRequestWire {
    #[serde(default)]
    pub(crate) query: Option<QueryWire>,
    #[serde(default)]
    pub(crate) using: Option<String>,
    #[serde(default)]
    pub(crate) prefetch: Option<OneOrMany<PrefetchWire>>,
    #[serde(default)]
    pub(crate) filter: Option<Filter>,
    #[serde(default)]
    pub(crate) params: Option<SearchParams>,
    #[serde(default)]
    pub(crate) score_threshold: Option<f32>,
    #[serde(default)]
    pub(crate) limit: Option<usize>,
    #[serde(default)]
    pub(crate) offset: Option<usize>,
    #[serde(default = "no_vector", alias = "with_vectors")]
    pub(crate) with_vector: WithVector,
    #[serde(default = "no_payload")]
    pub(crate) with_payload: WithPayload,
    #[serde(default)]
    pub(crate) lookup_from: Option<Value>,
    #[serde(default)]
    pub(crate) shard_key: Option<ShardKeySelector>,
}

fn vector_input(input: VectorInputWire) -> Result<VectorInput, ApiError> {
    match input {
        VectorInputWire::Dense(v) => Ok(VectorInput::Dense(v)),
        VectorInputWire::Sparse(v) => Ok(VectorInput::Sparse(v)),
        VectorInputWire::Id(id) => Ok(VectorInput::Point(id)),
        VectorInputWire::Multi(_) => Err(ApiError::bad_input("Multivector queries are not supported")),
    }
}

fn query_input(query: Option<QueryWire>) -> Result<Option<QueryInput>, ApiError> {
    let Some(query) = query else { return Ok(None) };
    Ok(Some(match query {
        QueryWire::Nearest { nearest: v } | QueryWire::Vector(v) => QueryInput::Nearest(vector_input(v)?),
        QueryWire::Recommend { recommend } => {
            let positive = recommend.positive.into_iter().map(vector_input).collect::<Result<_, _>>()?;
            let negative = recommend.negative.into_iter().map(vector_input).collect::<Result<_, _>>()?;
            match recommend.strategy.as_deref() {
                None | Some("average_vector") => QueryInput::Recommend { positive, negative },
                Some("best_score") => QueryInput::RecommendBestScore { positive, negative },
                Some(_) => {
                    return Err(ApiError::bad_input(
                        "Only the `average_vector` and `best_score` recommend strategies are supported yet",
                    ));
                }
            }
        }
        QueryWire::Fusion { fusion: FusionWire::Rrf } => QueryInput::Fusion(Fusion::Rrf { k: 2 }),
        QueryWire::Fusion { fusion: FusionWire::Dbsf } => QueryInput::Fusion(Fusion::Dbsf),
        QueryWire::Rrf { rrf } => QueryInput::Fusion(Fusion::Rrf { k: rrf.k.unwrap_or(2) }),
        QueryWire::OrderBy { order_by } => QueryInput::OrderBy(order_by.into_order_by()),
        QueryWire::Other(map) => {
            let kind = map.keys().next().cloned().unwrap_or_default();
            return Err(ApiError::bad_input(format!("query `{kind}` is not supported yet")));
        }
    }))
}

fn no_lookup(lookup_from: &Option<Value>) -> Result<(), ApiError> {
    match lookup_from {
        None | Some(Value::Null) => Ok(()),
        Some(_) => Err(ApiError::bad_input("lookup_from is not supported yet")),
    }
}

fn prefetches(prefetch: Option<OneOrMany<PrefetchWire>>) -> Result<Vec<Prefetch>, ApiError> {
    let list = prefetch.map(OneOrMany::into_vec).unwrap_or_default();
    list.into_iter()
        .map(|p| {
            no_lookup(&p.lookup_from)?;
            Ok(Prefetch {
                prefetch: prefetches(p.prefetch)?,
                query: query_input(p.query)?,
                using: p.using,
                filter: p.filter,
                params: p.params,
                score_threshold: p.score_threshold,
                limit: positive_limit(p.limit.unwrap_or(10))?,
            })
        })
        .collect()
}

impl QueryRequestWire {
    pub fn into_query(self) -> Result<QueryPoints, ApiError> {
        no_lookup(&self.lookup_from)?;
        Ok(QueryPoints {
            prefetch: prefetches(self.prefetch)?,
            query: query_input(self.query)?,
            using: self.using,
            filter: self.filter,
            params: self.params,
            limit: positive_limit(self.limit.unwrap_or(10))?,
            offset: self.offset.unwrap_or(0),
            score_threshold: self.score_threshold,
            with_payload: self.with_payload,
            with_vector: self.with_vector,
            shard_key: ShardKeySelector::given(self.shard_key),
        })
    }
}

/// `POST …/points/query/batch`.
#[derive(Debug, Deserialize)]
pub struct QueryBatchWire {
    pub searches: Vec<QueryRequestWire>,
}

/// The legacy recommend body (`POST …/points/recommend`, `…/recommend/batch`, and with the
/// grouping fields `…/recommend/groups`): the universal query with a `recommend` input.
#[derive(Debug, Deserialize)]
pub struct RecommendRequestWire {
    #[serde(default)]
    pub(crate) positive: Vec<VectorInputWire>,
    #[serde(default)]
    pub(crate) negative: Vec<VectorInputWire>,
    #[serde(default)]
    pub(crate) strategy: Option<String>,
    #[serde(default)]
    pub(crate) filter: Option<Filter>,
    #[serde(default)]
    pub(crate) params: Option<SearchParams>,
    pub(crate) limit: usize,
    #[serde(default)]
    pub(crate) offset: Option<usize>,
    #[serde(default = "no_payload")]
    pub(crate) with_payload: WithPayload,
    #[serde(default = "no_vector", alias = "with_vectors")]
    pub(crate) with_vector: WithVector,
    #[serde(default)]
    pub(crate) score_threshold: Option<f32>,
    #[serde(default)]
    pub(crate) using: Option<String>,
    #[serde(default)]
    pub(crate) lookup_from: Option<Value>,
    #[serde(default)]
    pub(crate) shard_key: Option<ShardKeySelector>,
}

impl RecommendRequestWire {
    /// The same request as a universal query body.
    pub(crate) fn into_query_wire(self) -> QueryRequestWire {
        let recommend = RecommendWire { positive: self.positive, negative: self.negative, strategy: self.strategy };
        QueryRequestWire {
            query: Some(QueryWire::Recommend { recommend }),
            using: self.using,
            prefetch: None,
            filter: self.filter,
            params: self.params,
            score_threshold: self.score_threshold,
            limit: Some(self.limit),
            offset: self.offset,
            with_vector: self.with_vector,
            with_payload: self.with_payload,
            lookup_from: self.lookup_from,
            shard_key: self.shard_key,
        }
    }

    pub fn into_query(self) -> Result<QueryPoints, ApiError> {
        if self.positive.is_empty() && self.negative.is_empty() {
            return Err(ApiError::bad_input("At least one positive or negative example is required"));
        }
        self.into_query_wire().into_query()
    }
}

/// `POST …/points/recommend/batch`.
#[derive(Debug, Deserialize)]
pub struct RecommendBatchWire {
    pub searches: Vec<RecommendRequestWire>,
}
