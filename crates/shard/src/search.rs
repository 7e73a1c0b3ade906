//! Nearest-neighbour search of a local shard and its query planner (design record 005).
//!
//! Plans, per request:
//! * **sparse queries**: the inverted index of the sparse vector (exact dot products);
//! * **exact scan** of every point: `exact=true`, vectors without an HNSW index
//!   (shard below `indexing_threshold`), or a filter on a small shard;
//! * **exact scan of the matching points** when a filter is selective: its estimated matches hold
//!   fewer vector bytes than `full_scan_threshold` (KB), as in Qdrant;
//! * **tenant graph** when the filter keeps to one big tenant of an `is_tenant` index that has
//!   its own graph (design record 021): that graph, then the points changed since it was built;
//! * **graph search** otherwise: HNSW with beam `max(hnsw_ef or ef_construct, limit)`, the filter
//!   and "the index holds this slot's current vector" checked inside the traversal, plus an
//!   exact scan of the slots not indexed yet (fresh or changed), merged by exact score.
//!
//! Multivectors (`search_multi.rs`) use the same plans over their rows; custom objectives and
//! random samples (`search_custom.rs`) scan the matching points exactly.
//!
//! Every score returned is computed exactly from the point table, so a stale index entry can
//! never produce a wrong score, and a deleted point (no longer live in its slot) never returns.

use crate::error::Result;
use crate::read::project;
use crate::shard::LocalShard;
use quiver_storage::distance::{self, higher_is_better};
use quiver_storage::filter::CompiledFilter;
use quiver_storage::graph::FrozenGraph;
use quiver_storage::points::{DenseColumn, DenseIndexView, FrozenView, PointRef, PointTable, TenantView};
use quiver_storage::quantized::QuantizedVectors;
use quiver_storage::vectors::{Metric, VectorRef, VectorSpec};
use quiver_types::PointId;
use quiver_types::config::{Distance, HnswConfig};
use quiver_types::point::ScoredPoint;
use quiver_types::quantization::QuantizationSearch;
use quiver_types::query::{CoreSearch, QueryVector, SearchParams};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A candidate in the top-k heap; `Ord` puts the worst candidate on top.
pub(crate) struct Candidate {
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
pub(crate) struct TopK {
    heap: BinaryHeap<Candidate>,
    limit: usize,
    threshold: Option<f32>,
    better_high: bool,
}

impl TopK {
    pub(crate) fn new(limit: usize, threshold: Option<f32>, better_high: bool) -> TopK {
        // `limit` comes from the client: reserve for what a shard can plausibly return.
        TopK { heap: BinaryHeap::with_capacity(limit.saturating_add(1).min(4096)), limit, threshold, better_high }
    }

    fn key(&self, score: f32) -> f32 {
        if self.better_high { score } else { -score }
    }

    /// Whether a point with `score` would enter the heap (checked before the costlier filter).
    /// Ties go to the smaller id, so the result does not depend on the order points are seen in
    /// (slot order, hash order, graph order).
    pub(crate) fn admits(&self, score: f32, id: PointId) -> bool {
        // As Qdrant, the threshold keeps only strictly better scores: a point scoring exactly
        // the threshold is left out.
        let passes = match self.threshold {
            None => true,
            Some(t) if self.better_high => score > t,
            Some(t) => score < t,
        };
        let key = self.key(score);
        let beaten = |worst: &Candidate| match key.total_cmp(&worst.key) {
            Ordering::Less => true,
            Ordering::Equal => id >= worst.id,
            Ordering::Greater => false,
        };
        passes && !(self.heap.len() == self.limit && self.heap.peek().is_some_and(beaten))
    }

