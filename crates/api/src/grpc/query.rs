//! Searches and universal queries over gRPC: each request is rewritten into the REST request
//! structs (`wire_query`) and converted by the same code, so validation and defaults match.

use crate::grpc::convert::{point_id, shard_key, vector_in, with_payload, with_vector};
use crate::grpc::filter::filter_in;
use crate::inference::Embedding;
use crate::wire_discover::DiscoverRequestWire;
use crate::wire_query::{
    ContextPairWire, DiscoverWire, FusionWire, LookupFromWire, MmrWire, NamedVectorWire, OneOrMany, PrefetchWire,
    QueryRequestWire, QueryWire, RecommendWire, RrfWire, SampleWire, SearchWire, VectorInputWire,
};
use crate::wire_query::{FeedbackItemWire, FeedbackQueryWire, FeedbackStrategyWire, NaiveWire};
use qdrant_client::qdrant as pb;
use quiver_types::SparseVector;
use quiver_types::point::Vector;
use quiver_types::query::{Direction, OrderBy, OrderByInterface, SearchParams};
use serde_json::{Value as Json, json};
use tonic::Status;

pub fn params_in(params: Option<pb::SearchParams>) -> Option<SearchParams> {
    params.map(|p| SearchParams {
        hnsw_ef: p.hnsw_ef.map(|e| e as usize),
        exact: p.exact.unwrap_or(false),
        quantization: p
            .quantization
            .map(|q| json!({"ignore": q.ignore, "rescore": q.rescore, "oversampling": q.oversampling})),
        indexed_only: p.indexed_only.unwrap_or(false),
        acorn: p.acorn.map(|a| json!({"enable": a.enable, "max_selectivity": a.max_selectivity})),
    })
}

fn lookup_from(location: Option<pb::LookupLocation>) -> Result<Option<LookupFromWire>, Status> {
    location
        .map(|l| {
            let shard_key = shard_key(l.shard_key_selector)?;
            Ok(LookupFromWire { collection: l.collection_name, vector: l.vector_name, shard_key })
        })
        .transpose()
}

/// `SearchPoints` as the REST search body.
pub fn search_wire(r: pb::SearchPoints) -> Result<SearchWire, Status> {
    let name = r.vector_name.unwrap_or_default();
    let vector = match (r.sparse_indices, name.is_empty()) {
        (Some(indices), _) => {
            let vector = SparseVector { indices: indices.data, values: r.vector };
            vector.validate().map_err(|e| {
                Status::invalid_argument(format!("Sparse indices does not match sparse vector conditions: {e}"))
            })?;
            NamedVectorWire::NamedSparse { name, vector }
        }
        (None, true) => NamedVectorWire::Dense(r.vector),
        (None, false) => NamedVectorWire::NamedDense { name, vector: r.vector },
    };
    Ok(SearchWire {
        vector,
        filter: filter_in(r.filter)?,
        params: params_in(r.params),
        limit: r.limit as usize,
        offset: r.offset.map(|o| o as usize),
        with_payload: with_payload(r.with_payload, false),
        with_vector: with_vector(r.with_vectors),
        score_threshold: r.score_threshold,
        shard_key: shard_key(r.shard_key_selector)?,
    })
}

fn vector_input(input: Option<pb::VectorInput>) -> Result<VectorInputWire, Status> {
    use pb::vector_input::Variant as V;
    match input.and_then(|i| i.variant).ok_or_else(|| crate::grpc::status::missing("vector input"))? {
        V::Id(id) => Ok(VectorInputWire::Id(point_id(Some(id))?)),
        V::Dense(d) => Ok(VectorInputWire::Dense(d.data)),
        V::Sparse(s) => Ok(VectorInputWire::Sparse(SparseVector { indices: s.indices, values: s.values })),
        V::MultiDense(m) => Ok(VectorInputWire::Multi(m.vectors.into_iter().map(|v| v.data).collect())),
        V::Document(d) => {
            let options = crate::grpc::convert::map_to_json(d.options);
            Ok(VectorInputWire::Sparse(crate::inference::infer_document(&d.text, &d.model, options, Embedding::Query)?))
        }
        V::Image(pb::Image { model, .. }) | V::Object(pb::InferenceObject { model, .. }) => {
            Err(crate::inference::refuse_non_text(&model).into())
        }
    }
}

fn strategy(strategy: Option<i32>) -> Option<String> {
    let name = match pb::RecommendStrategy::try_from(strategy?) {
        Ok(pb::RecommendStrategy::AverageVector) => "average_vector",
        Ok(pb::RecommendStrategy::BestScore) => "best_score",
        Ok(pb::RecommendStrategy::SumScores) => "sum_scores",
        Err(_) => "unknown",
    };
    Some(name.to_string())
}

