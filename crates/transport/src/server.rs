//! The p2p server: decodes each envelope, checks fault injection, runs the node's [`PeerHandler`] in its own
//! task (so a caller that gives up never cancels a handler half-way, and a panicking handler only fails its
//! call), and encodes the answer.

use crate::MAX_MESSAGE_SIZE;
use crate::codec::{decode, encode};
use crate::error::PeerError;
use crate::faults::Faults;
use crate::message::{BatchAnswer, PeerRequest, PeerResponse};
use crate::proto::Envelope;
use crate::proto::peer_server::{Peer, PeerServer};
use crate::security::PeerSecurity;
use quiver_types::PeerId;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

/// The future a [`PeerHandler`] returns: the response, or an error message sent back to the caller (who
/// sees it as [`PeerError::Remote`]).
pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Result<PeerResponse, String>> + Send + 'a>>;

/// Implemented by the node; the server calls it for every incoming request.
///
/// The method returns a boxed future so the trait stays object-safe (`Arc<dyn PeerHandler>`); implement it
/// as `fn handle(&self, from, request) -> HandlerFuture<'_> { Box::pin(async move { ... }) }`, or wrap a
/// closure with [`handler_fn`]. Each call runs in its own tokio task and is driven to completion even if the
/// caller times out or disconnects. `from` is the caller's peer id as it claims in the envelope.
pub trait PeerHandler: Send + Sync + 'static {
    /// Answers one request from peer `from`.
    fn handle(&self, from: PeerId, request: PeerRequest) -> HandlerFuture<'_>;

    /// The id of the peer this handler serves, once known: calls addressed to another peer id
    /// are refused with `Unavailable` (the caller sees [`PeerError::Unreachable`]).
    fn peer_id(&self) -> Option<PeerId> {
        None
    }
}

