//! Repeated openraft warnings and errors, logged at most once per `WINDOW` per message site.
//!
//! While a peer is unreachable, openraft reports every failed replication attempt (every 0.5 s)
//! with four lines at WARN and ERROR: a peer down for a day would write about 700,000 of them.
//! Our own code says once that a peer is unreachable and what was done about it; the first of
//! openraft's lines is kept, and one a `WINDOW` after it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tracing::callsite::Identifier;
use tracing::{Event, Level, Metadata};
use tracing_subscriber::layer::{Context, Filter};

/// Least time between two logged events of one openraft message site.
const WINDOW: Duration = Duration::from_secs(30);

/// The per-layer filter of the log output.
pub type OpenraftThrottle = Throttle<Identifier>;

/// When each message site (`K`) was last logged.
pub struct Throttle<K> {
    last: Mutex<HashMap<K, Instant>>,
}

impl<K> Default for Throttle<K> {
    fn default() -> Self {
        Throttle { last: Mutex::new(HashMap::new()) }
    }
}

impl<K: std::hash::Hash + Eq> Throttle<K> {
    /// Whether an event of `site` seen at `now` is logged (and if so, counts it as logged).
    fn admit(&self, site: K, now: Instant) -> bool {
        // A panic while the map was held leaves it usable: the worst is one line too many.
        let mut last = self.last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match last.get(&site) {
            Some(at) if now.duration_since(*at) < WINDOW => false,
            Some(_) | None => {
                last.insert(site, now);
                true
            }
        }
    }
}

/// Whether events like this one are throttled: openraft's, at WARN or ERROR (DEBUG and TRACE are
/// asked for explicitly and kept whole; INFO is filtered out by default).
fn throttled(meta: &Metadata<'_>) -> bool {
    meta.target().starts_with("openraft") && *meta.level() <= Level::WARN
}

impl<S> Filter<S> for Throttle<Identifier> {
    fn enabled(&self, _: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        true
    }

    fn event_enabled(&self, event: &Event<'_>, _: &Context<'_, S>) -> bool {
        let meta = event.metadata();
        !throttled(meta) || self.admit(meta.callsite(), Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_site_is_logged_once_per_window_and_sites_are_counted_apart() {
        let throttle = Throttle::<&str>::default();
        let (rpc, backoff) = ("rpc error", "backoff");
        let start = Instant::now();
        assert!(throttle.admit(rpc, start), "the first event of a site");
        assert!(!throttle.admit(rpc, start + Duration::from_millis(500)), "a repeat within the window");
        assert!(throttle.admit(backoff, start + Duration::from_millis(500)), "another site");
        assert!(!throttle.admit(rpc, start + WINDOW - Duration::from_millis(1)));
        assert!(throttle.admit(rpc, start + WINDOW), "once the window has passed");
        assert!(!throttle.admit(rpc, start + WINDOW + Duration::from_secs(1)), "the window restarts");
    }
}
