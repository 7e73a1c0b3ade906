//! Reads of one shard by id (`POST /collections/{c}/shards/{id}/points`, `…/points/scroll`,
//! `…/points/count`, design record 046): the shard is read as the collection reads each of its
//! shards (a readable replica, this peer's first), with Qdrant's `hash_ring_filter`: only the
//! points that the collection's ring places in an expected shard.

use crate::collection::Collection;
use crate::error::{CollectionError, Result};
use crate::hash_ring::HashRing;
use crate::remote::ShardRequest;
use crate::validate;
use quiver_shard::ScrollPage;
use quiver_types::filter::Filter;
use quiver_types::point::Record;
use quiver_types::query::{ScrollRequest, WithPayload, WithVector};
use quiver_types::{PointId, ShardId};
use std::collections::HashMap;
use std::sync::Arc;

/// How many points one page of a hash-ring-filtered walk asks of the shard.
const WALK_PAGE: usize = 1024;

/// The points of a read that the ring places in `expected` (Qdrant's `hash_ring_filter`).
#[derive(Debug, Clone)]
pub struct RingFilter {
    ring: Arc<HashRing>,
    expected: ShardId,
}

impl RingFilter {
    pub fn keeps(&self, id: &PointId) -> bool {
        self.ring.shard_of(id) == self.expected
    }
}

impl Collection {
    /// Shard `shard_id`, or Qdrant's 404 `Not found: shard N` when the collection lacks it.
    fn existing_shard(&self, shard_id: ShardId) -> Result<()> {
        match self.replica_set(shard_id) {
            Ok(_) => Ok(()),
            Err(_) => Err(CollectionError::NotFound(format!("shard {shard_id}"))),
        }
    }

    /// The filter of `hash_ring_filter: {expected_shard_id}`: 400 for a shard the collection lacks.
    pub fn ring_filter(&self, expected: ShardId) -> Result<RingFilter> {
        match self.routing().ring_of(expected) {
            Some(ring) => Ok(RingFilter { ring, expected }),
            None => Err(CollectionError::BadRequest(format!(
                "shard {expected} does not exist in collection {}",
                self.name()
            ))),
        }
    }

    /// The points among `ids` that shard `shard_id` holds, in the order asked, each once.
    pub async fn retrieve_in_shard(
        &self,
        shard_id: ShardId,
        ids: Vec<PointId>,
        with_payload: WithPayload,
        with_vector: WithVector,
    ) -> Result<Vec<Record>> {
        self.existing_shard(shard_id)?;
        validate::check_with_vector(&self.config(), &with_vector)?;
        validate::check_with_payload(&with_payload)?;
        let request = ShardRequest::Retrieve { ids: ids.clone(), with_payload, with_vector };
        let key = self.routing().key_of(shard_id).cloned();
        let records = self.read_shard(shard_id, request).await?.into_records()?;
        let mut found: HashMap<PointId, Record> =
            records.into_iter().map(|r| (r.id, Record { shard_key: key.clone(), ..r })).collect();
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    /// A page of shard `shard_id`'s points, as `POST …/points/scroll` pages the collection.
    pub async fn scroll_in_shard(
        &self,
        shard_id: ShardId,
        request: ScrollRequest,
        ring: Option<RingFilter>,
    ) -> Result<ScrollPage> {
        self.existing_shard(shard_id)?;
        self.check_scroll(&request)?;
        let Some(ring) = ring else { return self.scroll_page(shard_id, request).await };
        if request.order_by.is_some() {
            return Err(CollectionError::BadRequest("hash_ring_filter cannot be combined with order_by".into()));
        }
        let limit = request.limit;
        let mut kept: Vec<Record> = Vec::new();
        let mut walk = ScrollRequest { limit: WALK_PAGE, ..request };
        loop {
            let page = self.scroll_page(shard_id, walk.clone()).await?;
            kept.extend(page.points.into_iter().filter(|r| ring.keeps(&r.id)));
            match page.next_page_offset {
                Some(next) if kept.len() <= limit => walk.offset = Some(next),
                Some(_) | None => break,
            }
        }
        let next_page_offset = kept.get(limit).map(|r| r.id);
        kept.truncate(limit);
        Ok(ScrollPage { points: kept, next_page_offset })
    }

    /// One page of one shard: `limit + 1` asked, the extra point's id the next offset.
    async fn scroll_page(&self, shard_id: ShardId, request: ScrollRequest) -> Result<ScrollPage> {
        let limit = request.limit;
        let ordered = request.order_by.is_some();
        let asked = ScrollRequest { limit: limit.saturating_add(1), ..request };
        let key = self.routing().key_of(shard_id).cloned();
        let mut points = self.read_shard(shard_id, ShardRequest::Scroll(asked)).await?.into_page()?.points;
        points.iter_mut().for_each(|r| r.shard_key.clone_from(&key));
        let next_page_offset = match ordered {
            true => None,
            false => points.get(limit).map(|r| r.id),
        };
        points.truncate(limit);
        Ok(ScrollPage { points, next_page_offset })
    }

    /// How many of shard `shard_id`'s points pass `filter` (and `ring`, if given).
    pub async fn count_in_shard(
        &self,
        shard_id: ShardId,
        filter: Option<Filter>,
        ring: Option<RingFilter>,
    ) -> Result<usize> {
        self.existing_shard(shard_id)?;
        validate::prepare_filter(filter.as_ref())?;
        let Some(ring) = ring else {
            return self.read_shard(shard_id, ShardRequest::Count(filter)).await?.into_count();
        };
        let mut walk = ScrollRequest {
            offset: None,
            limit: WALK_PAGE,
            filter,
            with_payload: WithPayload::Bool(false),
            with_vector: WithVector::Bool(false),
            order_by: None,
        };
        let mut count = 0;
        loop {
            let page = self.scroll_page(shard_id, walk.clone()).await?;
            count += page.points.iter().filter(|r| ring.keeps(&r.id)).count();
            match page.next_page_offset {
                Some(next) => walk.offset = Some(next),
                None => return Ok(count),
            }
        }
    }
}
