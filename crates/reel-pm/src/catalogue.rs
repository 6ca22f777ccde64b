//! The payment fault cases of docs/faults.md#fault-cases that can be shown without a
//! chain, one named test each (`cNN_…` = case NN there), plus the node money invariants
//! N1–N9 (see docs/faults.md#node-money-invariants) that the store and queue enforce. Payments
//! travel the real wire path: the gateway's `Payment` is base64-encoded into a `Livepeer-Payment`
//! header and decoded by the orchestrator's HTTP codec. The chain is [`MemoryBroker`], a model of
//! the TicketBroker's rules; the anvil versions of the chain-dependent cases come with the
//! contract.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

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

// --- replay (docs/faults.md case 1) -------------------------------------------------------

#[tokio::test]
async fn c01_replayed_payment_is_not_credited_twice() {
    let o = Orch::new(cfg());
    let gw = gateway();
    let p = o.params(price()).await;
    let session = gw.start_session(p);
    let pay = gw.create_payment(&session, 3, &gw_view(&o)).unwrap();
    let first = o.receive(&pay, "s").unwrap();
    assert_eq!(first.accepted, 3);
    assert_eq!(first.credited, p.ev().checked_mul(U256::from(3)).unwrap());
    let again = o.receive(&pay, "s").unwrap();
    assert_eq!(again.accepted, 0);
    assert_eq!(again.credited, Wei::ZERO);
    assert!(
        again
            .rejected
            .iter()
            .all(|r| matches!(r.error, PmError::NonceReplay { .. }))
    );
    let (bal, neg) = o
        .recipient
        .balances()
        .balance(&AccountKey::new(addr(GW_KEY), CAP, "s"));
    assert_eq!(
        (bal, neg),
        (first.credited, false),
        "credited once, to the wei"
    );
}

#[tokio::test]
async fn c01_out_of_order_nonces_are_accepted() {
    let o = Orch::new(cfg());
    let p = o.params(price()).await;
    for n in [5u32, 3, 4] {
        let out = o
            .receive(&payment_with_nonces(&p, GW_KEY, &[n]), "s")
            .unwrap();
        assert_eq!(out.accepted, 1, "nonce {n}");
    }
    let dup = o
        .receive(&payment_with_nonces(&p, GW_KEY, &[4]), "s")
        .unwrap();
    assert_eq!(dup.rejected[0].error, PmError::NonceReplay { nonce: 4 });
}

#[tokio::test]
async fn c01_nonce_601_on_one_params_set_is_refused() {
    let o = Orch::new(cfg());
    let p = o.params(price()).await;
    let nonces: Vec<u32> = (1..=600).collect();
    for chunk in nonces.chunks(100) {
        let out = o
            .receive(&payment_with_nonces(&p, GW_KEY, chunk), "s")
            .unwrap();
        assert_eq!(out.accepted, 100);
    }
    let out = o
        .receive(&payment_with_nonces(&p, GW_KEY, &[601]), "s")
        .unwrap();
    assert_eq!(out.accepted, 0);
    assert_eq!(out.rejected[0].error, PmError::TooManyNonces { max: 600 });
    assert!(out.rejected[0].error.should_refresh_params());
}

// --- forged and odd signatures (docs/faults.md case 2) ---------------------------------------

#[tokio::test]
async fn c02_ticket_signed_by_another_key_is_refused() {
    let o = Orch::new(cfg());
    let p = o.params(price()).await;
    let out = o
        .receive(&payment_with_nonces(&p, [0x77; 32], &[1]), "s")
        .unwrap();
    assert_eq!(out.accepted, 0);
    assert!(matches!(out.rejected[0].error, PmError::WrongSigner { .. }));
    assert_eq!(out.credited, Wei::ZERO);
}

