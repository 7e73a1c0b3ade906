//! The universal query (`POST …/points/query`, spec §3.3): nearest to a vector (dense, sparse,
//! multi) or a point, optionally diversified by MMR; recommend (average vector, best score, sum of
//! scores); discover and context; a random sample; order by a payload field; and prefetches fused
//! with RRF or DBSF, or re-scored by an inner query. Examples given by id are looked up in the
//! collection itself or in `lookup_from` (design record 013).

use crate::error::{NodeError, Result};
use crate::keyed::Keyed;
use crate::node::Node;
pub use crate::query_examples::{ContextInput, FeedbackInput, Mmr, NaiveFeedback, VectorInput};
use crate::query_examples::{Examples, Lookup, mmr_stage};
use crate::query_formula::formula_stage;
use crate::query_fusion::fuse;
use crate::query_plan;
pub use crate::query_request::{Fusion, LookupFrom, Prefetch, QueryInput, QueryPoints};
use quiver_collection::SearchRequest;
use quiver_types::filter::{Condition, Filter, HasIdCondition};
use quiver_types::point::{ScoredPoint, Vector};
use quiver_types::query::{CustomQuery, OrderBy, QueryVector, ScrollRequest, SearchParams, WithPayload, WithVector};
use quiver_types::{PointId, SparseVector};
use std::collections::{BTreeMap, HashMap};

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
    lookup: Lookup,
}

/// Mean of equal-length vectors (`None` for none).
fn mean(vectors: Vec<Vec<f32>>) -> Result<Option<Vec<f32>>> {
    let count = vectors.len() as f32;
    let mut sum: Option<Vec<f32>> = None;
    for v in vectors {
        match &mut sum {
            None => sum = Some(v),
            Some(s) if s.len() == v.len() => s.iter_mut().zip(&v).for_each(|(a, b)| *a += b),
            Some(_) => return Err(NodeError::BadInput("recommend examples differ in dimension".into())),
        }
    }
    Ok(sum.map(|s| s.into_iter().map(|x| x / count).collect()))
}

/// Mean of sparse vectors, as a map from index to value.
fn sparse_mean(vectors: &[SparseVector]) -> BTreeMap<u32, f32> {
    let mut sum: BTreeMap<u32, f32> = BTreeMap::new();
    for v in vectors {
        v.indices.iter().zip(&v.values).for_each(|(i, x)| *sum.entry(*i).or_default() += x);
    }
    sum.values_mut().for_each(|x| *x /= vectors.len().max(1) as f32);
    sum
}

/// `avg(pos) + (avg(pos) − avg(neg))` over sparse examples.
fn sparse_average(positive: &[SparseVector], negative: &[SparseVector]) -> SparseVector {
    let mut target = sparse_mean(positive);
    if !negative.is_empty() {
        target.values_mut().for_each(|x| *x *= 2.0);
        for (i, x) in sparse_mean(negative) {
            *target.entry(i).or_default() -= x;
        }
    }
    SparseVector { indices: target.keys().copied().collect(), values: target.into_values().collect() }
}

/// The `average_vector` target for multivector examples, as Qdrant builds it: no mean at all,
/// the rows of every positive example followed by the rows of every negative one negated (a
/// dense example counts as a multivector of one row).
fn multi_average(positive: Vec<Vector>, negative: Vec<Vector>) -> Result<QueryVector> {
    let mut rows = Vec::new();
    for (list, sign) in [(positive, 1.0f32), (negative, -1.0)] {
        for example in list {
            let example_rows = match example {
                Vector::Dense(d) => vec![d],
                Vector::Multi(m) => m,
                Vector::Sparse(_) => {
                    return Err(NodeError::BadInput("recommend examples mix sparse and dense vectors".into()));
                }
            };
            rows.extend(example_rows.into_iter().map(|row| row.into_iter().map(|x| sign * x).collect::<Vec<f32>>()));
        }
    }
    Ok(QueryVector::Multi(rows))
}

