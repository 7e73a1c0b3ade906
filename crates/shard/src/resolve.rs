//! Filter-selected writes whose filter matches text (`text`, `text_any`, `phrase`) are resolved
//! to the ids they select before they are logged: the primary evaluates the filter as a read
//! does (on the text index's tokens, where the field has one), under the shard's write lock, so
//! a delete or payload update by filter changes exactly the points a scroll with the same filter
//! returns. The logged record names ids, so it replays identically on every replica and after a
//! restart whatever text indexes exist then (index definitions are not ordered with the WAL).
//! Filters without text conditions match the same everywhere and stay filters.

use quiver_storage::filter::CompiledFilter;
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
        Condition::IsEmpty(_)
        | Condition::IsNull(_)
        | Condition::HasId(_)
        | Condition::HasVector(_)
        | Condition::Slice(_) => false,
    })
}

/// `filter` compiled as a read compiles it (text conditions on the index's tokens); filters
/// are validated before a write reaches the shard.
fn compile(filter: &Filter, table: &PointTable) -> Option<CompiledFilter> {
    CompiledFilter::compile_with(filter, &table.payload_index().text_indexes()).ok()
}

/// The ids `filter` selects, as a read selects them.
fn select(table: &PointTable, filter: &Filter) -> PointSelector {
    let compiled = compile(filter, table);
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
    let compiled = compile(filter, table);
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
