//! Retry policies: how many times a transient failure is retried and how long to pause before
//! each retry. Every retry loop of the data and control planes takes its limits and pauses from
//! one of these (the caller sleeps: this crate does no IO).

use std::time::Duration;

/// A bounded retry schedule: `attempts` tries in all; the pause before retry `n` (1-based) is
/// `first_pause × 2^(n−1)`, capped at `max_pause`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_pause: Duration,
    pub max_pause: Duration,
}

impl RetryPolicy {
    /// A peer's view of the cluster state lags another's by an entry or two (a replica that has
    /// not applied the state naming the new primary yet): 20 tries, 100 ms apart.
    pub const VIEW_LAG: RetryPolicy =
        RetryPolicy { attempts: 20, first_pause: Duration::from_millis(100), max_pause: Duration::from_millis(100) };

    /// A shard's primary is unreachable: 3 tries; between them the caller waits for its
    /// deactivation, so no pause of its own.
    pub const PRIMARY_FAILOVER: RetryPolicy =
        RetryPolicy { attempts: 3, first_pause: Duration::ZERO, max_pause: Duration::ZERO };

    /// A replica keeps reporting gaps while the primary fills them: 3 rounds, no pause.
    pub const GAP_FILL: RetryPolicy =
        RetryPolicy { attempts: 3, first_pause: Duration::ZERO, max_pause: Duration::ZERO };

    /// A shard transfer's copy failed: 3 attempts, pausing 1 s then 2 s (spec §4.7).
    pub const TRANSFER_COPY: RetryPolicy =
        RetryPolicy { attempts: 3, first_pause: Duration::from_secs(1), max_pause: Duration::from_secs(2) };

    /// The pause before retry number `retry` (1 for the first retry), or `None` once the
    /// policy's attempts are used up.
    pub fn pause(&self, retry: u32) -> Option<Duration> {
        if retry == 0 || retry >= self.attempts {
            return None;
        }
        let doubled = self.first_pause.saturating_mul(1u32.checked_shl(retry - 1).unwrap_or(u32::MAX));
        Some(doubled.min(self.max_pause))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_cap_and_stop_after_the_attempts() {
        let policy =
            RetryPolicy { attempts: 5, first_pause: Duration::from_millis(100), max_pause: Duration::from_millis(300) };
        let pauses: Vec<Option<Duration>> = (1..=5).map(|n| policy.pause(n)).collect();
        let ms = |m| Some(Duration::from_millis(m));
        assert_eq!(pauses, vec![ms(100), ms(200), ms(300), ms(300), None]);
        assert_eq!(policy.pause(0), None);
        assert_eq!(RetryPolicy::TRANSFER_COPY.pause(1), Some(Duration::from_secs(1)));
        assert_eq!(RetryPolicy::TRANSFER_COPY.pause(2), Some(Duration::from_secs(2)));
        assert_eq!(RetryPolicy::TRANSFER_COPY.pause(3), None);
        assert_eq!(RetryPolicy::VIEW_LAG.pause(19), Some(Duration::from_millis(100)));
        assert_eq!(RetryPolicy::VIEW_LAG.pause(20), None);
        let huge =
            RetryPolicy { attempts: u32::MAX, first_pause: Duration::from_secs(1), max_pause: Duration::from_secs(9) };
        assert_eq!(huge.pause(200), Some(Duration::from_secs(9)));
    }
}
