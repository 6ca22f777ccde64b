//! A client of the protocol's staking contracts for one account: what the CLI, the keepers
//! and the nodes call. Everything goes through the Livepeer-compatible interfaces in
//! [`reel_contracts::livepeer`], so the same code works against Livepeer's deployment.

use crate::{ChainConfig, ChainError, SenderConfig, TxOutcome, TxSender, connect};
use alloy::{
    contract::{CallBuilder, CallDecoder},
    primitives::{Address, U256},
    providers::{DynProvider, Provider},
    signers::local::PrivateKeySigner,
};
use reel_contracts::{
    Deployment,
    bindings::LivepeerToken,
    livepeer::{IBondingManager, IMinter, IRoundsManager, IServiceRegistry},
};
use reel_types::{Lpt, Ppm, Round, Wei};
use tracing::{debug, info};

/// Chain reads a list of many accounts makes at once.
pub const READ_CONCURRENCY: usize = 16;

/// `f` of every item, [`READ_CONCURRENCY`] at a time, in the items' order; the first error
/// wins.
pub async fn concurrently<I, T, F, Fut>(items: Vec<I>, f: F) -> Result<Vec<T>, ChainError>
where
    I: Send + 'static,
    T: Send + 'static,
    F: Fn(I) -> Fut,
    Fut: std::future::Future<Output = Result<T, ChainError>> + Send + 'static,
{
    let n = items.len();
    let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
    let mut set = tokio::task::JoinSet::new();
    let mut items = items.into_iter().enumerate();
    loop {
        while set.len() < READ_CONCURRENCY {
            let Some((i, item)) = items.next() else { break };
            let fut = f(item);
            set.spawn(async move { (i, fut.await) });
        }
        let Some(done) = set.join_next().await else {
            break;
        };
        let (i, r) = done.map_err(|e| ChainError::Io {
            what: "a chain read".into(),
            source: std::io::Error::other(e),
        })?;
        if let Some(slot) = out.get_mut(i) {
            *slot = Some(r?);
        }
    }
    Ok(out.into_iter().flatten().collect())
}

/// Where the chain is in its rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundStatus {
    pub block: u64,
    pub round: Round,
    pub start_block: u64,
    pub length: u64,
    pub initialized: bool,
    /// The last part of the round, in which orchestrators cannot change their parameters.
    pub locked: bool,
    pub last_initialized: Round,
}

/// `BondingManager.delegatorStatus`, in the contract's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelegatorStatus {
    /// Bonded, earning from the next round.
    Pending,
    Bonded,
    Unbonded,
}

/// An unbonding lock: stake on its way out, withdrawable from `withdraw_round`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnbondingLock {
    pub id: u64,
    pub amount: Lpt,
    pub withdraw_round: Round,
}

/// A delegator's (or an orchestrator's own) bond.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegator {
    pub address: Address,
    pub status: DelegatorStatus,
    pub bonded: Lpt,
    pub fees: Wei,
    pub delegate: Address,
    /// Stake delegated to this address (its self-bond included), if it is an orchestrator.
    pub delegated: Lpt,
    pub start_round: Round,
    pub last_claim_round: Round,
    /// Bonded stake including rewards not yet claimed.
    pub pending_stake: Lpt,
    /// Fees including those not yet claimed.
    pub pending_fees: Wei,
    pub locks: Vec<UnbondingLock>,
}

/// An orchestrator ("transcoder" in the contracts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcoder {
    pub address: Address,
    pub registered: bool,
    pub active: bool,
    pub total_stake: Lpt,
    pub reward_cut: Ppm,
    pub fee_share: Ppm,
    pub last_reward_round: Round,
    pub activation_round: Round,
    pub deactivation_round: Round,
    pub service_uri: String,
}

/// A member of the transcoder pool, in pool order (largest stake first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolMember {
    pub address: Address,
    pub stake: Lpt,
    pub active: bool,
}

/// The protocol on one chain, seen by one account (or read-only). Every transaction goes
/// through the account's [`TxSender`], which a process shares between everything that signs
/// for the account.
#[derive(Debug, Clone)]
pub struct Protocol {
    provider: DynProvider,
    contracts: Deployment,
    sender: Option<TxSender>,
    rpc_url: String,
}

