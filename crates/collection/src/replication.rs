//! Ordered replicated writes (design record 003): a write for a shard goes to the shard's
//! primary, which logs and applies it (assigning its sequence number), then sends it to every
//! other replica that receives updates. A replica that reports a gap gets the missing records
//! first. A replica that fails is marked `Dead` through the control plane before the write is
//! acknowledged; a write that cannot reach `write_consistency_factor` replicas fails.

use crate::context::ClusterPorts;
use crate::error::{CollectionError, Result};
use crate::remote::{ShardRequest, ShardResponse, is_not_understood};
use crate::replica_set::ReplicaSet;
use crate::retry::{Retries, RetryPolicy};
use quiver_shard::{ApplyOutcome, LocalShard, LoggedRecord};
use quiver_types::ops::{UpdateOperation, UpdateResult};
use quiver_types::replica::ReplicaState;
use quiver_types::{PeerId, SeqNo, ShardId};
use std::sync::Arc;
use std::time::Duration;

/// How long one peer call of the data plane may take.
pub const SHARD_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How long after a replica failed the write path waits before proposing it `Dead`. Longer than
/// the contact window of a peer (2 s, `quiver_cluster::contact::CONTACT_WINDOW`): a replica cut
/// off from the cluster has stopped serving reads before it can be deactivated and writes are
/// acknowledged without it.
pub const DEACTIVATION_DELAY: Duration = Duration::from_millis(2500);
// A departed replica is fed for as long as a failed one waits before it is deactivated.
const _: () = assert!(crate::replica_set::DEPARTED_GRACE.as_millis() == DEACTIVATION_DELAY.as_millis());

/// The shard a primary replicates, with its local replica and ports.
#[derive(Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) shard_id: ShardId,
    pub(crate) local: &'a Arc<LocalShard>,
    pub(crate) ports: &'a ClusterPorts,
    /// The primary's term the records are sent in (the replica's duplicate check trusts a record
    /// its WAL no longer holds only from the tenure it came from).
    pub(crate) term: u64,
}

pub(crate) fn service(context: &str, e: impl std::fmt::Display) -> CollectionError {
    CollectionError::Service(format!("{context}: {e}"))
}

async fn local_update(shard: &Arc<LocalShard>, op: UpdateOperation, wait: bool) -> Result<UpdateResult> {
    let shard = Arc::clone(shard);
    let task = tokio::task::spawn_blocking(move || shard.update_owned(op, wait));
    Ok(task.await.map_err(|e| service("shard update task", e))??)
}

impl ReplicaSet {
    /// Writes `op` (already validated) to this shard: ordered here if this peer is its primary,
    /// else forwarded to the primary.
    ///
    /// # Cancel safety
    /// The write runs in its own task, owned by this replica set: dropping the returned future
    /// (a client that disconnects, an API timeout) does not stop it halfway through sending to
    /// the replicas; it runs to completion — acknowledged by the replicas or with the failed ones
    /// marked `Dead` — and only its result is lost.
    pub async fn write(self: &Arc<Self>, op: UpdateOperation, wait: bool) -> Result<UpdateResult> {
        let set = Arc::clone(self);
        let task = tokio::spawn(async move { set.route_write(op, wait).await });
        task.await.map_err(|e| service("write task", e))?
    }

