//! One peer: the registry of collections and aliases on disk, the background checkpointer, and
//! one service function per API operation, which both the REST and gRPC handlers call.

mod aliases;
pub mod cluster_mode;
pub mod config;
mod data_plane;
pub mod error;
mod health;
pub mod info;
mod node;
mod reconcile;
pub mod service;
mod service_cluster;
mod service_collections;
mod service_index;
mod service_points;
mod service_query;

pub use config::NodeConfig;
pub use error::NodeError;
pub use node::Node;
pub use service_collections::AliasAction;
