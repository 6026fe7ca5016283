//! Optional bearer-token protection of the HTTP port. The token file holds one token per line
//! (several lines: rotation without downtime; blank lines and surrounding whitespace ignored);
//! it is re-read when its modification time or size changes, checked on each request (one
//! `stat`). Tokens are compared in constant time. `/-/healthy` stays open; every other route
//! (`/api/v1/read`, `/api/v1/nodes`, `/metrics`) answers 401 without `Authorization: Bearer
//! <token>` naming a current token, or the cookie `hvscope_token=<token>` that the fleet page's
//! login form sets (same-site strict, so another site cannot send it). A browser asking for
//! an HTML page without a token gets that form (with 401). A token file that becomes unreadable or empty keeps the
//! tokens last read (and logs why), so an operator's half-finished edit cannot open the port.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hvscope_common::tls::FilesStamp;
use tracing::{info, warn};

use crate::metrics::Metrics;

/// The token file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("bearer token file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("bearer token file {path} holds no token")]
    Empty { path: PathBuf },
}

/// The tokens of a token file's text: its non-blank lines, trimmed.
pub fn parse_tokens(text: &str) -> Vec<Vec<u8>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| l.as_bytes().to_vec())
        .collect()
}

/// Equality of two byte strings in time independent of their contents (the length is not
/// secret: every token has its own).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // Keep the comparison from being turned into an early-exit loop.
    std::hint::black_box(diff) == 0
}

/// Whether an `Authorization` header value carries one of `tokens` (scheme case-insensitive,
/// as RFC 7235 says).
pub fn authorized(header: Option<&[u8]>, tokens: &[Vec<u8>]) -> bool {
    let Some(h) = header else {
        return false;
    };
    let Some(scheme) = h.get(..7) else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return false;
    }
    let given = h[7..].trim_ascii();
    // Every token is compared, so the time does not tell which one (nearly) matched.
    tokens.iter().fold(false, |ok, t| ct_eq(given, t) | ok)
}

struct Cached {
    stamp: FilesStamp,
    tokens: Arc<Vec<Vec<u8>>>,
}

/// A token file, re-read when it changes.
pub struct TokenFile {
    path: PathBuf,
    cached: Mutex<Cached>,
}

fn read_tokens(path: &Path) -> Result<Vec<Vec<u8>>, AuthError> {
    let text = std::fs::read_to_string(path).map_err(|source| AuthError::Read {
        path: path.to_owned(),
        source,
    })?;
    let tokens = parse_tokens(&text);
    if tokens.is_empty() {
        return Err(AuthError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(tokens)
}

impl TokenFile {
    /// Reads `path`; an unreadable or empty file is an error (the aggregator does not start).
    pub fn load(path: &Path) -> Result<Self, AuthError> {
        let stamp = FilesStamp::of(&[path]);
        let tokens = read_tokens(path)?;
        Ok(Self {
            path: path.to_owned(),
            cached: Mutex::new(Cached {
                stamp,
                tokens: Arc::new(tokens),
            }),
        })
    }

    /// The current tokens, re-reading the file if it changed.
    pub fn tokens(&self) -> Arc<Vec<Vec<u8>>> {
        let stamp = FilesStamp::of(&[self.path.as_path()]);
        let mut c = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if stamp != c.stamp {
            c.stamp = stamp;
            match read_tokens(&self.path) {
                Ok(t) => {
                    info!(path = %self.path.display(), tokens = t.len(), "bearer token file re-read");
                    c.tokens = Arc::new(t);
                }
                Err(error) => {
                    warn!(%error, "bearer token file changed but is unusable; keeping the tokens read before");
                }
            }
        }
        c.tokens.clone()
    }
}

/// What the middleware needs.
#[derive(Clone)]
pub struct AuthState {
    pub tokens: Arc<TokenFile>,
    pub metrics: Arc<Metrics>,
}

/// Name of the cookie the fleet page's login form sets.
pub const TOKEN_COOKIE: &str = "hvscope_token";

/// The value of cookie `name` in a `Cookie` header value.
pub fn cookie<'a>(header: &'a [u8], name: &str) -> Option<&'a [u8]> {
    header.split(|&b| b == b';').find_map(|pair| {
        let pair = pair.trim_ascii();
        let eq = pair.iter().position(|&b| b == b'=')?;
        (&pair[..eq] == name.as_bytes()).then(|| &pair[eq + 1..])
    })
}

