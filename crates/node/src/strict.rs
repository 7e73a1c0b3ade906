//! Strict mode (`strict_mode_config` with `enabled: true`): the limits checked before a request
//! runs, with Qdrant's texts, and the per-collection read and write rate limits (tokens per
//! minute on this peer, refilled continuously; 429 with `Retry-After`).
//!
//! A request is counted once: the outermost service call takes its tokens, calls it makes to
//! other service functions (a query's prefetches, a group's searches) run inside its admission.
//! A read costs 1 token, a batch of reads as many as it holds (taken at once), a write 1 per
//! point it names (at least 1; a filter-selected write costs 1). A request costing more than
//! the whole bucket is refused without `Retry-After`, as it can never pass (Qdrant's text).
//! What a read's request carries besides its body (`timeout`, the size of its batch) reaches the
//! checks through [`with_request_shape`]; the size limits of writes are in `strict_sizes.rs`.

use crate::error::{NodeError, Result};
use crate::node::Node;
use crate::registers::Refusal;
pub(crate) use crate::registers::Traffic;
use quiver_collection::Collection;
use quiver_types::filter::{Condition, Filter};
use quiver_types::filter::{Match, MatchAnyValues};
use quiver_types::index_params::FieldSchema;
use quiver_types::ops::{PointSelector, UpdateOperation};
use quiver_types::query::SearchParams;
use quiver_types::strict_mode::{
    StrictModeConfig, condition_size_exceeded, filter_conditions_exceeded, limit_exceeded, refusal,
};

tokio::task_local! {
    static ADMITTED: ();
    static SHAPE: RequestShape;
}

/// What a read request asks besides its body: its `timeout` (seconds) and, for a request of a
/// batch, the batch's size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestShape {
    pub timeout_s: Option<u64>,
    pub batch: Option<usize>,
}

/// Runs `read` with its request's shape known to the strict mode checks.
pub fn with_request_shape<F: std::future::Future>(
    shape: RequestShape,
    read: F,
) -> impl std::future::Future<Output = F::Output> {
    // Not an `async fn`: one would hold `read` beside the scoped future that owns it, doubling
    // the size of every request's future at each such layer (moved and copied per request).
    SHAPE.scope(shape, read)
}

fn request_shape() -> RequestShape {
    SHAPE.try_with(|shape| *shape).unwrap_or_default()
}

/// Whether this task runs inside an admitted request.
pub(crate) fn is_admitted() -> bool {
    ADMITTED.try_with(|_| ()).is_ok()
}

fn bad(message: String) -> NodeError {
    NodeError::BadRequest(message)
}

/// The collection's strict mode, if enabled.
pub(crate) fn strict_mode(collection: &Collection) -> Option<StrictModeConfig> {
    let config = collection.config().strict_mode_config?;
    StrictModeConfig::parse(&config).ok().filter(StrictModeConfig::is_enabled)
}

/// Field keys of every field condition in `filter` (nested keys joined with `[].`).
fn filter_keys(filter: &Filter, prefix: &str, out: &mut Vec<String>) {
    let lists = [filter.must.as_deref(), filter.should.as_deref(), filter.must_not.as_deref()];
    let min_should = filter.min_should.as_ref().map(|m| m.conditions.as_slice());
    for condition in lists.into_iter().chain([min_should]).flatten().flatten() {
        match condition {
            Condition::Field(f) => out.push(format!("{prefix}{}", f.key)),
            Condition::Nested(n) => filter_keys(&n.nested.filter, &format!("{prefix}{}[].", n.nested.key), out),
            Condition::Filter(f) => filter_keys(f, prefix, out),
            Condition::IsEmpty(_)
            | Condition::IsNull(_)
            | Condition::HasId(_)
            | Condition::HasVector(_)
            | Condition::Slice(_) => {}
        }
    }
}

fn count_conditions(filter: &Filter) -> usize {
    let lists = [filter.must.as_deref(), filter.should.as_deref(), filter.must_not.as_deref()];
    let min_should = filter.min_should.as_ref().map(|m| m.conditions.as_slice());
    lists
        .into_iter()
        .chain([min_should])
        .flatten()
        .flatten()
        .map(|c| match c {
            Condition::Filter(f) => count_conditions(f),
            Condition::Nested(n) => count_conditions(&n.nested.filter),
            Condition::Field(_)
            | Condition::IsEmpty(_)
            | Condition::IsNull(_)
            | Condition::HasId(_)
            | Condition::HasVector(_)
            | Condition::Slice(_) => 1,
        })
        .sum()
}

