use alloy::{providers::Provider, signers::local::PrivateKeySigner};
use reel_chain::{
    ChainConfig, Devnet, DevnetOptions, Protocol,
    keeper::{self, KeeperAction, KeeperConfig},
};
use reel_types::{Lpt, Ppm, Wei};
use std::time::Duration;

async fn mine_to_next_round(p: &Protocol) -> anyhow::Result<()> {
    let s = p.round_status().await?;
    let blocks = s.start_block + s.length - s.block;
    p.provider()
        .raw_request::<_, ()>("anvil_mine".into(), (blocks,))
        .await?;
    Ok(())
}

#[tokio::test]
async fn keeper_initializes_rounds_and_rewards_once_per_round() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let devnet = Devnet::start(DevnetOptions {
        data_dir: dir.path().to_path_buf(),
        port: None,
        chain_id: 31337,
        accounts: 2,
        block_time: 0,
        reset: false,
        eth_per_account: Wei::from_whole(10),
        lpt_per_account: Lpt::from_whole(1000),
        protocol: DevnetOptions::devnet_protocol(),
    })
    .await?;
    let f = devnet.file().clone();
    let config = ChainConfig {
        rpc_url: f.rpc_url.clone(),
        chain_id: f.chain_id,
        controller: f.contracts.controller,
    };
    let orch = Protocol::connect(
        &config,
        Some(PrivateKeySigner::from_bytes(&f.accounts[1].private_key)?),
    )
    .await?;
    let other = Protocol::connect(
        &config,
        Some(PrivateKeySigner::from_bytes(&f.accounts[0].private_key)?),
    )
    .await?;

    // Register in round r; the orchestrator is active from r+1.
    orch.bond(Lpt::from_whole(100), orch.from()?).await?;
    orch.set_transcoder("5".parse::<Ppm>()?, "50".parse::<Ppm>()?)
        .await?;

    let cfg = KeeperConfig {
        initialize_rounds: true,
        reward: true,
        poll: Duration::from_millis(50),
    };
    mine_to_next_round(&orch).await?;
    let round = orch.round_status().await?.round;
    let actions = keeper::tick(&orch, &cfg).await?;
    assert!(
        matches!(actions.as_slice(), [KeeperAction::InitializedRound { round: r1, .. }, KeeperAction::Rewarded { round: r2, minted, .. }] if *r1 == round && *r2 == round && !minted.is_zero()),
        "{actions:?}"
    );
    assert_eq!(
        orch.transcoder(orch.from()?).await?.last_reward_round,
        round
    );

    // Idempotent: nothing more is due this round.
    assert!(keeper::tick(&orch, &cfg).await?.is_empty());

    // Two keepers racing for the same new round: one initialises, neither fails.
    mine_to_next_round(&orch).await?;
    let init_only = KeeperConfig {
        reward: false,
        ..cfg
    };
    let (a, b) = tokio::join!(
        keeper::tick(&orch, &init_only),
        keeper::tick(&other, &init_only)
    );
    let (a, b) = (a?, b?);
    let inits = a
        .iter()
        .chain(b.iter())
        .filter(|x| matches!(x, KeeperAction::InitializedRound { .. }))
        .count();
    assert_eq!(inits, 1, "exactly one initialisation: {a:?} {b:?}");
    assert!(orch.round_status().await?.initialized);

    // A keeper without reward duty never calls reward.
    assert!(
        keeper::tick(
            &other,
            &KeeperConfig {
                reward: false,
                ..cfg
            }
        )
        .await?
        .is_empty()
    );
    // An account that is not an orchestrator has nothing to reward.
    assert!(keeper::tick(&other, &cfg).await?.is_empty());
    devnet.shutdown().await?;
    Ok(())
}
