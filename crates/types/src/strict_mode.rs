//! A collection's `strict_mode_config`: the limits Qdrant's strict mode puts on requests, and
//! the texts of its refusals. Parsed strictly; limits Quiver does not enforce are refused by
//! name when a collection is created or updated, never stored silently.

use serde::{Deserialize, Serialize};

/// The limits of strict mode (applied only with `enabled: true`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrictModeConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_query_limit: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_timeout: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unindexed_filtering_retrieve: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unindexed_filtering_update: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_max_hnsw_ef: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_allow_exact: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_max_oversampling: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upsert_max_batchsize: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_max_batchsize: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_collection_vector_size_bytes: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_rate_limit: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_rate_limit: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_collection_payload_size_bytes: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_max_conditions: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition_max_size: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multivector_config: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sparse_config: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_points_count: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_payload_index_count: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_resident_memory_percent: Option<usize>,
}

impl StrictModeConfig {
    /// Parses a requested or stored config; unknown keys, bad values and limits Quiver does
    /// not enforce are errors (`BadInput`).
    pub fn parse(value: &serde_json::Value) -> Result<StrictModeConfig, crate::TypesError> {
        let config: StrictModeConfig = serde_json::from_value(value.clone())
            .map_err(|e| crate::TypesError::BadInput(format!("Invalid strict_mode_config: {e}")))?;
        let unsupported = [
            ("max_timeout", config.max_timeout.is_some()),
            ("search_max_batchsize", config.search_max_batchsize.is_some()),
            ("search_max_oversampling", config.search_max_oversampling.is_some()),
            ("max_collection_vector_size_bytes", config.max_collection_vector_size_bytes.is_some()),
            ("max_collection_payload_size_bytes", config.max_collection_payload_size_bytes.is_some()),
            ("condition_max_size", config.condition_max_size.is_some()),
            ("multivector_config", config.multivector_config.is_some()),
            ("sparse_config", config.sparse_config.is_some()),
            ("max_resident_memory_percent", config.max_resident_memory_percent.is_some()),
        ];
        if let Some((name, _)) = unsupported.iter().find(|(_, set)| *set) {
            return Err(crate::TypesError::BadInput(format!("strict_mode_config.{name} is not supported by Quiver")));
        }
        Ok(config)
    }

    /// `self` with the fields `diff` sets replaced (PATCH).
    pub fn merged(&self, diff: &StrictModeConfig) -> StrictModeConfig {
        let mut a = serde_json::to_value(self).unwrap_or_default();
        if let (Some(map), serde_json::Value::Object(d)) =
            (a.as_object_mut(), serde_json::to_value(diff).unwrap_or_default())
        {
            map.extend(d);
        }
        serde_json::from_value(a).unwrap_or_else(|_| diff.clone())
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled == Some(true)
    }
}

/// Qdrant's text of a strict mode refusal: what is wrong and how to fix it.
pub fn refusal(description: impl std::fmt::Display, solution: impl std::fmt::Display) -> String {
    format!("{description}. Help: {solution}")
}

/// `value` above `limit` for the parameter `name`.
pub fn limit_exceeded(value: impl std::fmt::Display, limit: impl std::fmt::Display, name: &str) -> String {
    refusal(
        format!("Limit exceeded {value} > {limit} for \"{name}\""),
        format!("Reduce the \"{name}\" parameter to or below {limit}."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_refuses_unknown_and_unsupported() {
        assert!(StrictModeConfig::parse(&json!({"enabled": true, "max_query_limit": 5})).is_ok());
        assert!(StrictModeConfig::parse(&json!({"enabled": true, "max_qery_limit": 5})).is_err());
        assert!(StrictModeConfig::parse(&json!({"sparse_config": {}})).is_err());
        let a = StrictModeConfig::parse(&json!({"enabled": true, "max_query_limit": 5})).unwrap();
        let b = StrictModeConfig::parse(&json!({"read_rate_limit": 2})).unwrap();
        let m = a.merged(&b);
        assert_eq!((m.enabled, m.max_query_limit, m.read_rate_limit), (Some(true), Some(5), Some(2)));
    }
}