#[tokio::test]
async fn c02_malleable_high_s_signature_is_refused() {
    let o = Orch::new(cfg());
    let p = o.params(price()).await;
    let mut pay = payment_with_nonces(&p, GW_KEY, &[1]);
    let sig = &mut pay.ticket_sender_params[0].sig;
    // (r, n − s, v ^ 1) recovers the same key, but the contract refuses it: so must we.
    let n = U256::from_str_radix(
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
        16,
    )
    .unwrap();
    let s = U256::from_be_slice(&sig[32..64]);
    sig[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
    sig[64] = if sig[64] == 27 { 28 } else { 27 };
    let out = o.receive(&pay, "s").unwrap();
    assert_eq!(
        out.rejected[0].error,
        PmError::InvalidSignature {
            reason: reel_net::SignatureError::HighS
        }
    );
    assert_eq!(out.accepted, 0);
}

#[tokio::test]
async fn c02_truncated_long_and_bad_v_signatures_are_refused() {
    let o = Orch::new(cfg());
    let p = o.params(price()).await;
    let good = payment_with_nonces(&p, GW_KEY, &[1, 2, 3, 4]);
    let mut pay = good.clone();
    pay.ticket_sender_params[0].sig.truncate(64);
    pay.ticket_sender_params[1].sig.push(0);
    pay.ticket_sender_params[2].sig[64] -= 27; // v ∈ {0, 1}: clients must send 27/28
    let out = o.receive(&pay, "s").unwrap();
    assert_eq!(out.accepted, 1, "only the untouched ticket");
    assert!(matches!(
        out.rejected[0].error,
        PmError::InvalidSignature {
            reason: reel_net::SignatureError::Length { len: 64 }
        }
    ));
    assert!(matches!(
        out.rejected[1].error,
        PmError::InvalidSignature {
            reason: reel_net::SignatureError::Length { len: 66 }
        }
    ));
    assert!(matches!(
        out.rejected[2].error,
        PmError::InvalidSignature {
            reason: reel_net::SignatureError::V { .. }
        }
    ));
    // A refused ticket's nonce is not burnt: the good signature for it is still accepted.
    let retry = proto::Payment {
        ticket_sender_params: vec![good.ticket_sender_params[0].clone()],
        ..good
    };
    assert_eq!(o.receive(&retry, "s").unwrap().accepted, 1);
}

// --- params not issued by this orchestrator (docs/faults.md case 3) ------------------------

#[tokio::test]
async fn c03_params_from_before_a_restart_stay_valid_and_replays_stay_refused() {
    let o = Orch::new(cfg());
    let p = o.params(price()).await;
    let pay = payment_with_nonces(&p, GW_KEY, &[1, 2]);
    assert_eq!(o.receive(&pay, "s").unwrap().accepted, 2);
    let o = o.restart();
    // The secret survived: the same params still verify...
    let more = o
        .receive(&payment_with_nonces(&p, GW_KEY, &[3]), "s")
        .unwrap();
    assert_eq!(more.accepted, 1);
    // ...and so did the nonces (see docs/faults.md#n5-nonces-are-as-durable-as-the-secret): the
    // pre-restart payment is not credited again.
    let replay = o.receive(&pay, "s").unwrap();
    assert_eq!(replay.accepted, 0);
    assert!(matches!(
        replay.rejected[0].error,
        PmError::NonceReplay { .. }
    ));
}

#[tokio::test]
async fn c03_params_under_another_secret_are_refused_as_a_whole() {
    let o = Orch::new(cfg());
    let p = o.params(price()).await;
    // A different node state (new store → new secret) did not issue these params.
    let other = Orch::new(cfg());
    let err = other
        .receive(&payment_with_nonces(&p, GW_KEY, &[1]), "s")
        .unwrap_err();
    assert_eq!(err, PmError::RecipientRandMismatch);
    assert!(err.is_fatal() && err.should_refresh_params());
}

#[tokio::test]
async fn c03_wrong_recipient_and_zero_sender_are_fatal() {
    let o = Orch::new(cfg());
    let mut p = o.params(price()).await;
    p.recipient = Address::repeat_byte(0x99);
    let err = o
        .receive(&payment_with_nonces(&p, GW_KEY, &[1]), "s")
        .unwrap_err();
    assert!(matches!(err, PmError::WrongRecipient { .. }));
    let p = o.params(price()).await;
    let mut pay = payment_with_nonces(&p, GW_KEY, &[1]);
    pay.sender = vec![0; 20];
    assert_eq!(o.receive(&pay, "s").unwrap_err(), PmError::ZeroSender);
}

// --- fixed-width HMAC (docs/faults.md case 4) -----------------------------------------------

#[tokio::test]
async fn c04_moving_bytes_between_face_value_and_win_prob_breaks_the_rand() {
    let o = Orch::new(cfg());
    let mut p = o.params(price()).await;
    // Issue params with fv = 0x0102, wp = 0x03 ...
    p.face_value = Wei::from_base_units(U256::from(0x0102u64));
    p.win_prob = U256::from(0x03u64);
    let secret = o.store.recipient_secret().unwrap();
    p.recipient_rand_hash =
        crate::ticket::recipient_rand_hash(recipient_rand(&secret, &p, addr(GW_KEY)));
    assert_eq!(
        o.receive(&payment_with_nonces(&p, GW_KEY, &[1]), "s")
            .unwrap()
            .accepted,
        1
    );
    // ... then send fv = 0x01, wp = 0x0203 with the same commitment. With go-livepeer's
    // minimal encodings both concatenate to 01 02 03; fixed-width fields differ.
    let mut shifted = p;
    shifted.face_value = Wei::from_base_units(U256::from(0x01u64));
    shifted.win_prob = U256::from(0x0203u64);
    let go_style = |fv: &[u8], wp: &[u8]| [fv, wp].concat();
    assert_eq!(go_style(&[1, 2], &[3]), go_style(&[1], &[2, 3]));
    let err = o
        .receive(&payment_with_nonces(&shifted, GW_KEY, &[2]), "s")
        .unwrap_err();
    assert_eq!(err, PmError::RecipientRandMismatch);
}

// --- expired params (docs/faults.md case 5) ------------------------------------------------

#[tokio::test]
async fn c05_expired_params_are_not_credited_but_a_winner_is_kept() {
    let o = Orch::new(RecipientConfig {
        // Every ticket wins: fv == EV.
        max_face_value: Some(wei(1_000_000_000_000)),
        avg_gas_price: Wei::ZERO,
        ..cfg()
    });
    let p = o.params(price()).await;
    assert_eq!(p.win_prob, MAX_WIN_PROB);
    o.broker.advance_blocks(41);
    let out = o
        .receive(&payment_with_nonces(&p, GW_KEY, &[1]), "s")
        .unwrap();
    assert_eq!(out.accepted, 0);
    assert_eq!(out.credited, Wei::ZERO);
    assert!(matches!(
        out.rejected[0].error,
        PmError::TicketParamsExpired { .. }
    ));
    assert!(out.rejected[0].error.should_refresh_params());
    assert_eq!(
        out.winners, 1,
        "the winning ticket is still stored for redemption"
    );
    assert_eq!(o.store.counts().unwrap().pending, 1);
}

// --- expiration block 0 or far future (docs/faults.md case 6) ------------------------------

#[tokio::test]
async fn c06_gateway_refuses_zero_or_far_future_expiration() {
    let o = Orch::new(cfg());
    let gw = gateway();
    let mut p = o.params(price()).await;
    p.expiration_block = 0;
    assert!(matches!(
        gw.validate_params(&p, 1, &gw_view(&o)),
        Err(PmError::ParamsRejected { .. })
    ));
    p.expiration_block = o.broker.block() + 10_000;
    assert!(matches!(
        gw.validate_params(&p, 1, &gw_view(&o)),
        Err(PmError::ParamsRejected { .. })
    ));
    p.expiration_block = o.broker.block() + 1;
    assert!(matches!(
        gw.validate_params(&p, 1, &gw_view(&o)),
        Err(PmError::TicketParamsExpired { .. })
    ));
    // And this orchestrator never issues either.
    let fresh = o.params(price()).await;
    assert_eq!(fresh.expiration_block, o.broker.block() + 40);
    gw.validate_params(&fresh, 1, &gw_view(&o)).unwrap();
}

// --- ticket too old for the chain (docs/faults.md case 7) -----------------------------------

#[tokio::test]
async fn c07_ticket_too_old_for_the_chain_is_refused_before_credit() {
    let o = Orch::new(cfg());
    let p = o.params(price()).await;
    o.broker.next_round();
    o.broker.next_round();
    let err = o
        .receive(&payment_with_nonces(&p, GW_KEY, &[1]), "s")
        .unwrap_err();
    assert!(matches!(err, PmError::TicketTooOld { .. }));
    assert_eq!(o.recipient.balances().len(), 0);
    assert_eq!(o.store.counts().unwrap().total(), 0);
}

#[tokio::test]
async fn c07_stored_ticket_past_its_validity_ends_expired_without_a_transaction() {
    let o = winner_orch();
    let p = o.params(price()).await;
    o.receive(&payment_with_nonces(&p, GW_KEY, &[1]), "s")
        .unwrap();
    o.broker.next_round();
    o.broker.next_round();
    let r = o.redeemer.tick(1000).await.unwrap();
    assert_eq!(r.expired, 1);
    assert_eq!(
        o.broker.prepared(),
        0,
        "no transaction that would revert 'ticket is expired'"
    );
    assert_eq!(
        o.redeemer.tick(1001).await.unwrap(),
        Default::default(),
        "not retried"
    );
}

// --- unlocking sender (docs/faults.md case 8) -----------------------------------------------

#[tokio::test]
async fn c08_unlocking_sender_is_refused_but_held_tickets_are_still_redeemed() {
    let o = winner_orch();
    let p = o.params(price()).await;
    o.receive(&payment_with_nonces(&p, GW_KEY, &[1]), "s")
        .unwrap();
    let mut info = o.sender_info();
    info.withdraw_round = o.broker.round() + 1;
    o.broker.set_sender(addr(GW_KEY), info);
    let err = o
        .receive(&payment_with_nonces(&p, GW_KEY, &[2]), "s")
        .unwrap_err();
    assert!(matches!(err, PmError::SenderUnlocking { .. }));
    assert!(err.is_fatal());
    // Still locked until withdrawRound: the ticket held before redeems.
    o.broker.advance_blocks(41);
    let r = o.redeemer.tick(1000).await.unwrap();
    assert_eq!(r.submitted, 1);
    o.broker.mine();
    assert_eq!(o.redeemer.tick(1001).await.unwrap().redeemed, 1);
}

// --- underfunded sender (docs/faults.md case 9) ---------------------------------------------

#[tokio::test]
async fn c09_underfunded_sender_gets_a_capped_face_value_or_no_params() {
    let o = Orch::new(cfg());
    // Reserve 0.01 ETH over a pool of 2: max float 0.005 ETH caps the face value.
    o.broker.set_pool_size(2);
    o.monitor.refresh_pool_size(&*o.broker).await.unwrap();
    o.broker.set_sender(
        addr(GW_KEY),
        funded(Wei::from_whole(1), wei(10_000_000_000_000_000)),
    );
    let p = o.params(price()).await;
    assert_eq!(p.face_value, wei(5_000_000_000_000_000));
    assert!(p.ev() >= o.cfg.ticket_ev);
    // A 1-gwei reserve: no params at all.
    o.broker
        .set_sender(addr(GW_KEY), funded(Wei::from_whole(1), wei(1_000_000_000)));
    o.monitor.refresh(&*o.broker, addr(GW_KEY)).await.unwrap();
    let mf = o.monitor.max_float(addr(GW_KEY)).unwrap();
    let err = o
        .recipient
        .issue_params(addr(GW_KEY), price(), mf, &o.view())
        .unwrap_err();
    assert!(matches!(err, PmError::InsufficientSenderReserve { .. }));
    assert!(err.to_string().contains("insufficient sender reserve"));
}

// --- missing payment (docs/faults.md case 10) ------------------------------------------------

#[tokio::test]
async fn c10_segment_without_payment_gets_insufficient_balance() {
    let o = Orch::new(cfg());
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::SEGMENT_HEADER,
        http::encode_header(&proto::SegData {
            manifest_id: b"m".to_vec(),
            hash: vec![0; 32],
            ..Default::default()
        }),
    );
    let req = http::parse_segment_request(&headers, &http::Limits::default()).unwrap();
    assert_eq!(req.payment, None);
    assert!(!o.recipient.sufficient_balance(
        &AccountKey::new(addr(GW_KEY), CAP, "s"),
        &price(),
        Wei::ZERO
    ));
    assert_eq!(
        PmError::InsufficientBalance.to_string(),
        "Insufficient balance"
    );
    // A free orchestrator needs no payment.
    assert!(o.recipient.sufficient_balance(
        &AccountKey::new(addr(GW_KEY), CAP, "s"),
        &PricePerPixel::ZERO,
        Wei::ZERO
    ));
    // Too little: a payment worth less than one ticket's EV after a debit.
    let p = o.params(price()).await;
    o.receive(&payment_with_nonces(&p, GW_KEY, &[1]), "s")
        .unwrap();
    assert!(o.recipient.sufficient_balance(
        &AccountKey::new(addr(GW_KEY), CAP, "s"),
        &price(),
        Wei::ZERO
    ));
    o.recipient
        .debit(&AccountKey::new(addr(GW_KEY), CAP, "s"), 1, price())
        .unwrap();
    assert!(!o.recipient.sufficient_balance(
        &AccountKey::new(addr(GW_KEY), CAP, "s"),
        &price(),
        Wei::ZERO
    ));
}

