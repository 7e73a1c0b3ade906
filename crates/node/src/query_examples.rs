//! The vectors of a query's examples, and MMR re-ranking (design record 013). An example is a
//! vector given inline or the id of a point whose vector is looked up, in the queried collection
//! or in the one `lookup_from` names (and its vector of `lookup_from.vector`).

use crate::error::{NodeError, Result};
use crate::keyed::Keyed;
use quiver_types::point::{ScoredPoint, Vector};
use quiver_types::query::{ContextPair, FeedbackPair, QueryVector, WithPayload, WithVector};
use quiver_types::{PointId, SparseVector};

/// A vector given directly or by the id of a point that has it.
#[derive(Debug, Clone, PartialEq)]
pub enum VectorInput {
    Dense(Vec<f32>),
    Sparse(SparseVector),
    Multi(Vec<Vec<f32>>),
    Point(PointId),
}

/// A positive and a negative example (discover and context).
#[derive(Debug, Clone, PartialEq)]
pub struct ContextInput {
    pub positive: VectorInput,
    pub negative: VectorInput,
}

/// Maximal marginal relevance: re-rank `candidates_limit` nearest points, trading relevance for
/// dissimilarity to the points already picked (`diversity` in [0, 1]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mmr {
    pub diversity: f32,
    pub candidates_limit: usize,
}

/// An example scored by a feedback model (relevance feedback).
#[derive(Debug, Clone, PartialEq)]
pub struct FeedbackInput {
    pub example: VectorInput,
    pub score: f32,
}

/// The `naive` relevance feedback strategy's trained coefficients.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NaiveFeedback {
    pub a: f32,
    pub b: f32,
    pub c: f32,
}

/// Where examples given by id are looked up.
pub(crate) struct Lookup {
    pub(crate) collection: Keyed,
    pub(crate) vector: String,
    /// Another collection (`lookup_from`): its ids are not excluded from the results.
    pub(crate) foreign: bool,
}

/// Resolves the examples of one stage.
pub(crate) struct Examples<'a> {
    pub(crate) lookup: &'a Lookup,
}

impl Examples<'_> {
    /// The vector of one example.
    pub(crate) async fn one(&self, input: &VectorInput) -> Result<Vector> {
        match input {
            VectorInput::Dense(v) => Ok(Vector::Dense(v.clone())),
            VectorInput::Sparse(v) => Ok(Vector::Sparse(v.clone())),
            VectorInput::Multi(v) => Ok(Vector::Multi(v.clone())),
            VectorInput::Point(id) => {
                // As Qdrant: a missing point (404) is reported before an unknown vector name (400).
                let name = &self.lookup.vector;
                let collection = &self.lookup.collection;
                let record = collection.retrieve(vec![*id], WithPayload::Bool(false), WithVector::Bool(true)).await?;
                let record = record
                    .into_iter()
                    .next()
                    .ok_or_else(|| NodeError::NotFound(format!("No point with id {id} found")))?;
                if let Some(vector) = record.vector.and_then(|v| v.into_named().remove(name)) {
                    return Ok(vector);
                }
                // Selecting the name alone refuses a name the collection does not have.
                collection.retrieve(vec![*id], WithPayload::Bool(false), WithVector::Names(vec![name.clone()])).await?;
                Err(NodeError::BadInput(format!("point {id} has no vector named `{name}`")))
            }
        }
    }

    pub(crate) async fn all(&self, inputs: &[VectorInput]) -> Result<Vec<Vector>> {
        let mut out = Vec::with_capacity(inputs.len());
        for input in inputs {
            out.push(self.one(input).await?);
        }
        Ok(out)
    }

    /// The positive and negative examples of a `best_score` or `sum_scores` recommendation:
    /// negatives alone are enough (the points least like them rank first), none at all is not.
    pub(crate) async fn scored_examples(
        &self,
        positive: &[VectorInput],
        negative: &[VectorInput],
    ) -> Result<(Vec<Vector>, Vec<Vector>)> {
        if positive.is_empty() && negative.is_empty() {
            return Err(NodeError::BadRequest(
                "At least one positive or negative vector ID required with this strategy".into(),
            ));
        }
        Ok((self.all(positive).await?, self.all(negative).await?))
    }

    /// The pairs of a naive relevance feedback query, as Qdrant forms them: every ordered pair of
    /// feedback examples whose feedback scores differ by more than 0 (better first), weighted
    /// `(score gap)^b · c`.
    pub(crate) async fn feedback_pairs(
        &self,
        feedback: &[FeedbackInput],
        strategy: NaiveFeedback,
    ) -> Result<Vec<FeedbackPair>> {
        let mut vectors = Vec::with_capacity(feedback.len());
        for item in feedback {
            vectors.push(self.one(&item.example).await?);
        }
        let mut out = Vec::new();
        for (i, better) in feedback.iter().enumerate() {
            for (j, worse) in feedback.iter().enumerate() {
                let confidence = better.score - worse.score;
                if i == j || confidence <= 0.0 {
                    continue;
                }
                out.push(FeedbackPair {
                    positive: vectors[i].clone(),
                    negative: vectors[j].clone(),
                    weight: confidence.powf(strategy.b) * strategy.c,
                });
            }
        }
        Ok(out)
    }

    pub(crate) async fn pairs(&self, pairs: &[ContextInput]) -> Result<Vec<ContextPair>> {
        let mut out = Vec::with_capacity(pairs.len());
        for pair in pairs {
            out.push(ContextPair {
                positive: self.one(&pair.positive).await?,
                negative: self.one(&pair.negative).await?,
            });
        }
        Ok(out)
    }
}

