//! The request of the universal query (`POST …/points/query`, spec §3.3) as the API layer
//! builds it: the query kinds, prefetches, fusion and where examples given by id are looked up.

use crate::query_examples::{ContextInput, FeedbackInput, Mmr, NaiveFeedback, VectorInput};
use crate::query_formula::Formula;
use quiver_types::filter::Filter;
use quiver_types::query::{OrderBy, SearchParams, WithPayload, WithVector};
use quiver_types::shard_key::ShardKeySelector;

/// Where examples given by id are looked up: another collection, and which of its vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct LookupFrom {
    pub collection: String,
    pub vector: Option<String>,
    /// The shard keys of `collection` the examples are read in (Qdrant's `shard_key` of a
    /// lookup location); every shard when `None`.
    pub shard_key: Option<ShardKeySelector>,
}

/// How prefetch results are fused.
#[derive(Debug, Clone, PartialEq)]
pub enum Fusion {
    /// Reciprocal rank fusion: Σ 1 / ((rank + 1) / weight + k − 1) over the prefetches (0-based
    /// rank; one weight per prefetch, none: all 1, which gives Σ 1 / (k + rank)).
    Rrf { k: usize, weights: Vec<f32> },
    /// Distribution-based score fusion: scores normalised by mean ± 3σ, then summed.
    Dbsf,
}

/// What a query asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryInput {
    Nearest(VectorInput),
    /// Nearest, re-ranked by MMR.
    NearestMmr(VectorInput, Mmr),
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
    /// Recommend with the `sum_scores` strategy: Σ similarities to positives − Σ to negatives.
    RecommendSumScores {
        positive: Vec<VectorInput>,
        negative: Vec<VectorInput>,
    },
    /// Discovery: rank by how many context pairs a point is on the positive side of, then by
    /// similarity to the target.
    Discover {
        target: VectorInput,
        context: Vec<ContextInput>,
    },
    /// Context search: points on the positive side of every pair score 0, the rest less.
    Context(Vec<ContextInput>),
    /// Relevance feedback (`naive`): `a · sim(target) + Σ weight · (sim(better) − sim(worse))`.
    RelevanceFeedback {
        target: VectorInput,
        feedback: Vec<FeedbackInput>,
        strategy: NaiveFeedback,
    },
    /// `sample: random`.
    SampleRandom,
    /// Score boosting: an expression over the prefetch scores and the payload.
    Formula(Formula),
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
    pub lookup_from: Option<LookupFrom>,
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
    pub lookup_from: Option<LookupFrom>,
    /// The shard keys queried (custom sharding); every shard when `None`.
    pub shard_key: Option<ShardKeySelector>,
}

impl QueryPoints {
    /// The collections examples are looked up in (`lookup_from`), at every level.
    pub fn lookup_collections(&self) -> Vec<&str> {
        fn walk<'a>(prefetches: &'a [Prefetch], out: &mut Vec<&'a str>) {
            for p in prefetches {
                out.extend(p.lookup_from.iter().map(|l| l.collection.as_str()));
                walk(&p.prefetch, out);
            }
        }
        let mut out: Vec<&str> = self.lookup_from.iter().map(|l| l.collection.as_str()).collect();
        walk(&self.prefetch, &mut out);
        out
    }
}
