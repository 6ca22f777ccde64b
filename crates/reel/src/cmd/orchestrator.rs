//! `reel orchestrator`: sell transcoding on one service port (gRPC + HTTP, TLS by default),
//! transcoding locally and/or on remote transcoders; on-chain, with ticket payments, the
//! service URI kept registered and `reward()` called every round.

use std::collections::HashMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use alloy::primitives::{Address, U256};
use anyhow::Context;
use clap::Args;
use reel_node::metrics::Registry;
use reel_node::node::OrchestratorBuilder;
use reel_node::orchestrator::OrchestratorSettings;
use reel_node::orchestrator::workers::WorkerSettings;
use reel_node::ratelimit::RateSettings;
use reel_node::rpc::ServiceUri;
use reel_pm::{PricePerPixel, RecipientConfig, RedeemerConfig};
use reel_types::Wei;

use super::chain_args::{AccountArgs, ChainArgs};
use super::node_common::{self, CommonArgs, Network};

#[derive(Debug, Clone, Args)]
pub(crate) struct OrchestratorArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Where the service port (gRPC + HTTP) listens
    #[arg(
        long,
        alias = "httpAddr",
        env = "REEL_HTTP_ADDR",
        default_value = "127.0.0.1:8935"
    )]
    http_addr: SocketAddr,
    /// The URI gateways and transcoders reach this node at (default: the listen address);
    /// registered in the ServiceRegistry on-chain
    #[arg(
        long,
        alias = "serviceAddr",
        env = "REEL_SERVICE_ADDR",
        value_name = "URI"
    )]
    service_addr: Option<String>,
    /// Where /status and /metrics are served
    #[arg(
        long,
        alias = "cliAddr",
        env = "REEL_CLI_ADDR",
        default_value = "127.0.0.1:7935"
    )]
    cli_addr: SocketAddr,
    /// Serve /status, /metrics and /healthz on an address other than loopback (they have
    /// no authentication)
    #[arg(long)]
    cli_public: bool,
    /// Certificate, key and ticket database [default: ~/.reel/orchestrator]
    #[arg(long, alias = "datadir", env = "REEL_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Serve cleartext HTTP/2 (h2c) instead of TLS with a self-signed certificate
    #[arg(long)]
    no_tls: bool,
    /// Streams transcoded at once; more are answered OrchestratorCapped
    #[arg(
        long,
        alias = "maxSessions",
        env = "REEL_MAX_SESSIONS",
        default_value_t = 10
    )]
    max_sessions: usize,
    /// Price in wei per --pixels-per-unit pixels
    #[arg(
        long,
        alias = "pricePerUnit",
        env = "REEL_PRICE_PER_UNIT",
        default_value_t = 0
    )]
    price_per_unit: u64,
    #[arg(
        long,
        alias = "pixelsPerUnit",
        env = "REEL_PIXELS_PER_UNIT",
        default_value_t = 1
    )]
    pixels_per_unit: u64,
    /// Prices for particular gateways: JSON (or a file) like
    /// {"gateways":[{"ethaddress":"0x…","priceperunit":1000,"pixelsperunit":1}]}
    #[arg(
        long,
        alias = "pricePerGateway",
        alias = "pricePerBroadcaster",
        value_name = "JSON|FILE"
    )]
    price_per_gateway: Option<String>,
    /// Secret remote transcoders register with (reel transcoder --orch-secret)
    #[arg(
        long,
        alias = "orchSecret",
        env = "REEL_ORCH_SECRET",
        hide_env_values = true
    )]
    orch_secret: Option<String>,
    /// Do not transcode here: only on remote transcoders (needs --orch-secret)
    #[arg(long)]
    no_local_transcode: bool,
    /// Transcode locally in supervised worker processes (this binary's `transcoder`,
    /// on loopback) instead of in this process: a decoder crash on a poison stream costs
    /// that segment and a worker restart, not the orchestrator and its payments.
    /// `--transcode-in-child false` transcodes in this process
    #[arg(
        long,
        env = "REEL_TRANSCODE_IN_CHILD",
        default_value_t = true,
        action = clap::ArgAction::Set,
        value_name = "BOOL"
    )]
    transcode_in_child: bool,
    /// Worker processes with --transcode-in-child; sessions are spread over them
    #[arg(long, env = "REEL_TRANSCODE_WORKERS", default_value_t = 1)]
    transcode_workers: usize,
    /// libx264 preset for local transcoding
    #[arg(long, default_value = "veryfast")]
    preset: String,
    /// Threads per encoder (0: the encoder decides)
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Largest segment accepted, MiB
    #[arg(long, default_value_t = 64)]
    max_segment_mib: usize,
    /// Requests per second per client on the service port (0: no limit)
    #[arg(long, default_value_t = 50.0)]
    rate_limit: f64,
    /// Burst of requests per client
    #[arg(long, default_value_t = 100.0)]
    rate_burst: f64,
    /// Fetch segments sent by URL from private and loopback addresses too (closed
    /// networks and tests only)
    #[arg(long)]
    allow_private_segment_urls: bool,
    /// Sell WebAssembly compute jobs at this price, wei per unit of fuel (roughly one
    /// WebAssembly instruction); off when not given
    #[arg(long, env = "REEL_COMPUTE_PRICE", value_name = "WEI")]
    compute_price: Option<u64>,
    /// WebAssembly jobs run at once
    #[arg(long, default_value_t = 2)]
    compute_capacity: u32,
    /// Uploaded WebAssembly modules kept, MiB
    #[arg(long, default_value_t = 256)]
    compute_store_mib: usize,
    /// Expected value of one ticket, wei
    #[arg(long, alias = "ticketEV", default_value_t = 8_000_000_000)]
    ticket_ev: u64,
    /// Cap on a ticket's face value, wei (0: none)
    #[arg(long, alias = "maxFaceValue", default_value_t = 0)]
    max_face_value: u128,
    /// Gas one redemption costs (1,200,000 on Arbitrum)
    #[arg(long, default_value_t = 1_200_000)]
    redeem_gas: u64,
    /// Blocks ticket params stay valid. Winners are redeemed only after that and within two
    /// rounds of their creation, so keep it well under two round lengths
    #[arg(long, default_value_t = 40, value_name = "BLOCKS")]
    ticket_params_validity: u64,
    /// Face value cap while the sender's reserve cannot be read from a TicketBroker, wei
    #[arg(long, default_value_t = 1_000_000_000_000_000_000)]
    unverified_max_float: u128,
    /// Do not call reward() each round (on-chain)
    #[arg(long)]
    no_reward: bool,
    /// Also initialise rounds when nobody has (on-chain)
    #[arg(long, alias = "initializeRound")]
    initialize_round: bool,
    #[command(flatten)]
    chain: ChainArgs,
    #[command(flatten)]
    account: AccountArgs,
}

