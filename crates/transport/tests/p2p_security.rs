//! The p2p key over real loopback sockets: a client with the cluster's key is served, one without
//! it or with another key is refused (`Unauthenticated`) and the handler never runs; the key of
//! a rotation (`alt_api_key`) is accepted too.

use quiver_transport::{
    Faults, PeerClient, PeerError, PeerKey, PeerRequest, PeerResponse, PeerSecurity, handler_fn, serve_with_security,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;

const CALL: Duration = Duration::from_secs(5);

fn security(send: &str, accept: &[&str]) -> PeerSecurity {
    PeerSecurity {
        send: Some(PeerKey::derive(send)),
        accept: accept.iter().map(|k| PeerKey::derive(k)).collect(),
        tls: None,
    }
}

fn client(security: PeerSecurity) -> PeerClient {
    PeerClient::new(1, Duration::from_secs(2), Arc::new(Faults::default())).with_security(security)
}

#[tokio::test]
async fn calls_need_the_cluster_key() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let handler = handler_fn(move |_, _| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Ok(PeerResponse::Pong { peer_id: 2 }) }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let uri = format!("http://{}", listener.local_addr().expect("addr"));
    let server_security = security("current", &["current", "next"]);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server =
        tokio::spawn(serve_with_security(listener, handler, Arc::new(Faults::default()), server_security, async {
            let _ = stopped.await;
        }));

    let good = client(security("current", &[])).call(&uri, PeerRequest::Ping, CALL).await;
    assert_eq!(good, Ok(PeerResponse::Pong { peer_id: 2 }));
    let rotated = client(security("next", &[])).call(&uri, PeerRequest::Ping, CALL).await;
    assert_eq!(rotated, Ok(PeerResponse::Pong { peer_id: 2 }));
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    let wrong = client(security("other", &[])).call(&uri, PeerRequest::Ping, CALL).await;
    assert!(
        matches!(&wrong, Err(PeerError::Remote(m)) if m.contains("Unauthenticated") && m.contains("wrong")),
        "{wrong:?}"
    );
    let none = client(PeerSecurity::default()).call(&uri, PeerRequest::Ping, CALL).await;
    assert!(matches!(&none, Err(PeerError::Remote(m)) if m.contains("without the cluster key")), "{none:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "refused calls never reach the handler");

    let _ = stop.send(());
    assert!(matches!(tokio::time::timeout(CALL, server).await, Ok(Ok(Ok(())))));
}
