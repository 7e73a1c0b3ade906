//! `qdrant.Qdrant` (health check) and `qdrant.Snapshots` (not implemented yet).

use crate::grpc::GrpcState;
use crate::grpc::status::unimplemented;
use qdrant_client::qdrant as pb;
use qdrant_client::qdrant::qdrant_server::Qdrant;
use qdrant_client::qdrant::snapshots_server::Snapshots;
use tonic::{Request, Response, Status};

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl Qdrant for GrpcState {
    async fn health_check(&self, _request: Request<pb::HealthCheckRequest>) -> Reply<pb::HealthCheckReply> {
        Ok(Response::new(pb::HealthCheckReply {
            title: crate::routes_service::TITLE.to_string(),
            version: self.version.to_string(),
            commit: None,
        }))
    }
}

fn no_snapshots() -> Status {
    unimplemented("snapshots")
}

#[tonic::async_trait]
impl Snapshots for GrpcState {
    async fn create(&self, _request: Request<pb::CreateSnapshotRequest>) -> Reply<pb::CreateSnapshotResponse> {
        Err(no_snapshots())
    }

    async fn list(&self, _request: Request<pb::ListSnapshotsRequest>) -> Reply<pb::ListSnapshotsResponse> {
        Err(no_snapshots())
    }

    async fn delete(&self, _request: Request<pb::DeleteSnapshotRequest>) -> Reply<pb::DeleteSnapshotResponse> {
        Err(no_snapshots())
    }

    async fn create_full(&self, _request: Request<pb::CreateFullSnapshotRequest>) -> Reply<pb::CreateSnapshotResponse> {
        Err(no_snapshots())
    }

    async fn list_full(&self, _request: Request<pb::ListFullSnapshotsRequest>) -> Reply<pb::ListSnapshotsResponse> {
        Err(no_snapshots())
    }

    async fn delete_full(&self, _request: Request<pb::DeleteFullSnapshotRequest>) -> Reply<pb::DeleteSnapshotResponse> {
        Err(no_snapshots())
    }
}
