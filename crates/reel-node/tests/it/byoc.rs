//! BYOC (capability 37, go-livepeer's "bring your own container"): an external worker — an
//! HTTP server this test starts on 127.0.0.1 — registers with an orchestrator; a client
//! sends `POST /process/request/<subpath>` with the `Livepeer` header to a gateway, which
//! finds the orchestrator through `/process/token`, pays it and forwards the body; the
//! orchestrator proxies it to the worker and debits ⌈elapsed s⌉ × price.
//!
//! Off-chain (free) for the refusals; on a devnet with tickets for the money.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use alloy::primitives::U256;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use base64::Engine as _;
use reel_chain::DevnetOptions;
use reel_localnet::{GatewaySpec, LocalNetwork, OrchestratorSpec};
use reel_node::byoc::{self, JobSender, JobToken};
use reel_node::gateway::GatewaySettings;
use reel_node::gateway::discovery::ListSource;
use reel_node::node::GatewayBuilder;
use reel_node::tasks::Tasks;
use reel_pm::{AccountKey, PricePerUnit, Scope};
use reel_types::Wei;
use tokio_util::sync::CancellationToken;

use crate::support::*;

const SECRET: &str = "byoc-orch-secret";

/// The external worker: `POST /upper/<sleep ms>` sleeps, then answers the body upper-cased
/// with `X-Metadata: <its name>`; it counts requests and keeps the last `Authorization`.
struct Worker {
    name: &'static str,
    runs: AtomicU32,
    auth: std::sync::Mutex<Option<String>>,
}

