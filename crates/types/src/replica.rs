//! Replica states of spec §5, serialized exactly as Qdrant writes them.

use serde::{Deserialize, Serialize};

/// The state of one replica of a shard on one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReplicaState {
    Active,
    Dead,
    Partial,
    Initializing,
    Listener,
    PartialSnapshot,
    Recovery,
    Resharding,
    ReshardingScaleDown,
    ActiveRead,
    ManualRecovery,
}

impl ReplicaState {
    /// Whether reads may be served by a replica in this state (spec §5.2).
    pub fn is_readable(self) -> bool {
        match self {
            ReplicaState::Active | ReplicaState::ActiveRead | ReplicaState::ReshardingScaleDown => true,
            ReplicaState::Dead
            | ReplicaState::Partial
            | ReplicaState::Initializing
            | ReplicaState::Listener
            | ReplicaState::PartialSnapshot
            | ReplicaState::Recovery
            | ReplicaState::Resharding
            | ReplicaState::ManualRecovery => false,
        }
    }

    /// Whether a replica in this state is brought up to date from another replica's records or
    /// copy (so that one keeps its WAL, and vector names do not change under it).
    pub fn catches_up(self) -> bool {
        match self {
            ReplicaState::Dead
            | ReplicaState::Partial
            | ReplicaState::PartialSnapshot
            | ReplicaState::Recovery
            | ReplicaState::Resharding
            | ReplicaState::ManualRecovery => true,
            ReplicaState::Active
            | ReplicaState::Listener
            | ReplicaState::Initializing
            | ReplicaState::ReshardingScaleDown
            | ReplicaState::ActiveRead => false,
        }
    }

    /// Whether a coordinator sends normal (non-forced) updates to this replica (spec §5.2).
    pub fn receives_updates(self) -> bool {
        match self {
            ReplicaState::Active
            | ReplicaState::Partial
            | ReplicaState::Initializing
            | ReplicaState::Listener
            | ReplicaState::Resharding
            | ReplicaState::ReshardingScaleDown
            | ReplicaState::ActiveRead => true,
            ReplicaState::Dead
            | ReplicaState::PartialSnapshot
            | ReplicaState::Recovery
            | ReplicaState::ManualRecovery => false,
        }
    }

    /// Whether the replica counts as a healthy copy for `/readyz` (spec §1).
    pub fn is_healthy(self) -> bool {
        match self {
            ReplicaState::Active
            | ReplicaState::Listener
            | ReplicaState::Resharding
            | ReplicaState::ReshardingScaleDown
            | ReplicaState::ManualRecovery => true,
            ReplicaState::Dead
            | ReplicaState::Partial
            | ReplicaState::Initializing
            | ReplicaState::PartialSnapshot
            | ReplicaState::Recovery
            | ReplicaState::ActiveRead => false,
        }
    }

    /// Whether the cluster counts on a replica in this state holding the shard's data already
    /// (a peer whose disk lacks it must report it lost: design record 009 §6).
    pub fn claims_data(self) -> bool {
        match self {
            ReplicaState::Active
            | ReplicaState::Listener
            | ReplicaState::ReshardingScaleDown
            | ReplicaState::ActiveRead => true,
            ReplicaState::Dead
            | ReplicaState::Partial
            | ReplicaState::Initializing
            | ReplicaState::PartialSnapshot
            | ReplicaState::Recovery
            | ReplicaState::Resharding
            | ReplicaState::ManualRecovery => false,
        }
    }
}
