//! In-process memory benchmark of `on_disk_payload` (design record 037): one `LocalShard` with
//! N points of a 4-d vector and a ~1 KB payload each (a keyword index on `city`), loaded in
//! batches of 1,000 and checkpointed, then reopened, with payloads encoded in a mapped scratch
//! log (`disk`) and in memory (`memory`). Each phase runs in a child process of its own so that
//! `RssAnon` (from `/proc/self/status`) measures that phase alone; the parent prints both modes
//! side by side with the ratio, and the times of counts with a filter on an unindexed field
//! (scans that read every payload: the short `tags`, and the 900-byte `body` text) and of
//! retrieving 1,000 points with their payloads.
//!
//!   cargo run -p quiver-shard --example payload_bench -- [N]      (default 100000)

use quiver_shard::{IndexConfig, LocalShard, ShardConfig, VectorSpec};
use quiver_types::PointId;
use quiver_types::config::Distance;
use quiver_types::filter::Filter;
use quiver_types::ops::{UpdateMode, UpdateOperation};
use quiver_types::point::{PointStruct, Vector};
use quiver_types::query::{WithPayload, WithVector};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

const WORDS: [&str; 16] = [
    "vector", "payload", "shard", "river", "granite", "orbit", "lantern", "meadow", "copper", "signal", "harbor",
    "violet", "thunder", "pixel", "saffron", "quartz",
];

/// `/proc/self/status` field `name` in KiB.
fn status_kib(name: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with(name)).unwrap_or("");
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn words(seed: u64, count: usize) -> String {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = String::new();
    for _ in 0..count {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push_str(WORDS[(x % 16) as usize]);
        out.push(' ');
    }
    out
}

/// A point with a payload of about 1 KB as JSON.
fn point(i: u64) -> PointStruct {
    let city = ["Berlin", "Paris", "Rome", "Oslo", "Lima"][i as usize % 5];
    let payload = json!({
        "city": city,
        "n": i, "price": i as f64 / 7.0, "in_stock": i.is_multiple_of(3),
        "title": words(i, 12), "body": words(i + 1, 110),
        "tags": [WORDS[i as usize % 16], WORDS[(i / 16) as usize % 16]],
    });
    PointStruct {
        id: PointId::Num(i),
        vectors: [(String::new(), Vector::Dense(vec![i as f32, 1.0, 0.5, -1.0]))].into(),
        payload: payload.as_object().cloned(),
    }
}

fn open(dir: &Path, on_disk_payload: bool) -> LocalShard {
    let config = ShardConfig {
        dense: BTreeMap::from([(String::new(), VectorSpec::plain(4, Distance::Dot))]),
        sparse: Default::default(),
        wal_segment_bytes: 32 << 20,
        index: IndexConfig { on_disk_payload, ..IndexConfig::default() },
    };
    let shard = LocalShard::open(dir, config).expect("open");
    shard.set_payload_indexes(&BTreeMap::from([("city".to_string(), json!("keyword"))]));
    shard
}

/// Runs one phase (`load` or `open`) in this process and prints `key=value` lines.
fn child(phase: &str, mode: &str, dir: &Path, n: u64) {
    let before = status_kib("RssAnon:");
    let start = Instant::now();
    let shard = open(dir, mode == "disk");
    if phase == "load" {
        for from in (0..n).step_by(1_000) {
            let points = (from..(from + 1_000).min(n)).map(point).collect();
            let op = UpdateOperation::Upsert { points, mode: UpdateMode::Upsert, update_filter: None };
            shard.update_owned(op, true).expect("upsert");
        }
        shard.checkpoint().expect("checkpoint");
    }
    let seconds = start.elapsed().as_secs_f64();
    let (anon, file) = (status_kib("RssAnon:"), status_kib("RssFile:"));
    let unindexed: Filter =
        serde_json::from_value(json!({"must": [{"key": "tags", "match": {"value": "river"}}]})).expect("filter");
    let start = Instant::now();
    let count = shard.count(Some(&unindexed)).expect("count");
    let scan = start.elapsed().as_secs_f64();
    let long: Filter = serde_json::from_value(json!({"must": [{"key": "body", "match": {"text": "quartz saffron"}}]}))
        .expect("filter");
    let start = Instant::now();
    let long_count = shard.count(Some(&long)).expect("count");
    let long_scan = start.elapsed().as_secs_f64();
    let ids: Vec<PointId> = (0..1_000).map(|i| PointId::Num(i * 97 % n)).collect();
    let start = Instant::now();
    let records = shard.retrieve(&ids, &WithPayload::Bool(true), &WithVector::Bool(false));
    let retrieve = start.elapsed().as_secs_f64();
    assert_eq!(records.len(), 1_000);
    println!("seconds={seconds:.2}");
    println!("anon_growth_kib={}", anon.saturating_sub(before));
    println!("anon_kib={anon}");
    println!("file_kib={file}");
    println!("count={count}");
    println!("scan_ms={:.1}", scan * 1e3);
    println!("long_count={long_count}");
    println!("long_scan_ms={:.1}", long_scan * 1e3);
    println!("retrieve_ms={:.1}", retrieve * 1e3);
}

fn run_child(phase: &str, mode: &str, dir: &Path, n: u64) -> BTreeMap<String, String> {
    let exe = std::env::current_exe().expect("current exe");
    let out = std::process::Command::new(exe)
        .args(["--child", phase, mode, &dir.display().to_string(), &n.to_string()])
        .output()
        .expect("run child");
    assert!(out.status.success(), "{phase} {mode}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        let n = args[5].parse().expect("N");
        child(&args[2], &args[3], Path::new(&args[4]), n);
        return;
    }
    let n: u64 = args.get(1).map_or(100_000, |a| a.parse().expect("N"));
    let dir = tempfile::tempdir().expect("tempdir");
    println!("{n} points, ~1 KB payload each (4-d vectors, keyword index on `city`)");
    println!(
        "| phase | mode | seconds | RssAnon growth | bytes/point | RssFile | count: `tags` | count: `body` | retrieve 1,000 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for phase in ["load", "open"] {
        let mut growth = BTreeMap::new();
        for mode in ["disk", "memory"] {
            let r = run_child(phase, mode, &dir.path().join(mode), n);
            let kib: u64 = r["anon_growth_kib"].parse().expect("kib");
            growth.insert(mode, kib);
            println!(
                "| {phase} | {mode} | {} | {:.1} MiB | {} | {:.1} MiB | {} ms ({} points) | {} ms ({} points) | {} ms |",
                r["seconds"],
                kib as f64 / 1024.0,
                kib * 1024 / n,
                r["file_kib"].parse::<f64>().expect("kib") / 1024.0,
                r["scan_ms"],
                r["count"],
                r["long_scan_ms"],
                r["long_count"],
                r["retrieve_ms"],
            );
        }
        println!("{phase}: RssAnon growth disk ÷ memory = {:.3}", growth["disk"] as f64 / growth["memory"] as f64);
    }
}
