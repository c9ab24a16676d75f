//! Learning-rate schedule: linear warm-up from 0, then linear decay to a floor.
//!
//! The same numbers as Hugging Face's `get_linear_schedule_with_warmup` (the schedule of
//! sentence-transformers' trainer): the rate used at optimizer step `t` (0-based) is
//! `peak · t / warmup` during warm-up and `peak · max(floor, (total − t) / (total − warmup))`
//! after, so the first step runs at rate 0 (its moments still update) when there is a warm-up.

use serde::{Deserialize, Serialize};

/// A linear warm-up / linear decay schedule over a known number of steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LinearSchedule {
    /// Peak learning rate.
    pub peak: f64,
    /// Warm-up steps.
    pub warmup_steps: usize,
    /// Total optimizer steps.
    pub total_steps: usize,
    /// Lowest fraction of the peak the decay reaches (0: decays to 0, as Hugging Face).
    pub floor: f64,
}

impl LinearSchedule {
    /// The schedule for `total_steps` steps with `ceil(warmup_ratio · total_steps)` warm-up
    /// steps (Hugging Face rounds the warm-up up the same way).
    pub fn with_warmup_ratio(peak: f64, warmup_ratio: f64, total_steps: usize, floor: f64) -> Self {
        Self {
            peak,
            warmup_steps: (warmup_ratio * total_steps as f64).ceil() as usize,
            total_steps,
            floor,
        }
    }

    /// The rate of optimizer step `step` (0-based).
    pub fn rate(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.peak * step as f64 / self.warmup_steps.max(1) as f64;
        }
        let span = self.total_steps.saturating_sub(self.warmup_steps).max(1) as f64;
        let left = self.total_steps.saturating_sub(step) as f64 / span;
        self.peak * left.max(self.floor).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_hugging_face_for_29_steps_and_10_percent_warmup() {
        // 919 pairs at batch 32: 29 steps, ceil(2.9) = 3 warm-up steps.
        let s = LinearSchedule::with_warmup_ratio(2e-5, 0.1, 29, 0.0);
        assert_eq!(s.warmup_steps, 3);
        let expected = [0.0, 2e-5 / 3.0, 4e-5 / 3.0, 2e-5, 2e-5 * 25.0 / 26.0];
        for (t, e) in expected.iter().enumerate() {
            assert!(
                (s.rate(t) - e).abs() < 1e-18,
                "step {t}: {} vs {e}",
                s.rate(t)
            );
        }
        assert!((s.rate(28) - 2e-5 / 26.0).abs() < 1e-18);
        assert_eq!(s.rate(29), 0.0);
    }

    #[test]
    fn the_floor_holds_the_rate_up() {
        let s = LinearSchedule {
            peak: 1.0,
            warmup_steps: 0,
            total_steps: 10,
            floor: 0.25,
        };
        assert_eq!(s.rate(0), 1.0);
        assert_eq!(s.rate(5), 0.5);
        assert_eq!(s.rate(9), 0.25);
    }
}
