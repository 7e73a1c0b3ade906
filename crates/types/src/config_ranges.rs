//! The numeric ranges of collection create and update bodies (spec §2.1, §2.3) that Qdrant
//! refuses with 422: `hnsw_config` (`ef_construct` ≥ 4, `full_scan_threshold` ≥ 10),
//! `optimizers_config` (`deleted_threshold` 0..1, `vacuum_min_vector_number` ≥ 100,
//! `max_segment_size` ≥ 1), `wal_config` (`wal_capacity_mb` ≥ 1), wherever they appear in the
//! body, and `strict_mode_config` (`max_query_limit`, `max_timeout`, `read_rate_limit`,
//! `write_rate_limit`, `max_points_count` ≥ 1).
//!
//! These are checked when a request arrives, not when a committed update is applied: a change
//! an older node accepted must still apply the same everywhere.

use crate::TypesError;
use crate::config::{
    CreateCollection, HnswConfigDiff, Memory, OptimizersConfigDiff, UpdateCollection, VectorsConfig, WalConfigDiff,
};
use crate::strict_mode::StrictModeConfig;
use crate::validation::{at_least, between};

/// `prefix.field`, or `field` at the top of the body.
fn path(prefix: &str, field: &str) -> String {
    match prefix.is_empty() {
        true => field.to_string(),
        false => format!("{prefix}.{field}"),
    }
}

fn minimum(prefix: &str, field: &str, value: Option<usize>, min: usize) -> Result<(), TypesError> {
    match value {
        Some(v) if v < min => Err(TypesError::Validation(at_least(&path(prefix, field), v, min))),
        Some(_) | None => Ok(()),
    }
}

/// A float as Qdrant's texts show it (`2.0`, `0.5`).
fn float(value: f64) -> String {
    serde_json::Value::from(value).to_string()
}

impl HnswConfigDiff {
    /// Checks the ranges of the fields given; `prefix` is where this object is in the body.
    pub fn validate(&self, prefix: &str) -> Result<(), TypesError> {
        minimum(prefix, "ef_construct", self.ef_construct, 4)?;
        minimum(prefix, "full_scan_threshold", self.full_scan_threshold, 10)
    }
}

impl OptimizersConfigDiff {
    /// Checks the ranges of the fields given; `prefix` is where this object is in the body.
    pub fn validate(&self, prefix: &str) -> Result<(), TypesError> {
        if let Some(t) = self.deleted_threshold.filter(|t| !(0.0..=1.0).contains(t)) {
            let field = path(prefix, "deleted_threshold");
            return Err(TypesError::Validation(between(&field, float(t), float(0.0), float(1.0))));
        }
        minimum(prefix, "vacuum_min_vector_number", self.vacuum_min_vector_number, 100)?;
        minimum(prefix, "max_segment_size", self.max_segment_size, 1)
    }
}

/// The limits of a requested `strict_mode_config` that must be at least 1 (a config that does
/// not parse is left to the parser's refusal).
fn strict_mode(config: Option<&serde_json::Value>) -> Result<(), TypesError> {
    let Some(config) = config.and_then(|c| StrictModeConfig::parse(c).ok()) else { return Ok(()) };
    let prefix = "strict_mode_config";
    minimum(prefix, "max_query_limit", config.max_query_limit, 1)?;
    minimum(prefix, "max_timeout", config.max_timeout, 1)?;
    minimum(prefix, "read_rate_limit", config.read_rate_limit, 1)?;
    minimum(prefix, "write_rate_limit", config.write_rate_limit, 1)?;
    minimum(prefix, "max_points_count", config.max_points_count, 1)
}

impl WalConfigDiff {
    /// Checks the ranges of the fields given; `prefix` is where this object is in the body.
    pub fn validate(&self, prefix: &str) -> Result<(), TypesError> {
        minimum(prefix, "wal_capacity_mb", self.wal_capacity_mb, 1)
    }
}

pub use crate::validation::vector_field_path;

fn vector_hnsw_path(name: &str) -> String {
    vector_field_path(name, "hnsw_config")
}

