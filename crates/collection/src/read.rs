//! The read path of a collection: each shard is read from a readable replica, and per-shard
//! results are merged (top-k by score, pages by id or by payload order, sums of counts).

use crate::collection::{Collection, SearchRequest};
use crate::error::{CollectionError, Result};
use crate::validate;
use quiver_shard::{LocalShard, ScrollPage};
use quiver_storage::distance::higher_is_better;
use quiver_types::config::Distance;
use quiver_types::filter::Filter;
use quiver_types::point::{Record, ScoredPoint};
use quiver_types::query::{CoreSearch, Direction, QueryVector, ScrollRequest, WithPayload, WithVector};
use quiver_types::{PointId, ShardId};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

fn compare_order_values(a: &Record, b: &Record, direction: Direction) -> Ordering {
    let num = |r: &Record| r.order_value.as_ref().and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
    let by_value = match direction {
        Direction::Asc => num(a).total_cmp(&num(b)),
        Direction::Desc => num(b).total_cmp(&num(a)),
    };
    by_value.then_with(|| a.id.cmp(&b.id))
}

impl Collection {
    fn readable(&self, shard_id: ShardId) -> Result<Arc<LocalShard>> {
        let set = self.replica_set(shard_id)?;
        set.readable_local().cloned().ok_or_else(|| {
            CollectionError::ShardUnavailable(format!("No active replica of shard {shard_id} of {}", self.name()))
        })
    }

    async fn on_each_shard<T, F>(&self, f: F) -> Result<Vec<T>>
    where
        T: Send + 'static,
        F: Fn(&LocalShard) -> quiver_shard::error::Result<T> + Send + Sync + Clone + 'static,
    {
        let mut tasks = Vec::new();
        for shard_id in 0..self.config().params.shard_number {
            let shard = self.readable(shard_id)?;
            let f = f.clone();
            tasks.push(tokio::task::spawn_blocking(move || f(&shard)));
        }
        let mut out = Vec::with_capacity(tasks.len());
        for task in tasks {
            let result = task.await.map_err(|e| CollectionError::Service(format!("shard read task: {e}")))?;
            out.push(result?);
        }
        Ok(out)
    }

    /// Nearest-neighbour search over all shards.
    pub async fn search(&self, mut request: SearchRequest) -> Result<Vec<ScoredPoint>> {
        let config = self.config();
        validate::prepare_query(&config, &request.vector_name, &mut request.query)?;
        validate::prepare_filter(request.filter.as_ref())?;
        let better_high = match &request.query {
            QueryVector::Dense(_) => {
                higher_is_better(config.params.vectors.get(&request.vector_name).map_or(Distance::Dot, |p| p.distance))
            }
            QueryVector::Sparse(_) => true,
        };
        let core = CoreSearch {
            vector_name: request.vector_name.clone(),
            query: request.query.clone(),
            filter: request.filter.clone(),
            params: request.params.clone(),
            limit: request.limit + request.offset,
            score_threshold: request.score_threshold,
            with_payload: request.with_payload.clone(),
            with_vector: request.with_vector.clone(),
        };
        let per_shard = self.on_each_shard(move |s| s.search(&core)).await?;
        let mut all: Vec<ScoredPoint> = per_shard.into_iter().flatten().collect();
        all.sort_by(|a, b| {
            let by_score = if better_high { b.score.total_cmp(&a.score) } else { a.score.total_cmp(&b.score) };
            by_score.then_with(|| a.id.cmp(&b.id))
        });
        Ok(all.into_iter().skip(request.offset).take(request.limit).collect())
    }

    /// A page of points over all shards.
    pub async fn scroll(&self, request: ScrollRequest) -> Result<ScrollPage> {
        validate::prepare_filter(request.filter.as_ref())?;
        let limit = request.limit;
        let order = request.order_by.as_ref().map(|o| o.direction.unwrap_or_default());
        let mut per_shard_request = request.clone();
        per_shard_request.limit = limit + 1;
        let pages = self.on_each_shard(move |s| s.scroll(&per_shard_request)).await?;
        let mut all: Vec<Record> = pages.into_iter().flat_map(|p| p.points).collect();
        match order {
            Some(direction) => all.sort_by(|a, b| compare_order_values(a, b, direction)),
            None => all.sort_by_key(|r| r.id),
        }
        let next_page_offset = match order {
            Some(_) => None,
            None => all.get(limit).map(|r| r.id),
        };
        all.truncate(limit);
        Ok(ScrollPage { points: all, next_page_offset })
    }

    /// Number of points matching `filter` (exact).
    pub async fn count(&self, filter: Option<Filter>) -> Result<usize> {
        validate::prepare_filter(filter.as_ref())?;
        let counts = self.on_each_shard(move |s| s.count(filter.as_ref())).await?;
        Ok(counts.into_iter().sum())
    }

    /// The points with `ids` that exist, in the order asked (duplicates once).
    pub async fn retrieve(
        &self,
        ids: Vec<PointId>,
        with_payload: WithPayload,
        with_vector: WithVector,
    ) -> Result<Vec<Record>> {
        let mut by_shard: HashMap<ShardId, Vec<PointId>> = HashMap::new();
        for id in &ids {
            by_shard.entry(self.shard_of(id)).or_default().push(*id);
        }
        let mut found: HashMap<PointId, Record> = HashMap::new();
        for (shard_id, shard_ids) in by_shard {
            let shard = self.readable(shard_id)?;
            let (wp, wv) = (with_payload.clone(), with_vector.clone());
            let records = tokio::task::spawn_blocking(move || shard.retrieve(&shard_ids, &wp, &wv))
                .await
                .map_err(|e| CollectionError::Service(format!("shard read task: {e}")))?;
            found.extend(records.into_iter().map(|r| (r.id, r)));
        }
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }
}

impl Collection {
    /// The versions of the points with `ids` that exist.
    pub async fn point_versions(&self, ids: &[PointId]) -> Result<HashMap<PointId, u64>> {
        let mut out = HashMap::new();
        for id in ids {
            let shard = self.readable(self.shard_of(id))?;
            if let Some(version) = shard.point_version(id) {
                out.insert(*id, version);
            }
        }
        Ok(out)
    }
}
