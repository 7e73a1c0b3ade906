//! TLS over rustls with the `ring` provider (no C TLS library), shared by the p2p port and the
//! public REST and gRPC listeners (the `server` crate uses it for those).
//!
//! Configurations are rebuilt from the PEM files on disk once `reload_after` (`tls.cert_ttl`) has
//! passed, so a rotated certificate, key or CA is used by the next connection without a restart
//! (a reload that fails keeps the previous configuration and logs a warning). Handshakes of
//! accepted connections run in their own tasks, so a slow client never holds up the others.

use parking_lot::Mutex;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// How long an accepted connection may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The PEM files of a TLS configuration (`tls.cert`, `tls.key`, `tls.ca_cert`) and how often
/// they are read again (`tls.cert_ttl`; `None`: never).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca_cert: PathBuf,
    pub reload_after: Option<Duration>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn invalid(path: &Path, what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{}: {what}: {e}", path.display()))
}

fn read_certs(path: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| invalid(path, "cannot read certificates", e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(path, "bad PEM certificate", e))?;
    if certs.is_empty() {
        return Err(invalid(path, "no certificate", "the file holds no CERTIFICATE block"));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> io::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| invalid(path, "cannot read a private key", e))
}

fn read_roots(path: &Path) -> io::Result<Arc<RootCertStore>> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(path)? {
        roots.add(cert).map_err(|e| invalid(path, "bad CA certificate", e))?;
    }
    Ok(Arc::new(roots))
}

/// A server configuration from `files`: our certificate chain and key; with `client_auth`,
/// clients must present a certificate issued by `files.ca_cert`.
pub fn server_config(files: &TlsFiles, client_auth: bool, alpn: &[&[u8]]) -> io::Result<ServerConfig> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?;
    let builder = match client_auth {
        false => builder.with_no_client_auth(),
        true => {
            let roots = read_roots(&files.ca_cert)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider())
                .build()
                .map_err(|e| invalid(&files.ca_cert, "cannot verify clients with it", e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(read_certs(&files.cert)?, read_key(&files.key)?)
        .map_err(|e| invalid(&files.key, "the key does not fit the certificate", e))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// A client configuration from `files` (p2p): servers must present a certificate issued by
/// `files.ca_cert`; we present our own certificate and key.
pub fn client_config(files: &TlsFiles) -> io::Result<ClientConfig> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(read_roots(&files.ca_cert)?)
        .with_client_auth_cert(read_certs(&files.cert)?, read_key(&files.key)?)
        .map_err(|e| invalid(&files.key, "the key does not fit the certificate", e))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

type Build<T> = Box<dyn Fn() -> io::Result<T> + Send + Sync>;

/// A configuration rebuilt from disk once it is older than `every`.
pub struct Reloading<T> {
    build: Build<T>,
    every: Option<Duration>,
    current: Mutex<(Instant, Arc<T>)>,
}

impl<T> Reloading<T> {
    /// Builds the first configuration now (its error is the caller's to report).
    pub fn new(every: Option<Duration>, build: impl Fn() -> io::Result<T> + Send + Sync + 'static) -> io::Result<Self> {
        let first = build()?;
        Ok(Reloading { build: Box::new(build), every, current: Mutex::new((Instant::now(), Arc::new(first))) })
    }

    /// The current configuration, rebuilt first if it is due.
    pub fn get(&self) -> Arc<T> {
        let mut current = self.current.lock();
        if self.every.is_some_and(|every| current.0.elapsed() >= every) {
            current.0 = Instant::now();
            match (self.build)() {
                Ok(config) => {
                    current.1 = Arc::new(config);
                    tracing::debug!("TLS certificates reloaded from disk");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "TLS certificates could not be reloaded; keeping the previous ones")
                }
            }
        }
        Arc::clone(&current.1)
    }
}

/// A server configuration that follows its files on disk.
pub type ServerTls = Reloading<ServerConfig>;
/// A client configuration that follows its files on disk.
pub type ClientTls = Reloading<ClientConfig>;

/// A [`ServerTls`] for `files` (see [`server_config`]).
pub fn server_tls(files: &TlsFiles, client_auth: bool, alpn: &'static [&'static [u8]]) -> io::Result<Arc<ServerTls>> {
    let owned = files.clone();
    Reloading::new(files.reload_after, move || server_config(&owned, client_auth, alpn)).map(Arc::new)
}

/// A [`ClientTls`] for `files` (see [`client_config`]).
pub fn client_tls(files: &TlsFiles) -> io::Result<Arc<ClientTls>> {
    let owned = files.clone();
    Reloading::new(files.reload_after, move || client_config(&owned)).map(Arc::new)
}

/// An accepted connection whose TLS handshake is complete.
pub struct TlsConnection {
    stream: tokio_rustls::server::TlsStream<TcpStream>,
    remote: SocketAddr,
}

impl TlsConnection {
    /// The client's address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote
    }
}