    async fn route_write(self: &Arc<Self>, op: UpdateOperation, wait: bool) -> Result<UpdateResult> {
        let shard_id = self.shard_id;
        let Some(ports) = self.ctx.cluster() else {
            let local = self.local().ok_or_else(|| no_replica(shard_id))?;
            return local_update(&local, op, wait).await;
        };
        // A view of the replica states that lags another peer's settles within a few entries; a
        // primary that stopped answering is deactivated and the write retried with the next.
        let mut view_lag = Retries::new(RetryPolicy::VIEW_LAG);
        let mut failover = Retries::new(RetryPolicy::PRIMARY_FAILOVER);
        loop {
            let primary = self.primary().ok_or_else(|| {
                CollectionError::ShardUnavailable(format!("The replica set for shard {shard_id} has no active replica"))
            })?;
            let outcome = match primary == ports.me {
                true => self.update_as_primary(ports, op.clone(), wait, None).await,
                false => match self.forward_write(ports, primary, &op, wait).await {
                    Some(outcome) => outcome,
                    None => continue, // the primary changed meanwhile: ask the new one
                },
            };
            match outcome {
                Err(CollectionError::PeerDown { peer, .. }) if peer == primary && self.may_stand_in(ports, primary) => {
                    match self.update_as_stand_in(ports, primary, op.clone(), wait).await {
                        Err(e) if is_not_primary(&e) && view_lag.pause().await => {} // it is back
                        other => return other,
                    }
                }
                Err(e @ (CollectionError::Unreachable { peer, .. } | CollectionError::PeerDown { peer, .. }))
                    if peer == primary && primary != ports.me && failover.pause().await =>
                {
                    // The primary is unreachable: deactivate it (through Raft, after the delay)
                    // and retry with the next one, so a failover stays inside the server.
                    tracing::warn!(shard_id, primary, error = %e, "primary unreachable; marking it Dead");
                    tokio::time::sleep(DEACTIVATION_DELAY).await;
                    // Refused: the cluster's state no longer has that replica `Active` (it handed
                    // its role off before stopping, or another peer deactivated it) while this
                    // view lags, or it is the last active one; the write waits for the view.
                    if self.primary() == Some(primary)
                        && ports
                            .control
                            .mark_dead(self.ctx.name(), shard_id, primary, ReplicaState::Active)
                            .await
                            .is_err()
                        && !self.may_stand_in(ports, primary)
                        && !view_lag.pause().await
                    {
                        return Err(e);
                    }
                }
                // This peer lost the primary role meanwhile, or the primary's view of the replica
                // states lags ours (or the other way round).
                Err(e) if is_not_primary(&e) && view_lag.pause().await => {}
                other => return other,
            }
        }
    }

    /// Forwards a write to `primary`; `None` if the primary changed in this peer's view before
    /// it answered (the write may have been applied there; it is idempotent and ordered again).
    async fn forward_write(
        &self,
        ports: &ClusterPorts,
        primary: PeerId,
        op: &UpdateOperation,
        wait: bool,
    ) -> Option<Result<UpdateResult>> {
        let request = ShardRequest::Update { op: op.clone(), wait, seen_at: self.view() };
        let call = ports.transport.call(primary, self.ctx.name(), self.shard_id, request, SHARD_CALL_TIMEOUT);
        tokio::select! {
            outcome = call => Some(outcome.and_then(ShardResponse::into_updated)),
            () = self.primary_changed(primary) => None,
        }
    }

    /// The primary's part: order locally, replicate, deactivate failed replicas, then answer.
    /// `seen_at`: for a write another peer forwarded, the view in which it named this peer
    /// primary (see [`ShardRequest::Update`]).
    ///
    /// Pipelined (design record 017): the order lock is held while the write gets its sequence
    /// number and is sent to the replicas, not while they answer, so the shard's next write is
    /// ordered meanwhile; replicas apply in sequence order (a record that overtakes its
    /// predecessor waits for it). Each write is still acknowledged only once every replica it
    /// was sent to holds it (fsynced) or is marked `Dead` (DESIGN §3.1).
    pub(crate) async fn update_as_primary(
        self: &Arc<Self>,
        ports: &ClusterPorts,
        op: UpdateOperation,
        wait: bool,
        seen_at: Option<u64>,
    ) -> Result<UpdateResult> {
        let (in_flight, term) = {
            let _order = self.order.lock().await;
            // The role may have moved while this write waited for the lock (e.g. a finished
            // move), or been lost and regained: a forwarded write is ordered only in the tenure
            // it was addressed to.
            if self.primary() != Some(ports.me) || seen_at.is_some_and(|seen| !self.in_current_term(seen)) {
                return Err(not_primary(self, ports.me));
            }
            // The local replica as it is now: one dropped and re-created while this write waited
            // is another replica.
            let local = self.local().ok_or_else(|| no_replica(self.shard_id))?;
            let term = self.current_term();
            if !self.is_primary_synced() {
                self.adopt_longest_suffix(&local, ports).await?;
            }
            (self.order_and_send(local, ports, op, wait, term).await?, term)
        };
        let ordered_in = in_flight.view;
        let (mut result, failed, holders) = in_flight.outcome(ports.me, wait).await?;
        if wait {
            result.status = quiver_types::ops::UpdateStatus::Completed;
        }
        // Demoted meanwhile (see below): the new primary orders the write again and settles
        // its own replicas' failures.
        if self.primary() != Some(ports.me) || self.current_term() != term {
            return Err(not_primary(self, ports.me));
        }
        // A replica whose state changed after the write was ordered was deactivated and
        // recovered since (a restart): its recovery copied this write, so its failure (the
        // old process) deactivates nothing.
        let failed = failed.into_iter().filter(|(peer, _, _)| !self.changed_since(*peer, ordered_in)).collect();
        self.settle_failures(ports, failed, holders.len()).await?;
        // Replicas that held the write may have been dropped meanwhile (a user's drop_replica):
        // the write must still be on `write_consistency_factor` replicas when acknowledged.
        self.check_still_held(ports.me, &holders)?;
        // Acknowledged only if this peer stayed primary in the same tenure: demoted meanwhile
        // (a hand-off before a restart, or its replica recovered by a transfer), the write it
        // ordered may be gone. The caller retries it with the new primary: it was not
        // acknowledged, so ordering it again is still one linearizable write.
        if self.primary() != Some(ports.me) || self.current_term() != term {
            return Err(not_primary(self, ports.me));
        }
        Ok(result)
    }

