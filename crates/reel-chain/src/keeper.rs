//! Round keeping: on every new block, initialise the round if nobody has, and call
//! `reward()` once per round while the orchestrator is active. Each step re-reads the chain
//! first, so running it twice, from two processes, or after a restart does no harm: a lost
//! race for `initializeRound()` is success, and a nonce another sender took (see
//! [`crate::txsender`]) only means the next tick reads the chain again.
//!
//! [`Keeper::status`] says what it saw last (round, block, whether it has rewarded) and
//! [`KeeperStatus::problem`] turns that into a health verdict: a keeper failing tick after
//! tick, or an active orchestrator that has not called `reward()` by the middle of the round,
//! loses the round's inflation and must show red.

use crate::{ChainError, Protocol, TxOutcome, protocol::RoundStatus};
use reel_types::{Lpt, Round};
use std::time::Duration;
use tokio::sync::watch;
use tracing::{info, warn};

/// What the keeper does.
#[derive(Debug, Clone, Copy)]
pub struct KeeperConfig {
    /// Call `initializeRound()` when the current round is not initialised.
    pub initialize_rounds: bool,
    /// Call `reward()` once per round when the signer is an active orchestrator.
    pub reward: bool,
    /// How often to look at the chain.
    pub poll: Duration,
}

/// Something the keeper did.
#[derive(Debug, Clone)]
pub enum KeeperAction {
    InitializedRound {
        round: Round,
        tx: TxOutcome,
    },
    Rewarded {
        round: Round,
        minted: Lpt,
        tx: TxOutcome,
    },
}

/// RoundsManager's revert when the round is initialised (or its initialisation pending).
const ROUND_ALREADY_INITIALIZED: &str = "round already initialized";

/// BondingManager's revert when the caller's reward of the round is mined (or pending).
const ALREADY_REWARDED: &str = "caller has already called reward for the current round";

/// Failed ticks in a row after which the keeper reports itself unhealthy.
pub const FAILURES_BEFORE_RED: u32 = 3;

/// What the keeper saw and did, for `/status` and `/healthz`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeeperStatus {
    pub reward_enabled: bool,
    pub initialize_rounds: bool,
    /// Ticks run, and how many failed in a row up to now.
    pub ticks: u64,
    pub failures_in_a_row: u32,
    pub last_error: Option<String>,
    /// The chain as of the last successful read.
    pub block: u64,
    pub round: u64,
    pub round_start_block: u64,
    pub round_length: u64,
    pub round_initialized: bool,
    /// The signer is an active orchestrator this round.
    pub active: bool,
    pub last_reward_round: u64,
    /// What this keeper did since it started.
    pub rounds_initialized: u64,
    pub rewards_called: u64,
}

impl KeeperStatus {
    /// Why the keeper needs a person, if it does.
    pub fn problem(&self) -> Option<String> {
        let cause = self
            .last_error
            .as_deref()
            .map_or(String::new(), |e| format!(": {e}"));
        let mid_round = self.round_start_block.saturating_add(self.round_length / 2);
        if self.reward_enabled
            && self.active
            && self.round_length > 0
            && self.last_reward_round < self.round
            && self.block >= mid_round
        {
            return Some(format!(
                "reward() not called for round {} by the middle of the round (block {}, the round \
                 started at block {} and lasts {} blocks){}",
                self.round,
                self.block,
                self.round_start_block,
                self.round_length,
                if cause.is_empty() {
                    ": no attempt failed; is the keeper running?".to_owned()
                } else {
                    cause
                }
            ));
        }
        if self.failures_in_a_row >= FAILURES_BEFORE_RED {
            return Some(format!(
                "the round keeper failed {} times in a row{cause}",
                self.failures_in_a_row
            ));
        }
        None
    }
}

/// The round keeper of one account.
#[derive(Debug)]
pub struct Keeper {
    protocol: Protocol,
    config: KeeperConfig,
    status: watch::Sender<KeeperStatus>,
}

impl Keeper {
    pub fn new(protocol: Protocol, config: KeeperConfig) -> Self {
        let (status, _) = watch::channel(KeeperStatus {
            reward_enabled: config.reward,
            initialize_rounds: config.initialize_rounds,
            ..KeeperStatus::default()
        });
        Self {
            protocol,
            config,
            status,
        }
    }

    pub fn config(&self) -> &KeeperConfig {
        &self.config
    }

    pub fn status(&self) -> KeeperStatus {
        self.status.borrow().clone()
    }

    /// Follows the status as it changes.
    pub fn subscribe(&self) -> watch::Receiver<KeeperStatus> {
        self.status.subscribe()
    }

    /// One pass: looks at the chain and does what is due. Returns what it did.
    pub async fn tick(&self) -> Result<Vec<KeeperAction>, ChainError> {
        let out = self.tick_inner().await;
        self.status.send_modify(|s| {
            s.ticks = s.ticks.saturating_add(1);
            match &out {
                Ok(done) => {
                    s.failures_in_a_row = 0;
                    s.last_error = None;
                    for a in done {
                        match a {
                            KeeperAction::InitializedRound { .. } => {
                                s.rounds_initialized = s.rounds_initialized.saturating_add(1);
                            }
                            KeeperAction::Rewarded { round, .. } => {
                                s.rewards_called = s.rewards_called.saturating_add(1);
                                s.last_reward_round = s.last_reward_round.max(round.0);
                            }
                        }
                    }
                }
                Err(e) => {
                    s.failures_in_a_row = s.failures_in_a_row.saturating_add(1);
                    s.last_error = Some(e.to_string());
                }
            }
        });
        out
    }

