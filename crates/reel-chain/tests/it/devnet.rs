use alloy::{primitives::U256, providers::Provider};
use reel_chain::{
    ChainConfig, Devnet, DevnetError, DevnetFile, DevnetOptions, connect,
    devnet::{DEVNET_FILE, STATE_FILE},
};
use reel_contracts::bindings::{Controller, LivepeerToken};
use reel_types::{Lpt, Wei};
use std::path::Path;

fn options(dir: &Path) -> DevnetOptions {
    DevnetOptions {
        data_dir: dir.to_path_buf(),
        host: std::net::Ipv4Addr::LOCALHOST.into(),
        port: None,
        chain_id: 31337,
        accounts: 3,
        block_time: 0,
        reset: false,
        eth_per_account: Wei::from_whole(100),
        lpt_per_account: Lpt::parse_decimal("2500.5").expect("literal"),
        protocol: DevnetOptions::devnet_protocol(),
    }
}

#[tokio::test]
async fn fresh_devnet_deploys_funds_and_describes_itself() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let devnet = Devnet::start(options(dir.path())).await?;
    assert!(!devnet.resumed());
    let file = DevnetFile::load(&dir.path().join(DEVNET_FILE))?;
    assert_eq!(&file, devnet.file(), "devnet.json matches what is running");
    assert_eq!(file.accounts.len(), 3);

    let provider = connect(&file.rpc_url)?;
    let token = LivepeerToken::new(file.contracts.livepeer_token, &provider);
    assert_eq!(token.name().call().await?, "Livepeer Token");
    for account in &file.accounts {
        assert_eq!(
            token.balanceOf(account.address).call().await?,
            U256::from(2_500_500_000_000_000_000_000u128),
            "LPT of {}",
            account.address
        );
        let eth = provider.get_balance(account.address).await?;
        let funded = U256::from(100u64) * U256::from(10u64).pow(U256::from(18u64));
        if account.address == file.accounts[0].address {
            // the deployer paid the deployment's gas, and nothing else
            assert!(
                eth < funded && eth > funded - U256::from(10u64).pow(U256::from(17u64)),
                "{eth}"
            );
        } else {
            assert_eq!(eth, funded, "ETH of {}", account.address);
        }
        // the key in the file is the key of the address
        let signer = alloy::signers::local::PrivateKeySigner::from_bytes(&account.private_key)?;
        assert_eq!(signer.address(), account.address);
    }
    assert_eq!(
        token.totalSupply().call().await?,
        U256::from(3u64) * U256::from(2_500_500_000_000_000_000_000u128),
        "nothing minted beyond the allocations"
    );

    // The Controller is the single source of truth for addresses.
    let resolved = ChainConfig {
        rpc_url: file.rpc_url.clone(),
        chain_id: 31337,
        controller: file.contracts.controller,
    }
    .resolve()
    .await?;
    assert_eq!(resolved, file.contracts);
    let controller = Controller::new(file.contracts.controller, &provider);
    assert!(!controller.paused().call().await?, "unpaused after deploy");
    assert_eq!(
        controller.owner().call().await?,
        file.contracts.treasury,
        "governance owns the protocol"
    );
    let minter_role = token.MINTER_ROLE().call().await?;
    assert!(
        !token
            .hasRole(minter_role, file.accounts[0].address)
            .call()
            .await?,
        "genesis minter renounced"
    );
    devnet.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn restart_resumes_the_same_chain_and_reset_starts_fresh() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let first = Devnet::start(options(dir.path())).await?;
    let original = first.file().clone();
    // Move some LPT so there is state beyond the deploy to carry over.
    let provider = reel_chain::connect_with_signer(
        &original.rpc_url,
        alloy::signers::local::PrivateKeySigner::from_bytes(&original.accounts[1].private_key)?,
    )?;
    LivepeerToken::new(original.contracts.livepeer_token, &provider)
        .transfer(original.accounts[2].address, U256::from(123u64))
        .send()
        .await?
        .get_receipt()
        .await?;
    let height = provider.get_block_number().await?;
    first.shutdown().await?;

    let second = Devnet::start(DevnetOptions {
        accounts: 5,
        ..options(dir.path())
    })
    .await?;
    assert!(second.resumed());
    assert_eq!(
        second.file().contracts,
        original.contracts,
        "same contracts"
    );
    assert_eq!(
        second.file().accounts,
        original.accounts,
        "same accounts, --accounts ignored on resume"
    );
    let provider = connect(second.rpc_url())?;
    assert!(provider.get_block_number().await? >= height);
    let token = LivepeerToken::new(original.contracts.livepeer_token, &provider);
    assert_eq!(
        token.balanceOf(original.accounts[2].address).call().await?,
        U256::from(2_500_500_000_000_000_000_000u128 + 123),
        "the transfer survived the restart"
    );
    second.shutdown().await?;

    let third = Devnet::start(DevnetOptions {
        reset: true,
        accounts: 2,
        ..options(dir.path())
    })
    .await?;
    assert!(!third.resumed());
    assert_eq!(third.file().accounts.len(), 2);
    let provider = connect(third.rpc_url())?;
    let token = LivepeerToken::new(third.file().contracts.livepeer_token, &provider);
    assert_eq!(
        token
            .balanceOf(original.accounts[2].address)
            .call()
            .await
            .unwrap_or_default(),
        U256::ZERO,
        "fresh chain has none of the old balances"
    );
    third.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn broken_data_dirs_fail_with_the_fix() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join(DEVNET_FILE), "{not json")?;
    let err = Devnet::start(options(dir.path()))
        .await
        .expect_err("corrupt file");
    assert!(matches!(err, DevnetError::CorruptFile { .. }), "{err:?}");
    assert!(err.to_string().contains("--reset"), "{err}");

    // A devnet.json without its chain state.
    let dir = tempfile::tempdir()?;
    let devnet = Devnet::start(options(dir.path())).await?;
    devnet.shutdown().await?;
    std::fs::remove_file(dir.path().join(STATE_FILE))?;
    let err = Devnet::start(options(dir.path()))
        .await
        .expect_err("state missing");
    assert!(matches!(err, DevnetError::MissingState { .. }), "{err:?}");

    // A chain state that does not hold the contracts devnet.json names.
    std::fs::write(dir.path().join(STATE_FILE), "")?;
    let other = tempfile::tempdir()?;
    let fresh = Devnet::start(options(other.path())).await?;
    fresh.shutdown().await?;
    std::fs::copy(other.path().join(STATE_FILE), dir.path().join(STATE_FILE))?;
    let mut file = DevnetFile::load(&dir.path().join(DEVNET_FILE))?;
    file.contracts.controller = alloy::primitives::Address::repeat_byte(0x42);
    file.save(&dir.path().join(DEVNET_FILE))?;
    let err = Devnet::start(options(dir.path()))
        .await
        .expect_err("foreign state");
    assert!(matches!(err, DevnetError::StateMismatch { .. }), "{err:?}");

    let err = Devnet::start(DevnetOptions {
        accounts: 0,
        ..options(other.path())
    })
    .await
    .expect_err("no accounts");
    assert!(matches!(err, DevnetError::NoAccounts), "{err:?}");
    Ok(())
}
