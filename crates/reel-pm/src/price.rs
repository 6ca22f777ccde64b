//! Prices on the wire. The price itself is [`reel_types::PricePerUnit`]; transcoding's unit
//! is a pixel of output, hence the [`PricePerPixel`] name its code uses.

use crate::PmError;
use alloy_primitives::U256;
use reel_net::proto;
pub use reel_types::PricePerUnit;

/// Wei per pixel of transcoded output.
pub type PricePerPixel = PricePerUnit;

impl From<reel_types::PriceError> for PmError {
    fn from(e: reel_types::PriceError) -> Self {
        match e {
            reel_types::PriceError::ZeroDenominator => PmError::InvalidPrice {
                reason: "pixels per unit is 0".into(),
            },
            other => PmError::InvalidPrice {
                reason: other.to_string(),
            },
        }
    }
}

/// `PriceInfo` ↔ [`PricePerUnit`]: `pricePerUnit / pixelsPerUnit`, both int64 on the wire
/// (go-livepeer's names, whatever the unit).
pub trait PriceProto: Sized {
    fn from_proto(p: &proto::PriceInfo) -> Result<Self, PmError>;
    /// The wire form (capability and constraint left empty); fails if a part does not fit
    /// an int64.
    fn to_proto(&self) -> Result<proto::PriceInfo, PmError>;
}

impl PriceProto for PricePerUnit {
    fn from_proto(p: &proto::PriceInfo) -> Result<Self, PmError> {
        let num = u64::try_from(p.price_per_unit).map_err(|_| PmError::InvalidPrice {
            reason: format!("pricePerUnit {} is negative", p.price_per_unit),
        })?;
        let den = u64::try_from(p.pixels_per_unit).map_err(|_| PmError::InvalidPrice {
            reason: format!("pixelsPerUnit {} is negative", p.pixels_per_unit),
        })?;
        Ok(Self::new(U256::from(num), U256::from(den))?)
    }

    fn to_proto(&self) -> Result<proto::PriceInfo, PmError> {
        let fit = |v: U256, what: &str| {
            i64::try_from(v).map_err(|_| PmError::InvalidPrice {
                reason: format!("{what} {v} does not fit in an int64"),
            })
        };
        Ok(proto::PriceInfo {
            price_per_unit: fit(self.num(), "price")?,
            pixels_per_unit: fit(self.den(), "pixels per unit")?,
            ..Default::default()
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
        assert_eq!(
            PricePerPixel::new(U256::from(1), U256::ZERO).map_err(PmError::from),
            Err(PmError::InvalidPrice {
                reason: "pixels per unit is 0".into()
            })
        );
    }
}
