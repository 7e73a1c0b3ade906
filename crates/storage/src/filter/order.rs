//! Date-time parsing shared by range filters and `order_by`, and the value a point is ordered
//! by in a scroll with `order_by`.
//!
//! [`order_value`] takes the first value at the key (arrays flattened) that is a number or a
//! date-time string: JSON integers that fit `i64` become [`OrderValue::Int`], other numbers
//! [`OrderValue::Float`], date-time strings [`OrderValue::Int`] epoch microseconds (Qdrant's
//! timestamp representation). Points without such a value have no order value.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use quiver_types::Payload;
use quiver_types::json_path::JsonPath;
use serde_json::Value;
use std::cmp::Ordering;

/// Offset-carrying formats tried after RFC 3339 (offset without a colon, space separator).
const ZONED_FORMATS: [&str; 2] = ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z"];
/// Naive formats (read as UTC).
const NAIVE_FORMATS: [&str; 4] = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"];

/// Parses a date-time: RFC 3339 (`2024-01-01T00:00:00Z`, `…+02:00`), the same with a space
/// separator or an offset without a colon, naive `2024-01-01T00:00:00[.fff]`,
/// `2024-01-01 00:00:00`, `2024-01-01 00:00` and `2024-01-01` (naive values are UTC).
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.len() < 10 || !s.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    for format in ZONED_FORMATS {
        if let Ok(dt) = DateTime::parse_from_str(s, format) {
            return Some(dt.with_timezone(&Utc));
        }
    }
    for format in NAIVE_FORMATS {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, format) {
            return Some(dt.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|dt| dt.and_utc())
}

/// The value a point is ordered by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OrderValue {
    Int(i64),
    Float(f64),
}

impl OrderValue {
    /// The JSON form (`order_value` of a record); a non-finite float becomes `null`.
    pub fn to_json(&self) -> Value {
        match self {
            OrderValue::Int(i) => Value::from(*i),
            OrderValue::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        }
    }

    /// Reads a value as clients send it (`order_by.start_from`): a JSON number (integer →
    /// `Int`, otherwise `Float`) or a date-time string (→ `Int` epoch microseconds).
    pub fn from_json(value: &Value) -> Option<OrderValue> {
        match value {
            Value::Number(n) => match n.as_i64() {
                Some(i) => Some(OrderValue::Int(i)),
                None => n.as_f64().map(OrderValue::Float),
            },
            Value::String(s) => parse_datetime(s).map(|dt| OrderValue::Int(dt.timestamp_micros())),
            Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_) => None,
        }
    }

    /// A total order: numeric comparison across kinds (exact for int vs float), floats by
    /// `f64::total_cmp` (NaN last); an int equal to a float compares equal.
    pub fn cmp_total(&self, other: &OrderValue) -> Ordering {
        match (self, other) {
            (OrderValue::Int(a), OrderValue::Int(b)) => a.cmp(b),
            (OrderValue::Float(a), OrderValue::Float(b)) => a.total_cmp(b),
            (OrderValue::Int(a), OrderValue::Float(b)) => cmp_int_float(*a, *b),
            (OrderValue::Float(a), OrderValue::Int(b)) => cmp_int_float(*b, *a).reverse(),
        }
    }
}

/// Compares an integer with a float exactly.
fn cmp_int_float(i: i64, f: f64) -> Ordering {
    // 2^63: the first float above every i64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if f.is_nan() {
        return if f.is_sign_negative() { Ordering::Greater } else { Ordering::Less };
    }
    if f >= LIMIT {
        return Ordering::Less;
    }
    if f < -LIMIT {
        return Ordering::Greater;
    }
    let whole = f.trunc();
    // In range and integral, so the conversion is exact.
    let whole_int = whole as i64;
    match i.cmp(&whole_int) {
        Ordering::Equal => {
            let frac = f - whole;
            if frac > 0.0 {
                Ordering::Less
            } else if frac < 0.0 {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        }
        unequal @ (Ordering::Less | Ordering::Greater) => unequal,
    }
}

/// The first number or date-time at `key` (see the module docs), if any.
pub fn order_value(payload: &Payload, key: &JsonPath) -> Option<OrderValue> {
    key.flat_values(payload).into_iter().find_map(OrderValue::from_json)
}

/// Every distinct number or date-time at `key`, in ascending order: a point with several values
/// appears once per value in an `order_by` scroll (as in Qdrant, whose range index holds each).
pub fn order_values(payload: &Payload, key: &JsonPath) -> Vec<OrderValue> {
    let mut values: Vec<OrderValue> = key.flat_values(payload).into_iter().filter_map(OrderValue::from_json).collect();
    values.sort_by(OrderValue::cmp_total);
    values.dedup_by(|a, b| a.cmp_total(b) == Ordering::Equal);
    values
}
