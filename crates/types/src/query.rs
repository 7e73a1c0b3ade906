//! Read requests at the shard level: selectors for payloads and vectors, search, scroll, count.

use crate::PointId;
use crate::filter::Filter;
use crate::point::{SparseVector, Vector};
use serde::{Deserialize, Serialize};

/// Which payload fields a read returns. The `{include}` / `{exclude}` selectors refuse
/// unknown fields, as Qdrant's do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum WithPayload {
    Bool(bool),
    Fields(Vec<String>),
    Include { include: Vec<String> },
    Exclude { exclude: Vec<String> },
}

impl WithPayload {
    pub fn is_enabled(&self) -> bool {
        !matches!(self, WithPayload::Bool(false))
    }
}

/// Which vectors a read returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WithVector {
    Bool(bool),
    Names(Vec<String>),
}

impl WithVector {
    pub fn is_enabled(&self) -> bool {
        !matches!(self, WithVector::Bool(false))
    }

    pub fn includes(&self, name: &str) -> bool {
        match self {
            WithVector::Bool(b) => *b,
            WithVector::Names(names) => names.iter().any(|n| n == name),
        }
    }
}

/// Search parameters (`params` of a query). Unknown fields are ignored, as Qdrant's
/// `SearchParams` ignores them; the value ranges are checked by [`SearchParams::validate`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    pub hnsw_ef: Option<usize>,
    #[serde(default)]
    pub exact: bool,
    /// `{ignore, rescore, oversampling}`, checked when read (`QuantizationSearch`).
    #[serde(default, deserialize_with = "checked_quantization")]
    pub quantization: Option<serde_json::Value>,
    #[serde(default)]
    pub indexed_only: bool,
    #[serde(default)]
    pub acorn: Option<serde_json::Value>,
}

/// `params.quantization` of the right shape (a wrong type is a format error); its ranges are
/// left to [`SearchParams::validate`].
fn checked_quantization<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    match crate::quantization::QuantizationSearch::parse(value.as_ref()) {
        Err(crate::TypesError::BadInput(e)) => Err(serde::de::Error::custom(e)),
        Ok(_) | Err(crate::TypesError::Validation(_)) => Ok(value),
    }
}

impl SearchParams {
    /// Qdrant's validation rules of search parameters (422 issues, without the `Validation
    /// error in JSON body` wrapping): `quantization.oversampling` at least 1,
    /// `acorn.max_selectivity` from 0 to 1.
    pub fn validate(&self) -> Result<(), crate::TypesError> {
        crate::quantization::QuantizationSearch::parse(self.quantization.as_ref())?;
        let selectivity = self.acorn.as_ref().and_then(|a| a.get("max_selectivity")).and_then(|s| s.as_f64());
        match selectivity {
            Some(s) if !(0.0..=1.0).contains(&s) => Err(crate::TypesError::Validation(crate::validation::between(
                "params.acorn.max_selectivity",
                serde_json::Value::from(s),
                "0.0",
                "1.0",
            ))),
            Some(_) | None => Ok(()),
        }
    }
}

/// What a shard ranks its points by: nearness to a vector, an objective over example vectors,
/// or a random order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum QueryVector {
    Dense(Vec<f32>),
    Sparse(SparseVector),
    /// A multivector, compared by `max_sim`.
    Multi(Vec<Vec<f32>>),
    /// A custom objective over resolved examples (larger is better).
    Custom(CustomQuery),
    /// `sample: random`: every matching point gets a random score from `seed` and its id.
    Random {
        seed: u64,
    },
}

impl From<Vector> for QueryVector {
    fn from(vector: Vector) -> QueryVector {
        match vector {
            Vector::Dense(v) => QueryVector::Dense(v),
            Vector::Sparse(v) => QueryVector::Sparse(v),
            Vector::Multi(v) => QueryVector::Multi(v),
        }
    }
}

