//! A shard snapshot streamed as it is encoded, for a `snapshot` transfer's source (design record
//! 019, "Streamed snapshot sources"). The source freezes a consistent copy of its replica, as
//! [`LocalShard::write_snapshot`] does, announces the exact size of its format-2 snapshot, and
//! encodes it on a thread of its own into a bounded buffer that the target's chunk requests
//! are answered from: the target receives, byte for byte, what the file would have held, while
//! the rest is still being encoded, and nothing is written to disk.
//!
//! A read at offset `o` acknowledges every byte before `o` (they are dropped); the bytes from
//! `o` on stay until a later offset is read, so a repeated request is answered again. The
//! encoder runs at most [`StreamLimits::ahead_bytes`] past the oldest byte kept. It stops, freeing the frozen copy and the buffer, when the stream is closed
//! (released by the target, replaced by another transfer's stream, dropped) or when nothing
//! was read for `idle` (a target that went away); reads are then refused.

use crate::error::{Result, ShardError};
use crate::shard::LocalShard;
use crate::snapshot::{self, FRAME_POINTS, SnapshotInfo};
use parking_lot::{Condvar, Mutex, MutexGuard};
use quiver_storage::StorageError;
use quiver_storage::points::StoredPoint;
use quiver_types::SeqNo;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a stream waits for a read, and how far its encoder may run ahead.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// With no read for this long the stream expires (its target went away).
    pub idle: Duration,
    /// How far the encoder may run past the oldest byte the stream keeps (more only when one
    /// read asks for more).
    pub ahead_bytes: u64,
}

/// Why a stream stopped before it was closed by its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stopped {
    Closed,
    Expired,
    Failed(String),
}

struct State {
    /// Encoded bytes not yet acknowledged, in order; `pieces[0]` starts at stream offset `base`.
    pieces: VecDeque<Vec<u8>>,
    base: u64,
    /// Bytes encoded so far.
    end: u64,
    /// The furthest offset a read has asked for.
    wanted: u64,
    last_read: Instant,
    stopped: Option<Stopped>,
}

impl State {
    fn stop(&mut self, why: Stopped) {
        self.stopped.get_or_insert(why);
        self.pieces = VecDeque::new();
        self.base = self.end;
    }

    /// Drops the pieces that end at or before `offset`.
    fn acknowledge(&mut self, offset: u64) {
        while let Some(len) = self.pieces.front().map(|p| p.len() as u64)
            && self.base + len <= offset
        {
            self.pieces.pop_front();
            self.base += len;
        }
    }

    /// Copies stream bytes `from..to` (all held).
    fn copy(&self, from: u64, to: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity((to - from) as usize);
        let mut at = self.base;
        for piece in &self.pieces {
            let piece_end = at + piece.len() as u64;
            if piece_end > from && at < to {
                let lo = from.saturating_sub(at) as usize;
                let hi = (to.min(piece_end) - at) as usize;
                out.extend_from_slice(&piece[lo..hi]);
            }
            at = piece_end;
        }
        out
    }
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    limits: StreamLimits,
}

impl Shared {
    /// Waits for `f` or until `idle` has passed since the last read (the stream then expires).
    /// `Err` once the stream stopped.
    fn wait_while(&self, state: &mut MutexGuard<'_, State>, f: impl Fn(&State) -> bool) -> Result<(), Stopped> {
        loop {
            if let Some(why) = &state.stopped {
                return Err(why.clone());
            }
            if !f(state) {
                return Ok(());
            }
            let expires = state.last_read + self.limits.idle;
            if Instant::now() >= expires {
                state.stop(Stopped::Expired);
                self.changed.notify_all();
                return Err(Stopped::Expired);
            }
            self.changed.wait_until(state, expires);
        }
    }

    /// Appends an encoded piece once there is room for it.
    fn push(&self, piece: Vec<u8>) -> Result<(), Stopped> {
        let mut state = self.state.lock();
        self.wait_while(&mut state, |s| {
            s.end - s.base >= self.limits.ahead_bytes.max(s.wanted.saturating_sub(s.base))
        })?;
        state.end += piece.len() as u64;
        state.pieces.push_back(piece);
        self.changed.notify_all();
        Ok(())
    }

    /// The encoder's thread: encodes the snapshot, then keeps its last bytes until the stream
    /// is closed or expires.
    fn encode(&self, seq: SeqNo, points: Vec<StoredPoint>, total: u64) {
        let encoded = self.encode_all(seq, points);
        let mut state = self.state.lock();
        let outcome = match encoded {
            Ok(()) if state.end == total => self.wait_while(&mut state, |_| true),
            Ok(()) => Err(Stopped::Failed(format!("encoded {} bytes, {total} announced", state.end))),
            Err(why) => Err(why),
        };
        if let Err(why) = outcome {
            match &why {
                Stopped::Failed(reason) => tracing::warn!(%reason, "shard snapshot stream failed"),
                Stopped::Expired => tracing::info!(idle = ?self.limits.idle, "shard snapshot stream expired: no read"),
                Stopped::Closed => {}
            }
            state.stop(why);
        }
        self.changed.notify_all();
    }

