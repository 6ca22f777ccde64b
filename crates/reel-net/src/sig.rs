//! EIP-191 `personal_sign` signatures, exactly as the wire and the TicketBroker check them.
//!
//! Every signature on the Livepeer wire (orchestrator request, segment, transcode result,
//! ping, ticket) is secp256k1 over `keccak256("\x19Ethereum Signed Message:\n" || len || msg)`,
//! serialised as 65 bytes `r || s || v` with `v ∈ {27, 28}`. [`Signature::from_slice`]
//! rejects everything OpenZeppelin's ECDSA (which the TicketBroker uses) rejects — wrong
//! length, other `v`, high `s`, `r`/`s` out of range — so a signature we accept is one the
//! chain accepts too (see docs/faults.md#forged-and-malleable-signatures). Recovery uses
//! libsecp256k1 through the `secp256k1` crate: about 5× faster than the pure-Rust `k256` here (see
//! docs/architecture.md#choices-and-why).

use crate::NetError;
use alloy_primitives::{Address, B256, U256, keccak256};
use secp256k1::{Message, PublicKey, SecretKey, ecdsa::RecoverableSignature, ecdsa::RecoveryId};
use std::fmt;

/// Length of a wire signature: `r (32) || s (32) || v (1)`.
pub const SIGNATURE_LEN: usize = 65;

/// secp256k1 group order n.
const SECP256K1_N: U256 = U256::from_be_bytes([
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
]);

/// n / 2: the largest `s` accepted (EIP-2 low-s rule, OpenZeppelin ECDSA).
const HALF_N: U256 = U256::from_be_bytes([
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
]);

/// Why a signature was refused. Each case is one the TicketBroker would also refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    #[error("signature is {len} bytes; it must be 65 (r || s || v)")]
    Length { len: usize },
    #[error("signature v is {v}; it must be 27 or 28")]
    V { v: u8 },
    #[error("signature s is in the upper half of the curve order (malleable high-s form)")]
    HighS,
    #[error("signature r or s is zero or not below the curve order")]
    OutOfRange,
    #[error("no public key can be recovered from this signature")]
    Unrecoverable,
}

/// A validated 65-byte `r || s || v` signature (`v ∈ {27, 28}`, low `s`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature([u8; SIGNATURE_LEN]);

impl Signature {
    /// Parses and validates wire bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, SignatureError> {
        let arr: [u8; SIGNATURE_LEN] = bytes
            .try_into()
            .map_err(|_| SignatureError::Length { len: bytes.len() })?;
        let [.., v] = arr;
        if v != 27 && v != 28 {
            return Err(SignatureError::V { v });
        }
        let (r, s) = split_rs(&arr);
        let r = U256::from_be_bytes(r);
        let s = U256::from_be_bytes(s);
        if r.is_zero() || s.is_zero() || r >= SECP256K1_N {
            return Err(SignatureError::OutOfRange);
        }
        if s > HALF_N {
            return Err(SignatureError::HighS);
        }
        Ok(Self(arr))
    }

    /// The wire bytes.
    pub const fn as_bytes(&self) -> &[u8; SIGNATURE_LEN] {
        &self.0
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.0.to_vec()
    }

    /// Recovers the signer's address from the 32-byte digest that was signed.
    pub fn recover_prehash(&self, digest: &B256) -> Result<Address, SignatureError> {
        let [.., v] = self.0;
        // v ∈ {27, 28} is checked at construction: the subtraction cannot underflow.
        let recid = RecoveryId::from_u8_masked(v.wrapping_sub(27));
        let (r, s) = split_rs(&self.0);
        let mut compact = [0u8; 64];
        let (cr, cs) = compact.split_at_mut(32);
        cr.copy_from_slice(&r);
        cs.copy_from_slice(&s);
        let sig = RecoverableSignature::from_compact(&compact, recid)
            .map_err(|_| SignatureError::OutOfRange)?;
        let pk = sig
            .recover_ecdsa(Message::from_digest(digest.0))
            .map_err(|_| SignatureError::Unrecoverable)?;
        Ok(address_of(&pk))
    }
}

fn split_rs(sig: &[u8; SIGNATURE_LEN]) -> ([u8; 32], [u8; 32]) {
    let mut r = [0u8; 32];
    let mut s = [0u8; 32];
    for (i, b) in sig.iter().enumerate() {
        if let Some(slot) = r.get_mut(i) {
            *slot = *b;
        } else if let Some(slot) = i.checked_sub(32).and_then(|j| s.get_mut(j)) {
            *slot = *b;
        }
    }
    (r, s)
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature(0x{})", alloy_primitives::hex::encode(self.0))
    }
}

impl TryFrom<&[u8]> for Signature {
    type Error = SignatureError;
    fn try_from(b: &[u8]) -> Result<Self, Self::Error> {
        Self::from_slice(b)
    }
}

/// The Ethereum address of a public key: the last 20 bytes of keccak256 of its 64-byte form.
pub fn address_of(pk: &PublicKey) -> Address {
    let uncompressed = pk.serialize_uncompressed();
    // The first byte is the 0x04 SEC1 tag; the address hashes the 64 coordinate bytes.
    let hash = keccak256(uncompressed.get(1..).unwrap_or_default());
    Address::from_word(hash)
}

/// `keccak256("\x19Ethereum Signed Message:\n" || decimal(len(msg)) || msg)` (EIP-191 v0x45).
pub fn personal_hash(msg: &[u8]) -> B256 {
    let mut hasher = alloy_primitives::Keccak256::new();
    hasher.update(b"\x19Ethereum Signed Message:\n");
    hasher.update(msg.len().to_string().as_bytes());
    hasher.update(msg);
    hasher.finalize()
}