/// The recommend target of the `average_vector` strategy: avg(pos) + (avg(pos) − avg(neg)); for
/// multivectors the concatenation of `multi_average`.
fn average_vector(positive: Vec<Vector>, negative: Vec<Vector>) -> Result<QueryVector> {
    if positive.is_empty() {
        return Err(NodeError::BadInput(
            "Validation failed: Positive vectors should not be empty with `average` strategy".into(),
        ));
    }
    let sparse = |list: &[Vector]| -> Option<Vec<SparseVector>> {
        list.iter().map(|v| if let Vector::Sparse(s) = v { Some(s.clone()) } else { None }).collect()
    };
    if let (Some(pos), Some(neg)) = (sparse(&positive), sparse(&negative)) {
        return Ok(QueryVector::Sparse(sparse_average(&pos, &neg)));
    }
    if positive.iter().chain(&negative).any(|v| matches!(v, Vector::Multi(_))) {
        return multi_average(positive, negative);
    }
    let flatten = |list: Vec<Vector>| -> Result<Option<Vec<f32>>> {
        let mut out = Vec::new();
        for v in list {
            match v {
                Vector::Dense(d) => out.push(d),
                Vector::Multi(m) => out.extend(m),
                Vector::Sparse(_) => {
                    return Err(NodeError::BadInput("recommend examples mix sparse and dense vectors".into()));
                }
            }
        }
        mean(out)
    };
    let avg_pos = flatten(positive)?.unwrap_or_default();
    let target: Vec<f32> = match flatten(negative)? {
        None => avg_pos,
        Some(avg_neg) if avg_neg.len() == avg_pos.len() => {
            avg_pos.iter().zip(&avg_neg).map(|(p, n)| p + (p - n)).collect()
        }
        Some(_) => return Err(NodeError::BadInput("recommend examples differ in dimension".into())),
    };
    Ok(QueryVector::Dense(target))
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
        if !crate::strict::is_admitted() {
            return self.admitted(name, crate::strict::Traffic::Read, Box::pin(self.query_points(name, query))).await;
        }
        let collection = self.resolve(name)?;
        if let Err(refused) = query_plan::check_shape(&query) {
            let keyed = Keyed::new(std::sync::Arc::clone(&collection), query.shard_key.clone());
            return Err(self.unresolvable_example(&keyed, &query).await.unwrap_or(refused));
        }
        let mut query = query_plan::with_plan_filters(query, collection.name());
        if matches!(query.query, Some(QueryInput::SampleRandom)) {
            match query.prefetch.is_empty() {
                // As Qdrant: a random sample has no stable order to page through.
                true => query.offset = 0,
                // As Qdrant: the offset of a random sample of prefetched points widens the
                // prefetches, so the page it skips to is drawn from more candidates.
                false => query.prefetch.iter_mut().for_each(|p| p.limit = p.limit.saturating_add(query.offset)),
            }
        }
        let limit = query.limit.saturating_add(query.offset);
        self.check_read(&collection, Some(limit), query.filter.as_ref(), query.params.as_ref())?;
        self.check_prefetches(&collection, &query.prefetch)?;
        let collection = Keyed::new(collection, query.shard_key.clone());
        if query.prefetch.is_empty() && query.query.is_none() {
            return self.query_by_id_order(name, &query).await;
        }
        let lists = match query.prefetch.is_empty() {
            true => None,
            false => Some(self.run_prefetches(&collection, &query.prefetch).await?),
        };
        let using = query.using.clone().unwrap_or_default();
        let stage = Stage {
            query: query.query.as_ref(),
            lookup: self.lookup(&collection, &using, query.lookup_from.as_ref())?,
            using,
            filter: query.filter.clone(),
            params: query.params.clone(),
            limit: query.limit.saturating_add(query.offset),
            score_threshold: query.score_threshold,
        };
        let scored = run_stage(&collection, &stage, lists).await?;
        let page: Vec<ScoredPoint> = scored.into_iter().skip(query.offset).take(query.limit).collect();
        attach(&collection, page, &query.with_payload, &query.with_vector).await
    }

    /// The strict mode checks of every prefetch (nested ones too): limit, filter, params.
    fn check_prefetches(&self, collection: &quiver_collection::Collection, prefetches: &[Prefetch]) -> Result<()> {
        for p in prefetches {
            self.check_read(collection, Some(p.limit), p.filter.as_ref(), p.params.as_ref())?;
            self.check_prefetches(collection, &p.prefetch)?;
        }
        Ok(())
    }

    /// Where a stage's examples given by id are looked up.
    pub(crate) fn lookup(&self, collection: &Keyed, using: &str, from: Option<&LookupFrom>) -> Result<Lookup> {
        Ok(match from {
            None => Lookup { collection: collection.clone(), vector: using.to_string(), foreign: false },
            Some(from) => Lookup {
                collection: Keyed::new(self.lookup_collection(&from.collection)?, from.shard_key.clone()),
                vector: from.vector.clone().unwrap_or_else(|| using.to_string()),
                foreign: query_plan::is_foreign(Some(from), collection.name()),
            },
        })
    }

    /// The collection `lookup_from` names; Qdrant words a missing one `Collection <name> not
    /// found` (404), not as a missing queried collection.
    fn lookup_collection(&self, name: &str) -> Result<std::sync::Arc<quiver_collection::Collection>> {
        self.resolve(name).map_err(|e| match e {
            NodeError::NotFound(_) => NodeError::NotFound(format!("Collection {name} not found")),
            // An invalid name, a peer removed from the cluster: as for the queried collection.
            e @ (NodeError::BadInput(_)
            | NodeError::BadRequest(_)
            | NodeError::Validation(_)
            | NodeError::AlreadyExists(_)
            | NodeError::StandaloneMode
            | NodeError::Timeout(_)
            | NodeError::ShardUnavailable(_)
            | NodeError::Forbidden(_)
            | NodeError::ChecksumMismatch { .. }
            | NodeError::RateLimited { .. }
            | NodeError::Service(_)
            | NodeError::RemovedFromCluster(_)
            | NodeError::Locked(_)) => e,
        })
    }

    fn run_prefetches<'a>(&'a self, collection: &'a Keyed, prefetches: &'a [Prefetch]) -> BoxedLists<'a> {
        Box::pin(async move {
            let mut lists = Vec::with_capacity(prefetches.len());
            for prefetch in prefetches {
                let inner = match prefetch.prefetch.is_empty() {
                    true => None,
                    false => Some(self.run_prefetches(collection, &prefetch.prefetch).await?),
                };
                let using = prefetch.using.clone().unwrap_or_default();
                let stage = Stage {
                    query: prefetch.query.as_ref(),
                    lookup: self.lookup(collection, &using, prefetch.lookup_from.as_ref())?,
                    using,
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
}

type BoxedLists<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<Vec<ScoredPoint>>>> + Send + 'a>>;

/// Fusion of prefetch results, or a stage without a query.
fn fuse_stage(stage: &Stage<'_>, lists: Option<Vec<Vec<ScoredPoint>>>) -> Result<Vec<ScoredPoint>> {
    match (stage.query, lists) {
        (Some(QueryInput::Fusion(fusion)), Some(lists)) => {
            if let Fusion::Rrf { weights, .. } = fusion
                && !weights.is_empty()
                && weights.len() != lists.len()
            {
                return Err(NodeError::BadInput(format!(
                    "Number of weights in RRF should match number of pre-fetches: got {}, expected {}",
                    weights.len(),
                    lists.len()
                )));
            }
            let mut fused = fuse(lists, fusion);
            fused.retain(|p| stage.score_threshold.is_none_or(|t| p.score >= t));
            fused.truncate(stage.limit);
            Ok(fused)
        }
        (Some(QueryInput::Fusion(_)), None) => {
            Err(NodeError::BadInput("Validation failed: cannot apply Fusion without prefetches".into()))
        }
        // Refused before anything runs (`query_plan::check_shape`).
        (_, Some(_)) => Err(NodeError::BadRequest(
            "A query is needed to merge the prefetches. Can't have prefetches without defining a query.".into(),
        )),
        (_, None) => Err(NodeError::BadInput("A query or a prefetch is required".into())),
    }
}

/// The ranking a stage's query asks the shards for, and the example ids it must exclude.
async fn stage_vector(stage: &Stage<'_>, query: &QueryInput) -> Result<(QueryVector, Vec<PointId>)> {
    let examples = Examples { lookup: &stage.lookup };
    let inputs = query_plan::example_inputs(query);
    let excluded = if stage.lookup.foreign { Vec::new() } else { query_plan::example_ids(&inputs) };
    let vector = match query {
        QueryInput::Nearest(input) | QueryInput::NearestMmr(input, _) => examples.one(input).await?.into(),
        QueryInput::Recommend { positive, negative } => {
            average_vector(examples.all(positive).await?, examples.all(negative).await?)?
        }
        QueryInput::RecommendBestScore { positive, negative } => {
            let (positive, negative) = examples.scored_examples(positive, negative).await?;
            QueryVector::Custom(CustomQuery::BestScore { positive, negative })
        }
        QueryInput::RecommendSumScores { positive, negative } => {
            let (positive, negative) = examples.scored_examples(positive, negative).await?;
            QueryVector::Custom(CustomQuery::SumScores { positive, negative })
        }
        QueryInput::Discover { target, context } => QueryVector::Custom(CustomQuery::Discover {
            target: examples.one(target).await?,
            pairs: examples.pairs(context).await?,
        }),
        QueryInput::Context(pairs) => QueryVector::Custom(CustomQuery::Context { pairs: examples.pairs(pairs).await? }),
        QueryInput::RelevanceFeedback { target, feedback, strategy } => QueryVector::Custom(CustomQuery::Feedback {
            target: examples.one(target).await?,
            a: strategy.a,
            pairs: examples.feedback_pairs(feedback, *strategy).await?,
        }),
        QueryInput::SampleRandom => QueryVector::Random { seed: random_seed() },
        QueryInput::Formula(_) | QueryInput::Fusion(_) | QueryInput::OrderBy(_) => {
            return Err(NodeError::BadInput("fusion, formula and order_by are not vector queries".into()));
        }
    };
    Ok((vector, excluded))
}

/// A seed for `sample: random`, new for every request.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new().build_hasher().finish()
}

async fn run_stage(
    collection: &Keyed,
    stage: &Stage<'_>,
    lists: Option<Vec<Vec<ScoredPoint>>>,
) -> Result<Vec<ScoredPoint>> {
    let query = match (stage.query, lists) {
        // A prefetch without a query reads the points matching its filter in id order.
        (None, None) => return scroll_stage(collection, stage, None, stage.filter.clone()).await,
        (Some(QueryInput::Fusion(_)) | None, lists) => return fuse_stage(stage, lists),
        (Some(QueryInput::Formula(formula)), Some(lists)) => {
            let mut scored = formula_stage(collection, formula, lists, stage.filter.clone(), stage.limit).await?;
            scored.retain(|p| stage.score_threshold.is_none_or(|t| p.score >= t));
            return Ok(scored);
        }
        (Some(QueryInput::Formula(_)), None) => {
            return Err(NodeError::BadInput("Validation failed: cannot apply Formula without prefetches".into()));
        }
        (Some(query), lists) => (query, lists),
    };
    let (query, lists) = query;
    let filter = match &lists {
        Some(lists) => restricted_to(stage.filter.clone(), union_ids(lists)),
        None => stage.filter.clone(),
    };
    if let QueryInput::OrderBy(order_by) = query {
        return scroll_stage(collection, stage, Some(order_by), filter).await;
    }
    let (vector, excluded) = stage_vector(stage, query).await?;
    let filter = query_plan::excluding(filter, excluded);
    let mut request = SearchRequest {
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
    if let QueryInput::NearestMmr(_, mmr) = query {
        request.limit = mmr.candidates_limit.max(stage.limit);
        request.with_vector = WithVector::Names(vec![stage.using.clone()]);
        let query = request.query.clone();
        let candidates = collection.search(request).await?;
        return mmr_stage(collection, stage.using.as_str(), &query, candidates, mmr, stage.limit);
    }
    let mut found = collection.search(request).await?;
    if let QueryInput::SampleRandom = query {
        // The random order is the answer; as Qdrant, every sampled point scores 1.
        found.iter_mut().for_each(|p| p.score = 1.0);
    }
    Ok(found)
}

/// The points matching `filter` in payload order (`order_by`) or in id order.
async fn scroll_stage(
    collection: &Keyed,
    stage: &Stage<'_>,
    order_by: Option<&OrderBy>,
    filter: Option<Filter>,
) -> Result<Vec<ScoredPoint>> {
    let request = ScrollRequest {
        offset: None,
        limit: stage.limit,
        filter,
        with_payload: WithPayload::Bool(false),
        with_vector: WithVector::Bool(false),
        order_by: order_by.cloned(),
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
            // As Qdrant, points read in payload or id order all score 1.
            score: 1.0,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_vector_needs_a_positive() {
        let err = average_vector(Vec::new(), vec![Vector::Dense(vec![1.0, 0.0])]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Wrong input: Validation failed: Positive vectors should not be empty with `average` strategy"
        );
        let target = average_vector(vec![Vector::Dense(vec![1.0, 1.0])], vec![Vector::Dense(vec![1.0, 0.0])]);
        assert_eq!(target.unwrap(), QueryVector::Dense(vec![1.0, 2.0]));
    }

    /// Multivector examples are not averaged (as Qdrant): the positives' rows in order, then the
    /// negatives' rows negated.
    #[test]
    fn average_vector_concatenates_multivector_rows() {
        let positive = vec![Vector::Multi(vec![vec![1.0, 2.0], vec![3.0, 4.0]]), Vector::Multi(vec![vec![5.0, 6.0]])];
        let negative = vec![Vector::Multi(vec![vec![0.5, -1.0]])];
        let target = average_vector(positive.clone(), Vec::new()).unwrap();
        assert_eq!(target, QueryVector::Multi(vec![vec![1.0, 2.0], vec![3.0, 4.0], vec![5.0, 6.0]]));
        let target = average_vector(positive, negative).unwrap();
        let rows = vec![vec![1.0, 2.0], vec![3.0, 4.0], vec![5.0, 6.0], vec![-0.5, 1.0]];
        assert_eq!(target, QueryVector::Multi(rows));
    }
}
