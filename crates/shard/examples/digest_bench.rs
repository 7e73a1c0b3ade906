//! The content digest (design record 052) against the legacy one on one shard of N points of
//! DIM dense f32 elements with a small payload, the CPU each takes (and holds the table's read
//! lock for), alternated over three rounds in one run:
//!   cargo run --release -p quiver-shard --example digest_bench -- [N] [DIM]
//! (defaults 100000 and 384; the shard is built without an index, in a temporary directory).

use quiver_shard::{IndexConfig, LocalShard, ShardConfig};
use quiver_types::config::Distance;
use quiver_types::ops::{UpdateMode, UpdateOperation};
use quiver_types::point::{NamedVectors, PointStruct, Vector};
use std::collections::BTreeMap;
use std::time::Instant;

fn config(dim: usize) -> ShardConfig {
    ShardConfig {
        dense: BTreeMap::from([(String::new(), quiver_shard::VectorSpec::plain(dim, Distance::Cosine))]),
        sparse: Default::default(),
        wal_segment_bytes: 64 << 20,
        // No graph: the digest reads the points only.
        index: IndexConfig { indexing_threshold_kb: 0, ..IndexConfig::default() },
    }
}

fn batch(from: u64, count: u64, dim: usize) -> UpdateOperation {
    let points = (from..from + count)
        .map(|i| {
            let vector = (0..dim).map(|d| ((i * 31 + d as u64 * 7) % 1000) as f32 / 997.0 - 0.5).collect();
            PointStruct {
                id: i.into(),
                vectors: NamedVectors::from([(String::new(), Vector::Dense(vector))]),
                payload: Some(serde_json::from_value(serde_json::json!({"i": i, "tag": "t"})).unwrap()),
            }
        })
        .collect();
    UpdateOperation::Upsert { points, mode: UpdateMode::Upsert, update_filter: None }
}

fn timed(digest: impl Fn() -> u64) -> (u64, f64) {
    let started = Instant::now();
    let value = digest();
    (value, started.elapsed().as_secs_f64())
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>().expect("a number"));
    let points = args.next().unwrap_or(100_000);
    let dim = args.next().unwrap_or(384) as usize;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let shard = LocalShard::open(dir.path(), config(dim)).expect("open the shard");
    for from in (0..points).step_by(1000) {
        shard.update(&batch(from, 1000.min(points - from), dim), false).expect("upsert");
    }
    println!("{points} points x {dim} f32 elements");
    let (mut legacy, mut content) = (Vec::new(), Vec::new());
    for round in 1..=3 {
        let (_, old) = timed(|| shard.legacy_digest());
        let (_, new) = timed(|| shard.digest());
        println!("round {round}: legacy {old:.3} s, content {new:.3} s, content/legacy {:.3}", new / old);
        legacy.push(old);
        content.push(new);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (old, new) = (median(&mut legacy), median(&mut content));
    println!(
        "medians: legacy {old:.3} s ({:.2} us/point), content {new:.3} s ({:.2} us/point), ratio {:.3}",
        old * 1e6 / points as f64,
        new * 1e6 / points as f64,
        new / old
    );
}
