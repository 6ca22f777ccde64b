//! WebAssembly compute jobs on a devnet, paid with tickets from the gateway's deposit:
//! modules written in WAT here and C compiled with clang, each output checked against the
//! same computation done natively; fuel billing; bad modules and hostile jobs; and the
//! gateway's re-runs that catch an orchestrator returning wrong outputs (a worker defined
//! here that lies) without a false positive over 1,000 honest jobs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use alloy::primitives::U256;
use bytes::Bytes;
use reel_chain::DevnetOptions;
use reel_compute::job::{self, JobSpec, Outcome, WasmJob, WasmResult};
use reel_compute::{CAPABILITY, KIND_NAME, MODEL, ModuleStore, Runtime, WasmKind, WasmWorker};
use reel_localnet::{GatewaySpec, LocalNetwork, OrchestratorSpec};
use reel_node::gateway::GatewaySettings;
use reel_node::jobs::{
    BoxFuture, JobError, JobKind, JobOutput, JobRequest, JobWorker, Offer, Placement,
};
use reel_pm::{AccountKey, PricePerUnit};
use reel_testkit::compute;
use reel_testkit::http::Http;
use reel_types::Wei;
use tokio_util::sync::CancellationToken;

use crate::support::*;

const EV: u64 = 1_000_000_000_000;
/// Wei per unit of fuel: a billion fuel costs one ticket's EV.
const PRICE: u64 = 1_000;

/// An orchestrator's worker that runs jobs honestly, then (once armed) returns a different
/// output with a receipt made to match it: the lie a signature and a receipt check cannot
/// catch, only a second run.
struct Liar {
    honest: WasmWorker,
    armed: Arc<AtomicBool>,
}

impl JobWorker for Liar {
    fn placement(&self) -> Placement {
        Placement::InProcess
    }

    fn run(
        &self,
        model: &str,
        request: JobRequest,
    ) -> BoxFuture<'static, Result<JobOutput, JobError>> {
        let run = self.honest.run(model, request);
        let armed = self.armed.load(Ordering::SeqCst);
        Box::pin(async move {
            let mut out = run.await?;
            if armed {
                let mut r = WasmResult::decode(&out.body).unwrap();
                let mut o = r.output.to_vec();
                o.extend_from_slice(b" (forged)");
                r.output = Bytes::from(o);
                r.receipt.output_len = r.output.len() as u64;
                r.receipt.output_sha256 = job::to_hex(&job::sha256(&r.output));
                let io = job::io_units(r.receipt.output_len);
                r.receipt.units = r.receipt.fuel_used + io;
                out.units = r.receipt.units;
                out.body = r.encode();
            }
            Ok(out)
        })
    }
}

fn offer(worker: Arc<dyn JobWorker>) -> Offer {
    Offer {
        kind: Arc::new(WasmKind::default()),
        model: MODEL.into(),
        price: PricePerUnit::from_wei_per_unit(PRICE),
        capacity: 4,
        warm: true,
        worker,
    }
}

fn orchestrator(
    dir: &std::path::Path,
    worker: Arc<dyn JobWorker>,
    store: Arc<ModuleStore>,
) -> OrchestratorSpec {
    let mut os = orch_settings(dir);
    os.price = PricePerUnit::from_wei_per_unit(1);
    os.content = store;
    os.jobs = vec![offer(worker)];
    // One gateway sends hundreds of small jobs a second from one address: more than the
    // default per-address rate allows.
    os.rate.per_second = 2_000.0;
    os.rate.burst = 2_000.0;
    OrchestratorSpec::paid(os, Wei::from_base_units(U256::from(EV)))
}

fn gateway(verify_rate: f64, evidence: Option<std::path::PathBuf>) -> GatewaySpec {
    let mut gs = GatewaySettings::new(any_addr(), ladder(&["P144p30fps16x9"]));
    gs.jobs = [Arc::new(WasmKind::checked(Runtime::new(16).unwrap())) as Arc<dyn JobKind>]
        .into_iter()
        .collect();
    gs.verify_rate = verify_rate;
    gs.evidence_dir = evidence;
    GatewaySpec::paying(gs, Wei::from_base_units(U256::from(EV)))
}

