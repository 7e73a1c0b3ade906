//! The universal query (`POST …/points/query`, spec §3.3): nearest to a vector, a sparse vector or
//! a point; recommend (average vector); order by a payload field; and prefetches fused with RRF or
//! DBSF, or re-scored by a nearest query.

use crate::error::{NodeError, Result};
use crate::keyed::Keyed;
use crate::node::Node;
use quiver_collection::SearchRequest;
use quiver_types::config::Distance;
use quiver_types::filter::{Condition, Filter, HasIdCondition};
use quiver_types::point::{ScoredPoint, Vector};
use quiver_types::query::{OrderBy, QueryVector, ScrollRequest, SearchParams, WithPayload, WithVector};
use quiver_types::shard_key::ShardKeySelector;
use quiver_types::{PointId, SparseVector};
use std::collections::HashMap;

/// A vector given directly or by the id of a point that has it.
#[derive(Debug, Clone, PartialEq)]
pub enum VectorInput {
    Dense(Vec<f32>),
    Sparse(SparseVector),
    Point(PointId),
}

/// How prefetch results are fused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fusion {
    /// Reciprocal rank fusion: Σ 1 / (k + rank).
    Rrf { k: usize },
    /// Distribution-based score fusion: scores normalised by mean ± 3σ, then summed.
    Dbsf,
}

/// What a query asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryInput {
    Nearest(VectorInput),
    Recommend {
        positive: Vec<VectorInput>,
        negative: Vec<VectorInput>,
    },
    /// Recommend with the `best_score` strategy: each candidate scores by its best similarity to
    /// a positive example, or negatively when a negative example is closer.
    RecommendBestScore {
        positive: Vec<VectorInput>,
        negative: Vec<VectorInput>,
    },
    Fusion(Fusion),
    OrderBy(OrderBy),
}

/// A prefetch: a sub-query whose results feed the outer query.
#[derive(Debug, Clone)]
pub struct Prefetch {
    pub prefetch: Vec<Prefetch>,
    pub query: Option<QueryInput>,
    pub using: Option<String>,
    pub filter: Option<Filter>,
    pub params: Option<SearchParams>,
    pub score_threshold: Option<f32>,
    pub limit: usize,
}

/// A universal query.
#[derive(Debug, Clone)]
pub struct QueryPoints {
    pub prefetch: Vec<Prefetch>,
    pub query: Option<QueryInput>,
    pub using: Option<String>,
    pub filter: Option<Filter>,
    pub params: Option<SearchParams>,
    pub limit: usize,
    pub offset: usize,
    pub score_threshold: Option<f32>,
    pub with_payload: WithPayload,
    pub with_vector: WithVector,
    /// The shard keys queried (custom sharding); every shard when `None`.
    pub shard_key: Option<ShardKeySelector>,
}

fn excluding(filter: Option<Filter>, ids: Vec<PointId>) -> Option<Filter> {
    if ids.is_empty() {
        return filter;
    }
    let mut filter = filter.unwrap_or_default();
    filter.must_not.get_or_insert_with(Vec::new).push(Condition::HasId(HasIdCondition { has_id: ids }));
    Some(filter)
}

fn restricted_to(filter: Option<Filter>, ids: Vec<PointId>) -> Option<Filter> {
    let mut filter = filter.unwrap_or_default();
    filter.must.get_or_insert_with(Vec::new).push(Condition::HasId(HasIdCondition { has_id: ids }));
    Some(filter)
}

/// One level of a query, shared by the top level and prefetches.
struct Stage<'a> {
    query: Option<&'a QueryInput>,
    using: String,
    filter: Option<Filter>,
    params: Option<SearchParams>,
    limit: usize,
    score_threshold: Option<f32>,
}

async fn resolve_vector(collection: &Keyed, using: &str, input: &VectorInput) -> Result<QueryVector> {
    match input {
        VectorInput::Dense(v) => Ok(QueryVector::Dense(v.clone())),
        VectorInput::Sparse(v) => Ok(QueryVector::Sparse(v.clone())),
        VectorInput::Point(id) => {
            let record = collection.retrieve(vec![*id], WithPayload::Bool(false), WithVector::Bool(true)).await?.pop();
            let vectors = record
                .and_then(|r| r.vector)
                .ok_or_else(|| NodeError::NotFound(format!("No point with id {id} found")))?;
            match vectors.into_named().remove(using) {
                Some(Vector::Dense(v)) => Ok(QueryVector::Dense(v)),
                Some(Vector::Sparse(v)) => Ok(QueryVector::Sparse(v)),
                Some(Vector::Multi(_)) | None => {
                    Err(NodeError::BadInput(format!("Point {id} has no vector named `{using}`")))
                }
            }
        }
    }
}

