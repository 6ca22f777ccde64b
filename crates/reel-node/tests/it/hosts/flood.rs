//! A hostile host floods the orchestrator an honest stream is on: junk segments, unpaid
//! segments on a forged session and segments with bad signatures at 10,000 requests a second, and slowloris
//! connections that never finish a handshake. The honest stream, from another host, stays
//! inside its budget; the process's memory stays bounded; every hostile request is
//! refused. The figures (refusals by reason, the honest stream's worst segment, peak
//! memory) are printed for the README.

use std::collections::BTreeMap;
use std::sync::Mutex as StdMutex;
use std::time::{Duration, Instant};

use reel_net::http::{self as wire, BodyKind};
use reel_net::proto;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

use reel_testkit::memory::rss_mib;

use super::*;

/// How long the flood lasts.
const FLOOD: Duration = Duration::from_secs(10);
/// Requests a second asked of the flooder.
const RATE: u64 = 10_000;
const SLOWLORIS: usize = 200;
/// Hostile requests in flight at once: HTTP/1.1 keeps one connection per request in
/// flight, and under the per-address cap (64) they stay open and carry request after
/// request, which is the most a single host can push.
const IN_FLIGHT: usize = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_a_hostile_host_leaves_an_honest_stream_in_budget() {
    let Some(l) = Layout::start(Options::default()).await else {
        return;
    };
    let (st, err, _) = l.push("honest", 0).await;
    assert_eq!(st, 200, "{err}");
    let target = l.drain()[0].orchestrator.clone();
    let uri = l.lnet.orchestrators[l.orch(&target)].node.uri().clone();
    let rss_before = rss_mib();

    // The hostile host's requests, made ready before the flood. It has no funded deposit,
    // so the orchestrator gives it no session: its segment data carries a forged session
    // token and no payment, or the same with the signature broken.
    let hostile = l.net.host("hostile").unwrap();
    let u = uri.clone();
    let (unpaid, bad_sig) = hostile
        .run(async move {
            let c = Client::new(&u, b"flood");
            let refused = c.session().await.unwrap_err().to_string();
            assert!(refused.contains("insufficient sender reserve"), "{refused}");
            let info = proto::OrchestratorInfo {
                auth_token: Some(proto::AuthToken {
                    token: vec![0x5a; 32],
                    session_id: "forged".into(),
                    expiration: i64::MAX,
                }),
                ..Default::default()
            };
            let body = vec![7u8; 1024];
            let seg = c.seg_data(&info, 0, &body);
            let mut bad = seg.clone();
            bad.sig[10] ^= 0xff;
            let h = |s: &proto::SegData| {
                wire::segment_request_headers(s, &proto::Payment::default(), BodyKind::Inline)
            };
            (h(&seg), h(&bad))
        })
        .await;

    // Slowloris: connections that trickle a byte a second and never finish a TLS
    // handshake. Counted: how many the orchestrator closed before the flood ended.
    let addr =
        std::net::SocketAddr::from((uri.host.parse::<std::net::IpAddr>().unwrap(), uri.port));
    let slow = hostile.handle().spawn(async move {
        let mut tasks = Vec::new();
        for _ in 0..SLOWLORIS {
            tasks.push(tokio::spawn(async move {
                let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
                    return true;
                };
                let end = Instant::now() + FLOOD;
                let mut buf = [0u8; 64];
                while Instant::now() < end {
                    if s.write_all(&[0x16]).await.is_err() {
                        return true;
                    }
                    if let Ok(Ok(0) | Err(_)) =
                        tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf)).await
                    {
                        return true;
                    }
                }
                false
            }));
        }
        let mut closed = 0;
        for t in tasks {
            closed += usize::from(t.await.unwrap_or(false));
        }
        closed
    });

    // The request flood, open loop: RATE a second whatever the answers, at most IN_FLIGHT in
    // flight (beyond that a request is counted as not sent).
    let flood = hostile.handle().spawn(async move {
        let http = reel_node::rpc::http_client().unwrap();
        let outcomes = std::sync::Arc::new(StdMutex::new(BTreeMap::<String, u64>::new()));
        let in_flight = std::sync::Arc::new(Semaphore::new(IN_FLIGHT));
        let mut not_sent = 0u64;
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < FLOOD {
            tick.tick().await;
            let due = (start.elapsed().as_micros() as u64 * RATE / 1_000_000).saturating_sub(n);
            for _ in 0..due {
                n += 1;
                let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                    not_sent += 1;
                    continue;
                };
                let (kind, req) = match n % 3 {
                    0 => (
                        "junk body",
                        http.post(format!("{uri}/segment")).body(vec![0u8; 512]),
                    ),
                    1 => (
                        "forged session, unpaid",
                        http.post(format!("{uri}/segment"))
                            .headers(unpaid.clone())
                            .body(vec![7u8; 1024]),
                    ),
                    _ => (
                        "bad signature",
                        http.post(format!("{uri}/segment"))
                            .headers(bad_sig.clone())
                            .body(vec![7u8; 1024]),
                    ),
                };
                let outcomes = outcomes.clone();
                tokio::spawn(async move {
                    let r = tokio::time::timeout(Duration::from_secs(5), req.send()).await;
                    let key = match r {
                        Ok(Ok(resp)) => format!("{kind}: HTTP {}", resp.status().as_u16()),
                        Ok(Err(e)) if e.is_connect() => {
                            format!("{kind}: connection refused or closed")
                        }
                        Ok(Err(_)) => format!("{kind}: connection dropped"),
                        Err(_) => format!("{kind}: no answer in 5 s"),
                    };
                    *outcomes.lock().unwrap().entry(key).or_default() += 1;
                    drop(permit);
                });
            }
        }
        // The last answers.
        let _ = tokio::time::timeout(
            Duration::from_secs(6),
            in_flight.acquire_many(IN_FLIGHT as u32),
        )
        .await;
        let out = outcomes.lock().unwrap().clone();
        (n, not_sent, out)
    });

    // Meanwhile the honest stream goes on from the publisher's host, a segment a second,
    // and the process's memory is sampled.
    let start = Instant::now();
    let mut worst = Duration::ZERO;
    let mut peak = rss_before;
    let mut seq = 1;
    while start.elapsed() < FLOOD + Duration::from_secs(2) {
        let (st, err, took) = l.push("honest", seq).await;
        assert_eq!(st, 200, "honest segment {seq} during the flood: {err}");
        worst = worst.max(took);
        peak = peak.max(rss_mib());
        seq += 1;
        pace(start, seq as u64 - 1).await;
        peak = peak.max(rss_mib());
    }
    let (asked, not_sent, outcomes) = flood.await.unwrap();
    let slow_closed = slow.await.unwrap();
    let rate_limited = l.lnet.orchestrators[l.orch(&target)]
        .node
        .metrics()
        .lines()
        .find(|x| x.starts_with("reel_requests_rate_limited_total "))
        .and_then(|x| x.split_whitespace().nth(1)?.parse::<f64>().ok())
        .unwrap_or(0.0);
    eprintln!(
        "flood of {} s at {RATE}/s from one host: {asked} requests, {not_sent} not sent ({IN_FLIGHT} in flight)",
        FLOOD.as_secs()
    );
    for (k, v) in &outcomes {
        eprintln!("  {k}: {v}");
    }
    eprintln!("  orchestrator's rate-limited count: {rate_limited}");
    eprintln!("  slowloris connections closed by the orchestrator: {slow_closed} of {SLOWLORIS}");
    eprintln!(
        "honest stream: {} segments, worst {worst:?}; process RSS {rss_before} MiB before, peak {peak} MiB",
        seq - 1
    );

    assert!(
        worst < Duration::from_secs(3),
        "the honest stream's worst segment: {worst:?}"
    );
    let answered: u64 = outcomes.values().sum();
    assert!(
        answered + not_sent == asked,
        "{answered} + {not_sent} != {asked}"
    );
    // Every hostile request refused: no 2xx, no server error.
    for (k, v) in &outcomes {
        assert!(
            !k.contains("HTTP 2") && !k.contains("HTTP 5"),
            "{k}: {v} hostile requests not refused"
        );
    }
    assert!(rate_limited > 0.0, "the flood was not rate limited");
    assert_eq!(slow_closed, SLOWLORIS, "slowloris connections left open");
    assert!(
        peak < rss_before + 512,
        "memory grew from {rss_before} to {peak} MiB"
    );
    l.stop().await;
}
