//! The orchestrator's routers: the service port (gRPC and HTTP on one listener) and the
//! CLI port (`/status`, `/metrics`, `/healthz`). Each handler lives with its concern:
//! `grpc.rs`, `segment.rs`, `payment.rs`, `callbacks.rs`, `jobs.rs`, `health.rs`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use reel_net::http as wire;

use super::callbacks::{self, JOB_RESULTS_PATH};
use super::state::Inner;
use super::{byoc, grpc, health, jobs, payment, segment};

/// Everything on the service port: gRPC, the HTTP endpoints, and the job kinds'.
pub(super) fn service(inner: &Arc<Inner>) -> Router {
    grpc::routes(Arc::clone(inner))
        .merge(http(Arc::clone(inner)))
        .merge(jobs::routes(inner))
        .merge(byoc::routes(inner))
}

/// The orchestrator's HTTP endpoints on the service port.
fn http(inner: Arc<Inner>) -> Router {
    Router::new()
        .route(wire::SEGMENT_PATH, post(segment::segment))
        .route(wire::PAYMENT_PATH, post(payment::payment))
        .route("/transcodeResults", post(callbacks::transcode_results))
        .route("/transcoder/input/{task}", get(callbacks::task_input))
        .route("/worker/input/{task}", get(callbacks::job_input))
        .route(JOB_RESULTS_PATH, post(callbacks::job_results))
        .route("/results/{token}/{file}", get(segment::result_file))
        .with_state(inner)
}

/// `/status`, `/metrics` and `/healthz` on the CLI port.
pub(super) fn cli(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/healthz", get(health::healthz))
        .with_state(inner)
}

async fn status(State(inner): State<Arc<Inner>>) -> Response {
    axum::Json(super::status::status(&inner)).into_response()
}

async fn metrics(State(inner): State<Arc<Inner>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        inner.metrics.registry.render(),
    )
        .into_response()
}
