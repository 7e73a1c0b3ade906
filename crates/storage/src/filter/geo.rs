//! Geographic predicates: bounding box (antimeridian-aware), haversine radius in metres, and
//! point-in-polygon (ray casting on lon/lat, holes excluded); plus validation of geo shapes.

use quiver_types::TypesError;
use quiver_types::filter::{GeoBoundingBox, GeoLineString, GeoPoint, GeoPolygon, GeoRadius};
use serde_json::Value;

/// Mean Earth radius in metres (the value Qdrant's geo library uses).
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A payload geo point: an object with numeric `lon` and `lat`.
pub(super) fn payload_point(value: &Value) -> Option<GeoPoint> {
    let obj = value.as_object()?;
    let lon = obj.get("lon")?.as_f64()?;
    let lat = obj.get("lat")?.as_f64()?;
    Some(GeoPoint { lon, lat })
}

/// Inside the box, bounds inclusive; `top_left.lon > bottom_right.lon` wraps the antimeridian.
pub(super) fn in_box(b: &GeoBoundingBox, p: &GeoPoint) -> bool {
    let lon_ok = if b.top_left.lon > b.bottom_right.lon {
        p.lon >= b.top_left.lon || p.lon <= b.bottom_right.lon
    } else {
        b.top_left.lon <= p.lon && p.lon <= b.bottom_right.lon
    };
    lon_ok && b.bottom_right.lat <= p.lat && p.lat <= b.top_left.lat
}

/// Great-circle distance in metres.
pub(super) fn haversine(a: &GeoPoint, b: &GeoPoint) -> f64 {
    let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.clamp(0.0, 1.0).sqrt().asin()
}

/// Strictly closer to the centre than the radius.
pub(super) fn in_radius(r: &GeoRadius, p: &GeoPoint) -> bool {
    haversine(&r.center, p) < r.radius
}

/// Inside the exterior ring and outside every interior ring.
pub(super) fn in_polygon(poly: &GeoPolygon, p: &GeoPoint) -> bool {
    in_ring(&poly.exterior, p) && poly.interiors.as_deref().unwrap_or_default().iter().all(|ring| !in_ring(ring, p))
}

/// Even-odd ray casting in the lon/lat plane.
fn in_ring(ring: &GeoLineString, p: &GeoPoint) -> bool {
    let pts = &ring.points;
    let mut inside = false;
    let mut j = pts.len().wrapping_sub(1);
    for (i, a) in pts.iter().enumerate() {
        if let Some(b) = pts.get(j) {
            let crosses = (a.lat > p.lat) != (b.lat > p.lat);
            if crosses {
                let x = a.lon + (p.lat - a.lat) / (b.lat - a.lat) * (b.lon - a.lon);
                if p.lon < x {
                    inside = !inside;
                }
            }
        }
        j = i;
    }
    inside
}

/// A query point must have `lon` in [-180, 180] and `lat` in [-90, 90].
pub(super) fn validate_point(p: &GeoPoint) -> Result<(), TypesError> {
    if (-180.0..=180.0).contains(&p.lon) && (-90.0..=90.0).contains(&p.lat) {
        Ok(())
    } else {
        Err(TypesError::BadInput(format!(
            "Wrong format of GeoPoint payload: expected `lat` = {} within [-90;90] and `lon` = {} \
             within [-180;180]",
            p.lat, p.lon
        )))
    }
}

/// Rings must be closed (first point = last point) and have at least 4 points.
pub(super) fn validate_polygon(poly: &GeoPolygon) -> Result<(), TypesError> {
    validate_ring(&poly.exterior, "exterior")?;
    for ring in poly.interiors.as_deref().unwrap_or_default() {
        validate_ring(ring, "interior")?;
    }
    Ok(())
}

fn validate_ring(ring: &GeoLineString, which: &str) -> Result<(), TypesError> {
    for p in &ring.points {
        validate_point(p)?;
    }
    if ring.points.len() < 4 {
        return Err(TypesError::Validation(format!(
            "geo_polygon: {which} ring invalid, the size must be at least 4, got {}",
            ring.points.len()
        )));
    }
    if ring.points.first() != ring.points.last() {
        return Err(TypesError::Validation(format!(
            "geo_polygon: {which} ring invalid, the first and the last points should be same \
             to form a closed line"
        )));
    }
    Ok(())
}
