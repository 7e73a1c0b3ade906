//! `POST /collections/{c}/facet`: counts of the values of a payload key (spec: Qdrant's facet
//! API). As in Qdrant the key needs a keyword, integer, bool or uuid index; counts are always
//! exact (`exact: false` is answered exactly too).

use crate::error::{NodeError, Result};
use crate::node::Node;
use quiver_types::filter::Filter;
use quiver_types::index_params::{FieldSchema, FieldTypeName};
use quiver_types::query::{FacetHit, FacetRequest};
use quiver_types::shard_key::ShardKeySelector;

/// The default number of hits.
pub const DEFAULT_FACET_LIMIT: usize = 10;

/// The optional parts of a facet request.
#[derive(Debug, Clone, Default)]
pub struct FacetParams {
    pub filter: Option<Filter>,
    pub limit: Option<usize>,
    /// The shard keys counted (custom sharding); every shard when `None`.
    pub shard_key: Option<ShardKeySelector>,
}

impl Node {
    /// The `limit` values of `key` held by the most points passing `filter` (within the
    /// shard keys `shard_key` selects; every shard without one).
    pub async fn facet(&self, name: &str, key: &str, request: FacetParams) -> Result<Vec<FacetHit>> {
        self.admitted(name, crate::strict::Traffic::Read, self.facet_admitted(name, key, request)).await
    }

    async fn facet_admitted(&self, name: &str, key: &str, request: FacetParams) -> Result<Vec<FacetHit>> {
        let FacetParams { filter, limit, shard_key } = request;
        let collection = self.resolve(name)?;
        let limit = limit.unwrap_or(DEFAULT_FACET_LIMIT);
        if limit == 0 {
            return Err(NodeError::Validation(quiver_types::validation::json_body(
                quiver_types::validation::at_least("limit", 0, 1),
            )));
        }
        let indexed =
            collection.payload_index().get(key).and_then(|s| FieldSchema::parse(s).ok()).map(|s| s.data_type());
        match indexed {
            Some(FieldTypeName::Keyword | FieldTypeName::Integer | FieldTypeName::Bool | FieldTypeName::Uuid) => {}
            Some(_) | None => {
                return Err(NodeError::BadRequest(format!(
                    "Index required but not found for \"{key}\" of one of the following types: [keyword, integer, bool, uuid]. \
                     Help: Create an index for this key or use a different filter."
                )));
            }
        }
        self.check_read(&collection, Some(limit), filter.as_ref(), None)?;
        Ok(collection.facet(FacetRequest { key: key.to_string(), filter }, limit, shard_key.as_ref()).await?)
    }
}
