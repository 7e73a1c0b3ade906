//! The write lock of `POST /locks` and `GET /locks` (Qdrant's administration API): while set,
//! this node refuses to create collections and to add data (upserts, vector updates, payload
//! sets and overwrites) with 403 `Storage locked: <message>`; reads, deletions and other
//! updates go on. Like Qdrant's, the lock belongs to one node and does not survive a restart.

use crate::error::{NodeError, Result};
use crate::node::Node;
use crate::registers::Locks;
use quiver_types::ops::UpdateOperation;

/// The message of a refusal when the lock was set without one (Qdrant's text).
const DEFAULT_LOCK_MESSAGE: &str = "Write operations are forbidden";

impl Node {
    /// `GET /locks`.
    pub fn locks(&self) -> Locks {
        self.locks.lock().clone()
    }

    /// `POST /locks`: sets the lock and answers the setting it replaced, as Qdrant does.
    pub fn set_locks(&self, locks: Locks) -> Locks {
        std::mem::replace(&mut *self.locks.lock(), locks)
    }

    /// Refuses the creation of a collection while the write lock is set.
    pub(crate) fn check_write_lock(&self) -> Result<()> {
        let locks = self.locks.lock();
        match locks.write {
            true => {
                Err(NodeError::Locked(locks.error_message.clone().unwrap_or_else(|| DEFAULT_LOCK_MESSAGE.to_string())))
            }
            false => Ok(()),
        }
    }

    /// Refuses an operation that adds data while the write lock is set.
    pub(crate) fn check_write_lock_for(&self, op: &UpdateOperation) -> Result<()> {
        match op.adds_data() {
            true => self.check_write_lock(),
            false => Ok(()),
        }
    }
}