    /// Logs and applies `op` locally (assigning its sequence number) and starts sending it to
    /// every other replica that takes updates; the local fsync and the replicas' answers are
    /// awaited by [`InFlight::outcome`], after the order lock is released.
    async fn order_and_send(
        self: &Arc<Self>,
        local: Arc<LocalShard>,
        ports: &ClusterPorts,
        op: UpdateOperation,
        wait: bool,
        term: u64,
    ) -> Result<InFlight> {
        // The operation as logged (a filter matching text resolved to ids) is what replicas apply.
        let (result, record) = self.order_locally(&local, op, ports.me, term).await?;
        let seq = result.operation_id.unwrap_or(0);
        tracing::debug!(peer = ports.me, shard_id = self.shard_id, seq, op = ?record.op(), "ordered as primary");
        let record = Arc::new(Ordered { seq, term, record });
        let sends = self
            .remote_updatable(ports.me)
            .into_iter()
            .map(|(peer, state)| (peer, state, self.send_to(&local, peer, Arc::clone(&record), wait, false)))
            .collect();
        let departed = self
            .departed_targets(tokio::time::Instant::now())
            .into_iter()
            .map(|(peer, until)| (until, self.send_to(&local, peer, Arc::clone(&record), wait, true)))
            .collect();
        Ok(InFlight { result, local, sends, departed, view: self.view() })
    }

    /// Sends the write at `seq` to `peer` in a task of its own (it starts now, in sequence
    /// order with the shard's other writes, whether or not its answer is awaited).
    fn send_to(
        self: &Arc<Self>,
        local: &Arc<LocalShard>,
        peer: PeerId,
        ordered: Arc<Ordered>,
        wait: bool,
        departed: bool,
    ) -> tokio::task::JoinHandle<Result<()>> {
        let (set, local) = (Arc::clone(self), Arc::clone(local));
        tokio::spawn(async move {
            let ports = set.ctx.cluster().ok_or_else(|| no_replica(set.shard_id))?;
            let target = Target { shard_id: set.shard_id, local: &local, ports, term: ordered.term };
            set.replicate_to(&target, peer, &ordered, wait, departed).await
        })
    }

    /// Logs and applies `op` as primary in tenure `term`: the term is checked and the record
    /// appended under the role lock, so the write is never ordered after this peer lost the
    /// role (its replica may have been replaced by a transfer meanwhile).
    async fn order_locally(
        self: &Arc<Self>,
        local: &Arc<LocalShard>,
        op: UpdateOperation,
        me: PeerId,
        term: u64,
    ) -> Result<(UpdateResult, LoggedRecord)> {
        let (set, shard) = (Arc::clone(self), Arc::clone(local));
        let task = tokio::task::spawn_blocking(move || {
            let _role = set.role.read();
            let same_replica = set.local().is_some_and(|now| Arc::ptr_eq(&now, &shard));
            if set.primary() != Some(me) || set.current_term() != term || !same_replica {
                return Err(not_primary(&set, me));
            }
            Ok(shard.update_resolved(&op, false)?)
        });
        task.await.map_err(|e| service("shard update task", e))?
    }

