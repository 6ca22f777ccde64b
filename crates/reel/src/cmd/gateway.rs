//! `reel gateway`: ingest live video (RTMP, HTTP push), buy its transcoding from
//! orchestrators, serve HLS.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::U256;
use anyhow::Context;
use clap::Args;
use reel_node::gateway::GatewaySettings;
use reel_node::gateway::discovery::ListSource;
use reel_node::gateway::selection::Weights;
use reel_node::metrics::Registry;
use reel_node::node::GatewayBuilder;
use reel_node::rpc::ServiceUri;
use reel_pm::SenderConfig;
use reel_pm::broker::{ReserveInfo, SenderInfo};
use reel_types::Wei;

use super::chain_args::{AccountArgs, ChainArgs};
use super::node_common::{self, CommonArgs, Network};
use super::transcode::load_ladder;

#[derive(Debug, Clone, Args)]
pub(crate) struct GatewayArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// RTMP ingest: publish to rtmp://<addr>/live/<stream key>
    #[arg(
        long,
        alias = "rtmpAddr",
        env = "REEL_RTMP_ADDR",
        default_value = "127.0.0.1:1935"
    )]
    rtmp_addr: SocketAddr,
    /// HTTP push (/live/<key>/<seq>.ts) and HLS (/stream/<key>.m3u8)
    #[arg(
        long,
        alias = "httpAddr",
        env = "REEL_HTTP_ADDR",
        default_value = "127.0.0.1:9935"
    )]
    http_addr: SocketAddr,
    /// Where /status and /metrics are served
    #[arg(
        long,
        alias = "cliAddr",
        env = "REEL_CLI_ADDR",
        default_value = "127.0.0.1:5935"
    )]
    cli_addr: SocketAddr,
    /// Serve /status, /metrics and /healthz on an address other than loopback (they have
    /// no authentication)
    #[arg(long)]
    cli_public: bool,
    /// Dial orchestrators whose service address is loopback, private or link-local [default:
    /// yes with --orch-addr or on a development chain (chain id 31337 or 1337), no on others]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    allow_private_orchestrators: Option<bool>,
    /// Orchestrators to use, comma-separated (https://host:port); on-chain the default is
    /// the active set from the chain
    #[arg(
        long,
        alias = "orchAddr",
        env = "REEL_ORCH_ADDR",
        value_delimiter = ',',
        value_name = "URIS"
    )]
    orch_addr: Vec<String>,
    /// The ladder: standard profile names or a JSON ladder file
    #[arg(long, alias = "transcodingOptions", env = "REEL_TRANSCODING_OPTIONS", default_value = reel_media::profile::DEFAULT_LADDER, value_name = "NAMES|FILE")]
    transcoding_options: String,
    /// Target segment length in seconds
    #[arg(long, default_value_t = 2.0)]
    segment_length: f64,
    /// Streams at once
    #[arg(long, default_value_t = 10)]
    max_streams: usize,
    /// Largest pushed segment, MiB
    #[arg(long, default_value_t = 64)]
    max_segment_mib: usize,
    /// Tries per segment before it is dropped
    #[arg(long, alias = "maxAttempts", default_value_t = 3)]
    max_attempts: u32,
    /// First wait for GetOrchestrator answers (doubles up to 6 s while none came)
    #[arg(long, alias = "discoveryTimeout", default_value = "500ms", value_parser = super::duration::parse_duration)]
    discovery_timeout: Duration,
    /// Selection weight of stake
    #[arg(long, alias = "selectStakeWeight", default_value_t = 0.7)]
    select_stake_weight: f64,
    /// Selection weight of price
    #[arg(long, alias = "selectPriceWeight", default_value_t = 0.0)]
    select_price_weight: f64,
    /// Selection weight of chance
    #[arg(long, alias = "selectRandFreq", default_value_t = 0.3)]
    select_rand_freq: f64,
    /// F in e^(-price/F) (price in wei per pixel)
    #[arg(long, alias = "selectPriceExpFactor", default_value_t = 100.0)]
    select_price_exp_factor: f64,
    /// Highest price accepted, wei per --pixels-per-unit pixels (0: any)
    #[arg(long, alias = "maxPricePerUnit", default_value_t = 0)]
    max_price_per_unit: u64,
    #[arg(long, alias = "pixelsPerUnit", default_value_t = 1)]
    pixels_per_unit: u64,
    /// Highest prices of jobs, per (pipeline, model): a JSON file or inline JSON
    /// `{"capabilities_prices":[{"pipeline","model_id","price_per_unit","pixels_per_unit"}]}`;
    /// model "default" caps the pipeline's other models
    #[arg(long, alias = "maxPricePerCapability", value_name = "JSON|FILE")]
    max_price_per_capability: Option<String>,
    /// Decode every rendition and check the orchestrator's pixel counts
    #[arg(long, alias = "localVerify", default_value_t = true, action = clap::ArgAction::Set)]
    local_verify: bool,
    /// Largest EV of one ticket, wei
    #[arg(long, alias = "maxTicketEV", default_value_t = 3_000_000_000_000)]
    max_ticket_ev: u64,
    /// Largest EV of one payment, wei
    #[arg(long, alias = "maxTotalEV", default_value_t = 20_000_000_000_000)]
    max_total_ev: u64,
    /// Face value must stay below deposit / this
    #[arg(long, alias = "depositMultiplier", default_value_t = 1)]
    deposit_multiplier: u64,
    /// Deposit assumed while it cannot be read from a TicketBroker, wei
    #[arg(long, default_value_t = 1_000_000_000_000_000_000)]
    assumed_deposit: u128,
    /// Keep every segment and a VOD playlist under DIR/<stream>/
    #[arg(long, value_name = "DIR")]
    record_dir: Option<PathBuf>,
    /// Share of WebAssembly jobs re-run on a second orchestrator to check the first (0 to
    /// 1), and with --verifier of segments transcoded again; a disagreement bans the odd one
    /// out and keeps the evidence
    #[arg(long, default_value_t = 0.05)]
    verify_rate: f64,
    /// Take WHIP publishers (browsers, OBS) at POST /whip/<stream key>, and WHEP players at
    /// POST /whep/<stream key>/<rendition>, on the HTTP port
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    whip: bool,
    /// A token WHIP publishers must send as `Authorization: Bearer <token>`
    #[arg(long, env = "REEL_WHIP_TOKEN", value_name = "TOKEN")]
    whip_token: Option<String>,
    /// The address WHIP and WHEP media go through, offered to peers [default: the HTTP
    /// address's, loopback when that is 0.0.0.0]
    #[arg(long, value_name = "IP")]
    whip_ip: Option<std::net::IpAddr>,
    /// A trusted orchestrator (its service URI) that transcodes a --verify-rate share of
    /// segments again; a rendition whose pictures differ from its renditions bans the
    /// orchestrator that made it from the stream
    #[arg(long, value_name = "URI")]
    verifier: Option<String>,
    /// Where the signed results of a disagreement are kept [default:
    /// ~/.reel/gateway/evidence]
    #[arg(long, value_name = "DIR")]
    evidence_dir: Option<PathBuf>,
    #[command(flatten)]
    chain: ChainArgs,
    #[command(flatten)]
    account: AccountArgs,
}