/// Whether a request's headers carry a current token (header or the page's cookie).
fn request_authorized(headers: &axum::http::HeaderMap, tokens: &[Vec<u8>]) -> bool {
    let bearer = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
    if authorized(bearer, tokens) {
        return true;
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| cookie(v.as_bytes(), TOKEN_COOKIE))
        .any(|given| tokens.iter().fold(false, |ok, t| ct_eq(given, t) | ok))
}

/// Lets a request through only with a current bearer token.
pub async fn require_token(State(s): State<AuthState>, req: Request, next: Next) -> Response {
    if request_authorized(req.headers(), &s.tokens.tokens()) {
        return next.run(req).await;
    }
    s.metrics.http_unauthorized.fetch_add(1, Ordering::Relaxed);
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .is_some_and(|a| a.as_bytes().windows(9).any(|w| w == b"text/html"));
    if req.method() == axum::http::Method::GET && req.uri().path() == "/" && wants_html {
        return crate::page::login_page();
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer realm=\"hvscope\"")],
        "missing or wrong bearer token (Authorization: Bearer <token>)\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_lines_and_comparison() {
        let t = parse_tokens("  s3cret \n\nnext-token\n");
        assert_eq!(t, vec![b"s3cret".to_vec(), b"next-token".to_vec()]);
        assert!(parse_tokens("\n  \n").is_empty());
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
        assert!(!ct_eq(b"", b"a"));
        assert!(authorized(Some(b"Bearer s3cret"), &t));
        assert!(authorized(Some(b"bearer next-token "), &t));
        assert!(!authorized(Some(b"Bearer s3cre"), &t));
        assert!(!authorized(Some(b"Bearer "), &t));
        assert!(!authorized(Some(b"Basic s3cret"), &t));
        assert!(!authorized(Some(b"s3cret"), &t));
        assert!(!authorized(Some(b"Bearer"), &t));
        assert!(!authorized(None, &t));
        assert!(!authorized(Some(b"Bearer s3cret"), &[]));
        assert_eq!(
            cookie(b"a=1; hvscope_token=s3cret", TOKEN_COOKIE),
            Some(&b"s3cret"[..])
        );
        assert_eq!(cookie(b"hvscope_token=", TOKEN_COOKIE), Some(&b""[..]));
        assert_eq!(cookie(b"xhvscope_token=s3cret", TOKEN_COOKIE), None);
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            header::COOKIE,
            "theme=dark; hvscope_token=next-token".parse().unwrap(),
        );
        assert!(request_authorized(&h, &t));
        h.insert(header::COOKIE, "hvscope_token=next-toke".parse().unwrap());
        assert!(!request_authorized(&h, &t));
    }

    #[test]
    fn file_is_reread_on_change_and_a_broken_edit_keeps_the_old_tokens() {
        let dir = std::env::temp_dir().join(format!("hvscope-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("token");
        std::fs::write(&p, "one\n").unwrap();
        let f = TokenFile::load(&p).unwrap();
        assert_eq!(*f.tokens(), vec![b"one".to_vec()]);
        std::fs::write(&p, "two-longer\n").unwrap(); // size changes: noticed at once
        assert_eq!(*f.tokens(), vec![b"two-longer".to_vec()]);
        std::fs::write(&p, "\n").unwrap();
        assert_eq!(
            *f.tokens(),
            vec![b"two-longer".to_vec()],
            "empty file ignored"
        );
        std::fs::remove_file(&p).unwrap();
        assert_eq!(
            *f.tokens(),
            vec![b"two-longer".to_vec()],
            "missing file ignored"
        );
        assert!(matches!(TokenFile::load(&p), Err(AuthError::Read { .. })));
        std::fs::write(&p, " \n").unwrap();
        assert!(matches!(TokenFile::load(&p), Err(AuthError::Empty { .. })));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
