use alloy_primitives::U256;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::{fmt, str::FromStr};

/// ETH and LPT both have 18 decimals.
pub const DECIMALS: usize = 18;

/// Why an amount could not be parsed or computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmountError {
    #[error("`{input}` is not a decimal amount (expected digits with an optional `.`, e.g. 12.5)")]
    Malformed { input: String },
    #[error("`{input}` has more than {DECIMALS} decimal places; the smallest unit is 1e-18")]
    TooPrecise { input: String },
    #[error("`{input}` is too large for a 256-bit amount")]
    TooLarge { input: String },
    #[error("{unit} arithmetic overflowed")]
    Overflow { unit: &'static str },
    #[error("{unit} arithmetic underflowed: {lhs} - {rhs}")]
    Underflow {
        unit: &'static str,
        lhs: String,
        rhs: String,
    },
}

fn ten_pow_decimals() -> U256 {
    U256::from(10u64).pow(U256::from(DECIMALS))
}

/// Parses `"12.5"` into base units (×10^18), exactly.
fn parse_decimal(input: &str) -> Result<U256, AmountError> {
    let s = input.trim();
    let malformed = || AmountError::Malformed {
        input: input.to_owned(),
    };
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(malformed());
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > DECIMALS {
        return Err(AmountError::TooPrecise {
            input: input.to_owned(),
        });
    }
    let too_large = || AmountError::TooLarge {
        input: input.to_owned(),
    };
    let int_units = if int.is_empty() {
        U256::ZERO
    } else {
        U256::from_str_radix(int, 10).map_err(|_| too_large())?
    };
    // Right-pad the fraction to 18 digits: "5" -> 500000000000000000.
    let frac_units = if frac.is_empty() {
        U256::ZERO
    } else {
        let padded = format!("{frac:0<DECIMALS$}");
        U256::from_str_radix(&padded, 10).map_err(|_| malformed())?
    };
    int_units
        .checked_mul(ten_pow_decimals())
        .and_then(|v| v.checked_add(frac_units))
        .ok_or_else(too_large)
}

/// Formats base units as a decimal with trailing zeros trimmed: 1.5, 0.000000000000000001, 3.
fn format_decimal(units: U256) -> String {
    let (int, frac) = units.div_rem(ten_pow_decimals());
    if frac.is_zero() {
        return int.to_string();
    }
    let frac = format!("{frac:0>DECIMALS$}");
    format!("{int}.{}", frac.trim_end_matches('0'))
}

macro_rules! amount {
    ($(#[$doc:meta])* $name:ident, $unit:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(U256);

        impl $name {
            /// The unit's ticker, used when printing.
            pub const UNIT: &'static str = $unit;
            pub const ZERO: Self = Self(U256::ZERO);

            /// An amount in base units (10^-18 of the unit).
            pub const fn from_base_units(units: U256) -> Self {
                Self(units)
            }

            /// A whole number of units, e.g. `from_whole(1000)` = 1000 × 10^18 base units.
            pub fn from_whole(whole: u64) -> Self {
                // u64::MAX × 10^18 < 2^128, far inside U256: cannot overflow.
                Self(U256::from(whole).saturating_mul(ten_pow_decimals()))
            }

            /// Parses a decimal amount of whole units, e.g. `"12.5"`.
            pub fn parse_decimal(s: &str) -> Result<Self, AmountError> {
                parse_decimal(s).map(Self)
            }

            pub const fn base_units(self) -> U256 {
                self.0
            }

            pub fn is_zero(self) -> bool {
                self.0.is_zero()
            }

            /// The amount as a decimal of whole units without the unit, e.g. `12.5`.
            pub fn to_decimal_string(self) -> String {
                format_decimal(self.0)
            }

            pub fn checked_add(self, rhs: Self) -> Result<Self, AmountError> {
                self.0
                    .checked_add(rhs.0)
                    .map(Self)
                    .ok_or(AmountError::Overflow { unit: $unit })
            }

            pub fn checked_sub(self, rhs: Self) -> Result<Self, AmountError> {
                self.0.checked_sub(rhs.0).map(Self).ok_or_else(|| AmountError::Underflow {
                    unit: $unit,
                    lhs: self.to_string(),
                    rhs: rhs.to_string(),
                })
            }

            pub fn checked_mul(self, factor: U256) -> Result<Self, AmountError> {
                self.0
                    .checked_mul(factor)
                    .map(Self)
                    .ok_or(AmountError::Overflow { unit: $unit })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{} {}", format_decimal(self.0), $unit)
            }
        }

        /// Accepts `"12.5"` and also `"12.5 LPT"` (the form [`Display`](fmt::Display) prints).
        impl FromStr for $name {
            type Err = AmountError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let s = s.trim();
                let s = s.strip_suffix($unit).map(str::trim_end).unwrap_or(s);
                Self::parse_decimal(s)
            }
        }

        impl From<$name> for U256 {
            fn from(v: $name) -> U256 {
                v.0
            }
        }

        /// Serialised as a decimal string of base units, the form JSON-RPC tools and
        /// spreadsheets read without losing precision.
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0.to_string())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                U256::from_str_radix(&s, 10).map(Self).map_err(serde::de::Error::custom)
            }
        }
    };
}

