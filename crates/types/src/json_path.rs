//! Payload key paths (`a.b`, `arr[]`, `arr[0]`, `"quoted.key"`) with Qdrant's semantics:
//! reading the values at a path, merging an object in at a path (set-payload with `key`),
//! deleting at a path, and projecting a payload through a `with_payload` selector.
//!
//! Reading follows Qdrant exactly: a key step only descends into objects (a key step applied to
//! an array yields nothing; use `arr[].key` to map over elements), `[]` iterates the elements of
//! an array and `[n]` picks one element. Raw keys consist of alphanumerics, `_` and `-`; any
//! other key must be double-quoted (`"a.b"`).

use crate::Payload;
use crate::TypesError;
use crate::query::WithPayload;
use serde_json::Value;
use std::fmt;

/// One step of a path after its first key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathItem {
    /// `.key`: descend into an object.
    Key(String),
    /// `[n]`: one element of an array.
    Index(usize),
    /// `[]`: every element of an array.
    Wildcard,
}

/// A parsed payload key path: a first key, then any number of steps.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JsonPath {
    pub first_key: String,
    pub rest: Vec<PathItem>,
}

fn bad_path(key: &str, reason: &str) -> TypesError {
    TypesError::BadInput(format!("Invalid payload key path \"{key}\": {reason}"))
}

fn is_raw_key_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

/// Reads a raw or quoted key at the start of `s`; returns the key and the remaining input.
fn parse_key<'s>(full: &str, s: &'s str) -> Result<(String, &'s str), TypesError> {
    if let Some(quoted) = s.strip_prefix('"') {
        let end = quoted.find('"').ok_or_else(|| bad_path(full, "unterminated quoted key"))?;
        return Ok((quoted[..end].to_string(), &quoted[end + 1..]));
    }
    let end = s.find(|c: char| !is_raw_key_char(c)).unwrap_or(s.len());
    if end == 0 {
        let reason = match s.chars().next() {
            None => "expected a key at the end".to_string(),
            Some(c) => format!("expected a key, found '{c}' (quote keys with special characters)"),
        };
        return Err(bad_path(full, &reason));
    }
    Ok((s[..end].to_string(), &s[end..]))
}

/// Reads a bracket step (`[]` or `[n]`) at the start of `s` (which begins with `[`).
fn parse_bracket<'s>(full: &str, s: &'s str) -> Result<(PathItem, &'s str), TypesError> {
    let inner = &s[1..];
    let end = inner.find(']').ok_or_else(|| bad_path(full, "unbalanced '['"))?;
    let body = &inner[..end];
    let item = if body.is_empty() {
        PathItem::Wildcard
    } else if body.chars().all(|c| c.is_ascii_digit()) {
        let index = body.parse::<usize>().map_err(|_| bad_path(full, "array index out of range"))?;
        PathItem::Index(index)
    } else {
        return Err(bad_path(full, "array index must be empty or a non-negative integer"));
    };
    Ok((item, &inner[end + 1..]))
}

impl JsonPath {
    /// Parses a key path; invalid paths are `BadInput`.
    pub fn parse(key: &str) -> Result<JsonPath, TypesError> {
        if key.is_empty() {
            return Err(bad_path(key, "the path is empty"));
        }
        let (first_key, mut rest_input) = parse_key(key, key)?;
        let mut rest = Vec::new();
        while let Some(c) = rest_input.chars().next() {
            match c {
                '.' => {
                    let (k, r) = parse_key(key, &rest_input[1..])?;
                    rest.push(PathItem::Key(k));
                    rest_input = r;
                }
                '[' => {
                    let (item, r) = parse_bracket(key, rest_input)?;
                    rest.push(item);
                    rest_input = r;
                }
                ']' => return Err(bad_path(key, "unbalanced ']'")),
                other => {
                    return Err(bad_path(key, &format!("unexpected character '{other}'")));
                }
            }
        }
        Ok(JsonPath { first_key, rest })
    }

    /// A single-key path (no parsing; any key is allowed).
    pub fn key(key: impl Into<String>) -> JsonPath {
        JsonPath { first_key: key.into(), rest: Vec::new() }
    }

