//! The data plane's view of other peers: the internal shard requests (one enum, not one RPC per
//! operation), and the two ports the collection needs from its node — calling a shard on another
//! peer, and asking the control plane to mark a replica `Dead`.

use crate::error::{CollectionError, Result};
use quiver_shard::StoredPoint;
use quiver_shard::{ApplyOutcome, ScrollPage};
use quiver_types::filter::Filter;
use quiver_types::ops::{UpdateOperation, UpdateResult};
use quiver_types::point::{Record, ScoredPoint};
use quiver_types::query::{CoreSearch, FacetRequest, FacetValue, ScrollRequest, WithPayload, WithVector};
use quiver_types::replica::ReplicaState;
use quiver_types::{PeerId, PointId, SeqNo, ShardId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A request to one shard replica on another peer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ShardRequest {
    /// A write for the primary to order and replicate. `seen_at`: the applied metadata index
    /// of the sender's view that named the receiver primary; refused if the receiver's current
    /// tenure as primary began later (a stale request must never be ordered after newer writes).
    Update {
        op: UpdateOperation,
        wait: bool,
        seen_at: u64,
    },
    /// A write the primary ordered at `seq`, for a replica to apply. Refused unless `primary` is
    /// the shard's primary in the replica's own view of the cluster state.
    Apply {
        primary: PeerId,
        seq: SeqNo,
        op: UpdateOperation,
        wait: bool,
        /// The primary's term (0 from a peer that predates it).
        #[serde(default)]
        term: u64,
    },
    Search(CoreSearch),
    Scroll(ScrollRequest),
    Count(Option<Filter>),
    Retrieve {
        ids: Vec<PointId>,
        with_payload: WithPayload,
        with_vector: WithVector,
    },
    Versions(Vec<PointId>),
    /// The replica's legacy digest (`LocalShard::legacy_digest`), answered to peers that
    /// predate [`ShardRequest::ContentDigest`].
    Digest,
    /// WAL records `from ..= to` (a new primary adopting a longer suffix).
    WalRecords {
        from: SeqNo,
        to: SeqNo,
    },
    /// The replica's last applied sequence number.
    LastSeq,
    /// The same, answered only if the replica sees `primary` as the shard's primary (a new
    /// primary fences the old one before ordering writes).
    PrimaryLastSeq {
        primary: PeerId,
    },
    /// A transfer source freezes a consistent copy of its replica for the target to page through.
    SnapshotBegin,
    SnapshotPage {
        token: u64,
        offset: usize,
        limit: usize,
    },
    /// Releases a frozen copy or a snapshot file.
    SnapshotEnd {
        token: u64,
    },
    /// A transfer source writes a shard snapshot file for the target to download (`snapshot`).
    SnapshotCreate,
    SnapshotChunk {
        token: u64,
        offset: u64,
        len: u32,
    },
    /// The range of sequence numbers the replica's WAL holds (`wal_delta`).
    WalRange,
    /// To the shard's primary: the target of transfer `from -> to` holds the copy; bring it up to
    /// date with writes held back and record the transfer's end through the control plane.
    FinishTransfer {
        from: PeerId,
        to: PeerId,
    },
    /// To a transfer's target: its progress comment.
    TransferComment {
        from: PeerId,
        to: PeerId,
    },
    /// A read answered with the replica's last applied sequence number taken before it (a read
    /// at a consistency above 1 keeps the answer of the most advanced replica).
    Versioned(Box<ShardRequest>),
    /// Facet counts of the shard (appended: variants are encoded by position).
    Facet(FacetRequest),
    /// Points with sparse vector `name` and their document frequencies in `dims` (IDF).
    SparseStats {
        name: String,
        dims: Vec<u32>,
    },
    /// Points `offset..offset + limit` of a frozen copy as one point frame (design record 019;
    /// appended, so older peers keep decoding the variants they know). `SnapshotPage` stays
    /// served for targets that predate it.
    SnapshotFrames {
        token: u64,
        offset: usize,
        limit: usize,
    },
    /// [`ShardRequest::Apply`] with the WAL record as the primary logged it (appended; design
    /// record 027): the replica logs these bytes instead of encoding the operation again. A peer
    /// that predates it refuses it as undecodable ([`is_not_understood`]) and is sent `Apply`.
    ApplyRecord {
        primary: PeerId,
        seq: SeqNo,
        #[serde(with = "serde_bytes")]
        record: Vec<u8>,
        wait: bool,
        #[serde(default)]
        term: u64,
    },
    /// [`ShardRequest::WalRecords`] as the stored record bytes (`wal_delta`; appended).
    WalRecordBytes {
        from: SeqNo,
        to: SeqNo,
    },
    /// The replica's figures for collection info (`info.rs`; appended). A peer that predates
    /// it refuses it as undecodable and is asked `Count(None)` instead.
    Info,
    /// The replica's content digest (`LocalShard::digest`, design record 052; appended),
    /// answered as [`ShardResponse::Digest`]. A peer that predates it refuses it as
    /// undecodable and is not compared.
    ContentDigest,
}

/// The text a peer's refusal of a request it cannot decode starts with.
pub const NOT_UNDERSTOOD: &str = "bad shard request";

/// Whether a peer refused a request because it could not decode it (it predates the variant).
pub fn is_not_understood(e: &CollectionError) -> bool {
    matches!(e, CollectionError::Service(message) if message.starts_with(NOT_UNDERSTOOD))
}

/// One WAL record's bytes (MessagePack `bin`, not an array of numbers).
pub type RecordBytes = serde_bytes::ByteBuf;

/// The answer of a shard replica.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ShardResponse {
    Updated(UpdateResult),
    Applied(ApplyOutcome),
    Scored(Vec<ScoredPoint>),
    Page(ScrollPage),
    Count(usize),
    Records(Vec<Record>),
    Versions(HashMap<PointId, u64>),
    Digest {
        digest: u64,
        points: usize,
        last_seq: SeqNo,
    },
    Wal(Vec<(SeqNo, UpdateOperation)>),
    LastSeq(SeqNo),
    Snapshot {
        token: u64,
        seq: SeqNo,
        total: usize,
    },
    Points(Vec<StoredPoint>),
    SnapshotFile {
        token: u64,
        seq: SeqNo,
        points: usize,
        bytes: u64,
    },
    Bytes(#[serde(with = "serde_bytes")] Vec<u8>),
    WalRange {
        first: SeqNo,
        last: SeqNo,
    },
    Comment(Option<String>),
    Done,
    /// The answer to [`ShardRequest::Versioned`]: the replica held at least `seq` when it read.
    Versioned {
        seq: SeqNo,
        response: Box<ShardResponse>,
    },
    Facets(Vec<(FacetValue, usize)>),
    SparseStats(usize, Vec<usize>),
    /// The answer to [`ShardRequest::SnapshotFrames`]: a point frame (`count` points).
    PointFrames {
        count: usize,
        #[serde(with = "serde_bytes")]
        frame: Vec<u8>,
    },
    /// The answer to [`ShardRequest::WalRecordBytes`].
    WalBytes(Vec<(SeqNo, RecordBytes)>),
    /// The answer to [`ShardRequest::Info`].
    Info(ShardInfo),
}

/// One replica's figures in collection info.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    pub points: usize,
    /// Dense vectors held in ANN indexes.
    pub indexed_vectors: usize,
    /// Whether the replica's indexer still has work queued.
    pub indexing: bool,
}

