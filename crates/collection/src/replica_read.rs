//! Which replicas a shard read asks (design record 003 §6, §8; spec §6.3–§6.4): the local
//! replica or the first readable remote one with Qdrant's fan-out, or the replicas a read
//! consistency requires, each failed one replaced by the next; and a read on a peer that lost
//! contact a moment ago waits for it to return.

use crate::context::ClusterPorts;
use crate::error::{CollectionError, Result};
use crate::remote::{ShardRequest, ShardResponse};
use crate::replica_set::ReplicaSet;
use crate::replication::no_replica;
use crate::retry::{Retries, RetryPolicy};
use crate::serve::{execute_read, versioned_read, with_inline_reads};
use quiver_shard::LocalShard;
use quiver_types::query::ReadConsistency;
use quiver_types::{PeerId, SeqNo, ShardId};
use std::sync::Arc;
use std::time::Duration;

tokio::task_local! {
    /// The read consistency of the request being served (spec §6.3); set by the node around a
    /// read with `with_read_consistency`. Absent means the default (one replica).
    static READ_CONSISTENCY: ReadConsistency;
}

/// Runs `read` with `consistency` applied to every shard read it makes.
pub fn with_read_consistency<F: std::future::Future>(
    consistency: ReadConsistency,
    read: F,
) -> impl std::future::Future<Output = F::Output> {
    // Not an `async fn`, which would hold `read` twice (see `serve::with_inline_reads`).
    READ_CONSISTENCY.scope(consistency, read)
}

impl ReplicaSet {
    /// Reads this shard with the request's read consistency: one readable replica by default,
    /// else every required replica must answer (Active replicas hold identical data, so the
    /// first answer is the merged one).
    pub(crate) async fn read(&self, request: ShardRequest) -> Result<ShardResponse> {
        let shard_id = self.shard_id;
        let consistency = READ_CONSISTENCY.try_with(|c| *c).unwrap_or_default();
        if consistency == ReadConsistency::Default {
            return self.read_one_replica(request).await;
        }
        let Some(ports) = self.ctx.cluster() else { return self.read_one_replica(request).await };
        self.await_contact().await;
        let total = self.states().len();
        let required = consistency.required(total);
        let mut readable: Vec<Option<PeerId>> = self.remote_read_order(ports.me).into_iter().map(Some).collect();
        if self.servable_local().await.is_some() {
            readable.insert(0, None);
        }
        if readable.len() < required {
            return Err(not_enough_active_replicas(shard_id, ports.me));
        }
        // `required` replicas must answer; one that fails (killed, not marked `Dead` yet) is
        // replaced by the next readable one. The most advanced answer wins: replicas hold
        // prefixes of one history, so it reflects every write acknowledged before the read (a
        // replica deactivated by a write this peer's view has not seen yet may lag).
        let mut candidates = readable.into_iter();
        let mut answers: Vec<(SeqNo, ShardResponse)> = Vec::with_capacity(required);
        let mut last_error = None;
        while answers.len() < required {
            let wave: Vec<Option<PeerId>> = candidates.by_ref().take(required - answers.len()).collect();
            if wave.is_empty() {
                return Err(last_error.unwrap_or_else(|| no_replica(shard_id)));
            }
            // The local read first in the wave: on the blocking pool, so the remote calls start too.
            let calls = wave.into_iter().map(|peer| self.versioned_from(ports, peer, &request));
            for answer in with_inline_reads(0, futures::future::join_all(calls)).await {
                match answer {
                    Ok(answer) => answers.push(answer),
                    Err(e) => last_error = Some(e),
                }
            }
        }
        let freshest = answers.into_iter().max_by_key(|(seq, _)| *seq);
        freshest.map(|(_, response)| response).ok_or_else(|| CollectionError::Service("no replica answered".into()))
    }

    /// A read with the sequence number of the replica that served it: the local one (`None`)
    /// or `peer`'s.
    async fn versioned_from(
        &self,
        ports: &ClusterPorts,
        peer: Option<PeerId>,
        request: &ShardRequest,
    ) -> Result<(SeqNo, ShardResponse)> {
        let request = ShardRequest::Versioned(Box::new(request.clone()));
        let answer = match (peer, self.local()) {
            (None, Some(local)) => versioned_read(&local, request).await,
            (None, None) => Err(no_replica(self.shard_id)),
            (Some(peer), _) => {
                let timeout = crate::replication::SHARD_CALL_TIMEOUT;
                ports.transport.call(peer, self.ctx.name(), self.shard_id, request, timeout).await
            }
        };
        answer.and_then(ShardResponse::into_versioned)
    }

