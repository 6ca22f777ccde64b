//! One segment to one orchestrator: `POST /segment` with the signed metadata and the
//! payment, the early 200, the `TranscodeResult`, the renditions downloaded from the
//! orchestrator, its signature checked, and (with local verification on) every rendition
//! decoded and its pixels and size compared with what the orchestrator claimed.

use std::time::{Duration, Instant};

use alloy_primitives::Address;
use bytes::Bytes;
use reel_media::{Rendition, VideoProfile};
use reel_net::http::{self as wire, BodyKind, Limits};
use reel_net::proto;
use reel_net::{B256, EthSigner};

use crate::rpc::ServiceUri;
use crate::{FailureKind, NodeError};

/// What to send.
#[derive(Debug)]
pub struct Request<'a> {
    pub manifest: &'a str,
    pub seq: u64,
    pub ts: &'a Bytes,
    pub duration: Duration,
    pub ladder: &'a [VideoProfile],
    pub auth_token: proto::AuthToken,
    pub capabilities: proto::Capabilities,
    pub payment: proto::Payment,
}

/// What came back, verified.
#[derive(Debug)]
pub struct Submitted {
    pub renditions: Vec<Rendition>,
    /// Σ pixels the orchestrator reported (what it charges for).
    pub reported_pixels: u64,
    /// Input size (decoded from the source's first frame), when verified locally.
    pub input_size: (u32, u32),
    /// Refreshed orchestrator info piggy-backed on the result.
    pub info: Option<proto::OrchestratorInfo>,
    /// When the orchestrator acknowledged the upload (the early 200).
    pub uploaded_after: Duration,
}

/// How long the upload may take (go-livepeer: max(2 s, 0.5 × duration)).
pub fn upload_timeout(dur: Duration) -> Duration {
    Duration::from_secs(2).max(dur / 2)
}

/// How long the whole call may take (go-livepeer: max(8 s, 4 × duration)).
pub fn call_timeout(dur: Duration) -> Duration {
    Duration::from_secs(8).max(dur.saturating_mul(4))
}

fn fail(uri: &ServiceUri, kind: FailureKind, detail: impl Into<String>) -> NodeError {
    NodeError::orchestrator(&uri.to_string(), kind, detail)
}

/// Classifies an error text from an orchestrator (HTTP body or `TranscodeResult.error`).
fn classify(text: &str) -> FailureKind {
    if text.contains("OrchestratorBusy") {
        FailureKind::Busy
    } else if text.contains("OrchestratorCapped") {
        FailureKind::Capped
    } else if text.contains("Insufficient balance")
        || text.contains("TicketParams expired")
        || text.contains("recipientRand")
        || text.contains("fetch fresh params")
        || text.contains("auth token")
        || text.contains("unknown session")
    {
        FailureKind::Payment
    } else {
        FailureKind::Refused
    }
}

