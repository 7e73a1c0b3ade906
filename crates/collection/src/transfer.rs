//! Shard transfers, target side (design record 007): the target copies the shard from the source
//! by one of three methods, then asks the shard's primary to finish (the primary brings the
//! target up to date under its order lock and records the end through the control plane).
//!
//! - `stream_records`: the source freezes a consistent copy in memory; the target pages through
//!   it and installs it.
//! - `snapshot`: the source freezes a consistent copy and streams it as a shard snapshot (the
//!   bytes a snapshot file would hold, encoded as they are asked for); the target downloads it
//!   in chunks and restores it as the chunks arrive.
//!
//! Pages and snapshot frames carry point frames (raw little-endian vectors, design record 019);
//! the target decodes and installs each page on a blocking thread while it fetches the next one,
//! into a new table and checkpoint that replace the replica only once the copy is whole.
//! - `wal_delta`: the target keeps its data and applies the WAL records it misses from the
//!   source; when the source no longer holds them (or the histories differ) the transfer reports
//!   that a full method is needed.
//!
//! Writes the primary sends while the copy is in progress are refused by the target (a `Partial`
//! replica's failure deactivates nothing) and filled in from the primary's WAL afterwards.

use crate::error::{CollectionError, Result};
use crate::progress::TransferProgress;
use crate::remote::{ShardRequest, ShardResponse, is_not_understood};
use crate::replica_set::{FrozenCopy, ReplicaSet, TransferStream};
use crate::replication::{SHARD_CALL_TIMEOUT, no_replica};
use quiver_shard::{ApplyOutcome, LocalShard, LoggedRecord, ShardInstall, SnapshotRestore, StreamLimits};
use quiver_types::cluster::TransferMethod;
use quiver_types::{PeerId, SeqNo, ShardId};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Points per page of a `stream_records` transfer.
const PAGE_POINTS: usize = 2000;
/// Bytes per chunk of a `snapshot` download.
const CHUNK_BYTES: u32 = 8 << 20;
/// The most a source answers to one chunk request (a peer may ask for more).
const MAX_CHUNK_BYTES: u32 = 64 << 20;
/// A `snapshot` source's stream: expired after this long without a chunk request (its target
/// went away), and encoded at most a few chunks ahead of its target.
const STREAM_LIMITS: StreamLimits = StreamLimits { idle: Duration::from_secs(60), ahead_bytes: 4 * CHUNK_BYTES as u64 };
/// How long a frozen copy is kept without a page read (a target that went away).
pub(crate) const FROZEN_IDLE: Duration = Duration::from_secs(60);
/// How long a chunk request waits for bytes still being encoded (within the caller's timeout).
const CHUNK_WAIT: Duration = Duration::from_secs(5);
/// The most WAL records per request of a `wal_delta` transfer.
const DELTA_RECORDS: u64 = 1000;
/// How long one `wal_delta` request should take: records range from one point to batches of
/// thousands of vectors, so a request is sized by how long the previous one took, not by a
/// fixed count (1,000 records of 1,000 points each would be a 2 GB answer, over the transport's
/// message limit and the call's timeout).
const DELTA_REQUEST_TIME: Duration = Duration::from_millis(500);
/// Records before the target's last one that `wal_delta` compares with the source's, to detect
/// histories that differ (at most one write per shard is in flight when a primary fails).
const DELTA_OVERLAP: u64 = 16;

/// While it lives, the replica set's replica awaits a transfer copy (ordered writes refused).
struct AwaitingCopy<'a>(&'a ReplicaSet);

impl<'a> AwaitingCopy<'a> {
    fn mark(set: &'a ReplicaSet) -> AwaitingCopy<'a> {
        set.set_awaiting_copy(true);
        AwaitingCopy(set)
    }
}

impl Drop for AwaitingCopy<'_> {
    fn drop(&mut self) {
        self.0.set_awaiting_copy(false);
    }
}

/// How a copy ended.
#[derive(Debug)]
pub enum Copied {
    /// The local replica holds the copy (as of the source's sequence number).
    Done { points: usize, bytes: u64 },
    /// `wal_delta` cannot bring this replica up to date: a full method is needed.
    DeltaUnavailable(String),
}

