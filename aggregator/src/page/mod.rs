//! The fleet page and the JSON it reads. `GET /` serves one HTML page whose script and style
//! are embedded in the binary at build time (no CDN, no web fonts: it works offline); the page
//! polls `GET /api/v1/fleet` and, for the node it shows, `GET /api/v1/nodes/{node}`, and
//! re-renders in place (no reload). `GET /api/v1/findings` is the same open findings for
//! scripts, with filters. Every route here sits behind the bearer token when one is configured
//! (the page then asks for it once and keeps it in a same-site cookie, see [`crate::auth`]),
//! except the static script and style, which hold no data.
//!
//! The JSON is built purely from the node store's view ([`fleet`], [`detail`]); the handlers
//! only wire HTTP to it. Bad input (an unknown query parameter, an unknown severity, a filter or
//! node name over 256 bytes) is a 400 naming the problem; an unknown node is a 404. At most
//! [`MAX_CONCURRENT_BUILDS`] fleet or findings answers are built at once (each walks every
//! node, on the blocking pool); beyond, after 2 s of waiting, 503 with `Retry-After: 1`.

pub mod detail;
pub mod fleet;

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hvscope_common::clock::now_ms;
use tokio::sync::Semaphore;

use crate::config::StorageConfig;
use crate::http::HttpState;

/// The page.
pub const INDEX_HTML: &str = include_str!("assets/index.html");
/// Its script.
pub const APP_JS: &str = include_str!("assets/app.js");
/// Its style.
pub const APP_CSS: &str = include_str!("assets/app.css");
/// What a browser gets instead of the page without a token (asks for it, sets the cookie).
pub const LOGIN_HTML: &str = include_str!("assets/login.html");

/// The staleness rules the page applies, as the liveness series do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    /// A node silent longer than this is not up.
    pub stale_after_ms: i64,
    /// Every node of a rack silent within this of each other: the rack is down.
    pub rack_window_ms: i64,
}

impl Liveness {
    /// The rules of `[storage]`.
    pub fn of(s: &StorageConfig) -> Self {
        let ms = |secs: u64| i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        Self {
            stale_after_ms: ms(s.node_stale_after_secs),
            rack_window_ms: ms(s.rack_down_window_secs),
        }
    }
}

impl Default for Liveness {
    fn default() -> Self {
        Self::of(&StorageConfig::default())
    }
}

/// Content security policy of the page: nothing but its own origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

/// The login page (served by the token check in place of the page).
pub fn login_page() -> Response {
    let mut r = asset("text/html; charset=utf-8", LOGIN_HTML);
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    r
}

/// Page JSON answers built at once (each walks every node); more wait for a slot up to
/// 2 s, then get 503 with `Retry-After: 1`.
pub const MAX_CONCURRENT_BUILDS: usize = 4;
/// How long a request waits for a build slot.
const SLOT_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// What the page's handlers read: the HTTP state and the build slots.
#[derive(Clone)]
struct PageState {
    http: HttpState,
    slots: Arc<Semaphore>,
}

/// A build slot, or the 503 to answer.
async fn slot(s: &PageState) -> Result<tokio::sync::OwnedSemaphorePermit, Response> {
    match tokio::time::timeout(SLOT_WAIT, s.slots.clone().acquire_owned()).await {
        Ok(Ok(p)) => Ok(p),
        _ => Err((
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            format!("{MAX_CONCURRENT_BUILDS} page requests are being answered; retry\n"),
        )
            .into_response()),
    }
}

async fn fleet_json(State(s): State<PageState>) -> Response {
    let permit = match slot(&s).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let s = s.http;
    let live = s.liveness;
    let view = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        fleet::fleet(s.store.view(false).nodes, now_ms(), &live)
    })
    .await;
    match view {
        Ok(v) => Json(v).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

async fn findings_json(
    State(s): State<PageState>,
    Query(q): Query<fleet::FindingsQuery>,
) -> Response {
    let filter = match fleet::Filter::new(q) {
        Ok(f) => f,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    let permit = match slot(&s).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let store = s.http.store;
    let view = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        fleet::findings(store.view(false).nodes, &filter, now_ms())
    })
    .await;
    match view {
        Ok(v) => Json(v).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

async fn node_json(State(s): State<PageState>, Path(node): Path<String>) -> Response {
    let s = s.http;
    if node.len() > fleet::MAX_FILTER_BYTES {
        return (
            StatusCode::BAD_REQUEST,
            format!(
                "node name is {} bytes, over the {}-byte limit\n",
                node.len(),
                fleet::MAX_FILTER_BYTES
            ),
        )
            .into_response();
    }
    let Some(view) = s.store.node_view(&node, true) else {
        return (StatusCode::NOT_FOUND, format!("no node {node:?}\n")).into_response();
    };
    let live = s.liveness;
    let store = s.store.clone();
    match tokio::task::spawn_blocking(move || detail::detail(view, store.db(), now_ms(), &live))
        .await
    {
        Ok(d) => Json(d).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

/// The page's script and style: static, no data in them, served without a token so that the
/// login form can use them (the caller adds them outside the token check).
pub fn static_router() -> Router {
    Router::new()
        .route(
            "/assets/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/assets/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
}

/// The page and its JSON (the caller adds the token check).
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/api/v1/fleet", get(fleet_json))
        .route("/api/v1/findings", get(findings_json))
        .route("/api/v1/nodes/{node}", get(node_json))
        .with_state(PageState {
            http: state,
            slots: Arc::new(Semaphore::new(MAX_CONCURRENT_BUILDS)),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn busy_build_slots_answer_503_with_retry_after() {
        let http = HttpState {
            store: Arc::new(crate::nodes::NodeStore::default()),
            metrics: Arc::new(crate::metrics::Metrics::default()),
            remote_read: Default::default(),
            auth: None,
            liveness: Liveness::default(),
        };
        let s = PageState {
            http,
            slots: Arc::new(Semaphore::new(1)),
        };
        let held = slot(&s).await.expect("a free slot");
        let busy = slot(&s).await.expect_err("no slot left");
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "1");
        drop(held);
        assert!(slot(&s).await.is_ok(), "a released slot is reused");
        assert_eq!(Liveness::default().stale_after_ms, 60_000);
    }
}
