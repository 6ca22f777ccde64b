//! The payment fault cases of docs/faults.md#fault-cases that can be shown without a
//! chain, one named test each (`cNN_…` = case NN there), plus the node money invariants
//! N1–N9 (see docs/faults.md#node-money-invariants) that the store and queue enforce. Payments
//! travel the real wire path: the gateway's `Payment` is base64-encoded into a `Livepeer-Payment`
//! header and decoded by the orchestrator's HTTP codec. The chain is [`MemoryBroker`], a model of
//! the TicketBroker's rules; the anvil versions of the chain-dependent cases come with the
//! contract.
//!
//! Files: this one is the harness (an orchestrator over the model chain, a gateway, signed
//! payments); `receive.rs` holds #1–#11, what a payment must pass before any credit;
//! `queue.rs` the durable queue and its redemptions (#12–#19, #29, N1–N9, and #7 found
//! while redeeming); `model.rs` the validator checked against a reference model.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

mod model;
mod queue;
mod receive;

use crate::{
    AccountKey, ChainView, PaymentBatch, PmError, PricePerPixel, PriceProto, Recipient,
    RecipientConfig, Redeemer, RedeemerConfig, Scope, Sender, SenderChainView, SenderConfig,
    SenderInfo, SenderMonitor, Store, TicketParams,
    recipient::recipient_rand,
    redeemer::{Step, Wait},
    store::{Terminal, TicketState},
    testing::{MemoryBroker, funded, wei},
    ticket::MAX_WIN_PROB,
};
use alloy_primitives::{Address, U256};
use reel_net::{EthSigner, http, proto};
use reel_types::Wei;
use std::{path::PathBuf, sync::Arc};

/// The capability the catalogue's payments are for (any id will do: balances only key by it).
const CAP: u32 = 1;
const ORCH_KEY: [u8; 32] = [0x0b; 32];
const GW_KEY: [u8; 32] = [0x0c; 32];

/// An orchestrator with its store, recipient, monitor and redeemer over a model chain.
struct Orch {
    _dir: tempfile::TempDir,
    path: PathBuf,
    store: Arc<Store>,
    recipient: Recipient,
    monitor: Arc<SenderMonitor>,
    broker: Arc<MemoryBroker>,
    redeemer: Redeemer<MemoryBroker>,
    cfg: RecipientConfig,
}

fn addr(key: [u8; 32]) -> Address {
    EthSigner::from_bytes(&key).unwrap().address()
}

impl Orch {
    fn new(cfg: RecipientConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pm.sqlite");
        let broker = Arc::new(MemoryBroker::new(addr(ORCH_KEY)));
        broker.set_sender(addr(GW_KEY), funded(Wei::from_whole(1), Wei::from_whole(1)));
        Self::open(dir, path, broker, cfg)
    }

    fn open(
        dir: tempfile::TempDir,
        path: PathBuf,
        broker: Arc<MemoryBroker>,
        cfg: RecipientConfig,
    ) -> Self {
        let store = Arc::new(Store::open(&path).unwrap());
        let me = addr(ORCH_KEY);
        let recipient = Recipient::new(me, store.clone(), cfg.clone(), broker.block()).unwrap();
        let monitor = Arc::new(SenderMonitor::new(me, 1));
        let redeemer = Redeemer::new(
            store.clone(),
            broker.clone(),
            monitor.clone(),
            me,
            RedeemerConfig::default(),
        );
        Self {
            _dir: dir,
            path,
            store,
            recipient,
            monitor,
            broker,
            redeemer,
            cfg,
        }
    }

    /// Simulates a process restart: everything in memory is dropped, the store reopened.
    fn restart(self) -> Self {
        let Orch {
            _dir,
            path,
            broker,
            cfg,
            ..
        } = self;
        Self::open(_dir, path, broker, cfg)
    }

