//! Service functions for points: writes, retrieval, scroll, count and queries (spec §3).

use crate::error::{NodeError, Result};
use crate::node::Node;
use quiver_collection::SearchRequest;
use quiver_types::filter::{Condition, Filter, HasIdCondition};
use quiver_types::ops::{UpdateOperation, UpdateResult};
use quiver_types::point::{Record, ScoredPoint, Vector};
use quiver_types::query::{QueryVector, ScrollRequest, SearchParams, WithPayload, WithVector};
use quiver_types::{PointId, SparseVector};

/// What a query asks for nearest neighbours of.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryInput {
    Dense(Vec<f32>),
    Sparse(SparseVector),
    Point(PointId),
}

/// A universal query (`POST …/points/query`) in its basic form.
#[derive(Debug, Clone)]
pub struct QueryPoints {
    pub query: Option<QueryInput>,
    pub using: Option<String>,
    pub filter: Option<Filter>,
    pub params: Option<SearchParams>,
    pub limit: usize,
    pub offset: usize,
    pub score_threshold: Option<f32>,
    pub with_payload: WithPayload,
    pub with_vector: WithVector,
}

/// A page of a scroll.
pub use quiver_collection::ScrollPage;

fn excluding(filter: Option<Filter>, id: PointId) -> Filter {
    let mut filter = filter.unwrap_or_default();
    filter.must_not.get_or_insert_with(Vec::new).push(Condition::HasId(HasIdCondition { has_id: vec![id] }));
    filter
}

impl Node {
    /// Applies a write to the collection `name`.
    pub async fn update_points(&self, name: &str, op: UpdateOperation, wait: bool) -> Result<UpdateResult> {
        let collection = self.resolve(name)?;
        Ok(collection.update(op, wait).await?)
    }

    /// `GET …/points/{id}`.
    pub async fn get_point(&self, name: &str, id: PointId) -> Result<Record> {
        let collection = self.resolve(name)?;
        let mut found = collection.retrieve(vec![id], WithPayload::Bool(true), WithVector::Bool(true)).await?;
        found.pop().ok_or_else(|| NodeError::NotFound(format!("Point with id {id} does not exists!")))
    }

    /// `POST …/points`: the points that exist among `ids`.
    pub async fn retrieve_points(
        &self,
        name: &str,
        ids: Vec<PointId>,
        with_payload: WithPayload,
        with_vector: WithVector,
    ) -> Result<Vec<Record>> {
        let collection = self.resolve(name)?;
        Ok(collection.retrieve(ids, with_payload, with_vector).await?)
    }

    /// `POST …/points/scroll`.
    pub async fn scroll_points(&self, name: &str, request: ScrollRequest) -> Result<ScrollPage> {
        let collection = self.resolve(name)?;
        Ok(collection.scroll(request).await?)
    }

    /// `POST …/points/count`.
    pub async fn count_points(&self, name: &str, filter: Option<Filter>) -> Result<usize> {
        let collection = self.resolve(name)?;
        Ok(collection.count(filter).await?)
    }

    /// Legacy search and the vector part of queries.
    pub async fn search_points(&self, name: &str, request: SearchRequest) -> Result<Vec<ScoredPoint>> {
        let collection = self.resolve(name)?;
        Ok(collection.search(request).await?)
    }

    /// `POST …/points/query` (basic forms: vector, sparse vector, point id, or none for id order).
    pub async fn query_points(&self, name: &str, query: QueryPoints) -> Result<Vec<ScoredPoint>> {
        let collection = self.resolve(name)?;
        let vector_name = query.using.clone().unwrap_or_default();
        let (vector, filter) = match query.query {
            None => return self.query_by_id_order(name, query).await,
            Some(QueryInput::Dense(v)) => (QueryVector::Dense(v), query.filter),
            Some(QueryInput::Sparse(v)) => (QueryVector::Sparse(v), query.filter),
            Some(QueryInput::Point(id)) => {
                let vectors = collection
                    .retrieve(vec![id], WithPayload::Bool(false), WithVector::Bool(true))
                    .await?
                    .pop()
                    .and_then(|r| r.vector)
                    .ok_or_else(|| NodeError::NotFound(format!("No point with id {id} found")))?;
                let vector = match vectors.into_named().remove(&vector_name) {
                    Some(Vector::Dense(v)) => QueryVector::Dense(v),
                    Some(Vector::Sparse(v)) => QueryVector::Sparse(v),
                    Some(Vector::Multi(_)) | None => {
                        return Err(NodeError::BadInput(format!("Point {id} has no vector named `{vector_name}`")));
                    }
                };
                (vector, Some(excluding(query.filter, id)))
            }
        };
        let request = SearchRequest {
            vector_name,
            query: vector,
            filter,
            params: query.params,
            limit: query.limit,
            offset: query.offset,
            score_threshold: query.score_threshold,
            with_payload: query.with_payload,
            with_vector: query.with_vector,
        };
        Ok(collection.search(request).await?)
    }

    async fn query_by_id_order(&self, name: &str, query: QueryPoints) -> Result<Vec<ScoredPoint>> {
        let page = self
            .scroll_points(
                name,
                ScrollRequest {
                    offset: None,
                    limit: query.limit + query.offset,
                    filter: query.filter,
                    with_payload: query.with_payload,
                    with_vector: query.with_vector,
                    order_by: None,
                },
            )
            .await?;
        let collection = self.resolve(name)?;
        let ids: Vec<PointId> = page.points.iter().map(|r| r.id).collect();
        let versions = collection.point_versions(&ids).await?;
        Ok(page
            .points
            .into_iter()
            .skip(query.offset)
            .map(|r| ScoredPoint {
                version: versions.get(&r.id).copied().unwrap_or(0),
                id: r.id,
                score: 0.0,
                payload: r.payload,
                vector: r.vector,
                shard_key: None,
                order_value: None,
            })
            .collect())
    }
}
