//! In-process quantization benchmark of one `LocalShard` (design record 020): the same queries
//! on the original f32 vectors (`ignore: true`), and with int8, binary and product (x8, x16,
//! x32; design record 029) quantization (candidates scored on the codes, rescored with the
//! originals), at several `hnsw_ef` and `oversampling`. Prints
//! recall@10 against the ground truth, QPS on one thread, the bytes of the f32 vectors and of
//! each quantized copy, and the ratios against the f32 runs interleaved with them.
//!
//! Input: a directory with `base.f32`, `query.f32`, `gt.i32` (as `ann_bench`).
//!   cargo run --release -p quiver-shard --example quant_bench -- DIR DIM [ef,ef,...] [kind,kind,...]
//! (kinds: int8, binary, binary-q8 (query in 8 bits), binary-1.5, binary-2, binary-2-q8 (design record
//! 033), product-x8, product-x16, product-x32; default all).

use quiver_shard::{BinaryEncoding, IndexConfig, LocalShard, QuantizationKind, SearchPlan, ShardConfig};
use quiver_types::PointId;
use quiver_types::config::{Distance, HnswConfig};
use quiver_types::ops::{UpdateMode, UpdateOperation};
use quiver_types::point::{NamedVectors, PointStruct, Vector};
use quiver_types::query::{CoreSearch, QueryVector, SearchParams, WithPayload, WithVector};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

fn read(path: &Path) -> Vec<[u8; 4]> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    bytes.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]).collect()
}

fn request(q: &[f32], ef: usize, quantization: Option<serde_json::Value>) -> CoreSearch {
    CoreSearch {
        vector_name: String::new(),
        query: QueryVector::Dense(q.to_vec()),
        filter: None,
        params: Some(SearchParams { hnsw_ef: Some(ef), quantization, ..SearchParams::default() }),
        limit: 10,
        score_threshold: None,
        with_payload: WithPayload::Bool(false),
        with_vector: WithVector::Bool(false),
    }
}

