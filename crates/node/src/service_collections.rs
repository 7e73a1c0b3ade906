//! Service functions for collections and aliases (spec §2).

use crate::error::{NodeError, Result};
use crate::info::{AliasDescription, CollectionClusterInfo, CollectionInfo, LocalShardInfo};
use crate::node::Node;
use quiver_cluster::state::{MetaOperation, MetaResponse};
use quiver_types::config::{
    CollectionConfig, CollectionParams, CreateCollection, SparseVectorParams, UpdateCollection, VectorsConfig,
};
use quiver_types::quantization::Quantization;
use quiver_types::replica::ReplicaState;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub use quiver_types::cluster::AliasAction;

pub(crate) use crate::collection_name::{FORBIDDEN_NAME_CHARS, validate_name};

fn validation(msg: impl std::fmt::Display) -> NodeError {
    NodeError::Validation(quiver_types::validation::json_body(msg))
}

fn at_least_one(field: &str, value: Option<u64>) -> Result<()> {
    match value {
        Some(0) => Err(validation(quiver_types::validation::at_least(field, 0, 1))),
        Some(_) | None => Ok(()),
    }
}

fn validate_create(request: &CreateCollection) -> Result<()> {
    at_least_one("shard_number", request.shard_number.map(u64::from))?;
    at_least_one("replication_factor", request.replication_factor.map(u64::from))?;
    at_least_one("write_consistency_factor", request.write_consistency_factor.map(u64::from))?;
    let vectors = request.vectors.clone().unwrap_or_default().by_name();
    for (name, params) in &vectors {
        if params.size == 0 || params.size > 65536 {
            let path = match name.is_empty() {
                true => "vectors.size".to_string(),
                false => format!("vectors.{name}.size"),
            };
            return Err(validation(quiver_types::validation::between(&path, params.size, 1, 65536)));
        }
        if name.len() > 200 || name.chars().any(|c| FORBIDDEN_NAME_CHARS.contains(&c)) {
            return Err(validation(format!("vectors: invalid vector name `{name}`")));
        }
    }
    for (name, params) in request.sparse_vectors.iter().flatten() {
        if name.is_empty() {
            return Err(NodeError::BadInput("Sparse vector name must not be empty".into()));
        }
        params.normalised(name)?;
        if vectors.contains_key(name) {
            return Err(NodeError::BadInput(format!("Sparse vector name `{name}` clashes with a dense vector name")));
        }
    }
    if let Some(strict) = &request.strict_mode_config {
        quiver_types::strict_mode::StrictModeConfig::parse(strict)?;
    }
    if let Some(q) = &request.quantization_config {
        Quantization::parse(q)?;
    }
    for (name, q) in vectors.iter().filter_map(|(name, p)| Some((name, p.quantization_config.as_ref()?))) {
        Quantization::parse_at(q, &quiver_types::config_ranges::vector_field_path(name, "quantization_config"))?;
    }
    request.validate_ranges()?;
    Ok(())
}

/// Sparse vector params as they are kept (checked by `validate_create` first).
fn normalised_sparse(sparse: BTreeMap<String, SparseVectorParams>) -> BTreeMap<String, SparseVectorParams> {
    sparse
        .into_iter()
        .map(|(name, params)| {
            let params = params.normalised(&name).unwrap_or(params);
            (name, params)
        })
        .collect()
}

