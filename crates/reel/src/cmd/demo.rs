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
    /// Sells WebAssembly jobs too.
    compute: bool,
}

const ORCHS: [OrchSpec; 3] = [
    OrchSpec {
        name: "O1",
        stake: 3000,
        reward_cut: "10",
        fee_share: "50",
        price: 20_000_000,
        remote: false,
        compute: true,
    },
    OrchSpec {
        name: "O2",
        stake: 2000,
        reward_cut: "25",
        fee_share: "75",
        price: 30_000_000,
        remote: true,
        compute: false,
    },
    OrchSpec {
        name: "O3",
        stake: 1000,
        reward_cut: "5",
        fee_share: "25",
        price: 15_000_000,
        remote: false,
        compute: true,
    },
];
/// (LPT, delegate index in ORCHS)
const DELEGATORS: [(u64, usize); 2] = [(1500, 0), (1000, 2)];
const ROUND_LENGTH: u64 = 12;
/// One ticket is worth about one segment; one in five wins.
const TICKET_EV: u64 = 200_000_000_000_000;
const FACE_VALUE: u64 = 1_000_000_000_000_000;
const REDEEM_GAS: u64 = 200_000;
/// Wei per unit of fuel: a billion fuel (about a second of work) for half a ticket's EV.
const COMPUTE_PRICE: u64 = 100_000;
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
        if spec.compute {
            // The demo's jobs are tiny: the sandbox goes with the process.
            super::orchestrator::compute_offer(&mut s, COMPUTE_PRICE, 2, 64)?;
        }
        let transcoder = spec.remote.then(|| TranscoderSpec {
            secret: "demo-transcoder-secret".into(),
            capacity: 2,
            encoder_threads: 1,
            count: 1,
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
    gs.jobs.add(super::gateway::compute_kind()?);
    // One job in five is re-run on the other compute orchestrator.
    gs.verify_rate = 0.2;
    gs.evidence_dir = Some(dir.join("evidence"));
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
        placement: None,
    };
    let options = DevnetOptions {
        data_dir: dir.join("chain"),
        host: std::net::Ipv4Addr::LOCALHOST.into(),
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
    let f = net.devnet().file();
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
    compute_demo(gw, &dir).await?;
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

/// A WASI command that greets its arguments, for the compute example.
const HELLO_WAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello from WebAssembly,")
  (func $write (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start") (local $argc i32) (local $i i32) (local $p i32) (local $n i32)
    (drop (call $args_sizes_get (i32.const 64) (i32.const 68)))
    (local.set $argc (i32.load (i32.const 64)))
    (drop (call $args_get (i32.const 1024) (i32.const 2048)))
    (call $write (i32.const 16) (i32.const 23))
    ;; argv[0] is the module's hash: greet the rest, each after a space.
    (local.set $i (i32.const 1))
    (block $done (loop $args
      (br_if $done (i32.ge_u (local.get $i) (local.get $argc)))
      (local.set $p (i32.load (i32.add (i32.const 1024) (i32.mul (local.get $i) (i32.const 4)))))
      ;; The NUL that ends each argument becomes the space before it.
      (i32.store8 (i32.sub (local.get $p) (i32.const 1)) (i32.const 32))
      (local.set $n (i32.const 0))
      (block $end (loop $len
        (br_if $end (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $len)))
      (call $write (i32.sub (local.get $p) (i32.const 1)) (i32.add (local.get $n) (i32.const 1)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $args)))
    (i32.store8 (i32.const 40) (i32.const 10))
    (call $write (i32.const 40) (i32.const 1))))"#;

/// Writes the example module, runs it once through the gateway, and prints the command that
/// does the same.
async fn compute_demo(
    gw: &reel_node::gateway::RunningGateway,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    let wasm = wat::parse_str(HELLO_WAT).context("assembling the example module")?;
    let path = dir.join("hello.wasm");
    std::fs::write(&path, &wasm).with_context(|| format!("writing {}", path.display()))?;
    let spec = reel_compute::job::JobSpec {
        module: String::new(),
        module_len: 0,
        input_len: 0,
        args: vec!["devnet".into()],
        env: Vec::new(),
        max_fuel: 1_000_000,
        max_memory_mib: 16,
        timeout_ms: 5_000,
        max_output_bytes: 4096,
        seed: "00".repeat(32),
    };
    let job = reel_compute::job::WasmJob::new(wasm.into(), bytes::Bytes::new(), spec);
    let names: Vec<&str> = ORCHS.iter().filter(|o| o.compute).map(|o| o.name).collect();
    match gw
        .run_job(
            reel_compute::KIND_NAME,
            reel_jobs::JobRequest::new(reel_compute::job::CONTENT_TYPE, job.encode()),
        )
        .await
    {
        Ok(r) => {
            let out = reel_compute::job::WasmResult::decode(&r.output.body)
                .map(|w| String::from_utf8_lossy(&w.output).trim_end().to_owned())
                .unwrap_or_default();
            println!(
                "  compute    {} sell WebAssembly jobs at {COMPUTE_PRICE} wei/fuel; a first job said {out:?} for {} wei",
                names.join(" and "),
                r.fee.base_units()
            );
        }
        Err(e) => println!("  compute    the first WebAssembly job failed: {e}"),
    }
    println!(
        "  run one    reel job run {} --arg you --gateway http://{}",
        path.display(),
        gw.http_addr()
    );
    Ok(())
}