    fn encode_all(&self, seq: SeqNo, points: Vec<StoredPoint>) -> Result<(), Stopped> {
        self.push(snapshot::header(seq).to_vec())?;
        let mut rest = points.into_iter();
        loop {
            // Moved out of the copy, so each frame's points are freed once it is encoded.
            let frame: Vec<StoredPoint> = rest.by_ref().take(FRAME_POINTS).collect();
            if frame.is_empty() {
                return self.push(snapshot::END_MARKER.to_vec());
            }
            self.push(snapshot::frame_bytes(&frame).map_err(|e| Stopped::Failed(e.to_string()))?)?;
        }
    }
}

/// A format-2 shard snapshot served as it is encoded (see the module docs). Dropping it (or
/// [`SnapshotStream::close`]) stops its encoder.
pub struct SnapshotStream {
    shared: Arc<Shared>,
    info: SnapshotInfo,
}

impl SnapshotStream {
    /// What the stream holds: its sequence number, points and exact size in bytes.
    pub fn info(&self) -> SnapshotInfo {
        self.info
    }

    /// Stream bytes from `offset`: `len` of them (fewer at the end), or what is encoded when
    /// `wait` runs out (at least one byte, else an error). Bytes before `offset` are dropped.
    pub fn read(&self, offset: u64, len: u32, wait: Duration) -> Result<Vec<u8>> {
        let total = self.info.bytes;
        let to = offset.saturating_add(u64::from(len)).min(total);
        if offset >= total {
            return Ok(Vec::new());
        }
        let mut state = self.shared.state.lock();
        if let Some(why) = &state.stopped {
            return Err(refused(why));
        }
        if offset < state.base {
            return Err(ShardError::BadInput(format!("snapshot stream bytes before {} were already read", state.base)));
        }
        state.last_read = Instant::now();
        state.wanted = state.wanted.max(to);
        state.acknowledge(offset);
        self.shared.changed.notify_all();
        let deadline = Instant::now() + wait;
        while state.end < to && state.stopped.is_none() && Instant::now() < deadline {
            self.shared.changed.wait_until(&mut state, deadline);
        }
        if let Some(why) = &state.stopped {
            return Err(refused(why));
        }
        state.last_read = Instant::now();
        match state.end.min(to) {
            end if end > offset => Ok(state.copy(offset, end)),
            _ => Err(ShardError::Storage(StorageError::Encoding(format!(
                "snapshot stream encoded nothing past {offset} within {wait:?}"
            )))),
        }
    }

    /// Stops the encoder and frees what it holds; later reads are refused.
    pub fn close(&self) {
        let mut state = self.shared.state.lock();
        state.stop(Stopped::Closed);
        self.shared.changed.notify_all();
    }

    /// Whether the encoder's thread has ended (it holds the other reference).
    #[cfg(test)]
    pub(crate) fn encoder_ended(&self) -> bool {
        Arc::strong_count(&self.shared) == 1
    }
}

impl Drop for SnapshotStream {
    fn drop(&mut self) {
        self.close();
    }
}

fn refused(why: &Stopped) -> ShardError {
    match why {
        Stopped::Closed => ShardError::BadInput("the snapshot stream was closed".into()),
        Stopped::Expired => ShardError::BadInput("the snapshot stream expired (no read for too long)".into()),
        Stopped::Failed(reason) => ShardError::Storage(StorageError::Encoding(format!("snapshot stream: {reason}"))),
    }
}

impl LocalShard {
    /// Freezes a consistent copy of the replica (as of its applied sequence number) and starts
    /// encoding it as a format-2 snapshot stream.
    pub fn stream_snapshot(&self, limits: StreamLimits) -> Result<SnapshotStream> {
        let (seq, points) = self.snapshot_points();
        let bytes = snapshot::snapshot_len(&points)?;
        let info = SnapshotInfo { seq, points: points.len(), bytes };
        let state =
            State { pieces: VecDeque::new(), base: 0, end: 0, wanted: 0, last_read: Instant::now(), stopped: None };
        let shared = Arc::new(Shared { state: Mutex::new(state), changed: Condvar::new(), limits });
        let encoder = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("quiver-snapshot-stream".into())
            .spawn(move || encoder.encode(seq, points, bytes))
            .map_err(|e| StorageError::io("start the snapshot stream's thread", "", e))?;
        Ok(SnapshotStream { shared, info })
    }
}

#[cfg(test)]
#[path = "tests_stream.rs"]
mod tests;
