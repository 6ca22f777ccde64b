//! `reel stake` on a real devnet, checked against a reference model of the protocol's
//! reward formulas (see docs/compatibility.md#reward-and-fee-arithmetic) written here independently
//! of the contracts.

use crate::chain_support::{devnet, next_round, reel_as, reel_ok};
use alloy::primitives::U256;
use reel_chain::Protocol;
use reel_contracts::livepeer::IMinter;
use reel_types::Lpt;
use std::path::Path;

fn reel(devnet: &Path, account: usize, args: &[&str]) -> String {
    reel_ok(devnet, account, "stake", args)
}

fn reel_fails(devnet: &Path, account: usize, args: &[&str]) -> String {
    let (ok, text) = reel_as(devnet, account, "stake", args);
    assert!(!ok, "reel stake {args:?} should fail:\n{text}");
    text
}

const E27: u128 = 1_000_000_000_000_000_000_000_000_000;

fn u(x: u128) -> U256 {
    U256::from(x)
}

/// The reference model: one orchestrator, its delegators, the Minter. Fixed-point helpers
/// with the protocol's two-step rounding: a ratio is quantised to its precision first.
#[derive(Debug, Default)]
struct Model {
    supply: U256,
    inflation: U256,
    inflation_change: U256,
    target_bonding_rate: U256,
    total_active: U256,
    next_total_active: U256,
    mintable: U256,
    /// Treasury reward cut, 1e27 precision.
    treasury_rate: U256,
    treasury_received: U256,
    // the orchestrator
    stake: U256,
    reward_cut: U256,
    cumulative_rewards: U256,
    last_crf: U256,
    crf_by_round: std::collections::HashMap<u64, U256>,
}

impl Model {
    /// percOf with precision `d`: x · ⌊a·d/b⌋ / d
    fn perc_of(x: U256, a: U256, b: U256, d: U256) -> U256 {
        x * (a * d / b) / d
    }

    fn initialize_round(&mut self) {
        self.total_active = self.next_total_active;
        let bonding_rate = if self.supply.is_zero() {
            U256::ZERO
        } else {
            self.total_active * u(1_000_000_000) / self.supply
        };
        if bonding_rate < self.target_bonding_rate {
            self.inflation += self.inflation_change;
        } else if bonding_rate > self.target_bonding_rate {
            self.inflation = self.inflation.saturating_sub(self.inflation_change);
        }
        self.mintable = self.supply * self.inflation / u(1_000_000_000);
    }

    /// reward() by the orchestrator in `round`; returns the LPT minted.
    fn reward(&mut self, round: u64) -> U256 {
        let s = self.stake;
        let minted = Self::perc_of(self.mintable, s, self.total_active, u(1_000_000_000));
        let treasury = minted * self.treasury_rate / u(E27);
        self.treasury_received += treasury;
        let r = minted - treasury;
        let commission = r * self.reward_cut / u(1_000_000);
        let dr = r - commission;
        let trs_rewards = Self::perc_of(dr, self.cumulative_rewards, s, u(E27));
        self.cumulative_rewards += trs_rewards + commission;
        let p = if self.last_crf.is_zero() {
            u(E27)
        } else {
            self.last_crf
        };
        let crf = p + p * (dr * u(E27) / s) / u(E27);
        self.last_crf = crf;
        self.crf_by_round.insert(round, crf);
        self.stake += r;
        self.next_total_active += r;
        self.supply += minted;
        minted
    }

    /// The cumulative reward factor in force at the end of `round`.
    fn crf_at(&self, round: u64) -> U256 {
        (0..=round)
            .rev()
            .find_map(|r| self.crf_by_round.get(&r).copied())
            .unwrap_or(u(E27))
    }

    /// A delegator's stake at `end` that was `bonded` with its last claim in `start`.
    fn pending(&self, bonded: U256, start: u64, end: u64) -> U256 {
        bonded * (self.crf_at(end) * u(E27) / self.crf_at(start)) / u(E27)
    }
}

