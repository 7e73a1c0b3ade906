//! `Consensus`: this peer's Raft. Starts a new cluster or joins one, proposes metadata operations
//! (forwarding to the leader), waits until entries are applied locally, adds and removes peers,
//! and reports Raft status for `GET /cluster`.

use crate::error::ClusterError;
use crate::raft::log_store::LogStore;
use crate::raft::network::{Network, handle_raft_rpc};
use crate::raft::state_machine::{AppliedState, StateMachine};
use crate::raft::{MetaResult, Raft};
use crate::state::{MetaError, MetaOperation, MetaResponse};
use openraft::error::{CheckIsLeaderError, RaftError};
use openraft::{BasicNode, Config, ServerState, SnapshotPolicy};
use quiver_transport::{PeerClient, PeerRequest, PeerResponse};
use quiver_types::PeerId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// How long one forwarded call may wait for the leader before it is retried (a new leader is
/// elected within about 3 s of the old one going silent).
const FORWARD_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// How this peer's consensus is set up.
#[derive(Debug, Clone)]
pub struct ConsensusConfig {
    pub peer_id: PeerId,
    /// This peer's p2p URI, as other peers reach it.
    pub uri: String,
    /// A running peer to join (a fresh peer only).
    pub bootstrap: Option<String>,
    /// Directory of the Raft log and state.
    pub dir: PathBuf,
    pub tick_period_ms: u64,
    pub compact_wal_entries: u64,
    pub bootstrap_timeout: Duration,
    pub rpc_timeout: Duration,
    /// The Qdrant version this peer reports (cluster telemetry shows each peer's).
    pub version: String,
}

/// `raft_info` of `GET /cluster` (spec §4.1).
#[derive(Debug, Clone, Serialize)]
pub struct RaftInfo {
    pub term: u64,
    pub commit: u64,
    pub pending_operations: u64,
    pub leader: Option<PeerId>,
    pub role: Option<&'static str>,
    pub is_voter: bool,
}

/// One peer's consensus status as cluster telemetry shows it (`GET /cluster/telemetry`):
/// asked of every peer (`peer_status.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerStatus {
    pub version: String,
    pub term: u64,
    pub commit: u64,
    pub pending_operations: u64,
    pub role: Option<String>,
    pub is_voter: bool,
    /// Why its consensus is not running, if it is not.
    pub stopped_with: Option<String>,
}

/// A control-plane call to another peer (mostly to the leader), and its answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum ClusterCall {
    Propose(Box<MetaOperation>),
    /// A peer with empty storage asks to join (sent to any peer; forwarded to the leader).
    AddPeer {
        peer_id: PeerId,
        uri: String,
    },
    RemovePeer {
        peer_id: PeerId,
    },
    /// A peer announces that it now listens on `uri` (design record 009 §3; sent to any peer,
    /// forwarded to the leader).
    UpdatePeerUri {
        peer_id: PeerId,
        uri: String,
    },
    /// A call another peer forwarded because it believed this peer leads: never forwarded again.
    Forwarded(Box<ClusterCall>),
    Commit,
    Applied,
    Snapshot,
    /// A peer asks whether the cluster removed it (design record 031).
    MembershipOf {
        peer_id: PeerId,
    },
    /// A peer asks this one's consensus status (cluster telemetry).
    Status,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ClusterReply {
    Applied {
        index: u64,
        result: MetaResult,
    },
    Peers {
        peers: Vec<(PeerId, String)>,
        first_peer_id: PeerId,
    },
    Commit {
        index: u64,
    },
    /// The call may succeed later (no leader, leader changed, peer unreachable).
    Failed {
        message: String,
    },
    /// The call can never succeed as it is (e.g. a join whose URI belongs to another peer).
    Refused {
        message: String,
    },
    /// The peer asked is not the leader (any more): ask the leader.
    NotLeader,
    /// Whether the asking peer was removed, as far as the answering peer has `applied`.
    Membership {
        removed: bool,
        applied: u64,
    },
    /// The answer to [`ClusterCall::Status`].
    Status(PeerStatus),
}

