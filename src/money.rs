//! Exact money: integer picodollars (1e-12 USD).
//!
//! Prices are quoted per million tokens with up to six decimals (`$0.075 / 1M`), so one token
//! costs a whole number of picodollars and every sum of token costs is exact. Budgets compare
//! and add these integers, never floats. i64 holds about 9.2 million dollars per value.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, AddAssign, Sub};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Usd(pub i64);

pub const PICOS_PER_USD: i64 = 1_000_000_000_000;

impl Usd {
    pub const ZERO: Usd = Usd(0);

    /// Converts a price quoted per million tokens into the exact price of one token.
    /// Prices are rounded to the picodollar per token (a millionth of a dollar per million).
    pub fn per_token_from_per_million(usd_per_million: f64) -> Option<Usd> {
        let picos = (usd_per_million * 1_000_000.0).round();
        (usd_per_million.is_finite() && usd_per_million >= 0.0 && picos < i64::MAX as f64).then_some(Usd(picos as i64))
    }

    /// Converts a per-token price (LiteLLM's `input_cost_per_token`) into picodollars.
    pub fn per_token_from_usd(usd_per_token: f64) -> Option<Usd> {
        Self::per_token_from_per_million(usd_per_token * 1_000_000.0)
    }

    /// `tokens` tokens at this per-token price; saturates instead of overflowing.
    pub fn times(self, tokens: u64) -> Usd {
        Usd(self.0.saturating_mul(i64::try_from(tokens).unwrap_or(i64::MAX)))
    }

    /// Scales by a fraction in parts per million (for discounts), rounding half up.
    pub fn scale_ppm(self, ppm: u32) -> Usd {
        Usd(((self.0 as i128 * ppm as i128 + 500_000) / 1_000_000) as i64)
    }

    pub fn saturating_sub(self, other: Usd) -> Usd {
        Usd(self.0.saturating_sub(other.0))
    }

    pub fn as_f64(self) -> f64 {
        self.0 as f64 / PICOS_PER_USD as f64
    }

    /// Parses a decimal dollar string such as `"12.50"` (for budgets set by humans).
    pub fn parse_decimal(s: &str) -> Option<Usd> {
        let s = s.trim();
        let (neg, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty() && frac.is_empty() || frac.len() > 12 {
            return None;
        }
        if !whole.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
        let frac_picos: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<12}").parse().ok()? };
        let picos = whole.checked_mul(PICOS_PER_USD)?.checked_add(frac_picos)?;
        Some(Usd(if neg { -picos } else { picos }))
    }
}

impl fmt::Display for Usd {
    /// Plain decimal dollars with no trailing zeros: `0.00012345`, `3`, `-0.5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let whole = abs / PICOS_PER_USD as u64;
        let frac = abs % PICOS_PER_USD as u64;
        if frac == 0 {
            write!(f, "{sign}{whole}")
        } else {
            let frac = format!("{frac:012}");
            write!(f, "{sign}{whole}.{}", frac.trim_end_matches('0'))
        }
    }
}

impl Add for Usd {
    type Output = Usd;
    fn add(self, rhs: Usd) -> Usd {
        Usd(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign for Usd {
    fn add_assign(&mut self, rhs: Usd) {
        *self = *self + rhs;
    }
}

impl Sub for Usd {
    type Output = Usd;
    fn sub(self, rhs: Usd) -> Usd {
        Usd(self.0.saturating_sub(rhs.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_million_prices_are_exact_per_token() {
        assert_eq!(Usd::per_token_from_per_million(0.15), Some(Usd(150_000)));
        assert_eq!(Usd::per_token_from_per_million(0.075), Some(Usd(75_000)));
        assert_eq!(Usd::per_token_from_per_million(3.75), Some(Usd(3_750_000)));
        assert_eq!(Usd::per_token_from_usd(1.5e-7), Some(Usd(150_000)));
        assert_eq!(Usd::per_token_from_per_million(-1.0), None);
        assert_eq!(Usd::per_token_from_per_million(f64::NAN), None);
        // A price past what a picodollar count holds is refused, not read as the largest one
        // (`as` saturates): 2^63 picodollars a token exactly, and infinity.
        let past = (1u64 << 63) as f64 / 1_000_000.0;
        assert_eq!((past * 1_000_000.0).round(), 9_223_372_036_854_775_808.0);
        assert_eq!(Usd::per_token_from_per_million(past), None);
        assert_eq!(Usd::per_token_from_per_million(f64::INFINITY), None);
        assert!(Usd::per_token_from_per_million(9_000_000_000_000.0).is_some());
    }

    #[test]
    fn displays_plain_decimals() {
        assert_eq!(Usd(150_000).times(1000).to_string(), "0.00015");
        assert_eq!(Usd(PICOS_PER_USD * 3).to_string(), "3");
        assert_eq!(Usd(-PICOS_PER_USD / 2).to_string(), "-0.5");
        assert_eq!(Usd(1).to_string(), "0.000000000001");
        assert_eq!(Usd(0).to_string(), "0");
    }

    #[test]
    fn parses_decimal_strings() {
        assert_eq!(Usd::parse_decimal("12.50"), Some(Usd(12_500_000_000_000)));
        assert_eq!(Usd::parse_decimal(".5"), Some(Usd(500_000_000_000)));
        assert_eq!(Usd::parse_decimal("-1"), Some(Usd(-PICOS_PER_USD)));
        // A picodollar is the finest figure: twelve decimals, not thirteen.
        assert_eq!(Usd::parse_decimal("0.000000000001"), Some(Usd(1)));
        assert_eq!(Usd::parse_decimal("0.0000000000001"), None);
        for bad in ["", ".", "1.2.3", "abc", "1e3", "0.0000000000001"] {
            assert_eq!(Usd::parse_decimal(bad), None, "{bad}");
        }
    }

    #[test]
    fn discounts_round_half_up() {
        assert_eq!(Usd(3).scale_ppm(500_000), Usd(2));
        assert_eq!(Usd(1_000_000).scale_ppm(500_000), Usd(500_000));
    }
}

/// Serde for amounts people write: `"12.50"` (or `12.5`) in USD, written back as a decimal string.
pub mod decimal {
    use super::Usd;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Number(serde_json::Number),
    }

    fn parse<'de, D: Deserializer<'de>>(raw: Raw) -> Result<Usd, D::Error> {
        let text = match raw {
            Raw::Text(t) => t,
            Raw::Number(n) => n.to_string(),
        };
        match Usd::parse_decimal(&text) {
            Some(u) if u.0 >= 0 => Ok(u),
            // Exact picodollars in 64 bits end a little past 9.2 million dollars.
            _ => Err(D::Error::custom(format!("expected a non-negative USD amount (at most about 9.2 million) like \"12.50\", got {text:?}"))),
        }
    }

    pub fn serialize<S: Serializer>(v: &Usd, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Usd, D::Error> {
        parse::<D>(Raw::deserialize(d)?)
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(v: &Option<Usd>, s: S) -> Result<S::Ok, S::Error> {
            match v {
                Some(u) => s.serialize_str(&u.to_string()),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Usd>, D::Error> {
            match Option::<Raw>::deserialize(d)? {
                Some(raw) => parse::<D>(raw).map(Some),
                None => Ok(None),
            }
        }
    }
}