#[derive(Debug, serde::Deserialize)]
struct GatewayPrice {
    ethaddress: Address,
    priceperunit: u64,
    #[serde(default = "one")]
    pixelsperunit: u64,
}

fn one() -> u64 {
    1
}

#[derive(Debug, serde::Deserialize)]
struct GatewayPrices {
    #[serde(default, alias = "broadcasters")]
    gateways: Vec<GatewayPrice>,
}

fn gateway_prices(arg: &str) -> anyhow::Result<HashMap<Address, PricePerPixel>> {
    let text = if std::path::Path::new(arg).is_file() {
        std::fs::read_to_string(arg).with_context(|| format!("reading {arg}"))?
    } else {
        arg.to_owned()
    };
    let p: GatewayPrices = serde_json::from_str(&text).context("--price-per-gateway")?;
    p.gateways
        .into_iter()
        .map(|g| {
            Ok((
                g.ethaddress,
                node_common::price(g.priceperunit, g.pixelsperunit)?,
            ))
        })
        .collect()
}

/// This binary as `reel transcoder` workers with the orchestrator's ladder settings.
fn worker_settings(a: &OrchestratorArgs) -> anyhow::Result<WorkerSettings> {
    if a.transcode_workers == 0 {
        anyhow::bail!("--transcode-workers must be at least 1");
    }
    // /proc/self/exe is this very binary even when its file was replaced or deleted by an
    // upgrade since it started; the workers must match the orchestrator.
    let proc_exe = std::path::PathBuf::from("/proc/self/exe");
    let exe = if proc_exe.exists() {
        proc_exe
    } else {
        std::env::current_exe().context("finding this program for --transcode-in-child")?
    };
    // Every worker can take its share of the sessions, rounded up.
    let capacity = a.max_sessions.div_ceil(a.transcode_workers).max(1);
    let args: Vec<OsString> = [
        "transcoder",
        "--exit-with-stdin",
        "--cli-addr",
        "127.0.0.1:0",
        "--capacity",
        &capacity.to_string(),
        "--preset",
        &a.preset,
        "--threads",
        &a.threads.to_string(),
        "--max-segment-mib",
        &a.max_segment_mib.to_string(),
    ]
    .iter()
    .map(OsString::from)
    .collect();
    let mut w = WorkerSettings::new(exe, args);
    w.arg0 = std::env::args_os().next();
    w.count = a.transcode_workers;
    Ok(w)
}

