//! The control plane: Raft (openraft, behind `raft/`) replicating the cluster metadata state
//! machine (`state`: peers, collections, placement, replica states, transfers, aliases, metadata
//! keys), proposing operations and awaiting their application (`consensus`).

pub mod consensus;
pub mod contact;
pub mod error;
mod membership;
mod peer_status;
pub mod planner;
pub mod raft;
mod removal;
pub mod state;

pub use consensus::{Consensus, ConsensusConfig, PeerStatus, RaftInfo};
pub use error::ClusterError;
pub use raft::state_machine::AppliedState;
