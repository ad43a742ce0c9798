//! The lowered shapes of compound parameter values, as types a stage deserialises its
//! parameters into. Lowering (`elaborate/value.rs`) writes these shapes; keeping their
//! types beside the language means a stage never picks a map apart by key.

use serde::{Deserialize, Serialize};

/// A learning rate, lowered to `{peak, floor, shape}` (a constant is `peak == floor`,
/// shape `constant`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    pub peak: f64,
    pub floor: f64,
    pub shape: Shape,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    Cosine,
    Linear,
    Constant,
}

/// A warm-up, lowered to `{fraction: 0.03}` (a share of all steps) or `{steps: 20}`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Warmup {
    Fraction(f64),
    Steps(u64),
}

impl Warmup {
    /// The warm-up's length in a run of `total` steps.
    pub fn steps(self, total: u64) -> u64 {
        match self {
            Warmup::Fraction(f) => (f * total as f64).round() as u64,
            Warmup::Steps(s) => s.min(total),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Value;

    fn parse<T: serde::de::DeserializeOwned>(v: &Value) -> T {
        serde_json::from_value(serde_json::to_value(v).expect("value serialises")).expect("fits the type")
    }

    #[test]
    fn lowered_shapes_deserialise() {
        let s: Schedule = parse(&Value::map([
            ("peak", Value::Float(1.5e-4)),
            ("floor", Value::Float(1.5e-5)),
            ("shape", Value::Str("cosine".into())),
        ]));
        assert_eq!(s, Schedule { peak: 1.5e-4, floor: 1.5e-5, shape: Shape::Cosine });
        let w: Warmup = parse(&Value::map([("fraction", Value::Float(0.03))]));
        assert_eq!(w.steps(100), 3);
        let w: Warmup = parse(&Value::map([("steps", Value::Int(20))]));
        assert_eq!((w.steps(100), w.steps(5)), (20, 5));
    }
}
