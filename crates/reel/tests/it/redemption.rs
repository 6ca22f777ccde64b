//! Winning tickets of a `reel orchestrator` process on anvil, paid by a gateway-side
//! `reel_pm::Sender` through the real `POST /payment` path:
//!
//! - the process aborted at every named fail point of the ticket path
//!   (`REEL_FAILPOINT`, see `reel_pm::failpoint`) and restarted on the same data directory
//!   redeems every winning ticket it stored exactly once (see
//!   docs/faults.md#winners-are-stored-before-credit, #crash-around-a-redemption-broadcast,
//!   #n9-recovery-is-idempotent);
//! - 1,000 tickets: the winners are redeemed, the orchestrator's fees equal their face
//!   values and `reel stake withdraw-fees` pays them out, all to the wei;
//! - the ticket database locked by another process (see docs/faults.md#ticket-store-unavailable):
//!   the payment is refused with 503, `/healthz` is red, and once the lock is gone the same payment
//!   is stored and redeemed once.

use reel_pm::PriceProto;
use std::collections::HashSet;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolEvent;
use reel_chain::broker::ChainTicketBroker;
use reel_chain::{Devnet, DevnetOptions, Protocol};
use reel_contracts::livepeer::ITicketBroker::WinningTicketRedeemed;
use reel_net::http as wire;
use reel_net::{EthSigner, proto};
use reel_node::rpc::ServiceUri;
use reel_pm::{
    PricePerPixel, Sender, SenderChainView, SenderConfig, Store, TicketBroker, TicketParams,
    TicketState,
};
use reel_testkit::http::Http;
use reel_testkit::{Wait, metrics, wait_until};
use reel_types::{Lpt, Wei};

use crate::chain_support::reel_ok;
use crate::proc_support::{Role, field};

const SIGABRT: i32 = 6;
const ORCH: usize = 1;
const GATEWAY: usize = 2;

fn wei(v: u128) -> U256 {
    U256::from(v)
}

/// A devnet with one registered, active orchestrator (account 1, fee share 0 %: it keeps
/// every fee, so its fees are the face values to the wei) and a funded gateway (account 2).
struct Net {
    dir: tempfile::TempDir,
    devnet: Devnet,
    keeper: Protocol,
    orch: Protocol,
    gw: Protocol,
    gw_key: PrivateKeySigner,
    /// The orchestrator's service port, the same for every run (the registered service URI
    /// stays right, and no start sends a transaction).
    port: u16,
}

