//! The public listeners: REST (axum) and gRPC (tonic), over plain TCP or, with
//! `service.enable_tls`, over TLS connections whose handshakes the transport crate's acceptor
//! completes (certificates reloaded after `tls.cert_ttl`).

use crate::security::{GRPC_ALPN, public_tls};
use crate::settings::Settings;
use axum::extract::Request;
use quiver_api::auth::Auth;
use quiver_transport::tls::{TlsConnection, TlsIncoming};
use std::future::Future;
use std::sync::Arc;

/// TLS connections as an axum listener.
pub struct TlsListener(pub TlsIncoming);

impl axum::serve::Listener for TlsListener {
    type Io = TlsConnection;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let connection = self.0.next_connection().await;
        let remote = connection.remote_addr();
        (connection, remote)
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.0.local_addr())
    }
}

/// Serves `app` on `service.http_port` (HTTPS with `service.enable_tls`) until `stopped`.
pub async fn serve_rest(
    settings: &Settings,
    app: axum::Router,
    stopped: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let address = format!("{}:{}", settings.service.host, settings.service.http_port);
    let tls = public_tls(settings, crate::security::REST_ALPN)?;
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|e| format!("cannot listen on {address} (service.http_port): {e}"))?;
    let app = axum::ServiceExt::<Request>::into_make_service(tower::Layer::layer(
        &tower_http::normalize_path::NormalizePathLayer::trim_trailing_slash(),
        app,
    ));
    let failed = |e: std::io::Error| format!("REST server failed: {e}");
    match tls {
        None => {
            tracing::info!(%address, "REST API listening");
            // Answers go out at once (no Nagle delay behind a client's delayed ACK), as on the
            // gRPC and TLS listeners.
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!(error = %e, "cannot set TCP_NODELAY on a REST connection");
                }
            });
            axum::serve(listener, app).with_graceful_shutdown(stopped).await.map_err(failed)
        }
        Some(tls) => {
            let incoming = quiver_transport::tls::accept_tls(listener, tls).map_err(failed)?;
            tracing::info!(%address, "REST API listening (HTTPS)");
            axum::serve(TlsListener(incoming), app).with_graceful_shutdown(stopped).await.map_err(failed)
        }
    }
}

/// Binds `service.metrics_port` (if set) and serves `app` there (HTTPS with
/// `service.enable_tls`) until `stopped`; the task's result reports a server failure.
pub async fn start_metrics(
    settings: &Settings,
    app: axum::Router,
    stopped: impl Future<Output = ()> + Send + 'static,
) -> Result<Option<tokio::task::JoinHandle<Result<(), String>>>, String> {
    let Some(port) = settings.service.metrics_port else { return Ok(None) };
    let address = format!("{}:{}", settings.service.host, port);
    let tls = public_tls(settings, crate::security::REST_ALPN)?;
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|e| format!("cannot listen on {address} (service.metrics_port): {e}"))?;
    tracing::info!(%address, tls = tls.is_some(), "metrics listening (no API key: keep this port private)");
    let failed = |e: std::io::Error| format!("metrics server failed: {e}");
    Ok(Some(match tls {
        None => {
            tokio::spawn(
                async move { axum::serve(listener, app).with_graceful_shutdown(stopped).await.map_err(failed) },
            )
        }
        Some(tls) => {
            let incoming = quiver_transport::tls::accept_tls(listener, tls).map_err(failed)?;
            tokio::spawn(async move {
                axum::serve(TlsListener(incoming), app).with_graceful_shutdown(stopped).await.map_err(failed)
            })
        }
    }))
}

/// Binds `service.grpc_port` (unless null) and serves Qdrant's public gRPC API on it (TLS with
/// `service.enable_tls`) until `stopped` completes; the task's result reports a server failure.
pub async fn start_grpc(
    settings: &Settings,
    state: quiver_api::grpc::GrpcState,
    auth: Option<Arc<Auth>>,
    stopped: impl Future<Output = ()> + Send + 'static,
) -> Result<Option<tokio::task::JoinHandle<Result<(), String>>>, String> {
    let Some(port) = settings.service.grpc_port else {
        tracing::info!("gRPC API disabled (service.grpc_port is null)");
        return Ok(None);
    };
    let tls = public_tls(settings, GRPC_ALPN)?;
    let address = format!("{}:{}", settings.service.host, port);
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|e| format!("cannot listen on {address} (service.grpc_port): {e}"))?;
    tracing::info!(%address, tls = tls.is_some(), "gRPC API listening");
    let max = settings.service.max_request_size_mb.saturating_mul(1024 * 1024);
    let failed = |e: quiver_api::grpc::ServeError| format!("gRPC server failed: {e}");
    Ok(Some(match tls {
        None => tokio::spawn(async move {
            let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
            quiver_api::grpc::serve_incoming(state, incoming, max, auth, stopped).await.map_err(failed)
        }),
        Some(tls) => {
            let incoming = quiver_transport::tls::accept_tls(listener, tls).map_err(|e| format!("gRPC TLS: {e}"))?;
            tokio::spawn(async move {
                quiver_api::grpc::serve_incoming(state, incoming.into_stream(), max, auth, stopped)
                    .await
                    .map_err(failed)
            })
        }
    }))
}
