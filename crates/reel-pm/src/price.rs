//! Price per pixel as an exact rational, the way go-livepeer's `big.Rat` carries it.

use crate::PmError;
use alloy_primitives::U256;
use reel_net::proto;
use std::fmt;

/// Wei per pixel = `num / den`, always reduced (so 1000/10 and 100/1 are the same price and
/// hash the same in the recipient's HMAC), `den > 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PricePerPixel {
    num: U256,
    den: U256,
}

impl PricePerPixel {
    pub const ZERO: Self = Self {
        num: U256::ZERO,
        den: U256::from_limbs([1, 0, 0, 0]),
    };

    /// `num / den` wei per pixel; refuses a zero denominator.
    pub fn new(num: U256, den: U256) -> Result<Self, PmError> {
        if den.is_zero() {
            return Err(PmError::InvalidPrice {
                reason: "pixels per unit is 0".into(),
            });
        }
        if num.is_zero() {
            return Ok(Self::ZERO);
        }
        let g = num.gcd(den);
        // g ≥ 1 because num > 0; checked_div cannot fail.
        let num = num.checked_div(g).unwrap_or(num);
        let den = den.checked_div(g).unwrap_or(den);
        Ok(Self { num, den })
    }

    /// A whole number of wei per pixel.
    pub fn from_wei_per_pixel(wei: u64) -> Self {
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

    /// From the wire `PriceInfo` (`pricePerUnit / pixelsPerUnit`, both int64).
    pub fn from_proto(p: &proto::PriceInfo) -> Result<Self, PmError> {
        let num = u64::try_from(p.price_per_unit).map_err(|_| PmError::InvalidPrice {
            reason: format!("pricePerUnit {} is negative", p.price_per_unit),
        })?;
        let den = u64::try_from(p.pixels_per_unit).map_err(|_| PmError::InvalidPrice {
            reason: format!("pixelsPerUnit {} is negative", p.pixels_per_unit),
        })?;
        Self::new(U256::from(num), U256::from(den))
    }

    /// To the wire form; fails if a part does not fit an int64.
    pub fn to_proto(&self) -> Result<proto::PriceInfo, PmError> {
        let fit = |v: U256, what: &str| {
            i64::try_from(v).map_err(|_| PmError::InvalidPrice {
                reason: format!("{what} {v} does not fit in an int64"),
            })
        };
        Ok(proto::PriceInfo {
            price_per_unit: fit(self.num, "price")?,
            pixels_per_unit: fit(self.den, "pixels per unit")?,
            ..Default::default()
        })
    }

    /// `num × pixels`: the fee for `pixels` in units of `1/den` wei.
    pub fn scaled_fee(&self, pixels: u64) -> Result<U256, PmError> {
        self.num
            .checked_mul(U256::from(pixels))
            .ok_or(PmError::Overflow { what: "pixel fee" })
    }
}

impl fmt::Display for PricePerPixel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} wei per pixel", self.num, self.den)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reduced_and_validated() {
        let a = PricePerPixel::new(U256::from(1000), U256::from(10)).unwrap();
        assert_eq!(a, PricePerPixel::from_wei_per_pixel(100));
        let b = PricePerPixel::new(U256::from(6), U256::from(4)).unwrap();
        assert_eq!((b.num(), b.den()), (U256::from(3), U256::from(2)));
        assert!(PricePerPixel::new(U256::from(1), U256::ZERO).is_err());
        assert_eq!(
            PricePerPixel::new(U256::ZERO, U256::from(7)).unwrap(),
            PricePerPixel::ZERO
        );
        assert_eq!(b.scaled_fee(10).unwrap(), U256::from(30));
    }

    #[test]
    fn wire_form() {
        let p = PricePerPixel::from_proto(&proto::PriceInfo {
            price_per_unit: 1200,
            pixels_per_unit: 1000,
            ..Default::default()
        })
        .unwrap();
        assert_eq!((p.num(), p.den()), (U256::from(6), U256::from(5)));
        assert_eq!(p.to_proto().unwrap().price_per_unit, 6);
        for (ppu, pix) in [(-1, 1), (1, -1), (1, 0)] {
            assert!(
                PricePerPixel::from_proto(&proto::PriceInfo {
                    price_per_unit: ppu,
                    pixels_per_unit: pix,
                    ..Default::default()
                })
                .is_err()
            );
        }
    }
}
