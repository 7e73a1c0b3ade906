//! Exact scans of a shard's matching points for the rankings that are not nearness to one
//! vector: custom objectives over example vectors (recommend `best_score` and `sum_scores`,
//! discover, context, relevance feedback; larger is better), and `sample: random`, where each
//! point scores a hash of the request's seed and its id (so the best `limit` over all shards are
//! a uniform sample, merged like any other search).

use crate::search::{SearchPlan, TopK, scan_set};
use crate::shard::LocalShard;
use quiver_storage::distance::{custom_score, max_sim, similarity, sparse_dot};
use quiver_storage::filter::CompiledFilter;
use quiver_storage::points::{PointRef, PointTable};
use quiver_storage::vectors::{Metric, VectorSpec};
use quiver_types::PointId;
use quiver_types::point::Vector;
use quiver_types::query::{CoreSearch, CustomQuery};
use siphasher::sip::SipHasher13;
use std::hash::{Hash, Hasher};

/// The point's score under `custom`, from its vector `name` (`None` if it has none).
fn point_score(point: &PointRef<'_>, name: &str, metric: Metric, custom: &CustomQuery) -> Option<f32> {
    if let Some(stored) = point.dense(name) {
        return Some(custom_score(custom, |example| match example {
            Vector::Dense(e) => similarity(metric, e, stored),
            Vector::Sparse(_) | Vector::Multi(_) => f32::NEG_INFINITY,
        }));
    }
    if let Some(stored) = point.multi(name) {
        return Some(custom_score(custom, |example| match example {
            Vector::Multi(e) => max_sim(metric, e, stored.iter()),
            Vector::Dense(e) => max_sim(metric, std::slice::from_ref(e), stored.iter()),
            Vector::Sparse(_) => f32::NEG_INFINITY,
        }));
    }
    let stored = point.sparse(name)?;
    Some(custom_score(custom, |example| match example {
        Vector::Sparse(e) => sparse_dot(e, stored).unwrap_or(0.0),
        Vector::Dense(_) | Vector::Multi(_) => f32::NEG_INFINITY,
    }))
}

fn plan(filtered: bool, filter: Option<&CompiledFilter>) -> SearchPlan {
    if filtered || filter.is_some() { SearchPlan::FilteredScan } else { SearchPlan::FullScan }
}

impl LocalShard {
    /// The best points under a custom objective.
    pub(crate) fn search_custom(
        &self,
        table: &PointTable,
        request: &CoreSearch,
        custom: &CustomQuery,
        spec: VectorSpec,
        filter: Option<&CompiledFilter>,
    ) -> (TopK, SearchPlan) {
        custom_scan(table, request, custom, spec, filter)
    }

    /// `limit` matching points in a random order (`sample: random`).
    pub(crate) fn search_random(
        &self,
        table: &PointTable,
        request: &CoreSearch,
        seed: u64,
        filter: Option<&CompiledFilter>,
    ) -> (TopK, SearchPlan) {
        random(table, request, seed, filter)
    }
}

fn custom_scan(
    table: &PointTable,
    request: &CoreSearch,
    custom: &CustomQuery,
    spec: VectorSpec,
    filter: Option<&CompiledFilter>,
) -> (TopK, SearchPlan) {
    let mut top = TopK::new(request.limit, request.score_threshold, true);
    let (points, filtered) = scan_set(table, request);
    for point in points {
        if filter.is_some_and(|f| !f.check(&point)) {
            continue;
        }
        if let Some(score) = point_score(&point, &request.vector_name, spec.metric(), custom)
            && top.admits(score, point.id())
        {
            top.push(&point, score);
        }
    }
    (top, plan(filtered, filter))
}

/// A uniformly random score in [0, 1) for `id`, fixed by `seed`.
pub fn random_score(seed: u64, id: PointId) -> f32 {
    let mut hasher = SipHasher13::new_with_keys(seed, 0x5eed_5a3d_1e5b_0a7c);
    id.hash(&mut hasher);
    (hasher.finish() >> 40) as f32 / (1u64 << 24) as f32
}

fn random(table: &PointTable, request: &CoreSearch, seed: u64, filter: Option<&CompiledFilter>) -> (TopK, SearchPlan) {
    let mut top = TopK::new(request.limit, None, true);
    let (points, filtered) = scan_set(table, request);
    for point in points {
        if filter.is_some_and(|f| !f.check(&point)) {
            continue;
        }
        let score = random_score(seed, point.id());
        if top.admits(score, point.id()) {
            top.push(&point, score);
        }
    }
    (top, plan(filtered, filter))
}