/// The recommend target of the `average_vector` strategy: avg(pos) + (avg(pos) − avg(neg)).
async fn average_vector(
    collection: &Keyed,
    using: &str,
    positive: &[VectorInput],
    negative: &[VectorInput],
) -> Result<Vec<f32>> {
    let average = |inputs: Vec<QueryVector>| -> Result<Option<Vec<f32>>> {
        let mut sum: Option<Vec<f32>> = None;
        let count = inputs.len() as f32;
        for input in inputs {
            let QueryVector::Dense(v) = input else {
                return Err(NodeError::BadInput("recommend supports dense vectors only".into()));
            };
            match &mut sum {
                None => sum = Some(v),
                Some(s) if s.len() == v.len() => s.iter_mut().zip(&v).for_each(|(a, b)| *a += b),
                Some(_) => return Err(NodeError::BadInput("recommend examples differ in dimension".into())),
            }
        }
        Ok(sum.map(|s| s.into_iter().map(|x| x / count).collect()))
    };
    let mut pos = Vec::new();
    for p in positive {
        pos.push(resolve_vector(collection, using, p).await?);
    }
    let mut neg = Vec::new();
    for n in negative {
        neg.push(resolve_vector(collection, using, n).await?);
    }
    let avg_pos =
        average(pos)?.ok_or_else(|| NodeError::BadInput("recommend needs at least one positive example".into()))?;
    Ok(match average(neg)? {
        None => avg_pos,
        Some(avg_neg) => avg_pos.iter().zip(&avg_neg).map(|(p, n)| p + (p - n)).collect(),
    })
}

fn example_ids(inputs: &[&VectorInput]) -> Vec<PointId> {
    inputs
        .iter()
        .filter_map(|i| match i {
            VectorInput::Point(id) => Some(*id),
            VectorInput::Dense(_) | VectorInput::Sparse(_) => None,
        })
        .collect()
}

