use super::*;
use crate::testing::{signed_ticket, temp_store};
use alloy_primitives::U256;
use reel_types::Wei;

#[test]
fn secret_is_created_once_and_survives_reopen() {
    let (dir, store) = temp_store();
    let s1 = store.recipient_secret().unwrap();
    assert_eq!(store.recipient_secret().unwrap(), s1);
    drop(store);
    let again = Store::open(&dir.path().join("pm.sqlite")).unwrap();
    assert_eq!(again.recipient_secret().unwrap(), s1);
    assert_ne!(s1, [0u8; 32]);
}

#[test]
fn winners_round_trip_and_final_states_are_final() {
    let (_dir, store) = temp_store();
    let w = NewWinner {
        signed: signed_ticket(1),
        params_expiration_block: 140,
    };
    let ids = store
        .commit_payment(
            &[SeenNonce {
                rand_hash: w.signed.ticket.recipient_rand_hash,
                nonce: 1,
                expiration_block: 140,
            }],
            std::slice::from_ref(&w),
            1000,
        )
        .unwrap();
    let got = store.get(ids[0]).unwrap().unwrap();
    assert_eq!(got.signed, w.signed);
    assert_eq!(got.state, TicketState::Pending);
    assert_eq!(got.params_expiration_block, 140);

    // The same ticket cannot be stored twice.
    assert!(
        store
            .commit_payment(&[], std::slice::from_ref(&w), 1001)
            .is_err()
    );
    // A zero tx hash is refused by the schema.
    assert!(
        store
            .finish(
                ids[0],
                &Terminal::Redeemed {
                    tx_hash: B256::ZERO,
                    block: 5
                },
                1002
            )
            .is_err()
    );
    let tx = StoredTx {
        tx_hash: B256::repeat_byte(9),
        tx_nonce: 3,
        gas_price: Wei::from_base_units(U256::from(10)),
        raw: vec![1, 2, 3],
        sent_at: 1003,
    };
    store.record_tx(ids[0], &tx).unwrap();
    assert_eq!(store.txs(ids[0]).unwrap(), vec![tx]);
    let got = store.get(ids[0]).unwrap().unwrap();
    assert_eq!((got.state, got.attempts), (TicketState::Submitted, 1));
    store
        .finish(
            ids[0],
            &Terminal::Redeemed {
                tx_hash: B256::repeat_byte(9),
                block: 77,
            },
            1004,
        )
        .unwrap();
    // N2 (see docs/faults.md#n2-every-winner-ends-in-one-final-state): exactly once.
    for again in [
        Terminal::UsedOnChain,
        Terminal::Expired,
        Terminal::Invalid { reason: "x".into() },
    ] {
        assert_eq!(
            store.finish(ids[0], &again, 1005),
            Err(PmError::AlreadyFinal { id: ids[0] })
        );
    }
    assert!(store.back_to_pending(ids[0], "x", 1006).is_err());
    assert!(
        store
            .record_tx(
                ids[0],
                &StoredTx {
                    tx_hash: B256::repeat_byte(8),
                    ..store.txs(ids[0]).unwrap()[0].clone()
                }
            )
            .is_err()
    );
    let got = store.get(ids[0]).unwrap().unwrap();
    assert_eq!(got.state, TicketState::Redeemed);
    assert_eq!(got.block_number, Some(77));
    assert_eq!(store.counts().unwrap().redeemed, 1);
    assert!(store.unfinished().unwrap().is_empty());

    // Recently redeemed, and reopened when the chain lost the redemption: in flight again
    // with its transaction kept; only a redeemed ticket reopens.
    assert_eq!(store.redeemed_since(1004).unwrap().len(), 1);
    assert!(store.redeemed_since(1005).unwrap().is_empty());
    store.reopen(ids[0], 1007).unwrap();
    let got = store.get(ids[0]).unwrap().unwrap();
    assert_eq!(
        (got.state, got.tx_hash, got.block_number),
        (TicketState::Submitted, None, None)
    );
    assert_eq!(got.reason.as_deref(), Some(super::queue::ROLLED_BACK));
    assert_eq!(store.txs(ids[0]).unwrap().len(), 1);
    assert_eq!(store.unfinished().unwrap().len(), 1);
    assert_eq!(
        store.reopen(ids[0], 1008),
        Err(PmError::AlreadyFinal { id: ids[0] })
    );
}

