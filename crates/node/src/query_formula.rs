//! Score boosting (`formula` queries, design record 013): an expression over the prefetch scores
//! (`$score`, `$score[i]`), payload values (with `defaults`), filter conditions (1 or 0),
//! geo distances, datetimes, arithmetic and decay functions, evaluated for every point the
//! prefetches found. Conditions are answered by the shards (one filtered scroll per condition
//! over the candidates), payload values are read once per candidate.

use crate::error::{NodeError, Result};
use crate::keyed::Keyed;
use quiver_types::PointId;
use quiver_types::filter::{Condition, Filter, GeoPoint, HasIdCondition};
use quiver_types::json_path::JsonPath;
use quiver_types::point::{Payload, ScoredPoint};
use quiver_types::query::{ScrollRequest, WithPayload, WithVector};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// Decay function shapes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decay {
    Exp,
    Gauss,
    Lin,
}

/// A formula expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expression {
    Constant(f32),
    /// `$score` (0) or `$score[i]`: the point's score in prefetch `i` (0 if it was not found).
    Score(usize),
    /// A payload key (its first number).
    Variable(String),
    Condition(Box<Condition>),
    GeoDistance {
        origin: GeoPoint,
        to: String,
    },
    /// A datetime constant, as seconds since the epoch.
    Datetime(f64),
    /// A payload key holding a datetime.
    DatetimeKey(String),
    Mult(Vec<Expression>),
    Sum(Vec<Expression>),
    Max(Vec<Expression>),
    Min(Vec<Expression>),
    Neg(Box<Expression>),
    Abs(Box<Expression>),
    Div {
        left: Box<Expression>,
        right: Box<Expression>,
        by_zero_default: Option<f32>,
    },
    Sqrt(Box<Expression>),
    Pow {
        base: Box<Expression>,
        exponent: Box<Expression>,
    },
    Exp(Box<Expression>),
    Log10(Box<Expression>),
    Ln(Box<Expression>),
    Acosh(Box<Expression>),
    Decay {
        kind: Decay,
        x: Box<Expression>,
        target: Option<Box<Expression>>,
        scale: f32,
        midpoint: f32,
    },
}

/// A formula query: the expression and the values of payload keys a point lacks.
#[derive(Debug, Clone, PartialEq)]
pub struct Formula {
    pub expression: Expression,
    pub defaults: serde_json::Map<String, Value>,
}

impl Expression {
    fn walk<'a>(&'a self, visit: &mut impl FnMut(&'a Expression)) {
        visit(self);
        match self {
            Expression::Mult(list) | Expression::Sum(list) | Expression::Max(list) | Expression::Min(list) => {
                list.iter().for_each(|e| e.walk(visit))
            }
            Expression::Neg(e)
            | Expression::Abs(e)
            | Expression::Sqrt(e)
            | Expression::Exp(e)
            | Expression::Log10(e)
            | Expression::Ln(e)
            | Expression::Acosh(e) => e.walk(visit),
            Expression::Div { left, right, .. } => [left, right].into_iter().for_each(|e| e.walk(visit)),
            Expression::Pow { base, exponent } => [base, exponent].into_iter().for_each(|e| e.walk(visit)),
            Expression::Decay { x, target, .. } => {
                x.walk(visit);
                target.iter().for_each(|t| t.walk(visit));
            }
            Expression::Constant(_)
            | Expression::Score(_)
            | Expression::Variable(_)
            | Expression::Condition(_)
            | Expression::GeoDistance { .. }
            | Expression::Datetime(_)
            | Expression::DatetimeKey(_) => {}
        }
    }
}

/// Seconds since the epoch of a datetime in one of Qdrant's formats (RFC 3339, with or without
/// a zone, or a date).
pub fn parse_datetime(text: &str) -> Option<f64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_micros() as f64 / 1e6);
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_micros() as f64 / 1e6);
        }
    }
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp() as f64)
}

