//! The one retry helper of the data plane: a loop asks [`Retries::pause`] before each retry,
//! which sleeps as its [`RetryPolicy`] says and tells whether another attempt is allowed.

pub use quiver_types::retry::RetryPolicy;

/// Retries under one policy, counted.
#[derive(Debug)]
pub struct Retries {
    policy: RetryPolicy,
    retried: u32,
}

impl Retries {
    pub fn new(policy: RetryPolicy) -> Retries {
        Retries { policy, retried: 0 }
    }

    /// Pauses before the next retry; `false` (at once) when the policy's attempts are used up.
    pub async fn pause(&mut self) -> bool {
        self.retried += 1;
        match self.policy.pause(self.retried) {
            Some(pause) => {
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
                true
            }
            None => false,
        }
    }

    /// Retries made so far.
    pub fn retried(&self) -> u32 {
        self.retried
    }
}
