//! A collection seen through one request's shard key selector (custom sharding, design record
//! 016): every read a query makes (searches, lookups of example points, scrolls) reaches the
//! same shards.

use quiver_collection::{Collection, CollectionError, ScrollPage, SearchRequest};
use quiver_types::PointId;
use quiver_types::point::{Record, ScoredPoint, Vector};
use quiver_types::query::{QueryVector, ScrollRequest, WithPayload, WithVector};
use quiver_types::shard_key::ShardKeySelector;
use std::collections::HashMap;
use std::sync::Arc;

type Result<T> = std::result::Result<T, CollectionError>;

/// `collection` read within `shard_key` (every shard when `None`).
#[derive(Clone)]
pub(crate) struct Keyed {
    collection: Arc<Collection>,
    shard_key: Option<ShardKeySelector>,
}

impl Keyed {
    pub(crate) fn new(collection: Arc<Collection>, shard_key: Option<ShardKeySelector>) -> Keyed {
        Keyed { collection, shard_key }
    }

    /// The collection's name.
    pub(crate) fn name(&self) -> &str {
        self.collection.name()
    }

    /// How close two vectors of the vector `name` are (see `Collection::closeness`).
    pub(crate) fn closeness(&self, name: &str) -> impl Fn(&Vector, &Vector) -> f32 + use<> {
        self.collection.closeness(name)
    }

    /// How relevant a stored vector of `name` is to `query` (see `Collection::relevance`).
    pub(crate) fn relevance(&self, name: &str, query: &QueryVector) -> Result<impl Fn(&Vector) -> f32 + use<>> {
        self.collection.relevance(name, query)
    }

    pub(crate) async fn search(&self, request: SearchRequest) -> Result<Vec<ScoredPoint>> {
        self.collection.search(SearchRequest { shard_key: self.shard_key.clone(), ..request }).await
    }

    pub(crate) async fn retrieve(
        &self,
        ids: Vec<PointId>,
        with_payload: WithPayload,
        with_vector: WithVector,
    ) -> Result<Vec<Record>> {
        self.collection.retrieve(ids, with_payload, with_vector, self.shard_key.as_ref()).await
    }

    pub(crate) async fn scroll(&self, request: ScrollRequest) -> Result<ScrollPage> {
        self.collection.scroll(request, self.shard_key.as_ref()).await
    }

    pub(crate) async fn point_versions(&self, ids: &[PointId]) -> Result<HashMap<PointId, u64>> {
        self.collection.point_versions(ids).await
    }
}
