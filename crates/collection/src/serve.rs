//! Serving shard requests: from other peers (forwarded writes to the primary, ordered writes to
//! replicas, reads) and, for reads, from this peer's own read path, so local and remote replicas
//! answer the same way.

use crate::context::ClusterPorts;
use crate::error::{CollectionError, Result};
use crate::remote::{RecordBytes, ShardRequest, ShardResponse};
use crate::replica_set::ReplicaSet;
use crate::replication::{no_replica, not_primary};
use quiver_shard::{LocalShard, LoggedRecord, ReadNow, Tenure};
use quiver_types::query::{CoreSearch, ScrollRequest, WithPayload, WithVector};
use quiver_types::replica::ReplicaState;
use quiver_types::{PeerId, PointId, SeqNo};
use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

tokio::task_local! {
    /// The work units (`quiver_shard::ReadNow`) of local reads the request being served may
    /// still run on its async worker rather than on the blocking pool (design record 022); set
    /// with `with_inline_reads`. Absent means none.
    pub(crate) static INLINE_BUDGET: Cell<u64>;
}

/// The work a request's local reads may do on its async worker in all (≈ 1–2 ms): one graph
/// search on a large shard, a small shard's scan, a page or a retrieval of some hundreds of points.
pub const INLINE_READ_BUDGET: u64 = 1 << 21;

/// Runs `read` letting its local reads run on the calling worker up to `budget` work units
/// (`INLINE_READ_BUDGET` for one request; 0: every read on the blocking pool, as for batches).
///
/// Not an `async fn`: one holds its argument `read` beside the scoped future it moves `read`
/// into, so each such wrapper doubled the request's future (a search's reached 84 KB, copied
/// whenever the future moved).
pub fn with_inline_reads<F: std::future::Future>(budget: u64, read: F) -> impl std::future::Future<Output = F::Output> {
    INLINE_BUDGET.scope(Cell::new(budget), read)
}

/// Runs `read` with at most `budget` inline work units (`None`: the caller's budget).
pub(crate) fn limit_inline_reads<F: std::future::Future>(
    budget: Option<u64>,
    read: F,
) -> impl std::future::Future<Output = F::Output> {
    match budget {
        None => futures::future::Either::Left(read),
        Some(budget) => futures::future::Either::Right(with_inline_reads(budget, read)),
    }
}