/// Redemptions obey the account's gas cap and replacement flags like every other
/// transaction of the account, with the sender's bump so that a replacement outbids the
/// stuck redemption.
fn redeemer_config(redeem_gas: u64, sending: &reel_chain::SenderConfig) -> RedeemerConfig {
    RedeemerConfig {
        redeem_gas,
        max_gas_price: sending.max_gas_price,
        tx_timeout_secs: sending.replace_after.as_secs().max(1),
        max_replacements: sending.max_replacements,
        replacement_bump_percent: sending.bump_percent,
        ..RedeemerConfig::default()
    }
}

fn dump(a: &OrchestratorArgs, data_dir: &std::path::Path) -> serde_json::Value {
    serde_json::json!({
        "role": "orchestrator",
        "network": a.common.network,
        "httpAddr": a.http_addr.to_string(),
        "serviceAddr": a.service_addr,
        "cliAddr": a.cli_addr.to_string(),
        "cliPublic": a.cli_public,
        "dataDir": data_dir,
        "tls": !a.no_tls,
        "maxSessions": a.max_sessions,
        "pricePerUnit": a.price_per_unit,
        "pixelsPerUnit": a.pixels_per_unit,
        "pricePerGateway": a.price_per_gateway,
        "orchSecret": a.orch_secret.as_ref().map(|_| "(set)"),
        "localTranscode": !a.no_local_transcode,
        "transcodeInChild": a.transcode_in_child,
        "transcodeWorkers": a.transcode_workers,
        "preset": a.preset,
        "threads": a.threads,
        "maxSegmentMiB": a.max_segment_mib,
        "rateLimit": a.rate_limit,
        "rateBurst": a.rate_burst,
        "allowPrivateSegmentUrls": a.allow_private_segment_urls,
        "computePrice": a.compute_price,
        "computeCapacity": a.compute_capacity,
        "computeStoreMiB": a.compute_store_mib,
        "ticketEV": a.ticket_ev.to_string(),
        "maxFaceValue": a.max_face_value.to_string(),
        "redeemGas": a.redeem_gas,
        "ticketParamsValidity": a.ticket_params_validity,
        "reward": !a.no_reward,
        "initializeRound": a.initialize_round,
        "rpcUrl": a.chain.rpc_url,
        "controller": a.chain.controller,
        "devnet": a.chain.devnet,
    })
}

