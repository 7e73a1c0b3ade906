//! Turning a [`Filter`] into a [`CompiledFilter`]: paths parsed once, date-time bounds parsed,
//! lists turned into sets, every rule of `validate_filter` checked on the way.

use super::field::{Bounds, FieldCheck, FieldKind, MatchCheck, RangeCheck};
use super::{CompiledFilter, Subject, geo};
use crate::filter::order::parse_datetime;
use crate::text::{TextAnalyzer, TextIndexes, TextMode};
use quiver_types::filter::{
    Condition, FieldCondition, Filter, Match, MatchAnyValues, MatchValue, Range, RangeBound, Slice,
};
use quiver_types::index_params::TextParams;
use quiver_types::json_path::JsonPath;
use quiver_types::{PointId, TypesError};
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use std::hash::Hasher;
use std::sync::{Arc, LazyLock};

/// One compiled condition.
#[derive(Debug, Clone)]
pub(super) enum Cond {
    Field(Box<FieldCheck>),
    IsEmpty(JsonPath),
    IsNull(JsonPath),
    HasId(HashSet<PointId>),
    HasVector(String),
    /// `(total, index)`, validated: `index < total`.
    Slice(u32, u32),
    Nested(JsonPath, Box<CompiledFilter>),
    Filter(Box<CompiledFilter>),
}

impl Cond {
    pub(super) fn eval(&self, subject: Subject<'_>) -> bool {
        match self {
            Cond::Field(field) => field.check(subject.payload()),
            Cond::IsEmpty(path) => path.values(subject.payload()).iter().all(|v| is_null_or_empty_array(v)),
            Cond::IsNull(path) => path.values(subject.payload()).iter().any(|v| has_null(v)),
            Cond::HasId(ids) => match subject {
                Subject::Point(lazy) => ids.contains(&lazy.point.id()),
                Subject::Element(_) => false,
            },
            Cond::HasVector(name) => match subject {
                Subject::Point(lazy) => lazy.point.has_vector(name),
                Subject::Element(_) => false,
            },
            Cond::Slice(total, index) => match subject {
                Subject::Point(lazy) => slice_of(lazy.point.id(), *total) == *index,
                Subject::Element(_) => false,
            },
            Cond::Nested(path, filter) => path
                .values(subject.payload())
                .iter()
                .filter_map(|v| v.as_object())
                .any(|element| filter.eval(Subject::Element(element))),
            Cond::Filter(filter) => filter.eval(subject),
        }
    }

    /// Adds the top-level payload keys this condition reads to `keys`.
    fn collect_keys(&self, keys: &mut BTreeSet<String>) {
        match self {
            Cond::Field(field) => _ = keys.insert(field.path.first_key.clone()),
            Cond::IsEmpty(path) | Cond::IsNull(path) | Cond::Nested(path, _) => _ = keys.insert(path.first_key.clone()),
            Cond::HasId(_) | Cond::HasVector(_) | Cond::Slice(..) => {}
            Cond::Filter(filter) => keys.extend(filter.keys.iter().cloned()),
        }
    }
}

/// The slice of `total` the id falls in: SipHash-2-4 with a zero key over the id's canonical
/// bytes (8 little-endian bytes of a number, the 16 RFC 4122 bytes of a UUID), modulo `total`.
pub(super) fn slice_of(id: PointId, total: u32) -> u32 {
    #[allow(deprecated)] // std's `SipHasher` is SipHash-2-4 with a zero key, the function wanted
    let mut hasher = std::hash::SipHasher::new();
    match id {
        PointId::Num(n) => hasher.write(&n.to_le_bytes()),
        PointId::Uuid(u) => hasher.write(u.as_bytes()),
    }
    (hasher.finish() % u64::from(total)) as u32
}

/// A null value, or an array holding one: what both `is_null` forms (`{"is_null": {"key"}}`
/// and a field condition's `"is_null": true`) match, as in Qdrant.
pub(super) fn has_null(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.iter().any(Value::is_null),
        Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Object(_) => false,
    }
}

