//! Deploys the whole protocol that exists so far and wires it through the Controller.

use crate::{
    ContractId,
    bindings::{Controller, LivepeerToken},
    revert,
};
use alloy::{
    primitives::{Address, FixedBytes},
    providers::Provider,
};
use reel_types::Lpt;
use serde::{Deserialize, Serialize};
use tracing::{debug, info};

/// What to deploy with.
#[derive(Debug, Clone, Default)]
pub struct DeployParams {
    /// LPT minted at genesis, e.g. to the devnet's funded accounts.
    pub lpt_allocations: Vec<(Address, Lpt)>,
}

/// Addresses of a deployed protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// The registry every other address can be resolved from.
    pub controller: Address,
    pub livepeer_token: Address,
}

/// A deployment step that failed, with the contract's revert reason when it has one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeployError {
    #[error("deploy step `{step}` failed: {}", revert::describe(.source))]
    Step {
        step: String,
        #[source]
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
/// owner, registers every contract under its Livepeer name, mints the genesis allocations and
/// unpauses the Controller. The deployer keeps no minting right afterwards.
pub async fn deploy<P: Provider>(
    provider: &P,
    params: &DeployParams,
) -> Result<Deployment, DeployError> {
    info!(target: "chain::deploy", "deploying protocol");
    let controller = Controller::deploy(provider)
        .await
        .map_err(DeployError::step("deploy Controller"))?;
    let token = LivepeerToken::deploy(provider)
        .await
        .map_err(DeployError::step("deploy LivepeerToken"))?;

    let no_commit = FixedBytes::<20>::ZERO;
    let id = ContractId::livepeer_token();
    send!(
        format!("register {id}"),
        controller.setContractInfo(id.id(), *token.address(), no_commit)
    );

    if !params.lpt_allocations.is_empty() {
        let minter_role = token
            .MINTER_ROLE()
            .call()
            .await
            .map_err(DeployError::step("read MINTER_ROLE"))?;
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
        controller: *controller.address(),
        livepeer_token: *token.address(),
    };
    info!(target: "chain::deploy", controller = %deployment.controller, "protocol deployed");
    Ok(deployment)
}
