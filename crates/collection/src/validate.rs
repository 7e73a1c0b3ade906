//! Checks operations and queries against a collection's configuration before they reach a WAL,
//! and prepares them (Cosine vectors normalised, sparse indices sorted), so every replica applies
//! exactly the same, valid operation.

use crate::error::{CollectionError, Result};
use quiver_shard::distance::normalize;
use quiver_shard::validate_filter;
use quiver_shard::vectors::quantize;
use quiver_types::PointId;
use quiver_types::config::{CollectionConfig, Datatype, Distance, VectorParams};
use quiver_types::filter::Filter;
use quiver_types::index_params::FieldSchema;
use quiver_types::json_path::JsonPath;
use quiver_types::ops::{PointSelector, UpdateOperation};
use quiver_types::point::{NamedVectors, SparseVector, Vector};
use quiver_types::query::{OrderBy, QueryVector, WithPayload, WithVector};
use std::collections::BTreeMap;

fn bad(msg: impl Into<String>) -> CollectionError {
    CollectionError::BadInput(msg.into())
}

fn dimension_error(expected: u64, got: usize) -> CollectionError {
    bad(format!("Vector dimension error: expected dim: {expected}, got {got}"))
}

fn missing_vector(name: &str) -> CollectionError {
    bad(format!("Not existing vector name error: {name}"))
}

/// Checks one dense vector (or one vector of a multivector) and stores in it what its column
/// will hold: normalised for Cosine (except `uint8`, compared unnormalised), then converted to
/// the column's `datatype`.
fn prepare_dense(params: &VectorParams, values: &mut [f32]) -> Result<()> {
    if values.len() as u64 != params.size {
        return Err(dimension_error(params.size, values.len()));
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err(bad("Vector contains non-finite values"));
    }
    let datatype = params.datatype.unwrap_or_default();
    if params.distance == Distance::Cosine && datatype != Datatype::Uint8 {
        normalize(values);
    }
    quantize(datatype, values);
    Ok(())
}

fn prepare_multi(name: &str, params: &VectorParams, vectors: &mut [Vec<f32>]) -> Result<()> {
    if params.multivector_config.is_none() {
        return Err(bad(format!("vector `{name}` is not a multivector: expected one vector")));
    }
    if vectors.is_empty() {
        return Err(bad(format!("multivector `{name}` must hold at least one vector")));
    }
    vectors.iter_mut().try_for_each(|v| prepare_dense(params, v))
}

fn prepare_sparse(config: &CollectionConfig, name: &str, sparse: &mut SparseVector) -> Result<()> {
    if !config.params.sparse_vectors.contains_key(name) {
        return Err(missing_vector(name));
    }
    sparse.validate()?;
    *sparse = sparse.sorted();
    Ok(())
}

fn dense_params<'c>(config: &'c CollectionConfig, name: &str) -> Result<&'c VectorParams> {
    config.params.vectors.get(name).ok_or_else(|| missing_vector(name))
}

/// Checks and prepares one point's vectors.
pub fn prepare_vectors(config: &CollectionConfig, vectors: &mut NamedVectors) -> Result<()> {
    for (name, vector) in vectors.iter_mut() {
        match vector {
            Vector::Dense(values) => {
                let params = dense_params(config, name)?;
                if params.multivector_config.is_some() && !values.is_empty() {
                    // As Qdrant: one plain vector given for a multivector is a multivector of one.
                    let mut rows = vec![std::mem::take(values)];
                    prepare_multi(name, params, &mut rows)?;
                    *vector = Vector::Multi(rows);
                    continue;
                }
                prepare_dense(params, values)?;
            }
            Vector::Multi(vectors) => prepare_multi(name, dense_params(config, name)?, vectors)?,
            Vector::Sparse(sparse) => prepare_sparse(config, name, sparse)?,
        }
    }
    Ok(())
}

/// Checks and prepares an example or query vector for the vector `name`: a plain vector may
/// query a multivector (as a multivector of one vector).
fn prepare_example(config: &CollectionConfig, name: &str, vector: &mut Vector) -> Result<()> {
    match vector {
        Vector::Dense(values) => prepare_dense(dense_params(config, name)?, values),
        Vector::Multi(vectors) => prepare_multi(name, dense_params(config, name)?, vectors),
        Vector::Sparse(sparse) => prepare_sparse(config, name, sparse),
    }
}

