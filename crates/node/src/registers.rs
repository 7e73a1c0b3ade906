//! Registers a node keeps beside its collections: strict mode's rate limit buckets, the
//! issues noticed while serving and the write lock (`strict.rs`, `issues.rs` and `locks.rs`
//! hold the logic).

use quiver_collection::Collection;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};
use std::time::Instant;

/// Which rate limit an operation counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Traffic {
    Read,
    Write,
}

/// The issues found so far, by id.
#[derive(Debug, Default)]
pub(crate) struct Issues(pub(crate) parking_lot::Mutex<BTreeMap<String, Value>>);

/// A token bucket holding at most `per_minute` tokens, for one collection as its strict mode
/// stood: a collection created again under the same name, or whose `strict_mode_config`
/// changed, starts with a full bucket, as Qdrant's limiters are built anew then.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    per_minute: f64,
    at: Instant,
    /// The collection the bucket is for (held weakly, so its address is not reused meanwhile).
    owner: Weak<Collection>,
    /// The collection's count of strict mode changes when the bucket was filled.
    strict_mode_changes: u64,
}

/// The buckets of every collection on this peer.
#[derive(Debug, Default)]
pub(crate) struct RateLimits(parking_lot::Mutex<HashMap<(String, Traffic), Bucket>>);

/// Why a rate limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Refusal {
    /// The request costs more tokens than the bucket holds when full: it can never pass.
    LargerThanCapacity,
    /// Not enough tokens now; enough after this many seconds.
    RetryAfter(u64),
}

impl RateLimits {
    /// Takes `cost` tokens (all or none), or says why not.
    pub(crate) fn take(
        &self,
        collection: &Arc<Collection>,
        traffic: Traffic,
        per_minute: usize,
        cost: usize,
    ) -> std::result::Result<(), Refusal> {
        if cost > per_minute {
            return Err(Refusal::LargerThanCapacity);
        }
        let mut buckets = self.0.lock();
        let per_minute = per_minute as f64;
        let cost = cost as f64;
        let now = Instant::now();
        let changes = collection.strict_mode_changes();
        let full = || Bucket {
            tokens: per_minute,
            per_minute,
            at: now,
            owner: Arc::downgrade(collection),
            strict_mode_changes: changes,
        };
        let bucket = buckets.entry((collection.name().to_string(), traffic)).or_insert_with(full);
        let same = bucket.owner.ptr_eq(&Arc::downgrade(collection)) && bucket.strict_mode_changes == changes;
        if !same || bucket.per_minute != per_minute {
            *bucket = full();
        }
        let refill = now.duration_since(bucket.at).as_secs_f64() * per_minute / 60.0;
        bucket.tokens = (bucket.tokens + refill).min(per_minute);
        bucket.at = now;
        if bucket.tokens >= cost {
            bucket.tokens -= cost;
            return Ok(());
        }
        let missing = cost - bucket.tokens;
        Err(Refusal::RetryAfter((missing * 60.0 / per_minute.max(f64::MIN_POSITIVE)).ceil().max(1.0) as u64))
    }
}

/// The write lock setting of `POST /locks` (`LocksOption` on the wire).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Locks {
    pub write: bool,
    #[serde(default)]
    pub error_message: Option<String>,
}
