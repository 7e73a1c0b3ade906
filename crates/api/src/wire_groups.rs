//! REST bodies of grouped searches (`…/query/groups`, `…/search/groups`, `…/recommend/groups`)
//! and their `with_lookup`.

use crate::error::ApiError;
use crate::wire_nullable::{all_payload, no_vector, payload_or_all, vector_or_none};
use crate::wire_query::{QueryRequestWire, RecommendRequestWire, SearchWire};
use quiver_node::service::{GroupBy, GroupLookup, QueryInput, QueryPoints, VectorInput};
use quiver_types::query::{QueryVector, WithPayload, WithVector};
use serde::Deserialize;

/// Qdrant's group size when the request gives none (or `null`).
const DEFAULT_GROUP_SIZE: usize = 3;

/// The grouping fields of every grouped search.
#[derive(Debug, Deserialize)]
pub(crate) struct GroupFieldsWire {
    pub(crate) group_by: String,
    #[serde(default)]
    pub(crate) group_size: Option<usize>,
    #[serde(default)]
    pub(crate) with_lookup: Option<WithLookupWire>,
}

/// `with_lookup`: a collection name, or the collection with what to return of its points
/// (payload by default, no vectors).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum WithLookupWire {
    Collection(String),
    Options {
        collection: String,
        #[serde(default = "all_payload", deserialize_with = "payload_or_all")]
        with_payload: WithPayload,
        #[serde(default = "no_vector", alias = "with_vector", deserialize_with = "vector_or_none")]
        with_vectors: WithVector,
    },
}

impl From<WithLookupWire> for GroupLookup {
    fn from(wire: WithLookupWire) -> GroupLookup {
        match wire {
            WithLookupWire::Collection(collection) => {
                GroupLookup { collection, with_payload: all_payload(), with_vector: no_vector() }
            }
            WithLookupWire::Options { collection, with_payload, with_vectors } => {
                GroupLookup { collection, with_payload, with_vector: with_vectors }
            }
        }
    }
}

impl GroupFieldsWire {
    pub(crate) fn into_group_by(self) -> Result<GroupBy, ApiError> {
        Ok(GroupBy {
            group_by: self.group_by,
            group_size: match self.group_size.unwrap_or(DEFAULT_GROUP_SIZE) {
                0 => return Err(ApiError::validation(quiver_types::validation::at_least("group_size", 0, 1))),
                n => n,
            },
            lookup: self.with_lookup.map(GroupLookup::from),
        })
    }
}

/// `POST …/points/query/groups`.
#[derive(Debug, Deserialize)]
pub struct QueryGroupsWire {
    #[serde(flatten)]
    pub(crate) query: QueryRequestWire,
    #[serde(flatten)]
    pub(crate) group: GroupFieldsWire,
}

impl QueryGroupsWire {
    pub fn into_parts(self) -> Result<(QueryPoints, GroupBy), ApiError> {
        Ok((self.query.into_query()?, self.group.into_group_by()?))
    }
}

/// `POST …/points/search/groups`: a legacy search body plus the grouping fields.
#[derive(Debug, Deserialize)]
pub struct SearchGroupsWire {
    #[serde(flatten)]
    pub(crate) search: SearchWire,
    #[serde(flatten)]
    pub(crate) group: GroupFieldsWire,
}

impl SearchGroupsWire {
    pub fn into_parts(self) -> Result<(QueryPoints, GroupBy), ApiError> {
        let search = self.search.into_request()?;
        let input = match search.query {
            QueryVector::Dense(v) => VectorInput::Dense(v),
            QueryVector::Sparse(v) => VectorInput::Sparse(v),
            QueryVector::Multi(v) => VectorInput::Multi(v),
            QueryVector::Custom(_) | QueryVector::Random { .. } => {
                return Err(ApiError::bad_input("a grouped search takes a vector"));
            }
        };
        let query = QueryPoints {
            prefetch: Vec::new(),
            query: Some(QueryInput::Nearest(input)),
            using: Some(search.vector_name),
            filter: search.filter,
            params: search.params,
            limit: search.limit,
            offset: 0,
            score_threshold: search.score_threshold,
            with_payload: search.with_payload,
            with_vector: search.with_vector,
            shard_key: search.shard_key,
            lookup_from: None,
        };
        Ok((query, self.group.into_group_by()?))
    }
}

/// `POST …/points/recommend/groups`: a legacy recommend body plus the grouping fields.
#[derive(Debug, Deserialize)]
pub struct RecommendGroupsWire {
    #[serde(flatten)]
    pub(crate) recommend: RecommendRequestWire,
    #[serde(flatten)]
    pub(crate) group: GroupFieldsWire,
}

impl RecommendGroupsWire {
    pub fn into_parts(self) -> Result<(QueryPoints, GroupBy), ApiError> {
        Ok((self.recommend.into_query()?, self.group.into_group_by()?))
    }
}