/// The most values one condition of `filter` holds (`match: {any}`/`{except}` values, polygon
/// points), nested filters included.
fn max_condition_size(filter: &Filter) -> usize {
    let lists = [filter.must.as_deref(), filter.should.as_deref(), filter.must_not.as_deref()];
    let min_should = filter.min_should.as_ref().map(|m| m.conditions.as_slice());
    let values = |v: &MatchAnyValues| match v {
        MatchAnyValues::Keywords(k) => k.len(),
        MatchAnyValues::Integers(i) => i.len(),
    };
    let size = |c: &Condition| match c {
        Condition::Filter(f) => max_condition_size(f),
        Condition::Nested(n) => max_condition_size(&n.nested.filter),
        Condition::Field(f) => {
            let matched = match &f.r#match {
                Some(Match::Any { any }) => values(any),
                Some(Match::Except { except }) => values(except),
                Some(
                    Match::Value { .. }
                    | Match::Text { .. }
                    | Match::TextAny { .. }
                    | Match::Phrase { .. }
                    | Match::Prefix { .. },
                )
                | None => 0,
            };
            let polygon = f.geo_polygon.as_ref().map_or(0, |p| {
                p.exterior.points.len() + p.interiors.iter().flatten().map(|i| i.points.len()).sum::<usize>()
            });
            matched.max(polygon)
        }
        Condition::IsEmpty(_)
        | Condition::IsNull(_)
        | Condition::HasId(_)
        | Condition::HasVector(_)
        | Condition::Slice(_) => 0,
    };
    lists.into_iter().chain([min_should]).flatten().flatten().map(size).max().unwrap_or(0)
}

/// Checks a filter against `filter_max_conditions` and `condition_max_size` and, when
/// `indexed_only`, that every key it conditions on has a payload index.
fn check_filter(collection: &Collection, strict: &StrictModeConfig, filter: &Filter, indexed_only: bool) -> Result<()> {
    if let Some(max) = strict.filter_max_conditions {
        let n = count_conditions(filter);
        if n > max {
            return Err(bad(filter_conditions_exceeded(n, max)));
        }
    }
    if let Some(max) = strict.condition_max_size {
        let n = max_condition_size(filter);
        if n > max {
            return Err(bad(condition_size_exceeded(n, max)));
        }
    }
    if indexed_only {
        let indexes = collection.payload_index();
        let mut keys = Vec::new();
        filter_keys(filter, "", &mut keys);
        if let Some(key) = keys.iter().find(|k| indexes.get(k.as_str()).is_none_or(|s| FieldSchema::parse(s).is_err()))
        {
            return Err(bad(refusal(
                format!(
                    "Index required but not found for \"{key}\" of one of the following types: [keyword, integer, float, bool, datetime, uuid, text, geo]"
                ),
                "Create an index for this key or use a different filter.",
            )));
        }
    }
    Ok(())
}

impl Node {
    /// Runs `body` as one request against `name`'s read or write rate limit (see the module).
    pub(crate) async fn admitted<T>(
        &self,
        name: &str,
        traffic: Traffic,
        body: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        self.admitted_at_cost(name, traffic, 1, body).await
    }

    /// Runs the `size` reads of a batch in `body` as one admission costing `size` tokens of
    /// `name`'s read rate limit, taken all at once (as Qdrant's batch costs its request count),
    /// so that a batch is refused whole or served whole.
    pub async fn admitted_batch<T, E: From<NodeError>>(
        &self,
        name: &str,
        size: usize,
        body: impl std::future::Future<Output = std::result::Result<T, E>>,
    ) -> std::result::Result<T, E> {
        self.admitted_at_cost(name, Traffic::Read, size.max(1), body).await
    }

    /// Runs `body` as one request costing `cost` tokens (a write costs the points it names).
    pub(crate) async fn admitted_at_cost<T, E: From<NodeError>>(
        &self,
        name: &str,
        traffic: Traffic,
        cost: usize,
        body: impl std::future::Future<Output = std::result::Result<T, E>>,
    ) -> std::result::Result<T, E> {
        if is_admitted() {
            return body.await;
        }
        self.take_tokens(name, traffic, cost)?;
        ADMITTED.scope((), body).await
    }

    /// Takes `cost` tokens of `name`'s `traffic` rate limit when strict mode sets one.
    fn take_tokens(&self, name: &str, traffic: Traffic, cost: usize) -> Result<()> {
        let collection = self.resolve(name)?;
        let Some(strict) = strict_mode(&collection) else { return Ok(()) };
        let (limit, kind) = match traffic {
            Traffic::Read => (strict.read_rate_limit, "Read"),
            Traffic::Write => (strict.write_rate_limit, "Write"),
        };
        let Some(per_minute) = limit else { return Ok(()) };
        match self.rate_limits.take(&collection, traffic, per_minute, cost) {
            Ok(()) => Ok(()),
            Err(Refusal::LargerThanCapacity) => Err(NodeError::RateLimited {
                message: format!(
                    "{kind} rate limit exceeded, request larger than than rate limiter capacity, \
                     please try to split your request"
                ),
                retry_after_s: None,
            }),
            Err(Refusal::RetryAfter(seconds)) => Err(NodeError::RateLimited {
                message: format!("{kind} rate limit exceeded: {per_minute} per minute. Retry after {seconds}s"),
                retry_after_s: Some(seconds),
            }),
        }
    }

