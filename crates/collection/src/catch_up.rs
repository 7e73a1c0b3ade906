//! Bringing replicas of a shard to the same records (design records 003 and 007): a new primary
//! adopts the longest suffix its replicas hold, a replica behind its primary pulls what it
//! missed, a primary fills a replica's gap from its WAL (also as a periodic repair), and a
//! transfer's target receives every record it misses before it turns `Active`.

use crate::context::ClusterPorts;
use crate::error::{CollectionError, Result};
use crate::remote::{ShardRequest, ShardResponse};
use crate::replica_set::ReplicaSet;
use crate::replication::{SHARD_CALL_TIMEOUT, Target, is_not_primary, no_replica, not_primary, service};
use crate::retry::{Retries, RetryPolicy};
use quiver_shard::{ApplyOutcome, LocalShard};
use quiver_types::ops::UpdateOperation;
use quiver_types::replica::ReplicaState;
use quiver_types::{PeerId, SeqNo};
use std::sync::Arc;
use std::time::Duration;

/// How often a primary compares its replicas with its own last sequence number.
const REPAIR_EVERY: Duration = Duration::from_secs(5);
/// How long a repair round waits for a replica's last sequence number.
const REPAIR_CALL_TIMEOUT: Duration = Duration::from_secs(2);

impl ReplicaSet {
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
        let target = Target { shard_id: self.shard_id, local: &local, ports, term: self.current_term() };
        // A replica that catches up by its own path (a transfer's target: its finish fills the
        // gap under the order lock) is not repaired here: it may hold nothing yet, and reading
        // the whole WAL for it would only fail at its first record.
        let repaired = self.remote_updatable(ports.me).into_iter().filter(|(_, state)| !state.catches_up());
        for (peer, state) in repaired {
            let request = ShardRequest::LastSeq;
            let call = ports.transport.call(peer, self.ctx.name(), self.shard_id, request, REPAIR_CALL_TIMEOUT);
            let Ok(theirs) = call.await.and_then(ShardResponse::into_last_seq) else {
                self.lagging.store(true, Ordering::Release);
                continue;
            };
            self.set_replica_seq(peer, theirs);
            let filled = match theirs < mine {
                true => self.fill_gap(&target, peer, theirs + 1, mine).await,
                false => Ok(()),
            };
            match filled {
                Ok(()) => self.note_replica_seq(peer, mine),
                // It cannot take this primary's records: only a copy recovers it.
                Err(e @ CollectionError::Diverged { .. }) => {
                    tracing::warn!(shard_id = self.shard_id, peer, error = %e, "replica diverged; marking it Dead");
                    let _ = ports.control.mark_dead(self.ctx.name(), self.shard_id, peer, state).await;
                    self.lagging.store(true, Ordering::Release);
                }
                Err(_) => self.lagging.store(true, Ordering::Release),
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
    pub(crate) async fn adopt_longest_suffix(&self, local: &Arc<LocalShard>, ports: &ClusterPorts) -> Result<()> {
        let mut lasts: Vec<(SeqNo, PeerId, ReplicaState)> = Vec::new();
        for (peer, state) in self.remote_updatable(ports.me) {
            if let Some(last) = self.fenced_last_seq(ports, peer).await? {
                lasts.push((last, peer, state));
            }
        }
        // Most advanced first.
        lasts.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mine = local.applied_seq();
        if let Some((_, peer, _)) = lasts.first().filter(|(last, _, _)| *last >= mine && mine > 0) {
            self.check_same_history(local, ports, *peer, mine).await?;
        }
        for (last, peer, state) in lasts.into_iter().filter(|(last, _, _)| *last > mine) {
            if self.adopt_suffix(local, ports, (peer, state), mine + 1, last).await? {
                break;
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
            let target = Target { shard_id: self.shard_id, local: &local, ports, term: self.current_term() };
            self.fill_gap(&target, to, theirs + 1, mine).await?;
        }
        ports.control.finish_transfer(self.ctx.name(), self.shard_id, from, to).await
    }

    /// `peer`'s last sequence number, answered only once it sees this peer as the primary
    /// (fencing: the old primary can no longer get a write acknowledged, as replicas refuse its
    /// `Apply`); `None` if it cannot be reached (the write path deactivates it).
    async fn fenced_last_seq(&self, ports: &ClusterPorts, peer: PeerId) -> Result<Option<SeqNo>> {
        let mut view_lag = Retries::new(RetryPolicy::VIEW_LAG);
        loop {
            let request = ShardRequest::PrimaryLastSeq { primary: ports.me };
            let call = ports.transport.call(peer, self.ctx.name(), self.shard_id, request, SHARD_CALL_TIMEOUT);
            match call.await.and_then(ShardResponse::into_last_seq) {
                Ok(last) => return Ok(Some(last)),
                Err(e) if is_not_primary(&e) && view_lag.pause().await => {}
                Err(e) if is_not_primary(&e) => return Err(e),
                Err(_) => return Ok(None),
            }
        }
    }

    /// Applies `peer`'s records `from ..= to` to the local replica; whether it could. A replica
    /// whose WAL no longer holds them all (it was filled by a transfer, or checkpointed) cannot
    /// give them: if it is `Active`, this replica misses records an `Active` one holds and steps
    /// down (marked `Dead`, recovered by a copy; the next primary holds them); a replica in any
    /// other state holds nothing acknowledged that this one lacks (its extra records are refused
    /// as divergent later), and the next one is asked.
    async fn adopt_suffix(
        &self,
        local: &Arc<LocalShard>,
        ports: &ClusterPorts,
        (peer, state): (PeerId, ReplicaState),
        from: SeqNo,
        to: SeqNo,
    ) -> Result<bool> {
        let shard_id = self.shard_id;
        let request = ShardRequest::WalRecords { from, to };
        let records =
            ports.transport.call(peer, self.ctx.name(), shard_id, request, SHARD_CALL_TIMEOUT).await?.into_wal()?;
        let whole = records.len() as u64 == to - from + 1 && records.first().is_some_and(|(seq, _)| *seq == from);
        if !whole {
            if state != ReplicaState::Active {
                return Ok(false);
            }
            tracing::warn!(
                shard_id,
                peer,
                from,
                to,
                "new primary cannot fetch records an Active replica holds; stepping down"
            );
            return Err(self
                .step_down(ports, &format!("misses records {from}..={to} that replica {peer} holds"))
                .await);
        }
        tracing::info!(shard_id, peer, from, to, "new primary adopts a longer suffix");
        for (seq, op) in records {
            let shard = Arc::clone(local);
            let task = tokio::task::spawn_blocking(move || shard.apply_at(seq, &op, true));
            match task.await.map_err(|e| service("apply task", e))?? {
                ApplyOutcome::Applied | ApplyOutcome::Duplicate => {}
                ApplyOutcome::Gap { .. } | ApplyOutcome::Diverged | ApplyOutcome::Stale => {
                    return Err(CollectionError::Service(format!(
                        "shard {shard_id} cannot adopt the suffix of replica {peer} at {seq}"
                    )));
                }
            }
        }
        Ok(true)
    }

    /// Marks the local replica `Dead` (it is recovered by a copy) and gives the error that
    /// refuses the write meanwhile.
    async fn step_down(&self, ports: &ClusterPorts, why: &str) -> CollectionError {
        let state = self.local_state();
        let _ = ports.control.mark_dead(self.ctx.name(), self.shard_id, ports.me, state).await;
        CollectionError::ShardUnavailable(format!(
            "replica {} of shard {} {why} and is being recovered",
            ports.me, self.shard_id
        ))
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
        Err(self.step_down(ports, &format!("diverged at {seq}")).await)
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
        self.applied.notify_waiters();
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

    pub(crate) async fn fill_gap(&self, target: &Target<'_>, peer: PeerId, from: SeqNo, to: SeqNo) -> Result<()> {
        let Target { shard_id, local, ports, term } = *target;
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
            let request = ShardRequest::Apply { primary: ports.me, seq, op, wait: seq == last_seq, term };
            let outcome = ports.transport.call(peer, self.ctx.name(), shard_id, request, SHARD_CALL_TIMEOUT).await?;
            match outcome.into_applied()? {
                ApplyOutcome::Applied | ApplyOutcome::Duplicate => {}
                ApplyOutcome::Gap { last } => {
                    return Err(CollectionError::Service(format!(
                        "replica {peer} of shard {shard_id} lost records after {last}"
                    )));
                }
                ApplyOutcome::Diverged => return Err(CollectionError::Diverged { shard_id, peer, seq }),
                ApplyOutcome::Stale => return Err(not_primary(self, ports.me)),
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
            Ok(ApplyOutcome::Gap { .. } | ApplyOutcome::Diverged | ApplyOutcome::Stale) | Err(_) => return false,
        }
    }
    true
}
