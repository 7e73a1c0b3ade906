//! REST bodies of searches and universal queries (spec §3.3) and their conversion: every query
//! kind (nearest with MMR, recommend, discover, context, sample, fusion, order by) and
//! `lookup_from`.

use crate::error::ApiError;
use crate::wire::positive_limit;
use crate::wire_formula::FormulaWire;
use crate::wire_nullable::{list_or_empty, no_payload, no_vector, payload_or_none, vector_or_none};
pub(crate) use crate::wire_vector::{NamedVectorWire, VectorInputWire};
use quiver_node::service::SearchRequest;
use quiver_node::service::{ContextInput, Fusion, LookupFrom, Mmr, Prefetch, QueryInput, QueryPoints, VectorInput};
use quiver_node::service::{FeedbackInput, NaiveFeedback};
use quiver_types::filter::Filter;
use quiver_types::query::{OrderByInterface, QueryVector, SearchParams, WithPayload, WithVector};
use quiver_types::shard_key::ShardKeySelector;
use serde::Deserialize;

/// `POST …/points/search`.
#[derive(Debug, Deserialize)]
pub struct SearchWire {
    pub(crate) vector: NamedVectorWire,
    #[serde(default)]
    pub(crate) filter: Option<Filter>,
    #[serde(default)]
    pub(crate) params: Option<SearchParams>,
    #[serde(alias = "top")]
    pub(crate) limit: usize,
    #[serde(default)]
    pub(crate) offset: Option<usize>,
    #[serde(default = "no_payload", deserialize_with = "payload_or_none")]
    pub(crate) with_payload: WithPayload,
    #[serde(default = "no_vector", alias = "with_vectors", deserialize_with = "vector_or_none")]
    pub(crate) with_vector: WithVector,
    #[serde(default)]
    pub(crate) score_threshold: Option<f32>,
    #[serde(default)]
    pub(crate) shard_key: Option<ShardKeySelector>,
}

impl SearchWire {
    pub fn into_request(self) -> Result<SearchRequest, ApiError> {
        let (vector_name, query) = match self.vector {
            NamedVectorWire::Dense(v) => (String::new(), QueryVector::Dense(v)),
            NamedVectorWire::NamedDense { name, vector } => (name, QueryVector::Dense(vector)),
            NamedVectorWire::NamedSparse { name, vector } => (name, QueryVector::Sparse(vector)),
        };
        Ok(SearchRequest {
            vector_name,
            query,
            filter: self.filter,
            params: self.params,
            limit: positive_limit(self.limit)?,
            offset: self.offset.unwrap_or(0),
            score_threshold: self.score_threshold,
            with_payload: self.with_payload,
            with_vector: self.with_vector,
            shard_key: ShardKeySelector::given(self.shard_key),
        })
    }
}