    /// A peer that lost contact with the quorum a moment ago (its Raft leader died, an election
    /// is under way) waits for it to come back, up to [`CONTACT_GRACE`] after the last contact,
    /// before giving up on its own replica: every survivor would otherwise refuse reads it can
    /// serve a second later. A peer cut off for longer does not wait.
    async fn await_contact(&self) {
        let Some(ports) = self.ctx.cluster() else { return };
        if self.readable_local().is_none() || ports.control.is_connected() {
            return;
        }
        let Some(since) = ports.control.since_contact() else { return };
        let deadline = tokio::time::Instant::now() + CONTACT_GRACE.saturating_sub(since);
        while !ports.control.is_connected() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Reads shard `shard_id` from the local readable replica, else from other readable replicas
    /// (a failed replica falls through to the next). Spec §6.4's fan-out: `read_fan_out_factor`
    /// more replicas are asked at once (default: none beside a readable local replica, one
    /// without), and the first answer wins, so one hung replica does not hold the read.
    async fn read_one_replica(&self, request: ShardRequest) -> Result<ShardResponse> {
        let mut view_lag = Retries::new(RetryPolicy::VIEW_LAG);
        self.await_contact().await;
        loop {
            // Again on every round: a transfer that just finished may have made this peer's
            // replica the readable one while a remote one stopped being readable.
            let local = self.servable_local().await;
            let extra = self.fan_out(local.is_some());
            let Some(ports) = self.ctx.cluster() else {
                return match local {
                    Some(local) => execute_read(&local, request).await,
                    None => Err(self.unavailable()),
                };
            };
            if let (Some(local), 0) = (&local, extra) {
                return execute_read(local, request).await;
            }
            if local.is_none() && self.none_readable() {
                return Err(not_enough_active_replicas(self.shard_id, ports.me));
            }
            let remotes = self.remote_read_order(ports.me).into_iter().map(Candidate::Remote);
            let candidates = local.map(Candidate::Local).into_iter().chain(remotes);
            let failed = match self.first_answer(ports, candidates, extra, &request).await {
                Ok(response) => return Ok(response),
                Err(failed) => failed,
            };
            // A replica that this peer sees Active but that has not applied that state yet (a
            // transfer just finished) answers "not readable": give it a moment.
            if !failed.lagging || !view_lag.pause().await {
                return Err(failed.error);
            }
        }
    }

    /// How many more replicas than one a read asks at once.
    fn fan_out(&self, local_readable: bool) -> usize {
        match self.ctx.with_config(|c| c.params.read_fan_out_factor) {
            Some(factor) => factor as usize,
            None => usize::from(!local_readable),
        }
    }

    fn unavailable(&self) -> CollectionError {
        let shard_id = self.shard_id;
        CollectionError::ShardUnavailable(format!("No active replica of shard {shard_id} of {}", self.ctx.name()))
    }

    /// The first answer of `1 + extra` candidates asked at once, each failed one replaced by the
    /// next candidate; else the last error, and whether any replica answered "not readable".
    async fn first_answer(
        &self,
        ports: &ClusterPorts,
        mut candidates: impl Iterator<Item = Candidate>,
        extra: usize,
        request: &ShardRequest,
    ) -> std::result::Result<ShardResponse, FailedRead> {
        use futures::StreamExt;
        let delay = Duration::from_millis(self.ctx.with_config(|c| c.params.read_fan_out_delay_ms).unwrap_or(0));
        let mut pending = futures::stream::FuturesUnordered::new();
        let first = candidates.by_ref().take(1 + extra).enumerate();
        pending.extend(first.map(|(i, c)| self.ask(ports, c, request, if i == 0 { Duration::ZERO } else { delay })));
        let mut failed = FailedRead { error: self.unavailable(), lagging: false };
        while let Some(answer) = pending.next().await {
            match answer {
                Ok(response) => return Ok(response),
                Err(e) => {
                    tracing::debug!(shard_id = self.shard_id, error = %e, "read from replica failed; trying the next");
                    failed.lagging |= matches!(e, CollectionError::NotReadable { .. });
                    failed.error = e;
                    pending.extend(candidates.next().map(|c| self.ask(ports, c, request, Duration::ZERO)));
                }
            }
        }
        Err(failed)
    }

    /// Reads from `candidate`, `delay` after being called (`read_fan_out_delay_ms`).
    async fn ask(
        &self,
        ports: &ClusterPorts,
        candidate: Candidate,
        request: &ShardRequest,
        delay: Duration,
    ) -> Result<ShardResponse> {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match candidate {
            Candidate::Local(local) => execute_read(&local, request.clone()).await,
            Candidate::Remote(peer) => {
                let timeout = crate::replication::SHARD_CALL_TIMEOUT;
                ports.transport.call(peer, self.ctx.name(), self.shard_id, request.clone(), timeout).await
            }
        }
    }
}

/// A replica a read may ask.
enum Candidate {
    Local(Arc<LocalShard>),
    Remote(PeerId),
}

/// A read none of whose replicas answered.
struct FailedRead {
    error: CollectionError,
    /// Some replica answered "not readable" (its view lags this peer's).
    lagging: bool,
}

/// No replica of the shard is readable in the applied state (e.g. a shard key created
/// `Partial`, or every replica `Dead`): nothing to wait for or retry on another replica, so not
/// a transient unavailability but Qdrant's 500 with its text.
fn not_enough_active_replicas(shard_id: ShardId, me: PeerId) -> CollectionError {
    CollectionError::Service(format!(
        "The replica set for shard {shard_id} on peer {me} does not have enough active replicas"
    ))
}

/// How long after its last contact with a quorum a peer's reads wait for contact to return
/// (contact counts as lost 2 s after the last evidence; an election takes about 1 s more).
const CONTACT_GRACE: Duration = Duration::from_secs(5);
