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
//! node name over 256 bytes) is a 400 naming the problem; an unknown node is a 404.

pub mod detail;
pub mod fleet;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hvscope_common::clock::now_ms;

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

async fn fleet_json(State(s): State<HttpState>) -> Response {
    let live = s.liveness;
    let view = tokio::task::spawn_blocking(move || {
        fleet::fleet(s.store.view(false).nodes, now_ms(), &live)
    })
    .await;
    match view {
        Ok(v) => Json(v).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

async fn findings_json(
    State(s): State<HttpState>,
    Query(q): Query<fleet::FindingsQuery>,
) -> Response {
    let filter = match fleet::Filter::new(q) {
        Ok(f) => f,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    let nodes = s.store.view(false).nodes;
    Json(fleet::findings(nodes, &filter, now_ms())).into_response()
}

async fn node_json(State(s): State<HttpState>, Path(node): Path<String>) -> Response {
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
        .with_state(state)
}
