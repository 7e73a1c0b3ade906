//! Closed-loop search load for the request-path benchmark (`bench/request_path.py`, issue 20
//! item 1): `--connections N` clients, each sending one `points/query` (REST) or `Points/Query`
//! (gRPC) at a time over its own keep-alive connection, on one client thread, so that the
//! server's per-request cost shows instead of a Python client's. Prints one JSON line:
//! requests, seconds, qps and latency percentiles in microseconds.

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use qdrant_client::qdrant::points_client::PointsClient;
use qdrant_client::qdrant::{Query, QueryPoints, SearchParams};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Parser, Clone)]
struct Args {
    /// `rest` or `grpc`.
    #[arg(long)]
    protocol: String,
    /// `http://host:port` of the REST or gRPC listener.
    #[arg(long)]
    url: String,
    #[arg(long)]
    collection: String,
    /// Query vectors: raw little-endian f32, `dim` per query.
    #[arg(long)]
    queries: PathBuf,
    #[arg(long)]
    dim: usize,
    #[arg(long, default_value_t = 1)]
    connections: usize,
    #[arg(long, default_value_t = 64)]
    ef: u64,
    #[arg(long, default_value_t = 10)]
    limit: u64,
    /// Requests in all (split over the connections), after an unmeasured warm-up pass of one
    /// request per query.
    #[arg(long, default_value_t = 2000)]
    requests: usize,
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

fn read_queries(args: &Args) -> Result<Vec<Vec<f32>>, Failure> {
    let bytes = std::fs::read(&args.queries)?;
    let floats: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    if args.dim == 0 || !floats.len().is_multiple_of(args.dim) || floats.is_empty() {
        return Err(format!("{} floats are not whole queries of dim {}", floats.len(), args.dim).into());
    }
    Ok(floats.chunks_exact(args.dim).map(<[f32]>::to_vec).collect())
}

/// One connection's closed loop over REST: requests `first`, `first + step`, … below `total`.
async fn rest_loop(
    args: Args,
    bodies: Vec<Bytes>,
    first: usize,
    step: usize,
    total: usize,
) -> Result<Vec<Duration>, Failure> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(1)
        .build_http::<Full<Bytes>>();
    let uri: http::Uri = format!("{}/collections/{}/points/query", args.url, args.collection).parse()?;
    let mut latencies = Vec::new();
    for i in (first..total).step_by(step) {
        let request = http::Request::post(uri.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(bodies[i % bodies.len()].clone()))?;
        let started = Instant::now();
        let response = client.request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            return Err(format!("{status}: {}", String::from_utf8_lossy(&body)).into());
        }
        latencies.push(started.elapsed());
    }
    Ok(latencies)
}

/// One connection's closed loop over gRPC (its own HTTP/2 channel).
async fn grpc_loop(
    args: Args,
    queries: Vec<Vec<f32>>,
    first: usize,
    step: usize,
    total: usize,
) -> Result<Vec<Duration>, Failure> {
    let mut client = PointsClient::connect(args.url.clone()).await?;
    let mut latencies = Vec::new();
    for i in (first..total).step_by(step) {
        let request = QueryPoints {
            collection_name: args.collection.clone(),
            query: Some(Query::new_nearest(queries[i % queries.len()].clone())),
            limit: Some(args.limit),
            params: Some(SearchParams { hnsw_ef: Some(args.ef), ..Default::default() }),
            ..Default::default()
        };
        let started = Instant::now();
        client.query(request).await?;
        latencies.push(started.elapsed());
    }
    Ok(latencies)
}

fn percentile_us(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).map_or(0.0, |d| d.as_secs_f64() * 1e6)
}

/// `total` requests over `args.connections` closed loops; their latencies and the wall time.
async fn phase(
    args: &Args,
    queries: &[Vec<f32>],
    bodies: &[Bytes],
    total: usize,
) -> Result<(Vec<Duration>, f64), Failure> {
    let step = args.connections.max(1);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for first in 0..step {
        let args = args.clone();
        tasks.push(match args.protocol.as_str() {
            "rest" => tokio::spawn(rest_loop(args, bodies.to_vec(), first, step, total)),
            "grpc" => tokio::spawn(grpc_loop(args, queries.to_vec(), first, step, total)),
            other => return Err(format!("unknown protocol `{other}` (rest or grpc)").into()),
        });
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    Ok((latencies, started.elapsed().as_secs_f64()))
}

async fn run(args: Args) -> Result<serde_json::Value, Failure> {
    let queries = read_queries(&args)?;
    let bodies: Vec<Bytes> = queries
        .iter()
        .map(|q| {
            let body = serde_json::json!({"query": q, "limit": args.limit, "params": {"hnsw_ef": args.ef}});
            Bytes::from(body.to_string())
        })
        .collect();
    let warmup = queries.len();
    phase(&args, &queries, &bodies, warmup).await?;
    let (mut latencies, seconds) = phase(&args, &queries, &bodies, args.requests).await?;
    latencies.sort_unstable();
    let mean_us = latencies.iter().map(Duration::as_secs_f64).sum::<f64>() / latencies.len().max(1) as f64 * 1e6;
    Ok(serde_json::json!({
        "protocol": args.protocol,
        "connections": args.connections.max(1),
        "requests": latencies.len(),
        "warmup_requests": warmup,
        "seconds": seconds,
        "qps": latencies.len() as f64 / seconds,
        "mean_us": mean_us,
        "p50_us": percentile_us(&latencies, 0.5),
        "p99_us": percentile_us(&latencies, 0.99),
    }))
}

fn main() -> Result<(), Failure> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let report = runtime.block_on(run(args))?;
    println!("{report}");
    Ok(())
}
