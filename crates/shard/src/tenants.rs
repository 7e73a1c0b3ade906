//! The indexer's tenant graphs (design record 021): for each dense column big enough to be
//! indexed, a graph per tenant of an `is_tenant` payload index that holds more vectors than
//! `full_scan_threshold` (smaller tenants are scanned exactly by the planner), built on the
//! indexer thread from copies of the tenant's vectors (the table is only read-locked to copy
//! and write-locked to install), with `payload_m` links per node (`m` when unset).
//!
//! Rebuilt whole when the set of big tenants changes, when so many points changed that the
//! graphs are about to stop serving searches, or, while any point changed, at most once a
//! minute; never more often than every `4 ×` the last build time (and 5 s).

use crate::index_config::{IndexConfig, due};
use parking_lot::RwLock;
use quiver_storage::graph::FrozenGraph;
use quiver_storage::index::{HnswIndex, HnswParams, IndexScalar, VectorIndex, add_batch};
use quiver_storage::points::{MAX_CHANGED, PointTable, TenantGraph, TenantKey, TenantPlan};
use quiver_storage::vectors::VectorSpec;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Links per node when neither `payload_m` nor `m` is set above 0.
const DEFAULT_M: usize = 16;

/// When the last build ended and how long it took.
#[derive(Default)]
pub(crate) struct TenantBuilds {
    last: Option<(Instant, Duration)>,
}

/// The dense columns that may get tenant graphs, each with the least points a tenant needs.
fn columns(table: &PointTable, dense: &BTreeMap<String, VectorSpec>, config: &IndexConfig) -> BTreeMap<String, usize> {
    dense
        .iter()
        .filter(|(_, spec)| !spec.multivector)
        .filter_map(|(name, spec)| {
            let stats = table.dense_stats(name)?;
            let scan_bytes = config.hnsw_for(name).full_scan_threshold * 1024;
            let min_slots = scan_bytes.div_ceil(spec.dim.max(1) * 4).max(2);
            due(config, &stats).then(|| (name.clone(), min_slots))
        })
        .collect()
}

impl TenantBuilds {
    /// Builds and installs the tenant graphs of `table` when they are due.
    pub(crate) fn run(
        &mut self,
        table: &RwLock<PointTable>,
        dense: &BTreeMap<String, VectorSpec>,
        config: &IndexConfig,
        stopped: &dyn Fn() -> bool,
    ) {
        let plan = {
            let table = table.read();
            let Some(plan) = table.tenant_plan(&columns(&table, dense, config)) else { return };
            let (same_tenants, changed) = table.tenant_graphs_state(&plan);
            if !self.due(same_tenants, changed) {
                return;
            }
            plan
        };
        let started = Instant::now();
        let Some(graphs) = build(table, &plan, dense, config, stopped) else { return };
        let count = graphs.len();
        let installed = table.write().install_tenant_graphs(&plan, graphs);
        let took = started.elapsed();
        self.last = Some((Instant::now(), took));
        tracing::debug!(tenants = count, installed, ms = took.as_millis() as u64, "tenant graphs built");
    }

    fn due(&self, same_tenants: bool, changed: usize) -> bool {
        if same_tenants && changed == 0 {
            return false;
        }
        let Some((at, took)) = self.last else { return true };
        let gap = (took * 4).max(Duration::from_secs(5));
        let urgent = !same_tenants || changed > MAX_CHANGED / 2;
        at.elapsed() >= if urgent { gap } else { gap.max(Duration::from_secs(60)) }
    }
}

/// The graphs of `plan`'s tenants; `None` when the indexer is stopping or a build failed.
fn build(
    table: &RwLock<PointTable>,
    plan: &TenantPlan,
    dense: &BTreeMap<String, VectorSpec>,
    config: &IndexConfig,
    stopped: &dyn Fn() -> bool,
) -> Option<Vec<(TenantKey, TenantGraph)>> {
    let mut out = Vec::new();
    for (column, tenants) in &plan.columns {
        let spec = dense.get(column)?;
        let hnsw = config.hnsw_for(column);
        let m = match hnsw.payload_m.unwrap_or(hnsw.m) {
            0 => DEFAULT_M,
            m => m,
        };
        let params = HnswParams { m, ..crate::index_config::hnsw_params(config, column, spec) };
        let threads = config.indexing_threads(column);
        for tenant in tenants {
            if stopped() {
                return None;
            }
            let vectors = table.read().copy_vectors(column, &tenant.slots);
            let graph = tenant_graph(spec, params, vectors, threads)
                .map_err(|e| tracing::warn!(error = %e, "tenant graph not built; its searches use the shard's graph"))
                .ok()?;
            let key = (column.clone(), tenant.field.clone(), tenant.value.clone());
            out.push((key, TenantGraph { graph, slots: tenant.slots.clone() }));
        }
    }
    Some(out)
}

/// The graph of one tenant's `vectors` (node `i` is the tenant's `i`-th slot).
fn tenant_graph(
    spec: &VectorSpec,
    params: HnswParams,
    vectors: Vec<Option<Vec<f32>>>,
    threads: usize,
) -> quiver_storage::Result<FrozenGraph> {
    let nodes = vectors.len();
    // Its keys are the tenant's own numbers, not slots: the index keeps a copy of the vectors
    // (only while the graph is built; the frozen graph then reads the table).
    let scalar = match params.scalar {
        IndexScalar::Table => IndexScalar::F32,
        scalar @ (IndexScalar::F32 | IndexScalar::Bf16 | IndexScalar::F16) => scalar,
    };
    let index = HnswIndex::new(spec.distance, HnswParams { scalar, ..params }, nodes)?;
    let items: Vec<(u32, u64, Option<Vec<f32>>)> =
        vectors.into_iter().enumerate().filter(|(_, v)| v.is_some()).map(|(i, v)| (i as u32, 0, v)).collect();
    let keys: Vec<u32> = items.iter().map(|(i, _, _)| *i).collect();
    add_batch(&index, &items, threads, &[])?;
    let graph = index.export_graph(&keys).unwrap_or_default();
    Ok(FrozenGraph::new(graph, nodes))
}