    /// This path with a trailing `[]` added unless it already ends with one (Qdrant's
    /// `nested` condition key).
    pub fn with_wildcard_suffix(&self) -> JsonPath {
        let mut path = self.clone();
        if path.rest.last() != Some(&PathItem::Wildcard) {
            path.rest.push(PathItem::Wildcard);
        }
        path
    }

    /// The raw values at this path (an array at the end is returned as one value).
    pub fn values<'a>(&self, payload: &'a Payload) -> Vec<&'a Value> {
        let mut out = Vec::new();
        if let Some(value) = payload.get(&self.first_key) {
            collect_values(&self.rest, value, &mut out);
        }
        out
    }

    /// The values at this path with arrays at the end flattened one level: the values a
    /// field condition matches against (`tags: ["a","b"]` yields `"a"` and `"b"`).
    pub fn flat_values<'a>(&self, payload: &'a Payload) -> Vec<&'a Value> {
        let mut out = Vec::new();
        for value in self.values(payload) {
            match value {
                Value::Array(items) => out.extend(items.iter()),
                Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Object(_) => {
                    out.push(value)
                }
            }
        }
        out
    }
}

fn collect_values<'a>(path: &[PathItem], value: &'a Value, out: &mut Vec<&'a Value>) {
    let Some((head, tail)) = path.split_first() else {
        out.push(value);
        return;
    };
    match (head, value) {
        (PathItem::Key(key), Value::Object(map)) => {
            if let Some(next) = map.get(key) {
                collect_values(tail, next, out);
            }
        }
        (PathItem::Index(i), Value::Array(items)) => {
            if let Some(next) = items.get(*i) {
                collect_values(tail, next, out);
            }
        }
        (PathItem::Wildcard, Value::Array(items)) => {
            for next in items {
                collect_values(tail, next, out);
            }
        }
        (PathItem::Key(_) | PathItem::Index(_) | PathItem::Wildcard, _) => {}
    }
}

fn needs_quoting(key: &str) -> bool {
    key.is_empty() || !key.chars().all(is_raw_key_char)
}

