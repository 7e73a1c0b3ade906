//! Inference objects where a vector goes (design record 050): a `Document` of Qdrant's local
//! `qdrant/bm25` model becomes its sparse vector here, before the body is read as usual; any
//! other model, and any image or object, is refused as Qdrant's open-source server refuses it
//! without an inference service. REST bodies are rewritten as JSON (`{"indices", "values"}` in
//! place of each document); gRPC documents are embedded by [`infer_document`].

use crate::error::ApiError;
use crate::extract::RawJsonBody;
use crate::inference_bm25::Bm25;
pub(crate) use crate::inference_bm25::Embedding;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use quiver_types::SparseVector;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

/// The answer to an inference input for a model this server does not run: Qdrant's words for
/// an open-source server without an inference service, but a 400, not Qdrant's 500 (the
/// request cannot succeed on this server, whatever is retried; the project answers a request
/// it cannot serve with a 4xx: design record 050).
pub(crate) fn not_initialized() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "Bad request: InferenceService is not initialized. Please check if it was properly configured and initialized during startup. This server embeds qdrant/bm25 documents only.",
    )
}

/// Whether `model` names Qdrant's local BM25 model (matched without regard to case).
fn is_bm25(model: &str) -> bool {
    matches!(model.to_lowercase().as_str(), "qdrant/bm25" | "bm25")
}

/// The refusal of an image or an object for `model`.
pub(crate) fn refuse_non_text(model: &str) -> ApiError {
    match is_bm25(model) {
        true => ApiError::bad_input(format!("Only text input is supported for {model}.")),
        false => not_initialized(),
    }
}

/// The sparse vector of a document of `model` with its `options`.
pub(crate) fn infer_document(
    text: &str,
    model: &str,
    options: Map<String, Value>,
    embedding: Embedding,
) -> Result<SparseVector, ApiError> {
    if !is_bm25(model) {
        return Err(not_initialized());
    }
    if options.is_empty()
        && let Some(default) = DEFAULT_BM25.as_ref()
    {
        return Ok(default.embed(text, embedding));
    }
    Ok(Bm25::from_options(options)?.embed(text, embedding))
}

/// The model with Qdrant's default options, built once: most documents give no `options`, and
/// building a model (its stopword set, its stemmer) for each document of a batch of thousands
/// repeated the same work.
static DEFAULT_BM25: std::sync::LazyLock<Option<Bm25>> =
    std::sync::LazyLock::new(|| Bm25::from_options(Map::new()).ok());

/// An inference object as Qdrant reads one where a vector goes: a `model` string with a `text`
/// string (a document, whose `options` are an object if given), an `image` or an `object`.
enum Input<'a> {
    Document { text: &'a str, model: &'a str, options: Map<String, Value> },
    Other { model: &'a str },
}

fn input(value: &Value) -> Option<Input<'_>> {
    let object = value.as_object()?;
    let model = object.get("model")?.as_str()?;
    if let Some(text) = object.get("text") {
        let options = match object.get("options") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(options)) => options.clone(),
            Some(_) => return None,
        };
        return Some(Input::Document { text: text.as_str()?, model, options });
    }
    (object.contains_key("image") || object.contains_key("object")).then_some(Input::Other { model })
}

/// The inference objects of one request body, embedded in place.
struct Sites {
    embedding: Embedding,
    found: usize,
}

impl Sites {
    fn new(embedding: Embedding) -> Sites {
        Sites { embedding, found: 0 }
    }

    /// Replaces `value` by its sparse vector if it is an inference object.
    fn at(&mut self, value: &mut Value) -> Result<bool, ApiError> {
        let vector = match input(value) {
            None => return Ok(false),
            Some(Input::Other { model }) => return Err(refuse_non_text(model)),
            Some(Input::Document { text, model, options }) => infer_document(text, model, options, self.embedding)?,
        };
        *value = json!({"indices": vector.indices, "values": vector.values});
        self.found += 1;
        Ok(true)
    }

    /// Each entry of a list, or the value itself.
    fn each(&mut self, value: Option<&mut Value>) -> Result<(), ApiError> {
        match value {
            Some(Value::Array(list)) => list.iter_mut().try_for_each(|v| self.at(v).map(drop)),
            Some(other) => self.at(other).map(drop),
            None => Ok(()),
        }
    }

    /// A point's `vector`: a document for the unnamed vector, or named documents.
    fn point(&mut self, vector: &mut Value) -> Result<(), ApiError> {
        if self.at(vector)? {
            *vector = json!({"": vector.take()});
        } else if let Value::Object(named) = vector {
            named.values_mut().try_for_each(|v| self.at(v).map(drop))?;
        }
        Ok(())
    }

