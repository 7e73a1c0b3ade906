//! The new checkpoint of an install (`install.rs`) written on a thread of its own: while the
//! install's thread decodes the next frame into the new table, this one writes the previous
//! frames' bytes into the checkpoint being built, one durable redb transaction per frame, in the
//! order they came. At most [`QUEUED`] frames wait, so memory stays bounded when the disk is
//! the slower side. An error stops the writer; the install learns it at its next frame or at
//! its finish, and is then dropped. A dropped writer abandons what is queued and its builder
//! removes the unfinished file before the drop returns.

use crate::error::Result;
use quiver_storage::StorageError;
use quiver_storage::checkpoint::CheckpointBuilder;
use quiver_types::PointId;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Frames waiting for the writer at most (besides the one it writes).
const QUEUED: usize = 2;

/// One transaction's worth of points for the checkpoint.
pub(crate) enum Batch {
    /// A point frame's bytes, with each point's id and the span of its bytes in them.
    Frame { bytes: Vec<u8>, spans: Vec<(PointId, Range<usize>)> },
    /// Points encoded one by one (format-1 snapshot frames, older peers' pages).
    Encoded(Vec<(PointId, Vec<u8>)>),
}

/// The writer thread of one install's checkpoint.
pub(crate) struct CheckpointWriter {
    queue: Option<SyncSender<Batch>>,
    thread: Option<JoinHandle<Result<CheckpointBuilder>>>,
    /// The builder once every batch is written ([`CheckpointWriter::wait`]).
    written: Option<CheckpointBuilder>,
    abandoned: Arc<AtomicBool>,
}

fn stopped() -> crate::error::ShardError {
    StorageError::Store("the install's checkpoint writer has stopped".into()).into()
}

impl CheckpointWriter {
    pub(crate) fn start(builder: CheckpointBuilder) -> Result<CheckpointWriter> {
        let (queue, batches) = sync_channel(QUEUED);
        let abandoned = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&abandoned);
        let thread = std::thread::Builder::new()
            .name("quiver-install".into())
            .spawn(move || write_all(builder, &batches, &flag))
            .map_err(|e| StorageError::io("start the install's checkpoint writer", "", e))?;
        Ok(CheckpointWriter { queue: Some(queue), thread: Some(thread), written: None, abandoned })
    }

    /// Queues `batch` (waiting while [`QUEUED`] others do); the error that stopped the writer,
    /// if an earlier batch failed.
    pub(crate) fn write(&mut self, batch: Batch) -> Result<()> {
        let sent = self.queue.as_ref().ok_or_else(stopped)?.send(batch);
        // A closed queue: the writer ended on an error, which its thread returns.
        sent.map_err(|_| self.join().err().unwrap_or_else(stopped))
    }

    /// Waits until every queued batch is written (no batch can be added after).
    pub(crate) fn wait(&mut self) -> Result<()> {
        if self.written.is_none() {
            self.written = Some(self.join()?);
        }
        Ok(())
    }

    /// The builder, every batch written, to finish.
    pub(crate) fn finish(mut self) -> Result<CheckpointBuilder> {
        self.wait()?;
        self.written.take().ok_or_else(stopped)
    }

    fn join(&mut self) -> Result<CheckpointBuilder> {
        self.queue = None; // the writer's loop ends once the queue is empty
        let thread = self.thread.take().ok_or_else(stopped)?;
        thread.join().map_err(|_| StorageError::Store("the install's checkpoint writer panicked".into()))?
    }
}

impl Drop for CheckpointWriter {
    fn drop(&mut self) {
        self.abandoned.store(true, Ordering::Release);
        let _ = self.join();
    }
}

fn write_all(
    builder: CheckpointBuilder,
    batches: &Receiver<Batch>,
    abandoned: &AtomicBool,
) -> Result<CheckpointBuilder> {
    for batch in batches {
        if abandoned.load(Ordering::Acquire) {
            return Err(stopped());
        }
        match batch {
            Batch::Frame { bytes, spans } => {
                if spans.iter().any(|(_, span)| bytes.get(span.clone()).is_none()) {
                    return Err(StorageError::Corrupt("a point's span lies outside its frame".into()).into());
                }
                builder.put_frames(spans.iter().map(|(id, span)| (id, &bytes[span.clone()])))?
            }
            Batch::Encoded(points) => builder.put_frames(points.iter().map(|(id, bytes)| (id, bytes.as_slice())))?,
        }
    }
    Ok(builder)
}