impl Net {
    async fn start(deposit: Wei, reserve: Wei) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let devnet = Devnet::start(DevnetOptions {
            // Long rounds: tickets stay valid while blocks are mined by hand.
            protocol: reel_contracts::ProtocolParams {
                round_length: 200,
                ..DevnetOptions::devnet_protocol()
            },
            ..DevnetOptions::ephemeral(&dir.path().join("chain"), 3)
        })
        .await
        .unwrap();
        let config = devnet.chain_config();
        let key = |i: usize| PrivateKeySigner::from_bytes(&devnet.file().accounts[i].private_key);
        let keeper = Protocol::connect(&config, Some(key(0).unwrap()))
            .await
            .unwrap();
        let orch = Protocol::connect(&config, Some(key(ORCH).unwrap()))
            .await
            .unwrap();
        let gw_key = key(GATEWAY).unwrap();
        let gw = Protocol::connect(&config, Some(gw_key.clone()))
            .await
            .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let net = Self {
            dir,
            devnet,
            keeper,
            orch,
            gw,
            gw_key,
            port,
        };
        net.next_round().await;
        let me = net.orch.from().unwrap();
        net.orch.bond(Lpt::from_whole(500), me).await.unwrap();
        net.orch
            .set_transcoder("10".parse().unwrap(), "0".parse().unwrap())
            .await
            .unwrap();
        net.orch
            .set_service_uri(&format!("https://127.0.0.1:{}", net.port))
            .await
            .unwrap();
        net.gw
            .fund_deposit_and_reserve(deposit, reserve)
            .await
            .unwrap();
        net.next_round().await;
        net
    }

    async fn next_round(&self) {
        self.devnet.mine_to_next_round().await.unwrap();
        self.keeper.ensure_round_initialized().await.unwrap();
    }

    /// Mines `n` blocks (initialising a round that starts meanwhile, from the keeper's
    /// account: never the orchestrator's, whose nonces its redemptions use).
    async fn mine(&self, n: u64) {
        self.keeper
            .provider()
            .raw_request::<_, ()>("anvil_mine".into(), (n,))
            .await
            .unwrap();
        self.keeper.ensure_round_initialized().await.unwrap();
    }

    /// The next block: where what happens from now on starts.
    async fn next_block(&self) -> u64 {
        self.keeper.provider().get_block_number().await.unwrap() + 1
    }

    fn orch_address(&self) -> Address {
        self.orch.from().unwrap()
    }

    fn gw_address(&self) -> Address {
        self.gw.from().unwrap()
    }

    /// (the orchestrator's fees, the gateway's deposit)
    async fn balances(&self) -> (U256, U256) {
        let fees = self
            .orch
            .delegator(self.orch_address())
            .await
            .unwrap()
            .pending_fees
            .base_units();
        let deposit = self
            .gw
            .sender_status(self.gw_address())
            .await
            .unwrap()
            .deposit
            .base_units();
        (fees, deposit)
    }

    async fn payer(&self, max_ticket_ev: Wei) -> Payer {
        let broker =
            ChainTicketBroker::connect(&self.devnet.chain_config(), self.gw_key.clone(), Wei::ZERO)
                .await
                .unwrap();
        let signer = EthSigner::from_bytes(&self.gw_key.to_bytes().0).unwrap();
        Payer {
            sender: Sender::new(
                signer.clone(),
                SenderConfig {
                    max_ticket_ev,
                    max_total_ev: Wei::from_whole(1000),
                    ..SenderConfig::default()
                },
            ),
            signer,
            broker,
            http: reel_node::rpc::http_client().unwrap(),
        }
    }

    fn orch_args(&self, data_dir: &Path, ev: &str, max_face_value: &str) -> Vec<String> {
        let devnet = self.devnet.file_path();
        [
            "orchestrator",
            "--network",
            "onchain",
            "--devnet",
            devnet.to_str().unwrap(),
            "--account",
            &ORCH.to_string(),
            "--http-addr",
            &format!("127.0.0.1:{}", self.port),
            "--cli-addr",
            "127.0.0.1:0",
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--price-per-unit",
            "1",
            "--ticket-ev",
            ev,
            "--max-face-value",
            max_face_value,
            "--ticket-params-validity",
            &PARAMS_VALIDITY.to_string(),
            "--rate-limit",
            "0",
            "--no-reward",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    }

    /// Every `WinningTicketRedeemed` to the orchestrator from `from` on: (count, Σ face
    /// value); fails if one ticket was redeemed twice.
    async fn redeemed_events(&self, from: u64) -> (usize, U256) {
        let filter = Filter::new()
            .address(self.keeper.contracts().ticket_broker)
            .event_signature(WinningTicketRedeemed::SIGNATURE_HASH)
            .from_block(from);
        let logs = self.keeper.provider().get_logs(&filter).await.unwrap();
        let mut seen = HashSet::new();
        let mut sum = U256::ZERO;
        for l in &logs {
            let e = l.log_decode::<WinningTicketRedeemed>().unwrap().inner.data;
            if e.recipient != self.orch_address() {
                continue;
            }
            assert!(
                seen.insert((e.sender, e.senderNonce, e.recipientRand)),
                "ticket redeemed twice: {e:?}"
            );
            sum += e.faceValue;
        }
        (seen.len(), sum)
    }
}

/// Blocks ticket params stay valid: redemptions start once that many blocks are mined.
const PARAMS_VALIDITY: u64 = 4;

/// A `reel orchestrator` process, killed when dropped.
struct Orch(Role);

/// What the banner of a started orchestrator names.
struct Started {
    service: ServiceUri,
    status: String,
}

