//! Calls coalesced into one RPC (design record 055): how many RPCs they take, that each caller
//! gets its own answer, error and timeout, and that a peer predating batches is sent the calls
//! one by one.

use quiver_transport::{
    BatchAnswer, Faults, PeerClient, PeerError, PeerHandler, PeerId, PeerRequest, PeerResponse, Wire, decode,
    handler_fn, serve_in_memory, serve_with_listener,
};
use serde::Deserialize;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const CLIENT_ID: PeerId = 1;
const SERVER_ID: PeerId = 2;
const URI: &str = "http://peer-2:6335";
const CALL: Duration = Duration::from_secs(5);

/// Echoes shard calls; `fail` fails, `sleep` answers after 1 s.
async fn answer(request: PeerRequest) -> Result<PeerResponse, String> {
    match request {
        PeerRequest::Shard { body, .. } if body == b"fail" => Err("refused on purpose".to_string()),
        PeerRequest::Shard { body, .. } if body == b"sleep" => {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok(PeerResponse::Shard { body })
        }
        PeerRequest::Shard { shard_id, mut body, .. } => {
            body.insert(0, shard_id as u8);
            Ok(PeerResponse::Shard { body })
        }
        PeerRequest::Ping => Ok(PeerResponse::Pong { peer_id: SERVER_ID }),
        other @ (PeerRequest::Raft { .. }
        | PeerRequest::Propose { .. }
        | PeerRequest::AddPeer { .. }
        | PeerRequest::Cluster { .. }
        | PeerRequest::Batch { .. }) => Err(format!("not expected here: {}", other.kind_name())),
    }
}

fn shard(shard_id: u32, body: &[u8]) -> PeerRequest {
    PeerRequest::Shard { collection: "c".into(), shard_id, body: body.to_vec() }
}

/// `n` shard calls tagged `tag`, each with the default timeout.
fn shard_calls(n: u32, tag: u8) -> Vec<(PeerRequest, Duration)> {
    (0..n).map(|i| (shard(i, &[tag]), CALL)).collect()
}

/// What the server answers to [`shard_calls`]`(n, tag)`, in order.
fn echoes(n: u32, tag: u8) -> Vec<Result<PeerResponse, PeerError>> {
    (0..n).map(|i| Ok(PeerResponse::Shard { body: vec![i as u8, tag] })).collect()
}

/// `PeerRequest` as a peer that predates batches reads it.
#[derive(Deserialize)]
#[allow(dead_code)]
enum OldPeerRequest {
    Raft { kind: quiver_transport::RaftRpc, body: serde_bytes::ByteBuf },
    Propose { body: serde_bytes::ByteBuf },
    AddPeer { peer_id: PeerId, uri: String },
    Ping,
    Cluster { body: serde_bytes::ByteBuf },
    Shard { collection: String, shard_id: u32, body: serde_bytes::ByteBuf },
}

/// An in-memory wire to one server that counts the RPCs it carries; `old` makes the server
/// refuse what a peer predating batches cannot decode, as its real server would.
struct CountingWire {
    handler: Arc<dyn PeerHandler>,
    faults: Faults,
    rpcs: AtomicUsize,
    old: bool,
}

impl CountingWire {
    fn new(old: bool) -> Arc<CountingWire> {
        let handler = handler_fn(|_, request| answer(request));
        Arc::new(CountingWire { handler, faults: Faults::default(), rpcs: AtomicUsize::new(0), old })
    }
}

impl Wire for CountingWire {
    fn deliver<'a>(
        &'a self,
        from: PeerId,
        to: PeerId,
        uri: &'a str,
        body: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, PeerError>> + Send + 'a>> {
        Box::pin(async move {
            self.rpcs.fetch_add(1, Ordering::SeqCst);
            if self.old
                && let Err(e) = decode::<OldPeerRequest>(&body)
            {
                return Err(PeerError::from_status(uri, &tonic::Status::invalid_argument(e.to_string())));
            }
            serve_in_memory(&self.handler, &self.faults, from, to, uri, body).await
        })
    }
}

fn client(wire: &Arc<CountingWire>) -> Arc<PeerClient> {
    let wire: Arc<dyn Wire> = Arc::clone(wire) as Arc<dyn Wire>;
    Arc::new(PeerClient::with_wire(CLIENT_ID, wire, Arc::new(Faults::default())))
}

