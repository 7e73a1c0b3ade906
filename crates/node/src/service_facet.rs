//! `POST /collections/{c}/facet`: counts of the values of a payload key (spec: Qdrant's facet
//! API). As in Qdrant the key needs a keyword, integer, bool or uuid index, and only values the
//! index holds are counted (strings for keyword, integers for integer, booleans for bool, UUIDs,
//! written hyphenated in lower case, for uuid); counts are always exact (`exact: false` is
//! answered exactly too).

use crate::error::{NodeError, Result};
use crate::node::Node;
use quiver_types::filter::Filter;
use quiver_types::index_params::{FieldSchema, FieldTypeName};
use quiver_types::query::{FacetHit, FacetRequest, FacetValue, top_facet_hits};
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
        let index = match indexed {
            Some(
                index @ (FieldTypeName::Keyword | FieldTypeName::Integer | FieldTypeName::Bool | FieldTypeName::Uuid),
            ) => index,
            Some(_) | None => {
                return Err(NodeError::BadRequest(format!(
                    "Index required but not found for \"{key}\" of one of the following types: [keyword, integer, bool, uuid]. \
                     Help: Create an index for this key or use a different filter."
                )));
            }
        };
        self.check_read(&collection, Some(limit), filter.as_ref(), None)?;
        let every =
            collection.facet(FacetRequest { key: key.to_string(), filter }, usize::MAX, shard_key.as_ref()).await?;
        let mut counts = std::collections::HashMap::new();
        for hit in every {
            if let Some(value) = indexed_value(index, hit.value) {
                *counts.entry(value).or_default() += hit.count;
            }
        }
        Ok(top_facet_hits(counts, limit))
    }
}

/// `value` as an index of type `index` holds it, `None` when that index does not hold it (a
/// number under a keyword index, a string that is no UUID under a uuid index).
fn indexed_value(index: FieldTypeName, value: FacetValue) -> Option<FacetValue> {
    match (index, value) {
        (FieldTypeName::Keyword, value @ FacetValue::Keyword(_))
        | (FieldTypeName::Integer, value @ FacetValue::Integer(_))
        | (FieldTypeName::Bool, value @ FacetValue::Bool(_)) => Some(value),
        (FieldTypeName::Uuid, FacetValue::Keyword(s)) => {
            uuid::Uuid::parse_str(&s).ok().map(|u| FacetValue::Keyword(u.hyphenated().to_string()))
        }
        (
            FieldTypeName::Keyword
            | FieldTypeName::Integer
            | FieldTypeName::Bool
            | FieldTypeName::Uuid
            | FieldTypeName::Float
            | FieldTypeName::Datetime
            | FieldTypeName::Text
            | FieldTypeName::Geo,
            FacetValue::Bool(_) | FacetValue::Integer(_) | FacetValue::Keyword(_),
        ) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_holds_only_values_of_its_type() {
        let word = || FacetValue::Keyword("a".into());
        assert_eq!(indexed_value(FieldTypeName::Keyword, word()), Some(word()));
        assert_eq!(indexed_value(FieldTypeName::Keyword, FacetValue::Integer(3)), None);
        assert_eq!(indexed_value(FieldTypeName::Integer, word()), None);
        assert_eq!(indexed_value(FieldTypeName::Bool, FacetValue::Integer(1)), None);
        assert_eq!(indexed_value(FieldTypeName::Uuid, word()), None);
        let upper = FacetValue::Keyword("550E8400E29B41D4A716446655440000".into());
        let written = FacetValue::Keyword("550e8400-e29b-41d4-a716-446655440000".into());
        assert_eq!(indexed_value(FieldTypeName::Uuid, upper), Some(written));
    }
}
