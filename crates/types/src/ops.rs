//! Update operations on points: the shard-level vocabulary the WAL records and replicas apply.

use crate::PointId;
use crate::filter::Filter;
use crate::point::{NamedVectors, Payload, PointStruct};
use serde::{Deserialize, Serialize};

/// Which points an operation touches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PointSelector {
    Ids(Vec<PointId>),
    Filter(Filter),
}

/// How an upsert treats existing and missing points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateMode {
    #[default]
    Upsert,
    InsertOnly,
    UpdateOnly,
}

/// One point's new vectors for `UpdateVectors`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointVectors {
    pub id: PointId,
    pub vectors: NamedVectors,
}

/// A write to the points of one shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum UpdateOperation {
    Upsert { points: Vec<PointStruct>, mode: UpdateMode, update_filter: Option<Filter> },
    Delete { selector: PointSelector },
    SetPayload { payload: Payload, selector: PointSelector, key: Option<String> },
    OverwritePayload { payload: Payload, selector: PointSelector, key: Option<String> },
    DeletePayload { keys: Vec<String>, selector: PointSelector },
    ClearPayload { selector: PointSelector },
    UpdateVectors { points: Vec<PointVectors>, update_filter: Option<Filter> },
    DeleteVectors { selector: PointSelector, names: Vec<String> },
}

impl UpdateOperation {
    /// The vector names the operation writes or deletes.
    pub fn vector_names(&self) -> std::collections::BTreeSet<&str> {
        match self {
            UpdateOperation::Upsert { points, .. } => {
                points.iter().flat_map(|p| p.vectors.keys()).map(String::as_str).collect()
            }
            UpdateOperation::UpdateVectors { points, .. } => {
                points.iter().flat_map(|p| p.vectors.keys()).map(String::as_str).collect()
            }
            UpdateOperation::DeleteVectors { names, .. } => names.iter().map(String::as_str).collect(),
            UpdateOperation::Delete { .. }
            | UpdateOperation::SetPayload { .. }
            | UpdateOperation::OverwritePayload { .. }
            | UpdateOperation::DeletePayload { .. }
            | UpdateOperation::ClearPayload { .. } => std::collections::BTreeSet::new(),
        }
    }

    /// The ids the operation names, if it selects by id (filter-based operations go to every shard).
    pub fn point_ids(&self) -> Option<Vec<PointId>> {
        match self {
            UpdateOperation::Upsert { points, .. } => Some(points.iter().map(|p| p.id).collect()),
            UpdateOperation::UpdateVectors { points, .. } => Some(points.iter().map(|p| p.id).collect()),
            UpdateOperation::Delete { selector }
            | UpdateOperation::SetPayload { selector, .. }
            | UpdateOperation::OverwritePayload { selector, .. }
            | UpdateOperation::DeletePayload { selector, .. }
            | UpdateOperation::ClearPayload { selector }
            | UpdateOperation::DeleteVectors { selector, .. } => match selector {
                PointSelector::Ids(ids) => Some(ids.clone()),
                PointSelector::Filter(_) => None,
            },
        }
    }

    /// Whether the operation may add data (upserts, vector updates, payload sets): the size and
    /// memory limits and the write lock apply to these; deletions and clears never add.
    pub fn adds_data(&self) -> bool {
        match self {
            UpdateOperation::Upsert { .. }
            | UpdateOperation::UpdateVectors { .. }
            | UpdateOperation::SetPayload { .. }
            | UpdateOperation::OverwritePayload { .. } => true,
            UpdateOperation::Delete { .. }
            | UpdateOperation::DeleteVectors { .. }
            | UpdateOperation::DeletePayload { .. }
            | UpdateOperation::ClearPayload { .. } => false,
        }
    }