/// Issues `requests` at the same moment in `lane` and returns their answers in order.
async fn together(
    client: &Arc<PeerClient>,
    lane: &'static str,
    requests: Vec<(PeerRequest, Duration)>,
) -> Vec<Result<PeerResponse, PeerError>> {
    let calls = requests
        .into_iter()
        .map(|(request, timeout)| client.call_peer_coalesced(SERVER_ID, URI, lane, request, timeout));
    futures::future::join_all(calls).await
}

#[tokio::test]
async fn calls_issued_together_take_one_rpc_and_each_gets_its_own_answer() {
    let wire = CountingWire::new(false);
    let client = client(&wire);
    let answers = together(&client, "writes", shard_calls(6, b'x')).await;
    assert_eq!(answers, echoes(6, b'x'));
    assert_eq!(wire.rpcs.load(Ordering::SeqCst), 1, "six calls issued together, one RPC");
    // One call alone travels alone (not as a batch of one); another lane is another RPC.
    let one = together(&client, "writes", vec![(PeerRequest::Ping, CALL)]).await;
    assert_eq!(one, vec![Ok(PeerResponse::Pong { peer_id: SERVER_ID })]);
    let (a, b) = futures::join!(
        together(&client, "writes", vec![(shard(1, b"a"), CALL)]),
        together(&client, "reads", vec![(shard(2, b"b"), CALL)])
    );
    assert_eq!((a.len(), b.len()), (1, 1));
    assert_eq!(wire.rpcs.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_failing_call_fails_alone_and_a_caller_keeps_its_own_timeout() {
    let wire = CountingWire::new(false);
    let client = client(&wire);
    let requests = vec![
        (shard(0, b"fail"), CALL),
        (shard(1, b"ok"), CALL),
        (shard(2, b"sleep"), Duration::from_millis(100)),
        (PeerRequest::Ping, CALL),
    ];
    let answers = together(&client, "writes", requests).await;
    assert_eq!(answers[0], Err(PeerError::Remote("refused on purpose".into())));
    assert_eq!(answers[1], Ok(PeerResponse::Shard { body: vec![1, b'o', b'k'] }));
    assert!(matches!(&answers[2], Err(PeerError::Timeout(_))), "{:?}", answers[2]);
    assert_eq!(answers[3], Ok(PeerResponse::Pong { peer_id: SERVER_ID }));
    assert_eq!(wire.rpcs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_peer_that_reads_no_batches_is_sent_the_calls_one_by_one() {
    let wire = CountingWire::new(true);
    let client = client(&wire);
    let answers = together(&client, "writes", shard_calls(3, b'y')).await;
    assert_eq!(answers, echoes(3, b'y'));
    assert_eq!(wire.rpcs.load(Ordering::SeqCst), 4, "the refused batch, then each call");
    // From then on, no batch is tried.
    let answers = together(&client, "writes", shard_calls(3, b'z')).await;
    assert_eq!(answers, echoes(3, b'z'));
    assert_eq!(wire.rpcs.load(Ordering::SeqCst), 7);
}

#[tokio::test]
async fn the_grpc_server_serves_a_batch_call_by_call_and_refuses_nesting() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let uri = format!("http://{}", listener.local_addr().expect("addr"));
    let handler = handler_fn(|_, request| answer(request));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_with_listener(listener, handler, Arc::new(Faults::default()), async move {
        let _ = stopped.await;
    }));
    let client = Arc::new(PeerClient::new(CLIENT_ID, CALL, Arc::new(Faults::default())));
    let calls = shard_calls(4, b'g').into_iter();
    let calls = calls.map(|(request, timeout)| client.call_peer_coalesced(SERVER_ID, &uri, "writes", request, timeout));
    assert_eq!(futures::future::join_all(calls).await, echoes(4, b'g'));
    let nested = PeerRequest::Batch { calls: vec![PeerRequest::Batch { calls: vec![] }, PeerRequest::Ping] };
    let answer = client.call(&uri, nested, CALL).await;
    let expected = vec![
        BatchAnswer::Failed("a batch inside a batch is refused".into()),
        BatchAnswer::Answered(PeerResponse::Pong { peer_id: SERVER_ID }),
    ];
    assert_eq!(answer, Ok(PeerResponse::Batch { answers: expected }));
    let _ = stop.send(());
    assert!(matches!(server.await, Ok(Ok(()))));
}