    pub(crate) fn push(&mut self, point: &PointRef<'_>, score: f32) {
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
    /// The graph of the one tenant the filter keeps to (plus the points changed since it was
    /// built; design record 021).
    TenantGraph,
    /// Sparse vectors through their inverted index (exact).
    SparseIndex,
}

/// Slots sampled to estimate how many points a filter matches.
const SAMPLE: usize = 1024;

/// Estimated number of live points of `table` passing `filter`, from an evenly spread sample.
pub(crate) fn estimate_matches(table: &PointTable, filter: &CompiledFilter) -> usize {
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

/// The frozen graph search under `metric` ("smaller is closer": the negated similarity).
pub(crate) fn frozen_search(
    frozen: &FrozenView<'_>,
    metric: Metric,
    query: &[f32],
    ef: usize,
    allow: impl Fn(u32) -> bool,
) -> Vec<u32> {
    graph_search(frozen.graph, metric, query, ef, |slot| frozen.vector(slot), allow)
}

/// A walk of `graph` whose node `n` has the vector `vector(n)`, scored under `metric`.
fn graph_search<'v>(
    graph: &FrozenGraph,
    metric: Metric,
    query: &[f32],
    ef: usize,
    vector: impl Fn(u32) -> Option<VectorRef<'v>>,
    allow: impl Fn(u32) -> bool,
) -> Vec<u32> {
    let distance = |node: u32| vector(node).map(|v| -distance::similarity(metric, query, v));
    let prefetch = |node: u32| {
        if let Some(v) = vector(node) {
            v.prefetch(quiver_storage::graph::PREFETCH_LINES)
        }
    };
    graph.search(ef, distance, prefetch, allow)
}

/// Whether a filter is selective enough to scan its matches rather than walk the graph: its
/// estimated matches hold fewer vector bytes than `full_scan_threshold` (KB), as in Qdrant.
pub(crate) fn selective(
    table: &PointTable,
    request: &CoreSearch,
    filter: Option<&CompiledFilter>,
    vector_bytes: usize,
    hnsw: &HnswConfig,
) -> bool {
    let indexed_estimate = match (filter, request.filter.as_ref()) {
        (Some(_), Some(raw)) => table.payload_index().estimate(raw),
        _ => None,
    };
    filter.is_some_and(|f| {
        let estimate = indexed_estimate.unwrap_or_else(|| estimate_matches(table, f));
        estimate * vector_bytes < hnsw.full_scan_threshold * 1024
    })
}

/// The points to scan exactly: those a payload index says may match (slot order), or all.
pub(crate) fn scan_set<'t>(
    table: &'t PointTable,
    request: &CoreSearch,
) -> (Box<dyn Iterator<Item = PointRef<'t>> + 't>, bool) {
    match request.filter.as_ref().and_then(|raw| table.payload_index().candidates(raw)) {
        Some(candidates) => {
            // Slot order walks the vector column forwards (fewer cache misses than hash order).
            let mut sorted: Vec<u32> = candidates.into_iter().collect();
            sorted.sort_unstable();
            (Box::new(sorted.into_iter().filter_map(|slot| table.by_slot(slot))), true)
        }
        None => (Box::new(table.iter_slots()), false),
    }
}

impl LocalShard {
    /// Nearest neighbours of `request.query`, best first.
    pub fn search(&self, request: &CoreSearch) -> Result<Vec<ScoredPoint>> {
        Ok(self.search_planned(request)?.0)
    }

    /// `search`, also telling which plan ran.
    pub fn search_planned(&self, request: &CoreSearch) -> Result<(Vec<ScoredPoint>, SearchPlan)> {
        self.search_in(&self.table.read(), request)
    }

