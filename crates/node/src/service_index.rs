//! Payload index definitions (`PUT /collections/{c}/index`, `DELETE …/index/{field}`).
//!
//! The definitions are stored and reported in `payload_schema`; filters are evaluated exactly
//! with or without them (the search-index issue adds the index structures that make them fast).

use crate::error::{NodeError, Result};
use crate::node::Node;
use quiver_cluster::state::MetaOperation;
use quiver_types::filter::{Condition, FieldCondition, Filter, ValuesCount};
use quiver_types::json_path::JsonPath;
use quiver_types::ops::{UpdateResult, UpdateStatus};
use serde_json::Value;

const FIELD_TYPES: [&str; 8] = ["keyword", "integer", "float", "geo", "text", "bool", "datetime", "uuid"];

/// The data type named by a field schema: a bare type name or a params object with `type`.
fn data_type(schema: &Value) -> Result<String> {
    let name = match schema {
        Value::String(s) => s.as_str(),
        Value::Object(map) => map.get("type").and_then(Value::as_str).unwrap_or_default(),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::Array(_) => "",
    };
    match FIELD_TYPES.contains(&name) {
        true => Ok(name.to_string()),
        false => Err(NodeError::BadInput(format!(
            "Unknown field schema `{schema}`: expected one of {}",
            FIELD_TYPES.join(", ")
        ))),
    }
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
        let schema = schema.filter(|s| !s.is_null()).ok_or_else(|| {
            NodeError::BadRequest(format!(
                "Can't auto-detect field type for field {field}: please specify field_schema explicitly"
            ))
        })?;
        data_type(&schema)?;
        let collection = self.resolve(name)?;
        if self.cluster().is_some() {
            let op = MetaOperation::CreatePayloadIndex {
                collection: collection.name().to_string(),
                field: field.to_string(),
                schema,
            };
            self.propose(op, None).await?;
            return Ok(completed(wait));
        }
        collection.set_payload_index(field, Some(schema))?;
        Ok(completed(wait))
    }

    /// Removes the payload index definition of `field`.
    pub async fn delete_field_index(&self, name: &str, field: &str, wait: bool) -> Result<UpdateResult> {
        let collection = self.resolve(name)?;
        if self.cluster().is_some() {
            let op =
                MetaOperation::DropPayloadIndex { collection: collection.name().to_string(), field: field.to_string() };
            self.propose(op, None).await?;
            return Ok(completed(wait));
        }
        collection.set_payload_index(field, None)?;
        Ok(completed(wait))
    }

    /// `payload_schema` of the collection info: data type, params and points with a value.
    pub(crate) async fn payload_schema(&self, name: &str) -> Result<serde_json::Map<String, Value>> {
        let collection = self.resolve(name)?;
        let mut out = serde_json::Map::new();
        for (field, schema) in collection.payload_index() {
            let points = collection.count(Some(has_values(&field)), None).await?;
            let mut entry = serde_json::json!({"data_type": data_type(&schema)?, "points": points});
            if schema.is_object() {
                entry["params"] = schema.clone();
            }
            out.insert(field, entry);
        }
        Ok(out)
    }
}

fn completed(wait: bool) -> UpdateResult {
    let status = if wait { UpdateStatus::Completed } else { UpdateStatus::Acknowledged };
    UpdateResult { operation_id: None, status }
}