/// The `hnsw_config` of each dense vector of a create body.
fn vector_hnsw(vectors: &VectorsConfig) -> Result<(), TypesError> {
    match vectors {
        VectorsConfig::Single(params) => params.hnsw_config.iter().try_for_each(|h| h.validate(&vector_hnsw_path(""))),
        VectorsConfig::Multi(named) => named.iter().try_for_each(|(name, params)| {
            params.hnsw_config.iter().try_for_each(|h| h.validate(&vector_hnsw_path(name)))
        }),
    }
}

/// Dense vector storage and payload storage have no heap-resident variant: Qdrant refuses their
/// `pinned` placement (422) at creation and update alike.
fn storage_memory(path: &str, memory: Option<Memory>) -> Result<(), TypesError> {
    match memory {
        Some(Memory::Pinned) => Err(TypesError::Validation(format!(
            "{path}: `pinned` is not supported for this storage, use `cold` or `cached`"
        ))),
        Some(Memory::Cold | Memory::Cached) | None => Ok(()),
    }
}

/// The `memory` of each dense vector of a create body.
fn vector_memory(vectors: &VectorsConfig) -> Result<(), TypesError> {
    match vectors {
        VectorsConfig::Single(params) => storage_memory(&vector_field_path("", "memory"), params.memory),
        VectorsConfig::Multi(named) => named
            .iter()
            .try_for_each(|(name, params)| storage_memory(&vector_field_path(name, "memory"), params.memory)),
    }
}

impl CreateCollection {
    /// Checks the numeric ranges of the body (the error holds the issue, without the
    /// `Validation error in JSON body` wrapping).
    pub fn validate_ranges(&self) -> Result<(), TypesError> {
        self.hnsw_config.iter().try_for_each(|h| h.validate("hnsw_config"))?;
        self.vectors.iter().try_for_each(vector_hnsw)?;
        self.vectors.iter().try_for_each(vector_memory)?;
        storage_memory("payload.memory", self.payload.and_then(|p| p.memory))?;
        self.optimizers_config.iter().try_for_each(|o| o.validate("optimizers_config"))?;
        self.wal_config.iter().try_for_each(|w| w.validate("wal_config"))?;
        strict_mode(self.strict_mode_config.as_ref())
    }
}

