//! Storage primitives of one local shard: the write-ahead log, the in-memory point table with
//! its vectors and payloads, the durable checkpoint store, filter evaluation and distances, and
//! the WAL's fsync latency metric.

pub mod checkpoint;
pub mod distance;
pub mod error;
pub mod filter;
pub mod graph;
pub mod index;
pub mod kernels;
pub mod metrics;
pub mod payload_index;
pub mod points;
pub mod wal;

pub use error::{Result, StorageError};
