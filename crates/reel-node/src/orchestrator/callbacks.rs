//! What remote transcoders and job workers (and this node's worker processes) call back:
//! `GET /transcoder/input/…` and `/worker/input/…` for a task's input, `POST
//! /transcodeResults` and `/jobResults` with its result, each behind the transcoder secret.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::output::{OutRendition, Output, WorkError};
use super::state::Inner;

/// Header values a transcoder sends with its results (go-livepeer's).
pub const TRANSCODER_AUTH: &str = "Livepeer-Transcoder-1.0";
/// Content type of a transcoder's error answer.
pub const TRANSCODING_ERROR: &str = "livepeer/transcoding-error";
/// Where job workers post results.
pub const JOB_RESULTS_PATH: &str = "/jobResults";
/// Content type of a job worker's error answer: a JSON `{"status", "message"}`.
pub const JOB_ERROR: &str = "livepeer/job-error";

fn transcoder_authorized(inner: &Inner, headers: &HeaderMap) -> bool {
    let given = headers
        .get("credentials")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    inner.transcoder_kind(given).is_some()
}

/// A result posted back also names the protocol in `Authorization`, as go-livepeer's workers do.
fn results_authorized(inner: &Inner, headers: &HeaderMap) -> bool {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    auth == TRANSCODER_AUTH && transcoder_authorized(inner, headers)
}

pub(super) async fn task_input(
    State(inner): State<Arc<Inner>>,
    Path(task): Path<i64>,
    headers: HeaderMap,
) -> Response {
    if !transcoder_authorized(&inner, &headers) {
        return (StatusCode::UNAUTHORIZED, "invalid credentials\n").into_response();
    }
    match inner.work.remotes.input(task) {
        Some(data) => ([(header::CONTENT_TYPE, "video/mp2t")], data).into_response(),
        None => (StatusCode::NOT_FOUND, "no such task\n").into_response(),
    }
}

pub(super) async fn job_input(
    State(inner): State<Arc<Inner>>,
    Path(task): Path<i64>,
    headers: HeaderMap,
) -> Response {
    if !transcoder_authorized(&inner, &headers) {
        return (StatusCode::UNAUTHORIZED, "invalid credentials\n").into_response();
    }
    match inner.work.remotes.job_input(task) {
        Some((ct, data)) => ([(header::CONTENT_TYPE, ct)], data).into_response(),
        None => (StatusCode::NOT_FOUND, "no such task\n").into_response(),
    }
}

/// A job worker's answer: the output with its units, or an error with its status.
pub(super) async fn job_results(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if !results_authorized(&inner, &headers) {
        return (StatusCode::UNAUTHORIZED, "invalid credentials\n").into_response();
    }
    let header_str = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(task) = header_str("taskid").and_then(|v| v.trim().parse::<i64>().ok()) else {
        return (StatusCode::BAD_REQUEST, "missing TaskId\n").into_response();
    };
    let max = reel_net::http::Limits::default().max_result_bytes;
    let bytes = match tokio::time::timeout(Duration::from_secs(30), axum::body::to_bytes(body, max))
        .await
    {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return (StatusCode::PAYLOAD_TOO_LARGE, format!("{e}\n")).into_response(),
        Err(_) => return (StatusCode::REQUEST_TIMEOUT, "too slow\n").into_response(),
    };
    let ct = header_str(header::CONTENT_TYPE.as_str())
        .unwrap_or_default()
        .to_owned();
    let result = if ct.starts_with(JOB_ERROR) {
        Err(job_error_of(&bytes))
    } else {
        match header_str(reel_jobs::wire::UNITS).and_then(|u| u.trim().parse::<u64>().ok()) {
            Some(units) => Ok(reel_jobs::JobOutput {
                content_type: ct,
                body: bytes,
                units,
            }),
            None => Err(reel_jobs::JobError::Failed(format!(
                "the worker's result has no {} header",
                reel_jobs::wire::UNITS
            ))),
        }
    };
    if inner.work.remotes.complete_job(task, result) {
        StatusCode::OK.into_response()
    } else {
        (StatusCode::NOT_FOUND, "no such task waiting\n").into_response()
    }
}

/// A worker's error answer, keeping its status class (a bad request stays a bad request).
fn job_error_of(body: &[u8]) -> reel_jobs::JobError {
    use reel_jobs::JobError as E;
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let message = v["message"].as_str().map_or_else(
        || String::from_utf8_lossy(&body[..body.len().min(1024)]).into_owned(),
        str::to_owned,
    );
    match v["status"].as_u64() {
        Some(400) => E::BadRequest(message),
        Some(404) => E::UnknownModel {
            kind: "job".into(),
            model: message,
        },
        Some(415) => E::UnsupportedMedia(message),
        Some(422) => E::Unprocessable(message),
        Some(503) => E::Busy(message),
        _ => E::Failed(message),
    }
}

pub(super) async fn transcode_results(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if !results_authorized(&inner, &headers) {
        return (StatusCode::UNAUTHORIZED, "invalid credentials\n").into_response();
    }
    let Some(task) = headers
        .get("taskid")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
    else {
        return (StatusCode::BAD_REQUEST, "missing TaskId\n").into_response();
    };
    let max = inner.settings.max_segment_bytes.saturating_mul(2);
    let bytes = match tokio::time::timeout(Duration::from_secs(30), axum::body::to_bytes(body, max))
        .await
    {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return (StatusCode::PAYLOAD_TOO_LARGE, format!("{e}\n")).into_response(),
        Err(_) => return (StatusCode::REQUEST_TIMEOUT, "too slow\n").into_response(),
    };
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let result = if ct.starts_with(TRANSCODING_ERROR) {
        Err(WorkError::TranscoderFailed {
            id: 0,
            message: String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).into_owned(),
        })
    } else {
        parse_results(&headers, ct, &bytes)
    };
    if inner.work.remotes.complete(task, None, result) {
        StatusCode::OK.into_response()
    } else {
        (StatusCode::NOT_FOUND, "no such task waiting\n").into_response()
    }
}

fn parse_results(headers: &HeaderMap, ct: &str, body: &[u8]) -> Result<Output, WorkError> {
    let bad = |why: String| WorkError::TranscoderFailed {
        id: 0,
        message: why,
    };
    let boundary = reel_media::multipart::boundary(ct)
        .ok_or_else(|| bad("results are not multipart/mixed".into()))?;
    let parts = reel_media::multipart::parse(boundary, body).map_err(|e| bad(e.to_string()))?;
    let decoded_pixels = headers
        .get("pixels")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut renditions = Vec::new();
    for (i, p) in parts.into_iter().enumerate() {
        let ctype = p.header("Content-Type").unwrap_or_default();
        if ctype.starts_with("application/octet-stream") {
            // A perceptual hash part; not used.
            continue;
        }
        let pixels = p
            .header("Pixels")
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| bad(format!("part {i} has no Pixels header")))?;
        renditions.push(OutRendition {
            name: p
                .header("Rendition-Name")
                .map_or_else(|| format!("rendition-{i}"), str::to_owned),
            data: p.body,
            pixels,
        });
    }
    Ok(Output {
        decoded_pixels,
        renditions,
        worker: "remote".into(),
    })
}