/// `POST …/points/search/batch`.
#[derive(Debug, Deserialize)]
pub struct SearchBatchWire {
    pub searches: Vec<SearchWire>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecommendWire {
    #[serde(default, deserialize_with = "list_or_empty")]
    pub(crate) positive: Vec<VectorInputWire>,
    #[serde(default, deserialize_with = "list_or_empty")]
    pub(crate) negative: Vec<VectorInputWire>,
    #[serde(default)]
    pub(crate) strategy: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum FusionWire {
    Rrf,
    Dbsf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RrfWire {
    #[serde(default)]
    pub(crate) k: Option<usize>,
    #[serde(default)]
    pub(crate) weights: Option<Vec<f32>>,
}

/// `mmr` of a nearest query.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MmrWire {
    #[serde(default)]
    pub(crate) diversity: Option<f32>,
    #[serde(default)]
    pub(crate) candidates_limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ContextPairWire {
    pub(crate) positive: VectorInputWire,
    pub(crate) negative: VectorInputWire,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DiscoverWire {
    pub(crate) target: VectorInputWire,
    #[serde(default)]
    pub(crate) context: Option<OneOrMany<ContextPairWire>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FeedbackItemWire {
    pub(crate) example: VectorInputWire,
    pub(crate) score: f32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NaiveWire {
    pub(crate) a: f32,
    pub(crate) b: f32,
    pub(crate) c: f32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FeedbackStrategyWire {
    pub(crate) naive: NaiveWire,
}

/// `relevance_feedback`: a target, examples scored by a feedback model, and the strategy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FeedbackQueryWire {
    pub(crate) target: VectorInputWire,
    #[serde(default)]
    pub(crate) feedback: Vec<FeedbackItemWire>,
    pub(crate) strategy: FeedbackStrategyWire,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SampleWire {
    Random,
}

/// `lookup_from`: the collection (and vector) examples given by id come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LookupFromWire {
    pub(crate) collection: String,
    #[serde(default)]
    pub(crate) vector: Option<String>,
    #[serde(default)]
    pub(crate) shard_key: Option<ShardKeySelector>,
}

/// The `query` of a universal query. Parsed by its key (`nearest`, `recommend`, …) so that a
/// malformed query names its kind and unknown fields are refused, never dropped.
#[derive(Debug)]
pub(crate) enum QueryWire {
    Nearest {
        nearest: VectorInputWire,
        mmr: Option<MmrWire>,
    },
    Recommend {
        recommend: RecommendWire,
    },
    Discover {
        discover: DiscoverWire,
    },
    Context {
        context: OneOrMany<ContextPairWire>,
    },
    Sample {
        sample: SampleWire,
    },
    Formula(FormulaWire),
    RelevanceFeedback {
        relevance_feedback: FeedbackQueryWire,
    },
    Fusion {
        fusion: FusionWire,
    },
    Rrf {
        rrf: RrfWire,
    },
    OrderBy {
        order_by: OrderByInterface,
    },
    Vector(VectorInputWire),
    /// A kind Quiver does not run (refused by name).
    Other(String),
}

/// A prefetch (same shape recursively).
#[derive(Debug, Deserialize)]
pub(crate) struct PrefetchWire {
    #[serde(default)]
    pub(crate) prefetch: Option<OneOrMany<PrefetchWire>>,
    #[serde(default)]
    pub(crate) query: Option<QueryWire>,
    #[serde(default)]
    pub(crate) using: Option<String>,
    #[serde(default)]
    pub(crate) filter: Option<Filter>,
    #[serde(default)]
    pub(crate) params: Option<SearchParams>,
    #[serde(default)]
    pub(crate) score_threshold: Option<f32>,
    #[serde(default)]
    pub(crate) limit: Option<usize>,
    #[serde(default)]
    pub(crate) lookup_from: Option<LookupFromWire>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany<T> {
    Many(Vec<T>),
    One(Box<T>),
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::Many(v) => v,
            OneOrMany::One(one) => vec![*one],
        }
    }
}

/// `POST …/points/query`.
#[derive(Debug, Deserialize)]
pub struct QueryRequestWire {
    #[serde(default)]
    pub(crate) query: Option<QueryWire>,
    #[serde(default)]
    pub(crate) using: Option<String>,
    #[serde(default)]
    pub(crate) prefetch: Option<OneOrMany<PrefetchWire>>,
    #[serde(default)]
    pub(crate) filter: Option<Filter>,
    #[serde(default)]
    pub(crate) params: Option<SearchParams>,
    #[serde(default)]
    pub(crate) score_threshold: Option<f32>,
    #[serde(default)]
    pub(crate) limit: Option<usize>,
    #[serde(default)]
    pub(crate) offset: Option<usize>,
    #[serde(default = "no_vector", alias = "with_vectors", deserialize_with = "vector_or_none")]
    pub(crate) with_vector: WithVector,
    #[serde(default = "no_payload", deserialize_with = "payload_or_none")]
    pub(crate) with_payload: WithPayload,
    #[serde(default)]
    pub(crate) lookup_from: Option<LookupFromWire>,
    #[serde(default)]
    pub(crate) shard_key: Option<ShardKeySelector>,
}

fn vector_input(input: VectorInputWire) -> Result<VectorInput, ApiError> {
    match input {
        VectorInputWire::Dense(v) => Ok(VectorInput::Dense(v)),
        VectorInputWire::Sparse(v) => Ok(VectorInput::Sparse(v)),
        VectorInputWire::Multi(v) => Ok(VectorInput::Multi(v)),
        VectorInputWire::Id(id) => Ok(VectorInput::Point(id)),
    }
}

fn vector_inputs(inputs: Vec<VectorInputWire>) -> Result<Vec<VectorInput>, ApiError> {
    inputs.into_iter().map(vector_input).collect()
}

fn context_pairs(pairs: Option<OneOrMany<ContextPairWire>>) -> Result<Vec<ContextInput>, ApiError> {
    let pairs = pairs.map(OneOrMany::into_vec).unwrap_or_default();
    pairs
        .into_iter()
        .map(|p| Ok(ContextInput { positive: vector_input(p.positive)?, negative: vector_input(p.negative)? }))
        .collect()
}

/// Most candidates an MMR query re-ranks (Qdrant's bound).
const MMR_MAX_CANDIDATES: usize = 16_384;

fn mmr(mmr: MmrWire, limit: usize) -> Result<Mmr, ApiError> {
    let diversity = mmr.diversity.unwrap_or(0.5);
    if !(0.0..=1.0).contains(&diversity) {
        return Err(ApiError::validation(format!(
            "query.mmr.diversity: value {diversity} invalid, must be from 0 to 1"
        )));
    }
    let candidates_limit = mmr.candidates_limit.unwrap_or(limit);
    if candidates_limit > MMR_MAX_CANDIDATES {
        return Err(ApiError::validation(format!(
            "query.mmr.candidates_limit: value {candidates_limit} invalid, must be {MMR_MAX_CANDIDATES} or less"
        )));
    }
    Ok(Mmr { diversity, candidates_limit })
}

impl RecommendWire {
    /// The examples the legacy recommend endpoints (REST and gRPC `…/recommend`, its batch and
    /// groups) require, as Qdrant checks them there: a positive for `average_vector` (the
    /// default), any example for `best_score` and `sum_scores`.
    pub(crate) fn check_legacy_examples(&self) -> Result<(), ApiError> {
        let (no_positive, no_example) =
            (self.positive.is_empty(), self.positive.is_empty() && self.negative.is_empty());
        match self.strategy.as_deref() {
            None | Some("average_vector") if no_positive => {
                Err(ApiError::bad_request("At least one positive vector ID required with this strategy"))
            }
            Some("best_score" | "sum_scores") if no_example => {
                Err(ApiError::bad_request("At least one positive or negative vector ID required with this strategy"))
            }
            // Enough examples, or an unknown strategy (refused when the query is read).
            None | Some(_) => Ok(()),
        }
    }
}

/// A recommend query needs an example of either kind, whatever the strategy (Qdrant's
/// validation of `RecommendInput`); what a strategy needs beyond that is checked where the
/// examples are resolved.
fn recommend_input(recommend: RecommendWire) -> Result<QueryInput, ApiError> {
    if recommend.positive.is_empty() && recommend.negative.is_empty() {
        return Err(ApiError::validation(
            "query.recommend.positives, negatives: At least one positive or negative vector/id must be provided",
        ));
    }
    let positive = vector_inputs(recommend.positive)?;
    let negative = vector_inputs(recommend.negative)?;
    Ok(match recommend.strategy.as_deref() {
        None | Some("average_vector") => QueryInput::Recommend { positive, negative },
        Some("best_score") => QueryInput::RecommendBestScore { positive, negative },
        Some("sum_scores") => QueryInput::RecommendSumScores { positive, negative },
        Some(other) => {
            return Err(ApiError::bad_input(format!(
                "unknown recommend strategy `{other}`: expected `average_vector`, `best_score` or `sum_scores`"
            )));
        }
    })
}

/// The query of a stage returning `limit` points.
fn query_input(query: Option<QueryWire>, limit: usize) -> Result<Option<QueryInput>, ApiError> {
    let Some(query) = query else { return Ok(None) };
    Ok(Some(match query {
        QueryWire::Nearest { nearest: v, mmr: None } | QueryWire::Vector(v) => QueryInput::Nearest(vector_input(v)?),
        QueryWire::Nearest { nearest, mmr: Some(m) } => QueryInput::NearestMmr(vector_input(nearest)?, mmr(m, limit)?),
        QueryWire::Recommend { recommend } => recommend_input(recommend)?,
        QueryWire::Discover { discover } => {
            QueryInput::Discover { target: vector_input(discover.target)?, context: context_pairs(discover.context)? }
        }
        QueryWire::Context { context } => {
            let pairs = context_pairs(Some(context))?;
            if pairs.is_empty() {
                return Err(ApiError::bad_input("a context query needs at least one pair"));
            }
            QueryInput::Context(pairs)
        }
        QueryWire::Sample { sample: SampleWire::Random } => QueryInput::SampleRandom,
        QueryWire::Formula(formula) => QueryInput::Formula(formula.into_formula()?),
        QueryWire::RelevanceFeedback { relevance_feedback: f } => QueryInput::RelevanceFeedback {
            target: vector_input(f.target)?,
            feedback: f
                .feedback
                .into_iter()
                .map(|item| Ok(FeedbackInput { example: vector_input(item.example)?, score: item.score }))
                .collect::<Result<_, ApiError>>()?,
            strategy: NaiveFeedback { a: f.strategy.naive.a, b: f.strategy.naive.b, c: f.strategy.naive.c },
        },
        QueryWire::Fusion { fusion: FusionWire::Rrf } => QueryInput::Fusion(Fusion::Rrf { k: 2, weights: Vec::new() }),
        QueryWire::Fusion { fusion: FusionWire::Dbsf } => QueryInput::Fusion(Fusion::Dbsf),
        QueryWire::Rrf { rrf } => {
            let weights = rrf.weights.unwrap_or_default();
            if weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
                return Err(ApiError::validation("query.rrf.weights: weights must be finite and not negative"));
            }
            let k = match rrf.k {
                None => 2,
                Some(0) => return Err(ApiError::validation(quiver_types::validation::at_least("query.rrf.k", 0, 1))),
                Some(k) => k,
            };
            QueryInput::Fusion(Fusion::Rrf { k, weights })
        }
        QueryWire::OrderBy { order_by } => QueryInput::OrderBy(order_by.into_order_by()),
        QueryWire::Other(kind) => {
            return Err(ApiError::bad_input(format!("query `{kind}` is not supported by Quiver")));
        }
    }))
}

fn lookup_from(wire: Option<LookupFromWire>) -> Option<LookupFrom> {
    wire.map(|l| LookupFrom {
        collection: l.collection,
        vector: l.vector,
        shard_key: ShardKeySelector::given(l.shard_key),
    })
}

fn prefetches(prefetch: Option<OneOrMany<PrefetchWire>>) -> Result<Vec<Prefetch>, ApiError> {
    let list = prefetch.map(OneOrMany::into_vec).unwrap_or_default();
    list.into_iter()
        .map(|p| {
            let limit = positive_limit(p.limit.unwrap_or(10))?;
            Ok(Prefetch {
                prefetch: prefetches(p.prefetch)?,
                query: query_input(p.query, limit)?,
                using: p.using,
                filter: p.filter,
                params: p.params,
                score_threshold: p.score_threshold,
                limit,
                lookup_from: lookup_from(p.lookup_from),
            })
        })
        .collect()
}

impl QueryRequestWire {
    pub fn into_query(self) -> Result<QueryPoints, ApiError> {
        let limit = positive_limit(self.limit.unwrap_or(10))?;
        Ok(QueryPoints {
            prefetch: prefetches(self.prefetch)?,
            query: query_input(self.query, limit)?,
            using: self.using,
            filter: self.filter,
            params: self.params,
            limit,
            offset: self.offset.unwrap_or(0),
            score_threshold: self.score_threshold,
            with_payload: self.with_payload,
            with_vector: self.with_vector,
            shard_key: ShardKeySelector::given(self.shard_key),
            lookup_from: lookup_from(self.lookup_from),
        })
    }
}

/// `POST …/points/query/batch`.
#[derive(Debug, Deserialize)]
pub struct QueryBatchWire {
    pub searches: Vec<QueryRequestWire>,
}

/// The legacy recommend body (`POST …/points/recommend`, `…/recommend/batch`, and with the
/// grouping fields `…/recommend/groups`): the universal query with a `recommend` input.
#[derive(Debug, Deserialize)]
pub struct RecommendRequestWire {
    #[serde(default)]
    pub(crate) positive: Vec<VectorInputWire>,
    #[serde(default)]
    pub(crate) negative: Vec<VectorInputWire>,
    #[serde(default)]
    pub(crate) strategy: Option<String>,
    #[serde(default)]
    pub(crate) filter: Option<Filter>,
    #[serde(default)]
    pub(crate) params: Option<SearchParams>,
    #[serde(alias = "top")]
    pub(crate) limit: usize,
    #[serde(default)]
    pub(crate) offset: Option<usize>,
    #[serde(default = "no_payload", deserialize_with = "payload_or_none")]
    pub(crate) with_payload: WithPayload,
    #[serde(default = "no_vector", alias = "with_vectors", deserialize_with = "vector_or_none")]
    pub(crate) with_vector: WithVector,
    #[serde(default)]
    pub(crate) score_threshold: Option<f32>,
    #[serde(default)]
    pub(crate) using: Option<String>,
    #[serde(default)]
    pub(crate) lookup_from: Option<LookupFromWire>,
    #[serde(default)]
    pub(crate) shard_key: Option<ShardKeySelector>,
}

impl RecommendRequestWire {
    /// The same request as a universal query body.
    pub(crate) fn into_query_wire(self) -> QueryRequestWire {
        let recommend = RecommendWire { positive: self.positive, negative: self.negative, strategy: self.strategy };
        QueryRequestWire {
            query: Some(QueryWire::Recommend { recommend }),
            using: self.using,
            prefetch: None,
            filter: self.filter,
            params: self.params,
            score_threshold: self.score_threshold,
            limit: Some(self.limit),
            offset: self.offset,
            with_vector: self.with_vector,
            with_payload: self.with_payload,
            lookup_from: self.lookup_from,
            shard_key: self.shard_key,
        }
    }

    pub fn into_query(self) -> Result<QueryPoints, ApiError> {
        let query = self.into_query_wire();
        if let Some(QueryWire::Recommend { recommend }) = &query.query {
            recommend.check_legacy_examples()?;
        }
        query.into_query()
    }
}

/// `POST …/points/recommend/batch`.
#[derive(Debug, Deserialize)]
pub struct RecommendBatchWire {
    pub searches: Vec<RecommendRequestWire>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recommend(positive: usize, negative: usize, strategy: Option<&str>) -> RecommendWire {
        let example = |i: usize| VectorInputWire::Dense(vec![i as f32, 1.0]);
        RecommendWire {
            positive: (0..positive).map(example).collect(),
            negative: (0..negative).map(example).collect(),
            strategy: strategy.map(str::to_string),
        }
    }

    #[test]
    fn legacy_recommend_examples_per_strategy() {
        let refused = |r: RecommendWire| r.check_legacy_examples().unwrap_err().message;
        let no_positive = "Bad request: At least one positive vector ID required with this strategy";
        let no_example = "Bad request: At least one positive or negative vector ID required with this strategy";
        assert_eq!(refused(recommend(0, 1, None)), no_positive);
        assert_eq!(refused(recommend(0, 1, Some("average_vector"))), no_positive);
        assert_eq!(refused(recommend(0, 0, Some("best_score"))), no_example);
        assert_eq!(refused(recommend(0, 0, Some("sum_scores"))), no_example);
        for strategy in [Some("best_score"), Some("sum_scores")] {
            assert!(recommend(0, 1, strategy).check_legacy_examples().is_ok());
        }
        assert!(recommend(1, 0, None).check_legacy_examples().is_ok());
    }

    #[test]
    fn query_recommend_needs_some_example() {
        let err = recommend_input(recommend(0, 0, Some("best_score"))).unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            err.message.contains("At least one positive or negative vector/id must be provided"),
            "{}",
            err.message
        );
        assert!(matches!(
            recommend_input(recommend(0, 2, Some("best_score"))),
            Ok(QueryInput::RecommendBestScore { positive, negative }) if positive.is_empty() && negative.len() == 2
        ));
    }
}
