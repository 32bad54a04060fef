//! The best validation score of a fine-tuning run and its model, OUTPUT/best.bfm: one
//! record for the segmentation and the classification/regression fine-tuners, kept in the
//! checkpoint so that a resumed run goes on comparing against it.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};

/// Which way a validation score improves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Better {
    /// Dice, balanced accuracy.
    Higher,
    /// Mean absolute error.
    Lower,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
struct Best {
    /// Segmentation checkpoints written before the fine-tuners shared this record name it
    /// `dice`; they must still resume.
    #[serde(alias = "dice")]
    score: f64,
    step: u64,
}

/// The best score so far, where its model lives and which way scores improve.
pub(crate) struct BestModel {
    best: Option<Best>,
    better: Better,
    path: PathBuf,
}

impl BestModel {
    /// The record of a checkpoint's extra state (`Null`, or unreadable: none yet), with the
    /// model written to OUTPUT/best.bfm.
    pub fn restore(extra: serde_json::Value, better: Better, output: &Path) -> Self {
        Self {
            best: serde_json::from_value(extra).ok(),
            better,
            path: output.join("best.bfm"),
        }
    }

    /// Offer the score of the model at `step`; when it is finite and beats the best so far
    /// it is kept and `write` saves the model to best.bfm. Returns whether it was kept.
    pub fn offer(
        &mut self,
        score: f64,
        step: u64,
        write: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<bool> {
        let beats = |old: f64| match self.better {
            Better::Higher => score > old,
            Better::Lower => score < old,
        };
        if !score.is_finite() || self.best.is_some_and(|b| !beats(b.score)) {
            return Ok(false);
        }
        write(&self.path)?;
        self.best = Some(Best { score, step });
        Ok(true)
    }

    /// The checkpoint's extra state.
    pub fn state(&self) -> Result<serde_json::Value> {
        Ok(serde_json::to_value(self.best)?)
    }

    /// The progress bar's suffix, empty before the first validation.
    pub fn progress(&self, metric: &str) -> String {
        self.best.map_or(String::new(), |b| {
            format!(" | best val {metric} {:.3} @{}", b.score, b.step)
        })
    }

    /// The run's closing line; `held_out` of `kind` ("cases", "subjects") were validated on.
    pub fn summary(&self, metric: &str, held_out: usize, kind: &str) -> String {
        match self.best {
            Some(b) => format!(
                "best validation {metric} {:.4} at step {} ({held_out} {kind}): {}",
                b.score,
                b.step,
                self.path.display()
            ),
            None => format!("no validation {kind}: last.bfm is the result"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn keeper(better: Better) -> BestModel {
        BestModel::restore(serde_json::Value::Null, better, Path::new("run"))
    }

    #[test]
    fn keeps_only_improvements_in_the_right_direction() {
        let writes = Cell::new(0);
        let write = |_: &Path| {
            writes.set(writes.get() + 1);
            Ok(())
        };
        let mut dice = keeper(Better::Higher);
        assert!(dice.offer(0.5, 10, write).unwrap());
        assert!(!dice.offer(0.4, 20, write).unwrap());
        assert!(
            !dice.offer(0.5, 30, write).unwrap(),
            "a tie keeps the earlier model"
        );
        assert!(dice.offer(0.6, 40, write).unwrap());
        assert!(!dice.offer(f64::NAN, 50, write).unwrap());
        assert_eq!(writes.get(), 2, "one write per kept score");
        assert!(dice
            .summary("Dice", 3, "cases")
            .contains("0.6000 at step 40"));

        let mut mae = keeper(Better::Lower);
        assert!(!mae.offer(f64::INFINITY, 10, write).unwrap());
        assert!(mae.offer(5.0, 20, write).unwrap());
        assert!(!mae.offer(6.0, 30, write).unwrap());
        assert!(mae.offer(4.0, 40, write).unwrap());
        assert_eq!(mae.progress("MAE"), " | best val MAE 4.000 @40");
    }

    #[test]
    fn a_failed_write_keeps_the_old_best() {
        let mut k = keeper(Better::Higher);
        k.offer(0.5, 10, |_| Ok(())).unwrap();
        assert!(k.offer(0.9, 20, |_| anyhow::bail!("disk full")).is_err());
        assert!(k.summary("Dice", 1, "cases").contains("0.5000 at step 10"));
    }

    #[test]
    fn resumes_from_old_and_new_checkpoints() {
        let out = Path::new("run");
        let old = serde_json::json!({"dice": 0.7, "step": 300});
        let k = BestModel::restore(old, Better::Higher, out);
        assert_eq!(k.progress("Dice"), " | best val Dice 0.700 @300");
        let again = BestModel::restore(k.state().unwrap(), Better::Higher, out);
        assert_eq!(again.progress("Dice"), k.progress("Dice"));
        let fresh = BestModel::restore(serde_json::Value::Null, Better::Lower, out);
        assert_eq!(fresh.progress("MAE"), "");
        assert_eq!(
            fresh.summary("MAE", 0, "subjects"),
            "no validation subjects: last.bfm is the result"
        );
    }
}