async fn upper(
    State(w): State<Arc<Worker>>,
    Path(ms): Path<u64>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> impl axum::response::IntoResponse {
    w.runs.fetch_add(1, Ordering::SeqCst);
    *w.auth.lock().unwrap() = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    (
        [("content-type", "text/plain"), ("x-metadata", w.name)],
        String::from_utf8_lossy(&body).to_uppercase(),
    )
}

async fn start_worker(name: &'static str) -> (SocketAddr, Arc<Worker>) {
    let w = Arc::new(Worker {
        name,
        runs: AtomicU32::new(0),
        auth: std::sync::Mutex::new(None),
    });
    let app = axum::Router::new()
        .route("/upper/{ms}", axum::routing::post(upper))
        .route(
            "/fail",
            axum::routing::post(|| async {
                (
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "the worker broke",
                )
            }),
        )
        .with_state(Arc::clone(&w));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (addr, w)
}

fn registration(name: &str, worker: SocketAddr, capacity: i64, price: i64) -> String {
    serde_json::json!({
        "name": name,
        "description": "upper-cases text",
        "url": format!("http://{worker}"),
        "capacity": capacity,
        "price_per_unit": price,
        "price_scaling": 1,
        "currency": "wei",
        "token": "worker-token",
    })
    .to_string()
}

/// Sends a request to an orchestrator: TLS with its self-signed certificate, as gateways
/// and workers reach it.
async fn orch_send(req: reqwest::RequestBuilder) -> reel_testkit::http::Reply {
    let resp = req.send().await.unwrap();
    reel_testkit::http::Reply {
        url: resp.url().to_string(),
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.bytes().await.unwrap(),
    }
}

fn orch_client() -> reqwest::Client {
    reel_node::rpc::http_client().unwrap()
}

async fn post_secret(url: String, secret: Option<&str>, body: String) -> (u16, String) {
    let mut req = orch_client().post(url).body(body);
    if let Some(s) = secret {
        req = req.header("Authorization", s);
    }
    let r = orch_send(req).await;
    (r.status, r.text())
}

fn job_header(capability: &str, timeout: i64) -> String {
    let j = serde_json::json!({
        "request": "{\"run\":\"upper\"}",
        "parameters": "",
        "capability": capability,
        "timeout_seconds": timeout,
    });
    base64::engine::general_purpose::STANDARD.encode(j.to_string())
}

/// `POST {gateway}/process/request/upper/<ms>` → (status, headers, body).
async fn submit(
    http: &Http,
    gateway: SocketAddr,
    ms: u64,
    header: &str,
    body: impl Into<reqwest::Body>,
) -> reel_testkit::http::Reply {
    http.send(
        http.client()
            .post(format!("http://{gateway}/process/request/upper/{ms}"))
            .header("Content-Type", "text/plain")
            .header(byoc::JOB_HEADER, header)
            .body(body),
    )
    .await
    .unwrap()
}

/// A `Livepeer` header as a gateway signs it: `signer` signs, naming `sender`.
fn signed_job(
    sender: &reel_net::EthSigner,
    signer: &reel_net::EthSigner,
    capability: &str,
) -> String {
    let mut j = byoc::JobRequest {
        id: "direct-1".into(),
        request: "{}".into(),
        capability: capability.into(),
        timeout_seconds: 5,
        sender: sender.address().to_checksum(None),
        ..Default::default()
    };
    j.sig = format!(
        "0x{}",
        alloy::primitives::hex::encode(signer.sign_personal(&j.signed_message()).to_vec())
    );
    j.to_header()
}

fn message(r: &reel_testkit::http::Reply) -> String {
    r.json().unwrap()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Everything refused, off-chain and free: the secret, the currency, the `Livepeer` header,
/// sizes, capacity, the timeout, and a capability that went away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byoc_refusals_off_chain() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let mut os = orch_settings(dir.path());
    os.orch_secret = Some(SECRET.into());
    os.byoc.max_request_bytes = 1024;
    os.byoc.max_response_bytes = 512;
    let orch = start_orch(os, &shutdown).await;
    let base = orch.uri().base();
    let mut gs = GatewaySettings::new(any_addr(), ladder(&["P144p30fps16x9"]));
    gs.byoc.max_request_bytes = 4096;
    let gw = GatewayBuilder::new(gs)
        .source(Arc::new(ListSource(vec![orch.uri().clone()])))
        .tasks(Tasks::with_shutdown(shutdown.child_token()))
        .start()
        .await
        .unwrap()
        .gateway;
    let http = Http::new().unwrap();
    let (waddr, worker) = start_worker("w").await;
    let reg = format!("{base}{}", byoc::REGISTER_PATH);
    let unreg = format!("{base}{}", byoc::UNREGISTER_PATH);

    // The secret: none, or a wrong one, is refused; nothing is registered.
    let body = registration("upper", waddr, 1, 0);
    assert_eq!(post_secret(reg.clone(), None, body.clone()).await.0, 401);
    assert_eq!(
        post_secret(reg.clone(), Some("byoc-orch-secreT"), body.clone())
            .await
            .0,
        401
    );
    assert!(orch.status().byoc.is_empty());
    // A currency reel cannot convert.
    let usd = body.replace("\"wei\"", "\"USD\"");
    let (status, text) = post_secret(reg.clone(), Some(SECRET), usd).await;
    assert_eq!(status, 400);
    assert!(text.contains("\\\"USD\\\" is unsupported"), "{text}");
    assert!(orch.status().byoc.is_empty());
    assert_eq!(
        post_secret(reg.clone(), Some(SECRET), body).await,
        (200, "ok".to_owned())
    );
    let st = orch.status().byoc;
    assert_eq!((st[0].name.as_str(), st[0].capacity), ("upper", 1));

    // The token: a signed address is required; with one, the offer.
    let signer = reel_net::EthSigner::from_bytes(&[9u8; 32]).unwrap();
    let oc = orch_client();
    let token = |sender: String| {
        oc.get(format!("{base}{}", byoc::TOKEN_PATH))
            .header(byoc::ETH_ADDRESS_HEADER, sender)
            .header(byoc::CAPABILITY_HEADER, "upper")
    };
    let forged = JobSender {
        addr: reel_net::EthSigner::from_bytes(&[8u8; 32])
            .unwrap()
            .address()
            .to_checksum(None),
        sig: JobSender::signed(&signer).sig,
    };
    assert_eq!(orch_send(token(forged.to_header())).await.status, 400);
    let r = orch_send(token(JobSender::signed(&signer).to_header())).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let tok: JobToken = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(tok.available_capacity, 1);
    assert_eq!(tok.service_addr, base);
    assert!(tok.ticket_params.is_none(), "free: no tickets");

    // One job: the worker's bytes, its metadata, its token.
    let h = job_header("upper", 5);
    let r = submit(&http, gw.http_addr(), 0, &h, "hello byoc").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "HELLO BYOC");
    assert_eq!(r.header("x-metadata"), Some("w"));
    assert_eq!(r.header(byoc::ORCHESTRATOR_URL_HEADER), Some(base.as_str()));
    assert_eq!(
        worker.auth.lock().unwrap().as_deref(),
        Some("Bearer worker-token")
    );

    // The worker's own error comes back as it is, from the one orchestrator that ran it.
    let r = http
        .send(
            http.client()
                .post(format!("http://{}/process/request/fail", gw.http_addr()))
                .header(byoc::JOB_HEADER, &h)
                .body("x"),
        )
        .await
        .unwrap();
    assert_eq!((r.status, r.text()), (500, "the worker broke".to_owned()));

    // A bad `Livepeer` header never reaches an orchestrator.
    let runs = worker.runs.load(Ordering::SeqCst);
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    for (h, want) in [
        ("%%%".to_owned(), "not base64"),
        (b64("{\"capability\":"), "not the expected JSON"),
        (
            b64(r#"{"capability":"upper"}"#),
            "timeout_seconds is required",
        ),
        (b64(r#"{"timeout_seconds":3}"#), "no capability"),
        (
            b64(r#"{"capability":"upper","timeout_seconds":3,"parameters":"nope"}"#),
            "job parameters",
        ),
    ] {
        let r = submit(&http, gw.http_addr(), 0, &h, "x").await;
        assert_eq!(r.status, 400, "{h}: {}", r.text());
        assert!(message(&r).contains(want), "{want}: {}", r.text());
    }
    let r = http
        .send(
            http.client()
                .post(format!("http://{}/process/request/upper/0", gw.http_addr()))
                .body("x"),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert!(message(&r).contains("no Livepeer header"), "{}", r.text());

    // Over the gateway's limit (4096), then over the orchestrator's (1024).
    let r = submit(&http, gw.http_addr(), 0, &h, vec![b'a'; 5000]).await;
    assert_eq!(r.status, 413, "{}", r.text());
    let r = submit(&http, gw.http_addr(), 0, &h, vec![b'a'; 2000]).await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(
        message(&r).contains("over the limit of 1024"),
        "{}",
        r.text()
    );
    assert_eq!(
        worker.runs.load(Ordering::SeqCst),
        runs,
        "none reached the worker"
    );

    // Capacity 1: while one job runs, the next is refused with 503 (no other orchestrator).
    let slow = {
        let (http, h, gw) = (Http::new().unwrap(), h.clone(), gw.http_addr());
        tokio::spawn(async move { submit(&http, gw, 3000, &h, "first").await })
    };
    reel_testkit::Wait::new("the first job to run", Duration::from_secs(5))
        .every(Duration::from_millis(10))
        .until_ok(async || {
            let st = orch.status().byoc;
            (st[0].in_use == 1).then_some(()).ok_or(st)
        })
        .await
        .expect("the first job never took the slot");
    // The gateway sees no free capacity in the token; asked directly, the orchestrator
    // refuses the slot itself.
    let r = submit(&http, gw.http_addr(), 0, &h, "second").await;
    assert_eq!(r.status, 503, "{}", r.text());
    let direct = |h: String| {
        orch_send(
            orch_client()
                .post(format!("{base}/process/request/upper/0"))
                .header(byoc::JOB_HEADER, h)
                .body("direct"),
        )
    };
    let r = direct(signed_job(&signer, &signer, "upper")).await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(
        message(&r).contains("No capacity available"),
        "{}",
        r.text()
    );
    let first = slow.await.unwrap();
    assert_eq!((first.status, first.text()), (200, "FIRST".to_owned()));
    assert_eq!(orch.status().byoc[0].in_use, 0, "the slot is given back");

    // Signed by someone else than the sender it names; for a capability not here.
    let other = reel_net::EthSigner::from_bytes(&[8u8; 32]).unwrap();
    let r = direct(signed_job(&signer, &other, "upper")).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        message(&r).contains("Could not verify job creds"),
        "{}",
        r.text()
    );
    let r = direct(signed_job(&signer, &signer, "lower")).await;
    assert_eq!(r.status, 404, "{}", r.text());
    let r = direct(signed_job(&signer, &signer, "upper")).await;
    assert_eq!((r.status, r.text()), (200, "DIRECT".to_owned()));

    // The timeout: the worker takes 3 s, the job allows 1.
    let r = submit(&http, gw.http_addr(), 3000, &job_header("upper", 1), "late").await;
    assert_eq!(r.status, 504, "{}", r.text());
    assert!(message(&r).contains("no answer within 1 s"), "{}", r.text());

    // An answer over the orchestrator's limit (512) is not relayed: 502 there, and no other
    // orchestrator to go to.
    let r = submit(&http, gw.http_addr(), 0, &h, vec![b'a'; 600]).await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(message(&r).contains("HTTP 502"), "{}", r.text());
    assert!(
        message(&r).contains("larger than 512 bytes"),
        "{}",
        r.text()
    );

    // A worker that is gone: its capability is removed (it registers again when back).
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let body = registration("gone", dead_addr, 1, 0);
    assert_eq!(post_secret(reg.clone(), Some(SECRET), body).await.0, 200);
    assert_eq!(orch.status().byoc.len(), 2);
    let r = submit(&http, gw.http_addr(), 0, &job_header("gone", 5), "x").await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(message(&r).contains("removing capability"), "{}", r.text());
    let names: Vec<String> = orch.status().byoc.into_iter().map(|b| b.name).collect();
    assert_eq!(names, ["upper"]);

    // Unregistered: refused everywhere.
    assert_eq!(
        post_secret(unreg.clone(), Some("wrong-secret!"), "upper".into())
            .await
            .0,
        401
    );
    assert_eq!(
        post_secret(unreg.clone(), Some(SECRET), "upper".into()).await,
        (200, "ok".to_owned())
    );
    assert_eq!(
        post_secret(unreg.clone(), Some(SECRET), "upper".into())
            .await
            .0,
        404
    );
    let r = orch_send(token(JobSender::signed(&signer).to_header())).await;
    assert_eq!(r.status, 404);
    let before = worker.runs.load(Ordering::SeqCst);
    let r = submit(&http, gw.http_addr(), 0, &h, "gone").await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(
        message(&r).contains("No orchestrators found for capability upper"),
        "{}",
        r.text()
    );
    assert_eq!(worker.runs.load(Ordering::SeqCst), before);
    shutdown.cancel();
}

/// An orchestrator that offers the capability in its token but answers every job 503:
/// the gateway goes on to the next one.
async fn busy_orchestrator() -> (reel_node::rpc::ServiceUri, Arc<AtomicU32>) {
    let hits = Arc::new(AtomicU32::new(0));
    let h = Arc::clone(&hits);
    let app = axum::Router::new()
        .route(
            byoc::TOKEN_PATH,
            axum::routing::get(|| async {
                axum::Json(JobToken {
                    price: Some(byoc::PriceInfoJson {
                        pixels_per_unit: 1,
                        ..Default::default()
                    }),
                    available_capacity: 1,
                    ..Default::default()
                })
            }),
        )
        .route(
            "/process/request/{*rest}",
            axum::routing::post(move || {
                h.fetch_add(1, Ordering::SeqCst);
                async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "busy") }
            }),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (
        reel_node::rpc::ServiceUri::parse(&format!("http://{addr}")).unwrap(),
        hits,
    )
}

/// A 503 after the token (capacity taken meanwhile) sends the job to the next orchestrator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byoc_gateway_fails_over_on_503() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let mut os = orch_settings(dir.path());
    os.orch_secret = Some(SECRET.into());
    let orch = start_orch(os, &shutdown).await;
    let (busy, hits) = busy_orchestrator().await;
    let busy_uri = busy.clone();
    // The busy one first: both free, so the list's order decides.
    let gw = GatewayBuilder::new(GatewaySettings::new(
        any_addr(),
        ladder(&["P144p30fps16x9"]),
    ))
    .source(Arc::new(ListSource(vec![busy, orch.uri().clone()])))
    .tasks(Tasks::with_shutdown(shutdown.child_token()))
    .start()
    .await
    .unwrap()
    .gateway;
    let (waddr, worker) = start_worker("w").await;
    let reg = format!("{}{}", orch.uri().base(), byoc::REGISTER_PATH);
    let (status, _) = post_secret(reg, Some(SECRET), registration("upper", waddr, 1, 0)).await;
    assert_eq!(status, 200);
    let http = Http::new().unwrap();
    let r = submit(&http, gw.http_addr(), 0, &job_header("upper", 5), "over").await;
    assert_eq!((r.status, r.text()), (200, "OVER".to_owned()));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "the busy one was tried first"
    );
    assert_eq!(worker.runs.load(Ordering::SeqCst), 1);
    assert_eq!(
        r.header(byoc::ORCHESTRATOR_URL_HEADER),
        Some(orch.uri().base().as_str())
    );

    // The job's parameters leave the busy one out: it is not asked at all.
    let job = serde_json::json!({
        "request": "{}",
        "parameters": serde_json::json!({"orchestrators": {"exclude": [busy_uri.base()]}}).to_string(),
        "capability": "upper",
        "timeout_seconds": 5,
    });
    let h = base64::engine::general_purpose::STANDARD.encode(job.to_string());
    let r = submit(&http, gw.http_addr(), 0, &h, "left out").await;
    assert_eq!((r.status, r.text()), (200, "LEFT OUT".to_owned()));
    assert_eq!(hits.load(Ordering::SeqCst), 1, "not tried again");
    shutdown.cancel();
}

const EV: u64 = 1_000_000_000_000;
/// Wei per second of the cheaper orchestrator; the other charges twice as much.
const PRICE: u64 = 10_000_000_000;

/// Paid with tickets on a devnet: the bytes, the debit of ⌈elapsed s⌉ × price in both
/// ledgers, and a second orchestrator taking the job the first has no capacity for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byoc_paid_per_second_on_a_devnet() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let spec = |i: usize| {
        let mut os = orch_settings(&dir.path().join(format!("o{i}")));
        os.orch_secret = Some(SECRET.into());
        OrchestratorSpec::paid(os, Wei::from_base_units(U256::from(EV)))
    };
    let gateway = GatewaySpec::paying(
        GatewaySettings::new(any_addr(), ladder(&["P144p30fps16x9"])),
        Wei::from_base_units(U256::from(EV)),
    );
    let net = LocalNetwork::start(
        DevnetOptions::ephemeral(&dir.path().join("chain"), 4).with_round_length(100),
        vec![spec(0), spec(1)],
        Some(gateway),
        &shutdown,
    )
    .await
    .unwrap();
    let http = Http::new().unwrap();
    let gsigner = net.signer(3).unwrap();
    let gnode = net.gateway.as_ref().unwrap();
    let gpay = gnode.payments.clone().unwrap();
    let gw = gnode.gateway.http_addr();
    let (o0, o1) = (&net.orchestrators[0], &net.orchestrators[1]);
    let (wa, worker_a) = start_worker("a").await;
    let (wb, worker_b) = start_worker("b").await;
    for (o, w, price) in [(o0, wa, PRICE), (o1, wb, 2 * PRICE)] {
        let url = format!("{}{}", o.node.uri().base(), byoc::REGISTER_PATH);
        let body = registration("upper", w, 1, price as i64);
        assert_eq!(
            post_secret(url, Some(SECRET), body).await,
            (200, "ok".to_owned())
        );
    }
    let scope = Scope::new(byoc::CAPABILITY, "upper");
    let account = AccountKey::new(gsigner.address(), byoc::CAPABILITY, "upper");
    let wei = |n: u64| Wei::from_base_units(U256::from(n));

    // The token of the cheaper one: ticket params for this gateway, the price per second.
    let r = orch_send(
        orch_client()
            .get(format!("{}{}", o0.node.uri().base(), byoc::TOKEN_PATH))
            .header(
                byoc::ETH_ADDRESS_HEADER,
                JobSender::signed(&gsigner).to_header(),
            )
            .header(byoc::CAPABILITY_HEADER, "upper"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let tok: JobToken = serde_json::from_slice(&r.body).unwrap();
    let price = tok.price.unwrap();
    assert_eq!(
        (price.price_per_unit, price.pixels_per_unit),
        (PRICE as i64, 1)
    );
    let tp = tok.ticket_params.unwrap();
    assert_eq!(tp.recipient, o0.node.address().to_vec());
    assert_eq!((tok.balance, tok.available_capacity), (0, 1));

    // One job of 1.2 s: the bytes, one ticket (EV ≥ 5 s × price), 2 s debited.
    let h = job_header("upper", 5);
    let r = submit(&http, gw, 1200, &h, "pay me").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "PAY ME");
    assert_eq!(r.header("x-metadata"), Some("a"), "the cheaper one");
    assert_eq!(r.header("livepeer-units"), Some("2"), "⌈1.2 s⌉");
    let left = wei(EV - 2 * PRICE);
    assert_eq!(o0.payments.balance(&account), (left, false));
    assert_eq!(
        r.header(byoc::BALANCE_HEADER),
        Some(left.base_units().to_string().as_str())
    );
    assert_eq!(gpay.balance(o0.node.address(), &scope), (left, false));

    // A quick one: 1 s debited; the credit fell under one EV, so one more ticket went.
    let r = submit(&http, gw, 0, &h, "again").await;
    assert_eq!((r.status, r.text()), (200, "AGAIN".to_owned()));
    assert_eq!(r.header("livepeer-units"), Some("1"));
    let left = wei(2 * EV - 3 * PRICE);
    assert_eq!(o0.payments.balance(&account), (left, false));
    assert_eq!(
        r.header(byoc::BALANCE_HEADER),
        Some(left.base_units().to_string().as_str())
    );
    assert_eq!(gpay.balance(o0.node.address(), &scope), (left, false));

    // Two at once: the cheaper one has one slot, so one job goes to the dearer one.
    let both = futures_pair(
        submit(&http, gw, 1500, &h, "one"),
        submit(&http, gw, 1500, &h, "two"),
    )
    .await;
    let mut served: Vec<&str> = both
        .iter()
        .map(|r| r.header("x-metadata").unwrap_or("?"))
        .collect();
    served.sort_unstable();
    assert_eq!(
        served,
        ["a", "b"],
        "{:?}",
        both.iter()
            .map(|r| (r.status, r.text()))
            .collect::<Vec<_>>()
    );
    assert_eq!(worker_a.runs.load(Ordering::SeqCst), 3);
    assert_eq!(worker_b.runs.load(Ordering::SeqCst), 1);
    // 2 s at twice the price at the dearer one, from one ticket; both ledgers agree there.
    let b_left = wei(EV - 2 * 2 * PRICE);
    assert_eq!(o1.payments.balance(&account), (b_left, false));
    assert_eq!(gpay.balance(o1.node.address(), &scope), (b_left, false));
    assert_eq!(
        gpay.balance(o0.node.address(), &scope),
        o0.payments.balance(&account)
    );

    // The orchestrator's credit falls below what the gateway counts (as after a restart
    // that lost it): the token says so, the gateway follows it down and pays again,
    // rather than sending no tickets to be refused for good.
    let before = o0.payments.balance(&account).0.base_units();
    let lost = before / U256::from(PRICE) - U256::from(5u64);
    o0.payments
        .debit(
            &account,
            u64::try_from(lost).unwrap(),
            PricePerUnit::from_wei_per_unit(PRICE),
        )
        .unwrap();
    let r = submit(&http, gw, 0, &h, "after a loss").await;
    assert_eq!((r.status, r.text()), (200, "AFTER A LOSS".to_owned()));
    let now = o0.payments.balance(&account);
    assert_eq!(
        gpay.balance(o0.node.address(), &scope),
        now,
        "in step again"
    );
    assert!(now.0 >= wei(EV - PRICE), "paid up to one EV again: {now:?}");

    // A client that hangs up before the answer: the orchestrator charges the time used all
    // the same (the worker would have run 3 s), and the gateway's count follows at the next
    // token. First credit for more than one EV (a long timeout), so that no ticket goes
    // with the request that hangs up.
    let r = submit(&http, gw, 0, &job_header("upper", 300), "stock up").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        gpay.balance(o0.node.address(), &scope),
        o0.payments.balance(&account)
    );
    let before = o0.payments.balance(&account).0.base_units();
    let impatient = Http::with_timeout(Duration::from_millis(1200)).unwrap();
    let hung_up = impatient
        .send(
            impatient
                .client()
                .post(format!("http://{gw}/process/request/upper/3000"))
                .header(byoc::JOB_HEADER, &h)
                .body("hang up"),
        )
        .await;
    assert!(hung_up.is_err(), "{hung_up:?}");
    let charged =
        reel_testkit::Wait::new("the dropped job to be charged", Duration::from_millis(1500))
            .every(Duration::from_millis(20))
            .until_ok(async || {
                let now = o0.payments.balance(&account).0.base_units();
                (now < before).then_some(before - now).ok_or(now)
            })
            .await
            .expect("hanging up made the work free");
    assert!(
        charged == U256::from(PRICE) || charged == U256::from(2 * PRICE),
        "⌈~1 s⌉ charged, not the 3 s the worker would have taken: {charged}"
    );
    assert_eq!(
        gpay.balance(o0.node.address(), &scope).0.base_units(),
        before,
        "the gateway never heard"
    );
    let r = submit(&http, gw, 0, &h, "in step").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        gpay.balance(o0.node.address(), &scope),
        o0.payments.balance(&account),
        "in step again"
    );
    assert_eq!(
        o0.payments.balance(&account).0.base_units(),
        before - charged - U256::from(PRICE)
    );

    // Unregistered at both: no orchestrator offers it, nothing is paid.
    for o in [o0, o1] {
        let url = format!("{}{}", o.node.uri().base(), byoc::UNREGISTER_PATH);
        assert_eq!(post_secret(url, Some(SECRET), "upper".into()).await.0, 200);
    }
    let before = gpay.balance(o0.node.address(), &scope);
    let r = submit(&http, gw, 0, &h, "gone").await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(gpay.balance(o0.node.address(), &scope), before);
    assert_eq!(
        worker_a.runs.load(Ordering::SeqCst),
        7,
        "the last never ran"
    );
    net.stop().await.unwrap();
}

async fn futures_pair<A, B>(a: A, b: B) -> [reel_testkit::http::Reply; 2]
where
    A: std::future::Future<Output = reel_testkit::http::Reply>,
    B: std::future::Future<Output = reel_testkit::http::Reply>,
{
    let (a, b) = tokio::join!(a, b);
    [a, b]
}
