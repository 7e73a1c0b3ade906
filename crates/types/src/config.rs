//! Collection configuration (spec §2.1–2.3) with Qdrant's JSON shapes and defaults.
//!
//! Unknown fields of create and update bodies (and of their `vectors`, `hnsw_config`,
//! `optimizers_config`, `wal_config`, `params` parts) are ignored, as Qdrant ignores them
//! (design record 028).

pub use crate::memory::Memory;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Similarity function of a dense vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Distance {
    Cosine,
    Euclid,
    Dot,
    Manhattan,
}

/// Element type dense vectors are stored in (`datatype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Datatype {
    #[default]
    Float32,
    Float16,
    Uint8,
}

/// `payload` of a collection's params: where its payload storage is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PayloadStorageParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
}

/// How the vectors of two multivectors are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MultiVectorComparator {
    /// Late interaction: Σ over the query's vectors of the best similarity to any stored vector.
    MaxSim,
}

/// `multivector_config` of a dense vector: each point holds several vectors of `size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiVectorConfig {
    pub comparator: MultiVectorComparator,
}

/// HNSW settings; the diff form is the same struct with every field optional.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HnswConfigDiff {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub m: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ef_construct: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_scan_threshold: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_indexing_threads: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_m: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_storage: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
}

/// Effective HNSW settings of a collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HnswConfig {
    pub m: usize,
    pub ef_construct: usize,
    pub full_scan_threshold: usize,
    pub max_indexing_threads: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_m: Option<usize>,
    /// Kept and shown as given; Quiver's graphs do not store vectors inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_storage: Option<bool>,
    /// Memory placement of the graph (`cold|cached|pinned`), kept and shown as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
}

impl Default for HnswConfig {
    fn default() -> Self {
        HnswConfig {
            m: 16,
            ef_construct: 100,
            full_scan_threshold: 10_000,
            max_indexing_threads: 0,
            on_disk: Some(false),
            payload_m: None,
            inline_storage: None,
            memory: None,
        }
    }
}

impl HnswConfig {
    pub fn apply(&mut self, diff: &HnswConfigDiff) {
        if let Some(v) = diff.m {
            self.m = v;
        }
        if let Some(v) = diff.ef_construct {
            self.ef_construct = v;
        }
        if let Some(v) = diff.full_scan_threshold {
            self.full_scan_threshold = v;
        }
        if let Some(v) = diff.max_indexing_threads {
            self.max_indexing_threads = v;
        }
        if diff.on_disk.is_some() {
            self.on_disk = diff.on_disk;
        }
        if diff.payload_m.is_some() {
            self.payload_m = diff.payload_m;
        }
        if diff.inline_storage.is_some() {
            self.inline_storage = diff.inline_storage;
        }
        if diff.memory.is_some() {
            self.memory = diff.memory;
        }
    }
}

/// Parameters of one dense vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorParams {
    pub size: u64,
    pub distance: Distance,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hnsw_config: Option<HnswConfigDiff>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization_config: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datatype: Option<Datatype>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multivector_config: Option<MultiVectorConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
}

/// Dense vectors of a collection: one unnamed vector or a map of names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)] // configuration vocabulary, never on a hot path
pub enum VectorsConfig {
    Single(VectorParams),
    Multi(BTreeMap<String, VectorParams>),
}

impl Default for VectorsConfig {
    fn default() -> Self {
        VectorsConfig::Multi(BTreeMap::new())
    }
}

