//! Payload indexes of one shard's point table: value → slots maps for the fields the collection
//! declared (`PUT /collections/{c}/index`), kept up to date on every payload change.
//!
//! They serve the search planner: `candidates` gives a **superset** of the slots matching a
//! filter (from its most selective indexed `must` condition), and `estimate` its size. Results
//! stay exact because every candidate is still checked with the compiled filter. Conditions an
//! index cannot answer as a superset (text substrings, geo, `except`, …) give no candidates.

use crate::filter::parse_datetime;
use crate::text::{TextAnalyzer, TextIndexes};
use quiver_types::Payload;
use quiver_types::filter::{Condition, FieldCondition, Filter, Match, MatchAnyValues, MatchValue, Range, RangeBound};
use quiver_types::index_params::{FieldSchema, FieldTypeName};
use quiver_types::json_path::JsonPath;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::sync::Arc;

/// The data types of payload indexes (Qdrant's field schema names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Keyword,
    Integer,
    Float,
    Bool,
    Uuid,
    Datetime,
    Text,
    Geo,
}

impl FieldType {
    /// Parses a field schema: a type name or an object with `type`.
    pub fn from_schema(schema: &Value) -> Option<FieldType> {
        let name = match schema {
            Value::String(s) => s.as_str(),
            Value::Object(map) => map.get("type").and_then(Value::as_str)?,
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::Array(_) => return None,
        };
        Some(match name {
            "keyword" => FieldType::Keyword,
            "integer" => FieldType::Integer,
            "float" => FieldType::Float,
            "bool" => FieldType::Bool,
            "uuid" => FieldType::Uuid,
            "datetime" => FieldType::Datetime,
            "text" => FieldType::Text,
            "geo" => FieldType::Geo,
            _ => return None,
        })
    }

    fn of(name: FieldTypeName) -> FieldType {
        match name {
            FieldTypeName::Keyword => FieldType::Keyword,
            FieldTypeName::Integer => FieldType::Integer,
            FieldTypeName::Float => FieldType::Float,
            FieldTypeName::Bool => FieldType::Bool,
            FieldTypeName::Uuid => FieldType::Uuid,
            FieldTypeName::Datetime => FieldType::Datetime,
            FieldTypeName::Text => FieldType::Text,
            FieldTypeName::Geo => FieldType::Geo,
        }
    }
}

/// A totally ordered f64 (for range maps).
#[derive(Debug, Clone, Copy)]
struct OrdF64(f64);

impl PartialEq for OrdF64 {
    fn eq(&self, other: &Self) -> bool {
        self.0.total_cmp(&other.0).is_eq()
    }
}
impl Eq for OrdF64 {}
impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OrdF64 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// An indexed value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Str(String),
    Int(i64),
    Bool(bool),
}

/// The index of one field.
#[derive(Debug)]
struct FieldIndex {
    path: JsonPath,
    schema: FieldSchema,
    kind: FieldType,
    /// The analyzer of a text index.
    text: Option<Arc<TextAnalyzer>>,
    /// Whether `match` (integers: `lookup`) and ranges (`range`) are served by this index.
    lookup: bool,
    range: bool,
    /// Exact values (keywords, uuids, integers, bools, text tokens).
    exact: HashMap<Key, HashSet<u32>>,
    /// Numbers (integer, float) or date-times (microseconds since the epoch) for ranges.
    ordered: BTreeMap<OrdF64, HashSet<u32>>,
    /// What each slot contributed, to remove it again.
    by_slot: HashMap<u32, (Vec<Key>, Vec<OrdF64>)>,
}

impl FieldIndex {
    fn new(path: JsonPath, schema: &FieldSchema) -> FieldIndex {
        let (lookup, range) = schema.integer_capabilities();
        FieldIndex {
            path,
            schema: schema.clone(),
            kind: FieldType::of(schema.data_type()),
            text: schema.text_params().map(|p| Arc::new(TextAnalyzer::new(&p))),
            lookup,
            range,
            exact: HashMap::new(),
            ordered: BTreeMap::new(),
            by_slot: HashMap::new(),
        }
    }