fn service(context: &str, e: impl std::fmt::Display) -> CollectionError {
    CollectionError::Service(format!("{context}: {e}"))
}

async fn blocking<T: Send + 'static>(context: &str, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| service(context, e))
}

/// Source side: freezes a consistent copy of the local replica in memory.
pub(crate) async fn freeze(set: &ReplicaSet, local: &Arc<LocalShard>) -> Result<ShardResponse> {
    let shard = Arc::clone(local);
    let (seq, points) = blocking("snapshot task", move || shard.snapshot_points()).await?;
    let token = rand_token(seq, points.len());
    let total = points.len();
    let last_read = tokio::time::Instant::now();
    *set.frozen.lock() = Some(FrozenCopy { token, seq, points: Arc::new(points), last_read });
    expire_when_idle(Arc::clone(&set.frozen), token);
    Ok(ShardResponse::Snapshot { token, seq, total })
}

/// Drops frozen copy `token` once no page of it was read for [`FROZEN_IDLE`] (its target went
/// away without releasing it); a whole shard's points are not held for nothing.
fn expire_when_idle(slot: Arc<parking_lot::Mutex<Option<FrozenCopy>>>, token: u64) {
    tokio::spawn(async move {
        let mut wait = FROZEN_IDLE;
        loop {
            tokio::time::sleep(wait).await;
            let mut frozen = slot.lock();
            let Some(copy) = frozen.as_ref().filter(|c| c.token == token) else { return };
            let idle = copy.last_read.elapsed();
            if idle >= FROZEN_IDLE {
                tracing::info!(token, idle_s = idle.as_secs(), "transfer source: frozen copy expired (no page read)");
                *frozen = None;
                return;
            }
            wait = FROZEN_IDLE - idle;
        }
    });
}

/// The frozen copy of `token`, marked read now.
fn frozen_points(set: &ReplicaSet, token: u64) -> Result<Arc<Vec<quiver_shard::StoredPoint>>> {
    let mut frozen = set.frozen.lock();
    let copy = frozen
        .as_mut()
        .filter(|c| c.token == token)
        .ok_or_else(|| CollectionError::BadInput(format!("no frozen copy {token} of shard {}", set.shard_id)))?;
    copy.last_read = tokio::time::Instant::now();
    Ok(Arc::clone(&copy.points))
}

fn rand_token(seq: u64, len: usize) -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    nanos ^ seq.rotate_left(17) ^ (len as u64).rotate_left(40)
}

/// Source side: one page of the frozen copy.
pub(crate) fn page(set: &ReplicaSet, token: u64, offset: usize, limit: usize) -> Result<ShardResponse> {
    let points = frozen_points(set, token)?;
    let end = offset.saturating_add(limit).min(points.len());
    Ok(ShardResponse::Points(points.get(offset..end).map(<[_]>::to_vec).unwrap_or_default()))
}

/// Source side: one page of the frozen copy as a point frame (raw little-endian vectors).
pub(crate) async fn page_frames(set: &ReplicaSet, token: u64, offset: usize, limit: usize) -> Result<ShardResponse> {
    let points = frozen_points(set, token)?;
    blocking("page encoding task", move || {
        let end = offset.saturating_add(limit).min(points.len());
        let page = points.get(offset..end).unwrap_or_default();
        let frame = quiver_shard::encode_point_frame(page).map_err(|e| service("encode a page", e))?;
        Ok(ShardResponse::PointFrames { count: page.len(), frame })
    })
    .await?
}

/// Source side: drops the frozen copy or snapshot stream `token`.
pub(crate) fn release(set: &ReplicaSet, token: u64) -> ShardResponse {
    let mut frozen = set.frozen.lock();
    if frozen.as_ref().is_some_and(|c| c.token == token) {
        *frozen = None;
    }
    let mut stream = set.snapshot_stream.lock();
    if stream.as_ref().is_some_and(|s| s.token == token) {
        *stream = None; // dropping it stops its encoder
    }
    ShardResponse::Done
}

