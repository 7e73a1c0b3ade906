//! Quiver's domain vocabulary: point ids, vectors, payloads, filters, update operations,
//! read requests, collection configuration, replica states and shard keys. No IO, no async, no
//! wire frameworks; the serde forms of these types are the JSON shapes Qdrant clients send.

pub mod cluster;
pub mod config;
pub mod config_ranges;
pub mod error;
pub mod filter;
pub mod ids;
pub mod index_params;
pub mod json_path;
pub mod memory;
pub mod ops;
pub mod point;
mod point_serde;
pub mod quantization;
pub mod query;
pub mod replica;
pub mod retry;
pub mod shard_key;
pub mod strict_mode;
pub mod validation;
pub mod vector_name;

pub use error::TypesError;
pub use ids::{PeerId, PointId, SeqNo, ShardId};
pub use point::{Payload, Record, ScoredPoint, SparseVector, Vector, VectorStruct};
