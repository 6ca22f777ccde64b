//! The network across hosts: a chain host (anvil), a gateway, three orchestrators (the
//! third transcoding on two remote transcoders) and a publisher, each in a network
//! namespace of its own with its own address, joined by the test kit's wire. The same
//! `LocalNetwork` the loopback tests use, placed on the hosts; the full on-chain flow
//! (discovery from the ServiceRegistry, tickets, redemption, rewards) over links that are
//! slow, lossy and cut. Skipped, saying so, where namespaces cannot be made (not root).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::U256;
use reel_chain::{DevnetOptions, SenderConfig as TxConfig};
use reel_localnet::{
    GatewaySpec, LocalNetwork, NetworkSpec, OrchestratorSpec, Placement, Role, TranscoderSpec,
};
use reel_node::gateway::{GatewaySettings, SegmentEvent};
use reel_node::orchestrator::OrchestratorSettings;
use reel_pm::{PricePerPixel, RecipientConfig, SenderConfig, TicketState};
use reel_testkit::Wait;
use reel_testkit::netns::{Link, Net};
use reel_types::{Lpt, Ppm, Wei};
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use crate::support::*;

/// Face value = EV: every ticket wins, so every payment is a ticket to redeem.
const EV: u64 = 10_000_000_000_000_000;
const HOSTS: &[&str] = &["chain", "gateway", "o0", "o1", "o2", "t0", "t1", "pub"];
/// Every role listens on this port of its own host.
const PORT: u16 = 8935;

fn wei(v: u64) -> Wei {
    Wei::from_base_units(U256::from(v))
}

/// Roles to hosts: delegators live with the chain.
#[derive(Debug)]
struct Hosts(Arc<Net>);

impl Placement for Hosts {
    fn runtime(&self, role: Role) -> Option<Handle> {
        let name = match role {
            Role::Chain | Role::Delegator(_) => "chain".to_owned(),
            Role::Orchestrator(n) => format!("o{n}"),
            Role::Transcoder(_, k) => format!("t{k}"),
            Role::Gateway => "gateway".to_owned(),
        };
        self.0.host(&name).ok().map(|h| h.handle())
    }
}

/// The layout, started: `None` (after saying why) where namespaces cannot be made.
async fn layout(
    dir: &std::path::Path,
    shutdown: &CancellationToken,
) -> Option<(Arc<Net>, LocalNetwork)> {
    if let Some(why) = Net::unavailable() {
        eprintln!("SKIPPED: the tests across hosts need network namespaces: {why}");
        return None;
    }
    let net = Arc::new(Net::new(HOSTS, 18).unwrap());
    let host = |n: &str| net.host(n).unwrap();
    let orchestrators = (0..3)
        .map(|n| {
            let s = OrchestratorSettings {
                price: PricePerPixel::from_wei_per_unit(1),
                max_sessions: 16,
                ..orch_settings_at(
                    host(&format!("o{n}")).socket(PORT),
                    &dir.join(format!("o{n}")),
                )
            };
            OrchestratorSpec {
                stake: Lpt::from_whole([500, 300, 200][n]),
                reward_cut: "10".parse::<Ppm>().unwrap(),
                fee_share: "50".parse::<Ppm>().unwrap(),
                settings: s,
                recipient: RecipientConfig {
                    ticket_ev: wei(EV),
                    max_face_value: Some(wei(EV)),
                    params_validity_blocks: 8,
                    ..RecipientConfig::default()
                },
                redeemer: Default::default(),
                unverified_max_float: wei(EV),
                transcoder: (n == 2).then(|| TranscoderSpec {
                    secret: "across-hosts-secret".into(),
                    capacity: 4,
                    encoder_threads: 1,
                    count: 2,
                }),
            }
        })
        .collect();
    let mut gs = GatewaySettings::new(host("gateway").socket(PORT), ladder(&["P144p30fps16x9"]));
    gs.segment_length = Duration::from_secs(1);
    let gateway = GatewaySpec {
        settings: gs,
        sender: SenderConfig {
            max_ticket_ev: wei(EV),
            max_total_ev: wei(EV * 10),
            ..SenderConfig::default()
        },
        deposit: Wei::from_whole(1),
        reserve: Wei::from_whole(1),
        listed_only: false,
    };
    let spec = NetworkSpec {
        tx: TxConfig::devnet(),
        block_time: Some(1),
        keepers: Some(Duration::from_secs(1)),
        placement: Some(Arc::new(Hosts(net.clone()))),
        ..NetworkSpec::new(orchestrators, Some(gateway))
    };
    let options = DevnetOptions {
        host: host("chain").addr().into(),
        eth_per_account: Wei::from_whole(10),
        lpt_per_account: Lpt::from_whole(1000),
        ..DevnetOptions::ephemeral(&dir.join("chain"), 5).with_round_length(20)
    };
    let lnet = LocalNetwork::launch(options, spec, shutdown).await.unwrap();
    Some((net, lnet))
}