amount!(
    /// An amount of ETH, in wei.
    Wei,
    "ETH"
);
amount!(
    /// An amount of Livepeer Token, in its 18-decimal base unit.
    Lpt,
    "LPT"
);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_decimals_exactly() {
        assert_eq!(
            Lpt::parse_decimal("12.5").unwrap().base_units(),
            U256::from(12_500_000_000_000_000_000u128)
        );
        assert_eq!(
            Lpt::parse_decimal("0.000000000000000001")
                .unwrap()
                .base_units(),
            U256::from(1)
        );
        assert_eq!(
            Lpt::parse_decimal(".5").unwrap().base_units(),
            U256::from(500_000_000_000_000_000u128)
        );
        assert_eq!(Lpt::parse_decimal("7.").unwrap(), Lpt::from_whole(7));
        assert_eq!(
            Wei::parse_decimal("1.500000000000000000000").unwrap(),
            Wei::parse_decimal("1.5").unwrap()
        );
        assert_eq!("3 LPT".parse::<Lpt>().unwrap(), Lpt::from_whole(3));
    }

    #[test]
    fn rejects_bad_amounts_with_specific_errors() {
        for bad in ["", ".", "abc", "1.2.3", "-1", "1e18", " 1 2", "0x10"] {
            assert!(
                matches!(Lpt::parse_decimal(bad), Err(AmountError::Malformed { .. })),
                "{bad:?}"
            );
        }
        assert!(matches!(
            Lpt::parse_decimal("0.0000000000000000001"),
            Err(AmountError::TooPrecise { .. })
        ));
        let huge = "9".repeat(80);
        assert!(matches!(
            Lpt::parse_decimal(&huge),
            Err(AmountError::TooLarge { .. })
        ));
        // 2^256 / 10^18 ≈ 1.16e59: 1e60 whole units overflow in the multiplication
        let big = format!("1{}", "0".repeat(60));
        assert!(matches!(
            Lpt::parse_decimal(&big),
            Err(AmountError::TooLarge { .. })
        ));
    }

    #[test]
    fn formats_with_unit() {
        assert_eq!(Lpt::parse_decimal("12.50").unwrap().to_string(), "12.5 LPT");
        assert_eq!(
            Wei::from_base_units(U256::from(1)).to_string(),
            "0.000000000000000001 ETH"
        );
        assert_eq!(Wei::ZERO.to_string(), "0 ETH");
        assert_eq!(Lpt::from_whole(1000).to_decimal_string(), "1000");
    }

    #[test]
    fn checked_arithmetic() {
        let a = Lpt::from_whole(2);
        let b = Lpt::from_whole(3);
        assert_eq!(a.checked_add(b).unwrap(), Lpt::from_whole(5));
        let err = a.checked_sub(b).unwrap_err();
        assert_eq!(err.to_string(), "LPT arithmetic underflowed: 2 LPT - 3 LPT");
        let max = Lpt::from_base_units(U256::MAX);
        assert_eq!(
            max.checked_add(Lpt::from_base_units(U256::from(1))),
            Err(AmountError::Overflow { unit: "LPT" })
        );
        assert!(max.checked_mul(U256::from(2)).is_err());
    }

    #[test]
    fn serde_is_base_unit_string() {
        let v = Wei::parse_decimal("1.5").unwrap();
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(json, "\"1500000000000000000\"");
        assert_eq!(serde_json::from_str::<Wei>(&json).unwrap(), v);
        assert!(serde_json::from_str::<Wei>("\"1.5\"").is_err());
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(limbs in any::<[u64; 4]>()) {
            let v = Lpt::from_base_units(U256::from_limbs(limbs));
            prop_assert_eq!(v.to_string().parse::<Lpt>().unwrap(), v);
            prop_assert_eq!(Lpt::parse_decimal(&v.to_decimal_string()).unwrap(), v);
        }
    }
}