pub(crate) async fn run(args: OrchestratorArgs) -> anyhow::Result<()> {
    let args = match &args.common.config {
        Some(f) => node_common::with_config_file::<OrchestratorArgs>("orchestrator", f)?,
        None => args,
    };
    let data_dir = node_common::data_dir(args.data_dir.as_ref(), "orchestrator")?;
    if args.common.dump_config {
        println!("{}", serde_json::to_string_pretty(&dump(&args, &data_dir))?);
        return Ok(());
    }
    let mut s = OrchestratorSettings::new(args.http_addr);
    s.tls = !args.no_tls;
    s.service_uri = args
        .service_addr
        .as_deref()
        .map(|u| {
            let mut u = ServiceUri::parse(u)?;
            // A bare host:port takes the transport in use.
            if !args
                .service_addr
                .as_deref()
                .unwrap_or_default()
                .contains("://")
            {
                u.tls = !args.no_tls;
            }
            Ok::<_, reel_node::NodeError>(u)
        })
        .transpose()?;
    s.data_dir = Some(data_dir.clone());
    s.cli_addr = Some(args.cli_addr);
    s.cli_public = args.cli_public;
    s.max_sessions = args.max_sessions;
    s.price = node_common::price(args.price_per_unit, args.pixels_per_unit)?;
    if let Some(p) = &args.price_per_gateway {
        s.price_per_gateway = gateway_prices(p)?;
    }
    s.orch_secret = args.orch_secret.clone();
    s.local_transcode = !args.no_local_transcode;
    s.x264_preset = args.preset.clone();
    s.encoder_threads = args.threads;
    if args.transcode_in_child && !args.no_local_transcode {
        s.workers = Some(worker_settings(&args)?);
    }
    s.max_segment_bytes = args.max_segment_mib << 20;
    s.url_policy.allow_private = args.allow_private_segment_urls;
    s.url_policy.max_bytes = s.max_segment_bytes;
    s.rate = RateSettings {
        per_second: args.rate_limit,
        burst: args.rate_burst.max(1.0),
        ..RateSettings::default()
    };
    let sandbox = args
        .compute_price
        .map(|price| compute_offer(&mut s, price, args.compute_capacity, args.compute_store_mib))
        .transpose()?;

    let mut builder = OrchestratorBuilder::new(s).registry(Registry::new());
    let mut chain_url = None;
    if let Network::Onchain = args.common.network {
        let c = node_common::connect(&args.chain, &args.account).await?;
        chain_url = Some(c.rpc_url.clone());
        builder = builder
            .signer(c.signer.clone())
            .chain(c.protocol)
            .payments(
                RecipientConfig {
                    ticket_ev: Wei::from_base_units(U256::from(args.ticket_ev)),
                    redeem_gas: args.redeem_gas,
                    params_validity_blocks: args.ticket_params_validity,
                    max_face_value: (args.max_face_value > 0)
                        .then(|| Wei::from_base_units(U256::from(args.max_face_value))),
                    ..RecipientConfig::default()
                },
                redeemer_config(args.redeem_gas, &c.sending),
                Wei::from_base_units(U256::from(args.unverified_max_float)),
            )
            .register_service_uri(true)
            .keeper(
                !args.no_reward,
                args.initialize_round,
                Duration::from_secs(2),
            );
    }
    let node = builder.start().await.context("starting the orchestrator")?;
    let orch = &node.orchestrator;
    println!(
        "reel orchestrator {} ({}, price {}, up to {} sessions{})",
        orch.address(),
        match args.common.network {
            Network::Offchain => "off-chain",
            Network::Onchain => "on-chain",
        },
        orch.status().price,
        args.max_sessions,
        if args.no_local_transcode {
            ", remote transcoders only"
        } else if args.transcode_in_child {
            ", transcoding in worker processes"
        } else {
            ""
        },
    );
    println!("  service   {}", orch.uri());
    if let Some(cli) = orch.cli_addr() {
        println!("  status    http://{cli}/status");
        println!("  metrics   http://{cli}/metrics");
    }
    if let Some(fp) = orch.cert_sha256() {
        println!("  cert      SHA-256 {fp}");
    }
    if args.orch_secret.is_some() {
        let pin = orch
            .cert_sha256()
            .map(|fp| format!(" --orch-cert-sha256 {fp}"))
            .unwrap_or_default();
        println!(
            "  transcoders: reel transcoder --orch-addr {} --orch-secret …{pin}",
            orch.uri()
        );
    }
    for note in &node.notes {
        println!("  {note}");
    }
    if let Some(url) = chain_url {
        println!(
            "  chain     {url} (reward {})",
            if args.no_reward { "off" } else { "every round" }
        );
    }
    if let Some(price) = args.compute_price {
        println!(
            "  compute   WebAssembly jobs at {price} wei/fuel, {} at once",
            args.compute_capacity
        );
    }
    let tasks = node.tasks.clone();
    node_common::serve_until_signal(&tasks, async {
        // Running guests stop now: their blocking threads would otherwise hold the exit
        // until their deadlines.
        if let Some(sandbox) = &sandbox {
            sandbox.shutdown();
        }
        node.stop().await;
    })
    .await
}