    fn saw(&self, status: &RoundStatus) {
        self.status.send_modify(|s| {
            s.block = status.block;
            s.round = status.round.0;
            s.round_start_block = status.start_block;
            s.round_length = status.length;
            s.round_initialized = status.initialized;
        });
    }

    async fn tick_inner(&self) -> Result<Vec<KeeperAction>, ChainError> {
        let protocol = &self.protocol;
        let mut done = Vec::new();
        let mut status = protocol.round_status().await?;
        self.saw(&status);
        if !status.initialized && self.config.initialize_rounds {
            match protocol.initialize_round().await {
                Ok(tx) => {
                    info!(target: "chain::rounds", round = status.round.0, "initialized round");
                    done.push(KeeperAction::InitializedRound {
                        round: status.round,
                        tx,
                    });
                }
                Err(e) => {
                    // Another keeper may have won the race: that is success, not an error.
                    // Its transaction may still be pending (the gas estimate runs on the
                    // pending state and says so): then the round is not initialised yet, and
                    // nothing is due from us until it is.
                    status = protocol.round_status().await?;
                    self.saw(&status);
                    if !status.initialized {
                        if e.revert_reason().as_deref() == Some(ROUND_ALREADY_INITIALIZED) {
                            info!(target: "chain::rounds", round = status.round.0, "the round's initialisation by somebody else is pending");
                            return Ok(done);
                        }
                        return Err(e);
                    }
                    info!(target: "chain::rounds", round = status.round.0, "round initialized by somebody else");
                }
            }
            status.initialized = true;
        }
        if self.config.reward
            && status.initialized
            && let Some(action) = self.reward_if_due(&status).await?
        {
            done.push(action);
        }
        Ok(done)
    }

    async fn reward_if_due(
        &self,
        status: &RoundStatus,
    ) -> Result<Option<KeeperAction>, ChainError> {
        let protocol = &self.protocol;
        let me = protocol.from()?;
        let t = protocol.transcoder(me).await?;
        self.status.send_modify(|s| {
            s.active = t.active;
            s.last_reward_round = t.last_reward_round.0;
        });
        if !t.active || t.last_reward_round >= status.round {
            return Ok(None);
        }
        match protocol.reward().await {
            Ok((tx, minted)) => {
                info!(target: "chain::rounds", round = status.round.0, %minted, "called reward");
                Ok(Some(KeeperAction::Rewarded {
                    round: status.round,
                    minted,
                    tx,
                }))
            }
            Err(e) => {
                // A reward sent by an earlier run, or by another process, may have landed.
                let t = protocol.transcoder(me).await?;
                self.status
                    .send_modify(|s| s.last_reward_round = t.last_reward_round.0);
                if t.last_reward_round >= status.round {
                    Ok(None)
                } else if e.revert_reason().as_deref() == Some(ALREADY_REWARDED) {
                    // Our reward of this round is pending (sent before a restart): the gas
                    // estimate ran on the pending state.
                    info!(target: "chain::rounds", round = status.round.0, "this round's reward is pending");
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Runs [`Keeper::tick`] every `config.poll` until `shutdown` resolves, which stops it at
    /// any await, a transaction's receipt wait included. Errors are logged and retried on the
    /// next tick: a node must keep going through a flaky RPC endpoint.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut interval = tokio::time::interval(self.config.poll);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let step = async {
                interval.tick().await;
                self.tick().await
            };
            tokio::select! {
                () = &mut shutdown => return,
                r = step => if let Err(e) = r {
                    warn!(target: "chain::rounds", error = %e, retryable = e.is_retryable(), "keeper tick failed");
                },
            }
        }
    }
}

/// One pass of a keeper for `protocol`'s account (see [`Keeper::tick`]).
pub async fn tick(
    protocol: &Protocol,
    config: &KeeperConfig,
) -> Result<Vec<KeeperAction>, ChainError> {
    Keeper::new(protocol.clone(), *config).tick().await
}

/// Runs a keeper until `shutdown` (see [`Keeper::run`]).
pub async fn run(
    protocol: Protocol,
    config: KeeperConfig,
    shutdown: impl std::future::Future<Output = ()>,
) {
    Keeper::new(protocol, config).run(shutdown).await;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn active_in_round() -> KeeperStatus {
        KeeperStatus {
            reward_enabled: true,
            active: true,
            round: 7,
            round_start_block: 100,
            round_length: 20,
            last_reward_round: 6,
            block: 105,
            ..KeeperStatus::default()
        }
    }

    #[test]
    fn reward_missing_by_mid_round_is_a_problem_with_the_cause() {
        let mut s = active_in_round();
        assert_eq!(s.problem(), None, "early in the round");
        s.block = 110;
        s.last_error = Some("nonce 61 was used by another sender".into());
        let p = s.problem().unwrap();
        assert!(p.contains("reward() not called for round 7"), "{p}");
        assert!(p.contains("nonce 61"), "{p}");
        s.last_reward_round = 7;
        assert_eq!(s.problem(), None, "rewarded");
        s.last_reward_round = 6;
        s.active = false;
        assert_eq!(s.problem(), None, "not active: nothing to call");
        s.active = true;
        s.reward_enabled = false;
        assert_eq!(s.problem(), None, "reward off");
    }

    #[test]
    fn failing_ticks_are_a_problem_after_three() {
        let mut s = KeeperStatus {
            failures_in_a_row: 2,
            last_error: Some("RPC down".into()),
            ..KeeperStatus::default()
        };
        assert_eq!(s.problem(), None);
        s.failures_in_a_row = 3;
        assert!(
            s.problem()
                .unwrap()
                .contains("failed 3 times in a row: RPC down")
        );
    }
}
