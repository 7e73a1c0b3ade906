//! The `quiver` binary: reads the configuration and flags, opens the node's storage, restores
//! the snapshots named by `--snapshot` / `--storage-snapshot`, serves the REST and gRPC APIs,
//! and shuts down gracefully on SIGINT/SIGTERM (every write made durable).

mod cluster;
mod listeners;
mod log_throttle;
mod security;
mod settings;

use clap::Parser;
use quiver_api::{AppState, metrics::Metrics};
use quiver_node::Node;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// How long a graceful stop waits for its shards to be handed to other replicas.
const HAND_OFF_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The Qdrant-compatible version reported to clients.
pub(crate) const QDRANT_VERSION: &str = "1.19.0";

/// Quiver: a distributed vector database that speaks Qdrant's API.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// This peer's p2p URI, announced to other peers (cluster mode).
    #[arg(long, env = "QDRANT_URI")]
    uri: Option<String>,
    /// The p2p URI of any running peer to join (cluster mode).
    #[arg(long, env = "QDRANT_BOOTSTRAP")]
    bootstrap: Option<String>,
    /// An extra configuration file, merged after `config/config.yaml`.
    #[arg(long)]
    config_path: Option<PathBuf>,
    /// Reset consensus state (cluster mode).
    #[arg(long, default_value_t = false)]
    reinit: bool,
    /// Accepted for compatibility (Quiver sends no telemetry).
    #[arg(long, default_value_t = false)]
    disable_telemetry: bool,
    /// Accepted for compatibility: Qdrant's stack trace collector; Quiver has none and ignores it.
    #[arg(long, default_value_t = false)]
    stacktrace: bool,
    /// Restore a collection from a collection snapshot file at start-up, before the APIs serve
    /// (repeatable). Do not use on a peer of an existing cluster: the collection is placed on
    /// this peer only.
    #[arg(long = "snapshot", visible_alias = "collection-snapshot", value_name = "PATH:COLLECTION",
          value_parser = quiver_node::parse_snapshot_arg)]
    snapshots: Vec<(PathBuf, String)>,
    /// Restore a full storage snapshot (`POST /snapshots`: every collection and alias in it) at
    /// start-up. Do not use on a peer of an existing cluster.
    #[arg(long, value_name = "PATH")]
    storage_snapshot: Option<PathBuf>,
    /// Let --snapshot / --storage-snapshot overwrite existing collections and aliases.
    #[arg(short = 'f', long, default_value_t = false)]
    force_snapshot: bool,
}

impl Cli {
    /// What the snapshot flags ask to restore, if anything.
    fn startup_snapshots(&self) -> Option<quiver_node::StartupSnapshots> {
        (!self.snapshots.is_empty() || self.storage_snapshot.is_some()).then(|| quiver_node::StartupSnapshots {
            collections: self.snapshots.clone(),
            storage: self.storage_snapshot.clone(),
            force: self.force_snapshot,
        })
    }
}

