//! Fault injection for tests: partitions between peers without network namespaces. A blocked peer's URI
//! refuses outgoing calls (the client fails with `Unreachable` at once), and the server rejects incoming
//! calls whose envelope names a blocked peer. One `Faults` is shared by a node's client and server.

use parking_lot::RwLock;
use quiver_types::PeerId;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// The set of peers this node pretends it cannot talk to. Cheap when empty (one atomic load per check).
#[derive(Debug, Default)]
pub struct Faults {
    any: AtomicBool,
    blocked: RwLock<BTreeMap<PeerId, String>>,
}

impl Faults {
    /// Blocks traffic with `peer`, whose p2p URI is `uri`, in both directions.
    pub fn block_peer(&self, peer: PeerId, uri: &str) {
        let mut blocked = self.blocked.write();
        blocked.insert(peer, normalize_uri(uri));
        self.any.store(true, Ordering::Release);
    }

    /// Lets traffic with `peer` through again.
    pub fn unblock_peer(&self, peer: PeerId) {
        let mut blocked = self.blocked.write();
        blocked.remove(&peer);
        self.any.store(!blocked.is_empty(), Ordering::Release);
    }

    /// Heals every partition.
    pub fn unblock_all(&self) {
        let mut blocked = self.blocked.write();
        blocked.clear();
        self.any.store(false, Ordering::Release);
    }

    /// The blocked peers, in id order.
    pub fn blocked(&self) -> Vec<PeerId> {
        self.blocked.read().keys().copied().collect()
    }

    /// True when calls to `uri` must fail (compared after [`normalize_uri`]).
    pub fn is_blocked_uri(&self, uri: &str) -> bool {
        if !self.any.load(Ordering::Acquire) {
            return false;
        }
        let uri = normalize_uri(uri);
        self.blocked.read().values().any(|blocked| *blocked == uri)
    }

    /// True when calls from `peer` must be rejected.
    pub fn is_blocked_peer(&self, peer: PeerId) -> bool {
        self.any.load(Ordering::Acquire) && self.blocked.read().contains_key(&peer)
    }
}

/// The canonical form of a p2p URI: trimmed, without trailing slashes, `http://` added when no scheme is
/// given. Channels, fault rules and send-failure records are keyed by it.
pub fn normalize_uri(uri: &str) -> String {
    let uri = uri.trim().trim_end_matches('/');
    if uri.contains("://") { uri.to_string() } else { format!("http://{uri}") }
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
    fn normalizes() {
        assert_eq!(normalize_uri(" http://a:1/ "), "http://a:1");
        assert_eq!(normalize_uri("a:1"), "http://a:1");
        assert_eq!(normalize_uri("https://a:1//"), "https://a:1");
    }
}