/// A payment of `n` always-winning tickets, as the recipient would commit it.
fn winners(n: u32) -> (Vec<SeenNonce>, Vec<NewWinner>) {
    (1..=n)
        .map(|nonce| {
            let signed = signed_ticket(nonce);
            (
                SeenNonce {
                    rand_hash: signed.ticket.recipient_rand_hash,
                    nonce,
                    expiration_block: 140,
                },
                NewWinner {
                    signed,
                    params_expiration_block: 140,
                },
            )
        })
        .unzip()
}

#[test]
fn c29_a_full_database_refuses_the_commit_and_health_is_red_until_room_returns() {
    let (_dir, store) = temp_store();
    assert!(store.health().is_healthy());
    store.probe(10).unwrap();
    // The file may not grow any more: as on a full disk.
    let pages = store.page_count().unwrap();
    assert_eq!(store.set_max_page_count(Some(1)).unwrap(), pages);
    let (nonces, tickets) = winners(30);
    let err = store.commit_payment(&nonces, &tickets, 11).unwrap_err();
    assert!(
        matches!(
            err,
            PmError::StoreUnavailable {
                fault: StoreFault::Full,
                op: "store ticket" | "commit payment",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_store_unavailable() && err.retry_after().is_some());
    assert!(err.to_string().contains("disk or database full"), "{err}");
    // Nothing half-written.
    assert_eq!(store.counts().unwrap().total(), 0);
    assert!(store.live_nonces(0).unwrap().is_empty());
    let h = store.health();
    let f = h.failure.clone().unwrap();
    assert_eq!((f.fault, h.failed_writes), (StoreFault::Full, 1));
    // The probe asks for room too: still red.
    assert!(store.probe(12).is_err());
    assert!(!store.health().is_healthy());
    // Room again: the probe turns it green and the same tickets are stored, once.
    store.set_max_page_count(None).unwrap();
    store.probe(13).unwrap();
    assert!(store.health().is_healthy());
    assert!(store.health().last_ok_write.is_some());
    assert_eq!(
        store.commit_payment(&nonces, &tickets, 14).unwrap().len(),
        30
    );
    assert_eq!(store.counts().unwrap().pending, 30);
    // A duplicate is the data's fault, not the store's: health stays green.
    let dup = store.commit_payment(&nonces, &tickets, 15).unwrap_err();
    assert!(matches!(dup, PmError::Store { .. }), "{dup:?}");
    assert!(store.health().is_healthy());
}

#[test]
fn c29_a_database_locked_by_another_process_is_busy_after_the_timeout() {
    let (dir, store) = temp_store();
    store.set_busy_timeout(Duration::from_millis(50)).unwrap();
    let side = Connection::open(dir.path().join("pm.sqlite")).unwrap();
    side.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let (nonces, tickets) = winners(2);
    let t0 = std::time::Instant::now();
    let err = store.commit_payment(&nonces, &tickets, 1).unwrap_err();
    assert!(t0.elapsed() >= Duration::from_millis(50), "waited first");
    assert!(
        matches!(
            err,
            PmError::StoreUnavailable {
                fault: StoreFault::Busy,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        store.health().failure.map(|f| f.fault),
        Some(StoreFault::Busy)
    );
    // Reads still work while another process writes (WAL).
    assert_eq!(store.counts().unwrap().total(), 0);
    assert!(store.probe(2).is_err());
    side.execute_batch("COMMIT").unwrap();
    assert_eq!(store.commit_payment(&nonces, &tickets, 3).unwrap().len(), 2);
    assert!(store.health().is_healthy());
    assert_eq!(store.health().failed_writes, 2);
}

#[test]
fn nonces_survive_and_prune() {
    let (dir, store) = temp_store();
    let n = |nonce, exp| SeenNonce {
        rand_hash: B256::repeat_byte(1),
        nonce,
        expiration_block: exp,
    };
    store
        .commit_payment(
            &[n(1, 100), n(2, 100), n(1, 200)].map(|mut x| {
                if x.expiration_block == 200 {
                    x.rand_hash = B256::repeat_byte(2);
                }
                x
            }),
            &[],
            0,
        )
        .unwrap();
    // Duplicate nonce for the same params: the whole commit fails, nothing half-written.
    assert!(
        store
            .commit_payment(&[n(3, 100), n(1, 100)], &[], 0)
            .is_err()
    );
    drop(store);
    let store = Store::open(&dir.path().join("pm.sqlite")).unwrap();
    let mut live = store.live_nonces(99).unwrap();
    live.sort_by_key(|x| (x.expiration_block, x.nonce));
    assert_eq!(live.len(), 3);
    assert_eq!(store.live_nonces(100).unwrap().len(), 1);
    assert_eq!(store.prune_nonces(100).unwrap(), 2);
    assert_eq!(store.live_nonces(0).unwrap().len(), 1);
}