/// Source side: freezes a consistent copy of the local replica and starts streaming it as a
/// shard snapshot (replacing any earlier stream of this shard: one transfer per shard and
/// source at a time). The answer is the one a written file had: its exact size included.
pub(crate) async fn snapshot_create(set: &ReplicaSet, local: &Arc<LocalShard>) -> Result<ShardResponse> {
    let shard = Arc::clone(local);
    let stream = blocking("snapshot task", move || shard.stream_snapshot(STREAM_LIMITS)).await??;
    let info = stream.info();
    let token = rand_token(info.seq, info.points);
    *set.snapshot_stream.lock() = Some(TransferStream { token, stream: Arc::new(stream) });
    Ok(ShardResponse::SnapshotFile { token, seq: info.seq, points: info.points, bytes: info.bytes })
}

/// Source side: one chunk of the snapshot stream, once encoded.
pub(crate) async fn snapshot_chunk(set: &ReplicaSet, token: u64, offset: u64, len: u32) -> Result<ShardResponse> {
    let stream = set
        .snapshot_stream
        .lock()
        .as_ref()
        .filter(|s| s.token == token)
        .map(|s| Arc::clone(&s.stream))
        .ok_or_else(|| CollectionError::BadInput(format!("no snapshot {token} of shard {}", set.shard_id)))?;
    let len = len.min(MAX_CHUNK_BYTES);
    let bytes = blocking("snapshot read task", move || stream.read(offset, len, CHUNK_WAIT)).await??;
    Ok(ShardResponse::Bytes(bytes))
}

