//! Service functions for points: writes, retrieval, scroll, count and queries (spec §3).

use crate::error::{NodeError, Result};
use crate::node::Node;
use crate::service_query::QueryPoints;
use crate::strict::Traffic;
use quiver_collection::SearchRequest;
use quiver_types::PointId;
use quiver_types::filter::Filter;
use quiver_types::ops::{UpdateOperation, UpdateResult};
use quiver_types::point::{Record, ScoredPoint};
use quiver_types::query::{ScrollRequest, WithPayload, WithVector};
use quiver_types::shard_key::ShardKeySelector;

/// A page of a scroll.
pub use quiver_collection::ScrollPage;

impl Node {
    /// Applies a write to the collection `name`, within the shard keys `shard_key` names.
    pub async fn update_points(
        &self,
        name: &str,
        op: UpdateOperation,
        shard_key: Option<&ShardKeySelector>,
        wait: bool,
    ) -> Result<UpdateResult> {
        self.check_write_lock_for(&op)?;
        let cost = op.point_ids().map_or(1, |ids| ids.len().max(1));
        self.admitted_at_cost(name, Traffic::Write, cost, async {
            let collection = self.resolve(name)?;
            self.check_update(&collection, &op).await?;
            Ok(collection.update(op, shard_key, wait).await?)
        })
        .await
    }

    /// Checks the operations of a batch that need no collection config (filters, key paths)
    /// before the first runs, as Qdrant refuses such a body whole.
    pub fn check_batch<'a>(&self, ops: impl IntoIterator<Item = &'a UpdateOperation>) -> Result<()> {
        ops.into_iter().try_for_each(|op| Ok(quiver_collection::validate::check_operation_shape(op)?))
    }

    /// `GET …/points/{id}` (found in any shard key).
    pub async fn get_point(&self, name: &str, id: PointId) -> Result<Record> {
        self.admitted(name, Traffic::Read, async {
            let collection = self.resolve(name)?;
            let mut found =
                collection.retrieve(vec![id], WithPayload::Bool(true), WithVector::Bool(true), None).await?;
            found.pop().ok_or_else(|| NodeError::NotFound(format!("Point with id {id} does not exists!")))
        })
        .await
    }

    /// `POST …/points`: the points that exist among `ids`.
    pub async fn retrieve_points(
        &self,
        name: &str,
        ids: Vec<PointId>,
        with_payload: WithPayload,
        with_vector: WithVector,
        shard_key: Option<&ShardKeySelector>,
    ) -> Result<Vec<Record>> {
        self.admitted(name, Traffic::Read, async {
            let collection = self.resolve(name)?;
            Ok(collection.retrieve(ids, with_payload, with_vector, shard_key).await?)
        })
        .await
    }

    /// `POST …/points/scroll`.
    pub async fn scroll_points(
        &self,
        name: &str,
        request: ScrollRequest,
        shard_key: Option<&ShardKeySelector>,
    ) -> Result<ScrollPage> {
        self.admitted(name, Traffic::Read, async {
            let collection = self.resolve(name)?;
            self.check_read(&collection, Some(request.limit), request.filter.as_ref(), None)?;
            Ok(collection.scroll(request, shard_key).await?)
        })
        .await
    }

    /// `POST …/points/count`.
    pub async fn count_points(
        &self,
        name: &str,
        filter: Option<Filter>,
        shard_key: Option<&ShardKeySelector>,
    ) -> Result<usize> {
        self.admitted(name, Traffic::Read, async {
            let collection = self.resolve(name)?;
            self.check_read(&collection, None, filter.as_ref(), None)?;
            Ok(collection.count(filter, shard_key).await?)
        })
        .await
    }

    /// Legacy search and the vector part of queries.
    pub async fn search_points(&self, name: &str, request: SearchRequest) -> Result<Vec<ScoredPoint>> {
        self.admitted(name, Traffic::Read, async {
            let collection = self.resolve(name)?;
            let limit = request.limit.saturating_add(request.offset);
            self.check_read(&collection, Some(limit), request.filter.as_ref(), request.params.as_ref())?;
            Ok(collection.search(request).await?)
        })
        .await
    }

    pub(crate) async fn query_by_id_order(&self, name: &str, query: &QueryPoints) -> Result<Vec<ScoredPoint>> {
        let page = self
            .scroll_points(
                name,
                ScrollRequest {
                    offset: None,
                    limit: query.limit.saturating_add(query.offset),
                    filter: query.filter.clone(),
                    with_payload: query.with_payload.clone(),
                    with_vector: query.with_vector.clone(),
                    order_by: None,
                },
                query.shard_key.as_ref(),
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
                // As Qdrant, points read in id order all score 1.
                score: 1.0,
                payload: r.payload,
                vector: r.vector,
                shard_key: r.shard_key,
                order_value: None,
            })
            .collect())
    }
}
