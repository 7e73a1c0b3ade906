//! The read path of a collection: each shard is read from a readable replica (local first, then
//! remote), and per-shard results are merged (top-k by score, pages by id or by payload order,
//! sums of counts).

use crate::collection::{Collection, SearchRequest};
use crate::error::{CollectionError, Result};
use crate::remote::{ShardRequest, ShardResponse};
use crate::validate;
use quiver_shard::ScrollPage;
use quiver_shard::distance::{higher_is_better, vector_similarity};
use quiver_shard::vectors::Metric;
use quiver_types::config::Distance;
use quiver_types::filter::Filter;
use quiver_types::point::{Record, ScoredPoint, Vector};
use quiver_types::query::{
    CoreSearch, Direction, FacetHit, FacetRequest, FacetValue, QueryVector, ScrollRequest, WithPayload, WithVector,
    top_facet_hits,
};
use quiver_types::shard_key::{ShardKey, ShardKeySelector};
use quiver_types::{PointId, ShardId};
use std::cmp::Ordering;
use std::collections::HashMap;

fn compare_order_values(a: &Record, b: &Record, direction: Direction) -> Ordering {
    let num = |r: &Record| r.order_value.as_ref().and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
    let by_value = match direction {
        Direction::Asc => num(a).total_cmp(&num(b)),
        Direction::Desc => num(b).total_cmp(&num(a)),
    };
    by_value.then_with(|| a.id.cmp(&b.id))
}

impl Collection {
    /// A scroll's checks against the collection: filter, projections, `order_by`'s index.
    pub(crate) fn check_scroll(&self, request: &ScrollRequest) -> Result<()> {
        validate::prepare_filter(request.filter.as_ref())?;
        validate::check_with_vector(&self.config(), &request.with_vector)?;
        validate::check_with_payload(&request.with_payload)?;
        if let Some(order_by) = &request.order_by {
            validate::check_order_by(&self.payload_index(), order_by)?;
            validate::check_no_offset_with_order_by(request.offset.as_ref())?;
        }
        Ok(())
    }