impl VectorsConfig {
    /// Parameters by vector name; the single unnamed vector is named `""`.
    pub fn by_name(&self) -> BTreeMap<String, VectorParams> {
        match self {
            VectorsConfig::Single(p) => BTreeMap::from([(String::new(), p.clone())]),
            VectorsConfig::Multi(map) => map.clone(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&VectorParams> {
        match self {
            VectorsConfig::Single(p) => name.is_empty().then_some(p),
            VectorsConfig::Multi(map) => map.get(name),
        }
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut VectorParams> {
        match self {
            VectorsConfig::Single(p) => name.is_empty().then_some(p),
            VectorsConfig::Multi(map) => map.get_mut(name),
        }
    }
}

/// Parameters of one sparse vector.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SparseVectorParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modifier: Option<String>,
}

/// A sparse vector's `index` as Qdrant reads it (unknown fields ignored, design record 028).
#[derive(Serialize, Deserialize)]
struct SparseIndexParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    full_scan_threshold: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    on_disk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    datatype: Option<Datatype>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    memory: Option<Memory>,
}

impl SparseVectorParams {
    /// The params as they are kept: a `modifier` other than `none`/`idf` or an `index` of the
    /// wrong shape is refused (400), and the index is read as Qdrant reads it (unknown fields
    /// dropped), so clients can read the collection's info back.
    pub fn normalised(&self, name: &str) -> Result<SparseVectorParams, crate::TypesError> {
        if let Some(modifier) = self.modifier.as_deref().filter(|m| !matches!(*m, "none" | "idf")) {
            let message =
                format!("sparse_vectors.{name}.modifier: unknown variant `{modifier}`, expected `none` or `idf`");
            return Err(crate::TypesError::BadInput(message));
        }
        let bad = |e: serde_json::Error| crate::TypesError::BadInput(format!("sparse_vectors.{name}.index: {e}"));
        let index = match &self.index {
            Some(index) => {
                let read = serde_json::from_value::<SparseIndexParams>(index.clone()).map_err(bad)?;
                Some(serde_json::to_value(read).map_err(bad)?)
            }
            None => None,
        };
        Ok(SparseVectorParams { index, modifier: self.modifier.clone() })
    }

    /// Applies a PATCH (normalised): a given `modifier` replaces the old one, the given `index`
    /// settings replace theirs one by one; what the PATCH leaves out is kept, as in Qdrant.
    fn merge(&mut self, update: SparseVectorParams) {
        if update.modifier.is_some() {
            self.modifier = update.modifier;
        }
        match (self.index.as_mut().and_then(serde_json::Value::as_object_mut), update.index) {
            (Some(existing), Some(serde_json::Value::Object(given))) => existing.extend(given),
            (_, Some(given)) => self.index = Some(given),
            (_, None) => {}
        }
    }
}

/// Optimizer settings (accepted and echoed; Quiver has no segment optimizer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizersConfig {
    pub deleted_threshold: f64,
    pub vacuum_min_vector_number: usize,
    pub default_segment_number: usize,
    pub max_segment_size: Option<usize>,
    pub memmap_threshold: Option<usize>,
    pub indexing_threshold: Option<usize>,
    pub flush_interval_sec: u64,
    pub max_optimization_threads: Option<usize>,
    /// Kept and shown as given (spec §2.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prevent_unoptimized: Option<bool>,
}

impl Default for OptimizersConfig {
    fn default() -> Self {
        OptimizersConfig {
            deleted_threshold: 0.2,
            vacuum_min_vector_number: 1000,
            default_segment_number: 0,
            max_segment_size: None,
            memmap_threshold: None,
            indexing_threshold: Some(10_000),
            flush_interval_sec: 5,
            max_optimization_threads: None,
            prevent_unoptimized: None,
        }
    }
}

/// Optimizer diff: any subset of fields; `max_optimization_threads` may be a number or `"auto"`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OptimizersConfigDiff {
    #[serde(default)]
    pub deleted_threshold: Option<f64>,
    #[serde(default)]
    pub vacuum_min_vector_number: Option<usize>,
    #[serde(default)]
    pub default_segment_number: Option<usize>,
    #[serde(default)]
    pub max_segment_size: Option<usize>,
    #[serde(default)]
    pub memmap_threshold: Option<usize>,
    #[serde(default)]
    pub indexing_threshold: Option<usize>,
    #[serde(default)]
    pub flush_interval_sec: Option<u64>,
    #[serde(default)]
    pub max_optimization_threads: Option<serde_json::Value>,
    #[serde(default)]
    pub prevent_unoptimized: Option<bool>,
}

impl OptimizersConfig {
    pub fn apply(&mut self, diff: &OptimizersConfigDiff) {
        if let Some(v) = diff.deleted_threshold {
            self.deleted_threshold = v;
        }
        if let Some(v) = diff.vacuum_min_vector_number {
            self.vacuum_min_vector_number = v;
        }
        if let Some(v) = diff.default_segment_number {
            self.default_segment_number = v;
        }
        if diff.max_segment_size.is_some() {
            self.max_segment_size = diff.max_segment_size;
        }
        if diff.memmap_threshold.is_some() {
            self.memmap_threshold = diff.memmap_threshold;
        }
        if diff.indexing_threshold.is_some() {
            self.indexing_threshold = diff.indexing_threshold;
        }
        if let Some(v) = diff.flush_interval_sec {
            self.flush_interval_sec = v;
        }
        if let Some(v) = &diff.max_optimization_threads {
            self.max_optimization_threads = v.as_u64().map(|n| n as usize);
        }
        if diff.prevent_unoptimized.is_some() {
            self.prevent_unoptimized = diff.prevent_unoptimized;
        }
    }
}

/// WAL settings of a collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalConfig {
    pub wal_capacity_mb: usize,
    pub wal_segments_ahead: usize,
    #[serde(default = "default_retain_closed")]
    pub wal_retain_closed: usize,
}

