//! The HTTP/1.1 client of one shard: one kept-alive connection (TCP, or TLS with the target's
//! CA and optional client certificate), re-made after any error; a connect timeout and a
//! timeout on the whole exchange. It sends one request body and classifies the answer the way
//! Prometheus' remote-write does: 2xx stored; 5xx, 429 and network errors are worth retrying
//! (with the receiver's `Retry-After`, when it gives one); any other status is final.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, HOST, HeaderName, HeaderValue, RETRY_AFTER};
use http::{Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::config::RemoteWriteConfig;

/// Longest part of an error answer kept for the log.
const MAX_MESSAGE_BYTES: usize = 1024;

/// A target's client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("remote-write {target}: bad url {url:?}: {message}")]
    Url {
        target: String,
        url: String,
        message: String,
    },
    #[error("remote-write {target}: tls: {source}")]
    Tls {
        target: String,
        #[source]
        source: hvscope_common::tls::TlsError,
    },
    #[error("remote-write {target}: header {name:?}: {message}")]
    Header {
        target: String,
        name: String,
        message: String,
    },
}

/// What the receiver made of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: stored.
    Stored,
    /// Network error, timeout, 5xx or 429: send it again (not before `after`, when given).
    Retry {
        status: Option<u16>,
        after: Option<Duration>,
        message: String,
    },
    /// Any other status: the receiver will never take this request.
    Refused { status: u16, message: String },
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

#[derive(Debug, Clone)]
enum Auth {
    None,
    Bearer(PathBuf),
    Basic {
        user: String,
        password_file: PathBuf,
    },
}

/// One shard's connection to a target.
pub struct Client {
    uri: Uri,
    host: String,
    port: u16,
    tls: Option<(TlsConnector, rustls_pki_types::ServerName<'static>)>,
    headers: Vec<(HeaderName, HeaderValue)>,
    auth: Auth,
    connect_timeout: Duration,
    timeout: Duration,
    conn: Option<SendRequest<Full<Bytes>>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("uri", &self.uri).finish()
    }
}

