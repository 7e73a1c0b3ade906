//! Failure detection without traffic (design record 003 §7): the Raft leader pings every peer;
//! a peer that has not answered for `DEAD_AFTER` has its replicas proposed `Dead` (never the last
//! active replica of a shard). After each round, and whenever the metadata changes in between, the
//! leader's placement keeper runs (`keeper`).

use crate::node::Node;
use quiver_cluster::state::MetaOperation;
use quiver_transport::{PeerRequest, PeerResponse};
use quiver_types::PeerId;
use quiver_types::replica::ReplicaState;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

const PING_EVERY: Duration = Duration::from_millis(500);
const PING_TIMEOUT: Duration = Duration::from_millis(800);
/// How long a peer may stay silent before its replicas are marked `Dead`; longer than the
/// contact window (2 s) after which a cut-off peer stops serving reads.
pub const DEAD_AFTER: Duration = Duration::from_millis(2500);

impl Node {
    /// Runs the health checker until the node is dropped. The keeper also runs as soon as the
    /// cluster's metadata changes (a transfer finished, a peer marked gone, a factor changed),
    /// with the peers' health as of the last round, so that one step follows another without
    /// waiting for the next round.
    pub fn spawn_health_checker(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let grace = self.config.replica_grace_period;
        let Some(mut applied) = self.cluster().map(|c| c.consensus.subscribe()) else { return };
        tokio::spawn(async move {
            let mut last_ok: HashMap<PeerId, Instant> = HashMap::new();
            let mut followed: Option<PeerId> = None;
            let mut answered: Option<BTreeSet<PeerId>> = None;
            let mut was_in_contact = false;
            let mut seen = applied.borrow_and_update().state.clone();
            let mut next_round = Instant::now() + PING_EVERY;
            loop {
                // A silent peer's grace period may end before the next round: the keeper then
                // runs at that moment, not up to a round later.
                let grace_end = grace_ends(grace, &last_ok, answered.as_ref()).filter(|end| *end < next_round);
                let wake = tokio::select! {
                    _ = tokio::time::sleep_until(grace_end.unwrap_or(next_round)) => match grace_end {
                        Some(_) => Wake::GraceEnded,
                        None => Wake::Round,
                    },
                    changed = applied.changed() => match changed {
                        Ok(()) => Wake::Metadata,
                        Err(_) => return,
                    },
                };
                let Some(node) = weak.upgrade() else { return };
                match wake {
                    Wake::Metadata => {
                        // A new leader's first entry: its first round starts now, not up to a
                        // round later, so that a killed leader is found silent sooner.
                        if answered.is_none() && node.leads() {
                            next_round = Instant::now();
                        }
                        let current = applied.borrow_and_update().state.clone();
                        node.on_metadata_change(&mut seen, current, &last_ok, answered.as_ref()).await;
                        continue;
                    }
                    Wake::GraceEnded => {
                        if let Some(answered) = &answered {
                            node.keep_placement(&last_ok, answered).await;
                        }
                        continue;
                    }
                    Wake::Round => {}
                }
                next_round = Instant::now() + PING_EVERY;
                was_in_contact = node.track_contact(was_in_contact);
                answered = node.health_round(&mut last_ok, &mut followed).await;
                node.recover_dead_replicas().await;
                if let Some(answered) = &answered {
                    node.keep_placement(&last_ok, answered).await;
                }
            }
        });
    }

    /// The keeper on a metadata change, with the peers' health as of the last round. A peer the
    /// last round did not ping (one that just joined) waits for the next round: the keeper would
    /// take it for unreachable.
    async fn on_metadata_change(
        &self,
        seen: &mut quiver_cluster::state::ClusterState,
        current: quiver_cluster::state::ClusterState,
        last_ok: &HashMap<PeerId, Instant>,
        answered: Option<&BTreeSet<PeerId>>,
    ) {
        let me = self.peer_id();
        let all_pinged = current.peers.keys().all(|peer| *peer == me || last_ok.contains_key(peer));
        if current != *seen && all_pinged {
            *seen = current;
            if let Some(answered) = answered {
                self.keep_placement(last_ok, answered).await;
            }
        }
    }