fn check_filter(filter: Option<&Filter>) -> Result<()> {
    match filter {
        Some(f) => Ok(validate_filter(f)?),
        None => Ok(()),
    }
}

fn check_selector(selector: &PointSelector) -> Result<()> {
    match selector {
        PointSelector::Ids(_) => Ok(()),
        PointSelector::Filter(f) => check_filter(Some(f)),
    }
}

fn check_vector_names(config: &CollectionConfig, names: &[String]) -> Result<()> {
    for name in names {
        if config.params.vectors.get(name).is_none() && !config.params.sparse_vectors.contains_key(name) {
            return Err(missing_vector(name));
        }
    }
    Ok(())
}

/// The checks of `op` that need no collection config: its filters and key paths. Qdrant makes
/// them while reading the request body, so a batch with one such fault is refused whole, before
/// any of its operations runs.
pub fn check_operation_shape(op: &UpdateOperation) -> Result<()> {
    match op {
        UpdateOperation::Upsert { points, update_filter, .. } => {
            check_filter(update_filter.as_ref())?;
            points.iter().enumerate().try_for_each(|(i, p)| check_vector_shapes(i, &p.vectors))
        }
        UpdateOperation::UpdateVectors { points, update_filter } => {
            check_filter(update_filter.as_ref())?;
            points.iter().enumerate().try_for_each(|(i, p)| check_vector_shapes(i, &p.vectors))
        }
        UpdateOperation::Delete { selector }
        | UpdateOperation::ClearPayload { selector }
        | UpdateOperation::DeleteVectors { selector, .. } => check_selector(selector),
        UpdateOperation::SetPayload { selector, key, .. } | UpdateOperation::OverwritePayload { selector, key, .. } => {
            if let Some(key) = key {
                JsonPath::parse(key)?;
            }
            check_selector(selector)
        }
        UpdateOperation::DeletePayload { keys, selector } => {
            keys.iter().try_for_each(|k| JsonPath::parse(k).map(|_| ()))?;
            check_selector(selector)
        }
    }
}

/// The shape faults of the `point`-th point's vectors that Qdrant's body validation refuses
/// (422): sparse vectors whose indices and values disagree in length or repeat an index, and
/// multivectors holding an empty vector or vectors of different dimensions.
fn check_vector_shapes(point: usize, vectors: &NamedVectors) -> Result<()> {
    vectors.iter().try_for_each(|(_, vector)| match vector {
        Vector::Sparse(sparse) => Ok(sparse.validate_at(&format!("points[{point}].vector.?"))?),
        Vector::Multi(rows) => check_multi_shape(point, rows),
        Vector::Dense(_) => Ok(()),
    })
}

fn check_multi_shape(point: usize, rows: &[Vec<f32>]) -> Result<()> {
    let invalid = |issue: String| CollectionError::Validation(format!("points[{point}].vector.?.data: {issue}"));
    if rows.iter().any(|row| row.is_empty()) {
        return Err(invalid("all vectors must be non-empty".into()));
    }
    let expected = rows.first().map_or(0, Vec::len);
    match rows.iter().position(|row| row.len() != expected) {
        Some(at) => Err(invalid(format!(
            "all vectors must have the same dimension, found vector with dimension {} at position {at}, expected {expected}",
            rows[at].len()
        ))),
        None => Ok(()),
    }
}

/// Validates `op` against `config` and prepares its vectors.
pub fn prepare_operation(config: &CollectionConfig, op: &mut UpdateOperation) -> Result<()> {
    check_operation_shape(op)?;
    match op {
        UpdateOperation::Upsert { points, .. } => {
            points.iter_mut().try_for_each(|p| prepare_vectors(config, &mut p.vectors))
        }
        UpdateOperation::UpdateVectors { points, .. } => {
            points.iter_mut().try_for_each(|p| prepare_vectors(config, &mut p.vectors))
        }
        UpdateOperation::DeleteVectors { names, .. } => check_vector_names(config, names),
        UpdateOperation::Delete { .. }
        | UpdateOperation::ClearPayload { .. }
        | UpdateOperation::SetPayload { .. }
        | UpdateOperation::OverwritePayload { .. }
        | UpdateOperation::DeletePayload { .. } => Ok(()),
    }
}

