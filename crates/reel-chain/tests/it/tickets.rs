//! reel-pm's tickets against the real TicketBroker: the Rust hash equals `getTicketHash` for
//! random tickets, and a ticket signed in Rust redeems on chain through the chain-backed
//! broker, paying its face value to the wei exactly once.

use alloy::{
    primitives::{Address, B256, U256, keccak256},
    providers::Provider,
    signers::local::PrivateKeySigner,
};
use reel_chain::{
    ChainConfig, Devnet, DevnetOptions, Protocol,
    broker::{ChainTicketBroker, to_contract_ticket},
};
use reel_contracts::livepeer::ITicketBroker;
use reel_net::sig::EthSigner;
use reel_pm::{
    ExpirationParams, SignedTicket, Ticket, TicketBroker,
    ticket::{MAX_WIN_PROB, recipient_rand_hash},
};
use reel_testkit::Wait;
use reel_types::{Lpt, Ppm, Wei};

/// A deterministic pseudo-random 32-byte value per (case, field).
fn rnd(case: u64, field: &str) -> B256 {
    keccak256(format!("{case}/{field}"))
}

#[tokio::test]
async fn rust_ticket_hash_equals_get_ticket_hash() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let devnet = Devnet::start(DevnetOptions::ephemeral(dir.path(), 3)).await?;
    let f = devnet.file().clone();
    let provider = reel_chain::connect(&f.rpc_url)?;
    let broker = ITicketBroker::new(f.contracts.ticket_broker, &provider);
    for case in 0..64u64 {
        let word = |name| U256::from_be_bytes(rnd(case, name).0);
        let ticket = Ticket {
            recipient: Address::from_slice(&rnd(case, "recipient")[..20]),
            sender: Address::from_slice(&rnd(case, "sender")[..20]),
            // Mix small and full-width values so every byte position is exercised.
            face_value: Wei::from_base_units(if case % 2 == 0 {
                word("fv")
            } else {
                U256::from(case)
            }),
            win_prob: if case % 3 == 0 { U256::MAX } else { word("wp") },
            sender_nonce: u32::try_from(word("nonce") % U256::from(u32::MAX))?,
            recipient_rand_hash: rnd(case, "rrh"),
            // Every 4th ticket has no expiration params: the 168-byte preimage.
            expiration: if case % 4 == 0 {
                ExpirationParams {
                    creation_round: 0,
                    creation_round_block_hash: B256::ZERO,
                }
            } else {
                ExpirationParams {
                    creation_round: case * 1000,
                    creation_round_block_hash: rnd(case, "blockhash"),
                }
            },
        };
        let on_chain = broker
            .getTicketHash(to_contract_ticket(&ticket))
            .call()
            .await?;
        assert_eq!(ticket.hash(), on_chain, "case {case}: {ticket:?}");
    }
    devnet.shutdown().await?;
    Ok(())
}

/// anvil mines right after accepting a transaction, but a moment later: poll like the queue.
async fn wait_receipt(
    broker: &ChainTicketBroker,
    tx: B256,
) -> anyhow::Result<reel_pm::broker::Receipt> {
    let receipt = Wait::new(
        format!("{tx} to be mined"),
        std::time::Duration::from_secs(5),
    )
    .every(std::time::Duration::from_millis(20))
    .until(async || broker.receipt(tx).await.transpose())
    .await?;
    Ok(receipt?)
}