// --- malicious orchestrator params (docs/faults.md case 11) -----------------------------------

#[tokio::test]
async fn c11_gateway_refuses_malicious_params() {
    let o = Orch::new(cfg());
    let gw = gateway();
    let good = o.params(price()).await;
    let v = gw_view(&o);
    gw.validate_params(&good, 1, &v).unwrap();
    let reject = |p: TicketParams, n: u32| {
        let e = gw.validate_params(&p, n, &v).unwrap_err();
        assert!(matches!(e, PmError::ParamsRejected { .. }), "{e:?}");
        e.to_string()
    };
    // Huge EV.
    let mut p = good;
    p.win_prob = MAX_WIN_PROB;
    assert!(reject(p, 1).contains("max ticket EV"));
    // Too many tickets for the per-payment EV limit.
    assert!(reject(good, 1000).contains("max total EV"));
    // Face value above the deposit.
    let mut p = good;
    p.face_value = Wei::from_whole(2);
    p.win_prob = U256::from(1u64) << 200;
    assert!(reject(p, 1).contains("deposit"));
    // winProb = 0 (worthless tickets) on a paid job.
    let mut p = good;
    p.win_prob = U256::ZERO;
    assert!(reject(p, 1).contains("expected value is 0"));
    // Face value below the cost of redeeming it.
    let mut p = good;
    p.face_value = wei(1_000_000);
    p.win_prob = MAX_WIN_PROB >> 8;
    assert!(reject(p, 1).contains("below the cost"));
}

