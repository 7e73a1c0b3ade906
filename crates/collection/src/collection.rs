//! `Collection`: its configuration, its shards' replica sets, and the write path.

use crate::context::{ClusterPorts, CollectionContext};
use crate::error::{CollectionError, Result};
use crate::progress::TransferProgress;
use crate::remote::{ShardRequest, ShardResponse};
use crate::replica_set::ReplicaSet;
use crate::routing::{Routing, WriteTarget};
use crate::transfer::Copied;
use crate::validate;
use parking_lot::RwLock;
use quiver_shard::{IndexConfig, LocalShard, QuantizationKind, ShardConfig, VectorSpec};
use quiver_types::PeerId;
use quiver_types::cluster::TransferMethod;
use quiver_types::config::CollectionConfig;
use quiver_types::filter::Filter;
use quiver_types::ops::{UpdateOperation, UpdateResult, UpdateStatus};
use quiver_types::quantization::Quantization;
use quiver_types::query::{QueryVector, SearchParams, WithPayload, WithVector};
use quiver_types::shard_key::{ShardKeySelector, ShardKeys};
use quiver_types::{PointId, ShardId};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

const CONFIG_FILE: &str = "config.json";
const PAYLOAD_INDEX_FILE: &str = "payload_index.json";
/// Custom sharding: the shard keys and their shards (absent for auto sharding).
const SHARD_KEYS_FILE: &str = "shard_keys.json";

/// Payload index definitions: field path → schema (`"keyword"` or a params object).
pub type PayloadIndexSchema = BTreeMap<String, serde_json::Value>;

/// A search over all shards of a collection (before per-shard splitting).
#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub vector_name: String,
    pub query: QueryVector,
    pub filter: Option<Filter>,
    pub params: Option<SearchParams>,
    pub limit: usize,
    pub offset: usize,
    pub score_threshold: Option<f32>,
    pub with_payload: WithPayload,
    pub with_vector: WithVector,
    /// The shard keys searched (custom sharding); every shard when `None`.
    pub shard_key: Option<ShardKeySelector>,
}

/// One collection on this peer: routes each request to its shards' replica sets, which own
/// the shard protocol (ordering, replication, reads, transfers).
pub struct Collection {
    ctx: Arc<CollectionContext>,
    payload_index: RwLock<PayloadIndexSchema>,
    /// Changes only when shard keys are created or dropped (custom sharding).
    shards: RwLock<BTreeMap<ShardId, Arc<ReplicaSet>>>,
    routing: RwLock<Arc<Routing>>,
}

fn shard_config(config: &CollectionConfig) -> ShardConfig {
    let dense = config
        .params
        .vectors
        .by_name()
        .into_iter()
        .map(|(name, p)| {
            let spec = VectorSpec {
                dim: p.size as usize,
                distance: p.distance,
                datatype: p.datatype.unwrap_or_default(),
                multivector: p.multivector_config.is_some(),
            };
            (name, spec)
        })
        .collect();
    let wal_segment_bytes = (config.wal_config.wal_capacity_mb.max(1) as u64) * 1024 * 1024;
    let hnsw = config
        .params
        .vectors
        .by_name()
        .into_iter()
        .map(|(name, p)| {
            let mut effective = config.hnsw_config.clone();
            if let Some(diff) = &p.hnsw_config {
                effective.apply(diff);
            }
            (name, effective)
        })
        .collect();
    let indexing_threshold_kb = config.optimizer_config.indexing_threshold.unwrap_or(10_000);
    ShardConfig {
        dense,
        sparse: config.params.sparse_vectors.keys().cloned().collect(),
        wal_segment_bytes,
        index: IndexConfig {
            hnsw,
            indexing_threshold_kb,
            quantization: quantization(config),
            on_disk: on_disk(config),
            on_disk_payload: config.params.on_disk_payload,
            ..IndexConfig::default()
        },
    }
}

