//! Tenant graphs (design record 021): a search filtered to one big tenant of an `is_tenant`
//! index walks that tenant's own graph with the recall of an exact search, follows every change
//! made since the graph was built (moves between tenants, deletes, new points), and `m: 0`
//! leaves the shard with tenant graphs only.

use crate::index_config::IndexConfig;
use crate::search::SearchPlan;
use crate::shard::{LocalShard, ShardConfig};
use crate::tests_search::{DIM, centers, ids, request, upsert, vector};
use quiver_types::PointId;
use quiver_types::config::{Distance, HnswConfig};
use quiver_types::filter::Filter;
use quiver_types::ops::{PointSelector, UpdateOperation};
use quiver_types::point::{NamedVectors, PointStruct, Vector};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

/// Tenants and their share of the points: two big ones, one too small for a graph.
const TENANTS: [(&str, u64); 3] = [("acme", 6), ("globex", 3), ("tiny", 1)];

fn tenant_of(i: u64) -> &'static str {
    match i % 10 {
        0..6 => TENANTS[0].0,
        6..9 => TENANTS[1].0,
        _ if i % 100 == 9 => TENANTS[2].0,
        _ => TENANTS[1].0,
    }
}

fn tenant_point(id: u64, v: Vec<f32>, tenant: &str) -> PointStruct {
    let payload = serde_json::json!({"tenant": tenant, "n": id % 10});
    PointStruct {
        id: PointId::Num(id),
        vectors: NamedVectors::from([(String::new(), Vector::Dense(v))]),
        payload: Some(payload.as_object().unwrap().clone()),
    }
}

/// An indexed shard (`m`, `payload_m`) whose `tenant` field is a tenant index, with `n` points.
fn tenant_shard(
    dir: &std::path::Path,
    (m, payload_m): (usize, Option<usize>),
    n: u64,
    rng: &mut StdRng,
    centers: &[Vec<f32>],
) -> LocalShard {
    let hnsw = HnswConfig { m, payload_m, ef_construct: 64, full_scan_threshold: 4, ..HnswConfig::default() };
    let config = ShardConfig {
        sparse: Default::default(),
        dense: BTreeMap::from([(String::new(), quiver_storage::vectors::VectorSpec::plain(DIM, Distance::Cosine))]),
        wal_segment_bytes: 8 << 20,
        index: IndexConfig {
            hnsw: BTreeMap::from([(String::new(), hnsw)]),
            indexing_threshold_kb: 1,
            ..IndexConfig::default()
        },
    };
    let shard = LocalShard::open(dir, config).unwrap();
    let schema = serde_json::json!({"type": "keyword", "is_tenant": true});
    shard.set_payload_indexes(&BTreeMap::from([("tenant".to_string(), schema)]));
    for start in (0..n).step_by(500) {
        let points =
            (start..(start + 500).min(n)).map(|i| tenant_point(i, vector(rng, centers), tenant_of(i))).collect();
        upsert(&shard, points);
    }
    shard
}

fn tenant_filter(tenant: &str, extra: Option<serde_json::Value>) -> Filter {
    let mut must = vec![serde_json::json!({"key": "tenant", "match": {"value": tenant}})];
    must.extend(extra);
    serde_json::from_value(serde_json::json!({ "must": must })).unwrap()
}