/// This peer's consensus.
pub struct Consensus {
    raft: Raft,
    config: ConsensusConfig,
    client: Arc<PeerClient>,
    log: LogStore,
    state_machine: StateMachine,
    /// No Raft state existed at start.
    fresh: bool,
    /// When this peer last had evidence of a working quorum (leader: a quorum ack; follower: an
    /// accepted AppendEntries from the leader).
    pub(crate) last_contact: parking_lot::Mutex<Option<Instant>>,
    /// As leader: when each follower last acknowledged an `AppendEntries`.
    pub(crate) acks: crate::raft::network::AckTimes,
    /// As leader: serialises joins and address changes, so two of them never both pass the
    /// address conflict check (design record 009 §4).
    pub(crate) membership_lock: tokio::sync::Mutex<()>,
    /// Set once this peer learned that it was removed from the cluster (its Raft is stopped).
    pub(crate) removed: parking_lot::Mutex<Option<String>>,
}

fn raft_config(config: &ConsensusConfig) -> Result<Arc<Config>, ClusterError> {
    let tick = config.tick_period_ms.max(10);
    let raft_config = Config {
        cluster_name: "quiver".into(),
        heartbeat_interval: tick,
        election_timeout_min: tick * 6,
        election_timeout_max: tick * 12,
        install_snapshot_timeout: 10_000,
        snapshot_policy: match config.compact_wal_entries {
            0 => SnapshotPolicy::Never,
            n => SnapshotPolicy::LogsSinceLast(n),
        },
        max_in_snapshot_log_to_keep: 0,
        purge_batch_size: 1,
        ..Config::default()
    };
    raft_config.validate().map(Arc::new).map_err(|e| ClusterError::Raft(format!("raft config: {e}")))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, ClusterError> {
    serde_json::to_vec(value).map_err(|e| ClusterError::Raft(format!("encode: {e}")))
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ClusterError> {
    serde_json::from_slice(bytes).map_err(|e| ClusterError::Transport(format!("decode: {e}")))
}

impl Consensus {
    /// Opens the persisted Raft state and starts Raft. A fresh peer without `bootstrap` becomes a
    /// one-peer cluster; a fresh peer with `bootstrap` asks that peer to add it; a peer with state
    /// simply resumes (same id, same storage).
    pub async fn start(config: ConsensusConfig, client: Arc<PeerClient>) -> Result<Arc<Consensus>, ClusterError> {
        std::fs::create_dir_all(&config.dir).map_err(|e| ClusterError::Raft(format!("create raft dir: {e}")))?;
        let log = LogStore::open(&config.dir.join("raft_log.redb")).map_err(ClusterError::Raft)?;
        let state_machine = StateMachine::open(&config.dir).map_err(ClusterError::Raft)?;
        let fresh = state_machine.current().last_applied.is_none() && log.committed_index() == 0;
        let acks: crate::raft::network::AckTimes = Default::default();
        let network = Network { client: Arc::clone(&client), acks: Arc::clone(&acks) };
        let raft = Raft::new(config.peer_id, raft_config(&config)?, network, log.clone(), state_machine.clone())
            .await
            .map_err(|e| ClusterError::Raft(e.to_string()))?;
        let consensus = Arc::new(Consensus {
            raft,
            config,
            client,
            log,
            state_machine,
            fresh,
            last_contact: Default::default(),
            acks,
            membership_lock: Default::default(),
            removed: Default::default(),
        });
        if consensus.stop_if_removed_before().await {
            return Ok(consensus);
        }
        consensus.spawn_route_cleanup();
        consensus.spawn_removal_watch();
        Ok(consensus)
    }

    /// For a fresh peer: becomes a one-peer cluster, or (with `bootstrap`) asks that peer to add
    /// it. Call once this peer serves p2p requests, since joining needs the leader to reach it.
    pub async fn bootstrap(&self) -> Result<(), ClusterError> {
        if !self.fresh {
            return Ok(());
        }
        match self.config.bootstrap.clone() {
            Some(bootstrap) if bootstrap.trim_end_matches('/') != self.config.uri.trim_end_matches('/') => {
                self.join(&bootstrap).await
            }
            Some(_) | None => self.initialize().await,
        }
    }

    async fn initialize(&self) -> Result<(), ClusterError> {
        let members = BTreeMap::from([(self.config.peer_id, BasicNode::new(&self.config.uri))]);
        if self.raft.is_initialized().await.map_err(|e| ClusterError::Raft(e.to_string()))? {
            return Ok(());
        }
        self.raft.initialize(members).await.map_err(|e| ClusterError::Raft(e.to_string()))
    }

    pub(crate) async fn call_remote(&self, uri: &str, call: &ClusterCall) -> Result<ClusterReply, ClusterError> {
        self.call_remote_within(uri, call, self.config.rpc_timeout).await
    }

    pub(crate) async fn call_remote_within(
        &self,
        uri: &str,
        call: &ClusterCall,
        timeout: Duration,
    ) -> Result<ClusterReply, ClusterError> {
        let body = encode(call)?;
        match self.client.call(uri, PeerRequest::Cluster { body }, timeout).await {
            Ok(PeerResponse::Cluster { body }) => decode(&body),
            Ok(other) => Err(ClusterError::Transport(format!("unexpected reply {other:?}"))),
            Err(e) => Err(ClusterError::Transport(e.to_string())),
        }
    }

    pub fn peer_id(&self) -> PeerId {
        self.config.peer_id
    }

    pub fn uri(&self) -> &str {
        &self.config.uri
    }

    /// The latest applied metadata.
    pub fn state(&self) -> Arc<AppliedState> {
        self.state_machine.current()
    }

    /// Every metadata operation applied from now on, with its index and whether it was accepted.
    pub fn subscribe_ops(&self) -> tokio::sync::broadcast::Receiver<crate::raft::state_machine::AppliedOp> {
        self.state_machine.subscribe_ops()
    }

    /// Watches every newly applied state (for the reconciler).
    pub fn subscribe(&self) -> watch::Receiver<Arc<AppliedState>> {
        self.state_machine.subscribe()
    }

    pub(crate) fn client(&self) -> &Arc<PeerClient> {
        &self.client
    }

    pub(crate) fn config(&self) -> &ConsensusConfig {
        &self.config
    }

    pub(crate) fn raft(&self) -> &Raft {
        &self.raft
    }

    /// The current leader, if known.
    pub fn leader(&self) -> Option<PeerId> {
        self.raft.metrics().borrow().current_leader
    }

    fn leader_uri(&self, leader: PeerId) -> Option<String> {
        let metrics = self.raft.metrics().borrow().clone();
        metrics.membership_config.nodes().find(|(id, _)| **id == leader).map(|(_, node)| node.addr.clone())
    }

    pub(crate) async fn wait_for_leader(&self, timeout: Duration) -> Result<PeerId, ClusterError> {
        let mut metrics = self.raft.metrics();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(leader) = metrics.borrow().current_leader {
                return Ok(leader);
            }
            if tokio::time::timeout_at(deadline, metrics.changed()).await.is_err() {
                return Err(ClusterError::NoLeader(timeout.as_secs()));
            }
        }
    }

    /// Waits until this peer has applied entry `index`.
    pub async fn wait_applied(&self, index: u64, timeout: Duration) -> Result<(), ClusterError> {
        let mut states = self.subscribe();
        let wait = states.wait_for(|s| s.applied_index() >= index);
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(ClusterError::Raft("state machine stopped".into())),
            Err(_) => Err(ClusterError::Timeout(timeout.as_secs())),
        }
    }
}