/// A positive and a negative example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextPair {
    pub positive: Vector,
    pub negative: Vector,
}

/// A pair of relevance feedback examples and its precomputed weight (`confidence^b * c`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackPair {
    pub positive: Vector,
    pub negative: Vector,
    pub weight: f32,
}

/// Objectives scored from a point's similarity to several examples (Qdrant's custom queries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CustomQuery {
    /// Recommend `best_score`: `sigmoid(best positive)` when a positive is the most similar
    /// example, else `-sigmoid(best negative)`.
    BestScore { positive: Vec<Vector>, negative: Vec<Vector> },
    /// Recommend `sum_scores`: Σ positive similarities − Σ negative similarities.
    SumScores { positive: Vec<Vector>, negative: Vec<Vector> },
    /// Discover: the number of pairs whose positive is closer (+1) or not (−1), plus
    /// `sigmoid` of the similarity to the target.
    Discover { target: Vector, pairs: Vec<ContextPair> },
    /// Context: Σ over pairs of `min(0, sim(positive) − sim(negative))` through a sigmoid.
    Context { pairs: Vec<ContextPair> },
    /// Relevance feedback (`naive`): `a · sim(target) + Σ weight · (sim(pos) − sim(neg))`.
    Feedback { target: Vector, a: f32, pairs: Vec<FeedbackPair> },
}

impl CustomQuery {
    /// Every example, for validation and preparation.
    pub fn examples_mut(&mut self) -> Vec<&mut Vector> {
        match self {
            CustomQuery::BestScore { positive, negative } | CustomQuery::SumScores { positive, negative } => {
                positive.iter_mut().chain(negative.iter_mut()).collect()
            }
            CustomQuery::Discover { target, pairs } => std::iter::once(target)
                .chain(pairs.iter_mut().flat_map(|p| [&mut p.positive, &mut p.negative]))
                .collect(),
            CustomQuery::Context { pairs } => {
                pairs.iter_mut().flat_map(|p| [&mut p.positive, &mut p.negative]).collect()
            }
            CustomQuery::Feedback { target, pairs, .. } => std::iter::once(target)
                .chain(pairs.iter_mut().flat_map(|p| [&mut p.positive, &mut p.negative]))
                .collect(),
        }
    }
}

/// A nearest-neighbour search in one shard. `limit` already includes the page offset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoreSearch {
    pub vector_name: String,
    pub query: QueryVector,
    pub filter: Option<Filter>,
    pub params: Option<SearchParams>,
    pub limit: usize,
    pub score_threshold: Option<f32>,
    pub with_payload: WithPayload,
    pub with_vector: WithVector,
}

/// Sort direction of `order_by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    #[default]
    Asc,
    Desc,
}

/// Order scroll results by a payload field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderBy {
    pub key: String,
    #[serde(default)]
    pub direction: Option<Direction>,
    #[serde(default)]
    pub start_from: Option<serde_json::Value>,
}

/// `order_by` as clients send it: a bare key or the full object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OrderByInterface {
    Key(String),
    Struct(OrderBy),
}

impl OrderByInterface {
    pub fn into_order_by(self) -> OrderBy {
        match self {
            OrderByInterface::Key(key) => OrderBy { key, direction: None, start_from: None },
            OrderByInterface::Struct(o) => o,
        }
    }
}

/// A page of points in id order (or payload order) from one shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScrollRequest {
    pub offset: Option<PointId>,
    pub limit: usize,
    pub filter: Option<Filter>,
    pub with_payload: WithPayload,
    pub with_vector: WithVector,
    pub order_by: Option<OrderBy>,
}

/// How many replicas of each shard a read consults (spec §6.3, `?consistency=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadConsistency {
    /// `N` replicas (the default is 1).
    Count(usize),
    /// Every replica.
    All,
    /// Every replica; a point must be in a majority of the answers.
    Majority,
    /// `⌊total/2⌋ + 1` replicas.
    Quorum,
    #[default]
    Default,
}

