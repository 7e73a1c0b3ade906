//! Named vectors created on and deleted from an existing collection
//! (`PUT`/`DELETE /collections/{c}/vectors/{name}`, design record 018). In cluster mode the
//! change is a consensus operation; every peer's reconciler then changes its local shards'
//! columns (`Collection::set_config`). Standalone, the node does the same under its metadata
//! lock.

use crate::error::{NodeError, Result};
use crate::node::Node;
use quiver_cluster::state::MetaOperation;
use quiver_types::config::CollectionConfig;
use quiver_types::ops::{UpdateResult, UpdateStatus};
use quiver_types::vector_name::{self, VectorNameConfig};
use std::time::Duration;

/// One change of a collection's vector names.
enum VectorChange<'a> {
    Create(&'a str, &'a VectorNameConfig),
    Delete(&'a str),
}

impl VectorChange<'_> {
    /// Applies the change to `config`, or refuses it (name taken, name missing).
    fn apply(&self, config: &mut CollectionConfig) -> Result<()> {
        match self {
            VectorChange::Create(name, vector) => config.create_vector_name(name, vector)?,
            VectorChange::Delete(name) => config.delete_vector_name(name)?,
        }
        Ok(())
    }

    /// The consensus operation of the change on `collection`.
    fn operation(&self, collection: String) -> MetaOperation {
        match self {
            VectorChange::Create(name, vector) => {
                MetaOperation::CreateVectorName { collection, name: name.to_string(), config: (*vector).clone() }
            }
            VectorChange::Delete(name) => MetaOperation::DeleteVectorName { collection, name: name.to_string() },
        }
    }
}

/// The answer to a vector change: as in Qdrant (and as payload index changes answer), an
/// operation id, here that of the last write the changed columns cover.
fn result(wait: bool, collection: &quiver_collection::Collection) -> UpdateResult {
    let status = if wait { UpdateStatus::Completed } else { UpdateStatus::Acknowledged };
    let operation_id = quiver_types::ops::client_operation_id(collection.applied_seq());
    UpdateResult { operation_id: Some(operation_id), status, missing_point: None }
}

impl Node {
    /// `PUT /collections/{c}/vectors/{name}`: the collection gains the vector `name`; existing
    /// points have no such vector.
    pub async fn create_vector_name(
        &self,
        collection: &str,
        name: &str,
        config: VectorNameConfig,
        wait: bool,
        timeout: Option<Duration>,
    ) -> Result<UpdateResult> {
        vector_name::check_name(name)
            .map_err(|issue| NodeError::Validation(format!("Validation error in path parameters: [{issue}]")))?;
        config.validate()?;
        self.change_vectors(collection, VectorChange::Create(name, &config), timeout).await?;
        Ok(result(wait, &*self.resolve(collection)?))
    }

    /// `DELETE /collections/{c}/vectors/{name}`: the vector `name`, its values and its index go.
    pub async fn delete_vector_name(
        &self,
        collection: &str,
        name: &str,
        wait: bool,
        timeout: Option<Duration>,
    ) -> Result<UpdateResult> {
        self.change_vectors(collection, VectorChange::Delete(name), timeout).await?;
        Ok(result(wait, &*self.resolve(collection)?))
    }

    /// Checks the change against the collection's configuration, then proposes it (cluster;
    /// the state machine checks it again where it is ordered) or applies it here (standalone).
    async fn change_vectors(
        &self,
        collection: &str,
        change: VectorChange<'_>,
        timeout: Option<Duration>,
    ) -> Result<()> {
        if self.cluster().is_some() {
            let resolved = self.resolve(collection)?;
            change.apply(&mut resolved.config())?;
            self.propose(change.operation(resolved.name().to_string()), timeout).await?;
            return Ok(());
        }
        let _meta = self.meta_lock.lock().await;
        let resolved = self.resolve(collection)?;
        let mut config = resolved.config();
        change.apply(&mut config)?;
        tokio::task::spawn_blocking(move || resolved.set_config(config))
            .await
            .map_err(|e| NodeError::Service(format!("vector change task: {e}")))??;
        Ok(())
    }
}
