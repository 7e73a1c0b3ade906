//! Where a snapshot to recover comes from: a `file://` path inside the snapshots directory, or an
//! `http://` / `https://` URL downloaded (size-capped, no redirects followed) into the recovery's
//! staging directory. URL recovery can be disabled (`service.enable_snapshot_url_recovery: false`
//! → 403). TLS is rustls with the `ring` provider (no C TLS build); the trusted roots are the
//! system's (`rustls-native-certs`: `SSL_CERT_FILE` / `SSL_CERT_DIR` replace the platform store
//! when set), read again for every download. An untrusted certificate fails the download (400).

use crate::error::{NodeError, Result};
use crate::node::Node;
use crate::snapshot_recovery::file_location;
use http_body_util::BodyExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(3600);

impl Node {
    /// The local file of `location` (downloaded into `staging` for a URL).
    pub(crate) async fn fetch_snapshot(
        &self,
        location: &str,
        api_key: Option<&str>,
        staging: &Path,
    ) -> Result<PathBuf> {
        let lower = location.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            if !self.config.snapshot_url_recovery {
                return Err(NodeError::Forbidden(
                    "Snapshot recovery from URLs is disabled (service.enable_snapshot_url_recovery)".into(),
                ));
            }
            let target = staging.join("download.snapshot");
            let download = self.download(location, api_key, &target);
            tokio::time::timeout(DOWNLOAD_TIMEOUT, download)
                .await
                .map_err(|_| NodeError::Timeout(format!("downloading snapshot from {location}")))??;
            return Ok(target);
        }
        if lower.starts_with("file://") {
            return file_location(&self.snapshots_root()?, location);
        }
        Err(NodeError::BadInput(format!("Snapshot location must be an http(s):// URL or a file:// path: `{location}`")))
    }

    async fn download(&self, url: &str, api_key: Option<&str>, target: &Path) -> Result<()> {
        let failed =
            |e: &dyn std::fmt::Display| NodeError::BadInput(format!("Failed to download snapshot from {url}: {e}"));
        let uri: http::Uri = url.parse().map_err(|e| failed(&e))?;
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build::<_, http_body_util::Empty<bytes::Bytes>>(connector(https).map_err(|e| failed(&e))?);
        let mut request = http::Request::get(uri);
        if let Some(key) = api_key {
            request = request.header("api-key", key);
        }
        let request = request.body(http_body_util::Empty::new()).map_err(|e| failed(&e))?;
        let response = client.request(request).await.map_err(|e| failed(&chain(&e)))?;
        if !response.status().is_success() {
            return Err(failed(&format!("HTTP status {}", response.status())));
        }
        let max = self.config.snapshot_max_bytes;
        let declared = response.headers().get(http::header::CONTENT_LENGTH);
        if declared.and_then(|v| v.to_str().ok()?.parse::<u64>().ok()).is_some_and(|len| len > max) {
            return Err(NodeError::BadInput(format!("Snapshot is larger than the limit of {max} bytes")));
        }
        let mut file = tokio::fs::File::create(target).await.map_err(|e| NodeError::Service(format!("{e}")))?;
        let mut body = response.into_body();
        let mut written = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| failed(&e))?;
            let Some(data) = frame.data_ref() else { continue };
            written += data.len() as u64;
            if written > max {
                return Err(NodeError::BadInput(format!("Snapshot is larger than the limit of {max} bytes")));
            }
            file.write_all(data).await.map_err(|e| NodeError::Service(format!("store download: {e}")))?;
        }
        file.sync_all().await.map_err(|e| NodeError::Service(format!("store download: {e}")))?;
        Ok(())
    }
}

/// An HTTP connector that also speaks TLS (rustls, `ring`). Only an `https` download loads the
/// system's trusted roots, so `http://` works on a machine without any.
fn connector(
    https: bool,
) -> std::io::Result<hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>> {
    let provider = rustls::crypto::ring::default_provider();
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = match https {
        true => builder.with_provider_and_native_roots(provider).map_err(|e| {
            std::io::Error::other(format!("cannot load trusted root certificates (SSL_CERT_FILE): {e}"))
        })?,
        false => builder.with_tls_config(
            rustls::ClientConfig::builder_with_provider(provider.into())
                .with_safe_default_protocol_versions()
                .map_err(std::io::Error::other)?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        ),
    };
    Ok(builder.https_or_http().enable_http1().build())
}

/// An error with its causes (a TLS failure is the source of hyper's "client error (Connect)").
fn chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}