/// Great-circle distance in metres.
fn haversine_m(a: GeoPoint, b: GeoPoint) -> f64 {
    const EARTH_RADIUS_M: f64 = 6_371_008.8;
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let (dlat, dlon) = ((b.lat - a.lat).to_radians(), (b.lon - a.lon).to_radians());
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().asin()
}

/// What one point's evaluation reads.
struct Point<'a> {
    scores: &'a [f32],
    payload: Option<&'a Payload>,
    defaults: &'a serde_json::Map<String, Value>,
    /// Per condition (by its JSON), the candidates matching it.
    matches: &'a HashMap<String, HashSet<PointId>>,
    id: PointId,
}

fn missing(key: &str) -> NodeError {
    NodeError::BadInput(format!("no value found for a required variable `{key}` (and no default)"))
}

impl Point<'_> {
    /// The first value at `key` (or its default).
    fn value(&self, key: &str) -> Option<Value> {
        let path = JsonPath::parse(key).ok()?;
        let found = self.payload.and_then(|p| path.flat_values(p).into_iter().next().cloned());
        found.or_else(|| self.defaults.get(key).cloned())
    }

    fn number(&self, key: &str) -> Result<f64> {
        self.value(key).and_then(|v| v.as_f64()).ok_or_else(|| missing(key))
    }

    fn eval(&self, e: &Expression) -> Result<f64> {
        let one = |e: &Expression| self.eval(e);
        Ok(match e {
            Expression::Constant(c) => f64::from(*c),
            Expression::Score(i) => self.scores.get(*i).copied().map_or(0.0, f64::from),
            Expression::Variable(key) => self.number(key)?,
            Expression::Condition(c) => {
                let hit = self.matches.get(&condition_key(c)).is_some_and(|s| s.contains(&self.id));
                if hit { 1.0 } else { 0.0 }
            }
            Expression::GeoDistance { origin, to } => {
                let point = self
                    .value(to)
                    .and_then(|v| serde_json::from_value::<GeoPoint>(v).ok())
                    .ok_or_else(|| missing(to))?;
                haversine_m(*origin, point)
            }
            Expression::Datetime(t) => *t,
            Expression::DatetimeKey(key) => {
                self.value(key).and_then(|v| v.as_str().and_then(parse_datetime)).ok_or_else(|| missing(key))?
            }
            // As Qdrant, a factor of 0 ends the product: the factors after it are not evaluated.
            Expression::Mult(list) => {
                let mut product = 1.0;
                for factor in list {
                    match one(factor)? {
                        0.0 => return Ok(0.0),
                        value => product *= value,
                    }
                }
                product
            }
            Expression::Sum(list) => list.iter().map(one).sum::<Result<f64>>()?,
            Expression::Max(list) => list.iter().map(one).try_fold(f64::NEG_INFINITY, |m, x| x.map(|x| m.max(x)))?,
            Expression::Min(list) => list.iter().map(one).try_fold(f64::INFINITY, |m, x| x.map(|x| m.min(x)))?,
            Expression::Neg(e) => -one(e)?,
            Expression::Abs(e) => one(e)?.abs(),
            Expression::Div { .. }
            | Expression::Sqrt(_)
            | Expression::Pow { .. }
            | Expression::Exp(_)
            | Expression::Log10(_)
            | Expression::Ln(_)
            | Expression::Acosh(_) => self.partial(e)?,
            Expression::Decay { kind, x, target, scale, midpoint } => {
                let target = target.as_ref().map_or(Ok(0.0), |t| one(t))?;
                decay(*kind, one(x)? - target, f64::from(*scale), f64::from(*midpoint))
            }
        })
    }
}

