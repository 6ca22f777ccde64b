//! A second kind of work on the job pipeline, defined here with only the public job
//! interface: "reverse" reverses text, is billed per byte of output, paid up front for the
//! most it may use (`max_bytes`) with the rest kept as credit, and runs in the
//! orchestrator's process. On a devnet, with tickets from the gateway's deposit, through a
//! real gateway and orchestrator.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use alloy::primitives::U256;
use reel_chain::DevnetOptions;
use reel_localnet::{GatewaySpec, LocalNetwork, OrchestratorSpec};
use reel_node::gateway::GatewaySettings;
use reel_node::gateway::discovery::ListSource;
use reel_node::jobs::{
    Admission, BoxFuture, Cadence, JobError, JobKind, JobOutput, JobRequest, JobWorker, Offer,
    Placement,
};
use reel_node::node::GatewayBuilder;
use reel_node::tasks::Tasks;
use reel_pm::{AccountKey, PricePerUnit, Scope};
use reel_testkit::Wait;
use reel_types::Wei;
use tokio_util::sync::CancellationToken;

use crate::support::*;

/// A capability id no real kind uses.
const REVERSE: u32 = 250;
const EV: u64 = 1_000_000_000_000;
const PRICE_PER_BYTE: u64 = 1_000_000_000;

/// `{"model": "...", "text": "...", "max_bytes": N}` → `{"text": "<reversed>"}`.
struct Reverse;

fn field<'a>(v: &'a serde_json::Value, name: &str) -> Result<&'a serde_json::Value, JobError> {
    v.get(name)
        .ok_or_else(|| JobError::BadRequest(format!("missing field `{name}`")))
}

impl JobKind for Reverse {
    fn name(&self) -> &str {
        "reverse"
    }
    fn capability(&self) -> u32 {
        REVERSE
    }
    fn unit(&self) -> &str {
        "byte"
    }
    fn cadence(&self) -> Cadence {
        Cadence::UpFront
    }
    fn max_request_bytes(&self) -> usize {
        4096
    }
    fn admit(&self, r: &JobRequest) -> Result<Admission, JobError> {
        if r.content_type != "application/json" {
            return Err(JobError::UnsupportedMedia(r.content_type.clone()));
        }
        let v: serde_json::Value = serde_json::from_slice(&r.body)
            .map_err(|e| JobError::BadRequest(format!("malformed JSON: {e}")))?;
        let model = field(&v, "model")?.as_str().unwrap_or_default().to_owned();
        let text = field(&v, "text")?.as_str().unwrap_or_default();
        let max = field(&v, "max_bytes")?.as_u64().unwrap_or(0);
        if (text.len() as u64) > max {
            return Err(JobError::Unprocessable(format!(
                "{} bytes of text over max_bytes {max}",
                text.len()
            )));
        }
        Ok(Admission { model, units: max })
    }
    fn verify(&self, r: &JobRequest, out: &JobOutput) -> Result<(), JobError> {
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
        let o: serde_json::Value = serde_json::from_slice(&out.body)
            .map_err(|e| JobError::Verification(format!("not JSON: {e}")))?;
        let want: String = v["text"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .rev()
            .collect();
        if o["text"].as_str() != Some(want.as_str()) {
            return Err(JobError::Verification("not the text reversed".into()));
        }
        Ok(())
    }
}

/// Reverses in process; counts its runs.
struct Reverser(Arc<AtomicU32>);

impl JobWorker for Reverser {
    fn placement(&self) -> Placement {
        Placement::InProcess
    }
    fn run(&self, model: &str, r: JobRequest) -> BoxFuture<'static, Result<JobOutput, JobError>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        let model = model.to_owned();
        Box::pin(async move {
            let v: serde_json::Value =
                serde_json::from_slice(&r.body).map_err(|e| JobError::Failed(e.to_string()))?;
            if v["text"] == "boom" {
                return Err(JobError::Failed("the worker broke".into()));
            }
            let text: String = v["text"]
                .as_str()
                .unwrap_or_default()
                .chars()
                .rev()
                .collect();
            let body = serde_json::json!({ "text": text, "model": model }).to_string();
            Ok(JobOutput {
                content_type: "application/json".into(),
                units: text.len() as u64,
                body: body.into(),
            })
        })
    }
}

