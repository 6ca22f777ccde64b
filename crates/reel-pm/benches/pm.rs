//! Payment hot paths, measured: `cargo bench -p reel-pm`.
//!
//! - `ticket/validate`: what an orchestrator does per ticket once the params are known good —
//!   ticket hash, EIP-191 digest, signature parse with the low-s rule, libsecp256k1 public key
//!   recovery, address, win test, nonce check. Compared in the same run with
//!   `ticket/recover_bound`: the bare libsecp256k1 recovery of one signature, the floor of the
//!   cost. Target: validation ≥ 0.8× the bound's throughput.
//! - `segment_keccak/*`: keccak-256 of a 1.6 MB segment (the `/segment` body hash check) with
//!   each available implementation. Target ≤ 2 ms.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use alloy_primitives::{Address, B256, U256};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use reel_net::EthSigner;
use reel_pm::{
    ExpirationParams, PricePerPixel, TicketParams,
    recipient::{NonceFilter, validate_ticket},
    ticket::{MAX_WIN_PROB, recipient_rand_hash},
};
use reel_types::Wei;
use std::{hint::black_box, time::Duration};

fn params() -> TicketParams {
    TicketParams {
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
    }
}

fn tickets(c: &mut Criterion) {
    let signer = EthSigner::from_bytes(&[0x42; 32]).unwrap();
    let p = params();
    const N: u32 = 4096;
    let signed: Vec<_> = (1..=N)
        .map(|n| {
            let t = p.ticket(signer.address(), n);
            let sig = t.sign(&signer).to_vec();
            (t, sig)
        })
        .collect();

    let mut g = c.benchmark_group("ticket");
    g.measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(1));

    // The bound: one libsecp256k1 recovery of a compact signature over a fixed digest.
    let digest = reel_net::sig::personal_hash(signed[0].0.hash().as_slice());
    let raw = &signed[0].1;
    let recid = secp256k1::ecdsa::RecoveryId::from_u8_masked(raw[64] - 27);
    let rsig = secp256k1::ecdsa::RecoverableSignature::from_compact(&raw[..64], recid).unwrap();
    let msg = secp256k1::Message::from_digest(digest.0);
    g.bench_function("recover_bound", |b| {
        b.iter(|| black_box(&rsig).recover_ecdsa(black_box(msg)).unwrap())
    });

    let mut filter = NonceFilter::new(usize::MAX);
    let mut i = 0usize;
    g.bench_function("validate", |b| {
        b.iter(|| {
            if i.is_multiple_of(N as usize) {
                filter = NonceFilter::new(usize::MAX);
            }
            let (t, sig) = &signed[i % N as usize];
            i += 1;
            black_box(
                validate_ticket(t, sig, U256::from(7u64), p.expiration_block, &mut filter).unwrap(),
            )
        })
    });
    g.bench_function("hash_only", |b| b.iter(|| black_box(&signed[0].0).hash()));
    g.finish();
}

fn segment_keccak(c: &mut Criterion) {
    // A 1.6 MB segment: ~2 s of 6.4 Mbps video.
    let seg: Vec<u8> = (0..1_600_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let want = alloy_primitives::keccak256(&seg);
    let mut g = c.benchmark_group("segment_keccak");
    g.measurement_time(Duration::from_secs(5));
    g.sample_size(30);
    g.throughput(Throughput::Bytes(seg.len() as u64));

    g.bench_function("reel_net_segment_hash", |b| {
        assert_eq!(reel_net::http::segment_hash(&seg), want);
        b.iter(|| reel_net::http::segment_hash(black_box(&seg)))
    });
    g.bench_function("alloy_primitives", |b| {
        b.iter(|| alloy_primitives::keccak256(black_box(&seg)))
    });
    g.bench_function("sha3", |b| {
        use sha3::Digest;
        assert_eq!(sha3::Keccak256::digest(&seg).as_slice(), want.as_slice());
        b.iter(|| sha3::Keccak256::digest(black_box(&seg)))
    });
    g.bench_function("tiny_keccak", |b| {
        use tiny_keccak::Hasher;
        let run = |data: &[u8]| {
            let mut k = tiny_keccak::Keccak::v256();
            k.update(data);
            let mut out = [0u8; 32];
            k.finalize(&mut out);
            out
        };
        assert_eq!(run(&seg), want.0);
        b.iter(|| run(black_box(&seg)))
    });
    g.bench_function("keccak_asm", |b| {
        let got: [u8; 32] = keccak_asm::Keccak256::digest(&seg).into();
        assert_eq!(got, want.0);
        b.iter(|| keccak_asm::Keccak256::digest(black_box(&seg)))
    });
    g.finish();
}

criterion_group!(benches, tickets, segment_keccak);
criterion_main!(benches);
