//! The contracts' fixed-point helpers (contracts/src/libraries/MathUtils.sol, MathUtilsV2.sol,
//! PreciseMathUtils.sol) with Solidity 0.8's checked arithmetic: an overflow, underflow or
//! division by zero is an error where the EVM would revert with a panic.

use crate::EconError;
use reel_types::U256;

/// 1e6 = 100% (MathUtils: reward cut, fee share).
pub const PERC_DIVISOR: u64 = 1_000_000;
/// 1e9 = 100% (MathUtilsV2: inflation, bonding rate).
pub const PERC_DIVISOR_V2: u64 = 1_000_000_000;

/// 1e27 = 1.0 (PreciseMathUtils: cumulative factors, treasury cut rate).
pub fn precise_one() -> U256 {
    U256::from(10u64).pow(U256::from(27u64))
}

pub(crate) fn add(a: U256, b: U256) -> Result<U256, EconError> {
    a.checked_add(b).ok_or(EconError::Overflow)
}

pub(crate) fn sub(a: U256, b: U256) -> Result<U256, EconError> {
    a.checked_sub(b).ok_or(EconError::Underflow)
}

pub(crate) fn mul(a: U256, b: U256) -> Result<U256, EconError> {
    a.checked_mul(b).ok_or(EconError::Overflow)
}

pub(crate) fn div(a: U256, b: U256) -> Result<U256, EconError> {
    a.checked_div(b).ok_or(EconError::DivisionByZero)
}

/// `(num * divisor) / den`: a ratio quantised to `divisor`.
pub fn perc_points(num: U256, den: U256, divisor: U256) -> Result<U256, EconError> {
    div(mul(num, divisor)?, den)
}

/// `amount * perc_points(num, den) / divisor`: the two-step floor rounding of the libraries.
pub fn perc_of_frac(amount: U256, num: U256, den: U256, divisor: U256) -> Result<U256, EconError> {
    div(mul(amount, perc_points(num, den, divisor)?)?, divisor)
}

/// `amount * frac / divisor`.
pub fn perc_of(amount: U256, frac: U256, divisor: U256) -> Result<U256, EconError> {
    div(mul(amount, frac)?, divisor)
}

/// MathUtils.percOf(amount, frac) with 1e6 precision.
pub(crate) fn ppm_of(amount: U256, frac: u32) -> Result<U256, EconError> {
    perc_of(amount, U256::from(frac), U256::from(PERC_DIVISOR))
}

/// PreciseMathUtils.percOf(amount, num, den).
pub(crate) fn precise_of_frac(amount: U256, num: U256, den: U256) -> Result<U256, EconError> {
    perc_of_frac(amount, num, den, precise_one())
}

/// PreciseMathUtils.percOf(amount, frac).
pub(crate) fn precise_of(amount: U256, frac: U256) -> Result<U256, EconError> {
    perc_of(amount, frac, precise_one())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_step_rounding_quantises_the_ratio_first() -> Result<(), EconError> {
        // 1/3 in 1e6 is 333_333; 1_000_000 * 333_333 / 1e6 = 333_333 (not 333_333.33).
        let d = U256::from(PERC_DIVISOR);
        assert_eq!(
            perc_of_frac(
                U256::from(1_000_000u64),
                U256::from(1u64),
                U256::from(3u64),
                d
            )?,
            U256::from(333_333u64)
        );
        // With a large amount the quantisation shows: 3e18 * 333_333 / 1e6.
        let big = U256::from(3_000_000_000_000_000_000u64);
        assert_eq!(
            perc_of_frac(big, U256::from(1u64), U256::from(3u64), d)?,
            U256::from(999_999_000_000_000_000u64)
        );
        assert!(matches!(
            perc_of_frac(big, U256::from(1u64), U256::ZERO, d),
            Err(EconError::DivisionByZero)
        ));
        assert!(matches!(
            sub(U256::ZERO, U256::from(1u64)),
            Err(EconError::Underflow)
        ));
        Ok(())
    }
}
