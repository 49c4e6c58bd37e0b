//! DynamoDB numbers: exact decimals with up to 38 significant digits and a magnitude between
//! 1E-130 and 9.99..E+125, compared numerically and rendered without exponent.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use bigdecimal::BigDecimal;

use crate::error::EngineError;

/// Maximum significant digits DynamoDB stores.
pub const MAX_DIGITS: usize = 38;
const MAX_EXP: i32 = 125;
const MIN_EXP: i32 = -130;

/// A normalized decimal: `(-1)^negative * d.ddd * 10^exp` with `digits` holding the significant
/// digits (no leading or trailing zeros). Zero has no digits, `exp == 0` and is never negative.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Number {
    negative: bool,
    digits: Vec<u8>,
    exp: i32,
}

impl Number {
    pub fn zero() -> Self {
        Number {
            negative: false,
            digits: Vec::new(),
            exp: 0,
        }
    }

    /// Parses the wire form of a number (as Java's BigDecimal would), enforcing DynamoDB's
    /// precision and range with its error messages.
    pub fn parse(s: &str) -> Result<Number, EngineError> {
        if s.is_empty() {
            return Err(EngineError::validation(
                "The parameter cannot be converted to a numeric value",
            ));
        }
        let bad = || {
            EngineError::validation(format!(
                "The parameter cannot be converted to a numeric value: {s}"
            ))
        };
        let bytes = s.as_bytes();
        let mut i = 0;
        let mut negative = false;
        if bytes[0] == b'+' || bytes[0] == b'-' {
            negative = bytes[0] == b'-';
            i = 1;
        }
        let mut mantissa: Vec<u8> = Vec::new();
        let mut point_pos: Option<usize> = None;
        let mut seen_digit = false;
        while i < bytes.len() {
            let c = bytes[i];
            if c.is_ascii_digit() {
                mantissa.push(c - b'0');
                seen_digit = true;
            } else if c == b'.' && point_pos.is_none() {
                point_pos = Some(mantissa.len());
            } else {
                break;
            }
            i += 1;
        }
        if !seen_digit {
            return Err(bad());
        }
        let mut exp_part: i64 = 0;
        if i < bytes.len() {
            if bytes[i] != b'e' && bytes[i] != b'E' {
                return Err(bad());
            }
            let rest = &s[i + 1..];
            let rest_digits = rest.strip_prefix(['+', '-']).unwrap_or(rest);
            if rest_digits.is_empty()
                || rest_digits.len() > 9
                || !rest_digits.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(bad());
            }
            exp_part = rest.parse::<i64>().map_err(|_| bad())?;
        }
        let int_len = point_pos.unwrap_or(mantissa.len()) as i64;
        // value = 0.mantissa * 10^int_len * 10^exp_part; strip leading zeros.
        let lead = mantissa.iter().take_while(|d| **d == 0).count();
        if lead == mantissa.len() {
            return Ok(Number::zero());
        }
        let mut digits = mantissa[lead..].to_vec();
        while digits.last() == Some(&0) {
            digits.pop();
        }
        // First significant digit sits at position `lead` => scientific exponent:
        let sci_exp = int_len - lead as i64 - 1 + exp_part;
        if sci_exp > MAX_EXP as i64 {
            return Err(EngineError::validation(
                "Number overflow. Attempting to store a number with magnitude larger than supported range",
            ));
        }
        if sci_exp < MIN_EXP as i64 {
            return Err(EngineError::validation(
                "Number underflow. Attempting to store a number with magnitude smaller than supported range",
            ));
        }
        if digits.len() > MAX_DIGITS {
            return Err(EngineError::validation(
                "Attempting to store more than 38 significant digits in a Number",
            ));
        }
        Ok(Number {
            negative,
            digits,
            exp: sci_exp as i32,
        })
    }

    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// Significant digits (each 0-9).
    pub fn digits(&self) -> &[u8] {
        &self.digits
    }

    /// Scientific exponent: the value is d.ddd × 10^exp.
    pub fn exponent(&self) -> i32 {
        self.exp
    }

    /// Bytes the number takes in DynamoDB's item-size accounting.
    pub fn size(&self) -> usize {
        self.digits.len().div_ceil(2) + 1
    }

    fn to_big(&self) -> BigDecimal {
        // The canonical string always parses.
        BigDecimal::from_str(&self.to_string()).unwrap_or_default()
    }

    fn from_big(b: &BigDecimal) -> Result<Number, EngineError> {
        let s = b.normalized().to_scientific_notation();
        Number::parse(&s)
    }

    pub fn add(&self, other: &Number) -> Result<Number, EngineError> {
        Number::from_big(&(self.to_big() + other.to_big()))
    }

    pub fn sub(&self, other: &Number) -> Result<Number, EngineError> {
        Number::from_big(&(self.to_big() - other.to_big()))
    }

    fn cmp_magnitude(&self, other: &Number) -> Ordering {
        match (self.is_zero(), other.is_zero()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        self.exp
            .cmp(&other.exp)
            .then_with(|| self.digits.cmp(&other.digits))
    }
}

