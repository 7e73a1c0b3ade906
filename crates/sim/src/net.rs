//! The in-memory network between simulated peers: every p2p call of every peer goes through
//! [`MemoryNet`], which serves it with the receiving node's real handler (the same code path as
//! the gRPC server) after applying the faults the simulation set: cuts one way or both, paused
//! peers (their traffic is held and delivered late), crashed process instances, and random
//! drops, duplicates and delays drawn from the seeded generator.

use parking_lot::Mutex;
use quiver_transport::{Faults, PeerError, PeerHandler, PeerRequest, Wire, decode, serve_in_memory};
use quiver_types::PeerId;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};

/// One running process instance of a peer, as the network knows it.
struct Endpoint {
    peer: PeerId,
    instance: u64,
    handler: Arc<dyn PeerHandler>,
    faults: Arc<Faults>,
}

/// Random message faults, per call.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Chaos {
    /// Probability that a request (or its reply) is lost: the caller times out.
    pub drop: f64,
    /// Probability that a request is delivered twice.
    pub duplicate: f64,
    /// Largest random delay before a request is served and before its reply arrives.
    pub max_delay: Duration,
}

struct NetState {
    rng: StdRng,
    endpoints: BTreeMap<String, Endpoint>,
    dead: BTreeSet<u64>,
    /// Directed cuts: what `from` sends to `to` is lost.
    cuts: BTreeSet<(PeerId, PeerId)>,
    chaos: Chaos,
    next_instance: u64,
}

/// The simulated network. Cheap to share.
pub struct MemoryNet {
    state: Mutex<NetState>,
    /// Paused peers; watchers wake when the set changes.
    paused: watch::Sender<BTreeSet<PeerId>>,
}

/// What the network decided about one call.
enum Fate {
    Refused(PeerError),
    Lost,
    Deliver {
        handler: Arc<dyn PeerHandler>,
        faults: Arc<Faults>,
        duplicate: bool,
        delays: [Duration; 2],
        instance: u64,
    },
}

impl MemoryNet {
    pub fn new(seed: u64) -> Arc<MemoryNet> {
        let state = NetState {
            rng: StdRng::seed_from_u64(seed ^ 0x0005_eed0_f4e7),
            endpoints: BTreeMap::new(),
            dead: BTreeSet::new(),
            cuts: BTreeSet::new(),
            chaos: Chaos::default(),
            next_instance: 1,
        };
        Arc::new(MemoryNet { state: Mutex::new(state), paused: watch::channel(BTreeSet::new()).0 })
    }

    /// Registers a new process instance of `peer` serving at `uri`; returns its instance id.
    pub fn register(&self, uri: &str, peer: PeerId, handler: Arc<dyn PeerHandler>, faults: Arc<Faults>) -> u64 {
        let mut state = self.state.lock();
        let instance = state.next_instance;
        state.next_instance += 1;
        let uri = quiver_transport::normalize_uri(uri);
        state.endpoints.insert(uri, Endpoint { peer, instance, handler, faults });
        instance
    }

    /// The process instance stops (a crash): nothing it sends or serves gets through any more.
    pub fn kill(&self, instance: u64) {
        let mut state = self.state.lock();
        state.dead.insert(instance);
        state.endpoints.retain(|_, e| e.instance != instance);
    }

    /// Cuts what `from` sends to `to` (one way).
    pub fn cut(&self, from: PeerId, to: PeerId) {
        self.state.lock().cuts.insert((from, to));
    }

    /// Heals every cut.
    pub fn heal(&self) {
        self.state.lock().cuts.clear();
    }

    pub fn set_chaos(&self, chaos: Chaos) {
        self.state.lock().chaos = chaos;
    }

    /// Holds every message to and from `peer` until [`MemoryNet::resume`].
    pub fn pause(&self, peer: PeerId) {
        self.paused.send_modify(|p| {
            p.insert(peer);
        });
    }

    pub fn resume(&self, peer: PeerId) {
        self.paused.send_modify(|p| {
            p.remove(&peer);
        });
    }

    pub fn resume_all(&self) {
        self.paused.send_modify(|p| p.clear());
    }

    /// A wire for one process instance (its outgoing calls).
    pub fn wire(self: &Arc<Self>, instance: u64) -> Arc<dyn Wire> {
        Arc::new(InstanceWire { net: Arc::clone(self), instance })
    }

