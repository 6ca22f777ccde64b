//! Deploys the whole protocol that exists so far and wires it through the Controller.
//!
//! Order (the Controller stays paused until everything is registered and configured):
//! 1. Controller, LivepeerToken;
//! 2. Minter (granted the token's MINTER_ROLE and BURNER_ROLE);
//! 3. BondingManager, RoundsManager, ServiceRegistry, TicketBroker (also registered as the
//!    legacy "JobsManager", the name the Minter authorises ETH moves by), BondingVotes: each
//!    target registered as `<Name>Target` and a `ManagerProxy` registered as `<Name>`;
//! 4. parameters (the round length first: the governor reads the round when built);
//! 5. the Treasury timelock and the LivepeerGovernor, the governor holding the timelock's
//!    proposer, canceller and executor roles;
//! 6. genesis LPT, unpause;
//! 7. hand-over: the token's admin role and the Controller's ownership go to the Treasury,
//!    so from then on only a passed proposal changes a parameter or upgrades a contract.

use crate::{
    ContractId,
    bindings::{
        BondingManager, BondingVotes, Controller, LivepeerGovernor, LivepeerToken, ManagerProxy,
        Minter, RoundsManager, ServiceRegistry, TicketBroker, Treasury,
    },
    revert,
};
use alloy::{
    primitives::{Address, FixedBytes, U256},
    providers::Provider,
};
use reel_types::{Lpt, Ppm};
use serde::{Deserialize, Serialize};
use tracing::{debug, info};

/// The protocol's tunable parameters. Defaults are Livepeer's mainnet values (see
/// docs/compatibility.md#protocol-parameters), except the round length, which suits a local chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProtocolParams {
    /// Blocks per round (mainnet: 6377 L1 blocks).
    pub round_length: u64,
    /// The locked tail of each round, in which orchestrators cannot change parameters.
    pub round_lock_amount: Ppm,
    /// Rounds between unbonding and withdrawing.
    pub unbonding_period: u64,
    pub num_active_transcoders: u64,
    /// Per-round inflation in billionths (1e9 = 100%).
    pub inflation: u64,
    pub inflation_change: u64,
    pub target_bonding_rate: u64,
    /// Share of each reward sent to the treasury, in 1e27 precision (1e26 = 10%).
    pub treasury_reward_cut_rate: u128,
    /// The treasury's LPT balance at which the cut switches itself off.
    pub treasury_balance_ceiling: Lpt,
    /// Rounds a sender waits between unlocking and withdrawing.
    pub unlock_period: u64,
    /// Rounds a ticket stays redeemable after its creation round.
    pub ticket_validity_period: u64,
    /// Rounds between a proposal and its vote snapshot.
    pub voting_delay: u64,
    /// Rounds of voting.
    pub voting_period: u64,
    /// Stake a proposer needs.
    pub proposal_threshold: Lpt,
    /// Share of the total active stake that must vote.
    pub quorum: Ppm,
    /// Share of For among For + Against needed to pass.
    pub quota: Ppm,
}

impl Default for ProtocolParams {
    fn default() -> Self {
        Self {
            round_length: 50,
            round_lock_amount: Ppm::new(100_000).unwrap_or_default(),
            unbonding_period: 7,
            num_active_transcoders: 100,
            inflation: 220_500,
            inflation_change: 500,
            target_bonding_rate: 500_000_000,
            treasury_reward_cut_rate: 100_000_000_000_000_000_000_000_000,
            treasury_balance_ceiling: Lpt::from_whole(750_000),
            unlock_period: 2,
            ticket_validity_period: 2,
            voting_delay: 1,
            voting_period: 10,
            proposal_threshold: Lpt::from_whole(100),
            quorum: Ppm::new(333_300).unwrap_or_default(),
            quota: Ppm::new(500_000).unwrap_or_default(),
        }
    }
}

/// What to deploy with.
#[derive(Debug, Clone, Default)]
pub struct DeployParams {
    pub protocol: ProtocolParams,
    /// LPT minted at genesis, e.g. to the devnet's funded accounts.
    pub lpt_allocations: Vec<(Address, Lpt)>,
}

/// Addresses of a deployed protocol (the proxies, for proxied contracts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// The registry every other address can be resolved from.
    pub controller: Address,
    pub livepeer_token: Address,
    pub minter: Address,
    pub bonding_manager: Address,
    pub rounds_manager: Address,
    pub service_registry: Address,
    pub ticket_broker: Address,
    pub bonding_votes: Address,
    /// The TimelockController that owns the Controller and holds the treasury's LPT.
    pub treasury: Address,
    pub governor: Address,
}