impl Node {
    /// The configuration a create request gives a collection on this node (its defaults filled
    /// in from the node's configuration).
    pub fn build_config(&self, request: CreateCollection) -> CollectionConfig {
        let mut hnsw = self.config.hnsw.clone();
        if let Some(diff) = &request.hnsw_config {
            hnsw.apply(diff);
        }
        let mut optimizer = self.config.optimizers.clone();
        if let Some(diff) = &request.optimizers_config {
            optimizer.apply(diff);
        }
        let mut wal = self.config.wal.clone();
        if let Some(diff) = &request.wal_config {
            wal.wal_capacity_mb = diff.wal_capacity_mb.unwrap_or(wal.wal_capacity_mb);
            wal.wal_segments_ahead = diff.wal_segments_ahead.unwrap_or(wal.wal_segments_ahead);
            wal.wal_retain_closed = diff.wal_retain_closed.unwrap_or(wal.wal_retain_closed);
        }
        CollectionConfig {
            params: CollectionParams {
                vectors: request.vectors.unwrap_or(VectorsConfig::Multi(BTreeMap::new())),
                shard_number: request.shard_number.or(self.config.shard_number).unwrap_or(1),
                sharding_method: request.sharding_method,
                replication_factor: request.replication_factor.unwrap_or(self.config.replication_factor),
                write_consistency_factor: request
                    .write_consistency_factor
                    .unwrap_or(self.config.write_consistency_factor),
                read_fan_out_factor: None,
                read_fan_out_delay_ms: None,
                on_disk_payload: request.on_disk_payload.unwrap_or(self.config.on_disk_payload),
                payload: request.payload,
                sparse_vectors: normalised_sparse(request.sparse_vectors.unwrap_or_default()),
            },
            hnsw_config: hnsw,
            optimizer_config: optimizer,
            wal_config: wal,
            quantization_config: request.quantization_config,
            strict_mode_config: request
                .strict_mode_config
                .and_then(|v| quiver_types::strict_mode::StrictModeConfig::parse(&v).ok())
                .and_then(|c| serde_json::to_value(c).ok()),
            metadata: request.metadata,
        }
    }

    /// `PUT /collections/{name}`.
    pub async fn create_collection(
        &self,
        name: &str,
        request: CreateCollection,
        timeout: Option<Duration>,
    ) -> Result<bool> {
        validate_name(name)?;
        validate_create(&request)?;
        self.check_write_lock()?;
        let source = self.init_from_source(&request)?;
        if self.cluster().is_some() {
            let created = self.create_collection_in_cluster(name, request, timeout).await?;
            if let Some(source) = source {
                self.start_init_from(source, name);
            }
            return Ok(created);
        }
        let _meta = self.meta_lock.lock().await;
        if self.collections.read().contains_key(name) {
            return Err(NodeError::AlreadyExists(name.to_string()));
        }
        if self.aliases.target(name).is_some() {
            return Err(alias_named(name));
        }
        self.check_room_for(name, self.collections.read().len())?;
        let config = self.build_config(request);
        let dir = self.collection_dir(name);
        let name_owned = name.to_string();
        let collection = tokio::task::spawn_blocking(move || crate::creating::create_marked(&name_owned, &dir, config))
            .await
            .map_err(|e| NodeError::Service(format!("create collection task: {e}")))??;
        self.collections.write().insert(name.to_string(), Arc::new(collection));
        if let Some(source) = source {
            self.start_init_from(source, name);
        }
        Ok(true)
    }

    /// `PATCH /collections/{name}`.
    pub async fn update_collection(
        &self,
        name: &str,
        request: UpdateCollection,
        timeout: Option<Duration>,
    ) -> Result<bool> {
        request.validate_ranges()?;
        if self.cluster().is_some() {
            let collection = self.resolve(name)?;
            // Refused here with a 400 rather than by every peer's state machine.
            collection.config().apply_update(&request)?;
            let name = collection.name().to_string();
            self.propose(MetaOperation::UpdateCollection { name, update: request }, timeout).await?;
            return Ok(true);
        }
        let _meta = self.meta_lock.lock().await;
        let collection = self.resolve(name)?;
        let mut config = collection.config();
        config.apply_update(&request)?;
        collection.set_config(config)?;
        Ok(true)
    }

