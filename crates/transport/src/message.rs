//! The messages one peer sends another: one request enum, one response enum. Payloads that belong to other
//! crates (Raft RPCs, control-plane proposals, data-plane shard calls) travel as opaque bytes.

use quiver_types::{PeerId, ShardId};
use serde::{Deserialize, Serialize};

/// Which openraft RPC a [`PeerRequest::Raft`] carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RaftRpc {
    AppendEntries,
    Vote,
    InstallSnapshot,
}

/// What one peer asks another. Raft payloads are opaque bytes (the cluster crate serialises them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerRequest {
    /// A Raft RPC; `body` is the serialised openraft request.
    Raft {
        kind: RaftRpc,
        #[serde(with = "crate::codec::bytes")]
        body: Vec<u8>,
    },
    /// A control-plane proposal forwarded to the leader.
    Propose {
        #[serde(with = "crate::codec::bytes")]
        body: Vec<u8>,
    },
    /// A joining peer asks to be added to the cluster (bootstrap); `uri` is its p2p address.
    AddPeer { peer_id: PeerId, uri: String },
    /// Health check.
    Ping,
    /// Other control-plane calls (opaque).
    Cluster {
        #[serde(with = "crate::codec::bytes")]
        body: Vec<u8>,
    },
    /// Data-plane calls addressed to one shard of a collection (replication, transfers, remote reads).
    Shard {
        collection: String,
        shard_id: ShardId,
        #[serde(with = "crate::codec::bytes")]
        body: Vec<u8>,
    },
    /// Several requests to one peer in one call (design record 055): the server serves each as if
    /// it came alone, in a task of its own, and answers them in order ([`PeerResponse::Batch`]).
    /// Unpacked by the transport: handlers never see a batch, and a batch inside one is refused.
    Batch { calls: Vec<PeerRequest> },
}

/// The answer to a [`PeerRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerResponse {
    /// Answer to [`PeerRequest::Raft`]: the serialised openraft response.
    Raft {
        #[serde(with = "crate::codec::bytes")]
        body: Vec<u8>,
    },
    /// Answer to [`PeerRequest::Propose`].
    Proposed {
        #[serde(with = "crate::codec::bytes")]
        body: Vec<u8>,
    },
    /// Answer to [`PeerRequest::AddPeer`]: every known peer with its URI, and the cluster's first peer.
    AllPeers { peers: Vec<(PeerId, String)>, first_peer_id: PeerId },
    /// Answer to [`PeerRequest::Ping`]: the answering peer's id.
    Pong { peer_id: PeerId },
    /// Answer to [`PeerRequest::Cluster`].
    Cluster {
        #[serde(with = "crate::codec::bytes")]
        body: Vec<u8>,
    },
    /// Answer to [`PeerRequest::Shard`].
    Shard {
        #[serde(with = "crate::codec::bytes")]
        body: Vec<u8>,
    },
    /// Answer to [`PeerRequest::Batch`]: one answer per call, in the calls' order.
    Batch { answers: Vec<BatchAnswer> },
}

/// One call's answer inside a [`PeerResponse::Batch`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BatchAnswer {
    /// The handler's answer.
    Answered(PeerResponse),
    /// The handler's error (the caller sees it as [`crate::PeerError::Remote`], as it would the
    /// error of a call sent alone).
    Failed(String),
}

/// [`PeerRequest::Batch`] borrowing its calls (encodes to the same bytes): a batch that an older
/// peer cannot read is sent again call by call, so the calls are kept.
#[derive(Serialize)]
pub(crate) enum BatchRef<'a> {
    Batch { calls: &'a [PeerRequest] },
}

impl PeerRequest {
    /// The calls of a [`PeerRequest::Batch`], or the request itself if it is a single call.
    pub(crate) fn into_batch(self) -> Result<Vec<PeerRequest>, PeerRequest> {
        match self {
            PeerRequest::Batch { calls } => Ok(calls),
            single @ (PeerRequest::Raft { .. }
            | PeerRequest::Propose { .. }
            | PeerRequest::AddPeer { .. }
            | PeerRequest::Ping
            | PeerRequest::Cluster { .. }
            | PeerRequest::Shard { .. }) => Err(single),
        }
    }

    /// A short name of the variant, for logs and error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            PeerRequest::Raft { kind: RaftRpc::AppendEntries, .. } => "raft.append_entries",
            PeerRequest::Raft { kind: RaftRpc::Vote, .. } => "raft.vote",
            PeerRequest::Raft { kind: RaftRpc::InstallSnapshot, .. } => "raft.install_snapshot",
            PeerRequest::Propose { .. } => "propose",
            PeerRequest::AddPeer { .. } => "add_peer",
            PeerRequest::Ping => "ping",
            PeerRequest::Cluster { .. } => "cluster",
            PeerRequest::Shard { .. } => "shard",
            PeerRequest::Batch { .. } => "batch",
        }
    }
}