    /// `selector` with a `{target, fallback}` selector resolved against the replicas' states
    /// now (`Routing::resolve_fallback`; `write` for a write's rule).
    pub(crate) fn resolve_selector<'a>(
        &self,
        selector: Option<&'a ShardKeySelector>,
        write: bool,
    ) -> Result<Option<std::borrow::Cow<'a, ShardKeySelector>>> {
        match selector {
            Some(fallback @ ShardKeySelector::WithFallback(_)) => {
                // Standalone, a replica set records no peers: its local replica's state stands.
                let states = |shard| {
                    self.replica_set(shard).map(|set| match set.states() {
                        peers if peers.is_empty() => set.has_local().then(|| set.local_state()).into_iter().collect(),
                        peers => peers.into_values().collect(),
                    })
                };
                let resolved = self.routing().resolve_fallback(fallback, write, |s| states(s).unwrap_or_default())?;
                Ok(Some(std::borrow::Cow::Owned(resolved)))
            }
            other => Ok(other.map(std::borrow::Cow::Borrowed)),
        }
    }

    /// Sends `request` to every shard the selector reaches (concurrently) and returns the
    /// answers in shard order, each with its shard's key (custom sharding).
    async fn read_shards(
        &self,
        shard_key: Option<&ShardKeySelector>,
        request: ShardRequest,
    ) -> Result<Vec<(Option<ShardKey>, ShardResponse)>> {
        let shard_key = self.resolve_selector(shard_key, false)?;
        let routing = self.routing();
        let shards = routing.read_shards(shard_key.as_deref())?;
        // Polled in order: all but the last shard's local reads go to the blocking pool first, so
        // the last one may run on this worker meanwhile (design record 022).
        let last = shards.len().saturating_sub(1);
        let reads = shards.iter().enumerate().map(|(i, s)| {
            let budget = if i == last { None } else { Some(0) };
            crate::serve::limit_inline_reads(budget, self.read_shard(*s, request.clone()))
        });
        let answers: Vec<ShardResponse> = futures::future::join_all(reads).await.into_iter().collect::<Result<_>>()?;
        Ok(shards.iter().map(|s| routing.key_of(*s).cloned()).zip(answers).collect())
    }

    /// The sparse vector modifier `idf`: each query weight times its dimension's inverse
    /// document frequency over the whole collection, `ln(1 + (N - n + 0.5) / (n + 0.5))` (BM25's),
    /// so the shards' dot products are IDF-weighted scores.
    async fn weigh_by_idf(&self, name: &str, query: &mut quiver_types::SparseVector) -> Result<()> {
        let request = ShardRequest::SparseStats { name: name.to_string(), dims: query.indices.clone() };
        let (mut points, mut df) = (0usize, vec![0usize; query.indices.len()]);
        for (_, response) in self.read_shards(None, request).await? {
            let (n, counts) = response.into_sparse_stats()?;
            points += n;
            df.iter_mut().zip(counts).for_each(|(total, c)| *total += c);
        }
        for (value, n) in query.values.iter_mut().zip(df) {
            let (total, n) = (points as f64, n as f64);
            *value *= (1.0 + (total - n + 0.5) / (n + 0.5)).ln() as f32;
        }
        Ok(())
    }

    /// Nearest-neighbour search over all shards.
    pub async fn search(&self, mut request: SearchRequest) -> Result<Vec<ScoredPoint>> {
        let config = self.config();
        validate::prepare_query(&config, &request.vector_name, &mut request.query)?;
        validate::prepare_filter(request.filter.as_ref())?;
        validate::check_with_vector(&config, &request.with_vector)?;
        validate::check_with_payload(&request.with_payload)?;
        let idf = config
            .params
            .sparse_vectors
            .get(&request.vector_name)
            .is_some_and(|p| p.modifier.as_deref() == Some("idf"));
        if let (true, QueryVector::Sparse(query)) = (idf, &mut request.query) {
            self.weigh_by_idf(&request.vector_name, query).await?;
        }
        let better_high = match &request.query {
            QueryVector::Dense(_) | QueryVector::Multi(_) => {
                higher_is_better(config.params.vectors.get(&request.vector_name).map_or(Distance::Dot, |p| p.distance))
            }
            QueryVector::Sparse(_) | QueryVector::Custom(_) | QueryVector::Random { .. } => true,
        };
        let core = CoreSearch {
            vector_name: request.vector_name.clone(),
            query: request.query.clone(),
            filter: request.filter.clone(),
            params: request.params.clone(),
            limit: request.limit.saturating_add(request.offset),
            score_threshold: request.score_threshold,
            with_payload: request.with_payload.clone(),
            with_vector: request.with_vector.clone(),
        };
        let mut all = Vec::new();
        for (key, response) in self.read_shards(request.shard_key.as_ref(), ShardRequest::Search(core)).await? {
            all.extend(response.into_scored()?.into_iter().map(|p| ScoredPoint { shard_key: key.clone(), ..p }))
        }
        all.sort_by(|a, b| {
            let by_score = if better_high { b.score.total_cmp(&a.score) } else { a.score.total_cmp(&b.score) };
            by_score.then_with(|| a.id.cmp(&b.id))
        });
        Ok(all.into_iter().skip(request.offset).take(request.limit).collect())
    }

    /// A page of points over the shards `shard_key` selects (all without one).
    pub async fn scroll(&self, request: ScrollRequest, shard_key: Option<&ShardKeySelector>) -> Result<ScrollPage> {
        self.check_scroll(&request)?;
        let limit = request.limit;
        let order = request.order_by.as_ref().map(|o| o.direction.unwrap_or_default());
        let mut per_shard_request = request.clone();
        per_shard_request.limit = limit.saturating_add(1);
        let mut all: Vec<Record> = Vec::new();
        for (key, response) in self.read_shards(shard_key, ShardRequest::Scroll(per_shard_request)).await? {
            all.extend(response.into_page()?.points.into_iter().map(|r| Record { shard_key: key.clone(), ..r }))
        }
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

    /// Number of points matching `filter` (exact) in the shards `shard_key` selects.
    pub async fn count(&self, filter: Option<Filter>, shard_key: Option<&ShardKeySelector>) -> Result<usize> {
        validate::prepare_filter(filter.as_ref())?;
        let mut total = 0;
        for (_, response) in self.read_shards(shard_key, ShardRequest::Count(filter)).await? {
            total += response.into_count()?
        }
        Ok(total)
    }

    /// Facet counts over the shards `shard_key` selects (all without one): the `limit` values
    /// held by the most points.
    pub async fn facet(
        &self,
        request: FacetRequest,
        limit: usize,
        shard_key: Option<&ShardKeySelector>,
    ) -> Result<Vec<FacetHit>> {
        validate::prepare_filter(request.filter.as_ref())?;
        let mut counts: HashMap<FacetValue, usize> = HashMap::new();
        for (_, response) in self.read_shards(shard_key, ShardRequest::Facet(request)).await? {
            for (value, count) in response.into_facets()? {
                *counts.entry(value).or_default() += count;
            }
        }
        Ok(top_facet_hits(counts, limit))
    }

    /// The ids each shard is asked for: hashed with auto sharding; with custom sharding a
    /// point may be in any selected key's shards, so each of them is asked for all.
    fn ids_by_shard(
        &self,
        ids: &[PointId],
        shard_key: Option<&ShardKeySelector>,
    ) -> Result<HashMap<ShardId, Vec<PointId>>> {
        let shard_key = self.resolve_selector(shard_key, false)?;
        let routing = self.routing();
        if routing.is_custom() {
            return Ok(routing.read_shards(shard_key.as_deref())?.into_iter().map(|s| (s, ids.to_vec())).collect());
        }
        routing.read_shards(shard_key.as_deref())?;
        let mut by_shard: HashMap<ShardId, Vec<PointId>> = HashMap::new();
        for target in routing.write_targets(None)? {
            for id in ids {
                by_shard.entry(target.shard_of(id)).or_default().push(*id);
            }
        }
        Ok(by_shard)
    }

    /// The points with `ids` that exist, in the order asked (duplicates once).
    pub async fn retrieve(
        &self,
        ids: Vec<PointId>,
        with_payload: WithPayload,
        with_vector: WithVector,
        shard_key: Option<&ShardKeySelector>,
    ) -> Result<Vec<Record>> {
        validate::check_with_vector(&self.config(), &with_vector)?;
        validate::check_with_payload(&with_payload)?;
        let mut found: HashMap<PointId, Record> = HashMap::new();
        let routing = self.routing();
        for (shard_id, shard_ids) in self.ids_by_shard(&ids, shard_key)? {
            let request = ShardRequest::Retrieve {
                ids: shard_ids,
                with_payload: with_payload.clone(),
                with_vector: with_vector.clone(),
            };
            let records = self.read_shard(shard_id, request).await?.into_records()?;
            let key = routing.key_of(shard_id);
            found.extend(records.into_iter().map(|r| (r.id, Record { shard_key: key.cloned(), ..r })));
        }
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    /// How close two vectors of the vector `name` are, larger is closer, as Qdrant's MMR compares
    /// them: the raw similarity (Euclid: the squared distance negated, Manhattan: the distance
    /// negated), not the score a search reports.
    pub fn closeness(&self, name: &str) -> impl Fn(&Vector, &Vector) -> f32 + use<> {
        let config = self.config();
        let params = config.params.vectors.get(name);
        let distance = params.map_or(Distance::Dot, |p| p.distance);
        let metric = Metric { distance, datatype: params.and_then(|p| p.datatype).unwrap_or_default() };
        move |a, b| vector_similarity(metric, a, b)
    }

    /// How relevant a stored vector of `name` is to `query` on the `closeness` scale (the query
    /// prepared as a search prepares it: normalised for Cosine). MMR's relevance term.
    pub fn relevance(&self, name: &str, query: &QueryVector) -> Result<impl Fn(&Vector) -> f32 + use<>> {
        let mut prepared = query.clone();
        validate::prepare_query(&self.config(), name, &mut prepared)?;
        let query = match prepared {
            QueryVector::Dense(v) => Vector::Dense(v),
            QueryVector::Sparse(v) => Vector::Sparse(v),
            QueryVector::Multi(v) => Vector::Multi(v),
            QueryVector::Custom(_) | QueryVector::Random { .. } => {
                return Err(CollectionError::BadInput("MMR needs a nearest query vector".into()));
            }
        };
        let closeness = self.closeness(name);
        Ok(move |stored: &Vector| closeness(&query, stored))
    }

    /// The versions of the points with `ids` that exist.
    pub async fn point_versions(&self, ids: &[PointId]) -> Result<HashMap<PointId, u64>> {
        let mut out = HashMap::new();
        for (shard_id, shard_ids) in self.ids_by_shard(ids, None)? {
            out.extend(self.read_shard(shard_id, ShardRequest::Versions(shard_ids)).await?.into_versions()?);
        }
        Ok(out)
    }
}