impl Orch {
    fn start(args: &[String], failpoint: Option<&str>) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_reel"));
        cmd.args(args).env_remove(reel_pm::failpoint::ENV);
        if let Some(fp) = failpoint {
            cmd.env(reel_pm::failpoint::ENV, fp);
        }
        Self(Role::spawn(cmd))
    }

    /// Waits for "Press Ctrl-C"; `None` if the process ended first.
    fn started(&self) -> Option<Started> {
        let banner = self.0.read_banner().ok()?;
        let status = field(&banner, "status");
        Some(Started {
            service: ServiceUri::parse(&field(&banner, "service")).unwrap(),
            status,
        })
    }

    /// Waits until the process dies of its fail point (SIGABRT).
    async fn aborted(&mut self, what: &str) {
        let st = wait_until(
            &format!("{what} to reach its fail point"),
            Duration::from_secs(30),
            async || self.0.child.try_wait().unwrap(),
        )
        .await
        .unwrap_or_else(|e| panic!("{what}: never reached its fail point: {e}"));
        assert_eq!(st.signal(), Some(SIGABRT), "{what}: ended with {st}");
    }
}

/// The gateway side: a ticket sender paying over HTTP.
struct Payer {
    signer: EthSigner,
    sender: Sender,
    broker: ChainTicketBroker,
    http: reqwest::Client,
}

/// One session with an orchestrator: its answer and the params tickets are signed on.
struct Session {
    service: ServiceUri,
    info: proto::OrchestratorInfo,
    params: TicketParams,
    id: B256,
}

impl Payer {
    async fn view(&self) -> SenderChainView {
        let s = self.broker.chain_state().await.unwrap();
        SenderChainView {
            last_block: s.block,
            current_round: s.current_round,
            own: self
                .broker
                .sender_info(self.signer.address())
                .await
                .unwrap(),
            gas_price: self.broker.gas_price().await.unwrap(),
        }
    }

    async fn session(&self, service: &ServiceUri) -> Session {
        let req = reel_net::signed::signed_orchestrator_request(&self.signer);
        let (info, _) =
            reel_node::gateway::discovery::get_orchestrator(service, req, Duration::from_secs(10))
                .await
                .unwrap();
        let price = PricePerPixel::from_proto(info.price_info.as_ref().unwrap()).unwrap();
        let tp = info.ticket_params.as_ref().unwrap();
        let params = TicketParams::from_proto(tp, tp.expiration_params.as_ref(), price).unwrap();
        let id = self.sender.start_session(params);
        Session {
            service: service.clone(),
            info,
            params,
            id,
        }
    }

    /// Signs `n` tickets and posts them to `/payment`. `Err` when the orchestrator did not
    /// answer 200 (a crashed one closes the connection).
    async fn pay(&self, s: &Session, n: u32, seq: i64) -> Result<(), String> {
        let payment = self.payment(s, n).await;
        match self.post(s, &payment, seq).await? {
            (200, _) => Ok(()),
            (status, body) => Err(format!("{status}: {body}")),
        }
    }

    /// `n` freshly signed tickets on the session's params.
    async fn payment(&self, s: &Session, n: u32) -> proto::Payment {
        self.sender
            .create_payment(&s.id, n, &self.view().await)
            .unwrap()
    }