    async fn wait_unpaused(&self, peer: PeerId) {
        let mut paused = self.paused.subscribe();
        let _ = paused.wait_for(|set| !set.contains(&peer)).await;
    }

    fn decide(&self, instance: u64, from: PeerId, uri: &str) -> (Fate, PeerId) {
        let mut state = self.state.lock();
        if state.dead.contains(&instance) {
            return (Fate::Refused(PeerError::Down(format!("{uri}: the calling process crashed"))), 0);
        }
        let uri = quiver_transport::normalize_uri(uri);
        let Some(endpoint) = state.endpoints.get(&uri) else {
            return (Fate::Refused(PeerError::Down(format!("{uri}: connection refused (nothing listens)"))), 0);
        };
        let (target, handler, faults) = (endpoint.peer, Arc::clone(&endpoint.handler), Arc::clone(&endpoint.faults));
        let target_instance = endpoint.instance;
        if state.cuts.contains(&(from, target)) {
            return (Fate::Refused(PeerError::Unreachable(format!("{uri}: partitioned"))), target);
        }
        let chaos = state.chaos;
        let lost = chaos.drop > 0.0 && state.rng.random_bool(chaos.drop.min(1.0));
        let duplicate = chaos.duplicate > 0.0 && state.rng.random_bool(chaos.duplicate.min(1.0));
        let max_ms = chaos.max_delay.as_millis() as u64;
        let mut delay = || Duration::from_millis(if max_ms == 0 { 0 } else { state.rng.random_range(0..=max_ms) });
        let delays = [delay(), delay()];
        match lost {
            true => (Fate::Lost, target),
            false => (Fate::Deliver { handler, faults, duplicate, delays, instance: target_instance }, target),
        }
    }

    /// Whether the reply from `target` (process instance `instance`) to `from` is lost: the
    /// way back is cut, or the process crashed before answering.
    fn reply_lost(&self, target: PeerId, instance: u64, from: PeerId) -> bool {
        let state = self.state.lock();
        state.cuts.contains(&(target, from)) || state.dead.contains(&instance)
    }

    fn is_dead(&self, instance: u64) -> bool {
        self.state.lock().dead.contains(&instance)
    }
}

struct InstanceWire {
    net: Arc<MemoryNet>,
    instance: u64,
}

impl Wire for InstanceWire {
    fn deliver<'a>(
        &'a self,
        from: PeerId,
        to: PeerId,
        uri: &'a str,
        body: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, PeerError>> + Send + 'a>> {
        Box::pin(async move {
            self.net.wait_unpaused(from).await;
            let (fate, target) = self.net.decide(self.instance, from, uri);
            let (handler, faults, duplicate, delays, instance) = match fate {
                Fate::Refused(e) => return Err(e),
                Fate::Lost => return std::future::pending().await,
                Fate::Deliver { handler, faults, duplicate, delays, instance } => {
                    (handler, faults, duplicate, delays, instance)
                }
            };
            // Only Raft messages are duplicated: Raft must tolerate it, while a TCP connection
            // never delivers a request twice (data-plane retries are the protocol's own).
            let duplicate = duplicate && matches!(decode::<PeerRequest>(&body), Ok(PeerRequest::Raft { .. }));
            // Served in a task of its own, as the real server does: a caller that gives up
            // never cancels it, and a paused target serves it late.
            let (reply_tx, reply_rx) = oneshot::channel();
            let net = Arc::clone(&self.net);
            let uri = uri.to_string();
            tokio::spawn(async move {
                net.wait_unpaused(target).await;
                tokio::time::sleep(delays[0]).await;
                if net.is_dead(instance) {
                    return; // it crashed before the request arrived
                }
                if duplicate {
                    let (handler, faults, uri, body) =
                        (Arc::clone(&handler), Arc::clone(&faults), uri.clone(), body.clone());
                    tokio::spawn(async move { serve_in_memory(&handler, &faults, from, to, &uri, body).await });
                }
                let reply = serve_in_memory(&handler, &faults, from, to, &uri, body).await;
                tokio::time::sleep(delays[1]).await;
                net.wait_unpaused(target).await;
                if !net.reply_lost(target, instance, from) {
                    let _ = reply_tx.send(reply);
                }
            });
            match reply_rx.await {
                Ok(reply) => reply,
                // The reply was lost on the way back: the caller times out.
                Err(_) => std::future::pending().await,
            }
        })
    }
}
