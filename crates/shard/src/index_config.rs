//! A shard's indexing settings: HNSW per dense vector, the indexing threshold, whether an index
//! reads the table's vectors or keeps a copy (and of which element type), quantization per
//! vector, and which vectors keep their originals in a memory-mapped file (`on_disk`), and
//! whether payloads are encoded in one (`on_disk_payload`).

use quiver_storage::index::{HnswParams, IndexScalar};
use quiver_storage::mapped::Placement;
use quiver_storage::points::DenseStats;
use quiver_storage::quantized::QuantizationKind;
use quiver_storage::vectors::VectorSpec;
use quiver_types::config::{Datatype, Distance, HnswConfig};
use std::collections::{BTreeMap, BTreeSet};

/// Indexing settings of a shard.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexConfig {
    /// Effective HNSW settings per dense vector name (collection level merged with vector level);
    /// names missing here use `HnswConfig::default()`.
    pub hnsw: BTreeMap<String, HnswConfig>,
    /// Vectors (KB) above which a dense column gets an HNSW index; 0 disables indexing.
    pub indexing_threshold_kb: usize,
    /// How the index of an f32 column holds its vectors: read from the table (the default, no
    /// copy; design record 023) or as a copy of the chosen element type.
    pub scalar: IndexScalar,
    /// Quantization per dense vector name (none when missing).
    pub quantization: BTreeMap<String, QuantizationKind>,
    /// Dense vectors whose originals live in a memory-mapped scratch file (`on_disk: true`,
    /// design record 025).
    pub on_disk: BTreeSet<String>,
    /// Payloads encoded in a memory-mapped scratch file (`on_disk_payload: true`, design
    /// record 037); in anonymous memory when false.
    pub on_disk_payload: bool,
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            hnsw: BTreeMap::new(),
            indexing_threshold_kb: 10_000,
            scalar: IndexScalar::Table,
            quantization: BTreeMap::new(),
            on_disk: BTreeSet::new(),
            on_disk_payload: false,
        }
    }
}

impl IndexConfig {
    pub fn hnsw_for(&self, name: &str) -> HnswConfig {
        self.hnsw.get(name).cloned().unwrap_or_default()
    }

    /// Threads that build the graphs of the dense vector `name` (`max_indexing_threads`, 0:
    /// one per core).
    pub(crate) fn indexing_threads(&self, name: &str) -> usize {
        match self.hnsw_for(name).max_indexing_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

/// The directory of the mapped scratch files of the shard in `dir` (unnamed files: it looks
/// empty; design record 025).
pub(crate) fn mapped_dir(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join("mapped")
}

/// Where the frozen copy of `name`'s graph keeps its level-0 neighbours: a mapped scratch file
/// with `hnsw_config.on_disk` (design record 025), else memory.
pub(crate) fn frozen_placement(config: &IndexConfig, name: &str, shard_dir: &std::path::Path) -> Placement {
    match config.hnsw_for(name).on_disk {
        Some(true) => Placement::Mapped(mapped_dir(shard_dir)),
        Some(false) | None => Placement::Memory,
    }
}

/// The HNSW settings of the dense vector `name`.
pub(crate) fn hnsw_params(config: &IndexConfig, name: &str, spec: &VectorSpec) -> HnswParams {
    let hnsw = config.hnsw_for(name);
    HnswParams {
        dim: spec.dim,
        m: hnsw.m,
        ef_construct: hnsw.ef_construct,
        // `float16` and `uint8` values are exact in half precision: their indexes keep such a
        // copy (the metric reading the table takes f32 elements).
        scalar: match spec.datatype {
            Datatype::Float32 => config.scalar,
            Datatype::Float16 | Datatype::Uint8 => IndexScalar::F16,
        },
        normalize: spec.distance == Distance::Cosine && spec.datatype == Datatype::Uint8,
    }
}

/// Whether a column without an index should get one: indexing enabled, and more vector bytes
/// than `indexing_threshold` KB.
pub(crate) fn due(config: &IndexConfig, stats: &DenseStats) -> bool {
    config.indexing_threshold_kb > 0
        && stats.vectors * stats.dim * stats.element_bytes >= config.indexing_threshold_kb * 1024
}

/// Whether the column `name` has an index built with another degree or construction beam than
/// `config` gives (`hnsw_config` was changed since): the indexer rebuilds it.
pub(crate) fn rebuild_due(
    table: &quiver_storage::points::PointTable,
    name: &str,
    config: &IndexConfig,
    spec: &VectorSpec,
) -> bool {
    let wanted = hnsw_params(config, name, spec);
    let index = table.dense_index(name).map(|view| view.index);
    config.hnsw_for(name).m > 0 && index.is_some_and(|index| built_differently(index.as_ref(), &wanted))
}

/// Whether `index` was built with another degree or construction beam than `params` give.
pub(crate) fn built_differently(index: &dyn quiver_storage::index::VectorIndex, params: &HnswParams) -> bool {
    index.built_with().is_some_and(|shape| shape != params.graph_shape())
}