/// A read `read_inline` may run on the calling worker.
enum CheapRead<'r> {
    Search(&'r CoreSearch),
    Scroll(&'r ScrollRequest),
    CountAll,
    Retrieve { ids: &'r [PointId], with_payload: &'r WithPayload, with_vector: &'r WithVector },
}

impl<'r> CheapRead<'r> {
    /// The reads that may be cheap: searches, unfiltered counts, retrievals and pages.
    fn of(request: &'r ShardRequest) -> Option<CheapRead<'r>> {
        match request {
            ShardRequest::Search(core) => Some(CheapRead::Search(core)),
            ShardRequest::Scroll(scroll) => Some(CheapRead::Scroll(scroll)),
            ShardRequest::Count(None) => Some(CheapRead::CountAll),
            ShardRequest::Retrieve { ids, with_payload, with_vector } => {
                Some(CheapRead::Retrieve { ids, with_payload, with_vector })
            }
            ShardRequest::Count(Some(_))
            | ShardRequest::Info
            | ShardRequest::Facet(_)
            | ShardRequest::SparseStats { .. }
            | ShardRequest::Versions(_)
            | ShardRequest::WalRecords { .. }
            | ShardRequest::WalRecordBytes { .. }
            | ShardRequest::LastSeq
            | ShardRequest::Digest
            | ShardRequest::ContentDigest
            | ShardRequest::Update { .. }
            | ShardRequest::Apply { .. }
            | ShardRequest::ApplyRecord { .. }
            | ShardRequest::SnapshotBegin
            | ShardRequest::SnapshotPage { .. }
            | ShardRequest::SnapshotFrames { .. }
            | ShardRequest::SnapshotEnd { .. }
            | ShardRequest::SnapshotCreate
            | ShardRequest::SnapshotChunk { .. }
            | ShardRequest::WalRange
            | ShardRequest::FinishTransfer { .. }
            | ShardRequest::TransferComment { .. }
            | ShardRequest::PrimaryLastSeq { .. }
            | ShardRequest::Versioned(_) => None,
        }
    }

    /// Its estimated work units on `now`'s table (`None`: no bound known in advance).
    fn cost(&self, now: &ReadNow<'_>) -> Option<u64> {
        match self {
            CheapRead::Search(core) => now.search_cost(core),
            CheapRead::Scroll(scroll) => now.scroll_cost(scroll),
            CheapRead::CountAll => Some(1),
            CheapRead::Retrieve { ids, with_vector, .. } => Some(now.retrieve_cost(ids.len(), with_vector)),
        }
    }

    fn run(self, now: &ReadNow<'_>) -> Result<ShardResponse> {
        Ok(match self {
            CheapRead::Search(core) => ShardResponse::Scored(now.search(core)?),
            CheapRead::Scroll(scroll) => ShardResponse::Page(now.scroll(scroll)?),
            CheapRead::CountAll => ShardResponse::Count(now.count_all()),
            CheapRead::Retrieve { ids, with_payload, with_vector } => {
                ShardResponse::Records(now.retrieve(ids, with_payload, with_vector))
            }
        })
    }
}

/// Reads running on async workers now, in this process.
static INLINE_RUNNING: AtomicUsize = AtomicUsize::new(0);

/// A place among the reads running on async workers: one fewer than the runtime's workers (at
/// least one), so a worker always remains for I/O, timers and the peers' RPCs. When they are
/// taken (a loaded server), reads go to the blocking pool as before.
pub(crate) struct InlineSlot(());

impl InlineSlot {
    pub(crate) fn take() -> Option<InlineSlot> {
        let workers = tokio::runtime::Handle::try_current().map_or(1, |h| h.metrics().num_workers());
        let limit = workers.saturating_sub(1).max(1);
        let taken = INLINE_RUNNING.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1));
        taken.ok().map(|_| InlineSlot(()))
    }
}

impl Drop for InlineSlot {
    fn drop(&mut self) {
        INLINE_RUNNING.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs `request` on this thread if it is cheap by construction (its estimate within the task's
/// remaining budget), no writer holds the shard's table and a worker stays free for the rest
/// (`InlineSlot`); `None`: run it on the blocking pool.
fn read_inline(shard: &LocalShard, request: &ShardRequest) -> Option<Result<ShardResponse>> {
    let budget = INLINE_BUDGET.try_with(Cell::get).ok().filter(|b| *b > 0)?;
    let read = CheapRead::of(request)?;
    let now = shard.try_read_now()?;
    let cost = read.cost(&now).filter(|c| *c <= budget)?;
    let _slot = InlineSlot::take()?;
    INLINE_BUDGET.with(|b| b.set(budget - cost));
    Some(read.run(&now))
}

/// Runs a read (or digest) against a local replica: on this thread when `read_inline` takes it,
/// else on a blocking thread.
pub(crate) async fn execute_read(shard: &Arc<LocalShard>, request: ShardRequest) -> Result<ShardResponse> {
    if let Some(answer) = read_inline(shard, &request) {
        return answer;
    }
    let shard = Arc::clone(shard);
    let task = tokio::task::spawn_blocking(move || -> Result<ShardResponse> {
        Ok(match request {
            ShardRequest::Search(core) => ShardResponse::Scored(shard.search(&core)?),
            ShardRequest::Scroll(scroll) => ShardResponse::Page(shard.scroll(&scroll)?),
            ShardRequest::Count(filter) => ShardResponse::Count(shard.count(filter.as_ref())?),
            ShardRequest::Facet(request) => ShardResponse::Facets(shard.facet(&request)?.into_iter().collect()),
            ShardRequest::SparseStats { name, dims } => {
                let (points, df) = shard.sparse_stats(&name, &dims);
                ShardResponse::SparseStats(points, df)
            }
            ShardRequest::Retrieve { ids, with_payload, with_vector } => {
                ShardResponse::Records(shard.retrieve(&ids, &with_payload, &with_vector))
            }
            ShardRequest::Versions(ids) => {
                ShardResponse::Versions(ids.iter().filter_map(|id| shard.point_version(id).map(|v| (*id, v))).collect())
            }
            ShardRequest::WalRecords { from, to } => ShardResponse::Wal(shard.wal_records(from, to)?),
            ShardRequest::WalRecordBytes { from, to } => ShardResponse::WalBytes(
                shard
                    .wal_record_bytes(from, to)?
                    .into_iter()
                    .map(|(seq, bytes)| (seq, RecordBytes::from(bytes)))
                    .collect(),
            ),
            ShardRequest::LastSeq => ShardResponse::LastSeq(shard.applied_seq()),
            ShardRequest::Info => ShardResponse::Info(crate::remote::ShardInfo::of(&shard)),
            ShardRequest::Digest => ShardResponse::Digest {
                digest: shard.legacy_digest(),
                points: shard.points_count(),
                last_seq: shard.applied_seq(),
            },
            ShardRequest::ContentDigest => ShardResponse::Digest {
                digest: shard.digest(),
                points: shard.points_count(),
                last_seq: shard.applied_seq(),
            },
            ShardRequest::Update { .. }
            | ShardRequest::Apply { .. }
            | ShardRequest::ApplyRecord { .. }
            | ShardRequest::SnapshotBegin
            | ShardRequest::SnapshotPage { .. }
            | ShardRequest::SnapshotFrames { .. }
            | ShardRequest::SnapshotEnd { .. }
            | ShardRequest::SnapshotCreate
            | ShardRequest::SnapshotChunk { .. }
            | ShardRequest::WalRange
            | ShardRequest::FinishTransfer { .. }
            | ShardRequest::TransferComment { .. }
            | ShardRequest::PrimaryLastSeq { .. }
            | ShardRequest::Versioned(_) => {
                return Err(CollectionError::Service("not a read".into()));
            }
        })
    });
    task.await.map_err(|e| CollectionError::Service(format!("shard read task: {e}")))?
}

/// Runs a read (`Versioned` or not) on a local replica, with the sequence number the replica
/// held before it.
pub(crate) async fn versioned_read(shard: &Arc<LocalShard>, request: ShardRequest) -> Result<ShardResponse> {
    let request = if let ShardRequest::Versioned(inner) = request { *inner } else { request };
    let seq = shard.applied_seq();
    let response = execute_read(shard, request).await?;
    Ok(ShardResponse::Versioned { seq, response: Box::new(response) })
}

impl ReplicaSet {
    /// The local replica if it may serve reads now: readable, and in cluster mode this peer is in
    /// contact with a quorum and has confirmed with the shard's primary that the replica is
    /// current (a returning peer never serves writes it missed).
    pub(crate) async fn servable_local(&self) -> Option<Arc<LocalShard>> {
        let local = self.readable_local()?;
        let Some(ports) = self.ctx.cluster() else { return Some(local) };
        if !ports.control.is_connected() {
            // Design record 003 §8: cut off, a peer nothing can be committed without keeps serving
            // a replica it had confirmed current: no replica of it can have been deactivated, and
            // writes are acknowledged without it only while its process is down (then it restarts
            // unconfirmed).
            return (ports.control.is_indispensable() && self.is_verified()).then_some(local);
        }
        if self.is_verified() {
            return Some(local);
        }
        let primary = self.primary()?;
        let current = match primary == ports.me {
            true => self.ensure_primary_synced().await.is_ok(),
            false => self.confirm_with_primary(&local, ports, primary).await,
        };
        self.set_verified(current);
        current.then_some(local)
    }

    /// Whether the local replica holds every write its primary acknowledged: its last seq is the
    /// primary's (or it caught up from the primary's WAL). A primary that cannot answer (killed,
    /// and not yet marked `Dead`) leaves the consensus barrier to decide.
    async fn confirm_with_primary(&self, local: &Arc<LocalShard>, ports: &ClusterPorts, primary: PeerId) -> bool {
        let call = ports.transport.call(
            primary,
            self.ctx.name(),
            self.shard_id,
            ShardRequest::LastSeq,
            Duration::from_secs(2),
        );
        let (current, result) = match call.await.and_then(ShardResponse::into_last_seq) {
            Ok(primary_seq) if local.applied_seq() >= primary_seq => (true, "current"),
            // Behind (it missed writes while its peer was down): catch up from the
            // primary's WAL before serving anything.
            Ok(primary_seq) => match self.catch_up(local, ports, primary, primary_seq).await {
                true => (true, "caught_up"),
                false => (false, "failed"),
            },
            Err(e) => {
                tracing::debug!(shard_id = self.shard_id, primary, error = %e, "primary did not confirm the replica");
                match self.confirm_by_consensus(ports).await {
                    true => (true, "consensus"),
                    false => (false, "failed"),
                }
            }
        };
        crate::metrics::REPLICA_CONFIRMATIONS.with_label_values(&[result]).inc();
        current
    }

    /// Confirms a replica this process had confirmed before and that stayed `Active` since (it
    /// was only unconfirmed by a lost contact): once this peer applied everything the Raft
    /// leader had committed when asked (a linearizable read barrier), a replica still `Active`
    /// holds every acknowledged write, because a write is acknowledged without a replica only
    /// after its `Dead` mark is committed (design record 003 §8).
    async fn confirm_by_consensus(&self, ports: &ClusterPorts) -> bool {
        if !self.confirmed_in_process() {
            return false;
        }
        if let Err(e) = ports.control.catch_up_metadata().await {
            tracing::debug!(shard_id = self.shard_id, error = %e, "read barrier failed");
            return false;
        }
        self.local_state() == ReplicaState::Active && self.confirmed_in_process()
    }

    /// Confirms the local replica current if it is `Active` and not confirmed yet (so a peer that
    /// is cut off later knows whether it may keep serving it).
    pub async fn verify(&self) {
        if self.has_local() && self.local_state() == ReplicaState::Active && !self.is_verified() {
            let _ = self.servable_local().await;
        }
    }

    /// Forgets the confirmation (this peer lost contact with the cluster).
    pub fn unverify(&self) {
        self.set_verified(false);
        self.set_primary_synced(false);
    }

    /// Applies a write the shard's primary ordered at `seq` (`Apply`, `ApplyRecord`).
    async fn apply_from(&self, from: Tenure, seq: SeqNo, record: LoggedRecord, wait: bool) -> Result<ShardResponse> {
        let primary = from.primary;
        let shard_id = self.shard_id;
        // Refusals that also mean "this peer serves no read of the shard" are
        // `NotReadable` (a primary feeding a departed replica relies on it).
        let local = self
            .local()
            .ok_or_else(|| CollectionError::NotReadable { shard_id, reason: "no replica on this peer".into() })?;
        if self.primary() != Some(primary) {
            return Err(not_primary(self, primary));
        }
        if !self.local_state().receives_updates() {
            return Err(CollectionError::NotReadable {
                shard_id,
                reason: format!("the replica is {:?} and takes no updates", self.local_state()),
            });
        }
        self.refuse_while_copying()?;
        let me = self.ctx.cluster().map(|ports| ports.me);
        // A vector name this peer has not applied yet would be skipped: catch up first.
        self.ctx.await_vector_names(record.op()).await?;
        self.await_predecessor(&local, seq).await;
        // A transfer's copy that began meanwhile brings this record.
        self.refuse_while_copying()?;
        let task = tokio::task::spawn_blocking(move || local.apply_logged_at(seq, &record, wait, Some(from)));
        let outcome = task.await.map_err(|e| CollectionError::Service(format!("apply task: {e}")));
        self.applied.notify_waiters();
        let outcome = outcome??;
        tracing::debug!(?me, shard_id, seq, primary, term = from.term, ?outcome, "applied a primary's record");
        Ok(ShardResponse::Applied(outcome))
    }

    /// A transfer target refuses records while its copy is being made (the copy brings them).
    fn refuse_while_copying(&self) -> Result<()> {
        match self.is_awaiting_copy() {
            true => Err(CollectionError::ShardUnavailable(format!(
                "replica of shard {} awaits its transfer copy",
                self.shard_id
            ))),
            false => Ok(()),
        }
    }

    /// Serves a request another peer sent to this peer's replica.
    pub async fn serve(self: &Arc<Self>, request: ShardRequest) -> Result<ShardResponse> {
        let shard_id = self.shard_id;
        match request {
            ShardRequest::Update { op, wait, seen_at } => {
                let ports = self.ctx.cluster().ok_or_else(|| no_replica(shard_id))?;
                if self.primary() != Some(ports.me) {
                    return Err(not_primary(self, ports.me));
                }
                let mut op = op;
                self.ctx.await_vector_names(&op).await?;
                crate::validate::prepare_operation(&self.ctx.config(), &mut op)?;
                tracing::debug!(peer = ports.me, shard_id, seen_at, "forwarded write");
                Ok(ShardResponse::Updated(self.update_as_primary(ports, op, wait, Some(seen_at)).await?))
            }
            ShardRequest::Apply { primary, seq, op, wait, term } => {
                self.apply_from(Tenure { primary, term }, seq, LoggedRecord::encode(op)?, wait).await
            }
            ShardRequest::ApplyRecord { primary, seq, record, wait, term } => {
                self.apply_from(Tenure { primary, term }, seq, LoggedRecord::decode(record)?, wait).await
            }
            ShardRequest::SnapshotBegin => {
                let local = self.local().ok_or_else(|| no_replica(shard_id))?;
                crate::transfer::freeze(self, &local).await
            }
            ShardRequest::SnapshotPage { token, offset, limit } => crate::transfer::page(self, token, offset, limit),
            ShardRequest::SnapshotFrames { token, offset, limit } => {
                crate::transfer::page_frames(self, token, offset, limit).await
            }
            ShardRequest::SnapshotEnd { token } => Ok(crate::transfer::release(self, token)),
            ShardRequest::SnapshotCreate => {
                let local = self.local().ok_or_else(|| no_replica(shard_id))?;
                crate::transfer::snapshot_create(self, &local).await
            }
            ShardRequest::SnapshotChunk { token, offset, len } => {
                crate::transfer::snapshot_chunk(self, token, offset, len).await
            }
            ShardRequest::WalRange => {
                let local = self.local().ok_or_else(|| no_replica(shard_id))?;
                Ok(ShardResponse::WalRange { first: local.wal_first_seq(), last: local.applied_seq() })
            }
            ShardRequest::FinishTransfer { from, to } => {
                self.finish_transfer_as_primary(from, to).await.map(|()| ShardResponse::Done)
            }
            ShardRequest::TransferComment { from, to } => Ok(ShardResponse::Comment(self.transfer_comment(from, to))),
            ShardRequest::PrimaryLastSeq { primary } => {
                let local = self.local().ok_or_else(|| no_replica(shard_id))?;
                // After any write this peer is ordering in place of a down primary.
                let _order = self.order.lock().await;
                if self.primary() != Some(primary) {
                    return Err(not_primary(self, primary));
                }
                Ok(ShardResponse::LastSeq(local.applied_seq()))
            }
            request @ (ShardRequest::Digest
            | ShardRequest::ContentDigest
            | ShardRequest::WalRecords { .. }
            | ShardRequest::WalRecordBytes { .. }
            | ShardRequest::LastSeq) => {
                let local = self.local().ok_or_else(|| no_replica(shard_id))?;
                execute_read(&local, request).await
            }
            read @ (ShardRequest::Search(_)
            | ShardRequest::Scroll(_)
            | ShardRequest::Count(_)
            | ShardRequest::Info
            | ShardRequest::Facet(_)
            | ShardRequest::SparseStats { .. }
            | ShardRequest::Retrieve { .. }
            | ShardRequest::Versions(_)) => {
                let local = self.servable_local().await.ok_or_else(|| self.not_readable())?;
                with_inline_reads(INLINE_READ_BUDGET, execute_read(&local, read)).await
            }
            ShardRequest::Versioned(read) => {
                let local = self.servable_local().await.ok_or_else(|| self.not_readable())?;
                with_inline_reads(INLINE_READ_BUDGET, versioned_read(&local, *read)).await
            }
        }
    }

    fn not_readable(&self) -> CollectionError {
        CollectionError::NotReadable {
            shard_id: self.shard_id,
            reason: format!("{:?}, or not confirmed current with its primary", self.local_state()),
        }
    }
}

/// How long a record that overtook its predecessor waits for it before the replica reports a
/// gap (the primary then sends the missing records from its WAL).
const PREDECESSOR_WAIT: Duration = Duration::from_secs(2);

impl ReplicaSet {
    /// Pipelined writes (design record 017): the primary has several writes of the shard on
    /// their way at once, so the record at `seq` may arrive before the one at `seq - 1`; it
    /// waits (bounded) for it to be applied rather than reporting a gap at once.
    async fn await_predecessor(&self, local: &LocalShard, seq: SeqNo) {
        let deadline = tokio::time::Instant::now() + PREDECESSOR_WAIT;
        loop {
            let applied = self.applied.notified();
            tokio::pin!(applied);
            applied.as_mut().enable();
            if local.applied_seq().saturating_add(1) >= seq {
                return;
            }
            if tokio::time::timeout_at(deadline, applied).await.is_err() {
                return;
            }
        }
    }
}
