//! Shard transfers on this peer (design record 007) and automatic recovery (DESIGN §3.5).
//!
//! The target of a transfer runs it: the reconciler starts a runner for every transfer into
//! this peer; the runner copies the shard by the transfer's method, moves a `Recovery` target to
//! `Partial`, and asks the shard's primary to finish (target `Active`). A failed copy aborts the
//! transfer (a replication's target becomes `Dead` and is recovered again); a `wal_delta` that
//! cannot work restarts the transfer with a full method.
//!
//! Automatic recovery: a peer whose replica is `Dead` proposes a transfer into it from an
//! `Active` replica, `wal_delta` unless `storage.shard_transfer_method` says otherwise, within
//! the per-collection limits of automatic transfers.

use crate::cluster_context::Running;
use crate::node::Node;
use crate::telemetry::AutoReason;
use quiver_cluster::state::{AutoTransfer, ClusterState, CollectionMeta, MetaOperation, TransferLimits};
use quiver_collection::TransferProgress;
use quiver_collection::retry::{Retries, RetryPolicy};
use quiver_collection::transfer::Copied;
use quiver_types::cluster::{ShardTransfer, TransferMethod};
use quiver_types::replica::ReplicaState;
use quiver_types::{PeerId, ShardId};
use std::sync::Arc;
use std::time::Duration;

const TRANSFER_PROPOSAL_TIMEOUT: Duration = Duration::from_secs(10);

/// The method a transfer uses when none was given.
fn method_of(transfer: &ShardTransfer) -> TransferMethod {
    transfer.method.unwrap_or(TransferMethod::StreamRecords)
}

impl Node {
    /// Starts the runner of `transfer` into this peer (no-op if it runs already).
    pub(crate) fn run_incoming_transfer(&self, name: &str, transfer: &ShardTransfer) {
        let key = (name.to_string(), transfer.shard_id);
        let running = Arc::new(Running { transfer: transfer.clone(), progress: Arc::new(TransferProgress::new()) });
        {
            let mut transfers = self.transfers.lock();
            if transfers.contains_key(&key) {
                return;
            }
            transfers.insert(key.clone(), Arc::clone(&running));
        }
        let progress = (transfer.from, transfer.to, Arc::clone(&running.progress));
        self.set_transfer_progress(name, transfer.shard_id, Some(progress));
        let node = self.weak_self();
        tokio::spawn(async move {
            let Some(node) = node.upgrade() else { return };
            node.execute_transfer(&key.0, &running).await;
            node.set_transfer_progress(&key.0, key.1, None);
            // Until this peer has applied the transfer's end, the reconciler would see it still
            // registered and start it again.
            let ended = node.wait_transfer_ended(&key.0, &running.transfer).await;
            if !ended {
                tracing::warn!(collection = %key.0, shard_id = key.1, "the transfer's end is not applied here yet");
            }
            node.transfers.lock().remove(&key);
            // A restarted transfer (another method) waits for this runner to end.
            node.reconcile_now();
        });
    }

    /// Shows (or clears) the progress of the transfer this peer runs into its replica of a shard.
    fn set_transfer_progress(
        &self,
        name: &str,
        shard_id: ShardId,
        progress: Option<(PeerId, PeerId, Arc<TransferProgress>)>,
    ) {
        if let Ok(collection) = self.resolve(name)
            && let Ok(set) = collection.replica_set(shard_id)
        {
            set.set_transfer_progress(progress);
        }
    }

    /// Whether `transfer` (same peers and method) is still registered by the control plane.
    fn transfer_current(&self, name: &str, transfer: &ShardTransfer) -> bool {
        self.cluster_state().is_some_and(|state| transfer_registered(&state, name, transfer))
    }

    /// Waits (bounded) until the applied state no longer registers `transfer` as it is.
    async fn wait_transfer_ended(&self, name: &str, transfer: &ShardTransfer) -> bool {
        let Some(cluster) = self.cluster() else { return true };
        let mut states = cluster.consensus.subscribe();
        // The closure runs under the watch's read lock: it must look only at the state it is
        // given. Reading the applied state again from inside (`cluster_state()`) takes the same
        // lock a second time, and once the state machine waits to publish the next state that
        // nested read blocks for good: the publisher waits for this reader, this reader for the
        // publisher, and with both runtime workers stuck the whole peer froze (chaos seed 1231).
        let ended = states.wait_for(|applied| !transfer_registered(&applied.state, name, transfer));
        matches!(tokio::time::timeout(TRANSFER_PROPOSAL_TIMEOUT, ended).await, Ok(Ok(_)))
    }

