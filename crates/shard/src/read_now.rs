//! Reads a caller may run on its own thread (an async worker) instead of handing them to a
//! blocking pool thread (design record 022): the point table is taken only if no writer holds
//! it, and each read's cost is estimated from what the shard knows (its plan and size) before
//! it runs, so the caller can refuse any read that is not cheap by construction.
//!
//! Costs are in work units of about one `f32` multiply-add on a vector element (≈ 1 ns on a
//! current core, more when the vectors are not in cache).

use crate::error::Result;
use crate::read::{ScrollPage, retrieve_in, scroll_in};
use crate::search::Beam;
use crate::shard::LocalShard;
use parking_lot::RwLockReadGuard;
use quiver_storage::points::PointTable;
use quiver_types::PointId;
use quiver_types::point::{Record, ScoredPoint};
use quiver_types::query::{CoreSearch, QueryVector, ScrollRequest, SearchParams, WithPayload, WithVector};

/// Work units of finding one point and building its record (payload selection, id).
const RECORD_COST: u64 = 256;

/// Work units added per returned record when its vectors are asked for.
const RECORD_VECTOR_COST: u64 = 4096;

/// The point table of a shard, read-locked by a caller that found it free.
pub struct ReadNow<'a> {
    shard: &'a LocalShard,
    table: RwLockReadGuard<'a, PointTable>,
}

impl LocalShard {
    /// The point table for a read on the caller's thread, if no writer holds it now (else the
    /// caller reads on a thread that may wait for the writer).
    pub fn try_read_now(&self) -> Option<ReadNow<'_>> {
        Some(ReadNow { shard: self, table: self.table.try_read()? })
    }
}

fn records_cost(count: usize, with_vector: &WithVector) -> u64 {
    let each = RECORD_COST + if with_vector.is_enabled() { RECORD_VECTOR_COST } else { 0 };
    (count as u64).saturating_mul(each)
}

impl ReadNow<'_> {
    /// The estimated cost of `search(request)`, or `None` when it has no bound known in advance:
    /// a filter (its selectivity decides how far a graph walk goes), sparse, multivector,
    /// custom and random queries.
    pub fn search_cost(&self, request: &CoreSearch) -> Option<u64> {
        let QueryVector::Dense(query) = &request.query else { return None };
        let spec = self.shard.vector_spec(&request.vector_name);
        if request.filter.is_some() || spec.multivector {
            return None;
        }
        let table = &*self.table;
        let dim = query.len() as u64;
        let records = records_cost(request.limit, &request.with_vector);
        let default_params = SearchParams::default();
        let params = request.params.as_ref().unwrap_or(&default_params);
        let view = if params.exact { None } else { table.dense_index(&request.vector_name) };
        let Some(view) = view else {
            // Every point scored.
            return Some((table.len() as u64).saturating_mul(dim).saturating_add(records));
        };
        let hnsw = self.shard.config.read().index.hnsw_for(&request.vector_name);
        let beam = Beam::new(params, &hnsw, request.limit, table.slot_count(), query.len() * 4);
        let unindexed = match view.frozen.as_ref().filter(|f| f.dim == query.len()) {
            Some(frozen) => frozen.changed_len(),
            None => view.pending_len(),
        };
        // A graph walk expands about `ef` nodes, scoring up to `2m` neighbours each (level 0),
        // then rescores its candidates and scans the slots not in the graph.
        let candidates = ((request.limit as f64) * beam.quantization.oversampling).ceil() as u64;
        let expanded = (beam.ef as u64).max(candidates);
        let neighbours = (2 * hnsw.m).max(1) as u64;
        let scored = expanded.saturating_mul(neighbours).saturating_add(candidates).saturating_add(unindexed as u64);
        Some(scored.saturating_mul(dim).saturating_add(records))
    }

    /// `LocalShard::search` on the held table.
    pub fn search(&self, request: &CoreSearch) -> Result<Vec<ScoredPoint>> {
        Ok(self.shard.search_in(&self.table, request)?.0)
    }

    /// The cost of `retrieve` of `count` ids.
    pub fn retrieve_cost(&self, count: usize, with_vector: &WithVector) -> u64 {
        records_cost(count, with_vector)
    }

    /// `LocalShard::retrieve` on the held table.
    pub fn retrieve(&self, ids: &[PointId], with_payload: &WithPayload, with_vector: &WithVector) -> Vec<Record> {
        retrieve_in(&self.table, ids, with_payload, with_vector)
    }

    /// The cost of a scroll page, bounded only without a filter (which may skip any number of
    /// points) and without `order_by` (which sorts every point).
    pub fn scroll_cost(&self, request: &ScrollRequest) -> Option<u64> {
        match (&request.filter, &request.order_by) {
            (None, None) => Some(records_cost(request.limit.saturating_add(1), &request.with_vector)),
            (Some(_), _) | (_, Some(_)) => None,
        }
    }

    /// `LocalShard::scroll` on the held table.
    pub fn scroll(&self, request: &ScrollRequest) -> Result<ScrollPage> {
        scroll_in(&self.table, request)
    }

    /// The number of points (a count without a filter).
    pub fn count_all(&self) -> usize {
        self.table.len()
    }
}
