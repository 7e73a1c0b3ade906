//! In-process benchmark of a `snapshot` transfer's source (design record 019, "Streamed
//! snapshot sources"): a shard of N points of `dim` random f32 values, then in the same run
//! (a) the old source: `write_snapshot` to a file (fsynced), read back in 8 MiB chunks, and
//! (b) the streamed source: `stream_snapshot` (the frozen copy and the size pass) and its bytes
//! read in 8 MiB chunks as they are encoded; plus the frozen copy (`snapshot_points`) alone.
//! Prints seconds until the first chunk can be asked for and until the last was read, and the
//! ratios streamed/file (< 1 is faster).
//!   cargo run --release -p quiver-shard --example stream_bench -- [N] [DIM]

use quiver_shard::{IndexConfig, LocalShard, ShardConfig, StoredPoint, StreamLimits, encode_point_frame};
use quiver_types::PointId;
use quiver_types::config::Distance;
use quiver_types::point::{NamedVectors, Vector};
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::io::Read;
use std::time::{Duration, Instant};

const CHUNK_BYTES: u32 = 8 << 20;

fn source(dir: &std::path::Path, n: usize, dim: usize) -> LocalShard {
    let config = ShardConfig {
        dense: BTreeMap::from([(String::new(), quiver_shard::VectorSpec::plain(dim, Distance::Dot))]),
        sparse: Default::default(),
        wal_segment_bytes: 64 << 20,
        index: IndexConfig { indexing_threshold_kb: usize::MAX / 1024, ..IndexConfig::default() },
    };
    let shard = LocalShard::open(dir, config).expect("open");
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
    let mut install = shard.begin_install().expect("begin");
    for page in points.chunks(2000) {
        install.add_frame(encode_point_frame(page).expect("encode")).expect("frame");
    }
    shard.finish_install(install, n as u64).expect("finish");
    shard
}

/// (seconds to the first chunk, seconds to the last) of the old source.
fn file_source(shard: &LocalShard, path: &std::path::Path) -> (f64, f64) {
    let start = Instant::now();
    let info = shard.write_snapshot(path).expect("write");
    let first = start.elapsed().as_secs_f64();
    let mut file = std::fs::File::open(path).expect("open");
    let mut chunk = vec![0u8; CHUNK_BYTES as usize];
    let mut read = 0u64;
    while read < info.bytes {
        read += file.read(&mut chunk).expect("read") as u64;
    }
    let _ = std::fs::remove_file(path);
    (first, start.elapsed().as_secs_f64())
}

/// The same for the streamed source.
fn stream_source(shard: &LocalShard) -> (f64, f64) {
    let start = Instant::now();
    let limits = StreamLimits { idle: Duration::from_secs(60), ahead_bytes: 4 * u64::from(CHUNK_BYTES) };
    let stream = shard.stream_snapshot(limits).expect("stream");
    let first = start.elapsed().as_secs_f64();
    let mut offset = 0u64;
    while offset < stream.info().bytes {
        offset += stream.read(offset, CHUNK_BYTES, Duration::from_secs(10)).expect("read").len() as u64;
    }
    (first, start.elapsed().as_secs_f64())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let dim: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(384);
    let tmp = tempfile::tempdir().expect("tempdir");
    let shard = source(&tmp.path().join("shard"), n, dim);
    let start = Instant::now();
    drop(shard.snapshot_points());
    let copy_s = start.elapsed().as_secs_f64();
    let (file_first, file_total) = file_source(&shard, &tmp.path().join("snap"));
    let (stream_first, stream_total) = stream_source(&shard);
    let mb = (n * dim * 4) as f64 / 1e6;
    println!(
        "{}",
        serde_json::json!({"points": n, "dim": dim, "frozen_copy_s": copy_s,
            "file": {"first_chunk_s": file_first, "total_s": file_total, "vector_MB_per_s": mb / file_total},
            "stream": {"first_chunk_s": stream_first, "total_s": stream_total, "vector_MB_per_s": mb / stream_total},
            "stream_over_file": {"first_chunk": stream_first / file_first, "total": stream_total / file_total}})
    );
}
