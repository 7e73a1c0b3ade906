//! In-process restart benchmark of one `LocalShard` (design record 020): build an HNSW index,
//! checkpoint (which saves it), then reopen the shard twice: with the saved index, and with the
//! saved index removed (the rebuild every restart used to pay). Prints the build time, each
//! open time, the time until searches run on the frozen graph, recall@10 at `hnsw_ef` 64
//! before and after, and the ratios.
//!
//! Input: a directory with `base.f32`, `query.f32`, `gt.i32` (as `ann_bench`).
//!   cargo run --release -p quiver-shard --example restart_bench -- DIR DIM
//!
//! Environment: `RESTART_BENCH_SHARD=PATH` keeps the shard in PATH (built there when PATH holds
//! none, reused as it is otherwise: another build of this example can reopen the same files);
//! `RESTART_BENCH_REOPENS=N` reopens it N times with the saved index (default 1);
//! `RESTART_BENCH_REBUILD=0` skips the reopen without it; `RESTART_BENCH_RESAVE=1` saves the
//! index again after each reopen (a file of an older record format is rewritten); `RUST_LOG=quiver_shard=debug` prints
//! the phases of each open (`LocalShard::open` logs them).

use quiver_shard::{IndexConfig, LocalShard, SearchPlan, ShardConfig};
use quiver_types::PointId;
use quiver_types::config::{Distance, HnswConfig};
use quiver_types::ops::{UpdateMode, UpdateOperation};
use quiver_types::point::{NamedVectors, PointStruct, Vector};
use quiver_types::query::{CoreSearch, QueryVector, SearchParams, WithPayload, WithVector};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

