//! Quiver's peer-to-peer transport: the messages peers exchange ([`PeerRequest`], [`PeerResponse`]), their
//! wire encoding, the tonic server ([`serve`]) and client ([`PeerClient`]) of port 6335, the crate's one
//! error enum ([`PeerError`]) and a fault-injection layer ([`Faults`]) that partitions peers in tests.
//!
//! Wire format: one gRPC service `quiver.p2p.Peer` with one unary method `Call(Envelope) -> Envelope`.
//! `Envelope.body` is a version byte ([`WIRE_VERSION`]) followed by the MessagePack (rmp-serde, named
//! fields) encoding of a [`PeerRequest`] or [`PeerResponse`]. Raft, control-plane and data-plane payloads
//! are opaque bytes here; the crates above serialise them. Calls to one peer issued at the same moment may
//! travel as one [`PeerRequest::Batch`] ([`PeerClient::call_peer_coalesced`], design record 055).
//!
//! Errors on the wire: the server answers a handler error with `Internal`, undecodable bytes with
//! `InvalidArgument` (both become [`PeerError::Remote`] on the client), and a call from a blocked peer with
//! `Unavailable` (which becomes [`PeerError::Unreachable`], as a real partition would).

mod client;
mod coalesce;
mod codec;
mod error;
mod faults;
mod message;
mod security;
mod server;
pub mod tls;

/// Code generated from `proto/p2p.proto` (tonic client `peer_client::PeerClient`, server
/// `peer_server::PeerServer`, message `Envelope`). Exposed for tests that need to send raw bytes.
pub mod proto {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("quiver.p2p");
}

pub use client::{PeerClient, SendFailure, Wire};
pub use codec::{WIRE_VERSION, decode, encode};
pub use error::PeerError;
pub use faults::{Faults, display_uri, normalize_uri};
pub use message::{BatchAnswer, PeerRequest, PeerResponse, RaftRpc};
pub use security::{PEER_KEY_HEADER, PeerKey, PeerSecurity, PeerTls};
pub use server::{
    HandlerFuture, PeerHandler, handler_fn, serve, serve_envelope, serve_in_memory, serve_with_listener,
    serve_with_security,
};

/// Largest p2p message accepted or sent, in bytes (shard-transfer batches and Raft snapshots can be big).
pub const MAX_MESSAGE_SIZE: usize = 256 * 1024 * 1024;

pub use quiver_types::{PeerId, ShardId};
