//! Starting each role: connecting as its devnet account, putting an orchestrator on
//! chain, funding and starting the gateway, moving rounds. Each function owns what it
//! needs, so that it can run on the role's own runtime.

use std::future::Future;
use std::sync::Arc;

use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use reel_chain::{ChainConfig, Protocol, SenderConfig as TxConfig, TxSender};
use reel_node::NodeError;
use reel_node::gateway::discovery::ListSource;
use reel_node::node::{GatewayBuilder, GatewayNode, OrchestratorBuilder};
use reel_node::tasks::Tasks;
use reel_pm::broker::{ReserveInfo, SenderInfo};
use reel_types::Wei;
use tokio_util::sync::CancellationToken;

use crate::error::{chain, node};
use crate::{
    GatewaySpec, LocalNetError, LocalOrchestrator, OrchestratorSpec, Placement, Role,
    TranscoderSpec,
};

/// What a role needs to connect as its devnet account, owned so that it can move to the
/// role's runtime.
pub(crate) struct Account {
    pub(crate) file: reel_chain::DevnetFile,
    pub(crate) config: ChainConfig,
    pub(crate) tx: TxConfig,
    pub(crate) i: usize,
}

impl Account {
    pub(crate) async fn connect(self) -> Result<Protocol, LocalNetError> {
        connect_as(&self.file, &self.config, &self.tx, self.i).await
    }
}

pub(crate) fn signer(
    f: &reel_chain::DevnetFile,
    i: usize,
) -> Result<reel_net::EthSigner, LocalNetError> {
    let a = f.accounts.get(i).ok_or(LocalNetError::Key(i))?;
    reel_net::EthSigner::from_bytes(&a.private_key.0).map_err(|_| LocalNetError::Key(i))
}

/// Starts orchestrator `a.i` and puts it on chain: bonded, terms set, service URI
/// registered. Returns it and the remote transcoders to start once it serves.
pub(crate) async fn start_orchestrator(
    a: Account,
    spec: OrchestratorSpec,
    shutdown: CancellationToken,
) -> Result<(LocalOrchestrator, Vec<TranscoderSpec>), LocalNetError> {
    let i = a.i;
    let eth_signer = signer(&a.file, i)?;
    let p = a.connect().await?;
    let mut settings = spec.settings;
    if let Some(t) = &spec.transcoder {
        settings.local_transcode = false;
        settings.orch_secret = Some(t.secret.clone());
    }
    // One sender for the account: the redeemer's transactions and the caller's share it.
    let started = OrchestratorBuilder::new(settings)
        .signer(eth_signer)
        .chain(p.clone())
        .payments(spec.recipient, spec.redeemer, spec.unverified_max_float)
        .tasks(Tasks::with_shutdown(shutdown.child_token()))
        .start()
        .await
        .map_err(node(format!("starting orchestrator {i}")))?;
    let payments = started
        .payments
        .clone()
        .ok_or_else(|| LocalNetError::Node {
            what: format!("orchestrator {i}"),
            source: NodeError::Config("started without payments".into()),
        })?;
    let node_ = started.orchestrator;
    // Bond, terms and URI in one round: an orchestrator registered across a round
    // boundary would turn active half way.
    room_for(&p, 6).await?;
    let me = p.from().map_err(chain("the orchestrator's address"))?;
    p.bond(spec.stake, me)
        .await
        .map_err(chain(format!("orchestrator {i} bonding")))?;
    p.set_transcoder(spec.reward_cut, spec.fee_share)
        .await
        .map_err(chain(format!("orchestrator {i} setting its terms")))?;
    let registration = reel_node::chain::ensure_service_uri(&p, node_.uri())
        .await
        .map_err(node(format!("registering orchestrator {i}")))?;
    let transcoders = spec
        .transcoder
        .map(|t| vec![t.clone(); t.count.max(1)])
        .unwrap_or_default();
    Ok((
        LocalOrchestrator {
            protocol: p,
            node: node_,
            payments,
            registration,
            transcoders: Vec::new(),
        },
        transcoders,
    ))
}

/// Funds gateway `a.i` at the TicketBroker (when there is one) and starts it.
pub(crate) async fn start_gateway(
    a: Account,
    spec: GatewaySpec,
    uris: Vec<reel_node::rpc::ServiceUri>,
    shutdown: CancellationToken,
) -> Result<(Protocol, GatewayNode), LocalNetError> {
    let i = a.i;
    let eth_signer = signer(&a.file, i)?;
    let gp = a.connect().await?;
    start_node(gp, spec, uris, shutdown, eth_signer, false).await
}

