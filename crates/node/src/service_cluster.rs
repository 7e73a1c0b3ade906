//! Collection operations in cluster mode: creation with placement over the peers, and the
//! collection's cluster view from the metadata state.

use crate::cluster_mode::META_OP_TIMEOUT;
use crate::error::{NodeError, Result};
use crate::info::{CollectionClusterInfo, LocalShardInfo, RemoteShardInfo};
use crate::node::Node;
use quiver_cluster::state::{ClusterState, MetaOperation, place_shards};
use quiver_types::config::CreateCollection;
use quiver_types::replica::ReplicaState;
use std::time::Duration;
use tokio::time::Instant;

impl Node {
    /// Creates a collection through consensus (spec §2.1 cluster behaviour): placement over all
    /// peers, replicas `Initializing` until each peer has created them; waits (within `timeout`)
    /// for every replica to be `Active`, warning only if that wait fails.
    pub(crate) async fn create_collection_in_cluster(
        &self,
        name: &str,
        mut request: CreateCollection,
        timeout: Option<Duration>,
    ) -> Result<bool> {
        let timeout = timeout.unwrap_or(META_OP_TIMEOUT);
        let started = Instant::now();
        let state = self.cluster_state().ok_or(NodeError::StandaloneMode)?;
        if !state.collections.contains_key(name) {
            self.check_room_for(name, state.collections.len())?;
        }
        let peers: Vec<u64> = state.peers.keys().copied().collect();
        let custom = request.sharding_method == Some(quiver_types::shard_key::ShardingMethod::Custom);
        // Custom sharding: `shard_number` is the default number of shards per key (Qdrant: 1).
        let default_shards = if custom { 1 } else { peers.len().max(1) as u32 };
        request.shard_number = request.shard_number.or(self.config.shard_number).or(Some(default_shards));
        let config = self.build_config(request);
        // Custom sharding places shards per key (`CreateShardKey`), none at creation.
        let placement = match config.params.is_custom_sharding() {
            true => Default::default(),
            false => place_shards(&peers, config.params.shard_number, config.params.replication_factor, rand::random()),
        };
        let op = MetaOperation::CreateCollection {
            name: name.to_string(),
            config,
            placement,
            initial_state: ReplicaState::Initializing,
            incarnation: crate::cluster_context::new_incarnation(),
        };
        self.propose(op, Some(timeout)).await?;
        if let Err(e) = self.wait_replicas_active(name, timeout.saturating_sub(started.elapsed())).await {
            tracing::warn!(collection = %name, error = %e, "replicas did not all become Active in time");
        }
        self.await_peers_synced(timeout.saturating_sub(started.elapsed())).await;
        Ok(true)
    }

    pub(crate) async fn wait_replicas_active(&self, name: &str, timeout: Duration) -> Result<()> {
        let cluster = self.cluster().ok_or(NodeError::StandaloneMode)?;
        let mut states = cluster.consensus.subscribe();
        let all_active = |s: &quiver_cluster::AppliedState| {
            s.state
                .collections
                .get(name)
                .is_some_and(|meta| meta.shards.values().flat_map(|r| r.values()).all(|st| *st == ReplicaState::Active))
        };
        match tokio::time::timeout(timeout, states.wait_for(|s| all_active(s))).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(NodeError::Service("consensus stopped".into())),
            Err(_) => Err(NodeError::Timeout(format!("replicas of {name} not Active after {timeout:?}"))),
        }
    }

    /// Adds each running transfer's progress `comment`, asked of its target (spec §4.5: present
    /// where known).
    pub(crate) async fn add_transfer_comments(&self, name: &str, info: &mut CollectionClusterInfo) {
        let Ok(collection) = self.resolve(name) else { return };
        let comments = info.shard_transfers.iter().map(|t| {
            let field = |k: &str| t.get(k).and_then(serde_json::Value::as_u64);
            let collection = &collection;
            async move {
                let (shard_id, from, to) = (field("shard_id")?, field("from")?, field("to")?);
                collection.transfer_comment(u32::try_from(shard_id).ok()?, from, to).await
            }
        });
        let comments = futures::future::join_all(comments).await;
        for (transfer, comment) in info.shard_transfers.iter_mut().zip(comments) {
            if let Some(comment) = comment {
                transfer["comment"] = serde_json::json!(comment);
            }
        }
    }

    pub(crate) fn cluster_info_from_state(&self, state: &ClusterState, name: &str) -> Result<CollectionClusterInfo> {
        let (_, meta) = state.resolve_collection(name).ok_or_else(|| NodeError::collection_not_found(name))?;
        let me = self.peer_id();
        let local = self.resolve(name).ok();
        let mut local_shards = Vec::new();
        let mut remote_shards = Vec::new();
        for (shard_id, replicas) in &meta.shards {
            let shard_key = meta.shard_key_of(*shard_id).cloned();
            for (peer_id, replica_state) in replicas {
                if *peer_id == me {
                    let points_count = local
                        .as_ref()
                        .and_then(|c| c.replica_set(*shard_id).ok().map(|s| s.local_points()))
                        .unwrap_or(0);
                    local_shards.push(LocalShardInfo {
                        shard_id: *shard_id,
                        shard_key: shard_key.clone(),
                        points_count,
                        state: *replica_state,
                    });
                } else {
                    remote_shards.push(RemoteShardInfo {
                        shard_id: *shard_id,
                        shard_key: shard_key.clone(),
                        peer_id: *peer_id,
                        state: *replica_state,
                    });
                }
            }
        }
        let shard_transfers = meta
            .transfers
            .iter()
            .map(|t| {
                let mut info = serde_json::json!({"shard_id": t.shard_id, "from": t.from, "to": t.to, "sync": t.sync});
                if let Some(method) = t.method {
                    info["method"] = serde_json::json!(method);
                }
                info
            })
            .collect();
        let (real_name, _) = state.resolve_collection(name).ok_or_else(|| NodeError::collection_not_found(name))?;
        let plan = self.placement_plan(state);
        let placement = crate::info::PlacementInfo {
            planned: plan.steps.into_iter().filter(|s| s.collection == real_name).collect(),
            blocked: plan.blocked.into_iter().filter(|b| b.collection == real_name).collect(),
        };
        Ok(CollectionClusterInfo {
            peer_id: me,
            shard_count: meta.shards.len(),
            local_shards,
            remote_shards,
            shard_transfers,
            placement: Some(placement),
        })
    }
}
