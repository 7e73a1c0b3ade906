//! Qdrant's endpoints on one shard of a collection and its WAL (design record 046): reads of
//! one shard by id, the cleanup of points that belong to another shard, and
//! `truncate_unapplied_wal`.

use crate::error::{NodeError, Result};
use crate::node::Node;
use crate::strict::Traffic;
use quiver_collection::ScrollPage;
use quiver_types::filter::Filter;
use quiver_types::ops::{UpdateResult, UpdateStatus};
use quiver_types::point::Record;
use quiver_types::query::{ScrollRequest, WithPayload, WithVector};
use quiver_types::{PointId, ShardId};
use std::time::Duration;

impl Node {
    /// `POST /collections/{c}/shards/{id}/points`.
    pub async fn retrieve_in_shard(
        &self,
        name: &str,
        shard_id: ShardId,
        ids: Vec<PointId>,
        with_payload: WithPayload,
        with_vector: WithVector,
    ) -> Result<Vec<Record>> {
        self.admitted(name, Traffic::Read, async {
            let collection = self.resolve(name)?;
            Ok(collection.retrieve_in_shard(shard_id, ids, with_payload, with_vector).await?)
        })
        .await
    }

    /// `POST /collections/{c}/shards/{id}/points/scroll`.
    pub async fn scroll_in_shard(
        &self,
        name: &str,
        shard_id: ShardId,
        request: ScrollRequest,
        expected_shard: Option<ShardId>,
    ) -> Result<ScrollPage> {
        self.admitted(name, Traffic::Read, async {
            let collection = self.resolve(name)?;
            self.check_read(&collection, Some(request.limit), request.filter.as_ref(), None)?;
            let ring = expected_shard.map(|shard| collection.ring_filter(shard)).transpose()?;
            Ok(collection.scroll_in_shard(shard_id, request, ring).await?)
        })
        .await
    }

    /// `POST /collections/{c}/shards/{id}/points/count`.
    pub async fn count_in_shard(
        &self,
        name: &str,
        shard_id: ShardId,
        filter: Option<Filter>,
        expected_shard: Option<ShardId>,
    ) -> Result<usize> {
        self.admitted(name, Traffic::Read, async {
            let collection = self.resolve(name)?;
            self.check_read(&collection, None, filter.as_ref(), None)?;
            let ring = expected_shard.map(|shard| collection.ring_filter(shard)).transpose()?;
            Ok(collection.count_in_shard(shard_id, filter, ring).await?)
        })
        .await
    }

    /// `POST /collections/{c}/shards/{id}/cleanup`: starts deleting the points of this peer's
    /// replica of the shard that belong to another shard; with `wait`, answers `completed` once
    /// done, or `acknowledged` when `timeout` passes first (the cleanup goes on, as Qdrant's).
    pub async fn cleanup_local_shard(
        &self,
        name: &str,
        shard_id: ShardId,
        wait: bool,
        timeout: Option<Duration>,
    ) -> Result<UpdateResult> {
        let collection = self.resolve(name)?;
        let target = collection.clean_target(shard_id)?;
        let task = tokio::spawn(async move {
            let deleted = collection.clean_shard(target).await;
            if let Ok(n) = &deleted {
                tracing::info!(collection = collection.name(), shard_id, deleted = n, "shard cleaned");
            }
            deleted
        });
        let acknowledged = UpdateResult { operation_id: None, status: UpdateStatus::Acknowledged, missing_point: None };
        if !wait {
            return Ok(acknowledged);
        }
        let finished = match timeout {
            Some(limit) => match tokio::time::timeout(limit, task).await {
                Ok(finished) => finished,
                Err(_) => return Ok(acknowledged),
            },
            None => task.await,
        };
        finished.map_err(|e| NodeError::Service(format!("cleanup task: {e}")))??;
        Ok(UpdateResult { status: UpdateStatus::Completed, ..acknowledged })
    }

    /// `POST /collections/{c}/truncate_unapplied_wal`: the number of WAL records dropped that
    /// were written but not yet applied. A Quiver shard applies each record under the lock that
    /// appended it, so none is ever pending: 0 for any collection that exists.
    pub fn truncate_unapplied_wal(&self, name: &str) -> Result<usize> {
        self.resolve(name)?;
        Ok(0)
    }
}