impl ReplicaSet {
    /// Target side: copies this shard from `source` into the local replica by `method`.
    /// `current` tells whether the transfer is still the one recorded by the control plane; the
    /// copy stops (with an error) as soon as it is not.
    pub async fn copy_from(
        &self,
        source: PeerId,
        method: TransferMethod,
        progress: &TransferProgress,
        current: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<Copied> {
        let shard_id = self.shard_id;
        let local = self.local().ok_or_else(|| no_replica(shard_id))?;
        // Cleared however the copy ends, cancellation included.
        let _awaiting = AwaitingCopy::mark(self);
        match method {
            TransferMethod::StreamRecords | TransferMethod::ReshardingStreamRecords => {
                self.stream_records(local, source, progress, current).await
            }
            TransferMethod::Snapshot => self.snapshot_transfer(local, source, progress, current).await,
            TransferMethod::WalDelta => self.wal_delta(local, source, progress, current).await,
        }
    }

    fn call_source<'a>(
        &'a self,
        source: PeerId,
        shard_id: ShardId,
        request: ShardRequest,
    ) -> impl std::future::Future<Output = Result<ShardResponse>> + 'a {
        let transport = self.ctx.cluster().map(|ports| Arc::clone(&ports.transport));
        async move {
            let transport = transport.ok_or_else(|| no_replica(shard_id))?;
            transport.call(source, self.ctx.name(), shard_id, request, SHARD_CALL_TIMEOUT).await
        }
    }

    async fn stream_records(
        &self,
        local: Arc<LocalShard>,
        source: PeerId,
        progress: &TransferProgress,
        current: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<Copied> {
        let shard_id = self.shard_id;
        progress.set_stage("proxifying");
        let (token, seq, total) =
            self.call_source(source, shard_id, ShardRequest::SnapshotBegin).await?.into_snapshot()?;
        progress.set_stage("transferring");
        let begun_ms = progress.started.elapsed().as_millis();
        // Where the copy waited: for the source's pages, and for the previous page's install.
        let (mut fetch, mut install_wait) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
        let shard = Arc::clone(&local);
        // The page being installed while the next one is fetched (design record 019).
        let mut installing = tokio::task::spawn_blocking(move || shard.begin_install().map_err(CollectionError::from));
        let mut offset = 0;
        while offset < total {
            check_current(current, shard_id)?;
            let request = ShardRequest::SnapshotFrames { token, offset, limit: PAGE_POINTS };
            let asked = std::time::Instant::now();
            let (count, frame) = self.call_source(source, shard_id, request).await?.into_point_frames()?;
            fetch += asked.elapsed();
            if count == 0 {
                return Err(service("transfer", format!("shard {shard_id} copy ended early")));
            }
            offset += count;
            progress.add(count as u64, frame.len() as u64);
            let waited = std::time::Instant::now();
            let mut install = joined(installing).await?;
            install_wait += waited.elapsed();
            installing = tokio::task::spawn_blocking(move || -> Result<ShardInstall> {
                match install.add_frame(frame)? {
                    added if added == count => Ok(install),
                    added => Err(service("transfer", format!("a page said {count} points and held {added}"))),
                }
            });
        }
        let waited = std::time::Instant::now();
        let install = joined(installing).await?;
        install_wait += waited.elapsed();
        let _ = self.call_source(source, shard_id, ShardRequest::SnapshotEnd { token }).await;
        progress.set_stage("finalizing");
        check_current(current, shard_id)?;
        let copied_ms = progress.started.elapsed().as_millis();
        blocking("install task", move || local.finish_install(install, seq)).await??;
        tracing::info!(
            shard_id,
            total,
            begun_ms,
            fetch_ms = fetch.as_millis(),
            install_wait_ms = install_wait.as_millis(),
            copied_ms,
            installed_ms = progress.started.elapsed().as_millis(),
            "stream_records copy"
        );
        Ok(Copied::Done { points: total, bytes: progress.bytes.load(Ordering::Relaxed) })
    }

    async fn snapshot_transfer(
        &self,
        local: Arc<LocalShard>,
        source: PeerId,
        progress: &TransferProgress,
        current: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<Copied> {
        let shard_id = self.shard_id;
        progress.set_stage("creating snapshot");
        let created = self.call_source(source, shard_id, ShardRequest::SnapshotCreate).await?;
        let ShardResponse::SnapshotFile { token, points, bytes, .. } = created else {
            return Err(crate::remote::unexpected(&created));
        };
        let created_ms = progress.started.elapsed().as_millis();
        let restored = self.download_and_restore(&local, source, token, bytes, progress, current).await;
        let _ = self.call_source(source, shard_id, ShardRequest::SnapshotEnd { token }).await;
        let restore = restored?;
        let downloaded_ms = progress.started.elapsed().as_millis();
        progress.set_stage("restoring");
        check_current(current, shard_id)?;
        let info = blocking("restore task", move || restore.finish(&local)).await??;
        let restored_ms = progress.started.elapsed().as_millis();
        tracing::info!(shard_id, bytes, created_ms, downloaded_ms, restored_ms, "snapshot copy");
        progress.add(points as u64, 0);
        Ok(Copied::Done { points: info.points, bytes: info.bytes })
    }

    /// Downloads the source's snapshot file in chunks, each installed (streamed decode) while
    /// the next one is fetched; nothing is written to a file on this side.
    async fn download_and_restore(
        &self,
        local: &Arc<LocalShard>,
        source: PeerId,
        token: u64,
        total: u64,
        progress: &TransferProgress,
        current: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<SnapshotRestore> {
        let shard_id = self.shard_id;
        progress.set_stage("downloading");
        let shard = Arc::clone(local);
        let mut restoring = tokio::task::spawn_blocking(move || {
            shard.begin_install().map(SnapshotRestore::new).map_err(CollectionError::from)
        });
        let mut offset = 0u64;
        while offset < total {
            check_current(current, shard_id)?;
            let request = ShardRequest::SnapshotChunk { token, offset, len: CHUNK_BYTES };
            let chunk = self.call_source(source, shard_id, request).await?.into_bytes()?;
            if chunk.is_empty() {
                return Err(service("transfer", format!("snapshot of shard {shard_id} ended early")));
            }
            offset += chunk.len() as u64;
            progress.add(0, chunk.len() as u64);
            let mut restore = joined(restoring).await?;
            restoring = tokio::task::spawn_blocking(move || -> Result<SnapshotRestore> {
                restore.push(&chunk)?;
                Ok(restore)
            });
        }
        joined(restoring).await
    }

    async fn wal_delta(
        &self,
        local: Arc<LocalShard>,
        source: PeerId,
        progress: &TransferProgress,
        current: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<Copied> {
        let shard_id = self.shard_id;
        progress.set_stage("recovering");
        let (first, last) = self.call_source(source, shard_id, ShardRequest::WalRange).await?.into_wal_range()?;
        let mine = local.applied_seq();
        if mine > last {
            return Ok(Copied::DeltaUnavailable(format!("replica is ahead of the source ({mine} > {last})")));
        }
        let from = mine.saturating_sub(DELTA_OVERLAP).max(first).max(1);
        if from > mine + 1 || (mine > 0 && first > mine) {
            return Ok(Copied::DeltaUnavailable(format!("the source's WAL starts at {first}, past {mine}")));
        }
        // The next request is fetched while the records of the previous one are applied (in
        // order: a batch is applied only after the one before it). Whatever ends the loop, the
        // batch being applied is waited for, so no apply outlives this transfer.
        let mut applying = None;
        let fetched = self.fetch_deltas(&local, source, (from, last), progress, current, &mut applying).await;
        let last_batch = applied(applying.take(), progress).await;
        if let Some(reason) = fetched?.or(last_batch?) {
            return Ok(Copied::DeltaUnavailable(reason));
        }
        let shard = Arc::clone(&local);
        blocking("WAL sync task", move || shard.sync()).await??;
        Ok(Copied::Done { points: local.points_count(), bytes: 0 })
    }

    /// Fetches records `range` from `source` and starts applying each batch after the previous
    /// one was applied; `Some(reason)` when the delta cannot bring the replica up to date.
    async fn fetch_deltas(
        &self,
        local: &Arc<LocalShard>,
        source: PeerId,
        (mut next, last): (SeqNo, SeqNo),
        progress: &TransferProgress,
        current: &(dyn Fn() -> bool + Send + Sync),
        applying: &mut Option<Applying>,
    ) -> Result<Option<String>> {
        let (shard_id, mut batch) = (self.shard_id, 1);
        // A source that predates `WalRecordBytes` is asked for decoded records (design record 027).
        let mut as_bytes = true;
        while next <= last {
            check_current(current, shard_id)?;
            let to = (next + batch - 1).min(last);
            let asked = std::time::Instant::now();
            let records = match self.fetch_delta(source, (next, to), as_bytes).await {
                Err(e) if as_bytes && is_not_understood(&e) => {
                    as_bytes = false;
                    continue;
                }
                fetched => fetched?,
            };
            batch = next_delta_batch(batch, asked.elapsed());
            if let Some(reason) = applied(applying.take(), progress).await? {
                return Ok(Some(reason));
            }
            if records.first().map(|(s, _)| *s) != Some(next) {
                return Ok(Some(format!("the source no longer holds record {next}")));
            }
            next = records.last().map_or(next, |(s, _)| s + 1);
            let count = records.len() as u64;
            let shard = Arc::clone(local);
            *applying = Some((count, tokio::task::spawn_blocking(move || apply_delta(&shard, records))));
        }
        Ok(None)
    }

    /// Records `from ..= to` of `source`'s WAL, as stored bytes or (`as_bytes` false) decoded.
    async fn fetch_delta(
        &self,
        source: PeerId,
        (from, to): (SeqNo, SeqNo),
        as_bytes: bool,
    ) -> Result<Vec<(SeqNo, Delta)>> {
        let shard_id = self.shard_id;
        Ok(match as_bytes {
            true => {
                let response = self.call_source(source, shard_id, ShardRequest::WalRecordBytes { from, to }).await?;
                response
                    .into_wal_bytes()?
                    .into_iter()
                    .map(|(seq, bytes)| (seq, Delta::Bytes(bytes.into_vec())))
                    .collect()
            }
            false => {
                let response = self.call_source(source, shard_id, ShardRequest::WalRecords { from, to }).await?;
                response.into_wal()?.into_iter().map(|(seq, op)| (seq, Delta::Op(op))).collect()
            }
        })
    }

    /// The progress comment of transfer `from -> to`, asked of its target (`None` if unknown or
    /// the target does not answer within 300 ms).
    pub async fn ask_transfer_comment(&self, from: PeerId, to: PeerId) -> Option<String> {
        let shard_id = self.shard_id;
        let ports = self.ctx.cluster()?;
        if to == ports.me {
            return self.transfer_comment(from, to);
        }
        let request = ShardRequest::TransferComment { from, to };
        let timeout = std::time::Duration::from_millis(300);
        ports.transport.call(to, self.ctx.name(), shard_id, request, timeout).await.ok()?.into_comment().ok()?
    }

    /// Target side: asks the shard's primary to bring this replica up to date and record the
    /// end of transfer `from -> to`.
    pub async fn finish_transfer(&self, from: PeerId, to: PeerId) -> Result<()> {
        let shard_id = self.shard_id;
        let ports = self.ctx.cluster().ok_or_else(|| no_replica(shard_id))?;
        let primary = self.primary().ok_or_else(|| no_replica(shard_id))?;
        if primary == ports.me {
            return self.finish_transfer_as_primary(from, to).await;
        }
        let request = ShardRequest::FinishTransfer { from, to };
        ports.transport.call(primary, self.ctx.name(), shard_id, request, SHARD_CALL_TIMEOUT * 3).await.map(|_| ())
    }
}

/// The records to ask for after a request of `records` took `took`: as many as take about
/// [`DELTA_REQUEST_TIME`], growing at most 4× per request, between 1 and [`DELTA_RECORDS`].
fn next_delta_batch(records: u64, took: Duration) -> u64 {
    let per_record = took.as_secs_f64().max(1e-6) / records.max(1) as f64;
    let fitting = (DELTA_REQUEST_TIME.as_secs_f64() / per_record) as u64;
    fitting.min(records.saturating_mul(4)).clamp(1, DELTA_RECORDS)
}

/// A WAL record fetched by `wal_delta`: as the source stored it, or decoded by an older source.
enum Delta {
    Bytes(Vec<u8>),
    Op(quiver_types::ops::UpdateOperation),
}

/// Applies WAL records on a target (logging the source's bytes as they are); `Some(reason)`
/// when the histories differ.
fn apply_delta(shard: &LocalShard, records: Vec<(SeqNo, Delta)>) -> Result<Option<String>> {
    for (seq, record) in records {
        let record = match record {
            Delta::Bytes(bytes) => LoggedRecord::decode(bytes)?,
            Delta::Op(op) => LoggedRecord::encode(op)?,
        };
        match shard.apply_logged_at(seq, &record, false, None)? {
            ApplyOutcome::Applied | ApplyOutcome::Duplicate => {}
            ApplyOutcome::Diverged => return Ok(Some(format!("the replica's record {seq} differs from the source's"))),
            ApplyOutcome::Gap { last } => return Ok(Some(format!("gap after {last}"))),
            // Only a primary's records (with a tenure) can be stale.
            ApplyOutcome::Stale => return Ok(Some(format!("record {seq} refused as stale"))),
        }
    }
    Ok(None)
}

/// A `wal_delta` batch being applied: its record count and the task applying it.
type Applying = (u64, tokio::task::JoinHandle<Result<Option<String>>>);

/// Waits for a `wal_delta` batch being applied (if any) and counts it; `Some(reason)` when the
/// histories differ.
async fn applied(applying: Option<Applying>, progress: &TransferProgress) -> Result<Option<String>> {
    let Some((count, task)) = applying else { return Ok(None) };
    let outcome = joined(task).await?;
    if outcome.is_none() {
        progress.add(count, 0);
    }
    Ok(outcome)
}

/// The result of a blocking install step.
async fn joined<T>(task: tokio::task::JoinHandle<Result<T>>) -> Result<T> {
    task.await.map_err(|e| service("install task", e))?
}

fn check_current(current: &(dyn Fn() -> bool + Send + Sync), shard_id: ShardId) -> Result<()> {
    match current() {
        true => Ok(()),
        false => Err(CollectionError::Service(format!("the transfer of shard {shard_id} was aborted or restarted"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_requests_are_sized_by_how_long_the_last_one_took() {
        let ms = Duration::from_millis;
        // Small records: grows 4× per request up to the cap.
        assert_eq!(next_delta_batch(1, ms(1)), 4);
        assert_eq!(next_delta_batch(256, ms(10)), DELTA_RECORDS);
        assert_eq!(next_delta_batch(DELTA_RECORDS, ms(1)), DELTA_RECORDS);
        // Records of 2 MB (≈ 50 ms each): about half a second's worth.
        assert_eq!(next_delta_batch(16, ms(800)), 10);
        // A request slower than the target shrinks the next one, never below one record.
        assert_eq!(next_delta_batch(1, Duration::from_secs(20)), 1);
        assert_eq!(next_delta_batch(100, Duration::from_secs(10)), 5);
    }
}