    fn view(&self) -> ChainView {
        ChainView {
            last_block: self.broker.block(),
            current_round: self.broker.round(),
            expiration: crate::ExpirationParams {
                creation_round: self.broker.round(),
                creation_round_block_hash: alloy_primitives::B256::repeat_byte(
                    self.broker.round() as u8
                ),
            },
            gas_price: wei(1_000_000_000),
        }
    }

    async fn params(&self, price: PricePerPixel) -> TicketParams {
        self.monitor
            .refresh(&*self.broker, addr(GW_KEY))
            .await
            .unwrap();
        let mf = self.monitor.max_float(addr(GW_KEY)).unwrap();
        self.recipient
            .issue_params(addr(GW_KEY), price, mf, &self.view())
            .unwrap()
    }

    fn sender_info(&self) -> SenderInfo {
        self.broker.sender(addr(GW_KEY))
    }

    /// Receives a payment exactly as the HTTP handler would: header → decode → batch.
    fn receive(
        &self,
        payment: &proto::Payment,
        session: &str,
    ) -> Result<crate::PaymentOutcome, PmError> {
        let headers = http::segment_request_headers(
            &proto::SegData::default(),
            payment,
            http::BodyKind::Inline,
        );
        let decoded = http::parse_payment_header(&headers, &http::Limits::default())
            .unwrap()
            .unwrap();
        let batch = PaymentBatch::from_proto(&decoded, self.cfg.max_tickets_per_payment)?;
        self.recipient.receive_payment(
            &batch,
            &Scope::new(CAP, session),
            &self.view(),
            &self.sender_info(),
        )
    }
}

fn gateway() -> Sender {
    Sender::new(
        EthSigner::from_bytes(&GW_KEY).unwrap(),
        SenderConfig::default(),
    )
}

fn gw_view(o: &Orch) -> SenderChainView {
    SenderChainView {
        last_block: o.broker.block(),
        current_round: o.broker.round(),
        own: o.sender_info(),
        gas_price: wei(1_000_000_000),
    }
}

/// Config with a small EV so a funded test gateway passes its own limits.
fn cfg() -> RecipientConfig {
    RecipientConfig {
        ticket_ev: wei(1_000_000_000_000),
        ..RecipientConfig::default()
    }
}

fn price() -> PricePerPixel {
    PricePerPixel::from_wei_per_unit(1)
}

/// Signs the payment for explicit nonces (bypassing the sender's counter, as an attacker would).
fn payment_with_nonces(p: &TicketParams, key: [u8; 32], nonces: &[u32]) -> proto::Payment {
    let signer = EthSigner::from_bytes(&key).unwrap();
    proto::Payment {
        ticket_params: Some(p.to_proto()),
        sender: addr(GW_KEY).to_vec(),
        expiration_params: Some(p.expiration.to_proto()),
        ticket_sender_params: nonces
            .iter()
            .map(|n| proto::TicketSenderParams {
                sender_nonce: *n,
                sig: p.ticket(addr(GW_KEY), *n).sign(&signer).to_vec(),
            })
            .collect(),
        expected_price: Some(p.price.to_proto().unwrap()),
    }
}
/// An orchestrator whose tickets always win (fv == EV) and whose gateway is well funded.
fn winner_orch() -> Orch {
    let fv = wei(2_000_000_000_000_000);
    Orch::new(RecipientConfig {
        ticket_ev: fv,
        max_face_value: Some(fv),
        ..RecipientConfig::default()
    })
}

/// A [`winner_orch`] holding a stored winning ticket per nonce, mined past the params'
/// expiry so that the redeemer sends them (see docs/faults.md#n4-reveal-late); and those params.
async fn winners_due(nonces: &[u32]) -> (Orch, TicketParams) {
    let o = winner_orch();
    let p = o.params(price()).await;
    o.receive(&payment_with_nonces(&p, GW_KEY, nonces), "s")
        .unwrap();
    o.broker.advance_blocks(40);
    (o, p)
}
