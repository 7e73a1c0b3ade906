//! gRPC `Formula` → the JSON form of the REST expression language (`wire_formula.rs` parses it).

use crate::grpc::convert::map_to_json;
use crate::grpc::filter::condition_json;
use qdrant_client::qdrant as pb;
use serde_json::{Value as Json, json};
use tonic::Status;

fn missing(what: &str) -> Status {
    Status::invalid_argument(format!("Wrong input: formula expression lacks `{what}`"))
}

fn boxed(e: Option<Box<pb::Expression>>, what: &str) -> Result<Json, Status> {
    expression_json(*e.ok_or_else(|| missing(what))?)
}

fn all(list: Vec<pb::Expression>) -> Result<Json, Status> {
    Ok(Json::Array(list.into_iter().map(expression_json).collect::<Result<_, _>>()?))
}

fn decay(d: pb::DecayParamsExpression) -> Result<Json, Status> {
    let target = d.target.map(|t| expression_json(*t)).transpose()?;
    Ok(json!({"x": boxed(d.x, "x")?, "target": target, "scale": d.scale, "midpoint": d.midpoint}))
}

/// One expression as JSON.
pub fn expression_json(e: pb::Expression) -> Result<Json, Status> {
    use pb::expression::Variant as V;
    Ok(match e.variant.ok_or_else(|| missing("variant"))? {
        V::Constant(c) => json!(c),
        V::Variable(v) => json!(v),
        V::Condition(c) => condition_json(c)?,
        V::GeoDistance(g) => {
            let origin = g.origin.ok_or_else(|| missing("origin"))?;
            json!({"geo_distance": {"origin": {"lat": origin.lat, "lon": origin.lon}, "to": g.to}})
        }
        V::Datetime(d) => json!({"datetime": d}),
        V::DatetimeKey(k) => json!({"datetime_key": k}),
        V::Mult(m) => json!({"mult": all(m.mult)?}),
        V::Sum(s) => json!({"sum": all(s.sum)?}),
        V::Max(m) => json!({"max": all(m.max)?}),
        V::Min(m) => json!({"min": all(m.min)?}),
        V::Div(d) => {
            json!({"div": {"left": boxed(d.left, "left")?, "right": boxed(d.right, "right")?, "by_zero_default": d.by_zero_default}})
        }
        V::Neg(e) => json!({"neg": expression_json(*e)?}),
        V::Abs(e) => json!({"abs": expression_json(*e)?}),
        V::Sqrt(e) => json!({"sqrt": expression_json(*e)?}),
        V::Pow(p) => json!({"pow": {"base": boxed(p.base, "base")?, "exponent": boxed(p.exponent, "exponent")?}}),
        V::Exp(e) => json!({"exp": expression_json(*e)?}),
        V::Log10(e) => json!({"log10": expression_json(*e)?}),
        V::Ln(e) => json!({"ln": expression_json(*e)?}),
        V::Acosh(e) => json!({"acosh": expression_json(*e)?}),
        V::ExpDecay(d) => json!({"exp_decay": decay(*d)?}),
        V::GaussDecay(d) => json!({"gauss_decay": decay(*d)?}),
        V::LinDecay(d) => json!({"lin_decay": decay(*d)?}),
    })
}

/// A formula query as its REST JSON (`{"formula": …, "defaults": …}`).
pub fn formula_json(f: pb::Formula) -> Result<Json, Status> {
    let expression = expression_json(f.expression.ok_or_else(|| missing("expression"))?)?;
    Ok(json!({"formula": expression, "defaults": map_to_json(f.defaults)}))
}
