//! `reel devnet --demo`: the whole network on this machine. A fresh devnet; three
//! orchestrators with different stake, reward cut, fee share and price (one of them
//! transcoding on a remote transcoder); two delegators; a gateway paying with tickets; a
//! keeper moving rounds on a timer and each orchestrator calling `reward()`; and a generated
//! live stream pushed over RTMP (the ffmpeg CLI plays OBS). It prints the HLS URL, which
//! orchestrator served each segment and why, and after every round the tickets, fees and
//! rewards of every orchestrator and delegator.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256};
use anyhow::Context;
use reel_chain::{DevnetOptions, SenderConfig as TxConfig};
use reel_contracts::ProtocolParams;
use reel_localnet::{
    DelegatorSpec, GatewaySpec, LocalDelegator, LocalNetwork, LocalOrchestrator, NetworkSpec,
    OrchestratorSpec, TranscoderSpec,
};
use reel_node::gateway::GatewaySettings;
use reel_node::orchestrator::OrchestratorSettings;
use reel_pm::{RecipientConfig, RedeemerConfig, SenderConfig};
use reel_types::{Lpt, Ppm, Wei, prometheus};
use tokio_util::sync::CancellationToken;

use super::node_common;

/// What the demo takes from `reel devnet`.
#[derive(Debug)]
pub(crate) struct DemoArgs {
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) run_for: Option<Duration>,
}

/// One orchestrator of the demo. The accounts follow reel-localnet's order: the
/// orchestrators, then the delegators, then the gateway.
struct OrchSpec {
    name: &'static str,
    stake: u64,
    reward_cut: &'static str,
    fee_share: &'static str,
    /// Wei per pixel.
    price: u64,
    remote: bool,
}

const ORCHS: [OrchSpec; 3] = [
    OrchSpec {
        name: "O1",
        stake: 3000,
        reward_cut: "10",
        fee_share: "50",
        price: 20_000_000,
        remote: false,
    },
    OrchSpec {
        name: "O2",
        stake: 2000,
        reward_cut: "25",
        fee_share: "75",
        price: 30_000_000,
        remote: true,
    },
    OrchSpec {
        name: "O3",
        stake: 1000,
        reward_cut: "5",
        fee_share: "25",
        price: 15_000_000,
        remote: false,
    },
];
/// (LPT, delegate index in ORCHS)
const DELEGATORS: [(u64, usize); 2] = [(1500, 0), (1000, 2)];
const ROUND_LENGTH: u64 = 12;
/// One ticket is worth about one segment; one in five wins.
const TICKET_EV: u64 = 200_000_000_000_000;
const FACE_VALUE: u64 = 1_000_000_000_000_000;
const REDEEM_GAS: u64 = 200_000;
const PARAMS_VALIDITY: u64 = 8;
const LADDER: &str = "P144p30fps16x9,P240p30fps16x9";

fn short(a: Address) -> String {
    let s = a.to_checksum(None);
    format!("{}…{}", &s[..6], &s[s.len() - 4..])
}

fn eth(w: Wei) -> String {
    format!("{} ETH", w.to_decimal_string())
}

/// A decimal string cut to `places` decimals (for display only).
fn cut(decimal: &str, places: usize) -> String {
    match decimal.split_once('.') {
        Some((i, f)) => format!("{i}.{}", &f[..f.len().min(places)]),
        None => decimal.to_owned(),
    }
}

/// The streams pushed at once: each stream picks its own orchestrator.
const STREAMS: [&str; 3] = ["demo-a", "demo-b", "demo-c"];

