//! Custom sharding (spec §2.6, design record 016): creating, dropping and listing shard keys.
//! In cluster mode a key and its replicas go through consensus (`CreateShardKey`, placed here
//! on the proposing peer); standalone, the key's shards are created locally `Active`.

use crate::cluster_mode::META_OP_TIMEOUT;
use crate::error::{NodeError, Result};
use crate::node::Node;
use quiver_cluster::state::{MetaOperation, place_shards};
use quiver_types::PeerId;
use quiver_types::cluster::{CreateShardingKey, DropShardingKey};
use quiver_types::replica::ReplicaState;
use quiver_types::shard_key::{KeyShards, ShardKey};
use std::time::Duration;
use tokio::time::Instant;

/// A key's shards and replicas as asked, with the collection's defaults filled in.
struct KeyPlan {
    shards_number: u32,
    replication_factor: u32,
    /// The factor stored with the key: `None` follows the collection's.
    own_factor: Option<u32>,
    initial_state: Option<ReplicaState>,
}

fn plan_key(request: &CreateShardingKey, shard_number: u32, collection_factor: u32) -> Result<KeyPlan> {
    if request.shards_number == Some(0) {
        return Err(NodeError::Validation(
            "Validation error in JSON body: shards_number: value 0 invalid, must be 1 or greater".into(),
        ));
    }
    if request.replication_factor == Some(0) {
        return Err(NodeError::Validation(
            "Validation error in JSON body: replication_factor: value 0 invalid, must be 1 or greater".into(),
        ));
    }
    if let Some(state) = request.initial_state
        && !matches!(state, ReplicaState::Active | ReplicaState::Partial)
    {
        return Err(NodeError::BadRequest(format!(
            "Initial state cannot be {state:?}, only Active or Partial are allowed"
        )));
    }
    // With an explicit initial state Qdrant places one replica unless told otherwise.
    let default_factor = if request.initial_state.is_some() { 1 } else { collection_factor };
    Ok(KeyPlan {
        shards_number: request.shards_number.unwrap_or(shard_number.max(1)),
        replication_factor: request.replication_factor.unwrap_or(default_factor),
        own_factor: request.replication_factor.or(request.initial_state.map(|_| 1)),
        initial_state: request.initial_state,
    })
}

impl Node {
    /// `PUT /collections/{name}/shards`: true once the key exists (in cluster mode, once its
    /// replicas are `Active` unless an initial state was asked, within `timeout`).
    pub async fn create_shard_key(
        &self,
        name: &str,
        request: CreateShardingKey,
        timeout: Option<Duration>,
    ) -> Result<bool> {
        let collection = self.resolve(name)?;
        let params = collection.config().params;
        if !params.is_custom_sharding() {
            return Err(auto_sharding());
        }
        let plan = plan_key(&request, params.shard_number, params.replication_factor)?;
        if self.shard_key_exists(&collection, &request.shard_key) {
            return Err(NodeError::BadRequest(format!(
                "Sharding key {} already exists for collection {name}",
                request.shard_key
            )));
        }
        self.check_placement(&request)?;
        match self.cluster().is_some() {
            true => self.create_shard_key_in_cluster(collection.name(), request, plan, timeout).await,
            false => self.create_shard_key_locally(collection.name(), request.shard_key, plan).await,
        }
    }

    async fn create_shard_key_in_cluster(
        &self,
        name: &str,
        request: CreateShardingKey,
        plan: KeyPlan,
        timeout: Option<Duration>,
    ) -> Result<bool> {
        let timeout = timeout.unwrap_or(META_OP_TIMEOUT);
        let started = Instant::now();
        let state = self.cluster_state().ok_or(NodeError::StandaloneMode)?;
        let takers: Vec<PeerId> =
            state.peers.iter().filter(|(_, p)| !p.gone && p.drain.is_none()).map(|(id, _)| *id).collect();
        let pool = request.placement.clone().unwrap_or(takers);
        let placement =
            place_shards(&pool, plan.shards_number, plan.replication_factor, rand::random()).into_values().collect();
        let op = MetaOperation::CreateShardKey {
            collection: name.to_string(),
            shard_key: request.shard_key.clone(),
            placement,
            replication_factor: plan.own_factor,
            initial_state: plan.initial_state.unwrap_or(ReplicaState::Initializing),
            shard_ids: None,
            pinned: request.placement.is_some(),
        };
        self.propose(op, Some(timeout)).await?;
        if plan.initial_state.is_none()
            && let Err(e) = self.wait_replicas_active(name, timeout.saturating_sub(started.elapsed())).await
        {
            tracing::warn!(collection = %name, key = %request.shard_key, error = %e, "shard key replicas not Active in time");
        }
        Ok(true)
    }

    async fn create_shard_key_locally(&self, name: &str, key: ShardKey, plan: KeyPlan) -> Result<bool> {
        let _meta = self.meta_lock.lock().await;
        let collection = self.resolve(name)?;
        let mut keys = collection.routing().keys().clone();
        if keys.get(&key).is_some() {
            return Err(NodeError::BadRequest(format!("Sharding key {key} already exists for collection {name}")));
        }
        let shards = keys.fresh_ids(plan.shards_number);
        keys.insert(KeyShards { key, shards: shards.clone(), replication_factor: plan.own_factor, pinned: false });
        let dir = self.collection_dir(collection.name());
        let task =
            tokio::task::spawn_blocking(move || crate::creating::create_key_marked(&collection, &dir, &keys, &shards));
        task.await.map_err(|e| NodeError::Service(format!("create shard key task: {e}")))??;
        Ok(true)
    }

