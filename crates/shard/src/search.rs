//! Nearest-neighbour search of a local shard and its query planner (design record 005).
//!
//! Plans, per request:
//! * **sparse queries**: the inverted index of the sparse vector (exact dot products);
//! * **exact scan** of every point: `exact=true`, vectors without an HNSW index
//!   (shard below `indexing_threshold`), or a filter on a small shard;
//! * **exact scan of the matching points** when a filter is selective: its estimated matches hold
//!   fewer vector bytes than `full_scan_threshold` (KB), as in Qdrant;
//! * **graph search** otherwise: HNSW with beam `max(hnsw_ef or ef_construct, limit)`, the filter
//!   and "the index holds this slot's current vector" checked inside the traversal, plus an
//!   exact scan of the slots not indexed yet (fresh or changed), merged by exact score.
//!
//! Every score returned is computed exactly from the point table, so a stale index entry can
//! never produce a wrong score, and a deleted point (no longer live in its slot) never returns.

use crate::error::Result;
use crate::read::project;
use crate::shard::LocalShard;
use quiver_storage::distance::{self, higher_is_better};
use quiver_storage::filter::CompiledFilter;
use quiver_storage::points::{DenseIndexView, FrozenView, PointRef, PointTable};
use quiver_types::PointId;
use quiver_types::config::Distance;
use quiver_types::point::ScoredPoint;
use quiver_types::query::{CoreSearch, QueryVector};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A candidate in the top-k heap; `Ord` puts the worst candidate on top.
struct Candidate {
    key: f32,
    id: PointId,
    slot: u32,
    score: f32,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    // Larger `key` is better; the heap's top must be the worst, so reverse.
    fn cmp(&self, other: &Self) -> Ordering {
        other.key.total_cmp(&self.key).then_with(|| self.id.cmp(&other.id))
    }
}

/// The best `limit` candidates seen, with the score threshold applied.
struct TopK {
    heap: BinaryHeap<Candidate>,
    limit: usize,
    threshold: Option<f32>,
    better_high: bool,
}

impl TopK {
    fn new(limit: usize, threshold: Option<f32>, better_high: bool) -> TopK {
        // `limit` comes from the client: reserve for what a shard can plausibly return.
        TopK { heap: BinaryHeap::with_capacity(limit.saturating_add(1).min(4096)), limit, threshold, better_high }
    }

    fn key(&self, score: f32) -> f32 {
        if self.better_high { score } else { -score }
    }

    /// Whether a point with `score` would enter the heap (checked before the costlier filter).
    /// Ties go to the smaller id, so the result does not depend on the order points are seen in
    /// (slot order, hash order, graph order).
    fn admits(&self, score: f32, id: PointId) -> bool {
        let passes = match self.threshold {
            None => true,
            Some(t) if self.better_high => score >= t,
            Some(t) => score <= t,
        };
        let key = self.key(score);
        let beaten = |worst: &Candidate| match key.total_cmp(&worst.key) {
            Ordering::Less => true,
            Ordering::Equal => id >= worst.id,
            Ordering::Greater => false,
        };
        passes && !(self.heap.len() == self.limit && self.heap.peek().is_some_and(beaten))
    }

    fn push(&mut self, point: &PointRef<'_>, score: f32) {
        self.heap.push(Candidate { key: self.key(score), id: point.id(), slot: point.slot(), score });
        if self.heap.len() > self.limit {
            self.heap.pop();
        }
    }

    fn into_sorted(self) -> Vec<Candidate> {
        let mut best = self.heap.into_vec();
        best.sort();
        best
    }
}

/// How a search was executed (exposed for tests and the benchmark).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchPlan {
    /// Every point scored.
    FullScan,
    /// The points matching a selective filter scored.
    FilteredScan,
    /// HNSW graph through the live index (plus the slots not indexed yet).
    Graph,
    /// HNSW graph through its frozen copy (plus the slots changed since it was taken).
    FrozenGraph,
    /// Sparse vectors through their inverted index (exact).
    SparseIndex,
}

/// Slots sampled to estimate how many points a filter matches.
const SAMPLE: usize = 1024;

/// Estimated number of live points of `table` passing `filter`, from an evenly spread sample.
fn estimate_matches(table: &PointTable, filter: &CompiledFilter) -> usize {
    let slots = table.slot_count();
    if slots == 0 {
        return 0;
    }
    let step = (slots / SAMPLE).max(1);
    let (mut seen, mut matched) = (0usize, 0usize);
    let mut slot = 0;
    while slot < slots {
        if let Some(point) = table.by_slot(slot as u32) {
            seen += 1;
            matched += usize::from(filter.check(&point));
        }
        slot += step;
    }
    if seen == 0 {
        return 0;
    }
    // Round up: one match in the sample must not estimate to zero.
    (matched * table.len()).div_ceil(seen)
}

