//! Named vectors created on and deleted from an existing collection
//! (`PUT`/`DELETE /collections/{c}/vectors/{name}`, design record 018): the body
//! (`{"dense": {...}}` or `{"sparse": {...}}`, Qdrant's `VectorNameConfig`) and how it changes a
//! collection's configuration. Pure: the control plane applies it too.

use crate::TypesError;
use crate::config::{
    CollectionConfig, Datatype, Distance, MultiVectorConfig, SparseVectorParams, VectorParams, VectorsConfig,
};
use crate::validation;
use serde::{Deserialize, Serialize};

/// The properties of a new dense vector that define its space (Qdrant's `DenseVectorConfig`);
/// its index and quantization follow the collection's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenseVectorConfig {
    pub size: u64,
    pub distance: Distance,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multivector_config: Option<MultiVectorConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datatype: Option<Datatype>,
}

/// A new sparse vector (Qdrant's `SparseVectorConfig`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SparseVectorConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datatype: Option<Datatype>,
}

/// Body of `PUT /collections/{c}/vectors/{name}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum VectorNameConfig {
    Dense(DenseVectorConfig),
    Sparse(SparseVectorConfig),
}

/// Longest vector name accepted (as at collection creation).
const MAX_NAME_LEN: usize = 200;
const FORBIDDEN_CHARS: [char; 11] = ['<', '>', ':', '"', '/', '\\', '|', '?', '*', '\0', '\u{1f}'];

/// Whether `name` may name a vector (as at collection creation); the issue otherwise.
pub fn check_name(name: &str) -> Result<(), String> {
    match name.is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(|c| FORBIDDEN_CHARS.contains(&c)) {
        true => Err(format!(
            "vector_name: invalid vector name `{name}`: it must be 1..{MAX_NAME_LEN} characters and must not \
             contain any of < > : \" / \\ | ? *"
        )),
        false => Ok(()),
    }
}

impl VectorNameConfig {
    /// Qdrant's validation of the body (the issue of a 422, with its JSON path).
    pub fn validate(&self) -> Result<(), TypesError> {
        match self {
            VectorNameConfig::Dense(dense) if dense.size == 0 || dense.size > 65536 => {
                Err(TypesError::Validation(validation::between("dense.size", dense.size, 1, 65536)))
            }
            VectorNameConfig::Sparse(SparseVectorConfig { modifier: Some(m), .. }) if m != "idf" && m != "none" => {
                Err(TypesError::Validation(format!("sparse.modifier: unknown variant `{m}`, expected `none` or `idf`")))
            }
            VectorNameConfig::Dense(_) | VectorNameConfig::Sparse(_) => Ok(()),
        }
    }
}

/// `Wrong input: Not existing vector name error: <name>` (Qdrant's text).
pub fn not_existing(name: &str) -> TypesError {
    TypesError::BadInput(format!("Not existing vector name error: {name}"))
}

impl CollectionConfig {
    /// Whether `name` is one of the collection's vectors (dense or sparse).
    pub fn has_vector_name(&self, name: &str) -> bool {
        self.params.vectors.get(name).is_some() || self.params.sparse_vectors.contains_key(name)
    }

    /// Adds the vector `name`; refused if the name is taken (by a dense or a sparse vector).
    pub fn create_vector_name(&mut self, name: &str, config: &VectorNameConfig) -> Result<(), TypesError> {
        check_name(name).map_err(TypesError::BadInput)?;
        config.validate()?;
        if self.has_vector_name(name) {
            return Err(TypesError::BadInput(format!("Vector with name `{name}` already exists")));
        }
        match config {
            VectorNameConfig::Dense(dense) => {
                let params = VectorParams {
                    size: dense.size,
                    distance: dense.distance,
                    hnsw_config: None,
                    quantization_config: None,
                    on_disk: None,
                    datatype: dense.datatype,
                    multivector_config: dense.multivector_config,
                    memory: None,
                };
                let mut map = self.params.vectors.by_name();
                map.insert(name.to_string(), params);
                self.params.vectors = VectorsConfig::Multi(map);
            }
            VectorNameConfig::Sparse(sparse) => {
                let index = sparse.datatype.map(|d| serde_json::json!({ "datatype": d }));
                let params = SparseVectorParams { index, modifier: sparse.modifier.clone() };
                self.params.sparse_vectors.insert(name.to_string(), params);
            }
        }
        Ok(())
    }