fn first_line(path: &PathBuf) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.lines().next().unwrap_or_default().trim().to_owned())
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn base64(input: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for c in input.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl Client {
    /// The client for `cfg` (TLS files read now; the token and password files per request).
    pub fn new(cfg: &RemoteWriteConfig) -> Result<Self, ClientError> {
        let target = cfg.name().to_owned();
        let url_err = |message: &str| ClientError::Url {
            target: target.clone(),
            url: cfg.url.clone(),
            message: message.to_owned(),
        };
        let uri: Uri = cfg
            .url
            .parse()
            .map_err(|e: http::uri::InvalidUri| url_err(&e.to_string()))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(url_err("scheme must be http or https")),
        };
        let host = uri.host().ok_or_else(|| url_err("no host"))?.to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tls = match (&cfg.tls, https) {
            (Some(t), true) => {
                hvscope_common::tls::install_crypto_provider();
                let tls_err = |source| ClientError::Tls {
                    target: target.clone(),
                    source,
                };
                let roots = hvscope_common::tls::load_roots(&t.ca).map_err(tls_err)?;
                let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
                let config = match (&t.cert, &t.key) {
                    (Some(cert), Some(key)) => {
                        let certs = hvscope_common::tls::load_certs(cert).map_err(tls_err)?;
                        let key = hvscope_common::tls::load_key(key).map_err(tls_err)?;
                        builder
                            .with_client_auth_cert(certs, key)
                            .map_err(|e| tls_err(e.into()))?
                    }
                    _ => builder.with_no_client_auth(),
                };
                let name = t.server_name.clone().unwrap_or_else(|| {
                    host.trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_owned()
                });
                let server = rustls_pki_types::ServerName::try_from(name)
                    .map_err(|e| url_err(&format!("server name: {e}")))?;
                Some((TlsConnector::from(Arc::new(config)), server))
            }
            (None, true) => return Err(url_err("https needs [remote_write.tls] ca")),
            (_, false) => None,
        };
        let mut headers = Vec::new();
        for (name, value) in &cfg.headers {
            let header_err = |message: String| ClientError::Header {
                target: target.clone(),
                name: name.clone(),
                message,
            };
            let n =
                HeaderName::from_bytes(name.as_bytes()).map_err(|e| header_err(e.to_string()))?;
            let v = HeaderValue::from_str(value).map_err(|e| header_err(e.to_string()))?;
            headers.push((n, v));
        }
        let auth = match (&cfg.bearer_token_file, &cfg.basic_auth) {
            (Some(f), _) => Auth::Bearer(f.clone()),
            (None, Some(b)) => Auth::Basic {
                user: b.username.clone(),
                password_file: b.password_file.clone(),
            },
            (None, None) => Auth::None,
        };
        Ok(Self {
            uri,
            host,
            port,
            tls,
            headers,
            auth,
            connect_timeout: Duration::from_secs(cfg.queue.connect_timeout_secs.max(1)),
            timeout: Duration::from_secs(cfg.queue.timeout_secs.max(1)),
            conn: None,
        })
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let addr = (
            self.host.trim_start_matches('[').trim_end_matches(']'),
            self.port,
        );
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {}:{}: {e}", self.host, self.port))?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = match &self.tls {
            Some((connector, name)) => Box::new(
                connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| format!("tls handshake with {}: {e}", self.host))?,
            ),
            None => Box::new(tcp),
        };
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| format!("http handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(send)
    }

    fn request(&self, body: Bytes) -> Result<Request<Full<Bytes>>, String> {
        let path = self
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let authority = self
            .uri
            .authority()
            .map_or(self.host.as_str(), |a| a.as_str());
        let mut b = Request::post(path).header(HOST, authority);
        for (n, v) in super::codec::HEADERS {
            b = b.header(n, v);
        }
        b = b.header(
            "user-agent",
            concat!("hvscope-aggregator/", env!("CARGO_PKG_VERSION")),
        );
        for (n, v) in &self.headers {
            b = b.header(n, v);
        }
        match &self.auth {
            Auth::None => {}
            Auth::Bearer(f) => b = b.header(AUTHORIZATION, format!("Bearer {}", first_line(f)?)),
            Auth::Basic {
                user,
                password_file,
            } => {
                let pw = first_line(password_file)?;
                b = b.header(
                    AUTHORIZATION,
                    format!("Basic {}", base64(format!("{user}:{pw}").as_bytes())),
                );
            }
        }
        b.body(Full::new(body)).map_err(|e| e.to_string())
    }

    async fn fresh(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        tokio::time::timeout(self.connect_timeout, self.connect())
            .await
            .map_err(|_| format!("connect to {}:{} timed out", self.host, self.port))?
    }

    async fn exchange(&mut self, body: Bytes) -> Result<(u16, Option<Duration>, String), String> {
        let kept = self.conn.take().filter(|s| !s.is_closed());
        let reused = kept.is_some();
        let mut send = match kept {
            Some(s) => s,
            None => self.fresh().await?,
        };
        let mut sent = match send.ready().await {
            Ok(()) => send.send_request(self.request(body.clone())?).await,
            Err(e) => Err(e),
        };
        // A kept-alive connection the receiver closed meanwhile fails before any answer:
        // once more on a new connection, not counted as a failure.
        if reused
            && sent
                .as_ref()
                .is_err_and(|e| e.is_closed() || e.is_canceled())
        {
            send = self.fresh().await?;
            send.ready().await.map_err(|e| format!("connection: {e}"))?;
            sent = send.send_request(self.request(body)?).await;
        }
        let resp = sent.map_err(|e| format!("send: {e}"))?;
        let status = resp.status().as_u16();
        let after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = Limited::new(resp.into_body(), 1 << 20)
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        let mut message = String::from_utf8_lossy(&body[..body.len().min(MAX_MESSAGE_BYTES)])
            .trim()
            .to_owned();
        if message.is_empty() {
            message = format!("HTTP {status}");
        }
        self.conn = Some(send);
        Ok((status, after, message))
    }

    /// Sends one request body (already snappy-compressed) and says what came of it.
    pub async fn send(&mut self, body: Bytes) -> Outcome {
        match tokio::time::timeout(self.timeout, self.exchange(body)).await {
            Err(_) => {
                self.conn = None;
                Outcome::Retry {
                    status: None,
                    after: None,
                    message: format!("no answer within {:?}", self.timeout),
                }
            }
            Ok(Err(message)) => {
                self.conn = None;
                Outcome::Retry {
                    status: None,
                    after: None,
                    message,
                }
            }
            Ok(Ok((status, after, message))) => classify(status, after, message),
        }
    }
}

/// Prometheus' rule: 2xx stored, 5xx and 429 retried, other statuses final.
pub fn classify(status: u16, after: Option<Duration>, message: String) -> Outcome {
    match status {
        200..=299 => Outcome::Stored,
        429 | 500..=599 => Outcome::Retry {
            status: Some(status),
            after,
            message,
        },
        _ => Outcome::Refused { status, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_like_prometheus() {
        assert_eq!(classify(204, None, String::new()), Outcome::Stored);
        assert!(matches!(
            classify(503, Some(Duration::from_secs(3)), "x".into()),
            Outcome::Retry {
                status: Some(503),
                after: Some(_),
                ..
            }
        ));
        assert!(matches!(
            classify(429, None, "x".into()),
            Outcome::Retry { .. }
        ));
        assert!(matches!(
            classify(400, None, "out of order".into()),
            Outcome::Refused { status: 400, .. }
        ));
    }

    #[test]
    fn base64_of_basic_auth() {
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b""), "");
    }
}