/// The frozen graph search with the kernels of the scores ("smaller is closer"), compiled once
/// per distance so the kernel is called directly.
fn frozen_search(
    frozen: &FrozenView<'_>,
    distance: Distance,
    query: &[f32],
    ef: usize,
    allow: impl Fn(u32) -> bool,
) -> Vec<u32> {
    let kernels = quiver_storage::kernels::best();
    let (graph, vectors, dim) = (frozen.graph, frozen.vectors, frozen.dim);
    match distance {
        Distance::Cosine | Distance::Dot => graph.search(vectors, dim, query, ef, |a, b| -(kernels.dot)(a, b), allow),
        Distance::Euclid => graph.search(vectors, dim, query, ef, kernels.l2sq, allow),
        Distance::Manhattan => graph.search(vectors, dim, query, ef, kernels.l1, allow),
    }
}

impl LocalShard {
    /// Nearest neighbours of `request.query`, best first.
    pub fn search(&self, request: &CoreSearch) -> Result<Vec<ScoredPoint>> {
        Ok(self.search_planned(request)?.0)
    }

    /// `search`, also telling which plan ran.
    pub fn search_planned(&self, request: &CoreSearch) -> Result<(Vec<ScoredPoint>, SearchPlan)> {
        let table = self.table.read();
        let filter = crate::read::compile(request.filter.as_ref(), &table)?;
        let distance = self.config().dense.get(&request.vector_name).map(|(_, d)| *d).unwrap_or(Distance::Dot);
        let (top, plan) = match &request.query {
            QueryVector::Dense(q) => self.search_dense(&table, request, q, distance, filter.as_ref()),
            QueryVector::Sparse(q) => {
                // Inverted index: only points sharing a dimension with the query are scored.
                let mut top = TopK::new(request.limit, request.score_threshold, true);
                for (slot, score) in table.sparse_scores(&request.vector_name, q) {
                    let Some(point) = table.by_slot(slot) else { continue };
                    if top.admits(score, point.id()) && filter.as_ref().is_none_or(|f| f.check(&point)) {
                        top.push(&point, score);
                    }
                }
                (top, SearchPlan::SparseIndex)
            }
        };
        let out = top
            .into_sorted()
            .into_iter()
            .filter_map(|c| {
                let point = table.by_slot(c.slot)?;
                let (payload, vector) = project(&point, &request.with_payload, &request.with_vector);
                Some(ScoredPoint {
                    id: c.id,
                    version: point.version(),
                    score: c.score,
                    payload,
                    vector,
                    shard_key: None,
                    order_value: None,
                })
            })
            .collect();
        Ok((out, plan))
    }

    fn search_dense(
        &self,
        table: &PointTable,
        request: &CoreSearch,
        query: &[f32],
        distance: Distance,
        filter: Option<&CompiledFilter>,
    ) -> (TopK, SearchPlan) {
        let name = request.vector_name.as_str();
        let dense = Dense { table, name, query, distance, filter };
        let mut top = TopK::new(request.limit, request.score_threshold, higher_is_better(distance));
        let params = request.params.clone().unwrap_or_default();
        let hnsw = self.config().index.hnsw_for(name);
        // Upper bound of the matches from the payload indexes (None: no indexed condition).
        let indexed_estimate = match (filter, request.filter.as_ref()) {
            (Some(_), Some(raw)) => table.payload_index().estimate(raw),
            _ => None,
        };
        let view = if params.exact { None } else { table.dense_index(name) };
        let vector_bytes = query.len() * 4;
        let selective = filter.is_some_and(|f| {
            let estimate = indexed_estimate.unwrap_or_else(|| estimate_matches(table, f));
            estimate * vector_bytes < hnsw.full_scan_threshold * 1024
        });
        if (selective || view.is_none())
            && let Some(candidates) = request.filter.as_ref().and_then(|raw| table.payload_index().candidates(raw))
        {
            // Slot order walks the vector column forwards (fewer cache misses than hash order).
            let mut sorted: Vec<u32> = candidates.into_iter().collect();
            sorted.sort_unstable();
            dense.scan(sorted.into_iter().filter_map(|slot| table.by_slot(slot)), true, &mut top);
            return (top, SearchPlan::FilteredScan);
        }
        let Some(view) = view else {
            dense.scan(table.iter_slots(), false, &mut top);
            return (top, SearchPlan::FullScan);
        };
        if selective {
            // Selective without an index on its fields: check the (cheap) filter first.
            dense.scan(table.iter_slots(), true, &mut top);
            return (top, SearchPlan::FilteredScan);
        }
        let beam = Beam {
            // Bounded by the shard: `hnsw_ef` and `limit` come from the client.
            ef: params.hnsw_ef.unwrap_or(hnsw.ef_construct).max(request.limit).min(table.slot_count().max(1)),
            limit: request.limit,
            // With `indexed_only`, slots not in the graph are skipped once there are more than
            // a small segment's worth (Qdrant skips unindexed segments that are not small).
            skip_unindexed: |count: usize| {
                params.indexed_only && count * vector_bytes >= hnsw.full_scan_threshold * 1024
            },
        };
        if let Some(frozen) = view.frozen.as_ref().filter(|f| f.dim == query.len()) {
            dense.frozen_graph(frozen, &beam, &mut top);
            return (top, SearchPlan::FrozenGraph);
        }
        if dense.live_graph(&view, &beam, &mut top) {
            return (top, SearchPlan::Graph);
        }
        // Never wrong, only slower: fall back to scoring every point.
        let mut top = TopK::new(request.limit, request.score_threshold, higher_is_better(distance));
        dense.scan(table.iter_slots(), false, &mut top);
        (top, SearchPlan::FullScan)
    }
}

