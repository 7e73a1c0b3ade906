//! Anti-entropy by content (DESIGN §3.2): the primary of a shard periodically compares its
//! replica's content digest with each other `Active` replica's, when both hold the same sequence
//! number, and counts the outcome (`quiver_digest_checks_total`). A mismatch means replicas that
//! applied the same records hold different data: it is logged as an error for the operator, who
//! can drop the bad replica (`drop_replica`) to have it copied again.

use crate::collection::Collection;
use crate::metrics::DIGEST_CHECKS;
use crate::remote::{ShardRequest, ShardResponse};
use crate::replica_set::ReplicaSet;
use crate::serve::execute_read;
use quiver_shard::LocalShard;
use quiver_types::SeqNo;
use quiver_types::replica::ReplicaState;
use std::sync::Arc;
use std::time::Duration;

/// How long a replica may take to compute and send its digest.
const DIGEST_CALL_TIMEOUT: Duration = Duration::from_secs(60);

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

impl ReplicaSet {
    /// As the shard's primary, at most once per `every`: compares digests with the other
    /// `Active` replicas. Replicas that moved on (writes in flight) are compared next time.
    pub async fn check_digests(&self, every: Duration) {
        let (Some(ports), Some(local)) = (self.ctx.cluster(), self.local()) else { return };
        if self.primary() != Some(ports.me) {
            return;
        }
        {
            let mut last = self.last_digest_check.lock();
            if last.is_some_and(|at| at.elapsed() < every) {
                return;
            }
            *last = Some(tokio::time::Instant::now());
        }
        let others: Vec<_> = self
            .states()
            .into_iter()
            .filter(|(peer, state)| *peer != ports.me && *state == ReplicaState::Active)
            .map(|(peer, _)| peer)
            .collect();
        if others.is_empty() {
            return;
        }
        let Some((seq, mine)) = consistent_digest(&local).await else { return };
        for peer in others {
            // A peer that predates the content digest refuses the request: it is not compared.
            let request = ShardRequest::Versioned(Box::new(ShardRequest::ContentDigest));
            let call = ports.transport.call(peer, self.ctx.name(), self.shard_id, request, DIGEST_CALL_TIMEOUT);
            let Some((theirs_seq, theirs)) = call.await.ok().and_then(remote_digest) else { continue };
            if theirs_seq != seq || local.applied_seq() != seq {
                continue;
            }
            if theirs == mine {
                DIGEST_CHECKS.with_label_values(&["match"]).inc();
            } else {
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