    fn extract(&self, payload: &Payload) -> (Vec<Key>, Vec<OrdF64>) {
        let (mut keys, mut nums) = (Vec::new(), Vec::new());
        for value in self.path.flat_values(payload) {
            match (self.kind, value) {
                (FieldType::Keyword | FieldType::Uuid, Value::String(s)) => keys.push(Key::Str(s.clone())),
                (FieldType::Text, Value::String(s)) => {
                    keys.extend(self.text.iter().flat_map(|a| a.index_tokens(s)).map(Key::Str));
                }
                (FieldType::Integer, Value::Number(n)) => {
                    if let Some(i) = n.as_i64() {
                        keys.push(Key::Int(i));
                    }
                    nums.extend(n.as_f64().map(OrdF64));
                }
                (FieldType::Float, Value::Number(n)) => nums.extend(n.as_f64().map(OrdF64)),
                (FieldType::Bool, Value::Bool(b)) => keys.push(Key::Bool(*b)),
                (FieldType::Datetime, Value::String(s)) => {
                    nums.extend(parse_datetime(s).map(|t| OrdF64(t.timestamp_micros() as f64)));
                }
                _ => {}
            }
        }
        keys.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        keys.dedup();
        nums.sort();
        nums.dedup();
        (keys, nums)
    }

    fn remove(&mut self, slot: u32) {
        let Some((keys, nums)) = self.by_slot.remove(&slot) else {
            return;
        };
        for key in keys {
            if let Some(set) = self.exact.get_mut(&key) {
                set.remove(&slot);
                if set.is_empty() {
                    self.exact.remove(&key);
                }
            }
        }
        for num in nums {
            if let Some(set) = self.ordered.get_mut(&num) {
                set.remove(&slot);
                if set.is_empty() {
                    self.ordered.remove(&num);
                }
            }
        }
    }

    fn set(&mut self, slot: u32, payload: &Payload) {
        self.remove(slot);
        let (keys, nums) = self.extract(payload);
        if keys.is_empty() && nums.is_empty() {
            return;
        }
        for key in &keys {
            self.exact.entry(key.clone()).or_default().insert(slot);
        }
        for num in &nums {
            self.ordered.entry(*num).or_default().insert(slot);
        }
        self.by_slot.insert(slot, (keys, nums));
    }

