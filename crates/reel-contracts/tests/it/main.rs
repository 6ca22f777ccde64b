//! The bindings and the deploy against a real anvil.

mod compat;

use alloy::{
    primitives::{Address, U256},
    providers::Provider,
    signers::local::PrivateKeySigner,
};
use reel_chain::{Anvil, AnvilConfig, connect_with_signer};
use reel_contracts::{
    ContractId, DeployError, DeployParams,
    bindings::{Controller, LivepeerToken},
    deploy, revert,
};
use reel_types::Lpt;

/// anvil's first well-known dev key: funded at genesis on every anvil.
const ANVIL_KEY_0: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

async fn chain() -> anyhow::Result<(Anvil, alloy::providers::DynProvider, Address)> {
    let anvil = Anvil::spawn(AnvilConfig::default()).await?;
    let signer: PrivateKeySigner = ANVIL_KEY_0.parse()?;
    let me = signer.address();
    let provider = connect_with_signer(&anvil.endpoint(), signer)?;
    Ok((anvil, provider, me))
}

#[tokio::test]
async fn deploy_registers_mints_and_unpauses() -> anyhow::Result<()> {
    let (_anvil, provider, me) = chain().await?;
    let alice = Address::repeat_byte(0xa1);
    let params = DeployParams {
        protocol: Default::default(),
        lpt_allocations: vec![
            (alice, Lpt::from_whole(7)),
            (me, Lpt::parse_decimal("0.000000000000000001")?),
        ],
    };
    let d = deploy(&provider, &params).await?;

    let controller = Controller::new(d.controller, &provider);
    assert_eq!(
        controller
            .getContract(ContractId::livepeer_token().id())
            .call()
            .await?,
        d.livepeer_token
    );
    assert!(!controller.paused().call().await?);
    // Governance owns the protocol: the Treasury timelock, driven by the governor.
    assert_eq!(controller.owner().call().await?, d.treasury);
    assert_eq!(
        controller
            .getContract(ContractId::new("Treasury").id())
            .call()
            .await?,
        d.treasury
    );
    for name in [
        "BondingManager",
        "RoundsManager",
        "Minter",
        "ServiceRegistry",
        "TicketBroker",
        "BondingVotes",
        "LivepeerGovernor",
    ] {
        assert_ne!(
            controller
                .getContract(ContractId::new(name).id())
                .call()
                .await?,
            Address::ZERO,
            "{name} registered"
        );
    }
    assert_eq!(
        controller
            .getContract(ContractId::new("JobsManager").id())
            .call()
            .await?,
        d.ticket_broker
    );

    let token = LivepeerToken::new(d.livepeer_token, &provider);
    assert_eq!(token.symbol().call().await?, "LPT");
    assert_eq!(token.decimals().call().await?, 18);
    assert_eq!(
        token.balanceOf(alice).call().await?,
        U256::from(7_000_000_000_000_000_000u128)
    );
    assert_eq!(token.balanceOf(me).call().await?, U256::from(1u64));
    assert_eq!(
        token.totalSupply().call().await?,
        U256::from(7_000_000_000_000_000_001u128)
    );
    let minter = token.MINTER_ROLE().call().await?;
    assert!(
        !token.hasRole(minter, me).call().await?,
        "deployer cannot mint after genesis"
    );
    Ok(())
}

#[tokio::test]
async fn deploy_without_allocations_mints_nothing() -> anyhow::Result<()> {
    let (_anvil, provider, _) = chain().await?;
    let d = deploy(&provider, &DeployParams::default()).await?;
    let token = LivepeerToken::new(d.livepeer_token, &provider);
    assert_eq!(token.totalSupply().call().await?, U256::ZERO);
    Ok(())
}

#[tokio::test]
async fn reverts_are_explained_in_the_contracts_words() -> anyhow::Result<()> {
    let (_anvil, provider, me) = chain().await?;
    let d = deploy(&provider, &DeployParams::default()).await?;

    // A custom error (OpenZeppelin AccessControl): the deployer renounced minting.
    let token = LivepeerToken::new(d.livepeer_token, &provider);
    let err = token
        .mint(me, U256::from(1u64))
        .send()
        .await
        .expect_err("not a minter");
    let reason = revert::reason(&err).expect("a revert");
    assert!(
        reason.contains("AccessControlUnauthorizedAccount"),
        "{reason}"
    );
    assert!(
        revert::describe(&err).starts_with("reverted: "),
        "{}",
        revert::describe(&err)
    );

    // A revert string: the deployer handed the Controller to governance.
    let controller = Controller::new(d.controller, &provider);
    let err = controller
        .pause()
        .send()
        .await
        .expect_err("not the owner any more");
    assert_eq!(
        revert::reason(&err).as_deref(),
        Some("caller must be owner")
    );

    // Not a revert at all: no reason is invented.
    let stranger = Controller::new(
        d.controller,
        alloy::providers::ProviderBuilder::new().connect_http("http://127.0.0.1:1".parse()?),
    );
    let err = stranger
        .paused()
        .call()
        .await
        .expect_err("nothing listens on port 1");
    assert_eq!(revert::reason(&err), None);
    Ok(())
}

#[tokio::test]
async fn a_failing_step_is_named() -> anyhow::Result<()> {
    let anvil = Anvil::spawn(AnvilConfig::default()).await?;
    // A key with no ETH cannot pay for the first deployment.
    let poor = PrivateKeySigner::random();
    let provider = connect_with_signer(&anvil.endpoint(), poor)?;
    let err = deploy(&provider, &DeployParams::default())
        .await
        .expect_err("no gas money");
    assert!(
        matches!(&err, DeployError::Step { step, .. } if step == "deploy Controller"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("deploy step `deploy Controller` failed"),
        "{err}"
    );
    let _ = provider.get_chain_id().await?;
    Ok(())
}
