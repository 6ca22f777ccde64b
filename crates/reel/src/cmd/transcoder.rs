//! `reel transcoder`: a remote transcoder for an orchestrator.

use std::net::SocketAddr;

use anyhow::Context;
use clap::Args;
use reel_node::metrics::Registry;
use reel_node::rpc::ServiceUri;
use reel_node::transcoder::TranscoderSettings;
use tokio_util::sync::CancellationToken;

use super::node_common::{self, CommonArgs};

#[derive(Debug, Clone, Args)]
pub(crate) struct TranscoderArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The orchestrator: https://host:port (or http:// for h2c)
    #[arg(long, alias = "orchAddr", env = "REEL_ORCH_ADDR", value_name = "URI")]
    orch_addr: String,
    /// The orchestrator's --orch-secret
    #[arg(
        long,
        alias = "orchSecret",
        env = "REEL_ORCH_SECRET",
        hide_env_values = true
    )]
    orch_secret: String,
    /// The SHA-256 fingerprint of the orchestrator's certificate (the orchestrator logs it
    /// at start as cert_sha256): any other certificate is refused before the secret is sent
    #[arg(long, env = "REEL_ORCH_CERT_SHA256", value_name = "HEX")]
    orch_cert_sha256: Option<reel_node::tls::CertPin>,
    /// Streams transcoded at once
    #[arg(
        long,
        alias = "maxSessions",
        env = "REEL_CAPACITY",
        default_value_t = 1
    )]
    capacity: u32,
    /// Where /status and /metrics are served
    #[arg(
        long,
        alias = "cliAddr",
        env = "REEL_CLI_ADDR",
        default_value = "127.0.0.1:6935"
    )]
    cli_addr: SocketAddr,
    /// Serve /status and /metrics on an address other than loopback (they have no
    /// authentication)
    #[arg(long)]
    cli_public: bool,
    /// libx264 preset
    #[arg(long, default_value = "veryfast")]
    preset: String,
    /// Threads per encoder (0: the encoder decides)
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Largest input segment fetched, MiB
    #[arg(long, default_value_t = 64)]
    max_segment_mib: usize,
    /// Exit when stdin closes: set by an orchestrator for its worker processes
    /// (--transcode-in-child), so that none outlives it
    #[arg(long, hide = true)]
    exit_with_stdin: bool,
}

pub(crate) async fn run(args: TranscoderArgs) -> anyhow::Result<()> {
    let args = match &args.common.config {
        Some(f) => node_common::with_config_file::<TranscoderArgs>("transcoder", f)?,
        None => args,
    };
    let orch = ServiceUri::parse(&args.orch_addr).context("--orch-addr")?;
    if args.common.dump_config {
        let v = serde_json::json!({
            "role": "transcoder",
            "orchAddr": orch.to_string(),
            "orchSecret": "(set)",
            "capacity": args.capacity,
            "orchCertSha256": args.orch_cert_sha256.map(|p| p.to_string()),
            "cliAddr": args.cli_addr.to_string(),
            "cliPublic": args.cli_public,
            "preset": args.preset,
            "threads": args.threads,
            "maxSegmentMiB": args.max_segment_mib,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let mut s = TranscoderSettings::new(orch.clone(), args.orch_secret.clone());
    s.capacity = args.capacity;
    s.x264_preset = args.preset.clone();
    s.encoder_threads = args.threads;
    s.cli_addr = Some(args.cli_addr);
    s.cli_public = args.cli_public;
    s.orch_cert_sha256 = args.orch_cert_sha256;
    s.max_segment_bytes = args.max_segment_mib << 20;
    println!("reel transcoder for {orch} (capacity {})", args.capacity);
    println!("  status    http://{}/status", args.cli_addr);
    println!("Press Ctrl-C to stop.");
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let signal = tokio::spawn(async move {
        if let Ok(name) = node_common::shutdown_signal().await {
            tracing::info!("{name}: stopping");
        }
        stop.cancel();
    });
    if args.exit_with_stdin {
        // The orchestrator holds our stdin; its end (the orchestrator gone, even by
        // SIGKILL) ends us at once: our tasks died with it.
        std::thread::spawn(|| {
            let mut sink = [0u8; 64];
            while matches!(std::io::Read::read(&mut std::io::stdin(), &mut sink), Ok(n) if n > 0) {}
            tracing::info!("stdin closed: the orchestrator is gone; exiting");
            std::process::exit(0);
        });
    }
    let r = reel_node::transcoder::run(s, Registry::new(), shutdown).await;
    signal.abort();
    r.context("transcoder")
}