fn request(model: &str, text: &str, max: u64) -> JobRequest {
    JobRequest::new(
        "application/json",
        serde_json::json!({ "model": model, "text": text, "max_bytes": max }).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_only_kind_runs_paid_end_to_end_through_the_job_interface() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();

    // The orchestrator: an active one, offering "reverse" for model r1 only.
    let runs = Arc::new(AtomicU32::new(0));
    let price = PricePerUnit::from_wei_per_unit(PRICE_PER_BYTE);
    let mut os = orch_settings(&dir.path().join("o"));
    // Transcoding costs something too: a free orchestrator issues no ticket params.
    os.price = PricePerUnit::from_wei_per_unit(1);
    os.jobs = vec![Offer {
        kind: Arc::new(Reverse),
        model: "r1".into(),
        price,
        capacity: 2,
        warm: true,
        worker: Arc::new(Reverser(Arc::clone(&runs))),
    }];
    let orchestrator = OrchestratorSpec::paid(os, Wei::from_base_units(U256::from(EV)));
    // The gateway buys "reverse" from that orchestrator, paying with tickets from its
    // deposit.
    let mut gs = GatewaySettings::new(any_addr(), ladder(&["P144p30fps16x9"]));
    gs.jobs = [Arc::new(Reverse) as Arc<dyn JobKind>]
        .into_iter()
        .collect();
    let gateway = GatewaySpec::paying(gs, Wei::from_base_units(U256::from(EV)));
    let net = LocalNetwork::start(
        DevnetOptions::ephemeral(&dir.path().join("chain"), 3).with_round_length(100),
        vec![orchestrator],
        Some(gateway),
        &shutdown,
    )
    .await
    .unwrap();
    let opay = net.orchestrators[0].payments.clone();
    let orch = &net.orchestrators[0].node;
    let gsigner = net.signer(2).unwrap();
    let gnode = net.gateway.as_ref().unwrap();
    let gpay = gnode.payments.clone().unwrap();
    let gw = &gnode.gateway;

    // The orchestrator advertises the model, its capacity and its price.
    let info = reel_node::gateway::discovery::get_orchestrator(
        orch.uri(),
        reel_net::signed::signed_orchestrator_request(&net.signer(2).unwrap()),
        std::time::Duration::from_secs(5),
    )
    .await
    .unwrap()
    .0;
    let p = info
        .capabilities_prices
        .iter()
        .find(|p| p.capability == REVERSE)
        .expect("a price for the kind");
    assert_eq!(
        (p.constraint.as_str(), p.price_per_unit, p.pixels_per_unit),
        ("r1", PRICE_PER_BYTE as i64, 1)
    );
    let caps =
        reel_net::capabilities::Capabilities::from_proto(info.capabilities.as_ref().unwrap())
            .unwrap();
    assert!(caps.offered.contains_id(REVERSE));
    let m = &caps.models[&REVERSE]["r1"];
    assert!(m.warm && m.capacity == 2, "{m:?}");

    // One job: paid up front for 1,000 bytes, 11 used.
    let r = gw
        .run_job("reverse", request("r1", "hello world", 1000))
        .await
        .unwrap();
    let out: serde_json::Value = serde_json::from_slice(&r.output.body).unwrap();
    assert_eq!(out["text"], "dlrow olleh");
    assert_eq!(r.units, 11, "billed the bytes it produced");
    assert_eq!(r.price, price);
    assert_eq!(r.fee, Wei::from_base_units(U256::from(11 * PRICE_PER_BYTE)));
    // 1,000 bytes at 1 gwei need 1e12 wei: one ticket of EV 1e12.
    assert_eq!(
        (r.tickets, r.ticket_value),
        (1, Wei::from_base_units(U256::from(EV)))
    );
    // Both ends agree to the wei: credit = one ticket's EV − 11 bytes.
    let left = Wei::from_base_units(U256::from(EV - 11 * PRICE_PER_BYTE));
    let scope = Scope::new(REVERSE, "r1");
    assert_eq!(
        opay.balance(&AccountKey::new(gsigner.address(), REVERSE, "r1")),
        (left, false)
    );
    assert_eq!(gpay.balance(orch.address(), &scope), (left, false));

    // What was paid for and not used stays as credit: the next ticket tops it up to one EV
    // (work is served only while credit covers a ticket's EV), and the one after needs none.
    let r2 = gw
        .run_job("reverse", request("r1", "abc", 900))
        .await
        .unwrap();
    assert_eq!((r2.units, r2.tickets), (3, 1));
    let left = Wei::from_base_units(U256::from(2 * EV - 14 * PRICE_PER_BYTE));
    assert_eq!(
        opay.balance(&AccountKey::new(gsigner.address(), REVERSE, "r1")),
        (left, false)
    );
    assert_eq!(gpay.balance(orch.address(), &scope), (left, false));
    let r3 = gw
        .run_job("reverse", request("r1", "xyz", 900))
        .await
        .unwrap();
    assert_eq!((r3.units, r3.tickets), (3, 0));
    assert_eq!(runs.load(Ordering::SeqCst), 3);

    // A run that fails after the payment was credited: the orchestrator keeps the credit and
    // says so; the gateway books the payment too, so the two ledgers still agree.
    let before = gpay.balance(orch.address(), &scope);
    let sent = gw.metrics();
    let e = gw
        .run_job("reverse", request("r1", "boom", 3000))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("the worker broke"), "{e}");
    assert_eq!(runs.load(Ordering::SeqCst), 4);
    let after = gpay.balance(orch.address(), &scope);
    assert!(
        after.0 > before.0,
        "tickets were sent for the job: {before:?} → {after:?}"
    );
    assert_eq!(
        opay.balance(&AccountKey::new(gsigner.address(), REVERSE, "r1")),
        after,
        "both ends count the payment of the failed run"
    );
    assert_ne!(gw.metrics(), sent);

    // Bad requests never reach an orchestrator or a payment.
    let sent = gw.metrics();
    for (req, status) in [
        (JobRequest::new("text/plain", "x"), 415),
        (JobRequest::new("application/json", "{"), 400),
        (
            JobRequest::new("application/json", r#"{"model":"r1","text":"x"}"#),
            400,
        ),
        (request("r1", "too long", 2), 422),
    ] {
        let e = gw.run_job("reverse", req).await.unwrap_err();
        match e {
            reel_node::NodeError::Job(j) => assert_eq!(j.status(), status, "{j}"),
            other => panic!("{other}"),
        }
    }
    assert_eq!(runs.load(Ordering::SeqCst), 4);
    assert_eq!(gw.metrics(), sent, "nothing sent, nothing paid");

    // A model nobody offers: no orchestrator fits, the error says so.
    let e = gw
        .run_job("reverse", request("r2", "x", 10))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("r2"), "{e}");
    assert_eq!(runs.load(Ordering::SeqCst), 4);

    // The orchestrator shows the offer and its use.
    let st = orch.status();
    assert_eq!(st.jobs.len(), 1);
    assert_eq!((st.jobs[0].unit.as_str(), st.jobs[0].in_use), ("byte", 0));
    net.stop().await.unwrap();
}

