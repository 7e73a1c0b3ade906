//! Raft RPCs over the p2p transport: each openraft request is serialised (JSON) into one
//! `PeerRequest::Raft`; the remote side hands it to its `Raft` and returns the serialised result.

use super::{Raft, TypeConfig};
use openraft::BasicNode;
use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use quiver_transport::{PeerClient, PeerError, PeerRequest, PeerResponse, RaftRpc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// When each peer last acknowledged an `AppendEntries` from this peer (as leader).
pub type AckTimes = Arc<parking_lot::Mutex<std::collections::HashMap<u64, tokio::time::Instant>>>;

/// Creates one connection handle per target peer; all share the transport client.
#[derive(Clone)]
pub struct Network {
    pub client: Arc<PeerClient>,
    pub acks: AckTimes,
}

pub struct Connection {
    client: Arc<PeerClient>,
    target: u64,
    uri: String,
    acks: AckTimes,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Connection;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Self::Network {
        Connection { client: Arc::clone(&self.client), target, uri: node.addr.clone(), acks: Arc::clone(&self.acks) }
    }
}

type RpcResult<T, E> = Result<T, RPCError<u64, BasicNode, RaftError<u64, E>>>;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Message(String);

impl Connection {
    async fn send<Req, Resp, E>(&self, kind: RaftRpc, request: &Req, option: &RPCOption) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let body = serde_json::to_vec(request).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let response =
            self.client.call_peer(self.target, &self.uri, PeerRequest::Raft { kind, body }, option.hard_ttl()).await;
        let body = match response {
            Ok(PeerResponse::Raft { body }) => body,
            Ok(other) => {
                let e = Message(format!("unexpected response to a Raft RPC: {other:?}"));
                return Err(RPCError::Network(NetworkError::new(&e)));
            }
            Err(e @ (PeerError::Unreachable(_) | PeerError::Down(_) | PeerError::Timeout(_))) => {
                return Err(RPCError::Unreachable(Unreachable::new(&e)));
            }
            Err(e @ (PeerError::Remote(_) | PeerError::Codec(_))) => {
                return Err(RPCError::Network(NetworkError::new(&e)));
            }
        };
        let result: Result<Resp, RaftError<u64, E>> =
            serde_json::from_slice(&body).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<u64>, openraft::error::Infallible> {
        // The evidence of leadership an acknowledgement gives dates from when the request was
        // sent, before the follower refreshed its leader lease: counting from the answer's arrival
        // would stretch this leader's contact window past the lease its followers hold.
        let sent = tokio::time::Instant::now();
        let response: AppendEntriesResponse<u64> = self.send(RaftRpc::AppendEntries, &rpc, &option).await?;
        if response.is_success() {
            let mut acks = self.acks.lock();
            let acked = acks.entry(self.target).or_insert(sent);
            *acked = (*acked).max(sent);
        }
        Ok(response)
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<u64>, InstallSnapshotError> {
        self.send(RaftRpc::InstallSnapshot, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<u64>, openraft::error::Infallible> {
        self.send(RaftRpc::Vote, &rpc, &option).await
    }
}

/// Serves one incoming Raft RPC on `raft`; returns the serialised result. `on_leader_contact` is
/// called when an `AppendEntries` from the current leader was accepted.
pub async fn handle_raft_rpc(
    raft: &Raft,
    kind: RaftRpc,
    body: &[u8],
    on_leader_contact: impl FnOnce(),
) -> Result<Vec<u8>, String> {
    let decode_err = |e: serde_json::Error| format!("bad Raft RPC body: {e}");
    let encoded = match kind {
        RaftRpc::AppendEntries => {
            let rpc = serde_json::from_slice(body).map_err(decode_err)?;
            let result = raft.append_entries(rpc).await;
            if result.as_ref().is_ok_and(|r| r.is_success()) {
                on_leader_contact();
            }
            serde_json::to_vec(&result)
        }
        RaftRpc::Vote => {
            let rpc = serde_json::from_slice(body).map_err(decode_err)?;
            serde_json::to_vec(&raft.vote(rpc).await)
        }
        RaftRpc::InstallSnapshot => {
            let rpc = serde_json::from_slice(body).map_err(decode_err)?;
            serde_json::to_vec(&raft.install_snapshot(rpc).await)
        }
    };
    encoded.map_err(|e| format!("encode Raft RPC result: {e}"))
}
