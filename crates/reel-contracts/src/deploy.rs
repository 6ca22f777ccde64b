//! Deploys the whole protocol that exists so far and wires it through the Controller.
//!
//! Order (the Controller stays paused until everything is registered and configured):
//! 1. Controller, LivepeerToken;
//! 2. Minter (granted the token's MINTER_ROLE and BURNER_ROLE);
//! 3. BondingManager, RoundsManager, ServiceRegistry: each target registered as
//!    `<Name>Target` and a `ManagerProxy` registered as `<Name>`;
//! 4. parameters, genesis LPT, unpause.

use crate::{
    ContractId,
    bindings::{
        BondingManager, Controller, LivepeerToken, ManagerProxy, Minter, RoundsManager,
        ServiceRegistry,
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

/// The protocol's tunable parameters. Defaults are Livepeer's mainnet values (spec §7),
/// except the round length, which suits a local chain.
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
}

/// A deployment step that failed, with the contract's revert reason when it has one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeployError {
    // The message carries the revert reason or the whole error; not a `#[source]` so error
    // chains do not print the raw JSON-RPC payload a second time.
    #[error("deploy step `{step}` failed: {}", revert::describe(.source))]
    Step {
        step: String,
        source: Box<alloy::contract::Error>,
    },
    #[error("deploy step `{step}`: transaction {tx} reverted")]
    Reverted { step: String, tx: FixedBytes<32> },
}

impl DeployError {
    fn step(step: impl Into<String>) -> impl FnOnce(alloy::contract::Error) -> Self {
        let step = step.into();
        move |source| Self::Step {
            step,
            source: Box::new(source),
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

    let bm = BondingManager::new(bonding_manager, provider);
    let rm = RoundsManager::new(rounds_manager, provider);
    send!(
        "set unbonding period",
        bm.setUnbondingPeriod(p.unbonding_period)
    );
    send!(
        "set number of active transcoders",
        bm.setNumActiveTranscoders(U256::from(p.num_active_transcoders))
    );
    send!(
        "set round length",
        rm.setRoundLength(U256::from(p.round_length))
    );
    send!(
        "set round lock amount",
        rm.setRoundLockAmount(U256::from(p.round_lock_amount.millionths()))
    );

    if !params.lpt_allocations.is_empty() {
        // The deployer owns the Controller: that is the account our transactions come from.
        let me = controller
            .owner()
            .call()
            .await
            .map_err(DeployError::step("read Controller owner"))?;
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
    let deployment = Deployment {
        controller: c,
        livepeer_token: *token.address(),
        minter: *minter.address(),
        bonding_manager,
        rounds_manager,
        service_registry,
    };
    info!(target: "chain::deploy", controller = %deployment.controller, "protocol deployed");
    Ok(deployment)
}