    /// A batch's `vectors`: a list of documents for the unnamed vector, or named lists.
    fn batch(&mut self, vectors: &mut Value) -> Result<(), ApiError> {
        match vectors {
            Value::Array(list) => {
                let before = self.found;
                list.iter_mut().try_for_each(|v| self.at(v).map(drop))?;
                if self.found > before {
                    *vectors = json!({"": vectors.take()});
                }
                Ok(())
            }
            Value::Object(named) => named.values_mut().try_for_each(|list| self.each(Some(list))),
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => Ok(()),
        }
    }

    fn points(&mut self, body: &mut Value) -> Result<(), ApiError> {
        let points = body.get_mut("points").and_then(Value::as_array_mut).into_iter().flatten();
        points.filter_map(|p| p.get_mut("vector")).try_for_each(|v| self.point(v))
    }

    /// The vectors of a query: the query itself or those of its kind.
    fn query(&mut self, query: &mut Value) -> Result<(), ApiError> {
        if self.at(query)? {
            return Ok(());
        }
        let Value::Object(kinds) = query else { return Ok(()) };
        for (kind, input) in kinds.iter_mut() {
            match kind.as_str() {
                "nearest" => self.each(Some(input))?,
                "recommend" => {
                    self.each(input.get_mut("positive"))?;
                    self.each(input.get_mut("negative"))?;
                }
                "discover" => {
                    self.each(input.get_mut("target"))?;
                    self.pairs(input.get_mut("context"))?;
                }
                "context" => self.pairs(Some(input))?,
                "relevance_feedback" => {
                    self.each(input.get_mut("target"))?;
                    let mut feedback = input.get_mut("feedback").and_then(Value::as_array_mut).into_iter().flatten();
                    feedback.try_for_each(|item| self.each(item.get_mut("example")))?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Context pairs: one pair or a list of them.
    fn pairs(&mut self, pairs: Option<&mut Value>) -> Result<(), ApiError> {
        let mut pair = |p: &mut Value| -> Result<(), ApiError> {
            self.each(p.get_mut("positive"))?;
            self.each(p.get_mut("negative"))
        };
        match pairs {
            Some(Value::Array(list)) => list.iter_mut().try_for_each(pair),
            Some(one) => pair(one),
            None => Ok(()),
        }
    }

    /// A query request (or prefetch): its `query` and its prefetches, nested.
    fn request(&mut self, request: &mut Value) -> Result<(), ApiError> {
        if let Some(query) = request.get_mut("query") {
            self.query(query)?;
        }
        match request.get_mut("prefetch") {
            Some(Value::Array(list)) => list.iter_mut().try_for_each(|p| self.request(p)),
            Some(one @ Value::Object(_)) => self.request(one),
            Some(_) | None => Ok(()),
        }
    }
}

/// An upsert body (list or batch form) with its documents embedded; other inference objects
/// refused.
pub(crate) fn upsert_body(mut body: Value) -> Result<Value, ApiError> {
    let mut sites = Sites::new(Embedding::Document);
    match body.get_mut("batch") {
        Some(batch) => batch.get_mut("vectors").map_or(Ok(()), |v| sites.batch(v))?,
        None => sites.points(&mut body)?,
    }
    Ok(body)
}

/// An update-vectors body with its documents embedded; other inference objects refused.
pub(crate) fn points_body(mut body: Value) -> Result<Value, ApiError> {
    Sites::new(Embedding::Document).points(&mut body)?;
    Ok(body)
}

/// A request body whose inference objects are embedded in place; the count embedded.
pub(crate) trait DocumentSites {
    fn embed_documents(body: &mut Value) -> Result<usize, ApiError>;
}

/// The documents of an update-vectors body, embedded in place; the count embedded.
pub(crate) fn embed_point_documents(body: &mut Value) -> Result<usize, ApiError> {
    let mut sites = Sites::new(Embedding::Document);
    sites.points(body)?;
    Ok(sites.found)
}

/// The documents of a query request (or a grouped one), embedded in place; the count embedded.
pub(crate) fn embed_query_documents(body: &mut Value) -> Result<usize, ApiError> {
    let mut sites = Sites::new(Embedding::Query);
    sites.request(body)?;
    Ok(sites.found)
}

/// A JSON body read as `T`, its inference objects embedded first. Only a body that names a
/// `"model"` is read through `serde_json::Value` (a document must be found before the typed
/// reading: `{"text": …}` is also a query kind); any other body, and one without inference
/// objects, is read as before, with the same refusals.
pub(crate) struct Inferred<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + DocumentSites> FromRequest<S> for Inferred<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = RawJsonBody::from_request(req, state).await?.0;
        if memchr::memmem::find(&bytes, b"\"model\"").is_some()
            && let Ok(mut value) = serde_json::from_slice::<Value>(&bytes)
            && T::embed_documents(&mut value)? > 0
        {
            return serde_json::from_value(value).map(Inferred).map_err(ApiError::format);
        }
        serde_json::from_slice(&bytes).map(Inferred).map_err(ApiError::format)
    }
}

#[cfg(test)]
#[path = "inference_tests.rs"]
mod tests;