    /// `DELETE /collections/{name}`: true if it existed.
    pub async fn delete_collection(&self, name: &str, timeout: Option<Duration>) -> Result<bool> {
        validate_name(name)?;
        if self.cluster().is_some() {
            let op = MetaOperation::DeleteCollection { name: name.to_string() };
            return Ok(!matches!(self.propose(op, timeout).await?, MetaResponse::Changed(false)));
        }
        let _meta = self.meta_lock.lock().await;
        let Some(collection) = self.collections.write().remove(name) else {
            return Ok(false);
        };
        let mut aliases = self.aliases.all();
        aliases.retain(|_, target| target != name);
        self.aliases.replace(aliases)?;
        drop(collection);
        // The directory leaves its name before the delete is answered (and the meta lock
        // released): a create of the same name right after must not find its new files moved
        // away by this delete. Only the removal of the moved files runs in the background.
        let (storage_path, dir) = (self.config.storage_path.clone(), self.collection_dir(name));
        let moved = tokio::task::spawn_blocking(move || crate::node::move_to_trash(&storage_path, &dir))
            .await
            .map_err(|e| NodeError::Service(format!("delete collection task: {e}")))?;
        match moved {
            Ok(trash) => drop(tokio::task::spawn_blocking(move || {
                if let Err(e) = std::fs::remove_dir_all(&trash) {
                    tracing::warn!(error = %e, "removing a deleted collection's files failed");
                }
            })),
            Err(e) => tracing::warn!(error = %e, "moving a deleted collection's files aside failed"),
        }
        Ok(true)
    }

    pub fn list_collections(&self) -> Vec<String> {
        match self.cluster_state() {
            Some(state) => state.collections.keys().cloned().collect(),
            None => self.collections.read().keys().cloned().collect(),
        }
    }

    /// `GET /collections/{name}/exists`: a name breaking the naming rule is refused (422) as
    /// Qdrant's path validation refuses it; otherwise whether it names a collection or alias.
    pub fn collection_exists(&self, name: &str) -> Result<bool> {
        validate_name(name)?;
        Ok(self.resolve(name).is_ok())
    }

    /// `GET /collections/{name}`.
    pub async fn collection_info(&self, name: &str) -> Result<CollectionInfo> {
        let collection = self.resolve(name)?;
        let payload_schema = self.payload_schema(name).await?;
        // Every shard counted once, from a replica here or on another peer (design record 030).
        let counts = collection.info_counts().await;
        // While the background indexer works the collection is `yellow`, as Qdrant's is while
        // it optimizes; searches stay correct meanwhile (unindexed points are scanned exactly).
        let warnings = self.unavailable_shard_warnings(collection.name());
        let status = match (warnings.is_empty(), counts.indexing_here) {
            (false, _) => "red",
            (true, true) => "yellow",
            (true, false) => "green",
        };
        Ok(CollectionInfo {
            status,
            optimizer_status: "ok",
            warnings,
            indexed_vectors_count: counts.indexed_vectors,
            points_count: counts.points,
            segments_count: collection.replica_sets().len(),
            config: collection.config(),
            payload_schema,
            update_queue: crate::info::UpdateQueueInfo::default(),
        })
    }

    /// Cluster mode: one warning per shard whose data is lost: every replica `Dead`, so it stays
    /// unavailable until a replica is recovered, e.g. from a snapshot. A shard with no `Active`
    /// replica that is being created or filled (a shard key created `Partial`, Qdrant's tiered
    /// multitenancy; a recovery) is no warning: as in Qdrant, the status then reflects the
    /// optimizers only.
    fn unavailable_shard_warnings(&self, name: &str) -> Vec<crate::info::CollectionWarning> {
        let Some(state) = self.cluster_state() else { return Vec::new() };
        let Some((_, meta)) = state.resolve_collection(name) else { return Vec::new() };
        meta.shards
            .iter()
            .filter(|(_, replicas)| !replicas.is_empty() && replicas.values().all(|s| *s == ReplicaState::Dead))
            .map(|(shard_id, replicas)| {
                let states: Vec<String> = replicas.iter().map(|(peer, s)| format!("{peer}: {s:?}")).collect();
                crate::info::CollectionWarning {
                    message: format!(
                        "Shard {shard_id} has no active replica ({}); its points cannot be read or written until \
                         a replica is recovered, e.g. from a snapshot",
                        states.join(", ")
                    ),
                }
            })
            .collect()
    }