/// A counter from `/metrics` text; one the node has not shown yet is 0.
fn metric(text: &str, name: &str) -> f64 {
    prometheus::metric(text, name).unwrap_or(0.0)
}

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let dir = match args.data_dir {
        Some(d) => d,
        None => dirs::home_dir()
            .context("no home directory: pass --data-dir")?
            .join(".reel")
            .join("demo"),
    };
    let shutdown = CancellationToken::new();
    let mut orchestrators = Vec::new();
    for spec in &ORCHS {
        let odir = dir.join(spec.name);
        // A fresh chain: tickets kept from an earlier demo would be for a chain that is gone.
        if odir.exists() {
            std::fs::remove_dir_all(&odir)
                .with_context(|| format!("clearing {}", odir.display()))?;
        }
        let mut s = OrchestratorSettings::new("127.0.0.1:0".parse()?);
        s.data_dir = Some(odir);
        s.price = node_common::price(spec.price, 1)?;
        s.x264_preset = "veryfast".into();
        s.encoder_threads = 1;
        let transcoder = spec.remote.then(|| TranscoderSpec {
            secret: "demo-transcoder-secret".into(),
            capacity: 2,
            encoder_threads: 1,
        });
        orchestrators.push(OrchestratorSpec {
            stake: Lpt::from_whole(spec.stake),
            reward_cut: spec.reward_cut.parse::<Ppm>()?,
            fee_share: spec.fee_share.parse::<Ppm>()?,
            settings: s,
            recipient: RecipientConfig {
                ticket_ev: Wei::from_base_units(U256::from(TICKET_EV)),
                redeem_gas: REDEEM_GAS,
                max_face_value: Some(Wei::from_base_units(U256::from(FACE_VALUE))),
                // A ticket must be redeemed after its params expire and within two
                // rounds of its creation: with 12-block rounds, params last 8 blocks.
                params_validity_blocks: PARAMS_VALIDITY,
                ..RecipientConfig::default()
            },
            redeemer: RedeemerConfig {
                redeem_gas: REDEEM_GAS,
                ..RedeemerConfig::default()
            },
            unverified_max_float: Wei::from_base_units(U256::from(FACE_VALUE)),
            transcoder,
        });
    }
    let ladder = reel_media::parse_ladder(LADDER)?;
    let mut gs = GatewaySettings::new("127.0.0.1:0".parse()?, ladder);
    gs.rtmp_addr = Some("127.0.0.1:0".parse()?);
    let gateway = GatewaySpec {
        settings: gs,
        sender: SenderConfig {
            max_ticket_ev: Wei::from_base_units(U256::from(TICKET_EV * 2)),
            max_total_ev: Wei::from_base_units(U256::from(TICKET_EV * 20)),
            redeem_gas: REDEEM_GAS,
            ..SenderConfig::default()
        },
        deposit: Wei::from_whole(2),
        reserve: Wei::from_whole(3),
        listed_only: false,
    };
    let spec = NetworkSpec {
        orchestrators,
        delegators: DELEGATORS
            .iter()
            .map(|&(lpt, to)| DelegatorSpec {
                stake: Lpt::from_whole(lpt),
                to,
            })
            .collect(),
        gateway: Some(gateway),
        // Every account sends with the devnet's timings (a block a second).
        tx: TxConfig::devnet(),
        // Blocks on demand while setting up (fast), on a one-second timer afterwards.
        block_time: Some(1),
        keepers: Some(Duration::from_secs(1)),
    };
    let options = DevnetOptions {
        data_dir: dir.join("chain"),
        port: None,
        chain_id: reel_chain::anvil::DEFAULT_CHAIN_ID,
        accounts: 8,
        block_time: 0,
        reset: true,
        eth_per_account: Wei::from_whole(1000),
        lpt_per_account: Lpt::from_whole(10_000),
        protocol: ProtocolParams {
            round_length: ROUND_LENGTH,
            ..DevnetOptions::devnet_protocol()
        },
    };
    let net = LocalNetwork::launch(options, spec, &shutdown)
        .await
        .context("starting the network")?;
    println!("reel devnet --demo: a Livepeer network on this machine");
    let f = net.devnet.file();
    println!(
        "  chain      {} (chain id {}, rounds of {ROUND_LENGTH} blocks, a block per second)",
        f.rpc_url, f.chain_id
    );
    for (o, s) in net.orchestrators.iter().zip(&ORCHS) {
        println!(
            "  {}  {} stake {} LPT, reward cut {}%, fee share {}%, price {} wei/pixel, {}  {}",
            s.name,
            short(o.node.address()),
            s.stake,
            s.reward_cut,
            s.fee_share,
            s.price,
            if s.remote {
                "remote transcoder"
            } else {
                "local transcoding"
            },
            o.node.uri(),
        );
    }
    for (i, d) in net.delegators.iter().enumerate() {
        println!(
            "  D{}  {} delegates {} LPT to {}",
            i + 1,
            short(d.protocol.from()?),
            DELEGATORS[i].0,
            ORCHS[d.to].name
        );
    }
    let gp = net
        .gateway_protocol
        .clone()
        .context("the demo's network has a gateway")?;
    let redeeming = !gp.contracts().ticket_broker.is_zero();
    let gw = &net
        .gateway
        .as_ref()
        .context("the demo's network has a gateway")?
        .gateway;
    let rtmp = gw.rtmp_addr().context("RTMP address")?;
    let http = gw.http_addr();
    println!(
        "  gateway {} pays with tickets; ladder {LADDER}",
        short(gw.address())
    );
    if redeeming {
        println!(
            "  gateway deposit 2 ETH, reserve 3 ETH at the TicketBroker; winning tickets are redeemed"
        );
        println!(
            "        once their params expire ({PARAMS_VALIDITY} blocks), so fees show from the second round on"
        );
    } else {
        println!(
            "  note: the TicketBroker client is not wired yet: tickets are real and checked, winners are"
        );
        println!(
            "        stored by the orchestrators but not redeemed; deposits are assumed, not read"
        );
    }

    // The broadcaster: one generated test stream, encoded once and published three times
    // over RTMP (ffmpeg's tee muxer), so that each gateway stream draws its orchestrator.
    let outputs: Vec<String> = STREAMS
        .iter()
        .map(|n| format!("[f=flv:onfail=ignore]rtmp://{rtmp}/live/{n}"))
        .collect();
    let mut ffmpeg = tokio::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=426x240:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440",
        ])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-tune",
            "zerolatency",
            "-g",
            "60",
            "-keyint_min",
            "60",
        ])
        .args([
            "-sc_threshold",
            "0",
            "-b:v",
            "600k",
            "-c:a",
            "aac",
            "-map",
            "0:v",
            "-map",
            "1:a",
        ])
        // The tee muxer needs the codec headers up front for FLV.
        .args(["-flags", "+global_header"])
        .args(["-f", "tee", &outputs.join("|")])
        .kill_on_drop(true)
        .spawn()
        .context("starting ffmpeg as the broadcaster (apt install ffmpeg, or run ./x setup)")?;
    let total: u64 = ORCHS.iter().map(|o| o.stake).sum();
    let odds: Vec<String> = ORCHS
        .iter()
        .map(|o| {
            format!(
                "{} {:.0}%",
                o.name,
                100.0 * (0.7 * o.stake as f64 / total as f64 + 0.3 / ORCHS.len() as f64)
            )
        })
        .collect();
    println!(
        "  streams    {} pushed to rtmp://{rtmp}/live/<name> (ffmpeg testsrc2, 426x240)",
        STREAMS.join(", ")
    );
    println!(
        "  selection  a new stream draws by 70% stake + 30% chance: {}; then keeps a fast one",
        odds.join(", ")
    );
    for n in STREAMS {
        println!("  play       http://{http}/stream/{n}.m3u8");
    }
    println!("Press Ctrl-C to stop.");

    let mut events = gw.events();
    let mut first = true;
    let mut last_round = gp.round_status().await?.round;
    let mut round_tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_stake: std::collections::HashMap<Address, Lpt> = Default::default();
    let deadline = args.run_for.map(|d| tokio::time::Instant::now() + d);
    let mut sig = Box::pin(node_common::shutdown_signal());
    let reason = loop {
        let until = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            s = &mut sig => break s.map(|n| n.to_owned()).unwrap_or_else(|e| e.to_string()),
            () = until => break "--for elapsed".to_owned(),
            st = ffmpeg.wait() => break format!("the broadcaster stopped: {st:?}"),
            ev = events.recv() => {
                let Ok(ev) = ev else { continue };
                let name = net.orchestrators.iter().zip(&ORCHS).find(|(o, _)| o.node.address() == ev.address).map_or("?", |(_, s)| s.name);
                match &ev.outcome {
                    Ok(()) => {
                        if first {
                            first = false;
                            println!("first segment playable {:.1} s after start", t0.elapsed().as_secs_f64());
                        }
                        println!(
                            "{} #{:<3} → {name} {} in {:>4} ms: {}{}; {} ticket(s), EV {}",
                            ev.stream,
                            ev.seq,
                            short(ev.address),
                            ev.latency.as_millis(),
                            ev.reason,
                            if ev.attempts > 1 { format!(" (attempt {})", ev.attempts) } else { String::new() },
                            ev.tickets,
                            eth(ev.value),
                        );
                    }
                    Err(e) => println!("{} #{:<3} failed after {} attempts: {e}", ev.stream, ev.seq, ev.attempts),
                }
            }
            _ = round_tick.tick() => {
                let Ok(st) = gp.round_status().await else { continue };
                if st.round > last_round && st.initialized {
                    last_round = st.round;
                    report(st.round.0, &net.orchestrators, &net.delegators, &mut last_stake).await;
                }
            }
        }
    };
    println!("stopping: {reason}");
    let _ = ffmpeg.kill().await;
    // The gateway stops first, so no segment is sent to a stopping orchestrator.
    net.stop().await.context("stopping anvil")?;
    Ok(())
}