    /// The value sets whose union is a superset of the slots matching `condition`, if this index
    /// can tell (the smallest of its `match` and `range` parts).
    fn sets(&self, condition: &FieldCondition) -> Option<Vec<&HashSet<u32>>> {
        let mut best: Option<Vec<&HashSet<u32>>> = None;
        let size = |sets: &Vec<&HashSet<u32>>| sets.iter().map(|s| s.len()).sum::<usize>();
        if let Some(m) = &condition.r#match {
            let keys: Option<Vec<Key>> = match (self.kind, m) {
                (FieldType::Keyword | FieldType::Uuid, Match::Value { value: MatchValue::Keyword(s) }) => {
                    Some(vec![Key::Str(s.clone())])
                }
                (FieldType::Keyword | FieldType::Uuid, Match::Any { any: MatchAnyValues::Keywords(list) }) => {
                    Some(list.iter().cloned().map(Key::Str).collect())
                }
                (FieldType::Integer, Match::Value { value: MatchValue::Integer(i) }) => Some(vec![Key::Int(*i)]),
                (FieldType::Integer, Match::Any { any: MatchAnyValues::Integers(list) }) => {
                    Some(list.iter().copied().map(Key::Int).collect())
                }
                (FieldType::Bool, Match::Value { value: MatchValue::Bool(b) }) => Some(vec![Key::Bool(*b)]),
                (FieldType::Text, Match::Text { text: query } | Match::Phrase { phrase: query }) => {
                    self.text_key(query)
                }
                _ => None,
            };
            let keys = keys.filter(|_| self.lookup);
            best = keys.map(|keys| keys.iter().filter_map(|k| self.exact.get(k)).collect());
        }
        if let Some(range) = condition.range.as_ref().filter(|_| self.range)
            && let Some(sets) = self.range_sets(range)
            && best.as_ref().is_none_or(|b| size(&sets) < size(b))
        {
            best = Some(sets);
        }
        best
    }

    /// The token of a `text`/`phrase` query whose set is a superset of the matches (every
    /// token must be present, so any one will do: the rarest).
    fn text_key(&self, query: &str) -> Option<Vec<Key>> {
        let analyzer = self.text.as_ref().filter(|a| a.lookups_are_exact())?;
        let words = analyzer.words(query);
        let rarest = words.into_iter().min_by_key(|w| self.exact.get(&Key::Str(w.clone())).map_or(0, |s| s.len()))?;
        Some(vec![Key::Str(rarest)])
    }

    fn range_sets(&self, range: &Range) -> Option<Vec<&HashSet<u32>>> {
        let datetime = self.kind == FieldType::Datetime;
        if !datetime && !matches!(self.kind, FieldType::Integer | FieldType::Float) {
            return None;
        }
        // A bound of the wrong kind never matches anything in the filter; give up instead.
        let value = |b: &Option<RangeBound>| -> Option<Option<f64>> {
            match (b, datetime) {
                (None, _) => Some(None),
                (Some(RangeBound::Number(n)), false) => Some(Some(*n)),
                (Some(RangeBound::DateTime(s)), true) => parse_datetime(s).map(|t| Some(t.timestamp_micros() as f64)),
                (Some(RangeBound::Number(_)), true) | (Some(RangeBound::DateTime(_)), false) => None,
            }
        };
        let (gt, gte, lt, lte) = (value(&range.gt)?, value(&range.gte)?, value(&range.lt)?, value(&range.lte)?);
        let lower = match (gt, gte) {
            (Some(a), Some(b)) if a >= b => Bound::Excluded(OrdF64(a)),
            (_, Some(b)) => Bound::Included(OrdF64(b)),
            (Some(a), None) => Bound::Excluded(OrdF64(a)),
            (None, None) => Bound::Unbounded,
        };
        let upper = match (lt, lte) {
            (Some(a), Some(b)) if a <= b => Bound::Excluded(OrdF64(a)),
            (_, Some(b)) => Bound::Included(OrdF64(b)),
            (Some(a), None) => Bound::Excluded(OrdF64(a)),
            (None, None) => Bound::Unbounded,
        };
        let empty = match (lower, upper) {
            (Bound::Excluded(a), Bound::Excluded(b)) => a >= b,
            (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => a > b,
            _ => false,
        };
        if empty {
            return Some(Vec::new());
        }
        Some(self.ordered.range((lower, upper)).map(|(_, set)| set).collect())
    }

    fn bytes(&self) -> usize {
        let sets: usize = self.exact.values().chain(self.ordered.values()).map(|s| s.capacity() * 8 + 48).sum();
        let keys: usize = self.exact.keys().map(|k| 32 + if let Key::Str(s) = k { s.len() } else { 0 }).sum();
        sets + keys + self.by_slot.len() * 64
    }
}

/// One tenant of an `is_tenant` index: the points holding `value` in `field`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub field: String,
    pub value: String,
    pub slots: Vec<u32>,
}

/// The payload indexes of one table.
#[derive(Debug, Default)]
pub struct PayloadIndex {
    fields: BTreeMap<String, FieldIndex>,
}

impl PayloadIndex {
    /// The indexed fields and their types.
    pub fn fields(&self) -> BTreeMap<String, FieldType> {
        self.fields.iter().map(|(name, f)| (name.clone(), f.kind)).collect()
    }

