//! How long reading a batch of upserted points from MessagePack takes (the peer protocol's and
//! the WAL's encoding), with the structural reading of `Vector` (binary) against serde's derived
//! untagged reading (the same bytes read as human-readable), in the same run.
//! `cargo run --release -p quiver-types --example vector_decode`

use quiver_types::PointId;
use quiver_types::point::{PointStruct, Vector};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn batch(points: usize, dim: usize) -> Vec<PointStruct> {
    (0..points)
        .map(|i| PointStruct {
            id: PointId::Num(i as u64),
            vectors: BTreeMap::from([(String::new(), Vector::Dense((0..dim).map(|j| (i * j) as f32 / 1e3).collect()))]),
            payload: None,
        })
        .collect()
}

/// Best of `rounds` times of `runs` decodes.
fn time(rounds: usize, runs: usize, mut decode: impl FnMut()) -> Duration {
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            (0..runs).for_each(|_| decode());
            start.elapsed() / runs as u32
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let bytes = rmp_serde::to_vec_named(&batch(100, 384)).expect("encode");
    let structural = time(5, 50, || {
        let points: Vec<PointStruct> = rmp_serde::from_slice(&bytes).expect("decode");
        assert_eq!(points.len(), 100);
    });
    let derived = time(5, 50, || {
        let mut de = rmp_serde::Deserializer::from_read_ref(&bytes).with_human_readable();
        let points = Vec::<PointStruct>::deserialize(&mut de).expect("decode");
        assert_eq!(points.len(), 100);
    });
    println!("100 points x 384-d, {} bytes of MessagePack", bytes.len());
    println!("derived untagged reading: {derived:?} per batch");
    println!("structural reading:       {structural:?} per batch");
    println!("ratio structural / derived: {:.3}", structural.as_secs_f64() / derived.as_secs_f64());
}