    /// Posts `payment` to `/payment`: (status, body), or `Err` when no answer came.
    async fn post(
        &self,
        s: &Session,
        payment: &proto::Payment,
        seq: i64,
    ) -> Result<(u16, String), String> {
        let mut seg = proto::SegData {
            manifest_id: b"payments".to_vec(),
            seq,
            hash: wire::segment_hash(b"").to_vec(),
            duration: 1000,
            auth_token: s.info.auth_token.clone(),
            ..Default::default()
        };
        reel_net::signed::sign_seg_data(&self.signer, &mut seg).unwrap();
        let r = self
            .http
            .post(format!("{}{}", s.service.base(), wire::PAYMENT_PATH))
            .headers(wire::payment_request_headers(&seg, payment))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status().as_u16();
        let body = r.bytes().await.map_err(|e| e.to_string())?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

async fn status(http: &Http, url: &str) -> serde_json::Value {
    http.get_json(url).await.unwrap()
}

/// Waits until the orchestrator at `status_url` has redeemed `n` tickets, mining a block
/// now and then so that its redeemer keeps ticking.
async fn await_redeemed(net: &Net, status_url: &str, n: u64, what: &str) {
    let http = Http::new().unwrap();
    let mut last_mine = Instant::now();
    Wait::new(format!("{what}: {n} redeemed"), Duration::from_secs(60))
        .every(Duration::from_millis(100))
        .until_ok(async || {
            let w = status(&http, status_url).await["payments"]["winningTickets"].clone();
            if w["redeemed"] == n {
                return Ok(());
            }
            if last_mine.elapsed() > Duration::from_secs(1) {
                net.mine(1).await;
                last_mine = Instant::now();
            }
            Err(w)
        })
        .await
        .unwrap_or_else(|e| panic!("{what}: not all redeemed: {e}"));
}

/// Everything the chain and the orchestrator's database say after a run: every stored
/// winner redeemed exactly once, the fees and the deposit moved by exactly their face values.
async fn assert_paid_exactly(
    net: &Net,
    data_dir: &Path,
    from_block: u64,
    before: (U256, U256),
    winners: u64,
    face_value: U256,
    what: &str,
) {
    let store = Store::open(&data_dir.join(reel_node::payments::TICKET_DB)).unwrap();
    let stored = store.all().unwrap();
    assert_eq!(stored.len() as u64, winners, "{what}: winners stored");
    let tb = net.keeper.ticket_broker();
    for t in &stored {
        assert_eq!(t.state, TicketState::Redeemed, "{what}: {t:?}");
        assert!(
            tb.usedTickets(t.signed.hash()).call().await.unwrap(),
            "{what}: ticket {} not used on chain",
            t.id
        );
        let r = net
            .keeper
            .provider()
            .get_transaction_receipt(t.tx_hash.unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(r.status(), "{what}: recorded redemption failed");
    }
    let total = face_value * U256::from(winners);
    let (n, sum) = net.redeemed_events(from_block).await;
    assert_eq!(
        (n as u64, sum),
        (winners, total),
        "{what}: WinningTicketRedeemed"
    );
    let (fees, deposit) = net.balances().await;
    assert_eq!(fees - before.0, total, "{what}: the orchestrator's fees");
    assert_eq!(before.1 - deposit, total, "{what}: the gateway's deposit");
}

/// One crash scenario: which fail points the runs stop at (the last run has none) and
/// where the payments stand when the process dies.
struct Scenario {
    /// `REEL_FAILPOINT` of each run before the clean one.
    crashes: Vec<String>,
    /// The crash happens while paying (the second payment dies); else while redeeming.
    while_paying: bool,
    /// Winners stored when it dies: payments of 2 tickets, every ticket wins.
    winners: u64,
}

/// Every named fail point: the orchestrator dies there, is restarted on the same data
/// directory without it, and every winning ticket in its database is redeemed exactly
/// once; its fees and the gateway's deposit move by exactly their face values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orchestrator_killed_at_every_fail_point_redeems_each_winner_exactly_once() {
    use reel_pm::failpoint as fp;
    // Face value = EV: every ticket wins.
    let ev: u128 = 10_000_000_000_000_000;
    let net = Net::start(Wei::from_whole(10), Wei::from_whole(1)).await;
    let payer = net.payer(Wei::from_base_units(wei(ev))).await;
    // (fail point, one it died at on the run before, crashes while paying, winners); each
    // crashing run dies on its second arrival at its fail point (`REEL_FAILPOINT=<name>@2`).
    let scenarios = [
        // Validated, not stored: the second payment is lost and never redeemed.
        (fp::RECV_AFTER_VALIDATION, None, true, 2),
        // Stored, then dead before the answer: its winners are redeemed all the same.
        (fp::RECV_AFTER_STORE, None, true, 4),
        (fp::RECV_AFTER_CREDIT, None, true, 4),
        (fp::REDEEM_AFTER_SIGN, None, false, 4),
        (fp::REDEEM_AFTER_RECORD, None, false, 4),
        (fp::REDEEM_AFTER_BROADCAST, None, false, 4),
        (fp::REDEEM_AFTER_RECEIPT, None, false, 4),
        // Dead with a signed, stored, unsent redemption; dead again while recovering it.
        (fp::REDEEM_RECOVER, Some(fp::REDEEM_AFTER_RECORD), false, 4),
    ]
    .map(|(name, before, while_paying, winners)| {
        (
            name,
            Scenario {
                crashes: before
                    .into_iter()
                    .chain([name])
                    .map(|c| format!("{c}@2"))
                    .collect(),
                while_paying,
                winners,
            },
        )
    });
    assert_eq!(
        scenarios.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        fp::ALL,
        "a scenario per fail point"
    );
    let ev_s = ev.to_string();
    let t_all = Instant::now();
    for (name, sc) in &scenarios {
        let t0 = Instant::now();
        let data_dir: PathBuf = net.dir.path().join(name);
        let args = net.orch_args(&data_dir, &ev_s, &ev_s);
        let before = net.balances().await;
        let from_block = net.next_block().await;

        // Run 1: pays (and redeems) until the fail point.
        let mut o = Orch::start(&args, Some(&sc.crashes[0]));
        let started = o
            .started()
            .unwrap_or_else(|| panic!("{name}: did not start"));
        let s = payer.session(&started.service).await;
        assert_eq!(s.params.face_value.base_units(), wei(ev));
        payer.pay(&s, 2, 0).await.unwrap();
        if sc.while_paying {
            let r = payer.pay(&s, 2, 1).await;
            assert!(r.is_err(), "{name}: the second payment was answered");
        } else {
            payer.pay(&s, 2, 1).await.unwrap();
            net.mine(PARAMS_VALIDITY).await;
        }
        o.aborted(name).await;
        drop(o);
        // Further crashes, each on the same data directory.
        for fp in &sc.crashes[1..] {
            let mut o = Orch::start(&args, Some(fp));
            o.aborted(fp).await;
        }

        // The clean run: the params are expired by now or soon.
        let o = Orch::start(&args, None);
        let started = o.started().unwrap_or_else(|| panic!("{name}: no restart"));
        if sc.while_paying {
            net.mine(PARAMS_VALIDITY).await;
        }
        await_redeemed(&net, &started.status, sc.winners, name).await;
        drop(o);
        assert_paid_exactly(
            &net,
            &data_dir,
            from_block,
            before,
            sc.winners,
            wei(ev),
            name,
        )
        .await;
        eprintln!(
            "fail point {name}: {} winners redeemed once each in {:.1} s",
            sc.winners,
            t0.elapsed().as_secs_f64()
        );
    }
    eprintln!("all fail points in {:.1} s", t_all.elapsed().as_secs_f64());
}

/// 1,000 tickets over `/payment` at a win probability of 1/10: every winner is redeemed, the
/// orchestrator's fees equal their face values, and `reel stake withdraw-fees` pays them
/// out: its ETH balance grows by exactly the fees less the gas of the withdrawal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_tickets_over_http_are_redeemed_and_withdrawn_to_the_wei() {
    const TICKETS: u32 = 1000;
    const PER_PAYMENT: u32 = 5;
    const PER_SESSION: u32 = 250;
    let ev: u128 = 1_000_000_000_000_000;
    let fv: u128 = 10 * ev;
    let net = Net::start(Wei::from_whole(10), Wei::from_whole(1)).await;
    let payer = net.payer(Wei::from_base_units(wei(ev))).await;
    let data_dir = net.dir.path().join("orch");
    let args = net.orch_args(&data_dir, &ev.to_string(), &fv.to_string());
    let before = net.balances().await;
    let from_block = net.next_block().await;
    let o = Orch::start(&args, None);
    let started = o.started().unwrap();
    let http = Http::new().unwrap();

    let t0 = Instant::now();
    let mut s = payer.session(&started.service).await;
    assert_eq!(s.params.face_value.base_units(), wei(fv));
    for i in 0..TICKETS / PER_PAYMENT {
        if i > 0 && (i * PER_PAYMENT).is_multiple_of(PER_SESSION) {
            s = payer.session(&started.service).await;
        }
        payer
            .pay(&s, PER_PAYMENT, i64::from(i))
            .await
            .unwrap_or_else(|e| panic!("payment {i}: {e}"));
    }
    let sent_in = t0.elapsed();
    let st = status(&http, &started.status).await;
    let w = &st["payments"]["winningTickets"];
    let winners = w["pending"].as_u64().unwrap();
    // 1,000 draws at 1/10: fewer than 50 or more than 160 is a 1-in-10^6 event.
    assert!((50..=160).contains(&winners), "{st}");

    let t1 = Instant::now();
    net.mine(PARAMS_VALIDITY).await;
    await_redeemed(&net, &started.status, winners, "1,000 tickets").await;
    let redeemed_in = t1.elapsed();
    drop(o);
    assert_paid_exactly(
        &net,
        &data_dir,
        from_block,
        before,
        winners,
        wei(fv),
        "1,000 tickets",
    )
    .await;
    let fees = net.balances().await.0 - before.0;
    assert_eq!(fees, wei(fv) * U256::from(winners));

    // Withdraw them all with the CLI.
    let me = net.orch_address();
    let eth_before = net.keeper.provider().get_balance(me).await.unwrap();
    let out = reel_ok(&net.devnet.file_path(), ORCH, "stake", &["withdraw-fees"]);
    let tx: B256 = out
        .split("(tx ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|h| h.parse().ok())
        .unwrap_or_else(|| panic!("no tx hash in {out}"));
    let r = net
        .keeper
        .provider()
        .get_transaction_receipt(tx)
        .await
        .unwrap()
        .unwrap();
    assert!(r.status());
    let gas = U256::from(r.gas_used) * U256::from(r.effective_gas_price);
    let eth_after = net.keeper.provider().get_balance(me).await.unwrap();
    assert_eq!(eth_after + gas - eth_before, fees, "{out}");
    let left = net.balances().await.0;
    assert_eq!(left, U256::ZERO, "no fees left");
    eprintln!(
        "{TICKETS} tickets in {} payments sent in {:.1} s; {winners} winners of {} wei redeemed in {:.1} s; {fees} wei withdrawn (gas {gas} wei)",
        TICKETS / PER_PAYMENT,
        sent_in.as_secs_f64(),
        fv,
        redeemed_in.as_secs_f64(),
    );
}

/// Ticket store unavailable (see docs/faults.md#ticket-store-unavailable) with a real process:
/// another process holds the orchestrator's ticket database locked (`BEGIN EXCLUSIVE`, as a stray
/// `sqlite3` shell or a backup tool would). The payment is refused with a 503 that names the store,
/// nothing is stored or credited, `/healthz` turns red with the reason while discovery and
/// `/status` are still served; once the lock is gone the probe turns it green, and the very same
/// payment is stored and its winners redeemed once, to the wei.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_ticket_database_refuses_the_payment_until_it_is_free_then_pays_once() {
    // Face value = EV: every ticket wins.
    let ev: u128 = 10_000_000_000_000_000;
    let net = Net::start(Wei::from_whole(10), Wei::from_whole(1)).await;
    let payer = net.payer(Wei::from_base_units(wei(ev))).await;
    let data = net.dir.path().join("orch");
    let ev_s = ev.to_string();
    let orch = Orch::start(&net.orch_args(&data, &ev_s, &ev_s), None);
    let started = orch.started().expect("the orchestrator starts");
    let cli = started.status.trim_end_matches("/status").to_owned();
    let http = Http::new().unwrap();
    assert_eq!(healthz(&http, &cli).await.0, 200);

    let s = payer.session(&started.service).await;
    let payment = payer.payment(&s, 3).await;
    let before = net.balances().await;
    let from = net.next_block().await;

    let side = rusqlite::Connection::open(data.join(reel_node::payments::TICKET_DB)).unwrap();
    side.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let (code, body) = payer.post(&s, &payment, 0).await.unwrap();
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("ticket store unavailable (database locked by another writer)")
            && body.contains("nothing was credited"),
        "{body}"
    );
    let (code, doc) = healthz(&http, &cli).await;
    assert_eq!(code, 503, "{doc}");
    assert_eq!(doc["ticketStore"]["fault"], "busy", "{doc}");
    assert!(
        doc["reason"].as_str().unwrap().contains("database locked"),
        "{doc}"
    );
    assert_eq!(metric(&http, &cli, "reel_ticket_store_healthy").await, 0.0);
    assert_eq!(metric(&http, &cli, "livepeer_tickets_recv").await, 0.0);
    // What stores nothing is served: discovery with fresh params, and the status page.
    assert!(
        payer
            .session(&started.service)
            .await
            .info
            .ticket_params
            .is_some()
    );
    let st = status(&http, &started.status).await;
    assert_eq!(st["payments"]["ticketStore"]["healthy"], false, "{st}");
    assert_eq!(st["payments"]["winningTickets"]["pending"], 0, "{st}");

