//! Grouped queries (`POST …/points/query/groups`, `…/points/search/groups`): the best `limit`
//! groups of points sharing a payload value at `group_by`, each with up to `group_size` hits.
//!
//! Candidates come from the ordinary query with a larger limit; a point whose `group_by` holds
//! several values joins each of their groups. When the candidates run out before the groups are
//! full, the query is repeated with four times the candidates (up to a cap). With `with_lookup`
//! each group also carries the point of another collection whose id is the group's key.

use crate::error::{NodeError, Result};
use crate::node::Node;
use crate::query_request::Prefetch;
use crate::service_query::QueryPoints;
use quiver_types::PointId;
use quiver_types::json_path::{self, JsonPath};
use quiver_types::point::{Record, ScoredPoint};
use quiver_types::query::{WithPayload, WithVector};
use serde::Serialize;
use serde_json::Value;

/// How to group.
#[derive(Debug, Clone)]
pub struct GroupBy {
    /// Payload path of the group key (keyword or integer values).
    pub group_by: String,
    /// Hits per group.
    pub group_size: usize,
    /// Where to look up a point per group (`with_lookup`).
    pub lookup: Option<GroupLookup>,
}

/// `with_lookup`: the collection whose point with the group's id joins the group, and what of
/// it to return.
#[derive(Debug, Clone)]
pub struct GroupLookup {
    pub collection: String,
    pub with_payload: WithPayload,
    pub with_vector: WithVector,
}

/// One group of a grouped query.
#[derive(Debug, Clone, Serialize)]
pub struct PointGroup {
    pub id: Value,
    pub hits: Vec<ScoredPoint>,
    /// The looked-up point (absent without `with_lookup`, or when no point has the group's id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lookup: Option<Record>,
}

/// Most candidates fetched for one grouped query.
const MAX_CANDIDATES: usize = 20_000;

fn group_keys(point: &ScoredPoint, path: &JsonPath) -> Vec<Value> {
    let Some(payload) = &point.payload else { return Vec::new() };
    let mut keys: Vec<Value> = path
        .flat_values(payload)
        .into_iter()
        .filter(|v| v.is_string() || v.as_i64().is_some() || v.as_u64().is_some())
        .cloned()
        .collect();
    keys.dedup();
    keys
}

/// Groups `hits` (best first): groups in order of their best hit, at most `limit` of them.
fn group(hits: &[ScoredPoint], path: &JsonPath, limit: usize, group_size: usize) -> Vec<(Value, Vec<ScoredPoint>)> {
    let mut groups: Vec<(Value, Vec<ScoredPoint>)> = Vec::new();
    for hit in hits {
        for key in group_keys(hit, path) {
            let count = groups.len();
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, members)) if members.len() < group_size => members.push(hit.clone()),
                Some(_) => {}
                None if count < limit => groups.push((key, vec![hit.clone()])),
                None => {}
            }
        }
    }
    groups
}

fn select_payload(hits: Vec<ScoredPoint>, with_payload: &WithPayload) -> Vec<ScoredPoint> {
    hits.into_iter()
        .map(|mut hit| {
            hit.payload = hit.payload.and_then(|p| json_path::select(&p, with_payload));
            hit
        })
        .collect()
}

/// Lets every prefetch (at any depth) hand on at least `candidates` points: as Qdrant, a grouped
/// query looks for its groups beyond the prefetches' own limits, which are meant for the hits
/// of one plain answer, not for the candidates that fill `limit` groups of `group_size`.
fn widen_prefetches(prefetches: &mut [Prefetch], candidates: usize) {
    for prefetch in prefetches {
        prefetch.limit = prefetch.limit.max(candidates);
        widen_prefetches(&mut prefetch.prefetch, candidates);
    }
}

/// A group key as a point id: an unsigned integer or a UUID string (other keys look up nothing).
fn key_as_id(key: &Value) -> Option<PointId> {
    serde_json::from_value(key.clone()).ok()
}

