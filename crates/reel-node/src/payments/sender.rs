//! The gateway's side ([`GatewayPayments`]): one ticket sender for this gateway's deposit
//! and reserve, the orchestrators' ticket params checked before use, tickets for each
//! segment or job, and credit per (orchestrator, session).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use alloy_primitives::{Address, U256};
use reel_net::{EthSigner, proto};
use reel_pm::broker::SenderInfo;
use reel_pm::{
    Balances, PmError, PricePerUnit, Scope, Sender, SenderChainView, SenderConfig, TicketBroker,
    TicketParams,
};
use reel_types::Wei;

use super::broker::BrokerHandle;
use super::facts::{ChainFacts, read, write};
use crate::NodeError;
use crate::tasks::Tasks;

/// The gateway's payments: one ticket sender, credit per (orchestrator, session).
#[derive(Debug)]
pub struct GatewayPayments {
    sender: Sender,
    balances: Balances,
    broker: Option<BrokerHandle>,
    facts: RwLock<Option<ChainFacts>>,
    own: RwLock<Option<SenderInfo>>,
}

/// What paying for one segment takes.
#[derive(Debug, Clone)]
pub struct SegmentPayment {
    pub payment: proto::Payment,
    pub tickets: u32,
    /// EV of the tickets sent.
    pub value: Wei,
}

impl GatewayPayments {
    /// A sender for `signer`. `broker` reads this gateway's deposit and reserve; with `None`
    /// they are taken as `assumed` (unverified mode, see the module documentation).
    pub fn new(
        signer: EthSigner,
        cfg: SenderConfig,
        broker: Option<BrokerHandle>,
        assumed: SenderInfo,
    ) -> Self {
        Self {
            sender: Sender::new(signer, cfg),
            balances: Balances::default(),
            own: RwLock::new(if broker.is_none() {
                Some(assumed)
            } else {
                None
            }),
            broker,
            facts: RwLock::new(None),
        }
    }

    pub fn address(&self) -> Address {
        self.sender.address()
    }

    pub fn set_facts(&self, f: ChainFacts) {
        write(&self.facts, f);
        self.sender.prune(f.block);
    }

    /// Re-reads this gateway's own deposit and reserve (with a broker).
    pub async fn refresh_own(&self) -> Result<(), NodeError> {
        if let Some(b) = &self.broker {
            let info = TicketBroker::sender_info(b, self.address()).await?;
            write(&self.own, info);
        }
        Ok(())
    }

    /// Re-reads this gateway's deposit and reserve every `every` (with a broker).
    pub fn spawn_own_refresh(self: &Arc<Self>, tasks: &Tasks, every: Duration) {
        if self.broker.is_none() {
            return;
        }
        let this = Arc::clone(self);
        tasks.spawn_periodic("own-deposit", every, move || {
            let this = Arc::clone(&this);
            async move { this.refresh_own().await }
        });
    }

    fn view(&self) -> Result<SenderChainView, NodeError> {
        let f = read(&self.facts).ok_or_else(|| NodeError::Timeout {
            what: "the first chain facts (block, round)".into(),
            after: Duration::ZERO,
        })?;
        let own = read(&self.own).ok_or_else(|| NodeError::Timeout {
            what: "this gateway's deposit and reserve".into(),
            after: Duration::ZERO,
        })?;
        Ok(SenderChainView {
            last_block: f.block,
            current_round: f.round,
            own,
            gas_price: f.gas_price,
        })
    }

    /// Checks an orchestrator's params before using them (see
    /// docs/compatibility.md#the-gateways-checks-of-ticket-params).
    pub fn validate(&self, params: &TicketParams) -> Result<(), NodeError> {
        self.sender.validate_params(params, 1, &self.view()?)?;
        Ok(())
    }

    /// The payment to send with a segment whose fee is estimated at `fee`: enough tickets
    /// to bring the session's credit to max(fee, EV). `None` when the credit already
    /// covers it.
    pub fn pay(
        &self,
        orch: Address,
        scope: &Scope,
        params: &TicketParams,
        fee: Wei,
    ) -> Result<Option<SegmentPayment>, NodeError> {
        let ev = params.ev();
        let key = scope.account(orch);
        let min_credit = if fee > ev { fee } else { ev };
        let n = self.balances.tickets_needed(&key, min_credit, ev)?;
        if n == 0 {
            return Ok(None);
        }
        let n = u32::try_from(n).map_err(|_| PmError::Overflow {
            what: "ticket count",
        })?;
        let view = self.view()?;
        let id = self.sender.start_session(*params);
        let payment = self.sender.create_payment(&id, n, &view)?;
        let value = ev.checked_mul(U256::from(n)).map_err(PmError::from)?;
        Ok(Some(SegmentPayment {
            payment,
            tickets: n,
            value,
        }))
    }

    /// The orchestrator accepted the upload: the tickets count as credit.
    pub fn credit(
        &self,
        orch: Address,
        scope: &Scope,
        value: Wei,
        price: PricePerUnit,
    ) -> Result<(), NodeError> {
        self.balances.credit(
            &scope.account(orch),
            value,
            price,
            std::time::Instant::now(),
        )?;
        Ok(())
    }

    /// The orchestrator reported `units` of work: debit them at the account's price.
    pub fn debit(
        &self,
        orch: Address,
        scope: &Scope,
        units: u64,
        price: PricePerUnit,
    ) -> Result<(), NodeError> {
        self.balances.debit_units(
            &scope.account(orch),
            units,
            price,
            std::time::Instant::now(),
        )?;
        Ok(())
    }

    /// `(magnitude, negative)` of an account's credit.
    pub fn balance(&self, orch: Address, scope: &Scope) -> (Wei, bool) {
        self.balances.balance(&scope.account(orch))
    }
}