fn start_from(value: Option<pb::StartFrom>) -> Option<Json> {
    use pb::start_from::Value;
    Some(match value?.value? {
        Value::Float(f) => json!(f),
        Value::Integer(i) => json!(i),
        Value::Datetime(s) => json!(s),
        Value::Timestamp(t) => {
            let nanos = u32::try_from(t.nanos).unwrap_or_default();
            json!(chrono::DateTime::from_timestamp(t.seconds, nanos).map(|d| d.to_rfc3339()))
        }
    })
}

pub fn order_by_in(order_by: pb::OrderBy) -> OrderByInterface {
    let direction = order_by.direction.map(|d| match pb::Direction::try_from(d) {
        Ok(pb::Direction::Desc) => Direction::Desc,
        Ok(pb::Direction::Asc) | Err(_) => Direction::Asc,
    });
    OrderByInterface::Struct(OrderBy { key: order_by.key, direction, start_from: start_from(order_by.start_from) })
}

fn feedback_wire(f: pb::RelevanceFeedbackInput) -> Result<FeedbackQueryWire, Status> {
    use pb::feedback_strategy::Variant;
    let naive = match f.strategy.and_then(|s| s.variant) {
        Some(Variant::Naive(n)) => NaiveWire { a: n.a, b: n.b, c: n.c },
        None => return Err(crate::grpc::status::missing("relevance feedback strategy")),
    };
    let feedback = f
        .feedback
        .into_iter()
        .map(|item| Ok(FeedbackItemWire { example: vector_input(item.example)?, score: item.score }))
        .collect::<Result<_, Status>>()?;
    Ok(FeedbackQueryWire { target: vector_input(f.target)?, feedback, strategy: FeedbackStrategyWire { naive } })
}

fn context_pairs(context: Option<pb::ContextInput>) -> Result<Vec<ContextPairWire>, Status> {
    let pairs = context.map(|c| c.pairs).unwrap_or_default();
    pairs
        .into_iter()
        .map(|p| Ok(ContextPairWire { positive: vector_input(p.positive)?, negative: vector_input(p.negative)? }))
        .collect()
}

/// The REST form of a query; kinds REST refuses are named the same way.
fn query_wire(query: Option<pb::Query>) -> Result<Option<QueryWire>, Status> {
    use pb::query::Variant as Q;
    let other = |kind: &str| QueryWire::Other(kind.to_string());
    let Some(variant) = query.and_then(|q| q.variant) else { return Ok(None) };
    Ok(Some(match variant {
        Q::Nearest(v) => QueryWire::Nearest { nearest: vector_input(Some(v))?, mmr: None },
        Q::NearestWithMmr(n) => QueryWire::Nearest {
            nearest: vector_input(n.nearest)?,
            mmr: Some(n.mmr.map_or_else(MmrWire::default, |m| MmrWire {
                diversity: m.diversity,
                candidates_limit: m.candidates_limit.map(|c| c as usize),
            })),
        },
        Q::Recommend(r) => QueryWire::Recommend {
            recommend: RecommendWire {
                positive: r.positive.into_iter().map(|v| vector_input(Some(v))).collect::<Result<_, _>>()?,
                negative: r.negative.into_iter().map(|v| vector_input(Some(v))).collect::<Result<_, _>>()?,
                strategy: strategy(r.strategy),
            },
        },
        Q::Fusion(f) => match pb::Fusion::try_from(f) {
            Ok(pb::Fusion::Dbsf) => QueryWire::Fusion { fusion: FusionWire::Dbsf },
            Ok(pb::Fusion::Rrf) | Err(_) => QueryWire::Fusion { fusion: FusionWire::Rrf },
        },
        Q::Rrf(r) => QueryWire::Rrf {
            rrf: RrfWire { k: r.k.map(|k| k as usize), weights: (!r.weights.is_empty()).then_some(r.weights) },
        },
        Q::OrderBy(o) => QueryWire::OrderBy { order_by: order_by_in(o) },
        Q::Discover(d) => QueryWire::Discover {
            discover: DiscoverWire {
                target: vector_input(d.target)?,
                context: Some(OneOrMany::Many(context_pairs(d.context)?)),
            },
        },
        Q::Context(c) => QueryWire::Context { context: OneOrMany::Many(context_pairs(Some(c))?) },
        Q::Sample(s) => match pb::Sample::try_from(s) {
            Ok(pb::Sample::Random) => QueryWire::Sample { sample: SampleWire::Random },
            Err(_) => return Err(Status::invalid_argument("unknown sample kind")),
        },
        Q::Formula(f) => QueryWire::Formula(
            serde_json::from_value(crate::grpc::formula::formula_json(f)?)
                .map_err(|e| Status::invalid_argument(format!("invalid `formula` query: {e}")))?,
        ),
        Q::RelevanceFeedback(f) => QueryWire::RelevanceFeedback { relevance_feedback: feedback_wire(f)? },
        Q::Text(_) => other("text"),
    }))
}

fn prefetch_wire(p: pb::PrefetchQuery) -> Result<PrefetchWire, Status> {
    Ok(PrefetchWire {
        prefetch: prefetch_list(p.prefetch)?,
        query: query_wire(p.query)?,
        using: p.using,
        filter: filter_in(p.filter)?,
        params: params_in(p.params),
        score_threshold: p.score_threshold,
        limit: p.limit.map(|l| l as usize),
        lookup_from: lookup_from(p.lookup_from)?,
    })
}

