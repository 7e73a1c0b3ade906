//! `memory`: where a component's data is held (Qdrant 1.19's memory tiers). Quiver keeps the
//! placement given for vectors, graphs, quantized vectors, sparse and payload indexes and payload
//! storage, checks it, and shows it back.

use serde::{Deserialize, Serialize};

/// Memory placement of a component's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Memory {
    Cold,
    Cached,
    Pinned,
}
