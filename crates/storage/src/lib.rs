//! Storage primitives of one local shard: the write-ahead log, the in-memory point table with
//! its vectors and payloads, the durable checkpoint store, filter evaluation and distances.

pub mod error;
pub mod filter;
pub mod wal;

pub use error::{Result, StorageError};
