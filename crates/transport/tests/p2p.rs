//! Client and server over real loopback sockets: round trips, error mapping, timeouts, fault injection and
//! send-failure records.

use quiver_transport::proto::Envelope;
use quiver_transport::proto::peer_client::PeerClient as GrpcClient;
use quiver_transport::{
    Faults, PeerClient, PeerError, PeerHandler, PeerId, PeerRequest, PeerResponse, RaftRpc, handler_fn, serve,
    serve_with_listener,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const CLIENT_ID: PeerId = 1;
const SERVER_ID: PeerId = 2;
const CALL: Duration = Duration::from_secs(5);

/// A running test server.
struct TestServer {
    uri: String,
    faults: Arc<Faults>,
    calls: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), PeerError>>,
}

impl TestServer {
    async fn start() -> TestServer {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let handler = handler_fn(move |from, request| {
            counter.fetch_add(1, Ordering::SeqCst);
            answer(from, request)
        });
        Self::start_with(handler, calls).await
    }

    async fn start_with(handler: Arc<dyn PeerHandler>, calls: Arc<AtomicUsize>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let uri = format!("http://{}", listener.local_addr().expect("addr"));
        let faults = Arc::new(Faults::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_with_listener(listener, handler, Arc::clone(&faults), async move {
            let _ = stopped.await;
        }));
        TestServer { uri, faults, calls, stop: Some(stop), task }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = tokio::time::timeout(Duration::from_secs(5), &mut self.task).await;
        assert!(matches!(result, Ok(Ok(Ok(())))), "server did not stop cleanly: {result:?}");
    }
}

/// The test handler: echoes each request in its matching response; `Cluster` bodies `fail`, `sleep` and
/// `panic` trigger an error, a 2 s delay and a panic.
async fn answer(from: PeerId, request: PeerRequest) -> Result<PeerResponse, String> {
    match request {
        PeerRequest::Raft { kind, mut body } => {
            body.insert(0, kind as u8);
            Ok(PeerResponse::Raft { body })
        }
        PeerRequest::Propose { body } => Ok(PeerResponse::Proposed { body }),
        PeerRequest::AddPeer { peer_id, uri } => {
            Ok(PeerResponse::AllPeers { peers: vec![(SERVER_ID, "self".into()), (peer_id, uri)], first_peer_id: 2 })
        }
        PeerRequest::Ping => Ok(PeerResponse::Pong { peer_id: SERVER_ID }),
        PeerRequest::Cluster { body } if body == b"fail" => Err("boom: not the leader".to_string()),
        PeerRequest::Cluster { body } if body == b"panic" => panic!("handler panic on purpose"),
        PeerRequest::Cluster { body } if body == b"sleep" => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            Ok(PeerResponse::Cluster { body })
        }
        PeerRequest::Cluster { mut body } => {
            body.splice(0..0, from.to_be_bytes());
            Ok(PeerResponse::Cluster { body })
        }
        PeerRequest::Shard { collection, shard_id, body } => {
            let mut out = format!("{collection}/{shard_id}/").into_bytes();
            out.extend_from_slice(&body);
            Ok(PeerResponse::Shard { body: out })
        }
        PeerRequest::Batch { .. } => Err("the transport hands a handler no batch".to_string()),
    }
}

fn client() -> PeerClient {
    PeerClient::new(CLIENT_ID, Duration::from_secs(2), Arc::new(Faults::default()))
}

