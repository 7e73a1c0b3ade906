//! Tenant graphs (design record 021): for the tenants of an `is_tenant` payload index that are
//! too big to scan, a search graph per dense column over that tenant's points only, so a search
//! filtered to one tenant walks a graph where every node may be returned instead of the whole
//! shard's graph where most nodes are filtered out (the case where filtered HNSW loses recall or
//! time).
//!
//! Invariant (the one of the frozen copy, `frozen.rs`, with points instead of vectors): every slot
//! changed in any way (vector, payload, delete) since the graphs were planned is in `changed` and
//! marked in `stale`. A graph returns only slots that are not stale, whose vector and payload
//! are therefore the ones the graph was built with, and `changed` is scored exactly.

use super::PointTable;
use super::frozen::{MAX_CHANGED, SlotBits};
use crate::graph::FrozenGraph;
use crate::payload_index::Tenant;
use quiver_types::filter::Filter;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The graph of one tenant's points in one dense column: node `i` is slot `slots[i]`.
#[derive(Debug)]
pub struct TenantGraph {
    pub graph: FrozenGraph,
    pub slots: Vec<u32>,
}

/// (column, field, value).
pub type TenantKey = (String, String, String);

/// The tenant graphs of a table and the slots changed since they were planned.
#[derive(Debug, Default)]
pub(super) struct TenantState {
    graphs: BTreeMap<TenantKey, Arc<TenantGraph>>,
    /// Whether graphs are installed (changes are tracked from then on).
    installed: bool,
    changed: BTreeSet<u32>,
    stale: SlotBits,
}

impl TenantState {
    /// `slot` changed (vector, payload or delete).
    pub(super) fn touch(&mut self, slot: u32) {
        if self.installed {
            // Past `MAX_CHANGED` the graphs are not used until rebuilt: the set stops growing.
            if self.changed.len() <= MAX_CHANGED {
                self.changed.insert(slot);
            }
            self.stale.set(slot);
        }
    }

    /// Drops every graph (the columns were redefined).
    pub(super) fn reset(&mut self) {
        *self = TenantState::default();
    }
}

/// What the indexer needs to build tenant graphs: the clock when planned and, per column, the
/// tenants big enough to get a graph.
#[derive(Debug)]
pub struct TenantPlan {
    pub stamp: u64,
    pub columns: BTreeMap<String, Vec<Tenant>>,
}

/// What a search reads of one tenant's graph.
pub struct TenantView<'a> {
    pub graph: &'a TenantGraph,
    stale: &'a SlotBits,
    changed: &'a BTreeSet<u32>,
}

impl TenantView<'_> {
    /// Whether the graph holds `slot`'s current vector and payload.
    pub fn is_current(&self, slot: u32) -> bool {
        !self.stale.get(slot)
    }

    /// Slots changed since the graph was planned (any tenant's; the caller filters).
    pub fn changed(&self) -> impl Iterator<Item = u32> + '_ {
        self.changed.iter().copied()
    }
}

impl PointTable {
    /// The tenants each of `columns` (dense column name → least points) would get a graph for,
    /// as of now; `None` when there are none and no graphs to drop.
    pub fn tenant_plan(&self, columns: &BTreeMap<String, usize>) -> Option<TenantPlan> {
        let columns: BTreeMap<String, Vec<Tenant>> = columns
            .iter()
            .filter(|(name, _)| self.dense.contains_key(*name))
            .map(|(name, min)| (name.clone(), self.payload_index.tenants(*min)))
            .filter(|(_, tenants)| !tenants.is_empty())
            .collect();
        (!columns.is_empty() || !self.tenants.graphs.is_empty()).then_some(TenantPlan { stamp: self.clock, columns })
    }

    /// Whether the installed graphs are those of the tenants `plan` asks for, and how many
    /// slots changed since they were planned (at most `MAX_CHANGED + 1`).
    pub fn tenant_graphs_state(&self, plan: &TenantPlan) -> (bool, usize) {
        let wanted = plan.columns.iter().flat_map(|(c, ts)| ts.iter().map(move |t| (c, &t.field, &t.value)));
        let have = self.tenants.graphs.keys().map(|(c, f, v)| (c, f, v));
        (wanted.eq(have), self.tenants.changed.len())
    }

    /// Copies the vectors of `slots` in `column` (`None` for a slot without one).
    pub fn copy_vectors(&self, column: &str, slots: &[u32]) -> Vec<Option<Vec<f32>>> {
        slots.iter().map(|s| self.dense_at(column, *s).map(|v| v.to_vec())).collect()
    }

    /// Installs the graphs built per `stamp`'s plan: the slots changed since are stale.
    pub fn install_tenant_graphs(&mut self, stamp: u64, graphs: Vec<(TenantKey, TenantGraph)>) {
        let (mut stale, mut changed) = (SlotBits::default(), BTreeSet::new());
        for (slot, at) in self.stamps.iter().enumerate() {
            if *at > stamp {
                stale.set(slot as u32);
                changed.insert(slot as u32);
            }
        }
        let graphs: BTreeMap<_, _> = graphs.into_iter().map(|(key, graph)| (key, Arc::new(graph))).collect();
        let installed = !graphs.is_empty();
        self.tenants = TenantState { graphs, installed, changed, stale };
    }

    /// The graph serving a search of `column` filtered by `filter`, if the filter keeps to one
    /// tenant that has one and few enough slots changed since it was built.
    pub fn tenant_view(&self, column: &str, filter: &Filter) -> Option<TenantView<'_>> {
        let state = &self.tenants;
        if state.graphs.is_empty() || state.changed.len() > MAX_CHANGED {
            return None;
        }
        let (field, value) = self.payload_index.pinned_tenant(filter)?;
        let key = (column.to_string(), field.to_string(), value.to_string());
        let graph = state.graphs.get(&key)?;
        Some(TenantView { graph, stale: &state.stale, changed: &state.changed })
    }

    /// Number of tenant graphs and the bytes they hold.
    pub fn tenant_graph_stats(&self) -> (usize, usize) {
        let bytes = self.tenants.graphs.values().map(|g| g.graph.memory_bytes() + g.slots.len() * 4).sum();
        (self.tenants.graphs.len(), bytes)
    }
}
