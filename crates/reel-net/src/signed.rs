//! What each wire signature covers (see docs/compatibility.md#signatures-and-auth-tokens) and the
//! orchestrator's auth token.
//!
//! - Orchestrator request: `personal_sign(ascii(checksum hex of the gateway address))`.
//! - Segment: `personal_sign(manifestId || pad32(seq) || hash || ascii(hex(profile ids)))`,
//!   a profile id being the first 4 bytes of `keccak256(profile name)`.
//! - Transcode result: `personal_sign(keccak256(keccak256(r_1) || … || keccak256(r_n)))`.
//! - Auth token: `HMAC-SHA256(secret, session_id || be(expiration))`, compared in constant time.

use crate::{NetError, proto, sig};
use alloy_primitives::{Address, B256, hex, keccak256};
use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The message a gateway signs in `OrchestratorRequest.sig`.
pub fn orchestrator_request_message(gateway: Address) -> Vec<u8> {
    gateway.to_checksum(None).into_bytes()
}

/// Builds a signed `OrchestratorRequest` (capabilities left for the caller to fill).
pub fn signed_orchestrator_request(signer: &sig::EthSigner) -> proto::OrchestratorRequest {
    let msg = orchestrator_request_message(signer.address());
    proto::OrchestratorRequest {
        address: signer.address().to_vec(),
        sig: signer.sign_personal(&msg).to_vec(),
        ..Default::default()
    }
}

/// Checks an `OrchestratorRequest` and returns the gateway address it proves.
pub fn verify_orchestrator_request(req: &proto::OrchestratorRequest) -> Result<Address, NetError> {
    let addr = address_from_wire("OrchestratorRequest.address", &req.address)?;
    sig::verify_personal(addr, &orchestrator_request_message(addr), &req.sig)?;
    Ok(addr)
}

/// A 20-byte address field.
pub fn address_from_wire(field: &'static str, bytes: &[u8]) -> Result<Address, NetError> {
    Address::try_from(bytes).map_err(|_| NetError::FieldLength {
        field,
        expected: 20,
        got: bytes.len(),
    })
}

/// The 4-byte id of a profile name, as in the legacy `SegData.profiles` field.
pub fn profile_id(name: &str) -> [u8; 4] {
    let h = keccak256(name.as_bytes());
    let mut id = [0u8; 4];
    for (slot, b) in id.iter_mut().zip(h.iter()) {
        *slot = *b;
    }
    id
}

/// The profile ids a segment signature covers: from the newest profile list that is set
/// (`fullProfiles3`, then `fullProfiles2`, then `fullProfiles`), else the legacy bytes.
pub fn segment_profile_ids(seg: &proto::SegData) -> Result<Vec<u8>, NetError> {
    let full = [&seg.full_profiles3, &seg.full_profiles2, &seg.full_profiles]
        .into_iter()
        .find(|p| !p.is_empty());
    match full {
        Some(profiles) => {
            let mut ids = Vec::with_capacity(profiles.len().saturating_mul(4));
            for p in profiles {
                if p.name.is_empty() {
                    // go-livepeer invents a name for unnamed profiles from its own formatting
                    // rules; we refuse instead of guessing what the signer hashed.
                    return Err(NetError::Invalid {
                        field: "SegData profile name",
                        reason: "empty".into(),
                    });
                }
                ids.extend_from_slice(&profile_id(&p.name));
            }
            Ok(ids)
        }
        None if seg.profiles.len().is_multiple_of(4) => Ok(seg.profiles.clone()),
        None => Err(NetError::Invalid {
            field: "SegData.profiles",
            reason: format!(
                "{} bytes is not a whole number of 4-byte ids",
                seg.profiles.len()
            ),
        }),
    }
}

/// The bytes a gateway signs for a segment (go-livepeer's `SegTranscodingMetadata.Flatten`).
pub fn segment_message(manifest_id: &[u8], seq: u64, hash: &B256, profile_ids: &[u8]) -> Vec<u8> {
    let hex_ids = hex::encode(profile_ids);
    let mut buf = Vec::with_capacity(
        manifest_id
            .len()
            .saturating_add(64)
            .saturating_add(hex_ids.len()),
    );
    buf.extend_from_slice(manifest_id);
    buf.extend_from_slice(&B256::left_padding_from(&seq.to_be_bytes()).0);
    buf.extend_from_slice(hash.as_slice());
    buf.extend_from_slice(hex_ids.as_bytes());
    buf
}

/// The signed message of a `SegData` (fields already bounded by the HTTP codec).
pub fn seg_data_message(seg: &proto::SegData) -> Result<Vec<u8>, NetError> {
    let seq = u64::try_from(seg.seq).map_err(|_| NetError::Invalid {
        field: "SegData.seq",
        reason: format!("{} is negative", seg.seq),
    })?;
    let hash = B256::try_from(seg.hash.as_slice()).map_err(|_| NetError::FieldLength {
        field: "SegData.hash",
        expected: 32,
        got: seg.hash.len(),
    })?;
    Ok(segment_message(
        &seg.manifest_id,
        seq,
        &hash,
        &segment_profile_ids(seg)?,
    ))
}

