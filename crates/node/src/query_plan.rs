//! Qdrant's rules for the shape of a universal query, checked at every level before anything
//! runs (each a 400 `Bad request`), and the filters of its plan: the points given by id as
//! examples in the queried collection are left out at every level, and each level's filter also
//! applies to all of its prefetches (Qdrant passes filters down into the leaves).

use crate::error::{NodeError, Result};
use crate::query_examples::VectorInput;
use crate::query_request::{LookupFrom, Prefetch, QueryInput, QueryPoints};
use quiver_types::PointId;
use quiver_types::filter::{Condition, Filter, HasIdCondition};

/// One level of a query as the shape rules see it.
struct Level<'a> {
    query: Option<&'a QueryInput>,
    using: Option<&'a str>,
    has_prefetch: bool,
    score_threshold: Option<f32>,
}

/// Refuses, as Qdrant does, prefetches without a query to merge them, a `score_threshold`
/// without a query or with an `order_by` query, and a fusion query with a `using` vector name,
/// at the top level and in every prefetch.
pub(crate) fn check_shape(query: &QueryPoints) -> Result<()> {
    check_level(Level {
        query: query.query.as_ref(),
        using: query.using.as_deref(),
        has_prefetch: !query.prefetch.is_empty(),
        score_threshold: query.score_threshold,
    })?;
    check_prefetches(&query.prefetch)
}

fn check_prefetches(prefetches: &[Prefetch]) -> Result<()> {
    for prefetch in prefetches {
        check_level(Level {
            query: prefetch.query.as_ref(),
            using: prefetch.using.as_deref(),
            has_prefetch: !prefetch.prefetch.is_empty(),
            score_threshold: prefetch.score_threshold,
        })?;
        check_prefetches(&prefetch.prefetch)?;
    }
    Ok(())
}

fn check_level(level: Level<'_>) -> Result<()> {
    let refuse = |msg: &str| Err(NodeError::BadRequest(msg.to_string()));
    if level.has_prefetch && level.query.is_none() {
        return refuse("A query is needed to merge the prefetches. Can't have prefetches without defining a query.");
    }
    if level.score_threshold.is_some() {
        match level.query {
            Some(QueryInput::OrderBy(_)) => return refuse("Can't use score_threshold with an order_by query."),
            None => {
                return refuse(
                    "A query is needed to use the score_threshold. Can't have score_threshold without defining a query.",
                );
            }
            Some(_) => {}
        }
    }
    let named = level.using.is_some_and(|name| !name.is_empty());
    if named && matches!(level.query, Some(QueryInput::Fusion(_))) {
        return refuse("Fusion queries cannot be combined with the 'using' field.");
    }
    Ok(())
}

/// The query with the filters Qdrant plans: the points given by id as examples in
/// `collection` (at any level, unless looked up in another collection) excluded by the top-level
/// filter, and each level's filter combined into the filters of its prefetches.
pub(crate) fn with_plan_filters(mut query: QueryPoints, collection: &str) -> QueryPoints {
    let mut ids = level_example_ids(query.query.as_ref(), query.lookup_from.as_ref(), collection);
    collect_prefetch_ids(&query.prefetch, collection, &mut ids);
    ids.sort();
    ids.dedup();
    query.filter = excluding(query.filter, ids);
    push_down(query.filter.as_ref(), &mut query.prefetch);
    query
}

fn collect_prefetch_ids(prefetches: &[Prefetch], collection: &str, ids: &mut Vec<PointId>) {
    for prefetch in prefetches {
        ids.extend(level_example_ids(prefetch.query.as_ref(), prefetch.lookup_from.as_ref(), collection));
        collect_prefetch_ids(&prefetch.prefetch, collection, ids);
    }
}

fn level_example_ids(query: Option<&QueryInput>, lookup_from: Option<&LookupFrom>, collection: &str) -> Vec<PointId> {
    match (query, is_foreign(lookup_from, collection)) {
        (Some(query), false) => example_ids(&example_inputs(query)),
        (Some(_), true) | (None, _) => Vec::new(),
    }
}

/// Whether examples are looked up in another collection than the queried one (its ids are then
/// not excluded from the results).
pub(crate) fn is_foreign(lookup_from: Option<&LookupFrom>, collection: &str) -> bool {
    lookup_from.is_some_and(|from| from.collection != collection)
}