/// The beam of a graph search.
struct Beam<F: Fn(usize) -> bool> {
    ef: usize,
    limit: usize,
    /// Whether `count` slots outside the graph are too many to score (`indexed_only`).
    skip_unindexed: F,
}

/// One dense vector search: what every plan needs.
struct Dense<'a> {
    table: &'a PointTable,
    name: &'a str,
    query: &'a [f32],
    distance: Distance,
    filter: Option<&'a CompiledFilter>,
}

impl Dense<'_> {
    /// The exact score of `slot`'s vector.
    fn score(&self, slot: u32) -> Option<f32> {
        self.score_of(self.table.dense_at(self.name, slot))
    }

    fn score_of(&self, vector: Option<&[f32]>) -> Option<f32> {
        let vector = vector.filter(|v| v.len() == self.query.len())?;
        Some(distance::score(self.distance, self.query, vector))
    }

    /// Scores `slots` exactly; with `filter_first` the filter is checked before scoring.
    fn scan<'t>(&self, slots: impl Iterator<Item = PointRef<'t>>, filter_first: bool, top: &mut TopK) {
        for point in slots {
            if filter_first && self.filter.is_some_and(|f| !f.check(&point)) {
                continue;
            }
            let Some(score) = self.score(point.slot()) else { continue };
            if top.admits(score, point.id()) && (filter_first || self.filter.is_none_or(|f| f.check(&point))) {
                top.push(&point, score);
            }
        }
    }

    /// Scores graph results exactly (they already passed the filter), reading each slot's
    /// vector with `vector`.
    fn push_found<'v>(
        &self,
        slots: impl IntoIterator<Item = u32>,
        vector: impl Fn(u32) -> Option<&'v [f32]>,
        top: &mut TopK,
    ) {
        for slot in slots {
            let (Some(point), Some(score)) = (self.table.by_slot(slot), self.score_of(vector(slot))) else { continue };
            if top.admits(score, point.id()) {
                top.push(&point, score);
            }
        }
    }

    /// The frozen copy of the graph, then the slots changed since it was taken, exactly.
    fn frozen_graph(&self, frozen: &FrozenView<'_>, beam: &Beam<impl Fn(usize) -> bool>, top: &mut TopK) {
        // Not stale ⇒ the slot holds a live point whose vector the copy has.
        let allow = |slot: u32| -> bool {
            frozen.is_current(slot)
                && self.filter.is_none_or(|f| self.table.by_slot(slot).is_some_and(|point| f.check(&point)))
        };
        let found = frozen_search(frozen, self.distance, self.query, beam.ef, allow);
        // The copy scores with the same kernel on the same vectors: its order is exact, so the
        // first `limit` are the best. They are current, so their vector is the column's.
        self.push_found(found.into_iter().take(beam.limit), |slot| frozen.vector(slot), top);
        let changed: Vec<u32> = frozen.changed().collect();
        if !(beam.skip_unindexed)(changed.len()) {
            self.scan(changed.into_iter().filter_map(|slot| self.table.by_slot(slot)), false, top);
        }
    }

    /// The live index, then the slots not in it yet, exactly. False when the index failed.
    fn live_graph(&self, view: &DenseIndexView<'_>, beam: &Beam<impl Fn(usize) -> bool>, top: &mut TopK) -> bool {
        let allow = |key: u64| -> bool {
            view.is_indexed(key)
                && match (self.filter, self.table.by_slot(key as u32)) {
                    (_, None) => false,
                    (None, Some(_)) => true,
                    (Some(f), Some(point)) => f.check(&point),
                }
        };
        // With nothing pending every key of the index holds its slot's current vector (see
        // `PointTable::index_done`), so an unfiltered search needs no predicate.
        let predicate: Option<&(dyn Fn(u64) -> bool + Sync)> =
            if self.filter.is_none() && view.pending_len() == 0 { None } else { Some(&allow) };
        match view.index.search(self.query, beam.limit, beam.ef, predicate) {
            // Rescored: the index may hold reduced-precision copies of the vectors.
            Ok(keys) => {
                let vector = |slot| self.table.dense_at(self.name, slot);
                self.push_found(keys.into_iter().map(|key| key as u32), vector, top);
            }
            Err(e) => {
                tracing::warn!(error = %e, "HNSW search failed; scanning exactly");
                return false;
            }
        }
        if !(beam.skip_unindexed)(view.pending_len()) {
            self.scan(view.pending().filter_map(|slot| self.table.by_slot(slot)), false, top);
        }
        true
    }
}
