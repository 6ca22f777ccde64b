//! The orchestrator's front door, request by request: what it refuses and how
//! (see docs/faults.md#oversized-and-endless-bodies, #bad-segment-metadata, #segment-urls-and-ssrf,
//! #transcoder-registration-and-disconnects, #floods-and-busy-orchestrators).

use std::time::Duration;

use reel_net::http::{self as wire, BodyKind};
use reel_net::proto;
use reel_node::gateway::discovery::get_orchestrator;
use reel_node::metrics::Registry;
use reel_node::ratelimit::RateSettings;
use reel_node::transcoder::TranscoderSettings;
use reel_testkit::wait_until;
use tokio_util::sync::CancellationToken;

use crate::support::*;

/// The manifest of this file's segments.
const FRONT_DOOR: &[u8] = b"front-door";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_before_any_work() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let segs = segments(dir.path(), 1);
    let shutdown = CancellationToken::new();
    let mut s = orch_settings(dir.path());
    s.max_sessions = 1;
    let orch = start_orch(s, &shutdown).await;
    let c = Client::new(orch.uri(), FRONT_DOOR);
    let info = c.session().await.unwrap();
    assert_eq!(info.transcoder, orch.uri().to_string());
    assert_eq!(info.address, orch.address().to_vec());
    let ts = segs[0].clone();

    // A body that is not what was signed: 403.
    let seg = c.seg_data(&info, 0, &ts);
    let mut flipped = ts.clone();
    flipped[1000] ^= 1;
    let (st, body) = c.post(&seg, BodyKind::Inline, flipped).await;
    assert_eq!(st, 403, "{body:?}");
    assert!(String::from_utf8_lossy(&body).contains("does not match"));

    // A forged auth token: 403.
    let mut forged = seg.clone();
    forged.auth_token.as_mut().unwrap().token[0] ^= 1;
    let (st, body) = c.post(&forged, BodyKind::Inline, ts.clone()).await;
    assert_eq!(st, 403);
    assert!(String::from_utf8_lossy(&body).contains("invalid auth token"));
    // Refused before its body is read, an upload larger than the sockets' buffers still
    // gets the answer, not a reset connection.
    let (st, body) = c.post(&forged, BodyKind::Inline, vec![0u8; 12 << 20]).await;
    assert_eq!(st, 403);
    assert!(String::from_utf8_lossy(&body).contains("invalid auth token"));

    // Signed by someone else than the gateway the session was issued to: 403.
    let other = Client::new(orch.uri(), FRONT_DOOR);
    let mut stolen = seg.clone();
    reel_net::signed::sign_seg_data(&other.signer, &mut stolen).unwrap();
    let (st, _) = c.post(&stolen, BodyKind::Inline, ts.clone()).await;
    assert_eq!(st, 403);

    // A segment by URL pointing at loopback (the CLI port): refused, never fetched.
    let url = format!("http://{}/status", orch.cli_addr().unwrap());
    let mut by_url = c.seg_data(&info, 0, &ts);
    by_url.hash = wire::segment_hash(&ts).to_vec();
    reel_net::signed::sign_seg_data(&c.signer, &mut by_url).unwrap();
    let (st, body) = c.post(&by_url, BodyKind::Uri, url.into_bytes()).await;
    assert_eq!(st, 400);
    assert!(
        String::from_utf8_lossy(&body).contains("not a public address"),
        "{body:?}"
    );

    // The honest request works: early 200, then a signed TranscodeResult.
    let (st, body) = c.post(&seg, BodyKind::Inline, ts.clone()).await;
    assert_eq!(st, 200);
    let result = wire::decode_transcode_result(&body, &wire::Limits::default()).unwrap();
    let Some(proto::transcode_result::Result::Data(data)) = result.result else {
        panic!("{result:?}");
    };
    assert_eq!(data.segments.len(), 1);
    let r = c
        .http
        .get(&data.segments[0].url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    reel_net::signed::verify_transcode_result(orch.address(), &[wire::segment_hash(&r)], &data.sig)
        .unwrap();
    assert!(result.info.is_some(), "fresh info rides on the result");

    // One session is the limit: a second gateway is capped at discovery.
    let err = other.session().await.unwrap_err();
    assert_eq!(
        err.failure_kind(),
        Some(reel_node::FailureKind::Capped),
        "{err}"
    );
    shutdown.cancel();
    orch.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_are_rate_limited_per_client() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let mut s = orch_settings(dir.path());
    s.rate = RateSettings {
        per_second: 1.0,
        burst: 3.0,
        max_clients: 100,
    };
    s.tls = false;
    let orch = start_orch(s, &shutdown).await;
    let c = Client::new(orch.uri(), FRONT_DOOR);
    let mut results = Vec::new();
    for _ in 0..6 {
        results.push(c.session().await.map(|_| ()).map_err(|e| e.to_string()));
    }
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 3, "{results:?}");
    assert!(results[5].as_ref().unwrap_err().contains("rate limit"));
    shutdown.cancel();
    orch.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transcoder_with_the_wrong_secret_stops_with_a_clear_error() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let mut s = orch_settings(dir.path());
    s.orch_secret = Some("the-right-secret".into());
    let orch = start_orch(s, &shutdown).await;
    let ts = TranscoderSettings::new(orch.uri().clone(), "the-wrong-secret".into());
    let err = tokio::time::timeout(
        Duration::from_secs(10),
        reel_node::transcoder::run(ts, Registry::new(), shutdown.child_token()),
    )
    .await
    .expect("a refusal is final, not retried")
    .unwrap_err();
    assert!(
        matches!(err, reel_node::NodeError::RegistrationRefused { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("invalid secret"), "{err}");
    assert!(orch.status().transcoders.is_empty());
    shutdown.cancel();
    orch.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transcoder_comes_back_after_the_orchestrator_restarts() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let mut s = orch_settings(dir.path());
    s.orch_secret = Some("the-right-secret".into());
    s.tls = false;
    let first_stop = shutdown.child_token();
    let orch = start_orch(s.clone(), &first_stop).await;
    let uri = orch.uri().clone();
    let mut ts = TranscoderSettings::new(uri.clone(), "the-right-secret".into());
    ts.backoff_min = Duration::from_millis(200);
    ts.backoff_max = Duration::from_millis(400);
    let t = transcoder_registered(
        &orch,
        ts,
        shutdown.child_token(),
        "the transcoder to connect",
    )
    .await;
    orch.stop().await;
    // Same address again.
    s.http_addr = std::net::SocketAddr::new(uri.host.parse().unwrap(), uri.port);
    let orch = start_orch(s, &shutdown).await;
    wait_until(
        "the transcoder to reconnect",
        Duration::from_secs(10),
        async || (!orch.status().transcoders.is_empty()).then_some(()),
    )
    .await
    .expect("no reconnection");
    shutdown.cancel();
    t.await.unwrap().unwrap();
    orch.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_off_chain_gateway_gets_an_anonymous_session() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let segs = segments(dir.path(), 1);
    let shutdown = CancellationToken::new();
    let orch = start_orch(orch_settings(dir.path()), &shutdown).await;
    let c = Client::new(orch.uri(), FRONT_DOOR);
    // What a go-livepeer gateway without an account sends: no address, no signature.
    let (info, _) = get_orchestrator(
        orch.uri(),
        proto::OrchestratorRequest::default(),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let mut seg = c.seg_data(&info, 0, &segs[0]);
    seg.sig.clear();
    let (st, body) = c.post(&seg, BodyKind::Inline, segs[0].clone()).await;
    assert_eq!(st, 200);
    let r = wire::decode_transcode_result(&body, &wire::Limits::default()).unwrap();
    assert!(
        matches!(r.result, Some(proto::transcode_result::Result::Data(_))),
        "{r:?}"
    );
    // A malformed signature is still refused, anonymous or not.
    let bad = proto::OrchestratorRequest {
        address: vec![1; 20],
        sig: vec![2; 65],
        ..Default::default()
    };
    assert!(
        get_orchestrator(orch.uri(), bad, Duration::from_secs(5))
            .await
            .is_err()
    );
    shutdown.cancel();
    orch.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transcoder_pinned_to_another_certificate_stops_before_sending_the_secret() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let mut s = orch_settings(dir.path());
    s.orch_secret = Some("the-right-secret".into());
    let orch = start_orch(s, &shutdown).await;
    let real = orch
        .cert_sha256()
        .expect("a TLS orchestrator has a fingerprint");

    // A wrong pin: refused at the handshake, final, and the orchestrator saw no registration.
    let wrong: reel_node::tls::CertPin = "ab".repeat(32).parse().unwrap();
    let mut ts = TranscoderSettings::new(orch.uri().clone(), "the-right-secret".into());
    ts.orch_cert_sha256 = Some(wrong);
    let err = tokio::time::timeout(
        Duration::from_secs(10),
        reel_node::transcoder::run(ts, Registry::new(), shutdown.child_token()),
    )
    .await
    .expect("a certificate mismatch is final, not retried")
    .unwrap_err();
    assert!(matches!(err, reel_node::NodeError::Tls { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&real.to_string()),
        "names what it saw: {text}"
    );
    assert!(
        text.contains(&wrong.to_string()),
        "and what it wanted: {text}"
    );
    assert!(text.contains("--orch-cert-sha256"), "{text}");
    assert!(orch.status().transcoders.is_empty());

    // The right pin registers.
    let mut ts = TranscoderSettings::new(orch.uri().clone(), "the-right-secret".into());
    ts.orch_cert_sha256 = Some(real);
    let t = transcoder_registered(
        &orch,
        ts,
        shutdown.child_token(),
        "the pinned transcoder to register",
    )
    .await;
    shutdown.cancel();
    t.await.unwrap().unwrap();
    orch.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_port_beyond_loopback_needs_cli_public() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let any: std::net::SocketAddr = "0.0.0.0:0".parse().unwrap();
    let mut s = orch_settings(dir.path());
    s.cli_addr = Some(any);
    let err = reel_node::orchestrator::start(
        s.clone(),
        reel_node::ephemeral_signer().unwrap(),
        None,
        Registry::new(),
        reel_node::tasks::Tasks::with_shutdown(shutdown.child_token()),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("--cli-public"), "{err}");
    let mut ts = TranscoderSettings::new(
        reel_node::rpc::ServiceUri::parse("https://127.0.0.1:1").unwrap(),
        "a-shared-secret".into(),
    );
    ts.cli_addr = Some(any);
    let err = reel_node::transcoder::run(ts, Registry::new(), shutdown.child_token())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--cli-public"), "{err}");
    // Said explicitly, it is served there.
    s.cli_public = true;
    let orch = start_orch(s, &shutdown).await;
    assert!(orch.cli_addr().unwrap().ip().is_unspecified());
    shutdown.cancel();
    orch.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_on_a_public_chain_does_not_dial_private_orchestrators() {
    use reel_node::gateway::discovery::{Candidate, discover};
    init_logs();
    // Something listening on loopback, as an orchestrator's registered URI might name.
    let probe = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = probe.local_addr().unwrap().port();
    let cand = |uri: &str| Candidate {
        uri: reel_node::rpc::ServiceUri::parse(uri).unwrap(),
        address: None,
        stake: 0.0,
    };
    let mut job = reel_net::capabilities::Capabilities::default();
    job.offered
        .insert(reel_net::capabilities::Capability::AuthToken);
    let req = proto::OrchestratorRequest::default();
    let cands = [
        cand(&format!("http://127.0.0.1:{port}")),
        cand(&format!("http://localhost:{port}")),
        cand("http://169.254.169.254:80"),
        cand("http://10.1.2.3:8935"),
    ];
    let (found, failed) = discover(&cands, &req, &job, 4, Duration::from_millis(50), false).await;
    assert!(found.is_empty());
    assert_eq!(failed.len(), 4, "{failed:?}");
    for (uri, why) in &failed {
        assert!(why.contains("not a public address"), "{uri}: {why}");
    }
    // None of them was dialled.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), probe.accept())
            .await
            .is_err(),
        "the gateway connected to a loopback address"
    );

    // Allowed (an --orch-addr list, a development chain), a local orchestrator is used.
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let orch = start_orch(orch_settings(dir.path()), &shutdown).await;
    let local = [Candidate {
        uri: orch.uri().clone(),
        address: None,
        stake: 0.0,
    }];
    let (found, failed) = discover(&local, &req, &job, 1, Duration::from_millis(500), true).await;
    assert_eq!(found.len(), 1, "{failed:?}");
    let (found, _) = discover(&local, &req, &job, 1, Duration::from_millis(500), false).await;
    assert!(found.is_empty());
    shutdown.cancel();
    orch.stop().await;
}

/// Runs a remote transcoder with `ts` until `stop`, once `orch` lists it as registered.
async fn transcoder_registered(
    orch: &reel_node::orchestrator::RunningOrchestrator,
    ts: TranscoderSettings,
    stop: CancellationToken,
    what: &str,
) -> tokio::task::JoinHandle<Result<(), reel_node::NodeError>> {
    let t = tokio::spawn(reel_node::transcoder::run(ts, Registry::new(), stop));
    wait_until(what, Duration::from_secs(10), async || {
        (!orch.status().transcoders.is_empty()).then_some(())
    })
    .await
    .unwrap();
    t
}
