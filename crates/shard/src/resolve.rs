//! Filter-selected writes whose filter matches text (`text`, `text_any`, `phrase`) are resolved
//! to the ids they select before they are logged: the primary evaluates the filter as a read
//! does (on the text index's tokens, where the field has one), under the shard's write lock, so
//! a delete or payload update by filter changes exactly the points a scroll with the same filter
//! returns. The logged record names ids, so it replays identically on every replica and after a
//! restart whatever text indexes exist then (index definitions are not ordered with the WAL).
//! Filters without text conditions match the same everywhere and stay filters.

use crate::read::compile;
use quiver_storage::points::PointTable;
use quiver_types::filter::{Condition, Filter, Match};
use quiver_types::ops::{PointSelector, UpdateOperation};

/// Whether `filter` holds a condition whose result depends on a text index.
pub(crate) fn has_text_match(filter: &Filter) -> bool {
    let lists = [filter.must.as_deref(), filter.should.as_deref(), filter.must_not.as_deref()];
    let min_should = filter.min_should.as_ref().map(|m| m.conditions.as_slice());
    lists.into_iter().chain([min_should]).flatten().flatten().any(|condition| match condition {
        Condition::Field(f) => {
            matches!(f.r#match, Some(Match::Text { .. } | Match::TextAny { .. } | Match::Phrase { .. }))
        }
        Condition::Filter(f) => has_text_match(f),
        Condition::Nested(n) => has_text_match(&n.nested.filter),
        Condition::IsEmpty(_) | Condition::IsNull(_) | Condition::HasId(_) | Condition::HasVector(_) => false,
    })
}

/// The ids `filter` selects, as a read selects them (text conditions on the index's tokens).
fn select(table: &PointTable, filter: &Filter) -> PointSelector {
    // Filters are validated before a write reaches the shard.
    let compiled = compile(Some(filter), table).ok().flatten();
    let ids = table.iter_from(None).filter(|p| compiled.as_ref().is_none_or(|f| f.check(p))).map(|p| p.id());
    PointSelector::Ids(ids.collect())
}

fn resolved_selector(table: &PointTable, selector: &mut PointSelector) {
    if let PointSelector::Filter(filter) = selector
        && has_text_match(filter)
    {
        *selector = select(table, filter);
    }
}

/// Keeps the points `keep` accepts given whether they pass `filter` (`None`: no such point).
fn retain_passing<P>(
    table: &PointTable,
    filter: &Filter,
    points: &mut Vec<P>,
    id: impl Fn(&P) -> quiver_types::PointId,
    keep: impl Fn(Option<bool>) -> bool,
) {
    let compiled = compile(Some(filter), table).ok().flatten();
    points.retain(|p| keep(table.get(&id(p)).map(|point| compiled.as_ref().is_none_or(|f| f.check(&point)))));
}

/// `op` with its text-matching filters resolved against `table` (see the module).
pub(crate) fn resolve(table: &PointTable, mut op: UpdateOperation) -> UpdateOperation {
    match &mut op {
        UpdateOperation::Delete { selector }
        | UpdateOperation::SetPayload { selector, .. }
        | UpdateOperation::OverwritePayload { selector, .. }
        | UpdateOperation::DeletePayload { selector, .. }
        | UpdateOperation::ClearPayload { selector }
        | UpdateOperation::DeleteVectors { selector, .. } => resolved_selector(table, selector),
        // A conditional write: the existing points the filter refuses are left out, new points
        // stay (the condition applies to existing points only).
        UpdateOperation::Upsert { points, update_filter, .. } => {
            if let Some(filter) = update_filter.take_if(|f| has_text_match(f)) {
                retain_passing(table, &filter, points, |p| p.id, |passed| passed.unwrap_or(true));
            }
        }
        UpdateOperation::UpdateVectors { points, update_filter } => {
            if let Some(filter) = update_filter.take_if(|f| has_text_match(f)) {
                retain_passing(table, &filter, points, |p| p.id, |passed| passed.unwrap_or(false));
            }
        }
    }
    op
}

/// Whether `op` has a filter [`resolve`] rewrites.
pub(crate) fn needs_resolution(op: &UpdateOperation) -> bool {
    match op {
        UpdateOperation::Delete { selector }
        | UpdateOperation::SetPayload { selector, .. }
        | UpdateOperation::OverwritePayload { selector, .. }
        | UpdateOperation::DeletePayload { selector, .. }
        | UpdateOperation::ClearPayload { selector }
        | UpdateOperation::DeleteVectors { selector, .. } => {
            matches!(selector, PointSelector::Filter(f) if has_text_match(f))
        }
        UpdateOperation::Upsert { update_filter, .. } | UpdateOperation::UpdateVectors { update_filter, .. } => {
            update_filter.as_ref().is_some_and(has_text_match)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::indexer::IndexConfig;
    use crate::shard::{LocalShard, ShardConfig};
    use quiver_types::PointId;
    use quiver_types::filter::Filter;
    use quiver_types::ops::{PointSelector, UpdateMode, UpdateOperation};
    use quiver_types::point::{NamedVectors, PointStruct};
    use quiver_types::query::{ScrollRequest, WithPayload, WithVector};
    use serde_json::json;
    use std::collections::BTreeMap;

    const TITLES: [&str; 5] = ["Hello World", "helloworld", "world peace", "HELLO again", "othello"];

    fn shard(dir: &std::path::Path) -> LocalShard {
        let config = ShardConfig {
            dense: BTreeMap::new(),
            sparse: Default::default(),
            wal_segment_bytes: 1 << 20,
            index: IndexConfig::default(),
        };
        LocalShard::open(dir, config).unwrap()
    }

    fn text_filter(word: &str) -> Filter {
        serde_json::from_value(json!({"must": [{"key": "title", "match": {"text": word}}]})).unwrap()
    }

    fn ids(shard: &LocalShard, filter: Option<Filter>) -> Vec<PointId> {
        let request = ScrollRequest {
            offset: None,
            limit: 100,
            filter,
            with_payload: WithPayload::Bool(false),
            with_vector: WithVector::Bool(false),
            order_by: None,
        };
        shard.scroll(&request).unwrap().points.into_iter().map(|p| p.id).collect()
    }

    #[test]
    fn delete_by_text_filter_removes_what_a_scroll_returns_and_replays_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let shard = shard(dir.path());
        let points = TITLES
            .iter()
            .enumerate()
            .map(|(i, t)| PointStruct {
                id: PointId::Num(i as u64),
                vectors: NamedVectors::new(),
                payload: Some(json!({"title": t}).as_object().unwrap().clone()),
            })
            .collect();
        shard.update(&UpdateOperation::Upsert { points, mode: UpdateMode::Upsert, update_filter: None }, true).unwrap();
        shard.set_payload_indexes(&BTreeMap::from([(
            "title".to_string(),
            json!({"type": "text", "tokenizer": "word", "lowercase": true}),
        )]));
        let selected = ids(&shard, Some(text_filter("hello")));
        assert_eq!(selected, vec![PointId::Num(0), PointId::Num(3)], "tokens, not substrings");
        let delete = UpdateOperation::Delete { selector: PointSelector::Filter(text_filter("hello")) };
        let (_, logged) = shard.update_resolved(&delete, true).unwrap();
        assert_eq!(logged, UpdateOperation::Delete { selector: PointSelector::Ids(selected) });
        let left = vec![PointId::Num(1), PointId::Num(2), PointId::Num(4)];
        assert_eq!(ids(&shard, None), left);
        // Replayed without any text index (definitions are not in the WAL): the same points go.
        drop(shard);
        assert_eq!(ids(&self::shard(dir.path()), None), left);
    }

    #[test]
    fn filters_without_text_stay_filters() {
        let dir = tempfile::tempdir().unwrap();
        let shard = shard(dir.path());
        let filter: Filter = serde_json::from_value(json!({"must": [{"key": "n", "match": {"value": 1}}]})).unwrap();
        let op = UpdateOperation::ClearPayload { selector: PointSelector::Filter(filter) };
        assert!(!super::needs_resolution(&op));
        assert_eq!(shard.update_resolved(&op, false).unwrap().1, op);
    }
}
