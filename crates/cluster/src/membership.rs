//! Membership (design record 009): joining through any peer, the leader's address conflict rule,
//! changing a peer's p2p URI through consensus (with route overrides until it commits), and
//! removing peers.

use crate::consensus::{ClusterCall, ClusterReply, Consensus, client_write_error};
use crate::error::ClusterError;
use crate::raft::MetaResult;
use crate::state::{MetaOperation, MetaResponse};
use openraft::{BasicNode, ChangeMembers};
use quiver_transport::{PeerRequest, PeerResponse, normalize_uri};
use quiver_types::PeerId;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How long an identity check of an announced address may take.
const IDENTITY_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause between rounds of announcing a new address.
const ANNOUNCE_EVERY: Duration = Duration::from_millis(500);
/// How long one announcement (and the leader's commit of it) may take before the next round.
const ANNOUNCE_CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a failed removal call waits for the removal to show up applied here anyway.
const REMOVAL_SETTLE: Duration = Duration::from_secs(3);

/// The message a joining peer gets when its URI belongs to a peer that still holds replicas.
fn uri_conflict(uri: &str, registered: PeerId, joining: PeerId) -> String {
    format!(
        "peer URI {uri} is already used by peer {registered}, which still has shards; this peer (id {joining}) \
         has an empty storage. Either restore the storage of peer {registered} and start it again, or remove \
         peer {registered} from the cluster first (DELETE /cluster/peer/{registered}?force=true) and start \
         this peer again"
    )
}

