//! The placement keeper (design record 012): on the Raft leader, after each health round, it
//! marks peers unreachable for longer than `cluster.replica_grace_period_sec` gone (and not gone
//! once they answer), carries out the planner's steps within the transfer limits, clears the
//! rebalance mark once nothing is left to move, and removes drained peers that asked for it.
//! Drain requests and progress (`/cluster/peer/{id}/drain`) live here too.

use crate::error::{NodeError, Result};
use crate::node::Node;
use crate::telemetry::AutoReason;
use quiver_cluster::planner::{self, Action, Plan, PlanOptions, Step};
use quiver_cluster::state::{AutoTransfer, ClusterState, Drain, MetaOperation, TransferLimits};
use quiver_types::PeerId;
use quiver_types::cluster::{ShardTransfer, TransferMethod};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;
use tokio::time::Instant;

const KEEPER_PROPOSAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Least time between two starts of the same transfer (collection, shard, source, target). A
/// transfer that fails at once (its shard's primary is down but not `Dead` yet) is aborted
/// through consensus, which wakes the keeper, whose plan asks for the same step again: without
/// this pause the two would alternate as fast as entries commit.
const RESTART_AFTER: Duration = Duration::from_secs(1);

/// `GET /cluster/peer/{id}/drain`.
#[derive(Debug, Clone, Serialize)]
pub struct DrainStatus {
    pub peer_id: PeerId,
    pub draining: bool,
    /// The peer leaves the cluster once empty (`DELETE /cluster/peer/{id}?drain=true`).
    pub remove_when_drained: bool,
    /// Replicas still on the peer.
    pub replicas_left: usize,
    /// Planned steps moving replicas off the peer, and shards that cannot leave it now.
    pub planned: Vec<Step>,
    pub blocked: Vec<planner::Blocked>,
    pub done: bool,
}

impl Node {
    /// One round of the keeper on the Raft leader; `last_ok` and `answered` come from the health
    /// round that just ended.
    pub(crate) async fn keep_placement(&self, last_ok: &HashMap<PeerId, Instant>, answered: &BTreeSet<PeerId>) {
        let Some(cluster) = self.cluster() else { return };
        let me = self.peer_id();
        if cluster.consensus.leader() != Some(me) || self.is_stopping() {
            return;
        }
        let state = cluster.consensus.state().state.clone();
        self.mark_gone_peers(&state, last_ok, answered).await;
        let unreachable = state.peers.keys().copied().filter(|p| *p != me && !answered.contains(p)).collect();
        let plan = planner::plan(&state, &PlanOptions { rebalance: self.config.rebalance, unreachable });
        let idle = state.collections.values().all(|meta| meta.transfers.is_empty());
        if plan.steps.is_empty() && idle && state.rebalance_pending {
            self.propose_quietly(MetaOperation::RebalanceDone).await;
        }
        self.carry_out(&state, &plan).await;
        self.remove_drained_peers(&state).await;
    }

    /// Proposes `gone` for peers silent for longer than the grace period, `not gone` for gone
    /// peers that answered.
    async fn mark_gone_peers(
        &self,
        state: &ClusterState,
        last_ok: &HashMap<PeerId, Instant>,
        answered: &BTreeSet<PeerId>,
    ) {
        let now = Instant::now();
        for (peer, info) in &state.peers {
            let gone = match answered.contains(peer) {
                true => false,
                false => match (self.config.replica_grace_period, last_ok.get(peer)) {
                    (Some(grace), Some(seen)) => now.duration_since(*seen) >= grace || info.gone,
                    (None, _) | (_, None) => info.gone,
                },
            };
            if *peer == self.peer_id() || gone == info.gone {
                continue;
            }
            match gone {
                true => {
                    tracing::warn!(peer, "peer unreachable for longer than the grace period: its replicas go elsewhere")
                }
                false => tracing::info!(peer, "a gone peer answers again"),
            }
            self.propose_quietly(MetaOperation::MarkPeerGone { peer_id: *peer, gone }).await;
        }
    }