// --- the durable queue (docs/faults.md cases 12, 13; N1–N4, N9) --------------------------------

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

#[tokio::test]
async fn n1_a_payment_that_cannot_be_stored_is_not_credited() {
    let o = winner_orch();
    let p = o.params(price()).await;
    // The disk fails (see docs/faults.md#ticket-store-unavailable): another process breaks the
    // ticket table.
    let side = rusqlite::Connection::open(&o.path).unwrap();
    side.execute_batch("DROP TABLE redemption_txs; DROP TABLE winning_tickets;")
        .unwrap();
    let err = o
        .receive(&payment_with_nonces(&p, GW_KEY, &[1]), "s")
        .unwrap_err();
    assert!(matches!(err, PmError::StoreUnavailable { .. }), "{err:?}");
    assert_eq!(
        o.recipient.balances().len(),
        0,
        "no credit without a stored ticket"
    );
    assert!(
        o.store.live_nonces(0).unwrap().is_empty(),
        "nothing half-written"
    );
}

// --- disk full or DB locked during a ticket write (docs/faults.md case 29) ---------------

/// Refused while `fault` holds, then, once `clear` ran, the very same payment is credited
/// exactly once, to the wei.
async fn refused_then_paid_once(
    o: &Orch,
    expect: crate::StoreFault,
    fault: impl FnOnce(),
    clear: impl FnOnce(),
) {
    let p = o.params(price()).await;
    let nonces: Vec<u32> = (1..=30).collect();
    let pay = payment_with_nonces(&p, GW_KEY, &nonces);
    let key = AccountKey::new(addr(GW_KEY), CAP, "s");
    fault();
    let err = o.receive(&pay, "s").unwrap_err();
    assert!(
        matches!(&err, PmError::StoreUnavailable { fault, .. } if *fault == expect),
        "{err:?}"
    );
    assert_eq!(o.recipient.balances().balance(&key), (Wei::ZERO, false));
    assert_eq!(o.store.counts().unwrap().total(), 0, "nothing stored");
    assert!(o.store.live_nonces(0).unwrap().is_empty());
    assert_eq!(o.store.health().failure.map(|f| f.fault), Some(expect));
    // Still red while the fault lasts: a retry is refused the same way.
    assert!(o.receive(&pay, "s").unwrap_err().is_store_unavailable());

    clear();
    let out = o.receive(&pay, "s").unwrap();
    assert_eq!((out.accepted, out.winners), (30, 30));
    let expected = p.ev().checked_mul(U256::from(30)).unwrap();
    assert_eq!(out.credited, expected);
    assert_eq!(o.recipient.balances().balance(&key), (expected, false));
    assert_eq!(o.store.counts().unwrap().pending, 30);
    assert!(o.store.health().is_healthy());
    // The nonces were released for the retry, not forgotten: a third copy is a replay.
    let again = o.receive(&pay, "s").unwrap();
    assert_eq!((again.accepted, again.credited), (0, Wei::ZERO));
    assert_eq!(o.recipient.balances().balance(&key), (expected, false));
}