impl Consensus {
    /// Asks `bootstrap` (any peer of the cluster, retrying until `bootstrap_timeout`) to add this
    /// peer. A refusal (address conflict) is final: [`ClusterError::JoinRefused`].
    pub(crate) async fn join(&self, bootstrap: &str) -> Result<(), ClusterError> {
        let deadline = Instant::now() + self.config().bootstrap_timeout;
        let call = ClusterCall::AddPeer { peer_id: self.peer_id(), uri: normalize_uri(&self.config().uri) };
        loop {
            let message = match self.call_remote(bootstrap, &call).await {
                Ok(ClusterReply::Peers { peers, .. }) => {
                    tracing::info!(?peers, "joined the cluster");
                    return Ok(());
                }
                Ok(ClusterReply::Refused { message }) => return Err(ClusterError::JoinRefused(message)),
                Ok(ClusterReply::Failed { message }) | Err(ClusterError::Transport(message)) => message,
                Ok(ClusterReply::NotLeader) => "the peer asked no longer leads".to_string(),
                Ok(
                    other @ (ClusterReply::Applied { .. }
                    | ClusterReply::Commit { .. }
                    | ClusterReply::Membership { .. }
                    | ClusterReply::Status(_)),
                ) => {
                    return Err(ClusterError::Transport(format!("unexpected join reply {other:?}")));
                }
                Err(e) => return Err(e),
            };
            if Instant::now() > deadline {
                return Err(ClusterError::Transport(format!("cannot join through {bootstrap}: {message}")));
            }
            tracing::warn!(%message, "joining the cluster failed; retrying");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The registered peer other than `except` whose URI is `uri`, if any.
    fn registered_at(&self, uri: &str, except: PeerId) -> Option<PeerId> {
        let state = self.state();
        state.state.peers.iter().find(|(id, p)| **id != except && normalize_uri(&p.uri) == uri).map(|(id, _)| *id)
    }

    fn peers_reply(&self) -> ClusterReply {
        let state = self.state();
        let peers = state.state.peers.iter().map(|(id, p)| (*id, p.uri.clone())).collect();
        let first_peer_id = state.state.peers.keys().next().copied().unwrap_or(self.peer_id());
        ClusterReply::Peers { peers, first_peer_id }
    }

    /// Leader: adds a peer as a learner, waits until it caught up, then promotes it to voter.
    /// A URI registered to another peer is refused while that peer holds replicas, else that
    /// peer is removed first (spec §8.3 step 4). A peer already registered with this URI (a
    /// retried join) is only made a voter if it is not one yet.
    pub(crate) async fn add_peer_as_leader(&self, peer_id: PeerId, uri: &str) -> Result<ClusterReply, ClusterError> {
        let _guard = self.membership_lock.lock().await;
        let uri = normalize_uri(uri);
        let registered = self.state().state.peers.get(&peer_id).map(|p| normalize_uri(&p.uri));
        if let Some(current) = registered.as_ref().filter(|current| **current != uri) {
            tracing::info!(peer_id, %current, %uri, "a joining peer is known under another address");
            self.change_uri_locked(peer_id, &uri).await?;
        }
        if let Some(other) = self.registered_at(&uri, peer_id) {
            if self.state().state.peer_has_replicas(other) {
                return Err(ClusterError::Refused(crate::state::MetaError::BadRequest(uri_conflict(
                    &uri, other, peer_id,
                ))));
            }
            tracing::warn!(old = other, new = peer_id, %uri, "replacing a peer without replicas that had this URI");
            self.remove_peer_locked(other).await?;
        }
        let voter = self.raft().metrics().borrow().membership_config.voter_ids().any(|id| id == peer_id);
        if !voter {
            if self.state().state.removed_peers.contains(&peer_id) {
                // A removed peer's id joins again (`--reinit --bootstrap`): no longer removed.
                let op = MetaOperation::AddPeer { peer_id, uri: uri.clone() };
                self.raft().client_write(op).await.map_err(client_write_error)?;
            }
            if registered.is_none() {
                self.raft().add_learner(peer_id, BasicNode::new(&uri), true).await.map_err(client_write_error)?;
            }
            let voters = BTreeSet::from([peer_id]);
            self.raft()
                .change_membership(ChangeMembers::AddVoterIds(voters), false)
                .await
                .map_err(client_write_error)?;
        }
        Ok(self.peers_reply())
    }

    /// After `--reinit` (this peer the only voter): registers a peer of the previous cluster as
    /// a learner at `uri`, without waiting for it, so that the re-proposed
    /// placement keeps its replicas; joining again with the same id (`--reinit --bootstrap`, at
    /// any address) makes it a voter (`add_peer_as_leader`).
    pub async fn add_previous_peer(&self, peer_id: PeerId, uri: &str, timeout: Duration) -> Result<(), ClusterError> {
        let leader = self.wait_for_leader(timeout).await?;
        if leader != self.peer_id() {
            return Err(ClusterError::NotLeader);
        }
        let _guard = self.membership_lock.lock().await;
        let node = BasicNode::new(normalize_uri(uri));
        self.raft().add_learner(peer_id, node, false).await.map_err(client_write_error)?;
        Ok(())
    }

    /// Checks that the process answering at `uri` is peer `peer_id`, then routes calls to that
    /// peer there until the cluster state carries the address (design record 009 §3).
    pub(crate) async fn accept_route(&self, peer_id: PeerId, uri: &str) -> Result<(), ClusterError> {
        let uri = normalize_uri(uri);
        match self.client().call(&uri, PeerRequest::Ping, IDENTITY_TIMEOUT).await {
            Ok(PeerResponse::Pong { peer_id: answered }) if answered == peer_id => {
                if peer_id != self.peer_id() {
                    self.client().set_route(peer_id, Some(&uri));
                }
                Ok(())
            }
            Ok(PeerResponse::Pong { peer_id: answered }) => Err(ClusterError::Refused(
                crate::state::MetaError::BadRequest(format!("{uri} is peer {answered}, not peer {peer_id}")),
            )),
            Ok(other) => Err(ClusterError::Transport(format!("unexpected answer to a ping from {uri}: {other:?}"))),
            Err(e) => Err(ClusterError::Transport(format!("cannot check peer {peer_id} at {uri}: {e}"))),
        }
    }

    /// Leader: commits peer `peer_id`'s new `uri`.
    pub(crate) async fn update_uri_as_leader(&self, peer_id: PeerId, uri: &str) -> Result<ClusterReply, ClusterError> {
        let _guard = self.membership_lock.lock().await;
        self.change_uri_locked(peer_id, &normalize_uri(uri)).await
    }

    async fn change_uri_locked(&self, peer_id: PeerId, uri: &str) -> Result<ClusterReply, ClusterError> {
        let state = self.state();
        let Some(current) = state.state.peers.get(&peer_id) else {
            let message = format!("peer {peer_id} is not a member of this cluster");
            return Err(ClusterError::Refused(crate::state::MetaError::BadRequest(message)));
        };
        let done = ClusterReply::Applied { index: state.applied_index(), result: MetaResult(Ok(MetaResponse::Done)) };
        if normalize_uri(&current.uri) == uri {
            return Ok(done);
        }
        if let Some(other) = self.registered_at(uri, peer_id) {
            let message = format!("cannot move peer {peer_id} to {uri}: that URI is registered to peer {other}");
            return Err(ClusterError::Refused(crate::state::MetaError::BadRequest(message)));
        }
        self.accept_route(peer_id, uri).await?;
        let nodes = BTreeMap::from([(peer_id, BasicNode::new(uri))]);
        let response =
            self.raft().change_membership(ChangeMembers::SetNodes(nodes), false).await.map_err(client_write_error)?;
        tracing::info!(peer_id, old = %current.uri, new = %uri, "peer address changed");
        Ok(ClusterReply::Applied { index: response.log_id.index, result: MetaResult(Ok(MetaResponse::Done)) })
    }

    /// Announces this peer's new URI until its own applied state carries it: to the leader
    /// directly when this peer leads, else to `bootstrap` and every known peer (each forwards it
    /// to the leader). Runs in the background; stops when done or when `self` is dropped.
    pub fn spawn_uri_announcer(self: &Arc<Self>, bootstrap: Option<String>) {
        let weak = Arc::downgrade(self);
        let uri = normalize_uri(&self.config().uri);
        tokio::spawn(async move {
            let mut refusals = 0u32;
            loop {
                let Some(consensus) = weak.upgrade() else { return };
                let me = consensus.peer_id();
                let state = consensus.state();
                if state.state.peers.get(&me).is_some_and(|p| normalize_uri(&p.uri) == uri) {
                    tracing::info!(%uri, "this peer's new address is committed");
                    return;
                }
                let call = ClusterCall::UpdatePeerUri { peer_id: me, uri: uri.clone() };
                let mut targets: Vec<String> = bootstrap.iter().cloned().collect();
                targets.extend(consensus.announce_targets(&state.state.peers));
                match consensus.announce_once(&call, &targets).await {
                    Ok(()) => {}
                    Err(message) => {
                        refusals += 1;
                        if refusals.is_multiple_of(20) {
                            tracing::error!(%message, "the cluster does not accept this peer's new address");
                        }
                    }
                }
                drop(consensus);
                tokio::time::sleep(ANNOUNCE_EVERY).await;
            }
        });
    }

    /// Where the other known peers may be: their registered URIs and, for peers that moved too
    /// and announced their new address here, those (when a whole cluster restarts on new
    /// addresses, the registered ones all point at nobody).
    fn announce_targets(&self, peers: &BTreeMap<PeerId, crate::state::PeerInfo>) -> Vec<String> {
        let me = self.peer_id();
        let mut targets = Vec::new();
        for (id, info) in peers.iter().filter(|(id, _)| **id != me) {
            targets.push(info.uri.clone());
            targets.extend(self.client().route(*id).filter(|route| *route != normalize_uri(&info.uri)));
        }
        targets
    }

    /// One round of announcing, to every target at once (each checks the address and routes
    /// to it, which elections need before anything commits), and to this peer's own Raft when
    /// it leads; every call bounded. `Err` only for a refusal.
    async fn announce_once(&self, call: &ClusterCall, targets: &[String]) -> Result<(), String> {
        let remote = targets.iter().map(|target| async move {
            let reply = self.call_remote_within(target, call, ANNOUNCE_CALL_TIMEOUT).await;
            if let Err(e) = &reply {
                tracing::debug!(%target, error = %e, "announcing the new address failed");
            }
            reply
        });
        let replies = futures::future::join_all(remote).await;
        if let Some(message) = replies.into_iter().find_map(|r| match r {
            Ok(ClusterReply::Refused { message }) => Some(message),
            Ok(_) | Err(_) => None,
        }) {
            return Err(message);
        }
        if self.leader() == Some(self.peer_id()) {
            let local = tokio::time::timeout(ANNOUNCE_CALL_TIMEOUT, self.handle_call(call)).await;
            if let Ok(Err(ClusterError::Refused(e))) = local {
                return Err(e.to_string());
            }
        }
        Ok(())
    }

    /// Leader: removes `peer_id` from Raft membership (voter first, then node).
    pub(crate) async fn remove_peer_as_leader(&self, peer_id: PeerId) -> Result<ClusterReply, ClusterError> {
        let _guard = self.membership_lock.lock().await;
        self.remove_peer_locked(peer_id).await
    }

    /// Removes a peer: its replicas from the state (`RemovePeer`), then from membership.
    async fn remove_peer_locked(&self, peer_id: PeerId) -> Result<ClusterReply, ClusterError> {
        if self.state().state.peers.contains_key(&peer_id) {
            let op = MetaOperation::RemovePeer { peer_id };
            self.raft().client_write(op).await.map_err(client_write_error)?;
        }
        let membership = self.raft().metrics().borrow().membership_config.clone();
        if membership.voter_ids().any(|id| id == peer_id) {
            let change = ChangeMembers::RemoveVoters(BTreeSet::from([peer_id]));
            self.raft().change_membership(change, false).await.map_err(client_write_error)?;
        }
        // Removing the voter (not retained as a learner) usually removed the node too; a leader
        // that removed itself stops right after (design record 031): ask nothing more of it.
        let membership = self.raft().metrics().borrow().membership_config.clone();
        if !membership.nodes().any(|(id, _)| *id == peer_id) {
            self.client().set_route(peer_id, None);
            let index = (*membership.log_id()).map_or(0, |l| l.index);
            return Ok(ClusterReply::Applied { index, result: MetaResult(Ok(MetaResponse::Done)) });
        }
        let change = ChangeMembers::RemoveNodes(BTreeSet::from([peer_id]));
        let response = self.raft().change_membership(change, false).await.map_err(client_write_error)?;
        self.client().set_route(peer_id, None);
        Ok(ClusterReply::Applied { index: response.log_id.index, result: MetaResult(Ok(MetaResponse::Done)) })
    }

    /// Removes `peer_id` from Raft membership (its replicas must have been removed before).
    pub async fn remove_peer(&self, peer_id: PeerId, timeout: Duration) -> Result<(), ClusterError> {
        let membership = self.raft().metrics().borrow().membership_config.clone();
        if !membership.nodes().any(|(id, _)| *id == peer_id) {
            return Err(ClusterError::BadRequest(format!("Peer {peer_id} does not exist")));
        }
        let reply = match self.on_leader(&ClusterCall::RemovePeer { peer_id }, timeout).await {
            Ok(reply) => reply,
            // A leader removing itself stops its Raft as soon as it applies its removal (design
            // record 031), which can fail the very call that removed it (here, or forwarded from
            // a follower): the removal is done once this peer sees it applied.
            Err(e) => {
                if self.removal_done(peer_id, timeout.min(REMOVAL_SETTLE)).await {
                    return Ok(());
                }
                return Err(e);
            }
        };
        if let ClusterReply::Applied { index, .. } = reply
            && peer_id != self.peer_id()
        {
            self.wait_applied(index, timeout).await?;
        }
        Ok(())
    }

    /// Drops route overrides once the applied state carries the same address, or no longer
    /// knows the peer.
    pub(crate) fn spawn_route_cleanup(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let mut states = self.subscribe();
        tokio::spawn(async move {
            while states.changed().await.is_ok() {
                let Some(consensus) = weak.upgrade() else { return };
                let state = states.borrow_and_update().clone();
                let client = consensus.client();
                for (peer, info) in &state.state.peers {
                    if client.route(*peer).is_some_and(|r| r == normalize_uri(&info.uri)) {
                        client.set_route(*peer, None);
                    }
                }
                client.retain_routes(|peer| state.state.peers.contains_key(&peer));
            }
        });
    }
}