fn prefetch_list(list: Vec<pb::PrefetchQuery>) -> Result<Option<OneOrMany<PrefetchWire>>, Status> {
    if list.is_empty() {
        return Ok(None);
    }
    Ok(Some(OneOrMany::Many(list.into_iter().map(prefetch_wire).collect::<Result<_, _>>()?)))
}

/// `QueryPoints` as the REST query body.
pub fn query_request(r: pb::QueryPoints) -> Result<QueryRequestWire, Status> {
    Ok(QueryRequestWire {
        query: query_wire(r.query)?,
        using: r.using,
        prefetch: prefetch_list(r.prefetch)?,
        filter: filter_in(r.filter)?,
        params: params_in(r.params),
        score_threshold: r.score_threshold,
        limit: r.limit.map(|l| l as usize),
        offset: r.offset.map(|o| o as usize),
        with_vector: with_vector(r.with_vectors),
        with_payload: with_payload(r.with_payload, false),
        lookup_from: lookup_from(r.lookup_from)?,
        shard_key: shard_key(r.shard_key_selector)?,
    })
}

/// An example vector of a legacy request; a document is embedded as a query's is.
fn example_vector(v: pb::Vector) -> Result<VectorInputWire, Status> {
    if let Some(pb::vector::Vector::Document(d)) = v.vector {
        let options = crate::grpc::convert::map_to_json(d.options);
        return Ok(VectorInputWire::Sparse(crate::inference::infer_document(
            &d.text,
            &d.model,
            options,
            Embedding::Query,
        )?));
    }
    match vector_in(v)? {
        Vector::Dense(d) => Ok(VectorInputWire::Dense(d)),
        Vector::Sparse(s) => Ok(VectorInputWire::Sparse(s)),
        Vector::Multi(m) => Ok(VectorInputWire::Multi(m)),
    }
}

/// Legacy `RecommendPoints` as the REST universal query with a `recommend` input (there is no
/// separate recommend endpoint: both run the same query path).
pub fn recommend_request(r: pb::RecommendPoints) -> Result<QueryRequestWire, Status> {
    let ids = |list: Vec<pb::PointId>| -> Result<Vec<VectorInputWire>, Status> {
        list.into_iter().map(|id| Ok(VectorInputWire::Id(point_id(Some(id))?))).collect()
    };
    let mut positive = ids(r.positive)?;
    positive.extend(r.positive_vectors.into_iter().map(example_vector).collect::<Result<Vec<_>, _>>()?);
    let mut negative = ids(r.negative)?;
    negative.extend(r.negative_vectors.into_iter().map(example_vector).collect::<Result<Vec<_>, _>>()?);
    let recommend = RecommendWire { positive, negative, strategy: strategy(r.strategy) };
    recommend.check_legacy_examples()?;
    Ok(QueryRequestWire {
        query: Some(QueryWire::Recommend { recommend }),
        using: r.using,
        prefetch: None,
        filter: filter_in(r.filter)?,
        params: params_in(r.params),
        score_threshold: r.score_threshold,
        limit: Some(r.limit as usize),
        offset: r.offset.map(|o| o as usize),
        with_vector: with_vector(r.with_vectors),
        with_payload: with_payload(r.with_payload, false),
        lookup_from: lookup_from(r.lookup_from)?,
        shard_key: shard_key(r.shard_key_selector)?,
    })
}

fn example(example: Option<pb::VectorExample>) -> Result<VectorInputWire, Status> {
    use pb::vector_example::Example;
    match example.and_then(|e| e.example).ok_or_else(|| crate::grpc::status::missing("example"))? {
        Example::Id(id) => Ok(VectorInputWire::Id(point_id(Some(id))?)),
        Example::Vector(v) => example_vector(v),
    }
}

/// Legacy `DiscoverPoints` as the REST discover body.
pub fn discover_request(r: pb::DiscoverPoints) -> Result<DiscoverRequestWire, Status> {
    use pb::target_vector::Target;
    let target = match r.target.and_then(|t| t.target) {
        Some(Target::Single(e)) => Some(example(Some(e))?),
        None => None,
    };
    let context = r
        .context
        .into_iter()
        .map(|p| Ok(ContextPairWire { positive: example(p.positive)?, negative: example(p.negative)? }))
        .collect::<Result<Vec<_>, Status>>()?;
    Ok(DiscoverRequestWire {
        target,
        context: Some(context),
        filter: filter_in(r.filter)?,
        params: params_in(r.params),
        limit: r.limit as usize,
        offset: r.offset.map(|o| o as usize),
        with_payload: with_payload(r.with_payload, false),
        with_vector: with_vector(r.with_vectors),
        using: r.using,
        lookup_from: lookup_from(r.lookup_from)?,
        shard_key: shard_key(r.shard_key_selector)?,
    })
}