impl Point<'_> {
    /// The operations defined on part of the numbers. As Qdrant, each refuses an operand it is
    /// not defined for (or a non-finite result) at once, naming the operation, and a division
    /// whose dividend is 0 is 0 without evaluating the divisor.
    fn partial(&self, e: &Expression) -> Result<f64> {
        let one = |e: &Expression| self.eval(e);
        let checked = |value: f64, defined: bool, shown: String| match defined && value.is_finite() {
            true => Ok(value),
            false => Err(NodeError::BadInput(format!("The expression {shown} produced a non-finite number"))),
        };
        match e {
            Expression::Div { left, right, by_zero_default } => {
                let l = one(left)?;
                if l == 0.0 {
                    return Ok(l);
                }
                let r = one(right)?;
                match (r == 0.0, by_zero_default) {
                    (true, Some(d)) => Ok(f64::from(*d)),
                    (zero, _) => checked(l / r, !zero, format!("{l}/{r}")),
                }
            }
            Expression::Sqrt(e) => one(e).and_then(|v| checked(v.sqrt(), v >= 0.0, format!("√{v}"))),
            Expression::Pow { base, exponent } => {
                let (b, x) = (one(base)?, one(exponent)?);
                checked(b.powf(x), true, format!("{b}^{x}"))
            }
            Expression::Exp(e) => one(e).and_then(|v| checked(v.exp(), true, format!("exp({v})"))),
            Expression::Log10(e) => one(e).and_then(|v| checked(v.log10(), v > 0.0, format!("log10({v})"))),
            Expression::Ln(e) => one(e).and_then(|v| checked(v.ln(), v > 0.0, format!("ln({v})"))),
            Expression::Acosh(e) => one(e).and_then(|v| checked(v.acosh(), v >= 1.0, format!("acosh({v})"))),
            total @ (Expression::Constant(_)
            | Expression::Score(_)
            | Expression::Variable(_)
            | Expression::Condition(_)
            | Expression::GeoDistance { .. }
            | Expression::Datetime(_)
            | Expression::DatetimeKey(_)
            | Expression::Mult(_)
            | Expression::Sum(_)
            | Expression::Max(_)
            | Expression::Min(_)
            | Expression::Neg(_)
            | Expression::Abs(_)
            | Expression::Decay { .. }) => self.eval(total),
        }
    }
}

fn condition_key(condition: &Condition) -> String {
    serde_json::to_string(condition).unwrap_or_default()
}

/// Qdrant's decay functions of the distance `d` to the target.
fn decay(kind: Decay, d: f64, scale: f64, midpoint: f64) -> f64 {
    match kind {
        Decay::Lin => (1.0 - (1.0 - midpoint) / scale * d.abs()).max(0.0),
        Decay::Exp => (midpoint.ln() / scale * d.abs()).exp(),
        Decay::Gauss => (midpoint.ln() / (scale * scale) * d * d).exp(),
    }
}

/// Scores the points of `lists` (one list per prefetch) by `formula`, best first.
pub(crate) async fn formula_stage(
    collection: &Keyed,
    formula: &Formula,
    lists: Vec<Vec<ScoredPoint>>,
    filter: Option<Filter>,
    limit: usize,
) -> Result<Vec<ScoredPoint>> {
    let mut points: HashMap<PointId, (Vec<f32>, ScoredPoint)> = HashMap::new();
    let count = lists.len();
    for (i, list) in lists.into_iter().enumerate() {
        for point in list {
            let entry = points.entry(point.id).or_insert_with(|| (vec![0.0; count], point.clone()));
            entry.0[i] = point.score;
        }
    }
    let ids: Vec<PointId> = points.keys().copied().collect();
    let allowed = matching(collection, filter, &ids).await?;
    let mut conditions: Vec<Condition> = Vec::new();
    formula.expression.walk(&mut |e| {
        if let Expression::Condition(c) = e {
            conditions.push(c.as_ref().clone());
        }
    });
    let mut matches = HashMap::new();
    for condition in conditions {
        let key = condition_key(&condition);
        let filter = Filter { must: Some(vec![condition]), ..Filter::default() };
        matches.insert(key, matching(collection, Some(filter), &ids).await?);
    }
    let records = collection.retrieve(ids, WithPayload::Bool(true), WithVector::Bool(false)).await?;
    let payloads: HashMap<PointId, Option<Payload>> = records.into_iter().map(|r| (r.id, r.payload)).collect();
    let mut scored = Vec::with_capacity(points.len());
    for (id, (scores, mut point)) in points {
        if !allowed.contains(&id) {
            continue;
        }
        let payload = payloads.get(&id).and_then(Option::as_ref);
        let at = Point { scores: &scores, payload, defaults: &formula.defaults, matches: &matches, id };
        // Finite once reported as an f32 score too (beyond f32's range it would be infinite).
        let score = at.eval(&formula.expression)? as f32;
        if !score.is_finite() {
            return Err(NodeError::BadInput(format!(
                "The expression score of point {id} produced a non-finite number"
            )));
        }
        point.score = score;
        scored.push(point);
    }
    scored.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
    scored.truncate(limit);
    Ok(scored)
}