/// Offers WebAssembly jobs: a sandbox with a cache of compiled modules, and a store for the
/// modules gateways upload, shared with the worker that reads it. Returns the sandbox, to
/// be shut down with the node.
pub(crate) fn compute_offer(
    s: &mut OrchestratorSettings,
    wei_per_fuel: u64,
    capacity: u32,
    store_mib: usize,
) -> anyhow::Result<reel_compute::Runtime> {
    anyhow::ensure!(capacity > 0, "--compute-capacity must be at least 1");
    let runtime = reel_compute::Runtime::new(64).context("starting the WebAssembly sandbox")?;
    let store = std::sync::Arc::new(reel_compute::ModuleStore::new(store_mib << 20));
    s.content = std::sync::Arc::clone(&store);
    s.jobs.push(reel_node::jobs::Offer {
        kind: std::sync::Arc::new(reel_compute::WasmKind::default()),
        model: reel_compute::MODEL.to_owned(),
        price: reel_pm::PricePerUnit::from_wei_per_unit(wei_per_fuel),
        capacity,
        warm: true,
        worker: std::sync::Arc::new(reel_compute::WasmWorker::new(runtime.clone(), store)),
    });
    Ok(runtime)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        account: AccountArgs,
    }

    #[test]
    fn a_gas_price_is_wei_unless_it_names_a_unit() {
        let p = |s: &str| {
            Cli::try_parse_from(["reel", &format!("--max-gas-price={s}")])
                .map(|c| c.account.max_gas_price.map(|w| w.base_units()))
                .map_err(|e| e.to_string())
        };
        assert_eq!(p("7000000000"), Ok(Some(U256::from(7_000_000_000u64))));
        assert_eq!(p("7gwei"), Ok(Some(U256::from(7_000_000_000u64))));
        assert_eq!(p("1.5 gwei"), Ok(Some(U256::from(1_500_000_000u64))));
        assert_eq!(p("0.000000002eth"), Ok(Some(U256::from(2_000_000_000u64))));
        assert_eq!(p("12wei"), Ok(Some(U256::from(12u64))));
        for bad in ["1.5", "-1", "gwei", "1e9", "0.0000000001gwei"] {
            let e = p(bad).unwrap_err();
            assert!(e.contains("is not a gas price"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_gas_cap_and_replacement_flags_reach_the_redeemer() {
        let cli = Cli::parse_from([
            "reel",
            "--max-gas-price",
            "7000000000",
            "--tx-timeout",
            "45s",
            "--max-tx-replacements",
            "5",
        ]);
        let r = redeemer_config(300_000, &cli.account.sender_config(false));
        assert_eq!(r.redeem_gas, 300_000);
        assert_eq!(
            r.max_gas_price,
            Some(Wei::from_base_units(U256::from(7_000_000_000u64)))
        );
        assert_eq!(r.tx_timeout_secs, 45);
        assert_eq!(r.max_replacements, 5);
        assert_eq!(r.replacement_bump_percent, 12);
        // Without flags: no cap, the sender's defaults (a devnet replaces sooner).
        let cli = Cli::parse_from(["reel"]);
        let r = redeemer_config(1, &cli.account.sender_config(true));
        assert_eq!(r.max_gas_price, None);
        assert_eq!(r.tx_timeout_secs, 10);
        assert_eq!(r.max_replacements, 3);
    }
}