#[tokio::test]
async fn stake_cli_rewards_match_the_reference_model() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let devnet = devnet(dir.path(), 4).await;
    let file = devnet.file().clone();
    let path = devnet.file_path();
    let protocol = Protocol::connect(&devnet.chain_config(), None).await?;
    let orch = file.accounts[1].address;
    let d1 = file.accounts[2].address;
    let d2 = file.accounts[3].address;
    let orch_s = orch.to_string();

    // Round a: the orchestrator registers with a 10% reward cut, D1 delegates 500 LPT.
    let a = next_round(&devnet).await;
    let out = reel(
        &path,
        1,
        &[
            "transcoder",
            "--reward-cut",
            "10",
            "--fee-share",
            "50",
            "--bond",
            "1000",
            "--service-uri",
            "https://127.0.0.1:8935",
        ],
    );
    assert!(
        out.contains(&format!("joins the active set in round {}", a + 1)),
        "{out}"
    );
    reel(&path, 2, &["bond", "500", "--to", &orch_s]);

    let minter = IMinter::new(file.contracts.minter, protocol.provider());
    let mut m = Model {
        supply: minter.getGlobalTotalSupply().call().await?,
        inflation: minter.inflation().call().await?,
        inflation_change: minter.inflationChange().call().await?,
        target_bonding_rate: minter.targetBondingRate().call().await?,
        next_total_active: u(1500) * u(10u128.pow(18)),
        stake: u(1500) * u(10u128.pow(18)),
        reward_cut: u(100_000),
        treasury_rate: u(file.protocol.treasury_reward_cut_rate),
        ..Default::default()
    };
    let (mut d1_bonded, mut d1_start) = (u(500) * u(10u128.pow(18)), a);
    let orch_bonded = u(1000) * u(10u128.pow(18));
    let mut d2_state: Option<(U256, u64)> = None;
    let mut total_minted = U256::ZERO;

    // Rounds a+1 ..= a+6: the orchestrator calls reward through the CLI every round.
    for i in 1..=6u64 {
        let n = next_round(&devnet).await;
        assert_eq!(n, a + i);
        m.initialize_round();
        let out = reel(&path, 1, &["reward"]);
        let treasury_before = m.treasury_received;
        let minted = m.reward(n);
        // The CLI reports what went to the orchestrator and its delegators, after the
        // treasury's cut.
        let to_stake = minted - (m.treasury_received - treasury_before);
        assert!(
            out.contains(&format!("minted {}", Lpt::from_base_units(to_stake))),
            "round {n}: model minted {minted}, CLI said {out}"
        );
        assert_eq!(
            minter.currentMintableTokens().call().await?,
            m.mintable,
            "mintable in round {n}"
        );
        assert_eq!(
            minter.inflation().call().await?,
            m.inflation,
            "inflation in round {n}"
        );
        if i == 2 {
            // D1 claims: its rewards are bonded and it starts again from this round.
            reel(&path, 2, &["claim"]);
            d1_bonded = m.pending(d1_bonded, d1_start, n);
            d1_start = n;
        }
        if i == 3 {
            // D2 joins after this round's reward: it earns from the next round on.
            reel(&path, 3, &["bond", "300", "--to", &orch_s]);
            let amount = u(300) * u(10u128.pow(18));
            d2_state = Some((amount, n));
            m.stake += amount;
            m.next_total_active += amount;
        }
        let end = n;
        let bm = protocol.bonding_manager();
        assert_eq!(
            bm.pendingStake(d1, U256::ZERO).call().await?,
            m.pending(d1_bonded, d1_start, end),
            "D1 after round {n}"
        );
        assert_eq!(
            bm.pendingStake(orch, U256::ZERO).call().await?,
            m.pending(orch_bonded, a, end) + m.cumulative_rewards,
            "orchestrator after round {n}"
        );
        if let Some((bonded, start)) = d2_state {
            assert_eq!(
                bm.pendingStake(d2, U256::ZERO).call().await?,
                m.pending(bonded, start, end),
                "D2 after round {n}"
            );
        }
        total_minted += minted;
        // The Minter holds every bonded LPT and every reward minted, nothing more or less.
        let bonded_in = u(1500) * u(10u128.pow(18)) + d2_state.map_or(U256::ZERO, |(b, _)| b);
        assert_eq!(
            protocol
                .lpt_balance(file.contracts.minter)
                .await?
                .base_units(),
            bonded_in + total_minted - m.treasury_received,
            "LPT held by the Minter in round {n}"
        );
        assert_eq!(
            protocol
                .lpt_balance(file.contracts.treasury)
                .await?
                .base_units(),
            m.treasury_received,
            "LPT in the treasury after round {n}"
        );
    }

    // The CLI's status view shows the same numbers.
    let status = reel(&path, 2, &["status"]);
    let expected = Lpt::from_base_units(m.pending(d1_bonded, d1_start, a + 6));
    assert!(
        status.contains(&format!("pending stake    {expected}")),
        "{status}"
    );
    assert!(
        status.contains("reward cut       ") || status.contains(&orch_s),
        "{status}"
    );

    // Errors come back in the contract's words.
    let err = reel_fails(&path, 1, &["reward"]);
    assert!(
        err.contains("caller has already called reward for the current round"),
        "{err}"
    );
    let err = reel_fails(&path, 3, &["unbond", "1000"]);
    assert!(
        err.contains("amount is greater than bonded amount"),
        "{err}"
    );
    let err = reel_fails(&path, 2, &["bond", "1000000"]);
    assert!(
        err.contains("holds") && err.contains("not the 1000000 LPT asked for"),
        "{err}"
    );

    devnet.shutdown().await?;
    Ok(())
}
