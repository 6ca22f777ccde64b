//! Tickets and their parameters (see docs/compatibility.md#tickets-and-the-ticket-hash): the exact
//! byte layout the TicketBroker hashes, the sender's signature, the win test and expected value.
//!
//! Hash preimage (Solidity `abi.encodePacked`, 232 bytes):
//! `recipient(20) || sender(20) || faceValue(32) || winProb(32) || senderNonce(32) ||
//! recipientRandHash(32) || auxData(64)` with `auxData = pad32(creationRound) ||
//! creationRoundBlockHash` (empty, giving 168 bytes, when both are zero — go-livepeer's
//! off-chain form; such a ticket cannot be redeemed, the contract wants 64 bytes).

use crate::{PmError, PricePerPixel};
use alloy_primitives::{Address, B256, Keccak256, U256, U512, keccak256};
use reel_net::{EthSigner, Signature, be, proto};
use reel_types::Wei;

/// `2^256 − 1`: a win probability of this value always wins.
pub const MAX_WIN_PROB: U256 = U256::MAX;

/// Length of the packed preimage with auxData.
pub const PACKED_LEN: usize = 232;

/// The round a ticket was created in and that round's block hash, echoed to the contract,
/// which checks them and refuses tickets older than `ticketValidityPeriod` rounds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ExpirationParams {
    pub creation_round: u64,
    pub creation_round_block_hash: B256,
}

impl ExpirationParams {
    /// `abi.encode(uint256 creationRound, bytes32 blockHash)`, or empty when both are zero.
    pub fn aux_data(&self) -> Vec<u8> {
        if self.creation_round == 0 && self.creation_round_block_hash.is_zero() {
            return Vec::new();
        }
        let mut v = Vec::with_capacity(64);
        v.extend_from_slice(&U256::from(self.creation_round).to_be_bytes::<32>());
        v.extend_from_slice(self.creation_round_block_hash.as_slice());
        v
    }

    pub fn from_proto(p: &proto::TicketExpirationParams) -> Result<Self, PmError> {
        let creation_round = u64::try_from(p.creation_round).map_err(|_| PmError::Malformed {
            field: "expiration_params.creation_round",
            reason: format!("{} is negative", p.creation_round),
        })?;
        let creation_round_block_hash = if p.creation_round_block_hash.is_empty() {
            B256::ZERO
        } else {
            B256::try_from(p.creation_round_block_hash.as_slice()).map_err(|_| {
                PmError::Malformed {
                    field: "expiration_params.creation_round_block_hash",
                    reason: format!("{} bytes; must be 32", p.creation_round_block_hash.len()),
                }
            })?
        };
        Ok(Self {
            creation_round,
            creation_round_block_hash,
        })
    }

    pub fn to_proto(&self) -> proto::TicketExpirationParams {
        proto::TicketExpirationParams {
            // Rounds are far below 2^63; saturate rather than wrap if one ever is not.
            creation_round: i64::try_from(self.creation_round).unwrap_or(i64::MAX),
            creation_round_block_hash: if self.creation_round_block_hash.is_zero() {
                Vec::new()
            } else {
                self.creation_round_block_hash.to_vec()
            },
        }
    }
}

/// Parameters an orchestrator issues for a gateway's tickets (see
/// docs/compatibility.md#recipientrand-is-fixed-width-and-its-secret-persists). `seed`,
/// `expiration_block` and `price` are what the orchestrator needs to recompute its `recipientRand`
/// when the tickets come back; they are not part of the ticket itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TicketParams {
    pub recipient: Address,
    pub face_value: Wei,
    pub win_prob: U256,
    pub recipient_rand_hash: B256,
    pub seed: U256,
    /// L1 block after which the orchestrator no longer accepts tickets on these params.
    pub expiration_block: u64,
    pub expiration: ExpirationParams,
    /// The price these params were issued for (travels as `Payment.expected_price`).
    pub price: PricePerPixel,
}

impl TicketParams {
    /// Expected value of one ticket on these params.
    pub fn ev(&self) -> Wei {
        ev(self.face_value, self.win_prob)
    }

    /// The `TicketParams` wire message (price travels separately, in `PriceInfo`).
    pub fn to_proto(&self) -> proto::TicketParams {
        proto::TicketParams {
            recipient: self.recipient.to_vec(),
            face_value: be::encode_u256(self.face_value.base_units()),
            win_prob: be::encode_u256(self.win_prob),
            recipient_rand_hash: self.recipient_rand_hash.to_vec(),
            seed: be::encode_u256(self.seed),
            expiration_block: be::encode_u256(U256::from(self.expiration_block)),
            expiration_params: Some(self.expiration.to_proto()),
        }
    }

