//! `qdrant.Collections`: each RPC calls the node function behind its REST twin.

use crate::grpc::GrpcState;
use crate::grpc::auth::{authorized, sees};
use crate::grpc::collections_in::{create_in, update_in};
use crate::grpc::collections_out::{cluster_info_out, info_out};
use crate::grpc::status::{from_node, missing};
use qdrant_client::qdrant as pb;
use qdrant_client::qdrant::collections_server::Collections;
use quiver_node::AliasAction;
use quiver_node::info::AliasDescription;
use std::time::{Duration, Instant};
use tonic::{Request, Response, Status};

type Reply<T> = Result<Response<T>, Status>;

fn timeout(seconds: Option<u64>) -> Option<Duration> {
    seconds.filter(|t| *t > 0).map(Duration::from_secs)
}

fn done(started: Instant, result: bool) -> Reply<pb::CollectionOperationResponse> {
    Ok(Response::new(pb::CollectionOperationResponse { result, time: started.elapsed().as_secs_f64() }))
}

fn aliases_out(started: Instant, aliases: Vec<AliasDescription>) -> Reply<pb::ListAliasesResponse> {
    let aliases = aliases
        .into_iter()
        .map(|a| pb::AliasDescription { alias_name: a.alias_name, collection_name: a.collection_name })
        .collect();
    Ok(Response::new(pb::ListAliasesResponse { aliases, time: started.elapsed().as_secs_f64() }))
}

fn alias_action(op: pb::AliasOperations) -> Result<AliasAction, Status> {
    use pb::alias_operations::Action;
    Ok(match op.action.ok_or_else(|| missing("action"))? {
        Action::CreateAlias(a) => {
            AliasAction::CreateAlias { collection_name: a.collection_name, alias_name: a.alias_name }
        }
        Action::RenameAlias(a) => {
            AliasAction::RenameAlias { old_alias_name: a.old_alias_name, new_alias_name: a.new_alias_name }
        }
        Action::DeleteAlias(a) => AliasAction::DeleteAlias { alias_name: a.alias_name },
    })
}

#[tonic::async_trait]
impl Collections for GrpcState {
    async fn get(&self, request: Request<pb::GetCollectionInfoRequest>) -> Reply<pb::GetCollectionInfoResponse> {
        let started = Instant::now();
        let info = self.node.collection_info(&authorized(request)?.collection_name).await.map_err(from_node)?;
        let time = started.elapsed().as_secs_f64();
        Ok(Response::new(pb::GetCollectionInfoResponse { result: Some(info_out(info)), time }))
    }

    async fn list(&self, request: Request<pb::ListCollectionsRequest>) -> Reply<pb::ListCollectionsResponse> {
        let started = Instant::now();
        let collections = self
            .node
            .list_collections()
            .into_iter()
            .filter(|name| sees(&request, name))
            .map(|name| pb::CollectionDescription { name })
            .collect();
        Ok(Response::new(pb::ListCollectionsResponse { collections, time: started.elapsed().as_secs_f64() }))
    }

    async fn create(&self, request: Request<pb::CreateCollection>) -> Reply<pb::CollectionOperationResponse> {
        let started = Instant::now();
        let (name, body, seconds) = create_in(authorized(request)?)?;
        done(started, self.node.create_collection(&name, body, timeout(seconds)).await.map_err(from_node)?)
    }

    async fn update(&self, request: Request<pb::UpdateCollection>) -> Reply<pb::CollectionOperationResponse> {
        let started = Instant::now();
        let (name, body, seconds) = update_in(authorized(request)?)?;
        done(started, self.node.update_collection(&name, body, timeout(seconds)).await.map_err(from_node)?)
    }

    async fn delete(&self, request: Request<pb::DeleteCollection>) -> Reply<pb::CollectionOperationResponse> {
        let started = Instant::now();
        let r = authorized(request)?;
        done(started, self.node.delete_collection(&r.collection_name, timeout(r.timeout)).await.map_err(from_node)?)
    }