    /// `search_planned` on a table the caller holds read-locked.
    pub(crate) fn search_in(&self, table: &PointTable, request: &CoreSearch) -> Result<(Vec<ScoredPoint>, SearchPlan)> {
        let filter = crate::read::compile(request.filter.as_ref(), table)?;
        let spec = self.vector_spec(&request.vector_name);
        let filter = filter.as_ref();
        let (top, plan) = match &request.query {
            QueryVector::Dense(q) if spec.multivector => {
                self.search_multi(table, request, std::slice::from_ref(q), spec, filter)
            }
            QueryVector::Dense(q) => self.search_dense(table, request, q, spec.metric(), filter),
            QueryVector::Multi(q) => self.search_multi(table, request, q, spec, filter),
            QueryVector::Custom(custom) => self.search_custom(table, request, custom, spec, filter),
            QueryVector::Random { seed } => self.search_random(table, request, *seed, filter),
            QueryVector::Sparse(q) => {
                // Inverted index: only points sharing a dimension with the query are scored.
                let mut top = TopK::new(request.limit, request.score_threshold, true);
                for (slot, score) in table.sparse_scores(&request.vector_name, q) {
                    let Some(point) = table.by_slot(slot) else { continue };
                    if top.admits(score, point.id()) && filter.is_none_or(|f| f.check(&point)) {
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

    /// How the vector `name` is stored and compared (`Dot` float32 for a name the shard does
    /// not know: validation refuses those before they get here).
    pub(crate) fn vector_spec(&self, name: &str) -> VectorSpec {
        self.config.read().dense.get(name).copied().unwrap_or(VectorSpec::plain(0, Distance::Dot))
    }

    fn search_dense(
        &self,
        table: &PointTable,
        request: &CoreSearch,
        query: &[f32],
        metric: Metric,
        filter: Option<&CompiledFilter>,
    ) -> (TopK, SearchPlan) {
        let name = request.vector_name.as_str();
        let dense = Dense { table, column: table.dense_column(name), query, metric, filter };
        let mut top = TopK::new(request.limit, request.score_threshold, higher_is_better(metric.distance));
        let params = request.params.clone().unwrap_or_default();
        let hnsw = self.config.read().index.hnsw_for(name);
        let view = if params.exact { None } else { table.dense_index(name) };
        let vector_bytes = query.len() * 4;
        let selective = selective(table, request, filter, vector_bytes, &hnsw);
        let tenant = match (&request.filter, params.exact || selective) {
            (Some(raw), false) => table.tenant_view(name, raw),
            _ => None,
        };
        if let Some(tenant) = tenant {
            let beam = Beam::new(&params, &hnsw, request.limit, tenant.graph.slots.len(), vector_bytes);
            dense.tenant_graph(&tenant, &beam, &mut top);
            return (top, SearchPlan::TenantGraph);
        }
        let view = match view {
            Some(view) if !selective => view,
            _ => {
                let (points, filtered) = scan_set(table, request);
                // A filter that is neither indexed nor selective is checked after the score.
                dense.scan(points, filtered || selective, &mut top);
                let plan = if filtered || selective { SearchPlan::FilteredScan } else { SearchPlan::FullScan };
                return (top, plan);
            }
        };
        let beam = Beam::new(&params, &hnsw, request.limit, table.slot_count(), vector_bytes);
        if let Some(frozen) = view.frozen.as_ref().filter(|f| f.dim == query.len()) {
            dense.frozen_graph(frozen, &beam, &mut top);
            return (top, SearchPlan::FrozenGraph);
        }
        if dense.live_graph(&view, &beam, &mut top) {
            return (top, SearchPlan::Graph);
        }
        // Never wrong, only slower: fall back to scoring every point.
        let mut top = TopK::new(request.limit, request.score_threshold, higher_is_better(metric.distance));
        dense.scan(table.iter_slots(), false, &mut top);
        (top, SearchPlan::FullScan)
    }
}

/// The beam of a graph search.
pub(crate) struct Beam {
    pub(crate) ef: usize,
    pub(crate) limit: usize,
    /// `params.quantization` (its defaults when absent or unreadable: validated before).
    pub(crate) quantization: QuantizationSearch,
    indexed_only: bool,
    /// Vector bytes of a small segment's worth of slots (`full_scan_threshold`).
    small_bytes: usize,
    vector_bytes: usize,
}

impl Beam {
    pub(crate) fn new(
        params: &SearchParams,
        hnsw: &HnswConfig,
        limit: usize,
        slots: usize,
        vector_bytes: usize,
    ) -> Beam {
        Beam {
            // Bounded by the shard: `hnsw_ef` and `limit` come from the client.
            ef: params.hnsw_ef.unwrap_or(hnsw.ef_construct).max(limit).min(slots.max(1)),
            limit,
            quantization: QuantizationSearch::parse(params.quantization.as_ref()).unwrap_or_default(),
            indexed_only: params.indexed_only,
            small_bytes: hnsw.full_scan_threshold * 1024,
            vector_bytes,
        }
    }

    /// Whether `count` slots outside the graph are too many to score: with `indexed_only`, more
    /// than a small segment's worth (Qdrant skips unindexed segments that are not small).
    pub(crate) fn skip_unindexed(&self, count: usize) -> bool {
        self.indexed_only && count * self.vector_bytes >= self.small_bytes
    }
}

/// One dense vector search: what every plan needs.
struct Dense<'a> {
    table: &'a PointTable,
    /// The searched column, found once (`None`: no such column, nothing scores).
    column: Option<&'a DenseColumn>,
    query: &'a [f32],
    metric: Metric,
    filter: Option<&'a CompiledFilter>,
}

impl Dense<'_> {
    /// The exact score of `slot`'s vector.
    fn score(&self, slot: u32) -> Option<f32> {
        self.score_of(self.vector(slot))
    }

    /// The searched column's vector in `slot`.
    fn vector(&self, slot: u32) -> Option<VectorRef<'_>> {
        self.column?.vector(slot)
    }

    fn score_of(&self, vector: Option<VectorRef<'_>>) -> Option<f32> {
        let vector = vector.filter(|v| v.len() == self.query.len())?;
        Some(distance::postprocess(self.metric.distance, distance::similarity(self.metric, self.query, vector)))
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
        vector: impl Fn(u32) -> Option<VectorRef<'v>>,
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
    fn frozen_graph(&self, frozen: &FrozenView<'_>, beam: &Beam, top: &mut TopK) {
        // Not stale ⇒ the slot holds a live point whose vector the copy has.
        let allow = |slot: u32| -> bool {
            frozen.is_current(slot)
                && self.filter.is_none_or(|f| self.table.by_slot(slot).is_some_and(|point| f.check(&point)))
        };
        match frozen.quantized.filter(|_| !beam.quantization.ignore) {
            Some(quantized) => self.frozen_quantized(frozen, quantized, beam, allow, top),
            None => {
                let found = frozen_search(frozen, self.metric, self.query, beam.ef, allow);
                // The copy scores with the same kernel on the same vectors: its order is exact,
                // so the first `limit` are the best. They are current: their vector is the column's.
                self.push_found(found.into_iter().take(beam.limit), |slot| frozen.vector(slot), top);
            }
        }
        let changed: Vec<u32> = frozen.changed().collect();
        if !beam.skip_unindexed(changed.len()) {
            self.scan(changed.into_iter().filter_map(|slot| self.table.by_slot(slot)), false, top);
        }
    }

    /// The frozen graph walked on the quantized vectors: the best `limit × oversampling`
    /// candidates rescored with the originals (`rescore`, the default), or the best `limit`
    /// with their approximate scores (codes without such a score — one bit of Euclid /
    /// Manhattan vectors, 1.5 or 2 bits of Manhattan ones — are always rescored).
    fn frozen_quantized(
        &self,
        frozen: &FrozenView<'_>,
        quantized: &QuantizedVectors,
        beam: &Beam,
        allow: impl Fn(u32) -> bool,
        top: &mut TopK,
    ) {
        let query = quantized.query(self.query);
        let candidates = ((beam.limit as f64) * beam.quantization.oversampling).ceil() as usize;
        let distance = |slot: u32| quantized.distance(&query, slot);
        let prefetch = |slot: u32| quantized.prefetch(slot);
        let found = frozen.graph.search(beam.ef.max(candidates), distance, prefetch, allow);
        let approximate = quantized.scores_approximately();
        if beam.quantization.rescore || !approximate {
            self.push_found(found.into_iter().take(candidates.max(beam.limit)), |slot| frozen.vector(slot), top);
            return;
        }
        for slot in found.into_iter().take(beam.limit) {
            let (Some(point), Some(d)) = (self.table.by_slot(slot), quantized.distance(&query, slot)) else { continue };
            let Some(similarity) = quantized.approximate_similarity(d) else { continue };
            let score = distance::postprocess(self.metric.distance, similarity);
            if top.admits(score, point.id()) {
                top.push(&point, score);
            }
        }
    }

    /// The graph of one tenant (every node passes the tenant condition unless it changed since),
    /// then the points changed since it was built, exactly.
    fn tenant_graph(&self, tenant: &TenantView<'_>, beam: &Beam, top: &mut TopK) {
        let slots = &tenant.graph.slots;
        let vector = |node: u32| self.vector(*slots.get(node as usize)?);
        let allow = |node: u32| -> bool {
            let Some(point) = slots.get(node as usize).and_then(|s| self.table.by_slot(*s)) else { return false };
            tenant.is_current(point.slot()) && self.filter.is_none_or(|f| f.check(&point))
        };
        let found = graph_search(&tenant.graph.graph, self.metric, self.query, beam.ef, vector, allow);
        let found = found.into_iter().take(beam.limit).filter_map(|node| slots.get(node as usize).copied());
        self.push_found(found, |slot| self.vector(slot), top);
        let changed: Vec<u32> = tenant.changed().collect();
        if !beam.skip_unindexed(changed.len()) {
            self.scan(changed.into_iter().filter_map(|slot| self.table.by_slot(slot)), true, top);
        }
    }

    /// The live index, then the slots not in it yet, exactly. False when the index failed.
    fn live_graph(&self, view: &DenseIndexView<'_>, beam: &Beam, top: &mut TopK) -> bool {
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
        match view.index.search(self.query, beam.limit, beam.ef, predicate, view.column) {
            // Rescored: the index may hold reduced-precision copies of the vectors.
            Ok(keys) => {
                let vector = |slot| self.vector(slot);
                self.push_found(keys.into_iter().map(|key| key as u32), vector, top);
            }
            Err(e) => {
                tracing::warn!(error = %e, "HNSW search failed; scanning exactly");
                return false;
            }
        }
        if !beam.skip_unindexed(view.pending_len()) {
            self.scan(view.pending().filter_map(|slot| self.table.by_slot(slot)), false, top);
        }
        true
    }
}
