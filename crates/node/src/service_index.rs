//! Payload index definitions (`PUT /collections/{c}/index`, `DELETE …/index/{field}`).
//!
//! The definitions (a type name or Qdrant's `field_index_params`, validated strictly) are
//! stored and reported in `payload_schema`; each shard builds the index structures from them,
//! and a text index's tokenizer settings decide how `text`/`phrase` conditions match.

use crate::error::{NodeError, Result};
use crate::node::Node;
use quiver_cluster::state::MetaOperation;
use quiver_types::filter::{Condition, FieldCondition, Filter, ValuesCount};
use quiver_types::index_params::FieldSchema;
use quiver_types::json_path::JsonPath;
use quiver_types::ops::{UpdateResult, UpdateStatus};
use serde_json::Value;

/// The validated field schema, as stored: the type name, or the params object with only the
/// parameters the client set.
fn normalised(schema: &Value) -> Result<(FieldSchema, Value)> {
    let parsed = FieldSchema::parse(schema)?;
    let stored = serde_json::to_value(&parsed).map_err(|e| NodeError::Service(e.to_string()))?;
    Ok((parsed, stored))
}

fn has_values(field: &str) -> Filter {
    let condition = FieldCondition {
        key: field.to_string(),
        r#match: None,
        range: None,
        geo_bounding_box: None,
        geo_radius: None,
        geo_polygon: None,
        values_count: Some(ValuesCount { gte: Some(1), ..ValuesCount::default() }),
        is_empty: None,
        is_null: None,
    };
    Filter { must: Some(vec![Condition::Field(condition)]), ..Filter::default() }
}

impl Node {
    /// Defines a payload index on `field`.
    pub async fn create_field_index(
        &self,
        name: &str,
        field: &str,
        schema: Option<Value>,
        wait: bool,
    ) -> Result<UpdateResult> {
        JsonPath::parse(field)?;
        let collection = self.resolve(name)?;
        let schema = schema.filter(|s| !s.is_null()).ok_or_else(|| {
            NodeError::BadRequest("Can't auto-detect field type, please specify `field_schema` in the request".into())
        })?;
        let (_, schema) = normalised(&schema)?;
        self.check_new_index(&collection, field)?;
        if self.cluster().is_some() {
            let op = MetaOperation::CreatePayloadIndex {
                collection: collection.name().to_string(),
                field: field.to_string(),
                schema,
            };
            self.propose(op, None).await?;
            return Ok(completed(wait, &collection));
        }
        collection.set_payload_index(field, Some(schema))?;
        Ok(completed(wait, &collection))
    }

    /// Removes the payload index definition of `field`.
    pub async fn delete_field_index(&self, name: &str, field: &str, wait: bool) -> Result<UpdateResult> {
        let collection = self.resolve(name)?;
        if self.cluster().is_some() {
            let op =
                MetaOperation::DropPayloadIndex { collection: collection.name().to_string(), field: field.to_string() };
            self.propose(op, None).await?;
            return Ok(completed(wait, &collection));
        }
        collection.set_payload_index(field, None)?;
        Ok(completed(wait, &collection))
    }

    /// `payload_schema` of the collection info: data type, params and points with a value.
    pub(crate) async fn payload_schema(&self, name: &str) -> Result<serde_json::Map<String, Value>> {
        let collection = self.resolve(name)?;
        let mut out = serde_json::Map::new();
        for (field, schema) in collection.payload_index() {
            let points = collection.count(Some(has_values(&field)), None).await?;
            let (parsed, _) = normalised(&schema)?;
            let mut entry = serde_json::json!({"data_type": parsed.data_type().as_str(), "points": points});
            if schema.is_object() {
                entry["params"] = schema.clone();
            }
            out.insert(field, entry);
        }
        Ok(out)
    }
}

/// The answer to an index change: as in Qdrant, an operation id (here that of the last write the
/// changed definitions cover, see [`quiver_collection::Collection::applied_seq`]).
fn completed(wait: bool, collection: &quiver_collection::Collection) -> UpdateResult {
    let status = if wait { UpdateStatus::Completed } else { UpdateStatus::Acknowledged };
    let operation_id = quiver_types::ops::client_operation_id(collection.applied_seq());
    UpdateResult { operation_id: Some(operation_id), status, missing_point: None }
}