/// A deployment step that failed, with the contract's revert reason when it has one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeployError {
    // The message carries the revert reason or the whole error. Deliberately not a source
    // (thiserror takes a field named `source` as one), so error chains do not print the raw
    // JSON-RPC payload a second time.
    #[error("deploy step `{step}` failed: {}", revert::describe(.error))]
    Step {
        step: String,
        error: Box<alloy::contract::Error>,
    },
    #[error("deploy step `{step}`: transaction {tx} reverted")]
    Reverted { step: String, tx: FixedBytes<32> },
}

impl DeployError {
    fn step(step: impl Into<String>) -> impl FnOnce(alloy::contract::Error) -> Self {
        let step = step.into();
        move |source| Self::Step {
            step,
            error: Box::new(source),
        }
    }
}

/// Sends a contract call and waits for its receipt, failing on a revert.
macro_rules! send {
    ($step:expr, $call:expr) => {{
        let step: String = $step.into();
        let receipt = $call
            .send()
            .await
            .map_err(DeployError::step(step.clone()))?
            .get_receipt()
            .await
            .map_err(|e| DeployError::step(step.clone())(e.into()))?;
        if !receipt.status() {
            return Err(DeployError::Reverted { step, tx: receipt.transaction_hash });
        }
        debug!(target: "chain::deploy", step = %step, gas = receipt.gas_used, "done");
        receipt
    }};
}

