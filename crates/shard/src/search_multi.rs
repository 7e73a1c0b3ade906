//! Multivector search (`max_sim`, design record 013). A point's score is Σ over the query's
//! vectors of the best similarity to any of the point's vectors, always computed exactly from
//! the table. Which points are scored:
//! * **exact**: every matching point (`exact`, no index yet, or a selective filter);
//! * **through the index** of the column's rows (one row per stored vector): for each query
//!   vector the graph's `ef` nearest rows, whose owners become the candidates, plus the owners of
//!   rows not in the graph yet. A point is found when one of its vectors is among the rows
//!   nearest to one of the query's vectors, which is where `max_sim`'s terms come from.

use crate::search::{Beam, SearchPlan, TopK, frozen_search, scan_set, selective};
use crate::shard::LocalShard;
use quiver_storage::distance::{higher_is_better, max_sim, postprocess};
use quiver_storage::filter::CompiledFilter;
use quiver_storage::points::{DenseIndexView, PointRef, PointTable};
use quiver_storage::vectors::{Metric, VectorSpec};
use quiver_types::query::CoreSearch;
use std::collections::BTreeSet;

/// One multivector search.
struct Multi<'a> {
    table: &'a PointTable,
    name: &'a str,
    query: &'a [Vec<f32>],
    metric: Metric,
    filter: Option<&'a CompiledFilter>,
}

impl Multi<'_> {
    /// The exact score of a point (`None` without a multivector of this name).
    fn score(&self, point: &PointRef<'_>) -> Option<f32> {
        let stored = point.multi(self.name)?;
        Some(postprocess(self.metric.distance, max_sim(self.metric, self.query, stored.iter())))
    }

    fn passes(&self, point: &PointRef<'_>) -> bool {
        self.filter.is_none_or(|f| f.check(point))
    }

    /// Scores `points` exactly.
    fn scan<'t>(&self, points: impl Iterator<Item = PointRef<'t>>, top: &mut TopK) {
        for point in points {
            if !self.passes(&point) {
                continue;
            }
            if let Some(score) = self.score(&point)
                && top.admits(score, point.id())
            {
                top.push(&point, score);
            }
        }
    }

    /// Whether row `row`'s owner is live and passes the filter.
    fn owner_passes(&self, row: u32) -> bool {
        let owner = self.table.row_owner(self.name, row).and_then(|slot| self.table.by_slot(slot));
        owner.is_some_and(|point| self.passes(&point))
    }

    /// Candidate points from the graph of the rows (frozen copy when fresh, else the live
    /// index), plus the owners of rows not in the graph; `None` when the index failed.
    fn candidates(&self, view: &DenseIndexView<'_>, beam: &Beam) -> Option<(BTreeSet<u32>, SearchPlan)> {
        let mut rows: BTreeSet<u32> = BTreeSet::new();
        let frozen = view.frozen.as_ref().filter(|f| f.dim == self.query.first().map_or(0, Vec::len));
        let plan = match frozen {
            Some(frozen) => {
                let allow = |row: u32| frozen.is_current(row) && self.owner_passes(row);
                for q in self.query {
                    rows.extend(frozen_search(frozen, self.metric, q, beam.ef, allow));
                }
                let changed: Vec<u32> = frozen.changed().collect();
                if !beam.skip_unindexed(changed.len()) {
                    rows.extend(changed);
                }
                SearchPlan::FrozenGraph
            }
            None => {
                let allow = |row: u64| view.is_indexed(row) && self.owner_passes(row as u32);
                for q in self.query {
                    match view.index.search(q, beam.limit, beam.ef, Some(&allow), view.column) {
                        Ok(found) => rows.extend(found.into_iter().map(|row| row as u32)),
                        Err(e) => {
                            tracing::warn!(error = %e, "HNSW search of multivector rows failed; scanning exactly");
                            return None;
                        }
                    }
                }
                if !beam.skip_unindexed(view.pending_len()) {
                    rows.extend(view.pending());
                }
                SearchPlan::Graph
            }
        };
        let owners = rows.into_iter().filter_map(|row| self.table.row_owner(self.name, row)).collect();
        Some((owners, plan))
    }
}

impl LocalShard {
    /// Nearest multivectors to `query` by `max_sim`.
    pub(crate) fn search_multi(
        &self,
        table: &PointTable,
        request: &CoreSearch,
        query: &[Vec<f32>],
        spec: VectorSpec,
        filter: Option<&CompiledFilter>,
    ) -> (TopK, SearchPlan) {
        let name = request.vector_name.as_str();
        let search = Multi { table, name, query, metric: spec.metric(), filter };
        let better_high = higher_is_better(spec.distance);
        let mut top = TopK::new(request.limit, request.score_threshold, better_high);
        let params = request.params.clone().unwrap_or_default();
        let hnsw = self.config.read().index.hnsw_for(name);
        let view = if params.exact { None } else { table.dense_index(name) };
        let vector_bytes = spec.dim * 4 * query.len().max(1);
        let selective = selective(table, request, filter, vector_bytes, &hnsw);
        let view = match view {
            Some(view) if !selective => view,
            _ => {
                let (points, filtered) = scan_set(table, request);
                search.scan(points, &mut top);
                let plan = if filtered || selective { SearchPlan::FilteredScan } else { SearchPlan::FullScan };
                return (top, plan);
            }
        };
        let rows = table.dense_stats(name).map_or(0, |s| s.vectors);
        let beam = Beam::new(&params, &hnsw, request.limit, rows, spec.dim * 4);
        match search.candidates(&view, &beam) {
            Some((owners, plan)) => {
                search.scan(owners.into_iter().filter_map(|slot| table.by_slot(slot)), &mut top);
                (top, plan)
            }
            None => {
                let mut top = TopK::new(request.limit, request.score_threshold, better_high);
                search.scan(table.iter_slots(), &mut top);
                (top, SearchPlan::FullScan)
            }
        }
    }
}