fn default_retain_closed() -> usize {
    1
}

impl Default for WalConfig {
    fn default() -> Self {
        WalConfig { wal_capacity_mb: 32, wal_segments_ahead: 0, wal_retain_closed: 1 }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct WalConfigDiff {
    #[serde(default)]
    pub wal_capacity_mb: Option<usize>,
    #[serde(default)]
    pub wal_segments_ahead: Option<usize>,
    #[serde(default)]
    pub wal_retain_closed: Option<usize>,
}

/// `config.params` of a collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionParams {
    pub vectors: VectorsConfig,
    pub shard_number: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sharding_method: Option<crate::shard_key::ShardingMethod>,
    pub replication_factor: u32,
    pub write_consistency_factor: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_fan_out_factor: Option<u32>,
    /// Milliseconds before a read's extra requests (`read_fan_out_factor`) are sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_fan_out_delay_ms: Option<u64>,
    pub on_disk_payload: bool,
    /// Kept and shown as given (spec §2.1); Quiver places payloads by `on_disk_payload`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<PayloadStorageParams>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sparse_vectors: BTreeMap<String, SparseVectorParams>,
}

/// The whole configuration of a collection, as `GET /collections/{c}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionConfig {
    pub params: CollectionParams,
    pub hnsw_config: HnswConfig,
    pub optimizer_config: OptimizersConfig,
    pub wal_config: WalConfig,
    pub quantization_config: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict_mode_config: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Body of `PUT /collections/{name}` (spec §2.1); every field optional.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CreateCollection {
    #[serde(default)]
    pub vectors: Option<VectorsConfig>,
    #[serde(default)]
    pub shard_number: Option<u32>,
    #[serde(default)]
    pub sharding_method: Option<crate::shard_key::ShardingMethod>,
    #[serde(default)]
    pub replication_factor: Option<u32>,
    #[serde(default)]
    pub write_consistency_factor: Option<u32>,
    #[serde(default)]
    pub on_disk_payload: Option<bool>,
    #[serde(default)]
    pub payload: Option<PayloadStorageParams>,
    #[serde(default)]
    pub hnsw_config: Option<HnswConfigDiff>,
    #[serde(default)]
    pub wal_config: Option<WalConfigDiff>,
    #[serde(default, alias = "optimizer_config")]
    pub optimizers_config: Option<OptimizersConfigDiff>,
    #[serde(default, alias = "quantization")]
    pub quantization_config: Option<serde_json::Value>,
    #[serde(default)]
    pub sparse_vectors: Option<BTreeMap<String, SparseVectorParams>>,
    #[serde(default)]
    pub strict_mode_config: Option<serde_json::Value>,
    #[serde(default)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    pub init_from: Option<serde_json::Value>,
}

/// Per-vector part of `PATCH /collections/{name}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct VectorParamsDiff {
    #[serde(default)]
    pub hnsw_config: Option<HnswConfigDiff>,
    #[serde(default)]
    pub quantization_config: Option<serde_json::Value>,
    #[serde(default)]
    pub on_disk: Option<bool>,
    #[serde(default)]
    pub memory: Option<Memory>,
}

/// `params` part of `PATCH /collections/{name}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CollectionParamsDiff {
    #[serde(default)]
    pub replication_factor: Option<u32>,
    #[serde(default)]
    pub write_consistency_factor: Option<u32>,
    #[serde(default)]
    pub read_fan_out_factor: Option<u32>,
    #[serde(default)]
    pub read_fan_out_delay_ms: Option<u64>,
    #[serde(default)]
    pub on_disk_payload: Option<bool>,
    #[serde(default)]
    pub payload: Option<PayloadStorageParams>,
}

/// Body of `PATCH /collections/{name}` (spec §2.3).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UpdateCollection {
    #[serde(default)]
    pub vectors: Option<BTreeMap<String, VectorParamsDiff>>,
    #[serde(default, alias = "optimizer_config")]
    pub optimizers_config: Option<OptimizersConfigDiff>,
    #[serde(default)]
    pub params: Option<CollectionParamsDiff>,
    #[serde(default)]
    pub hnsw_config: Option<HnswConfigDiff>,
    #[serde(default, alias = "quantization")]
    pub quantization_config: Option<serde_json::Value>,
    #[serde(default)]
    pub sparse_vectors: Option<BTreeMap<String, SparseVectorParams>>,
    #[serde(default)]
    pub strict_mode_config: Option<serde_json::Value>,
    #[serde(default)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

