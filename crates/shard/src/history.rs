//! Where a replica's records came from: the tenure of the primary that sent them, kept in memory
//! so that a duplicate the WAL no longer holds is trusted only within its tenure (design record
//! 003 §3).

use quiver_types::{PeerId, SeqNo};
use serde::{Deserialize, Serialize};

/// What a replica did with `apply_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApplyOutcome {
    /// Logged (and fsynced when asked) and applied.
    Applied,
    /// Already held (`seq` at or below the last one); nothing done.
    Duplicate,
    /// Records are missing before `seq`; the replica's last seq is given.
    Gap { last: SeqNo },
    /// The replica holds a different operation at `seq` (written by an earlier primary and never
    /// acknowledged), or cannot show that it holds the same one: it must be replaced, not
    /// patched.
    Diverged,
    /// The record comes from a tenure older than one the replica already took records from: its
    /// primary has lost the role since (or regained it in a new tenure); nothing done.
    Stale,
}

/// The tenure of a shard's primary a record was ordered in: the primary's peer id and its term
/// (design record 003 §2). One tenure orders one record per sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tenure {
    pub primary: PeerId,
    pub term: u64,
}

/// What a replica knows of where its records came from (kept in memory, under the write lock;
/// forgotten at a restart and replaced by an install).
#[derive(Debug, Default)]
pub(crate) struct History {
    /// The tenure whose records the replica applied last, and the first sequence number it
    /// applied from that tenure.
    tenure: Option<(Tenure, SeqNo)>,
    /// The replica answered `Diverged` to a primary: it takes no record from any primary until an
    /// install replaces its data (applying the next ones would stack them on a different past).
    diverged: bool,
    /// The highest term any primary sent records in (kept through installs): terms are the
    /// metadata indexes at which tenures began, so a lower one is an earlier tenure.
    latest_term: u64,
    /// The sequence number the last install put the replica at (0: none since the process
    /// started). Records up to it came with the copy, not one by one.
    installed_at: SeqNo,
}

impl History {
    /// Whether a record `from` is refused before it is looked at: a stale tenure's (a term of 0
    /// comes from a peer that predates terms: unknown), or any primary's once diverged.
    pub(crate) fn refuses(&mut self, from: Option<Tenure>) -> Option<ApplyOutcome> {
        let from = from?;
        if from.term != 0 && from.term < self.latest_term {
            return Some(ApplyOutcome::Stale);
        }
        self.latest_term = self.latest_term.max(from.term);
        self.diverged.then_some(ApplyOutcome::Diverged)
    }

    /// After applying the record at `seq`: a record from a new tenure starts its count; one the
    /// replica fetched itself leaves no tenure to trust.
    pub(crate) fn note_applied(&mut self, from: Option<Tenure>, seq: SeqNo) {
        match from {
            Some(from) if self.tenure.is_some_and(|(tenure, _)| tenure == from) => {}
            Some(from) => self.tenure = Some((from, seq)),
            None => self.tenure = None,
        }
    }

    /// Whether `from` sent this replica's records from `seq` on (so its record at `seq` is the
    /// one the replica holds).
    pub(crate) fn vouches(&self, from: Tenure, seq: SeqNo) -> bool {
        self.tenure.is_some_and(|(tenure, since)| tenure == from && seq >= since)
    }

    /// The replica answered `Diverged` to a primary's record at `seq`. Past the install it holds
    /// different records than that primary from `seq` on, and takes none of the next ones. A
    /// record the install covered is only unverifiable: a write sent before the copy was taken
    /// that arrives after it is installed (the copy holds it) looks the same as a new primary's
    /// other record (seed 174), so the answer is `Diverged` but the next records are taken (the
    /// primary marks an `Active` replica `Dead`; a transfer target's finish brings it the rest).
    pub(crate) fn mark_diverged(&mut self, seq: SeqNo) {
        self.diverged |= seq > self.installed_at;
    }

    /// The replica's data was replaced by a copy as of `seq` (an install): nothing of the old
    /// history holds.
    pub(crate) fn reset(&mut self, seq: SeqNo) {
        *self = History { latest_term: self.latest_term, installed_at: seq, ..History::default() };
    }
}
