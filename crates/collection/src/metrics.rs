//! This crate's Prometheus metrics (process's default registry, rendered by the API's
//! `/metrics`): confirmations of local replicas with their primaries and digest comparisons.
//! The replication lag is a gauge read at scrape time ([`ReplicaSet::replication_lag`]).

use crate::replica_set::ReplicaSet;
use prometheus::{IntCounterVec, Opts};
use quiver_types::{PeerId, SeqNo};
use std::sync::LazyLock;

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let counter = IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter options");
    // Registered once (LazyLock); a second registration cannot happen.
    let _ = prometheus::register(Box::new(counter.clone()));
    counter
}

/// `quiver_replica_confirmations_total{result}`: a local replica checked against its shard's
/// primary before it serves reads (design record 003 §8): `current`, `caught_up` (it pulled the
/// records it missed) or `failed` (the primary did not answer, or the catch-up failed).
pub static REPLICA_CONFIRMATIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "quiver_replica_confirmations_total",
        "local replicas checked current with their shard's primary",
        &["result"],
    )
});

/// `quiver_digest_checks_total{result}`: a primary compared its replica's content digest with
/// another `Active` replica at the same sequence number: `match` or `mismatch`.
pub static DIGEST_CHECKS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "quiver_digest_checks_total",
        "content digests of replicas compared at the same sequence number",
        &["result"],
    )
});

/// Registers this crate's metrics with every label value at zero.
pub fn register() {
    for result in ["current", "caught_up", "failed"] {
        REPLICA_CONFIRMATIONS.with_label_values(&[result]);
    }
    for result in ["match", "mismatch"] {
        DIGEST_CHECKS.with_label_values(&[result]);
    }
}

impl ReplicaSet {
    /// As the shard's primary: for each other replica whose position is known, how many records
    /// it is behind this replica (its last acknowledged or reported sequence number). Empty on a
    /// peer that is not the primary.
    pub fn replication_lag(&self) -> Vec<(PeerId, u64)> {
        let (Some(ports), Some(local)) = (self.ctx.cluster(), self.local()) else { return Vec::new() };
        if self.primary() != Some(ports.me) {
            return Vec::new();
        }
        let mine = local.applied_seq();
        let states = self.states();
        let known = self.known_seq.lock();
        known
            .iter()
            .filter(|(peer, _)| **peer != ports.me && states.contains_key(peer))
            .map(|(peer, seq)| (*peer, mine.saturating_sub(*seq)))
            .collect()
    }

    /// Records that `peer`'s replica holds every record up to `seq`.
    pub(crate) fn note_replica_seq(&self, peer: PeerId, seq: SeqNo) {
        let mut known = self.known_seq.lock();
        let entry = known.entry(peer).or_insert(seq);
        *entry = (*entry).max(seq);
    }

    /// Forgets what is known of `peer`'s replica (it was replaced by a transfer, or reported an
    /// older position than recorded).
    pub(crate) fn set_replica_seq(&self, peer: PeerId, seq: SeqNo) {
        self.known_seq.lock().insert(peer, seq);
    }
}