impl Node {
    /// Fills each group's `lookup` with the point of `lookup.collection` whose id is its key.
    async fn look_up(&self, lookup: &GroupLookup, groups: &mut [PointGroup]) -> Result<()> {
        // A missing lookup collection is the caller's mistake (404), named in Qdrant's words.
        if let Err(NodeError::NotFound(_)) = self.resolve(&lookup.collection) {
            return Err(NodeError::NotFound(format!("Collection {} not found", lookup.collection)));
        }
        let ids: Vec<PointId> = groups.iter().filter_map(|g| key_as_id(&g.id)).collect();
        let records = if ids.is_empty() {
            Vec::new()
        } else {
            let (payload, vector) = (lookup.with_payload.clone(), lookup.with_vector.clone());
            self.retrieve_points(&lookup.collection, ids, payload, vector, None).await?
        };
        for group in groups.iter_mut() {
            let id = key_as_id(&group.id);
            group.lookup = records.iter().find(|r| Some(r.id) == id).cloned();
        }
        Ok(())
    }

    /// A grouped universal query. `query.limit` is the number of groups; `offset` is not used.
    pub async fn query_groups(&self, name: &str, query: QueryPoints, by: GroupBy) -> Result<Vec<PointGroup>> {
        if !crate::strict::is_admitted() {
            return self
                .admitted(name, crate::strict::Traffic::Read, Box::pin(self.query_groups(name, query, by)))
                .await;
        }
        let path = JsonPath::parse(&by.group_by)?;
        json_path::check_selector(&query.with_payload)?;
        if by.group_size == 0 {
            return Err(NodeError::BadInput("group_size must be at least 1".into()));
        }
        let (limit, with_payload) = (query.limit, query.with_payload.clone());
        let mut candidates = limit.saturating_mul(by.group_size).saturating_mul(2).clamp(32, MAX_CANDIDATES);
        loop {
            let mut inner = query.clone();
            inner.limit = candidates;
            inner.offset = 0;
            inner.with_payload = WithPayload::Bool(true);
            widen_prefetches(&mut inner.prefetch, candidates);
            // Boxed: a query's chain of futures is deep; each round's lives on the heap.
            let hits = Box::pin(self.query_points(name, inner)).await?;
            let exhausted = hits.len() < candidates || candidates >= MAX_CANDIDATES;
            let groups = group(&hits, &path, limit, by.group_size);
            let full = groups.len() == limit && groups.iter().all(|(_, members)| members.len() == by.group_size);
            if full || exhausted {
                let mut groups: Vec<PointGroup> = groups
                    .into_iter()
                    .map(|(id, hits)| PointGroup { id, hits: select_payload(hits, &with_payload), lookup: None })
                    .collect();
                if let Some(lookup) = &by.lookup {
                    self.look_up(lookup, &mut groups).await?;
                }
                return Ok(groups);
            }
            candidates = (candidates * 4).min(MAX_CANDIDATES);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiver_types::PointId;

    fn hit(id: u64, score: f32, payload: Value) -> ScoredPoint {
        ScoredPoint {
            id: PointId::Num(id),
            version: 0,
            score,
            payload: payload.as_object().cloned(),
            vector: None,
            shard_key: None,
            order_value: None,
        }
    }

    #[test]
    fn groups_in_order_of_best_hit_with_multi_valued_keys() {
        let hits = vec![
            hit(1, 0.9, serde_json::json!({"g": "a"})),
            hit(2, 0.8, serde_json::json!({"g": ["b", "a"]})),
            hit(3, 0.7, serde_json::json!({"g": "a"})),
            hit(4, 0.6, serde_json::json!({"g": 7})),
            hit(5, 0.5, serde_json::json!({"other": 1})),
            hit(6, 0.4, serde_json::json!({"g": "c"})),
        ];
        let path = JsonPath::parse("g").unwrap();
        let groups = group(&hits, &path, 3, 2);
        let shape: Vec<(Value, Vec<PointId>)> =
            groups.iter().map(|(k, m)| (k.clone(), m.iter().map(|h| h.id).collect())).collect();
        assert_eq!(
            shape,
            vec![
                (serde_json::json!("a"), vec![PointId::Num(1), PointId::Num(2)]),
                (serde_json::json!("b"), vec![PointId::Num(2)]),
                (serde_json::json!(7), vec![PointId::Num(4)]),
            ]
        );
    }
}
