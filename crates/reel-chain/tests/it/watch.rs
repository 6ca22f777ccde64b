//! The TicketBroker event watcher on anvil (see
//! docs/compatibility.md#max-float-and-the-sender-watch,
//! docs/faults.md#third-party-unlock-cancels-and-forced-delegation,
//! #rpc-outages-and-chain-reorganisations): a watched sender's cached state follows a third party's
//! top-up and the sender's unlock within the block, a rolled-back funding is undone to the wei,
//! other senders' events cost no reads, and an RPC outage (anvil stopped and restarted on its saved
//! state) is ridden out, resuming from the last processed block.

use alloy::{
    primitives::{Address, B256, U256},
    providers::Provider,
    signers::local::PrivateKeySigner,
};
use reel_chain::{
    Devnet, DevnetOptions, Protocol,
    broker::ChainTicketBroker,
    watch::{BrokerWatcher, WatchConfig, WatchStatus},
};
use reel_pm::{
    PmError, SenderInfo, SenderMonitor, SignedTicket, TicketBroker,
    broker::{ChainState, PreparedTx, Receipt},
};
use reel_testkit::Wait;
use reel_types::Wei;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::sync::{oneshot, watch};

const ORCH: usize = 1;
const SENDER: usize = 2;
const OTHER: usize = 3;

/// The chain broker, counting `getSenderInfo` reads per sender.
#[derive(Debug)]
struct Counting {
    inner: ChainTicketBroker,
    reads: Mutex<HashMap<Address, u32>>,
}

impl Counting {
    fn reads(&self, who: Address) -> u32 {
        self.reads
            .lock()
            .expect("lock")
            .get(&who)
            .copied()
            .unwrap_or(0)
    }
}

impl TicketBroker for Counting {
    async fn chain_state(&self) -> Result<ChainState, PmError> {
        self.inner.chain_state().await
    }
    async fn sender_info(&self, sender: Address) -> Result<SenderInfo, PmError> {
        *self.reads.lock().expect("lock").entry(sender).or_default() += 1;
        self.inner.sender_info(sender).await
    }
    async fn claimed_reserve(&self, holder: Address, claimant: Address) -> Result<Wei, PmError> {
        self.inner.claimed_reserve(holder, claimant).await
    }
    async fn claimable_reserve(&self, holder: Address, claimant: Address) -> Result<Wei, PmError> {
        self.inner.claimable_reserve(holder, claimant).await
    }
    async fn transcoder_pool_size(&self) -> Result<u64, PmError> {
        self.inner.transcoder_pool_size().await
    }
    async fn is_used_ticket(&self, hash: B256) -> Result<bool, PmError> {
        self.inner.is_used_ticket(hash).await
    }
    async fn gas_price(&self) -> Result<Wei, PmError> {
        self.inner.gas_price().await
    }
    async fn prepare_redeem(
        &self,
        ticket: &SignedTicket,
        gas_price: Wei,
        replace: Option<u64>,
    ) -> Result<PreparedTx, PmError> {
        self.inner.prepare_redeem(ticket, gas_price, replace).await
    }
    async fn broadcast(&self, tx: &PreparedTx) -> Result<(), PmError> {
        self.inner.broadcast(tx).await
    }
    async fn receipt(&self, hash: B256) -> Result<Option<Receipt>, PmError> {
        self.inner.receipt(hash).await
    }
}

impl TicketBroker for &'static Counting {
    async fn chain_state(&self) -> Result<ChainState, PmError> {
        (**self).chain_state().await
    }
    async fn sender_info(&self, sender: Address) -> Result<SenderInfo, PmError> {
        (**self).sender_info(sender).await
    }
    async fn claimed_reserve(&self, holder: Address, claimant: Address) -> Result<Wei, PmError> {
        (**self).claimed_reserve(holder, claimant).await
    }
    async fn claimable_reserve(&self, holder: Address, claimant: Address) -> Result<Wei, PmError> {
        (**self).claimable_reserve(holder, claimant).await
    }
    async fn transcoder_pool_size(&self) -> Result<u64, PmError> {
        (**self).transcoder_pool_size().await
    }
    async fn is_used_ticket(&self, hash: B256) -> Result<bool, PmError> {
        (**self).is_used_ticket(hash).await
    }
    async fn gas_price(&self) -> Result<Wei, PmError> {
        (**self).gas_price().await
    }
    async fn prepare_redeem(
        &self,
        ticket: &SignedTicket,
        gas_price: Wei,
        replace: Option<u64>,
    ) -> Result<PreparedTx, PmError> {
        (**self).prepare_redeem(ticket, gas_price, replace).await
    }
    async fn broadcast(&self, tx: &PreparedTx) -> Result<(), PmError> {
        (**self).broadcast(tx).await
    }
    async fn receipt(&self, hash: B256) -> Result<Option<Receipt>, PmError> {
        (**self).receipt(hash).await
    }
}

