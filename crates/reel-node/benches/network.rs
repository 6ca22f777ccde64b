//! The network path against the bare transcode, on loopback (run with
//! `cargo bench -p reel-node --bench network`; prints a report, asserts nothing).
//!
//! 1. Bare: the media engine's session on each 2-s segment of 10 s of 1080p30 (the media
//!    benchmark's ladder: 720p, 576p, 360p, 240p, x264 veryfast).
//! 2. Network: the same segments pushed one at a time into a gateway, which pays an
//!    orchestrator (TLS, tickets validated and stored, credit and debit), downloads,
//!    checks the signature and decodes every rendition to count pixels; measured from the
//!    push to the answer (the renditions are in HLS by then), with and without the
//!    gateway's decode check.
//! 3. Capacity: N concurrent real-time streams (a segment every 2 s each) on one
//!    orchestrator with a lighter live ladder (720p30 in → 360p + 240p); the largest N whose
//!    every segment is back within its own duration.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::{B256, U256};
use reel_media::{SessionSettings, TranscodeSession};
use reel_node::gateway::GatewaySettings;
use reel_node::gateway::discovery::ListSource;
use reel_node::node::{GatewayBuilder, OrchestratorBuilder};
use reel_node::orchestrator::OrchestratorSettings;
use reel_node::payments::ChainFacts;
use reel_node::tasks::Tasks;
use reel_pm::broker::{ReserveInfo, SenderInfo};
use reel_pm::ticket::ExpirationParams;
use reel_pm::{PricePerPixel, RecipientConfig, RedeemerConfig, SenderConfig};
use reel_testkit::http::Http;
use reel_testkit::media::Clip;
use reel_types::Wei;
use tokio_util::sync::CancellationToken;

const HEAVY: &str = "P720p30fps16x9,P576p30fps16x9,P360p30fps16x9,P240p30fps16x9";
const LIVE: &str = "P360p30fps16x9,P240p30fps16x9";