impl Consensus {
    /// Proposes `op` and returns once it is applied on this peer (or fails within `timeout`).
    ///
    /// Followers forward the proposal to the leader over p2p; the result of applying it (which may
    /// be a refusal, e.g. a collection that already exists) is returned to the caller.
    pub async fn propose(&self, op: MetaOperation, timeout: Duration) -> Result<MetaResponse, ClusterError> {
        let started = Instant::now();
        let call = ClusterCall::Propose(Box::new(op));
        let reply = self.on_leader(&call, timeout).await?;
        let ClusterReply::Applied { index, result } = reply else {
            return Err(ClusterError::Transport(format!("unexpected reply {reply:?}")));
        };
        self.wait_applied(index, timeout.saturating_sub(started.elapsed())).await?;
        result.0.map_err(ClusterError::Refused)
    }

    /// Runs `call` on the leader: here if this peer leads, else forwarded. An unreachable leader
    /// (it may have changed) is retried until `timeout`.
    pub(crate) async fn on_leader(&self, call: &ClusterCall, timeout: Duration) -> Result<ClusterReply, ClusterError> {
        if let Some(message) = self.removed() {
            return Err(ClusterError::Removed(message));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.on_leader_once(call, left).await {
                // The leader changed under the call: ask whoever leads now.
                Err(ClusterError::Timeout(_) | ClusterError::NotLeader)
                    if Instant::now() + Duration::from_millis(200) < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(ClusterError::Timeout(_)) => return Err(ClusterError::Timeout(timeout.as_secs())),
                Err(ClusterError::NotLeader) => return Err(ClusterError::NoLeader(timeout.as_secs())),
                Err(ClusterError::NoLeader(_)) => return Err(ClusterError::NoLeader(timeout.as_secs())),
                other => return other,
            }
        }
    }

