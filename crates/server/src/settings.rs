//! Configuration as Qdrant reads it (spec §8.5): built-in defaults, then (each if present)
//! `config/config.yaml`, `config/$RUN_MODE.yaml` (`RUN_MODE` defaults to `development`),
//! `config/local.yaml`, then `--config-path`, then `QDRANT__SECTION__KEY` environment variables. Unknown keys are
//! ignored with a warning, except under `service`, `tls` and `cluster.p2p`, where a key Quiver
//! does not honour stops start-up (security settings are never silently ignored); an invalid
//! value stops startup with a message naming the key.

use quiver_types::config::{HnswConfig, OptimizersConfig, WalConfig};
use serde::Deserialize;
use serde::de::IgnoredAny;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub log_level: String,
    pub service: ServiceSettings,
    pub storage: StorageSettings,
    pub cluster: ClusterSettings,
    pub telemetry_disabled: bool,
    pub tls: TlsSettings,
}

/// `tls.*`: the PEM files of every TLS listener and of p2p TLS, and how often they are read
/// again (`cert_ttl` seconds; `null`: never).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct TlsSettings {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca_cert: PathBuf,
    #[serde(deserialize_with = "optional_number")]
    pub cert_ttl: Option<u64>,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            cert: "./tls/cert.pem".into(),
            key: "./tls/key.pem".into(),
            ca_cert: "./tls/cacert.pem".into(),
            cert_ttl: Some(3600),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ServiceSettings {
    pub host: String,
    pub http_port: u16,
    /// `null` (YAML) or `null`/empty (environment) disables the gRPC API.
    #[serde(deserialize_with = "optional_port")]
    pub grpc_port: Option<u16>,
    pub max_request_size_mb: usize,
    pub max_workers: usize,
    pub enable_cors: bool,
    pub enable_tls: bool,
    pub verify_https_client_certificate: bool,
    pub api_key: Option<String>,
    pub alt_api_key: Option<String>,
    pub read_only_api_key: Option<String>,
    pub jwt_rbac: Option<bool>,
    /// Qdrant: check the key on p2p calls. Quiver always does when a key is set.
    pub enforce_internal_auth: Option<bool>,
    pub enable_snapshot_url_recovery: bool,
    /// Accepted when off (`false` / `null`): Quiver reports no hardware usage.
    pub hardware_reporting: Option<bool>,
    /// Put before every metric family name (letters, digits and `_`).
    pub metrics_prefix: Option<String>,
    /// A separate listener serving only `/metrics`, without API key (as Qdrant's).
    #[serde(deserialize_with = "optional_port")]
    pub metrics_port: Option<u16>,
    /// Not honoured by Quiver: start-up stops when one of these is set.
    pub http_keep_alive_timeout_sec: Option<IgnoredAny>,
    pub http_client_request_timeout_sec: Option<IgnoredAny>,
    pub http_client_disconnect_timeout_sec: Option<IgnoredAny>,
}

/// `service.*` and `cluster.p2p.*` keys Quiver knows but does not honour: set, they stop start-up.
fn unsupported_keys(settings: &Settings) -> Vec<&'static str> {
    let service = &settings.service;
    [
        ("service.http_keep_alive_timeout_sec", service.http_keep_alive_timeout_sec.is_some()),
        ("service.http_client_request_timeout_sec", service.http_client_request_timeout_sec.is_some()),
        ("service.http_client_disconnect_timeout_sec", service.http_client_disconnect_timeout_sec.is_some()),
        ("service.hardware_reporting", service.hardware_reporting == Some(true)),
        ("cluster.p2p.connection_pool_size", settings.cluster.p2p.connection_pool_size.is_some()),
    ]
    .into_iter()
    .filter_map(|(key, set)| set.then_some(key))
    .collect()
}

