//! What every shard of a collection shares: the collection's name, directory and configuration,
//! and (cluster mode) this peer's identity and ports to other peers and to the control plane.
//! The collection and each of its replica sets hold it.

use crate::remote::{ControlPlane, ShardTransport};
use parking_lot::RwLock;
use quiver_types::PeerId;
use quiver_types::config::CollectionConfig;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// This peer's identity and ports (cluster mode).
pub struct ClusterPorts {
    pub me: PeerId,
    pub transport: Arc<dyn ShardTransport>,
    pub control: Arc<dyn ControlPlane>,
}

/// One collection's shared context.
pub struct CollectionContext {
    name: String,
    dir: PathBuf,
    config: RwLock<CollectionConfig>,
    /// Changes of `strict_mode_config` so far: a rate limit starts over at each (Qdrant builds
    /// its limiters anew at every strict mode update).
    strict_mode_changes: AtomicU64,
    cluster: OnceLock<ClusterPorts>,
}

impl CollectionContext {
    pub(crate) fn new(name: &str, dir: &Path, config: CollectionConfig) -> CollectionContext {
        CollectionContext {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            config: RwLock::new(config),
            strict_mode_changes: AtomicU64::new(0),
            cluster: OnceLock::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The collection's configuration as of now.
    pub fn config(&self) -> CollectionConfig {
        self.config.read().clone()
    }

    pub(crate) fn set_config(&self, config: CollectionConfig) {
        let mut current = self.config.write();
        if current.strict_mode_config != config.strict_mode_config {
            self.strict_mode_changes.fetch_add(1, Ordering::Relaxed);
        }
        *current = config;
    }

    /// How many times `strict_mode_config` changed since the collection was opened.
    pub fn strict_mode_changes(&self) -> u64 {
        self.strict_mode_changes.load(Ordering::Relaxed)
    }

    pub(crate) fn with_config<T>(&self, f: impl FnOnce(&CollectionConfig) -> T) -> T {
        f(&self.config.read())
    }

    /// Cluster mode: when `op` names a vector this peer's configuration lacks, catches up with
    /// the cluster's metadata first (design record 018). The name was created after this
    /// peer last applied the metadata (then it is known afterwards), or dropped since the
    /// operation was ordered (then the shard skips that vector). Fails (transient) if the
    /// metadata cannot be caught up with.
    pub async fn await_vector_names(&self, op: &quiver_types::ops::UpdateOperation) -> crate::error::Result<()> {
        let unknown = self.with_config(|c| op.vector_names().into_iter().any(|name| !c.has_vector_name(name)));
        match (unknown, self.cluster()) {
            (true, Some(ports)) => {
                tracing::debug!(collection = %self.name, "a write names a vector unknown here: catching up");
                ports.control.catch_up_metadata().await
            }
            (false, _) | (true, None) => Ok(()),
        }
    }

    /// The cluster ports (`None` standalone).
    pub fn cluster(&self) -> Option<&ClusterPorts> {
        self.cluster.get()
    }

    /// Connects the collection to the cluster (once).
    pub(crate) fn attach(&self, ports: ClusterPorts) {
        let _ = self.cluster.set(ports);
    }
}

/// A collection's config for this crate's tests: one shard, no named vectors, `replication_factor`.
#[cfg(test)]
pub(crate) fn test_config(replication_factor: u32) -> CollectionConfig {
    use quiver_types::config::{CollectionParams, VectorsConfig};
    let params = CollectionParams {
        vectors: VectorsConfig::Multi(std::collections::BTreeMap::new()),
        shard_number: 1,
        sharding_method: None,
        replication_factor,
        write_consistency_factor: 1,
        read_fan_out_factor: None,
        read_fan_out_delay_ms: None,
        on_disk_payload: false,
        payload: None,
        sparse_vectors: std::collections::BTreeMap::new(),
    };
    CollectionConfig {
        params,
        hnsw_config: Default::default(),
        optimizer_config: Default::default(),
        wal_config: Default::default(),
        quantization_config: None,
        strict_mode_config: None,
        metadata: None,
    }
}
