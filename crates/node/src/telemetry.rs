//! What a node counts for the metrics: snapshot creations and recoveries in flight (and
//! creations done) per collection, and the automatic shard transfers this peer started (its
//! placement keeper's or its recovery's) until the applied state shows how they ended.

use parking_lot::Mutex;
use prometheus::{IntCounterVec, Opts};
use quiver_cluster::state::ClusterState;
use quiver_types::cluster::ShardTransfer;
use quiver_types::replica::ReplicaState;
use quiver_types::{PeerId, ShardId};
use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

/// `quiver_automatic_transfers_total{event, reason}`: `event` is `started`, `finished` or
/// `aborted`; `reason` is `recovery` (a `Dead` replica caught up) or `placement` (the keeper
/// keeping replication factors, drains and balance). Counted by the peer that started it.
static AUTO_TRANSFERS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    let opts = Opts::new("quiver_automatic_transfers_total", "automatic shard transfers started by this peer");
    let counter = IntCounterVec::new(opts, &["event", "reason"]).expect("valid counter options");
    // Registered once (LazyLock); a second registration cannot happen.
    let _ = prometheus::register(Box::new(counter.clone()));
    counter
});

/// Registers this crate's metrics with every label value at zero.
pub fn register_metrics() {
    for event in ["started", "finished", "aborted"] {
        for reason in AutoReason::ALL {
            AUTO_TRANSFERS.with_label_values(&[event, reason.label()]);
        }
    }
}

/// Why this peer started an automatic transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoReason {
    Recovery,
    Placement,
}

impl AutoReason {
    const ALL: [AutoReason; 2] = [AutoReason::Recovery, AutoReason::Placement];

    fn label(self) -> &'static str {
        match self {
            AutoReason::Recovery => "recovery",
            AutoReason::Placement => "placement",
        }
    }
}

/// Snapshot activity of one collection on this peer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotCounts {
    pub creating: u64,
    pub recovering: u64,
    /// Snapshots created since start.
    pub created: u64,
}

/// Which snapshot operation a [`SnapshotRunning`] guard counts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SnapshotWork {
    Creating,
    Recovering,
}

type TransferKey = (String, ShardId, PeerId, PeerId);

/// The node's counters.
#[derive(Default)]
pub struct NodeTelemetry {
    snapshots: Mutex<BTreeMap<String, SnapshotCounts>>,
    auto_transfers: Mutex<HashMap<TransferKey, AutoReason>>,
}

/// Counts one snapshot operation as running until dropped.
pub(crate) struct SnapshotRunning<'a> {
    telemetry: &'a NodeTelemetry,
    collection: String,
    work: SnapshotWork,
}

impl Drop for SnapshotRunning<'_> {
    fn drop(&mut self) {
        let mut snapshots = self.telemetry.snapshots.lock();
        let counts = snapshots.entry(self.collection.clone()).or_default();
        match self.work {
            SnapshotWork::Creating => counts.creating = counts.creating.saturating_sub(1),
            SnapshotWork::Recovering => counts.recovering = counts.recovering.saturating_sub(1),
        }
    }
}

impl NodeTelemetry {
    /// Counts a snapshot operation on `collection` as running while the guard lives.
    pub(crate) fn snapshot_running(&self, collection: &str, work: SnapshotWork) -> SnapshotRunning<'_> {
        let mut snapshots = self.snapshots.lock();
        let counts = snapshots.entry(collection.to_string()).or_default();
        match work {
            SnapshotWork::Creating => counts.creating += 1,
            SnapshotWork::Recovering => counts.recovering += 1,
        }
        SnapshotRunning { telemetry: self, collection: collection.to_string(), work }
    }

    pub(crate) fn snapshot_created(&self, collection: &str) {
        self.snapshots.lock().entry(collection.to_string()).or_default().created += 1;
    }

    /// Snapshot activity per collection (collections that never had a snapshot are absent).
    pub fn snapshots(&self) -> BTreeMap<String, SnapshotCounts> {
        self.snapshots.lock().clone()
    }

    /// Counts an automatic transfer this peer got committed.
    pub(crate) fn transfer_started(&self, collection: &str, transfer: &ShardTransfer, reason: AutoReason) {
        AUTO_TRANSFERS.with_label_values(&["started", reason.label()]).inc();
        let (shard_id, from, to) = transfer.key();
        self.auto_transfers.lock().insert((collection.to_string(), shard_id, from, to), reason);
    }

    /// Counts the automatic transfers that `state` no longer runs: finished when the target's
    /// replica is `Active`, else aborted.
    pub(crate) fn settle_transfers(&self, state: &ClusterState) {
        self.auto_transfers.lock().retain(|(name, shard_id, from, to), reason| {
            let meta = state.collections.get(name);
            if meta.is_some_and(|meta| meta.transfer(*shard_id, *from, *to).is_some()) {
                return true;
            }
            let target = meta.and_then(|meta| meta.shards.get(shard_id)).and_then(|r| r.get(to).copied());
            let event = if target == Some(ReplicaState::Active) { "finished" } else { "aborted" };
            AUTO_TRANSFERS.with_label_values(&[event, reason.label()]).inc();
            false
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_guards_count_while_they_live() {
        let telemetry = NodeTelemetry::default();
        {
            let _creating = telemetry.snapshot_running("c", SnapshotWork::Creating);
            let _recovering = telemetry.snapshot_running("c", SnapshotWork::Recovering);
            assert_eq!(telemetry.snapshots()["c"], SnapshotCounts { creating: 1, recovering: 1, created: 0 });
            telemetry.snapshot_created("c");
        }
        assert_eq!(telemetry.snapshots()["c"], SnapshotCounts { creating: 0, recovering: 0, created: 1 });
    }
}
