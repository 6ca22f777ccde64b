//! The chain fault cases (14–18, 20 in docs/faults.md#fault-cases) on a real anvil and the real
//! contracts: reel-pm's `Redeemer` and `Store` driving a `ChainTicketBroker`, winning tickets
//! signed in Rust. Money is checked to the wei: the orchestrator keeps every fee (fee share
//! 0 %), so its fees grow by exactly the face values it redeemed.

use std::sync::Arc;

use alloy::{
    primitives::{Address, U256},
    providers::Provider,
    signers::local::PrivateKeySigner,
};
use reel_chain::{
    Devnet, DevnetOptions, Protocol,
    broker::{ChainTicketBroker, to_contract_ticket},
};
use reel_contracts::livepeer::{IRoundsManager, ITicketBroker};
use reel_net::sig::EthSigner;
use reel_pm::{
    ExpirationParams, Redeemer, RedeemerConfig, SenderMonitor, SignedTicket, Store, Ticket,
    TicketBroker, TicketState,
    store::NewWinner,
    ticket::{MAX_WIN_PROB, recipient_rand_hash},
};
use reel_testkit::Wait;
use reel_types::{Lpt, Ppm, Wei};

const ORCH: usize = 1;
const GATEWAY: usize = 2;
const SYBIL: usize = 3;

/// A devnet with an active orchestrator (account 1, fee share 0) redeeming through a
/// `Redeemer` on its own store, a funded gateway (account 2) and a keeper (account 0, never
/// the orchestrator's account: its nonces belong to the redemptions).
struct Fixture {
    dir: tempfile::TempDir,
    devnet: Option<Devnet>,
    keeper: Protocol,
    orch: Protocol,
    gw: Protocol,
    gw_signer: EthSigner,
    broker: Arc<ChainTicketBroker>,
    store: Arc<Store>,
    monitor: Arc<SenderMonitor>,
    next_nonce: u32,
}

fn wei(v: u128) -> Wei {
    Wei::from_base_units(U256::from(v))
}

/// 0.25 ETH: well above a redemption's cost at devnet gas prices.
fn face_value() -> Wei {
    wei(250_000_000_000_000_000)
}