    /// Proposes the plan's steps, the transfers within the per-peer limits (counted over every
    /// collection, running transfers included).
    async fn carry_out(&self, state: &ClusterState, plan: &Plan) {
        let mut incoming: BTreeMap<PeerId, usize> = BTreeMap::new();
        let mut outgoing: BTreeMap<PeerId, usize> = BTreeMap::new();
        for transfer in state.collections.values().flat_map(|meta| &meta.transfers) {
            *incoming.entry(transfer.to).or_insert(0) += 1;
            *outgoing.entry(transfer.from).or_insert(0) += 1;
        }
        let (in_limit, out_limit) = (self.config.incoming_transfers_limit, self.config.outgoing_transfers_limit);
        for step in &plan.steps {
            let (from, to, sync) = match step.action {
                Action::Trim { peer, active_left } => {
                    let op = MetaOperation::TrimReplica {
                        collection: step.collection.clone(),
                        shard_id: step.shard_id,
                        peer_id: peer,
                        active_left,
                    };
                    tracing::info!(collection = %step.collection, shard_id = step.shard_id, peer, reason = ?step.reason, "placement: dropping a replica no longer needed");
                    self.propose_quietly(op).await;
                    continue;
                }
                Action::Replicate { from, to } => (from, to, true),
                Action::Move { from, to } => (from, to, false),
            };
            let (busy_in, busy_out) = (incoming.entry(to).or_insert(0), outgoing.entry(from).or_insert(0));
            if in_limit.is_some_and(|l| *busy_in >= l) || out_limit.is_some_and(|l| *busy_out >= l) {
                continue;
            }
            // After the limits: a step they hold back was not started, and may start as soon as
            // they free up.
            if !self.may_start(&step.collection, step.shard_id, from, to) {
                continue;
            }
            *busy_in += 1;
            *busy_out += 1;
            let method = Some(self.placement_method());
            let transfer = ShardTransfer { shard_id: step.shard_id, from, to, sync, method };
            let limits = TransferLimits { incoming: in_limit, outgoing: out_limit, purpose: AutoTransfer::Placement };
            tracing::info!(collection = %step.collection, shard_id = step.shard_id, from, to, sync, reason = ?step.reason, "placement: starting a transfer");
            let op = MetaOperation::StartTransfer {
                collection: step.collection.clone(),
                transfer: transfer.clone(),
                limits: Some(limits),
            };
            if self.propose_quietly(op).await {
                self.telemetry.transfer_started(&step.collection, &transfer, AutoReason::Placement);
            }
        }
    }

    /// Whether the transfer of `shard_id` from `from` to `to` was not started within
    /// `RESTART_AFTER` (and so may start now, which is recorded).
    fn may_start(&self, collection: &str, shard_id: quiver_types::ShardId, from: PeerId, to: PeerId) -> bool {
        let now = Instant::now();
        let mut starts = self.keeper_starts.lock();
        starts.retain(|_, at| now.duration_since(*at) < RESTART_AFTER);
        let key = (collection.to_string(), shard_id, from, to);
        match starts.contains_key(&key) {
            true => false,
            false => {
                starts.insert(key, now);
                true
            }
        }
    }

    /// A new replica holds nothing to take a WAL delta against: a full method.
    fn placement_method(&self) -> TransferMethod {
        match self.config.shard_transfer_method {
            Some(TransferMethod::WalDelta) | None => TransferMethod::StreamRecords,
            Some(method) => method,
        }
    }

    async fn remove_drained_peers(&self, state: &ClusterState) {
        for (peer, info) in &state.peers {
            if info.drain.is_some_and(|d| d.then_remove) && !state.peer_has_replicas(*peer) {
                tracing::info!(peer, "peer drained: removing it from the cluster");
                if let Err(e) = self.remove_peer(*peer, false, Some(KEEPER_PROPOSAL_TIMEOUT)).await {
                    tracing::warn!(peer, error = %e, "removing a drained peer failed");
                }
            }
        }
    }

