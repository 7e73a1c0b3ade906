//! Calls to one peer issued together travel in one RPC (design record 055): the queues of
//! [`crate::PeerClient::call_peer_coalesced`] and how a batch's answer is unpacked.
//!
//! A caller queues its request for the peer and a lane (calls of similar duration: a batch is
//! answered when its slowest call is). The first caller of an empty queue spawns a flush, which
//! lets the tasks that are ready run first (scheduler yields while the queue grows, at most
//! [`MAX_YIELDS`]; no timer) and then sends whatever the queue holds: alone, or as one
//! [`PeerRequest::Batch`]. Each caller keeps its own timeout and gets its own answer; a failure
//! of the RPC itself (unreachable, timed out) is every call's failure, as it would have been for
//! each sent alone. A peer that cannot read a batch (it predates them) is sent the calls one by
//! one, now and from then on.

use crate::error::PeerError;
use crate::message::{BatchAnswer, PeerRequest, PeerResponse};
use parking_lot::Mutex;
use quiver_types::PeerId;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::sync::oneshot;

/// How many times a flush lets the ready tasks run while its queue keeps growing.
pub(crate) const MAX_YIELDS: usize = 4;

/// One queued call and where its answer goes.
pub(crate) struct Queued {
    pub(crate) request: PeerRequest,
    pub(crate) timeout: Duration,
    pub(crate) reply: oneshot::Sender<Result<PeerResponse, PeerError>>,
}

/// Which queue a call waits in: the peer, its address, and the caller's lane.
pub(crate) type QueueKey = (PeerId, String, &'static str);

/// The queues of calls waiting for their flush, and the peers that read no batches.
#[derive(Default)]
pub(crate) struct Coalescer {
    queues: Mutex<HashMap<QueueKey, Vec<Queued>>>,
    unbatched: Mutex<HashSet<PeerId>>,
}

impl Coalescer {
    /// Queues a call; true if the queue was empty (the caller spawns its flush).
    pub(crate) fn push(&self, key: &QueueKey, queued: Queued) -> bool {
        let mut queues = self.queues.lock();
        let queue = queues.entry(key.clone()).or_default();
        queue.push(queued);
        queue.len() == 1
    }

    pub(crate) fn queued(&self, key: &QueueKey) -> usize {
        self.queues.lock().get(key).map_or(0, Vec::len)
    }

    pub(crate) fn take(&self, key: &QueueKey) -> Vec<Queued> {
        self.queues.lock().remove(key).unwrap_or_default()
    }

    pub(crate) fn refuse_batches(&self, peer: PeerId) {
        self.unbatched.lock().insert(peer);
    }

    pub(crate) fn reads_batches(&self, peer: PeerId) -> bool {
        !self.unbatched.lock().contains(&peer)
    }
}

/// Whether a remote error is the server's refusal of bytes it could not decode (the message of
/// [`crate::serve_envelope`]'s `InvalidArgument`).
pub(crate) fn is_undecodable(message: &str) -> bool {
    message.starts_with(&PeerError::Codec("decode:".into()).to_string())
}

/// Each call's answer from a batch's answer.
pub(crate) fn unpack(answer: Result<PeerResponse, PeerError>, calls: usize) -> Vec<Result<PeerResponse, PeerError>> {
    match answer {
        Ok(PeerResponse::Batch { answers }) if answers.len() == calls => answers
            .into_iter()
            .map(|a| match a {
                BatchAnswer::Answered(response) => Ok(response),
                BatchAnswer::Failed(message) => Err(PeerError::Remote(message)),
            })
            .collect(),
        Ok(_) => vec![Err(PeerError::Codec(format!("a batch of {calls} calls was not answered call by call"))); calls],
        Err(e) => vec![Err(e); calls],
    }
}
