//! The distance matrix (`POST /collections/{c}/points/search/matrix/pairs` and `…/offsets`):
//! a random sample of the points passing a filter that have the vector `using`, and for each
//! of them its `limit` nearest other sampled points, scored by the collection's own search.

use crate::error::{NodeError, Result};
use crate::node::Node;
use quiver_collection::SearchRequest;
use quiver_types::PointId;
use quiver_types::filter::{Condition, Filter, HasIdCondition, HasVectorCondition};
use quiver_types::query::{ScrollRequest, WithPayload, WithVector};
use quiver_types::shard_key::ShardKeySelector;
use quiver_types::validation::{at_least, json_body};
use rand::seq::SliceRandom;

/// Defaults of the request.
pub const DEFAULT_MATRIX_SAMPLE: usize = 10;
pub const DEFAULT_MATRIX_LIMIT: usize = 3;

/// What a distance matrix is computed over.
#[derive(Debug, Clone, Default)]
pub struct MatrixRequest {
    pub filter: Option<Filter>,
    pub sample: Option<usize>,
    pub limit: Option<usize>,
    pub using: Option<String>,
    /// The shard keys sampled and searched (custom sharding); every shard when `None`.
    pub shard_key: Option<ShardKeySelector>,
}

/// One row's neighbour: `a`'s `limit` nearest include `b` with `score`.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixPair {
    pub a: PointId,
    pub b: PointId,
    pub score: f32,
}

/// The sampled ids (in id order) and the pairs among them.
#[derive(Debug, Clone, Default)]
pub struct DistanceMatrix {
    pub ids: Vec<PointId>,
    pub pairs: Vec<MatrixPair>,
}

impl DistanceMatrix {
    /// The offsets form: row and column indexes into `ids`, with the scores.
    pub fn offsets(&self) -> (Vec<u64>, Vec<u64>, Vec<f32>) {
        let index = |id: &PointId| self.ids.iter().position(|x| x == id).unwrap_or_default() as u64;
        let rows = self.pairs.iter().map(|p| index(&p.a)).collect();
        let cols = self.pairs.iter().map(|p| index(&p.b)).collect();
        (rows, cols, self.pairs.iter().map(|p| p.score).collect())
    }
}

fn check(request: &MatrixRequest) -> Result<(usize, usize)> {
    let sample = request.sample.unwrap_or(DEFAULT_MATRIX_SAMPLE);
    let limit = request.limit.unwrap_or(DEFAULT_MATRIX_LIMIT);
    if sample < 2 {
        return Err(NodeError::Validation(json_body(at_least("sample", sample, 2))));
    }
    if limit < 1 {
        return Err(NodeError::Validation(json_body(at_least("limit", limit, 1))));
    }
    Ok((sample, limit))
}

fn and(filter: Option<Filter>, condition: Condition) -> Filter {
    let mut must = vec![condition];
    if let Some(f) = filter {
        must.push(Condition::Filter(f));
    }
    Filter { must: Some(must), ..Filter::default() }
}

impl Node {
    /// The distance matrix of a random sample (see the module comment).
    pub async fn distance_matrix(&self, name: &str, request: MatrixRequest) -> Result<DistanceMatrix> {
        self.admitted(name, crate::strict::Traffic::Read, self.matrix_admitted(name, request)).await
    }

    async fn matrix_admitted(&self, name: &str, request: MatrixRequest) -> Result<DistanceMatrix> {
        let (sample, limit) = check(&request)?;
        let collection = self.resolve(name)?;
        self.check_read(&collection, None, request.filter.as_ref(), None)?;
        let using = request.using.clone().unwrap_or_default();
        let config = collection.config();
        let known = config.params.vectors.get(&using).is_some() || config.params.sparse_vectors.contains_key(&using);
        if !known {
            return Err(NodeError::BadInput(format!("Not existing vector name error: {using}")));
        }
        let with_vector = and(request.filter, Condition::HasVector(HasVectorCondition { has_vector: using.clone() }));
        let scroll = ScrollRequest {
            offset: None,
            limit: usize::MAX / 2,
            filter: Some(with_vector),
            with_payload: WithPayload::Bool(false),
            with_vector: WithVector::Bool(false),
            order_by: None,
        };
        let mut ids: Vec<PointId> =
            collection.scroll(scroll, request.shard_key.as_ref()).await?.points.into_iter().map(|r| r.id).collect();
        ids.shuffle(&mut rand::rng());
        ids.truncate(sample);
        if ids.len() < 2 {
            // No pair to score: Qdrant answers with an empty matrix (no ids either).
            return Ok(DistanceMatrix::default());
        }
        // The sample is reported in id order, as Qdrant does, so rows are deterministic.
        ids.sort_unstable();
        let with_vector = WithVector::Names(vec![using.clone()]);
        let mut records =
            collection.retrieve(ids.clone(), WithPayload::Bool(false), with_vector, request.shard_key.as_ref()).await?;
        records.sort_unstable_by_key(|record| record.id);
        let mut pairs = Vec::new();
        for record in records {
            let Some(vector) = record.vector.map(|v| v.into_named()).and_then(|mut v| v.remove(&using)) else {
                continue;
            };
            let others: Vec<PointId> = ids.iter().filter(|id| **id != record.id).copied().collect();
            let search = SearchRequest {
                vector_name: using.clone(),
                query: vector.into(),
                filter: Some(and(None, Condition::HasId(HasIdCondition { has_id: others }))),
                params: None,
                limit,
                offset: 0,
                score_threshold: None,
                with_payload: WithPayload::Bool(false),
                with_vector: WithVector::Bool(false),
                shard_key: request.shard_key.clone(),
            };
            for hit in collection.search(search).await? {
                pairs.push(MatrixPair { a: record.id, b: hit.id, score: hit.score });
            }
        }
        Ok(DistanceMatrix { ids, pairs })
    }
}