    /// The analyzers of the text indexes, for filters (`CompiledFilter::compile_with`).
    pub fn text_indexes(&self) -> TextIndexes {
        self.fields.iter().filter_map(|(name, f)| Some((name.clone(), f.text.clone()?))).collect()
    }

    /// The top-level payload keys the indexes read.
    pub fn keys(&self) -> std::collections::BTreeSet<String> {
        self.fields.values().map(|f| f.path.first_key.clone()).collect()
    }

    /// The top-level payload keys that `set_fields(wanted, …)` reads: those of the indexes it
    /// builds.
    pub fn keys_to_build(&self, wanted: &BTreeMap<String, FieldSchema>) -> std::collections::BTreeSet<String> {
        let new = wanted.iter().filter(|(name, schema)| self.fields.get(*name).is_none_or(|f| f.schema != **schema));
        new.filter_map(|(name, _)| Some(JsonPath::parse(name).ok()?.first_key)).collect()
    }

    /// Makes the set of indexes `wanted` (an index whose schema changed is rebuilt); new ones
    /// are filled from `payloads` (slot, payload).
    pub fn set_fields<P: std::borrow::Borrow<Payload>>(
        &mut self,
        wanted: &BTreeMap<String, FieldSchema>,
        payloads: impl Iterator<Item = (u32, P)>,
    ) {
        self.fields.retain(|name, f| wanted.get(name) == Some(&f.schema));
        let mut new: Vec<(&String, FieldIndex)> = wanted
            .iter()
            .filter(|(name, _)| !self.fields.contains_key(*name))
            .filter_map(|(name, kind)| Some((name, FieldIndex::new(JsonPath::parse(name).ok()?, kind))))
            .collect();
        if new.is_empty() {
            return;
        }
        // One pass over the payloads fills every new index (each payload read once).
        for (slot, payload) in payloads {
            for (_, index) in &mut new {
                index.set(slot, payload.borrow());
            }
        }
        self.fields.extend(new.into_iter().map(|(name, index)| (name.clone(), index)));
    }

    /// `slot` now holds `payload`.
    pub fn update(&mut self, slot: u32, payload: &Payload) {
        for index in self.fields.values_mut() {
            index.set(slot, payload);
        }
    }

    /// `slot` is empty now.
    pub fn remove(&mut self, slot: u32) {
        for index in self.fields.values_mut() {
            index.remove(slot);
        }
    }

    /// The most selective indexed `must` condition of `filter`, as value sets.
    fn best_sets(&self, filter: &Filter) -> Option<Vec<&HashSet<u32>>> {
        let mut best: Option<Vec<&HashSet<u32>>> = None;
        let size = |sets: &Vec<&HashSet<u32>>| sets.iter().map(|s| s.len()).sum::<usize>();
        for condition in filter.must.iter().flatten() {
            let sets = match condition {
                Condition::Field(field) => self.fields.get(&field.key).and_then(|index| index.sets(field)),
                Condition::Filter(inner) => self.best_sets(inner),
                Condition::IsEmpty(_)
                | Condition::IsNull(_)
                | Condition::HasId(_)
                | Condition::HasVector(_)
                | Condition::Slice(_)
                | Condition::Nested(_) => None,
            };
            if let Some(sets) = sets
                && best.as_ref().is_none_or(|b| size(&sets) < size(b))
            {
                best = Some(sets);
            }
        }
        best
    }

    /// An upper bound of the number of slots matching `filter`, from its most selective
    /// indexed `must` condition; `None` when no `must` condition is answered by an index.
    pub fn estimate(&self, filter: &Filter) -> Option<usize> {
        self.best_sets(filter).map(|sets| sets.iter().map(|s| s.len()).sum())
    }

    /// A superset of the slots matching `filter` (see `estimate`).
    pub fn candidates(&self, filter: &Filter) -> Option<HashSet<u32>> {
        self.best_sets(filter).map(|sets| sets.into_iter().flatten().copied().collect())
    }

