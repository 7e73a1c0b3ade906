//! Anti-entropy by content (DESIGN §3.2): the primary of a shard periodically compares its
//! replica's content digest with each other `Active` replica's, when both hold the same sequence
//! number, and counts the outcome (`quiver_digest_checks_total`). A mismatch means replicas that
//! applied the same records hold different data: it is logged as an error for the operator, who
//! can drop the bad replica (`drop_replica`) to have it copied again. When writes keep the
//! replicas at different sequence numbers check after check, one check holds the shard's writes
//! back until the replicas answer at one sequence number (design record 052).

use crate::collection::Collection;
use crate::context::ClusterPorts;
use crate::metrics::DIGEST_CHECKS;
use crate::remote::{ShardRequest, ShardResponse};
use crate::replica_set::ReplicaSet;
use crate::serve::execute_read;
use quiver_shard::LocalShard;
use quiver_types::replica::ReplicaState;
use quiver_types::{PeerId, SeqNo};
use std::sync::Arc;
use std::time::Duration;

/// How long a replica may take to compute and send its digest.
const DIGEST_CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Checks in a row that compared no replica because writes moved the sequence numbers on while
/// the digests were read; the next check is fenced: it holds the shard's writes back.
pub(crate) const FENCE_AFTER_SKIPS: u32 = 3;

/// How long a fenced check waits for one replica (the shard's new writes wait as long).
const FENCED_WAIT: Duration = Duration::from_secs(5);

/// Pause before asking again a replica that has not applied the fenced sequence number yet.
const FENCED_RETRY: Duration = Duration::from_millis(10);

/// The local replica's digest and the sequence number it was computed at; `None` if a write was
/// applied while it was computed.
async fn consistent_digest(local: &Arc<LocalShard>) -> Option<(SeqNo, u64)> {
    let before = local.applied_seq();
    let (digest, _, after) = execute_read(local, ShardRequest::ContentDigest).await.ok()?.into_digest().ok()?;
    (before == after).then_some((after, digest))
}

/// A remote replica's digest and sequence number, if no write was applied there meanwhile.
fn remote_digest(answer: ShardResponse) -> Option<(SeqNo, u64)> {
    let (before, inner) = answer.into_versioned().ok()?;
    let (digest, _, after) = inner.into_digest().ok()?;
    (before == after).then_some((after, digest))
}

/// What a replica answered for the primary's sequence number.
enum RemoteDigest {
    /// Its digest at that sequence number.
    At(u64),
    /// It was at another one (writes in flight), or applied one while it computed.
    Moved,
    /// No answer: unreachable, or it predates the content digest.
    Unanswered,
}

impl ReplicaSet {
    /// As the shard's primary, at most once per `every`: compares digests with the other
    /// `Active` replicas at one sequence number. Replicas that moved on (writes in flight) are
    /// compared next time; after [`FENCE_AFTER_SKIPS`] such checks in a row (a steady stream of
    /// writes), the next one holds the shard's order lock, so no write is ordered until every
    /// replica has applied the last one and answered (at most [`FENCED_WAIT`] each).
    pub async fn check_digests(&self, every: Duration) {
        let (Some(ports), Some(local)) = (self.ctx.cluster(), self.local()) else { return };
        if self.primary() != Some(ports.me) {
            return;
        }
        let fenced = {
            let mut checks = self.digest_checks.lock();
            if checks.last.is_some_and(|at| at.elapsed() < every) {
                return;
            }
            checks.last = Some(tokio::time::Instant::now());
            checks.skipped >= FENCE_AFTER_SKIPS
        };
        let others: Vec<_> = self
            .states()
            .into_iter()
            .filter(|(peer, state)| *peer != ports.me && *state == ReplicaState::Active)
            .map(|(peer, _)| peer)
            .collect();
        if others.is_empty() {
            return;
        }
        let moved = match fenced {
            true => {
                let _order = self.order.lock().await;
                if self.primary() != Some(ports.me) {
                    return;
                }
                tracing::debug!(collection = %self.ctx.name(), shard_id = self.shard_id, "digest check with writes held back");
                self.compare_digests(ports, &local, others, Some(FENCED_WAIT)).await
            }
            false => self.compare_digests(ports, &local, others, None).await,
        };
        // A fenced check starts the count again whatever it found: writes are held back at
        // most once every `FENCE_AFTER_SKIPS + 1` checks.
        let mut checks = self.digest_checks.lock();
        checks.skipped = if moved && !fenced { checks.skipped + 1 } else { 0 };
    }

    /// Compares the local digest with each of `others`' at the local sequence number; whether
    /// any replica was skipped because a write moved the sequence numbers on.
    async fn compare_digests(
        &self,
        ports: &ClusterPorts,
        local: &Arc<LocalShard>,
        others: Vec<PeerId>,
        fence: Option<Duration>,
    ) -> bool {
        let Some((seq, mine)) = consistent_digest(local).await else { return true };
        let mut moved = false;
        for peer in others {
            match self.remote_digest_at(ports, peer, seq, fence).await {
                RemoteDigest::At(theirs) if local.applied_seq() == seq => self.count_digests(peer, seq, mine, theirs),
                RemoteDigest::At(_) | RemoteDigest::Moved => moved = true,
                RemoteDigest::Unanswered => {}
            }
        }
        moved
    }

    /// `peer`'s digest if it answers at `seq`; with a `fence`, a replica behind `seq` (the
    /// writes sent before the fence still reaching it) is asked again until then.
    async fn remote_digest_at(
        &self,
        ports: &ClusterPorts,
        peer: PeerId,
        seq: SeqNo,
        fence: Option<Duration>,
    ) -> RemoteDigest {
        let deadline = fence.map(|wait| tokio::time::Instant::now() + wait);
        loop {
            let timeout =
                deadline.map_or(DIGEST_CALL_TIMEOUT, |d| d.saturating_duration_since(tokio::time::Instant::now()));
            // A peer that predates the content digest refuses the request: it is not compared.
            let request = ShardRequest::Versioned(Box::new(ShardRequest::ContentDigest));
            let call = ports.transport.call(peer, self.ctx.name(), self.shard_id, request, timeout);
            let Ok(answer) = call.await else { return RemoteDigest::Unanswered };
            let again = deadline.is_some_and(|d| tokio::time::Instant::now() + FENCED_RETRY < d);
            match remote_digest(answer) {
                Some((theirs_seq, theirs)) if theirs_seq == seq => return RemoteDigest::At(theirs),
                Some((theirs_seq, _)) if theirs_seq > seq => return RemoteDigest::Moved,
                Some(_) | None if again => tokio::time::sleep(FENCED_RETRY).await,
                Some(_) | None => return RemoteDigest::Moved,
            }
        }
    }

    fn count_digests(&self, peer: PeerId, seq: SeqNo, mine: u64, theirs: u64) {
        if theirs == mine {
            DIGEST_CHECKS.with_label_values(&["match"]).inc();
            return;
        }
        DIGEST_CHECKS.with_label_values(&["mismatch"]).inc();
        tracing::error!(
            collection = %self.ctx.name(),
            shard_id = self.shard_id,
            peer,
            seq,
            "replica content differs from the primary's at the same sequence number"
        );
    }
}

impl Collection {
    /// As primary of any of its shards: compares replicas' digests (at most once per `every`).
    pub async fn check_digests(&self, every: Duration) {
        for set in self.replica_sets() {
            set.check_digests(every).await;
        }
    }
}
