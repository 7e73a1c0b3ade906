//! Qdrant's public gRPC API (port 6334) over tonic, with the message definitions and server
//! traits of the official `qdrant-client` crate. Handlers convert at the edge and call the same
//! `quiver_node::Node` service functions as REST, reusing REST's request checks (`wire*.rs`), so
//! behaviour and error messages cannot drift; `status.rs` maps errors to gRPC codes.

mod analytics;
pub mod auth;
mod cluster_setup;
mod collections;
mod collections_in;
mod collections_out;
mod convert;
mod filter;
mod formula;
mod groups;
mod index_params;
mod metrics;
mod points;
mod points_read;
mod points_write;
mod query;
mod reflection;
mod service;
mod shard_keys;
mod snapshots;
pub mod status;
mod strict_mode;

use qdrant_client::qdrant::collections_server::CollectionsServer;
use qdrant_client::qdrant::points_server::PointsServer;
use qdrant_client::qdrant::qdrant_server::QdrantServer;
use qdrant_client::qdrant::snapshots_server::SnapshotsServer;
use quiver_node::Node;
use std::sync::Arc;
use tonic::codec::CompressionEncoding::Gzip;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

/// What the gRPC services share: the node, the version reported by the health check, and the
/// metrics (shared with REST: `/metrics` shows both).
#[derive(Clone)]
pub struct GrpcState {
    pub node: Arc<Node>,
    pub version: &'static str,
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// Serves the public gRPC services on `listener` until `shutdown` completes. Requests up to
/// `max_message_bytes` are accepted (at least the REST body limit); gzip is accepted and sent.
/// Server reflection (v1, v1alpha) and `grpc.health.v1.Health` are served too.
pub async fn serve(
    state: GrpcState,
    listener: tokio::net::TcpListener,
    max_message_bytes: usize,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    serve_incoming(state, incoming, max_message_bytes, None, shutdown).await
}

/// [`serve`] on the connections of `incoming` (plain TCP, or TLS connections whose handshake is
/// done), with the API keys and tokens of `auth` checked before each message is decoded.
pub async fn serve_incoming<I, IO, IE>(
    state: GrpcState,
    incoming: I,
    max_message_bytes: usize,
    auth: Option<Arc<crate::auth::Auth>>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), ServeError>
where
    I: futures::Stream<Item = Result<IO, IE>>,
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + tonic::transport::server::Connected + Unpin + Send + 'static,
    IE: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<QdrantServer<GrpcState>>().await;
    health.set_serving::<CollectionsServer<GrpcState>>().await;
    health.set_serving::<PointsServer<GrpcState>>().await;
    let (reflection_v1, reflection_v1alpha) =
        reflection::services().map_err(|e| ServeError::Reflection(e.to_string()))?;
    macro_rules! configured {
        ($server:ident) => {
            $server::new(state.clone())
                .accept_compressed(Gzip)
                .send_compressed(Gzip)
                .max_decoding_message_size(max_message_bytes)
                .max_encoding_message_size(usize::MAX)
        };
    }
    let auth = tower::util::option_layer(auth.map(|auth| auth::AuthLayer { auth }));
    Server::builder()
        .layer(metrics::CountLayer { metrics: Arc::clone(&state.metrics) })
        .layer(auth)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(configured!(QdrantServer))
        .add_service(configured!(CollectionsServer))
        .add_service(configured!(PointsServer))
        .add_service(configured!(SnapshotsServer))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(ServeError::Transport)
}

/// Why the gRPC server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("server reflection could not be set up: {0}")]
    Reflection(String),
    #[error("{0}")]
    Transport(#[from] tonic::transport::Error),
}
