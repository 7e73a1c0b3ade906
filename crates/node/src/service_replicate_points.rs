//! `replicate_points` of `POST /collections/{c}/cluster` (spec §4.6): the points of one shard
//! key (those matching a filter) copied into another, Qdrant's step of moving a tenant from a
//! shared key into a key of its own (tiered multitenancy, design record 016 §4). Qdrant runs it
//! as a filtered `stream_records` transfer between the two shards; Quiver copies the points
//! through the target key's replicated write path, page by page, then makes a `Partial` target
//! replica `Active`. While the target is `Partial`, writes with a `{target, fallback}` selector
//! reach both keys (`Routing::resolve_fallback`), so the copy inserts only points the target
//! lacks: a point written meanwhile is never overwritten by its older copy.

use crate::cluster_mode::META_OP_TIMEOUT;
use crate::error::{NodeError, Result};
use crate::node::Node;
use quiver_cluster::state::{CollectionMeta, MetaOperation};
use quiver_collection::Collection;
use quiver_types::cluster::ReplicatePointsRequest;
use quiver_types::filter::Filter;
use quiver_types::ops::{PointSelector, UpdateMode, UpdateOperation};
use quiver_types::point::PointStruct;
use quiver_types::query::{ScrollRequest, WithPayload, WithVector};
use quiver_types::replica::ReplicaState;
use quiver_types::shard_key::{ShardKey, ShardKeySelector};
use quiver_types::{PeerId, PointId, ShardId};
use std::time::Duration;

/// Points read and written per step of the copy.
const PAGE: usize = 256;

impl Node {
    /// Validates `request` as Qdrant does, copies the points, and activates the target.
    pub(crate) async fn replicate_points(
        &self,
        name: &str,
        request: ReplicatePointsRequest,
        timeout: Option<Duration>,
    ) -> Result<bool> {
        let state = self.cluster_state().ok_or(NodeError::StandaloneMode)?;
        let (real_name, meta) = state.resolve_collection(name).ok_or_else(|| NodeError::collection_not_found(name))?;
        let ReplicatePointsRequest { from_shard_key: from, to_shard_key: to, filter } = request;
        let (shard_id, peer_id, replica_state) = check(meta, &from, &to)?;
        let collection = self.resolve(real_name)?;
        let copied = copy_points(&collection, &from, &to, filter).await?;
        drop_deleted_meanwhile(&collection, &from, &to, copied).await?;
        if replica_state == ReplicaState::Partial {
            let op = MetaOperation::SetReplicaState {
                collection: real_name.to_string(),
                shard_id,
                peer_id,
                state: ReplicaState::Active,
                from_state: Some(ReplicaState::Partial),
            };
            self.propose(op, Some(timeout.unwrap_or(META_OP_TIMEOUT))).await?;
        }
        Ok(true)
    }
}

/// Qdrant's checks: two different keys, a source of exactly one shard, a target of exactly one
/// replica (returned: its shard, peer and state).
fn check(meta: &CollectionMeta, from: &ShardKey, to: &ShardKey) -> Result<(ShardId, PeerId, ReplicaState)> {
    if from == to {
        return Err(NodeError::Validation(format!(
            "Validation error in JSON body: [replicate_points: from_shard_key and to_shard_key must be different, both are {from}]"
        )));
    }
    let shards = |key: &ShardKey| {
        meta.shard_keys
            .get(key)
            .map(|k| k.shards.clone())
            .ok_or_else(|| NodeError::BadRequest(format!("Shard key {key} not found")))
    };
    let from_shards = shards(from)?;
    if from_shards.len() != 1 {
        return Err(NodeError::BadRequest(format!(
            "Only replicating from shard keys with exactly one shard is supported. Shard key {from} has {} shards",
            from_shards.len()
        )));
    }
    let replicas: Vec<(ShardId, PeerId, ReplicaState)> = shards(to)?
        .into_iter()
        .flat_map(|shard| meta.shards.get(&shard).into_iter().flatten().map(move |(p, s)| (shard, *p, *s)))
        .collect();
    match replicas.as_slice() {
        [one] => Ok(*one),
        _ => Err(NodeError::BadRequest(format!(
            "Only replicating to shard keys with exactly one replica is supported. Shard key {to} has {} replicas",
            replicas.len()
        ))),
    }
}

/// Copies the points of `from` matching `filter` into `to`, inserting only the ones `to` lacks;
/// returns the ids copied.
async fn copy_points(
    collection: &Collection,
    from: &ShardKey,
    to: &ShardKey,
    filter: Option<Filter>,
) -> Result<Vec<PointId>> {
    let (source, target) = (ShardKeySelector::Key(from.clone()), ShardKeySelector::Key(to.clone()));
    let mut offset = None;
    let mut copied = Vec::new();
    loop {
        let request = ScrollRequest {
            offset,
            limit: PAGE,
            filter: filter.clone(),
            with_payload: WithPayload::Bool(true),
            with_vector: WithVector::Bool(true),
            order_by: None,
        };
        let page = collection.scroll(request, Some(&source)).await?;
        let points: Vec<PointStruct> = page
            .points
            .into_iter()
            .map(|r| PointStruct {
                id: r.id,
                vectors: r.vector.map(|v| v.into_named()).unwrap_or_default(),
                payload: r.payload,
            })
            .collect();
        copied.extend(points.iter().map(|p| p.id));
        if !points.is_empty() {
            let op = UpdateOperation::Upsert { points, mode: UpdateMode::InsertOnly, update_filter: None };
            collection.update(op, Some(&target), true).await?;
        }
        match page.next_page_offset {
            Some(next) => offset = Some(next),
            None => return Ok(copied),
        }
    }
}

/// Deletes from `to` the copied points that `from` no longer holds: deleted while the copy ran,
/// after it had read them.
async fn drop_deleted_meanwhile(
    collection: &Collection,
    from: &ShardKey,
    to: &ShardKey,
    copied: Vec<PointId>,
) -> Result<()> {
    let source = ShardKeySelector::Key(from.clone());
    for ids in copied.chunks(PAGE) {
        let present =
            collection.retrieve(ids.to_vec(), WithPayload::Bool(false), WithVector::Bool(false), Some(&source)).await?;
        let gone: Vec<PointId> = ids.iter().filter(|id| !present.iter().any(|r| r.id == **id)).copied().collect();
        if !gone.is_empty() {
            let op = UpdateOperation::Delete { selector: PointSelector::Ids(gone) };
            collection.update(op, Some(&ShardKeySelector::Key(to.clone())), true).await?;
        }
    }
    Ok(())
}