#[tokio::test]
async fn a_rust_signed_winning_ticket_redeems_once_for_its_face_value() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let devnet = Devnet::start(DevnetOptions::ephemeral(dir.path(), 3)).await?;
    let f = devnet.file().clone();
    let config = ChainConfig {
        rpc_url: f.rpc_url.clone(),
        chain_id: f.chain_id,
        controller: f.contracts.controller,
    };
    let orch_key = PrivateKeySigner::from_bytes(&f.accounts[1].private_key)?;
    let sender_key = f.accounts[2].private_key;
    let orch = Protocol::connect(&config, Some(orch_key.clone())).await?;
    let sender =
        Protocol::connect(&config, Some(PrivateKeySigner::from_bytes(&sender_key)?)).await?;
    let (orch_addr, sender_addr) = (orch.from()?, sender.from()?);

    // An active orchestrator that keeps all fees (fee share 0), and a funded sender.
    orch.bond(Lpt::from_whole(100), orch_addr).await?;
    orch.set_transcoder(Ppm::default(), Ppm::default()).await?;
    devnet.mine_to_next_round().await?;
    orch.initialize_round().await?;
    assert!(orch.transcoder(orch_addr).await?.active);
    let deposit = Wei::parse_decimal("1.5")?;
    let tb = ITicketBroker::new(f.contracts.ticket_broker, sender.provider());
    sender
        .send(
            "fund deposit",
            tb.fundDepositAndReserve(deposit.base_units(), U256::ZERO)
                .value(deposit.base_units()),
        )
        .await?;

    let broker = ChainTicketBroker::connect(&config, orch_key.clone(), Wei::ZERO).await?;
    let state = broker.chain_state().await?;
    let block_hash =
        reel_contracts::livepeer::IRoundsManager::new(f.contracts.rounds_manager, orch.provider())
            .blockHashForRound(U256::from(state.current_round))
            .call()
            .await?;
    let rand = U256::from(0xdecafu64);
    let face_value = Wei::parse_decimal("0.25")?;
    let ticket = Ticket {
        recipient: orch_addr,
        sender: sender_addr,
        face_value,
        win_prob: MAX_WIN_PROB,
        sender_nonce: 1,
        recipient_rand_hash: recipient_rand_hash(rand),
        expiration: ExpirationParams {
            creation_round: state.current_round,
            creation_round_block_hash: block_hash,
        },
    };
    let signer = EthSigner::from_bytes(&sender_key.0)?;
    let signed = SignedTicket {
        sig: ticket.sign(&signer),
        ticket,
        recipient_rand: rand,
    };
    assert!(!broker.is_used_ticket(signed.hash()).await?);

    let fees_before = orch.delegator(orch_addr).await?.pending_fees;
    let tx = broker
        .prepare_redeem(&signed, broker.gas_price().await?, None)
        .await?;
    // Prepared but not sent: nothing happened on chain yet.
    assert!(broker.receipt(tx.tx_hash).await?.is_none());
    broker.broadcast(&tx).await?;
    broker.broadcast(&tx).await?; // the same bytes again, as after a crash: harmless
    let receipt = wait_receipt(&broker, tx.tx_hash).await?;
    assert!(receipt.success, "{receipt:?}");
    assert!(broker.is_used_ticket(signed.hash()).await?);

    let fees_after = orch.delegator(orch_addr).await?.pending_fees;
    assert_eq!(
        fees_after.checked_sub(fees_before)?,
        face_value,
        "fees booked = face value, to the wei"
    );
    let info = broker.sender_info(sender_addr).await?;
    assert_eq!(
        info.deposit,
        deposit.checked_sub(face_value)?,
        "deposit reduced by exactly the face value"
    );

    // A second redemption is refused in the contract's words, before anything is signed.
    let err = broker
        .prepare_redeem(&signed, broker.gas_price().await?, None)
        .await
        .expect_err("used");
    assert!(
        matches!(&err, reel_pm::PmError::Revert { reason } if reason == "ticket is used"),
        "{err:?}"
    );
    assert_eq!(err.disposition(), reel_pm::broker::Disposition::Used);

    // Another transaction from the same account takes the nonce a prepared redemption
    // held (the keeper shares the orchestrator's account): that broadcast fails, and the
    // next redemption uses a fresh nonce instead of stalling behind a gap.
    let mut second = signed.clone();
    second.ticket.sender_nonce = 3;
    second.sig = second.ticket.sign(&signer);
    let stale = broker
        .prepare_redeem(&second, broker.gas_price().await?, None)
        .await?;
    // The other transaction signs with the same key through its own provider (another
    // process, as far as the broker's sender knows).
    let other_process = reel_chain::connect_with_signer(&config.rpc_url, orch_key.clone())?;
    let other = other_process.send_transaction(
        alloy::rpc::types::TransactionRequest::default()
            .to(sender_addr)
            .value(U256::from(1u64))
            .nonce(stale.tx_nonce),
    );
    other.await?.get_receipt().await?;
    assert!(
        broker.broadcast(&stale).await.is_err(),
        "nonce already used"
    );
    let fresh = broker
        .prepare_redeem(&second, broker.gas_price().await?, None)
        .await?;
    assert_eq!(fresh.tx_nonce, stale.tx_nonce + 1);
    broker.broadcast(&fresh).await?;
    assert!(wait_receipt(&broker, fresh.tx_hash).await?.success);
    assert!(broker.is_used_ticket(second.hash()).await?);

    // A ticket with a forged signature never redeems.
    let mut forged = signed.clone();
    forged.ticket.sender_nonce = 2;
    let err = broker
        .prepare_redeem(&forged, broker.gas_price().await?, None)
        .await
        .expect_err("bad sig");
    assert!(
        matches!(&err, reel_pm::PmError::Revert { reason } if reason == "invalid signature over ticket hash"),
        "{err:?}"
    );
    devnet.shutdown().await?;
    Ok(())
}