/// Re-ranks `candidates` (nearest first, with their `using` vectors) by maximal marginal
/// relevance as Qdrant does: relevance and closeness are raw similarities (`Keyed::closeness`),
/// the seed is the most relevant candidate, and each later pick the best MMR value. The pending
/// candidates keep Qdrant's order (the picked one is swap-removed, a tie goes to the last one)
/// so exact ties resolve as there. Each picked point keeps its search score.
pub(crate) fn mmr_stage(
    collection: &Keyed,
    using: &str,
    query: &QueryVector,
    candidates: Vec<ScoredPoint>,
    mmr: &Mmr,
    limit: usize,
) -> Result<Vec<ScoredPoint>> {
    let relevance = collection.relevance(using, query)?;
    let mut pending: Vec<(ScoredPoint, Vector, f32)> = candidates
        .into_iter()
        .filter_map(|mut p| {
            let vector = p.vector.take()?.into_named().remove(using)?;
            let relevant = relevance(&vector);
            Some((p, vector, relevant))
        })
        .collect();
    let lambda = 1.0 - mmr.diversity;
    let closeness = collection.closeness(using);
    // Closest picked point so far, per pending candidate.
    let mut closest = vec![f32::NEG_INFINITY; pending.len()];
    let mut picked: Vec<ScoredPoint> = Vec::with_capacity(limit.min(pending.len()));
    while picked.len() < limit && !pending.is_empty() {
        let value = |i: usize| match picked.is_empty() {
            true => pending[i].2,
            false => lambda * pending[i].2 - (1.0 - lambda) * closest[i],
        };
        let values: Vec<f32> = (0..pending.len()).map(value).collect();
        if !picked.is_empty() && values.iter().all(|v| *v == f32::NEG_INFINITY) {
            break;
        }
        let best = last_max(&values);
        let (point, vector, _) = pending.swap_remove(best);
        closest.swap_remove(best);
        for (i, (_, other, _)) in pending.iter().enumerate() {
            closest[i] = closest[i].max(closeness(&vector, other));
        }
        picked.push(point);
    }
    Ok(picked)
}

/// The index of the largest value, the last one of equal largest values (Rust's `max_by`).
fn last_max(values: &[f32]) -> usize {
    (0..values.len()).max_by(|a, b| values[*a].total_cmp(&values[*b])).unwrap_or(0)
}
