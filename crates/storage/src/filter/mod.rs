//! Filter evaluation (spec §3.4) over one point at a time, with Qdrant's semantics for
//! unindexed payload fields.
//!
//! A [`Filter`] is compiled once ([`CompiledFilter::compile`], which also validates it: key
//! paths parse, date-time bounds parse, …) and then checked per point. Semantics decisions:
//! * `must`: all hold; `must_not`: none holds; `should`: at least one holds, so an empty list
//!   (`"should": []`) matches nothing, as in Qdrant, while an absent one is ignored (gRPC's
//!   empty repeated field is an absent list, design record 036); `min_should`: at least
//!   `min_count` of its conditions hold.
//! * Field conditions match against the values at the key with a trailing array flattened one
//!   level (`tags: ["a","b"]` matches `{"value": "a"}`); one matching value suffices. A key step
//!   does not descend into arrays (use `arr[].x`), as in Qdrant. Several condition kinds in one
//!   field condition must all hold.
//! * A missing key fails every field condition except `is_empty: true`, `is_null: false` and a
//!   `values_count` that admits 0. `except` never matches a missing key, `null` or `[]`.
//! * `match.value` / `any` / `except` with integers compare JSON integers only (`5.0` is not 5).
//! * `text` (every query token), `text_any` (some query token) and `phrase` (the tokens in
//!   order) match on tokens (`crate::text`): those of the field's text index, or without one
//!   Qdrant's default processing (the `word` tokenizer, lowercase: Qdrant ≥ 1.19.1 and its
//!   documentation; before, a case-sensitive substring test; design record 051). `prefix` is
//!   `starts_with`.
//! * Date-time ranges compare payload strings parsed by [`parse_datetime`]; number ranges
//!   compare JSON numbers; a range never matches values of the other kind.
//! * `is_empty` condition: every value at the key is `null` or `[]` (so a missing key is empty);
//!   `is_null` condition: some value at the key is `null` (`[null]` is not null, as in Qdrant).
//! * `nested {key, filter}`: some object element of the array at `key` (a trailing `[]` is
//!   implied) satisfies `filter` evaluated on that element alone; `has_id`, `has_vector` and
//!   `slice` are false inside it.
//! * `slice {total, index}`: the point's id hashes (SipHash-2-4, zero key, over the id's
//!   canonical bytes) to `index` modulo `total`, so the `total` slices are disjoint and cover
//!   every point; `total >= 1` and `index < total` or the filter is refused.

mod compile;
mod field;
mod geo;
mod order;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_fields;

pub use order::{OrderValue, order_value, order_values, parse_datetime};

use compile::Cond;
use quiver_types::filter::Filter;
use quiver_types::{Payload, PointId, TypesError};
use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::BTreeSet;

/// What a filter sees of a point.
pub trait PointView {
    fn id(&self) -> PointId;
    /// The payload: borrowed, or decoded (`on_disk_payload`; read at most once per check).
    fn payload(&self) -> Cow<'_, Payload>;
    /// The payload's top-level `keys` (at least: more may come), for a filter that reads no
    /// other (an encoded payload then decodes only those).
    fn payload_keys(&self, keys: &BTreeSet<String>) -> Cow<'_, Payload> {
        let _ = keys;
        self.payload()
    }
    fn has_vector(&self, name: &str) -> bool;
}

/// A validated filter, ready to be checked against many points.
#[derive(Debug, Clone)]
pub struct CompiledFilter {
    must: Vec<Cond>,
    should: Option<Vec<Cond>>,
    min_should: Option<(Vec<Cond>, usize)>,
    must_not: Vec<Cond>,
    /// The top-level payload keys the conditions read.
    keys: BTreeSet<String>,
}

/// A point with its payload's keys a filter reads, decoded when a condition first needs them.
struct LazyPoint<'a> {
    point: &'a dyn PointView,
    keys: &'a BTreeSet<String>,
    payload: OnceCell<Cow<'a, Payload>>,
}

/// The thing a (sub)filter is evaluated on: a whole point, or one element of a `nested` array.
#[derive(Clone, Copy)]
enum Subject<'a> {
    Point(&'a LazyPoint<'a>),
    Element(&'a Payload),
}

impl<'a> Subject<'a> {
    fn payload(&self) -> &'a Payload {
        match self {
            Subject::Point(lazy) => lazy.payload.get_or_init(|| lazy.point.payload_keys(lazy.keys)),
            Subject::Element(payload) => payload,
        }
    }
}

impl CompiledFilter {
    /// Validates and compiles a filter.
    pub fn compile(filter: &Filter) -> Result<CompiledFilter, TypesError> {
        compile::compile_filter(filter, &crate::text::TextIndexes::new())
    }

    /// Validates and compiles a filter whose `text`/`text_any`/`phrase` conditions on the
    /// fields of `texts` match on those text indexes' tokens.
    pub fn compile_with(filter: &Filter, texts: &crate::text::TextIndexes) -> Result<CompiledFilter, TypesError> {
        compile::compile_filter(filter, texts)
    }

    /// Whether the point satisfies the filter.
    pub fn check(&self, point: &dyn PointView) -> bool {
        let lazy = LazyPoint { point, keys: &self.keys, payload: OnceCell::new() };
        self.eval(Subject::Point(&lazy))
    }

    /// Whether a bare payload (no id, no vectors) satisfies the filter.
    pub fn check_payload(&self, payload: &Payload) -> bool {
        self.eval(Subject::Element(payload))
    }

    fn eval(&self, subject: Subject<'_>) -> bool {
        self.must.iter().all(|c| c.eval(subject))
            && self.must_not.iter().all(|c| !c.eval(subject))
            && self.should.as_ref().is_none_or(|should| should.iter().any(|c| c.eval(subject)))
            && self.min_should.as_ref().is_none_or(|(conditions, min_count)| {
                conditions.iter().filter(|c| c.eval(subject)).take(*min_count).count() >= *min_count
            })
    }
}

/// Checks a filter against a point. Compiles the filter on every call: prefer
/// [`CompiledFilter`] for many points. An invalid filter matches nothing.
pub fn check_filter(filter: &Filter, point: &dyn PointView) -> bool {
    match CompiledFilter::compile(filter) {
        Ok(compiled) => compiled.check(point),
        Err(err) => {
            tracing::debug!(%err, "invalid filter matches nothing");
            false
        }
    }
}

/// Checks that a filter is valid: every key is a valid path, every field condition has a
/// condition kind, date-time bounds parse, geo shapes are well-formed, `min_count >= 1`.
pub fn validate_filter(filter: &Filter) -> Result<(), TypesError> {
    CompiledFilter::compile(filter).map(|_| ())
}
