use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// A share in millionths: the protocol's `MathUtils` precision (1e6 = 100%), used for reward
/// cuts, fee shares and the round lock. Parsed from and shown as a percentage with up to four
/// decimals ("12.5" = 125000), exactly.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Ppm(u32);

/// Why a percentage was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PercentError {
    #[error("`{0}` is not a percentage (expected e.g. 10 or 12.5)")]
    Malformed(String),
    #[error("`{0}` has more than 4 decimal places; the protocol counts in millionths (0.0001%)")]
    TooPrecise(String),
    #[error("`{0}` is more than 100%")]
    OverHundred(String),
}

impl Ppm {
    pub const ONE_HUNDRED_PERCENT: Ppm = Ppm(1_000_000);

    /// From millionths; `None` above 100%.
    pub fn new(millionths: u32) -> Option<Ppm> {
        (millionths <= 1_000_000).then_some(Ppm(millionths))
    }

    pub fn millionths(self) -> u32 {
        self.0
    }
}

impl FromStr for Ppm {
    type Err = PercentError;
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let s = input.trim().trim_end_matches('%').trim_end();
        let malformed = || PercentError::Malformed(input.to_owned());
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if (int.is_empty() && frac.is_empty())
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(malformed());
        }
        let frac = frac.trim_end_matches('0');
        if frac.len() > 4 {
            return Err(PercentError::TooPrecise(input.to_owned()));
        }
        let int: u64 = if int.is_empty() {
            0
        } else {
            int.parse()
                .map_err(|_| PercentError::OverHundred(input.to_owned()))?
        };
        let frac: u64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<4}").parse().map_err(|_| malformed())?
        };
        // percent × 10^4 = millionths
        let total = int
            .checked_mul(10_000)
            .and_then(|v| v.checked_add(frac))
            .filter(|v| *v <= 1_000_000)
            .ok_or_else(|| PercentError::OverHundred(input.to_owned()))?;
        u32::try_from(total)
            .map(Ppm)
            .map_err(|_| PercentError::OverHundred(input.to_owned()))
    }
}

impl fmt::Display for Ppm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (int, frac) = (self.0 / 10_000, self.0 % 10_000);
        if frac == 0 {
            write!(f, "{int}%")
        } else {
            let frac = format!("{frac:04}");
            write!(f, "{int}.{}%", frac.trim_end_matches('0'))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_percentages_exactly() {
        assert_eq!("10".parse::<Ppm>().unwrap().millionths(), 100_000);
        assert_eq!("12.5%".parse::<Ppm>().unwrap().millionths(), 125_000);
        assert_eq!("0.0001".parse::<Ppm>().unwrap().millionths(), 1);
        assert_eq!("100".parse::<Ppm>().unwrap(), Ppm::ONE_HUNDRED_PERCENT);
        assert_eq!("0".parse::<Ppm>().unwrap().millionths(), 0);
        assert!(matches!(
            "100.0001".parse::<Ppm>(),
            Err(PercentError::OverHundred(_))
        ));
        assert!(matches!(
            "99999999999999999999999".parse::<Ppm>(),
            Err(PercentError::OverHundred(_))
        ));
        assert!(matches!(
            "0.00001".parse::<Ppm>(),
            Err(PercentError::TooPrecise(_))
        ));
        for bad in ["", "x", "-1", "1.2.3", "%"] {
            assert!(
                matches!(bad.parse::<Ppm>(), Err(PercentError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn displays_as_percent() {
        assert_eq!(Ppm::new(125_000).unwrap().to_string(), "12.5%");
        assert_eq!(Ppm::new(1).unwrap().to_string(), "0.0001%");
        assert_eq!(Ppm::new(1_000_000).unwrap().to_string(), "100%");
        assert_eq!(Ppm::new(1_000_001), None);
        for m in [0u32, 1, 999, 10_000, 123_456, 1_000_000] {
            let p = Ppm::new(m).unwrap();
            assert_eq!(p.to_string().parse::<Ppm>().unwrap(), p);
        }
    }
}
