//! On a devnet (anvil, the protocol deployed, a block per transaction): orchestrators
//! register their service URI, the gateway finds them from the transcoder pool and the
//! ServiceRegistry, draws them by stake, pays every segment with tickets from its deposit
//! at the TicketBroker; the orchestrators store the winners before crediting, redeem every
//! one once its params expire, and the fees booked to them on chain are the sum of the
//! winning face values, to the wei.

use std::time::Duration;

use alloy::primitives::U256;
use alloy::providers::Provider;
use reel_chain::DevnetOptions;
use reel_localnet::{GatewaySpec, LocalNetwork, OrchestratorSpec};
use reel_node::chain::ProtocolFacts;
use reel_node::gateway::GatewaySettings;
use reel_node::gateway::selection::Weights;
use reel_node::payments::FactsSource;
use reel_pm::{PricePerPixel, RecipientConfig, RedeemerConfig, SenderConfig, TicketState};
use reel_testkit::Wait;
use reel_types::{Lpt, Ppm, Wei};
use tokio_util::sync::CancellationToken;

use crate::support::*;

/// Face value = EV: every ticket wins, so every one must be in the store.
const EV: u64 = 10_000_000_000_000_000;

fn wei(v: u64) -> Wei {
    Wei::from_base_units(U256::from(v))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn discovery_from_the_pool_stake_weighted_selection_and_paid_segments() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let segs = segments(dir.path(), 1);

    // Two orchestrators: 900 and 100 LPT of stake, registered early in a round (its last
    // blocks are locked); the gateway knows only the chain.
    let orchestrators = [(1usize, 900u64), (2, 100)]
        .into_iter()
        .map(|(i, stake)| {
            let mut s = orch_settings(&dir.path().join(format!("o{i}")));
            s.price = PricePerPixel::from_wei_per_unit(i as u64);
            s.max_sessions = 32;
            OrchestratorSpec {
                stake: Lpt::from_whole(stake),
                reward_cut: "10".parse::<Ppm>().unwrap(),
                fee_share: "50".parse::<Ppm>().unwrap(),
                settings: s,
                recipient: RecipientConfig {
                    ticket_ev: wei(EV),
                    max_face_value: Some(wei(EV)),
                    // Redeemable (params expired) well inside the ticket's two rounds.
                    params_validity_blocks: 8,
                    ..RecipientConfig::default()
                },
                redeemer: RedeemerConfig::default(),
                unverified_max_float: wei(EV),
                transcoder: None,
            }
        })
        .collect();
    let mut gs = GatewaySettings::new(any_addr(), ladder(&["P144p30fps16x9"]));
    gs.max_streams = 32;
    gs.weights = Weights {
        stake: 1.0,
        price: 0.0,
        random: 0.0,
        price_exp_factor: 100.0,
    };
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
    let net = LocalNetwork::start(
        DevnetOptions {
            data_dir: dir.path().join("chain"),
            host: std::net::Ipv4Addr::LOCALHOST.into(),
            port: None,
            chain_id: 31337,
            accounts: 4,
            block_time: 0,
            reset: false,
            eth_per_account: Wei::from_whole(10),
            lpt_per_account: Lpt::from_whole(1000),
            // Long rounds: the test mines blocks by hand and must not cross into a round
            // nobody has initialised while redemptions are sent.
            protocol: reel_contracts::ProtocolParams {
                round_length: 100,
                ..DevnetOptions::devnet_protocol()
            },
        },
        orchestrators,
        Some(gateway),
        &shutdown,
    )
    .await
    .unwrap();
    for o in &net.orchestrators {
        let msg = &o.registration;
        assert!(msg.starts_with("registered service URI"), "{msg}");
        assert_eq!(
            o.protocol
                .transcoder(o.node.address())
                .await
                .unwrap()
                .service_uri,
            o.node.uri().to_string()
        );
    }
    let orchs: Vec<_> = net
        .orchestrators
        .iter()
        .map(|o| (o.protocol.clone(), &o.node, o.payments.clone()))
        .collect();
    let gp = net.gateway_protocol.clone().unwrap();
    let gnode = net.gateway.as_ref().unwrap();
    let gpay = gnode.payments.clone().unwrap();
    let gw = &gnode.gateway;
    let mut events = gw.events();
    let client = Http::new().unwrap();

    // 20 streams of one segment: each draws an orchestrator by stake (90% / 10%).
    let mut by_orch = std::collections::HashMap::<String, u32>::new();
    for k in 0..20 {
        let (st, r, err) = push(&client, gw.http_addr(), &format!("s{k}"), 0, &segs[0]).await;
        assert_eq!(st, 200, "{err}");
        assert_eq!(r.len(), 1);
        let ev = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(ev.reason.contains("stake/price/random"), "{}", ev.reason);
        assert_eq!(ev.tickets, 1, "one ticket tops the credit up to one EV");
        assert_eq!(ev.value, wei(EV));
        *by_orch.entry(ev.orchestrator).or_default() += 1;
    }
    let heavy = by_orch
        .get(&orchs[0].1.uri().to_string())
        .copied()
        .unwrap_or(0);
    let light = by_orch
        .get(&orchs[1].1.uri().to_string())
        .copied()
        .unwrap_or(0);
    assert_eq!(heavy + light, 20, "{by_orch:?}");
    assert!(
        heavy >= 12,
        "stake 900 vs 100 should win most draws: {by_orch:?}"
    );

    // Every ticket won and is stored, for the right orchestrator, before anything else; the
    // credit is exactly Σ EV − price × pixels.
    for (i, (_, o, pay)) in orchs.iter().enumerate() {
        let n = by_orch.get(&o.uri().to_string()).copied().unwrap_or(0);
        let tickets = pay.tickets().unwrap();
        assert_eq!(tickets.len() as u32, n, "orchestrator {i}");
        for t in &tickets {
            assert_eq!(
                t.state,
                TicketState::Pending,
                "no broker: stored, not redeemed"
            );
            assert_eq!(t.signed.ticket.recipient, o.address());
            assert_eq!(t.signed.ticket.sender, gpay.address());
            assert_eq!(t.signed.ticket.face_value, wei(EV));
        }
        let price = (i + 1) as u64;
        for s in o.status().sessions {
            let (bal, negative) =
                pay.balance(&reel_node::jobs::transcode::scope(&s.id).account(gw.address()));
            assert!(!negative);
            assert_eq!(bal, wei(EV - price * s.charged_pixels), "session {}", s.id);
            assert_eq!(s.charged_pixels, 30 * 256 * 144);
            let (gbal, gneg) = gpay.balance(o.address(), &reel_node::jobs::transcode::scope(&s.id));
            assert_eq!((gbal, gneg), (bal, false), "both sides agree to the wei");
        }
    }
    let m = gw.metrics();
    assert!(m.contains("livepeer_tickets_sent 20\n"), "{m}");

    // Past the params' expiry the redeemers (one per orchestrator, on every new block) take
    // every winner to the chain; the fees booked are Σ face values, to the wei.
    let mine = |n: u64| {
        let p = gp.clone();
        async move {
            p.provider()
                .raw_request::<_, ()>("anvil_mine".into(), (n,))
                .await
                .unwrap();
            // No keeper runs here: whoever moves the chain initialises the round.
            p.ensure_round_initialized().await.unwrap();
        }
    };
    mine(10).await;
    // A block per poll keeps the redeemers ticking.
    Wait::new("every ticket to be redeemed", Duration::from_secs(60))
        .every(Duration::from_millis(300))
        .until_ok(async || {
            for (p, _, pay) in &orchs {
                pay.set_facts(ProtocolFacts(p.clone()).facts().await.unwrap());
            }
            let states: Vec<Vec<TicketState>> = orchs
                .iter()
                .map(|(_, _, pay)| pay.tickets().unwrap().iter().map(|t| t.state).collect())
                .collect();
            if states.iter().flatten().all(|s| *s == TicketState::Redeemed) {
                return Ok(());
            }
            mine(1).await;
            Err(states)
        })
        .await
        .expect("not all tickets redeemed");
    for (p, o, pay) in &orchs {
        let n = pay.tickets().unwrap().len() as u64;
        // No delegators: the orchestrator gets every fee. Its claimable fees come through the
        // earnings pool's fee factor, which rounds down: at most one wei per redemption.
        let fees = p
            .delegator(o.address())
            .await
            .unwrap()
            .pending_fees
            .base_units();
        let paid = U256::from(EV * n);
        assert!(
            fees <= paid && paid - fees <= U256::from(n),
            "{}: {fees} of {paid}",
            o.uri()
        );
        assert_eq!(pay.counts().unwrap().redeemed, n);
    }
    // Paid from the gateway's deposit first, exactly Σ face values.
    let st = gp.sender_status(gp.from().unwrap()).await.unwrap();
    assert_eq!(st.deposit, wei(1_000_000_000_000_000_000 - 20 * EV));
    assert_eq!(st.reserve, Wei::from_whole(1));

    // Someone else tops the gateway up: the orchestrator's cached copy follows the
    // TicketBroker's event within a block, long before its 10 s re-read, to the wei.
    let top_up = Wei::parse_decimal("0.5").unwrap();
    let other = net.account(0).await.unwrap();
    other
        .send(
            "top up the gateway",
            other
                .ticket_broker()
                .fundDepositAndReserveFor(gp.from().unwrap(), top_up.base_units(), U256::ZERO)
                .value(top_up.base_units()),
        )
        .await
        .unwrap();
    let want = st.deposit.checked_add(top_up).unwrap();
    Wait::new(
        "the orchestrator's copy of the gateway to follow the top-up",
        Duration::from_secs(3),
    )
    .until_ok(async || {
        let cached = orchs[0].2.cached_sender(gp.from().unwrap());
        match cached.as_ref().map(|i| i.deposit) {
            Some(d) if d == want => Ok(()),
            _ => Err(cached),
        }
    })
    .await
    .expect("the orchestrator's copy of the gateway did not follow the top-up");
    let watch = &orchs[0].2.status()["senderWatch"];
    assert!(watch["refreshes"].as_u64() >= Some(1), "{watch}");
    assert_eq!(watch["rollbacks"], 0, "{watch}");
    drop(orchs);
    net.stop().await.unwrap();
}