/// The same kind served by a remote job worker that registered with the orchestrator (the
/// one worker registry that also holds transcoders): no worker, no capacity; a worker
/// connects and announces the model; the job runs there; it goes away and its model is
/// unavailable again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_job_worker_serves_a_kind_through_the_worker_registry() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let secret = "job-worker-secret";
    let mut os = orch_settings(dir.path());
    os.orch_secret = Some(secret.into());
    let registry = Arc::clone(&os.workers_registry);
    // The worker's inputs are fetched from this orchestrator: its base URL is known once it
    // listens, so bind first.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    os.http_addr = addr;
    let base = format!("https://{addr}");
    os.jobs = vec![Offer {
        kind: Arc::new(Reverse),
        model: "r-remote".into(),
        price: PricePerUnit::ZERO,
        capacity: 4,
        warm: false,
        worker: registry.job_worker(&Reverse, base, std::time::Duration::from_secs(10)),
    }];
    let orch = start_orch(os, &shutdown).await;
    let mut gs = GatewaySettings::new(any_addr(), ladder(&["P144p30fps16x9"]));
    gs.jobs = [Arc::new(Reverse) as Arc<dyn JobKind>]
        .into_iter()
        .collect();
    let gw = GatewayBuilder::new(gs)
        .source(Arc::new(ListSource(vec![orch.uri().clone()])))
        .tasks(Tasks::with_shutdown(shutdown.child_token()))
        .start()
        .await
        .unwrap()
        .gateway;

    // No worker yet: the orchestrator has no capacity for the model.
    let e = gw
        .run_job("reverse", request("r-remote", "abc", 10))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("insufficient capacity"), "{e}");

    let runs = Arc::new(AtomicU32::new(0));
    let worker_stop = shutdown.child_token();
    let ws = reel_node::worker::JobWorkerSettings::new(
        orch.uri().clone(),
        secret.into(),
        vec![reel_node::worker::WorkerOffer {
            kind: Arc::new(Reverse),
            model: "r-remote".into(),
            capacity: 2,
            warm: true,
            worker: Arc::new(Reverser(Arc::clone(&runs))),
        }],
    );
    let worker = tokio::spawn(reel_node::worker::run(ws, worker_stop.clone()));
    Wait::new("the worker to register", std::time::Duration::from_secs(10))
        .every(std::time::Duration::from_millis(20))
        .until_ok(async || {
            let transcoders = orch.status().transcoders;
            transcoders
                .iter()
                .any(|t| t.kind == "jobs" && t.models == [format!("{REVERSE}_r-remote")])
                .then_some(())
                .ok_or(transcoders)
        })
        .await
        .expect("worker never registered");
    let r = gw
        .run_job("reverse", request("r-remote", "remote work", 100))
        .await
        .unwrap();
    let out: serde_json::Value = serde_json::from_slice(&r.output.body).unwrap();
    assert_eq!(out["text"], "krow etomer");
    assert_eq!(out["model"], "r-remote", "the remote worker ran it");
    assert_eq!(r.units, 11);
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    // The same over the gateway's HTTP API.
    let http = Http::new().unwrap();
    let url = format!("http://{}/job/reverse", gw.http_addr());
    let resp = http
        .send(
            http.client()
                .post(&url)
                .header("Content-Type", "application/json")
                .body(request("r-remote", "over http", 50).body),
        )
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.headers["livepeer-units"], "9");
    assert_eq!(resp.headers["livepeer-model"], "r-remote");
    let body: serde_json::Value = resp.json().unwrap();
    assert_eq!(body["text"], "ptth revo");
    let resp = http
        .send(
            http.client()
                .post(&url)
                .header("Content-Type", "text/plain")
                .body("x"),
        )
        .await
        .unwrap();
    assert_eq!(resp.status, 415);
    let body: serde_json::Value = resp.json().unwrap();
    assert_eq!(
        body["error"]["message"],
        "unsupported content type `text/plain`"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2);

    // The worker leaves: its model has no capacity any more.
    worker_stop.cancel();
    worker.await.unwrap().unwrap();
    Wait::new("the worker to leave", std::time::Duration::from_secs(10))
        .every(std::time::Duration::from_millis(20))
        .until_ok(async || {
            let transcoders = orch.status().transcoders;
            (!transcoders.iter().any(|t| t.kind == "jobs"))
                .then_some(())
                .ok_or(transcoders)
        })
        .await
        .expect("worker never left");
    let e = gw
        .run_job("reverse", request("r-remote", "abc", 10))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("insufficient capacity"), "{e}");
    shutdown.cancel();
}