/// The quantization of each plain dense vector: its own `quantization_config`, else the
/// collection's (multivectors are searched by `max_sim` on the originals).
fn quantization(config: &CollectionConfig) -> BTreeMap<String, QuantizationKind> {
    let vectors = config.params.vectors.by_name();
    let plain = vectors.into_iter().filter(|(_, p)| p.multivector_config.is_none());
    plain
        .filter_map(|(name, p)| {
            let effective =
                Quantization::effective(p.quantization_config.as_ref(), config.quantization_config.as_ref());
            let kind = match effective? {
                Quantization::Int8 { quantile, .. } => QuantizationKind::Int8 { quantile },
                Quantization::Binary { encoding, query_bits, .. } => QuantizationKind::Binary { encoding, query_bits },
                Quantization::Product { compression, .. } => QuantizationKind::Product { compression },
            };
            Some((name, kind))
        })
        .collect()
}

/// The dense vectors whose originals are kept in memory-mapped files (`on_disk: true`).
fn on_disk(config: &CollectionConfig) -> BTreeSet<String> {
    let vectors = config.params.vectors.by_name().into_iter();
    vectors.filter(|(_, p)| p.on_disk == Some(true)).map(|(name, _)| name).collect()
}

fn service(context: &str, e: impl std::fmt::Display) -> CollectionError {
    CollectionError::Service(format!("{context}: {e}"))
}

/// Writes `bytes` to `path` atomically: temporary file, fsync, rename, fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

impl Collection {
    /// Creates the collection's directory with local replicas of `local_shards` (every shard
    /// when `None`).
    pub fn create(
        name: &str,
        dir: &Path,
        config: CollectionConfig,
        local_shards: Option<&[ShardId]>,
    ) -> Result<Collection> {
        std::fs::create_dir_all(dir).map_err(|e| service("create collection dir", e))?;
        let bytes = serde_json::to_vec_pretty(&config).map_err(|e| service("encode config", e))?;
        write_atomic(&dir.join(CONFIG_FILE), &bytes).map_err(|e| service("write collection config", e))?;
        let all = Routing::new(config.params.is_custom_sharding(), config.params.shard_number, ShardKeys::default())
            .all_shards();
        let local = local_shards.unwrap_or(&all).to_vec();
        Self::open_with(name, dir, config, ShardKeys::default(), &local)
    }