    /// `POST /collections/{name}/shards/delete`: the key and its shards (with their data) go.
    pub async fn drop_shard_key(
        &self,
        name: &str,
        request: DropShardingKey,
        timeout: Option<Duration>,
    ) -> Result<bool> {
        let collection = self.resolve(name)?;
        if !collection.config().params.is_custom_sharding() {
            return Err(auto_sharding());
        }
        if !self.shard_key_exists(&collection, &request.shard_key) {
            return Err(key_missing(&request.shard_key, name));
        }
        if self.cluster().is_some() {
            let op =
                MetaOperation::DropShardKey { collection: collection.name().to_string(), shard_key: request.shard_key };
            self.propose(op, timeout).await?;
            return Ok(true);
        }
        let _meta = self.meta_lock.lock().await;
        let mut keys = collection.routing().keys().clone();
        if keys.remove(&request.shard_key).is_none() {
            return Err(key_missing(&request.shard_key, name));
        }
        let task = tokio::task::spawn_blocking(move || collection.set_shard_keys(&keys));
        task.await.map_err(|e| NodeError::Service(format!("drop shard key task: {e}")))??;
        Ok(true)
    }

    /// Whether `key` is one of the collection's shard keys (in cluster mode, as consensus has it).
    fn shard_key_exists(&self, collection: &quiver_collection::Collection, key: &ShardKey) -> bool {
        match self.cluster_state() {
            Some(state) => {
                state.resolve_collection(collection.name()).is_some_and(|(_, meta)| meta.shard_keys.get(key).is_some())
            }
            None => collection.routing().keys().get(key).is_some(),
        }
    }

    /// Qdrant's checks of an explicit placement: not empty, and only peers of the cluster (this
    /// peer alone when standalone).
    fn check_placement(&self, request: &CreateShardingKey) -> Result<()> {
        let Some(placement) = &request.placement else { return Ok(()) };
        if placement.is_empty() {
            return Err(NodeError::BadRequest(format!(
                "Sharding key {} placement cannot be empty. If you want to use random placement, do not specify placement",
                request.shard_key
            )));
        }
        let known = |peer: &PeerId| match self.cluster_state() {
            Some(state) => state.peers.contains_key(peer),
            None => *peer == self.peer_id(),
        };
        match placement.iter().find(|peer| !known(peer)) {
            Some(peer) => Err(NodeError::BadRequest(format!("Peer {peer} does not exist"))),
            None => Ok(()),
        }
    }

    /// `GET /collections/{name}/shards`: the keys in order, `None` for auto sharding.
    pub fn list_shard_keys(&self, name: &str) -> Result<Option<Vec<ShardKey>>> {
        let collection = self.resolve(name)?;
        if !collection.config().params.is_custom_sharding() {
            return Ok(None);
        }
        let keys = match self.cluster_state() {
            Some(state) => state.resolve_collection(name).map(|(_, m)| m.shard_keys.clone()).unwrap_or_default(),
            None => collection.routing().keys().clone(),
        };
        Ok(Some(keys.keys().map(|k| k.key.clone()).collect()))
    }
}

/// Qdrant's refusal of a shard key change on an auto-sharded collection (its text is the same
/// for creating and dropping a key).
fn auto_sharding() -> NodeError {
    NodeError::BadRequest("Shard Key cannot be created with Auto sharding method".into())
}

fn key_missing(key: &ShardKey, collection: &str) -> NodeError {
    NodeError::BadRequest(format!("Sharding key {key} does not exist for collection {collection}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(shards: Option<u32>, factor: Option<u32>, state: Option<ReplicaState>) -> CreateShardingKey {
        CreateShardingKey {
            shard_key: "k".into(),
            shards_number: shards,
            replication_factor: factor,
            placement: None,
            initial_state: state,
        }
    }

    #[test]
    fn key_defaults_follow_the_collection_and_qdrant() {
        let plan = plan_key(&request(None, None, None), 2, 3).unwrap();
        assert_eq!((plan.shards_number, plan.replication_factor, plan.own_factor), (2, 3, None));
        let plan = plan_key(&request(Some(4), Some(2), None), 1, 3).unwrap();
        assert_eq!((plan.shards_number, plan.replication_factor, plan.own_factor), (4, 2, Some(2)));
        let plan = plan_key(&request(None, None, Some(ReplicaState::Active)), 1, 3).unwrap();
        assert_eq!((plan.replication_factor, plan.own_factor), (1, Some(1)), "an initial state means one replica");
        assert!(matches!(plan_key(&request(Some(0), None, None), 1, 1), Err(NodeError::Validation(_))));
        assert!(matches!(plan_key(&request(None, Some(0), None), 1, 1), Err(NodeError::Validation(_))));
        let dead = plan_key(&request(None, None, Some(ReplicaState::Dead)), 1, 1);
        assert!(matches!(dead, Err(NodeError::BadRequest(_))));
    }
}