/// Deploys the protocol from the provider's default signer, which becomes the Controller's
/// owner, registers every contract under its Livepeer name, sets the parameters, mints the
/// genesis allocations and unpauses the Controller. The deployer keeps no minting right.
pub async fn deploy<P: Provider>(
    provider: &P,
    params: &DeployParams,
) -> Result<Deployment, DeployError> {
    info!(target: "chain::deploy", "deploying protocol");
    let no_commit = FixedBytes::<20>::ZERO;
    let controller = Controller::deploy(provider)
        .await
        .map_err(DeployError::step("deploy Controller"))?;
    let c = *controller.address();
    let register = async |name: &'static str, addr: Address| -> Result<(), DeployError> {
        let id = ContractId::new(name);
        send!(
            format!("register {id}"),
            controller.setContractInfo(id.id(), addr, no_commit)
        );
        Ok(())
    };
    // A proxied contract: the target under `<Name>Target`, the proxy under `<Name>`.
    let proxied = async |name: &'static str, target: Address| -> Result<Address, DeployError> {
        let target_name: &'static str = match name {
            "BondingManager" => "BondingManagerTarget",
            "RoundsManager" => "RoundsManagerTarget",
            "TicketBroker" => "TicketBrokerTarget",
            "BondingVotes" => "BondingVotesTarget",
            _ => "ServiceRegistryTarget",
        };
        register(target_name, target).await?;
        let proxy = ManagerProxy::deploy(provider, c, ContractId::new(target_name).id())
            .await
            .map_err(DeployError::step(format!("deploy {name} proxy")))?;
        register(name, *proxy.address()).await?;
        Ok(*proxy.address())
    };

    let token = LivepeerToken::deploy(provider)
        .await
        .map_err(DeployError::step("deploy LivepeerToken"))?;
    register("LivepeerToken", *token.address()).await?;

    let p = &params.protocol;
    let minter = Minter::deploy(
        provider,
        c,
        U256::from(p.inflation),
        U256::from(p.inflation_change),
        U256::from(p.target_bonding_rate),
    )
    .await
    .map_err(DeployError::step("deploy Minter"))?;
    register("Minter", *minter.address()).await?;
    let minter_role = token
        .MINTER_ROLE()
        .call()
        .await
        .map_err(DeployError::step("read MINTER_ROLE"))?;
    let burner_role = token
        .BURNER_ROLE()
        .call()
        .await
        .map_err(DeployError::step("read BURNER_ROLE"))?;
    send!(
        "grant Minter the minter role",
        token.grantRole(minter_role, *minter.address())
    );
    send!(
        "grant Minter the burner role",
        token.grantRole(burner_role, *minter.address())
    );

    let bm_target = BondingManager::deploy(provider, c)
        .await
        .map_err(DeployError::step("deploy BondingManager"))?;
    let bonding_manager = proxied("BondingManager", *bm_target.address()).await?;
    let rm_target = RoundsManager::deploy(provider, c)
        .await
        .map_err(DeployError::step("deploy RoundsManager"))?;
    let rounds_manager = proxied("RoundsManager", *rm_target.address()).await?;
    let sr_target = ServiceRegistry::deploy(provider, c)
        .await
        .map_err(DeployError::step("deploy ServiceRegistry"))?;
    let service_registry = proxied("ServiceRegistry", *sr_target.address()).await?;
    let tb_target = TicketBroker::deploy(provider, c)
        .await
        .map_err(DeployError::step("deploy TicketBroker"))?;
    let ticket_broker = proxied("TicketBroker", *tb_target.address()).await?;
    register("JobsManager", ticket_broker).await?;
    let bv_target = BondingVotes::deploy(provider, c)
        .await
        .map_err(DeployError::step("deploy BondingVotes"))?;
    let bonding_votes = proxied("BondingVotes", *bv_target.address()).await?;

    let bm = BondingManager::new(bonding_manager, provider);
    let rm = RoundsManager::new(rounds_manager, provider);
    let tb = TicketBroker::new(ticket_broker, provider);
    send!(
        "set round length",
        rm.setRoundLength(U256::from(p.round_length))
    );
    send!(
        "set unbonding period",
        bm.setUnbondingPeriod(p.unbonding_period)
    );
    send!(
        "set number of active transcoders",
        bm.setNumActiveTranscoders(U256::from(p.num_active_transcoders))
    );
    send!(
        "set round lock amount",
        rm.setRoundLockAmount(U256::from(p.round_lock_amount.millionths()))
    );
    send!(
        "set treasury reward cut rate",
        bm.setTreasuryRewardCutRate(U256::from(p.treasury_reward_cut_rate))
    );
    send!(
        "set treasury balance ceiling",
        bm.setTreasuryBalanceCeiling(p.treasury_balance_ceiling.base_units())
    );
    send!(
        "set unlock period",
        tb.setUnlockPeriod(U256::from(p.unlock_period))
    );
    send!(
        "set ticket validity period",
        tb.setTicketValidityPeriod(U256::from(p.ticket_validity_period))
    );

    // The deployer owns the Controller: that is the account our transactions come from.
    let me = controller
        .owner()
        .call()
        .await
        .map_err(DeployError::step("read Controller owner"))?;
    let treasury = Treasury::deploy(provider, U256::ZERO, Vec::new(), Vec::new(), me)
        .await
        .map_err(DeployError::step("deploy Treasury"))?;
    register("Treasury", *treasury.address()).await?;
    let voting_delay = alloy::primitives::aliases::U48::from(p.voting_delay);
    let voting_period = u32::try_from(p.voting_period).unwrap_or(u32::MAX);
    let governor = LivepeerGovernor::deploy(
        provider,
        bonding_votes,
        *treasury.address(),
        voting_delay,
        voting_period,
        p.proposal_threshold.base_units(),
        U256::from(p.quorum.millionths()),
        U256::from(p.quota.millionths()),
    )
    .await
    .map_err(DeployError::step("deploy LivepeerGovernor"))?;
    register("LivepeerGovernor", *governor.address()).await?;
    let g = *governor.address();
    // OpenZeppelin's TimelockController role ids are keccak256 of their names.
    for (what, role) in [
        ("proposer", "PROPOSER_ROLE"),
        ("canceller", "CANCELLER_ROLE"),
        ("executor", "EXECUTOR_ROLE"),
    ] {
        let role = alloy::primitives::keccak256(role);
        send!(
            format!("make the governor the treasury's {what}"),
            treasury.grantRole(role, g)
        );
    }
    let timelock_admin = treasury
        .DEFAULT_ADMIN_ROLE()
        .call()
        .await
        .map_err(DeployError::step("read timelock admin role"))?;
    send!(
        "renounce timelock admin",
        treasury.renounceRole(timelock_admin, me)
    );

    if !params.lpt_allocations.is_empty() {
        send!("grant genesis minter", token.grantRole(minter_role, me));
        for (to, amount) in &params.lpt_allocations {
            send!(
                format!("mint {amount} to {to}"),
                token.mint(*to, amount.base_units())
            );
        }
        // Genesis minting is over: from here on only the protocol's Minter may mint.
        send!(
            "renounce genesis minter",
            token.renounceRole(minter_role, me)
        );
    }

    send!("unpause Controller", controller.unpause());

    // Hand-over: from here on the protocol is governed by stake-weighted vote.
    let token_admin = token
        .DEFAULT_ADMIN_ROLE()
        .call()
        .await
        .map_err(DeployError::step("read token admin role"))?;
    send!(
        "make the treasury the token's admin",
        token.grantRole(token_admin, *treasury.address())
    );
    send!("renounce token admin", token.renounceRole(token_admin, me));
    send!(
        "hand the Controller to the treasury",
        controller.transferOwnership(*treasury.address())
    );

    let deployment = Deployment {
        controller: c,
        livepeer_token: *token.address(),
        minter: *minter.address(),
        bonding_manager,
        rounds_manager,
        service_registry,
        ticket_broker,
        bonding_votes,
        treasury: *treasury.address(),
        governor: g,
    };
    info!(target: "chain::deploy", controller = %deployment.controller, "protocol deployed");
    Ok(deployment)
}