    /// `GET /collections/{name}/cluster` (standalone: every shard local and Active).
    pub async fn collection_cluster_info(&self, name: &str) -> Result<CollectionClusterInfo> {
        if let Some(state) = self.cluster_state() {
            let mut info = self.cluster_info_from_state(&state, name)?;
            self.add_transfer_comments(name, &mut info).await;
            return Ok(info);
        }
        let collection = self.resolve(name)?;
        let routing = collection.routing();
        let local_shards: Vec<LocalShardInfo> = collection
            .replica_sets()
            .iter()
            .filter(|set| set.local().is_some())
            .map(|set| LocalShardInfo {
                shard_id: set.shard_id,
                shard_key: routing.key_of(set.shard_id).cloned(),
                points_count: set.local_points(),
                state: set.local_state(),
            })
            .collect();
        Ok(CollectionClusterInfo {
            peer_id: self.peer_id(),
            shard_count: local_shards.len(),
            local_shards,
            remote_shards: Vec::new(),
            shard_transfers: Vec::new(),
            placement: None,
        })
    }

    /// `POST /collections/aliases`: all actions or none.
    pub async fn update_aliases(&self, actions: Vec<AliasAction>, timeout: Option<Duration>) -> Result<bool> {
        if self.cluster().is_some() {
            self.propose(MetaOperation::UpdateAliases { actions }, timeout).await?;
            return Ok(true);
        }
        let _meta = self.meta_lock.lock().await;
        let mut map = self.aliases.all();
        for action in actions {
            match action {
                AliasAction::CreateAlias { collection_name, alias_name } => {
                    if !self.collections.read().contains_key(&collection_name) {
                        return Err(NodeError::collection_not_found(&collection_name));
                    }
                    if self.collections.read().contains_key(&alias_name) {
                        return Err(NodeError::AlreadyExists(alias_name));
                    }
                    map.insert(alias_name, collection_name);
                }
                AliasAction::DeleteAlias { alias_name } => {
                    if map.remove(&alias_name).is_none() {
                        return Err(NodeError::NotFound(format!("Alias {alias_name} does not exists!")));
                    }
                }
                AliasAction::RenameAlias { old_alias_name, new_alias_name } => {
                    let target = map
                        .remove(&old_alias_name)
                        .ok_or_else(|| NodeError::NotFound(format!("Alias {old_alias_name} does not exists!")))?;
                    if self.collections.read().contains_key(&new_alias_name) {
                        return Err(NodeError::AlreadyExists(new_alias_name));
                    }
                    map.insert(new_alias_name, target);
                }
            }
        }
        self.aliases.replace(map)?;
        Ok(true)
    }

    /// Every alias, or those of one collection.
    pub fn list_aliases(&self, collection: Option<&str>) -> Result<Vec<AliasDescription>> {
        if let Some(name) = collection {
            self.resolve(name)?;
        }
        let aliases = match self.cluster_state() {
            Some(state) => state.aliases,
            None => self.aliases.all(),
        };
        Ok(aliases
            .into_iter()
            .filter(|(_, target)| collection.is_none_or(|c| c == target))
            .map(|(alias_name, collection_name)| AliasDescription { alias_name, collection_name })
            .collect())
    }
}

/// Qdrant's refusal of a new collection named like an alias (400, `Wrong input`).
pub(crate) fn alias_named(name: &str) -> NodeError {
    NodeError::BadInput(format!("Can't create collection with name {name}. Alias with the same name already exists"))
}

impl Node {
    /// Qdrant's refusal of a new collection beyond `max_collections` (400, `Bad request`) when
    /// `existing` collections are there already.
    pub(crate) fn check_room_for(&self, name: &str, existing: usize) -> Result<()> {
        match self.config.max_collections {
            Some(max) if existing >= max => Err(NodeError::BadRequest(format!(
                "Can't create collection with name {name}. Max collections limit reached: {max}"
            ))),
            Some(_) | None => Ok(()),
        }
    }
}
