//! Linear warm-up then cosine decay (the FOMO25 winner's schedule).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
    pub base_lr: f64,
    pub warmup_steps: u64,
    /// Step at which the cosine reaches `min_lr`; later steps stay there.
    pub total_steps: u64,
    pub min_lr: f64,
}

impl LrSchedule {
    /// Learning rate of step `step` (0-based). Warm-up ramps from `base_lr / warmup` at
    /// step 0 to `base_lr` at the last warm-up step, so no step is wasted at lr 0.
    pub fn lr(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return self.base_lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let span = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        let t = ((step - self.warmup_steps) as f64 / span as f64).min(1.0);
        self.min_lr + 0.5 * (self.base_lr - self.min_lr) * (1.0 + (std::f64::consts::PI * t).cos())
    }
}