    /// Opens an existing collection from `dir` with the local shards found on disk.
    pub fn open(name: &str, dir: &Path) -> Result<Collection> {
        let bytes = std::fs::read(dir.join(CONFIG_FILE)).map_err(|e| service("read collection config", e))?;
        let config: CollectionConfig =
            serde_json::from_slice(&bytes).map_err(|e| service("parse collection config", e))?;
        let keys: ShardKeys = match std::fs::read(dir.join(SHARD_KEYS_FILE)) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| service("parse shard keys", e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ShardKeys::default(),
            Err(e) => return Err(service("read shard keys", e)),
        };
        let all =
            Routing::new(config.params.is_custom_sharding(), config.params.shard_number, keys.clone()).all_shards();
        let mut local = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| service("list shards", e))? {
            let entry = entry.map_err(|e| service("list shards", e))?;
            let shard = entry.file_name().to_str().and_then(|n| n.parse::<ShardId>().ok());
            if let Some(shard_id) = shard.filter(|s| all.contains(s) && entry.path().is_dir()) {
                local.push(shard_id);
            }
        }
        local.sort_unstable();
        Self::open_with(name, dir, config, keys, &local)
    }

    fn open_with(
        name: &str,
        dir: &Path,
        config: CollectionConfig,
        keys: ShardKeys,
        local_shards: &[ShardId],
    ) -> Result<Collection> {
        let shard_cfg = shard_config(&config);
        let routing = Routing::new(config.params.is_custom_sharding(), config.params.shard_number, keys);
        let ctx = Arc::new(CollectionContext::new(name, dir, config.clone()));
        let mut shards = BTreeMap::new();
        for shard_id in routing.all_shards() {
            let local = match local_shards.contains(&shard_id) {
                true => Some(Arc::new(LocalShard::open(&dir.join(shard_id.to_string()), shard_cfg.clone())?)),
                false => None,
            };
            shards.insert(shard_id, Arc::new(ReplicaSet::new(shard_id, local, Arc::clone(&ctx))));
        }
        let payload_index: PayloadIndexSchema = match std::fs::read(dir.join(PAYLOAD_INDEX_FILE)) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| service("parse payload index definitions", e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => PayloadIndexSchema::new(),
            Err(e) => return Err(service("read payload index definitions", e)),
        };
        for shard in shards.values().filter_map(|set| set.local()) {
            shard.set_payload_indexes(&payload_index);
        }
        Ok(Collection {
            ctx,
            payload_index: RwLock::new(payload_index),
            shards: RwLock::new(shards),
            routing: RwLock::new(Arc::new(routing)),
        })
    }

    pub fn name(&self) -> &str {
        self.ctx.name()
    }

    pub(crate) fn dir(&self) -> &Path {
        self.ctx.dir()
    }

    /// The cluster ports (`None` standalone).
    pub(crate) fn cluster(&self) -> Option<&ClusterPorts> {
        self.ctx.cluster()
    }

    /// Connects the collection to the cluster (once, by the node's reconciler).
    pub fn attach_cluster(&self, ports: ClusterPorts) {
        self.ctx.attach(ports);
    }

    /// Creates an empty local replica of `shard_id` (a transfer's target on this peer); no-op if
    /// one exists.
    pub fn add_local_shard(&self, shard_id: ShardId) -> Result<()> {
        let set = self.replica_set(shard_id)?;
        if set.has_local() {
            return Ok(());
        }
        let dir = self.dir().join(shard_id.to_string());
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| service("remove stale shard dir", e))?;
        }
        let shard = LocalShard::open(&dir, self.ctx.with_config(shard_config))?;
        set.replace_local(Some(Arc::new(shard)));
        Ok(())
    }

    /// Removes the local replica of `shard_id` and its files (the replica was dropped or moved).
    pub fn remove_local_shard(&self, shard_id: ShardId) -> Result<()> {
        let set = self.replica_set(shard_id)?;
        if set.replace_local(None).is_none() {
            return Ok(());
        }
        let dir = self.dir().join(shard_id.to_string());
        let trash = self.dir().join(format!(".removed-{shard_id}-{}", std::process::id()));
        std::fs::rename(&dir, &trash)
            .and_then(|()| std::fs::remove_dir_all(&trash))
            .map_err(|e| service("remove shard files", e))
    }

    /// Custom sharding: adopts `keys` (persisted first). New shards get replica sets (their
    /// local replicas are the caller's to add) before the routing names them; a dropped key's
    /// shards leave the routing first, then go with their files.
    pub fn set_shard_keys(&self, keys: &ShardKeys) -> Result<()> {
        if self.routing().keys() == keys {
            return Ok(());
        }
        let bytes = serde_json::to_vec_pretty(keys).map_err(|e| service("encode shard keys", e))?;
        write_atomic(&self.dir().join(SHARD_KEYS_FILE), &bytes).map_err(|e| service("write shard keys", e))?;
        let params = self.config().params;
        let routing = Routing::new(params.is_custom_sharding(), params.shard_number, keys.clone());
        let wanted = routing.all_shards();
        {
            let mut shards = self.shards.write();
            for shard_id in &wanted {
                shards
                    .entry(*shard_id)
                    .or_insert_with(|| Arc::new(ReplicaSet::new(*shard_id, None, Arc::clone(&self.ctx))));
            }
        }
        *self.routing.write() = Arc::new(routing);
        let stale: Vec<ShardId> = self.shards.read().keys().filter(|s| !wanted.contains(s)).copied().collect();
        for shard_id in stale {
            self.remove_local_shard(shard_id)?;
            self.shards.write().remove(&shard_id);
        }
        Ok(())
    }

    pub fn config(&self) -> CollectionConfig {
        self.ctx.config()
    }

    /// How many times `strict_mode_config` changed since the collection was opened.
    pub fn strict_mode_changes(&self) -> u64 {
        self.ctx.strict_mode_changes()
    }

    /// Replaces the configuration. Vector names created or dropped change the local shards'
    /// columns (design record 018): a new column exists in every local shard before the
    /// configuration names it (so a crash in between leaves the old configuration and no
    /// trace of the new name); a dropped one leaves the configuration first (a crash in between
    /// is finished when the shards open: they skip vectors the configuration does not name).
    /// Blocking (shard checkpoints).
    pub fn set_config(&self, config: CollectionConfig) -> Result<()> {
        let before = self.ctx.with_config(shard_config);
        let after = shard_config(&config);
        // `on_disk` (`on_disk_payload`) changed: the columns (payloads) move between memory and
        // their mapped files.
        let columns_change = before.dense != after.dense
            || before.sparse != after.sparse
            || before.index.on_disk != after.index.on_disk
            || before.index.on_disk_payload != after.index.on_disk_payload;
        let drops = before.dense.iter().any(|(name, spec)| after.dense.get(name) != Some(spec))
            || before.sparse.iter().any(|name| !after.sparse.contains(name));
        if columns_change && !drops {
            self.set_shard_vectors(&after)?;
        }
        let bytes = serde_json::to_vec_pretty(&config).map_err(|e| service("encode config", e))?;
        write_atomic(&self.dir().join(CONFIG_FILE), &bytes).map_err(|e| service("write collection config", e))?;
        // Quantization and indexing changes converge in the background in each local shard.
        for shard in self.replica_sets().iter().filter_map(|set| set.local()) {
            shard.set_index_settings(&after.index);
        }
        self.ctx.set_config(config);
        if columns_change && drops {
            self.set_shard_vectors(&after)?;
        }
        Ok(())
    }

    fn set_shard_vectors(&self, config: &ShardConfig) -> Result<()> {
        for shard in self.replica_sets().iter().filter_map(|set| set.local()) {
            shard.set_vectors(config.clone())?;
        }
        Ok(())
    }

    /// The payload index definitions.
    pub fn payload_index(&self) -> PayloadIndexSchema {
        self.payload_index.read().clone()
    }

    /// Adds (`Some`) or removes (`None`) the index definition of `field`, persisted atomically.
    pub fn set_payload_index(&self, field: &str, schema: Option<serde_json::Value>) -> Result<()> {
        let mut map = self.payload_index.write();
        let mut next = map.clone();
        match schema {
            Some(schema) => next.insert(field.to_string(), schema),
            None => next.remove(field),
        };
        let bytes = serde_json::to_vec_pretty(&next).map_err(|e| service("encode payload index definitions", e))?;
        write_atomic(&self.dir().join(PAYLOAD_INDEX_FILE), &bytes)
            .map_err(|e| service("write payload index definitions", e))?;
        for shard in self.replica_sets().iter().filter_map(|set| set.local()) {
            shard.set_payload_indexes(&next);
        }
        *map = next;
        Ok(())
    }

    /// The sequence number of the last write applied by this peer's replicas (the highest over
    /// its local shards; 0 without any): a meta change such as a payload index definition
    /// takes effect after every write up to it, so it is the change's operation id.
    pub fn applied_seq(&self) -> u64 {
        self.replica_sets().iter().filter_map(|set| set.local()).map(|shard| shard.applied_seq()).max().unwrap_or(0)
    }

    /// The shard of point `id` when the collection uses auto sharding.
    pub fn shard_of(&self, id: &PointId) -> ShardId {
        self.routing().write_targets(None).ok().and_then(|t| t.first().map(|t| t.shard_of(id))).unwrap_or(0)
    }

    /// The routing table (shard keys and their rings) as it is now.
    pub fn routing(&self) -> Arc<Routing> {
        Arc::clone(&self.routing.read())
    }

    /// The replica set of `shard_id`.
    pub fn replica_set(&self, shard_id: ShardId) -> Result<Arc<ReplicaSet>> {
        self.shards
            .read()
            .get(&shard_id)
            .cloned()
            .ok_or_else(|| CollectionError::NotFound(format!("Shard {shard_id} of {} does not exist", self.name())))
    }

    /// Every replica set, in shard id order.
    pub fn replica_sets(&self) -> Vec<Arc<ReplicaSet>> {
        self.shards.read().values().cloned().collect()
    }

    /// Total points over local shards.
    pub fn points_count(&self) -> usize {
        self.replica_sets().iter().map(|set| set.local_points()).sum()
    }

    /// Dense vectors held in ANN indexes over local shards, and whether indexing is under way.
    pub fn index_status(&self) -> (usize, bool) {
        self.replica_sets().iter().filter_map(|set| set.local()).fold((0, false), |(n, busy), shard| {
            let status = shard.index_status();
            (n + status.indexed_vectors, busy || status.indexing)
        })
    }

    /// Dense vectors per vector name over local shards (metrics).
    pub fn vector_counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for shard in self.shards.read().values().filter_map(|set| set.local()) {
            for (name, n) in shard.vector_counts() {
                *counts.entry(name).or_insert(0) += n;
            }
        }
        counts
    }

    /// Validates `op`, splits it by shard within the shard keys `shard_key` names (spec §3.2),
    /// and applies each part (through each shard's primary); `wait` waits until the write is
    /// durable on every replica that can serve it.
    pub async fn update(
        &self,
        mut op: UpdateOperation,
        shard_key: Option<&ShardKeySelector>,
        wait: bool,
    ) -> Result<UpdateResult> {
        let shard_key = self.resolve_selector(shard_key, true)?;
        let targets = self.routing().write_targets(shard_key.as_deref())?;
        self.ctx.await_vector_names(&op).await?;
        self.ctx.with_config(|config| validate::prepare_operation(config, &mut op))?;
        let named = partial_ids_order(&op);
        let parts: Vec<(ShardId, UpdateOperation)> = match targets.as_slice() {
            [target] => split_by_shard_owned(target, op),
            _ => targets.iter().flat_map(|target| split_by_shard(target, &op)).collect(),
        };
        for (shard_id, _) in &parts {
            self.replica_set(*shard_id)?;
        }
        let results =
            futures::future::join_all(parts.into_iter().map(|(s, part)| self.update_shard(s, part, wait))).await;
        let mut merged = UpdateResult {
            operation_id: None,
            status: if wait { UpdateStatus::Completed } else { UpdateStatus::Acknowledged },
            missing_point: None,
        };
        let mut missing = Vec::new();
        for result in results {
            let result = result?;
            missing.extend(result.missing_point);
            let operation_id = result.operation_id.map(quiver_types::ops::client_operation_id);
            merged.operation_id = merged.operation_id.max(operation_id);
        }
        // Applied to the points that exist; the first missing one (in the order named) is a 404.
        match missing.into_iter().min_by_key(|id| named.get(id).copied()) {
            Some(id) => Err(CollectionError::NotFound(format!("No point with id {id} found"))),
            None => Ok(merged),
        }
    }

    /// Writes one shard's part of an operation through its replica set (see
    /// [`ReplicaSet::write`] for cancel safety).
    async fn update_shard(&self, shard_id: ShardId, op: UpdateOperation, wait: bool) -> Result<UpdateResult> {
        self.replica_set(shard_id)?.write(op, wait).await
    }

    /// Checkpoints every shard whose WAL outgrew `wal_bytes_max` (or every changed shard if `force`),
    /// of the local replicas that are current (`ReplicaSet::local_to_checkpoint`).
    pub fn checkpoint_due_shards(&self, wal_bytes_max: u64, force: bool) -> Result<()> {
        for set in self.replica_sets() {
            let Some(shard) = set.local_to_checkpoint() else { continue };
            if shard.checkpoint_due(wal_bytes_max, force) {
                shard.checkpoint()?;
            }
        }
        Ok(())
    }

    /// Fsyncs every shard's WAL.
    pub fn sync(&self) -> Result<()> {
        for set in self.replica_sets() {
            if let Some(shard) = set.local() {
                shard.sync()?;
            }
        }
        Ok(())
    }
}

