//! gRPC response metrics by endpoint (`grpc_responses_*`): a tower layer around the gRPC
//! services that times each call. A failed unary call is answered "trailers-only", so its
//! `grpc-status` is in the response headers; a success carries it in the trailers and has none in
//! the headers. The layer puts an empty [`CollectionSlot`] in the request, which the handler fills
//! with the message's collection (`auth::authorized`) for `?per_collection`.

use crate::metrics::{CollectionSlot, Metrics};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::codegen::http;

/// The layer that counts responses into `metrics`.
#[derive(Clone)]
pub struct CountLayer {
    pub metrics: Arc<Metrics>,
}

impl<S> tower::Layer<S> for CountLayer {
    type Service = Count<S>;

    fn layer(&self, inner: S) -> Count<S> {
        Count { inner, metrics: Arc::clone(&self.metrics) }
    }
}

#[derive(Clone)]
pub struct Count<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

type Boxed<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B, R> tower::Service<http::Request<B>> for Count<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Boxed<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let started = std::time::Instant::now();
        let endpoint = request.uri().path().to_string();
        let slot = CollectionSlot::default();
        request.extensions_mut().insert(slot.clone());
        let metrics = Arc::clone(&self.metrics);
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            let code = response.headers().get("grpc-status").map_or(Some(0), |s| s.to_str().ok()?.parse::<u16>().ok());
            metrics.record_grpc(endpoint, slot.0.get().map(String::as_str), started.elapsed(), code.unwrap_or(2));
            Ok(response)
        })
    }
}