async fn network(
    dir: &std::path::Path,
    orchestrators: Vec<OrchestratorSpec>,
    gateway: GatewaySpec,
    shutdown: &CancellationToken,
) -> LocalNetwork {
    let n = orchestrators.len();
    LocalNetwork::start(
        DevnetOptions::ephemeral(&dir.join("chain"), n + 2).with_round_length(100),
        orchestrators,
        Some(gateway),
        shutdown,
    )
    .await
    .unwrap()
}

fn spec(fuel: u64, args: &[&str], seed: u8) -> JobSpec {
    JobSpec {
        module: String::new(),
        module_len: 0,
        input_len: 0,
        args: args.iter().map(|s| s.to_string()).collect(),
        env: vec![],
        max_fuel: fuel,
        max_memory_mib: 64,
        timeout_ms: 20_000,
        max_output_bytes: 1 << 20,
        seed: format!("{seed:02x}").repeat(32),
    }
}

fn request(module: &[u8], input: &[u8], spec: JobSpec) -> JobRequest {
    let job = WasmJob::new(
        Bytes::copy_from_slice(module),
        Bytes::copy_from_slice(input),
        spec,
    );
    JobRequest::new(job::CONTENT_TYPE, job.encode())
}

/// A WASI command: print 8 random bytes (seeded per job) and then its first argument.
fn random_module() -> Vec<u8> {
    wat::parse_str(
        r#"(module
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
          (memory (export "memory") 1)
          (func $strlen (param $p i32) (result i32) (local $n i32)
            (block $done (loop $l
              (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
              (local.set $n (i32.add (local.get $n) (i32.const 1)))
              (br $l)))
            (local.get $n))
          (func (export "_start")
            (drop (call $random_get (i32.const 100) (i32.const 8)))
            (drop (call $args_get (i32.const 200) (i32.const 300)))
            (i32.store (i32.const 0) (i32.const 100))
            (i32.store (i32.const 4) (i32.const 8))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))
            ;; WASI may write one buffer per call: the argument goes in a second.
            (i32.store (i32.const 8) (i32.load (i32.const 204)))
            (i32.store (i32.const 12) (call $strlen (i32.load (i32.const 204))))
            (drop (call $fd_write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 16)))))"#,
    )
    .unwrap()
}

fn wat(body: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 64) "0123456789abcdef")
          (func (export "_start") {body}))"#
    ))
    .unwrap()
}

