//! Minimal big-endian integers, the encoding of every number in `TicketParams` and
//! `MaxFloatUpdate` (Go's `big.Int.Bytes()`: no leading zeros, zero is empty).

use crate::NetError;
use alloy_primitives::U256;

/// Minimal big-endian bytes of `v` (0 → empty).
pub fn encode_u256(v: U256) -> Vec<u8> {
    let bytes = v.to_be_bytes::<32>();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    bytes.get(skip..).unwrap_or_default().to_vec()
}

/// Reads a big-endian unsigned integer of at most 32 bytes. Leading zeros are tolerated
/// (they do not change the value), more than 32 significant bytes are refused.
pub fn decode_u256(field: &'static str, bytes: &[u8]) -> Result<U256, NetError> {
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let significant = bytes.get(skip..).unwrap_or_default();
    if significant.len() > 32 {
        return Err(NetError::Invalid {
            field,
            reason: format!("{} significant bytes; at most 32", significant.len()),
        });
    }
    Ok(U256::from_be_slice(significant))
}

/// Reads a big-endian integer that must fit in a `u64` (block numbers).
pub fn decode_u64(field: &'static str, bytes: &[u8]) -> Result<u64, NetError> {
    let v = decode_u256(field, bytes)?;
    u64::try_from(v).map_err(|_| NetError::Invalid {
        field,
        reason: format!("{v} does not fit in 64 bits"),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert_eq!(encode_u256(U256::ZERO), Vec::<u8>::new());
        assert_eq!(encode_u256(U256::from(0x0102u64)), vec![1, 2]);
        assert_eq!(encode_u256(U256::MAX), vec![0xff; 32]);
        assert_eq!(decode_u256("f", &[]).unwrap(), U256::ZERO);
        assert_eq!(decode_u256("f", &[0, 0, 1]).unwrap(), U256::from(1));
        assert!(decode_u256("f", &[1; 33]).is_err());
        let mut padded = vec![0u8; 40];
        padded.push(7);
        assert_eq!(decode_u256("f", &padded).unwrap(), U256::from(7));
        assert_eq!(decode_u64("f", &[1, 0]).unwrap(), 256);
        assert!(decode_u64("f", &[1; 9]).is_err());
    }

    proptest! {
        #[test]
        fn round_trip(limbs in any::<[u64; 4]>()) {
            let v = U256::from_limbs(limbs);
            let enc = encode_u256(v);
            prop_assert!(enc.first() != Some(&0));
            prop_assert_eq!(decode_u256("f", &enc).unwrap(), v);
        }
    }
}
