//! The p2p client: one lazily-connected tonic channel per peer URI, a per-call timeout, fault injection on
//! the way out, and a record of failed sends per URI (`message_send_failures` of `GET /cluster`).

use crate::MAX_MESSAGE_SIZE;
use crate::coalesce::{Coalescer, MAX_YIELDS, QueueKey, Queued, is_undecodable, unpack};
use crate::codec::{decode, encode};
use crate::error::PeerError;
use crate::faults::{Faults, normalize_uri};
use crate::message::{BatchRef, PeerRequest, PeerResponse};
use crate::proto::Envelope;
use crate::proto::peer_client::PeerClient as GrpcClient;
use crate::security::PeerSecurity;
use parking_lot::Mutex;
use quiver_types::PeerId;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tonic::transport::{Channel, Endpoint};

/// Failed sends to one peer URI since the last successful one (spec §4.1 `message_send_failures`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendFailure {
    /// Failed sends since the last success.
    pub count: u64,
    /// The latest failure's message.
    pub latest_error: String,
    /// When the latest failure happened, RFC 3339 UTC with milliseconds.
    pub latest_error_timestamp: String,
}

/// Calls other peers. Cheap to share (`Arc<PeerClient>`); channels are cached per normalised URI and
/// connect lazily on first use (bounded by `connect_timeout`), reconnecting by themselves after a failure.
pub struct PeerClient {
    self_peer_id: PeerId,
    connect_timeout: Duration,
    faults: Arc<Faults>,
    channels: Mutex<HashMap<String, Channel>>,
    failures: Mutex<BTreeMap<String, SendFailure>>,
    /// Addresses announced by peers that moved, used before the cluster state carries them
    /// (design record 009 §3): peer id → URI.
    routes: Mutex<HashMap<PeerId, String>>,
    /// Another wire than tonic channels (an in-memory network in simulations).
    wire: Option<Arc<dyn Wire>>,
    /// The p2p key sent with every call and the TLS of new channels.
    security: PeerSecurity,
    /// Calls waiting to be sent together ([`PeerClient::call_peer_coalesced`]).
    pub(crate) coalescer: Coalescer,
}

/// A wire other than gRPC over TCP: delivers an encoded request to the peer at `uri` and
/// returns its encoded reply, or the failure a network would produce. Implemented by the
/// simulation's in-memory network (which serves calls with [`crate::serve_envelope`]).
pub trait Wire: Send + Sync + 'static {
    fn deliver<'a>(
        &'a self,
        from: PeerId,
        to: PeerId,
        uri: &'a str,
        body: Vec<u8>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<u8>, PeerError>> + Send + 'a>>;
}

impl std::fmt::Debug for PeerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerClient")
            .field("self_peer_id", &self.self_peer_id)
            .field("connect_timeout", &self.connect_timeout)
            .field("channels", &self.channels.lock().len())
            .finish_non_exhaustive()
    }
}

impl PeerClient {
    /// A client that announces itself as `self_peer_id` and consults `faults` before every call.
    pub fn new(self_peer_id: PeerId, connect_timeout: Duration, faults: Arc<Faults>) -> PeerClient {
        PeerClient {
            self_peer_id,
            connect_timeout,
            faults,
            channels: Mutex::new(HashMap::new()),
            failures: Mutex::new(BTreeMap::new()),
            routes: Mutex::new(HashMap::new()),
            wire: None,
            security: PeerSecurity::default(),
            coalescer: Coalescer::default(),
        }
    }

    /// A client that sends over `wire` instead of gRPC (simulations).
    pub fn with_wire(self_peer_id: PeerId, wire: Arc<dyn Wire>, faults: Arc<Faults>) -> PeerClient {
        PeerClient { wire: Some(wire), ..PeerClient::new(self_peer_id, Duration::from_secs(1), faults) }
    }

    /// This client with `security`: the p2p key goes with every call, and channels (created
    /// from now on) use TLS when it is configured.
    pub fn with_security(mut self, security: PeerSecurity) -> PeerClient {
        self.security = security;
        self
    }

    /// This client's peer id, as sent in every envelope.
    pub fn self_peer_id(&self) -> PeerId {
        self.self_peer_id
    }

    /// The shared fault-injection rules.
    pub fn faults(&self) -> &Arc<Faults> {
        &self.faults
    }

    /// Sends `request` to the peer at `uri` and waits at most `timeout` (connecting included) for its answer.
    /// Transient failures (`Unreachable`, `Timeout`) and codec failures are recorded in
    /// [`PeerClient::send_failures`]; any answer from the remote, even an error, clears the URI's record.
    pub async fn call(&self, uri: &str, request: PeerRequest, timeout: Duration) -> Result<PeerResponse, PeerError> {
        self.send(0, &normalize_uri(uri), request, timeout).await
    }

