//! One local replica of a shard: writes are logged to the WAL in sequence order, applied to the
//! in-memory point table, and checkpointed to a durable store; reads (search, scroll, count,
//! retrieve) run against the table.

mod apply;
pub mod error;
mod facet;
mod indexer;
mod read;
mod replica;
mod resolve;
mod search;
mod search_custom;
mod search_multi;
mod shard;
mod snapshot;
mod staged;
#[cfg(test)]
mod tests_multi;
#[cfg(test)]
mod tests_resolve;
#[cfg(test)]
mod tests_search;
#[cfg(test)]
mod tests_vectors;

pub use error::ShardError;
pub use indexer::IndexConfig;
pub use read::ScrollPage;
pub use replica::ApplyOutcome;
pub use search::SearchPlan;
pub use shard::{IndexStatus, LocalShard, MemoryReport, ShardConfig};
pub use snapshot::{SnapshotInfo, read_snapshot};
pub use staged::commit_staging_in;

/// Storage-level items the layers above use through this crate (DESIGN §2: `collection`
/// depends on `shard`, not on `storage`).
pub use quiver_storage::distance;
pub use quiver_storage::filter::validate_filter;
pub use quiver_storage::points::StoredPoint;
pub use quiver_storage::vectors::{self, VectorSpec};