/// Signs `seg` in place with the gateway's key.
pub fn sign_seg_data(signer: &sig::EthSigner, seg: &mut proto::SegData) -> Result<(), NetError> {
    let msg = seg_data_message(seg)?;
    seg.sig = signer.sign_personal(&msg).to_vec();
    Ok(())
}

/// Checks that the payment's sender signed this segment's metadata.
pub fn verify_seg_data(seg: &proto::SegData, sender: Address) -> Result<(), NetError> {
    sig::verify_personal(sender, &seg_data_message(seg)?, &seg.sig)
}

/// `keccak256(keccak256(r_1) || … || keccak256(r_n))` over renditions in profile order.
pub fn transcode_result_hash(rendition_hashes: &[B256]) -> B256 {
    let mut hasher = alloy_primitives::Keccak256::new();
    for h in rendition_hashes {
        hasher.update(h);
    }
    hasher.finalize()
}

/// The orchestrator's signature over a set of renditions.
pub fn sign_transcode_result(signer: &sig::EthSigner, rendition_hashes: &[B256]) -> sig::Signature {
    signer.sign_personal(transcode_result_hash(rendition_hashes).as_slice())
}

/// Checks an orchestrator's result signature against the renditions the gateway downloaded.
pub fn verify_transcode_result(
    orchestrator: Address,
    rendition_hashes: &[B256],
    sig: &[u8],
) -> Result<(), NetError> {
    sig::verify_personal(
        orchestrator,
        transcode_result_hash(rendition_hashes).as_slice(),
        sig,
    )
}

/// The orchestrator's answer to `Ping`: its `personal_sign` of the request's bytes.
pub fn ping_response(signer: &sig::EthSigner, req: &proto::PingPong) -> proto::PingPong {
    proto::PingPong {
        value: signer.sign_personal(&req.value).to_vec(),
    }
}

/// Checks a `Ping` answer against the orchestrator's address.
pub fn verify_ping_response(
    orchestrator: Address,
    req: &proto::PingPong,
    resp: &proto::PingPong,
) -> Result<(), NetError> {
    sig::verify_personal(orchestrator, &req.value, &resp.value)
}

/// Minimal big-endian bytes of a non-negative integer (Go's `big.Int.Bytes()`: 0 → empty).
pub fn be_minimal_u64(v: u64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    bytes.get(skip..).unwrap_or_default().to_vec()
}

/// `HMAC-SHA256(secret, session_id || be(expiration))`: the token in `AuthToken.token`.
pub fn auth_token(secret: &[u8], session_id: &str, expiration: i64) -> [u8; 32] {
    // An HMAC key may have any length; `new_from_slice` cannot fail for HMAC.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| <HmacSha256 as KeyInit>::new(&Default::default()));
    mac.update(session_id.as_bytes());
    mac.update(&be_minimal_u64(expiration.unsigned_abs()));
    mac.finalize().into_bytes().into()
}

/// Issues an `AuthToken` valid until `expiration` (unix seconds).
pub fn issue_auth_token(secret: &[u8], session_id: &str, expiration: i64) -> proto::AuthToken {
    proto::AuthToken {
        token: auth_token(secret, session_id, expiration).to_vec(),
        session_id: session_id.to_owned(),
        expiration,
    }
}

