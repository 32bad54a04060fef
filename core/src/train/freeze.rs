//! Which parts of a pre-trained network fine-tuning may change. Frozen parameters get
//! no gradient, so the optimiser (and weight decay) leave them exactly as pre-trained.

use burn::module::Module;
use serde::{Deserialize, Serialize};

use crate::model::BrainNet;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", content = "stages", rename_all = "snake_case")]
pub enum Trainable {
    /// Encoder and latent split frozen: only the decoder and heads learn.
    Decoder,
    /// The deepest `n` encoder stages (and the latent split) learn too.
    LastStages(usize),
    /// Everything learns.
    All,
}

impl Trainable {
    /// `decoder`, `last:N` or `all`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "decoder" | "frozen" => Some(Self::Decoder),
            "all" => Some(Self::All),
            _ => s
                .strip_prefix("last:")
                .and_then(|n| n.parse().ok())
                .map(Self::LastStages),
        }
    }

    pub fn apply(self, mut model: BrainNet) -> BrainNet {
        let levels = model.encoder.levels.len();
        let unfrozen = match self {
            Self::All => return model,
            Self::Decoder => 0,
            Self::LastStages(n) => n.min(levels),
        };
        model.encoder.stem = model.encoder.stem.map(|s| s.no_grad());
        model.encoder.levels = model
            .encoder
            .levels
            .into_iter()
            .enumerate()
            .map(|(i, l)| {
                if i + unfrozen < levels {
                    l.no_grad()
                } else {
                    l
                }
            })
            .collect();
        if unfrozen == 0 {
            model.latent = model.latent.map(|l| l.no_grad());
        }
        model
    }
}