    /// Fails a write that fewer than `write_consistency_factor` of the shard's current replicas
    /// hold (`holders` held it; some may have been dropped or deactivated since).
    fn check_still_held(&self, me: PeerId, holders: &[PeerId]) -> Result<()> {
        let states = self.states();
        let still =
            holders.iter().filter(|p| **p == me || states.get(p).is_some_and(|s| *s != ReplicaState::Dead)).count();
        let required = (self.ctx.config().params.write_consistency_factor as usize).min(self.replica_count());
        match still >= required {
            true => Ok(()),
            false => Err(CollectionError::ShardUnavailable(format!(
                "Write consistency factor not reached for shard {}: {still} of {required} replicas hold the write",
                self.shard_id
            ))),
        }
    }

    /// Decides whether a write `successes` replicas hold may be acknowledged: DESIGN §3.1, it is
    /// on at least `write_consistency_factor` replicas (capped by the replicas the shard has, in
    /// any state) — fewer fail the write and deactivate nothing (spec §6.2) — and every replica
    /// that failed it is marked `Dead` through Raft first.
    async fn settle_failures(
        &self,
        ports: &ClusterPorts,
        failed: Vec<(PeerId, ReplicaState, CollectionError)>,
        successes: usize,
    ) -> Result<()> {
        if !failed.is_empty() {
            self.lagging.store(true, std::sync::atomic::Ordering::Release);
        }
        let required = (self.ctx.config().params.write_consistency_factor as usize).min(self.replica_count());
        if successes < required {
            return Err(match failed.into_iter().next() {
                Some((_, _, first)) => first,
                None => CollectionError::ShardUnavailable(format!(
                    "Write consistency factor not reached for shard {}: {successes} of {required} replicas can take writes",
                    self.shard_id
                )),
            });
        }
        if failed.is_empty() {
            return Ok(());
        }
        // A replica that sees another peer as primary means this peer lost the role: fail the
        // write (the caller retries with the new primary) and deactivate nobody.
        if let Some((_, _, e)) = failed.iter().find(|(_, _, e)| is_not_primary(e)) {
            return Err(CollectionError::ShardUnavailable(format!("primary of shard {} changed: {e}", self.shard_id)));
        }
        // Without a quorum, replicas whose process is down are skipped at once (§8): they serve
        // nothing, so there is nothing to wait for.
        if failed.iter().all(|(peer, _, e)| is_down(e, *peer)) && solo_allowed(ports) {
            tracing::warn!(shard_id = self.shard_id, "acknowledged without replicas whose peers are down");
            return Ok(());
        }
        // The delay lets a replica cut off from the cluster stop serving reads first; one that
        // answered it serves none needs no wait.
        if !failed.iter().all(|(_, _, e)| matches!(e, CollectionError::NotReadable { .. })) {
            tokio::time::sleep(DEACTIVATION_DELAY).await;
        }
        for (peer, state, e) in failed {
            tracing::warn!(shard_id = self.shard_id, peer, error = %e, "replica failed a write; marking it Dead");
            let Err(d) = ports.control.mark_dead(self.ctx.name(), self.shard_id, peer, state).await else { continue };
            // Design record 003 §8: in a 2-peer cluster whose other peer's process is down, no
            // quorum can deactivate it, and it can serve nothing until it has caught up.
            if solo_allowed(ports) && self.peer_is_down(ports, peer, &e).await {
                tracing::warn!(shard_id = self.shard_id, peer, "acknowledged without a replica whose peer is down");
                continue;
            }
            return Err(CollectionError::Service(format!(
                "Some replica of shard {} failed to apply operation and deactivation failed ({d}). Consistency of this update is not guaranteed. Please retry.",
                self.shard_id
            )));
        }
        Ok(())
    }

    /// Whether `peer`'s process is down: its failure said so, or (a connection reset while the
    /// write was in flight) a probe now finds nothing listening.
    async fn peer_is_down(&self, ports: &ClusterPorts, peer: PeerId, e: &CollectionError) -> bool {
        is_down(e, peer) || self.probe_down(ports, peer).await
    }

    /// Whether nothing listens on `peer`'s address now (a cheap `LastSeq` call is refused).
    async fn probe_down(&self, ports: &ClusterPorts, peer: PeerId) -> bool {
        let probe =
            ports.transport.call(peer, self.ctx.name(), self.shard_id, ShardRequest::LastSeq, SHARD_CALL_TIMEOUT);
        matches!(probe.await, Err(e) if is_down(&e, peer))
    }