async fn report(
    round: u64,
    orchs: &[LocalOrchestrator],
    delegators: &[LocalDelegator],
    last: &mut std::collections::HashMap<Address, Lpt>,
) {
    println!("── round {round} ──");
    let mut gained = |who: Address, now: Lpt| -> String {
        let before = last.insert(who, now).unwrap_or(now);
        let d = now.checked_sub(before).unwrap_or(Lpt::ZERO);
        cut(&d.to_decimal_string(), 3)
    };
    for (o, s) in orchs.iter().zip(&ORCHS) {
        let m = o.node.metrics();
        let counts = o.payments.counts().ok();
        let won = counts.as_ref().map_or(0, reel_pm::StateCounts::total);
        let redeemed = counts.as_ref().map_or(0, |c| c.redeemed);
        let expired = counts.as_ref().map_or(0, |c| c.expired);
        let me = o.node.address();
        let last_reward = o
            .protocol
            .transcoder(me)
            .await
            .map_or(0, |t| t.last_reward_round.0);
        let (pending, fees) = match o.protocol.delegator(me).await {
            Ok(d) => (d.pending_stake, d.pending_fees),
            Err(_) => (Lpt::ZERO, Wei::ZERO),
        };
        println!(
            "  {}  segments {:>3}  tickets received {:>3} won {:>2} redeemed {:>2} expired {}  fees {}  own stake {} LPT (+{} this round, reward called in round {})",
            s.name,
            metric(&m, "livepeer_segment_transcoded_total"),
            metric(&m, "livepeer_tickets_recv"),
            won,
            redeemed,
            expired,
            eth(fees),
            cut(&pending.to_decimal_string(), 3),
            gained(me, pending),
            last_reward,
        );
    }
    for (i, del) in delegators.iter().enumerate() {
        if let Ok(me) = del.protocol.from()
            && let Ok(d) = del.protocol.delegator(me).await
        {
            println!(
                "  D{} → {}  stake {} LPT (+{} this round), fees {}",
                i + 1,
                ORCHS[del.to].name,
                cut(&d.pending_stake.to_decimal_string(), 3),
                gained(me, d.pending_stake),
                eth(d.pending_fees)
            );
        }
    }
}