impl Fixture {
    async fn start(accounts: usize, deposit: Wei, reserve: Wei) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let devnet = Devnet::start(DevnetOptions {
            protocol: reel_contracts::ProtocolParams {
                round_length: 50,
                ..DevnetOptions::devnet_protocol()
            },
            ..DevnetOptions::ephemeral(&dir.path().join("chain"), accounts)
        })
        .await?;
        let config = devnet.chain_config();
        let key = |i: usize| PrivateKeySigner::from_bytes(&devnet.file().accounts[i].private_key);
        let keeper = Protocol::connect(&config, Some(key(0)?)).await?;
        let orch = Protocol::connect(&config, Some(key(ORCH)?)).await?;
        let gw = Protocol::connect(&config, Some(key(GATEWAY)?)).await?;
        let gw_signer = EthSigner::from_bytes(&devnet.file().accounts[GATEWAY].private_key.0)?;
        let broker = Arc::new(ChainTicketBroker::connect(&config, key(ORCH)?, Wei::ZERO).await?);
        let me = orch.from()?;
        orch.bond(Lpt::from_whole(100), me).await?;
        orch.set_transcoder("10".parse::<Ppm>()?, Ppm::default())
            .await?;
        gw.fund_deposit_and_reserve(deposit, reserve).await?;
        let store = Arc::new(Store::open(&dir.path().join("tickets.sqlite3"))?);
        let f = Self {
            dir,
            devnet: Some(devnet),
            keeper,
            orch,
            gw,
            gw_signer,
            broker,
            store,
            monitor: Arc::new(SenderMonitor::new(me, 1)),
            next_nonce: 1,
        };
        f.next_round().await?;
        assert!(f.orch.transcoder(me).await?.active);
        Ok(f)
    }

    fn devnet(&self) -> &Devnet {
        self.devnet.as_ref().expect("devnet running")
    }

    async fn next_round(&self) -> anyhow::Result<()> {
        self.devnet().mine_to_next_round().await?;
        self.keeper.ensure_round_initialized().await?;
        Ok(())
    }

    async fn mine(&self, n: u64) -> anyhow::Result<()> {
        self.keeper
            .provider()
            .raw_request::<_, ()>("anvil_mine".into(), (n,))
            .await?;
        Ok(())
    }

    fn orch_address(&self) -> Address {
        self.orch.from().expect("signer")
    }

    fn gw_address(&self) -> Address {
        self.gw_signer.address()
    }

    fn redeemer(&self, cfg: RedeemerConfig) -> Redeemer<ChainTicketBroker> {
        Redeemer::new(
            Arc::clone(&self.store),
            Arc::clone(&self.broker),
            Arc::clone(&self.monitor),
            self.orch_address(),
            cfg,
        )
    }

    /// A ticket from the gateway to `recipient` that surely wins, created in the current
    /// round; its recipientRand is known to the test.
    async fn ticket(&mut self, recipient: Address, fv: Wei) -> anyhow::Result<SignedTicket> {
        let state = self.broker.chain_state().await?;
        let block_hash = IRoundsManager::new(
            self.devnet().file().contracts.rounds_manager,
            self.keeper.provider(),
        )
        .blockHashForRound(U256::from(state.current_round))
        .call()
        .await?;
        let nonce = self.next_nonce;
        self.next_nonce += 1;
        let rand = U256::from(0xc0ffee_u64 + u64::from(nonce));
        let ticket = Ticket {
            recipient,
            sender: self.gw_address(),
            face_value: fv,
            win_prob: MAX_WIN_PROB,
            sender_nonce: nonce,
            recipient_rand_hash: recipient_rand_hash(rand),
            expiration: ExpirationParams {
                creation_round: state.current_round,
                creation_round_block_hash: block_hash,
            },
        };
        Ok(SignedTicket {
            sig: ticket.sign(&self.gw_signer),
            ticket,
            recipient_rand: rand,
        })
    }

    /// Stores a winner of the orchestrator whose params expired already (redeemable now).
    async fn winner(&mut self, fv: Wei) -> anyhow::Result<(i64, SignedTicket)> {
        let t = self.ticket(self.orch_address(), fv).await?;
        let block = self.broker.chain_state().await?.block;
        let ids = self.store.commit_payment(
            &[],
            &[NewWinner {
                signed: t.clone(),
                params_expiration_block: block,
            }],
            now(),
        )?;
        Ok((ids[0], t))
    }

    /// (the orchestrator's fees, the gateway's deposit)
    async fn money(&self) -> anyhow::Result<(Wei, Wei)> {
        let fees = self.orch.delegator(self.orch_address()).await?.pending_fees;
        let deposit = self.broker.sender_info(self.gw_address()).await?.deposit;
        Ok((fees, deposit))
    }

    async fn orch_nonce(&self) -> anyhow::Result<u64> {
        Ok(self
            .keeper
            .provider()
            .get_transaction_count(self.orch_address())
            .await?)
    }

    async fn used(&self, t: &SignedTicket) -> anyhow::Result<bool> {
        Ok(self.broker.is_used_ticket(t.hash()).await?)
    }

    /// Ticks until the ticket is final (a redemption needs a tick to send, then one to see
    /// its receipt).
    async fn until_final(
        &self,
        r: &Redeemer<ChainTicketBroker>,
        id: i64,
    ) -> anyhow::Result<reel_pm::StoredTicket> {
        let wait = Wait::new(
            format!("ticket {id} to reach a final state"),
            std::time::Duration::from_secs(5),
        );
        // A failed tick or read ends the wait with its error rather than a timeout.
        wait.until_ok(async || {
            let step = async {
                r.tick(now()).await?;
                anyhow::Ok(self.store.get(id)?.expect("stored"))
            };
            match step.await {
                Ok(t) if !t.state.is_final() => Err(t.state),
                done => Ok(done),
            }
        })
        .await?
    }

    /// Ticks until the ticket is final and checks that it was redeemed.
    async fn redeemed(
        &self,
        r: &Redeemer<ChainTicketBroker>,
        id: i64,
    ) -> anyhow::Result<reel_pm::StoredTicket> {
        let s = self.until_final(r, id).await?;
        assert_eq!(s.state, TicketState::Redeemed, "{s:?}");
        Ok(s)
    }

    async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(d) = self.devnet.take() {
            d.shutdown().await?;
        }
        drop(self.dir);
        Ok(())
    }
}