/// The security settings that contradict each other or cannot be honoured.
fn validate_security(settings: &Settings) -> Result<(), String> {
    let service = &settings.service;
    let unsupported = unsupported_keys(settings);
    if !unsupported.is_empty() {
        return Err(format!(
            "invalid configuration: {} not supported by Quiver; remove {}",
            unsupported.join(", "),
            if unsupported.len() == 1 { "it" } else { "them" }
        ));
    }
    let has_key = |k: &Option<String>| k.as_deref().is_some_and(|k| !k.is_empty());
    let write_key = has_key(&service.api_key) || has_key(&service.alt_api_key);
    if service.jwt_rbac == Some(true) && !write_key {
        return Err("invalid configuration: service.jwt_rbac needs service.api_key (tokens are signed with it)".into());
    }
    if settings.cluster.enabled && !write_key && has_key(&service.read_only_api_key) {
        // The p2p key is derived from the key: derived from the read-only key, every reader could
        // compute it and write through the p2p port (Qdrant's internal API takes read-write keys only).
        return Err("invalid configuration: in cluster mode service.read_only_api_key needs service.api_key \
                    (p2p calls are authenticated with a key derived from service.api_key, never from the \
                    read-only key)"
            .into());
    }
    if service.enforce_internal_auth == Some(false) && (write_key || has_key(&service.read_only_api_key)) {
        return Err("invalid configuration: service.enforce_internal_auth: false is not supported: with an API key \
                    Quiver always authenticates p2p calls; remove the key"
            .into());
    }
    if service.verify_https_client_certificate && !service.enable_tls {
        return Err(
            "invalid configuration: service.verify_https_client_certificate needs service.enable_tls: true".into()
        );
    }
    if settings.tls.cert_ttl == Some(0) {
        return Err("invalid configuration: tls.cert_ttl must be at least 1 second, or null".into());
    }
    Ok(())
}

/// A port that may be switched off: a number, `null`, or (from the environment, where every
/// value is a string) `"null"` or `""`.
/// A number that may be `null` (YAML) or `"null"` / `""` (environment).
fn optional_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Number {
        Number(u64),
        Text(String),
    }
    match Option::<Number>::deserialize(d)? {
        None => Ok(None),
        Some(Number::Number(n)) => Ok(Some(n)),
        Some(Number::Text(t)) if t.is_empty() || t.eq_ignore_ascii_case("null") => Ok(None),
        Some(Number::Text(t)) => t
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("invalid number `{t}`: expected an integer or null"))),
    }
}

