//! In-process benchmark of a transfer target's install (design record 019): N points of `dim`
//! random f32 values with a small payload, encoded as point frames of 2,000 (as transfer pages
//! are), then `begin_install`, `add_frame` for each frame and `finish_install` on a fresh shard.
//! Prints the seconds of each phase and MB/s of vector data, and the same disk's sequential
//! write + fsync speed measured in the same run (the install's ceiling).
//!   cargo run --release -p quiver-shard --example install_bench -- [N] [DIM]

use quiver_shard::{IndexConfig, LocalShard, ShardConfig, StoredPoint, encode_point_frame};
use quiver_types::PointId;
use quiver_types::config::Distance;
use quiver_types::point::{NamedVectors, Vector};
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

const PAGE_POINTS: usize = 2000;

fn frames(n: usize, dim: usize) -> Vec<Vec<u8>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let points: Vec<StoredPoint> = (0..n)
        .map(|i| StoredPoint {
            id: PointId::Num(i as u64),
            version: i as u64 + 1,
            vectors: NamedVectors::from([(
                String::new(),
                Vector::Dense((0..dim).map(|_| rng.random_range(-1.0..1.0)).collect()),
            )]),
            payload: serde_json::json!({"i": i}).as_object().cloned().unwrap_or_default(),
        })
        .collect();
    points.chunks(PAGE_POINTS).map(|page| encode_point_frame(page).expect("encode")).collect()
}

/// MB/s of a 256 MiB sequential write + fsync in `dir`.
fn disk_mb_per_s(dir: &std::path::Path) -> f64 {
    let path = dir.join("disk.bin");
    let block = vec![7u8; 1 << 20];
    let start = Instant::now();
    let mut file = std::fs::File::create(&path).expect("create");
    for _ in 0..256 {
        file.write_all(&block).expect("write");
    }
    file.sync_all().expect("fsync");
    let seconds = start.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    256.0 * (1 << 20) as f64 / 1e6 / seconds
}

/// This process's peak resident memory (`VmHWM`), MB.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb =
        status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().split(' ').next()?.parse().ok());
    kb.map_or(0.0, |kb: f64| kb / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let dim: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(384);
    let frames = frames(n, dim);
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = ShardConfig {
        dense: BTreeMap::from([(String::new(), quiver_shard::VectorSpec::plain(dim, Distance::Dot))]),
        sparse: Default::default(),
        wal_segment_bytes: 64 << 20,
        index: IndexConfig { indexing_threshold_kb: 0, ..IndexConfig::default() },
    };
    let shard = LocalShard::open(tmp.path(), config).expect("open");
    let rss_before = peak_rss_mb();
    let disk = disk_mb_per_s(tmp.path());
    let start = Instant::now();
    let mut install = shard.begin_install().expect("begin");
    for frame in frames {
        install.add_frame(frame).expect("frame");
    }
    let added_s = start.elapsed().as_secs_f64();
    shard.finish_install(install, n as u64).expect("finish");
    let total_s = start.elapsed().as_secs_f64();
    let mb = (n * dim * 4) as f64 / 1e6;
    println!(
        "{}",
        serde_json::json!({"points": n, "dim": dim, "frames_s": added_s, "finish_s": total_s - added_s,
            "total_s": total_s, "vector_MB_per_s": mb / total_s, "disk_MB_per_s": disk,
            "install_over_disk": mb / total_s / disk,
            "peak_rss_growth_mb": peak_rss_mb() - rss_before})
    );
}