    /// Reads params from the wire. `expiration` overrides the params' own expiration params
    /// (a `Payment` carries them at top level); `price` comes from `PriceInfo`.
    pub fn from_proto(
        p: &proto::TicketParams,
        expiration: Option<&proto::TicketExpirationParams>,
        price: PricePerPixel,
    ) -> Result<Self, PmError> {
        let recipient = address("ticket_params.recipient", &p.recipient)?;
        let hash =
            B256::try_from(p.recipient_rand_hash.as_slice()).map_err(|_| PmError::Malformed {
                field: "ticket_params.recipient_rand_hash",
                reason: format!("{} bytes; must be 32", p.recipient_rand_hash.len()),
            })?;
        let exp = match expiration.or(p.expiration_params.as_ref()) {
            Some(e) => ExpirationParams::from_proto(e)?,
            None => ExpirationParams::default(),
        };
        Ok(Self {
            recipient,
            face_value: Wei::from_base_units(be::decode_u256(
                "ticket_params.face_value",
                &p.face_value,
            )?),
            win_prob: be::decode_u256("ticket_params.win_prob", &p.win_prob)?,
            recipient_rand_hash: hash,
            seed: be::decode_u256("ticket_params.seed", &p.seed)?,
            expiration_block: be::decode_u64(
                "ticket_params.expiration_block",
                &p.expiration_block,
            )?,
            expiration: exp,
            price,
        })
    }

    /// The ticket with `sender` and `nonce` on these params.
    pub fn ticket(&self, sender: Address, sender_nonce: u32) -> Ticket {
        Ticket {
            recipient: self.recipient,
            sender,
            face_value: self.face_value,
            win_prob: self.win_prob,
            sender_nonce,
            recipient_rand_hash: self.recipient_rand_hash,
            expiration: self.expiration,
        }
    }
}

pub(crate) fn address(field: &'static str, b: &[u8]) -> Result<Address, PmError> {
    Address::try_from(b).map_err(|_| PmError::Malformed {
        field,
        reason: format!("{} bytes; must be 20", b.len()),
    })
}

/// A lottery ticket, as the TicketBroker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ticket {
    pub recipient: Address,
    pub sender: Address,
    pub face_value: Wei,
    pub win_prob: U256,
    /// uint256 on chain; uint32 on the wire.
    pub sender_nonce: u32,
    pub recipient_rand_hash: B256,
    pub expiration: ExpirationParams,
}

impl Ticket {
    /// The `abi.encodePacked` preimage: 232 bytes (168 without auxData).
    pub fn packed(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(PACKED_LEN);
        v.extend_from_slice(self.recipient.as_slice());
        v.extend_from_slice(self.sender.as_slice());
        v.extend_from_slice(&self.face_value.base_units().to_be_bytes::<32>());
        v.extend_from_slice(&self.win_prob.to_be_bytes::<32>());
        v.extend_from_slice(&U256::from(self.sender_nonce).to_be_bytes::<32>());
        v.extend_from_slice(self.recipient_rand_hash.as_slice());
        v.extend_from_slice(&self.expiration.aux_data());
        v
    }

    /// `keccak256(packed)`: equal to the TicketBroker's `getTicketHash`.
    pub fn hash(&self) -> B256 {
        // Streamed into the hasher: no allocation on the validation hot path.
        let mut h = Keccak256::new();
        h.update(self.recipient);
        h.update(self.sender);
        h.update(self.face_value.base_units().to_be_bytes::<32>());
        h.update(self.win_prob.to_be_bytes::<32>());
        h.update(U256::from(self.sender_nonce).to_be_bytes::<32>());
        h.update(self.recipient_rand_hash);
        if !(self.expiration.creation_round == 0
            && self.expiration.creation_round_block_hash.is_zero())
        {
            h.update(U256::from(self.expiration.creation_round).to_be_bytes::<32>());
            h.update(self.expiration.creation_round_block_hash);
        }
        h.finalize()
    }

    /// The sender's `personal_sign` of the ticket hash.
    pub fn sign(&self, signer: &EthSigner) -> Signature {
        signer.sign_personal(self.hash().as_slice())
    }

