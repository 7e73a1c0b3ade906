//! Ordered replicated writes (design record 003): a write for a shard goes to the shard's
//! primary, which logs and applies it (assigning its sequence number), then sends it to every
//! other replica that receives updates. A replica that reports a gap gets the missing records
//! first. A replica that fails is marked `Dead` through the control plane before the write is
//! acknowledged; a write that cannot reach `write_consistency_factor` replicas fails.

use crate::context::ClusterPorts;
use crate::error::{CollectionError, Result};
use crate::remote::{ShardRequest, ShardResponse};
use crate::replica_set::ReplicaSet;
use crate::retry::{Retries, RetryPolicy};
use quiver_shard::{ApplyOutcome, LocalShard};
use quiver_types::ops::{UpdateOperation, UpdateResult};
use quiver_types::replica::ReplicaState;
use quiver_types::{PeerId, SeqNo, ShardId};
use std::sync::Arc;
use std::time::Duration;

/// How long one peer call of the data plane may take.
pub const SHARD_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How long after a replica failed the write path waits before proposing it `Dead`. Longer than
/// the contact window of a peer (2 s, `quiver_cluster::consensus::CONTACT_WINDOW`): a replica cut
/// off from the cluster has stopped serving reads before it can be deactivated and writes are
/// acknowledged without it.
pub const DEACTIVATION_DELAY: Duration = Duration::from_millis(2500);

/// How often a primary compares its replicas with its own last sequence number.
const REPAIR_EVERY: Duration = Duration::from_secs(5);
/// How long a repair round waits for a replica's last sequence number.
const REPAIR_CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// The shard a primary replicates, with its local replica and ports.
#[derive(Clone, Copy)]
struct Target<'a> {
    shard_id: ShardId,
    local: &'a Arc<LocalShard>,
    ports: &'a ClusterPorts,
}

fn service(context: &str, e: impl std::fmt::Display) -> CollectionError {
    CollectionError::Service(format!("{context}: {e}"))
}