    async fn on_leader_once(&self, call: &ClusterCall, timeout: Duration) -> Result<ClusterReply, ClusterError> {
        let leader = self.wait_for_leader(timeout).await?;
        if leader == self.config.peer_id {
            return tokio::time::timeout(timeout, self.handle_call(call))
                .await
                .map_err(|_| ClusterError::Timeout(timeout.as_secs()))?;
        }
        let uri = self.leader_uri(leader).ok_or(ClusterError::NoLeader(timeout.as_secs()))?;
        let body = encode(&ClusterCall::Forwarded(Box::new(call.clone())))?;
        // A leader that stopped answering (paused, cut off) is replaced within a few election
        // timeouts: give up on it after a bounded wait and retry with whoever leads then.
        let attempt = timeout.min(FORWARD_ATTEMPT_TIMEOUT);
        let response = self.client.call_peer(leader, &uri, PeerRequest::Cluster { body }, attempt).await;
        match response {
            Ok(PeerResponse::Cluster { body }) => match decode::<ClusterReply>(&body)? {
                ClusterReply::Failed { message } => Err(ClusterError::Transport(message)),
                ClusterReply::NotLeader => Err(ClusterError::NotLeader),
                ClusterReply::Refused { message } => Err(ClusterError::Refused(MetaError::BadRequest(message))),
                reply @ (ClusterReply::Applied { .. }
                | ClusterReply::Peers { .. }
                | ClusterReply::Commit { .. }
                | ClusterReply::Membership { .. }
                | ClusterReply::Status(_)) => Ok(reply),
            },
            Ok(other) => Err(ClusterError::Transport(format!("unexpected reply {other:?}"))),
            Err(e) if e.is_transient() => Err(ClusterError::Timeout(timeout.as_secs())),
            Err(e) => Err(ClusterError::Transport(e.to_string())),
        }
    }

    /// Leader side of a call (a follower's `Raft` refuses writes, which fails the call).
    pub(crate) async fn handle_call(&self, call: &ClusterCall) -> Result<ClusterReply, ClusterError> {
        match call {
            ClusterCall::Propose(op) => {
                let response = self.raft.client_write(op.as_ref().clone()).await.map_err(client_write_error)?;
                Ok(ClusterReply::Applied { index: response.log_id.index, result: response.data })
            }
            ClusterCall::Forwarded(call) => Box::pin(self.handle_call(call)).await,
            ClusterCall::AddPeer { peer_id, uri } => self.add_peer_as_leader(*peer_id, uri).await,
            ClusterCall::RemovePeer { peer_id } => self.remove_peer_as_leader(*peer_id).await,
            ClusterCall::UpdatePeerUri { peer_id, uri } => self.update_uri_as_leader(*peer_id, uri).await,
            ClusterCall::Commit => self.read_index().await,
            ClusterCall::Applied => Ok(ClusterReply::Commit { index: self.state().applied_index() }),
            ClusterCall::Snapshot => {
                self.raft.trigger().snapshot().await.map_err(|e| ClusterError::Raft(e.to_string()))?;
                Ok(ClusterReply::Commit { index: self.log.committed_index() })
            }
            ClusterCall::MembershipOf { peer_id } => Ok(self.membership_of(*peer_id)),
            ClusterCall::Status => Ok(ClusterReply::Status(self.own_status())),
        }
    }