    /// Who signed this ticket (EIP-191 over the 32-byte hash).
    pub fn recover_signer(&self, sig: &Signature) -> Result<Address, PmError> {
        reel_net::sig::recover_personal(self.hash().as_slice(), sig)
            .map_err(|e| PmError::InvalidSignature { reason: e })
    }

    pub fn ev(&self) -> Wei {
        ev(self.face_value, self.win_prob)
    }
}

/// `keccak256(pad32(recipientRand))`: the commitment in `TicketParams.recipient_rand_hash`.
pub fn recipient_rand_hash(recipient_rand: U256) -> B256 {
    keccak256(recipient_rand.to_be_bytes::<32>())
}

/// The win test, as the contract does it: `uint256(keccak256(sig || pad32(rand))) < winProb`.
pub fn wins(sig: &Signature, recipient_rand: U256, win_prob: U256) -> bool {
    let mut h = Keccak256::new();
    h.update(sig.as_bytes());
    h.update(recipient_rand.to_be_bytes::<32>());
    U256::from_be_bytes(h.finalize().0) < win_prob
}

/// `faceValue × winProb / (2^256 − 1)`, rounded down to the wei (the exact value exceeds
/// this by less than one wei; both sides of a payment use this same rounding).
pub fn ev(face_value: Wei, win_prob: U256) -> Wei {
    let product: U512 = face_value
        .base_units()
        .widening_mul::<256, 4, 512, 8>(win_prob);
    let q = product
        .checked_div(U512::from(MAX_WIN_PROB))
        .unwrap_or(U512::ZERO);
    // q ≤ faceValue because winProb ≤ 2^256 − 1, so it fits.
    Wei::from_base_units(
        U256::checked_from_limbs_slice(q.as_limbs()).unwrap_or(face_value.base_units()),
    )
}

/// A ticket with the sender's signature and the recipient's revealed random number: what
/// `redeemWinningTicket(ticket, sig, recipientRand)` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTicket {
    pub ticket: Ticket,
    pub sig: Signature,
    pub recipient_rand: U256,
}