#[tokio::test]
async fn c29_full_disk_refuses_the_payment_and_the_same_tickets_pay_once_after() {
    let o = winner_orch();
    refused_then_paid_once(
        &o,
        crate::StoreFault::Full,
        || {
            o.store.set_max_page_count(Some(1)).unwrap();
        },
        || {
            o.store.set_max_page_count(None).unwrap();
        },
    )
    .await;
}

#[tokio::test]
async fn c29_locked_database_refuses_the_payment_and_the_same_tickets_pay_once_after() {
    let o = winner_orch();
    o.store
        .set_busy_timeout(std::time::Duration::from_millis(50))
        .unwrap();
    let side = rusqlite::Connection::open(&o.path).unwrap();
    refused_then_paid_once(
        &o,
        crate::StoreFault::Busy,
        || side.execute_batch("BEGIN EXCLUSIVE").unwrap(),
        || side.execute_batch("COMMIT").unwrap(),
    )
    .await;
}

#[tokio::test]
async fn c12_winner_stored_before_credit_is_redeemed_once_after_restart_without_its_sender() {
    let o = winner_orch();
    let p = o.params(price()).await;
    let out = o
        .receive(&payment_with_nonces(&p, GW_KEY, &[1, 2]), "s")
        .unwrap();
    assert_eq!((out.winners, out.accepted), (2, 2));
    // Crash: the process dies; the sender never comes back.
    let o = o.restart();
    assert_eq!(o.redeemer.recover().await.unwrap(), 0);
    // N4: not before the params expire.
    let r = o.redeemer.tick(1000).await.unwrap();
    assert_eq!((r.waiting, r.submitted), (2, 0));
    o.broker.advance_blocks(40);
    assert_eq!(o.redeemer.tick(1001).await.unwrap().submitted, 2);
    o.broker.mine();
    assert_eq!(o.redeemer.tick(1002).await.unwrap().redeemed, 2);
    for t in o.store.all().unwrap() {
        assert_eq!(t.state, TicketState::Redeemed);
        assert_eq!(o.broker.redeemed_events(t.signed.hash()), 1);
        assert!(t.tx_hash.is_some_and(|h| !h.is_zero()));
    }
    assert_eq!(
        o.broker.fees(addr(ORCH_KEY)),
        p.face_value.checked_mul(U256::from(2)).unwrap(),
        "fees on chain equal the winning face values, to the wei"
    );
}