/// From `before` to `after` (both [`Fixture::money`]) the orchestrator's fees grew and the
/// gateway's deposit shrank by exactly one face value.
fn assert_moved_one_face_value(before: (Wei, Wei), after: (Wei, Wei)) -> anyhow::Result<()> {
    assert_eq!(after.0.checked_sub(before.0)?, face_value());
    assert_eq!(before.1.checked_sub(after.1)?, face_value());
    Ok(())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Gas above the cap (see docs/faults.md#gas-above-the-cap; go-livepeer #2016): with gas above
/// `maxGasPrice` nothing is sent and the ticket stays pending (never "redeemed" with a zero hash);
/// under the cap it is redeemed once, for its face value.
#[tokio::test]
async fn c14_on_anvil_gas_above_the_cap_sends_nothing_and_the_ticket_stays_pending_then_redeems_once()
-> anyhow::Result<()> {
    let mut f = Fixture::start(3, Wei::from_whole(1), Wei::from_whole(1)).await?;
    let (id, t) = f.winner(face_value()).await?;
    let before = f.money().await?;
    let nonce = f.orch_nonce().await?;
    let gas = f.broker.gas_price().await?;
    assert!(!gas.is_zero());
    // A cap below the devnet's gas price.
    let capped = f.redeemer(RedeemerConfig {
        max_gas_price: Some(wei(1)),
        ..RedeemerConfig::default()
    });
    for _ in 0..3 {
        let r = capped.tick(now()).await?;
        assert_eq!((r.waiting, r.submitted, r.redeemed), (1, 0, 0), "{r:?}");
        f.mine(1).await?;
    }
    let s = f.store.get(id)?.expect("stored");
    assert_eq!((s.state, s.tx_hash), (TicketState::Pending, None));
    assert!(f.store.txs(id)?.is_empty(), "no transaction recorded");
    assert_eq!(f.orch_nonce().await?, nonce, "no transaction sent");
    assert!(!f.used(&t).await?);

    // The cap at the chain's price: redeemed, once, to the wei.
    let r = f.redeemer(RedeemerConfig {
        max_gas_price: Some(f.broker.gas_price().await?.checked_mul(U256::from(2u64))?),
        ..RedeemerConfig::default()
    });
    let s = f.redeemed(&r, id).await?;
    assert!(s.tx_hash.is_some_and(|h| !h.is_zero()), "{s:?}");
    assert_eq!(f.store.txs(id)?.len(), 1);
    assert!(f.used(&t).await?);
    let after = f.money().await?;
    assert_moved_one_face_value(before, after)?;
    f.shutdown().await
}

/// Gas spikes and a zero gas price (see docs/faults.md#gas-spikes-and-a-zero-gas-price): a base-fee
/// spike (`anvil_setNextBlockBaseFeePerGas` 1000 gwei) makes the redemption cost more than the
/// ticket: it waits, sending nothing, and is redeemed once gas falls.
#[tokio::test]
async fn c15_on_anvil_a_gas_spike_holds_the_redemption_until_gas_falls() -> anyhow::Result<()> {
    let mut f = Fixture::start(3, Wei::from_whole(1), Wei::from_whole(1)).await?;
    let (id, t) = f.winner(face_value()).await?;
    let before = f.money().await?;
    let nonce = f.orch_nonce().await?;
    let set_base_fee = |gwei: u64| {
        let p = f.keeper.provider().clone();
        async move {
            p.raw_request::<_, ()>(
                "anvil_setNextBlockBaseFeePerGas".into(),
                (U256::from(gwei) * U256::from(1_000_000_000u64),),
            )
            .await?;
            p.raw_request::<_, ()>("anvil_mine".into(), (1u64,)).await?;
            anyhow::Ok(())
        }
    };
    set_base_fee(1000).await?;
    let gas = f.broker.gas_price().await?;
    let cost = gas.checked_mul(U256::from(RedeemerConfig::default().redeem_gas))?;
    assert!(cost > face_value(), "gas {gas}: the spike is big enough");
    let r = f.redeemer(RedeemerConfig::default());
    let rep = r.tick(now()).await?;
    assert_eq!((rep.waiting, rep.submitted), (1, 0), "{rep:?}");
    assert_eq!(
        f.store.get(id)?.expect("stored").state,
        TicketState::Pending
    );
    assert_eq!(f.orch_nonce().await?, nonce, "nothing sent at a loss");

    // The base fee drops to 0 (go-livepeer #1851 was a provider answering 0: anvil still answers
    // its 1 gwei tip here; the exact-0 answer is the unit test in reel-pm's recipient.rs). New
    // params keep a face value of at least EV × 100, not EV, so their winners stay worth
    // redeeming.
    set_base_fee(0).await?;
    let zero = f.broker.gas_price().await?;
    let ev = wei(1_000_000_000_000);
    let (fv, _) = reel_pm::recipient::face_value_and_win_prob(
        &reel_pm::RecipientConfig {
            ticket_ev: ev,
            ..reel_pm::RecipientConfig::default()
        },
        &reel_pm::PricePerPixel::from_wei_per_unit(1),
        zero,
        Wei::from_whole(1),
    )?;
    assert!(
        fv >= ev.checked_mul(U256::from(100u64))?,
        "{fv} at gas {zero}"
    );

    // Gas falls back (empty blocks lower the base fee; set it to speed that up).
    set_base_fee(1).await?;
    f.redeemed(&r, id).await?;
    assert_eq!(f.store.txs(id)?.len(), 1);
    assert!(f.used(&t).await?);
    let after = f.money().await?;
    assert_moved_one_face_value(before, after)?;
    f.shutdown().await
}

/// Front-running, draining and dust griefing (see
/// docs/faults.md#front-running-draining-and-dust-griefing): the gateway drains its deposit to a
/// sybil orchestrator before ours redeems, and a third party adds 1 wei (dust griefing): ours sends
/// nothing while the deposit cannot cover the face value, the ticket survives, and it is redeemed
/// in full once the gateway tops up. A ticket somebody else redeemed for us ends "used on chain",
/// the fee ours.
#[tokio::test]
async fn c16_on_anvil_a_drained_sender_a_dust_top_up_and_a_front_run_cost_nothing()
-> anyhow::Result<()> {
    // No reserve: only the deposit backs tickets.
    let mut f = Fixture::start(4, wei(300_000_000_000_000_000), Wei::ZERO).await?;
    let config = f.devnet().chain_config();
    let sybil_key = PrivateKeySigner::from_bytes(&f.devnet().file().accounts[SYBIL].private_key)?;
    let sybil = Protocol::connect(&config, Some(sybil_key.clone())).await?;
    sybil.bond(Lpt::from_whole(10), sybil.from()?).await?;
    sybil.set_transcoder(Ppm::default(), Ppm::default()).await?;
    f.next_round().await?;
    let (id, t) = f.winner(face_value()).await?;

    // The drain: 0.2 ETH of the 0.3 ETH deposit to the sybil, redeemed by the sybil itself.
    let drain = f
        .ticket(sybil.from()?, wei(200_000_000_000_000_000))
        .await?;
    let sybil_broker = ChainTicketBroker::connect(&config, sybil_key, Wei::ZERO).await?;
    let tx = sybil_broker
        .prepare_redeem(&drain, sybil_broker.gas_price().await?, None)
        .await?;
    sybil_broker.broadcast(&tx).await?;
    f.mine(1).await?;
    assert!(f.used(&drain).await?);
    let before = f.money().await?;
    assert_eq!(before.1, wei(100_000_000_000_000_000));

    let r = f.redeemer(RedeemerConfig::default());
    let nonce = f.orch_nonce().await?;
    let rep = r.tick(now()).await?;
    assert_eq!((rep.waiting, rep.submitted), (1, 0), "{rep:?}");
    // Dust from a third party changes nothing: still short, nothing sent, nothing burnt.
    let tb = ITicketBroker::new(
        f.devnet().file().contracts.ticket_broker,
        f.keeper.provider().clone(),
    );
    f.keeper
        .send(
            "dust",
            tb.fundDepositAndReserveFor(f.gw_address(), U256::from(1u64), U256::ZERO)
                .value(U256::from(1u64)),
        )
        .await?;
    let rep = r.tick(now()).await?;
    assert_eq!((rep.waiting, rep.submitted), (1, 0), "{rep:?}");
    assert_eq!(f.orch_nonce().await?, nonce);
    assert!(!f.used(&t).await?, "the ticket survives");
    assert_eq!(
        f.store.get(id)?.expect("stored").state,
        TicketState::Pending
    );

    // The gateway tops up: paid in full, once.
    f.gw.fund_deposit_and_reserve(Wei::from_whole(1), Wei::ZERO)
        .await?;
    f.redeemed(&r, id).await?;
    let after = f.money().await?;
    assert_eq!(after.0.checked_sub(before.0)?, face_value());
    assert_eq!(
        before
            .1
            .checked_add(wei(1))?
            .checked_add(Wei::from_whole(1))?
            .checked_sub(after.1)?,
        face_value()
    );

    // Front-run: a third party redeems our next ticket itself (it saw our recipientRand).
    let (id2, t2) = f.winner(face_value()).await?;
    f.keeper
        .send(
            "front-run",
            tb.redeemWinningTicket(
                to_contract_ticket(&t2.ticket),
                t2.sig.to_vec().into(),
                t2.recipient_rand,
            ),
        )
        .await?;
    let nonce = f.orch_nonce().await?;
    let s = f.until_final(&r, id2).await?;
    assert_eq!(s.state, TicketState::Used, "{s:?}");
    assert_eq!(f.orch_nonce().await?, nonce, "no transaction of ours");
    let last = f.money().await?;
    assert_eq!(
        last.0.checked_sub(after.0)?,
        face_value(),
        "the fee is ours all the same"
    );
    f.shutdown().await
}

/// Third-party unlock cancels and forced delegation (see
/// docs/faults.md#third-party-unlock-cancels-and-forced-delegation): the node reads the sender's
/// `withdrawRound` fresh: an unlock shows at once, a third party's 1-wei funding cannot cancel it
/// (the contract keeps it; the forge PoC `test_ForcedUnlockCancel_FailsAgainstOurs` is the
/// contract-side test), and only the sender's own `cancelUnlock` clears it.
#[tokio::test]
async fn c17_on_anvil_the_node_sees_an_unlock_that_a_third_party_cannot_cancel()
-> anyhow::Result<()> {
    let f = Fixture::start(3, Wei::from_whole(1), Wei::from_whole(1)).await?;
    let gw = f.gw_address();
    f.monitor.refresh(&*f.broker, gw).await?;
    assert_eq!(f.monitor.sender_info(gw).expect("read").withdraw_round, 0);
    f.gw.unlock().await?;
    let round = f.broker.chain_state().await?.current_round;
    f.monitor.refresh(&*f.broker, gw).await?;
    let unlocking = f.monitor.sender_info(gw).expect("read").withdraw_round;
    assert!(unlocking > round, "{unlocking} after {round}");

    let tb = ITicketBroker::new(
        f.devnet().file().contracts.ticket_broker,
        f.keeper.provider(),
    );
    f.keeper
        .send(
            "dust",
            tb.fundDepositAndReserveFor(gw, U256::from(1u64), U256::ZERO)
                .value(U256::from(1u64)),
        )
        .await?;
    f.monitor.refresh(&*f.broker, gw).await?;
    let info = f.monitor.sender_info(gw).expect("read");
    assert_eq!(info.withdraw_round, unlocking, "the unlock survives");
    assert_eq!(info.deposit, Wei::from_whole(1).checked_add(wei(1))?);

    f.gw.cancel_unlock().await?;
    f.monitor.refresh(&*f.broker, gw).await?;
    assert_eq!(f.monitor.sender_info(gw).expect("read").withdraw_round, 0);
    // A stranger cannot cancel what is not its own.
    let err = f
        .keeper
        .send("cancel unlock", tb.cancelUnlock())
        .await
        .expect_err("nothing to cancel");
    assert_eq!(
        err.revert_reason().as_deref(),
        Some("no unlock request in progress")
    );
    f.shutdown().await
}

/// RPC outages and chain reorganisations (see
/// docs/faults.md#rpc-outages-and-chain-reorganisations): a redemption rolled back with its block
/// (`evm_revert`) is broadcast again with the same bytes and redeemed once; an RPC outage (anvil
/// stopped, restarted on its saved state) makes a pass fail with an error, not a crash, and the
/// next pass redeems.
#[tokio::test]
async fn c18_on_anvil_a_rolled_back_redemption_and_an_rpc_outage_end_in_one_redemption()
-> anyhow::Result<()> {
    let mut f = Fixture::start(3, Wei::from_whole(1), Wei::from_whole(1)).await?;
    let (id, t) = f.winner(face_value()).await?;
    let before = f.money().await?;
    let r = f.redeemer(RedeemerConfig::default());
    let p = f.keeper.provider().clone();
    let snapshot: U256 = p.raw_request("evm_snapshot".into(), ()).await?;
    let rep = r.tick(now()).await?;
    assert_eq!(rep.submitted, 1, "{rep:?}");
    // Mined at once (a block per transaction) …
    let tx = f.store.txs(id)?.remove(0);
    Wait::new(
        "the redemption's receipt",
        std::time::Duration::from_secs(2),
    )
    .every(std::time::Duration::from_millis(20))
    .until(async || match f.broker.receipt(tx.tx_hash).await {
        Ok(None) => None,
        done => Some(done),
    })
    .await??;
    assert!(f.used(&t).await?);
    // … and rolled back with its block.
    let reverted: bool = p.raw_request("evm_revert".into(), (snapshot,)).await?;
    assert!(reverted);
    assert!(!f.used(&t).await?);
    assert!(f.broker.receipt(tx.tx_hash).await?.is_none());
    let s = f.redeemed(&r, id).await?;
    assert_eq!(
        s.tx_hash,
        Some(tx.tx_hash),
        "the same transaction, sent again"
    );
    assert_eq!(f.store.txs(id)?.len(), 1);
    let after = f.money().await?;
    assert_moved_one_face_value(before, after)?;

    // The outage: anvil goes away with a ticket waiting.
    let (id2, t2) = f.winner(face_value()).await?;
    let url = f.devnet().rpc_url().to_owned();
    let port: u16 = url
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .expect("port in the RPC URL");
    if let Some(d) = f.devnet.take() {
        d.shutdown().await?;
    }
    let err = r.tick(now()).await.expect_err("no chain");
    assert!(
        matches!(err, reel_pm::PmError::Chain { .. }),
        "a typed chain error: {err:?}"
    );
    assert_eq!(
        f.store.get(id2)?.expect("stored").state,
        TicketState::Pending
    );
    f.devnet = Some(
        Devnet::start(DevnetOptions {
            port: Some(port),
            ..DevnetOptions::ephemeral(&f.dir.path().join("chain"), 3)
        })
        .await?,
    );
    assert!(f.devnet().resumed());
    f.redeemed(&r, id2).await?;
    assert!(f.used(&t2).await?);
    let last = f.money().await?;
    assert_moved_one_face_value(after, last)?;
    f.shutdown().await
}

/// Double reward and uninitialised rounds (see
/// docs/faults.md#double-reward-and-uninitialised-rounds): a second `reward()` in a round reverts
/// cleanly with the contract's reason; a ticket waits (sending nothing) while the round is not
/// initialised; and after the orchestrator skipped a round's reward (Code4rena 2023-08 H-01) its
/// fees are still credited to the wei.
#[tokio::test]
async fn c20_on_anvil_double_reward_reverts_an_uninitialised_round_waits_fees_after_a_skipped_reward()
-> anyhow::Result<()> {
    let mut f = Fixture::start(3, Wei::from_whole(1), Wei::from_whole(1)).await?;
    f.orch.reward().await?;
    let err = f.orch.reward().await.expect_err("twice in a round");
    assert_eq!(
        err.revert_reason().as_deref(),
        Some("caller has already called reward for the current round")
    );

    // Skip the next round's reward entirely; the round after is not initialised yet.
    f.next_round().await?;
    let (id, t) = f.winner(face_value()).await?;
    f.devnet().mine_to_next_round().await?;
    let r = f.redeemer(RedeemerConfig::default());
    let nonce = f.orch_nonce().await?;
    for _ in 0..3 {
        let rep = r.tick(now()).await?;
        assert_eq!(
            (rep.waiting, rep.submitted, rep.errors),
            (1, 0, 0),
            "{rep:?}"
        );
    }
    assert_eq!(
        f.orch_nonce().await?,
        nonce,
        "no transaction while uninitialised"
    );
    f.keeper.ensure_round_initialized().await?;
    let before = f.money().await?;
    f.redeemed(&r, id).await?;
    assert!(f.used(&t).await?);
    let after = f.money().await?;
    assert_eq!(
        after.0.checked_sub(before.0)?,
        face_value(),
        "fees credited though last round's reward was skipped"
    );
    assert_eq!(before.1.checked_sub(after.1)?, face_value());
    f.shutdown().await
}
