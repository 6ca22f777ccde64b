//! The cost of the network around a WebAssembly job (run with
//! `cargo bench -p reel-node --bench compute`; prints a report, asserts nothing).
//!
//! A module that spins for about 1 ms is run (1) directly in the sandbox, (2) through a
//! gateway and an orchestrator on a devnet: module by hash, TLS, tickets credited and
//! debited, the result signed and checked, and (3) the same through the gateway's HTTP API,
//! as `reel job run` does. The overhead is the median difference.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::U256;
use bytes::Bytes;
use reel_chain::DevnetOptions;
use reel_compute::job::{self, JobSpec, WasmJob};
use reel_compute::{Limits, MODEL, ModuleStore, RunInput, Runtime, WasmKind, WasmWorker};
use reel_localnet::{GatewaySpec, LocalNetwork, OrchestratorSpec};
use reel_node::gateway::GatewaySettings;
use reel_node::jobs::{JobKind, JobRequest, Offer};
use reel_node::orchestrator::OrchestratorSettings;
use reel_pm::{PricePerPixel, PricePerUnit};
use reel_types::Wei;
use tokio_util::sync::CancellationToken;

const RUNS: usize = 200;
const EV: u64 = 1_000_000_000_000;

fn spinner(iterations: u32) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module (memory (export "memory") 1)
          (func (export "_start") (local $i i32)
            (local.set $i (i32.const {iterations}))
            (loop $l (local.set $i (i32.sub (local.get $i) (i32.const 1)))
                     (br_if $l (i32.ne (local.get $i) (i32.const 0))))))"#
    ))
    .expect("wat")
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn spec() -> JobSpec {
    JobSpec {
        module: String::new(),
        module_len: 0,
        input_len: 0,
        args: vec![],
        env: vec![],
        max_fuel: 100_000_000,
        max_memory_mib: 16,
        timeout_ms: 5_000,
        max_output_bytes: 1024,
        seed: "00".repeat(32),
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    // Calibrate: iterations for about 1 ms in the sandbox.
    let sandbox = Runtime::new(8).expect("sandbox");
    let limits = Limits {
        fuel: 100_000_000,
        memory_bytes: 16 << 20,
        timeout: Duration::from_secs(5),
        output_bytes: 1024,
    };
    let input = |_: ()| RunInput {
        stdin: Bytes::new(),
        args: &[],
        env: &[],
        seed: [0; 32],
        limits,
    };
    let mut iterations = 100_000u32;
    let mut module = spinner(iterations);
    for _ in 0..6 {
        let m = sandbox.compile(&module).expect("compile");
        let t: Vec<Duration> = (0..20)
            .map(|_| {
                let t0 = Instant::now();
                sandbox.run(&m, &input(())).expect("run");
                t0.elapsed()
            })
            .collect();
        let ms = median(t).as_secs_f64() * 1e3;
        iterations = ((f64::from(iterations) / ms) as u32).max(1000);
        module = spinner(iterations);
    }
    let m = sandbox.compile(&module).expect("compile");
    let direct: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let t0 = Instant::now();
            sandbox.run(&m, &input(())).expect("run");
            t0.elapsed()
        })
        .collect();

    let dir = tempfile::tempdir().expect("tempdir");
    let shutdown = CancellationToken::new();
    let store = Arc::new(ModuleStore::new(64 << 20));
    let mut os = OrchestratorSettings::new("127.0.0.1:0".parse().expect("addr"));
    os.data_dir = Some(dir.path().join("o"));
    os.price = PricePerPixel::from_wei_per_unit(1);
    os.rate.per_second = 100_000.0;
    os.rate.burst = 100_000.0;
    os.content = Arc::clone(&store);
    os.jobs = vec![Offer {
        kind: Arc::new(WasmKind::default()),
        model: MODEL.into(),
        price: PricePerUnit::from_wei_per_unit(1_000),
        capacity: 2,
        warm: true,
        worker: Arc::new(WasmWorker::new(Runtime::new(8).expect("sandbox"), store)),
    }];
    let mut gs = GatewaySettings::new(
        "127.0.0.1:0".parse().expect("addr"),
        reel_media::parse_ladder("P144p30fps16x9").expect("ladder"),
    );
    gs.jobs = [Arc::new(WasmKind::checked(Runtime::new(8).expect("sandbox"))) as Arc<dyn JobKind>]
        .into_iter()
        .collect();
    let net = LocalNetwork::start(
        DevnetOptions::ephemeral(&dir.path().join("chain"), 3).with_round_length(100),
        vec![OrchestratorSpec::paid(
            os,
            Wei::from_base_units(U256::from(EV)),
        )],
        Some(GatewaySpec {
            deposit: Wei::from_whole(10),
            ..GatewaySpec::paying(gs, Wei::from_base_units(U256::from(EV)))
        }),
        &shutdown,
    )
    .await
    .expect("network");
    let gw = &net.gateway.as_ref().expect("gateway").gateway;
    let body = WasmJob::new(Bytes::from(module.clone()), Bytes::new(), spec()).encode();
    let req = || JobRequest::new(job::CONTENT_TYPE, body.clone());
    // Warm: the module uploaded and compiled, the session and its ticket params fetched.
    for _ in 0..5 {
        gw.run_job(reel_compute::KIND_NAME, req())
            .await
            .expect("job");
    }
    let mut through = Vec::new();
    let mut tickets = 0;
    for _ in 0..RUNS {
        let t0 = Instant::now();
        let r = gw
            .run_job(reel_compute::KIND_NAME, req())
            .await
            .expect("job");
        through.push(t0.elapsed());
        tickets += r.tickets;
    }
    let http = reqwest::Client::new();
    let url = format!("http://{}/job/{}", gw.http_addr(), reel_compute::KIND_NAME);
    let mut api = Vec::new();
    for _ in 0..RUNS {
        let t0 = Instant::now();
        let resp = http
            .post(&url)
            .header("content-type", job::CONTENT_TYPE)
            .body(body.clone())
            .send()
            .await
            .expect("post");
        let _ = resp.bytes().await.expect("body");
        api.push(t0.elapsed());
    }
    let (d, t, a) = (median(direct), median(through), median(api));
    println!("| path ({RUNS} runs of a {iterations}-iteration spin) | median |");
    println!("|---|---|");
    println!("| in the sandbox | {:.2} ms |", d.as_secs_f64() * 1e3);
    println!(
        "| gateway → orchestrator, paid (tickets: {tickets}) | {:.2} ms |",
        t.as_secs_f64() * 1e3
    );
    println!(
        "| client → gateway HTTP API → orchestrator | {:.2} ms |",
        a.as_secs_f64() * 1e3
    );
    println!();
    println!(
        "overhead of the network and payment: {:.2} ms (in-process gateway), {:.2} ms (HTTP API)",
        (t.saturating_sub(d)).as_secs_f64() * 1e3,
        (a.saturating_sub(d)).as_secs_f64() * 1e3
    );
    shutdown.cancel();
    let _ = net.stop().await;
}
