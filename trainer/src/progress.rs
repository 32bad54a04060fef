//! indicatif bars fed by core's progress callbacks.

use std::ops::ControlFlow;

use brainfm_core::infer::{Progress, Stage};
use indicatif::{ProgressBar, ProgressStyle};

pub struct InferenceBar {
    bar: ProgressBar,
}

impl InferenceBar {
    pub fn new(quiet: bool) -> Self {
        let bar = if quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(1)
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>14} [{bar:40}] {pos}/{len} windows, {elapsed} (eta {eta})",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        Self { bar }
    }

    pub fn update(&self, p: Progress) -> ControlFlow<()> {
        match p.stage {
            Stage::Preprocessing => self.bar.set_message("preprocessing"),
            Stage::Inference => {
                self.bar.set_message("segmenting");
                self.bar.set_length(p.total as u64);
                self.bar.set_position(p.done as u64);
            }
            Stage::Postprocessing => self.bar.set_message("mapping back"),
        }
        ControlFlow::Continue(())
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
