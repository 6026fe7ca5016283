//! The HTTP API: `GET /api/v1/nodes` (JSON view of nodes and findings), `GET /metrics`
//! (self-metrics), `GET /-/healthy`. Handlers only wire HTTP to the node store and metrics.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use crate::metrics::Metrics;
use crate::nodes::NodeStore;

/// What the handlers read.
#[derive(Clone)]
pub struct HttpState {
    pub store: Arc<NodeStore>,
    pub metrics: Arc<Metrics>,
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
        s.metrics.render(s.store.len()),
    )
}

/// The router.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/api/v1/nodes", get(nodes))
        .route("/metrics", get(metrics))
        .route("/-/healthy", get(|| async { "ok\n" }))
        .with_state(state)
}