pub(super) fn is_null_or_empty_array(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Object(_) => false,
    }
}

pub(super) fn compile_filter(filter: &Filter, texts: &TextIndexes) -> Result<CompiledFilter, TypesError> {
    let min_should = match &filter.min_should {
        None => None,
        Some(min_should) => {
            if min_should.min_count < 1 {
                return Err(TypesError::Validation(
                    "min_should.min_count: value 0 invalid, must be 1 or larger".into(),
                ));
            }
            Some((compile_list(Some(&min_should.conditions), texts)?, min_should.min_count))
        }
    };
    let mut compiled = CompiledFilter {
        must: compile_list(filter.must.as_deref(), texts)?,
        should: filter.should.as_deref().map(|list| compile_list(Some(list), texts)).transpose()?,
        min_should,
        must_not: compile_list(filter.must_not.as_deref(), texts)?,
        keys: BTreeSet::new(),
    };
    let mut keys = BTreeSet::new();
    let min_should = compiled.min_should.iter().flat_map(|(conditions, _)| conditions);
    let all = compiled.must.iter().chain(compiled.should.iter().flatten()).chain(min_should).chain(&compiled.must_not);
    all.for_each(|c| c.collect_keys(&mut keys));
    compiled.keys = keys;
    Ok(compiled)
}

fn compile_list(conditions: Option<&[Condition]>, texts: &TextIndexes) -> Result<Vec<Cond>, TypesError> {
    conditions.unwrap_or_default().iter().map(|c| compile_condition(c, texts)).collect()
}

fn compile_condition(condition: &Condition, texts: &TextIndexes) -> Result<Cond, TypesError> {
    Ok(match condition {
        Condition::Field(field) => Cond::Field(Box::new(compile_field(field, texts.get(&field.key))?)),
        Condition::IsEmpty(c) => Cond::IsEmpty(JsonPath::parse(&c.is_empty.key)?),
        Condition::IsNull(c) => Cond::IsNull(JsonPath::parse(&c.is_null.key)?),
        Condition::HasId(c) => Cond::HasId(c.has_id.iter().copied().collect()),
        Condition::HasVector(c) => Cond::HasVector(c.has_vector.clone()),
        Condition::Slice(c) => {
            let Slice { total, index } = c.slice;
            if total < 1 {
                return Err(TypesError::Validation(format!("slice.total: value {total} invalid, must be 1 or larger")));
            }
            if index >= total {
                return Err(TypesError::Validation(format!(
                    "slice.index: value {index} invalid, must be less than total ({total})"
                )));
            }
            Cond::Slice(total, index)
        }
        Condition::Nested(c) => {
            let path = JsonPath::parse(&c.nested.key)?.with_wildcard_suffix();
            // Keys inside `nested` are relative to the array elements: no index applies.
            Cond::Nested(path, Box::new(compile_filter(&c.nested.filter, &TextIndexes::new())?))
        }
        Condition::Filter(filter) => Cond::Filter(Box::new(compile_filter(filter, texts)?)),
    })
}

fn compile_field(
    field: &FieldCondition,
    text_index: Option<&std::sync::Arc<crate::text::TextAnalyzer>>,
) -> Result<FieldCheck, TypesError> {
    let FieldCondition {
        key,
        r#match,
        range,
        geo_bounding_box,
        geo_radius,
        geo_polygon,
        values_count,
        is_empty,
        is_null,
    } = field;
    let path = JsonPath::parse(key)?;
    let mut kinds = Vec::new();
    if let Some(m) = r#match {
        kinds.push(FieldKind::Match(compile_match(m, text_index)));
    }
    if let Some(r) = range {
        kinds.push(FieldKind::Range(compile_range(r)?));
    }
    if let Some(b) = geo_bounding_box {
        geo::validate_point(&b.top_left)?;
        geo::validate_point(&b.bottom_right)?;
        kinds.push(FieldKind::GeoBox(b.clone()));
    }
    if let Some(r) = geo_radius {
        geo::validate_point(&r.center)?;
        kinds.push(FieldKind::GeoRadius(r.clone()));
    }
    if let Some(p) = geo_polygon {
        geo::validate_polygon(p)?;
        kinds.push(FieldKind::GeoPolygon(p.clone()));
    }
    if let Some(v) = values_count {
        kinds.push(FieldKind::ValuesCount(v.clone()));
    }
    if let Some(b) = is_empty {
        kinds.push(FieldKind::IsEmpty(*b));
    }
    if let Some(b) = is_null {
        kinds.push(FieldKind::IsNull(*b));
    }
    if kinds.is_empty() {
        // Qdrant's words (its validator's message), with the key this condition names.
        return Err(TypesError::Validation(format!(
            "Field condition on key \"{key}\": At least one field condition must be specified"
        )));
    }
    Ok(FieldCheck { path, kinds })
}