    /// The tenants of the `is_tenant` keyword and uuid indexes holding at least `min_slots`
    /// points: field, value and slots (ascending).
    pub fn tenants(&self, min_slots: usize) -> Vec<Tenant> {
        let mut out = Vec::new();
        for (field, index) in self.fields.iter().filter(|(_, f)| f.schema.is_tenant()) {
            for (key, set) in &index.exact {
                let Key::Str(value) = key else { continue };
                if set.len() >= min_slots.max(1) {
                    let mut slots: Vec<u32> = set.iter().copied().collect();
                    slots.sort_unstable();
                    out.push(Tenant { field: field.clone(), value: value.clone(), slots });
                }
            }
        }
        out.sort_by(|a, b| (&a.field, &a.value).cmp(&(&b.field, &b.value)));
        out
    }

    /// The tenant `filter` keeps to: a top-level `must` match of one value on an `is_tenant`
    /// field (every point it matches holds that value, so that tenant's points are a superset).
    pub fn pinned_tenant<'f>(&self, filter: &'f Filter) -> Option<(&'f str, &'f str)> {
        filter.must.iter().flatten().find_map(|condition| {
            let Condition::Field(field) = condition else { return None };
            let Some(Match::Value { value: MatchValue::Keyword(value) }) = &field.r#match else { return None };
            self.fields.get(&field.key).filter(|f| f.schema.is_tenant())?;
            Some((field.key.as_str(), value.as_str()))
        })
    }

    /// Number of slots with at least one indexed value of `field`.
    pub fn points(&self, field: &str) -> Option<usize> {
        self.fields.get(field).map(|f| f.by_slot.len())
    }

    /// Approximate bytes held.
    pub fn bytes(&self) -> usize {
        self.fields.values().map(FieldIndex::bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(v: serde_json::Value) -> Payload {
        v.as_object().unwrap().clone()
    }

    fn filter(v: serde_json::Value) -> Filter {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn keyword_integer_float_bool_datetime_candidates() {
        let payloads = [
            payload(serde_json::json!({"k": "a", "i": 1, "f": 0.5, "b": true, "t": "2024-01-01T00:00:00Z"})),
            payload(serde_json::json!({"k": ["a", "b"], "i": 5, "f": 2.5, "b": false, "t": "2024-06-01T00:00:00Z"})),
            payload(serde_json::json!({"k": "c", "i": 9, "f": 7.0})),
        ];
        let mut index = PayloadIndex::default();
        let wanted = BTreeMap::from([
            ("k".to_string(), FieldSchema::Type(FieldTypeName::Keyword)),
            ("i".to_string(), FieldSchema::Type(FieldTypeName::Integer)),
            ("f".to_string(), FieldSchema::Type(FieldTypeName::Float)),
            ("b".to_string(), FieldSchema::Type(FieldTypeName::Bool)),
            ("t".to_string(), FieldSchema::Type(FieldTypeName::Datetime)),
        ]);
        index.set_fields(&wanted, payloads.iter().enumerate().map(|(s, p)| (s as u32, p)));
        let a = filter(serde_json::json!({"must": [{"key": "k", "match": {"value": "a"}}]}));
        assert_eq!(index.estimate(&a), Some(2));
        let slots_in = |index: &PayloadIndex, f: serde_json::Value| {
            let mut v: Vec<u32> = index.candidates(&filter(f)).unwrap().into_iter().collect();
            v.sort();
            v
        };
        let slots = |f: serde_json::Value| slots_in(&index, f);
        assert_eq!(slots(serde_json::json!({"must": [{"key": "k", "match": {"value": "a"}}]})), vec![0, 1]);
        assert_eq!(slots(serde_json::json!({"must": [{"key": "k", "match": {"any": ["b", "c"]}}]})), vec![1, 2]);
        assert_eq!(slots(serde_json::json!({"must": [{"key": "i", "range": {"gt": 1, "lte": 9}}]})), vec![1, 2]);
        assert_eq!(slots(serde_json::json!({"must": [{"key": "i", "match": {"value": 5}}]})), vec![1]);
        assert_eq!(slots(serde_json::json!({"must": [{"key": "f", "range": {"lt": 2.5}}]})), vec![0]);
        assert_eq!(slots(serde_json::json!({"must": [{"key": "b", "match": {"value": false}}]})), vec![1]);
        assert_eq!(
            slots(serde_json::json!({"must": [{"key": "t", "range": {"gte": "2024-03-01T00:00:00Z"}}]})),
            vec![1]
        );
        // The most selective must condition wins.
        assert_eq!(
            slots(
                serde_json::json!({"must": [{"key": "k", "match": {"value": "a"}}, {"key": "b", "match": {"value": true}}]})
            ),
            vec![0]
        );
        // Not answerable: no candidates.
        assert!(
            index.candidates(&filter(serde_json::json!({"must": [{"key": "k", "match": {"text": "a"}}]}))).is_none()
        );
        assert!(
            index.candidates(&filter(serde_json::json!({"should": [{"key": "k", "match": {"value": "a"}}]}))).is_none()
        );
        // Updates and removals.
        index.update(0, &payload(serde_json::json!({"k": "z"})));
        let a = || serde_json::json!({"must": [{"key": "k", "match": {"value": "a"}}]});
        assert_eq!(slots_in(&index, a()), vec![1]);
        index.remove(1);
        assert!(slots_in(&index, a()).is_empty());
        assert_eq!(index.points("k"), Some(2));
        // Dropping an index definition drops the structure.
        index.set_fields(
            &BTreeMap::from([("i".to_string(), FieldSchema::Type(FieldTypeName::Integer))]),
            std::iter::empty::<(u32, &Payload)>(),
        );
        assert_eq!(index.points("k"), None);
        assert!(index.bytes() > 0);
    }

    #[test]
    fn tenants_of_is_tenant_fields_and_the_tenant_a_filter_pins() {
        let payloads: Vec<Payload> = (0..10)
            .map(|i| payload(serde_json::json!({"t": if i < 6 { "big" } else { "small" }, "k": "x", "n": i})))
            .collect();
        let mut index = PayloadIndex::default();
        let tenant = FieldSchema::parse(&serde_json::json!({"type": "keyword", "is_tenant": true})).unwrap();
        let wanted =
            BTreeMap::from([("t".to_string(), tenant), ("k".to_string(), FieldSchema::Type(FieldTypeName::Keyword))]);
        index.set_fields(&wanted, payloads.iter().enumerate().map(|(s, p)| (s as u32, p)));
        let tenants = index.tenants(5);
        assert_eq!(tenants.len(), 1, "only `t` is a tenant field, and only `big` has 5 points");
        assert_eq!((tenants[0].field.as_str(), tenants[0].value.as_str()), ("t", "big"));
        assert_eq!(tenants[0].slots, vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(index.tenants(1).len(), 2);
        let pinned =
            |f: serde_json::Value| index.pinned_tenant(&filter(f)).map(|(a, b)| (a.to_string(), b.to_string()));
        let big = serde_json::json!({"key": "t", "match": {"value": "big"}});
        let range = serde_json::json!({"key": "n", "range": {"lt": 3}});
        assert_eq!(pinned(serde_json::json!({"must": [range, big]})), Some(("t".into(), "big".into())));
        // Not pinned: `should`, `match any`, or a field that is not a tenant index.
        assert_eq!(pinned(serde_json::json!({"should": [big]})), None);
        assert_eq!(pinned(serde_json::json!({"must": [{"key": "t", "match": {"any": ["big"]}}]})), None);
        assert_eq!(pinned(serde_json::json!({"must": [{"key": "k", "match": {"value": "x"}}]})), None);
    }
}
