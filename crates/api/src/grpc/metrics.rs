//! `grpc_responses_total` / `grpc_responses_fail_total` by endpoint: a tower layer around the
//! gRPC services. A failed unary call is answered "trailers-only", so its `grpc-status` is in the
//! response headers; a success carries it in the trailers and has none in the headers.

use crate::metrics::Metrics;
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

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let endpoint = request.uri().path().to_string();
        let metrics = Arc::clone(&self.metrics);
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            let failed = response.headers().get("grpc-status").is_some_and(|s| s.as_bytes() != b"0");
            metrics.count_grpc(endpoint, failed);
            Ok(response)
        })
    }
}
