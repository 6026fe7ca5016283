//! The gRPC port's TLS: a server configuration re-read when the certificate files change, an
//! accept loop that completes handshakes off the accept path (with a timeout), and the node
//! identity taken from the verified client certificate (DNS SAN, else CN) and attached to the
//! connection, so the ingest handler never has to trust the payload.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hvscope_common::tls::{CertInfo, FilesStamp, TlsError, TlsFiles, cert_info};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tonic::transport::server::Connected;
use tracing::{debug, info, warn};

use crate::metrics::{Metrics, RejectReason};

/// Who is on the other end of a connection, from its verified certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The node name: the certificate's first DNS SAN, else its CN.
    pub node: String,
    pub remote: Option<std::net::SocketAddr>,
}

/// A TLS connection whose client certificate was verified.
pub struct TlsConn {
    inner: TlsStream<TcpStream>,
    peer: PeerIdentity,
}

impl Connected for TlsConn {
    type ConnectInfo = PeerIdentity;
    fn connect_info(&self) -> PeerIdentity {
        self.peer.clone()
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

struct Loaded {
    stamp: FilesStamp,
    config: Arc<rustls::ServerConfig>,
    checked: Instant,
}

/// The server TLS configuration, reloaded from disk when the files change (checked at most
/// once a second, on the accept path).
pub struct ServerTls {
    files: TlsFiles,
    loaded: Mutex<Loaded>,
    metrics: Arc<Metrics>,
}

impl ServerTls {
    /// Loads the files now; failure here is fatal (the aggregator cannot serve without them).
    pub fn load(files: TlsFiles, metrics: Arc<Metrics>) -> Result<Self, TlsError> {
        let stamp = files.stamp();
        let (config, info) = files.server_config()?;
        metrics
            .cert_not_after
            .store(info.not_after, Ordering::Relaxed);
        Ok(Self {
            files,
            loaded: Mutex::new(Loaded {
                stamp,
                config,
                checked: Instant::now(),
            }),
            metrics,
        })
    }

    /// The configuration to use for a new connection.
    pub fn current(&self) -> Arc<rustls::ServerConfig> {
        let mut l = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if l.checked.elapsed() >= Duration::from_secs(1) {
            l.checked = Instant::now();
            let stamp = self.files.stamp();
            if stamp != l.stamp {
                match self.files.server_config() {
                    Ok((config, CertInfo { not_after, .. })) => {
                        info!(cert = %self.files.cert.display(), not_after, "tls files reloaded");
                        self.metrics
                            .cert_not_after
                            .store(not_after, Ordering::Relaxed);
                        l.config = config;
                        l.stamp = stamp;
                    }
                    Err(error) => {
                        // Keep serving with the previous files; retry on the next change.
                        warn!(%error, "tls files changed but cannot be loaded; keeping the old ones");
                        l.stamp = stamp;
                    }
                }
            }
        }
        l.config.clone()
    }
}

/// Classifies a failed handshake.
fn classify(e: &io::Error) -> RejectReason {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::NoCertificatesPresented) => RejectReason::NoClientCertificate,
        Some(rustls::Error::InvalidCertificate(_)) => RejectReason::UntrustedCertificate,
        _ => RejectReason::Handshake,
    }
}

/// Logs at most one warning per interval per reason; the rest go to debug. Anything a network
/// peer can trigger must not flood the node's in-RAM journal.
struct LogLimiter {
    last: Mutex<[Option<Instant>; 4]>,
}

impl LogLimiter {
    fn allow(&self, r: RejectReason) -> bool {
        let i = r as usize;
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match last[i] {
            Some(t) if now.duration_since(t) < Duration::from_secs(10) => false,
            _ => {
                last[i] = Some(now);
                true
            }
        }
    }
}

async fn handshake(
    tls: &ServerTls,
    tcp: TcpStream,
    timeout: Duration,
) -> Result<TlsConn, (RejectReason, String)> {
    let remote = tcp.peer_addr().ok();
    let _ = tcp.set_nodelay(true);
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
    let stream = match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
        Err(_) => return Err((RejectReason::Handshake, "handshake timed out".into())),
        Ok(Err(e)) => return Err((classify(&e), e.to_string())),
        Ok(Ok(s)) => s,
    };
    let (_, conn) = stream.get_ref();
    let Some(leaf) = conn.peer_certificates().and_then(|c| c.first()) else {
        return Err((RejectReason::NoClientCertificate, "no certificate".into()));
    };
    let node = match cert_info(leaf) {
        Ok(CertInfo { name: Some(n), .. }) if !n.is_empty() => n,
        Ok(_) => {
            return Err((
                RejectReason::NoIdentity,
                "certificate has no DNS SAN or CN".into(),
            ));
        }
        Err(e) => return Err((RejectReason::UntrustedCertificate, e)),
    };
    Ok(TlsConn {
        inner: stream,
        peer: PeerIdentity { node, remote },
    })
}

