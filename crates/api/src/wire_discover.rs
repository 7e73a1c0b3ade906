//! The legacy discovery bodies (`POST …/points/discover`, `…/discover/batch`): rewritten into
//! the universal query with a `discover` input (or `context` when there is no target).

use crate::error::ApiError;
use crate::wire_nullable::{no_payload, no_vector, payload_or_none, vector_or_none};
use crate::wire_query::{
    ContextPairWire, DiscoverWire, LookupFromWire, OneOrMany, QueryRequestWire, QueryWire, VectorInputWire,
};
use quiver_node::service::QueryPoints;
use quiver_types::filter::Filter;
use quiver_types::query::{SearchParams, WithPayload, WithVector};
use quiver_types::shard_key::ShardKeySelector;
use serde::Deserialize;

/// `POST …/points/discover`.
#[derive(Debug, Deserialize)]
pub struct DiscoverRequestWire {
    #[serde(default)]
    pub(crate) target: Option<VectorInputWire>,
    #[serde(default)]
    pub(crate) context: Option<Vec<ContextPairWire>>,
    #[serde(default)]
    pub(crate) filter: Option<Filter>,
    #[serde(default)]
    pub(crate) params: Option<SearchParams>,
    #[serde(alias = "top")]
    pub(crate) limit: usize,
    #[serde(default)]
    pub(crate) offset: Option<usize>,
    #[serde(default = "no_payload", deserialize_with = "payload_or_none")]
    pub(crate) with_payload: WithPayload,
    #[serde(default = "no_vector", alias = "with_vectors", deserialize_with = "vector_or_none")]
    pub(crate) with_vector: WithVector,
    #[serde(default)]
    pub(crate) using: Option<String>,
    #[serde(default)]
    pub(crate) lookup_from: Option<LookupFromWire>,
    #[serde(default)]
    pub(crate) shard_key: Option<ShardKeySelector>,
}

impl DiscoverRequestWire {
    /// The same request as a universal query body.
    pub(crate) fn into_query_wire(self) -> Result<QueryRequestWire, ApiError> {
        let context = self.context.unwrap_or_default();
        let query = match self.target {
            Some(target) => {
                QueryWire::Discover { discover: DiscoverWire { target, context: Some(OneOrMany::Many(context)) } }
            }
            None if context.is_empty() => {
                return Err(ApiError::bad_input("discovery needs a target or at least one context pair"));
            }
            None => QueryWire::Context { context: OneOrMany::Many(context) },
        };
        Ok(QueryRequestWire {
            query: Some(query),
            using: self.using,
            prefetch: None,
            filter: self.filter,
            params: self.params,
            score_threshold: None,
            limit: Some(self.limit),
            offset: self.offset,
            with_vector: self.with_vector,
            with_payload: self.with_payload,
            lookup_from: self.lookup_from,
            shard_key: self.shard_key,
        })
    }

    pub fn into_query(self) -> Result<QueryPoints, ApiError> {
        self.into_query_wire()?.into_query()
    }
}

/// `POST …/points/discover/batch`.
#[derive(Debug, Deserialize)]
pub struct DiscoverBatchWire {
    pub searches: Vec<DiscoverRequestWire>,
}