/// Checks a token in constant time, then its expiry against `now` (unix seconds).
pub fn verify_auth_token(
    secret: &[u8],
    token: Option<&proto::AuthToken>,
    now: i64,
) -> Result<(), NetError> {
    let token = token.ok_or(NetError::AuthToken {
        reason: "missing auth token",
    })?;
    let mut mac =
        <HmacSha256 as KeyInit>::new_from_slice(secret).map_err(|_| NetError::AuthToken {
            reason: "invalid auth token",
        })?;
    mac.update(token.session_id.as_bytes());
    mac.update(&be_minimal_u64(token.expiration.unsigned_abs()));
    mac.verify_slice(&token.token)
        .map_err(|_| NetError::AuthToken {
            reason: "invalid auth token",
        })?;
    if now > token.expiration {
        return Err(NetError::AuthToken {
            reason: "expired auth token",
        });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use alloy_primitives::{b256, hex};

    fn signer() -> sig::EthSigner {
        sig::EthSigner::from_bytes(&hex!(
            "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
        ))
        .unwrap()
    }

    #[test]
    fn known_profile_ids_match_the_spec_table() {
        // Ids from docs/compatibility.md#signatures-and-auth-tokens.
        for (name, id) in [
            ("P720p60fps16x9", "a7ac137a"),
            ("P720p30fps16x9", "49d54ea9"),
            ("P360p30fps16x9", "93c717e7"),
            ("P240p30fps16x9", "c0a6517a"),
            ("P144p25fps16x9", "03f01d1f"),
        ] {
            assert_eq!(hex::encode(profile_id(name)), id, "{name}");
        }
    }

    #[test]
    fn segment_message_layout_is_byte_exact() {
        let hash = b256!("1111111111111111111111111111111111111111111111111111111111111111");
        let msg = segment_message(b"abc", 258, &hash, &hex!("93c717e7c0a6517a"));
        let mut want = b"abc".to_vec();
        want.extend_from_slice(&[0u8; 30]);
        want.extend_from_slice(&[1, 2]); // 258 = 0x0102, left-padded to 32 bytes
        want.extend_from_slice(&[0x11; 32]);
        want.extend_from_slice(b"93c717e7c0a6517a"); // hex text, not raw bytes
        assert_eq!(msg, want);
    }

    #[test]
    fn seg_data_signature_round_trip_and_tamper() {
        let s = signer();
        let mut seg = proto::SegData {
            manifest_id: b"stream-1".to_vec(),
            seq: 7,
            hash: vec![0xab; 32],
            full_profiles3: vec![proto::VideoProfile {
                name: "P240p30fps16x9".into(),
                width: 426,
                height: 240,
                ..Default::default()
            }],
            ..Default::default()
        };
        sign_seg_data(&s, &mut seg).unwrap();
        verify_seg_data(&seg, s.address()).unwrap();
        let mut tampered = seg.clone();
        tampered.seq = 8;
        assert!(matches!(
            verify_seg_data(&tampered, s.address()),
            Err(NetError::WrongSigner { .. })
        ));
        tampered = seg.clone();
        tampered.full_profiles3[0].name = "P720p30fps16x9".into();
        assert!(verify_seg_data(&tampered, s.address()).is_err());
        tampered = seg;
        tampered.seq = -1;
        assert!(matches!(
            verify_seg_data(&tampered, s.address()),
            Err(NetError::Invalid { .. })
        ));
    }

    #[test]
    fn legacy_profile_bytes_are_signed_as_hex() {
        let seg = proto::SegData {
            manifest_id: b"m".to_vec(),
            hash: vec![0; 32],
            profiles: hex!("93c717e7").to_vec(),
            ..Default::default()
        };
        let msg = seg_data_message(&seg).unwrap();
        assert!(msg.ends_with(b"93c717e7"));
        let odd = proto::SegData {
            profiles: vec![1, 2, 3],
            ..seg
        };
        assert!(seg_data_message(&odd).is_err());
    }

    #[test]
    fn orchestrator_request_signs_the_checksummed_address() {
        let s = signer();
        let req = signed_orchestrator_request(&s);
        assert_eq!(verify_orchestrator_request(&req).unwrap(), s.address());
        // The message is the EIP-55 text, mixed case, with 0x.
        let text = String::from_utf8(orchestrator_request_message(s.address())).unwrap();
        assert_eq!(text, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
        let mut other = req;
        other.address = vec![0x11; 20];
        assert!(verify_orchestrator_request(&other).is_err());
    }

    #[test]
    fn transcode_result_signature() {
        let s = signer();
        let hashes = [keccak256(b"r1"), keccak256(b"r2")];
        let sig = sign_transcode_result(&s, &hashes);
        verify_transcode_result(s.address(), &hashes, sig.as_bytes()).unwrap();
        let swapped = [hashes[1], hashes[0]];
        assert!(verify_transcode_result(s.address(), &swapped, sig.as_bytes()).is_err());
        let mut cat = Vec::new();
        cat.extend_from_slice(hashes[0].as_slice());
        cat.extend_from_slice(hashes[1].as_slice());
        assert_eq!(transcode_result_hash(&hashes), keccak256(&cat));
    }

    #[test]
    fn auth_tokens() {
        let secret = b"orchestrator secret";
        let t = issue_auth_token(secret, "session-9", 1_000);
        verify_auth_token(secret, Some(&t), 999).unwrap();
        verify_auth_token(secret, Some(&t), 1_000).unwrap();
        assert!(matches!(
            verify_auth_token(secret, Some(&t), 1_001),
            Err(NetError::AuthToken {
                reason: "expired auth token"
            })
        ));
        assert!(verify_auth_token(b"other secret", Some(&t), 0).is_err());
        let mut forged = t.clone();
        forged.expiration = 5_000;
        assert!(verify_auth_token(secret, Some(&forged), 0).is_err());
        assert!(verify_auth_token(secret, None, 0).is_err());
        // The HMAC input is session id || minimal big-endian expiration.
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret).unwrap();
        mac.update(b"session-9\x03\xe8");
        let want: [u8; 32] = mac.finalize().into_bytes().into();
        assert_eq!(t.token, want.to_vec());
    }

    #[test]
    fn ping_is_signed_by_the_orchestrator() {
        let s = signer();
        let req = proto::PingPong {
            value: b"nonce-123".to_vec(),
        };
        let resp = ping_response(&s, &req);
        verify_ping_response(s.address(), &req, &resp).unwrap();
        let other = proto::PingPong {
            value: b"nonce-124".to_vec(),
        };
        assert!(verify_ping_response(s.address(), &other, &resp).is_err());
    }

    #[test]
    fn minimal_big_endian() {
        assert_eq!(be_minimal_u64(0), Vec::<u8>::new());
        assert_eq!(be_minimal_u64(1), vec![1]);
        assert_eq!(be_minimal_u64(0x0100), vec![1, 0]);
        assert_eq!(be_minimal_u64(u64::MAX), vec![0xff; 8]);
    }
}