/// Sends a segment and returns the verified renditions.
#[allow(clippy::too_many_arguments)] // the per-segment context of the caller, flat
pub async fn submit(
    http: &reqwest::Client,
    signer: &EthSigner,
    service: &ServiceUri,
    orch_address: Address,
    req: Request<'_>,
    local_verify: bool,
    on_accepted: impl FnOnce(),
) -> Result<Submitted, NodeError> {
    let t0 = Instant::now();
    // The source (its size, and with local verification its frames and a few pictures) is
    // needed only at the end: decode it on a blocking thread while the segment is uploaded
    // and transcoded. The task is bounded (one segment) and its answer is dropped if the
    // call fails first.
    let source = req.ts.clone();
    let source_size = tokio::task::spawn_blocking(move || {
        crate::verify::decode_source_for(&source, local_verify)
    });
    let mut seg = proto::SegData {
        manifest_id: req.manifest.as_bytes().to_vec(),
        seq: i64::try_from(req.seq).unwrap_or(i64::MAX),
        hash: wire::segment_hash(req.ts).to_vec(),
        duration: i32::try_from(req.duration.as_millis()).unwrap_or(i32::MAX),
        capabilities: Some(req.capabilities),
        auth_token: Some(req.auth_token),
        full_profiles3: req.ladder.iter().map(crate::profiles::to_wire).collect(),
        ..Default::default()
    };
    reel_net::signed::sign_seg_data(signer, &mut seg)?;
    let headers = wire::segment_request_headers(&seg, &req.payment, BodyKind::Inline);
    let url = format!("{}{}", service.base(), wire::SEGMENT_PATH);
    let deadline = tokio::time::Instant::now() + call_timeout(req.duration);
    let send = http.post(&url).headers(headers).body(req.ts.clone()).send();
    let resp = tokio::time::timeout(upload_timeout(req.duration), send)
        .await
        .map_err(|_| {
            fail(
                service,
                FailureKind::Timeout,
                "upload not acknowledged in time",
            )
        })?
        .map_err(|e| fail(service, FailureKind::Connect, e.to_string()))?;
    let uploaded_after = t0.elapsed();
    if !resp.status().is_success() {
        let status = resp.status();
        let text = crate::rpc::read_body(resp, 4096, deadline)
            .await
            .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
            .unwrap_or_default();
        return Err(fail(
            service,
            classify(&text),
            format!("HTTP {status}: {text}"),
        ));
    }
    // After the 200 the payment is spent (go-livepeer treats it so).
    on_accepted();
    let limits = Limits::default();
    let body = crate::rpc::read_body(resp, limits.max_result_bytes, deadline)
        .await
        .map_err(|e| {
            let kind = match e {
                crate::rpc::BodyError::Timeout => FailureKind::Timeout,
                crate::rpc::BodyError::Transport(_) => FailureKind::Connect,
                crate::rpc::BodyError::TooLarge { .. } => FailureKind::BadResult,
            };
            fail(service, kind, format!("reading the result: {e}"))
        })?;
    let result = wire::decode_transcode_result(&body, &limits)
        .map_err(|e| fail(service, FailureKind::BadResult, e.to_string()))?;
    let info = result.info;
    let data = match result.result {
        Some(proto::transcode_result::Result::Data(d)) => d,
        Some(proto::transcode_result::Result::Error(e)) => {
            return Err(fail(service, classify(&e), e));
        }
        None => return Err(fail(service, FailureKind::BadResult, "empty result")),
    };
    if data.segments.len() != req.ladder.len() {
        return Err(fail(
            service,
            FailureKind::BadResult,
            format!(
                "{} renditions for {} profiles",
                data.segments.len(),
                req.ladder.len()
            ),
        ));
    }
    // Download every rendition, from the orchestrator itself only.
    let mut downloads = Vec::with_capacity(data.segments.len());
    for s in &data.segments {
        if !service.owns(&s.url) {
            return Err(fail(
                service,
                FailureKind::BadResult,
                format!("rendition URL {} is not on the orchestrator", s.url),
            ));
        }
        downloads.push(async move {
            let r = tokio::time::timeout_at(deadline, http.get(&s.url).send())
                .await
                .map_err(|_| "timed out".to_owned())?
                .map_err(|e| e.to_string())?;
            if !r.status().is_success() {
                return Err(format!("HTTP {}", r.status()));
            }
            let blob = crate::rpc::read_body(r, Limits::default().max_segment_bytes, deadline)
                .await
                .map_err(|e| e.to_string())?;
            // Hashed as soon as it is here, while the other renditions still download.
            tokio::task::spawn_blocking(move || {
                let hash = wire::segment_hash(&blob);
                (blob, hash)
            })
            .await
            .map_err(|_| "the hashing task panicked".to_owned())
        });
    }
    let mut blobs = Vec::with_capacity(downloads.len());
    let mut hashes: Vec<B256> = Vec::with_capacity(downloads.len());
    for (i, r) in futures_join_all(downloads).await.into_iter().enumerate() {
        let (blob, hash) = r.map_err(|e| {
            fail(
                service,
                FailureKind::BadResult,
                format!("rendition {i}: {e}"),
            )
        })?;
        blobs.push(blob);
        hashes.push(hash);
    }
    reel_net::signed::verify_transcode_result(orch_address, &hashes, &data.sig).map_err(|e| {
        fail(
            service,
            FailureKind::Verification,
            format!("result signature: {e}"),
        )
    })?;
    let reported: Vec<u64> = data
        .segments
        .iter()
        .map(|s| u64::try_from(s.pixels).unwrap_or(0))
        .collect();
    let reported_pixels = reported.iter().sum();

    let ladder = req.ladder.to_vec();
    let blobs2 = blobs.clone();
    let panicked = |_| {
        fail(
            service,
            FailureKind::BadResult,
            "verification task panicked",
        )
    };
    let source = source_size.await.map_err(panicked)?;
    let checked = tokio::task::spawn_blocking(move || {
        crate::verify::check_renditions(source, &ladder, &blobs2, &reported, local_verify)
    })
    .await
    .map_err(panicked)?;
    let (input_size, decoded) =
        checked.map_err(|why| fail(service, FailureKind::Verification, why))?;
    let renditions = req
        .ladder
        .iter()
        .zip(blobs)
        .zip(decoded)
        .map(|((p, data), d)| Rendition {
            name: p.name.clone(),
            width: d.size.0,
            height: d.size.1,
            bitrate: p.bitrate,
            frames: d.frames,
            pixels: d.pixels,
            data,
        })
        .collect();
    Ok(Submitted {
        renditions,
        reported_pixels,
        input_size,
        info,
        uploaded_after,
    })
}

/// Awaits futures concurrently, keeping their order.
async fn futures_join_all<F: std::future::Future>(futs: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in pinned.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_and_classes() {
        assert_eq!(
            upload_timeout(Duration::from_secs(2)),
            Duration::from_secs(2)
        );
        assert_eq!(
            upload_timeout(Duration::from_secs(10)),
            Duration::from_secs(5)
        );
        assert_eq!(call_timeout(Duration::from_secs(1)), Duration::from_secs(8));
        assert_eq!(
            call_timeout(Duration::from_secs(4)),
            Duration::from_secs(16)
        );
        assert_eq!(classify("OrchestratorBusy"), FailureKind::Busy);
        assert_eq!(classify("OrchestratorCapped"), FailureKind::Capped);
        assert_eq!(classify("Insufficient balance"), FailureKind::Payment);
        assert_eq!(classify("decode failed"), FailureKind::Refused);
    }
}