fn u64_of(v: U256) -> u64 {
    // Rounds and block numbers fit in u64 on every real chain; saturate rather than panic
    // on a hostile RPC answer.
    u64::try_from(v).unwrap_or(u64::MAX)
}

fn ppm_of(v: U256) -> Ppm {
    u32::try_from(v)
        .ok()
        .and_then(Ppm::new)
        .unwrap_or(Ppm::ONE_HUNDRED_PERCENT)
}

impl Protocol {
    /// Connects, resolving every address from the Controller. Without a signer the client
    /// can only read; with one it gets a sender of its own (a one-shot CLI command). A node,
    /// where several tasks sign for one account, uses [`Protocol::with_sender`].
    pub async fn connect(
        config: &ChainConfig,
        signer: Option<PrivateKeySigner>,
    ) -> Result<Self, ChainError> {
        let sender = signer
            .map(|s| TxSender::new(&config.rpc_url, config.chain_id, s, SenderConfig::default()))
            .transpose()?;
        Self::with_sender(config, sender).await
    }

    /// Connects with a shared sender (or none: read-only).
    pub async fn with_sender(
        config: &ChainConfig,
        sender: Option<TxSender>,
    ) -> Result<Self, ChainError> {
        let contracts = config.resolve().await?;
        Ok(Self {
            provider: connect(&config.rpc_url)?,
            contracts,
            sender,
            rpc_url: config.rpc_url.clone(),
        })
    }

    /// The account's transaction sender.
    pub fn sender(&self) -> Result<&TxSender, ChainError> {
        self.sender.as_ref().ok_or(ChainError::NoSigner)
    }

    /// Sends a contract call through the account's sender and waits for its receipt.
    pub async fn send<P: Provider, D: CallDecoder>(
        &self,
        action: impl Into<String>,
        call: CallBuilder<P, D>,
    ) -> Result<TxOutcome, ChainError> {
        self.sender()?
            .send(action, call.into_transaction_request())
            .await
    }

    pub fn contracts(&self) -> &Deployment {
        &self.contracts
    }

    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    pub fn rpc_url(&self) -> &str {
        &self.rpc_url
    }

    /// The signing account.
    pub fn from(&self) -> Result<Address, ChainError> {
        self.sender().map(TxSender::address)
    }

    pub fn bonding_manager(&self) -> IBondingManager::IBondingManagerInstance<&DynProvider> {
        IBondingManager::new(self.contracts.bonding_manager, &self.provider)
    }

    pub fn rounds_manager(&self) -> IRoundsManager::IRoundsManagerInstance<&DynProvider> {
        IRoundsManager::new(self.contracts.rounds_manager, &self.provider)
    }

    pub fn minter(&self) -> IMinter::IMinterInstance<&DynProvider> {
        IMinter::new(self.contracts.minter, &self.provider)
    }

    pub fn service_registry(&self) -> IServiceRegistry::IServiceRegistryInstance<&DynProvider> {
        IServiceRegistry::new(self.contracts.service_registry, &self.provider)
    }

    pub fn token(&self) -> LivepeerToken::LivepeerTokenInstance<&DynProvider> {
        LivepeerToken::new(self.contracts.livepeer_token, &self.provider)
    }

    // ----- reads -----

    pub async fn round_status(&self) -> Result<RoundStatus, ChainError> {
        let rm = self.rounds_manager();
        let view = |name: &'static str| move |source| ChainError::call(name, source);
        let block = self
            .provider
            .get_block_number()
            .await
            .map_err(|e| ChainError::rpc("eth_blockNumber", &self.rpc_url, e))?;
        Ok(RoundStatus {
            block,
            round: Round(u64_of(
                rm.currentRound()
                    .call()
                    .await
                    .map_err(view("currentRound"))?,
            )),
            start_block: u64_of(
                rm.currentRoundStartBlock()
                    .call()
                    .await
                    .map_err(view("currentRoundStartBlock"))?,
            ),
            length: u64_of(rm.roundLength().call().await.map_err(view("roundLength"))?),
            initialized: rm
                .currentRoundInitialized()
                .call()
                .await
                .map_err(view("currentRoundInitialized"))?,
            locked: rm
                .currentRoundLocked()
                .call()
                .await
                .map_err(view("currentRoundLocked"))?,
            last_initialized: Round(u64_of(
                rm.lastInitializedRound()
                    .call()
                    .await
                    .map_err(view("lastInitializedRound"))?,
            )),
        })
    }