    /// Confirms local replicas current with their primaries in the background, every
    /// `PING_EVERY` while in contact (design record 003 §8), apart from the health loop so that
    /// a slow confirmation (a primary that does not answer, a busy order lock) never delays
    /// failure detection.
    pub fn spawn_verifier(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PING_EVERY).await;
                let Some(node) = weak.upgrade() else { return };
                let Some(cluster) = node.cluster() else { return };
                if cluster.consensus.in_contact() {
                    for collection in node.collections() {
                        collection.verify_replicas().await;
                        collection.repair_replicas().await;
                        if let Some(every) = node.config.digest_check_interval {
                            collection.check_digests(every).await;
                        }
                    }
                }
            }
        });
    }

    /// Forgets replica confirmations when this peer loses contact with the cluster, so that after
    /// regaining it each local replica is checked against its primary before serving reads.
    fn track_contact(&self, was_in_contact: bool) -> bool {
        let Some(cluster) = self.cluster() else { return false };
        let in_contact = cluster.consensus.in_contact();
        // A peer nothing can be committed without keeps its confirmations: no replica of it can
        // be deactivated behind its back (design record 003 §8).
        if was_in_contact && !in_contact && !cluster.consensus.indispensable() {
            tracing::warn!("lost contact with the cluster: local replicas stop serving reads");
            for collection in self.collections() {
                collection.unverify_replicas();
            }
        }
        in_contact
    }

    /// On the Raft leader: pings every peer, marks the replicas of peers silent for `DEAD_AFTER`
    /// `Dead`, and returns the peers that answered. `followed`: the leader this peer last
    /// followed, whose silence began before this peer's first round as leader.
    async fn health_round(
        &self,
        last_ok: &mut HashMap<PeerId, Instant>,
        followed: &mut Option<PeerId>,
    ) -> Option<BTreeSet<PeerId>> {
        let cluster = self.cluster()?;
        let me = self.peer_id();
        let leader = cluster.consensus.leader();
        if leader != Some(me) {
            last_ok.clear();
            // A candidate knows no leader: keep the one it followed.
            *followed = leader.or(*followed);
            return None;
        }
        if let Some(deposed) = followed.take().filter(|peer| *peer != me && last_ok.is_empty()) {
            last_ok.insert(deposed, silent_since(Instant::now(), cluster.consensus.leader_lease()));
        }
        let peers = cluster.consensus.state().state.peers.clone();
        let pings = peers.iter().filter(|(id, _)| **id != me).map(|(id, info)| {
            let client = Arc::clone(&cluster.client);
            // The answer must come from that peer: a new process on its old address does not count.
            async move {
                let pong = client.call_peer(*id, &info.uri, PeerRequest::Ping, PING_TIMEOUT).await;
                (*id, matches!(pong, Ok(PeerResponse::Pong { peer_id }) if peer_id == *id))
            }
        });
        let now = Instant::now();
        let mut answered = BTreeSet::new();
        for (peer, ok) in futures::future::join_all(pings).await {
            let seen = last_ok.entry(peer).or_insert(now);
            if ok {
                *seen = now;
                answered.insert(peer);
            } else if now.duration_since(*seen) >= DEAD_AFTER {
                self.deactivate_peer(peer).await;
            }
        }
        last_ok.retain(|peer, _| peers.contains_key(peer));
        Some(answered)
    }

    /// Whether this peer is the Raft leader.
    fn leads(&self) -> bool {
        self.cluster().is_some_and(|c| c.consensus.leader() == Some(self.peer_id()))
    }

    /// Proposes `Dead` for every replica of `peer` that is not `Dead` yet.
    async fn deactivate_peer(&self, peer: PeerId) {
        let Some(state) = self.cluster_state() else { return };
        for (name, meta) in &state.collections {
            for (shard_id, replicas) in &meta.shards {
                let Some(current) = replicas.get(&peer).copied() else { continue };
                // Any live state: a transfer's target (`Partial`, `Recovery`) too, which aborts the
                // transfer instead of leaving it hanging.
                if current == ReplicaState::Dead {
                    continue;
                }
                let op = MetaOperation::SetReplicaState {
                    collection: name.clone(),
                    shard_id: *shard_id,
                    peer_id: peer,
                    state: ReplicaState::Dead,
                    from_state: Some(current),
                };
                match self.propose(op, Some(Duration::from_secs(5))).await {
                    Ok(_) => {
                        tracing::warn!(peer, collection = %name, shard_id, "peer unreachable: replica marked Dead")
                    }
                    Err(e) => tracing::debug!(peer, error = %e, "could not mark replica Dead"),
                }
            }
        }
    }
}

