//! Round keeping: on every new block, initialise the round if nobody has, and call
//! `reward()` once per round while the orchestrator is active. Each step re-reads the chain
//! first, so running it twice, from two processes, or after a restart does no harm.

use crate::{ChainError, Protocol, TxOutcome, protocol::RoundStatus};
use reel_types::{Lpt, Round};
use std::time::Duration;
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

/// One pass: looks at the chain and does what is due. Returns what it did.
pub async fn tick(
    protocol: &Protocol,
    config: &KeeperConfig,
) -> Result<Vec<KeeperAction>, ChainError> {
    let mut done = Vec::new();
    let mut status = protocol.round_status().await?;
    if !status.initialized && config.initialize_rounds {
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
                status = protocol.round_status().await?;
                if !status.initialized {
                    return Err(e);
                }
            }
        }
        status.initialized = true;
    }
    if config.reward
        && status.initialized
        && let Some(action) = reward_if_due(protocol, &status).await?
    {
        done.push(action);
    }
    Ok(done)
}

async fn reward_if_due(
    protocol: &Protocol,
    status: &RoundStatus,
) -> Result<Option<KeeperAction>, ChainError> {
    let me = protocol.from()?;
    let t = protocol.transcoder(me).await?;
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
            // A reward sent by an earlier run may have landed meanwhile.
            let t = protocol.transcoder(me).await?;
            if t.last_reward_round >= status.round {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// Runs [`tick`] every `config.poll` until `shutdown` resolves. Errors are logged and retried
/// on the next tick: a node must keep going through a flaky RPC endpoint.
pub async fn run(
    protocol: Protocol,
    config: KeeperConfig,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut interval = tokio::time::interval(config.poll);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = interval.tick() => {
                if let Err(e) = tick(&protocol, &config).await {
                    warn!(target: "chain::rounds", error = %e, retryable = e.is_retryable(), "keeper tick failed");
                }
            }
        }
    }
}
