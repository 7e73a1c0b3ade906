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
use std::sync::atomic::{AtomicU64, Ordering};

/// The graph of one tenant's points in one dense column: node `i` is slot `slots[i]`.
#[derive(Debug)]
pub struct TenantGraph {
    pub graph: FrozenGraph,
    pub slots: Vec<u32>,
}

/// (column, field, value).
pub type TenantKey = (String, String, String);

/// Numbers each table's tenant state (a plan is installed only into the state it was made from).
static INCARNATIONS: AtomicU64 = AtomicU64::new(1);

/// The tenant graphs of a table and the slots changed since they were planned.
#[derive(Debug)]
pub(super) struct TenantState {
    /// Unique per table and per reset: a table swapped in by an install, or whose columns
    /// changed, never receives graphs planned on what it replaced.
    incarnation: u64,
    graphs: BTreeMap<TenantKey, Arc<TenantGraph>>,
    /// Whether graphs are installed (changes are tracked from then on).
    installed: bool,
    changed: BTreeSet<u32>,
    stale: SlotBits,
}

impl Default for TenantState {
    fn default() -> Self {
        TenantState {
            incarnation: INCARNATIONS.fetch_add(1, Ordering::Relaxed),
            graphs: BTreeMap::new(),
            installed: false,
            changed: BTreeSet::new(),
            stale: SlotBits::default(),
        }
    }
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
    incarnation: u64,
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
        let incarnation = self.tenants.incarnation;
        (!columns.is_empty() || !self.tenants.graphs.is_empty()).then_some(TenantPlan {
            incarnation,
            stamp: self.clock,
            columns,
        })
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

    /// Installs the graphs built per `plan`: the slots changed since are stale. Graphs planned
    /// on another table (replaced by an install meanwhile) or before its columns changed are
    /// dropped; returns whether they were installed.
    pub fn install_tenant_graphs(&mut self, plan: &TenantPlan, graphs: Vec<(TenantKey, TenantGraph)>) -> bool {
        if plan.incarnation != self.tenants.incarnation {
            return false;
        }
        let (mut stale, mut changed) = (SlotBits::default(), BTreeSet::new());
        for (slot, at) in self.stamps.iter().enumerate() {
            if *at > plan.stamp {
                stale.set(slot as u32);
                changed.insert(slot as u32);
            }
        }
        let graphs: BTreeMap<_, _> = graphs.into_iter().map(|(key, graph)| (key, Arc::new(graph))).collect();
        let installed = !graphs.is_empty();
        let incarnation = self.tenants.incarnation;
        self.tenants = TenantState { incarnation, graphs, installed, changed, stale };
        true
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::points::StoredPoint;
    use crate::vectors::VectorSpec;
    use quiver_types::PointId;
    use quiver_types::config::Distance;
    use quiver_types::index_params::FieldSchema;
    use quiver_types::point::{NamedVectors, Vector};

    fn table() -> PointTable {
        let mut table = PointTable::new(&BTreeMap::from([(String::new(), VectorSpec::plain(2, Distance::Dot))]));
        let schema = FieldSchema::parse(&serde_json::json!({"type": "keyword", "is_tenant": true})).unwrap();
        table.set_payload_indexes(&BTreeMap::from([("t".to_string(), schema)]));
        for i in 0..10u64 {
            table.upsert(StoredPoint {
                id: PointId::Num(i),
                version: 1,
                vectors: NamedVectors::from([(String::new(), Vector::Dense(vec![1.0, i as f32]))]),
                payload: serde_json::json!({"t": "a"}).as_object().unwrap().clone(),
            });
        }
        table
    }

    fn graphs(plan: &TenantPlan) -> Vec<(TenantKey, TenantGraph)> {
        let tenant = &plan.columns[""][0];
        let graph =
            TenantGraph { graph: FrozenGraph::new(Vec::new(), tenant.slots.len()), slots: tenant.slots.clone() };
        vec![((String::new(), tenant.field.clone(), tenant.value.clone()), graph)]
    }

    #[test]
    fn graphs_go_only_to_the_table_they_were_planned_on_and_changes_are_stale() {
        let mut first = table();
        let plan = first.tenant_plan(&BTreeMap::from([(String::new(), 5)])).unwrap();
        // A table that replaced the first one meanwhile (an install) refuses them.
        let mut replacement = table();
        assert!(!replacement.install_tenant_graphs(&plan, graphs(&plan)));
        assert_eq!(replacement.tenant_graph_stats().0, 0);
        // A change between the plan and the install is stale at once.
        first.update_payload(&PointId::Num(3), 2, |p| _ = p.insert("t".into(), "b".into()));
        assert!(first.install_tenant_graphs(&plan, graphs(&plan)));
        let filter: Filter =
            serde_json::from_value(serde_json::json!({"must": [{"key": "t", "match": {"value": "a"}}]})).unwrap();
        let view = first.tenant_view("", &filter).expect("a graph for tenant a");
        let slot = first.get(&PointId::Num(3)).unwrap().slot();
        assert!(!view.is_current(slot) && view.changed().eq([slot]));
        // Columns redefined: the graphs go, and a plan made before is refused.
        let plan = first.tenant_plan(&BTreeMap::from([(String::new(), 5)])).unwrap();
        first.set_schema(crate::points::VectorSchema::default());
        assert!(first.tenant_view("", &filter).is_none());
        assert!(!first.install_tenant_graphs(&plan, graphs(&plan)));
    }
}
