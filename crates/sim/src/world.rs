//! The simulated cluster: real `Node`s (storage in a temp dir, consensus, reconciler, health
//! checks, replication) joined by the [`MemoryNet`]. A crash copies the peer's directory as it
//! is at that instant (what a `kill -9` leaves: everything written, synced or not) and boots a
//! new process instance from the copy; the old instance is cut off from the network, so nothing
//! it still does can reach anyone.

use crate::net::MemoryNet;
use quiver_cluster::ConsensusConfig;
use quiver_cluster::state::MetaOperation;
use quiver_node::cluster_mode::NodePeerHandler;
use quiver_node::{ClusterStart, Node, NodeConfig};
use quiver_transport::{Faults, PeerClient};
use quiver_types::PeerId;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// One simulated peer.
pub struct SimPeer {
    pub peer_id: PeerId,
    pub uri: String,
    /// The directory of the current process instance (a new one after each crash).
    pub dir: PathBuf,
    pub node: Option<Arc<Node>>,
    instance: u64,
    /// Crashes so far (names the next directory).
    generation: u32,
}

impl SimPeer {
    pub fn is_up(&self) -> bool {
        self.node.is_some()
    }
}

/// The metadata log as the peers applied it: index → (operation, accepted, first peer seen).
pub type AppliedLog = Arc<parking_lot::Mutex<std::collections::BTreeMap<u64, (MetaOperation, bool, PeerId)>>>;

/// The cluster under simulation.
pub struct World {
    pub net: Arc<MemoryNet>,
    pub peers: Vec<SimPeer>,
    base: PathBuf,
    /// Every metadata operation any peer applied, by log index.
    pub log: AppliedLog,
    /// Two peers that applied different operations at one index (Raft's log matching broken).
    pub log_mismatches: Arc<parking_lot::Mutex<Vec<String>>>,
}

fn node_config(dir: &Path, peer_id: PeerId) -> NodeConfig {
    NodeConfig {
        storage_path: dir.join("storage"),
        snapshots_path: dir.join("snapshots"),
        peer_id: Some(peer_id),
        // Short enough that the placement keeper replaces the replicas of paused and cut-off
        // peers within a schedule (design record 012 §3).
        replica_grace_period: Some(Duration::from_secs(4)),
        ..NodeConfig::default()
    }
}

fn consensus_config(dir: &Path, peer_id: PeerId, uri: &str, bootstrap: Option<String>) -> ConsensusConfig {
    ConsensusConfig {
        peer_id,
        uri: uri.to_string(),
        bootstrap,
        dir: dir.join("storage").join("raft"),
        tick_period_ms: 100,
        compact_wal_entries: 64,
        bootstrap_timeout: Duration::from_secs(15),
        rpc_timeout: Duration::from_secs(10),
        version: "sim".to_string(),
    }
}

/// Copies a directory tree (regular files and directories).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            // A file may vanish between listing and copying (a WAL segment dropped): as a crash
            // at that instant would leave it, it is just not there.
            match std::fs::copy(entry.path(), &target) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

impl World {
    /// `n` peers (ids 1..=n) in a new cluster: peer 1 creates it, the others join through it.
    pub async fn start(n: usize, seed: u64, base: &Path) -> Result<World, String> {
        let mut world = World {
            net: MemoryNet::new(seed),
            peers: Vec::new(),
            base: base.to_path_buf(),
            log: Default::default(),
            log_mismatches: Default::default(),
        };
        for index in 0..n {
            let peer_id = index as PeerId + 1;
            let uri = format!("http://peer{peer_id}:6335");
            let dir = base.join(format!("p{peer_id}-0"));
            world.peers.push(SimPeer { peer_id, uri, dir, node: None, instance: 0, generation: 0 });
            let bootstrap = (index > 0).then(|| world.peers[0].uri.clone());
            world.boot(index, bootstrap).await?;
        }
        Ok(world)
    }