impl ShardInfo {
    /// The figures of a local replica.
    pub fn of(shard: &quiver_shard::LocalShard) -> ShardInfo {
        let status = shard.index_status();
        ShardInfo { points: shard.points_count(), indexed_vectors: status.indexed_vectors, indexing: status.indexing }
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Calls shard replicas on other peers (implemented by the node over the p2p transport).
pub trait ShardTransport: Send + Sync {
    fn call(
        &self,
        peer: PeerId,
        collection: &str,
        shard_id: ShardId,
        request: ShardRequest,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<ShardResponse>>;
}

/// What the data plane asks of the control plane (implemented by the node over consensus).
pub trait ControlPlane: Send + Sync {
    /// Marks a replica `Dead` and returns once that is committed and applied locally.
    ///
    /// Refused by the state machine when it would deactivate the last active replica.
    fn mark_dead(
        &self,
        collection: &str,
        shard_id: ShardId,
        peer: PeerId,
        from_state: ReplicaState,
    ) -> BoxFuture<'_, Result<()>>;

    /// Records the end of transfer `from -> to` (target `Active`; a move drops the source) and
    /// returns once that is committed and applied locally.
    fn finish_transfer(
        &self,
        collection: &str,
        shard_id: ShardId,
        from: PeerId,
        to: PeerId,
    ) -> BoxFuture<'_, Result<()>>;

    /// Returns once this peer applied (and reconciled) the metadata the cluster had committed
    /// when it was called: a collection's configuration here is then at least as recent.
    fn catch_up_metadata(&self) -> BoxFuture<'_, Result<()>>;

    /// Whether this peer is in contact with a Raft quorum. A peer that is not (partitioned, or
    /// paused and resumed) may hold replicas that others already marked `Dead`, so its local
    /// replicas must not serve reads until it is back in contact.
    fn is_connected(&self) -> bool;

    /// How long ago this peer last had evidence of a working quorum (`None`: never, or not
    /// known). A read on a peer that lost contact a moment ago (the Raft leader died and an
    /// election is under way) waits a little for it to come back rather than failing.
    fn since_contact(&self) -> Option<std::time::Duration> {
        None
    }

    /// Whether nothing can be committed without this peer (the other voters are not a majority):
    /// then its `Active` replicas cannot have been deactivated behind its back, and no write can
    /// have been acknowledged without them, so they may serve reads even without a quorum.
    fn is_indispensable(&self) -> bool;
}

/// Decodes an answer of the expected kind.
pub fn unexpected(response: &ShardResponse) -> CollectionError {
    CollectionError::Service(format!("unexpected shard response: {response:?}"))
}

macro_rules! expect_variant {
    ($name:ident, $variant:ident, $t:ty) => {
        /// The payload of the expected answer, or an error naming the unexpected one.
        pub fn $name(self) -> Result<$t> {
            match self {
                ShardResponse::$variant(value) => Ok(value),
                other => Err(unexpected(&other)),
            }
        }
    };
}

#[allow(clippy::wildcard_enum_match_arm)] // decoding an answer: any other variant is a protocol error
impl ShardResponse {
    expect_variant!(into_updated, Updated, UpdateResult);
    expect_variant!(into_applied, Applied, ApplyOutcome);
    expect_variant!(into_scored, Scored, Vec<ScoredPoint>);
    expect_variant!(into_page, Page, ScrollPage);
    expect_variant!(into_count, Count, usize);
    expect_variant!(into_facets, Facets, Vec<(FacetValue, usize)>);

    pub fn into_sparse_stats(self) -> Result<(usize, Vec<usize>)> {
        match self {
            ShardResponse::SparseStats(points, df) => Ok((points, df)),
            other => Err(unexpected(&other)),
        }
    }
    expect_variant!(into_records, Records, Vec<Record>);
    expect_variant!(into_versions, Versions, HashMap<PointId, u64>);
    expect_variant!(into_wal, Wal, Vec<(SeqNo, UpdateOperation)>);
    expect_variant!(into_wal_bytes, WalBytes, Vec<(SeqNo, RecordBytes)>);
    expect_variant!(into_last_seq, LastSeq, SeqNo);
    expect_variant!(into_points, Points, Vec<StoredPoint>);
    expect_variant!(into_bytes, Bytes, Vec<u8>);
    expect_variant!(into_comment, Comment, Option<String>);
    expect_variant!(into_info, Info, ShardInfo);

    /// `(first, last)` of a WAL range answer.
    pub fn into_wal_range(self) -> Result<(SeqNo, SeqNo)> {
        match self {
            ShardResponse::WalRange { first, last } => Ok((first, last)),
            other => Err(unexpected(&other)),
        }
    }

    /// `(count, frame)` of a page of point frames.
    pub fn into_point_frames(self) -> Result<(usize, Vec<u8>)> {
        match self {
            ShardResponse::PointFrames { count, frame } => Ok((count, frame)),
            other => Err(unexpected(&other)),
        }
    }

    /// `(token, seq, total)` of a frozen snapshot.
    pub fn into_snapshot(self) -> Result<(u64, SeqNo, usize)> {
        match self {
            ShardResponse::Snapshot { token, seq, total } => Ok((token, seq, total)),
            other => Err(unexpected(&other)),
        }
    }

    /// `(seq, answer)` of a versioned read.
    pub fn into_versioned(self) -> Result<(SeqNo, ShardResponse)> {
        match self {
            ShardResponse::Versioned { seq, response } => Ok((seq, *response)),
            other => Err(unexpected(&other)),
        }
    }

    /// `(digest, points, last_seq)` of a digest answer.
    pub fn into_digest(self) -> Result<(u64, usize, SeqNo)> {
        match self {
            ShardResponse::Digest { digest, points, last_seq } => Ok((digest, points, last_seq)),
            other => Err(unexpected(&other)),
        }
    }
}
