//! openraft behind our own module: the type configuration, the persisted log store, the state
//! machine that applies `MetaOperation`s to `ClusterState`, and the network over the p2p
//! transport. Nothing outside this module names openraft types.

// openraft's `StorageError` is large and is the error type its traits require.
#![allow(clippy::result_large_err)]

pub mod log_store;
pub mod network;
pub mod state_machine;

use crate::state::{MetaError, MetaOperation, MetaResponse};
use serde::{Deserialize, Serialize};
use std::io::Cursor;

/// The result of applying one entry, returned to the proposer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaResult(pub Result<MetaResponse, MetaError>);

openraft::declare_raft_types!(
    /// Quiver's Raft types: entries carry `MetaOperation`s; node ids are peer ids.
    pub TypeConfig:
        D = MetaOperation,
        R = MetaResult,
        NodeId = u64,
        Node = openraft::BasicNode,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type StorageError = openraft::StorageError<u64>;

pub(crate) fn io_error(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}