impl SignedTicket {
    pub fn hash(&self) -> B256 {
        self.ticket.hash()
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use alloy_primitives::{address, b256, hex};
    use proptest::prelude::*;

    fn ticket() -> Ticket {
        Ticket {
            recipient: address!("1111111111111111111111111111111111111111"),
            sender: address!("2222222222222222222222222222222222222222"),
            face_value: Wei::from_base_units(U256::from(0x0102u64)),
            win_prob: U256::from(3u64),
            sender_nonce: 7,
            recipient_rand_hash: b256!(
                "4444444444444444444444444444444444444444444444444444444444444444"
            ),
            expiration: ExpirationParams {
                creation_round: 9,
                creation_round_block_hash: b256!(
                    "5555555555555555555555555555555555555555555555555555555555555555"
                ),
            },
        }
    }

    #[test]
    fn packed_layout_is_the_232_byte_abi_encode_packed() {
        let p = ticket().packed();
        let mut want = Vec::new();
        want.extend_from_slice(&[0x11; 20]);
        want.extend_from_slice(&[0x22; 20]);
        want.extend_from_slice(&[0; 30]);
        want.extend_from_slice(&[0x01, 0x02]);
        want.extend_from_slice(&[0; 31]);
        want.push(3);
        want.extend_from_slice(&[0; 31]);
        want.push(7);
        want.extend_from_slice(&[0x44; 32]);
        want.extend_from_slice(&[0; 31]);
        want.push(9);
        want.extend_from_slice(&[0x55; 32]);
        assert_eq!(p.len(), PACKED_LEN);
        assert_eq!(p, want);
        assert_eq!(ticket().hash(), keccak256(&want));
        // Without expiration params the aux data is empty (168 bytes), as in go-livepeer.
        let mut t = ticket();
        t.expiration = ExpirationParams::default();
        assert_eq!(t.packed().len(), 168);
        assert_eq!(t.hash(), keccak256(t.packed()));
    }

    #[test]
    fn hash_and_signature_match_foundry_cast() {
        // Independent reference, computed with foundry's cast 1.7.1:
        //   cast keccak $(cast abi-encode --packed \
        //     "f(address,address,uint256,uint256,uint256,bytes32,bytes)" \
        //     0x1111…1111 0x2222…2222 258 3 7 0x4444…4444 \
        //     $(cast abi-encode "f(uint256,bytes32)" 9 0x5555…5555))
        assert_eq!(
            ticket().hash(),
            b256!("5aa88c7a76e61f6d593ea00262c3c2d61cdd932c66624adba798df2183d000c9")
        );
        //   cast wallet sign --private-key <anvil key 0> 0x5aa8…00c9   (EIP-191 over the hash)
        let signer = EthSigner::from_bytes(&hex!(
            "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
        ))
        .unwrap();
        assert_eq!(
            ticket().sign(&signer).to_vec(),
            hex!(
                "b2c36c84f01ea038cf73b1e1c6ec9905639a69f9921ce7a3a82bb9a52a4bba26"
                "14ccdda4f39509b0849a3f8692f3d4da2e430a56ed05e084e11ae1b42dc25094"
                "1c"
            )
            .to_vec()
        );
    }

    #[test]
    fn sign_and_recover() {
        let signer = EthSigner::from_bytes(&hex!(
            "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
        ))
        .unwrap();
        let t = ticket();
        let sig = t.sign(&signer);
        assert_eq!(t.recover_signer(&sig).unwrap(), signer.address());
        // The signature covers the EIP-191 digest of the 32-byte hash.
        let digest = reel_net::sig::personal_hash(t.hash().as_slice());
        assert_eq!(sig.recover_prehash(&digest).unwrap(), signer.address());
        let mut other = t;
        other.sender_nonce = 8;
        assert_ne!(other.recover_signer(&sig).unwrap(), signer.address());
    }

    #[test]
    fn win_test_and_extremes() {
        let sig = Signature::from_slice(&{
            let mut b = [1u8; 65];
            b[64] = 27;
            b
        })
        .unwrap();
        let rand = U256::from(42u64);
        let mut pre = sig.as_bytes().to_vec();
        pre.extend_from_slice(&rand.to_be_bytes::<32>());
        let h = U256::from_be_bytes(keccak256(&pre).0);
        assert!(wins(&sig, rand, h + U256::from(1)));
        assert!(!wins(&sig, rand, h));
        assert!(wins(&sig, rand, MAX_WIN_PROB) || h == MAX_WIN_PROB);
        assert!(!wins(&sig, rand, U256::ZERO));
    }

    #[test]
    fn ev_math() {
        let fv = Wei::from_base_units(U256::from(1_000_000u64));
        assert_eq!(ev(fv, MAX_WIN_PROB), fv);
        assert_eq!(ev(fv, U256::ZERO), Wei::ZERO);
        // winProb = MAX/2 (rounded down) → EV = fv/2 rounded down.
        assert_eq!(
            ev(fv, MAX_WIN_PROB >> 1),
            Wei::from_base_units(U256::from(499_999u64))
        );
        assert_eq!(
            ev(Wei::from_base_units(U256::MAX), U256::MAX),
            Wei::from_base_units(U256::MAX)
        );
    }

    #[test]
    fn params_wire_round_trip() {
        let p = TicketParams {
            recipient: ticket().recipient,
            face_value: Wei::from_base_units(U256::from(1u64) << 100),
            win_prob: U256::from(12345u64),
            recipient_rand_hash: ticket().recipient_rand_hash,
            seed: U256::from(0xabcdu64),
            expiration_block: 1_000_040,
            expiration: ticket().expiration,
            price: PricePerPixel::from_wei_per_unit(3),
        };
        let w = p.to_proto();
        assert_eq!(w.seed, vec![0xab, 0xcd]);
        assert_eq!(w.expiration_block, hex!("0f4268").to_vec());
        let back = TicketParams::from_proto(&w, None, p.price).unwrap();
        assert_eq!(back, p);
        let mut bad = w.clone();
        bad.recipient_rand_hash = vec![1; 31];
        assert!(TicketParams::from_proto(&bad, None, p.price).is_err());
        let mut bad = w;
        bad.win_prob = vec![1; 33];
        assert!(TicketParams::from_proto(&bad, None, p.price).is_err());
    }

    proptest! {
        #[test]
        fn ev_never_exceeds_face_value(fv in any::<[u64; 4]>(), wp in any::<[u64; 4]>()) {
            let fv = Wei::from_base_units(U256::from_limbs(fv));
            let e = ev(fv, U256::from_limbs(wp));
            prop_assert!(e <= fv);
        }
    }
}
