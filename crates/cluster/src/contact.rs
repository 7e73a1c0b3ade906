//! Contact with the cluster (design record 003 §8): whether this peer has recent evidence of a
//! working quorum, whether nothing can be committed without it, and the leader lease that bounds
//! how long a deposed leader may still believe it leads.

use crate::consensus::Consensus;
use openraft::ServerState;
use std::time::Duration;
use tokio::time::Instant;

/// How long a peer counts as in contact with the cluster after its last evidence of a quorum.
/// Shorter than the health checker's `DEAD_AFTER` and the write path's wait before marking a
/// replica `Dead`, so a peer stops serving reads before others can deactivate its replicas.
pub const CONTACT_WINDOW: Duration = Duration::from_millis(2000);

impl Consensus {
    /// Whether this peer is in contact with a quorum: a follower that knows a leader, or a leader
    /// that a quorum acknowledged within the last 2 s.
    pub fn in_contact(&self) -> bool {
        if self.removed().is_some() {
            return false;
        }
        let metrics = self.raft().metrics().borrow().clone();
        let quorum_ack = match metrics.state {
            // openraft's `millis_since_quorum_ack` is only refreshed on events; use our own record
            // of AppendEntries acknowledgements: the moment a majority (with this leader) last acked.
            ServerState::Leader => {
                let voters: Vec<u64> = metrics.membership_config.voter_ids().collect();
                let acks = self.acks.lock();
                let mut times: Vec<Instant> = voters
                    .iter()
                    .filter(|v| **v != self.config().peer_id)
                    .filter_map(|v| acks.get(v).copied())
                    .collect();
                times.sort_unstable_by(|a, b| b.cmp(a));
                let needed_others = (voters.len() / 2 + 1).saturating_sub(1);
                match needed_others {
                    0 => Some(Instant::now()),
                    n => times.get(n - 1).copied(),
                }
            }
            ServerState::Follower | ServerState::Learner | ServerState::Candidate | ServerState::Shutdown => None,
        };
        let mut last = self.last_contact.lock();
        if let Some(at) = quorum_ack {
            *last = Some(last.map_or(at, |l| l.max(at)));
        }
        last.is_some_and(|t| t.elapsed() < CONTACT_WINDOW)
    }

    /// How long ago this peer last had evidence of a working quorum (see [`Self::in_contact`]).
    pub fn since_contact(&self) -> Option<Duration> {
        self.in_contact();
        self.last_contact.lock().map(|at| at.elapsed())
    }

    /// Whether no entry can be committed without this peer: the other voters alone are not a
    /// majority (e.g. either peer of a 2-peer cluster). Then nothing can deactivate this peer's
    /// replicas behind its back.
    pub fn indispensable(&self) -> bool {
        if self.removed().is_some() {
            return false;
        }
        let metrics = self.raft().metrics().borrow().clone();
        let voters: Vec<u64> = metrics.membership_config.voter_ids().collect();
        let others = voters.iter().filter(|v| **v != self.config().peer_id).count();
        voters.contains(&self.config().peer_id) && others < voters.len() / 2 + 1
    }

    pub(crate) fn note_leader_contact(&self) {
        *self.last_contact.lock() = Some(Instant::now());
    }

    /// How long a voter refuses to vote after its last message from a leader (openraft's
    /// leader lease: the maximum election timeout).
    pub fn leader_lease(&self) -> Duration {
        Duration::from_millis(self.raft().config().election_timeout_max)
    }
}