    pub async fn lpt_balance(&self, who: Address) -> Result<Lpt, ChainError> {
        let b = self
            .token()
            .balanceOf(who)
            .call()
            .await
            .map_err(|e| ChainError::call("balanceOf", e))?;
        Ok(Lpt::from_base_units(b))
    }

    pub async fn eth_balance(&self, who: Address) -> Result<Wei, ChainError> {
        let b = self
            .provider
            .get_balance(who)
            .await
            .map_err(|e| ChainError::rpc("eth_getBalance", &self.rpc_url, e))?;
        Ok(Wei::from_base_units(b))
    }

    pub async fn delegator(&self, who: Address) -> Result<Delegator, ChainError> {
        let bm = self.bonding_manager();
        let d = bm
            .getDelegator(who)
            .call()
            .await
            .map_err(|e| ChainError::call("getDelegator", e))?;
        let status = match bm
            .delegatorStatus(who)
            .call()
            .await
            .map_err(|e| ChainError::call("delegatorStatus", e))?
        {
            0 => DelegatorStatus::Pending,
            1 => DelegatorStatus::Bonded,
            _ => DelegatorStatus::Unbonded,
        };
        // pendingStake/pendingFees ignore their round argument and compute to the current round.
        let pending_stake = bm
            .pendingStake(who, U256::ZERO)
            .call()
            .await
            .map_err(|e| ChainError::call("pendingStake", e))?;
        let pending_fees = bm
            .pendingFees(who, U256::ZERO)
            .call()
            .await
            .map_err(|e| ChainError::call("pendingFees", e))?;
        let mut locks = Vec::new();
        let next_lock = u64_of(d.nextUnbondingLockId);
        for id in 0..next_lock {
            let lock = bm
                .getDelegatorUnbondingLock(who, U256::from(id))
                .call()
                .await
                .map_err(|e| ChainError::call("getDelegatorUnbondingLock", e))?;
            // Withdrawn or rebonded locks are deleted: their withdraw round reads 0.
            if !lock.withdrawRound.is_zero() {
                locks.push(UnbondingLock {
                    id,
                    amount: Lpt::from_base_units(lock.amount),
                    withdraw_round: Round(u64_of(lock.withdrawRound)),
                });
            }
        }
        Ok(Delegator {
            address: who,
            status,
            bonded: Lpt::from_base_units(d.bondedAmount),
            fees: Wei::from_base_units(d.fees),
            delegate: d.delegateAddress,
            delegated: Lpt::from_base_units(d.delegatedAmount),
            start_round: Round(u64_of(d.startRound)),
            last_claim_round: Round(u64_of(d.lastClaimRound)),
            pending_stake: Lpt::from_base_units(pending_stake),
            pending_fees: Wei::from_base_units(pending_fees),
            locks,
        })
    }

    pub async fn transcoder(&self, who: Address) -> Result<Transcoder, ChainError> {
        let bm = self.bonding_manager();
        let t = bm
            .getTranscoder(who)
            .call()
            .await
            .map_err(|e| ChainError::call("getTranscoder", e))?;
        Ok(Transcoder {
            address: who,
            registered: bm
                .isRegisteredTranscoder(who)
                .call()
                .await
                .map_err(|e| ChainError::call("isRegisteredTranscoder", e))?,
            active: bm
                .isActiveTranscoder(who)
                .call()
                .await
                .map_err(|e| ChainError::call("isActiveTranscoder", e))?,
            total_stake: Lpt::from_base_units(
                bm.transcoderTotalStake(who)
                    .call()
                    .await
                    .map_err(|e| ChainError::call("transcoderTotalStake", e))?,
            ),
            reward_cut: ppm_of(t.rewardCut),
            fee_share: ppm_of(t.feeShare),
            last_reward_round: Round(u64_of(t.lastRewardRound)),
            activation_round: Round(u64_of(t.activationRound)),
            deactivation_round: Round(u64_of(t.deactivationRound)),
            service_uri: self
                .service_registry()
                .getServiceURI(who)
                .call()
                .await
                .map_err(|e| ChainError::call("getServiceURI", e))?,
        })
    }