    /// The index a linearizable read must see applied: first confirmed with a quorum that this
    /// peer still leads (a deposed leader that did not notice yet would answer a stale commit).
    async fn read_index(&self) -> Result<ClusterReply, ClusterError> {
        let (read_log_id, _applied) = self.raft.get_read_log_id().await.map_err(|e| match e {
            RaftError::APIError(CheckIsLeaderError::ForwardToLeader(_) | CheckIsLeaderError::QuorumNotEnough(_)) => {
                ClusterError::NotLeader
            }
            RaftError::Fatal(fatal) => ClusterError::Raft(fatal.to_string()),
        })?;
        let index = read_log_id.map_or(0, |id| id.index).max(self.log.committed_index());
        Ok(ClusterReply::Commit { index })
    }

    /// Serves a control-plane request from peer `from` (Raft RPCs and forwarded calls). A
    /// removed peer may only ask whether it was removed, or join again.
    pub async fn handle(&self, from: PeerId, request: PeerRequest) -> Result<PeerResponse, String> {
        match request {
            PeerRequest::Raft { kind, body } => handle_raft_rpc(&self.raft, kind, &body, || self.note_leader_contact())
                .await
                .map(|body| PeerResponse::Raft { body }),
            PeerRequest::Cluster { body } => {
                let call: ClusterCall = decode(&body).map_err(|e| e.to_string())?;
                let allowed = matches!(
                    call,
                    ClusterCall::MembershipOf { .. } | ClusterCall::AddPeer { .. } | ClusterCall::Status
                );
                if !allowed && self.is_removed_peer(from) {
                    let message = format!("peer {from} was removed from the cluster");
                    return encode(&ClusterReply::Refused { message })
                        .map(|body| PeerResponse::Cluster { body })
                        .map_err(|e| e.to_string());
                }
                let reply = match self.serve_call(call).await {
                    Ok(reply) => reply,
                    Err(ClusterError::Refused(e)) => ClusterReply::Refused { message: e.to_string() },
                    Err(ClusterError::NotLeader) => ClusterReply::NotLeader,
                    Err(e) => ClusterReply::Failed { message: e.to_string() },
                };
                encode(&reply).map(|body| PeerResponse::Cluster { body }).map_err(|e| e.to_string())
            }
            PeerRequest::Ping => Ok(PeerResponse::Pong { peer_id: self.config.peer_id }),
            PeerRequest::Propose { .. }
            | PeerRequest::AddPeer { .. }
            | PeerRequest::Shard { .. }
            | PeerRequest::Batch { .. } => Err("request not served by consensus".into()),
        }
    }

    /// Serves a call from another peer. Joins and address announcements may arrive at any
    /// peer: they are forwarded to the leader (once); other calls are addressed to the leader.
    async fn serve_call(&self, call: ClusterCall) -> Result<ClusterReply, ClusterError> {
        match call {
            ClusterCall::AddPeer { .. } => self.on_leader(&call, self.config.bootstrap_timeout).await,
            ClusterCall::UpdatePeerUri { peer_id, ref uri } => {
                self.accept_route(peer_id, uri).await?;
                // The announcer asks again soon: do not hold the call while no leader exists.
                self.on_leader(&call, Duration::from_secs(2)).await
            }
            ClusterCall::Propose(_)
            | ClusterCall::RemovePeer { .. }
            | ClusterCall::Forwarded(_)
            | ClusterCall::Commit
            | ClusterCall::Applied
            | ClusterCall::Snapshot
            | ClusterCall::MembershipOf { .. }
            | ClusterCall::Status => self.handle_call(&call).await,
        }
    }

