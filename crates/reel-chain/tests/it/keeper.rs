use alloy::signers::local::PrivateKeySigner;
use reel_chain::{
    ChainConfig, Devnet, DevnetOptions, Protocol,
    keeper::{self, KeeperAction, KeeperConfig},
};
use reel_types::{Lpt, Ppm};
use std::time::Duration;

#[tokio::test]
async fn keeper_initializes_rounds_and_rewards_once_per_round() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let devnet = Devnet::start(DevnetOptions::ephemeral(dir.path(), 2)).await?;
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
    devnet.mine_to_next_round().await?;
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
    devnet.mine_to_next_round().await?;
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