    /// Sends `request` to peer `peer`, registered at `uri` (or at the address it announced since,
    /// see [`PeerClient::set_route`]). The server refuses the call if another peer answers there.
    pub async fn call_peer(
        &self,
        peer: PeerId,
        uri: &str,
        request: PeerRequest,
        timeout: Duration,
    ) -> Result<PeerResponse, PeerError> {
        self.send(peer, &self.address_of(peer, uri), request, timeout).await
    }

    /// Where calls to `peer`, registered at `uri`, go: the address it announced since, if any.
    fn address_of(&self, peer: PeerId, uri: &str) -> String {
        self.route(peer).unwrap_or_else(|| normalize_uri(uri))
    }

    /// The address peer `peer` announced and the cluster state does not carry yet, if any.
    pub fn route(&self, peer: PeerId) -> Option<String> {
        self.routes.lock().get(&peer).cloned()
    }

    /// Keeps only the route overrides of peers for which `keep` holds.
    pub fn retain_routes(&self, keep: impl Fn(PeerId) -> bool) {
        self.routes.lock().retain(|peer, _| keep(*peer));
    }

    /// Routes calls to `peer` to `uri` (`None` drops the override).
    pub fn set_route(&self, peer: PeerId, uri: Option<&str>) {
        let mut routes = self.routes.lock();
        match uri {
            Some(uri) => routes.insert(peer, normalize_uri(uri)),
            None => routes.remove(&peer),
        };
    }

    pub(crate) async fn send(
        &self,
        to: PeerId,
        uri: &str,
        request: PeerRequest,
        timeout: Duration,
    ) -> Result<PeerResponse, PeerError> {
        let kind = request.kind_name();
        self.send_body(to, uri, kind, encode(&request), timeout).await
    }

    /// Sends an encoded request (or reports its encoding's failure), recording the outcome
    /// for `uri` as [`PeerClient::send_failures`] shows it.
    pub(crate) async fn send_body(
        &self,
        to: PeerId,
        uri: &str,
        kind: &'static str,
        body: Result<Vec<u8>, PeerError>,
        timeout: Duration,
    ) -> Result<PeerResponse, PeerError> {
        let result = match body {
            Ok(body) => self.call_inner(to, uri, body, timeout).await,
            Err(e) => Err(e),
        };
        match &result {
            Ok(_) | Err(PeerError::Remote(_)) => self.clear_failure(uri),
            Err(
                err @ (PeerError::Unreachable(_) | PeerError::Down(_) | PeerError::Timeout(_) | PeerError::Codec(_)),
            ) => {
                tracing::debug!(uri = %uri, kind, error = %err, "p2p call failed");
                self.record_failure(uri, err);
            }
        }
        result
    }

    async fn call_inner(
        &self,
        to: PeerId,
        uri: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<PeerResponse, PeerError> {
        if self.faults.blocks_call_to(to, uri) {
            return Err(PeerError::Unreachable(format!("{uri} is blocked by fault injection")));
        }
        let lost = || PeerError::Timeout(format!("{uri}: no answer within {} ms", timeout.as_millis()));
        match tokio::time::timeout(timeout, self.exchange(to, uri, body)).await {
            Err(_) => Err(lost()),
            // A one-way cut from that peer: it acted, its answer never arrives.
            Ok(_) if self.faults.drops_reply_from(to, uri) => {
                tokio::time::sleep(timeout).await;
                Err(lost())
            }
            Ok(Err(e)) => Err(e),
            Ok(Ok(reply)) => decode(&reply),
        }
    }

    /// Sends an encoded request and returns the encoded reply, over the wire this client uses.
    async fn exchange(&self, to: PeerId, uri: &str, body: Vec<u8>) -> Result<Vec<u8>, PeerError> {
        if let Some(wire) = &self.wire {
            return wire.deliver(self.self_peer_id, to, uri, body).await;
        }
        let mut client = GrpcClient::new(self.channel(uri)?)
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE);
        let mut envelope = tonic::Request::new(Envelope { from_peer: self.self_peer_id, body, to_peer: to });
        self.security.sign(&mut envelope);
        match client.call(envelope).await {
            Ok(response) => Ok(response.into_inner().body),
            Err(status) => Err(PeerError::from_status(uri, &status)),
        }
    }