impl Ord for Number {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.negative, other.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.cmp_magnitude(other),
            (true, true) => other.cmp_magnitude(self),
        }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Number {
    /// Plain notation without exponent, as DynamoDB returns numbers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0");
        }
        let mut out = String::with_capacity(self.digits.len() + 8);
        if self.negative {
            out.push('-');
        }
        let digit = |d: &u8| (b'0' + d) as char;
        if self.exp < 0 {
            out.push_str("0.");
            for _ in 0..(-self.exp - 1) {
                out.push('0');
            }
            out.extend(self.digits.iter().map(digit));
        } else {
            let int_len = self.exp as usize + 1;
            for i in 0..int_len.max(self.digits.len()) {
                if i == int_len {
                    out.push('.');
                }
                out.push(self.digits.get(i).map(digit).unwrap_or('0'));
            }
        }
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Number {
        Number::parse(s).unwrap()
    }

    #[test]
    fn parses_and_renders_canonically() {
        assert_eq!(n("1.50").to_string(), "1.5");
        assert_eq!(n("1e3").to_string(), "1000");
        assert_eq!(n("-0").to_string(), "0");
        assert_eq!(n("+.5").to_string(), "0.5");
        assert_eq!(n("5.").to_string(), "5");
        assert_eq!(n("0.000120").to_string(), "0.00012");
        assert_eq!(n("-12.345E-2").to_string(), "-0.12345");
        assert_eq!(n("123456").to_string(), "123456");
        assert_eq!(n("1E+2").to_string(), "100");
    }

    #[test]
    fn rejects_invalid() {
        for s in [
            "", "abc", "1..2", "1e", "--1", "NaN", "Infinity", "1 ", "0x10", ".",
        ] {
            assert!(Number::parse(s).is_err(), "{s}");
        }
        assert!(Number::parse("1e126").is_err());
        assert!(Number::parse("9.9999999999999999999999999999999999999e125").is_ok());
        assert!(Number::parse("1e-130").is_ok());
        assert!(Number::parse("1e-131").is_err());
        assert!(Number::parse("1234567890123456789012345678901234567890").is_err());
        assert!(Number::parse("12345678901234567890123456789012345678").is_ok());
        assert!(Number::parse("1234567890123456789012345678901234567800000").is_ok());
    }

    #[test]
    fn orders_numerically() {
        let mut v: Vec<Number> = ["10", "-1", "0", "2", "-10.5", "0.001", "-0.001", "1e10"]
            .iter()
            .map(|s| n(s))
            .collect();
        v.sort();
        let s: Vec<String> = v.iter().map(|x| x.to_string()).collect();
        assert_eq!(
            s,
            [
                "-10.5",
                "-1",
                "-0.001",
                "0",
                "0.001",
                "2",
                "10",
                "10000000000"
            ]
        );
    }

    #[test]
    fn arithmetic_is_exact() {
        assert_eq!(n("0.1").add(&n("0.2")).unwrap().to_string(), "0.3");
        assert_eq!(n("5").sub(&n("7.5")).unwrap().to_string(), "-2.5");
        assert_eq!(n("1").sub(&n("1")).unwrap().to_string(), "0");
        assert!(n("9.9999999999999999999999999999999999999e125")
            .add(&n("9.9999999999999999999999999999999999999e125"))
            .is_err());
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn display_parses_back_to_the_same_number(neg in any::<bool>(), digits in "[0-9]{1,38}", exp in -100i32..100) {
            let s = format!("{}{}e{}", if neg { "-" } else { "" }, digits, exp);
            let Ok(a) = Number::parse(&s) else { return Ok(()); };
            let b = Number::parse(&a.to_string()).unwrap();
            prop_assert_eq!(&a, &b);
        }

        #[test]
        fn ordering_agrees_with_bigdecimal(a in "-?[0-9]{1,20}(\\.[0-9]{1,10})?", b in "-?[0-9]{1,20}(\\.[0-9]{1,10})?") {
            let (na, nb) = (Number::parse(&a).unwrap(), Number::parse(&b).unwrap());
            let (ba, bb) = (BigDecimal::from_str(&a).unwrap(), BigDecimal::from_str(&b).unwrap());
            prop_assert_eq!(na.cmp(&nb), ba.cmp(&bb));
            prop_assert_eq!(na.add(&nb).unwrap().to_big(), ba + bb);
        }

        #[test]
        fn parse_never_panics(s in ".{0,60}") {
            let _ = Number::parse(&s);
        }
    }
}
