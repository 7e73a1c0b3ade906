//! The expression language of `formula` queries (design record 013), parsed from its JSON form
//! (gRPC's `Expression` is converted to the same JSON first).

use crate::error::ApiError;
use quiver_node::service::{Decay, Expression, Formula, parse_datetime};
use quiver_types::filter::{Condition, GeoPoint};
use serde::Deserialize;
use serde_json::{Map, Value};

/// `{"formula": …, "defaults": {…}}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FormulaWire {
    pub(crate) formula: Value,
    #[serde(default)]
    pub(crate) defaults: Option<Map<String, Value>>,
}

impl FormulaWire {
    pub(crate) fn into_formula(self) -> Result<Formula, ApiError> {
        let expression = expression(self.formula, "formula").map_err(ApiError::bad_input)?;
        Ok(Formula { expression, defaults: self.defaults.unwrap_or_default() })
    }
}

type Parsed = Result<Expression, String>;

fn boxed(value: Value, at: &str) -> Result<Box<Expression>, String> {
    expression(value, at).map(Box::new)
}

fn list(value: Value, at: &str) -> Result<Vec<Expression>, String> {
    let Value::Array(items) = value else { return Err(format!("`{at}` takes a list of expressions")) };
    items.into_iter().map(|v| expression(v, at)).collect()
}

/// The fields of an object operand.
fn fields(value: Value, at: &str, allowed: &[&str]) -> Result<Map<String, Value>, String> {
    let Value::Object(map) = value else { return Err(format!("`{at}` takes an object")) };
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!("unknown field `{k}` in `{at}`")),
        None => Ok(map),
    }
}

fn required(map: &mut Map<String, Value>, key: &str, at: &str) -> Result<Value, String> {
    map.remove(key).ok_or_else(|| format!("`{at}` needs `{key}`"))
}

fn number(map: &mut Map<String, Value>, key: &str, default: f32, at: &str) -> Result<f32, String> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v.as_f64().map(|f| f as f32).ok_or_else(|| format!("`{at}.{key}` must be a number")),
    }
}

fn variable(name: String) -> Parsed {
    if name == "$score" {
        return Ok(Expression::Score(0));
    }
    if let Some(index) = name.strip_prefix("$score[").and_then(|r| r.strip_suffix(']')) {
        return index.parse().map(Expression::Score).map_err(|_| format!("invalid variable `{name}`"));
    }
    Ok(Expression::Variable(name))
}

fn decay(kind: Decay, value: Value, at: &str) -> Parsed {
    let mut map = fields(value, at, &["x", "target", "scale", "midpoint"])?;
    let x = boxed(required(&mut map, "x", at)?, at)?;
    let target = map.remove("target").filter(|t| !t.is_null()).map(|t| boxed(t, at)).transpose()?;
    let scale = number(&mut map, "scale", 1.0, at)?;
    let midpoint = number(&mut map, "midpoint", 0.5, at)?;
    if scale <= 0.0 {
        return Err(format!("`{at}.scale` must be greater than 0"));
    }
    if !(midpoint > 0.0 && midpoint < 1.0) {
        return Err(format!("`{at}.midpoint` must be between 0 and 1 (exclusive)"));
    }
    Ok(Expression::Decay { kind, x, target, scale, midpoint })
}

/// An operator `{name: operand}`; `None` when `name` is no operator (then it is a condition).
fn operator(name: &str, operand: Value) -> Option<Parsed> {
    let at = name;
    Some(match name {
        "mult" => list(operand, at).map(Expression::Mult),
        "sum" => list(operand, at).map(Expression::Sum),
        "max" => list(operand, at).map(Expression::Max),
        "min" => list(operand, at).map(Expression::Min),
        "acosh" => boxed(operand, at).map(Expression::Acosh),
        "neg" => boxed(operand, at).map(Expression::Neg),
        "abs" => boxed(operand, at).map(Expression::Abs),
        "sqrt" => boxed(operand, at).map(Expression::Sqrt),
        "exp" => boxed(operand, at).map(Expression::Exp),
        "log10" => boxed(operand, at).map(Expression::Log10),
        "ln" => boxed(operand, at).map(Expression::Ln),
        "div" => (|| {
            let mut map = fields(operand, at, &["left", "right", "by_zero_default"])?;
            let left = boxed(required(&mut map, "left", at)?, at)?;
            let right = boxed(required(&mut map, "right", at)?, at)?;
            let by_zero_default = map.remove("by_zero_default").and_then(|v| v.as_f64()).map(|f| f as f32);
            Ok(Expression::Div { left, right, by_zero_default })
        })(),
        "pow" => (|| {
            let mut map = fields(operand, at, &["base", "exponent"])?;
            let base = boxed(required(&mut map, "base", at)?, at)?;
            Ok(Expression::Pow { base, exponent: boxed(required(&mut map, "exponent", at)?, at)? })
        })(),
        "exp_decay" => decay(Decay::Exp, operand, at),
        "gauss_decay" => decay(Decay::Gauss, operand, at),
        "lin_decay" => decay(Decay::Lin, operand, at),
        "geo_distance" => (|| {
            let mut map = fields(operand, at, &["origin", "to"])?;
            let origin: GeoPoint = serde_json::from_value(required(&mut map, "origin", at)?)
                .map_err(|e| format!("`geo_distance.origin`: {e}"))?;
            let to = required(&mut map, "to", at)?.as_str().map(str::to_string);
            let to = to.ok_or_else(|| "`geo_distance.to` must be a payload key".to_string())?;
            Ok(Expression::GeoDistance { origin, to })
        })(),
        "datetime" => match operand.as_str().and_then(parse_datetime) {
            Some(t) => Ok(Expression::Datetime(t)),
            None => Err(format!("`datetime` is not a datetime: {operand}")),
        },
        "datetime_key" => match operand.as_str() {
            Some(key) => Ok(Expression::DatetimeKey(key.to_string())),
            None => Err("`datetime_key` must be a payload key".to_string()),
        },
        _ => return None,
    })
}

/// One expression.
pub(crate) fn expression(value: Value, at: &str) -> Parsed {
    match value {
        Value::Number(n) => n.as_f64().map(|f| Expression::Constant(f as f32)).ok_or_else(|| "invalid number".into()),
        Value::String(name) => variable(name),
        Value::Object(map) if map.len() == 1 => {
            let (name, operand) = map.into_iter().next().expect("one entry");
            match operator(&name, operand.clone()) {
                Some(parsed) => parsed,
                None => condition(Value::Object(Map::from_iter([(name, operand)])), at),
            }
        }
        Value::Object(_) => condition(value, at),
        Value::Null | Value::Bool(_) | Value::Array(_) => Err(format!("invalid expression in `{at}`: {value}")),
    }
}

fn condition(value: Value, at: &str) -> Parsed {
    let condition: Condition =
        serde_json::from_value(value).map_err(|e| format!("invalid expression or condition in `{at}`: {e}"))?;
    Ok(Expression::Condition(Box::new(condition)))
}