    /// [`PeerClient::call_peer`], sent in one RPC with the other calls of `lane` to the same
    /// peer that are issued at the same moment. Put calls of similar duration in one lane:
    /// each answer arrives when the batch's slowest call is answered.
    pub async fn call_peer_coalesced(
        self: &Arc<Self>,
        peer: PeerId,
        uri: &str,
        lane: &'static str,
        request: PeerRequest,
        timeout: Duration,
    ) -> Result<PeerResponse, PeerError> {
        let uri = self.address_of(peer, uri);
        if !self.coalescer.reads_batches(peer) {
            return self.send(peer, &uri, request, timeout).await;
        }
        let (reply, answer) = oneshot::channel();
        let key = (peer, uri, lane);
        if self.coalescer.push(&key, Queued { request, timeout, reply }) {
            let client = Arc::clone(self);
            tokio::spawn(async move { client.flush(key).await });
        }
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(PeerError::Unreachable(format!("peer {peer}: the batch carrying the call was dropped"))),
            Err(_) => Err(PeerError::Timeout(format!("peer {peer}: no answer within {} ms", timeout.as_millis()))),
        }
    }

    /// Sends what the queue of `key` holds once the tasks that are ready have run.
    async fn flush(self: Arc<Self>, key: QueueKey) {
        let mut queued = 0;
        for _ in 0..MAX_YIELDS {
            tokio::task::yield_now().await;
            let now = self.coalescer.queued(&key);
            if now == queued {
                break;
            }
            queued = now;
        }
        let (peer, uri, _) = &key;
        let (calls, waiters): (Vec<PeerRequest>, Vec<_>) =
            self.coalescer.take(&key).into_iter().map(|q| (q.request, (q.timeout, q.reply))).unzip();
        let timeouts: Vec<Duration> = waiters.iter().map(|(timeout, _)| *timeout).collect();
        let answers = match <[PeerRequest; 1]>::try_from(calls) {
            Ok([call]) => vec![self.send(*peer, uri, call, timeouts.first().copied().unwrap_or_default()).await],
            Err(calls) if calls.is_empty() => return,
            Err(calls) => self.send_batch(*peer, uri, calls, timeouts).await,
        };
        for ((_, reply), answer) in waiters.into_iter().zip(answers) {
            let _ = reply.send(answer);
        }
    }

    /// Sends `calls` as one batch, or one by one to a peer that turns out not to read batches.
    async fn send_batch(
        &self,
        peer: PeerId,
        uri: &str,
        calls: Vec<PeerRequest>,
        timeouts: Vec<Duration>,
    ) -> Vec<Result<PeerResponse, PeerError>> {
        let timeout = timeouts.iter().copied().max().unwrap_or_default();
        let body = encode(&BatchRef::Batch { calls: &calls });
        match self.send_body(peer, uri, "batch", body, timeout).await {
            // An older peer could not read the batch, so it acted on none of its calls.
            Err(PeerError::Remote(message)) if is_undecodable(&message) => {
                tracing::info!(peer, %message, "peer reads no batched calls; sending them one by one");
                self.coalescer.refuse_batches(peer);
                let sends = calls.into_iter().zip(timeouts).map(|(call, timeout)| self.send(peer, uri, call, timeout));
                futures::future::join_all(sends).await
            }
            answer => unpack(answer, calls.len()),
        }
    }

    /// Drops the cached channel to `uri` (the next call connects afresh).
    pub fn forget(&self, uri: &str) {
        self.channels.lock().remove(&normalize_uri(uri));
    }

    /// Failed sends per peer URI since each URI's last successful send.
    pub fn send_failures(&self) -> BTreeMap<String, SendFailure> {
        self.failures.lock().clone()
    }

    fn channel(&self, uri: &str) -> Result<Channel, PeerError> {
        if let Some(channel) = self.channels.lock().get(uri) {
            return Ok(channel.clone());
        }
        // With p2p TLS our connector does the handshake, whatever the scheme: tonic's own
        // connector would refuse an `https://` URI it has no TLS configuration for.
        let target = match self.security.tls {
            Some(_) => uri.replacen("https://", "http://", 1),
            None => uri.to_string(),
        };
        let endpoint = Endpoint::from_shared(target)
            .map_err(|e| PeerError::Unreachable(format!("invalid peer uri {uri:?}: {e}")))?
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            .http2_adaptive_window(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(20));
        let channel = match self.security.connector() {
            Some(tls) => endpoint.connect_with_connector_lazy(tls),
            None => endpoint.connect_lazy(),
        };
        Ok(self.channels.lock().entry(uri.to_string()).or_insert(channel).clone())
    }

    fn record_failure(&self, uri: &str, err: &PeerError) {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut failures = self.failures.lock();
        let entry = failures.entry(uri.to_string()).or_insert_with(|| SendFailure {
            count: 0,
            latest_error: String::new(),
            latest_error_timestamp: String::new(),
        });
        entry.count += 1;
        entry.latest_error = err.to_string();
        entry.latest_error_timestamp = now;
    }

    fn clear_failure(&self, uri: &str) {
        let mut failures = self.failures.lock();
        if !failures.is_empty() {
            failures.remove(uri);
        }
    }
}
