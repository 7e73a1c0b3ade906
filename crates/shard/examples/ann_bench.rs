//! In-process ANN benchmark of one `LocalShard` (no HTTP): build time, recall@10 and QPS for
//! several `hnsw_ef`, filtered search at three selectivities, bytes per point. With
//! `ANN_BENCH_TENANT=1` the `group` index is a tenant index (`is_tenant`, design record 021) and
//! the filtered runs start once the big groups have their tenant graphs. `HNSW_SCALAR` chooses
//! how the index holds vectors: `table` (default: read from the point table, design record 023),
//! `f32` or `bf16` (its own copy). The build row has the process's resident memory before the
//! load and after the frozen copy (`/proc/self/status`), and how long the indexer held the
//! table's read lock per batch. `ANN_BENCH_LIVE=1` adds rows of the live usearch index alone,
//! built both ways from the same vectors (`kind: live_index`).
//!
//! Input: a directory with `base.f32`, `query.f32` (row-major little-endian f32, `dim` columns)
//! and `gt.i32` (1000 × 100 ids), as written by `bench/search.py --export`.
//!   cargo run --release -p quiver-shard --example ann_bench -- DIR DIM [ef,ef,...]
//! Prints one JSON object per line (the Python runner collects them).

use quiver_shard::{IndexConfig, LocalShard, SearchPlan, ShardConfig};
use quiver_storage::index::IndexScalar;
use quiver_types::PointId;
use quiver_types::config::{Distance, HnswConfig};
use quiver_types::filter::Filter;
use quiver_types::ops::{UpdateMode, UpdateOperation};
use quiver_types::point::{NamedVectors, PointStruct, Vector};
use quiver_types::query::{CoreSearch, QueryVector, SearchParams, WithPayload, WithVector};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn read_f32(path: &std::path::Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

fn read_i32(path: &std::path::Path) -> Vec<i32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    bytes.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// Synthetic `group` keywords: "a" on 50% of points, "b" on 5%, "c" on 0.1%.
fn groups(i: usize) -> serde_json::Value {
    let mut g = Vec::new();
    if i.is_multiple_of(2) {
        g.push("a");
    }
    if i % 20 == 1 {
        g.push("b");
    }
    if i % 1000 == 3 {
        g.push("c");
    }
    serde_json::json!(g)
}

fn group_filter(value: &str) -> Filter {
    serde_json::from_value(serde_json::json!({"must": [{"key": "group", "match": {"value": value}}]})).expect("filter")
}

fn request(q: &[f32], limit: usize, ef: Option<usize>, exact: bool, filter: Option<Filter>) -> CoreSearch {
    CoreSearch {
        vector_name: String::new(),
        query: QueryVector::Dense(q.to_vec()),
        filter,
        params: Some(SearchParams { hnsw_ef: ef, exact, ..SearchParams::default() }),
        limit,
        score_threshold: None,
        with_payload: WithPayload::Bool(false),
        with_vector: WithVector::Bool(false),
    }
}

fn ids(points: &[quiver_types::point::ScoredPoint]) -> Vec<u64> {
    points
        .iter()
        .map(|p| match p.id {
            PointId::Num(n) => n,
            PointId::Uuid(_) => u64::MAX,
        })
        .collect()
}

fn recall(found: &[Vec<u64>], truth: &[Vec<u64>], k: usize) -> f64 {
    let mut hit = 0usize;
    for (f, t) in found.iter().zip(truth) {
        let t: std::collections::HashSet<u64> = t.iter().take(k).copied().collect();
        hit += f.iter().take(k).filter(|id| t.contains(id)).count();
    }
    hit as f64 / (truth.len() * k) as f64
}

/// Runs every query with `threads` threads; returns (results, qps, plans seen).
fn run(shard: &LocalShard, requests: &[CoreSearch], threads: usize) -> (Vec<Vec<u64>>, f64, Vec<SearchPlan>) {
    let start = Instant::now();
    let mut out: Vec<(usize, Vec<u64>, SearchPlan)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (t..requests.len())
                        .step_by(threads)
                        .map(|i| {
                            let (r, plan) = shard.search_planned(&requests[i]).expect("search");
                            (i, ids(&r), plan)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("thread")).collect()
    });
    let qps = requests.len() as f64 / start.elapsed().as_secs_f64();
    out.sort_by_key(|(i, _, _)| *i);
    let mut plans: Vec<SearchPlan> = out.iter().map(|(_, _, p)| *p).collect();
    plans.dedup();
    (out.into_iter().map(|(_, r, _)| r).collect(), qps, plans)
}

/// `VmRSS` of this process in bytes (0 where `/proc` has none).
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or("");
    line.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()).unwrap_or(0) * 1024
}

