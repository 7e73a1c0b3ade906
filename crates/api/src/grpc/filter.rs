//! Filters: a proto `Filter` is rewritten into Qdrant's REST JSON form and parsed by the same
//! serde code REST uses, so both transports accept and refuse the same filters.

use qdrant_client::qdrant as pb;
use quiver_types::filter::Filter;
use serde_json::{Map, Value as Json, json};
use tonic::Status;

fn unsupported(what: &str) -> Status {
    Status::invalid_argument(format!("Wrong input: {what} conditions are not supported"))
}

/// A proto filter as a domain filter (`None` for an absent filter).
pub fn filter_in(filter: Option<pb::Filter>) -> Result<Option<Filter>, Status> {
    let Some(filter) = filter else { return Ok(None) };
    let json = filter_json(filter)?;
    serde_json::from_value(json).map(Some).map_err(|e| crate::ApiError::format(e).into())
}

fn conditions(list: Vec<pb::Condition>) -> Result<Option<Json>, Status> {
    if list.is_empty() {
        return Ok(None);
    }
    Ok(Some(Json::Array(list.into_iter().map(condition_json).collect::<Result<_, _>>()?)))
}

fn filter_json(filter: pb::Filter) -> Result<Json, Status> {
    let mut out = Map::new();
    for (name, list) in [("should", filter.should), ("must", filter.must), ("must_not", filter.must_not)] {
        if let Some(list) = conditions(list)? {
            out.insert(name.into(), list);
        }
    }
    if let Some(min) = filter.min_should {
        let list = conditions(min.conditions)?.unwrap_or_else(|| json!([]));
        out.insert("min_should".into(), json!({"conditions": list, "min_count": min.min_count}));
    }
    Ok(Json::Object(out))
}

pub(crate) fn condition_json(condition: pb::Condition) -> Result<Json, Status> {
    use pb::condition::ConditionOneOf as C;
    let id = |i: pb::PointId| json!(point_id_out_json(i));
    Ok(match condition.condition_one_of {
        None => return Err(crate::grpc::status::missing("condition")),
        Some(C::Field(field)) => field_json(field)?,
        Some(C::IsEmpty(c)) => json!({"is_empty": {"key": c.key}}),
        Some(C::IsNull(c)) => json!({"is_null": {"key": c.key}}),
        Some(C::HasId(c)) => json!({"has_id": c.has_id.into_iter().map(id).collect::<Vec<_>>()}),
        Some(C::Filter(f)) => filter_json(f)?,
        Some(C::Nested(n)) => {
            let inner = filter_json(n.filter.unwrap_or_default())?;
            json!({"nested": {"key": n.key, "filter": inner}})
        }
        Some(C::HasVector(c)) => json!({"has_vector": c.has_vector}),
        Some(C::Slice(s)) => json!({"slice": {"total": s.total, "index": s.index}}),
    })
}

/// A point id in its JSON form (number or UUID string; an invalid id stays a string and is
/// refused by the same parser REST uses).
fn point_id_out_json(id: pb::PointId) -> Json {
    use pb::point_id::PointIdOptions;
    match id.point_id_options {
        Some(PointIdOptions::Num(n)) => json!(n),
        Some(PointIdOptions::Uuid(u)) => json!(u),
        None => Json::Null,
    }
}

fn field_json(field: pb::FieldCondition) -> Result<Json, Status> {
    let mut out = Map::new();
    out.insert("key".into(), json!(field.key));
    if let Some(m) = field.r#match {
        out.insert("match".into(), match_json(m)?);
    }
    if let Some(r) = field.range {
        out.insert("range".into(), json!({"lt": r.lt, "gt": r.gt, "gte": r.gte, "lte": r.lte}));
    }
    if let Some(r) = field.datetime_range {
        let ts = |t: Option<prost_types::Timestamp>| t.map(timestamp_json);
        out.insert("range".into(), json!({"lt": ts(r.lt), "gt": ts(r.gt), "gte": ts(r.gte), "lte": ts(r.lte)}));
    }
    if let Some(b) = field.geo_bounding_box {
        out.insert(
            "geo_bounding_box".into(),
            json!({"top_left": geo(b.top_left), "bottom_right": geo(b.bottom_right)}),
        );
    }
    if let Some(r) = field.geo_radius {
        out.insert("geo_radius".into(), json!({"center": geo(r.center), "radius": r.radius}));
    }
    if let Some(p) = field.geo_polygon {
        let line = |l: Option<pb::GeoLineString>| json!({"points": l.unwrap_or_default().points.into_iter().map(|p| geo(Some(p))).collect::<Vec<_>>()});
        let interiors: Vec<Json> = p.interiors.into_iter().map(|l| line(Some(l))).collect();
        out.insert("geo_polygon".into(), json!({"exterior": line(p.exterior), "interiors": interiors}));
    }
    if let Some(c) = field.values_count {
        out.insert("values_count".into(), json!({"lt": c.lt, "gt": c.gt, "gte": c.gte, "lte": c.lte}));
    }
    if let Some(b) = field.is_empty {
        out.insert("is_empty".into(), json!(b));
    }
    if let Some(b) = field.is_null {
        out.insert("is_null".into(), json!(b));
    }
    strip_nulls(&mut out);
    Ok(Json::Object(out))
}

/// Drops `null` bounds inside range-like objects (REST bodies omit them).
fn strip_nulls(map: &mut Map<String, Json>) {
    for value in map.values_mut() {
        if let Json::Object(inner) = value {
            inner.retain(|_, v| !v.is_null());
        }
    }
}

fn geo(point: Option<pb::GeoPoint>) -> Json {
    let p = point.unwrap_or_default();
    json!({"lon": p.lon, "lat": p.lat})
}

fn timestamp_json(t: prost_types::Timestamp) -> Json {
    let nanos = u32::try_from(t.nanos).unwrap_or_default();
    match chrono::DateTime::from_timestamp(t.seconds, nanos) {
        Some(dt) => json!(dt.to_rfc3339()),
        None => json!(format!("invalid timestamp {}s", t.seconds)),
    }
}

fn match_json(m: pb::Match) -> Result<Json, Status> {
    use pb::r#match::MatchValue as M;
    Ok(match m.match_value {
        None => return Err(crate::grpc::status::missing("match")),
        Some(M::Keyword(s)) => json!({"value": s}),
        Some(M::Integer(i)) => json!({"value": i}),
        Some(M::Boolean(b)) => json!({"value": b}),
        Some(M::Text(s)) => json!({"text": s}),
        Some(M::Keywords(k)) => json!({"any": k.strings}),
        Some(M::Integers(i)) => json!({"any": i.integers}),
        Some(M::ExceptIntegers(i)) => json!({"except": i.integers}),
        Some(M::ExceptKeywords(k)) => json!({"except": k.strings}),
        Some(M::Phrase(s)) => json!({"phrase": s}),
        Some(M::TextAny(s)) => json!({"text_any": s}),
        Some(M::Prefix(s)) => json!({"prefix": s}),
        Some(M::Substring(_)) => return Err(unsupported("substring match")),
    })
}
