//! Shard transfers by copy (`stream_records`): the target freezes nothing itself; it asks the
//! source to freeze a consistent copy of its replica, pages through it, installs it, and then
//! applies the ordered writes the primary kept sending meanwhile (they wait for the install).

use crate::collection::Collection;
use crate::error::{CollectionError, Result};
use crate::remote::{ShardRequest, ShardResponse};
use crate::replica_set::{FrozenCopy, ReplicaSet};
use crate::replication::{SHARD_CALL_TIMEOUT, no_replica};
use quiver_shard::LocalShard;
use quiver_types::{PeerId, ShardId};
use std::sync::Arc;

/// Points per page of a transfer.
const PAGE_POINTS: usize = 500;

/// Source side: freezes a consistent copy of the local replica.
pub(crate) async fn freeze(set: &ReplicaSet, local: &Arc<LocalShard>) -> Result<ShardResponse> {
    let shard = Arc::clone(local);
    let (seq, points) = tokio::task::spawn_blocking(move || shard.snapshot_points())
        .await
        .map_err(|e| CollectionError::Service(format!("snapshot task: {e}")))?;
    let token = rand_token(seq, points.len());
    let total = points.len();
    *set.frozen.lock() = Some(FrozenCopy { token, seq, points: Arc::new(points) });
    Ok(ShardResponse::Snapshot { token, seq, total })
}

fn rand_token(seq: u64, len: usize) -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    nanos ^ seq.rotate_left(17) ^ (len as u64).rotate_left(40)
}

/// Source side: one page of the frozen copy.
pub(crate) fn page(set: &ReplicaSet, token: u64, offset: usize, limit: usize) -> Result<ShardResponse> {
    let frozen = set.frozen.lock();
    let copy = frozen
        .as_ref()
        .filter(|c| c.token == token)
        .ok_or_else(|| CollectionError::BadInput(format!("no frozen copy {token} of shard {}", set.shard_id)))?;
    let end = offset.saturating_add(limit).min(copy.points.len());
    Ok(ShardResponse::Points(copy.points.get(offset..end).map(<[_]>::to_vec).unwrap_or_default()))
}

/// Source side: drops the frozen copy.
pub(crate) fn release(set: &ReplicaSet, token: u64) -> ShardResponse {
    let mut frozen = set.frozen.lock();
    if frozen.as_ref().is_some_and(|c| c.token == token) {
        *frozen = None;
    }
    ShardResponse::Done
}

impl Collection {
    /// Target side: copies shard `shard_id` from `source` into the local replica. Ordered writes
    /// arriving meanwhile wait for the install and then apply on top of the copy.
    pub async fn pull_shard(&self, shard_id: ShardId, source: PeerId) -> Result<usize> {
        let set = self.replica_set(shard_id)?;
        let local = Arc::clone(set.local().ok_or_else(|| no_replica(shard_id))?);
        let ports = self.cluster.get().ok_or_else(|| no_replica(shard_id))?;
        let _install = set.installing.write().await;
        let call = |request| ports.transport.call(source, self.name(), shard_id, request, SHARD_CALL_TIMEOUT);
        let (token, seq, total) = call(ShardRequest::SnapshotBegin).await?.into_snapshot()?;
        let mut points = Vec::with_capacity(total);
        while points.len() < total {
            let page = call(ShardRequest::SnapshotPage { token, offset: points.len(), limit: PAGE_POINTS }).await?;
            let page = page.into_points()?;
            if page.is_empty() {
                return Err(CollectionError::Service(format!("transfer of shard {shard_id} ended early")));
            }
            points.extend(page);
        }
        let _ = call(ShardRequest::SnapshotEnd { token }).await;
        let task = tokio::task::spawn_blocking(move || local.install(seq, points));
        task.await.map_err(|e| CollectionError::Service(format!("install task: {e}")))??;
        Ok(total)
    }
}