fn at_least_one(field: &str, value: Option<u32>) -> Result<(), crate::TypesError> {
    match value {
        Some(0) => Err(crate::TypesError::Validation(crate::validation::at_least(field, 0, 1))),
        Some(_) | None => Ok(()),
    }
}

fn merge_hnsw_diff(target: &mut HnswConfigDiff, diff: &HnswConfigDiff) {
    target.m = diff.m.or(target.m);
    target.ef_construct = diff.ef_construct.or(target.ef_construct);
    target.full_scan_threshold = diff.full_scan_threshold.or(target.full_scan_threshold);
    target.max_indexing_threads = diff.max_indexing_threads.or(target.max_indexing_threads);
    target.on_disk = diff.on_disk.or(target.on_disk);
    target.payload_m = diff.payload_m.or(target.payload_m);
}

impl CollectionParams {
    /// Whether the collection's shards are created per shard key (`sharding_method: custom`).
    pub fn is_custom_sharding(&self) -> bool {
        self.sharding_method == Some(crate::shard_key::ShardingMethod::Custom)
    }
}

impl CollectionConfig {
    /// Applies `PATCH /collections/{name}` (spec §2.3). Pure: the control plane applies it too.
    pub fn apply_update(&mut self, request: &UpdateCollection) -> Result<(), crate::TypesError> {
        if let Some(diff) = &request.optimizers_config {
            self.optimizer_config.apply(diff);
        }
        if let Some(diff) = &request.hnsw_config {
            self.hnsw_config.apply(diff);
        }
        if let Some(params) = &request.params {
            self.apply_params(params)?;
        }
        for (name, diff) in request.vectors.iter().flatten() {
            let params = self
                .params
                .vectors
                .get_mut(name)
                .ok_or_else(|| crate::TypesError::BadInput(format!("Not existing vector name error: {name}")))?;
            if let Some(h) = &diff.hnsw_config {
                let mut merged = params.hnsw_config.clone().unwrap_or_default();
                merge_hnsw_diff(&mut merged, h);
                params.hnsw_config = Some(merged);
            }
            if diff.on_disk.is_some() {
                params.on_disk = diff.on_disk;
            }
            if diff.memory.is_some() {
                params.memory = diff.memory;
            }
            if let Some(q) = &diff.quantization_config {
                // `"Disabled"` removes the vector's own setting (the collection's applies again).
                let path = crate::validation::vector_field_path(name, "quantization_config");
                params.quantization_config = crate::quantization::Quantization::parse_at(q, &path)?.map(|_| q.clone());
            }
        }
        for (name, sparse) in request.sparse_vectors.iter().flatten() {
            let sparse = sparse.normalised(name)?;
            match self.params.sparse_vectors.get_mut(name) {
                Some(existing) => existing.merge(sparse),
                None => return Err(crate::TypesError::BadInput(format!("Not existing vector name error: {name}"))),
            }
        }
        if let Some(q) = &request.quantization_config {
            self.quantization_config = crate::quantization::Quantization::parse(q)?.map(|_| q.clone());
        }
        if let Some(diff) = &request.strict_mode_config {
            let diff = crate::strict_mode::StrictModeConfig::parse(diff)?;
            let base =
                self.strict_mode_config.as_ref().and_then(|v| crate::strict_mode::StrictModeConfig::parse(v).ok());
            let merged = base.unwrap_or_default().merged(&diff);
            self.strict_mode_config = serde_json::to_value(merged).ok();
        }
        if let Some(patch) = &request.metadata {
            let metadata = self.metadata.get_or_insert_with(Default::default);
            for (k, v) in patch {
                match v.is_null() {
                    true => metadata.remove(k),
                    false => metadata.insert(k.clone(), v.clone()),
                };
            }
        }
        Ok(())
    }

    fn apply_params(&mut self, params: &CollectionParamsDiff) -> Result<(), crate::TypesError> {
        at_least_one("params.replication_factor", params.replication_factor)?;
        at_least_one("params.write_consistency_factor", params.write_consistency_factor)?;
        let p = &mut self.params;
        p.replication_factor = params.replication_factor.unwrap_or(p.replication_factor);
        p.write_consistency_factor = params.write_consistency_factor.unwrap_or(p.write_consistency_factor);
        p.read_fan_out_factor = params.read_fan_out_factor.or(p.read_fan_out_factor);
        p.read_fan_out_delay_ms = params.read_fan_out_delay_ms.or(p.read_fan_out_delay_ms);
        p.on_disk_payload = params.on_disk_payload.unwrap_or(p.on_disk_payload);
        if let Some(memory) = params.payload.and_then(|payload| payload.memory) {
            p.payload.get_or_insert_default().memory = Some(memory);
        }
        Ok(())
    }
}