    /// Starts a process instance of peer `index` from its directory.
    async fn boot(&mut self, index: usize, bootstrap: Option<String>) -> Result<(), String> {
        let peer = &self.peers[index];
        let (peer_id, uri, dir) = (peer.peer_id, peer.uri.clone(), peer.dir.clone());
        let config = node_config(&dir, peer_id);
        let node = tokio::task::spawn_blocking(move || Node::open(config))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("peer {peer_id}: open: {e}"))?;
        let node = Arc::new(node);
        node.set_self();
        node.spawn_checkpointer();
        let faults = Arc::new(Faults::default());
        let handler = Arc::new(NodePeerHandler { node: Arc::downgrade(&node) });
        let instance = self.net.register(&uri, peer_id, handler, Arc::clone(&faults));
        let client = Arc::new(PeerClient::with_wire(peer_id, self.net.wire(instance), Arc::clone(&faults)));
        let consensus = consensus_config(&dir, peer_id, &uri, bootstrap);
        let start = ClusterStart { consensus, client, faults, moved_from: None, announce_to: None };
        let consensus = node.start_consensus(start).await.map_err(|e| format!("peer {peer_id}: consensus: {e}"))?;
        self.observe(peer_id, consensus.subscribe_ops());
        node.start_cluster_services().await;
        let peer = &mut self.peers[index];
        peer.node = Some(node);
        peer.instance = instance;
        Ok(())
    }

    /// Records every operation the peer applies, and any that differs from what another peer
    /// applied at the same index.
    fn observe(
        &self,
        peer: PeerId,
        mut ops: tokio::sync::broadcast::Receiver<quiver_cluster::raft::state_machine::AppliedOp>,
    ) {
        let (log, mismatches) = (Arc::clone(&self.log), Arc::clone(&self.log_mismatches));
        tokio::spawn(async move {
            loop {
                let (index, op, accepted) = match ops.recv().await {
                    Ok(applied) => applied,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                let mut log = log.lock();
                match log.get(&index) {
                    Some((seen, _, by)) if *seen != op => {
                        mismatches.lock().push(format!("index {index}: peer {by} applied {seen:?}, peer {peer} {op:?}"))
                    }
                    Some(_) => {}
                    None => {
                        log.insert(index, (op, accepted, peer));
                    }
                }
            }
        });
    }

    /// `kill -9` of peer `index`: its process instance is gone; its files stay as they are.
    pub async fn crash(&mut self, index: usize) -> Result<(), String> {
        let peer = &mut self.peers[index];
        let Some(node) = peer.node.take() else { return Ok(()) };
        self.net.kill(peer.instance);
        peer.generation += 1;
        let next = self.base.join(format!("p{}-{}", peer.peer_id, peer.generation));
        let from = peer.dir.clone();
        let to = next.clone();
        tokio::task::spawn_blocking(move || copy_tree(&from, &to))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("copy the crashed peer's files: {e}"))?;
        peer.dir = next;
        if let Some(cluster) = node.cluster() {
            cluster.consensus.shutdown().await;
        }
        drop(node);
        Ok(())
    }

    /// Starts peer `index` again from its files (same id, same URI).
    pub async fn restart(&mut self, index: usize) -> Result<(), String> {
        if self.peers[index].is_up() {
            return Ok(());
        }
        self.boot(index, None).await
    }

    /// A live peer's node (the first live one when `index` is down).
    pub fn live_node(&self, index: usize) -> Option<Arc<Node>> {
        let n = self.peers.len();
        (0..n).map(|k| (index + k) % n).find_map(|i| self.peers[i].node.clone())
    }

    /// Shuts every peer down (their background tasks end with the runtime).
    pub async fn shutdown(&mut self) {
        for index in 0..self.peers.len() {
            let peer = &mut self.peers[index];
            if let Some(node) = peer.node.take() {
                self.net.kill(peer.instance);
                if let Some(cluster) = node.cluster() {
                    cluster.consensus.shutdown().await;
                }
            }
        }
    }
}
