//! Prices of work as exact rationals.

use alloy_primitives::U256;
use std::{cmp::Ordering, fmt};

/// Why a price is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PriceError {
    #[error("the price's unit count (denominator) is 0")]
    ZeroDenominator,
    #[error("the fee of {units} units at {price} overflows 256 bits")]
    Overflow { units: u64, price: PricePerUnit },
}

/// Wei per unit of work as an exact rational `num / den`, always reduced, `den > 0` (what
/// go-livepeer carries as a `big.Rat`). The unit is the kind of work's: a pixel of
/// transcoded output, a generated token, a unit of WASM fuel, a millisecond of audio.
///
/// Reduced form makes equal prices compare and hash equal: 1000/10 and 100/1 are the same
/// price, and the recipient's HMAC over ticket params sees one value for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PricePerUnit {
    num: U256,
    den: U256,
}

impl PricePerUnit {
    pub const ZERO: Self = Self {
        num: U256::ZERO,
        den: U256::from_limbs([1, 0, 0, 0]),
    };

    /// `num / den` wei per unit; refuses a zero denominator.
    pub fn new(num: U256, den: U256) -> Result<Self, PriceError> {
        if den.is_zero() {
            return Err(PriceError::ZeroDenominator);
        }
        if num.is_zero() {
            return Ok(Self::ZERO);
        }
        let g = num.gcd(den);
        // g ≥ 1 because num > 0, so the divisions cannot fail.
        let num = num.checked_div(g).unwrap_or(num);
        let den = den.checked_div(g).unwrap_or(den);
        Ok(Self { num, den })
    }

    /// A whole number of wei per unit.
    pub fn from_wei_per_unit(wei: u64) -> Self {
        Self {
            num: U256::from(wei),
            den: U256::from(1u64),
        }
    }

    pub const fn num(&self) -> U256 {
        self.num
    }

    pub const fn den(&self) -> U256 {
        self.den
    }

    pub fn is_zero(&self) -> bool {
        self.num.is_zero()
    }

    /// `num × units`: the fee for `units` in units of `1/den` wei, exact. Balances keep
    /// their sums in this scale so that no division (and no rounding) ever happens.
    pub fn scaled_fee(&self, units: u64) -> Result<U256, PriceError> {
        self.num
            .checked_mul(U256::from(units))
            .ok_or(PriceError::Overflow {
                units,
                price: *self,
            })
    }

    /// The fee for `units` in wei, rounded up: what a payer must cover.
    pub fn fee_ceil(&self, units: u64) -> Result<U256, PriceError> {
        let scaled = self.scaled_fee(units)?;
        // den > 0 by construction.
        let q = scaled.checked_div(self.den).unwrap_or_default();
        let exact = q.checked_mul(self.den) == Some(scaled);
        Ok(if exact {
            q
        } else {
            q.saturating_add(U256::from(1u8))
        })
    }
}

impl Default for PricePerUnit {
    fn default() -> Self {
        Self::ZERO
    }
}

impl PartialOrd for PricePerUnit {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Exact comparison by cross-multiplying; a product that does not fit 512 bits cannot
/// happen for 256-bit parts, but U256 products can overflow, and then the wider side is the
/// larger price (both parts are bounded by U256 and den > 0).
impl Ord for PricePerUnit {
    fn cmp(&self, other: &Self) -> Ordering {
        let lhs = self.num.widening_mul::<256, 4, 512, 8>(other.den);
        let rhs = other.num.widening_mul::<256, 4, 512, 8>(self.den);
        lhs.cmp(&rhs)
    }
}

impl fmt::Display for PricePerUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} wei per unit", self.num, self.den)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(n: u64, d: u64) -> PricePerUnit {
        PricePerUnit::new(U256::from(n), U256::from(d)).unwrap()
    }

    #[test]
    fn reduced_and_validated() {
        assert_eq!(p(1000, 10), PricePerUnit::from_wei_per_unit(100));
        let b = p(6, 4);
        assert_eq!((b.num(), b.den()), (U256::from(3), U256::from(2)));
        assert_eq!(
            PricePerUnit::new(U256::from(1), U256::ZERO),
            Err(PriceError::ZeroDenominator)
        );
        assert_eq!(p(0, 7), PricePerUnit::ZERO);
        assert_eq!(b.scaled_fee(10).unwrap(), U256::from(30));
        assert_eq!(b.fee_ceil(10).unwrap(), U256::from(15));
        assert_eq!(b.fee_ceil(3).unwrap(), U256::from(5), "4.5 wei rounds up");
        assert!(
            PricePerUnit::new(U256::MAX, U256::from(1))
                .unwrap()
                .scaled_fee(2)
                .is_err()
        );
    }

    #[test]
    fn ordered_exactly() {
        assert!(p(1, 3) < p(1, 2));
        assert!(p(2, 3) > p(1, 2));
        assert_eq!(p(2, 4).cmp(&p(1, 2)), Ordering::Equal);
        let huge = PricePerUnit::new(U256::MAX, U256::from(1)).unwrap();
        let tiny = PricePerUnit::new(U256::from(1), U256::MAX).unwrap();
        assert!(huge > tiny);
        assert!(tiny > PricePerUnit::ZERO);
    }
}