/// Recovers who `personal_sign`ed `msg`.
pub fn recover_personal(msg: &[u8], sig: &Signature) -> Result<Address, SignatureError> {
    sig.recover_prehash(&personal_hash(msg))
}

/// Checks that `signer` `personal_sign`ed `msg`, with every rule of [`Signature::from_slice`].
pub fn verify_personal(signer: Address, msg: &[u8], sig: &[u8]) -> Result<(), NetError> {
    let sig = Signature::from_slice(sig)?;
    let got = recover_personal(msg, &sig)?;
    if got == signer {
        Ok(())
    } else {
        Err(NetError::WrongSigner {
            expected: signer,
            got,
        })
    }
}

/// A secp256k1 key that signs the wire messages of one node. Never printed.
#[derive(Clone)]
pub struct EthSigner {
    key: SecretKey,
    address: Address,
}

impl EthSigner {
    /// A signer from a 32-byte private key; fails for zero or keys not below the curve order.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, NetError> {
        let key = SecretKey::from_secret_bytes(*bytes).map_err(|_| NetError::InvalidPrivateKey)?;
        let address = address_of(&key.public_key());
        Ok(Self { key, address })
    }

    pub const fn address(&self) -> Address {
        self.address
    }

    /// Signs a 32-byte digest as is (no EIP-191 prefix), returning `r || s || v` with
    /// `v ∈ {27, 28}`. libsecp256k1 always produces low-s signatures.
    pub fn sign_prehash(&self, digest: &B256) -> Signature {
        let sig =
            RecoverableSignature::sign_ecdsa_recoverable(Message::from_digest(digest.0), &self.key);
        let (recid, compact) = sig.serialize_compact();
        let mut out = [0u8; SIGNATURE_LEN];
        for (slot, b) in out.iter_mut().zip(compact.iter()) {
            *slot = *b;
        }
        if let Some(v) = out.last_mut() {
            // recid is 0 or 1 for every signature libsecp256k1 produces (2 and 3 need r ≥ p − n,
            // probability ~2^-127); 27 + recid stays in u8.
            *v = 27u8.wrapping_add(recid.to_u8());
        }
        Signature(out)
    }

    /// `personal_sign(msg)`.
    pub fn sign_personal(&self, msg: &[u8]) -> Signature {
        self.sign_prehash(&personal_hash(msg))
    }
}

impl fmt::Debug for EthSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EthSigner")
            .field("address", &self.address)
            .finish_non_exhaustive()
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

    fn key1() -> EthSigner {
        // The first anvil/hardhat dev key; its address is public knowledge.
        EthSigner::from_bytes(&hex!(
            "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
        ))
        .unwrap()
    }

    #[test]
    fn address_derivation_matches_known_dev_account() {
        assert_eq!(
            key1().address(),
            address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266")
        );
    }

    #[test]
    fn personal_hash_matches_eip191_vector() {
        // keccak256("\x19Ethereum Signed Message:\n5hello"), as computed by geth's TextHash.
        assert_eq!(
            personal_hash(b"hello"),
            b256!("50b2c43fd39106bafbba0da34fc430e1f91e3c96ea2acee2bc34119f92b37750")
        );
    }

    #[test]
    fn sign_then_recover() {
        let s = key1();
        let sig = s.sign_personal(b"reel");
        assert!(matches!(sig.as_bytes()[64], 27 | 28));
        assert_eq!(recover_personal(b"reel", &sig).unwrap(), s.address());
        verify_personal(s.address(), b"reel", sig.as_bytes()).unwrap();
        assert!(matches!(
            verify_personal(s.address(), b"reeL", sig.as_bytes()),
            Err(NetError::WrongSigner { .. })
        ));
    }

    #[test]
    fn rejects_what_the_contract_rejects() {
        let sig = key1().sign_personal(b"x");
        let b = sig.to_vec();
        assert_eq!(
            Signature::from_slice(&b[..64]),
            Err(SignatureError::Length { len: 64 })
        );
        let mut long = b.clone();
        long.push(0);
        assert_eq!(
            Signature::from_slice(&long),
            Err(SignatureError::Length { len: 66 })
        );
        for v in [0u8, 1, 26, 29, 35] {
            let mut bad = b.clone();
            bad[64] = v;
            assert_eq!(Signature::from_slice(&bad), Err(SignatureError::V { v }));
        }
        // The malleable twin (r, n − s, v ^ 1) recovers the same key but must be refused.
        let s = U256::from_be_slice(&b[32..64]);
        let mut twin = b.clone();
        twin[32..64].copy_from_slice(&(SECP256K1_N - s).to_be_bytes::<32>());
        twin[64] = if b[64] == 27 { 28 } else { 27 };
        assert_eq!(Signature::from_slice(&twin), Err(SignatureError::HighS));
        let mut zero_r = b.clone();
        zero_r[..32].fill(0);
        assert_eq!(
            Signature::from_slice(&zero_r),
            Err(SignatureError::OutOfRange)
        );
        let mut big_r = b;
        big_r[..32].fill(0xff);
        assert_eq!(
            Signature::from_slice(&big_r),
            Err(SignatureError::OutOfRange)
        );
    }

    #[test]
    fn half_n_is_n_over_two() {
        assert_eq!(HALF_N, SECP256K1_N >> 1);
    }

    #[test]
    fn debug_does_not_print_the_key() {
        let dbg = format!("{:?}", key1());
        assert!(!dbg.to_lowercase().contains("ac0974bec3"), "{dbg}");
    }
}