#[tokio::test]
async fn c13_crash_after_broadcast_redeems_once_and_recovery_is_idempotent() {
    let (o, p) = winners_due(&[1]).await;
    assert_eq!(o.redeemer.tick(1000).await.unwrap().submitted, 1);
    // Crash right after the broadcast, before any DB update; the tx gets mined meanwhile.
    let o = o.restart();
    assert_eq!(o.redeemer.recover().await.unwrap(), 1);
    assert_eq!(
        o.redeemer.recover().await.unwrap(),
        1,
        "N9: recovery twice is harmless"
    );
    assert_eq!(
        o.monitor.pending(addr(GW_KEY)),
        p.face_value,
        "counted once"
    );
    o.broker.mine();
    assert_eq!(o.redeemer.tick(1001).await.unwrap().redeemed, 1);
    assert_eq!(o.broker.prepared(), 1, "N3: no second transaction");
    assert_eq!(o.monitor.pending(addr(GW_KEY)), Wei::ZERO);
    let t = &o.store.all().unwrap()[0];
    assert_eq!(o.broker.redeemed_events(t.signed.hash()), 1);
}

#[tokio::test]
async fn c13_crash_after_storing_the_tx_but_before_sending_it() {
    let (o, _) = winners_due(&[1]).await;
    // The broadcast never happens (the node dies in between): the RPC call fails.
    o.broker.fail_next_broadcast(PmError::Chain {
        op: "broadcast",
        message: "connection reset".into(),
    });
    assert_eq!(o.redeemer.tick(1000).await.unwrap().submitted, 1);
    assert_eq!(o.broker.mempool_len(), 0);
    let o = o.restart();
    o.redeemer.recover().await.unwrap();
    assert_eq!(
        o.broker.mempool_len(),
        1,
        "the stored transaction was re-broadcast as is"
    );
    o.broker.mine();
    assert_eq!(o.redeemer.tick(1001).await.unwrap().redeemed, 1);
    assert_eq!(o.broker.prepared(), 1);
}

#[tokio::test]
async fn n4_a_ticket_waits_for_its_params_to_expire_and_its_round_to_be_initialized() {
    let o = winner_orch();
    let p = o.params(price()).await;
    o.receive(&payment_with_nonces(&p, GW_KEY, &[1]), "s")
        .unwrap();
    let t = o.store.unfinished().unwrap().remove(0);
    let chain = crate::TicketBroker::chain_state(&*o.broker).await.unwrap();
    assert_eq!(
        o.redeemer.step(&t, &chain, 0).await.unwrap(),
        Step::Waiting(Wait::ParamsLive)
    );
    o.broker.advance_blocks(40);
    o.broker.set_round_initialized(false);
    let chain = crate::TicketBroker::chain_state(&*o.broker).await.unwrap();
    assert_eq!(
        o.redeemer.step(&t, &chain, 0).await.unwrap(),
        Step::Waiting(Wait::RoundNotInitialized)
    );
    assert_eq!(o.broker.prepared(), 0);
}

// --- gas (docs/faults.md cases 14, 15) ---------------------------------------------------------

#[tokio::test]
async fn c14_gas_above_the_cap_leaves_the_ticket_pending_never_marked_redeemed() {
    let (o, _) = winners_due(&[1]).await;
    let capped = Redeemer::new(
        o.store.clone(),
        o.broker.clone(),
        o.monitor.clone(),
        addr(ORCH_KEY),
        RedeemerConfig {
            max_gas_price: Some(wei(500_000_000)),
            ..RedeemerConfig::default()
        },
    );
    let r = capped.tick(1000).await.unwrap();
    assert_eq!(r.waiting, 1);
    let t = &o.store.all().unwrap()[0];
    assert_eq!((t.state, t.tx_hash), (TicketState::Pending, None));
    assert_eq!(o.broker.prepared(), 0);
}

#[tokio::test]
async fn c15_gas_spike_waits_then_redeems_when_gas_falls() {
    let (o, _) = winners_due(&[1]).await;
    // 1000 gwei × 1.2M gas = 1.2 ETH ≫ 0.002 ETH face value.
    o.broker.set_gas_price(wei(1_000_000_000_000));
    let t = o.store.unfinished().unwrap().remove(0);
    let chain = crate::TicketBroker::chain_state(&*o.broker).await.unwrap();
    assert_eq!(
        o.redeemer.step(&t, &chain, 0).await.unwrap(),
        Step::Waiting(Wait::NotWorthGas)
    );
    o.broker.set_gas_price(wei(1_000_000_000));
    assert_eq!(o.redeemer.tick(1).await.unwrap().submitted, 1);
    o.broker.mine();
    assert_eq!(o.redeemer.tick(2).await.unwrap().redeemed, 1);
}

// --- front-run and drain (docs/faults.md case 16) -----------------------------------------------

#[tokio::test]
async fn c16_ticket_redeemed_by_someone_else_ends_used_on_chain() {
    let o = winner_orch();
    let p = o.params(price()).await;
    o.receive(&payment_with_nonces(&p, GW_KEY, &[1]), "s")
        .unwrap();
    let t = o.store.all().unwrap().remove(0);
    o.broker.redeem_directly(&t.signed).unwrap();
    o.broker.advance_blocks(40);
    assert_eq!(o.redeemer.tick(1).await.unwrap().used, 1);
    assert_eq!(o.broker.prepared(), 0);
}

