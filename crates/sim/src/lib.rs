//! Deterministic simulation of a Quiver cluster (DESIGN's `testkit`): several real nodes — real
//! shard protocol, real control plane (`ClusterState::apply` over openraft), real storage in a
//! temp dir — in one process, on tokio's paused clock, talking over an in-memory network whose
//! faults the simulation controls. A seed fixes the cluster's shape, the fault schedule, the
//! clients' operations and the network's random drops and delays; the same seed replays the
//! same schedule (interleavings inside the peers may still differ: blocking IO runs on threads).
//!
//! Checked after every acknowledged write (the write is on every `Active` replica and on at
//! least `write_consistency_factor` replicas), on every read (never older than a write
//! acknowledged before it), and at the end, once every fault healed (all replicas `Active` with
//! equal contents, no fork in their logs, every key holding what its history allows). Run it
//! with `cargo run -p quiver-sim --release -- --seeds N` (README).

pub mod check;
pub mod history;
pub mod net;
mod scenario;
pub mod workload;
pub mod world;

pub use scenario::{SeedReport, run_seed};