async fn local_update(shard: &Arc<LocalShard>, op: UpdateOperation, wait: bool) -> Result<UpdateResult> {
    let shard = Arc::clone(shard);
    let task = tokio::task::spawn_blocking(move || shard.update(&op, wait));
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
                    if self.primary() == Some(primary)
                        && ports
                            .control
                            .mark_dead(self.ctx.name(), shard_id, primary, ReplicaState::Active)
                            .await
                            .is_err()
                        && !self.may_stand_in(ports, primary)
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
    pub(crate) async fn update_as_primary(
        self: &Arc<Self>,
        ports: &ClusterPorts,
        op: UpdateOperation,
        wait: bool,
        seen_at: Option<u64>,
    ) -> Result<UpdateResult> {
        let _order = self.order.lock().await;
        // The role may have moved while this write waited for the lock (e.g. a finished move),
        // or been lost and regained: a forwarded write is ordered only in the tenure it was
        // addressed to.
        if self.primary() != Some(ports.me) || seen_at.is_some_and(|seen| !self.in_current_term(seen)) {
            return Err(not_primary(self, ports.me));
        }
        // The local replica as it is now: one dropped and re-created while this write waited is
        // another replica.
        let local = self.local().ok_or_else(|| no_replica(self.shard_id))?;
        let local = &local;
        let term = self.current_term();
        if !self.is_primary_synced() {
            self.adopt_longest_suffix(local, ports).await?;
        }
        let (mut result, failed, holders) = self.order_and_replicate(local, ports, &op, wait, term).await?;
        if wait {
            result.status = quiver_types::ops::UpdateStatus::Completed;
        }
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

    /// Logs and applies `op` locally (assigning its sequence number), sends it to every other
    /// replica that takes updates and fsyncs meanwhile; the result, the replicas that failed
    /// (a `Partial` one is not counted: its transfer brings it up to date) and the peers
    /// holding the write.
    async fn order_and_replicate(
        self: &Arc<Self>,
        local: &Arc<LocalShard>,
        ports: &ClusterPorts,
        op: &UpdateOperation,
        wait: bool,
        term: u64,
    ) -> Result<(UpdateResult, Vec<(PeerId, ReplicaState, CollectionError)>, Vec<PeerId>)> {
        // Log and apply locally without waiting for the fsync, then fsync here while the
        // replicas log theirs: the write is acknowledged only after both (overlapping the disks'
        // latencies instead of adding them).
        let result = self.order_locally(local, op.clone(), ports.me, term).await?;
        let seq = result.operation_id.unwrap_or(0);
        tracing::debug!(peer = ports.me, shard_id = self.shard_id, seq, ?op, "ordered as primary");
        let targets = self.remote_updatable(ports.me);
        let target = Target { shard_id: self.shard_id, local, ports };
        let sends = targets.iter().map(|(peer, _)| self.replicate_to(&target, *peer, seq, op, wait));
        let local_sync = async {
            if !wait {
                return Ok(());
            }
            let shard = Arc::clone(local);
            let task = tokio::task::spawn_blocking(move || shard.sync());
            task.await.map_err(|e| service("WAL sync task", e))?.map_err(CollectionError::from)
        };
        let (synced, outcomes) = futures::join!(local_sync, futures::future::join_all(sends));
        synced?;
        let holders: Vec<PeerId> = std::iter::once(ports.me)
            .chain(targets.iter().zip(&outcomes).filter(|(_, o)| o.is_ok()).map(|((peer, _), _)| *peer))
            .collect();
        let failed = targets
            .iter()
            .zip(outcomes)
            .filter_map(|((peer, state), outcome)| outcome.err().map(|e| (*peer, *state, e)))
            .filter(|(_, state, _)| *state != ReplicaState::Partial)
            .collect();
        Ok((result, failed, holders))
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
    ) -> Result<UpdateResult> {
        let (set, shard) = (Arc::clone(self), Arc::clone(local));
        let task = tokio::task::spawn_blocking(move || {
            let _role = set.role.read();
            let same_replica = set.local().is_some_and(|now| Arc::ptr_eq(&now, &shard));
            if set.primary() != Some(me) || set.current_term() != term || !same_replica {
                return Err(not_primary(&set, me));
            }
            Ok(shard.update(&op, false)?)
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
        tokio::time::sleep(DEACTIVATION_DELAY).await;
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

    /// Primary: brings every other replica that takes updates up to this replica's last sequence
    /// number — after a write failed as a whole, a replica that missed it stays `Active` with a
    /// gap that only the next write would fill (anti-entropy; design record 003 §3). Runs when a
    /// write left some replica behind, and every `REPAIR_EVERY` anyway.
    pub async fn repair_replicas(&self) {
        use std::sync::atomic::Ordering;
        let Some(ports) = self.ctx.cluster() else { return };
        let Some(local) = self.local() else { return };
        if self.primary() != Some(ports.me) {
            return;
        }
        let due = self.last_repair.lock().is_none_or(|at| at.elapsed() >= REPAIR_EVERY);
        if !self.lagging.swap(false, Ordering::AcqRel) && !due {
            return;
        }
        *self.last_repair.lock() = Some(tokio::time::Instant::now());
        let mine = local.applied_seq();
        let target = Target { shard_id: self.shard_id, local: &local, ports };
        for (peer, _) in self.remote_updatable(ports.me) {
            let request = ShardRequest::LastSeq;
            let call = ports.transport.call(peer, self.ctx.name(), self.shard_id, request, REPAIR_CALL_TIMEOUT);
            let Ok(theirs) = call.await.and_then(ShardResponse::into_last_seq) else {
                self.lagging.store(true, Ordering::Release);
                continue;
            };
            self.set_replica_seq(peer, theirs);
            match theirs < mine && self.fill_gap(&target, peer, theirs + 1, mine).await.is_err() {
                true => self.lagging.store(true, Ordering::Release),
                false => self.note_replica_seq(peer, mine),
            }
        }
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

    /// Sends the write at `seq` to one replica, filling a gap from the local WAL when asked.
    async fn replicate_to(
        &self,
        target: &Target<'_>,
        peer: PeerId,
        seq: SeqNo,
        op: &UpdateOperation,
        wait: bool,
    ) -> Result<()> {
        let Target { shard_id, ports, .. } = *target;
        let mut view_lag = Retries::new(RetryPolicy::VIEW_LAG);
        let mut gap_fills = Retries::new(RetryPolicy::GAP_FILL);
        loop {
            let request = ShardRequest::Apply { primary: ports.me, seq, op: op.clone(), wait };
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
                Ok(ApplyOutcome::Diverged) => {
                    return Err(CollectionError::Service(format!(
                        "replica {peer} of shard {shard_id} diverged at {seq}"
                    )));
                }
                // The replica has not applied the state that made this peer primary yet.
                Err(e) if is_not_primary(&e) && view_lag.pause().await => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Takes the order lock and, if this peer just became primary, adopts longer suffixes.
    pub(crate) async fn ensure_primary_synced(&self) -> Result<()> {
        let ports = self.ctx.cluster().ok_or_else(|| no_replica(self.shard_id))?;
        let _order = self.order.lock().await;
        let local = self.local().ok_or_else(|| no_replica(self.shard_id))?;
        if !self.is_primary_synced() {
            self.adopt_longest_suffix(&local, ports).await?;
        }
        Ok(())
    }

    /// Design record 003 §5: before a new primary orders writes, it asks the other replicas for
    /// their last sequence number and applies the records it lacks from the most advanced one, so
    /// that writes the old primary sent to some replicas are held by all (the gap mechanism then
    /// brings the others up). Unreachable replicas are left to the write path (→ `Dead`).
    async fn adopt_longest_suffix(&self, local: &Arc<LocalShard>, ports: &ClusterPorts) -> Result<()> {
        let mut best: Option<(PeerId, SeqNo)> = None;
        for (peer, _) in self.remote_updatable(ports.me) {
            // Fencing: every replica must see this peer as primary before it orders writes, so the
            // old primary can no longer get a write acknowledged (replicas refuse its `Apply`).
            let mut view_lag = Retries::new(RetryPolicy::VIEW_LAG);
            let last = loop {
                let request = ShardRequest::PrimaryLastSeq { primary: ports.me };
                let call = ports.transport.call(peer, self.ctx.name(), self.shard_id, request, SHARD_CALL_TIMEOUT);
                match call.await.and_then(ShardResponse::into_last_seq) {
                    Ok(last) => break Some(last),
                    Err(e) if is_not_primary(&e) && view_lag.pause().await => {}
                    Err(e) if is_not_primary(&e) => return Err(e),
                    Err(_) => break None, // unreachable: the write path deactivates it
                }
            };
            if let Some(last) = last
                && best.is_none_or(|(_, b)| last > b)
            {
                best = Some((peer, last));
            }
        }
        let mine = local.applied_seq();
        if let Some((peer, _)) = best.filter(|(_, last)| *last >= mine && mine > 0) {
            self.check_same_history(local, ports, peer, mine).await?;
        }
        if let Some((peer, last)) = best.filter(|(_, last)| *last > mine) {
            tracing::info!(
                shard_id = self.shard_id,
                peer,
                from = mine + 1,
                to = last,
                "new primary adopts a longer suffix"
            );
            let request = ShardRequest::WalRecords { from: mine + 1, to: last };
            let records = ports
                .transport
                .call(peer, self.ctx.name(), self.shard_id, request, SHARD_CALL_TIMEOUT)
                .await?
                .into_wal()?;
            for (seq, op) in records {
                let shard = Arc::clone(local);
                let task = tokio::task::spawn_blocking(move || shard.apply_at(seq, &op, true));
                match task.await.map_err(|e| service("apply task", e))?? {
                    ApplyOutcome::Applied | ApplyOutcome::Duplicate => {}
                    ApplyOutcome::Gap { .. } | ApplyOutcome::Diverged => {
                        return Err(CollectionError::Service(format!(
                            "shard {} cannot adopt the suffix of replica {peer} at {seq}",
                            self.shard_id
                        )));
                    }
                }
            }
        }
        self.set_primary_synced(true);
        Ok(())
    }

    /// Design record 007: under the order lock (no write can be acknowledged meanwhile) the
    /// transfer's target receives every record it misses, then the end of the transfer is
    /// recorded; the target turns `Active` holding every acknowledged write.
    pub(crate) async fn finish_transfer_as_primary(&self, from: PeerId, to: PeerId) -> Result<()> {
        let ports = self.ctx.cluster().ok_or_else(|| no_replica(self.shard_id))?;
        let _order = self.order.lock().await;
        if self.primary() != Some(ports.me) {
            return Err(not_primary(self, ports.me));
        }
        let local = self.local().ok_or_else(|| no_replica(self.shard_id))?;
        if !self.is_primary_synced() {
            self.adopt_longest_suffix(&local, ports).await?;
        }
        let request = ShardRequest::LastSeq;
        let theirs = ports
            .transport
            .call(to, self.ctx.name(), self.shard_id, request, SHARD_CALL_TIMEOUT)
            .await?
            .into_last_seq()?;
        let mine = local.applied_seq();
        if theirs > mine {
            return Err(CollectionError::Service(format!(
                "transfer target {to} of shard {} is ahead of the primary ({theirs} > {mine})",
                self.shard_id
            )));
        }
        if theirs < mine {
            let target = Target { shard_id: self.shard_id, local: &local, ports };
            self.fill_gap(&target, to, theirs + 1, mine).await?;
        }
        ports.control.finish_transfer(self.ctx.name(), self.shard_id, from, to).await
    }

    /// Before adopting `peer`'s suffix: its record at `mine` (this replica's last) must equal
    /// ours. A different one means this replica holds a write that was never acknowledged while
    /// the peer acknowledged another at that number: this replica is marked `Dead` (and recovered
    /// by a full copy) instead of ordering on top of it.
    async fn check_same_history(
        &self,
        local: &Arc<LocalShard>,
        ports: &ClusterPorts,
        peer: PeerId,
        mine: SeqNo,
    ) -> Result<()> {
        let request = ShardRequest::WalRecords { from: mine, to: mine };
        let records = ports.transport.call(peer, self.ctx.name(), self.shard_id, request, SHARD_CALL_TIMEOUT).await?;
        let Some((seq, op)) = records.into_wal()?.into_iter().next().filter(|(seq, _)| *seq == mine) else {
            return Ok(()); // the peer no longer holds it: nothing to compare
        };
        let shard = Arc::clone(local);
        let outcome = tokio::task::spawn_blocking(move || shard.apply_at(seq, &op, false))
            .await
            .map_err(|e| service("apply task", e))??;
        if outcome != ApplyOutcome::Diverged {
            return Ok(());
        }
        tracing::error!(shard_id = self.shard_id, peer, seq, "local replica diverged from the others; marking it Dead");
        let _ = ports.control.mark_dead(self.ctx.name(), self.shard_id, ports.me, ReplicaState::Active).await;
        Err(CollectionError::ShardUnavailable(format!(
            "replica {} of shard {} diverged at {seq} and is being recovered",
            ports.me, self.shard_id
        )))
    }

    /// A replica behind its primary pulls the records it misses from the primary's WAL (checking
    /// that its own last record matches); whether it is now current. A replica that diverged,
    /// or whose missing records the primary no longer holds, is marked `Dead` (recovered by a
    /// transfer).
    pub(crate) async fn catch_up(
        &self,
        local: &Arc<LocalShard>,
        ports: &ClusterPorts,
        primary: PeerId,
        primary_seq: SeqNo,
    ) -> bool {
        let mine = local.applied_seq();
        let request = ShardRequest::WalRecords { from: mine.max(1), to: primary_seq };
        let call = ports.transport.call(primary, self.ctx.name(), self.shard_id, request, SHARD_CALL_TIMEOUT);
        let Ok(records) = call.await.and_then(ShardResponse::into_wal) else { return false };
        let complete = records.first().is_some_and(|(seq, _)| *seq <= mine.max(1));
        let shard = Arc::clone(local);
        let applied = match complete {
            true => tokio::task::spawn_blocking(move || apply_caught_up(&shard, records)).await.unwrap_or(false),
            false => false,
        };
        if !applied && ports.control.is_connected() {
            tracing::warn!(
                shard_id = self.shard_id,
                primary,
                "replica cannot catch up from the primary's WAL; marking it Dead"
            );
            let state = self.local_state();
            let _ = ports.control.mark_dead(self.ctx.name(), self.shard_id, ports.me, state).await;
        }
        applied && local.applied_seq() >= primary_seq
    }

    async fn fill_gap(&self, target: &Target<'_>, peer: PeerId, from: SeqNo, to: SeqNo) -> Result<()> {
        let Target { shard_id, local, ports } = *target;
        let shard = Arc::clone(local);
        let records = tokio::task::spawn_blocking(move || shard.wal_records(from, to))
            .await
            .map_err(|e| service("read WAL", e))??;
        if records.first().map(|(s, _)| *s) != Some(from) {
            return Err(CollectionError::Service(format!(
                "replica {peer} of shard {shard_id} needs records from {from} that the WAL no longer holds"
            )));
        }
        let last_seq = records.last().map_or(0, |(s, _)| *s);
        for (seq, op) in records {
            // One fsync at the end covers the whole gap.
            let request = ShardRequest::Apply { primary: ports.me, seq, op, wait: seq == last_seq };
            let outcome = ports.transport.call(peer, self.ctx.name(), shard_id, request, SHARD_CALL_TIMEOUT).await?;
            if let ApplyOutcome::Gap { last } = outcome.into_applied()? {
                return Err(CollectionError::Service(format!(
                    "replica {peer} of shard {shard_id} lost records after {last}"
                )));
            }
        }
        Ok(())
    }
}

/// Applies a primary's records on a replica catching up; false on divergence or a gap.
fn apply_caught_up(shard: &LocalShard, records: Vec<(SeqNo, UpdateOperation)>) -> bool {
    let last = records.last().map_or(0, |(seq, _)| *seq);
    for (seq, op) in records {
        match shard.apply_at(seq, &op, seq == last) {
            Ok(ApplyOutcome::Applied | ApplyOutcome::Duplicate) => {}
            Ok(ApplyOutcome::Gap { .. } | ApplyOutcome::Diverged) | Err(_) => return false,
        }
    }
    true
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
fn is_not_primary(e: &CollectionError) -> bool {
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
