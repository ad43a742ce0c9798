//! The learning-rate schedule: linear warm-up to the peak, then a decay to the floor, the
//! way Megatron-LM computes it. Steps count from 1: the first update uses
//! `peak · 1 / warmup`, the last `floor`.

/// The decay's shape, as a `.med` schedule lowers it (`1.5e-4 -> 1.5e-5 cosine`).
pub use exp_dsl::typed::Shape;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    pub peak: f64,
    pub floor: f64,
    pub shape: Shape,
    pub warmup_steps: u64,
    pub total_steps: u64,
}

impl Schedule {
    /// The learning rate of update `step` (1-based).
    pub fn at(&self, step: u64) -> f64 {
        if self.warmup_steps > 0 && step <= self.warmup_steps {
            return self.peak * step as f64 / self.warmup_steps as f64;
        }
        if self.shape == Shape::Constant || self.total_steps <= self.warmup_steps {
            return self.peak;
        }
        let progress =
            (step.min(self.total_steps) - self.warmup_steps) as f64 / (self.total_steps - self.warmup_steps) as f64;
        let coefficient = match self.shape {
            Shape::Cosine => 0.5 * ((std::f64::consts::PI * progress).cos() + 1.0),
            Shape::Linear => 1.0 - progress,
            Shape::Constant => 1.0,
        };
        self.floor + coefficient * (self.peak - self.floor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paper(total: u64) -> Schedule {
        // Table 1: 1.5e-4 → 1.5e-5 cosine, 3% warm-up.
        Schedule {
            peak: 1.5e-4,
            floor: 1.5e-5,
            shape: Shape::Cosine,
            warmup_steps: total * 3 / 100,
            total_steps: total,
        }
    }

    #[test]
    fn warmup_rises_linearly_then_cosine_falls_to_the_floor() {
        let s = paper(1000);
        assert_eq!(s.warmup_steps, 30);
        assert!((s.at(1) - 1.5e-4 / 30.0).abs() < 1e-18);
        assert!((s.at(15) - 0.75e-4).abs() < 1e-18);
        assert!((s.at(30) - 1.5e-4).abs() < 1e-18);
        // Half-way through the decay the cosine is at the midpoint of peak and floor.
        assert!((s.at(515) - (1.5e-4 + 1.5e-5) / 2.0).abs() < 1e-12);
        assert!((s.at(1000) - 1.5e-5).abs() < 1e-18);
        assert!((s.at(5000) - 1.5e-5).abs() < 1e-18, "past the end it stays at the floor");
        for step in 31..1000 {
            assert!(s.at(step + 1) <= s.at(step), "decreasing at {step}");
        }
    }

    #[test]
    fn linear_and_constant_shapes() {
        let linear = Schedule { peak: 1.0, floor: 0.0, shape: Shape::Linear, warmup_steps: 0, total_steps: 10 };
        assert_eq!(linear.at(5), 0.5);
        assert_eq!(linear.at(10), 0.0);
        let constant = Schedule { shape: Shape::Constant, warmup_steps: 2, ..linear };
        assert_eq!(constant.at(1), 0.5);
        assert_eq!(constant.at(9), 1.0);
    }
}