/// Accepts TCP connections on `listener` forever, completing TLS handshakes concurrently, and
/// sends verified connections to the returned channel (the gRPC server's incoming stream).
pub fn accept_loop(
    listener: TcpListener,
    tls: Arc<ServerTls>,
    handshake_timeout: Duration,
    metrics: Arc<Metrics>,
) -> mpsc::Receiver<Result<TlsConn, io::Error>> {
    let (tx, rx) = mpsc::channel(64);
    let limiter = Arc::new(LogLimiter {
        last: Mutex::new([None; 4]),
    });
    tokio::spawn(async move {
        loop {
            let (tcp, addr) = match listener.accept().await {
                Ok(x) => x,
                Err(error) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let (tls, tx, metrics, limiter) =
                (tls.clone(), tx.clone(), metrics.clone(), limiter.clone());
            tokio::spawn(async move {
                match handshake(&tls, tcp, handshake_timeout).await {
                    Ok(conn) => {
                        debug!(node = %conn.peer.node, %addr, "tls client verified");
                        let _ = tx.send(Ok(conn)).await;
                    }
                    Err((reason, error)) => {
                        metrics.reject(reason);
                        if limiter.allow(reason) {
                            warn!(%addr, reason = reason.as_str(), %error, "connection refused");
                        } else {
                            debug!(%addr, reason = reason.as_str(), %error, "connection refused");
                        }
                    }
                }
            });
        }
    });
    rx
}

/// The HTTP port's TLS (`[http.tls]`): a server configuration re-read when the files change
/// (checked at most once a second, on the accept path, and every 2 s by the caller's reload
/// tick), speaking HTTP/1.1. With a client CA, clients must present a certificate it signed.
pub struct HttpTls {
    cert: PathBuf,
    key: PathBuf,
    client_ca: Option<PathBuf>,
    loaded: Mutex<Loaded>,
    metrics: Arc<Metrics>,
}

impl HttpTls {
    /// Loads the files now; failure here is fatal (the aggregator does not start).
    pub fn load(
        cfg: &crate::config::HttpTlsConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Self, TlsError> {
        let (cert, key, client_ca) = (cfg.cert.clone(), cfg.key.clone(), cfg.client_ca.clone());
        let stamp = Self::stamp_of(&cert, &key, client_ca.as_deref());
        let (config, not_after) = Self::build(&cert, &key, client_ca.as_deref())?;
        metrics
            .http_cert_not_after
            .store(not_after, Ordering::Relaxed);
        Ok(Self {
            metrics,
            cert,
            key,
            client_ca,
            loaded: Mutex::new(Loaded {
                stamp,
                config,
                checked: Instant::now(),
            }),
        })
    }

    fn stamp_of(cert: &Path, key: &Path, client_ca: Option<&Path>) -> FilesStamp {
        let mut paths = vec![cert, key];
        paths.extend(client_ca);
        FilesStamp::of(&paths)
    }

    fn build(
        cert: &Path,
        key: &Path,
        client_ca: Option<&Path>,
    ) -> Result<(Arc<rustls::ServerConfig>, i64), TlsError> {
        use hvscope_common::tls::{load_certs, load_key, load_roots};
        hvscope_common::tls::install_crypto_provider();
        let chain = load_certs(cert)?;
        let not_after = cert_info(&chain[0])
            .map_err(|message| TlsError::BadCertificate {
                path: cert.to_path_buf(),
                message,
            })?
            .not_after;
        let key = load_key(key)?;
        let builder = rustls::ServerConfig::builder();
        let mut cfg = match client_ca {
            Some(ca) => {
                let roots = Arc::new(load_roots(ca)?);
                let verifier = rustls::server::WebPkiClientVerifier::builder(roots)
                    .build()
                    .map_err(|e| TlsError::Verifier(e.to_string()))?;
                builder
                    .with_client_cert_verifier(verifier)
                    .with_single_cert(chain, key)?
            }
            None => builder.with_no_client_auth().with_single_cert(chain, key)?,
        };
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok((Arc::new(cfg), not_after))
    }

    /// The configuration for a new connection (re-read first if the files changed; a broken
    /// new set keeps the old one and logs why).
    pub fn current(&self) -> Arc<rustls::ServerConfig> {
        let mut l = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if l.checked.elapsed() >= Duration::from_secs(1) {
            l.checked = Instant::now();
            let stamp = Self::stamp_of(&self.cert, &self.key, self.client_ca.as_deref());
            if stamp != l.stamp {
                l.stamp = stamp;
                match Self::build(&self.cert, &self.key, self.client_ca.as_deref()) {
                    Ok((config, not_after)) => {
                        info!(cert = %self.cert.display(), not_after, "http tls files reloaded");
                        self.metrics
                            .http_cert_not_after
                            .store(not_after, Ordering::Relaxed);
                        l.config = config;
                    }
                    Err(error) => {
                        warn!(%error, "http tls files changed but cannot be loaded; keeping the old ones");
                    }
                }
            }
        }
        l.config.clone()
    }
}

/// Most TLS handshakes in progress on the HTTP port; further connections wait in the kernel's
/// accept queue.
const MAX_HTTP_HANDSHAKES: usize = 256;

/// An HTTPS listener for `axum::serve`: TCP accepts feed handshakes that run concurrently
/// (bounded, each with a timeout); only completed TLS connections come out of `accept`.
pub struct HttpsListener {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, std::net::SocketAddr)>,
    local: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl HttpsListener {
    /// Starts accepting on `listener`.
    pub fn new(
        listener: TcpListener,
        tls: Arc<HttpTls>,
        handshake_timeout: Duration,
    ) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, rx) = mpsc::channel(64);
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_HTTP_HANDSHAKES));
        let limiter = Arc::new(LogLimiter {
            last: Mutex::new([None; 4]),
        });
        let task = tokio::spawn(async move {
            loop {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (tcp, addr) = match listener.accept().await {
                    Ok(x) => x,
                    Err(error) => {
                        warn!(%error, "http accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let (tls, tx, limiter) = (tls.clone(), tx.clone(), limiter.clone());
                let metrics = tls.metrics.clone();
                tokio::spawn(async move {
                    let _ = tcp.set_nodelay(true);
                    let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
                    let r = tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await;
                    drop(permit);
                    let (reason, error) = match r {
                        Ok(Ok(stream)) => {
                            let _ = tx.send((stream, addr)).await;
                            return;
                        }
                        Ok(Err(e)) => (classify(&e), e.to_string()),
                        Err(_) => (RejectReason::Handshake, "handshake timed out".to_owned()),
                    };
                    metrics.reject_https(reason);
                    if limiter.allow(reason) {
                        warn!(%addr, reason = reason.as_str(), %error, "https connection refused");
                    } else {
                        debug!(%addr, reason = reason.as_str(), %error, "https connection refused");
                    }
                });
            }
        });
        Ok(Self { rx, local, task })
    }
}

impl Drop for HttpsListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl axum::serve::Listener for HttpsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(x) => x,
            // The accept task only ends when the listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HttpTlsConfig;

    #[test]
    fn http_tls_is_reread_on_change_and_a_broken_file_keeps_the_old_one() {
        let dir = std::env::temp_dir().join(format!("hvscope-http-tls-{}", std::process::id()));
        crate::certs::init(&dir, &[]).unwrap();
        let cfg = HttpTlsConfig {
            cert: dir.join("aggregator.pem"),
            key: dir.join("aggregator-key.pem"),
            client_ca: Some(dir.join("ca.pem")),
            handshake_timeout_secs: 10,
        };
        let missing = HttpTlsConfig {
            client_ca: Some(dir.join("nope.pem")),
            ..cfg.clone()
        };
        let metrics = Arc::new(Metrics::default());
        let e = HttpTls::load(&missing, metrics.clone())
            .err()
            .expect("missing client CA refused");
        assert!(e.to_string().contains("nope.pem"), "{e}");
        let tls = HttpTls::load(&cfg, metrics.clone()).unwrap();
        let expiry = metrics.http_cert_not_after.load(Ordering::Relaxed);
        assert!(expiry > 0, "the certificate's expiry is exported");
        let first = tls.current();
        assert_eq!(first.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(
            Arc::ptr_eq(&first, &tls.current()),
            "unchanged files: same config"
        );
        crate::certs::server(&dir, &dir, &["renewed.example".into()], 30).unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        let renewed = tls.current();
        assert!(!Arc::ptr_eq(&first, &renewed), "renewed files are used");
        assert!(
            metrics.http_cert_not_after.load(Ordering::Relaxed) < expiry,
            "the renewed (30-day) certificate's expiry is exported"
        );
        std::fs::write(dir.join("aggregator.pem"), "not a certificate\n").unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        assert!(
            Arc::ptr_eq(&renewed, &tls.current()),
            "a broken file keeps the old config"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