fn push_down(parent: Option<&Filter>, prefetches: &mut [Prefetch]) {
    for prefetch in prefetches {
        prefetch.filter = combined(parent, prefetch.filter.take());
        push_down(prefetch.filter.as_ref(), &mut prefetch.prefetch);
    }
}

/// Both filters must hold: kept flat when at most one of them has `should`/`min_should`
/// clauses (their `must` and `must_not` lists are joined), else both nested under `must`.
fn combined(parent: Option<&Filter>, own: Option<Filter>) -> Option<Filter> {
    let (parent, own) = match (parent, own) {
        (None, own) => return own,
        (Some(parent), None) => return Some(parent.clone()),
        (Some(parent), Some(own)) => (parent.clone(), own),
    };
    let alternatives = |f: &Filter| f.should.is_some() || f.min_should.is_some();
    if alternatives(&parent) && alternatives(&own) {
        return Some(Filter {
            must: Some(vec![Condition::Filter(parent), Condition::Filter(own)]),
            ..Filter::default()
        });
    }
    let (with_alternatives, other) = if alternatives(&parent) { (parent, own) } else { (own, parent) };
    let join = |a: Option<Vec<Condition>>, b: Option<Vec<Condition>>| match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.into_iter().chain(b).flatten().collect()),
    };
    Some(Filter {
        must: join(other.must, with_alternatives.must),
        must_not: join(other.must_not, with_alternatives.must_not),
        should: with_alternatives.should,
        min_should: with_alternatives.min_should,
    })
}

/// `filter` that also leaves out `ids`.
pub(crate) fn excluding(filter: Option<Filter>, ids: Vec<PointId>) -> Option<Filter> {
    if ids.is_empty() {
        return filter;
    }
    let mut filter = filter.unwrap_or_default();
    filter.must_not.get_or_insert_with(Vec::new).push(Condition::HasId(HasIdCondition { has_id: ids }));
    Some(filter)
}

/// Every example of a query (vectors and point ids).
pub(crate) fn example_inputs(query: &QueryInput) -> Vec<&VectorInput> {
    match query {
        QueryInput::Nearest(input) | QueryInput::NearestMmr(input, _) => vec![input],
        QueryInput::Recommend { positive, negative }
        | QueryInput::RecommendBestScore { positive, negative }
        | QueryInput::RecommendSumScores { positive, negative } => positive.iter().chain(negative).collect(),
        QueryInput::Discover { target, context } => {
            std::iter::once(target).chain(context.iter().flat_map(|p| [&p.positive, &p.negative])).collect()
        }
        QueryInput::Context(pairs) => pairs.iter().flat_map(|p| [&p.positive, &p.negative]).collect(),
        QueryInput::RelevanceFeedback { target, feedback, .. } => {
            std::iter::once(target).chain(feedback.iter().map(|f| &f.example)).collect()
        }
        QueryInput::SampleRandom | QueryInput::Formula(_) | QueryInput::Fusion(_) | QueryInput::OrderBy(_) => {
            Vec::new()
        }
    }
}

/// The point ids among `inputs`.
pub(crate) fn example_ids(inputs: &[&VectorInput]) -> Vec<PointId> {
    inputs
        .iter()
        .filter_map(|i| match i {
            VectorInput::Point(id) => Some(*id),
            VectorInput::Dense(_) | VectorInput::Sparse(_) | VectorInput::Multi(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn filter(v: serde_json::Value) -> Filter {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn filters_combine_flat_unless_both_have_alternatives() {
        let parent = filter(json!({"must": [{"has_id": [1]}], "must_not": [{"has_id": [2]}]}));
        let own = filter(json!({"must": [{"has_id": [3]}], "should": [{"has_id": [4]}]}));
        let both = combined(Some(&parent), Some(own.clone())).unwrap();
        assert_eq!(
            both,
            filter(
                json!({"must": [{"has_id": [1]}, {"has_id": [3]}], "must_not": [{"has_id": [2]}], "should": [{"has_id": [4]}]})
            )
        );
        let nested = combined(Some(&own), Some(own.clone())).unwrap();
        assert_eq!(
            nested,
            Filter {
                must: Some(vec![Condition::Filter(own.clone()), Condition::Filter(own.clone())]),
                ..Filter::default()
            }
        );
        assert_eq!(combined(None, Some(own.clone())), Some(own.clone()));
        assert_eq!(combined(Some(&parent), None), Some(parent));
    }
}
