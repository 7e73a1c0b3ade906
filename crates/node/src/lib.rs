//! One peer: the registry of collections and aliases, the background checkpointer, cluster mode
//! (the consensus handle, the reconciler that applies committed metadata locally, health checks,
//! and the data plane's ports over p2p and consensus), and one service function per API
//! operation (shard keys of custom sharding among them), which both the REST and gRPC handlers
//! call; the counters behind its metrics.

mod aliases;
pub mod cluster_context;
pub mod cluster_map;
pub mod cluster_mode;
mod cluster_start;
pub mod cluster_telemetry;
mod collection_name;
pub mod config;
mod creating;
mod data_plane;
pub mod error;
mod handoff;
mod health;
pub mod info;
mod init_from;
mod issues;
mod keeper;
mod keyed;
mod locks;
mod lost;
mod node;
mod open;
mod optimizations;
mod query_examples;
mod query_formula;
mod query_fusion;
mod query_plan;
mod query_refs;
mod query_request;
mod reconcile;
mod recovery;
mod registers;
pub mod service;
mod service_cluster;
mod service_collections;
mod service_facet;
mod service_groups;
mod service_index;
mod service_local_shard;
mod service_matrix;
mod service_points;
mod service_query;
mod service_replicate_points;
mod service_shard_keys;
mod service_transfers;
mod service_vectors;
mod snapshot_archive;
mod snapshot_cluster;
mod snapshot_fetch;
pub mod snapshot_recovery;
mod snapshot_startup;
pub mod snapshots;
mod snapshots_shard;
mod strict;
mod strict_sizes;
pub mod telemetry;

pub use cluster_start::ClusterStart;
pub use config::NodeConfig;
pub use error::NodeError;
pub use issues::UNINDEXED_FIELD_MIN_POINTS;
pub use keeper::DrainStatus;
pub use node::Node;
pub use quiver_collection::TextAnalyzer;
pub use registers::Locks;
pub use service_collections::AliasAction;
pub use service_facet::FacetParams;
pub use service_matrix::{DistanceMatrix, MatrixPair, MatrixRequest};
pub use snapshot_recovery::{SnapshotPriority, SnapshotSource};
pub use snapshot_startup::{PreparedRestore, StartupSnapshots, parse_snapshot_arg};
pub use snapshots::{SnapshotDescription, Staging};