/// The position of each id an operation on existing points names (`partial_ids`: a missing point
/// is reported as the first one the client named); empty for the others, which never report one.
fn partial_ids_order(op: &UpdateOperation) -> HashMap<PointId, usize> {
    let ids = op.partial_ids().unwrap_or_default();
    let mut order = HashMap::new();
    for (i, id) in ids.iter().enumerate() {
        order.entry(*id).or_insert(i);
    }
    order
}

/// [`split_by_shard`] of an operation needed nowhere else: when it goes to one shard whole (its
/// ids all hash there, or the target has one shard), it moves there instead of being copied.
fn split_by_shard_owned(target: &WriteTarget, op: UpdateOperation) -> Vec<(ShardId, UpdateOperation)> {
    let whole = match op.point_ids() {
        Some(ids) => {
            let mut shards = ids.iter().map(|id| target.shard_of(id));
            let first = shards.next().or_else(|| target.shards.first().copied());
            first.filter(|s| shards.all(|other| other == *s))
        }
        None => match target.shards.as_slice() {
            [only] => Some(*only),
            _ => None,
        },
    };
    match whole {
        Some(shard) => vec![(shard, op)],
        None => split_by_shard(target, &op),
    }
}

/// The parts of `op` for each shard of `target`: id-based operations split by the ring,
/// the others sent to every shard of the target.
fn split_by_shard(target: &WriteTarget, op: &UpdateOperation) -> Vec<(ShardId, UpdateOperation)> {
    let Some(ids) = op.point_ids() else {
        return target.shards.iter().map(|s| (*s, op.clone())).collect();
    };
    let mut by_shard: BTreeMap<ShardId, HashSet<PointId>> = BTreeMap::new();
    for id in ids {
        by_shard.entry(target.shard_of(&id)).or_default().insert(id);
    }
    if by_shard.is_empty() {
        // Nothing to route: still log it on one shard so the caller gets an operation id.
        return target.shards.first().map(|s| vec![(*s, op.clone())]).unwrap_or_default();
    }
    by_shard.into_iter().map(|(shard, ids)| (shard, op.restricted_to(&ids))).collect()
}

