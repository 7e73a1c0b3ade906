//! Vector names created on and deleted from a collection (design record 018). A change applies
//! only while no replica of the collection is catching up (a `Dead`, `Partial`, `Recovery`, …
//! replica, or a running transfer): such a replica would later replay records ordered before
//! the change into the columns after it. A replica that is in step meanwhile skips vectors of
//! names it no longer has, and catches up with the metadata before applying a name it lacks.

use super::{CollectionMeta, MetaError, MetaResponse};
use quiver_types::vector_name::VectorNameConfig;

impl CollectionMeta {
    /// `CreateVectorName` (`config: Some`) or `DeleteVectorName` (`None`) of `name`.
    pub(super) fn change_vector_name(
        &mut self,
        collection: &str,
        name: &str,
        config: Option<&VectorNameConfig>,
    ) -> Result<MetaResponse, MetaError> {
        let mut next = self.config.clone();
        match config {
            Some(config) => next.create_vector_name(name, config)?,
            None => next.delete_vector_name(name)?,
        }
        self.check_in_step(collection)?;
        self.config = next;
        Ok(MetaResponse::Done)
    }

    /// Refuses while a transfer runs or a replica may replay or copy older records.
    fn check_in_step(&self, collection: &str) -> Result<(), MetaError> {
        let refuse = |what: String| {
            MetaError::BadRequest(format!(
                "Can't change the vectors of collection `{collection}` while {what}; retry once every replica is \
                 Active"
            ))
        };
        if let Some(transfer) = self.transfers.first() {
            return Err(refuse(format!("shard {} is being transferred", transfer.shard_id)));
        }
        for (shard_id, replicas) in &self.shards {
            for (peer, state) in replicas {
                if state.catches_up() {
                    return Err(refuse(format!("the replica of shard {shard_id} on peer {peer} is {state:?}")));
                }
            }
        }
        Ok(())
    }
}