#[tokio::test]
async fn c16_drained_sender_waits_and_is_redeemed_partially_only_in_the_last_round() {
    let (o, _) = winners_due(&[1]).await;
    // The sender drains its deposit to less than the face value; no reserve.
    o.broker
        .set_sender(addr(GW_KEY), funded(wei(1_500_000_000_000_000), Wei::ZERO));
    let t = o.store.unfinished().unwrap().remove(0);
    let chain = crate::TicketBroker::chain_state(&*o.broker).await.unwrap();
    assert_eq!(
        o.redeemer.step(&t, &chain, 0).await.unwrap(),
        Step::Waiting(Wait::Underfunded)
    );
    // Last round of validity: take what there is rather than lose it all.
    o.broker.next_round();
    assert_eq!(o.redeemer.tick(1).await.unwrap().submitted, 1);
    o.broker.mine();
    assert_eq!(o.redeemer.tick(2).await.unwrap().redeemed, 1);
    assert_eq!(o.broker.fees(addr(ORCH_KEY)), wei(1_500_000_000_000_000));
}

// --- stuck transaction (docs/faults.md case 19) -------------------------------------------------

#[tokio::test]
async fn c19_stuck_transaction_is_replaced_once_with_the_same_nonce() {
    let (o, _) = winners_due(&[1]).await;
    assert_eq!(o.redeemer.tick(1000).await.unwrap().submitted, 1);
    // Not mined for 5 minutes: replace with +11 % gas, same account nonce.
    assert_eq!(o.redeemer.tick(1299).await.unwrap().waiting, 1);
    assert_eq!(o.redeemer.tick(1300).await.unwrap().submitted, 1);
    let t = &o.store.all().unwrap()[0];
    let txs = o.store.txs(t.id).unwrap();
    assert_eq!(txs.len(), 2);
    assert_eq!(txs[0].tx_nonce, txs[1].tx_nonce);
    assert_eq!(
        txs[1].gas_price.base_units(),
        txs[0].gas_price.base_units() * U256::from(111) / U256::from(100)
    );
    // max_replacements = 1: no third transaction.
    assert_eq!(o.redeemer.tick(2000).await.unwrap().waiting, 1);
    assert_eq!(o.store.txs(t.id).unwrap().len(), 2);
    o.broker.mine();
    o.redeemer.tick(2001).await.unwrap();
    let t = &o.store.all().unwrap()[0];
    assert_eq!(t.state, TicketState::Redeemed);
    assert_eq!(
        t.tx_hash,
        Some(txs[1].tx_hash),
        "the replacement is the one mined"
    );
    assert_eq!(o.broker.redeemed_events(t.signed.hash()), 1);
}

#[tokio::test]
async fn n2_terminal_revert_is_recorded_with_its_reason_and_never_retried() {
    let (o, p) = winners_due(&[1]).await;
    o.broker.fail_next_broadcast(PmError::Revert {
        reason: "ticket creationRoundBlockHash invalid for creationRound".into(),
    });
    assert_eq!(o.redeemer.tick(1).await.unwrap().invalid, 1);
    let t = &o.store.all().unwrap()[0];
    assert_eq!(t.state, TicketState::Invalid);
    assert_eq!(
        t.reason.as_deref(),
        Some("ticket creationRoundBlockHash invalid for creationRound")
    );
    assert_eq!(o.monitor.pending(addr(GW_KEY)), Wei::ZERO);
    assert_eq!(
        o.store.finish(t.id, &Terminal::Expired, 2),
        Err(PmError::AlreadyFinal { id: t.id })
    );
    // A retryable revert goes back to pending instead.
    o.receive(&payment_with_nonces(&p, GW_KEY, &[2]), "s")
        .unwrap();
    o.broker.fail_next_broadcast(PmError::Revert {
        reason: "sender is unlocked".into(),
    });
    assert_eq!(o.redeemer.tick(3).await.unwrap().retrying, 1);
    assert_eq!(o.store.counts().unwrap().pending, 1);
}

#[tokio::test]
async fn c07_ticket_is_expired_found_while_preparing_is_terminal_without_a_transaction() {
    let (o, _) = winners_due(&[1, 2]).await;
    // The contract's own clock says expired before ours does (upstream PR #3954: never
    // retry it every block).
    o.broker.fail_next_prepare(PmError::Revert {
        reason: "ticket is expired".into(),
    });
    // Any other refusal that can change waits for the next block.
    o.broker.fail_next_prepare(PmError::Revert {
        reason: "sender deposit and reserve insufficient to cover ticket face value".into(),
    });
    let r = o.redeemer.tick(1).await.unwrap();
    assert_eq!((r.expired, r.retrying, r.submitted), (1, 1, 0));
    assert_eq!(o.broker.prepared(), 0, "nothing signed");
    let all = o.store.all().unwrap();
    assert_eq!(all[0].state, TicketState::Expired);
    assert_eq!(all[1].state, TicketState::Pending);
    assert_eq!(o.monitor.pending(addr(GW_KEY)), Wei::ZERO);
    let r = o.redeemer.tick(2).await.unwrap();
    assert_eq!(
        (r.expired, r.submitted),
        (0, 1),
        "the expired one is never retried"
    );
}