    /// Removes the vector `name` (dense or sparse); refused if there is none.
    pub fn delete_vector_name(&mut self, name: &str) -> Result<(), TypesError> {
        if self.params.sparse_vectors.remove(name).is_some() {
            return Ok(());
        }
        let mut map = self.params.vectors.by_name();
        if name.is_empty() || map.remove(name).is_none() {
            return Err(not_existing(name));
        }
        // Only the unnamed vector left: shown again as `vectors: {size, distance}`.
        let unnamed_only = map.len() == 1;
        self.params.vectors = match map.remove("") {
            Some(unnamed) if unnamed_only => VectorsConfig::Single(unnamed),
            Some(unnamed) => {
                map.insert(String::new(), unnamed);
                VectorsConfig::Multi(map)
            }
            None => VectorsConfig::Multi(map),
        };
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A one-shard collection config with `vectors` (shared by the crate's tests).
    pub(crate) fn config(vectors: serde_json::Value) -> CollectionConfig {
        CollectionConfig {
            params: crate::config::CollectionParams {
                vectors: serde_json::from_value(vectors).unwrap(),
                shard_number: 1,
                sharding_method: None,
                replication_factor: 1,
                write_consistency_factor: 1,
                read_fan_out_factor: None,
                read_fan_out_delay_ms: None,
                on_disk_payload: true,
                payload: None,
                sparse_vectors: Default::default(),
            },
            hnsw_config: Default::default(),
            optimizer_config: Default::default(),
            wal_config: Default::default(),
            quantization_config: None,
            strict_mode_config: None,
            metadata: None,
        }
    }

    fn body(json: serde_json::Value) -> VectorNameConfig {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn bodies_parse_as_qdrant_sends_them() {
        let dense = body(serde_json::json!({"dense": {"size": 3, "distance": "Dot", "datatype": "float16",
                                                      "multivector_config": {"comparator": "max_sim"}}}));
        assert!(matches!(dense, VectorNameConfig::Dense(DenseVectorConfig { size: 3, .. })));
        assert_eq!(body(serde_json::json!({"sparse": {}})), VectorNameConfig::Sparse(SparseVectorConfig::default()));
        for bad in [
            serde_json::json!({"size": 3, "distance": "Dot"}),
            serde_json::json!({"dense": {"size": 3}}),
            serde_json::json!({"dense": {"size": 3, "distance": "Dot", "on_disk": true}}),
            serde_json::json!({"dense": {"size": 3, "distance": "Dot"}, "sparse": {}}),
        ] {
            assert!(serde_json::from_value::<VectorNameConfig>(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn create_and_delete_change_the_config() {
        let mut c = config(serde_json::json!({"size": 2, "distance": "Dot"}));
        let dense = body(serde_json::json!({"dense": {"size": 4, "distance": "Cosine"}}));
        c.create_vector_name("img", &dense).unwrap();
        assert_eq!(c.params.vectors.get("img").unwrap().size, 4);
        assert_eq!(c.params.vectors.get("").unwrap().size, 2);
        let taken = c.create_vector_name("img", &dense).unwrap_err();
        assert_eq!(taken, TypesError::BadInput("Vector with name `img` already exists".into()));
        c.create_vector_name("bm25", &body(serde_json::json!({"sparse": {"modifier": "idf"}}))).unwrap();
        assert_eq!(c.params.sparse_vectors["bm25"].modifier.as_deref(), Some("idf"));
        assert!(c.create_vector_name("bm25", &dense).is_err());
        c.delete_vector_name("bm25").unwrap();
        c.delete_vector_name("img").unwrap();
        assert!(matches!(c.params.vectors, VectorsConfig::Single(_)));
        assert_eq!(c.delete_vector_name("img").unwrap_err(), not_existing("img"));
        assert_eq!(c.delete_vector_name("").unwrap_err(), not_existing(""));
    }

    #[test]
    fn bad_sizes_and_names_are_validation_errors() {
        let mut c = config(serde_json::json!({}));
        let zero = body(serde_json::json!({"dense": {"size": 0, "distance": "Dot"}}));
        let err = c.create_vector_name("v", &zero).unwrap_err();
        assert_eq!(err, TypesError::Validation("dense.size: value 0 invalid, must be from 1 to 65536".into()));
        let ok = body(serde_json::json!({"dense": {"size": 1, "distance": "Dot"}}));
        assert!(matches!(c.create_vector_name("a/b", &ok), Err(TypesError::BadInput(_))));
        let bad_modifier = body(serde_json::json!({"sparse": {"modifier": "bm25"}}));
        assert!(matches!(c.create_vector_name("s", &bad_modifier), Err(TypesError::Validation(_))));
        assert!(c.params.vectors.by_name().is_empty() && c.params.sparse_vectors.is_empty());
    }
}
