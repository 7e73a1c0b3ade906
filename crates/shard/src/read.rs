//! Reads of a local shard: exact nearest-neighbour search, scroll pages, counts, retrieval.

use crate::error::Result;
use crate::shard::LocalShard;
use quiver_storage::distance::{self, higher_is_better};
use quiver_storage::filter::{CompiledFilter, OrderValue, order_value};
use quiver_storage::points::PointRef;
use quiver_types::PointId;
use quiver_types::config::Distance;
use quiver_types::filter::Filter;
use quiver_types::json_path::{self, JsonPath};
use quiver_types::point::{Record, ScoredPoint, VectorStruct};
use quiver_types::query::{CoreSearch, Direction, OrderBy, QueryVector, ScrollRequest, WithPayload, WithVector};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// One page of a scroll.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScrollPage {
    pub points: Vec<Record>,
    pub next_page_offset: Option<PointId>,
}

/// A candidate in the top-k heap; `Ord` puts the worst candidate on top.
struct Candidate {
    key: f32,
    id: PointId,
    slot: u32,
    score: f32,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    // Larger `key` is better; the heap's top must be the worst, so reverse.
    fn cmp(&self, other: &Self) -> Ordering {
        other.key.total_cmp(&self.key).then_with(|| self.id.cmp(&other.id))
    }
}

fn compile(filter: Option<&Filter>) -> Result<Option<CompiledFilter>> {
    Ok(match filter {
        Some(f) => Some(CompiledFilter::compile(f)?),
        None => None,
    })
}

/// Builds the returned payload and vectors of a point.
pub(crate) fn project(
    point: &PointRef<'_>,
    with_payload: &WithPayload,
    with_vector: &WithVector,
) -> (Option<quiver_types::Payload>, Option<VectorStruct>) {
    let payload = json_path::select(point.payload(), with_payload);
    let vector = with_vector.is_enabled().then(|| {
        let mut named = point.vectors();
        named.retain(|name, _| with_vector.includes(name));
        VectorStruct::from_named(named)
    });
    (payload, vector)
}

impl LocalShard {
    /// Exact search: scores every point that passes the filter and keeps the best `limit`.
    pub fn search(&self, request: &CoreSearch) -> Result<Vec<ScoredPoint>> {
        let filter = compile(request.filter.as_ref())?;
        let table = self.table.read();
        let distance = self.config().dense.get(&request.vector_name).map(|(_, d)| *d).unwrap_or(Distance::Dot);
        let better_high = match &request.query {
            QueryVector::Dense(_) => higher_is_better(distance),
            QueryVector::Sparse(_) => true,
        };
        let mut heap: BinaryHeap<Candidate> = BinaryHeap::with_capacity(request.limit + 1);
        for point in table.iter_slots() {
            let score = match &request.query {
                QueryVector::Dense(q) => match point.dense(&request.vector_name) {
                    Some(v) if v.len() == q.len() => distance::score(distance, q, v),
                    Some(_) | None => continue,
                },
                QueryVector::Sparse(q) => {
                    match point.sparse(&request.vector_name).and_then(|v| distance::sparse_dot(q, v)) {
                        Some(s) => s,
                        None => continue,
                    }
                }
            };
            if !passes_threshold(score, request.score_threshold, better_high) {
                continue;
            }
            let key = if better_high { score } else { -score };
            if heap.len() == request.limit && heap.peek().is_some_and(|worst| key <= worst.key) {
                continue;
            }
            if filter.as_ref().is_some_and(|f| !f.check(&point)) {
                continue;
            }
            heap.push(Candidate { key, id: point.id(), slot: point.slot(), score });
            if heap.len() > request.limit {
                heap.pop();
            }
        }
        let mut best = heap.into_vec();
        best.sort();
        Ok(best
            .into_iter()
            .filter_map(|c| {
                let point = table.get(&c.id)?;
                debug_assert_eq!(point.slot(), c.slot);
                let (payload, vector) = project(&point, &request.with_payload, &request.with_vector);
                Some(ScoredPoint {
                    id: c.id,
                    version: point.version(),
                    score: c.score,
                    payload,
                    vector,
                    shard_key: None,
                    order_value: None,
                })
            })
            .collect())
    }

    /// Counts the points that pass `filter`.
    pub fn count(&self, filter: Option<&Filter>) -> Result<usize> {
        let filter = compile(filter)?;
        let table = self.table.read();
        Ok(match filter {
            None => table.len(),
            Some(f) => table.iter_slots().filter(|p| f.check(p)).count(),
        })
    }

    /// The points with the given ids that exist, in the order asked.
    pub fn retrieve(&self, ids: &[PointId], with_payload: &WithPayload, with_vector: &WithVector) -> Vec<Record> {
        let table = self.table.read();
        ids.iter()
            .filter_map(|id| {
                let point = table.get(id)?;
                let (payload, vector) = project(&point, with_payload, with_vector);
                Some(Record { id: *id, payload, vector, shard_key: None, order_value: None })
            })
            .collect()
    }

    /// A page of points in id order from `offset`, or in payload order with `order_by`.
    pub fn scroll(&self, request: &ScrollRequest) -> Result<ScrollPage> {
        if let Some(order_by) = &request.order_by {
            return self.scroll_ordered(request, order_by);
        }
        let filter = compile(request.filter.as_ref())?;
        let table = self.table.read();
        let mut matching = table.iter_from(request.offset).filter(|p| filter.as_ref().is_none_or(|f| f.check(p)));
        let mut points = Vec::with_capacity(request.limit);
        for point in matching.by_ref().take(request.limit) {
            let (payload, vector) = project(&point, &request.with_payload, &request.with_vector);
            points.push(Record { id: point.id(), payload, vector, shard_key: None, order_value: None });
        }
        let next_page_offset = matching.next().map(|p| p.id());
        Ok(ScrollPage { points, next_page_offset })
    }

    fn scroll_ordered(&self, request: &ScrollRequest, order_by: &OrderBy) -> Result<ScrollPage> {
        let filter = compile(request.filter.as_ref())?;
        let key = JsonPath::parse(&order_by.key)?;
        let direction = order_by.direction.unwrap_or_default();
        let start = order_by.start_from.as_ref().and_then(OrderValue::from_json);
        let table = self.table.read();
        let mut ordered: Vec<(OrderValue, PointRef<'_>)> = table
            .iter_slots()
            .filter(|p| filter.as_ref().is_none_or(|f| f.check(p)))
            .filter_map(|p| order_value(p.payload(), &key).map(|v| (v, p)))
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
}

fn passes_threshold(score: f32, threshold: Option<f32>, better_high: bool) -> bool {
    match threshold {
        None => true,
        Some(t) if better_high => score >= t,
        Some(t) => score <= t,
    }
}

impl LocalShard {
    /// The version of one point, if it exists.
    pub fn point_version(&self, id: &PointId) -> Option<u64> {
        self.table.read().get(id).map(|p| p.version())
    }
}
