//! A full governance cycle through `reel gov` on a devnet whose Controller is owned by the
//! Treasury timelock: propose → rounds pass → votes (with a delegator overriding its
//! orchestrator) → queue → execute → the parameter changed on chain. And a proposal that
//! misses quorum changes nothing.

use crate::chain_support::{devnet, next_round, reel_as, reel_ok};
use alloy::primitives::U256;
use reel_chain::{Protocol, governance::ProposalState};
use reel_contracts::livepeer::{IBondingManager, IMinter};
use reel_types::Lpt;
use std::path::Path;

fn reel(devnet: &Path, account: usize, args: &[&str]) -> (bool, String) {
    reel_as(devnet, account, args[0], &args[1..])
}

fn ok(devnet: &Path, account: usize, args: &[&str]) -> String {
    reel_ok(devnet, account, args[0], &args[1..])
}

fn proposal_id(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("proposal "))
        .expect("prints the id")
        .trim()
        .to_owned()
}

#[tokio::test]
async fn governance_cycle_changes_a_parameter_and_a_missed_quorum_changes_nothing()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let devnet = devnet(dir.path(), 4).await;
    let f = devnet.file().clone();
    let path = devnet.file_path();
    let p = Protocol::connect(&devnet.chain_config(), None).await?;
    let orch = f.accounts[1].address.to_string();

    // Two orchestrators and a delegator, registered early in a round (not in its locked
    // tail); the next round makes them active.
    next_round(&devnet).await;
    ok(
        &path,
        1,
        &[
            "stake",
            "transcoder",
            "--reward-cut",
            "10",
            "--fee-share",
            "50",
            "--bond",
            "1000",
        ],
    );
    ok(&path, 2, &["stake", "bond", "500", "--to", &orch]);
    ok(
        &path,
        3,
        &[
            "stake",
            "transcoder",
            "--reward-cut",
            "5",
            "--fee-share",
            "20",
            "--bond",
            "600",
        ],
    );
    next_round(&devnet).await;
    next_round(&devnet).await;

    let minter = IMinter::new(f.contracts.minter, p.provider());
    assert_eq!(minter.inflationChange().call().await?, U256::from(500u64));

    // Only governance can change it now: the deployer's old owner rights are gone.
    let (success, text) = reel(
        &path,
        0,
        &[
            "gov",
            "propose",
            "--description",
            "  ",
            "set-inflation-change",
            "600",
        ],
    );
    assert!(!success && text.contains("--description"), "{text}");

    let out = ok(
        &path,
        1,
        &[
            "gov",
            "propose",
            "--description",
            "Raise the inflation step to 600",
            "set-inflation-change",
            "600",
        ],
    );
    let id = proposal_id(&out);
    assert!(out.contains("state        Pending"), "{out}");

    // Past the voting delay: voting is open.
    next_round(&devnet).await;
    next_round(&devnet).await;
    let status = ok(&path, 0, &["gov", "status", &id]);
    assert!(status.contains("state        Active"), "{status}");

    // The orchestrator votes with its delegated stake; its delegator overrides with its own
    // 500; the other orchestrator votes For.
    let out = ok(
        &path,
        1,
        &[
            "gov",
            "vote",
            &id,
            "for",
            "--reason",
            "more rewards for stakers",
        ],
    );
    assert!(out.contains("counted 1500 LPT For"), "{out}");
    let out = ok(&path, 2, &["gov", "vote", &id, "against"]);
    assert!(out.contains("counted 500 LPT Against"), "{out}");
    ok(&path, 3, &["gov", "vote", &id, "for"]);
    let (success, text) = reel(&path, 3, &["gov", "vote", &id, "for"]);
    assert!(
        !success && text.contains("VoteAlreadyCast"),
        "double vote refused: {text}"
    );

    let prop = p.proposal(id.parse()?).await?;
    let lpt = |n: u128| Lpt::from_base_units(U256::from(n) * U256::from(10u128.pow(18)));
    assert_eq!(
        prop.for_votes,
        lpt(1600),
        "the override moved exactly the delegator's 500"
    );
    assert_eq!(prop.against_votes, lpt(500));
    assert_eq!(prop.abstain_votes, Lpt::ZERO);
    let status = ok(&path, 0, &["gov", "status", &id]);
    assert!(status.contains("(reached)"), "{status}");

    // Too early to queue.
    let (success, text) = reel(&path, 1, &["gov", "queue", &id]);
    assert!(!success, "{text}");

    while p.proposal(id.parse()?).await?.state == ProposalState::Active {
        next_round(&devnet).await;
    }
    assert_eq!(
        p.proposal(id.parse()?).await?.state,
        ProposalState::Succeeded
    );
    ok(&path, 2, &["gov", "queue", &id]);
    assert_eq!(p.proposal(id.parse()?).await?.state, ProposalState::Queued);
    ok(&path, 2, &["gov", "execute", &id]);
    assert_eq!(
        p.proposal(id.parse()?).await?.state,
        ProposalState::Executed
    );
    assert_eq!(
        minter.inflationChange().call().await?,
        U256::from(600u64),
        "the parameter changed on chain"
    );

    // A proposal only the delegator votes for misses quorum and changes nothing.
    let bm = IBondingManager::new(f.contracts.bonding_manager, p.provider());
    let before = bm.unbondingPeriod().call().await?;
    let out = ok(
        &path,
        1,
        &[
            "gov",
            "propose",
            "--description",
            "Unbond in 9 rounds",
            "set-unbonding-period",
            "9",
        ],
    );
    let id2 = proposal_id(&out);
    next_round(&devnet).await;
    next_round(&devnet).await;
    ok(&path, 2, &["gov", "vote", &id2, "for"]);
    while p.proposal(id2.parse()?).await?.state == ProposalState::Active {
        next_round(&devnet).await;
    }
    assert_eq!(
        p.proposal(id2.parse()?).await?.state,
        ProposalState::Defeated,
        "500 of 2100 misses the 33.33% quorum"
    );
    let (success, text) = reel(&path, 1, &["gov", "queue", &id2]);
    assert!(!success, "a defeated proposal cannot be queued: {text}");
    assert_eq!(
        bm.unbondingPeriod().call().await?,
        before,
        "nothing changed"
    );

    let list = ok(&path, 0, &["gov", "list"]);
    assert!(
        list.contains("Executed") && list.contains("Defeated"),
        "{list}"
    );
    devnet.shutdown().await?;
    Ok(())
}
