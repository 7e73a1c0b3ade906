//! One local replica of a shard: writes are logged to the WAL in sequence order, applied to the
//! in-memory point table, and checkpointed to a durable store; reads (search, scroll, count,
//! retrieve) run against the table.

mod apply;
pub mod error;
mod facet;
mod graphs;
mod history;
mod index_config;
mod indexer;
mod install;
mod install_writer;
mod open;
mod read;
mod read_now;
mod record;
mod replacing;
mod replica;
mod resolve;
mod search;
mod search_custom;
mod search_multi;
mod shard;
mod snapshot;
mod snapshot_stream;
mod staged;
mod tenants;
#[cfg(test)]
mod tests_binary_bits;
#[cfg(test)]
mod tests_digest;
#[cfg(test)]
mod tests_frozen_saved;
#[cfg(test)]
mod tests_graphs;
#[cfg(test)]
mod tests_multi;
#[cfg(test)]
mod tests_on_disk;
#[cfg(test)]
mod tests_on_disk_payload;
#[cfg(test)]
mod tests_product;
#[cfg(test)]
mod tests_quantized;
#[cfg(test)]
mod tests_read_now;
#[cfg(test)]
mod tests_rebuild;
#[cfg(test)]
mod tests_resolve;
#[cfg(test)]
mod tests_search;
#[cfg(test)]
mod tests_tenants;
#[cfg(test)]
mod tests_transfer;
#[cfg(test)]
mod tests_update;
#[cfg(test)]
mod tests_vectors;

pub use error::ShardError;
pub use history::{ApplyOutcome, Tenure};
pub use index_config::IndexConfig;
pub use indexer::LockHolds;
pub use install::ShardInstall;
pub use read::ScrollPage;
pub use read_now::ReadNow;
pub use record::LoggedRecord;
pub use search::SearchPlan;
pub use shard::{IndexStatus, LocalShard, MemoryReport, ShardConfig};
pub use snapshot::{SnapshotDecoder, SnapshotFormat, SnapshotInfo, SnapshotRestore, verify_snapshot};
pub use snapshot_stream::{SnapshotStream, StreamLimits};
pub use staged::commit_staging_in;

/// Storage-level items the layers above use through this crate (DESIGN §2: `collection`
/// depends on `shard`, not on `storage`).
pub use quiver_storage::distance;
pub use quiver_storage::filter::validate_filter;
pub use quiver_storage::frames::encode_points as encode_point_frame;
pub use quiver_storage::points::StoredPoint;
pub use quiver_storage::quantized::{BinaryEncoding, QuantizationKind};
pub use quiver_storage::text::TextAnalyzer;
pub use quiver_storage::vectors::{self, VectorSpec};
