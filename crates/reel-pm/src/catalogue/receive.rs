//! Replayed tickets and nonces (see docs/faults.md#replayed-tickets-and-nonces,
//! #forged-and-malleable-signatures, #params-the-orchestrator-did-not-issue,
//! #bytes-moved-between-hmac-fields, #expired-ticket-params, #params-with-a-zero-or-far-expiration,
//! #tickets-too-old-for-the-chain, #sender-unlocking, #underfunded-sender,
//! #segment-without-enough-payment, #malicious-ticket-params): what a payment must pass before
//! anything is credited.

use super::*;

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