    /// Whether this peer may order a write in place of `primary`, whose process is down: only a
    /// peer nothing can be committed without (the other peer of a 2-peer cluster), cut off from
    /// any quorum, whose own replica is `Active` and confirmed current, and with no other replica
    /// that would need the write (design record 003 §8).
    fn may_stand_in(&self, ports: &ClusterPorts, primary: PeerId) -> bool {
        solo_allowed(ports)
            && self.has_local()
            && self.local_state() == ReplicaState::Active
            && self.is_verified()
            && self.remote_updatable(ports.me).iter().all(|(peer, _)| *peer == primary)
    }

    /// Orders and applies a write locally in place of a primary whose process is down. Under the
    /// order lock the primary is checked to be still down; a returning primary first takes this
    /// replica's last sequence number under the same lock (`PrimaryLastSeq`), so it continues
    /// after every write acknowledged here.
    async fn update_as_stand_in(
        &self,
        ports: &ClusterPorts,
        primary: PeerId,
        op: UpdateOperation,
        wait: bool,
    ) -> Result<UpdateResult> {
        let local = self.local().ok_or_else(|| no_replica(self.shard_id))?;
        let _order = self.order.lock().await;
        if !self.probe_down(ports, primary).await {
            // The primary is reachable again: it orders the write.
            return Err(CollectionError::NotPrimary {
                shard_id: self.shard_id,
                peer: ports.me,
                primary: Some(primary),
            });
        }
        tracing::warn!(
            shard_id = self.shard_id,
            primary,
            "primary is down and no quorum exists: ordering the write here"
        );
        local_update(&local, op, wait).await
    }