fn optional_port<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Port {
        Number(u16),
        Text(String),
    }
    match Option::<Port>::deserialize(d)? {
        None => Ok(None),
        Some(Port::Number(n)) => Ok(Some(n)),
        Some(Port::Text(t)) if t.is_empty() || t.eq_ignore_ascii_case("null") => Ok(None),
        Some(Port::Text(t)) => t.parse().map(Some).map_err(|_| {
            serde::de::Error::custom(format!("invalid port `{t}`: expected a number from 0 to 65535 or null"))
        }),
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct CollectionDefaults {
    pub replication_factor: Option<u32>,
    pub write_consistency_factor: Option<u32>,
    pub shard_number: Option<u32>,
    pub shard_number_per_node: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct HnswSettings {
    pub m: usize,
    pub ef_construct: usize,
    pub full_scan_threshold_kb: usize,
    pub max_indexing_threads: usize,
    pub on_disk: bool,
    pub payload_m: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct OptimizerSettings {
    pub deleted_threshold: f64,
    pub vacuum_min_vector_number: usize,
    pub default_segment_number: usize,
    pub max_segment_size_kb: Option<usize>,
    pub memmap_threshold_kb: Option<usize>,
    pub indexing_threshold_kb: Option<usize>,
    pub flush_interval_sec: u64,
    pub max_optimization_threads: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct WalSettings {
    pub wal_capacity_mb: usize,
    pub wal_segments_ahead: usize,
    /// Quiver: how much WAL a replica keeps while another replica of its shard is not `Active`,
    /// so that replica can catch up with `wal_delta` (beyond it: a full transfer).
    pub delta_retention_mb: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct StorageSettings {
    pub storage_path: PathBuf,
    pub snapshots_path: PathBuf,
    pub temp_path: Option<PathBuf>,
    pub on_disk_payload: bool,
    pub wal: WalSettings,
    pub node_type: NodeType,
    pub shard_transfer_method: Option<quiver_types::cluster::TransferMethod>,
    pub collection: CollectionDefaults,
    pub hnsw_index: HnswSettings,
    pub optimizers: OptimizerSettings,
    pub max_collections: Option<usize>,
    pub performance: serde_json::Value,
    pub snapshots_config: SnapshotsConfig,
}

/// `storage.snapshots_config`: only local storage; `max_snapshot_size_mb` (ours) caps uploads,
/// downloads and unpacked archives.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SnapshotsConfig {
    pub snapshots_storage: String,
    pub max_snapshot_size_mb: u64,
}

impl Default for SnapshotsConfig {
    fn default() -> Self {
        SnapshotsConfig { snapshots_storage: "local".into(), max_snapshot_size_mb: 64 * 1024 }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
pub enum NodeType {
    #[default]
    Normal,
    Listener,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct P2pSettings {
    pub port: Option<u16>,
    /// Not honoured (one multiplexed HTTP/2 connection per peer): set, it stops start-up.
    pub connection_pool_size: Option<IgnoredAny>,
    pub enable_tls: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ConsensusSettings {
    pub tick_period_ms: u64,
    pub bootstrap_timeout_sec: u64,
    pub max_message_queue_size: usize,
    pub message_timeout_ticks: u64,
    pub compact_wal_entries: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ClusterSettings {
    pub enabled: bool,
    pub peer_id: Option<u64>,
    pub grpc_timeout_ms: u64,
    pub connection_timeout_ms: u64,
    pub p2p: P2pSettings,
    pub consensus: ConsensusSettings,
    /// Ours (design record 012): seconds a peer may stay unreachable before its replicas are
    /// placed on other peers; 0 turns that off.
    pub replica_grace_period_sec: u64,
    /// Ours: balance replica counts after a peer joined or the placement changed.
    pub rebalance: bool,
    /// Ours (design record 015): how often a shard's primary compares its content digest with
    /// the other replicas'; 0 turns that off.
    pub digest_check_interval_sec: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            log_level: "INFO".into(),
            service: ServiceSettings::default(),
            storage: StorageSettings::default(),
            cluster: ClusterSettings::default(),
            telemetry_disabled: false,
            tls: TlsSettings::default(),
        }
    }
}

impl Default for ServiceSettings {
    fn default() -> Self {
        ServiceSettings {
            host: "0.0.0.0".into(),
            http_port: 6333,
            grpc_port: Some(6334),
            max_request_size_mb: 32,
            max_workers: 0,
            enable_cors: true,
            enable_tls: false,
            verify_https_client_certificate: false,
            api_key: None,
            alt_api_key: None,
            read_only_api_key: None,
            jwt_rbac: None,
            enforce_internal_auth: None,
            enable_snapshot_url_recovery: true,
            hardware_reporting: None,
            metrics_prefix: None,
            metrics_port: None,
            http_keep_alive_timeout_sec: None,
            http_client_request_timeout_sec: None,
            http_client_disconnect_timeout_sec: None,
        }
    }
}

impl Default for HnswSettings {
    fn default() -> Self {
        HnswSettings {
            m: 16,
            ef_construct: 100,
            full_scan_threshold_kb: 10_000,
            max_indexing_threads: 0,
            on_disk: false,
            payload_m: None,
        }
    }
}

impl Default for OptimizerSettings {
    fn default() -> Self {
        OptimizerSettings {
            deleted_threshold: 0.2,
            vacuum_min_vector_number: 1000,
            default_segment_number: 0,
            max_segment_size_kb: None,
            memmap_threshold_kb: None,
            indexing_threshold_kb: Some(10_000),
            flush_interval_sec: 5,
            max_optimization_threads: None,
        }
    }
}

impl Default for WalSettings {
    fn default() -> Self {
        WalSettings { wal_capacity_mb: 32, wal_segments_ahead: 0, delta_retention_mb: 1024 }
    }
}

impl Default for StorageSettings {
    fn default() -> Self {
        StorageSettings {
            storage_path: "./storage".into(),
            snapshots_path: "./snapshots".into(),
            temp_path: None,
            on_disk_payload: true,
            wal: WalSettings::default(),
            node_type: NodeType::Normal,
            shard_transfer_method: None,
            collection: CollectionDefaults::default(),
            hnsw_index: HnswSettings::default(),
            optimizers: OptimizerSettings::default(),
            max_collections: None,
            performance: serde_json::Value::Null,
            snapshots_config: SnapshotsConfig::default(),
        }
    }
}

impl Default for P2pSettings {
    fn default() -> Self {
        P2pSettings { port: Some(6335), connection_pool_size: None, enable_tls: false }
    }
}

impl Default for ConsensusSettings {
    fn default() -> Self {
        ConsensusSettings {
            tick_period_ms: 100,
            bootstrap_timeout_sec: 15,
            max_message_queue_size: 100,
            message_timeout_ticks: 10,
            compact_wal_entries: 128,
        }
    }
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            enabled: false,
            peer_id: None,
            grpc_timeout_ms: 60_000,
            connection_timeout_ms: 2_000,
            p2p: P2pSettings::default(),
            consensus: ConsensusSettings::default(),
            replica_grace_period_sec: 300,
            rebalance: true,
            digest_check_interval_sec: 300,
        }
    }
}

/// The configuration files read before `--config-path`, in order (those present are merged).
pub fn config_files(run_mode: Option<&str>) -> Vec<PathBuf> {
    let run_mode = run_mode.filter(|m| !m.is_empty()).unwrap_or("development");
    ["config", run_mode, "local"].iter().map(|name| Path::new("config").join(format!("{name}.yaml"))).collect()
}

/// Loads the settings; the error names the offending key.
pub fn load(config_path: Option<&Path>) -> Result<(Settings, Vec<String>), String> {
    let mut builder = config::Config::builder();
    let run_mode = std::env::var("RUN_MODE").ok();
    for file in config_files(run_mode.as_deref()).into_iter().filter(|f| f.exists()) {
        builder = builder.add_source(config::File::new(&file.to_string_lossy(), config::FileFormat::Yaml));
    }
    if let Some(path) = config_path {
        if !path.exists() {
            return Err(format!("configuration file {} does not exist", path.display()));
        }
        builder = builder.add_source(config::File::new(&path.to_string_lossy(), config::FileFormat::Yaml));
    }
    builder = builder.add_source(
        config::Environment::with_prefix("QDRANT").prefix_separator("__").separator("__").try_parsing(true),
    );
    let raw = builder.build().map_err(|e| format!("invalid configuration: {e}"))?;
    let mut unknown = Vec::new();
    let settings: Settings = serde_ignored::deserialize(raw, |path| unknown.push(path.to_string()))
        .map_err(|e| format!("invalid configuration: {e}"))?;
    let strict: Vec<&str> = unknown
        .iter()
        .map(String::as_str)
        .filter(|key| ["service.", "tls.", "cluster.p2p."].iter().any(|section| key.starts_with(section)))
        .collect();
    if !strict.is_empty() {
        return Err(format!(
            "invalid configuration: unknown key {}: Quiver does not honour it (keys under service, tls and \
             cluster.p2p are never ignored)",
            strict.join(", ")
        ));
    }
    validate(&settings)?;
    validate_security(&settings)?;
    Ok((settings, unknown))
}

fn validate(settings: &Settings) -> Result<(), String> {
    if settings.storage.snapshots_config.snapshots_storage != "local" {
        return Err(
            "invalid configuration: storage.snapshots_config.snapshots_storage: only `local` is supported".into()
        );
    }
    if settings.service.max_request_size_mb == 0 {
        return Err("invalid configuration: service.max_request_size_mb must be at least 1".into());
    }
    if settings.storage.wal.wal_capacity_mb == 0 {
        return Err("invalid configuration: storage.wal.wal_capacity_mb must be at least 1".into());
    }
    if settings.storage.collection.replication_factor == Some(0) {
        return Err("invalid configuration: storage.collection.replication_factor must be at least 1".into());
    }
    if settings.storage.collection.write_consistency_factor == Some(0) {
        return Err("invalid configuration: storage.collection.write_consistency_factor must be at least 1".into());
    }
    for key in ["incoming_shard_transfers_limit", "outgoing_shard_transfers_limit"] {
        if let Some(value) = settings.storage.performance.get(key)
            && !value.is_null()
            && !value.is_u64()
        {
            return Err(format!(
                "invalid configuration: storage.performance.{key} must be a non-negative integer or null"
            ));
        }
    }
    if let Some(prefix) = &settings.service.metrics_prefix
        && !valid_metrics_prefix(prefix)
    {
        return Err(format!(
            "invalid configuration: service.metrics_prefix `{prefix}`: use letters, digits and `_`, not starting with a digit"
        ));
    }
    if settings.cluster.enabled && settings.cluster.p2p.port.is_none() {
        return Err("invalid configuration: cluster.p2p.port is required when cluster.enabled is true".into());
    }
    Ok(())
}

/// A prefix that keeps metric names valid (`[a-zA-Z_][a-zA-Z0-9_]*`).
fn valid_metrics_prefix(prefix: &str) -> bool {
    prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !prefix.starts_with(|c: char| c.is_ascii_digit())
}

/// `storage.performance.*_shard_transfers_limit`: absent → 1, `null` → unlimited.
fn transfers_limit(performance: &serde_json::Value, key: &str) -> Option<usize> {
    match performance.get(key) {
        None => Some(1),
        Some(value) => value.as_u64().map(|limit| limit as usize),
    }
}

impl Settings {
    /// The node-level part of the settings.
    pub fn node_config(&self) -> quiver_node::NodeConfig {
        let s = &self.storage;
        let hnsw = HnswConfig {
            m: s.hnsw_index.m,
            ef_construct: s.hnsw_index.ef_construct,
            full_scan_threshold: s.hnsw_index.full_scan_threshold_kb,
            max_indexing_threads: s.hnsw_index.max_indexing_threads,
            on_disk: Some(s.hnsw_index.on_disk),
            payload_m: s.hnsw_index.payload_m,
            inline_storage: None,
            memory: None,
        };
        let o = &s.optimizers;
        let optimizers = OptimizersConfig {
            deleted_threshold: o.deleted_threshold,
            vacuum_min_vector_number: o.vacuum_min_vector_number,
            default_segment_number: o.default_segment_number,
            max_segment_size: o.max_segment_size_kb,
            memmap_threshold: o.memmap_threshold_kb,
            indexing_threshold: o.indexing_threshold_kb,
            flush_interval_sec: o.flush_interval_sec,
            max_optimization_threads: o.max_optimization_threads,
            prevent_unoptimized: None,
        };
        quiver_node::NodeConfig {
            storage_path: s.storage_path.clone(),
            snapshots_path: s.snapshots_path.clone(),
            replication_factor: s.collection.replication_factor.unwrap_or(1),
            write_consistency_factor: s.collection.write_consistency_factor.unwrap_or(1),
            shard_number: s.collection.shard_number,
            on_disk_payload: s.on_disk_payload,
            max_collections: s.max_collections,
            hnsw,
            optimizers,
            wal: WalConfig {
                wal_capacity_mb: s.wal.wal_capacity_mb,
                wal_segments_ahead: s.wal.wal_segments_ahead,
                wal_retain_closed: 1,
            },
            peer_id: self.cluster.peer_id,
            listener: s.node_type == NodeType::Listener,
            shard_transfer_method: s.shard_transfer_method,
            incoming_transfers_limit: transfers_limit(&s.performance, "incoming_shard_transfers_limit"),
            outgoing_transfers_limit: transfers_limit(&s.performance, "outgoing_shard_transfers_limit"),
            wal_delta_retention_bytes: s.wal.delta_retention_mb.saturating_mul(1024 * 1024),
            snapshot_url_recovery: self.service.enable_snapshot_url_recovery,
            snapshot_max_bytes: s.snapshots_config.max_snapshot_size_mb.saturating_mul(1024 * 1024),
            replica_grace_period: match self.cluster.replica_grace_period_sec {
                0 => None,
                seconds => Some(std::time::Duration::from_secs(seconds)),
            },
            rebalance: self.cluster.rebalance,
            digest_check_interval: match self.cluster.digest_check_interval_sec {
                0 => None,
                seconds => Some(std::time::Duration::from_secs(seconds)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(change: impl FnOnce(&mut Settings)) -> Result<(), String> {
        let mut settings = Settings::default();
        change(&mut settings);
        validate_security(&settings)
    }

    #[test]
    fn security_settings_that_cannot_be_honoured_stop_startup() {
        assert!(with(|_| {}).is_ok());
        let named = |change: fn(&mut Settings), key: &str| {
            let error = with(change).unwrap_err();
            assert!(error.contains(key), "{error}");
        };
        named(|s| s.service.hardware_reporting = Some(true), "service.hardware_reporting");
        named(|s| s.cluster.p2p.connection_pool_size = Some(IgnoredAny), "cluster.p2p.connection_pool_size");
        named(|s| s.service.jwt_rbac = Some(true), "service.jwt_rbac");
        named(|s| s.service.verify_https_client_certificate = true, "service.verify_https_client_certificate");
        named(|s| s.tls.cert_ttl = Some(0), "tls.cert_ttl");
        named(
            |s| {
                s.service.api_key = Some("k".into());
                s.service.enforce_internal_auth = Some(false);
            },
            "service.enforce_internal_auth",
        );
        assert!(with(|s| s.service.hardware_reporting = Some(false)).is_ok());
        assert!(
            with(|s| {
                s.service.api_key = Some("k".into());
                s.service.jwt_rbac = Some(true);
                s.service.enforce_internal_auth = Some(true);
            })
            .is_ok()
        );
        // A read-only key alone cannot protect the p2p port of a cluster; standalone it may.
        named(
            |s| {
                s.cluster.enabled = true;
                s.service.read_only_api_key = Some("ro".into());
            },
            "service.read_only_api_key",
        );
        assert!(with(|s| s.service.read_only_api_key = Some("ro".into())).is_ok());
        assert!(
            with(|s| {
                s.cluster.enabled = true;
                s.service.api_key = Some("k".into());
                s.service.read_only_api_key = Some("ro".into());
            })
            .is_ok()
        );
        // An empty key is no key: it cannot sign tokens.
        assert!(
            with(|s| {
                s.service.api_key = Some(String::new());
                s.service.jwt_rbac = Some(true);
            })
            .is_err()
        );
    }

    #[test]
    fn configuration_files_in_qdrants_order() {
        let names = |mode| config_files(mode).into_iter().map(|p| p.display().to_string()).collect::<Vec<_>>();
        assert_eq!(names(None), ["config/config.yaml", "config/development.yaml", "config/local.yaml"]);
        assert_eq!(names(Some("production")), ["config/config.yaml", "config/production.yaml", "config/local.yaml"]);
    }

    #[test]
    fn metrics_prefix_must_keep_names_valid() {
        assert!(valid_metrics_prefix("qdrant_") && valid_metrics_prefix("Q1_"));
        assert!(!valid_metrics_prefix("1q") && !valid_metrics_prefix("q-") && !valid_metrics_prefix("q "));
    }
}