    /// Raft status for `GET /cluster`.
    pub fn raft_info(&self) -> RaftInfo {
        let metrics = self.raft.metrics().borrow().clone();
        let applied = metrics.last_applied.map_or(0, |l| l.index);
        let commit = self.log.committed_index().max(applied);
        let role = match metrics.state {
            ServerState::Leader => Some("Leader"),
            ServerState::Follower | ServerState::Learner => Some("Follower"),
            ServerState::Candidate => Some("Candidate"),
            ServerState::Shutdown => None,
        };
        let removed = self.removed().is_some();
        let is_voter = !removed && metrics.membership_config.voter_ids().any(|id| id == self.config.peer_id);
        RaftInfo {
            term: metrics.current_term,
            commit,
            pending_operations: commit.saturating_sub(applied),
            leader: metrics.current_leader.filter(|_| !removed),
            role: role.filter(|_| !removed),
            is_voter,
        }
    }

    /// Whether Raft is running (for `consensus_thread_status`).
    pub fn running(&self) -> Result<(), String> {
        if let Some(message) = self.removed() {
            return Err(message);
        }
        self.raft.metrics().borrow().running_state.clone().map_err(|e| e.to_string())
    }

    /// `POST /cluster/recover`: asks the leader to build a fresh snapshot and purge the log it
    /// covers, so a peer whose log is missing entries is sent the snapshot.
    pub async fn request_snapshot(&self, timeout: Duration) -> Result<(), ClusterError> {
        match self.on_leader(&ClusterCall::Snapshot, timeout).await? {
            ClusterReply::Commit { .. } => Ok(()),
            other @ (ClusterReply::Applied { .. }
            | ClusterReply::Peers { .. }
            | ClusterReply::Failed { .. }
            | ClusterReply::Refused { .. }
            | ClusterReply::NotLeader
            | ClusterReply::Membership { .. }
            | ClusterReply::Status(_)) => Err(ClusterError::Transport(format!("unexpected reply {other:?}"))),
        }
    }

    /// The applied index of peer `uri` (for waiting until every peer caught up).
    pub async fn peer_applied(&self, uri: &str, timeout: Duration) -> Result<u64, ClusterError> {
        match self.call_remote_within(uri, &ClusterCall::Applied, timeout).await? {
            ClusterReply::Commit { index } => Ok(index),
            other @ (ClusterReply::Applied { .. }
            | ClusterReply::Peers { .. }
            | ClusterReply::Failed { .. }
            | ClusterReply::Refused { .. }
            | ClusterReply::NotLeader
            | ClusterReply::Membership { .. }
            | ClusterReply::Status(_)) => Err(ClusterError::Transport(format!("unexpected reply {other:?}"))),
        }
    }

    /// Asks the leader for its commit index (readiness: caught up with the cluster).
    pub async fn cluster_commit(&self, timeout: Duration) -> Result<u64, ClusterError> {
        match self.on_leader(&ClusterCall::Commit, timeout).await? {
            ClusterReply::Commit { index } => Ok(index),
            other @ (ClusterReply::Applied { .. }
            | ClusterReply::Peers { .. }
            | ClusterReply::Failed { .. }
            | ClusterReply::Refused { .. }
            | ClusterReply::NotLeader
            | ClusterReply::Membership { .. }
            | ClusterReply::Status(_)) => Err(ClusterError::Transport(format!("unexpected reply {other:?}"))),
        }
    }

    /// Stops Raft (a removed peer's is stopped already).
    pub async fn shutdown(&self) {
        if self.removed().is_some() {
            return;
        }
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "raft shutdown failed");
        }
    }
}

/// A write to Raft that failed: refused because this peer no longer leads (transient: the
/// caller retries with the new leader), or a real failure.
pub(crate) fn client_write_error(e: RaftError<u64, openraft::error::ClientWriteError<u64, BasicNode>>) -> ClusterError {
    match e.forward_to_leader::<BasicNode>() {
        Some(_) => ClusterError::NotLeader,
        None => ClusterError::Raft(e.to_string()),
    }
}