/// A [`PeerHandler`] made from an async closure `f(from, request)`.
pub fn handler_fn<F, Fut>(f: F) -> Arc<dyn PeerHandler>
where
    F: Fn(PeerId, PeerRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<PeerResponse, String>> + Send + 'static,
{
    Arc::new(FnHandler(f))
}

struct FnHandler<F>(F);

impl<F, Fut> PeerHandler for FnHandler<F>
where
    F: Fn(PeerId, PeerRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<PeerResponse, String>> + Send + 'static,
{
    fn handle(&self, from: PeerId, request: PeerRequest) -> HandlerFuture<'_> {
        Box::pin((self.0)(from, request))
    }
}

/// Serves the p2p service on `addr` until `shutdown` resolves. A bind failure is reported as
/// [`PeerError::Unreachable`] naming the address.
pub async fn serve(
    addr: SocketAddr,
    handler: Arc<dyn PeerHandler>,
    faults: Arc<Faults>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), PeerError> {
    let listener =
        TcpListener::bind(addr).await.map_err(|e| PeerError::Unreachable(format!("cannot bind p2p {addr}: {e}")))?;
    serve_with_listener(listener, handler, faults, shutdown).await
}

/// Serves the p2p service on an already-bound listener (tests bind port 0) until `shutdown` resolves;
/// in-flight calls are allowed to finish.
pub async fn serve_with_listener(
    listener: TcpListener,
    handler: Arc<dyn PeerHandler>,
    faults: Arc<Faults>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), PeerError> {
    serve_with_security(listener, handler, faults, PeerSecurity::default(), shutdown).await
}

/// [`serve_with_listener`] protected by `security`: calls without an accepted key are refused
/// with `Unauthenticated` before their body is decoded, and with TLS only clients presenting a
/// certificate issued by the CA complete a handshake.
pub async fn serve_with_security(
    listener: TcpListener,
    handler: Arc<dyn PeerHandler>,
    faults: Arc<Faults>,
    security: PeerSecurity,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), PeerError> {
    let local = listener.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".to_string());
    let service = PeerServer::new(PeerService { handler, faults })
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_MESSAGE_SIZE);
    let tls = security.tls.as_ref().map(|tls| Arc::clone(&tls.server));
    let service = InterceptedService::new(service, move |request: Request<()>| {
        security.check(&request)?;
        Ok(request)
    });
    tracing::debug!(addr = %local, tls = tls.is_some(), "p2p server listening");
    let server = Server::builder()
        .http2_adaptive_window(Some(true))
        .http2_keepalive_interval(Some(Duration::from_secs(10)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        .add_service(service);
    let served = match tls {
        None => {
            let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
            server.serve_with_incoming_shutdown(incoming, shutdown).await
        }
        Some(tls) => {
            let incoming = crate::tls::accept_tls(listener, tls)
                .map_err(|e| PeerError::Unreachable(format!("p2p server on {local}: {e}")))?;
            server.serve_with_incoming_shutdown(incoming.into_stream(), shutdown).await
        }
    };
    served.map_err(|e| PeerError::Unreachable(format!("p2p server on {local} failed: {e}")))
}

struct PeerService {
    handler: Arc<dyn PeerHandler>,
    faults: Arc<Faults>,
}

#[tonic::async_trait]
impl Peer for PeerService {
    async fn call(&self, request: Request<Envelope>) -> Result<Response<Envelope>, Status> {
        let Envelope { from_peer, body, to_peer } = request.into_inner();
        let body = serve_envelope(&self.handler, &self.faults, from_peer, to_peer, body).await?;
        Ok(Response::new(Envelope { from_peer: 0, body, to_peer: 0 }))
    }
}

/// Serves one call as the p2p server does: fault rules, the addressed peer's identity, the
/// handler in its own task (driven to completion even if the caller gives up), the reply
/// encoded; or the status the server answers with. Also used by in-memory networks (the
/// simulation), so both paths behave the same.
pub async fn serve_envelope(
    handler: &Arc<dyn PeerHandler>,
    faults: &Faults,
    from_peer: PeerId,
    to_peer: PeerId,
    body: Vec<u8>,
) -> Result<Vec<u8>, Status> {
    {
        if faults.is_blocked_peer(from_peer) {
            return Err(Status::unavailable(format!("peer {from_peer} is blocked by fault injection")));
        }
        if let Some(me) = handler.peer_id().filter(|me| to_peer != 0 && *me != to_peer) {
            return Err(Status::unavailable(format!("wrong peer: this address serves peer {me}, not peer {to_peer}")));
        }
        let request: PeerRequest = decode(&body).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let response = match request.into_batch() {
            Ok(calls) => serve_batch(handler, from_peer, calls).await,
            Err(single) => run_handler(handler, from_peer, single).await.map_err(Status::internal)?,
        };
        if faults.drops_reply_to(from_peer) {
            return Err(Status::unavailable(format!("the reply to peer {from_peer} is lost by fault injection")));
        }
        encode(&response).map_err(|e| Status::internal(e.to_string()))
    }
}

/// Runs the handler for one request in a task of its own: driven to completion even if the
/// caller gives up; a panic fails only this request.
async fn run_handler(
    handler: &Arc<dyn PeerHandler>,
    from_peer: PeerId,
    request: PeerRequest,
) -> Result<PeerResponse, String> {
    let kind = request.kind_name();
    let handler = Arc::clone(handler);
    match tokio::spawn(async move { handler.handle(from_peer, request).await }).await {
        Ok(answer) => answer,
        Err(join) => {
            tracing::error!(from_peer, kind, error = %join, "p2p handler panicked");
            Err(format!("handler for {kind} failed: {join}"))
        }
    }
}

/// Serves every call of a batch at once, each as if it came alone, and answers them in order.
async fn serve_batch(handler: &Arc<dyn PeerHandler>, from_peer: PeerId, calls: Vec<PeerRequest>) -> PeerResponse {
    let answers = futures::future::join_all(calls.into_iter().map(|request| async move {
        let answer = match request.into_batch() {
            Ok(_) => Err("a batch inside a batch is refused".to_string()),
            Err(single) => run_handler(handler, from_peer, single).await,
        };
        match answer {
            Ok(response) => BatchAnswer::Answered(response),
            Err(message) => BatchAnswer::Failed(message),
        }
    }));
    PeerResponse::Batch { answers: answers.await }
}

/// [`serve_envelope`] for an in-memory wire: a refusal as the calling client would see it.
pub async fn serve_in_memory(
    handler: &Arc<dyn PeerHandler>,
    faults: &Faults,
    from_peer: PeerId,
    to_peer: PeerId,
    uri: &str,
    body: Vec<u8>,
) -> Result<Vec<u8>, PeerError> {
    serve_envelope(handler, faults, from_peer, to_peer, body)
        .await
        .map_err(|status| PeerError::from_status(uri, &status))
}
