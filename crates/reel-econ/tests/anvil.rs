//! The model against the real contracts: a deterministic 20-round scenario on an ephemeral
//! anvil devnet (10 orchestrators, 20 delegators, a ticket sender), every operation applied
//! to both, and after each round initialization and at the end of each round every view the
//! model offers compared to the wei.
//!
//! An operation the model refuses must revert on chain with the same reason, and one the
//! model accepts must succeed. Amounts carry random wei so that stakes never tie exactly
//! (the model's tie order is exact too, but a tie is not needed to check it).

use alloy::{
    contract::{CallBuilder, CallDecoder},
    primitives::{Address, Bytes, U256},
    providers::{DynProvider, Provider},
    rpc::types::TransactionReceipt,
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use anyhow::{Context, bail, ensure};
use reel_chain::{Devnet, DevnetOptions};
use reel_contracts::{
    Deployment,
    bindings::LivepeerToken,
    livepeer::{IBondingManager, IRoundsManager, ITicketBroker},
};
use reel_econ::{EconError, Params, Protocol as Model};
use reel_net::sig::EthSigner;
use reel_pm::{
    ExpirationParams, Ticket,
    ticket::{MAX_WIN_PROB, recipient_rand_hash},
};
use reel_types::{Lpt, Ppm, Wei};
use std::time::{Duration, Instant};

/// A transaction's result: mined successfully, or refused (with the revert reason, if any).
type Tx = Result<TransactionReceipt, Option<String>>;

fn event<E: SolEvent>(r: &TransactionReceipt) -> Option<E> {
    r.logs()
        .iter()
        .find_map(|l| E::decode_log(&l.inner).ok().map(|d| d.data))
}

const ORCHS: usize = 10;
const DELS: usize = 20;
const ROUNDS: u64 = 20;
/// deployer, orchestrators, delegators, ticket sender
const ACCOUNTS: usize = 1 + ORCHS + DELS + 1;
const SENDER: usize = ACCOUNTS - 1;

use reel_testkit::rng::SplitMix64 as Rng;

fn orch(i: usize) -> usize {
    1 + i
}

fn del(i: usize) -> usize {
    1 + ORCHS + i
}

fn lpt(x: U256) -> Lpt {
    Lpt::from_base_units(x)
}

struct World {
    devnet: Devnet,
    model: Model,
    addrs: Vec<Address>,
    /// One signing provider per account.
    providers: Vec<DynProvider>,
    /// Read-only client for the views.
    reader: reel_chain::Protocol,
    contracts: Deployment,
    sender_key: EthSigner,
    ticket_nonce: u32,
    round: u64,
    ops: usize,
    refused: usize,
}

impl World {
    /// Applies an operation's two outcomes: both succeed, or both fail with the same reason.
    fn outcome<T>(
        &mut self,
        what: &str,
        model: Result<T, EconError>,
        chain: Tx,
    ) -> anyhow::Result<Option<(T, TransactionReceipt)>> {
        self.ops += 1;
        match (model, chain) {
            (Ok(m), Ok(c)) => Ok(Some((m, c))),
            (Err(m), Err(c)) => {
                self.refused += 1;
                let expect_reason = !matches!(
                    m,
                    EconError::InsufficientBalance { .. }
                        | EconError::Overflow
                        | EconError::Underflow
                        | EconError::DivisionByZero
                );
                if expect_reason {
                    ensure!(
                        c.as_deref() == Some(m.to_string().as_str()),
                        "round {}: {what}: model refused with `{m}`, chain with {c:?}",
                        self.round
                    );
                }
                Ok(None)
            }
            (Ok(_), Err(c)) => bail!(
                "round {}: {what}: the model accepted it, the chain refused: {c:?}",
                self.round
            ),
            (Err(m), Ok(_)) => bail!(
                "round {}: {what}: the chain accepted it, the model refused: {m}",
                self.round
            ),
        }
    }

    /// Sends `call` as account `who`: an `eth_call` first (a refusal returns its reason
    /// without a transaction), then the transaction, polling for its receipt.
    async fn send<P: Provider, D: CallDecoder>(
        &self,
        who: usize,
        call: CallBuilder<P, D>,
    ) -> anyhow::Result<Tx> {
        let call = call.from(self.addrs[who]);
        if let Err(e) = call.call_raw().await {
            return Ok(Err(reel_contracts::revert::reason(&e)));
        }
        let hash = *call.send().await?.tx_hash();
        let provider = &self.providers[who];
        let started = Instant::now();
        loop {
            if let Some(r) = provider.get_transaction_receipt(hash).await? {
                ensure!(
                    r.status(),
                    "round {}: {hash} reverted after a good eth_call",
                    self.round
                );
                return Ok(Ok(r));
            }
            ensure!(
                started.elapsed() < Duration::from_secs(20),
                "no receipt for {hash}"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    fn bm(&self, who: usize) -> IBondingManager::IBondingManagerInstance<&DynProvider> {
        IBondingManager::new(self.contracts.bonding_manager, &self.providers[who])
    }

    async fn bond(&mut self, who: usize, to: usize, amount: U256) -> anyhow::Result<()> {
        let (w, t) = (self.addrs[who], self.addrs[to]);
        let m = self.model.bond(w, t, lpt(amount));
        let c = self.send(who, self.bm(who).bond(amount, t)).await?;
        self.outcome(&format!("bond {amount} by #{who} to #{to}"), m, c)?;
        Ok(())
    }

    async fn unbond(&mut self, who: usize, amount: U256) -> anyhow::Result<()> {
        let m = self.model.unbond(self.addrs[who], lpt(amount));
        let c = self.send(who, self.bm(who).unbond(amount)).await?;
        if let Some((id, r)) = self.outcome(&format!("unbond {amount} by #{who}"), m, c)? {
            let ev = event::<IBondingManager::Unbond>(&r).context("Unbond event")?;
            ensure!(
                ev.unbondingLockId == U256::from(id),
                "round {}: unbond by #{who}: lock id model {id}, chain {}",
                self.round,
                ev.unbondingLockId
            );
        }
        Ok(())
    }

    async fn rebond(&mut self, who: usize, lock: u64) -> anyhow::Result<()> {
        let m = self.model.rebond(self.addrs[who], lock);
        let c = self
            .send(who, self.bm(who).rebond(U256::from(lock)))
            .await?;
        self.outcome(&format!("rebond lock {lock} by #{who}"), m, c)?;
        Ok(())
    }

    async fn rebond_from_unbonded(
        &mut self,
        who: usize,
        to: usize,
        lock: u64,
    ) -> anyhow::Result<()> {
        let m = self
            .model
            .rebond_from_unbonded(self.addrs[who], self.addrs[to], lock);
        let bm = self.bm(who);
        let call = bm.rebondFromUnbonded(self.addrs[to], U256::from(lock));
        let c = self.send(who, call).await?;
        self.outcome(&format!("rebondFromUnbonded lock {lock} by #{who}"), m, c)?;
        Ok(())
    }

    async fn withdraw_stake(&mut self, who: usize, lock: u64) -> anyhow::Result<()> {
        let m = self.model.withdraw_stake(self.addrs[who], lock);
        let c = self
            .send(who, self.bm(who).withdrawStake(U256::from(lock)))
            .await?;
        self.outcome(&format!("withdrawStake lock {lock} by #{who}"), m, c)?;
        Ok(())
    }

    async fn withdraw_fees(&mut self, who: usize) -> anyhow::Result<()> {
        let w = self.addrs[who];
        // All of the fees, as the model computes them after the claim.
        let m = self.model.withdraw_fees(w);
        let amount = m.as_ref().map(|a| *a).unwrap_or(Wei::ZERO);
        let c = self
            .send(who, self.bm(who).withdrawFees(w, amount.base_units()))
            .await?;
        self.outcome(&format!("withdrawFees {amount} by #{who}"), m, c)?;
        Ok(())
    }

    async fn claim(&mut self, who: usize) -> anyhow::Result<()> {
        let m = self.model.claim_earnings(self.addrs[who]);
        let c = self
            .send(who, self.bm(who).claimEarnings(U256::ZERO))
            .await?;
        self.outcome(&format!("claimEarnings by #{who}"), m, c)?;
        Ok(())
    }

    async fn transcoder(&mut self, who: usize, rc: u32, fs: u32) -> anyhow::Result<()> {
        let (rc, fs) = (
            Ppm::new(rc).context("reward cut")?,
            Ppm::new(fs).context("fee share")?,
        );
        let m = self.model.transcoder(self.addrs[who], rc, fs);
        let bm = self.bm(who);
        let call = bm.transcoder(U256::from(rc.millionths()), U256::from(fs.millionths()));
        let c = self.send(who, call).await?;
        self.outcome(&format!("transcoder({rc}, {fs}) by #{who}"), m, c)?;
        Ok(())
    }

    async fn reward(&mut self, who: usize) -> anyhow::Result<()> {
        let m = self.model.reward(self.addrs[who]);
        let c = self.send(who, self.bm(who).reward()).await?;
        if let Some((m, r)) = self.outcome(&format!("reward by #{who}"), m, c)? {
            let minted = event::<IBondingManager::Reward>(&r).map(|e| lpt(e.amount));
            ensure!(
                Some(m) == minted,
                "round {}: reward by #{who}: minted model {m}, chain {minted:?}",
                self.round
            );
        }
        Ok(())
    }

    /// A winning ticket from the sender to orchestrator `to`, redeemed by `to`.
    async fn redeem(&mut self, to: usize, face: U256) -> anyhow::Result<()> {
        let recipient = self.addrs[to];
        let block_hash = self
            .reader
            .rounds_manager()
            .blockHashForRound(U256::from(self.round))
            .call()
            .await?;
        self.ticket_nonce += 1;
        let rand = U256::from(0xfee0_0000u64 + u64::from(self.ticket_nonce));
        let ticket = Ticket {
            recipient,
            sender: self.addrs[SENDER],
            face_value: Wei::from_base_units(face),
            win_prob: MAX_WIN_PROB,
            sender_nonce: self.ticket_nonce,
            recipient_rand_hash: recipient_rand_hash(rand),
            expiration: ExpirationParams {
                creation_round: self.round,
                creation_round_block_hash: block_hash,
            },
        };
        let sig = ticket.sign(&self.sender_key);
        let tb = ITicketBroker::new(self.contracts.ticket_broker, &self.providers[to]);
        let call = tb.redeemWinningTicket(
            reel_chain::broker::to_contract_ticket(&ticket),
            Bytes::from(sig.to_vec()),
            rand,
        );
        let c = self.send(to, call).await?;
        let m = self
            .model
            .redeem_fees(recipient, Wei::from_base_units(face));
        self.outcome(&format!("ticket of {face} wei for #{to}"), m, c)?;
        Ok(())
    }

    async fn next_round(&mut self) -> anyhow::Result<()> {
        let round = self.devnet.mine_to_next_round().await?;
        let rm = IRoundsManager::new(self.contracts.rounds_manager, &self.providers[0]);
        if let Err(reason) = self.send(0, rm.initializeRound()).await? {
            bail!("initializeRound of round {round} refused: {reason:?}");
        }
        self.model.initialize_round()?;
        self.round = round;
        ensure!(
            self.model.current_round() == round,
            "round: model {}, chain {round}",
            self.model.current_round()
        );
        Ok(())
    }

    /// Every view of every account and the globals, to the wei.
    async fn compare(&self, when: &str) -> anyhow::Result<()> {
        let r = self.round;
        let c = &self.reader;
        let bm = c.bonding_manager();
        let token = c.token();
        let minter = c.minter();
        let contracts = c.contracts();
        let m = &self.model;
        for (i, &a) in self.addrs.iter().enumerate() {
            let (d, ps, pf, active, bal) = tokio::try_join!(
                async { bm.getDelegator(a).call().await },
                async { bm.pendingStake(a, U256::ZERO).call().await },
                async { bm.pendingFees(a, U256::ZERO).call().await },
                async { bm.isActiveTranscoder(a).call().await },
                async { token.balanceOf(a).call().await },
            )?;
            let field = |name: &str, model: String, chain: String| -> anyhow::Result<()> {
                ensure!(
                    model == chain,
                    "round {r} ({when}): account #{i} {a}: {name}: model {model}, chain {chain}"
                );
                Ok(())
            };
            field(
                "pendingStake",
                m.pending_stake(a).base_units().to_string(),
                ps.to_string(),
            )?;
            field(
                "pendingFees",
                m.pending_fees(a).base_units().to_string(),
                pf.to_string(),
            )?;
            field(
                "bondedAmount",
                m.bonded_amount(a).base_units().to_string(),
                d.bondedAmount.to_string(),
            )?;
            field(
                "fees",
                m.claimed_fees(a).base_units().to_string(),
                d.fees.to_string(),
            )?;
            field(
                "delegate",
                m.delegate_of(a).unwrap_or(Address::ZERO).to_string(),
                d.delegateAddress.to_string(),
            )?;
            field(
                "transcoderTotalStake",
                m.transcoder_total_stake(a).base_units().to_string(),
                d.delegatedAmount.to_string(),
            )?;
            field(
                "startRound",
                m.start_round(a).to_string(),
                d.startRound.to_string(),
            )?;
            field(
                "lastClaimRound",
                m.last_claim_round(a).to_string(),
                d.lastClaimRound.to_string(),
            )?;
            field(
                "nextUnbondingLockId",
                m.next_unbonding_lock_id(a).to_string(),
                d.nextUnbondingLockId.to_string(),
            )?;
            field(
                "isActiveTranscoder",
                m.is_active(a).to_string(),
                active.to_string(),
            )?;
            field(
                "wallet LPT",
                m.balance(a).base_units().to_string(),
                bal.to_string(),
            )?;
            for id in 0..m.next_unbonding_lock_id(a) {
                let lock = bm
                    .getDelegatorUnbondingLock(a, U256::from(id))
                    .call()
                    .await?;
                let chain = (!lock.withdrawRound.is_zero())
                    .then(|| (lock.amount.to_string(), lock.withdrawRound.to_string()));
                let model = m
                    .unbonding_lock(a, id)
                    .map(|(amount, wr)| (amount.base_units().to_string(), wr.to_string()));
                field(
                    &format!("unbonding lock {id}"),
                    format!("{model:?}"),
                    format!("{chain:?}"),
                )?;
            }
            if (1..=ORCHS).contains(&i) {
                let t = bm.getTranscoder(a).call().await?;
                let (rc, fs) = m.transcoder_params(a);
                field(
                    "lastRewardRound",
                    m.last_reward_round(a).to_string(),
                    t.lastRewardRound.to_string(),
                )?;
                field(
                    "rewardCut, feeShare",
                    format!("{}, {}", rc.millionths(), fs.millionths()),
                    format!("{}, {}", t.rewardCut, t.feeShare),
                )?;
            }
        }
        let (
            total_bonded,
            next_total,
            supply,
            inflation,
            mintable,
            minted,
            treasury,
            minter_lpt,
            cut,
        ) = tokio::try_join!(
            async { bm.getTotalBonded().call().await },
            async { bm.nextRoundTotalActiveStake().call().await },
            async { token.totalSupply().call().await },
            async { minter.inflation().call().await },
            async { minter.currentMintableTokens().call().await },
            async { minter.currentMintedTokens().call().await },
            async { token.balanceOf(contracts.treasury).call().await },
            async { token.balanceOf(contracts.minter).call().await },
            async { bm.treasuryRewardCutRate().call().await },
        )?;
        let global = |name: &str, model: U256, chain: U256| -> anyhow::Result<()> {
            ensure!(
                model == chain,
                "round {r} ({when}): {name}: model {model}, chain {chain}"
            );
            Ok(())
        };
        global(
            "getTotalBonded",
            m.total_bonded().base_units(),
            total_bonded,
        )?;
        global(
            "nextRoundTotalActiveStake",
            m.next_round_total_active_stake().base_units(),
            next_total,
        )?;
        global("totalSupply", m.total_supply().base_units(), supply)?;
        global("inflation", U256::from(m.inflation()), inflation)?;
        global(
            "currentMintableTokens",
            m.current_mintable().base_units(),
            mintable,
        )?;
        global(
            "currentMintedTokens",
            m.current_minted().base_units(),
            minted,
        )?;
        global(
            "treasury LPT balance",
            m.treasury_balance().base_units(),
            treasury,
        )?;
        global(
            "Minter LPT balance",
            m.minter_lpt().base_units(),
            minter_lpt,
        )?;
        global("treasuryRewardCutRate", m.treasury_reward_cut_rate(), cut)?;

        // The pool, in order.
        let pool = c.pool().await?;
        let chain_pool: Vec<_> = pool.iter().map(|p| (p.address, p.stake)).collect();
        ensure!(
            m.pool_members() == chain_pool,
            "round {r} ({when}): pool order: model {:?}, chain {chain_pool:?}",
            m.pool_members()
        );
        let chain_active: Vec<_> = pool
            .iter()
            .filter(|p| p.active)
            .map(|p| p.address)
            .collect();
        let model_active: Vec<_> = m
            .pool_members()
            .into_iter()
            .map(|p| p.0)
            .filter(|a| m.is_active(*a))
            .collect();
        ensure!(
            model_active == chain_active,
            "round {r} ({when}): active members of the pool: model {model_active:?}, chain {chain_active:?}"
        );
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_matches_the_contracts_to_the_wei() -> anyhow::Result<()> {
    let started = Instant::now();
    let dir = tempfile::tempdir()?;
    let mut options = DevnetOptions::ephemeral(dir.path(), ACCOUNTS);
    // Many transactions per round (each mines a block), far from the round lock; a pool
    // smaller than the orchestrators so that eviction happens; a treasury ceiling reached
    // mid-scenario.
    // Round 1 holds the most transactions (about a hundred); no round lock, so that
    // parameter changes are never refused for the block they land in.
    options.protocol.round_length = 200;
    options.protocol.round_lock_amount = Ppm::default();
    // A target the bonding rate crosses as stake arrives, so inflation moves both ways.
    options.protocol.target_bonding_rate = 250_000_000;
    options.protocol.num_active_transcoders = 7;
    options.protocol.treasury_balance_ceiling = Lpt::from_whole(40);
    let p = options.protocol.clone();
    let devnet = Devnet::start(options).await?;
    let f = devnet.file().clone();
    let config = devnet.chain_config();

    let mut model = Model::new(Params {
        round_length: p.round_length,
        unbonding_period: p.unbonding_period,
        num_active_transcoders: usize::try_from(p.num_active_transcoders)?,
        inflation: p.inflation,
        inflation_change: p.inflation_change,
        target_bonding_rate: p.target_bonding_rate,
        treasury_reward_cut_rate: U256::from(p.treasury_reward_cut_rate),
        treasury_balance_ceiling: p.treasury_balance_ceiling,
    });
    let addrs: Vec<Address> = f.accounts.iter().map(|a| a.address).collect();
    for &a in &addrs {
        model.mint(a, f.lpt_per_account);
    }
    // The devnet starts in round 1, initialized.
    model.initialize_round()?;

    let mut providers = Vec::new();
    for acct in &f.accounts {
        let signer = PrivateKeySigner::from_bytes(&acct.private_key)?;
        providers.push(reel_chain::connect_with_signer(&config.rpc_url, signer)?);
    }
    let reader = reel_chain::Protocol::connect(&config, None).await?;
    let sender_key = EthSigner::from_bytes(&f.accounts[SENDER].private_key.0)?;
    let mut w = World {
        devnet,
        model,
        addrs,
        providers,
        reader,
        contracts: f.contracts.clone(),
        sender_key,
        ticket_nonce: 0,
        round: 1,
        ops: 0,
        refused: 0,
    };

    // One approval per account, so that bonding sends one transaction.
    for i in 1..SENDER {
        let token = LivepeerToken::new(w.contracts.livepeer_token, &w.providers[i]);
        let call = token.approve(w.contracts.bonding_manager, U256::MAX);
        if let Err(reason) = w.send(i, call).await? {
            bail!("approve: {reason:?}");
        }
    }
    // The ticket sender's deposit.
    {
        let deposit = U256::from(60u64) * U256::from(10u64).pow(U256::from(18u64));
        let tb = ITicketBroker::new(w.contracts.ticket_broker, &w.providers[SENDER]);
        let call = tb.fundDepositAndReserve(deposit, U256::ZERO).value(deposit);
        if let Err(reason) = w.send(SENDER, call).await? {
            bail!("fund deposit: {reason:?}");
        }
    }
    w.compare("start").await?;

    let mut rng = Rng(0x5eed_0000_0000_ec0e);
    let mut inflation_seen = vec![w.model.inflation()];
    for round in 1..=ROUNDS {
        if round > 1 {
            w.next_round().await?;
            w.compare("after initializeRound").await?;
            inflation_seen.push(w.model.inflation());
        }
        if round == 1 {
            // Orchestrators register: self-bond and parameters.
            for i in 0..ORCHS {
                let amount = rng.amount(1000, 6000);
                w.bond(orch(i), orch(i), amount).await?;
                let (rc, fs) = (rng.below(300_001) as u32, rng.below(1_000_001) as u32);
                w.transcoder(orch(i), rc, fs).await?;
            }
        }

        // This round's actions, in a random order.
        #[derive(Clone, Copy, Debug)]
        enum Act {
            Reward(usize),
            Ticket(usize),
            Orch(usize),
            Del(usize),
        }
        let mut acts = Vec::new();
        for i in 0..ORCHS {
            if rng.chance(70) {
                acts.push(Act::Reward(orch(i)));
            }
            if rng.chance(30) {
                acts.push(Act::Orch(orch(i)));
            }
        }
        if round == 8 || round == 12 {
            acts.push(Act::Orch(orch(3)));
        }
        for _ in 0..4 {
            acts.push(Act::Ticket(orch(rng.below(ORCHS as u64) as usize)));
        }
        for i in 0..DELS {
            acts.push(Act::Del(del(i)));
        }
        for i in (1..acts.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            acts.swap(i, j);
        }

        for act in acts {
            match act {
                Act::Reward(o) => w.reward(o).await?,
                Act::Ticket(o) => {
                    // 0.001 to 0.3 ETH, with random wei.
                    let milli = U256::from(1_000_000_000_000_000u64);
                    let face = U256::from(1 + rng.below(300)) * milli
                        + U256::from(rng.below(1_000_000_000_000_000));
                    w.redeem(o, face).await?;
                }
                Act::Orch(o) => orch_action(&mut w, &mut rng, o, round).await?,
                Act::Del(d) => del_action(&mut w, &mut rng, d).await?,
            }
        }
        w.compare("end of round").await?;
    }

    eprintln!(
        "{} operations ({} refused by both), inflation by round {inflation_seen:?}, treasury {}, {:?}",
        w.ops,
        w.refused,
        w.model.treasury_balance(),
        started.elapsed()
    );
    ensure!(
        inflation_seen.windows(2).any(|p| p[1] > p[0])
            && inflation_seen.windows(2).any(|p| p[1] < p[0]),
        "inflation should have moved both ways: {inflation_seen:?}"
    );
    ensure!(w.refused > 0, "the scenario should exercise refusals too");
    ensure!(
        w.model.treasury_reward_cut_rate().is_zero(),
        "the treasury ceiling should have been reached"
    );
    w.devnet.shutdown().await?;
    Ok(())
}

async fn orch_action(w: &mut World, rng: &mut Rng, o: usize, round: u64) -> anyhow::Result<()> {
    let a = w.addrs[o];
    // Orchestrator #4 (index 3) resigns in round 8 and comes back in round 12.
    if o == orch(3) && round == 8 {
        let all = w.model.pending_stake(a).base_units();
        return w.unbond(o, all).await;
    }
    if o == orch(3) && round == 12 {
        let lock = w.model.next_unbonding_lock_id(a).saturating_sub(1);
        return w.rebond_from_unbonded(o, o, lock).await;
    }
    match rng.below(4) {
        0 => {
            let (rc, fs) = (rng.below(300_001) as u32, rng.below(1_000_001) as u32);
            w.transcoder(o, rc, fs).await
        }
        1 => {
            let stake = w.model.pending_stake(a).base_units();
            let part = stake * U256::from(5 + rng.below(15)) / U256::from(100u64);
            w.unbond(o, part).await
        }
        2 => w.bond(o, o, rng.amount(50, 800)).await,
        _ => w.claim(o).await,
    }
}

async fn del_action(w: &mut World, rng: &mut Rng, d: usize) -> anyhow::Result<()> {
    let a = w.addrs[d];
    // Matured locks are mostly withdrawn, others sometimes rebonded.
    for id in 0..w.model.next_unbonding_lock_id(a) {
        if let Some((_, withdraw_round)) = w.model.unbonding_lock(a, id) {
            if withdraw_round <= w.round && rng.chance(60) {
                w.withdraw_stake(d, id).await?;
            } else if rng.chance(15) {
                w.rebond(d, id).await?;
            }
        }
    }
    if w.model.delegate_of(a).is_none() {
        if rng.chance(35) {
            let to = orch(rng.below(ORCHS as u64) as usize);
            w.bond(d, to, rng.amount(500, 7000)).await?;
        }
        return Ok(());
    }
    match rng.below(100) {
        0..10 => {
            let to = w.model.delegate_of(a).unwrap_or_default();
            let to = w.addrs.iter().position(|x| *x == to).unwrap_or(orch(0));
            w.bond(d, to, rng.amount(10, 1500)).await
        }
        10..16 => {
            // Move the bond (and maybe add to it).
            let to = orch(rng.below(ORCHS as u64) as usize);
            let extra = if rng.chance(50) {
                U256::ZERO
            } else {
                rng.amount(1, 100)
            };
            w.bond(d, to, extra).await
        }
        16..30 => {
            let stake = w.model.pending_stake(a).base_units();
            let part = stake * U256::from(10 + rng.below(50)) / U256::from(100u64);
            w.unbond(d, part).await
        }
        30..34 => {
            // Everything, or (rarely) more than everything: refused by both.
            let stake = w.model.pending_stake(a).base_units();
            let extra = U256::from(rng.below(2));
            w.unbond(d, stake + extra).await
        }
        34..50 => w.claim(d).await,
        50..64 => w.withdraw_fees(d).await,
        _ => Ok(()),
    }
}
