//! A collection's `strict_mode_config`: the limits Qdrant's strict mode puts on requests, and
//! the texts of its refusals. Parsed strictly: unknown keys and bad values are refused when a
//! collection is created or updated, never stored silently.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `multivector_config` of strict mode: per multivector name, the most vectors a point may hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultivectorLimit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_vectors: Option<usize>,
}

/// `sparse_config` of strict mode: per sparse vector name, the most indices a vector may hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SparseLimit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
}

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
    pub multivector_config: Option<BTreeMap<String, MultivectorLimit>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sparse_config: Option<BTreeMap<String, SparseLimit>>,
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
        // `search_max_oversampling` has no range in Qdrant's model (`number`, `double`): any
        // number is kept (JSON carries no NaN or infinity).
        if let Some(percent) = config.max_resident_memory_percent.filter(|p| !(1..=100).contains(p)) {
            return Err(crate::TypesError::Validation(crate::validation::between(
                "strict_mode_config.max_resident_memory_percent",
                percent,
                1,
                100,
            )));
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

/// A filter with more conditions than `filter_max_conditions`.
pub fn filter_conditions_exceeded(count: usize, limit: usize) -> String {
    refusal(
        format!("Filter condition limit reached ({count} > {limit})"),
        "Reduce the amount of conditions of your filter.",
    )
}

/// A condition with more values than `condition_max_size` (e.g. a `match: {any: [...]}`).
pub fn condition_size_exceeded(size: usize, limit: usize) -> String {
    refusal(format!("Condition size limit reached ({size} > {limit})"), "Reduce the size of your condition.")
}

/// `max_collection_vector_size_bytes` or `max_collection_payload_size_bytes` reached: `what` is
/// `vector` or `payload`; the limit is shown in MB as Qdrant does.
pub fn storage_limit_reached(what: &str, limit_bytes: usize) -> String {
    let megabytes = limit_bytes as f32 / (1024.0 * 1024.0);
    format!("Max {what} storage size limit of {megabytes}MB reached!")
}

/// `max_points_count` reached.
pub fn points_limit_reached(limit: usize) -> String {
    format!("Max points count limit of {limit} reached!")
}

/// A multivector with more vectors than its `multivector_config.<name>.max_vectors`.
pub fn multivector_exceeded(name: &str, limit: usize, count: usize) -> String {
    format!("Multivector '{name}' has a limit of {limit} vectors, but {count} were provided!")
}

/// A sparse vector with more indices than its `sparse_config.<name>.max_length`.
pub fn sparse_exceeded(name: &str, limit: usize, count: usize) -> String {
    format!("Sparse vector '{name}' has a limit of {limit} indices, but {count} were provided!")
}

/// The process's resident memory above `max_resident_memory_percent` of the memory it may use.
pub fn memory_limit_reached(percent: f64, limit: usize) -> String {
    refusal(
        format!("Resident memory usage {percent:.1}% exceeds the limit of {limit}% of the available memory"),
        "Free memory (delete points or collections) or raise max_resident_memory_percent; deletes are still accepted.",
    )
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
        assert!(StrictModeConfig::parse(&json!({"search_max_oversampling": 1.5})).is_ok());
        // Qdrant sets no lower bound on the oversampling limit.
        assert!(StrictModeConfig::parse(&json!({"search_max_oversampling": 0.5})).is_ok());
        assert!(StrictModeConfig::parse(&json!({"search_max_oversampling": 0})).is_ok());
        assert!(StrictModeConfig::parse(&json!({"search_max_oversampling": -1.0})).is_ok());
        assert!(StrictModeConfig::parse(&json!({"search_max_oversampling": "big"})).is_err());
        assert!(StrictModeConfig::parse(&json!({"max_resident_memory_percent": 0})).is_err());
        assert!(StrictModeConfig::parse(&json!({"sparse_config": {"s": {"max_lenght": 3}}})).is_err());
        let limits = StrictModeConfig::parse(&json!({"sparse_config": {"s": {"max_length": 3}},
                                                     "multivector_config": {"m": {"max_vectors": 2}},
                                                     "max_timeout": 2, "search_max_batchsize": 4}))
        .unwrap();
        assert_eq!(limits.sparse_config.unwrap()["s"].max_length, Some(3));
        assert_eq!(limits.multivector_config.unwrap()["m"].max_vectors, Some(2));
        let a = StrictModeConfig::parse(&json!({"enabled": true, "max_query_limit": 5})).unwrap();
        let b = StrictModeConfig::parse(&json!({"read_rate_limit": 2})).unwrap();
        let m = a.merged(&b);
        assert_eq!((m.enabled, m.max_query_limit, m.read_rate_limit), (Some(true), Some(5), Some(2)));
    }
}