/// Which of `ids` match `filter` (all of them without one).
async fn matching(collection: &Keyed, filter: Option<Filter>, ids: &[PointId]) -> Result<HashSet<PointId>> {
    let Some(mut filter) = filter else { return Ok(ids.iter().copied().collect()) };
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    filter.must.get_or_insert_with(Vec::new).push(Condition::HasId(HasIdCondition { has_id: ids.to_vec() }));
    let request = ScrollRequest {
        offset: None,
        limit: ids.len(),
        filter: Some(filter),
        with_payload: WithPayload::Bool(false),
        with_vector: WithVector::Bool(false),
        order_by: None,
    };
    Ok(collection.scroll(request).await?.points.into_iter().map(|r| r.id).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decays_and_datetimes_follow_qdrant() {
        assert!((decay(Decay::Lin, 0.0, 1.0, 0.5) - 1.0).abs() < 1e-9);
        assert!((decay(Decay::Lin, 1.0, 1.0, 0.5) - 0.5).abs() < 1e-9);
        assert_eq!(decay(Decay::Lin, 5.0, 1.0, 0.5), 0.0);
        // At `scale` from the target every decay is at `midpoint`.
        for kind in [Decay::Exp, Decay::Gauss, Decay::Lin] {
            assert!((decay(kind, 3.0, 3.0, 0.25) - 0.25).abs() < 1e-9, "{kind:?}");
        }
        assert_eq!(parse_datetime("1970-01-02"), Some(86_400.0));
        assert_eq!(parse_datetime("1970-01-01T00:01:00Z"), Some(60.0));
        assert_eq!(parse_datetime("1970-01-01 00:00:30"), Some(30.0));
        assert_eq!(parse_datetime("yesterday"), None);
    }

    #[test]
    fn expressions_read_scores_payload_and_defaults() {
        let payload: Payload = serde_json::from_str(r#"{"price": 4, "tags": [2, 3]}"#).unwrap();
        let defaults = serde_json::from_str(r#"{"missing": 10}"#).unwrap();
        let matches = HashMap::new();
        let at = Point {
            scores: &[0.5, 2.0],
            payload: Some(&payload),
            defaults: &defaults,
            matches: &matches,
            id: PointId::Num(1),
        };
        let var = |k: &str| Box::new(Expression::Variable(k.into()));
        let e = Expression::Sum(vec![
            Expression::Score(0),
            Expression::Mult(vec![Expression::Score(1), *var("price")]),
            Expression::Div {
                left: var("missing"),
                right: Box::new(Expression::Constant(0.0)),
                by_zero_default: Some(7.0),
            },
            Expression::Sqrt(var("tags")),
        ]);
        assert!((at.eval(&e).unwrap() - (0.5 + 8.0 + 7.0 + 2f64.sqrt())).abs() < 1e-9);
        assert!(at.eval(&Expression::Variable("nope".into())).is_err());
        let far = Expression::GeoDistance { origin: GeoPoint { lon: 0.0, lat: 0.0 }, to: "nope".into() };
        assert!(at.eval(&far).is_err());
    }
}