fn result(r: &reel_node::gateway::JobReceipt) -> WasmResult {
    WasmResult::decode(&r.output.body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasm_jobs_run_paid_and_billed_for_the_fuel_they_use() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let store = Arc::new(ModuleStore::new(64 << 20));
    let worker = WasmWorker::new(Runtime::new(16).unwrap(), Arc::clone(&store));
    let net = network(
        dir.path(),
        vec![orchestrator(
            &dir.path().join("o"),
            Arc::new(worker),
            Arc::clone(&store),
        )],
        gateway(0.0, None),
        &shutdown,
    )
    .await;
    let orch = &net.orchestrators[0].node;
    let opay = net.orchestrators[0].payments.clone();
    let gsigner = net.signer(2).unwrap();
    let gnode = net.gateway.as_ref().unwrap();
    let gw = &gnode.gateway;
    let account = AccountKey::new(gsigner.address(), CAPABILITY, MODEL);

    // The orchestrator advertises the capability under the sandbox's model id, priced per fuel.
    let info = reel_node::gateway::discovery::get_orchestrator(
        orch.uri(),
        reel_net::signed::signed_orchestrator_request(&gsigner),
        std::time::Duration::from_secs(5),
    )
    .await
    .unwrap()
    .0;
    let p = info
        .capabilities_prices
        .iter()
        .find(|p| p.capability == CAPABILITY)
        .expect("a price for compute");
    assert_eq!(
        (p.constraint.as_str(), p.price_per_unit),
        (MODEL, PRICE as i64)
    );

    // The C workloads, each output checked natively.
    let wasm = compute::workloads_wasm();
    let input: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
        .collect();
    let r = gw
        .run_job(
            KIND_NAME,
            request(wasm, &input, spec(1_000_000_000, &["hash"], 1)),
        )
        .await
        .unwrap();
    let w = result(&r);
    assert_eq!(
        w.receipt.outcome,
        Outcome::Exited { code: 0 },
        "{}",
        w.receipt.stderr
    );
    assert_eq!(
        String::from_utf8_lossy(&w.output),
        format!("{:016x}\n", compute::fnv1a(&input))
    );
    // Billed the fuel used plus the input and output, at the advertised price; paid up front
    // for a billion fuel (one ticket), the rest stays as credit.
    let io = job::io_units(input.len() as u64 + w.output.len() as u64);
    assert_eq!(r.units, w.receipt.fuel_used + io);
    assert!(w.receipt.fuel_used > 100_000 && w.receipt.fuel_used < 1_000_000_000);
    assert_eq!(r.fee, Wei::from_base_units(U256::from(r.units * PRICE)));
    assert_eq!(
        r.tickets, 2,
        "{} units: more than one ticket's EV with the I/O",
        r.units
    );
    let credit = opay.balance(&account);
    assert_eq!(
        credit,
        (
            Wei::from_base_units(U256::from(2 * EV - r.units * PRICE)),
            false
        ),
        "two tickets' EV less the fee"
    );
    assert_eq!(
        net.gateway
            .as_ref()
            .unwrap()
            .payments
            .as_ref()
            .unwrap()
            .balance(orch.address(), &reel_pm::Scope::new(CAPABILITY, MODEL)),
        credit,
        "both ends agree to the wei"
    );
    assert_eq!(store.stats().stored, 1, "the module was uploaded");

    let (w_, h) = (320usize, 180usize);
    let img: Vec<u8> = (0..w_ * h).map(|i| ((i * 31) % 253) as u8).collect();
    let r = gw
        .run_job(
            KIND_NAME,
            request(wasm, &img, spec(1_000_000_000, &["blur", "320", "180"], 2)),
        )
        .await
        .unwrap();
    let out = result(&r).output;
    let want = compute::box_blur(&img, w_, h);
    assert_eq!(
        out.as_ref(),
        want.as_slice(),
        "the blurred image, pixel for pixel"
    );

    let r = gw
        .run_job(
            KIND_NAME,
            request(wasm, b"", spec(1_000_000_000, &["sieve", "1000000"], 3)),
        )
        .await
        .unwrap();
    let (count, last) = compute::primes_below(1_000_000);
    assert_eq!(
        String::from_utf8_lossy(&result(&r).output),
        format!("{count} {last}\n")
    );
    assert_eq!(
        (store.stats().stored, store.stats().repeated),
        (1, 0),
        "one module, uploaded once to this orchestrator"
    );

    // Fuel runs out: an outcome, billed in full, and the orchestrator goes on.
    let spin = wat("(loop $l (br $l))");
    let r = gw
        .run_job(KIND_NAME, request(&spin, b"", spec(5_000_000, &[], 4)))
        .await
        .unwrap();
    let w = result(&r);
    assert_eq!(w.receipt.outcome, Outcome::OutOfFuel);
    assert_eq!((w.receipt.fuel_used, r.units), (5_000_000, 5_000_000));
    assert_eq!(r.fee, Wei::from_base_units(U256::from(5_000_000 * PRICE)));

    // Hostile jobs cost only themselves.
    for (module, outcome) in [
        (wat("unreachable"), "trapped"),
        (
            wat("(loop $l (br_if $l (i32.ne (memory.grow (i32.const 1024)) (i32.const -1)))) unreachable"),
            "memory-limit",
        ),
        (
            wat("(loop $l (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 16))
                 (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))) (br $l))"),
            "output-limit",
        ),
    ] {
        let mut s = spec(50_000_000, &[], 5);
        s.max_memory_mib = 16;
        s.max_output_bytes = 4096;
        let r = gw.run_job(KIND_NAME, request(&module, b"", s)).await.unwrap();
        let w = result(&r);
        let got = serde_json::to_value(&w.receipt.outcome).unwrap()["status"].clone();
        assert_eq!(got, outcome, "{:?}", w.receipt.outcome);
        assert_eq!(r.units, w.receipt.units);
    }

    // Modules that cannot run are refused at the gateway, before any payment.
    let sent = gw.metrics();
    for (module, status, says) in [
        (
            b"\0asm\x01\0\0\0junk".to_vec(),
            422,
            "not a valid WebAssembly module",
        ),
        (
            wat::parse_str(
                r#"(module (import "env" "open_socket" (func)) (func (export "_start")))"#,
            )
            .unwrap(),
            422,
            "env::open_socket",
        ),
        (
            wat::parse_str(r#"(module (func (export "main")))"#).unwrap(),
            422,
            "_start",
        ),
    ] {
        let e = gw
            .run_job(KIND_NAME, request(&module, b"", spec(1000, &[], 6)))
            .await
            .unwrap_err();
        match e {
            reel_node::NodeError::Job(j) => {
                assert_eq!(j.status(), status, "{j}");
                assert!(j.to_string().contains(says), "{j}");
            }
            other => panic!("{other}"),
        }
    }
    let mut too_much = spec(job::MAX_FUEL + 1, &[], 7);
    too_much.max_fuel = job::MAX_FUEL + 1;
    let e = gw
        .run_job(KIND_NAME, request(&spin, b"", too_much))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("max_fuel is"), "{e}");
    assert_eq!(gw.metrics(), sent, "nothing sent, nothing paid");

    // The public API: POST /job/wasm with the job's bytes.
    let http = Http::new().unwrap();
    let body = request(wasm, b"hello", spec(100_000_000, &["hash"], 8)).body;
    let resp = http
        .client()
        .post(format!("http://{}/job/{KIND_NAME}", gw.http_addr()))
        .header("content-type", job::CONTENT_TYPE)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let units: u64 = resp.headers()["livepeer-units"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let w = WasmResult::decode(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&w.output),
        format!("{:016x}\n", compute::fnv1a(b"hello"))
    );
    assert_eq!(units, w.receipt.units);
    assert_eq!(
        store.stats().stored,
        5,
        "the workloads, the spinner and three hostile modules, once each"
    );
    net.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_runs_catch_a_lying_orchestrator_and_pass_a_thousand_honest_jobs() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let armed = Arc::new(AtomicBool::new(false));
    let mut orchs = Vec::new();
    for i in 0..3 {
        let store = Arc::new(ModuleStore::new(64 << 20));
        let honest = WasmWorker::new(Runtime::new(16).unwrap(), Arc::clone(&store));
        let worker: Arc<dyn JobWorker> = if i == 2 {
            Arc::new(Liar {
                honest,
                armed: Arc::clone(&armed),
            })
        } else {
            Arc::new(honest)
        };
        orchs.push(orchestrator(
            &dir.path().join(format!("o{i}")),
            worker,
            store,
        ));
    }
    let evidence = dir.path().join("evidence");
    let net = network(
        dir.path(),
        orchs,
        gateway(1.0, Some(evidence.clone())),
        &shutdown,
    )
    .await;
    let liar = net.orchestrators[2].node.uri().to_string();
    let gw = &net.gateway.as_ref().unwrap().gateway;
    let module = random_module();

    // 1,000 honest jobs, each re-run elsewhere: every one agrees.
    let mut used = std::collections::BTreeSet::new();
    for i in 0..1000u32 {
        let arg = format!("job-{i}");
        let r = gw
            .run_job(
                KIND_NAME,
                request(&module, b"", spec(1_000_000, &[&arg], (i % 251) as u8)),
            )
            .await
            .unwrap();
        let v = r
            .verification
            .as_ref()
            .expect("every job is re-run at rate 1");
        assert_eq!(v.matched, Some(true), "job {i}: {v:?}");
        assert!(v.banned.is_none());
        let out = result(&r).output;
        assert!(out.ends_with(arg.as_bytes()), "job {i}: {out:?}");
        used.insert(r.orchestrator.clone());
        used.extend(v.by.iter().cloned());
    }
    assert_eq!(used.len(), 3, "every orchestrator ran jobs: {used:?}");
    assert!(!evidence.exists(), "no evidence without a disagreement");

    // The liar starts lying: the first job it touches disagrees with a second run, a third
    // settles it, and the liar is banned with the signed results kept.
    armed.store(true, Ordering::SeqCst);
    let mut caught = None;
    for i in 0..50u32 {
        let arg = format!("late-{i}");
        let r = gw
            .run_job(
                KIND_NAME,
                request(&module, b"", spec(1_000_000, &[&arg], 9)),
            )
            .await
            .unwrap();
        let v = r.verification.clone().unwrap();
        assert!(
            !result(&r).output.ends_with(b"(forged)"),
            "a forged output reached the client"
        );
        if let Some(banned) = &v.banned {
            assert_eq!(banned, &liar, "only the liar is banned");
            caught = Some(v);
            break;
        }
    }
    let v = caught.expect("the liar was caught within 50 jobs");
    let path = v.evidence.expect("evidence kept");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(doc["suspect"], liar.as_str());
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    for r in results {
        // Each result is signed by its orchestrator: the evidence stands on its own.
        let body = alloy::primitives::hex::decode(r["body"].as_str().unwrap()).unwrap();
        let sig = alloy::primitives::hex::decode(r["signature"].as_str().unwrap()).unwrap();
        let addr: alloy::primitives::Address = r["address"].as_str().unwrap().parse().unwrap();
        reel_net::signed::verify_transcode_result(
            addr,
            &[reel_net::http::segment_hash(&body)],
            &sig,
        )
        .unwrap();
    }
    // After that, no job goes near it.
    for i in 0..20u32 {
        let arg = format!("after-{i}");
        let r = gw
            .run_job(
                KIND_NAME,
                request(&module, b"", spec(1_000_000, &[&arg], 10)),
            )
            .await
            .unwrap();
        assert_ne!(r.orchestrator, liar);
        assert!(!r.verification.unwrap().by.contains(&liar));
    }
    net.stop().await.unwrap();
}