    /// The checks of a read: Qdrant's validation of its search params, then strict mode's of
    /// its `limit`, filter and search params.
    pub(crate) fn check_read(
        &self,
        collection: &Collection,
        limit: Option<usize>,
        filter: Option<&Filter>,
        params: Option<&SearchParams>,
    ) -> Result<()> {
        // Qdrant's validation rules of `params` (422) hold whether strict mode is on or not.
        params.map(SearchParams::validate).transpose()?;
        if let Some(filter) = filter {
            self.note_unindexed_filter(collection, filter);
        }
        let Some(strict) = strict_mode(collection) else { return Ok(()) };
        let shape = request_shape();
        if let (Some(max), Some(timeout)) = (strict.max_timeout, shape.timeout_s)
            && timeout > max as u64
        {
            return Err(bad(limit_exceeded(timeout, max, "timeout")));
        }
        if let (Some(max), Some(batch)) = (strict.search_max_batchsize, shape.batch)
            && batch > max
        {
            return Err(bad(limit_exceeded(batch, max, "batch size")));
        }
        if let (Some(max), Some(limit)) = (strict.max_query_limit, limit)
            && limit > max
        {
            return Err(bad(limit_exceeded(limit, max, "limit")));
        }
        if let Some(filter) = filter {
            check_filter(collection, &strict, filter, strict.unindexed_filtering_retrieve == Some(false))?;
        }
        if let Some(params) = params {
            if let (Some(max), Some(ef)) = (strict.search_max_hnsw_ef, params.hnsw_ef)
                && ef > max
            {
                return Err(bad(limit_exceeded(ef, max, "hnsw_ef")));
            }
            let oversampling = params.quantization.as_ref().and_then(|q| q.get("oversampling")?.as_f64());
            if let (Some(max), Some(oversampling)) = (strict.search_max_oversampling, oversampling)
                && oversampling > max
            {
                return Err(bad(limit_exceeded(oversampling, max, "oversampling")));
            }
            if params.exact && strict.search_allow_exact == Some(false) {
                return Err(bad(refusal("Exact search disabled!", "Set exact=false.")));
            }
        }
        Ok(())
    }

    /// The strict mode checks of a write: batch size, filters of updates, vector sizes, and
    /// (for writes that take memory) the collection's size limits and resident memory.
    pub(crate) async fn check_update(&self, collection: &Collection, op: &UpdateOperation) -> Result<()> {
        let Some(strict) = strict_mode(collection) else { return Ok(()) };
        let (batch, filter) = match op {
            UpdateOperation::Upsert { points, update_filter, .. } => {
                (Some((points.len(), "upsert limit")), update_filter.as_ref())
            }
            UpdateOperation::UpdateVectors { points, update_filter } => {
                (Some((points.len(), "update limit")), update_filter.as_ref())
            }
            UpdateOperation::Delete { selector }
            | UpdateOperation::SetPayload { selector, .. }
            | UpdateOperation::OverwritePayload { selector, .. }
            | UpdateOperation::DeletePayload { selector, .. }
            | UpdateOperation::ClearPayload { selector }
            | UpdateOperation::DeleteVectors { selector, .. } => match selector {
                PointSelector::Ids(_) => (None, None),
                PointSelector::Filter(f) => (None, Some(f)),
            },
        };
        if let (Some(max), Some((n, name))) = (strict.upsert_max_batchsize, batch)
            && n > max
        {
            return Err(bad(limit_exceeded(n, max, name)));
        }
        if let Some(filter) = filter {
            check_filter(collection, &strict, filter, strict.unindexed_filtering_update == Some(false))?;
        }
        crate::strict_sizes::check_vector_limits(&strict, op)?;
        if op.adds_data() {
            self.check_collection_size(collection, &strict, op).await?;
            crate::strict_sizes::check_resident_memory(&strict)?;
        }
        Ok(())
    }

    /// `max_payload_index_count` before a new index is created.
    pub(crate) fn check_new_index(&self, collection: &Collection, field: &str) -> Result<()> {
        let Some(strict) = strict_mode(collection) else { return Ok(()) };
        let indexes = collection.payload_index();
        if let Some(max) = strict.max_payload_index_count
            && !indexes.contains_key(field)
            && indexes.len() >= max
        {
            return Err(bad(refusal(
                format!("Limit exceeded {} > {max} for \"max_payload_index_count\"", indexes.len() + 1),
                "Delete unused payload indexes or increase max_payload_index_count.",
            )));
        }
        Ok(())
    }
}
