//! One local replica of a shard: writes are logged to the WAL in sequence order, applied to the
//! in-memory point table, and checkpointed to a durable store; reads (search, scroll, count,
//! retrieve) run against the table.

mod apply;
pub mod error;
mod read;
mod replica;
mod shard;
mod snapshot;

pub use error::ShardError;
pub use read::ScrollPage;
pub use replica::ApplyOutcome;
pub use shard::{LocalShard, ShardConfig};
pub use snapshot::{SnapshotInfo, read_snapshot};