/// Recall@10 and QPS (one thread) of `requests`.
fn run(shard: &LocalShard, requests: &[CoreSearch], truth: &[Vec<u64>]) -> (f64, f64) {
    let start = Instant::now();
    let found: Vec<Vec<u64>> = requests
        .iter()
        .map(|r| {
            let (points, plan) = shard.search_planned(r).expect("search");
            assert_eq!(plan, SearchPlan::FrozenGraph);
            points.iter().map(|p| if let PointId::Num(n) = p.id { n } else { u64::MAX }).collect()
        })
        .collect();
    let qps = requests.len() as f64 / start.elapsed().as_secs_f64();
    let hits: usize = found.iter().zip(truth).map(|(f, t)| f.iter().filter(|id| t[..10].contains(id)).count()).sum();
    (hits as f64 / (requests.len() * 10) as f64, qps)
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let data = Path::new(args.get(1).expect("DIR"));
    let dim: usize = args.get(2).expect("DIM").parse().expect("DIM");
    let efs: Vec<usize> =
        args.get(3).map_or("64,128".into(), |s| s.clone()).split(',').map(|s| s.parse().expect("ef")).collect();
    let base: Vec<f32> = read(&data.join("base.f32")).into_iter().map(f32::from_le_bytes).collect();
    let queries: Vec<f32> = read(&data.join("query.f32")).into_iter().map(f32::from_le_bytes).collect();
    let gt: Vec<i32> = read(&data.join("gt.i32")).into_iter().map(i32::from_le_bytes).collect();
    let nq = queries.len() / dim;
    let truth: Vec<Vec<u64>> = gt.chunks(gt.len() / nq).map(|r| r.iter().map(|x| *x as u64).collect()).collect();
    let tmp = tempfile::tempdir().expect("tempdir");
    let hnsw = HnswConfig { m: 16, ef_construct: 100, ..HnswConfig::default() };
    let config = ShardConfig {
        dense: BTreeMap::from([(String::new(), quiver_shard::VectorSpec::plain(dim, Distance::Cosine))]),
        sparse: Default::default(),
        wal_segment_bytes: 64 << 20,
        index: IndexConfig { hnsw: BTreeMap::from([(String::new(), hnsw)]), ..IndexConfig::default() },
    };
    let shard = LocalShard::open(tmp.path(), config).expect("open");
    load(&shard, &base, dim);
    let probe = request(&queries[..dim], 64, None);
    while shard.search_planned(&probe).expect("search").1 != SearchPlan::FrozenGraph {
        std::thread::sleep(Duration::from_millis(20));
    }
    let f32_bytes = shard.memory_report().vectors;
    let requests = |ef: usize, q: serde_json::Value| -> Vec<CoreSearch> {
        (0..nq).map(|i| request(&queries[i * dim..(i + 1) * dim], ef, Some(q.clone()))).collect()
    };
    let kinds = [
        ("int8", QuantizationKind::Int8 { quantile: Some(0.99) }, [1.0, 2.0]),
        ("binary", QuantizationKind::Binary { encoding: BinaryEncoding::OneBit, query_bits: 1 }, [2.0, 4.0]),
        ("binary-q8", QuantizationKind::Binary { encoding: BinaryEncoding::OneBit, query_bits: 8 }, [2.0, 4.0]),
        (
            "binary-1.5",
            QuantizationKind::Binary { encoding: BinaryEncoding::OneAndHalfBits, query_bits: 1 },
            [2.0, 4.0],
        ),
        ("binary-2", QuantizationKind::Binary { encoding: BinaryEncoding::TwoBits, query_bits: 1 }, [2.0, 4.0]),
        ("binary-2-q8", QuantizationKind::Binary { encoding: BinaryEncoding::TwoBits, query_bits: 8 }, [2.0, 4.0]),
        ("product-x8", QuantizationKind::Product { compression: 8 }, [2.0, 4.0]),
        ("product-x16", QuantizationKind::Product { compression: 16 }, [4.0, 8.0]),
        ("product-x32", QuantizationKind::Product { compression: 32 }, [8.0, 16.0]),
    ];
    let wanted: Option<Vec<String>> = args.get(4).map(|s| s.split(',').map(String::from).collect());
    let kinds = kinds.into_iter().filter(|(label, ..)| wanted.as_ref().is_none_or(|w| w.iter().any(|k| k == label)));
    for (label, kind, oversamplings) in kinds {
        let start = Instant::now();
        shard.set_quantization(&BTreeMap::from([(String::new(), kind)]));
        while !shard.quantization_ready() {
            std::thread::sleep(Duration::from_millis(5));
        }
        let build_s = start.elapsed().as_secs_f64();
        let bytes = shard.memory_report().quantized;
        for ef in &efs {
            // The f32 path is the same shard with `ignore: true`; the configurations take turns
            // over three rounds (the machine is shared) and each keeps its best QPS.
            let mut configs = vec![serde_json::json!({"ignore": true})];
            configs.extend(oversamplings.iter().map(|o| serde_json::json!({"rescore": true, "oversampling": o})));
            let mut best = vec![(0.0, 0.0); configs.len()];
            for _ in 0..3 {
                for (config, best) in configs.iter().zip(best.iter_mut()) {
                    let (recall, qps) = run(&shard, &requests(*ef, config.clone()), &truth);
                    *best = (recall, qps.max(best.1));
                }
            }
            let (f32_recall, f32_qps) = best[0];
            println!(
                "{}",
                serde_json::json!({"kind": "f32", "ef": ef, "recall10": f32_recall, "qps1": f32_qps, "bytes": f32_bytes})
            );
            for (oversampling, (recall, qps)) in oversamplings.iter().zip(&best[1..]) {
                println!(
                    "{}",
                    serde_json::json!({"kind": label, "ef": ef, "oversampling": oversampling, "recall10": recall,
                        "qps1": qps, "qps_ratio_vs_f32": qps / f32_qps, "bytes": bytes,
                        "bytes_ratio_vs_f32": bytes as f64 / f32_bytes as f64, "build_s": build_s})
                );
            }
        }
    }
}