/// What woke the health loop.
enum Wake {
    /// Time for a round of pings.
    Round,
    /// A silent peer's grace period ended between rounds.
    GraceEnded,
    /// The applied cluster state changed.
    Metadata,
}

/// Since when, at the latest, the leader this peer followed has been silent, as seen in this
/// peer's first round as the new leader (`now`). A voter grants its vote only a leader lease
/// after its last message from the leader, and every quorum of the deposed leader includes a
/// voter of this peer's election: so the deposed leader's last evidence of a quorum, and with it
/// its contact window (design record 003 §7), began at least a lease before this election, and
/// `now` is after it. Counting its silence from then marks a killed leader `Dead` as soon after
/// the election as any other peer, instead of a full `DEAD_AFTER` later.
fn silent_since(now: Instant, leader_lease: Duration) -> Instant {
    now.checked_sub(leader_lease).unwrap_or(now)
}

/// The earliest end still to come of the grace period of a peer that did not answer the last
/// round (`None` with the feature off or before a round as leader).
fn grace_ends(
    grace: Option<Duration>,
    last_ok: &HashMap<PeerId, Instant>,
    answered: Option<&BTreeSet<PeerId>>,
) -> Option<Instant> {
    let (grace, answered) = (grace?, answered?);
    let now = Instant::now();
    last_ok
        .iter()
        .filter(|(peer, _)| !answered.contains(peer))
        .map(|(_, seen)| *seen + grace)
        .filter(|end| *end > now)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deposed_leader_counts_silent_from_one_lease_before_the_first_round() {
        let now = Instant::now() + Duration::from_secs(10);
        let lease = Duration::from_millis(1200);
        assert_eq!(silent_since(now, lease), now - lease);
        // It is marked Dead a lease sooner than a peer first seen silent in that round, and not
        // before its contact window (2 s after its last quorum, at most `now - lease`) has ended.
        let dead_at = silent_since(now, lease) + DEAD_AFTER;
        assert!(dead_at < now + DEAD_AFTER);
        assert!(dead_at > now - lease + quiver_cluster::contact::CONTACT_WINDOW);
    }

    #[test]
    fn the_next_grace_end_is_the_earliest_to_come_of_a_silent_peer() {
        let now = Instant::now();
        let grace = Some(Duration::from_secs(5));
        let last_ok = HashMap::from([
            (1, now),                          // answered the last round
            (2, now - Duration::from_secs(2)), // silent: ends in 3 s
            (3, now - Duration::from_secs(4)), // silent: ends in 1 s
            (4, now - Duration::from_secs(9)), // silent, its end passed (handled)
        ]);
        let answered = BTreeSet::from([1]);
        let end = grace_ends(grace, &last_ok, Some(&answered)).expect("a silent peer's end");
        let until = end - now;
        assert!(until > Duration::from_millis(900) && until <= Duration::from_secs(1), "{until:?}");
        assert_eq!(grace_ends(None, &last_ok, Some(&answered)), None, "grace period off");
        assert_eq!(grace_ends(grace, &last_ok, None), None, "no round as leader yet");
        let everyone = BTreeSet::from([1, 2, 3, 4]);
        assert_eq!(grace_ends(grace, &last_ok, Some(&everyone)), None, "every peer answered");
    }
}
