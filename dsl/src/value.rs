//! Canonical parameter values. Lowering turns every written parameter into a [`Value`] with
//! units resolved (`4k` → 4000, `3%` → 0.03) so that two spellings of the same setting give
//! the same node. Maps are `BTreeMap`s, so the encoding is ordered whatever the source order.

use crate::ast::{Quantity, Suffix};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

impl Value {
    pub fn map<const N: usize>(entries: [(&str, Value); N]) -> Value {
        Value::Map(entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    /// The field `key` of a map value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(m) => m.get(key),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }
}

/// The numeric value of a written number with its suffix applied, kept exact where it is
/// a whole number.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Number {
    /// `Some` when the value is a whole number that fits in 64 bits.
    pub int: Option<i64>,
    pub float: f64,
}

/// Evaluates `44.2B`, `1.5e-4`, `3%`, `1_000`. `None` when the digits overflow.
pub fn number(q: &Quantity) -> Option<Number> {
    let text: String = q.number.chars().filter(|c| *c != '_').collect();
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest.to_string()),
        None => (false, text),
    };
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i32>().ok()?),
        None => (text.as_str(), 0),
    };
    let (whole, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{whole}{frac}");
    let mut exp10 = exp - i32::try_from(frac.len()).ok()? + q.suffix.map_or(0, Suffix::exponent);
    let mut m: i128 = if digits.len() > 30 { return None } else { digits.parse().ok()? };
    if negative {
        m = -m;
    }
    let float: f64 = format!("{m}e{exp10}").parse().ok()?;
    if !float.is_finite() {
        return None;
    }
    // Exact integer when the decimal has no fractional part left.
    let mut int = None;
    if exp10 >= 0 {
        if exp10 <= 30 {
            int = 10i128
                .checked_pow(exp10.unsigned_abs())
                .and_then(|p| m.checked_mul(p))
                .and_then(|v| i64::try_from(v).ok());
        }
    } else {
        while exp10 < 0 && m % 10 == 0 && m != 0 {
            m /= 10;
            exp10 += 1;
        }
        if exp10 == 0 || m == 0 {
            int = i64::try_from(m).ok();
        }
    }
    Some(Number { int, float })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::Unit;
    use crate::span::Span;

    fn q(number: &str, suffix: Option<&str>) -> Quantity {
        Quantity {
            number: number.into(),
            suffix: suffix.and_then(Suffix::from_text),
            unit: None::<Unit>,
            span: Span::default(),
        }
    }

    macro_rules! number_cases {
        ($($text:literal $suffix:expr => $int:expr, $float:expr;)*) => {$(
            let n = number(&q($text, $suffix)).expect($text);
            assert_eq!(n.int, $int, "{} {:?}", $text, $suffix);
            assert!((n.float - $float).abs() <= 1e-12 * f64::abs($float), "{} {:?}: {}", $text, $suffix, n.float);
        )*};
    }

    #[test]
    fn numbers_resolve_suffixes_exactly() {
        number_cases! {
            "44.2" Some("B") => Some(44_200_000_000), 44.2e9;
            "4" Some("k") => Some(4000), 4000.0;
            "1.5e-4" None::<&str> => None, 1.5e-4;
            "3" Some("%") => None, 0.03;
            "100" Some("%") => Some(1), 1.0;
            "1_024" None::<&str> => Some(1024), 1024.0;
            "-2" None::<&str> => Some(-2), -2.0;
            "0.5" None::<&str> => None, 0.5;
            "75.6" Some("B") => Some(75_600_000_000), 75.6e9;
            "1e3" None::<&str> => Some(1000), 1000.0;
        }
    }

    #[test]
    fn overflowing_numbers_are_none() {
        assert!(number(&q("1e400", None)).is_none());
        assert!(number(&q(&"9".repeat(40), None)).is_none());
    }
}
