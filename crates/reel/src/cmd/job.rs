//! `reel job run`: a WebAssembly module run on the network through a gateway, paid with the
//! gateway's tickets; stdout comes back on stdout, the signed receipt's figures on stderr.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use clap::{Args, Subcommand};
use reel_compute::job::{self, JobSpec, Outcome, WasmJob, WasmResult};

#[derive(Debug, Args)]
pub(crate) struct JobArgs {
    #[command(subcommand)]
    command: JobCommand,
}

#[derive(Debug, Subcommand)]
enum JobCommand {
    /// Run a WebAssembly module (a WASI command) on an orchestrator, paid per unit of fuel
    Run(RunArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The module: a WASI preview 1 command (`_start`), e.g. from
    /// `clang --target=wasm32-wasi`
    module: PathBuf,
    /// The module's stdin ("-" for this process's stdin)
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// An argument for the module (repeat for more)
    #[arg(long = "arg", value_name = "ARG", allow_hyphen_values = true)]
    args: Vec<String>,
    /// An environment variable for the module, NAME=VALUE (repeat for more)
    #[arg(long = "env", value_name = "NAME=VALUE")]
    env: Vec<String>,
    /// Most fuel (about one WebAssembly instruction each) to buy; paid up front, the unused
    /// part stays as credit at the orchestrator
    #[arg(long, default_value_t = 1_000_000_000)]
    max_fuel: u64,
    /// Memory limit, MiB
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    max_memory: u32,
    /// Wall-clock limit at the orchestrator
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = super::duration::parse_duration)]
    timeout: Duration,
    /// Largest output, bytes
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    max_output: u64,
    /// 32 bytes of hex seeding the module's randomness [default: random]; the same seed
    /// gives the same output
    #[arg(long, value_name = "HEX")]
    seed: Option<String>,
    /// The gateway's HTTP address
    #[arg(long, env = "REEL_GATEWAY", default_value = "http://127.0.0.1:9935")]
    gateway: String,
    /// Write the receipt (JSON, as signed by the orchestrator) here
    #[arg(long, value_name = "FILE")]
    receipt: Option<PathBuf>,
}

pub(crate) async fn run(args: JobArgs) -> anyhow::Result<()> {
    match args.command {
        JobCommand::Run(a) => run_wasm(a).await,
    }
}

async fn run_wasm(a: RunArgs) -> anyhow::Result<()> {
    let module = std::fs::read(&a.module)
        .with_context(|| format!("reading the module {}", a.module.display()))?;
    anyhow::ensure!(
        module.starts_with(b"\0asm"),
        "{} is not a WebAssembly binary (no \\0asm header); assemble text with wat2wasm",
        a.module.display()
    );
    let input = match &a.input {
        None => Vec::new(),
        Some(p) if p.as_os_str() == "-" => {
            let mut v = Vec::new();
            std::io::stdin()
                .read_to_end(&mut v)
                .context("reading stdin")?;
            v
        }
        Some(p) => std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
    };
    let env = a
        .env
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .with_context(|| format!("--env {kv:?} is not NAME=VALUE"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let seed = match a.seed {
        Some(s) => s,
        None => {
            let mut b = [0u8; 32];
            getrandom::fill(&mut b).context("no randomness for a seed: pass --seed")?;
            job::to_hex(&b)
        }
    };
    let spec = JobSpec {
        module: String::new(),
        module_len: 0,
        input_len: 0,
        args: a.args,
        env,
        max_fuel: a.max_fuel,
        max_memory_mib: a.max_memory,
        timeout_ms: u64::try_from(a.timeout.as_millis()).unwrap_or(u64::MAX),
        max_output_bytes: a.max_output,
        seed,
    };
    let body = WasmJob::new(Bytes::from(module), Bytes::from(input), spec).encode();
    // The job's own deadline, plus uploads, payment and a re-run elsewhere.
    let client = reqwest::Client::builder()
        .timeout(a.timeout * 3 + Duration::from_secs(30))
        .build()?;
    let url = format!(
        "{}/job/{}",
        a.gateway.trim_end_matches('/'),
        reel_compute::KIND_NAME
    );
    let resp = client
        .post(&url)
        .header("content-type", job::CONTENT_TYPE)
        .body(body)
        .send()
        .await
        .with_context(|| format!("no answer from the gateway at {url}"))?;
    let status = resp.status();
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (fee, price, orch, verification) = (
        header("livepeer-fee"),
        header("livepeer-price"),
        header("livepeer-orchestrator"),
        header("reel-verification"),
    );
    let bytes = resp.bytes().await.context("reading the gateway's answer")?;
    if !status.is_success() {
        let message = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
        anyhow::bail!("the gateway refused the job ({status}): {message}");
    }
    let r = WasmResult::decode(&bytes).context("the gateway's answer is not a job result")?;
    std::io::stdout().write_all(&r.output)?;
    std::io::stdout().flush()?;
    if let Some(p) = &a.receipt {
        std::fs::write(p, serde_json::to_vec_pretty(&r.receipt)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    let rc = &r.receipt;
    // "n/d" wei per unit; a whole price reads better alone.
    let price = price.strip_suffix("/1").unwrap_or(&price).to_owned();
    eprintln!(
        "reel: {} · {} fuel · {:.1} ms · {} units × {} wei = {} wei · {}",
        rc.outcome,
        rc.fuel_used,
        rc.wall_us as f64 / 1000.0,
        rc.units,
        price,
        fee,
        orch
    );
    if !verification.is_empty() {
        eprintln!("reel: re-run: {verification}");
    }
    if !rc.stderr.is_empty() {
        eprintln!("reel: the module's stderr:\n{}", rc.stderr.trim_end());
    }
    match &rc.outcome {
        Outcome::Exited { code: 0 } => Ok(()),
        Outcome::Exited { code } => std::process::exit((*code).clamp(1, 255)),
        other => anyhow::bail!("the module {other} (billed {} units)", rc.units),
    }
}
