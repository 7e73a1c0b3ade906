//! The data plane of one collection: routing points to shards by consistent hashing (one ring
//! per shard key with custom sharding), validating and preparing operations against the
//! collection's configuration, fanning writes and reads out to each shard's replica set, and
//! merging per-shard results; the replication metrics (lag, confirmations, digest comparisons).

mod catch_up;
mod cleanup;
mod collection;
pub mod context;
mod digest_check;
pub mod error;
pub mod hash_ring;
mod info;
pub mod local_files;
pub mod metrics;
pub mod progress;
mod read;
pub mod remote;
mod replica_read;
pub mod replica_set;
pub mod replication;
pub mod retry;
pub mod routing;
mod serve;
mod shard_reads;
#[cfg(test)]
mod tests_confirm;
#[cfg(test)]
mod tests_digest_check;
#[cfg(test)]
mod tests_info;
#[cfg(test)]
mod tests_inline;
#[cfg(test)]
mod tests_snapshot_transfer;
pub mod transfer;

pub use progress::TransferProgress;
pub mod validate;

pub use cleanup::CleanTarget;
pub use collection::{Collection, SearchRequest, write_atomic};
pub use error::CollectionError;
pub use info::CollectionCounts;
pub use quiver_shard::ScrollPage;
pub use shard_reads::RingFilter;

pub use quiver_shard::TextAnalyzer;
/// Shard-level items the node uses for snapshots (DESIGN §2: `node` depends on `collection`,
/// not on `shard`).
pub use quiver_shard::{LocalShard, ShardError, commit_staging_in, verify_snapshot};
pub use replica_read::with_read_consistency;
pub use serve::{INLINE_READ_BUDGET, with_inline_reads};