/// Validates a query for the vector `name` and prepares it as the column compares it.
pub fn prepare_query(config: &CollectionConfig, name: &str, query: &mut QueryVector) -> Result<()> {
    match query {
        QueryVector::Dense(values) => prepare_dense(dense_params(config, name)?, values),
        QueryVector::Multi(vectors) => prepare_multi(name, dense_params(config, name)?, vectors),
        QueryVector::Sparse(sparse) => prepare_sparse(config, name, sparse),
        QueryVector::Custom(custom) => {
            custom.examples_mut().into_iter().try_for_each(|example| prepare_example(config, name, example))
        }
        QueryVector::Random { .. } => Ok(()),
    }
}

/// Refuses a vector selector (`with_vector: ["name", …]`) naming a vector the collection does
/// not have, as Qdrant does, instead of answering without it.
pub fn check_with_vector(config: &CollectionConfig, with_vector: &WithVector) -> Result<()> {
    match with_vector {
        WithVector::Bool(_) => Ok(()),
        WithVector::Names(names) => {
            let known = |name: &String| {
                config.params.vectors.get(name).is_some() || config.params.sparse_vectors.contains_key(name)
            };
            names.iter().find(|name| !known(name)).map_or(Ok(()), |name| Err(missing_vector(name)))
        }
    }
}

/// Refuses a payload selector (`with_payload: ["a.b"]`, `{include}`, `{exclude}`) with a key
/// that is not a valid path, as Qdrant's typed paths do, instead of answering with a payload
/// the bad key silently matched nothing of.
pub fn check_with_payload(with_payload: &WithPayload) -> Result<()> {
    Ok(quiver_types::json_path::check_selector(with_payload)?)
}

/// Validates a read filter.
pub fn prepare_filter(filter: Option<&Filter>) -> Result<()> {
    check_filter(filter)
}

/// Checks that `order_by` names a field with a range-capable payload index (`integer` with
/// `range`, `float`, `datetime`), as Qdrant requires: ordering by any other field is refused
/// instead of answering an empty or unindexed page.
pub fn check_order_by(payload_index: &BTreeMap<String, serde_json::Value>, order_by: &OrderBy) -> Result<()> {
    let key = JsonPath::parse(&order_by.key)?;
    let has_range_index = payload_index.iter().any(|(field, schema)| {
        JsonPath::parse(field).is_ok_and(|f| f == key) && FieldSchema::parse(schema).is_ok_and(|s| s.has_range_index())
    });
    if has_range_index {
        return Ok(());
    }
    Err(bad(format!(
        "No range index for `order_by` key: `{}`. Please create one to use `order_by`. Check \
         https://qdrant.tech/documentation/concepts/indexing/#payload-index to see which payload schemas support \
         Range conditions",
        order_by.key
    )))
}

/// Qdrant refuses a scroll that pages by an id `offset` while ordering by a payload field:
/// the pages of `order_by` are walked with `order_by.start_from` instead.
pub fn check_no_offset_with_order_by(offset: Option<&PointId>) -> Result<()> {
    match offset {
        None => Ok(()),
        Some(_) => Err(bad("Cannot use an `offset` when using `order_by`. The alternative for paging is to use \
             `order_by.start_from` and a filter to exclude the IDs that you've already seen for the \
             `order_by.start_from` value")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order_by(key: &str) -> OrderBy {
        OrderBy { key: key.to_string(), direction: None, start_from: None }
    }

    #[test]
    fn order_by_needs_a_range_index_on_its_key() {
        let index: BTreeMap<String, serde_json::Value> = [
            ("n".to_string(), json!("integer")),
            ("lookup_only".to_string(), json!({"type": "integer", "range": false})),
            ("f".to_string(), json!({"type": "float", "on_disk": true})),
            ("dt".to_string(), json!("datetime")),
            ("s".to_string(), json!("keyword")),
            ("nested.x".to_string(), json!("integer")),
        ]
        .into_iter()
        .collect();
        for key in ["n", "f", "dt", "nested.x"] {
            assert!(check_order_by(&index, &order_by(key)).is_ok(), "{key}");
        }
        for key in ["s", "lookup_only", "unindexed", "nested"] {
            let err = check_order_by(&index, &order_by(key)).unwrap_err().to_string();
            assert!(err.contains(&format!("No range index for `order_by` key: `{key}`.")), "{err}");
        }
    }
}