fn write_key(f: &mut fmt::Formatter<'_>, key: &str) -> fmt::Result {
    if needs_quoting(key) { write!(f, "\"{key}\"") } else { f.write_str(key) }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_key(f, &self.first_key)?;
        for item in &self.rest {
            match item {
                PathItem::Key(key) => {
                    f.write_str(".")?;
                    write_key(f, key)?;
                }
                PathItem::Index(i) => write!(f, "[{i}]")?,
                PathItem::Wildcard => f.write_str("[]")?,
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for JsonPath {
    type Err = TypesError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JsonPath::parse(s)
    }
}

/// Qdrant's payload merge: every key of `src` replaces the same key of `dest`; a `null` in
/// `src` removes the key from `dest`.
pub fn merge(dest: &mut Payload, src: &Payload) {
    for (key, value) in src {
        if value.is_null() {
            dest.shift_remove(key);
        } else {
            dest.insert(key.clone(), value.clone());
        }
    }
}

/// Set-payload with `key`: merges `value` into the object at `path` (see [`merge`]), creating
/// missing intermediate objects and replacing non-objects on the way. Through `[]` it applies to
/// every element (a non-array there becomes an empty array); `[n]` applies to that element if it
/// exists (a non-array there becomes an empty array).
pub fn set(payload: &mut Payload, path: &JsonPath, value: &Payload) {
    set_in_map(payload, &path.first_key, &path.rest, value);
}

fn set_in_map(map: &mut Payload, key: &str, rest: &[PathItem], src: &Payload) {
    let slot = map.entry(key.to_string()).or_insert(Value::Null);
    set_in_value(slot, rest, src);
}

fn set_in_value(dest: &mut Value, path: &[PathItem], src: &Payload) {
    let Some((head, tail)) = path.split_first() else {
        if !dest.is_object() {
            *dest = Value::Object(Payload::new());
        }
        if let Value::Object(map) = dest {
            merge(map, src);
        }
        return;
    };
    match head {
        PathItem::Key(key) => {
            if !dest.is_object() {
                *dest = Value::Object(Payload::new());
            }
            if let Value::Object(map) = dest {
                set_in_map(map, key, tail, src);
            }
        }
        PathItem::Index(i) => match dest {
            Value::Array(items) => {
                if let Some(item) = items.get_mut(*i) {
                    set_in_value(item, tail, src);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Object(_) => {
                *dest = Value::Array(Vec::new())
            }
        },
        PathItem::Wildcard => match dest {
            Value::Array(items) => {
                for item in items {
                    set_in_value(item, tail, src);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Object(_) => {
                *dest = Value::Array(Vec::new())
            }
        },
    }
}

/// Removes what `path` points at: a key of an object, the element `[n]` of an array, or all
/// elements for a trailing `[]` (leaving an empty array). Steps through arrays for inner `[]`.
pub fn delete(payload: &mut Payload, path: &JsonPath) {
    match path.rest.split_first() {
        None => {
            payload.shift_remove(&path.first_key);
        }
        Some((head, tail)) => {
            if let Some(value) = payload.get_mut(&path.first_key) {
                delete_in_value(value, head, tail);
            }
        }
    }
}

fn delete_in_value(value: &mut Value, head: &PathItem, tail: &[PathItem]) {
    if let Some((next, rest)) = tail.split_first() {
        match (head, value) {
            (PathItem::Key(key), Value::Object(map)) => {
                if let Some(child) = map.get_mut(key) {
                    delete_in_value(child, next, rest);
                }
            }
            (PathItem::Index(i), Value::Array(items)) => {
                if let Some(child) = items.get_mut(*i) {
                    delete_in_value(child, next, rest);
                }
            }
            (PathItem::Wildcard, Value::Array(items)) => {
                for child in items {
                    delete_in_value(child, next, rest);
                }
            }
            (PathItem::Key(_) | PathItem::Index(_) | PathItem::Wildcard, _) => {}
        }
        return;
    }
    match (head, value) {
        (PathItem::Key(key), Value::Object(map)) => {
            map.shift_remove(key);
        }
        (PathItem::Index(i), Value::Array(items)) => {
            if *i < items.len() {
                items.remove(*i);
            }
        }
        (PathItem::Wildcard, Value::Array(items)) => items.clear(),
        (PathItem::Key(_) | PathItem::Index(_) | PathItem::Wildcard, _) => {}
    }
}

/// Checks that every key of a `with_payload` selector is a valid path: Qdrant's selectors are
/// typed paths, so a bad key is refused rather than matching nothing.
pub fn check_selector(selector: &WithPayload) -> Result<(), TypesError> {
    match selector {
        WithPayload::Bool(_) => Ok(()),
        WithPayload::Fields(keys) | WithPayload::Include { include: keys } | WithPayload::Exclude { exclude: keys } => {
            keys.iter().try_for_each(|key| JsonPath::parse(key).map(|_| ()))
        }
    }
}

/// Projects a payload through a `with_payload` selector: `false` → `None`, `true` → all,
/// field lists / `include` keep only those paths (and their ancestors, so `a.b` gives
/// `{"a":{"b":..}}`), `exclude` drops those paths. Array elements are addressed with `[]`
/// (`include: ["arr[].x"]`), as in Qdrant. Unparsable paths match nothing.
pub fn select(payload: &Payload, selector: &WithPayload) -> Option<Payload> {
    match selector {
        WithPayload::Bool(false) => None,
        WithPayload::Bool(true) => Some(payload.clone()),
        WithPayload::Fields(fields) | WithPayload::Include { include: fields } => {
            let patterns = parse_all(fields);
            Some(filter_payload(payload, &|path: &[&str], items: &[PathItem]| {
                patterns.iter().any(|p| include_matches(p, path, items))
            }))
        }
        WithPayload::Exclude { exclude } => {
            let patterns = parse_all(exclude);
            Some(filter_payload(payload, &|path: &[&str], items: &[PathItem]| {
                !patterns.iter().any(|p| exclude_matches(p, path, items))
            }))
        }
    }
}

fn parse_all(keys: &[String]) -> Vec<JsonPath> {
    keys.iter().filter_map(|k| JsonPath::parse(k).ok()).collect()
}

/// A walked location: the first key (one-element slice) and the steps after it.
type Keep<'f> = dyn Fn(&[&str], &[PathItem]) -> bool + 'f;

/// Include: the location and the pattern agree on their common prefix (either may be longer).
fn include_matches(pattern: &JsonPath, first: &[&str], items: &[PathItem]) -> bool {
    first.first().is_some_and(|k| *k == pattern.first_key) && pattern.rest.iter().zip(items).all(|(a, b)| a == b)
}

/// Exclude: the pattern is a prefix of the location.
fn exclude_matches(pattern: &JsonPath, first: &[&str], items: &[PathItem]) -> bool {
    first.first().is_some_and(|k| *k == pattern.first_key) && items.starts_with(&pattern.rest)
}

fn filter_payload(payload: &Payload, keep: &Keep<'_>) -> Payload {
    let mut out = Payload::new();
    let mut items = Vec::new();
    for (key, value) in payload {
        let first = [key.as_str()];
        if keep(&first, &items) {
            out.insert(key.clone(), filter_value(value, &first, &mut items, keep));
        }
    }
    out
}

fn filter_value(value: &Value, first: &[&str], items: &mut Vec<PathItem>, keep: &Keep<'_>) -> Value {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => value.clone(),
        Value::Array(elements) => {
            items.push(PathItem::Wildcard);
            let mut kept = Vec::new();
            if keep(first, items) {
                for element in elements {
                    kept.push(filter_value(element, first, items, keep));
                }
            }
            items.pop();
            Value::Array(kept)
        }
        Value::Object(map) => {
            let mut kept = Payload::new();
            for (key, child) in map {
                items.push(PathItem::Key(key.clone()));
                if keep(first, items) {
                    kept.insert(key.clone(), filter_value(child, first, items, keep));
                }
                items.pop();
            }
            Value::Object(kept)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Payload {
        let Value::Object(m) = v else { panic!("not an object: {v}") };
        m
    }

    fn p(s: &str) -> JsonPath {
        JsonPath::parse(s).unwrap()
    }

    #[test]
    fn parses_valid_paths() {
        assert_eq!(p("a"), JsonPath::key("a"));
        assert_eq!(
            p("a.b-c.d_e"),
            JsonPath { first_key: "a".into(), rest: vec![PathItem::Key("b-c".into()), PathItem::Key("d_e".into())] }
        );
        assert_eq!(p("arr[]").rest, vec![PathItem::Wildcard]);
        assert_eq!(p("arr[].x").rest, vec![PathItem::Wildcard, PathItem::Key("x".into())]);
        assert_eq!(p("arr[12]").rest, vec![PathItem::Index(12)]);
        assert_eq!(p("m[0][]").rest, vec![PathItem::Index(0), PathItem::Wildcard]);
        let quoted = p("\"a.b\".\"c[d]\"");
        assert_eq!(quoted.first_key, "a.b");
        assert_eq!(quoted.rest, vec![PathItem::Key("c[d]".into())]);
        assert_eq!(quoted.to_string(), "\"a.b\".\"c[d]\"");
        for s in ["a", "a.b[]", "a[3].b", "x.y.z"] {
            assert_eq!(p(s).to_string(), s);
        }
    }

    #[test]
    fn rejects_invalid_paths() {
        for bad in ["", "a..b", ".a", "a.", "a[", "a]", "a[x]", "a[-1]", "[]", "a b", "\"a", "a[]b", "a[0"] {
            match JsonPath::parse(bad) {
                Err(TypesError::BadInput(msg)) => assert!(msg.contains("Invalid payload key path")),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn reads_values() {
        let payload = obj(json!({
            "a": {"b": [{"c": 1}, {"c": 2}, {"d": {"e": 3}}]},
            "tags": ["x", "y"],
            "arr": [{"a": [1, 2]}, {"a": 4}, {"b": 5}],
            "n": null
        }));
        assert_eq!(p("a.b[].c").values(&payload), vec![&json!(1), &json!(2)]);
        assert_eq!(p("a.b[1].c").values(&payload), vec![&json!(2)]);
        assert_eq!(p("a.b[2].d.e").values(&payload), vec![&json!(3)]);
        assert!(p("a.b[3]").values(&payload).is_empty());
        // A key step on an array yields nothing (Qdrant); `[]` is required.
        assert!(p("a.b.c").values(&payload).is_empty());
        assert_eq!(p("tags").values(&payload), vec![&json!(["x", "y"])]);
        assert_eq!(p("tags").flat_values(&payload), vec![&json!("x"), &json!("y")]);
        assert_eq!(p("tags[]").values(&payload), vec![&json!("x"), &json!("y")]);
        assert_eq!(p("arr[].a").values(&payload), vec![&json!([1, 2]), &json!(4)]);
        assert_eq!(p("arr[].a").flat_values(&payload), vec![&json!(1), &json!(2), &json!(4)]);
        assert_eq!(p("n").values(&payload), vec![&Value::Null]);
        assert!(p("missing").values(&payload).is_empty());
    }

    #[test]
    fn sets_at_paths() {
        let src = obj(json!({"x": 1, "gone": null}));
        let mut payload = obj(json!({"a": 10, "b": {"gone": 2, "keep": 3}}));
        set(&mut payload, &p("a.b.c"), &src);
        set(&mut payload, &p("b"), &src);
        set(&mut payload, &p("new.deep"), &src);
        assert_eq!(
            Value::Object(payload),
            json!({
                "a": {"b": {"c": {"x": 1}}},
                "b": {"keep": 3, "x": 1},
                "new": {"deep": {"x": 1}}
            })
        );

        let mut payload = obj(json!({"arr": [{"k": 1}, 5, {"k": 2}], "s": "str"}));
        set(&mut payload, &p("arr[]"), &obj(json!({"y": true})));
        set(&mut payload, &p("s[].q"), &obj(json!({"y": true})));
        set(&mut payload, &p("arr[0]"), &obj(json!({"z": 0})));
        set(&mut payload, &p("arr[9]"), &obj(json!({"z": 9})));
        assert_eq!(
            Value::Object(payload),
            json!({
                "arr": [{"k": 1, "y": true, "z": 0}, {"y": true}, {"k": 2, "y": true}],
                "s": []
            })
        );
    }

    #[test]
    fn deletes_at_paths() {
        let mut payload = obj(json!({
            "a": 1,
            "b": {"c": 2, "d": 3},
            "f": [1, 2, 3],
            "i": [{"j": 1, "k": 2}, {"j": 3, "k": 4}],
            "z": 0
        }));
        delete(&mut payload, &p("b.c"));
        delete(&mut payload, &p("f[1]"));
        delete(&mut payload, &p("i[].k"));
        delete(&mut payload, &p("a"));
        delete(&mut payload, &p("missing.x"));
        delete(&mut payload, &p("f[7]"));
        assert_eq!(
            Value::Object(payload.clone()),
            json!({"b": {"d": 3}, "f": [1, 3], "i": [{"j": 1}, {"j": 3}], "z": 0})
        );
        let keys: Vec<&String> = payload.keys().collect();
        assert_eq!(keys, ["b", "f", "i", "z"]);
        delete(&mut payload, &p("i[]"));
        assert_eq!(payload["i"], json!([]));
    }

    #[test]
    fn selects_fields() {
        let payload = obj(json!({
            "a": {"b": 1, "c": 2},
            "arr": [{"x": 1, "y": 2}, {"x": 3}],
            "top": "t"
        }));
        assert_eq!(select(&payload, &WithPayload::Bool(false)), None);
        assert_eq!(select(&payload, &WithPayload::Bool(true)), Some(payload.clone()));
        let fields = WithPayload::Fields(vec!["a.b".into(), "top".into()]);
        assert_eq!(select(&payload, &fields).map(Value::Object), Some(json!({"a": {"b": 1}, "top": "t"})));
        let include = WithPayload::Include { include: vec!["arr[].x".into(), "nope".into()] };
        assert_eq!(select(&payload, &include).map(Value::Object), Some(json!({"arr": [{"x": 1}, {"x": 3}]})));
        let whole = WithPayload::Include { include: vec!["arr".into(), "bad..path".into()] };
        assert_eq!(select(&payload, &whole).map(Value::Object), Some(json!({"arr": [{"x": 1, "y": 2}, {"x": 3}]})));
        let exclude = WithPayload::Exclude { exclude: vec!["a.c".into(), "arr[].y".into()] };
        assert_eq!(
            select(&payload, &exclude).map(Value::Object),
            Some(json!({"a": {"b": 1}, "arr": [{"x": 1}, {"x": 3}], "top": "t"}))
        );
        let exclude_top = WithPayload::Exclude { exclude: vec!["a".into()] };
        assert_eq!(
            select(&payload, &exclude_top).map(Value::Object),
            Some(json!({"arr": [{"x": 1, "y": 2}, {"x": 3}], "top": "t"}))
        );
    }
}