// --- the keeper on the same account (docs/faults.md N8) -----------------------------------------

#[tokio::test]
async fn n8_a_redemption_whose_nonce_another_transaction_took_is_sent_again() {
    let (o, p) = winners_due(&[1]).await;
    assert_eq!(o.redeemer.tick(1000).await.unwrap().submitted, 1);
    // The round keeper's reward() on the same account is mined with that nonce first.
    o.broker.other_tx_takes_next_nonce();
    let r = o.redeemer.tick(1001).await.unwrap();
    assert_eq!(
        r.retrying, 1,
        "not left waiting for a transaction that cannot be mined"
    );
    assert_eq!(o.monitor.pending(addr(GW_KEY)), Wei::ZERO);
    assert_eq!(o.redeemer.tick(1002).await.unwrap().submitted, 1);
    o.broker.mine();
    assert_eq!(o.redeemer.tick(1003).await.unwrap().redeemed, 1);
    let t = &o.store.all().unwrap()[0];
    let txs = o.store.txs(t.id).unwrap();
    assert_eq!(txs.len(), 2);
    assert_eq!(txs[1].tx_nonce, txs[0].tx_nonce + 1, "a fresh nonce");
    assert_eq!(t.tx_hash, Some(txs[1].tx_hash));
    assert_eq!(o.broker.redeemed_events(t.signed.hash()), 1);
    assert_eq!(o.broker.fees(addr(ORCH_KEY)), p.face_value);
}

#[tokio::test]
async fn c18_a_redemption_the_node_lost_is_broadcast_again_not_left_to_time_out() {
    let (o, p) = winners_due(&[1]).await;
    assert_eq!(o.redeemer.tick(1000).await.unwrap().submitted, 1);
    // The node restarts with an empty mempool (or a reorg drops the block).
    o.broker.drop_mempool();
    assert_eq!(o.redeemer.tick(1001).await.unwrap().waiting, 1);
    assert_eq!(o.broker.mempool_len(), 1, "the same bytes, again");
    o.broker.mine();
    assert_eq!(o.redeemer.tick(1002).await.unwrap().redeemed, 1);
    assert_eq!(o.broker.prepared(), 1, "no second transaction");
    assert_eq!(o.broker.fees(addr(ORCH_KEY)), p.face_value);
}

#[tokio::test]
async fn n2_our_redemption_mined_between_the_receipt_and_used_reads_is_redeemed_not_used() {
    let (o, p) = winners_due(&[1]).await;
    assert_eq!(o.redeemer.tick(1000).await.unwrap().submitted, 1);
    // No receipt yet when the redeemer looks; the block lands before it reads usedTickets.
    o.broker.mine_before_next_used_check();
    assert_eq!(o.redeemer.tick(1001).await.unwrap().redeemed, 1);
    let t = &o.store.all().unwrap()[0];
    assert_eq!(t.state, TicketState::Redeemed, "ours, not somebody else's");
    assert_eq!(t.tx_hash, Some(o.store.txs(t.id).unwrap()[0].tx_hash));
    assert_eq!(o.broker.redeemed_events(t.signed.hash()), 1);
    assert_eq!(o.broker.fees(addr(ORCH_KEY)), p.face_value);
    assert_eq!(o.monitor.pending(addr(GW_KEY)), Wei::ZERO);
}

// --- the validator against a reference model ----------------------------------------------------

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Any sequence of payments with any nonces (duplicates, out of order, split across
    /// payments): exactly the first occurrence of each nonce is credited, up to the cap, and
    /// the balance is that count × EV to the wei.
    #[test]
    fn validator_matches_the_reference_model(
        payments in proptest::collection::vec(
            proptest::collection::vec(1u32..40, 0..8), 1..6),
        cap in 5usize..30,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let o = Orch::new(RecipientConfig { max_nonces_per_rand: cap, ..cfg() });
        let p = rt.block_on(o.params(price()));
        let mut seen = std::collections::HashSet::new();
        let mut expected = 0u64;
        for nonces in &payments {
            let out = o.receive(&payment_with_nonces(&p, GW_KEY, nonces), "s").unwrap();
            let mut accepted = 0u32;
            for n in nonces {
                if !seen.contains(n) && seen.len() < cap {
                    seen.insert(*n);
                    accepted += 1;
                }
            }
            proptest::prop_assert_eq!(out.accepted, accepted);
            proptest::prop_assert_eq!(out.rejected.len(), nonces.len() - accepted as usize);
            expected += u64::from(accepted);
        }
        let (bal, neg) = o.recipient.balances().balance(&AccountKey::new(addr(GW_KEY), CAP, "s"));
        proptest::prop_assert!(!neg);
        proptest::prop_assert_eq!(bal, p.ev().checked_mul(U256::from(expected)).unwrap());
    }
}