    // The lock is gone: the probe (every 5 s) turns the check green without a payment.
    side.execute_batch("COMMIT").unwrap();
    drop(side);
    Wait::new("/healthz to turn green", Duration::from_secs(15))
        .every(Duration::from_millis(200))
        .until_ok(async || match healthz(&http, &cli).await {
            (200, _) => Ok(()),
            red => Err(red),
        })
        .await
        .expect("still red");
    assert_eq!(metric(&http, &cli, "reel_ticket_store_healthy").await, 1.0);
    // The very same payment: stored and credited once; a third copy is a replay.
    assert_eq!(payer.post(&s, &payment, 0).await.unwrap().0, 200);
    assert_eq!(payer.post(&s, &payment, 0).await.unwrap().0, 200);
    assert_eq!(metric(&http, &cli, "livepeer_tickets_recv").await, 3.0);
    assert_eq!(
        metric(&http, &cli, "livepeer_winning_tickets_recv").await,
        3.0
    );

    net.mine(PARAMS_VALIDITY + 1).await;
    await_redeemed(&net, &started.status, 3, "after the lock").await;
    drop(orch);
    assert_paid_exactly(&net, &data, from, before, 3, wei(ev), "after the lock").await;
}

/// `/healthz` on a CLI address (`http://host:port`): (status, document).
async fn healthz(http: &Http, cli: &str) -> (u16, serde_json::Value) {
    http.get_status_json(format!("{cli}/healthz"))
        .await
        .unwrap()
}

