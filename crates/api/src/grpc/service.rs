//! `qdrant.Qdrant` (health check).

use crate::grpc::GrpcState;
use qdrant_client::qdrant as pb;
use qdrant_client::qdrant::qdrant_server::Qdrant;
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