impl AsyncRead for TlsConnection {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConnection {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

impl tonic::transport::server::Connected for TlsConnection {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        tonic::transport::server::TcpConnectInfo {
            local_addr: self.stream.get_ref().0.local_addr().ok(),
            remote_addr: Some(self.remote),
        }
    }
}

/// The connections of a TLS listener, handshakes done ([`accept_tls`]). Dropping it stops the
/// accept loop.
pub struct TlsIncoming {
    connections: mpsc::Receiver<TlsConnection>,
    local: SocketAddr,
}

impl TlsIncoming {
    /// The next connection (pends forever once the listener failed).
    pub async fn next_connection(&mut self) -> TlsConnection {
        match self.connections.recv().await {
            Some(connection) => connection,
            None => std::future::pending().await,
        }
    }

    /// The listener's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// As a stream of connections, for tonic's `serve_with_incoming*`.
    pub fn into_stream(self) -> impl futures::Stream<Item = io::Result<TlsConnection>> + Send + 'static {
        ConnectionStream(self.connections)
    }
}

struct ConnectionStream(mpsc::Receiver<TlsConnection>);

impl futures::Stream for ConnectionStream {
    type Item = io::Result<TlsConnection>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|c| c.map(Ok))
    }
}

/// Accepts TCP connections on `listener` and runs each TLS handshake (with the configuration
/// current at that moment) in a task of its own; failed handshakes are dropped.
pub fn accept_tls(listener: TcpListener, tls: Arc<ServerTls>) -> io::Result<TlsIncoming> {
    let local = listener.local_addr()?;
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = tx.closed() => return,
            };
            let (tcp, remote) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.get());
            let tx = tx.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let _ = tx.send(TlsConnection { stream, remote }).await;
                    }
                    Ok(Err(e)) => tracing::debug!(%remote, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%remote, "TLS handshake timed out"),
                }
            });
        }
    });
    Ok(TlsIncoming { connections: rx, local })
}

/// Connects p2p channels over TLS: TCP to the URI's host and port, then a handshake that checks
/// the server's certificate against the CA and the URI's host, presenting our certificate.
#[derive(Clone)]
pub(crate) struct TlsConnector {
    pub(crate) tls: Arc<ClientTls>,
}

type Connecting = Pin<Box<dyn std::future::Future<Output = io::Result<TlsIo>> + Send>>;
type TlsIo = hyper_util::rt::TokioIo<tokio_rustls::client::TlsStream<TcpStream>>;

impl tonic::codegen::Service<http::Uri> for TlsConnector {
    type Response = TlsIo;
    type Error = io::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let config = self.tls.get();
        Box::pin(async move {
            let host = uri.host().ok_or_else(|| io::Error::other(format!("no host in {uri}")))?;
            let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
            let port = uri.port_u16().unwrap_or(6335);
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            let _ = tcp.set_nodelay(true);
            let name = ServerName::try_from(host).map_err(io::Error::other)?;
            let stream = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await?;
            Ok(hyper_util::rt::TokioIo::new(stream))
        })
    }
}
