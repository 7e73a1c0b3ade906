//! Fault injection for tests: partitions between peers without network namespaces, both ways or
//! one way. Traffic *to* a peer blocked outgoing fails: this node's calls to it fail at once
//! (`Unreachable`), and calls it receives from that peer are executed but their replies are lost.
//! Traffic *from* a peer blocked incoming fails: calls from it are rejected before they run, and
//! replies to this node's calls to it are lost after the peer acted (the caller sees a timeout,
//! as with a real one-way cut). One `Faults` is shared by a node's client and server.

use parking_lot::RwLock;
use quiver_types::PeerId;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// The peers this node pretends it cannot send to (`outgoing`) or receive from (`incoming`),
/// with their p2p URIs. Cheap when empty (one atomic load per check).
#[derive(Debug, Default)]
pub struct Faults {
    any: AtomicBool,
    outgoing: RwLock<BTreeMap<PeerId, String>>,
    incoming: RwLock<BTreeMap<PeerId, String>>,
}

impl Faults {
    /// Blocks traffic with `peer`, whose p2p URI is `uri`, in both directions.
    pub fn block_peer(&self, peer: PeerId, uri: &str) {
        self.block_outgoing(peer, uri);
        self.block_incoming(peer, uri);
    }

    /// Blocks what this node sends to `peer` (requests and replies).
    pub fn block_outgoing(&self, peer: PeerId, uri: &str) {
        self.outgoing.write().insert(peer, normalize_uri(uri));
        self.any.store(true, Ordering::Release);
    }

    /// Blocks what this node receives from `peer` (requests and replies).
    pub fn block_incoming(&self, peer: PeerId, uri: &str) {
        self.incoming.write().insert(peer, normalize_uri(uri));
        self.any.store(true, Ordering::Release);
    }

    /// Lets traffic with `peer` through again, both ways.
    pub fn unblock_peer(&self, peer: PeerId) {
        self.outgoing.write().remove(&peer);
        self.incoming.write().remove(&peer);
        self.refresh();
    }

    /// Heals every partition.
    pub fn unblock_all(&self) {
        self.outgoing.write().clear();
        self.incoming.write().clear();
        self.refresh();
    }

    fn refresh(&self) {
        let any = !self.outgoing.read().is_empty() || !self.incoming.read().is_empty();
        self.any.store(any, Ordering::Release);
    }

    /// The peers blocked in either direction, in id order.
    pub fn blocked(&self) -> Vec<PeerId> {
        let mut peers: Vec<PeerId> = self.outgoing.read().keys().chain(self.incoming.read().keys()).copied().collect();
        peers.sort_unstable();
        peers.dedup();
        peers
    }

    /// True when calls to `uri` must fail before they are sent.
    pub fn is_blocked_uri(&self, uri: &str) -> bool {
        self.blocks_call_to(0, uri)
    }

    /// True when calls to peer `to` (0: whoever answers) at `uri` must fail before they are sent.
    pub fn blocks_call_to(&self, to: PeerId, uri: &str) -> bool {
        self.any.load(Ordering::Acquire) && Self::holds(&self.outgoing, to, uri)
    }

    /// True when a call this node made to peer `to` at `uri` must lose its reply.
    pub fn drops_reply_from(&self, to: PeerId, uri: &str) -> bool {
        self.any.load(Ordering::Acquire) && Self::holds(&self.incoming, to, uri)
    }

    /// True when calls from `peer` must be rejected before they run.
    pub fn is_blocked_peer(&self, peer: PeerId) -> bool {
        self.any.load(Ordering::Acquire) && self.incoming.read().contains_key(&peer)
    }

    /// True when the reply to a call from `peer` must be lost (the call did run).
    pub fn drops_reply_to(&self, peer: PeerId) -> bool {
        self.any.load(Ordering::Acquire) && self.outgoing.read().contains_key(&peer)
    }

    fn holds(map: &RwLock<BTreeMap<PeerId, String>>, peer: PeerId, uri: &str) -> bool {
        let uri = normalize_uri(uri);
        map.read().iter().any(|(p, blocked)| *p == peer || *blocked == uri)
    }
}

/// The canonical form of a p2p URI: trimmed, without trailing slashes, `http://` added when no scheme is
/// given. Channels, fault rules and send-failure records are keyed by it.
pub fn normalize_uri(uri: &str) -> String {
    let uri = uri.trim().trim_end_matches('/');
    if uri.contains("://") { uri.to_string() } else { format!("http://{uri}") }
}

/// How a p2p URI is shown to clients (`GET /cluster`, telemetry): the canonical form with one
/// trailing slash, as Qdrant shows it (`http://node1:6335/`). Only for display: every lookup and
/// comparison uses [`normalize_uri`], which reads this form back as the same peer.
pub fn display_uri(uri: &str) -> String {
    format!("{}/", normalize_uri(uri))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_and_unblocks() {
        let faults = Faults::default();
        assert!(!faults.is_blocked_uri("http://127.0.0.1:1"));
        faults.block_peer(2, "http://127.0.0.1:2/");
        faults.block_peer(3, "127.0.0.1:3");
        assert!(faults.is_blocked_uri("http://127.0.0.1:2"));
        assert!(faults.is_blocked_uri("http://127.0.0.1:3/"));
        assert!(faults.is_blocked_peer(2));
        assert!(!faults.is_blocked_peer(1));
        assert_eq!(faults.blocked(), vec![2, 3]);
        faults.unblock_peer(2);
        assert!(!faults.is_blocked_uri("http://127.0.0.1:2"));
        assert_eq!(faults.blocked(), vec![3]);
        faults.unblock_all();
        assert!(faults.blocked().is_empty());
        assert!(!faults.is_blocked_peer(3));
    }

    #[test]
    fn one_way() {
        let faults = Faults::default();
        faults.block_outgoing(2, "http://b:2");
        assert!(faults.is_blocked_uri("http://b:2") && faults.drops_reply_to(2));
        assert!(!faults.is_blocked_peer(2) && !faults.drops_reply_from(2, "http://b:2"));
        faults.unblock_all();
        faults.block_incoming(3, "http://c:3");
        assert!(faults.is_blocked_peer(3) && faults.drops_reply_from(3, "http://elsewhere:9"));
        assert!(!faults.is_blocked_uri("http://c:3") && !faults.drops_reply_to(3));
        assert_eq!(faults.blocked(), vec![3]);
    }

    #[test]
    fn normalizes() {
        assert_eq!(normalize_uri(" http://a:1/ "), "http://a:1");
        assert_eq!(normalize_uri("a:1"), "http://a:1");
        assert_eq!(normalize_uri("https://a:1//"), "https://a:1");
        assert_eq!(display_uri("http://a:1"), "http://a:1/");
        assert_eq!(display_uri("http://a:1/"), "http://a:1/");
        assert_eq!(display_uri("a:1"), "http://a:1/");
        assert_eq!(
            normalize_uri(&display_uri("http://a:1")),
            "http://a:1",
            "the shown form reads back as the same peer"
        );
    }
}
