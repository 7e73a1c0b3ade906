//! Applying update operations to the point table. Application is deterministic: the same
//! operations in the same order give the same table on every replica, and filter selectors are
//! resolved against the table at the operation's place in the order. Filters that match text
//! never reach a record: they are resolved to ids before logging (`resolve.rs`); records logged
//! before that replay with the substring match they were applied with.

use quiver_storage::filter::CompiledFilter;
use quiver_storage::points::{PointTable, StoredPoint};
use quiver_types::PointId;
use quiver_types::json_path::{self, JsonPath};
use quiver_types::ops::{PointSelector, UpdateMode, UpdateOperation};
use quiver_types::point::Payload;

/// Resolves a selector to the ids it names that exist, in id order.
pub(crate) fn select_ids(table: &PointTable, selector: &PointSelector) -> Vec<PointId> {
    match selector {
        PointSelector::Ids(ids) => ids.iter().filter(|id| table.contains(id)).copied().collect(),
        PointSelector::Filter(filter) => match CompiledFilter::compile(filter) {
            Ok(compiled) => table.iter_from(None).filter(|p| compiled.check(p)).map(|p| p.id()).collect(),
            Err(_) => Vec::new(), // filters are validated before the WAL
        },
    }
}

/// An operation on existing points (payload, vector update or deletion: `partial_ids`) naming
/// by id points that do not exist: the operation restricted to the points that exist, and the
/// first missing id. As in Qdrant it is applied to those points and then answered 404; it is
/// logged restricted, so every replica applies exactly what this one did (design record 043).
/// `None` when every named point exists.
pub(crate) fn without_missing(table: &PointTable, op: &UpdateOperation) -> Option<(UpdateOperation, PointId)> {
    let ids = op.partial_ids()?;
    let first_missing = *ids.iter().find(|id| !table.contains(id))?;
    let existing = ids.iter().filter(|id| table.contains(id)).copied().collect();
    Some((op.restricted_to(&existing), first_missing))
}

/// Whether an upsert in `mode` writes the point `id` (`filter`: its `update_filter`).
fn upsert_allowed(table: &PointTable, mode: UpdateMode, filter: Option<&CompiledFilter>, id: &PointId) -> bool {
    match (mode, table.get(id)) {
        (UpdateMode::InsertOnly, Some(_)) | (UpdateMode::UpdateOnly, None) => false,
        (UpdateMode::Upsert | UpdateMode::UpdateOnly, Some(existing)) => filter.is_none_or(|f| f.check(&existing)),
        (UpdateMode::Upsert | UpdateMode::InsertOnly, None) => true,
    }
}

/// [`apply`] of an operation nothing needs afterwards: an upsert's vectors and payloads move
/// into the table instead of being copied.
pub(crate) fn apply_owned(table: &mut PointTable, seq: u64, op: UpdateOperation) {
    let UpdateOperation::Upsert { points, mode, update_filter } = op else {
        return apply(table, seq, &op);
    };
    let filter = update_filter.as_ref().and_then(|f| CompiledFilter::compile(f).ok());
    for point in points {
        if upsert_allowed(table, mode, filter.as_ref(), &point.id) {
            let payload = point.payload.unwrap_or_default();
            table.upsert(StoredPoint { id: point.id, version: seq, vectors: point.vectors, payload });
        }
    }
}

/// Applies `op` as the operation with sequence number `seq` (which becomes the points' version).
pub(crate) fn apply(table: &mut PointTable, seq: u64, op: &UpdateOperation) {
    match op {
        UpdateOperation::Upsert { points, mode, update_filter } => {
            let filter = update_filter.as_ref().and_then(|f| CompiledFilter::compile(f).ok());
            for point in points {
                if upsert_allowed(table, *mode, filter.as_ref(), &point.id) {
                    table.upsert(StoredPoint {
                        id: point.id,
                        version: seq,
                        vectors: point.vectors.clone(),
                        payload: point.payload.clone().unwrap_or_default(),
                    });
                }
            }
        }
        UpdateOperation::Delete { selector } => {
            for id in select_ids(table, selector) {
                table.delete(&id);
            }
        }
        UpdateOperation::SetPayload { payload, selector, key } => {
            let path = key.as_deref().and_then(|k| JsonPath::parse(k).ok());
            for id in select_ids(table, selector) {
                table.update_payload(&id, seq, |current| set_payload(current, payload, path.as_ref()));
            }
        }
        UpdateOperation::OverwritePayload { payload, selector, key } => {
            let path = key.as_deref().and_then(|k| JsonPath::parse(k).ok());
            for id in select_ids(table, selector) {
                table.update_payload(&id, seq, |current| match &path {
                    Some(path) => {
                        json_path::delete(current, path);
                        json_path::set(current, path, payload);
                    }
                    None => *current = payload.clone(),
                });
            }
        }
        UpdateOperation::DeletePayload { keys, selector } => {
            let paths: Vec<JsonPath> = keys.iter().filter_map(|k| JsonPath::parse(k).ok()).collect();
            for id in select_ids(table, selector) {
                table.update_payload(&id, seq, |current| paths.iter().for_each(|p| json_path::delete(current, p)));
            }
        }
        UpdateOperation::ClearPayload { selector } => {
            for id in select_ids(table, selector) {
                table.update_payload(&id, seq, |current| current.clear());
            }
        }
        UpdateOperation::UpdateVectors { points, update_filter } => {
            let filter = update_filter.as_ref().and_then(|f| CompiledFilter::compile(f).ok());
            for point in points {
                let allowed = table.get(&point.id).is_some_and(|p| filter.as_ref().is_none_or(|f| f.check(&p)));
                if allowed {
                    table.update_vectors(&point.id, seq, point.vectors.clone());
                }
            }
        }
        UpdateOperation::DeleteVectors { selector, names } => {
            for id in select_ids(table, selector) {
                table.delete_vectors(&id, seq, names);
            }
        }
    }
}

fn set_payload(current: &mut Payload, payload: &Payload, path: Option<&JsonPath>) {
    match path {
        Some(path) => json_path::set(current, path, payload),
        None => {
            for (k, v) in payload {
                current.insert(k.clone(), v.clone());
            }
        }
    }
}
