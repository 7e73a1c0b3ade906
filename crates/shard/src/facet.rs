//! Facet counts of one shard: for each value at a key, the number of points passing a filter
//! that hold it (a point counts once per distinct value).

use crate::error::Result;
use crate::shard::LocalShard;
use quiver_types::json_path::JsonPath;
use quiver_types::query::{FacetRequest, FacetValue};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

fn facet_value(value: &Value) -> Option<FacetValue> {
    match value {
        Value::String(s) => Some(FacetValue::Keyword(s.clone())),
        Value::Bool(b) => Some(FacetValue::Bool(*b)),
        Value::Number(n) => n.as_i64().map(FacetValue::Integer),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

impl LocalShard {
    /// For the IDF modifier: the number of points with the sparse vector `name`, and how many
    /// of them have a value in each of `dims`.
    pub fn sparse_stats(&self, name: &str, dims: &[u32]) -> (usize, Vec<usize>) {
        let table = self.table.read();
        let points = table.iter_slots().filter(|p| p.sparse(name).is_some()).count();
        (points, dims.iter().map(|d| table.sparse_df(name, *d)).collect())
    }

    /// Every value at `request.key` with its number of points (all of them: the caller merges
    /// shards and keeps the top ones).
    pub fn facet(&self, request: &FacetRequest) -> Result<HashMap<FacetValue, usize>> {
        let path = JsonPath::parse(&request.key)?;
        let table = self.table.read();
        let filter = crate::read::compile(request.filter.as_ref(), &table)?;
        let mut counts: HashMap<FacetValue, usize> = HashMap::new();
        // An encoded payload (`on_disk_payload`) decodes only the faceted key.
        let keys = std::collections::BTreeSet::from([path.first_key.clone()]);
        for point in table.iter_slots().filter(|p| filter.as_ref().is_none_or(|f| f.check(p))) {
            let payload = point.payload_keys(&keys);
            let values: HashSet<FacetValue> = path.flat_values(&payload).into_iter().filter_map(facet_value).collect();
            for value in values {
                *counts.entry(value).or_default() += 1;
            }
        }
        Ok(counts)
    }
}