    async fn execute_transfer(&self, name: &str, running: &Running) {
        let transfer = &running.transfer;
        let (shard_id, from, to) = transfer.key();
        let outcome = self.copy_with_retries(name, running).await;
        let op = match outcome {
            Ok(Copied::Done { points, bytes }) => {
                tracing::info!(collection = %name, shard_id, from, points, bytes, "transfer copied; finishing");
                match self.finish_copied_transfer(name, running).await {
                    Ok(()) => return,
                    Err(e) => abort_op(name, transfer, format!("transmission failed: {e}")),
                }
            }
            Ok(Copied::DeltaUnavailable(reason)) => {
                let method = self.fallback_method();
                tracing::info!(collection = %name, shard_id, %reason, ?method, "wal_delta impossible; restarting");
                MetaOperation::RestartTransfer { collection: name.to_string(), shard_id, from, to, method }
            }
            Err(e) => abort_op(name, transfer, format!("transmission failed: {e}")),
        };
        if !self.transfer_current(name, transfer) {
            return; // aborted or restarted meanwhile: nothing left to record
        }
        if let Err(e) = self.propose(op, Some(TRANSFER_PROPOSAL_TIMEOUT)).await {
            tracing::warn!(collection = %name, shard_id, error = %e, "recording the transfer's end failed");
        }
    }

    async fn copy_with_retries(&self, name: &str, running: &Running) -> crate::error::Result<Copied> {
        let transfer = &running.transfer;
        let me = self.peer_id();
        // Only ever into a replica the control plane has handed to this transfer.
        let current = || {
            self.transfer_current(name, transfer)
                && self.replica_state(name, transfer.shard_id, me).is_some_and(is_transfer_target)
        };
        if !current() {
            return Err(crate::error::NodeError::Service("the transfer is no longer registered".into()));
        }
        // Spec §4.7: 3 attempts, pausing 1 s and 2 s.
        let mut retries = Retries::new(RetryPolicy::TRANSFER_COPY);
        loop {
            let collection = self.resolve(name)?;
            let copied = collection
                .copy_shard(transfer.shard_id, transfer.from, method_of(transfer), &running.progress, &current)
                .await;
            match copied {
                Err(e) if current() && retries.pause().await => {
                    let retried = retries.retried();
                    tracing::warn!(collection = %name, shard_id = transfer.shard_id, retried, error = %e, "transfer copy failed; retried");
                }
                other => return other.map_err(Into::into),
            }
        }
    }

    /// After the copy: `Recovery → Partial` (the primary's writes reach the replica again), then
    /// the primary brings it up to date and records the end.
    async fn finish_copied_transfer(&self, name: &str, running: &Running) -> crate::error::Result<()> {
        let transfer = &running.transfer;
        let me = self.peer_id();
        if self.replica_state(name, transfer.shard_id, me) == Some(ReplicaState::Recovery) {
            running.progress.set_stage("recovered; waiting consensus");
            let op = MetaOperation::SetReplicaState {
                collection: name.to_string(),
                shard_id: transfer.shard_id,
                peer_id: me,
                state: ReplicaState::Partial,
                from_state: Some(ReplicaState::Recovery),
            };
            self.propose(op, Some(TRANSFER_PROPOSAL_TIMEOUT)).await?;
        }
        running.progress.set_stage("syncing queued updates");
        let collection = self.resolve(name)?;
        collection.finish_transfer(transfer.shard_id, transfer.from, transfer.to).await?;
        tracing::info!(collection = %name, shard_id = transfer.shard_id, "transfer finished");
        Ok(())
    }

    /// The full method a failed `wal_delta` falls back to.
    fn fallback_method(&self) -> TransferMethod {
        match self.config.shard_transfer_method {
            Some(TransferMethod::WalDelta) | None => TransferMethod::Snapshot,
            Some(method) => method,
        }
    }

