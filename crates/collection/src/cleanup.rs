//! `POST /collections/{c}/shards/{id}/cleanup` (design record 046): the points this peer's
//! replica of a shard holds that the collection's ring places in another shard (left by a
//! shard snapshot recovered into the wrong shard, say) are deleted. Unlike Qdrant, which deletes
//! from its local replica alone, the delete goes through the shard's ordered, replicated write
//! path: Quiver's replicas share one history, and a write outside it would make this replica
//! diverge from its primary.

use crate::collection::Collection;
use crate::error::{CollectionError, Result};
use crate::replica_set::ReplicaSet;
use quiver_shard::LocalShard;
use quiver_types::ops::{PointSelector, UpdateOperation};
use quiver_types::query::{ScrollRequest, WithPayload, WithVector};
use quiver_types::{PointId, ShardId};
use std::sync::Arc;

/// How many ids one page of the walk over the local replica reads, and one delete names.
const CLEAN_BATCH: usize = 1000;

/// A shard to clean: its replica set and this peer's replica of it.
pub struct CleanTarget {
    set: Arc<ReplicaSet>,
    local: Arc<LocalShard>,
    shard_id: ShardId,
}

impl Collection {
    /// Shard `shard_id` as a cleanup finds it: Qdrant's 404s for a shard the collection lacks
    /// and for one this peer holds no replica of.
    pub fn clean_target(&self, shard_id: ShardId) -> Result<CleanTarget> {
        let set =
            self.replica_set(shard_id).map_err(|_| CollectionError::NotFound(format!("Shard {shard_id} not found")))?;
        let local =
            set.local().ok_or_else(|| CollectionError::NotFound(format!("Shard {shard_id} is not a local shard")))?;
        Ok(CleanTarget { set, local, shard_id })
    }

    /// Deletes the points of `target`'s local replica that do not belong to its shard, in
    /// batches, each through the shard's primary; returns how many were deleted.
    pub async fn clean_shard(&self, target: CleanTarget) -> Result<usize> {
        let Some(ring) = self.routing().ring_of(target.shard_id) else { return Ok(0) };
        let mut offset = None;
        let mut deleted = 0;
        loop {
            let (strays, next) = stray_page(&target.local, offset, |id| ring.shard_of(id) != target.shard_id).await?;
            if !strays.is_empty() {
                deleted += strays.len();
                let delete = UpdateOperation::Delete { selector: PointSelector::Ids(strays) };
                target.set.write(delete, true).await?;
            }
            match next {
                Some(next) => offset = Some(next),
                None => return Ok(deleted),
            }
        }
    }
}

/// One page of the local replica's ids from `offset`: those `stray` picks, and the next offset.
async fn stray_page(
    local: &Arc<LocalShard>,
    offset: Option<PointId>,
    stray: impl Fn(&PointId) -> bool,
) -> Result<(Vec<PointId>, Option<PointId>)> {
    let request = ScrollRequest {
        offset,
        limit: CLEAN_BATCH + 1,
        filter: None,
        with_payload: WithPayload::Bool(false),
        with_vector: WithVector::Bool(false),
        order_by: None,
    };
    let local = Arc::clone(local);
    let page = tokio::task::spawn_blocking(move || local.scroll(&request))
        .await
        .map_err(|e| CollectionError::Service(format!("cleanup task: {e}")))??;
    let mut ids: Vec<PointId> = page.points.into_iter().map(|r| r.id).collect();
    let next = match ids.len() > CLEAN_BATCH {
        true => ids.pop(),
        false => None,
    };
    ids.retain(|id| stray(id));
    Ok((ids, next))
}

#[cfg(test)]
mod tests {
    use crate::collection::Collection;
    use crate::tests_info::{config_with_shards, upsert};
    use quiver_types::PointId;
    use quiver_types::ops::UpdateOperation;
    use quiver_types::query::{ScrollRequest, WithPayload, WithVector};

    fn ids_request(limit: usize) -> ScrollRequest {
        ScrollRequest {
            offset: None,
            limit,
            filter: None,
            with_payload: WithPayload::Bool(false),
            with_vector: WithVector::Bool(false),
            order_by: None,
        }
    }

    #[tokio::test]
    async fn cleanup_deletes_the_points_the_ring_places_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let collection = Collection::create("c", dir.path(), config_with_shards(2), None).unwrap();
        collection.update(upsert(0..2500), None, true).await.unwrap();
        let in_shard_1 = collection.count_in_shard(1, None, None).await.unwrap();
        // Shard 0's points written straight into shard 1's replica, as a wrong snapshot would.
        let local = collection.replica_set(1).unwrap().local().unwrap();
        let strays: Vec<u64> = (0..2500).filter(|i| collection.shard_of(&PointId::Num(*i)) == 0).collect();
        let UpdateOperation::Upsert { mut points, mode, update_filter } = upsert(0..2500) else { unreachable!() };
        points.retain(|p| strays.iter().any(|s| p.id == PointId::Num(*s)));
        local.update(&UpdateOperation::Upsert { points, mode, update_filter }, true).unwrap();
        assert_eq!(collection.count_in_shard(1, None, None).await.unwrap(), in_shard_1 + strays.len());
        let ring = collection.ring_filter(1).unwrap();
        assert_eq!(collection.count_in_shard(1, None, Some(ring.clone())).await.unwrap(), in_shard_1);
        let page = collection.scroll_in_shard(1, ids_request(5), Some(ring.clone())).await.unwrap();
        assert!(page.points.iter().all(|r| ring.keeps(&r.id)) && page.points.len() == 5);

        let target = collection.clean_target(1).unwrap();
        assert_eq!(collection.clean_shard(target).await.unwrap(), strays.len());
        assert_eq!(collection.count_in_shard(1, None, None).await.unwrap(), in_shard_1);
        assert_eq!(collection.count_in_shard(0, None, None).await.unwrap(), strays.len(), "shard 0 untouched");
        let target = collection.clean_target(1).unwrap();
        assert_eq!(collection.clean_shard(target).await.unwrap(), 0, "nothing left to clean");
    }

    #[tokio::test]
    async fn shard_reads_and_cleanup_refuse_unknown_and_remote_shards() {
        let dir = tempfile::tempdir().unwrap();
        let collection = Collection::create("c", dir.path(), config_with_shards(2), Some(&[0])).unwrap();
        let missing = collection.count_in_shard(5, None, None).await.unwrap_err();
        assert_eq!(missing.to_string(), crate::CollectionError::NotFound("shard 5".into()).to_string());
        let unknown = collection.clean_target(5).err().unwrap();
        assert!(unknown.to_string().contains("Shard 5 not found"), "{unknown}");
        let remote = collection.clean_target(1).err().unwrap();
        assert!(remote.to_string().contains("Shard 1 is not a local shard"), "{remote}");
        let ring = collection.ring_filter(9).unwrap_err();
        assert!(ring.to_string().contains("shard 9 does not exist in collection c"), "{ring}");
    }
}