impl UpdateCollection {
    /// Checks the numeric ranges of the body (the error holds the issue, without the
    /// `Validation error in JSON body` wrapping).
    pub fn validate_ranges(&self) -> Result<(), TypesError> {
        self.hnsw_config.iter().try_for_each(|h| h.validate("hnsw_config"))?;
        for (name, diff) in self.vectors.iter().flatten() {
            diff.hnsw_config.iter().try_for_each(|h| h.validate(&vector_hnsw_path(name)))?;
            storage_memory(&vector_field_path(name, "memory"), diff.memory)?;
        }
        let payload = self.params.as_ref().and_then(|p| p.payload).and_then(|p| p.memory);
        storage_memory("params.payload.memory", payload)?;
        self.optimizers_config.iter().try_for_each(|o| o.validate("optimizers_config"))?;
        strict_mode(self.strict_mode_config.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(json: serde_json::Value) -> Result<(), String> {
        let body: CreateCollection = serde_json::from_value(json).unwrap();
        body.validate_ranges().map_err(|e| e.to_string())
    }

    fn update(json: serde_json::Value) -> Result<(), String> {
        let body: UpdateCollection = serde_json::from_value(json).unwrap();
        body.validate_ranges().map_err(|e| e.to_string())
    }

    #[test]
    fn values_out_of_range_are_refused_with_their_path() {
        use serde_json::json;
        for (body, issue) in [
            (
                json!({"optimizers_config": {"deleted_threshold": 2}}),
                "optimizers_config.deleted_threshold: value 2.0 invalid, must be from 0.0 to 1.0",
            ),
            (
                json!({"optimizer_config": {"deleted_threshold": -0.5}}),
                "optimizers_config.deleted_threshold: value -0.5 invalid, must be from 0.0 to 1.0",
            ),
            (
                json!({"optimizers_config": {"vacuum_min_vector_number": 99}}),
                "optimizers_config.vacuum_min_vector_number: value 99 invalid, must be 100 or larger",
            ),
            (
                json!({"wal_config": {"wal_capacity_mb": 0}}),
                "wal_config.wal_capacity_mb: value 0 invalid, must be 1 or larger",
            ),
            (
                json!({"strict_mode_config": {"max_query_limit": 0}}),
                "strict_mode_config.max_query_limit: value 0 invalid, must be 1 or larger",
            ),
            (
                json!({"strict_mode_config": {"max_timeout": 0}}),
                "strict_mode_config.max_timeout: value 0 invalid, must be 1 or larger",
            ),
            (
                json!({"strict_mode_config": {"read_rate_limit": 0}}),
                "strict_mode_config.read_rate_limit: value 0 invalid, must be 1 or larger",
            ),
            (
                json!({"strict_mode_config": {"max_points_count": 0}}),
                "strict_mode_config.max_points_count: value 0 invalid, must be 1 or larger",
            ),
            (
                json!({"hnsw_config": {"ef_construct": 3}}),
                "hnsw_config.ef_construct: value 3 invalid, must be 4 or larger",
            ),
            (
                json!({"hnsw_config": {"full_scan_threshold": 9}}),
                "hnsw_config.full_scan_threshold: value 9 invalid, must be 10 or larger",
            ),
            (
                json!({"vectors": {"size": 2, "distance": "Dot", "hnsw_config": {"ef_construct": 1}}}),
                "vectors.hnsw_config.ef_construct: value 1 invalid, must be 4 or larger",
            ),
            (
                json!({"vectors": {"a": {"size": 2, "distance": "Dot", "hnsw_config": {"full_scan_threshold": 0}}}}),
                "vectors.a.hnsw_config.full_scan_threshold: value 0 invalid, must be 10 or larger",
            ),
        ] {
            assert_eq!(create(body.clone()), Err(issue.to_string()), "{body}");
        }
        for (body, issue) in [
            (
                json!({"optimizers_config": {"deleted_threshold": 1.5}}),
                "optimizers_config.deleted_threshold: value 1.5 invalid, must be from 0.0 to 1.0",
            ),
            (
                json!({"hnsw_config": {"ef_construct": 0}}),
                "hnsw_config.ef_construct: value 0 invalid, must be 4 or larger",
            ),
            (
                json!({"optimizers_config": {"max_segment_size": 0}}),
                "optimizers_config.max_segment_size: value 0 invalid, must be 1 or larger",
            ),
            (
                json!({"strict_mode_config": {"enabled": true, "write_rate_limit": 0}}),
                "strict_mode_config.write_rate_limit: value 0 invalid, must be 1 or larger",
            ),
            (
                json!({"vectors": {"": {"hnsw_config": {"full_scan_threshold": 5}}}}),
                "vectors.hnsw_config.full_scan_threshold: value 5 invalid, must be 10 or larger",
            ),
        ] {
            assert_eq!(update(body.clone()), Err(issue.to_string()), "{body}");
        }
    }

    #[test]
    fn values_at_the_bounds_and_absent_ones_pass() {
        use serde_json::json;
        let bounds = json!({
            "vectors": {"size": 2, "distance": "Dot", "hnsw_config": {"ef_construct": 4, "full_scan_threshold": 10, "m": 0}},
            "hnsw_config": {"ef_construct": 4, "full_scan_threshold": 10, "m": 0},
            "optimizers_config": {"deleted_threshold": 0, "vacuum_min_vector_number": 100, "max_segment_size": 1},
            "wal_config": {"wal_capacity_mb": 1, "wal_segments_ahead": 0},
            "strict_mode_config": {"max_query_limit": 1, "max_timeout": 1, "read_rate_limit": 1,
                "write_rate_limit": 1, "max_points_count": 1, "upsert_max_batchsize": 0},
        });
        assert_eq!(create(bounds), Ok(()));
        assert_eq!(create(json!({"optimizers_config": {"deleted_threshold": 1}})), Ok(()));
        assert_eq!(create(json!({})), Ok(()));
        assert_eq!(update(json!({"optimizers_config": {"deleted_threshold": 0.2}, "hnsw_config": {"m": 32}})), Ok(()));
    }

    #[test]
    fn unknown_fields_of_create_and_update_bodies_are_ignored() {
        use serde_json::json;
        let body: CreateCollection = serde_json::from_value(json!({
            "vectors": {"size": 2, "distance": "Dot", "zz": 1, "hnsw_config": {"m": 8, "zz": 2}},
            "hnsw_config": {"ef_construct": 50, "zz": 3},
            "optimizers_config": {"indexing_threshold": 100, "zz": 4},
            "wal_config": {"wal_capacity_mb": 2, "zz": 5},
            "zz_future": 6,
        }))
        .unwrap();
        let single = body.vectors.as_ref().and_then(|v| v.get("")).unwrap();
        assert_eq!((single.size, single.hnsw_config.as_ref().and_then(|h| h.m)), (2, Some(8)));
        assert_eq!(body.hnsw_config.and_then(|h| h.ef_construct), Some(50));
        let named: CreateCollection =
            serde_json::from_value(json!({"vectors": {"a": {"size": 3, "distance": "Cosine", "zz": 1}}})).unwrap();
        assert!(matches!(named.vectors, Some(VectorsConfig::Multi(m)) if m["a"].size == 3));
        let update: UpdateCollection = serde_json::from_value(json!({
            "vectors": {"a": {"on_disk": true, "zz": 1}}, "params": {"replication_factor": 2, "zz": 2}, "zz": 3,
        }))
        .unwrap();
        assert_eq!(update.params.and_then(|p| p.replication_factor), Some(2));
    }

    #[test]
    fn a_quantile_out_of_range_is_named_where_it_is() {
        use serde_json::json;
        let named = json!({"img": {"size": 2, "distance": "Dot"}, "": {"size": 2, "distance": "Dot"}});
        let mut config = crate::vector_name::tests::config(named);
        let scalar = json!({"scalar": {"type": "int8", "quantile": 0.1}});
        for (name, path) in [("img", "vectors.img"), ("", "vectors")] {
            let patch: UpdateCollection =
                serde_json::from_value(json!({"vectors": {name: {"quantization_config": scalar}}})).unwrap();
            let issue =
                format!("{path}.quantization_config.scalar.quantile: value 0.1 invalid, must be from 0.5 to 1.0");
            assert_eq!(config.apply_update(&patch), Err(TypesError::Validation(issue)));
        }
        let patch: UpdateCollection = serde_json::from_value(json!({"quantization_config": scalar})).unwrap();
        let issue = "quantization_config.scalar.quantile: value 0.1 invalid, must be from 0.5 to 1.0".to_string();
        assert_eq!(config.apply_update(&patch), Err(TypesError::Validation(issue)));
    }

    #[test]
    fn pinned_vector_and_payload_storage_are_refused() {
        use serde_json::json;
        let pinned = "`pinned` is not supported for this storage, use `cold` or `cached`";
        let single = json!({"vectors": {"size": 2, "distance": "Dot", "memory": "pinned"}});
        assert_eq!(create(single), Err(format!("vectors.memory: {pinned}")));
        let named = json!({"vectors": {"img": {"size": 2, "distance": "Dot", "memory": "pinned"}}});
        assert_eq!(create(named), Err(format!("vectors.img.memory: {pinned}")));
        assert_eq!(create(json!({"payload": {"memory": "pinned"}})), Err(format!("payload.memory: {pinned}")));
        let graph_and_quantized = json!({"vectors": {"size": 2, "distance": "Dot", "memory": "cached",
            "hnsw_config": {"memory": "pinned"}, "quantization_config": {"scalar": {"type": "int8", "memory": "pinned"}}}});
        assert_eq!(create(graph_and_quantized), Ok(()));
        assert_eq!(update(json!({"vectors": {"": {"memory": "pinned"}}})), Err(format!("vectors.memory: {pinned}")));
        let payload = json!({"params": {"payload": {"memory": "pinned"}}});
        assert_eq!(update(payload), Err(format!("params.payload.memory: {pinned}")));
        assert_eq!(update(json!({"vectors": {"": {"memory": "cold"}}})), Ok(()));
    }
}