/// A devnet, the sender (account 2) funded with 1 ETH deposit and 0.5 ETH reserve and read
/// once into the orchestrator's (account 1) monitor, and a running watcher polling every
/// 50 ms. No timed refresh runs: only the watcher can change the cached state.
struct Fixture {
    dir: tempfile::TempDir,
    devnet: Option<Devnet>,
    sender: Protocol,
    other: Protocol,
    monitor: Arc<SenderMonitor>,
    broker: &'static Counting,
    status: watch::Receiver<WatchStatus>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Fixture {
    async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let devnet = Devnet::start(DevnetOptions::ephemeral(dir.path(), 4)).await?;
        let config = devnet.chain_config();
        let key = |i: usize| PrivateKeySigner::from_bytes(&devnet.file().accounts[i].private_key);
        let sender = Protocol::connect(&config, Some(key(SENDER)?)).await?;
        let other = Protocol::connect(&config, Some(key(OTHER)?)).await?;
        sender
            .fund_deposit_and_reserve(Wei::from_whole(1), Wei::parse_decimal("0.5")?)
            .await?;
        let chain = ChainTicketBroker::connect(&config, key(ORCH)?, Wei::ZERO).await?;
        let source = chain.events();
        // Leaked so the watcher task and the test share it without a wrapper type.
        let broker: &'static Counting = Box::leak(Box::new(Counting {
            inner: chain,
            reads: Mutex::default(),
        }));
        let monitor = Arc::new(SenderMonitor::new(key(ORCH)?.address(), 1));
        monitor.refresh(&broker, sender.from()?).await?;
        let watcher = BrokerWatcher::new(
            source,
            broker,
            Arc::clone(&monitor),
            WatchConfig {
                poll: Duration::from_millis(50),
                max_backoff: Duration::from_millis(200),
                ..WatchConfig::default()
            },
        );
        let mut status = watcher.subscribe();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(watcher.run(async move {
            let _ = stopped.await;
        }));
        tokio::time::timeout(
            Duration::from_secs(5),
            status.wait_for(|s| s.last_block.is_some()),
        )
        .await??;
        Ok(Self {
            dir,
            devnet: Some(devnet),
            sender,
            other,
            monitor,
            broker,
            status,
            stop: Some(stop),
            task,
        })
    }

    fn sender_address(&self) -> Address {
        self.sender.from().expect("signer")
    }

    fn cached(&self) -> SenderInfo {
        self.monitor
            .sender_info(self.sender_address())
            .expect("watched")
    }

    /// Waits (at most 3 s, well under the node's 10 s refresh) until the cached state of
    /// `who` satisfies `ok`.
    async fn until(&self, who: Address, ok: impl Fn(&SenderInfo) -> bool) -> anyhow::Result<()> {
        Wait::new(
            format!("the cached state of {who} to update"),
            Duration::from_secs(3),
        )
        .every(Duration::from_millis(20))
        .until_ok(async || match self.monitor.sender_info(who) {
            Some(i) if ok(&i) => Ok(()),
            other => Err(format!("{other:?}, watcher {:?}", *self.status.borrow())),
        })
        .await?;
        Ok(())
    }

    /// The third account funds `who`'s deposit and reserve.
    async fn fund_for(&self, who: Address, deposit: Wei, reserve: Wei) -> anyhow::Result<()> {
        self.other
            .send(
                "fund for",
                self.other
                    .ticket_broker()
                    .fundDepositAndReserveFor(who, deposit.base_units(), reserve.base_units())
                    .value(deposit.checked_add(reserve)?.base_units()),
            )
            .await?;
        Ok(())
    }

    async fn on_chain(&self, who: Address) -> anyhow::Result<SenderInfo> {
        Ok(self.broker.inner.sender_info(who).await?)
    }

    async fn head(&self) -> anyhow::Result<u64> {
        Ok(self.sender.provider().get_block_number().await?)
    }

    async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        (&mut self.task).await?;
        if let Some(d) = self.devnet.take() {
            d.shutdown().await?;
        }
        Ok(())
    }
}

#[tokio::test]
async fn c17_a_third_party_top_up_and_an_unlock_reach_the_cache_within_the_block()
-> anyhow::Result<()> {
    let f = Fixture::start().await?;
    let s = f.sender_address();
    assert_eq!(f.cached().deposit, Wei::from_whole(1));

    // A third account tops the sender up.
    let (dep, res) = (Wei::parse_decimal("0.3")?, Wei::parse_decimal("0.2")?);
    f.fund_for(s, dep, res).await?;
    let block = f.head().await?;
    let start = Instant::now();
    f.until(s, |i| {
        i.deposit == Wei::parse_decimal("1.3").expect("decimal")
    })
    .await?;
    let cached = f.cached();
    assert_eq!(cached, f.on_chain(s).await?, "to the wei");
    assert_eq!(cached.reserve.funds_remaining, Wei::parse_decimal("0.7")?);
    assert_eq!(
        f.head().await?,
        block,
        "seen in the top-up's own block: no later block was needed"
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );

    // The sender unlocks: its withdraw round shows up at once.
    assert_eq!(cached.withdraw_round, 0);
    f.sender.unlock().await?;
    f.until(s, |i| i.withdraw_round != 0).await?;
    assert_eq!(f.cached(), f.on_chain(s).await?);
    f.stop().await
}