fn read_f32(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

fn read_i32(path: &Path) -> Vec<i32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    bytes.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

fn request(q: &[f32]) -> CoreSearch {
    CoreSearch {
        vector_name: String::new(),
        query: QueryVector::Dense(q.to_vec()),
        filter: None,
        params: Some(SearchParams { hnsw_ef: Some(64), ..SearchParams::default() }),
        limit: 10,
        score_threshold: None,
        with_payload: WithPayload::Bool(false),
        with_vector: WithVector::Bool(false),
    }
}

fn config(dim: usize) -> ShardConfig {
    let hnsw = HnswConfig { m: 16, ef_construct: 100, ..HnswConfig::default() };
    ShardConfig {
        dense: BTreeMap::from([(String::new(), quiver_shard::VectorSpec::plain(dim, Distance::Cosine))]),
        sparse: Default::default(),
        wal_segment_bytes: 64 << 20,
        index: IndexConfig { hnsw: BTreeMap::from([(String::new(), hnsw)]), ..IndexConfig::default() },
    }
}

/// Waits until searches run on the frozen graph copy; returns the seconds waited. Until the
/// indexer has caught up it only polls the index status (a probe search would scan the pending
/// vectors, taking the cores the indexer needs).
fn wait_frozen(shard: &LocalShard, probe: &CoreSearch) -> f64 {
    let start = Instant::now();
    while shard.index_status().indexing {
        std::thread::sleep(Duration::from_millis(20));
    }
    while shard.search_planned(probe).expect("search").1 != SearchPlan::FrozenGraph {
        std::thread::sleep(Duration::from_millis(5));
    }
    start.elapsed().as_secs_f64()
}

fn recall(shard: &LocalShard, queries: &[f32], dim: usize, truth: &[i32]) -> f64 {
    let nq = queries.len() / dim;
    let per = truth.len() / nq;
    let mut hits = 0;
    for i in 0..nq {
        let found = shard.search(&request(&queries[i * dim..(i + 1) * dim])).expect("search");
        let t = &truth[i * per..i * per + 10];
        hits += found.iter().filter(|p| matches!(p.id, PointId::Num(n) if t.contains(&(n as i32)))).count();
    }
    hits as f64 / (nq * 10) as f64
}

fn load(shard: &LocalShard, base: &[f32], dim: usize) {
    let n = base.len() / dim;
    for start in (0..n).step_by(1000) {
        let points = (start..(start + 1000).min(n))
            .map(|i| PointStruct {
                id: PointId::Num(i as u64),
                vectors: NamedVectors::from([(String::new(), Vector::Dense(base[i * dim..(i + 1) * dim].to_vec()))]),
                payload: None,
            })
            .collect();
        let op = UpdateOperation::Upsert { points, mode: UpdateMode::Upsert, update_filter: None };
        shard.update(&op, false).expect("upsert");
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Loads the points, waits for the frozen graph and checkpoints (which saves the index);
/// returns the build and save seconds and the recall before.
fn build(dir: &Path, dim: usize, base: &[f32], probe: &CoreSearch, queries: &[f32], truth: &[i32]) -> (f64, f64, f64) {
    let shard = LocalShard::open(dir, config(dim)).expect("open");
    let start = Instant::now();
    load(&shard, base, dim);
    let build_s = start.elapsed().as_secs_f64() + wait_frozen(&shard, probe);
    let recall_before = recall(&shard, queries, dim, truth);
    let meta = dir.join("graphs/vector-.meta");
    let save_start = Instant::now();
    shard.checkpoint().expect("checkpoint");
    while !meta.exists() {
        std::thread::sleep(Duration::from_millis(5));
    }
    (build_s, save_start.elapsed().as_secs_f64(), recall_before)
}

/// Opens the shard; returns the seconds until open returned and until the frozen graph serves,
/// the restored slots and the recall after.
fn reopen(dir: &Path, dim: usize, probe: &CoreSearch, queries: &[f32], truth: &[i32]) -> (f64, f64, usize, f64) {
    let (start, cpu_start) = (Instant::now(), cpu_s());
    let shard = LocalShard::open(dir, config(dim)).expect("open");
    let (open_s, open_cpu_s) = (start.elapsed().as_secs_f64(), cpu_s() - cpu_start);
    let ready_s = open_s + wait_frozen(&shard, probe);
    println!("{}", serde_json::json!({"open_saved_s": open_s, "open_cpu_s": open_cpu_s, "ready_saved_s": ready_s}));
    if std::env::var_os("RESTART_BENCH_RESAVE").is_some() {
        // Saves the index again (in the current record format): a checkpoint asks for it.
        let meta = dir.join("graphs/vector-.meta");
        let modified = || std::fs::metadata(&meta).and_then(|m| m.modified()).ok();
        let before = modified();
        shard.checkpoint().expect("checkpoint");
        while modified() == before {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    (open_s, ready_s, shard.restored_index_slots(), recall(&shard, queries, dim, truth))
}

/// CPU seconds the process has used (user + system, from `/proc/self/stat`, 100 ticks/s).
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    }
    let args: Vec<String> = std::env::args().collect();
    let data = Path::new(args.get(1).expect("DIR"));
    let dim: usize = args.get(2).expect("DIM").parse().expect("DIM");
    let (queries, truth) = (read_f32(&data.join("query.f32")), read_i32(&data.join("gt.i32")));
    let probe = request(&queries[..dim]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = std::env::var_os("RESTART_BENCH_SHARD").map_or_else(|| tmp.path().to_path_buf(), Into::into);

    // The base vectors are read only to build a shard (a profile of the reopens of a kept
    // shard then shows the opens alone).
    let n = std::fs::metadata(data.join("base.f32")).map_or(0, |m| m.len() as usize / 4 / dim);
    let built = (!dir.join("points.redb").exists())
        .then(|| build(&dir, dim, &read_f32(&data.join("base.f32")), &probe, &queries, &truth));
    let (build_s, save_s, recall_before) = built.unwrap_or((f64::NAN, f64::NAN, f64::NAN));
    let mut opens = Vec::new();
    for _ in 0..env_usize("RESTART_BENCH_REOPENS", 1) {
        let (open_s, ready_s, restored, recall_after) = reopen(&dir, dim, &probe, &queries, &truth);
        opens.push((open_s, ready_s, restored, recall_after));
    }
    let best = opens.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1)).expect("one reopen");
    let (open_s, ready_s, restored, recall_after) = best;
    let mut report = serde_json::json!({"n": n, "dim": dim, "build_s": build_s, "save_s": save_s,
        "open_saved_s": open_s, "ready_saved_s": ready_s, "restored": restored,
        "recall10_ef64_before": recall_before, "recall10_ef64_after": recall_after,
        "ratio_build_over_open_saved": build_s / open_s});
    if env_usize("RESTART_BENCH_REBUILD", 1) != 0 {
        // The same restart without the saved index: the rebuild of before.
        std::fs::remove_dir_all(dir.join("graphs")).expect("remove graphs");
        let (rebuild_open_s, rebuild_ready_s, _, _) = reopen(&dir, dim, &probe, &queries, &truth);
        report["open_rebuild_s"] = rebuild_open_s.into();
        report["ready_rebuild_s"] = rebuild_ready_s.into();
        report["ratio_ready_rebuild_over_saved"] = (rebuild_ready_s / ready_s).into();
    }
    println!("{report}");
}