    /// The service URI `who` registered (empty if none).
    pub async fn service_uri(&self, who: Address) -> Result<String, ChainError> {
        self.service_registry()
            .getServiceURI(who)
            .call()
            .await
            .map_err(|e| ChainError::call("getServiceURI", e))
    }

    /// The transcoder pool in order, largest stake first. The list is walked one call at a
    /// time (each member names the next); the members' stakes are then read
    /// [`READ_CONCURRENCY`] at a time, so that a gateway far from its RPC node pays one
    /// round trip per member instead of three.
    pub async fn pool(&self) -> Result<Vec<PoolMember>, ChainError> {
        let bm = self.bonding_manager();
        let size = u64_of(
            bm.getTranscoderPoolSize()
                .call()
                .await
                .map_err(|e| ChainError::call("getTranscoderPoolSize", e))?,
        );
        let mut addresses = Vec::new();
        let mut next = bm
            .getFirstTranscoderInPool()
            .call()
            .await
            .map_err(|e| ChainError::call("getFirstTranscoderInPool", e))?;
        // Bounded by the pool size so a misbehaving node cannot keep us walking forever.
        while !next.is_zero() && (addresses.len() as u64) < size {
            addresses.push(next);
            next = bm
                .getNextTranscoderInPool(next)
                .call()
                .await
                .map_err(|e| ChainError::call("getNextTranscoderInPool", e))?;
        }
        let this = self.clone();
        concurrently(addresses, move |address| {
            let p = this.clone();
            async move {
                let bm = p.bonding_manager();
                let stake = bm
                    .transcoderTotalStake(address)
                    .call()
                    .await
                    .map_err(|e| ChainError::call("transcoderTotalStake", e))?;
                let active = bm
                    .isActiveTranscoder(address)
                    .call()
                    .await
                    .map_err(|e| ChainError::call("isActiveTranscoder", e))?;
                Ok(PoolMember {
                    address,
                    stake: Lpt::from_base_units(stake),
                    active,
                })
            }
        })
        .await
    }

    // ----- transactions -----

    /// Bonds `amount` of the sender's LPT to `to` (itself to become an orchestrator),
    /// approving the BondingManager first when its allowance is short.
    pub async fn bond(&self, amount: Lpt, to: Address) -> Result<TxOutcome, ChainError> {
        let me = self.from()?;
        let balance = self.lpt_balance(me).await?;
        if balance < amount {
            return Err(ChainError::InsufficientLpt {
                have: balance,
                need: amount,
            });
        }
        let token = self.token();
        let allowance = token
            .allowance(me, self.contracts.bonding_manager)
            .call()
            .await
            .map_err(|e| ChainError::call("allowance", e))?;
        if allowance < amount.base_units() {
            self.send(
                "approve LPT for bonding",
                token.approve(self.contracts.bonding_manager, amount.base_units()),
            )
            .await?;
        }
        self.send(
            format!("bond {amount} to {to}"),
            self.bonding_manager().bond(amount.base_units(), to),
        )
        .await
    }

    pub async fn unbond(&self, amount: Lpt) -> Result<TxOutcome, ChainError> {
        self.send(
            format!("unbond {amount}"),
            self.bonding_manager().unbond(amount.base_units()),
        )
        .await
    }

    pub async fn rebond(&self, lock_id: u64) -> Result<TxOutcome, ChainError> {
        self.send(
            format!("rebond lock {lock_id}"),
            self.bonding_manager().rebond(U256::from(lock_id)),
        )
        .await
    }

    pub async fn rebond_from_unbonded(
        &self,
        to: Address,
        lock_id: u64,
    ) -> Result<TxOutcome, ChainError> {
        self.send(
            format!("rebond lock {lock_id} to {to}"),
            self.bonding_manager()
                .rebondFromUnbonded(to, U256::from(lock_id)),
        )
        .await
    }