/// Routing of the shard protocol: each call goes to the shard's replica set, which owns it.
impl Collection {
    /// Serves a request another peer sent to this peer's replica of `shard_id`.
    pub async fn handle_shard_request(&self, shard_id: ShardId, request: ShardRequest) -> Result<ShardResponse> {
        self.replica_set(shard_id)?.serve(request).await
    }

    /// Confirms every local `Active` replica not yet confirmed current.
    pub async fn verify_replicas(&self) {
        for set in self.replica_sets() {
            set.verify().await;
        }
    }

    /// As primary of any of its shards: brings lagging replicas up to date.
    pub async fn repair_replicas(&self) {
        for set in self.replica_sets() {
            set.repair_replicas().await;
        }
    }

    /// Forgets every confirmation (this peer lost contact with the cluster).
    pub fn unverify_replicas(&self) {
        self.replica_sets().iter().for_each(|set| set.unverify());
    }

    /// Reads shard `shard_id` with the request's read consistency.
    pub(crate) async fn read_shard(&self, shard_id: ShardId, request: ShardRequest) -> Result<ShardResponse> {
        self.replica_set(shard_id)?.read(request).await
    }

    /// Target side: copies shard `shard_id` from `source` (see [`ReplicaSet::copy_from`]).
    pub async fn copy_shard(
        &self,
        shard_id: ShardId,
        source: PeerId,
        method: TransferMethod,
        progress: &TransferProgress,
        current: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<Copied> {
        self.replica_set(shard_id)?.copy_from(source, method, progress, current).await
    }

    /// The progress comment of transfer `from -> to` of shard `shard_id`, asked of its target.
    pub async fn transfer_comment(&self, shard_id: ShardId, from: PeerId, to: PeerId) -> Option<String> {
        self.replica_set(shard_id).ok()?.ask_transfer_comment(from, to).await
    }

    /// Target side: asks shard `shard_id`'s primary to finish transfer `from -> to`.
    pub async fn finish_transfer(&self, shard_id: ShardId, from: PeerId, to: PeerId) -> Result<()> {
        self.replica_set(shard_id)?.finish_transfer(from, to).await
    }
}

#[cfg(test)]
#[path = "tests_split.rs"]
mod tests_split;