pub(crate) async fn run(args: GatewayArgs) -> anyhow::Result<()> {
    let args = match &args.common.config {
        Some(f) => node_common::with_config_file::<GatewayArgs>("gateway", f)?,
        None => args,
    };
    let ladder = load_ladder(&args.transcoding_options)?;
    let orchs: Vec<ServiceUri> = args
        .orch_addr
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| ServiceUri::parse(s))
        .collect::<Result<_, _>>()
        .context("--orch-addr")?;
    anyhow::ensure!(
        args.segment_length > 0.0 && args.segment_length <= 60.0,
        "--segment-length must be between 0 and 60 seconds"
    );
    if args.common.dump_config {
        let v = serde_json::json!({
            "role": "gateway",
            "network": args.common.network,
            "rtmpAddr": args.rtmp_addr.to_string(),
            "httpAddr": args.http_addr.to_string(),
            "cliAddr": args.cli_addr.to_string(),
            "cliPublic": args.cli_public,
            "allowPrivateOrchestrators": args.allow_private_orchestrators,
            "orchAddr": orchs.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "transcodingOptions": ladder.iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
            "segmentLength": args.segment_length,
            "maxStreams": args.max_streams,
            "maxAttempts": args.max_attempts,
            "discoveryTimeoutMs": args.discovery_timeout.as_millis() as u64,
            "selectStakeWeight": args.select_stake_weight,
            "selectPriceWeight": args.select_price_weight,
            "selectRandFreq": args.select_rand_freq,
            "selectPriceExpFactor": args.select_price_exp_factor,
            "maxPricePerUnit": args.max_price_per_unit,
            "pixelsPerUnit": args.pixels_per_unit,
            "maxPricePerCapability": args.max_price_per_capability,
            "localVerify": args.local_verify,
            "maxTicketEV": args.max_ticket_ev.to_string(),
            "maxTotalEV": args.max_total_ev.to_string(),
            "depositMultiplier": args.deposit_multiplier,
            "recordDir": args.record_dir,
            "verifyRate": args.verify_rate,
            "verifier": args.verifier,
            "evidenceDir": args.evidence_dir,
            "rpcUrl": args.chain.rpc_url,
            "devnet": args.chain.devnet,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let mut s = GatewaySettings::new(args.http_addr, ladder);
    s.rtmp_addr = Some(args.rtmp_addr);
    s.whip = args.whip;
    s.whip_token = args.whip_token.clone();
    s.whip_ip = args.whip_ip;
    s.cli_addr = Some(args.cli_addr);
    s.cli_public = args.cli_public;
    s.allow_private_peers = args.allow_private_orchestrators;
    s.segment_length = Duration::from_secs_f64(args.segment_length);
    s.max_streams = args.max_streams;
    s.max_segment_bytes = args.max_segment_mib << 20;
    s.max_attempts = args.max_attempts;
    s.discovery_timeout = args.discovery_timeout;
    s.weights = Weights {
        stake: args.select_stake_weight,
        price: args.select_price_weight,
        random: args.select_rand_freq,
        price_exp_factor: args.select_price_exp_factor,
    };
    s.max_price = (args.max_price_per_unit > 0)
        .then(|| node_common::price(args.max_price_per_unit, args.pixels_per_unit))
        .transpose()?;
    if let Some(caps) = &args.max_price_per_capability {
        s.max_price_per_capability = price_caps(caps)?;
    }
    s.local_verify = args.local_verify;
    s.record_dir = args.record_dir.clone();
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.verify_rate),
        "--verify-rate must be between 0 and 1, not {}",
        args.verify_rate
    );
    s.verify_rate = args.verify_rate;
    s.verifier = args
        .verifier
        .as_deref()
        .map(reel_node::rpc::ServiceUri::parse)
        .transpose()
        .context("--verifier")?;
    s.evidence_dir = Some(match &args.evidence_dir {
        Some(d) => d.clone(),
        None => node_common::data_dir(None, "gateway")?.join("evidence"),
    });
    s.jobs.add(compute_kind()?);

    let mut builder = GatewayBuilder::new(s).registry(Registry::new());
    match args.common.network {
        Network::Offchain => {
            anyhow::ensure!(
                !orchs.is_empty(),
                "off-chain the gateway needs --orch-addr (comma-separated orchestrator URIs)"
            );
            builder = builder.source(Arc::new(ListSource(orchs.clone())));
        }
        Network::Onchain => {
            let c = node_common::connect(&args.chain, &args.account).await?;
            if !orchs.is_empty() {
                builder = builder.source(Arc::new(ListSource(orchs.clone())));
            }
            let assumed = Wei::from_base_units(U256::from(args.assumed_deposit));
            builder = builder.signer(c.signer.clone()).chain(c.protocol).payments(
                SenderConfig {
                    max_ticket_ev: Wei::from_base_units(U256::from(args.max_ticket_ev)),
                    max_total_ev: Wei::from_base_units(U256::from(args.max_total_ev)),
                    deposit_multiplier: args.deposit_multiplier,
                    ..SenderConfig::default()
                },
                SenderInfo {
                    deposit: assumed,
                    withdraw_round: 0,
                    reserve: ReserveInfo {
                        funds_remaining: assumed,
                        claimed_in_current_round: Wei::ZERO,
                    },
                },
            );
        }
    }
    let node = builder.start().await.context("starting the gateway")?;
    for note in &node.notes {
        println!("{note}");
    }
    let gw = &node.gateway;
    let (r, h) = (gw.rtmp_addr().unwrap_or(args.rtmp_addr), gw.http_addr());
    println!(
        "reel gateway {} ({})",
        gw.address(),
        match args.common.network {
            Network::Offchain => format!("off-chain, {} orchestrators", orchs.len()),
            Network::Onchain if orchs.is_empty() =>
                "on-chain, orchestrators from the chain".to_owned(),
            Network::Onchain => format!("on-chain, {} orchestrators given", orchs.len()),
        }
    );
    println!("  publish   rtmp://{r}/live/<stream key>");
    println!("  push      PUT http://{h}/live/<stream key>/<seq>.ts");
    if args.whip {
        println!("  WHIP      http://{h}/whip/<stream key>  (browsers, OBS: WHIP output)");
        println!("  WHEP      http://{h}/whep/<stream key>/<rendition>");
    }
    println!("  play      http://{h}/stream/<stream key>.m3u8");
    if let Some(c) = gw.cli_addr() {
        println!("  status    http://{c}/status");
    }
    let tasks = node.tasks.clone();
    node_common::serve_until_signal(&tasks, node.stop()).await
}

/// `--max-price-per-capability`: inline JSON, or the path of a file holding it.
fn price_caps(
    arg: &str,
) -> anyhow::Result<std::collections::BTreeMap<reel_jobs::CapabilityKey, reel_pm::PricePerUnit>> {
    let text = if arg.trim_start().starts_with('{') {
        arg.to_owned()
    } else {
        std::fs::read_to_string(arg)
            .with_context(|| format!("reading --max-price-per-capability file {arg}"))?
    };
    reel_jobs::pipeline::parse_price_caps(&text).context("--max-price-per-capability")
}

/// WebAssembly jobs, with modules compiled at the gateway before anything is paid (a module
/// that cannot run costs nothing).
pub(crate) fn compute_kind() -> anyhow::Result<std::sync::Arc<dyn reel_jobs::JobKind>> {
    let runtime = reel_compute::Runtime::new(64).context("starting the WebAssembly sandbox")?;
    Ok(std::sync::Arc::new(reel_compute::WasmKind::checked(
        runtime,
    )))
}