    pub async fn withdraw_stake(&self, lock_id: u64) -> Result<TxOutcome, ChainError> {
        self.send(
            format!("withdraw stake of lock {lock_id}"),
            self.bonding_manager().withdrawStake(U256::from(lock_id)),
        )
        .await
    }

    pub async fn withdraw_fees(
        &self,
        recipient: Address,
        amount: Wei,
    ) -> Result<TxOutcome, ChainError> {
        self.send(
            format!("withdraw {amount} of fees to {recipient}"),
            self.bonding_manager()
                .withdrawFees(recipient, amount.base_units()),
        )
        .await
    }

    pub async fn claim_earnings(&self) -> Result<TxOutcome, ChainError> {
        // The round argument is ignored by the contract: it always claims to the current round.
        self.send(
            "claim earnings",
            self.bonding_manager().claimEarnings(U256::ZERO),
        )
        .await
    }

    /// Sets (or first registers) the sender's orchestrator parameters.
    pub async fn set_transcoder(
        &self,
        reward_cut: Ppm,
        fee_share: Ppm,
    ) -> Result<TxOutcome, ChainError> {
        self.send(
            format!("set reward cut {reward_cut} and fee share {fee_share}"),
            self.bonding_manager().transcoder(
                U256::from(reward_cut.millionths()),
                U256::from(fee_share.millionths()),
            ),
        )
        .await
    }

    pub async fn set_service_uri(&self, uri: &str) -> Result<TxOutcome, ChainError> {
        self.send(
            format!("set service URI {uri}"),
            self.service_registry().setServiceURI(uri.to_owned()),
        )
        .await
    }

    /// Calls `reward()` and returns the LPT minted to the orchestrator and its delegators.
    pub async fn reward(&self) -> Result<(TxOutcome, Lpt), ChainError> {
        let out = self.send("reward", self.bonding_manager().reward()).await?;
        let minted = out
            .event::<IBondingManager::Reward>()
            .map(|r| Lpt::from_base_units(r.amount))
            .unwrap_or_default();
        Ok((out, minted))
    }

    pub async fn initialize_round(&self) -> Result<TxOutcome, ChainError> {
        self.send("initialize round", self.rounds_manager().initializeRound())
            .await
    }

    /// Initialises the current round if nobody has yet: every staking action needs it.
    /// Returns the transaction when this call did it.
    pub async fn ensure_round_initialized(&self) -> Result<Option<TxOutcome>, ChainError> {
        let status = self.round_status().await?;
        if status.initialized {
            return Ok(None);
        }
        info!(target: "chain::rounds", round = status.round.0, "current round is not initialized: initializing it first");
        match self.initialize_round().await {
            Ok(tx) => Ok(Some(tx)),
            // Someone else may have initialised it between our read and our transaction.
            Err(e) if self.round_status().await?.initialized => {
                debug!(target: "chain::rounds", error = %e, "round initialized concurrently");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// Sends a contract call with the provider's own wallet, waits for its receipt and fails on a
/// revert, with the contract's reason when the node reports one. Only for one-shot tools
/// that own the account alone (the devnet's deployment, tests): everything a node or the
/// CLI signs goes through the account's [`TxSender`] ([`Protocol::send`]).
pub async fn send<P: Provider, D: CallDecoder>(
    action: impl Into<String>,
    call: CallBuilder<P, D>,
) -> Result<TxOutcome, ChainError> {
    let action = action.into();
    let pending = call.send().await.map_err(|e| ChainError::tx(&action, e))?;
    let receipt = pending
        .get_receipt()
        .await
        .map_err(|e| ChainError::tx(&action, e.into()))?;
    let tx = receipt.transaction_hash;
    if !receipt.status() {
        return Err(ChainError::Reverted { action, tx });
    }
    let block = receipt.block_number.unwrap_or_default();
    debug!(target: "chain::tx", %action, %tx, block, gas = receipt.gas_used, "mined");
    Ok(TxOutcome {
        action,
        tx,
        block,
        gas_used: receipt.gas_used,
        logs: receipt.logs().to_vec(),
    })
}