    async fn update_aliases(&self, request: Request<pb::ChangeAliases>) -> Reply<pb::CollectionOperationResponse> {
        let started = Instant::now();
        let r = request.into_inner();
        let actions = r.actions.into_iter().map(alias_action).collect::<Result<Vec<_>, _>>()?;
        done(started, self.node.update_aliases(actions, timeout(r.timeout)).await.map_err(from_node)?)
    }

    async fn list_collection_aliases(
        &self,
        request: Request<pb::ListCollectionAliasesRequest>,
    ) -> Reply<pb::ListAliasesResponse> {
        let started = Instant::now();
        let name = authorized(request)?.collection_name;
        aliases_out(started, self.node.list_aliases(Some(&name)).map_err(from_node)?)
    }

    async fn list_aliases(&self, request: Request<pb::ListAliasesRequest>) -> Reply<pb::ListAliasesResponse> {
        let started = Instant::now();
        let mut aliases = self.node.list_aliases(None).map_err(from_node)?;
        aliases.retain(|a| sees(&request, &a.collection_name));
        aliases_out(started, aliases)
    }

    async fn collection_cluster_info(
        &self,
        request: Request<pb::CollectionClusterInfoRequest>,
    ) -> Reply<pb::CollectionClusterInfoResponse> {
        let started = Instant::now();
        let info = self.node.collection_cluster_info(&authorized(request)?.collection_name).await.map_err(from_node)?;
        Ok(Response::new(cluster_info_out(info, started.elapsed().as_secs_f64())))
    }

    async fn collection_exists(
        &self,
        request: Request<pb::CollectionExistsRequest>,
    ) -> Reply<pb::CollectionExistsResponse> {
        let started = Instant::now();
        let exists = self.node.collection_exists(&authorized(request)?.collection_name).map_err(from_node)?;
        let result = Some(pb::CollectionExists { exists });
        Ok(Response::new(pb::CollectionExistsResponse { result, time: started.elapsed().as_secs_f64() }))
    }

    async fn update_collection_cluster_setup(
        &self,
        request: Request<pb::UpdateCollectionClusterSetupRequest>,
    ) -> Reply<pb::UpdateCollectionClusterSetupResponse> {
        let started = Instant::now();
        let request = authorized(request)?;
        let operation = crate::grpc::cluster_setup::operation_in(request.operation)?;
        let result = self
            .node
            .update_collection_cluster(&request.collection_name, operation, timeout(request.timeout))
            .await
            .map_err(from_node)?;
        Ok(Response::new(pb::UpdateCollectionClusterSetupResponse { result, time: started.elapsed().as_secs_f64() }))
    }

    async fn create_shard_key(&self, request: Request<pb::CreateShardKeyRequest>) -> Reply<pb::CreateShardKeyResponse> {
        let started = Instant::now();
        let r = authorized(request)?;
        let body = crate::grpc::shard_keys::create_in(r.request)?;
        let result =
            self.node.create_shard_key(&r.collection_name, body, timeout(r.timeout)).await.map_err(from_node)?;
        Ok(Response::new(pb::CreateShardKeyResponse { result, time: started.elapsed().as_secs_f64() }))
    }

    async fn delete_shard_key(&self, request: Request<pb::DeleteShardKeyRequest>) -> Reply<pb::DeleteShardKeyResponse> {
        let started = Instant::now();
        let r = authorized(request)?;
        let body = crate::grpc::shard_keys::drop_in(r.request)?;
        let result = self.node.drop_shard_key(&r.collection_name, body, timeout(r.timeout)).await.map_err(from_node)?;
        Ok(Response::new(pb::DeleteShardKeyResponse { result, time: started.elapsed().as_secs_f64() }))
    }

    async fn list_shard_keys(&self, request: Request<pb::ListShardKeysRequest>) -> Reply<pb::ListShardKeysResponse> {
        let started = Instant::now();
        let keys = self.node.list_shard_keys(&authorized(request)?.collection_name).map_err(from_node)?;
        let shard_keys = keys
            .unwrap_or_default()
            .iter()
            .map(|k| pb::ShardKeyDescription { key: Some(crate::grpc::shard_keys::key_out(k)) })
            .collect();
        Ok(Response::new(pb::ListShardKeysResponse { shard_keys, time: started.elapsed().as_secs_f64() }))
    }
}
