//! The off-chain network: gateway, orchestrators and a remote transcoder, no chain, no
//! payments.

use std::time::Duration;

use reel_node::metrics::Registry;
use reel_node::transcoder::TranscoderSettings;
use reel_testkit::metrics::metric_or_zero as metric;
use reel_testkit::{Wait, media};
use tokio_util::sync::CancellationToken;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rtmp_in_hls_out_through_a_remote_transcoder() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let mut os = orch_settings(dir.path());
    os.orch_secret = Some("a-shared-secret".into());
    os.local_transcode = false;
    let orch = start_orch(os, &shutdown).await;
    assert!(orch.uri().tls, "TLS by default");

    let mut ts = TranscoderSettings::new(orch.uri().clone(), "a-shared-secret".into());
    // Pinned: the task stream, the input fetches and the result posts all take only this
    // certificate (docs/threat-model.md).
    ts.orch_cert_sha256 = orch.cert_sha256();
    ts.capacity = 2;
    ts.x264_preset = "ultrafast".into();
    ts.encoder_threads = 1;
    let t_stop = shutdown.child_token();
    let transcoder = tokio::spawn(reel_node::transcoder::run(
        ts,
        Registry::new(),
        t_stop.clone(),
    ));
    Wait::new("the transcoder to register", Duration::from_secs(10))
        .until_ok(async || match orch.status().transcoders.len() {
            1 => Ok(()),
            n => Err(format!("{n} transcoders")),
        })
        .await
        .unwrap();

    let names = ["P144p30fps16x9", "P240p30fps16x9"];
    // A third rung in AV1: fragmented MP4 from the transcoder through the gateway's checks
    // to HLS.
    let mut profiles = ladder(&names);
    let mut av1 = reel_media::VideoProfile::standard("P144p30fps16x9").unwrap();
    av1.name = "av1".into();
    av1.codec = reel_media::profile::VideoCodec::Av1;
    profiles.push(av1);
    let gw = start_gateway(vec![orch.uri().clone()], profiles, true, &shutdown).await;
    let rtmp = gw.rtmp_addr().unwrap();
    let http = gw.http_addr();
    let mut events = gw.events();

    tokio::task::spawn_blocking(move || {
        media::ffmpeg(&[
            "-re",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x180:rate=30:duration=5",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=5",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "30",
            "-c:a",
            "aac",
            "-f",
            "flv",
            &format!("rtmp://{rtmp}/live/e2e"),
        ])
        .unwrap();
    })
    .await
    .unwrap();

    let client = Http::new().unwrap();
    let playlist = format!("http://{http}/stream/e2e/{}.m3u8", names[0]);
    Wait::new("the stream to end in HLS", Duration::from_secs(30))
        .every(Duration::from_millis(100))
        .until_ok(async || match client.get_text(&playlist).await {
            Ok(text) if text.contains("#EXT-X-ENDLIST") => Ok(()),
            Ok(text) => Err(text),
            Err(e) => Err(e.to_string()),
        })
        .await
        .unwrap();

    // Every rendition plays: right size, and as many frames as the source.
    let (sw, sh, source_frames) = probe(&format!("http://{http}/stream/e2e/source.m3u8"));
    assert_eq!((sw, sh), (320, 180));
    assert!(source_frames >= 140, "source frames {source_frames}");
    for (name, w, h) in [
        (names[0], 256, 144),
        (names[1], 426, 240),
        ("av1", 256, 144),
    ] {
        let (pw, ph, frames) = probe(&format!("http://{http}/stream/e2e/{name}.m3u8"));
        assert_eq!((pw, ph, frames), (w, h, source_frames), "{name}");
    }
    let av1 = media::probe_video(format!("http://{http}/stream/e2e/av1.m3u8")).unwrap();
    assert_eq!(av1.codec_name, "av1");
    let master = client
        .get_text(format!("http://{http}/stream/e2e.m3u8"))
        .await
        .unwrap();
    for n in names {
        assert!(master.contains(n), "{master}");
    }
    assert!(master.contains("CODECS=\"av01.0."), "{master}");
    assert!(master.contains("CODECS=\"avc1."), "{master}");

    // Every segment went to the one orchestrator, first try, done by the transcoder.
    let mut seen = 0;
    while let Ok(ev) = events.try_recv() {
        assert!(ev.outcome.is_ok(), "{ev:?}");
        assert_eq!(ev.attempts, 1);
        assert_eq!(ev.orchestrator, orch.uri().to_string());
        seen += 1;
    }
    assert!(seen >= 4, "{seen} segments");
    let m = orch.metrics();
    assert_eq!(
        metric(&m, "reel_segments_by_worker_total{worker=\"transcoder-1\"}"),
        f64::from(seen)
    );
    assert_eq!(
        metric(&m, "livepeer_segment_transcoded_total"),
        f64::from(seen)
    );
    let g = gw.metrics();
    assert_eq!(
        metric(&g, "livepeer_segment_transcoded_total"),
        f64::from(seen)
    );
    // The gateway's status and metrics are served on its CLI port.
    let st = get_json(&client, format!("http://{}/status", gw.cli_addr().unwrap())).await;
    assert_eq!(st["role"], "gateway");
    let ost = get_json(
        &client,
        format!("http://{}/status", orch.cli_addr().unwrap()),
    )
    .await;
    assert_eq!(ost["transcoders"][0]["capacity"], 2);

    t_stop.cancel();
    transcoder.await.unwrap().unwrap();
    shutdown.cancel();
    gw.stop().await;
    orch.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_browser_publishes_over_whip_through_the_network_to_hls() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let orch = start_orch(orch_settings(dir.path()), &shutdown).await;
    let gw = start_gateway(
        vec![orch.uri().clone()],
        ladder(&["P144p30fps16x9"]),
        false,
        &shutdown,
    )
    .await;
    let url = format!("http://{}/whip/browser", gw.http_addr());
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../reel-media/tests/browser/publish-whip.mjs");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(script)
            .args([url.as_str(), "5"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("\"connected\":\"connected\""),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let client = Http::new().unwrap();
    let playlist = format!(
        "http://{}/stream/browser/P144p30fps16x9.m3u8",
        gw.http_addr()
    );
    Wait::new("the WHIP stream to end in HLS", Duration::from_secs(30))
        .every(Duration::from_millis(100))
        .until_ok(async || match client.get_text(&playlist).await {
            Ok(text) if text.contains("#EXT-X-ENDLIST") => Ok(()),
            Ok(text) => Err(text),
            Err(e) => Err(e.to_string()),
        })
        .await
        .unwrap();
    // Paid, transcoded and checked like any stream: the content checks passed a browser's
    // own H.264.
    let (w, h, frames) = probe(&playlist);
    assert_eq!((w, h), (256, 144));
    // Frames depend on the rate Chromium keeps up under load: at least 6 a second.
    assert!(frames >= 30, "{frames} frames");
    assert_eq!(
        metric(&gw.metrics(), "reel_verification_failures_total"),
        0.0
    );
    assert!(metric(&orch.metrics(), "livepeer_segment_transcoded_total") >= 3.0);
    shutdown.cancel();
    gw.stop().await;
    orch.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_renditions_are_caught_and_the_orchestrator_is_never_used_again() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let segs = segments(dir.path(), 4);
    let shutdown = CancellationToken::new();
    let mut bad = orch_settings(&dir.path().join("bad"));
    bad.fault = Some(reel_node::orchestrator::Fault::WrongRenditions);
    let bad = start_orch(bad, &shutdown).await;
    let mut good = orch_settings(&dir.path().join("good"));
    good.tls = false; // h2c works the same
    let good = start_orch(good, &shutdown).await;
    let gw = start_gateway(
        vec![bad.uri().clone(), good.uri().clone()],
        ladder(&["P144p30fps16x9"]),
        false,
        &shutdown,
    )
    .await;
    let mut events = gw.events();
    let client = Http::new().unwrap();
    for (i, ts) in segs.iter().enumerate() {
        let (status, renditions, err) = push(&client, gw.http_addr(), "fault", i, ts).await;
        assert_eq!(status, 200, "segment {i}: {err}");
        let (name, data, pixels) = &renditions[0];
        assert_eq!(name, "P144p30fps16x9");
        let file = write_temp(dir.path(), &format!("out{i}.ts"), data);
        let (w, h, frames) = probe(file.to_str().unwrap());
        assert_eq!((w, h), (256, 144));
        assert_eq!(
            *pixels,
            frames * 256 * 144,
            "the claim matches what is in it"
        );
        let ev = events.recv().await.unwrap();
        assert_eq!(ev.orchestrator, good.uri().to_string(), "segment {i}");
        assert_eq!(ev.attempts, if i == 0 { 2 } else { 1 }, "segment {i}");
    }
    // The cheat did the first segment's work (at half size) and got nothing more.
    assert_eq!(
        metric(&bad.metrics(), "livepeer_segment_transcoded_total"),
        1.0
    );
    assert_eq!(
        metric(&good.metrics(), "livepeer_segment_transcoded_total"),
        4.0
    );
    assert_eq!(
        metric(&gw.metrics(), "reel_verification_failures_total"),
        1.0
    );
    ban_reason(&gw, bad.uri()).await;
    shutdown.cancel();
    gw.stop().await;
    bad.stop().await;
    good.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_dishonest_encode_is_caught_and_banned_with_its_evidence() {
    use reel_node::orchestrator::Fault;
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let segs = segments(dir.path(), 2);
    let p144 = || reel_media::VideoProfile::standard("P144p30fps16x9").unwrap();
    let mut vp9 = p144();
    vp9.codec = reel_media::profile::VideoCodec::Vp9;
    let two = ladder(&["P144p30fps16x9", "P240p30fps16x9"]);
    let cases = [
        (
            Fault::CheaperCodec,
            vec![vp9],
            "the rendition is H264, its profile asks for VP9",
        ),
        (Fault::WrongContent, vec![p144()], "ContentMismatch"),
        (Fault::FrozenFrames, vec![p144()], "FrozenFrames"),
        (Fault::Starved, vec![p144()], "Starved"),
        (Fault::DroppedFrames, vec![p144()], "FrameCount"),
        (Fault::SwappedRenditions, two, "expected 256x144"),
    ];
    for (fault, profiles, evidence) in cases {
        let shutdown = CancellationToken::new();
        let mut bad = orch_settings(&dir.path().join(format!("bad-{fault:?}")));
        bad.fault = Some(fault);
        let bad = start_orch(bad, &shutdown).await;
        let good = start_orch(
            orch_settings(&dir.path().join(format!("good-{fault:?}"))),
            &shutdown,
        )
        .await;
        let gw = start_gateway(
            vec![bad.uri().clone(), good.uri().clone()],
            profiles.clone(),
            false,
            &shutdown,
        )
        .await;
        let mut events = gw.events();
        let client = Http::new().unwrap();
        for (i, ts) in segs.iter().enumerate() {
            let (status, renditions, err) = push(&client, gw.http_addr(), "cheat", i, ts).await;
            assert_eq!(status, 200, "{fault:?} segment {i}: {err}");
            assert_eq!(renditions.len(), profiles.len());
            let ev = events.recv().await.unwrap();
            assert_eq!(
                ev.orchestrator,
                good.uri().to_string(),
                "{fault:?} segment {i}"
            );
        }
        // The cheat was paid for its one attempt, refused, and never asked again.
        assert_eq!(
            metric(&gw.metrics(), "reel_verification_failures_total"),
            1.0,
            "{fault:?}"
        );
        assert_eq!(
            metric(&bad.metrics(), "livepeer_segment_transcoded_total"),
            1.0,
            "{fault:?}"
        );
        let reason = ban_reason(&gw, bad.uri()).await;
        assert!(reason.contains(evidence), "{fault:?}: {reason}");
        shutdown.cancel();
        gw.stop().await;
        bad.stop().await;
        good.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_trusted_verifier_catches_wrong_pictures_without_local_checks() {
    use reel_node::gateway::GatewaySettings;
    use reel_node::gateway::discovery::ListSource;
    use reel_node::node::GatewayBuilder;
    use reel_node::tasks::Tasks;
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let segs = segments(dir.path(), 3);
    let shutdown = CancellationToken::new();
    let mut bad = orch_settings(&dir.path().join("bad"));
    bad.fault = Some(reel_node::orchestrator::Fault::WrongContent);
    let bad = start_orch(bad, &shutdown).await;
    let honest = start_orch(orch_settings(&dir.path().join("honest")), &shutdown).await;
    let verifier = start_orch(orch_settings(&dir.path().join("verifier")), &shutdown).await;
    // Every segment is transcoded again; the gateway's own decode checks are off, so only
    // the verifier can catch the cheat.
    let mut s = GatewaySettings::new(any_addr(), ladder(&["P144p30fps16x9"]));
    s.cli_addr = Some(any_addr());
    s.segment_length = Duration::from_secs(1);
    s.local_verify = false;
    s.verify_rate = 1.0;
    s.verifier = Some(verifier.uri().clone());
    let gw = GatewayBuilder::new(s)
        .source(std::sync::Arc::new(ListSource(vec![
            bad.uri().clone(),
            honest.uri().clone(),
        ])))
        .tasks(Tasks::with_shutdown(shutdown.child_token()))
        .start()
        .await
        .unwrap()
        .gateway;
    let client = Http::new().unwrap();
    for (i, ts) in segs.iter().enumerate() {
        let (status, renditions, err) = push(&client, gw.http_addr(), "checked", i, ts).await;
        assert_eq!(status, 200, "segment {i}: {err}");
        let file = write_temp(dir.path(), &format!("v{i}.ts"), &renditions[0].1);
        assert_eq!(probe(file.to_str().unwrap()).0, 256, "segment {i}");
    }
    let m = gw.metrics();
    assert_eq!(
        metric(&m, "reel_segment_verifications_total{result=\"mismatch\"}"),
        1.0
    );
    assert_eq!(
        metric(&m, "reel_segment_verifications_total{result=\"match\"}"),
        2.0
    );
    assert_eq!(
        metric(&bad.metrics(), "livepeer_segment_transcoded_total"),
        1.0
    );
    assert_eq!(
        metric(&verifier.metrics(), "livepeer_segment_transcoded_total"),
        3.0
    );
    let reason = ban_reason(&gw, bad.uri()).await;
    assert!(reason.contains("ReTranscodeMismatch"), "{reason}");
    shutdown.cancel();
    gw.stop().await;
    for o in [bad, honest, verifier] {
        o.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_orchestrator_costs_one_retry_not_a_segment() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let segs = segments(dir.path(), 4);
    let shutdown = CancellationToken::new();
    let first_stop = shutdown.child_token();
    let first = start_orch(orch_settings(&dir.path().join("a")), &first_stop).await;
    let second = start_orch(orch_settings(&dir.path().join("b")), &shutdown).await;
    let first_uri = first.uri().clone();
    let gw = start_gateway(
        vec![first_uri.clone(), second.uri().clone()],
        ladder(&["P144p30fps16x9"]),
        false,
        &shutdown,
    )
    .await;
    let mut events = gw.events();
    let client = Http::new().unwrap();
    let mut first = Some(first);
    for (i, ts) in segs.iter().enumerate() {
        if i == 2 {
            first.take().unwrap().stop().await;
        }
        let (status, renditions, err) = push(&client, gw.http_addr(), "failover", i, ts).await;
        assert_eq!(status, 200, "segment {i}: {err}");
        assert_eq!(renditions.len(), 1);
        let ev = events.recv().await.unwrap();
        let (orch, attempts) = match i {
            0 | 1 => (first_uri.to_string(), 1),
            2 => (second.uri().to_string(), 2),
            _ => (second.uri().to_string(), 1),
        };
        assert_eq!(
            (ev.orchestrator.as_str(), ev.attempts),
            (orch.as_str(), attempts),
            "segment {i}"
        );
    }
    assert_eq!(metric(&gw.metrics(), "livepeer_orchestrator_swaps"), 1.0);
    shutdown.cancel();
    gw.stop().await;
    second.stop().await;
}

/// Asserts that the gateway's first stream banned `uri`; returns the evidence it kept.
async fn ban_reason(
    gw: &reel_node::gateway::RunningGateway,
    uri: &reel_node::rpc::ServiceUri,
) -> String {
    let st = gw.status().await;
    let o = st.streams[0]
        .orchestrators
        .iter()
        .find(|o| o.uri == uri.to_string())
        .unwrap_or_else(|| panic!("{uri} not in the pool: {st:?}"));
    assert!(o.banned, "{st:?}");
    o.ban_reason.clone().unwrap_or_default()
}