#[tokio::test]
async fn every_request_kind_round_trips() {
    let server = TestServer::start().await;
    let client = client();
    let uri = server.uri.as_str();
    for (kind, tag) in [(RaftRpc::AppendEntries, 0u8), (RaftRpc::Vote, 1), (RaftRpc::InstallSnapshot, 2)] {
        let response = client.call(uri, PeerRequest::Raft { kind, body: vec![7, 8] }, CALL).await;
        assert_eq!(response, Ok(PeerResponse::Raft { body: vec![tag, 7, 8] }));
    }
    let response = client.call(uri, PeerRequest::Propose { body: b"p".to_vec() }, CALL).await;
    assert_eq!(response, Ok(PeerResponse::Proposed { body: b"p".to_vec() }));
    let response = client.call(uri, PeerRequest::AddPeer { peer_id: 9, uri: "http://h:1".into() }, CALL).await;
    let peers = vec![(SERVER_ID, "self".to_string()), (9, "http://h:1".to_string())];
    assert_eq!(response, Ok(PeerResponse::AllPeers { peers, first_peer_id: 2 }));
    assert_eq!(client.call(uri, PeerRequest::Ping, CALL).await, Ok(PeerResponse::Pong { peer_id: SERVER_ID }));
    let response = client.call(uri, PeerRequest::Cluster { body: b"c".to_vec() }, CALL).await;
    let mut expected = CLIENT_ID.to_be_bytes().to_vec();
    expected.push(b'c');
    assert_eq!(response, Ok(PeerResponse::Cluster { body: expected }), "the handler sees the caller's id");
    let request = PeerRequest::Shard { collection: "col".into(), shard_id: 4, body: b"x".to_vec() };
    assert_eq!(client.call(uri, request, CALL).await, Ok(PeerResponse::Shard { body: b"col/4/x".to_vec() }));
    assert_eq!(server.calls.load(Ordering::SeqCst), 8);
    assert!(client.send_failures().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn large_messages_and_trailing_slash_uris() {
    let server = TestServer::start().await;
    let client = client();
    let body: Vec<u8> = (0..20 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let uri = format!("{}/", server.uri);
    let response = client.call(&uri, PeerRequest::Propose { body: body.clone() }, Duration::from_secs(30)).await;
    assert_eq!(response, Ok(PeerResponse::Proposed { body }));
    server.stop().await;
}

#[tokio::test]
async fn concurrent_calls_share_one_channel() {
    let server = TestServer::start().await;
    let client = Arc::new(client());
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let client = Arc::clone(&client);
        let uri = server.uri.clone();
        tasks.push(tokio::spawn(async move { client.call(&uri, PeerRequest::Ping, CALL).await }));
    }
    for task in tasks {
        assert_eq!(task.await.expect("join"), Ok(PeerResponse::Pong { peer_id: SERVER_ID }));
    }
    server.stop().await;
}

#[tokio::test]
async fn handler_errors_and_panics_come_back_as_remote() {
    let server = TestServer::start().await;
    let client = client();
    let response = client.call(&server.uri, PeerRequest::Cluster { body: b"fail".to_vec() }, CALL).await;
    assert_eq!(response, Err(PeerError::Remote("boom: not the leader".into())));
    let response = client.call(&server.uri, PeerRequest::Cluster { body: b"panic".to_vec() }, CALL).await;
    assert!(matches!(&response, Err(PeerError::Remote(m)) if m.contains("cluster")), "{response:?}");
    assert!(!response.expect_err("error").is_transient());
    // The server survives both.
    assert_eq!(client.call(&server.uri, PeerRequest::Ping, CALL).await, Ok(PeerResponse::Pong { peer_id: SERVER_ID }));
    assert!(client.send_failures().is_empty(), "a remote error is a delivered message");
    server.stop().await;
}

#[tokio::test]
async fn undecodable_bodies_are_refused() {
    let server = TestServer::start().await;
    let mut raw = GrpcClient::connect(server.uri.clone()).await.expect("connect");
    for body in [vec![], vec![1, 0xc1, 0xff], vec![99, 1, 2]] {
        let status = raw.call(Envelope { from_peer: 5, body, to_peer: 0 }).await.expect_err("refused");
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    }
    assert_eq!(server.calls.load(Ordering::SeqCst), 0);
    server.stop().await;
}

#[tokio::test]
async fn nothing_listening_is_down_quickly() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let uri = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let client = client();
    let started = Instant::now();
    let response = client.call(&uri, PeerRequest::Ping, CALL).await;
    assert!(matches!(&response, Err(PeerError::Down(_))), "{response:?}");
    assert!(response.expect_err("error").is_transient());
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    // Again on the cached channel, and with an unroutable address the connect timeout bounds the wait.
    assert!(matches!(client.call(&uri, PeerRequest::Ping, CALL).await, Err(PeerError::Down(_))));
}

#[tokio::test]
async fn a_silent_peer_times_out() {
    // A listener that never accepts: the kernel completes the TCP handshake, the HTTP/2 one never happens
    // (as with a SIGSTOPped peer). The call ends as Timeout when its timeout expires.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let uri = format!("http://{}", listener.local_addr().expect("addr"));
    let client = client();
    let started = Instant::now();
    let response = client.call(&uri, PeerRequest::Ping, Duration::from_millis(300)).await;
    assert!(matches!(&response, Err(PeerError::Timeout(_))), "{response:?}");
    assert!(response.expect_err("error").is_transient());
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    drop(listener);
}

#[tokio::test]
async fn slow_handlers_time_out() {
    let server = TestServer::start().await;
    let client = client();
    let started = Instant::now();
    let request = PeerRequest::Cluster { body: b"sleep".to_vec() };
    let response = client.call(&server.uri, request, Duration::from_millis(200)).await;
    assert!(matches!(&response, Err(PeerError::Timeout(_))), "{response:?}");
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    assert_eq!(client.send_failures().get(&server.uri).map(|f| f.count), Some(1));
    assert_eq!(client.call(&server.uri, PeerRequest::Ping, CALL).await, Ok(PeerResponse::Pong { peer_id: SERVER_ID }));
    assert!(client.send_failures().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn blocked_peers_are_unreachable_from_the_client() {
    let server = TestServer::start().await;
    let faults = Arc::new(Faults::default());
    let client = PeerClient::new(CLIENT_ID, Duration::from_secs(2), Arc::clone(&faults));
    faults.block_peer(SERVER_ID, &format!("{}/", server.uri));
    let started = Instant::now();
    let response = client.call(&server.uri, PeerRequest::Ping, CALL).await;
    assert!(matches!(&response, Err(PeerError::Unreachable(m)) if m.contains("fault")), "{response:?}");
    assert!(started.elapsed() < Duration::from_millis(100));
    assert_eq!(server.calls.load(Ordering::SeqCst), 0, "nothing was sent");
    faults.unblock_peer(SERVER_ID);
    assert_eq!(client.call(&server.uri, PeerRequest::Ping, CALL).await, Ok(PeerResponse::Pong { peer_id: SERVER_ID }));
    server.stop().await;
}

#[tokio::test]
async fn the_server_rejects_blocked_callers() {
    let server = TestServer::start().await;
    let client = client();
    server.faults.block_peer(CLIENT_ID, "http://127.0.0.1:1");
    let response = client.call(&server.uri, PeerRequest::Ping, CALL).await;
    assert!(matches!(&response, Err(PeerError::Unreachable(m)) if m.contains("blocked")), "{response:?}");
    assert_eq!(server.calls.load(Ordering::SeqCst), 0, "the handler never saw it");
    // Other callers still get through.
    let other = PeerClient::new(3, Duration::from_secs(2), Arc::new(Faults::default()));
    assert_eq!(other.call(&server.uri, PeerRequest::Ping, CALL).await, Ok(PeerResponse::Pong { peer_id: SERVER_ID }));
    server.faults.unblock_all();
    assert_eq!(client.call(&server.uri, PeerRequest::Ping, CALL).await, Ok(PeerResponse::Pong { peer_id: SERVER_ID }));
    server.stop().await;
}

#[tokio::test]
async fn send_failures_are_recorded_and_cleared() {
    let server = TestServer::start().await;
    let faults = Arc::new(Faults::default());
    let client = PeerClient::new(CLIENT_ID, Duration::from_secs(2), Arc::clone(&faults));
    faults.block_peer(SERVER_ID, &server.uri);
    for _ in 0..3 {
        assert!(client.call(&format!("{}/", server.uri), PeerRequest::Ping, CALL).await.is_err());
    }
    let failures = client.send_failures();
    let failure = failures.get(&server.uri).expect("recorded under the normalised uri");
    assert_eq!(failure.count, 3);
    assert!(failure.latest_error.contains("unreachable"), "{}", failure.latest_error);
    assert!(chrono::DateTime::parse_from_rfc3339(&failure.latest_error_timestamp).is_ok());
    let json = serde_json::to_value(failure).expect("json");
    assert_eq!(json["count"], 3);
    faults.unblock_all();
    assert!(client.call(&server.uri, PeerRequest::Ping, CALL).await.is_ok());
    assert!(client.send_failures().is_empty(), "cleared on the first success");
    server.stop().await;
}

#[tokio::test]
async fn forget_drops_the_channel_and_the_next_call_reconnects() {
    let server = TestServer::start().await;
    let client = client();
    assert!(client.call(&server.uri, PeerRequest::Ping, CALL).await.is_ok());
    client.forget(&format!("{}/", server.uri));
    assert!(client.call(&server.uri, PeerRequest::Ping, CALL).await.is_ok());
    server.stop().await;
}

#[tokio::test]
async fn a_restarted_server_is_reached_again() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let uri = format!("http://{addr}");
    let handler = handler_fn(answer);
    let (stop, stopped) = oneshot::channel::<()>();
    let faults = Arc::new(Faults::default());
    let first = tokio::spawn(serve_with_listener(listener, Arc::clone(&handler), Arc::clone(&faults), async move {
        let _ = stopped.await;
    }));
    let client = client();
    assert!(client.call(&uri, PeerRequest::Ping, CALL).await.is_ok());
    let _ = stop.send(());
    assert!(matches!(first.await, Ok(Ok(()))));
    assert!(client.call(&uri, PeerRequest::Ping, CALL).await.is_err());
    let (stop, stopped) = oneshot::channel::<()>();
    let second = tokio::spawn(serve(addr, handler, faults, async move {
        let _ = stopped.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match client.call(&uri, PeerRequest::Ping, CALL).await {
            Ok(response) => break assert_eq!(response, PeerResponse::Pong { peer_id: SERVER_ID }),
            Err(err) => assert!(err.is_transient() && Instant::now() < deadline, "never reconnected: {err}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(());
    assert!(matches!(second.await, Ok(Ok(()))));
}

#[tokio::test]
async fn serve_reports_a_taken_address() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let result = serve(addr, handler_fn(answer), Arc::new(Faults::default()), async {}).await;
    assert!(matches!(&result, Err(PeerError::Unreachable(m)) if m.contains("bind")), "{result:?}");
}

#[tokio::test]
async fn a_caller_that_gives_up_does_not_cancel_the_handler() {
    let finished = Arc::new(AtomicUsize::new(0));
    let done = Arc::clone(&finished);
    let handler = handler_fn(move |_, _| {
        let done = Arc::clone(&done);
        async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            done.fetch_add(1, Ordering::SeqCst);
            Ok(PeerResponse::Pong { peer_id: SERVER_ID })
        }
    });
    let server = TestServer::start_with(handler, Arc::new(AtomicUsize::new(0))).await;
    let response = client().call(&server.uri, PeerRequest::Ping, Duration::from_millis(50)).await;
    assert!(matches!(response, Err(PeerError::Timeout(_))), "{response:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while finished.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the handler was cancelled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop().await;
}

/// A handler that knows its own peer id (as a node's does).
struct Identified(PeerId);

impl PeerHandler for Identified {
    fn handle(&self, from: PeerId, request: PeerRequest) -> quiver_transport::HandlerFuture<'_> {
        Box::pin(answer(from, request))
    }

    fn peer_id(&self) -> Option<PeerId> {
        Some(self.0)
    }
}

#[tokio::test]
async fn calls_meant_for_another_peer_are_refused_and_routes_redirect() {
    let server = TestServer::start_with(Arc::new(Identified(SERVER_ID)), Arc::new(AtomicUsize::new(0))).await;
    let client = PeerClient::new(CLIENT_ID, CALL, Arc::new(Faults::default()));
    // Addressed to the peer that answers there, or to whoever answers: served.
    let pong = client.call_peer(SERVER_ID, &server.uri, PeerRequest::Ping, CALL).await;
    assert_eq!(pong, Ok(PeerResponse::Pong { peer_id: SERVER_ID }));
    assert!(client.call(&server.uri, PeerRequest::Ping, CALL).await.is_ok());
    // Addressed to another peer id (a new process on an old address): refused, as unreachable.
    let refused = client.call_peer(9, &server.uri, PeerRequest::Ping, CALL).await;
    match refused {
        Err(PeerError::Unreachable(message)) => assert!(message.contains("not peer 9"), "{message}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // A route override sends calls for a peer to the address it announced.
    client.set_route(SERVER_ID, Some(&server.uri));
    let routed = client.call_peer(SERVER_ID, "http://127.0.0.1:1", PeerRequest::Ping, CALL).await;
    assert_eq!(routed, Ok(PeerResponse::Pong { peer_id: SERVER_ID }));
    client.retain_routes(|peer| peer != SERVER_ID);
    assert_eq!(client.route(SERVER_ID), None);
    server.stop().await;
}