    /// Sends the write at `seq` to one replica (`departed`: one fed during its grace), filling a
    /// gap from the local WAL when asked.
    async fn replicate_to(
        &self,
        target: &Target<'_>,
        peer: PeerId,
        ordered: &Ordered,
        wait: bool,
        departed: bool,
    ) -> Result<()> {
        let Target { shard_id, ports, term, .. } = *target;
        let Ordered { seq, ref record, .. } = *ordered;
        let mut view_lag = Retries::new(RetryPolicy::VIEW_LAG);
        let mut gap_fills = Retries::new(RetryPolicy::GAP_FILL);
        // A peer that predates `ApplyRecord` is sent the operation instead (design record 027).
        let mut as_record = true;
        loop {
            let request = match as_record {
                true => {
                    ShardRequest::ApplyRecord { primary: ports.me, seq, record: record.bytes().to_vec(), wait, term }
                }
                false => ShardRequest::Apply { primary: ports.me, seq, op: record.op().clone(), wait, term },
            };
            let answer = ports.transport.call(peer, self.ctx.name(), shard_id, request, SHARD_CALL_TIMEOUT).await;
            match answer.and_then(ShardResponse::into_applied) {
                Ok(ApplyOutcome::Applied | ApplyOutcome::Duplicate) => {
                    self.note_replica_seq(peer, seq);
                    return Ok(());
                }
                Ok(ApplyOutcome::Gap { last }) if gap_fills.pause().await => {
                    self.fill_gap(target, peer, last + 1, seq - 1).await?;
                }
                Ok(ApplyOutcome::Gap { .. }) => {
                    return Err(CollectionError::Service(format!(
                        "replica {peer} of shard {shard_id} keeps reporting gaps"
                    )));
                }
                Ok(ApplyOutcome::Diverged) => return Err(CollectionError::Diverged { shard_id, peer, seq }),
                // The replica took records from a newer tenure: this peer lost the role since.
                Ok(ApplyOutcome::Stale) => return Err(not_primary(self, ports.me)),
                Err(e) if as_record && is_not_understood(&e) => as_record = false,
                // The replica has not applied the state that made this peer primary yet.
                Err(e) if is_not_primary(&e) && view_lag.pause().await => {}
                // It has not applied the state that made its replica take updates yet (a
                // transfer into it just finished), while this peer still sees it that way. A
                // departed replica's refusal is an answer (it serves no reads).
                Err(e @ CollectionError::NotReadable { .. })
                    if !departed && self.takes_updates(ports.me, peer) && view_lag.pause().await =>
                {
                    tracing::debug!(shard_id, peer, error = %e, "replica lags in the replica states; retrying");
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether `peer`'s replica receives this shard's writes in this peer's view.
    fn takes_updates(&self, me: PeerId, peer: PeerId) -> bool {
        self.remote_updatable(me).iter().any(|(p, _)| *p == peer)
    }
}

/// A record this peer ordered as primary: its sequence number and the term it was ordered in.
pub(crate) struct Ordered {
    seq: SeqNo,
    term: u64,
    record: LoggedRecord,
}

/// A write ordered as primary whose replication is under way.
struct InFlight {
    result: UpdateResult,
    local: Arc<LocalShard>,
    sends: Vec<(PeerId, ReplicaState, tokio::task::JoinHandle<Result<()>>)>,
    /// Sends to replicas that stopped being readable in a recent view, with the end of their
    /// grace ([`ReplicaSet::departed_targets`]): such a peer may not have applied that view
    /// yet and still serve reads, so the write is acknowledged once it holds the write, has
    /// answered that it no longer serves reads, is found down, or the grace is over (a peer cut
    /// off from the cluster has stopped serving reads by then). They never count as holders or
    /// failures.
    departed: Vec<(tokio::time::Instant, tokio::task::JoinHandle<Result<()>>)>,
    /// The view of the replica states in which the write was ordered.
    view: u64,
}

/// What a write's replication gave: its result, the replicas that failed it (a `Partial` one is
/// not counted: its transfer brings it up to date) and the peers holding it.
type Replicated = (UpdateResult, Vec<(PeerId, ReplicaState, CollectionError)>, Vec<PeerId>);

impl InFlight {
    /// Fsyncs the local WAL (when `wait`) while the replicas log theirs — the write is
    /// acknowledged only after both, overlapping the disks' latencies instead of adding them —
    /// and collects the replicas' answers.
    async fn outcome(self, me: PeerId, wait: bool) -> Result<Replicated> {
        let InFlight { result, local, sends, departed, .. } = self;
        let local_sync = async move {
            if !wait {
                return Ok(());
            }
            let task = tokio::task::spawn_blocking(move || local.sync());
            task.await.map_err(|e| service("WAL sync task", e))?.map_err(CollectionError::from)
        };
        let answers = futures::future::join_all(sends.into_iter().map(|(peer, state, send)| async move {
            let answer = send.await.map_err(|e| service("replication task", e)).and_then(|r| r);
            (peer, state, answer)
        }));
        let departed = futures::future::join_all(departed.into_iter().map(|(until, send)| async move {
            match tokio::time::timeout_at(until, send).await {
                // Holds it, serves no read of the shard any more, its process is down, or the
                // grace is over.
                Ok(Ok(Ok(()) | Err(CollectionError::NotReadable { .. } | CollectionError::PeerDown { .. })))
                | Err(_) => {}
                Ok(_) => tokio::time::sleep_until(until).await,
            }
        }));
        let (synced, answers, _) = futures::join!(local_sync, answers, departed);
        synced?;
        let mut holders = vec![me];
        let mut failed = Vec::new();
        for (peer, state, answer) in answers {
            match answer {
                Ok(()) => holders.push(peer),
                Err(_) if state == ReplicaState::Partial => {}
                Err(e) => failed.push((peer, state, e)),
            }
        }
        Ok((result, failed, holders))
    }
}

/// Whether this peer may acknowledge writes without a replica whose process is down: nothing can
/// be committed without it (2 voters) and it is cut off from any quorum.
fn solo_allowed(ports: &ClusterPorts) -> bool {
    !ports.control.is_connected() && ports.control.is_indispensable()
}

/// Whether calling `peer` found nothing listening (its process is down).
fn is_down(e: &CollectionError, peer: PeerId) -> bool {
    matches!(e, CollectionError::PeerDown { peer: down, .. } if *down == peer)
}

/// Whether a replica refused because it sees another peer as the shard's primary.
pub(crate) fn is_not_primary(e: &CollectionError) -> bool {
    matches!(e, CollectionError::NotPrimary { .. })
}

/// The refusal of a request that only `peer` as the shard's primary could serve, naming the
/// primary this peer sees.
pub(crate) fn not_primary(set: &ReplicaSet, peer: PeerId) -> CollectionError {
    CollectionError::NotPrimary { shard_id: set.shard_id, peer, primary: set.primary() }
}

pub(crate) fn no_replica(shard_id: ShardId) -> CollectionError {
    CollectionError::ShardUnavailable(format!("Shard {shard_id} has no replica on this peer"))
}
