//! Where the request bodies read by [`Inferred`](crate::inference::Inferred) hold inference
//! objects (design record 050): an update-vectors body its points' vectors, a query body its
//! queries and prefetches, a batch each of its searches.

use crate::error::ApiError;
use crate::inference::{DocumentSites, embed_point_documents, embed_query_documents};
use serde_json::Value;

impl DocumentSites for crate::wire::UpdateVectorsWire {
    fn embed_documents(body: &mut Value) -> Result<usize, ApiError> {
        embed_point_documents(body)
    }
}

impl DocumentSites for crate::wire_query::QueryRequestWire {
    fn embed_documents(body: &mut Value) -> Result<usize, ApiError> {
        embed_query_documents(body)
    }
}

impl DocumentSites for crate::wire_groups::QueryGroupsWire {
    fn embed_documents(body: &mut Value) -> Result<usize, ApiError> {
        embed_query_documents(body)
    }
}

impl DocumentSites for crate::wire_query::QueryBatchWire {
    fn embed_documents(body: &mut Value) -> Result<usize, ApiError> {
        let searches = body.get_mut("searches").and_then(Value::as_array_mut).into_iter().flatten();
        searches.map(embed_query_documents).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_search_of_a_batch_is_a_query_body() {
        let doc = json!({"text": "cats", "model": "qdrant/bm25"});
        let mut batch =
            json!({"searches": [{"query": doc.clone()}, {"query": [1.0, 2.0]}, {"prefetch": {"query": doc}}]});
        assert_eq!(<crate::wire_query::QueryBatchWire as DocumentSites>::embed_documents(&mut batch).unwrap(), 2);
        assert_eq!(batch["searches"][1]["query"], json!([1.0, 2.0]));
        assert!(batch["searches"][2]["prefetch"]["query"]["indices"].is_array());
    }
}
