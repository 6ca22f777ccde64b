//! The account's one transaction sender on a real anvil: nonces given back and gaps filled,
//! another sender on the account detected, a stuck transaction replaced, receipts awaited with
//! a deadline, and a round keeper that keeps initialising and rewarding through 20 rounds of
//! another process sending from its account (plain transfers, `initializeRound()` races and a
//! transaction stuck in the mempool).

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use reel_chain::keeper::{Keeper, KeeperConfig};
use reel_chain::{
    ChainConfig, ChainError, Devnet, DevnetOptions, Protocol, SenderConfig, TxSender,
};
use reel_testkit::Wait;
use reel_types::{Lpt, Ppm};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Quick timings for a chain that mines on demand.
fn quick() -> SenderConfig {
    SenderConfig {
        poll: Duration::from_millis(50),
        replace_after: Duration::from_millis(800),
        receipt_timeout: Duration::from_secs(20),
        rebroadcast_every: Duration::from_millis(500),
        ..SenderConfig::default()
    }
}

struct Chain {
    _dir: tempfile::TempDir,
    devnet: Devnet,
    config: ChainConfig,
}

impl Chain {
    async fn start(round_length: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let devnet = Devnet::start(DevnetOptions {
            protocol: reel_contracts::ProtocolParams {
                round_length,
                ..DevnetOptions::devnet_protocol()
            },
            ..DevnetOptions::ephemeral(&dir.path().join("chain"), 3)
        })
        .await
        .unwrap();
        let config = devnet.chain_config();
        Self {
            _dir: dir,
            devnet,
            config,
        }
    }

    fn key(&self, i: usize) -> PrivateKeySigner {
        PrivateKeySigner::from_bytes(&self.devnet.file().accounts[i].private_key).unwrap()
    }

    fn sender(&self, i: usize, cfg: SenderConfig) -> TxSender {
        TxSender::new(&self.config.rpc_url, self.config.chain_id, self.key(i), cfg).unwrap()
    }