/// The analyzer of `text`, `text_any` and `phrase` on a field without a text index: Qdrant's
/// default text processing (the `word` tokenizer, lowercase; design record 051).
fn unindexed_analyzer() -> Arc<TextAnalyzer> {
    static DEFAULT: LazyLock<Arc<TextAnalyzer>> = LazyLock::new(|| Arc::new(TextAnalyzer::new(&TextParams::default())));
    Arc::clone(&DEFAULT)
}

fn compile_match(m: &Match, text_index: Option<&Arc<TextAnalyzer>>) -> MatchCheck {
    let text = |query: &str, mode: TextMode| {
        let analyzer = text_index.cloned().unwrap_or_else(unindexed_analyzer);
        MatchCheck::Tokens { query: analyzer.words(query), analyzer, mode }
    };
    match m {
        Match::Value { value } => match value {
            MatchValue::Bool(b) => MatchCheck::Bool(*b),
            MatchValue::Integer(i) => MatchCheck::Int(*i),
            MatchValue::Keyword(s) => MatchCheck::Keyword(s.clone()),
        },
        Match::Text { text: query } => text(query, TextMode::All),
        Match::TextAny { text_any } => text(text_any, TextMode::Any),
        Match::Phrase { phrase } => text(phrase, TextMode::Phrase),
        Match::Prefix { prefix } => MatchCheck::Prefix(prefix.clone()),
        Match::Any { any } => match any {
            MatchAnyValues::Keywords(list) => MatchCheck::AnyKeywords(list.iter().cloned().collect()),
            MatchAnyValues::Integers(list) => MatchCheck::AnyInts(list.iter().copied().collect()),
        },
        Match::Except { except } => match except {
            MatchAnyValues::Keywords(list) => MatchCheck::ExceptKeywords(list.iter().cloned().collect()),
            MatchAnyValues::Integers(list) => MatchCheck::ExceptInts(list.iter().copied().collect()),
        },
    }
}

fn compile_range(range: &Range) -> Result<RangeCheck, TypesError> {
    let Range { lt, gt, gte, lte } = range;
    let bounds = [lt, gt, gte, lte];
    let any_datetime = bounds.iter().any(|b| matches!(b, Some(RangeBound::DateTime(_))));
    if !any_datetime {
        let num = |b: &Option<RangeBound>| match b {
            Some(RangeBound::Number(n)) => Some(*n),
            Some(RangeBound::DateTime(_)) | None => None,
        };
        return Ok(RangeCheck::Number(Bounds { lt: num(lt), gt: num(gt), gte: num(gte), lte: num(lte) }));
    }
    let datetime = |b: &Option<RangeBound>| match b {
        None => Ok(None),
        Some(RangeBound::DateTime(s)) => parse_datetime(s).map(Some).ok_or_else(|| {
            TypesError::BadInput(format!("'{s}' is not in a supported date/time format, please use RFC 3339"))
        }),
        Some(RangeBound::Number(n)) => Err(TypesError::BadInput(format!(
            "Range bound {n} is a number but other bounds are date-times; \
             use RFC 3339 strings for every bound"
        ))),
    };
    Ok(RangeCheck::DateTime(Bounds { lt: datetime(lt)?, gt: datetime(gt)?, gte: datetime(gte)?, lte: datetime(lte)? }))
}