    /// Proposes one transfer for a local `Dead` replica, within the limits of automatic
    /// transfers.
    pub(crate) async fn recover_dead_replicas(&self) {
        let Some(cluster) = self.cluster() else { return };
        if !cluster.consensus.in_contact() || self.is_stopping() {
            return;
        }
        let state = cluster.consensus.state().state.clone();
        let Some((name, transfer)) = self.pick_recovery(&state) else { return };
        let shard_id = transfer.shard_id;
        let source = transfer.from;
        let limits = TransferLimits {
            incoming: self.config.incoming_transfers_limit,
            outgoing: self.config.outgoing_transfers_limit,
            purpose: AutoTransfer::Recovery,
        };
        let op =
            MetaOperation::StartTransfer { collection: name.clone(), transfer: transfer.clone(), limits: Some(limits) };
        match self.propose(op, Some(TRANSFER_PROPOSAL_TIMEOUT)).await {
            Ok(_) => {
                self.telemetry.transfer_started(&name, &transfer, AutoReason::Recovery);
                tracing::info!(collection = %name, shard_id, source, "recovering a Dead replica")
            }
            Err(e) => tracing::debug!(collection = %name, shard_id, error = %e, "recovery not started"),
        }
    }

    fn pick_recovery(&self, state: &ClusterState) -> Option<(String, ShardTransfer)> {
        let me = self.peer_id();
        let method = self.config.shard_transfer_method.unwrap_or(TransferMethod::WalDelta);
        for (name, meta) in &state.collections {
            let incoming = meta.transfers.iter().filter(|t| t.to == me).count();
            if self.config.incoming_transfers_limit.is_some_and(|limit| incoming >= limit) {
                continue;
            }
            for (shard_id, replicas) in &meta.shards {
                if replicas.get(&me) != Some(&ReplicaState::Dead)
                    || meta.transfers.iter().any(|t| t.shard_id == *shard_id)
                {
                    continue;
                }
                let Some(from) = self.recovery_source(meta, replicas, me) else { continue };
                let transfer = ShardTransfer { shard_id: *shard_id, from, to: me, sync: true, method: Some(method) };
                return Some((name.clone(), transfer));
            }
        }
        None
    }

    /// An `Active` replica of another peer with room for one more outgoing automatic transfer;
    /// the highest such peer (the primary when it qualifies).
    fn recovery_source(
        &self,
        meta: &CollectionMeta,
        replicas: &quiver_cluster::state::ReplicaSet,
        me: PeerId,
    ) -> Option<PeerId> {
        let outgoing = |peer: PeerId| meta.transfers.iter().filter(|t| t.from == peer).count();
        replicas
            .iter()
            .filter(|(p, s)| **p != me && **s == ReplicaState::Active)
            .map(|(p, _)| *p)
            .filter(|p| self.config.outgoing_transfers_limit.is_none_or(|limit| outgoing(*p) < limit))
            .max()
    }
}

/// Whether a replica in `state` may receive a transfer's copy.
fn is_transfer_target(state: ReplicaState) -> bool {
    match state {
        ReplicaState::Partial | ReplicaState::Recovery | ReplicaState::PartialSnapshot => true,
        ReplicaState::Active
        | ReplicaState::Dead
        | ReplicaState::Initializing
        | ReplicaState::Listener
        | ReplicaState::Resharding
        | ReplicaState::ReshardingScaleDown
        | ReplicaState::ActiveRead
        | ReplicaState::ManualRecovery => false,
    }
}

fn abort_op(name: &str, transfer: &ShardTransfer, reason: String) -> MetaOperation {
    let (shard_id, from, to) = transfer.key();
    tracing::warn!(collection = %name, shard_id, from, to, %reason, "transfer failed; aborting");
    MetaOperation::AbortTransfer { collection: name.to_string(), shard_id, from, to, reason }
}

/// Whether `state` registers `transfer` (same shard, source, target and method).
fn transfer_registered(state: &ClusterState, name: &str, transfer: &ShardTransfer) -> bool {
    state
        .collections
        .get(name)
        .and_then(|meta| meta.transfer(transfer.shard_id, transfer.from, transfer.to))
        .is_some_and(|t| method_of(t) == method_of(transfer))
}
