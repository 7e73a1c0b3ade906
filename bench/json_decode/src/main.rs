//! How fast JSON parsers decode an upsert body (`{"points": [{"id", "vector", "payload"}]}`) as
//! clients send it, and how much of that is the numbers: serde_json (what the server uses),
//! sonic-rs and simd-json through the same serde types, and a bare loop of fast-float2 over the
//! vectors' numbers alone (a lower bound for any parser built on it: no JSON structure at all).
//!
//! Usage: quiver-json-decode-bench BODY.json [ROUNDS]   (bodies written by bench/json_decode.py)

use serde::Deserialize;
use std::time::{Duration, Instant};

#[derive(Deserialize)]
struct Point {
    id: u64,
    vector: Vec<f32>,
    payload: serde_json::Value,
}

#[derive(Deserialize)]
struct Body {
    points: Vec<Point>,
}

/// Every number of every `"vector": [...]` in `body`, parsed with fast-float2.
fn vectors_fast_float(body: &[u8], out: &mut Vec<f32>) {
    const KEY: &[u8] = b"\"vector\":[";
    let mut at = 0;
    let finder = memchr::memmem::Finder::new(KEY);
    while let Some(found) = finder.find(&body[at..]) {
        let mut i = at + found + KEY.len();
        loop {
            while matches!(body[i], b' ' | b',') {
                i += 1;
            }
            if body[i] == b']' {
                break;
            }
            let (x, used): (f64, usize) = fast_float2::parse_partial(&body[i..]).expect("a number");
            out.push(x as f32);
            i += used;
        }
        at = i;
    }
}

/// The mean time of `runs` calls of `f`.
fn timed(runs: u32, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..runs {
        f();
    }
    start.elapsed() / runs
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: quiver-json-decode-bench BODY.json [ROUNDS]");
    let rounds: u32 = args.next().map_or(3, |r| r.parse().expect("ROUNDS is a number"));
    let body = std::fs::read(&path).expect("read the body");
    let reference: Body = serde_json::from_slice(&body).expect("serde_json reads the body");
    let numbers: usize = reference.points.iter().map(|p| p.vector.len()).sum();
    let ids: u64 = reference.points.iter().map(|p| p.id).sum();
    // Each parser must read the same numbers, or its time means nothing.
    let sonic: Body = sonic_rs::from_slice(&body).expect("sonic-rs reads the body");
    let simd: Body = simd_json::serde::from_slice(&mut body.clone()).expect("simd-json reads the body");
    let mut bare = Vec::with_capacity(numbers);
    vectors_fast_float(&body, &mut bare);
    let flat: Vec<f32> = reference.points.iter().flat_map(|p| p.vector.iter().copied()).collect();
    assert!(same(&reference, &sonic) && same(&reference, &simd) && bare == flat, "parsers disagree");
    println!("{path}: {} bytes, {} points, {numbers} numbers (ids sum {ids})", body.len(), reference.points.len());
    for round in 1..=rounds {
        let serde_json = timed(10, || drop(serde_json::from_slice::<Body>(&body).unwrap()));
        let sonic = timed(10, || drop(sonic_rs::from_slice::<Body>(&body).unwrap()));
        let simd = timed(10, || drop(simd_json::serde::from_slice::<Body>(&mut body.clone()).unwrap()));
        let bare = timed(10, || {
            let mut out = Vec::with_capacity(numbers);
            vectors_fast_float(&body, &mut out);
        });
        let ns = |d: Duration| d.as_nanos() as f64 / numbers as f64;
        let ratio = |d: Duration| d.as_secs_f64() / serde_json.as_secs_f64();
        println!(
            "round {round}: serde_json {serde_json:.2?} ({:.1} ns/number) | sonic-rs {sonic:.2?} ({:.2}x) | \
             simd-json incl. its copy {simd:.2?} ({:.2}x) | fast-float2 numbers only {bare:.2?} ({:.2}x)",
            ns(serde_json),
            ratio(sonic),
            ratio(simd),
            ratio(bare)
        );
    }
}

fn same(a: &Body, b: &Body) -> bool {
    a.points.len() == b.points.len()
        && a.points.iter().zip(&b.points).all(|(x, y)| x.id == y.id && x.vector == y.vector && x.payload == y.payload)
}