/// The live usearch index alone, holding a copy (`F32`) or reading the column (`Table`): build
/// time (2 threads), then recall@10 and single-thread QPS per `ef`, the best of 3 sweeps taken
/// alternately on the two indexes (the machine is shared).
fn live_index(base: &[f32], dim: usize, queries: &[f32], truth: &[Vec<u64>], efs: &[usize], hnsw: (usize, usize)) {
    use quiver_storage::index::{HnswIndex, HnswParams, VectorIndex, add_batch};
    let n = base.len() / dim;
    let normalized = |v: &[f32]| {
        let mut v = v.to_vec();
        quiver_storage::distance::normalize(&mut v);
        v
    };
    let column: Vec<f32> = base.chunks_exact(dim).flat_map(normalized).collect();
    let built: Vec<(IndexScalar, HnswIndex, &[f32], f64)> = [IndexScalar::Table, IndexScalar::F32]
        .into_iter()
        .map(|scalar| {
            let params = HnswParams { dim, m: hnsw.0, ef_construct: hnsw.1, scalar, normalize: false };
            let index = HnswIndex::new(Distance::Cosine, params, n).expect("index");
            let given: &[f32] = if index.reads_column() { &column } else { &[] };
            let started = Instant::now();
            for chunk in (0..n).collect::<Vec<_>>().chunks(2048) {
                let items: Vec<(u32, u64, Option<Vec<f32>>)> =
                    chunk.iter().map(|i| (*i as u32, 0, Some(column[i * dim..(i + 1) * dim].to_vec()))).collect();
                add_batch(&index, &items, 2, given).expect("add");
            }
            (scalar, index, given, started.elapsed().as_secs_f64())
        })
        .collect();
    for ef in efs {
        let mut best = vec![(0.0f64, Vec::new()); built.len()];
        for _ in 0..3 {
            for (k, (_, index, given, _)) in built.iter().enumerate() {
                let started = Instant::now();
                let found: Vec<Vec<u64>> =
                    queries.chunks_exact(dim).map(|q| index.search(q, 10, *ef, None, given).expect("search")).collect();
                let qps = found.len() as f64 / started.elapsed().as_secs_f64();
                if qps > best[k].0 {
                    best[k] = (qps, found);
                }
            }
        }
        for ((scalar, _, _, build_s), (qps, found)) in built.iter().zip(&best) {
            println!(
                "{}",
                serde_json::json!({"kind": "live_index", "scalar": format!("{scalar:?}"), "build_s": build_s, "ef": ef,
                    "recall10": recall(found, truth, 10), "qps1": qps})
            );
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(args.get(1).expect("DIR"));
    let dim: usize = args.get(2).expect("DIM").parse().expect("DIM");
    let efs: Vec<usize> =
        args.get(3).map_or("16,32,64,128".into(), |s| s.clone()).split(',').map(|s| s.parse().expect("ef")).collect();
    let m: usize = std::env::var("HNSW_M").ok().and_then(|v| v.parse().ok()).unwrap_or(16);
    let ef_construct: usize = std::env::var("HNSW_EF_CONSTRUCT").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let base = read_f32(&dir.join("base.f32"));
    let queries = read_f32(&dir.join("query.f32"));
    let gt = read_i32(&dir.join("gt.i32"));
    let n = base.len() / dim;
    let nq = queries.len() / dim;
    let truth: Vec<Vec<u64>> = gt.chunks(gt.len() / nq).map(|r| r.iter().map(|x| *x as u64).collect()).collect();

    let tmp = tempfile::tempdir().expect("tempdir");
    let full_scan_threshold = std::env::var("HNSW_FULL_SCAN_KB").ok().and_then(|v| v.parse().ok());
    let hnsw = HnswConfig {
        m,
        ef_construct,
        full_scan_threshold: full_scan_threshold.unwrap_or(HnswConfig::default().full_scan_threshold),
        ..HnswConfig::default()
    };
    let config = ShardConfig {
        sparse: Default::default(),
        dense: BTreeMap::from([(String::new(), quiver_shard::VectorSpec::plain(dim, Distance::Cosine))]),
        wal_segment_bytes: 64 << 20,
        index: IndexConfig {
            hnsw: BTreeMap::from([(String::new(), hnsw)]),
            indexing_threshold_kb: 10_000,
            scalar: match std::env::var("HNSW_SCALAR").as_deref() {
                Ok("bf16") => IndexScalar::Bf16,
                Ok("f32") => IndexScalar::F32,
                _ => IndexScalar::Table,
            },
            ..IndexConfig::default()
        },
    };
    let shard = LocalShard::open(tmp.path(), config).expect("open");
    // A keyword payload index on `group`, as the REST run creates (or a tenant index).
    let tenant = std::env::var("ANN_BENCH_TENANT").is_ok_and(|v| v == "1");
    let schema =
        if tenant { serde_json::json!({"type": "keyword", "is_tenant": true}) } else { serde_json::json!("keyword") };
    shard.set_payload_indexes(&BTreeMap::from([("group".to_string(), schema)]));
    let with_payload = std::env::var("ANN_BENCH_PAYLOAD").map_or(true, |v| v != "0");
    let rss_before = rss_bytes();
    let start = Instant::now();
    for chunk_start in (0..n).step_by(1000) {
        let points = (chunk_start..(chunk_start + 1000).min(n))
            .map(|i| {
                let mut v = base[i * dim..(i + 1) * dim].to_vec();
                quiver_storage::distance::normalize(&mut v);
                // ANN_BENCH_PAYLOAD=0: points without a payload (memory of vectors and index alone).
                let payload = match with_payload {
                    true => serde_json::Map::from_iter([("group".to_string(), groups(i))]),
                    false => serde_json::Map::new(),
                };
                PointStruct {
                    id: PointId::Num(i as u64),
                    vectors: NamedVectors::from([(String::new(), Vector::Dense(v))]),
                    payload: Some(payload),
                }
            })
            .collect();
        shard
            .update(&UpdateOperation::Upsert { points, mode: UpdateMode::Upsert, update_filter: None }, false)
            .expect("upsert");
    }
    let load_s = start.elapsed().as_secs_f64();
    loop {
        let status = shard.index_status();
        if !status.indexing && status.indexed_vectors >= n {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let build_s = start.elapsed().as_secs_f64();
    let rss_indexed = rss_bytes();
    // The indexer takes the frozen search copy of the graph once it has caught up.
    let probe = request(&queries[..dim], 10, None, false, None);
    while shard.search_planned(&probe).expect("search").1 != SearchPlan::FrozenGraph {
        std::thread::sleep(Duration::from_millis(20));
    }
    let frozen_s = start.elapsed().as_secs_f64() - build_s;
    let memory = shard.memory_report();
    let rss_after = rss_bytes();
    let holds = shard.indexer_lock_holds();
    println!(
        "{}",
        serde_json::json!({"kind": "build", "scalar": std::env::var("HNSW_SCALAR").unwrap_or_else(|_| "table".into()), "n": n, "dim": dim, "m": m, "ef_construct": ef_construct,
            "load_s": load_s, "build_s": build_s, "frozen_s": frozen_s, "bytes_per_point": memory.total() as f64 / n as f64,
            "vector_bytes": memory.vectors, "index_bytes": memory.index, "payload_index_bytes": memory.payload_index,
            "rss_before": rss_before, "rss_indexed": rss_indexed, "rss_after": rss_after,
            "rss_bytes_per_point": (rss_after.saturating_sub(rss_before)) as f64 / n as f64,
            "lock_batches": holds.batches, "lock_slots": holds.slots,
            "lock_hold_mean_ms": holds.total.as_secs_f64() * 1e3 / holds.batches.max(1) as f64,
            "lock_hold_max_ms": holds.longest.as_secs_f64() * 1e3, "lock_holds_16ms": holds.long})
    );

    for ef in &efs {
        let requests: Vec<CoreSearch> =
            (0..nq).map(|i| request(&queries[i * dim..(i + 1) * dim], 10, Some(*ef), false, None)).collect();
        // Best of two runs each (the machine is shared).
        let (found, qps1, plans) = run(&shard, &requests, 1);
        let qps1 = qps1.max(run(&shard, &requests, 1).1);
        let qps2 = run(&shard, &requests, 2).1.max(run(&shard, &requests, 2).1);
        println!(
            "{}",
            serde_json::json!({"kind": "search", "ef": ef, "recall10": recall(&found, &truth, 10), "qps1": qps1, "qps2": qps2,
                "plans": format!("{plans:?}")})
        );
    }

    if std::env::var("ANN_BENCH_LIVE").is_ok_and(|v| v == "1") {
        drop(shard);
        live_index(&base, dim, &queries, &truth, &efs, (m, ef_construct));
        return;
    }

    // ANN_BENCH_FILTERED=0 skips the filtered runs (profiling the unfiltered search alone).
    let filtered = std::env::var("ANN_BENCH_FILTERED").map_or(true, |v| v != "0");
    if filtered && tenant {
        let started = Instant::now();
        // Every big tenant's graph is installed in the same pass; "a" always gets one.
        let probe = request(&queries[..dim], 10, None, false, Some(group_filter("a")));
        while shard.search_planned(&probe).expect("search").1 != SearchPlan::TenantGraph {
            std::thread::sleep(Duration::from_millis(20));
        }
        println!("{}", serde_json::json!({"kind": "tenant_graphs", "build_s": started.elapsed().as_secs_f64()}));
    }
    for (value, share) in [("a", 0.5), ("b", 0.05), ("c", 0.001)].into_iter().filter(|_| filtered) {
        let exact: Vec<CoreSearch> = (0..nq)
            .map(|i| request(&queries[i * dim..(i + 1) * dim], 10, None, true, Some(group_filter(value))))
            .collect();
        let (exact_found, _, _) = run(&shard, &exact, 2);
        let requests: Vec<CoreSearch> = (0..nq)
            .map(|i| request(&queries[i * dim..(i + 1) * dim], 10, None, false, Some(group_filter(value))))
            .collect();
        let (found, qps1, plans) = run(&shard, &requests, 1);
        let (_, qps2, _) = run(&shard, &requests, 2);
        println!(
            "{}",
            serde_json::json!({"kind": "filtered", "tenant_index": tenant, "share": share, "recall10": recall(&found, &exact_found, 10),
                "qps1": qps1, "qps2": qps2, "plans": format!("{plans:?}")})
        );
    }
}
