//! From the security settings to what the other crates take: the API's key and token checks
//! (`quiver_api::auth`), the p2p key and mutual TLS (`quiver_transport::PeerSecurity`), and the
//! TLS configuration of the public listeners. Keys are never logged.

use crate::settings::Settings;
use quiver_api::auth::AuthConfig;
use quiver_transport::tls::{ServerTls, TlsFiles};
use quiver_transport::{PeerKey, PeerSecurity, PeerTls};
use std::sync::Arc;
use std::time::Duration;

/// ALPN of the REST listener (axum serves both) and of the gRPC listener (HTTP/2 only).
pub const REST_ALPN: &[&[u8]] = &[b"h2", b"http/1.1"];
pub const GRPC_ALPN: &[&[u8]] = &[b"h2"];

fn non_empty(key: &Option<String>) -> Option<&str> {
    key.as_deref().filter(|k| !k.is_empty())
}

/// `tls.*`.
pub fn tls_files(settings: &Settings) -> TlsFiles {
    let tls = &settings.tls;
    TlsFiles {
        cert: tls.cert.clone(),
        key: tls.key.clone(),
        ca_cert: tls.ca_cert.clone(),
        reload_after: tls.cert_ttl.map(Duration::from_secs),
    }
}

/// The keys of the REST and gRPC APIs.
pub fn auth_config(settings: &Settings) -> AuthConfig {
    let service = &settings.service;
    AuthConfig {
        api_key: service.api_key.clone(),
        alt_api_key: service.alt_api_key.clone(),
        read_only_api_key: service.read_only_api_key.clone(),
        jwt_rbac: service.jwt_rbac == Some(true),
    }
}

/// The TLS configuration of the REST or gRPC listener when `service.enable_tls` is on; client
/// certificates are required with `service.verify_https_client_certificate`.
pub fn public_tls(settings: &Settings, alpn: &'static [&'static [u8]]) -> Result<Option<Arc<ServerTls>>, String> {
    if !settings.service.enable_tls {
        return Ok(None);
    }
    let verify = settings.service.verify_https_client_certificate;
    quiver_transport::tls::server_tls(&tls_files(settings), verify, alpn).map(Some).map_err(|e| {
        let keys = if verify { "tls.cert, tls.key, tls.ca_cert" } else { "tls.cert, tls.key" };
        format!("service.enable_tls: cannot set up TLS ({keys}): {e}")
    })
}

/// How p2p calls are protected: every call carries the key derived from `service.api_key` (the
/// alternative key is accepted too, for rotations; never the read-only key, which every reader
/// holds: settings refuse a cluster with only a read-only key), and `cluster.p2p.enable_tls` adds
/// mutual TLS with `tls.*`.
pub fn peer_security(settings: &Settings) -> Result<PeerSecurity, String> {
    let service = &settings.service;
    let keys: Vec<&str> =
        [non_empty(&service.api_key), non_empty(&service.alt_api_key)].into_iter().flatten().collect();
    let accept: Vec<PeerKey> = keys.iter().map(|k| PeerKey::derive(k)).collect();
    let tls = match settings.cluster.p2p.enable_tls {
        false => None,
        true => {
            let files = tls_files(settings);
            let failed = |e: std::io::Error| {
                format!("cluster.p2p.enable_tls: cannot set up TLS (tls.cert, tls.key, tls.ca_cert): {e}")
            };
            let server = quiver_transport::tls::server_tls(&files, true, GRPC_ALPN).map_err(failed)?;
            let client = quiver_transport::tls::client_tls(&files).map_err(failed)?;
            Some(PeerTls { server, client })
        }
    };
    Ok(PeerSecurity { send: accept.first().cloned(), accept, tls })
}

/// Qdrant does not warn; we do: a key sent over plain HTTP on a non-loopback address can be read
/// on the network.
pub fn warn_about_clear_text(settings: &Settings) {
    let service = &settings.service;
    let any_key = [&service.api_key, &service.alt_api_key, &service.read_only_api_key]
        .into_iter()
        .any(|k| non_empty(k).is_some());
    let host = service.host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if any_key && !service.enable_tls && !loopback {
        tracing::warn!(
            host = %service.host,
            "an API key is set but service.enable_tls is false: keys and tokens travel in clear text; enable TLS or bind service.host to a loopback address"
        );
    }
    if any_key && settings.cluster.enabled && !settings.cluster.p2p.enable_tls && !loopback {
        tracing::warn!("cluster.p2p.enable_tls is false: p2p traffic (not the API key itself) travels unencrypted");
    }
}