/// Pushes segment `seq` from the publisher's host: (status, error text, time taken).
async fn push_from(
    net: &Net,
    gateway: std::net::SocketAddr,
    stream: &str,
    seq: usize,
    ts: Vec<u8>,
) -> (u16, String, Duration) {
    let stream = stream.to_owned();
    net.host("pub")
        .unwrap()
        .run(async move {
            let http = Http::new().unwrap();
            let t = Instant::now();
            let (st, r, err) = push(&http, gateway, &stream, seq, &ts).await;
            assert!(st != 200 || r.len() == 1, "one rendition");
            (st, err, t.elapsed())
        })
        .await
}

fn drain(events: &mut tokio::sync::broadcast::Receiver<SegmentEvent>) -> Vec<SegmentEvent> {
    let mut out = Vec::new();
    while let Ok(e) = events.try_recv() {
        out.push(e);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_across_hosts_survives_a_slow_lossy_network_and_a_cut_orchestrator() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let Some((net, lnet)) = layout(dir.path(), &shutdown).await else {
        return;
    };
    let segs = segments(dir.path(), 14);
    let gnode = lnet.gateway.as_ref().unwrap();
    let gw = &gnode.gateway;
    let gaddr = gw.http_addr();
    assert_eq!(gaddr.ip(), net.host("gateway").unwrap().addr());
    let mut events = gw.events();
    // The orchestrators registered their hosts' addresses, and the remote transcoders of
    // the third reached it across the wire.
    for (n, o) in lnet.orchestrators.iter().enumerate() {
        let want = format!(
            "https://{}:{PORT}",
            net.host(&format!("o{n}")).unwrap().addr()
        );
        assert_eq!(o.node.uri().to_string(), want);
    }
    Wait::new(
        "both remote transcoders to register",
        Duration::from_secs(20),
    )
    .until_ok(async || {
        let n = lnet.orchestrators[2].node.status().transcoders.len();
        if n == 2 { Ok(()) } else { Err(n) }
    })
    .await
    .expect("the remote transcoders did not register across the wire");

    // 100 ms round trips and 1% loss on every link, both ways.
    net.all(Link::wan(Duration::from_millis(100), 1));
    // The budget: the first segment (discovery and a session, over slow links) within the
    // gateway's call timeout; every later one within three segment durations.
    let mut worst = Duration::ZERO;
    for (seq, s) in segs.iter().enumerate().take(6) {
        let budget = if seq == 0 {
            reel_node::gateway::submit::call_timeout(Duration::from_secs(1))
        } else {
            Duration::from_secs(3)
        };
        let (st, err, took) = push_from(&net, gaddr, "wan", seq, s.clone()).await;
        eprintln!("segment {seq}: {st} in {took:?}");
        assert_eq!(st, 200, "segment {seq}: {err}");
        assert!(
            took < budget,
            "segment {seq} took {took:?} (budget {budget:?})"
        );
        worst = worst.max(took);
    }
    eprintln!("slow lossy links: worst segment {worst:?}");
    let before = drain(&mut events);
    assert_eq!(before.len(), 6, "{before:?}");
    assert!(before.iter().all(|e| e.outcome.is_ok()), "{before:?}");
    let current = before.last().unwrap().orchestrator.clone();
    let cut = lnet
        .orchestrators
        .iter()
        .position(|o| o.node.uri().to_string() == current)
        .unwrap();
    let cut_host = format!("o{cut}");

    // The orchestrator serving the stream loses its link (the process runs on): the
    // gateway moves the stream within two segments, and every segment is still delivered.
    net.isolate(&cut_host, true).unwrap();
    for (seq, s) in segs.iter().enumerate().skip(6).take(6) {
        let (st, err, took) = push_from(&net, gaddr, "wan", seq, s.clone()).await;
        assert_eq!(st, 200, "segment {seq} after the cut: {err}");
        assert!(
            took < Duration::from_secs(12),
            "segment {seq} took {took:?}"
        );
    }
    let after = drain(&mut events);
    assert_eq!(after.len(), 6, "{after:?}");
    for e in &after {
        assert!(e.outcome.is_ok(), "{e:?}");
        if e.seq >= 8 {
            assert_ne!(
                e.orchestrator, current,
                "segment {} still on the cut orchestrator",
                e.seq
            );
            assert_eq!(e.attempts, 1, "{e:?}");
        }
    }
    let retried: Vec<u64> = after
        .iter()
        .filter(|e| e.attempts > 1)
        .map(|e| e.seq)
        .collect();
    assert!(
        retried.len() <= 2,
        "only segments in flight retry: {retried:?}"
    );

    // The link comes back: every ticket any orchestrator holds (the cut one's included) is
    // redeemed once, and the gateway's deposit paid exactly their face values.
    net.isolate(&cut_host, false).unwrap();
    net.all(Link::CLEAN);
    let stores: Vec<_> = lnet
        .orchestrators
        .iter()
        .map(|o| o.payments.clone())
        .collect();
    Wait::new(
        "every winning ticket to be redeemed",
        Duration::from_secs(90),
    )
    .every(Duration::from_millis(500))
    .until_ok(async || {
        let states: Vec<Vec<TicketState>> = stores
            .iter()
            .map(|p| p.tickets().unwrap().iter().map(|t| t.state).collect())
            .collect();
        if states.iter().flatten().all(|s| *s == TicketState::Redeemed) {
            Ok(())
        } else {
            Err(states)
        }
    })
    .await
    .expect("tickets left unredeemed");
    let mut seen = std::collections::HashSet::new();
    let mut face = U256::ZERO;
    let mut per_orch = HashMap::new();
    for (n, p) in stores.iter().enumerate() {
        for t in p.tickets().unwrap() {
            assert!(
                seen.insert((
                    t.signed.ticket.recipient,
                    t.signed.ticket.sender_nonce,
                    t.signed.ticket.recipient_rand_hash
                )),
                "a ticket held twice"
            );
            face += t.signed.ticket.face_value.base_units();
            *per_orch.entry(n).or_insert(0u32) += 1;
        }
    }
    // The cut orchestrator was paid before the cut, and the one that took the stream over
    // after it.
    let next = lnet
        .orchestrators
        .iter()
        .position(|o| o.node.uri().to_string() == after.last().unwrap().orchestrator)
        .unwrap();
    assert!(
        per_orch.get(&cut).copied().unwrap_or(0) >= 1,
        "{per_orch:?}"
    );
    assert!(
        per_orch.get(&next).copied().unwrap_or(0) >= 1,
        "{per_orch:?}"
    );
    let gp = lnet.gateway_protocol.clone().unwrap();
    let deposit = lnet
        .on(Role::Gateway, async move {
            let me = gp.from().unwrap();
            gp.sender_status(me).await.unwrap().deposit
        })
        .await
        .unwrap();
    assert_eq!(
        deposit.base_units(),
        U256::from(10u64).pow(U256::from(18)) - face,
        "the deposit paid each held ticket once"
    );
    // Rewards were called across the wire, on every orchestrator.
    for (n, o) in lnet.orchestrators.iter().enumerate() {
        let (p, me) = (o.protocol.clone(), o.node.address());
        let t = lnet
            .on(Role::Orchestrator(n), async move {
                p.transcoder(me).await.unwrap()
            })
            .await
            .unwrap();
        assert!(
            t.last_reward_round.0 > 0,
            "orchestrator {n} never called reward()"
        );
    }
    drop(stores);
    lnet.stop().await.unwrap();
    drop(net);
}