fn fuse(lists: Vec<Vec<ScoredPoint>>, fusion: Fusion) -> Vec<ScoredPoint> {
    let mut fused: HashMap<PointId, (f32, ScoredPoint)> = HashMap::new();
    for list in lists {
        let scores = fusion_scores(&list, fusion);
        for (point, score) in list.into_iter().zip(scores) {
            fused.entry(point.id).or_insert((0.0, point)).0 += score;
        }
    }
    let mut out: Vec<ScoredPoint> = fused
        .into_values()
        .map(|(score, mut point)| {
            point.score = score;
            point
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
    out
}

/// Per-list fused contributions. Lists come best-first; a list whose scores ascend (a distance
/// metric) is negated first so that larger is better before normalisation.
fn fusion_scores(list: &[ScoredPoint], fusion: Fusion) -> Vec<f32> {
    match fusion {
        Fusion::Rrf { k } => (0..list.len()).map(|rank| 1.0 / (k as f32 + rank as f32 + 1.0)).collect(),
        Fusion::Dbsf => {
            let ascending = list.first().zip(list.last()).is_some_and(|(a, b)| a.score < b.score);
            let raw: Vec<f32> = list.iter().map(|p| if ascending { -p.score } else { p.score }).collect();
            let n = raw.len().max(1) as f32;
            let mean = raw.iter().sum::<f32>() / n;
            let std = (raw.iter().map(|s| (s - mean) * (s - mean)).sum::<f32>() / n).sqrt();
            let (low, high) = (mean - 3.0 * std, mean + 3.0 * std);
            raw.iter().map(|s| if high > low { ((s - low) / (high - low)).clamp(0.0, 1.0) } else { 0.5 }).collect()
        }
    }
}

fn union_ids(lists: &[Vec<ScoredPoint>]) -> Vec<PointId> {
    let mut ids: Vec<PointId> = lists.iter().flatten().map(|p| p.id).collect();
    ids.sort();
    ids.dedup();
    ids
}

impl Node {
    /// `POST …/points/query`.
    pub async fn query_points(&self, name: &str, query: QueryPoints) -> Result<Vec<ScoredPoint>> {
        let collection = Keyed::new(self.resolve(name)?, query.shard_key.clone());
        if query.prefetch.is_empty() && query.query.is_none() {
            return self.query_by_id_order(name, &query).await;
        }
        let lists = match query.prefetch.is_empty() {
            true => None,
            false => Some(run_prefetches(&collection, &query.prefetch).await?),
        };
        let stage = Stage {
            query: query.query.as_ref(),
            using: query.using.clone().unwrap_or_default(),
            filter: query.filter.clone(),
            params: query.params.clone(),
            limit: query.limit.saturating_add(query.offset),
            score_threshold: query.score_threshold,
        };
        let scored = run_stage(&collection, &stage, lists).await?;
        let page: Vec<ScoredPoint> = scored.into_iter().skip(query.offset).take(query.limit).collect();
        attach(&collection, page, &query.with_payload, &query.with_vector).await
    }
}

type BoxedLists<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<Vec<ScoredPoint>>>> + Send + 'a>>;

fn run_prefetches<'a>(collection: &'a Keyed, prefetches: &'a [Prefetch]) -> BoxedLists<'a> {
    Box::pin(async move {
        let mut lists = Vec::with_capacity(prefetches.len());
        for prefetch in prefetches {
            let inner = match prefetch.prefetch.is_empty() {
                true => None,
                false => Some(run_prefetches(collection, &prefetch.prefetch).await?),
            };
            let stage = Stage {
                query: prefetch.query.as_ref(),
                using: prefetch.using.clone().unwrap_or_default(),
                filter: prefetch.filter.clone(),
                params: prefetch.params.clone(),
                limit: prefetch.limit,
                score_threshold: prefetch.score_threshold,
            };
            lists.push(run_stage(collection, &stage, inner).await?);
        }
        Ok(lists)
    })
}

async fn run_stage(
    collection: &Keyed,
    stage: &Stage<'_>,
    lists: Option<Vec<Vec<ScoredPoint>>>,
) -> Result<Vec<ScoredPoint>> {
    let (query, lists) = match (stage.query, lists) {
        (Some(QueryInput::Fusion(fusion)), Some(lists)) => {
            let mut fused = fuse(lists, *fusion);
            fused.retain(|p| stage.score_threshold.is_none_or(|t| p.score >= t));
            fused.truncate(stage.limit);
            return Ok(fused);
        }
        (Some(QueryInput::Fusion(_)), None) => {
            return Err(NodeError::BadInput("A fusion query needs prefetches to fuse".into()));
        }
        (None, Some(lists)) => {
            let mut merged = fuse(lists, Fusion::Rrf { k: 2 });
            merged.truncate(stage.limit);
            return Ok(merged);
        }
        (None, None) => return Err(NodeError::BadInput("A query or a prefetch is required".into())),
        (Some(query), lists) => (query, lists),
    };
    let filter = match &lists {
        Some(lists) => restricted_to(stage.filter.clone(), union_ids(lists)),
        None => stage.filter.clone(),
    };
    let (vector, filter) = match query {
        QueryInput::Nearest(input) => {
            let vector = resolve_vector(collection, &stage.using, input).await?;
            (vector, excluding(filter, example_ids(&[input])))
        }
        QueryInput::Recommend { positive, negative } => {
            let vector = average_vector(collection, &stage.using, positive, negative).await?;
            let examples: Vec<&VectorInput> = positive.iter().chain(negative).collect();
            (QueryVector::Dense(vector), excluding(filter, example_ids(&examples)))
        }
        QueryInput::RecommendBestScore { positive, negative } => {
            let examples: Vec<&VectorInput> = positive.iter().chain(negative).collect();
            let filter = excluding(filter, example_ids(&examples));
            return best_score_stage(collection, stage, positive, negative, filter).await;
        }
        QueryInput::OrderBy(order_by) => return order_by_stage(collection, stage, order_by, filter).await,
        QueryInput::Fusion(_) => return Err(NodeError::BadInput("fusion is handled above".into())),
    };
    let request = SearchRequest {
        vector_name: stage.using.clone(),
        query: vector,
        filter,
        params: stage.params.clone(),
        limit: stage.limit,
        offset: 0,
        score_threshold: stage.score_threshold,
        with_payload: WithPayload::Bool(false),
        with_vector: WithVector::Bool(false),
        shard_key: None,
    };
    Ok(collection.search(request).await?)
}

/// Qdrant's `scaled_fast_sigmoid`: maps a similarity into (0, 1), monotonically.
fn scaled_sigmoid(x: f32) -> f32 {
    0.5 * (x / (1.0 + x.abs()) + 1.0)
}

/// Similarity (larger is better) of two dense vectors under `distance`.
fn similarity(distance: Distance, a: &[f32], b: &[f32]) -> f32 {
    let pairs = a.iter().zip(b);
    match distance {
        Distance::Cosine | Distance::Dot => pairs.map(|(x, y)| x * y).sum(),
        Distance::Euclid => -pairs.map(|(x, y)| (x - y) * (x - y)).sum::<f32>().sqrt(),
        Distance::Manhattan => -pairs.map(|(x, y)| (x - y).abs()).sum::<f32>(),
    }
}

/// `best_score` recommend: candidates are the nearest neighbours of each positive example
/// (several times `limit` each), scored exactly against every example:
/// `sigmoid(best positive)` if a positive is the most similar example, else
/// `-sigmoid(best negative)`.
async fn best_score_stage(
    collection: &Keyed,
    stage: &Stage<'_>,
    positive: &[VectorInput],
    negative: &[VectorInput],
    filter: Option<Filter>,
) -> Result<Vec<ScoredPoint>> {
    let distance =
        collection.config().params.vectors.get(&stage.using).map(|p| p.distance).ok_or_else(|| {
            NodeError::BadInput(format!("Wrong input: Not existing vector name error: {}", stage.using))
        })?;
    let dense = |inputs: Vec<QueryVector>| -> Result<Vec<Vec<f32>>> {
        inputs
            .into_iter()
            .map(|v| match v {
                QueryVector::Dense(mut v) => {
                    if distance == Distance::Cosine {
                        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                        if norm > f32::EPSILON {
                            v.iter_mut().for_each(|x| *x /= norm);
                        }
                    }
                    Ok(v)
                }
                QueryVector::Sparse(_) => Err(NodeError::BadInput("recommend supports dense vectors only".into())),
            })
            .collect()
    };
    let mut resolved = Vec::new();
    for p in positive {
        resolved.push(resolve_vector(collection, &stage.using, p).await?);
    }
    let pos = dense(resolved)?;
    let mut resolved = Vec::new();
    for n in negative {
        resolved.push(resolve_vector(collection, &stage.using, n).await?);
    }
    let neg = dense(resolved)?;
    if pos.is_empty() {
        return Err(NodeError::BadInput("recommend needs at least one positive example".into()));
    }
    let per_example = stage.limit.saturating_mul(4).max(32);
    let mut candidates: HashMap<PointId, ScoredPoint> = HashMap::new();
    for example in &pos {
        let request = SearchRequest {
            vector_name: stage.using.clone(),
            query: QueryVector::Dense(example.clone()),
            filter: filter.clone(),
            params: stage.params.clone(),
            limit: per_example,
            offset: 0,
            score_threshold: None,
            with_payload: WithPayload::Bool(false),
            with_vector: WithVector::Names(vec![stage.using.clone()]),
            shard_key: None,
        };
        for point in collection.search(request).await? {
            candidates.entry(point.id).or_insert(point);
        }
    }
    let mut scored: Vec<ScoredPoint> = candidates
        .into_values()
        .filter_map(|mut point| {
            let vector = match point.vector.take()?.into_named().remove(&stage.using)? {
                Vector::Dense(v) => v,
                Vector::Sparse(_) | Vector::Multi(_) => return None,
            };
            let best = |examples: &[Vec<f32>]| {
                examples.iter().map(|e| similarity(distance, e, &vector)).fold(f32::NEG_INFINITY, f32::max)
            };
            let (best_pos, best_neg) = (best(&pos), best(&neg));
            point.score = if best_pos > best_neg { scaled_sigmoid(best_pos) } else { -scaled_sigmoid(best_neg) };
            Some(point)
        })
        .filter(|p| stage.score_threshold.is_none_or(|t| p.score >= t))
        .collect();
    scored.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
    scored.truncate(stage.limit);
    Ok(scored)
}

async fn order_by_stage(
    collection: &Keyed,
    stage: &Stage<'_>,
    order_by: &OrderBy,
    filter: Option<Filter>,
) -> Result<Vec<ScoredPoint>> {
    let request = ScrollRequest {
        offset: None,
        limit: stage.limit,
        filter,
        with_payload: WithPayload::Bool(false),
        with_vector: WithVector::Bool(false),
        order_by: Some(order_by.clone()),
    };
    let page = collection.scroll(request).await?;
    let ids: Vec<PointId> = page.points.iter().map(|r| r.id).collect();
    let versions = collection.point_versions(&ids).await?;
    Ok(page
        .points
        .into_iter()
        .map(|r| ScoredPoint {
            version: versions.get(&r.id).copied().unwrap_or(0),
            id: r.id,
            score: 0.0,
            payload: None,
            vector: None,
            shard_key: None,
            order_value: r.order_value,
        })
        .collect())
}

/// Fills in the payloads and vectors the caller asked for.
async fn attach(
    collection: &Keyed,
    mut page: Vec<ScoredPoint>,
    with_payload: &WithPayload,
    with_vector: &WithVector,
) -> Result<Vec<ScoredPoint>> {
    if !with_payload.is_enabled() && !with_vector.is_enabled() {
        return Ok(page);
    }
    let ids: Vec<PointId> = page.iter().map(|p| p.id).collect();
    let records = collection.retrieve(ids, with_payload.clone(), with_vector.clone()).await?;
    let mut by_id: HashMap<PointId, _> = records.into_iter().map(|r| (r.id, r)).collect();
    for point in &mut page {
        if let Some(record) = by_id.remove(&point.id) {
            point.payload = record.payload;
            point.vector = record.vector;
        }
    }
    Ok(page)
}