#[tokio::test]
async fn c18_a_rolled_back_funding_is_undone_in_the_cache_to_the_wei() -> anyhow::Result<()> {
    let f = Fixture::start().await?;
    let s = f.sender_address();
    let before = f.cached();
    let p = f.sender.provider().clone();
    let snapshot: U256 = p.raw_request("evm_snapshot".into(), ()).await?;

    let extra = Wei::parse_decimal("0.4")?;
    f.fund_for(s, extra, Wei::ZERO).await?;
    let funded = before.deposit.checked_add(extra)?;
    f.until(s, |i| i.deposit == funded).await?;
    assert_eq!(f.status.borrow().rollbacks, 0);

    // The funding block is rolled back, and the chain moves on past it.
    let reverted: bool = p.raw_request("evm_revert".into(), (snapshot,)).await?;
    assert!(reverted);
    p.raw_request::<_, ()>("anvil_mine".into(), (3u64,)).await?;
    f.until(s, |i| *i == before).await?;
    assert_eq!(f.cached(), f.on_chain(s).await?, "to the wei");
    assert_eq!(f.cached().deposit, Wei::from_whole(1));
    let status = *f.status.borrow();
    assert_eq!(status.rollbacks, 1, "{status:?}");
    assert!(
        status.removed >= 1,
        "the funding event is removed: {status:?}"
    );
    f.stop().await
}

#[tokio::test]
async fn other_senders_events_cost_no_reads() -> anyhow::Result<()> {
    let f = Fixture::start().await?;
    let s = f.sender_address();
    let o = f.other.from()?;
    assert_eq!(f.broker.reads(s), 1, "the initial read");
    let events_before = f.status.borrow().events;

    // An unwatched sender funds itself twice …
    f.other
        .fund_deposit_and_reserve(Wei::from_whole(1), Wei::from_whole(1))
        .await?;
    f.other.unlock().await?;
    // … then someone tops up the watched one.
    let dep = Wei::parse_decimal("0.1")?;
    f.fund_for(s, dep, Wei::ZERO).await?;
    f.until(s, |i| {
        i.deposit == Wei::parse_decimal("1.1").expect("decimal")
    })
    .await?;
    let status = *f.status.borrow();
    assert!(
        status.events >= events_before + 4,
        "the other sender's events were seen: {status:?}"
    );
    assert_eq!(f.broker.reads(o), 0, "an unwatched sender is never read");
    assert!(!f.monitor.is_watched(o));
    assert_eq!(f.broker.reads(s), 2, "one read for the top-up's block");
    f.stop().await
}

#[tokio::test]
async fn c18_after_an_rpc_outage_the_watcher_resumes_from_its_last_block() -> anyhow::Result<()> {
    let mut f = Fixture::start().await?;
    let s = f.sender_address();
    let before = f.status.borrow().last_block;
    let url = f.devnet.as_ref().expect("running").rpc_url().to_owned();
    let port: u16 = url
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .expect("port in the RPC URL");

    // anvil goes away: passes fail, the watcher backs off and keeps going.
    if let Some(d) = f.devnet.take() {
        d.shutdown().await?;
    }
    tokio::time::timeout(Duration::from_secs(3), f.status.wait_for(|s| s.errors >= 2)).await??;
    assert!(!f.task.is_finished(), "the watcher survives the outage");

    // anvil comes back on its saved state; a top-up made then is seen.
    f.devnet = Some(
        Devnet::start(DevnetOptions {
            port: Some(port),
            ..DevnetOptions::ephemeral(f.dir.path(), 4)
        })
        .await?,
    );
    let dep = Wei::parse_decimal("0.2")?;
    f.fund_for(s, dep, Wei::ZERO).await?;
    f.until(s, |i| {
        i.deposit == Wei::parse_decimal("1.2").expect("decimal")
    })
    .await?;
    assert_eq!(f.cached(), f.on_chain(s).await?, "to the wei");
    let status = *f.status.borrow();
    // Resumed where it stopped: the top-up's block is the one after the last processed
    // before the outage, and the restored chain is not mistaken for a rollback.
    assert_eq!(status.last_block, before.map(|b| b + 1), "{status:?}");
    assert_eq!(status.rollbacks, 0, "{status:?}");
    f.stop().await
}
