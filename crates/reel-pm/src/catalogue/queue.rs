//! The durable queue and its redemptions: docs/faults.md#winners-are-stored-before-credit,
//! #crash-around-a-redemption-broadcast, #gas-above-the-cap, #gas-spikes-and-a-zero-gas-price,
//! #front-running-draining-and-dust-griefing, #third-party-unlock-cancels-and-forced-delegation,
//! #rpc-outages-and-chain-reorganisations, #stuck-redemptions, #ticket-store-unavailable,
//! #tickets-too-old-for-the-chain found while redeeming, and the invariants N1–N9 (see
//! docs/faults.md#node-money-invariants).

use super::*;

// --- the durable queue (docs/faults.md cases 12, 13; N1–N4, N9) --------------------------------

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