impl ReadConsistency {
    /// Parses the query parameter; `None` for an invalid value (0 or an unknown word).
    pub fn parse(text: Option<&str>) -> Option<ReadConsistency> {
        match text {
            None | Some("") => Some(ReadConsistency::Default),
            Some("all") => Some(ReadConsistency::All),
            Some("majority") => Some(ReadConsistency::Majority),
            Some("quorum") => Some(ReadConsistency::Quorum),
            Some(n) => n.parse::<usize>().ok().filter(|n| *n >= 1).map(ReadConsistency::Count),
        }
    }

    /// How many of `total` replicas must answer.
    pub fn required(self, total: usize) -> usize {
        let total = total.max(1);
        match self {
            ReadConsistency::Default => 1,
            ReadConsistency::Count(n) => n.clamp(1, total),
            ReadConsistency::Quorum => total / 2 + 1,
            ReadConsistency::Majority | ReadConsistency::All => total,
        }
    }
}

/// A value counted by a facet: a keyword (or uuid), an integer or a bool.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FacetValue {
    Bool(bool),
    Integer(i64),
    Keyword(String),
}

/// What a facet counts: the values at `key` of the points passing `filter`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FacetRequest {
    pub key: String,
    pub filter: Option<Filter>,
}

/// One value and the number of points holding it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacetHit {
    pub value: FacetValue,
    pub count: usize,
}

/// The hits with the most points first (ties by value), at most `limit` of them.
pub fn top_facet_hits(counts: std::collections::HashMap<FacetValue, usize>, limit: usize) -> Vec<FacetHit> {
    let mut hits: Vec<FacetHit> = counts.into_iter().map(|(value, count)| FacetHit { value, count }).collect();
    hits.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    hits.truncate(limit);
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TypesError;
    use serde_json::json;

    fn params(json: serde_json::Value) -> Result<SearchParams, String> {
        serde_json::from_value(json).map_err(|e| e.to_string())
    }

    #[test]
    fn out_of_range_params_read_and_fail_validation_with_their_path() {
        let low = params(json!({"quantization": {"oversampling": 0.5}})).unwrap();
        assert_eq!(
            low.validate(),
            Err(TypesError::Validation(
                "params.quantization.oversampling: value 0.5 invalid, must be 1.0 or larger".into()
            ))
        );
        let acorn = params(json!({"acorn": {"enable": true, "max_selectivity": 1.5}})).unwrap();
        assert_eq!(
            acorn.validate(),
            Err(TypesError::Validation(
                "params.acorn.max_selectivity: value 1.5 invalid, must be from 0.0 to 1.0".into()
            ))
        );
        let fine = params(json!({"hnsw_ef": 0, "exact": true, "quantization": {"oversampling": 1.0},
            "acorn": {"enable": true, "max_selectivity": 0.0}}));
        assert_eq!(fine.unwrap().validate(), Ok(()));
    }

    #[test]
    fn unknown_fields_are_ignored_and_wrong_types_refused() {
        let future = params(json!({"hnsw_ef": 10, "zz_future": 1, "quantization": {"rescore": true, "zz": 2}}));
        assert_eq!(future.unwrap().hnsw_ef, Some(10));
        assert!(params(json!({"quantization": {"oversampling": "many"}})).is_err());
        assert!(params(json!({"exact": "yes"})).is_err());
    }

    #[test]
    fn payload_selectors_refuse_unknown_fields() {
        let include: WithPayload = serde_json::from_value(json!({"include": ["a"]})).unwrap();
        assert_eq!(include, WithPayload::Include { include: vec!["a".into()] });
        assert!(serde_json::from_value::<WithPayload>(json!({"include": ["a"], "zz": 1})).is_err());
        assert!(serde_json::from_value::<WithPayload>(json!({"exclude": ["a"], "zz": 1})).is_err());
    }
}