/// Waits until a search filtered to `tenant` runs on its tenant graph.
fn wait_tenant_graph(shard: &LocalShard, q: &[f32], tenant: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let search = || shard.search_planned(&request(q, 1, false, Some(tenant_filter(tenant, None)))).unwrap().1;
    while search() != SearchPlan::TenantGraph {
        assert!(Instant::now() < deadline, "no tenant graph for {tenant}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Recall@10 of tenant-filtered searches against exact ones; every answer keeps to the filter.
fn tenant_recall(shard: &LocalShard, rng: &mut StdRng, centers: &[Vec<f32>], filter: &Filter, queries: usize) -> f64 {
    let compiled = quiver_storage::filter::CompiledFilter::compile(filter).unwrap();
    let (mut hits, mut total) = (0, 0);
    for _ in 0..queries {
        let q = vector(rng, centers);
        let (found, plan) = shard.search_planned(&request(&q, 10, false, Some(filter.clone()))).unwrap();
        assert_eq!(plan, SearchPlan::TenantGraph);
        let exact = shard.search(&request(&q, 10, true, Some(filter.clone()))).unwrap();
        let table = shard.table.read();
        assert!(found.iter().all(|p| table.get(&p.id).is_some_and(|point| compiled.check(&point))));
        drop(table);
        let truth: HashSet<PointId> = ids(&exact).into_iter().collect();
        hits += found.iter().filter(|p| truth.contains(&p.id)).count();
        total += truth.len();
    }
    hits as f64 / total as f64
}

#[test]
fn a_tenant_filter_walks_the_tenant_graph_and_follows_changes() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(31);
    let centers = centers(&mut rng);
    let shard = tenant_shard(dir.path(), (16, None), 4000, &mut rng, &centers);
    let q = vector(&mut rng, &centers);
    wait_tenant_graph(&shard, &q, "globex");
    wait_tenant_graph(&shard, &q, "acme");
    for (filter, name) in [
        (tenant_filter("globex", None), "tenant"),
        (tenant_filter("acme", Some(serde_json::json!({"key": "n", "range": {"lt": 3}}))), "tenant and range"),
    ] {
        let recall = tenant_recall(&shard, &mut rng, &centers, &filter, 40);
        assert!(recall >= 0.95, "{name}: recall {recall}");
    }
    // A tenant too small for a graph is scanned; an exact search never uses a graph.
    let plan = |t: &str, exact| shard.search_planned(&request(&q, 5, exact, Some(tenant_filter(t, None)))).unwrap().1;
    assert_eq!(plan("tiny", false), SearchPlan::FilteredScan);
    assert_eq!(plan("globex", true), SearchPlan::FilteredScan);

    // Points moved into the tenant, written into it, or deleted from it since the graph was
    // built: found (or not) at once, through the same plan.
    let moved: Vec<u64> = (0..4000).filter(|i| tenant_of(*i) == "acme").take(20).collect();
    let selector = PointSelector::Ids(moved.iter().copied().map(PointId::Num).collect());
    let to_globex = serde_json::json!({"tenant": "globex"}).as_object().unwrap().clone();
    shard.update(&UpdateOperation::SetPayload { payload: to_globex, selector, key: None }, false).unwrap();
    let fresh = vector(&mut rng, &centers);
    upsert(&shard, vec![tenant_point(9_000, fresh.clone(), "globex")]);
    let gone: Vec<u64> = (0..4000).filter(|i| tenant_of(*i) == "globex").take(10).collect();
    let gone_vector = shard.table.read().get(&PointId::Num(gone[0])).unwrap().dense("").unwrap().to_vec();
    let selector = PointSelector::Ids(gone.iter().copied().map(PointId::Num).collect());
    shard.update(&UpdateOperation::Delete { selector }, false).unwrap();
    let globex = tenant_filter("globex", None);
    let table = shard.table.read();
    let moved_vector = table.get(&PointId::Num(moved[0])).unwrap().dense("").unwrap().to_vec();
    drop(table);
    for (query, id) in [(&moved_vector, moved[0]), (&fresh, 9_000)] {
        let (found, plan) = shard.search_planned(&request(query, 3, false, Some(globex.clone()))).unwrap();
        assert_eq!(plan, SearchPlan::TenantGraph);
        assert_eq!(found[0].id, PointId::Num(id), "a point that joined the tenant is found");
    }
    let acme = tenant_filter("acme", None);
    let (found, _) = shard.search_planned(&request(&moved_vector, 10, false, Some(acme))).unwrap();
    assert!(found.iter().all(|p| !moved.contains(&num(p.id))), "a point that left the tenant is not");
    let (found, _) = shard.search_planned(&request(&gone_vector, 10, false, Some(globex.clone()))).unwrap();
    assert!(found.iter().all(|p| !gone.contains(&num(p.id))), "a deleted point is not");
    let recall = tenant_recall(&shard, &mut rng, &centers, &globex, 40);
    assert!(recall >= 0.95, "after the changes: recall {recall}");
}

fn num(id: PointId) -> u64 {
    match id {
        PointId::Num(n) => n,
        PointId::Uuid(_) => u64::MAX,
    }
}

#[test]
fn m_zero_keeps_tenant_graphs_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(32);
    let centers = centers(&mut rng);
    let shard = tenant_shard(dir.path(), (0, Some(16)), 3000, &mut rng, &centers);
    let q = vector(&mut rng, &centers);
    wait_tenant_graph(&shard, &q, "acme");
    // No graph of the whole shard: an unfiltered search scans every point exactly.
    assert_eq!(shard.search_planned(&request(&q, 5, false, None)).unwrap().1, SearchPlan::FullScan);
    assert!(!shard.index_status().indexing, "nothing left to index with m = 0");
    let recall = tenant_recall(&shard, &mut rng, &centers, &tenant_filter("acme", None), 40);
    assert!(recall >= 0.95, "recall {recall}");
}