/// An orchestrator that lost a module the gateway uploaded (evicted here; a restart does the
/// same) answers 409; the gateway uploads it again and the job runs on the same
/// orchestrator, paid once, both ledgers still equal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_the_orchestrator_lost_is_uploaded_again() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let a = wat(
        "(i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 1))
                 (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))",
    );
    let b = wat(
        "(i32.store (i32.const 0) (i32.const 65)) (i32.store (i32.const 4) (i32.const 1))
                 (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))",
    );
    // Room for one module, and one compiled module: B pushes A out of both.
    let store = Arc::new(ModuleStore::new(a.len().max(b.len())));
    let worker = WasmWorker::new(Runtime::new(1).unwrap(), Arc::clone(&store));
    let net = network(
        dir.path(),
        vec![orchestrator(
            &dir.path().join("o"),
            Arc::new(worker),
            Arc::clone(&store),
        )],
        gateway(0.0, None),
        &shutdown,
    )
    .await;
    let gw = &net.gateway.as_ref().unwrap().gateway;
    let out = |r: &reel_node::gateway::JobReceipt| result(r).output;
    let r = gw
        .run_job(KIND_NAME, request(&a, b"", spec(1_000_000, &[], 1)))
        .await
        .unwrap();
    assert_eq!(out(&r), Bytes::from_static(b"0"));
    let r = gw
        .run_job(KIND_NAME, request(&b, b"", spec(1_000_000, &[], 2)))
        .await
        .unwrap();
    assert_eq!(out(&r), Bytes::from_static(b"1"));
    assert_eq!((store.stats().stored, store.stats().evicted), (2, 1));
    // A again: the gateway believes the orchestrator has it and sends it by hash.
    let r = gw
        .run_job(KIND_NAME, request(&a, b"", spec(1_000_000, &[], 3)))
        .await
        .unwrap();
    assert_eq!(out(&r), Bytes::from_static(b"0"));
    assert_eq!(r.attempts, 1, "the same orchestrator, no failover");
    assert_eq!(store.stats().stored, 3, "A was uploaded a second time");
    let orch = &net.orchestrators[0].node;
    let account = AccountKey::new(net.signer(2).unwrap().address(), CAPABILITY, MODEL);
    assert_eq!(
        net.orchestrators[0].payments.balance(&account),
        net.gateway
            .as_ref()
            .unwrap()
            .payments
            .as_ref()
            .unwrap()
            .balance(orch.address(), &reel_pm::Scope::new(CAPABILITY, MODEL)),
        "the retry was paid from the credit the first request brought, once"
    );
    net.stop().await.unwrap();
}
