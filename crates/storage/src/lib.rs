//! Storage primitives of one local shard: the write-ahead log, the in-memory point table with
//! its vectors (typed by `datatype`, plain or multivector) and payloads, the memory-mapped
//! scratch arrays of `on_disk` columns (`mapped`), the durable checkpoint store, the saved HNSW
//! indexes (`graph_file`), the binary point frames of transfers, snapshots and checkpoints
//! (`frames.rs`), filter evaluation and distances, and the WAL's fsync latency metric.

pub mod checkpoint;
pub mod distance;
pub mod error;
pub mod filter;
pub mod frame_ref;
pub mod frames;
pub mod frozen_file;
pub mod graph;
pub mod graph_file;
pub mod index;
mod index_gate;
mod index_view;
pub mod kernels;
pub mod mapped;
pub mod metrics;
pub mod payload_index;
mod planes;
pub mod points;
pub mod product;
pub mod quantized;
pub mod ternary;
pub mod text;
pub mod vectors;
pub mod wal;

pub use error::{Result, StorageError};