/// A sample from `/metrics` on a CLI address.
async fn metric(http: &Http, cli: &str, name: &str) -> f64 {
    let text = http.metrics(cli).await.unwrap();
    metrics::metric(&text, name).unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// `kill -9` between broadcast and receipt: the chain stops mining, the orchestrator
/// broadcasts its redemptions and its round's `reward()`, and dies with all of them in the
/// mempool. Restarted on the same data directory, it leaves no nonce stuck, redeems every
/// winner exactly once, and calls reward once in the round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_broadcast_and_receipt_no_nonce_sticks_and_nothing_pays_twice() {
    let ev: u128 = 10_000_000_000_000_000;
    let net = Net::start(Wei::from_whole(10), Wei::from_whole(1)).await;
    let payer = net.payer(Wei::from_base_units(wei(ev))).await;
    let data_dir = net.dir.path().join("killed");
    let ev_s = ev.to_string();
    // Reward on: the keeper shares the account with the redeemer.
    let args: Vec<String> = net
        .orch_args(&data_dir, &ev_s, &ev_s)
        .into_iter()
        .filter(|a| a != "--no-reward")
        .collect();
    let before = net.balances().await;
    let from_block = net.next_block().await;
    let me = net.orch_address();
    let p = net.keeper.provider().clone();
    let rpc = |method: &'static str, params: serde_json::Value| {
        let p = p.clone();
        async move {
            p.raw_request::<_, serde_json::Value>(method.into(), params)
                .await
                .unwrap()
        }
    };

    let mut o = Orch::start(&args, None);
    let started = o.started().unwrap();
    let s = payer.session(&started.service).await;
    payer.pay(&s, 2, 0).await.unwrap();
    payer.pay(&s, 2, 1).await.unwrap();
    let winners = 4u64;

    // The chain stops mining. The params expire and a new round starts (initialised from
    // the keeper's account, mined by hand): the orchestrator now owes redemptions and this
    // round's reward, all of which it broadcasts and none of which is mined.
    rpc("evm_setAutomine", serde_json::json!([false])).await;
    let st = net.keeper.round_status().await.unwrap();
    rpc(
        "anvil_mine",
        serde_json::json!([st.start_block + st.length - st.block]),
    )
    .await;
    let init = {
        let k = net.keeper.clone();
        tokio::spawn(async move { k.initialize_round().await })
    };
    // Mined once it is in the mempool.
    let keeper = net.keeper.from().unwrap();
    Wait::new(
        "the keeper's initializeRound in the mempool",
        Duration::from_secs(10),
    )
    .every(Duration::from_millis(20))
    .until_ok(async || {
        let latest = p.get_transaction_count(keeper).latest().await.unwrap();
        let pending = p.get_transaction_count(keeper).pending().await.unwrap();
        match pending > latest {
            true => Ok(()),
            false => Err((latest, pending)),
        }
    })
    .await
    .unwrap();
    rpc("anvil_mine", serde_json::json!([1])).await;
    init.await.unwrap().unwrap();
    let round_status = net.keeper.round_status().await.unwrap();
    let round = round_status.round;
    let http = Http::new().unwrap();
    Wait::new(
        "every redemption and the reward broadcast",
        Duration::from_secs(60),
    )
    .every(Duration::from_millis(100))
    .until_ok(async || {
        let latest = p.get_transaction_count(me).latest().await.unwrap();
        let pending = p.get_transaction_count(me).pending().await.unwrap();
        let w = status(&http, &started.status).await["payments"]["winningTickets"].clone();
        // Every redemption and the reward are out.
        if w["submitted"] == winners && pending > latest + winners {
            return Ok(());
        }
        Err(format!("{w}, nonces {latest}/{pending}"))
    })
    .await
    .expect("not all broadcast");
    o.0.kill(); // SIGKILL
    drop(o);

    // Restarted with everything still pending, then the chain mines again.
    let o = Orch::start(&args, None);
    let started = o.started().unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    rpc("evm_setAutomine", serde_json::json!([true])).await;
    rpc("anvil_mine", serde_json::json!([1])).await;
    await_redeemed(&net, &started.status, winners, "killed mid-flight").await;
    Wait::new(format!("a reward in {round}"), Duration::from_secs(30))
        .every(Duration::from_millis(200))
        .until_ok(async || {
            let last = net.orch.transcoder(me).await.unwrap().last_reward_round;
            if last >= round {
                return Ok(());
            }
            net.mine(1).await;
            Err(last)
        })
        .await
        .unwrap_or_else(|e| panic!("no reward in {round}: {e}"));
    // Give the restarted node a few blocks to show any duplicate it might send.
    net.mine(3).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let st = status(&http, &started.status).await;
    drop(o);

    assert_paid_exactly(
        &net,
        &data_dir,
        from_block,
        before,
        winners,
        wei(ev),
        "killed mid-flight",
    )
    .await;
    // One reward in the round.
    let filter = Filter::new()
        .address(net.keeper.contracts().bonding_manager)
        .event_signature(reel_contracts::livepeer::IBondingManager::Reward::SIGNATURE_HASH)
        .from_block(round_status.start_block);
    let rewards = p
        .get_logs(&filter)
        .await
        .unwrap()
        .into_iter()
        .filter(|l| {
            l.log_decode::<reel_contracts::livepeer::IBondingManager::Reward>()
                .is_ok_and(|e| e.inner.data.transcoder == me)
        })
        .count();
    assert_eq!(rewards, 1, "reward called once in round {round}");
    // No nonce stuck: everything the account signed is mined, nothing waits in the pool.
    let latest = p.get_transaction_count(me).latest().await.unwrap();
    let pending = p.get_transaction_count(me).pending().await.unwrap();
    assert_eq!(latest, pending, "no stuck nonce");
    let pool = rpc("txpool_status", serde_json::json!([])).await;
    assert_eq!(pool["pending"], "0x0", "{pool}");
    assert_eq!(pool["queued"], "0x0", "{pool}");
    // And the node says it is fine.
    assert!(st["tasks"]["keeper"]["condition"].is_null(), "{st}");
}
