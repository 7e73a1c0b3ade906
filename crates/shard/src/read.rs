//! Reads of a local shard: scroll pages, counts, retrieval (search is in `search.rs`).

use crate::error::Result;
use crate::shard::LocalShard;
use quiver_storage::filter::{CompiledFilter, OrderValue, order_values};
use quiver_storage::points::{PointRef, PointTable};
use quiver_types::PointId;
use quiver_types::filter::Filter;
use quiver_types::json_path::{self, JsonPath};
use quiver_types::point::{Record, VectorStruct};
use quiver_types::query::{Direction, OrderBy, ScrollRequest, WithPayload, WithVector};
use std::cmp::Ordering;

/// One page of a scroll.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScrollPage {
    pub points: Vec<Record>,
    pub next_page_offset: Option<PointId>,
}

/// Compiles a read's filter; text conditions on text-indexed fields match on their tokens.
pub(crate) fn compile(filter: Option<&Filter>, table: &PointTable) -> Result<Option<CompiledFilter>> {
    Ok(match filter {
        Some(f) => Some(CompiledFilter::compile_with(f, &table.payload_index().text_indexes())?),
        None => None,
    })
}

/// Builds the returned payload and vectors of a point.
pub(crate) fn project(
    point: &PointRef<'_>,
    with_payload: &WithPayload,
    with_vector: &WithVector,
) -> (Option<quiver_types::Payload>, Option<VectorStruct>) {
    let payload = json_path::select(&point.payload(), with_payload);
    let vector = with_vector.is_enabled().then(|| {
        let mut named = point.vectors();
        named.retain(|name, _| with_vector.includes(name));
        VectorStruct::from_named(named)
    });
    (payload, vector)
}

impl LocalShard {
    /// Counts the points that pass `filter`.
    pub fn count(&self, filter: Option<&Filter>) -> Result<usize> {
        let table = self.table.read();
        let filter = compile(filter, &table)?;
        Ok(match filter {
            None => table.len(),
            Some(f) => table.iter_slots().filter(|p| f.check(p)).count(),
        })
    }

    /// The points with the given ids that exist, in the order asked.
    pub fn retrieve(&self, ids: &[PointId], with_payload: &WithPayload, with_vector: &WithVector) -> Vec<Record> {
        retrieve_in(&self.table.read(), ids, with_payload, with_vector)
    }

    /// A page of points in id order from `offset`, or in payload order with `order_by`.
    pub fn scroll(&self, request: &ScrollRequest) -> Result<ScrollPage> {
        scroll_in(&self.table.read(), request)
    }
}

/// A page of points in payload order (`order_by`) of a held table.
fn scroll_ordered(table: &PointTable, request: &ScrollRequest, order_by: &OrderBy) -> Result<ScrollPage> {
    let key = JsonPath::parse(&order_by.key)?;
    let direction = order_by.direction.unwrap_or_default();
    let start = order_by.start_from.as_ref().and_then(OrderValue::from_json);
    let filter = compile(request.filter.as_ref(), table)?;
    let keys = std::collections::BTreeSet::from([key.first_key.clone()]);
    let mut ordered: Vec<(OrderValue, PointRef<'_>)> = table
        .iter_slots()
        .filter(|p| filter.as_ref().is_none_or(|f| f.check(p)))
        .flat_map(|p| order_values(&p.payload_keys(&keys), &key).into_iter().map(move |v| (v, p)))
        .filter(|(v, _)| match (&start, direction) {
            (None, _) => true,
            (Some(s), Direction::Asc) => v.cmp_total(s) != Ordering::Less,
            (Some(s), Direction::Desc) => v.cmp_total(s) != Ordering::Greater,
        })
        .collect();
    ordered.sort_by(|(a, pa), (b, pb)| {
        let by_value = match direction {
            Direction::Asc => a.cmp_total(b),
            Direction::Desc => b.cmp_total(a),
        };
        by_value.then_with(|| pa.id().cmp(&pb.id()))
    });
    let points = ordered
        .into_iter()
        .take(request.limit)
        .map(|(value, point)| {
            let (payload, vector) = project(&point, &request.with_payload, &request.with_vector);
            Record { id: point.id(), payload, vector, shard_key: None, order_value: Some(value.to_json()) }
        })
        .collect();
    Ok(ScrollPage { points, next_page_offset: None })
}

/// The points with the given ids that exist, in the order asked, of a held table.
pub(crate) fn retrieve_in(
    table: &PointTable,
    ids: &[PointId],
    with_payload: &WithPayload,
    with_vector: &WithVector,
) -> Vec<Record> {
    ids.iter()
        .filter_map(|id| {
            let point = table.get(id)?;
            let (payload, vector) = project(&point, with_payload, with_vector);
            Some(Record { id: *id, payload, vector, shard_key: None, order_value: None })
        })
        .collect()
}

/// A page of points in id order from `request.offset`, or in payload order with `order_by`, of a
/// held table.
pub(crate) fn scroll_in(table: &PointTable, request: &ScrollRequest) -> Result<ScrollPage> {
    if let Some(order_by) = &request.order_by {
        return scroll_ordered(table, request, order_by);
    }
    let filter = compile(request.filter.as_ref(), table)?;
    let mut matching = table.iter_from(request.offset).filter(|p| filter.as_ref().is_none_or(|f| f.check(p)));
    let mut points = Vec::with_capacity(request.limit.min(4096));
    for point in matching.by_ref().take(request.limit) {
        let (payload, vector) = project(&point, &request.with_payload, &request.with_vector);
        points.push(Record { id: point.id(), payload, vector, shard_key: None, order_value: None });
    }
    let next_page_offset = matching.next().map(|p| p.id());
    Ok(ScrollPage { points, next_page_offset })
}

impl LocalShard {
    /// The version of one point, if it exists.
    pub fn point_version(&self, id: &PointId) -> Option<u64> {
        self.table.read().get(id).map(|p| p.version())
    }
}

/// Counts the bytes written to it.
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LocalShard {
    /// Bytes of the payloads as JSON (strict mode's `max_collection_payload_size_bytes`).
    pub fn payload_bytes(&self) -> usize {
        let table = self.table.read();
        let mut count = ByteCount(0);
        for point in table.iter_slots() {
            // Writing into a counter cannot fail; a payload is a JSON object.
            let _ = serde_json::to_writer(&mut count, &point.payload());
        }
        count.0
    }
}