    /// Proposes a placement step; whether it was committed.
    async fn propose_quietly(&self, op: MetaOperation) -> bool {
        match self.propose(op, Some(KEEPER_PROPOSAL_TIMEOUT)).await {
            Ok(_) => true,
            Err(e) => {
                tracing::debug!(error = %e, "placement step not taken");
                false
            }
        }
    }

    /// `POST /cluster/peer/{id}/drain` (and `DELETE /cluster/peer/{id}?drain=true` with
    /// `then_remove`): every replica moves off the peer; returns the progress.
    pub async fn drain_peer(
        &self,
        peer_id: PeerId,
        then_remove: bool,
        timeout: Option<Duration>,
    ) -> Result<DrainStatus> {
        let state = self.cluster_state().ok_or(NodeError::StandaloneMode)?;
        let info =
            state.peers.get(&peer_id).ok_or_else(|| NodeError::BadRequest(format!("Peer {peer_id} does not exist")))?;
        let then_remove = then_remove || info.drain.is_some_and(|d| d.then_remove);
        if state.peers.len() < 2 {
            return Err(NodeError::BadRequest(format!("Cannot drain peer {peer_id}: it is the only peer")));
        }
        let op = MetaOperation::SetDrain { peer_id, drain: Some(Drain { then_remove }) };
        self.propose(op, timeout).await?;
        self.drain_status(peer_id)
    }

    /// `DELETE /cluster/peer/{id}/drain`: the peer takes replicas again.
    pub async fn cancel_drain(&self, peer_id: PeerId, timeout: Option<Duration>) -> Result<DrainStatus> {
        let state = self.cluster_state().ok_or(NodeError::StandaloneMode)?;
        if !state.peers.contains_key(&peer_id) {
            return Err(NodeError::BadRequest(format!("Peer {peer_id} does not exist")));
        }
        self.propose(MetaOperation::SetDrain { peer_id, drain: None }, timeout).await?;
        self.drain_status(peer_id)
    }

    /// `GET /cluster/peer/{id}/drain` (404 once the peer left the cluster).
    pub fn drain_status(&self, peer_id: PeerId) -> Result<DrainStatus> {
        let state = self.cluster_state().ok_or(NodeError::StandaloneMode)?;
        let Some(info) = state.peers.get(&peer_id) else {
            return Err(NodeError::NotFound(format!("Peer {peer_id} is not part of the cluster")));
        };
        let replicas_left = state
            .collections
            .values()
            .flat_map(|meta| meta.shards.values())
            .filter(|replicas| replicas.contains_key(&peer_id))
            .count();
        let plan = self.placement_plan(&state);
        let involves = |action: &Action| match *action {
            Action::Replicate { .. } => false,
            Action::Move { from, .. } => from == peer_id,
            Action::Trim { peer, .. } => peer == peer_id,
        };
        let holds = |b: &planner::Blocked| {
            state
                .collections
                .get(&b.collection)
                .and_then(|m| m.shards.get(&b.shard_id))
                .is_some_and(|r| r.contains_key(&peer_id))
        };
        Ok(DrainStatus {
            peer_id,
            draining: info.drain.is_some(),
            remove_when_drained: info.drain.is_some_and(|d| d.then_remove),
            replicas_left,
            planned: plan.steps.into_iter().filter(|s| involves(&s.action)).collect(),
            blocked: plan.blocked.into_iter().filter(holds).collect(),
            done: info.drain.is_some() && replicas_left == 0,
        })
    }

    /// The plan as this peer sees it from the applied state (every peer taken as reachable).
    pub(crate) fn placement_plan(&self, state: &ClusterState) -> Plan {
        planner::plan(state, &PlanOptions { rebalance: self.config.rebalance, unreachable: BTreeSet::new() })
    }
}
