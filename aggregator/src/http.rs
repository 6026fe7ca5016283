//! The HTTP API: `GET /` (the fleet page) with `GET /api/v1/fleet`, `GET /api/v1/findings`
//! and `GET /api/v1/nodes/{node}` (see [`crate::page`]), `GET /api/v1/nodes` (JSON view of nodes
//! and findings), `GET /metrics` (self-metrics), `GET /-/healthy`, and `POST /api/v1/read`
//! (Prometheus remote-read, see [`crate::remote_read`]). Served over HTTPS with `[http.tls]`
//! ([`crate::tls::HttpsListener`]). Handlers only wire HTTP to the node store and metrics. With a
//! bearer token file configured, every route but `/-/healthy` requires a token
//! ([`crate::auth`]).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use crate::auth::{AuthState, require_token};
use crate::config::RemoteReadConfig;
use crate::metrics::Metrics;
use crate::nodes::NodeStore;
use crate::remote_read::handler::{self as read, ReadState};

/// What the handlers read.
#[derive(Clone)]
pub struct HttpState {
    pub store: Arc<NodeStore>,
    pub metrics: Arc<Metrics>,
    pub remote_read: RemoteReadConfig,
    /// Bearer-token protection, when configured.
    pub auth: Option<AuthState>,
    /// Staleness rules the page and its JSON apply.
    pub liveness: crate::page::Liveness,
}

#[derive(Deserialize)]
struct NodesQuery {
    /// Include every series with its latest value.
    #[serde(default)]
    series: bool,
}

async fn nodes(State(s): State<HttpState>, Query(q): Query<NodesQuery>) -> impl IntoResponse {
    Json(s.store.view(q.series))
}

async fn metrics(State(s): State<HttpState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(
            s.store.len(),
            s.store.stale_markers(),
            &s.store.db().stats(),
        ),
    )
}

/// The router.
pub fn router(state: HttpState) -> Router {
    let reads = ReadState::new(
        state.store.db().clone(),
        state.metrics.clone(),
        state.remote_read.clone(),
    );
    let auth = state.auth.clone();
    let mut api = Router::new()
        .route("/api/v1/nodes", get(nodes))
        .route("/metrics", get(metrics))
        .with_state(state.clone())
        .merge(crate::page::router(state))
        .merge(read::router(reads));
    if let Some(auth) = auth {
        api = api.route_layer(axum::middleware::from_fn_with_state(auth, require_token));
    }
    api.route("/-/healthy", get(|| async { "ok\n" }))
        .merge(crate::page::static_router())
}