/// Starts the gateway on account `gp`, funding it first unless `funded`.
pub(crate) async fn start_node(
    gp: Protocol,
    spec: GatewaySpec,
    uris: Vec<reel_node::rpc::ServiceUri>,
    shutdown: CancellationToken,
    eth_signer: reel_net::EthSigner,
    funded: bool,
) -> Result<(Protocol, GatewayNode), LocalNetError> {
    // Without a TicketBroker there is nothing to fund: the gateway then takes the deposit
    // and reserve asked for as given.
    let assumed = if gp.contracts().ticket_broker.is_zero() {
        SenderInfo {
            deposit: spec.deposit,
            withdraw_round: 0,
            reserve: ReserveInfo {
                funds_remaining: spec.reserve,
                claimed_in_current_round: Wei::ZERO,
            },
        }
    } else {
        if !funded {
            gp.fund_deposit_and_reserve(spec.deposit, spec.reserve)
                .await
                .map_err(chain("funding the gateway"))?;
        }
        // Read from the TicketBroker once started: nothing is assumed.
        SenderInfo {
            deposit: Wei::ZERO,
            withdraw_round: 0,
            reserve: ReserveInfo::default(),
        }
    };
    let mut builder = GatewayBuilder::new(spec.settings)
        .signer(eth_signer)
        .chain(gp.clone());
    if spec.listed_only {
        builder = builder.source(Arc::new(ListSource(uris)));
    }
    // Its own token: stopped first, it sends no segment to a stopping orchestrator.
    let g = builder
        .payments(spec.sender, assumed)
        .tasks(Tasks::with_shutdown(shutdown))
        .start()
        .await
        .map_err(node("starting the gateway"))?;
    Ok((gp, g))
}

pub(crate) async fn connect_as(
    f: &reel_chain::DevnetFile,
    config: &ChainConfig,
    tx: &TxConfig,
    i: usize,
) -> Result<Protocol, LocalNetError> {
    let a = f.accounts.get(i).ok_or(LocalNetError::Key(i))?;
    let key = PrivateKeySigner::from_bytes(&a.private_key).map_err(|_| LocalNetError::Key(i))?;
    let what = || format!("connecting account {i}");
    let sender =
        TxSender::new(&config.rpc_url, config.chain_id, key, tx.clone()).map_err(chain(what()))?;
    Protocol::with_sender(config, Some(sender))
        .await
        .map_err(chain(what()))
}

/// Turns on a block every `secs` seconds.
pub(crate) async fn interval_mining(mover: Protocol, secs: u64) -> Result<(), LocalNetError> {
    mover
        .provider()
        .raw_request::<_, ()>("evm_setIntervalMining".into(), (secs,))
        .await
        .map_err(|source| LocalNetError::Rpc {
            method: "evm_setIntervalMining",
            source,
        })
}

/// Mines to the start of the next round and initialises it from `mover`'s account.
pub(crate) async fn next_round(mover: &Protocol) -> Result<(), LocalNetError> {
    let s = mover
        .round_status()
        .await
        .map_err(chain("reading the round"))?;
    let blocks = s
        .start_block
        .saturating_add(s.length)
        .saturating_sub(s.block);
    mover
        .provider()
        .raw_request::<_, ()>("anvil_mine".into(), (blocks,))
        .await
        .map_err(|source| LocalNetError::Rpc {
            method: "anvil_mine",
            source,
        })?;
    mover
        .ensure_round_initialized()
        .await
        .map_err(chain("initialising the round"))?;
    Ok(())
}

/// Moves to a fresh round unless `blocks` more transactions (one block each) fit before
/// the current round's locked tail; either way the round is initialised.
pub(crate) async fn room_for(p: &Protocol, blocks: u64) -> Result<(), LocalNetError> {
    let s = p.round_status().await.map_err(chain("reading the round"))?;
    let left = s
        .start_block
        .saturating_add(s.length)
        .saturating_sub(s.block);
    if s.locked || left < blocks.saturating_add(3) {
        next_round(p).await
    } else {
        p.ensure_round_initialized()
            .await
            .map_err(chain("initialising the round"))?;
        Ok(())
    }
}

/// Runs `fut` where `placement` puts `role`, and waits for it.
pub(crate) async fn on<F>(
    placement: Option<&Arc<dyn Placement>>,
    role: Role,
    fut: F,
) -> Result<F::Output, LocalNetError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match placement.and_then(|p| p.runtime(role)) {
        None => Ok(fut.await),
        Some(h) => match h.spawn(fut).await {
            Ok(v) => Ok(v),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(LocalNetError::Placement(role)),
        },
    }
}