    /// The ids an operation that changes existing points names, in the client's order: payload
    /// operations (set, overwrite, delete, clear) and vector updates and deletions, which Qdrant
    /// applies to the named points that exist and then answers 404 for a missing one (design
    /// record 043). `None` for one selecting by filter, and for upserts and point deletions.
    pub fn partial_ids(&self) -> Option<Vec<PointId>> {
        match self {
            UpdateOperation::SetPayload { selector: PointSelector::Ids(ids), .. }
            | UpdateOperation::OverwritePayload { selector: PointSelector::Ids(ids), .. }
            | UpdateOperation::DeletePayload { selector: PointSelector::Ids(ids), .. }
            | UpdateOperation::ClearPayload { selector: PointSelector::Ids(ids) }
            | UpdateOperation::DeleteVectors { selector: PointSelector::Ids(ids), .. } => Some(ids.clone()),
            UpdateOperation::UpdateVectors { points, .. } => Some(points.iter().map(|p| p.id).collect()),
            UpdateOperation::SetPayload { selector: PointSelector::Filter(_), .. }
            | UpdateOperation::OverwritePayload { selector: PointSelector::Filter(_), .. }
            | UpdateOperation::DeletePayload { selector: PointSelector::Filter(_), .. }
            | UpdateOperation::ClearPayload { selector: PointSelector::Filter(_) }
            | UpdateOperation::DeleteVectors { selector: PointSelector::Filter(_), .. }
            | UpdateOperation::Upsert { .. }
            | UpdateOperation::Delete { .. } => None,
        }
    }

    /// The same operation restricted to `ids` (used to split an id-based operation by shard).
    pub fn restricted_to(&self, ids: &std::collections::HashSet<PointId>) -> UpdateOperation {
        let keep = |sel: &PointSelector| match sel {
            PointSelector::Ids(v) => PointSelector::Ids(v.iter().filter(|i| ids.contains(i)).copied().collect()),
            PointSelector::Filter(f) => PointSelector::Filter(f.clone()),
        };
        match self {
            UpdateOperation::Upsert { points, mode, update_filter } => UpdateOperation::Upsert {
                points: points.iter().filter(|p| ids.contains(&p.id)).cloned().collect(),
                mode: *mode,
                update_filter: update_filter.clone(),
            },
            UpdateOperation::UpdateVectors { points, update_filter } => UpdateOperation::UpdateVectors {
                points: points.iter().filter(|p| ids.contains(&p.id)).cloned().collect(),
                update_filter: update_filter.clone(),
            },
            UpdateOperation::Delete { selector } => UpdateOperation::Delete { selector: keep(selector) },
            UpdateOperation::SetPayload { payload, selector, key } => {
                UpdateOperation::SetPayload { payload: payload.clone(), selector: keep(selector), key: key.clone() }
            }
            UpdateOperation::OverwritePayload { payload, selector, key } => UpdateOperation::OverwritePayload {
                payload: payload.clone(),
                selector: keep(selector),
                key: key.clone(),
            },
            UpdateOperation::DeletePayload { keys, selector } => {
                UpdateOperation::DeletePayload { keys: keys.clone(), selector: keep(selector) }
            }
            UpdateOperation::ClearPayload { selector } => UpdateOperation::ClearPayload { selector: keep(selector) },
            UpdateOperation::DeleteVectors { selector, names } => {
                UpdateOperation::DeleteVectors { selector: keep(selector), names: names.clone() }
            }
        }
    }
}

/// Whether an update was only logged or also applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateStatus {
    Acknowledged,
    Completed,
    WaitTimeout,
}

/// What a write returns: the operation's sequence number and its status. Inside the cluster
/// `operation_id` is the shard's sequence number (from 1); a client is shown
/// [`client_operation_id`] of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateResult {
    pub operation_id: Option<u64>,
    pub status: UpdateStatus,
    /// A payload operation that named points which do not exist is applied to the others and
    /// then answered 404 for the first missing one (as Qdrant does): that id, from the shard
    /// that ordered the operation to the collection that answers the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_point: Option<PointId>,
}

/// The operation id a client sees for the shard's sequence number `seq`: Qdrant numbers a
/// shard's operations from 0 (a fresh collection's first upsert answers `operation_id: 0`), ours
/// start at 1 (0 stands for "nothing applied"). Sequence number 0 shows as 0 too.
pub fn client_operation_id(seq: u64) -> u64 {
    seq.saturating_sub(1)
}