fn media(dir: &Path, name: &str, (w, h): (u32, u32), secs: u32) -> Vec<Vec<u8>> {
    let d = dir.join(name);
    if !d.join("s0.ts").exists() {
        std::fs::create_dir_all(&d).unwrap();
        Clip::new(w, h, f64::from(secs))
            .preset("veryfast")
            .video_bitrate("6M")
            .write_segments(&d, "s", 2)
            .expect("ffmpeg");
    }
    (0..)
        .map(|i| d.join(format!("s{i}.ts")))
        .take_while(|p| p.exists())
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

fn facts() -> ChainFacts {
    ChainFacts {
        block: 1_000,
        round: 10,
        expiration: ExpirationParams {
            creation_round: 10,
            creation_round_block_hash: B256::repeat_byte(7),
        },
        gas_price: Wei::from_base_units(U256::from(1_000_000_000u64)),
    }
}

struct Net {
    gw: reel_node::gateway::RunningGateway,
    orch: reel_node::orchestrator::RunningOrchestrator,
    shutdown: CancellationToken,
}

async fn network(dir: &Path, ladder: &str, local_verify: bool, max: usize) -> Net {
    let shutdown = CancellationToken::new();
    let mut os = OrchestratorSettings::new("127.0.0.1:0".parse().unwrap());
    os.data_dir = Some(dir.to_path_buf());
    os.price = PricePerPixel::from_wei_per_unit(1000);
    os.max_sessions = max;
    let orch = OrchestratorBuilder::new(os)
        .fixed_facts(facts())
        .payments(
            RecipientConfig::default(),
            RedeemerConfig::default(),
            Wei::from_whole(1),
        )
        .tasks(Tasks::with_shutdown(shutdown.clone()))
        .start()
        .await
        .unwrap()
        .orchestrator;
    let mut gs = GatewaySettings::new(
        "127.0.0.1:0".parse().unwrap(),
        reel_media::parse_ladder(ladder).unwrap(),
    );
    gs.local_verify = local_verify;
    gs.max_streams = max;
    let gw = GatewayBuilder::new(gs)
        .source(Arc::new(ListSource(vec![orch.uri().clone()])))
        .fixed_facts(facts())
        .payments(
            SenderConfig::default(),
            SenderInfo {
                deposit: Wei::from_whole(100),
                withdraw_round: 0,
                reserve: ReserveInfo {
                    funds_remaining: Wei::from_whole(100),
                    claimed_in_current_round: Wei::ZERO,
                },
            },
        )
        .tasks(Tasks::with_shutdown(shutdown.clone()))
        .start()
        .await
        .unwrap()
        .gateway;
    Net { gw, orch, shutdown }
}

async fn push(http: &Http, net: &Net, stream: &str, seq: usize, ts: &[u8]) -> Duration {
    let t0 = Instant::now();
    let r = http
        .put(
            format!("http://{}/live/{stream}/{seq}.ts", net.gw.http_addr()),
            ts.to_vec(),
        )
        .await
        .unwrap();
    assert!((200..300).contains(&r.status), "{}: {}", r.status, r.text());
    t0.elapsed()
}

fn bare(ladder: &str, segs: &[Vec<u8>]) -> Vec<Duration> {
    let mut s = TranscodeSession::new(SessionSettings::new(
        reel_media::parse_ladder(ladder).unwrap(),
    ))
    .unwrap();
    segs.iter()
        .enumerate()
        .map(|(i, ts)| {
            let t0 = Instant::now();
            s.transcode_ts(i as u64, ts).unwrap();
            t0.elapsed()
        })
        .collect()
}

fn sum(v: &[Duration]) -> f64 {
    v.iter().map(Duration::as_secs_f64).sum()
}

async fn sequential(dir: &Path, segs: &[Vec<u8>], verify: bool, stream: &str) -> Vec<Duration> {
    let net = network(&dir.join(format!("net-{stream}")), HEAVY, verify, 4).await;
    let client = Http::new().unwrap();
    let mut out = Vec::new();
    for (i, ts) in segs.iter().enumerate() {
        out.push(push(&client, &net, stream, i, ts).await);
    }
    net.shutdown.cancel();
    net.gw.stop().await;
    net.orch.stop().await;
    out
}

/// Runs `n` real-time streams for `rounds` segments each; returns the worst latency.
async fn concurrent(dir: &Path, segs: &[Vec<u8>], n: usize, rounds: usize) -> Duration {
    let net = Arc::new(network(&dir.join(format!("conc-{n}")), LIVE, true, n).await);
    let client = Http::new().unwrap();
    let start = tokio::time::Instant::now();
    let mut handles = Vec::new();
    for k in 0..n {
        let (net, client, segs) = (Arc::clone(&net), client.clone(), segs.to_vec());
        handles.push(tokio::spawn(async move {
            let mut worst = Duration::ZERO;
            for i in 0..rounds {
                // A live source: segment i exists 2 s × (i + 1) after the start.
                tokio::time::sleep_until(
                    start
                        + Duration::from_secs(2 * (i as u64 + 1))
                        + Duration::from_millis(37 * k as u64),
                )
                .await;
                let lat = push(&client, &net, &format!("live{k}"), i, &segs[i % segs.len()]).await;
                worst = worst.max(lat);
            }
            worst
        }));
    }
    let mut worst = Duration::ZERO;
    for h in handles {
        worst = worst.max(h.await.unwrap());
    }
    net.shutdown.cancel();
    worst
}

fn main() {
    let dir: PathBuf = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join("reel-network-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let heavy = media(&dir, "1080p", (1920, 1080), 10);
    let live = media(&dir, "720p", (1280, 720), 10);
    println!(
        "network path vs bare transcode, {} segments of 2 s, 1080p30 → {HEAVY}",
        heavy.len()
    );

    // Warm up the encoders and the page cache once; then three interleaved repetitions of
    // each variant, reporting medians (the machine is shared: single runs are noisy).
    let _ = bare(HEAVY, &heavy[..1]);
    let (mut tb, mut tn, mut tnv) = (Vec::new(), Vec::new(), Vec::new());
    for rep in 0..3 {
        let b = bare(HEAVY, &heavy);
        let n = rt.block_on(sequential(&dir, &heavy, true, &format!("verify{rep}")));
        let nv = rt.block_on(sequential(&dir, &heavy, false, &format!("noverify{rep}")));
        println!(
            "  run {rep}: bare {:.2} s, network {:.2} s, network without local verify {:.2} s",
            sum(&b),
            sum(&n),
            sum(&nv)
        );
        tb.push(sum(&b));
        tn.push(sum(&n));
        tnv.push(sum(&nv));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (tb, tn, tnv) = (median(&mut tb), median(&mut tn), median(&mut tnv));
    let per = |t: f64| 1000.0 * t / heavy.len() as f64;
    println!(
        "  bare transcode           median {tb:.2} s, {:.0} ms per segment",
        per(tb)
    );
    println!(
        "  network, local verify    median {tn:.2} s, {:.0} ms per segment: {:+.1}% over bare; segment in → playable {:.2}× the transcode",
        per(tn),
        100.0 * (tn - tb) / tb,
        tn / tb
    );
    println!(
        "  network, no local verify median {tnv:.2} s, {:.0} ms per segment: {:+.1}% over bare; segment in → playable {:.2}× the transcode",
        per(tnv),
        100.0 * (tnv - tb) / tb,
        tnv / tb
    );

    println!("concurrent real-time streams on one orchestrator, 720p30 → {LIVE}, 2-s segments");
    let mut best = 0;
    for n in [1usize, 2, 3, 4, 6, 8] {
        let worst = rt.block_on(concurrent(&dir, &live, n, 4));
        let ok = worst <= Duration::from_secs(2);
        println!(
            "  {n} streams: worst segment latency {} ms {}",
            worst.as_millis(),
            if ok { "(real time)" } else { "(falls behind)" }
        );
        if !ok {
            break;
        }
        best = n;
    }
    println!("  → {best} concurrent real-time streams");
}