    async fn rpc(&self, method: &'static str, params: serde_json::Value) -> serde_json::Value {
        reel_chain::connect(&self.config.rpc_url)
            .unwrap()
            .raw_request::<_, serde_json::Value>(method.into(), params)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    async fn automine(&self, on: bool) {
        self.rpc("evm_setAutomine", serde_json::json!([on])).await;
    }

    async fn mine(&self, blocks: u64) {
        self.rpc("anvil_mine", serde_json::json!([blocks])).await;
    }

    async fn nonces(&self, who: Address) -> (u64, u64) {
        let p = reel_chain::connect(&self.config.rpc_url).unwrap();
        (
            p.get_transaction_count(who).latest().await.unwrap(),
            p.get_transaction_count(who).pending().await.unwrap(),
        )
    }

    /// A transaction from account `i` that stays in the mempool: its gas limit is above the
    /// block gas limit once that is lowered (anvil drops an underpriced one instead of
    /// keeping it, so this is how a transaction gets stuck here). Returns its nonce.
    async fn stuck_tx(&self, i: usize) -> u64 {
        let who = self.key(i).address();
        let (_, pending) = self.nonces(who).await;
        self.automine(false).await;
        cast(&[
            "send",
            "--rpc-url",
            &self.config.rpc_url,
            "--private-key",
            &format!("{}", self.devnet.file().accounts[i].private_key),
            "--legacy",
            "--gas-limit",
            "29000000",
            "--nonce",
            &pending.to_string(),
            "--async",
            &format!("{who}"),
            "--value",
            "0",
        ])
        .unwrap();
        self.rpc("anvil_setBlockGasLimit", serde_json::json!(["0x17d7840"]))
            .await;
        self.automine(true).await;
        self.mine(1).await;
        let (latest, pending_after) = self.nonces(who).await;
        assert_eq!(latest, pending, "the transaction is not mined");
        assert!(pending_after > pending, "the transaction is in the mempool");
        pending
    }
}

/// The `cast` CLI next to anvil in `node_modules`: another process on the same account.
fn cast_bin() -> PathBuf {
    let anvil = reel_chain::anvil::find_anvil().unwrap();
    let foundry = anvil.ancestors().nth(3).unwrap();
    let arch = if cfg!(target_arch = "aarch64") {
        "cast-linux-arm64"
    } else {
        "cast-linux-amd64"
    };
    foundry.join(arch).join("bin").join("cast")
}

fn cast(args: &[&str]) -> Result<String, String> {
    let out = Command::new(cast_bin()).args(args).output().unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn transfer(to: Address, wei: u64) -> TransactionRequest {
    TransactionRequest::default()
        .with_to(to)
        .with_value(U256::from(wei))
}

#[tokio::test]
async fn a_nonce_given_back_is_reused_and_no_gap_is_left() {
    let chain = Chain::start(20).await;
    let s = chain.sender(1, quick());
    let me = s.address();
    let lease = s.reserve().await.unwrap();
    let first = lease.nonce();
    let second = s.reserve().await.unwrap();
    assert_eq!(second.nonce(), first + 1);
    // The first fails before it is broadcast: its nonce comes back, lowest first.
    drop(lease);
    let again = s.reserve().await.unwrap();
    assert_eq!(
        again.nonce(),
        first,
        "the given-back nonce is handed out again"
    );
    drop(again);
    drop(second);
    // A transaction the node refuses (more value than the account holds) takes no nonce,
    // and the error names it.
    let err = s
        .send(
            "too much",
            TransactionRequest::default()
                .with_to(Address::repeat_byte(7))
                .with_value(U256::from(10u64).pow(U256::from(24u64))),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("too much"), "{err}");
    for i in 0..3 {
        s.send(
            format!("transfer {i}"),
            transfer(Address::repeat_byte(7), 1),
        )
        .await
        .unwrap();
    }
    let (latest, pending) = chain.nonces(me).await;
    assert_eq!(
        (latest, pending),
        (first + 3, first + 3),
        "no gap, nothing queued"
    );
    assert!(s.stats().reused >= 1, "{:?}", s.stats());
}

#[tokio::test]
async fn another_sender_on_the_account_is_found_and_resynced() {
    let chain = Chain::start(20).await;
    let ours = chain.sender(1, quick());
    // A second process on the same key, with its own bookkeeping.
    let theirs = chain.sender(1, quick());
    for i in 0..4 {
        ours.send(format!("ours {i}"), transfer(Address::repeat_byte(1), 1))
            .await
            .unwrap();
        theirs
            .send(format!("theirs {i}"), transfer(Address::repeat_byte(2), 1))
            .await
            .unwrap();
    }
    let key = format!("{}", chain.devnet.file().accounts[1].private_key);
    cast(&[
        "send",
        "--rpc-url",
        &chain.config.rpc_url,
        "--private-key",
        &key,
        &format!("{}", Address::repeat_byte(3)),
        "--value",
        "1",
    ])
    .unwrap();
    ours.send("after cast", transfer(Address::repeat_byte(1), 1))
        .await
        .unwrap();
    assert!(ours.stats().resynced >= 4, "{:?}", ours.stats());
    let (latest, pending) = chain.nonces(ours.address()).await;
    assert_eq!(latest, 10);
    assert_eq!(pending, latest, "nothing queued");
}

#[tokio::test]
async fn a_stuck_transaction_is_replaced_with_a_higher_gas_price() {
    let chain = Chain::start(20).await;
    let s = chain.sender(1, quick());
    chain.automine(false).await;
    let send = {
        let s = s.clone();
        tokio::spawn(async move { s.send("stuck", transfer(Address::repeat_byte(9), 1)).await })
    };
    // Past replace_after with no block: replaced, same nonce, higher price.
    Wait::new(
        "the stuck transaction to be replaced",
        Duration::from_secs(10),
    )
    .until_ok(async || match s.stats() {
        st if st.replaced == 0 => Err(st),
        _ => Ok(()),
    })
    .await
    .unwrap();
    chain.mine(1).await;
    let out = send.await.unwrap().unwrap();
    let p = reel_chain::connect(&chain.config.rpc_url).unwrap();
    let tx = p.get_transaction_by_hash(out.tx).await.unwrap().unwrap();
    let base = p.get_gas_price().await.unwrap();
    assert!(
        alloy::consensus::Transaction::gas_price(&tx).unwrap() > base,
        "the replacement paid more"
    );
    let (latest, pending) = chain.nonces(s.address()).await;
    assert_eq!(
        (latest, pending),
        (1, 1),
        "one transaction mined for the nonce"
    );
    chain.automine(true).await;
}

#[tokio::test]
async fn a_foreign_transaction_stuck_below_ours_is_replaced_so_ours_is_mined() {
    let chain = Chain::start(20).await;
    let s = chain.sender(1, quick());
    let stuck = chain.stuck_tx(1).await;
    let out = s
        .send("behind a stuck one", transfer(Address::repeat_byte(4), 5))
        .await
        .unwrap();
    assert_eq!(s.stats().unblocked, 1, "{:?}", s.stats());
    let (latest, pending) = chain.nonces(s.address()).await;
    assert_eq!(
        (latest, pending),
        (stuck + 2, stuck + 2),
        "nothing left in the mempool"
    );
    assert!(out.block > 0);
}

#[tokio::test]
async fn a_receipt_is_awaited_with_a_deadline_and_a_taken_nonce_is_named() {
    let chain = Chain::start(20).await;
    let s = chain.sender(
        1,
        SenderConfig {
            receipt_timeout: Duration::from_secs(2),
            replace_after: Duration::from_secs(60),
            ..quick()
        },
    );
    chain.automine(false).await;
    let t0 = Instant::now();
    let err = s
        .send("never mined", transfer(Address::repeat_byte(5), 1))
        .await
        .unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
    assert!(
        matches!(err, ChainError::ReceiptTimeout { nonce: 0, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("no receipt after 2 s for nonce 0"),
        "{err}"
    );
    assert!(err.is_retryable());
    // The node loses it (a restarted node's empty mempool): nonce 0 is free again.
    chain
        .rpc("anvil_dropAllTransactions", serde_json::json!([]))
        .await;

    // The same nonce, taken by another process at a higher price while ours waits.
    let waiting = {
        let s = s.clone();
        tokio::spawn(async move {
            s.send("overtaken", transfer(Address::repeat_byte(6), 1))
                .await
        })
    };
    // Ours is in the mempool before the other process takes its nonce.
    Wait::new("our transaction in the mempool", Duration::from_secs(10))
        .every(Duration::from_millis(20))
        .until_ok(async || match chain.nonces(s.address()).await {
            (0, 1) => Ok(()),
            nonces => Err(nonces),
        })
        .await
        .unwrap();
    let key = format!("{}", chain.devnet.file().accounts[1].private_key);
    cast(&[
        "send",
        "--rpc-url",
        &chain.config.rpc_url,
        "--private-key",
        &key,
        "--legacy",
        "--gas-price",
        "50000000000",
        "--nonce",
        "0",
        "--async",
        &format!("{}", Address::repeat_byte(3)),
        "--value",
        "1",
    ])
    .unwrap();
    chain.mine(1).await;
    let err = waiting.await.unwrap().unwrap_err();
    let me = s.address();
    assert!(
        err.to_string()
            .contains(&format!("nonce 0 of {me} was used by another sender")),
        "{err}"
    );
    chain.automine(true).await;
    // Dropping a send (cancelled at its receipt wait) leaves no gap behind.
    chain.automine(false).await;
    let cancelled = tokio::time::timeout(
        Duration::from_millis(500),
        s.send("cancelled", transfer(Address::repeat_byte(6), 1)),
    )
    .await;
    assert!(cancelled.is_err(), "still waiting when cancelled");
    chain.automine(true).await;
    chain.mine(1).await;
    s.send("after", transfer(Address::repeat_byte(6), 1))
        .await
        .unwrap();
    let (latest, pending) = chain.nonces(me).await;
    assert_eq!((latest, pending), (3, 3));
}

/// The scenario: over 20 rounds another process keeps sending from the keeper's
/// account — plain transfers, `initializeRound()` races, and one transaction stuck in the
/// mempool. The keeper initialises (or finds initialised) every round, rewards in every
/// round, and leaves nothing queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keeper_rewards_every_round_while_another_process_sends_from_its_account() {
    const ROUNDS: u64 = 20;
    let chain = Arc::new(Chain::start(20).await);
    let sender = chain.sender(
        1,
        SenderConfig {
            replace_after: Duration::from_secs(1),
            ..quick()
        },
    );
    let me = sender.address();
    let orch = Protocol::with_sender(&chain.config, Some(sender.clone()))
        .await
        .unwrap();
    orch.ensure_round_initialized().await.unwrap();
    orch.bond(Lpt::from_whole(100), me).await.unwrap();
    orch.set_transcoder("5".parse::<Ppm>().unwrap(), "50".parse::<Ppm>().unwrap())
        .await
        .unwrap();
    chain.devnet.mine_to_next_round().await.unwrap();
    orch.ensure_round_initialized().await.unwrap();

    let keeper = Arc::new(Keeper::new(
        orch.clone(),
        KeeperConfig {
            initialize_rounds: true,
            reward: true,
            poll: Duration::from_millis(100),
        },
    ));
    let stop = tokio_util_free_token();
    let k = Arc::clone(&keeper);
    let stop_k = Arc::clone(&stop);
    let keeper_task = tokio::spawn(async move {
        k.run(async move {
            while !stop_k.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    });

    // The other process: `cast` from the same key, in a loop.
    let other_sent = Arc::new(AtomicU64::new(0));
    // Held by the other process around each `cast`, and by the test while it makes the stuck
    // transaction (which needs the account's next nonce to itself).
    let turn = Arc::new(std::sync::Mutex::new(()));
    let other = {
        let turn = Arc::clone(&turn);
        let rpc = chain.config.rpc_url.clone();
        let key = format!("{}", chain.devnet.file().accounts[1].private_key);
        let rounds_manager = format!("{}", chain.devnet.file().contracts.rounds_manager);
        let stop = Arc::clone(&stop);
        let sent = Arc::clone(&other_sent);
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let args: Vec<String> = if i.is_multiple_of(2) {
                    vec![
                        "send".into(),
                        "--rpc-url".into(),
                        rpc.clone(),
                        "--private-key".into(),
                        key.clone(),
                        rounds_manager.clone(),
                        "initializeRound()".into(),
                    ]
                } else {
                    vec![
                        "send".into(),
                        "--rpc-url".into(),
                        rpc.clone(),
                        "--private-key".into(),
                        key.clone(),
                        format!("{}", Address::repeat_byte(0x42)),
                        "--value".into(),
                        "1".into(),
                    ]
                };
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let ok = {
                    let _turn = turn.lock().unwrap();
                    cast(&args).is_ok()
                };
                if ok {
                    sent.fetch_add(1, Ordering::SeqCst);
                }
                i += 1;
                std::thread::sleep(Duration::from_millis(150));
            }
        })
    };

    let first = orch.round_status().await.unwrap().round.0;
    for n in 0..ROUNDS {
        // In one round the other process leaves a transaction stuck in the mempool and waits
        // (`cast` would replace it itself, as it takes the mined nonce): the keeper's
        // transactions of the round queue behind it until the keeper replaces it.
        let pause = (n == 5).then(|| turn.lock().unwrap());
        if pause.is_some() {
            chain.stuck_tx(1).await;
        }
        let round = chain.devnet.mine_to_next_round().await.unwrap();
        let t0 = Instant::now();
        Wait::new(
            format!("round {round} to be initialised and rewarded"),
            Duration::from_secs(30),
        )
        .until_ok(async || {
            let st = orch.round_status().await.unwrap();
            let t = orch.transcoder(me).await.unwrap();
            if st.initialized && t.last_reward_round.0 == round {
                return Ok(());
            }
            Err(format!(
                "round {round}: initialized {}, last reward {}; keeper {:?}; sender {:?}",
                st.initialized,
                t.last_reward_round,
                keeper.status(),
                sender.stats()
            ))
        })
        .await
        .unwrap();
        drop(pause);
        // The other process lands at least one transaction every round, so the two really
        // interleave however fast this machine mines rounds (counting over wall time made
        // the final check depend on the machine's speed).
        Wait::new(
            format!("the other process to send during round {round}"),
            Duration::from_secs(30),
        )
        .until(async || (other_sent.load(Ordering::SeqCst) > n).then_some(()))
        .await
        .unwrap();
        eprintln!(
            "round {round}: rewarded after {:?}; {:?}",
            t0.elapsed(),
            sender.stats()
        );
    }
    stop.store(true, Ordering::SeqCst);
    other.join().unwrap();
    keeper_task.await.unwrap();

    let last = orch.round_status().await.unwrap().round.0;
    assert!(last >= first + ROUNDS, "{first} → {last}");
    // Every round initialised, and rewarded by the keeper (a reward writes the round's
    // cumulative reward factor).
    let bm = orch.bonding_manager();
    for r in first + 1..=last {
        let hash = orch
            .rounds_manager()
            .blockHashForRound(U256::from(r))
            .call()
            .await
            .unwrap();
        assert!(!hash.is_zero(), "round {r} initialised");
        let pool = bm
            .getTranscoderEarningsPoolForRound(me, U256::from(r))
            .call()
            .await
            .unwrap();
        assert!(!pool.cumulativeRewardFactor.is_zero(), "round {r} rewarded");
    }
    let status = keeper.status();
    assert_eq!(status.problem(), None, "{status:?}");
    let stats = sender.stats();
    assert!(
        other_sent.load(Ordering::SeqCst) >= ROUNDS,
        "the other process sent every round"
    );
    assert!(stats.resynced > 0, "{stats:?}");
    assert_eq!(
        stats.unblocked, 1,
        "the stuck transaction was replaced: {stats:?}"
    );
    // Nothing left behind: every nonce the account used is mined.
    let (latest, pending) = chain.nonces(me).await;
    let content = chain.rpc("txpool_content", serde_json::json!([])).await;
    assert_eq!(latest, pending, "no queued transaction: {content}");
    let pool = chain.rpc("txpool_status", serde_json::json!([])).await;
    assert_eq!(pool["pending"], "0x0", "{pool}");
    assert_eq!(pool["queued"], "0x0", "{pool}");
}

/// A stop flag shared between the test, its keeper and the `cast` thread.
fn tokio_util_free_token() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}
