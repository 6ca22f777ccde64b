//! Ticket validation vs the raw libsecp256k1 recovery bound, **interleaved** in one loop so
//! that load from other processes on a shared machine hits both alike: `cargo bench -p
//! reel-pm --bench ratio`. Prints the medians of 64-operation rounds and their ratio
//! (target: validation throughput ≥ 0.8 × the bound).
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::print_stdout)]

use alloy_primitives::{Address, B256, U256};
use reel_net::EthSigner;
use reel_pm::{
    ExpirationParams, PricePerPixel, TicketParams,
    recipient::{NonceFilter, validate_ticket},
    ticket::{MAX_WIN_PROB, recipient_rand_hash},
};
use reel_types::Wei;
use std::{hint::black_box, time::Instant};

const BATCH: usize = 64;
const ROUNDS: usize = 300;

fn main() {
    let signer = EthSigner::from_bytes(&[0x42; 32]).unwrap();
    let p = TicketParams {
        recipient: Address::repeat_byte(0x0a),
        face_value: Wei::from_base_units(U256::from(2_000_000_000_000_000u64)),
        win_prob: MAX_WIN_PROB >> 12,
        recipient_rand_hash: recipient_rand_hash(U256::from(7u64)),
        seed: U256::from(1u64),
        expiration_block: 1_000,
        expiration: ExpirationParams {
            creation_round: 10,
            creation_round_block_hash: B256::repeat_byte(10),
        },
        price: PricePerPixel::from_wei_per_unit(1),
    };
    let n = BATCH * ROUNDS;
    let signed: Vec<_> = (1..=n as u32)
        .map(|nonce| {
            let t = p.ticket(signer.address(), nonce);
            let sig = t.sign(&signer).to_vec();
            (t, sig)
        })
        .collect();
    let raw: Vec<_> = signed
        .iter()
        .map(|(t, sig)| {
            let digest = reel_net::sig::personal_hash(t.hash().as_slice());
            let recid = secp256k1::ecdsa::RecoveryId::from_u8_masked(sig[64] - 27);
            let rs =
                secp256k1::ecdsa::RecoverableSignature::from_compact(&sig[..64], recid).unwrap();
            (rs, secp256k1::Message::from_digest(digest.0))
        })
        .collect();
    let mut filter = NonceFilter::new(usize::MAX);
    let mut recover_ns = Vec::with_capacity(ROUNDS);
    let mut validate_ns = Vec::with_capacity(ROUNDS);
    for r in 0..ROUNDS {
        let range = r * BATCH..(r + 1) * BATCH;
        let t0 = Instant::now();
        for (rs, msg) in &raw[range.clone()] {
            black_box(black_box(rs).recover_ecdsa(*msg).unwrap());
        }
        let t1 = Instant::now();
        for (t, sig) in &signed[range] {
            black_box(validate_ticket(t, sig, U256::from(7u64), 1_000, &mut filter).unwrap());
        }
        let t2 = Instant::now();
        recover_ns.push((t1 - t0).as_nanos() as f64 / BATCH as f64);
        validate_ns.push((t2 - t1).as_nanos() as f64 / BATCH as f64);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let rec = median(&mut recover_ns);
    let val = median(&mut validate_ns);
    println!(
        "recover bound: {rec:>8.1} ns per recovery        -> {:>8.0} /s",
        1e9 / rec
    );
    println!(
        "validate:      {val:>8.1} ns per ticket           -> {:>8.0} /s",
        1e9 / val
    );
    println!(
        "validation throughput / bound = {:.3} (target ≥ 0.8)",
        rec / val
    );
}