/// Installs the subscriber with the filter of `level`; returns how `POST /logger` replaces that
/// filter (a reload handle: design record 046).
fn init_logging(level: &str) -> quiver_api::log_control::ApplyFilter {
    let filter = tracing_subscriber::EnvFilter::try_new(quiver_api::log_control::directives(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let output =
        tracing_subscriber::fmt::layer().with_target(false).with_filter(log_throttle::OpenraftThrottle::default());
    tracing_subscriber::registry().with(filter).with(output).init();
    Box::new(move |directives: &str| {
        let filter = tracing_subscriber::EnvFilter::try_new(directives).map_err(|e| e.to_string())?;
        handle.reload(filter).map_err(|e| e.to_string())
    })
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received");
}

/// `--snapshot` / `--storage-snapshot`: unpacks and checks every snapshot, then (standalone)
/// restores them. In cluster mode they are returned, to be restored once consensus runs.
async fn startup_restore(
    cli: &Cli,
    node: &Node,
    cluster_mode: bool,
) -> Result<Option<quiver_node::PreparedRestore>, String> {
    let Some(request) = cli.startup_snapshots() else { return Ok(None) };
    let failed = |e: quiver_node::NodeError| format!("snapshot restore: {e}");
    let prepared = node.prepare_startup_restore(request).await.map_err(failed)?;
    if cluster_mode {
        return Ok(Some(prepared));
    }
    let restored = node.restore_at_startup(prepared).await.map_err(failed)?;
    tracing::info!(collections = ?restored, "restored from snapshots");
    Ok(None)
}

/// Logging, warnings about the configuration and flags, the metrics registered; refuses flags
/// that contradict the configuration.
fn prepare(
    cli: &Cli,
    settings: &settings::Settings,
    unknown: Vec<String>,
) -> Result<quiver_api::log_control::LogControl, cluster::StartError> {
    let logger = quiver_api::log_control::LogControl::new(&settings.log_level, init_logging(&settings.log_level));
    for key in unknown {
        tracing::warn!(key = %key, "unknown configuration key ignored");
    }
    security::warn_about_clear_text(settings);
    if cli.stacktrace {
        tracing::warn!("--stacktrace is accepted for compatibility and ignored: Quiver has no stack trace collector");
    }
    quiver_storage::metrics::register();
    quiver_collection::metrics::register();
    quiver_node::telemetry::register_metrics();
    if !settings.cluster.enabled && cli.bootstrap.is_some() {
        return Err("--bootstrap needs cluster mode: set cluster.enabled (QDRANT__CLUSTER__ENABLED=true)".into());
    }
    Ok(logger)
}

async fn run(cli: Cli, settings: settings::Settings, unknown: Vec<String>) -> Result<(), cluster::StartError> {
    let app = quiver_api::AppInfo::starting_now(settings.service.jwt_rbac);
    let logger = Arc::new(prepare(&cli, &settings, unknown)?);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let opened: Arc<std::sync::OnceLock<Arc<Node>>> = Arc::default();
    let stopping = Arc::clone(&opened);
    tokio::spawn(async move {
        wait_for_signal().await;
        // A graceful stop hands this peer's shards to the other replicas first (design record
        // 012 §6); a second signal stops at once.
        if let Some(node) = stopping.get() {
            tokio::select! {
                _ = node.hand_off_replicas(HAND_OFF_TIMEOUT) => {},
                () = wait_for_signal() => {},
            }
        }
        let _ = stop_tx.send(true);
    });
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    // The p2p port stops last, once the client-facing servers have finished their requests:
    // those may still need the other peers (a forwarded write, a replica's answer, Raft).
    let (p2p_stop_tx, mut p2p_stop_rx) = tokio::sync::watch::channel(false);
    let p2p_stopped = async move {
        let _ = p2p_stop_rx.wait_for(|stop| *stop).await;
    };
    let node_config = settings.node_config();
    let node = tokio::task::spawn_blocking(move || Node::open(node_config))
        .await
        .map_err(|e| format!("opening storage failed: {e}"))?
        .map_err(|e| format!("opening storage failed: {e}"))?;
    let node = Arc::new(node);
    node.set_self();
    let _ = opened.set(Arc::clone(&node));
    tracing::info!(peer_id = node.peer_id(), "storage opened");
    let restore = startup_restore(&cli, &node, settings.cluster.enabled).await?;
    node.spawn_checkpointer();
    if settings.cluster.enabled {
        let args = cluster::ClusterArgs {
            uri: cli.uri.clone(),
            bootstrap: cli.bootstrap.clone(),
            reinit: cli.reinit,
            restore,
        };
        cluster::start(&node, &settings, args, p2p_stopped).await?;
    }
    let faults_enabled = std::env::var("QUIVER_ENABLE_FAULTS").is_ok_and(|v| v == "1");
    let metrics = Arc::new(Metrics::with_prefix(settings.service.metrics_prefix.clone()));
    let auth = quiver_api::auth::Auth::new(&security::auth_config(&settings), Arc::clone(&node));
    let grpc_state =
        quiver_api::grpc::GrpcState { node: Arc::clone(&node), version: QDRANT_VERSION, metrics: Arc::clone(&metrics) };
    let grpc = listeners::start_grpc(&settings, grpc_state, auth.clone(), stopped()).await?;
    let state = AppState { node: Arc::clone(&node), metrics, version: QDRANT_VERSION, app, faults_enabled, logger };
    let metrics_server =
        listeners::start_metrics(&settings, quiver_api::metrics_router(state.clone()), stopped()).await?;
    let mut router = quiver_api::router_with_auth(state, settings.service.max_request_size_mb, auth);
    if settings.service.enable_cors {
        router = router.layer(tower_http::cors::CorsLayer::permissive());
    }
    listeners::serve_rest(&settings, router, stopped()).await?;
    if let Some(grpc) = grpc {
        grpc.await.map_err(|e| format!("gRPC server task failed: {e}"))??;
    }
    if let Some(metrics_server) = metrics_server {
        metrics_server.await.map_err(|e| format!("metrics server task failed: {e}"))??;
    }
    let _ = p2p_stop_tx.send(true);
    if let Some(cluster) = node.cluster() {
        cluster.consensus.shutdown().await;
    }
    tokio::task::spawn_blocking(move || node.shutdown())
        .await
        .map_err(|e| format!("shutdown failed: {e}"))?
        .map_err(|e| format!("shutdown failed: {e}"))?;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// The stack of the runtime's threads (tokio's default is 2 MiB).
const WORKER_STACK_BYTES: usize = 8 << 20;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (settings, unknown) = match settings::load(cli.config_path.as_deref()) {
        Ok(loaded) => loaded,
        Err(message) => {
            eprintln!("quiver: {message}");
            return ExitCode::FAILURE;
        }
    };
    // `service.max_workers`: the runtime's worker threads (0: one per core).
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    // Cheap shard reads run on the async workers (design record 022), below the request's whole
    // chain of futures: room for both (address space; pages are only used as touched).
    builder.thread_stack_size(WORKER_STACK_BYTES);
    if settings.service.max_workers > 0 {
        builder.worker_threads(settings.service.max_workers);
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, settings, unknown)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(cluster::StartError { message, exit_code }) => {
            tracing::error!("{message}");
            eprintln!("quiver: {message}");
            ExitCode::from(exit_code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_flags_parse() {
        let cli = Cli::try_parse_from([
            "quiver",
            "--snapshot",
            "/backups/a:b.snapshot:first",
            "--collection-snapshot",
            "second.snapshot:second",
            "--storage-snapshot",
            "full.snapshot",
            "-f",
        ])
        .unwrap();
        let request = cli.startup_snapshots().unwrap();
        let expected = [("/backups/a:b.snapshot", "first"), ("second.snapshot", "second")]
            .map(|(path, name)| (PathBuf::from(path), name.to_string()));
        assert_eq!(request.collections, expected);
        assert_eq!(request.storage, Some(PathBuf::from("full.snapshot")));
        assert!(request.force);
        assert!(Cli::try_parse_from(["quiver"]).unwrap().startup_snapshots().is_none());
        for bad in ["no-collection.snapshot", "x.snapshot:", "x.snapshot:a/b"] {
            assert!(Cli::try_parse_from(["quiver", "--snapshot", bad]).is_err(), "{bad}");
        }
    }
}
