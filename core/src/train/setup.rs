//! How a fine-tuning run starts: the network for the classes, the preprocessing, the
//! training patch, the class names and the starting weights. `brainfm finetune` and the
//! browser's fine-tuning tab both build it here, so a bundle fine-tuned in either place is
//! trained on the same grid.
//!
//! The rule: a model is fine-tuned with the preprocessing it was trained with (its
//! bundle's `meta.preprocess`: spacing, crop margin, normalisation), except what the user
//! explicitly overrides (the voxel size). Only the padding follows the new network and
//! patch, which training requires. The fine-tuned bundle records that preprocessing, so
//! inference repeats it.

use burn::prelude::*;

use super::finetune::{segmentation_config, FinetuneError};
use crate::bundle::{Bundle, BundleMeta, Task};
use crate::model::{BrainNet, ModelConfig, Preset};
use crate::volume::PreprocessConfig;

/// Where fine-tuning starts: a bundle's architecture (and weights), or a preset's.
#[derive(Clone, Copy, Debug)]
pub enum Start<'a> {
    Bundle(&'a Bundle),
    Preset(Preset),
}

impl<'a> Start<'a> {
    pub fn bundle(&self) -> Option<&'a Bundle> {
        match self {
            Start::Bundle(b) => Some(b),
            Start::Preset(_) => None,
        }
    }

    /// The preprocessing the starting network was trained with (a preset has none yet:
    /// the pipeline's defaults).
    pub fn preprocess(&self) -> PreprocessConfig {
        match self {
            Start::Bundle(b) => b.meta().preprocess.clone(),
            Start::Preset(_) => PreprocessConfig::default(),
        }
    }

    /// The starting model's own patch edge.
    pub fn patch(&self) -> usize {
        match self {
            Start::Bundle(b) => b.meta().patch_size[0],
            Start::Preset(p) => p.default_patch(),
        }
    }
}

/// What the user (or the dataset) asks for; `None` leaves the choice to the starting
/// model.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FinetuneOptions {
    /// Class names given by the user or the dataset, index = label; empty: none given.
    pub class_names: Vec<String>,
    /// Classes the training label maps need (largest label + 1).
    pub data_classes: usize,
    /// A fresh segmentation head even when the model's own fits the classes.
    pub new_head: bool,
    /// Random weights in the starting model's architecture (the baseline).
    pub from_scratch: bool,
    /// Cubic training patch edge; must be a positive multiple of the network's stride.
    pub patch: Option<usize>,
    /// Largest automatic patch edge (a slow device); an explicit `patch` is not capped.
    pub max_auto_patch: Option<usize>,
    /// Isotropic voxel size (mm), replacing the starting model's.
    pub spacing: Option<f64>,
}

/// How the starting weights were obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Started {
    /// The whole bundle, segmentation head included.
    Whole,
    /// The bundle's encoder and latent split (this many tensors) under a fresh head.
    Representation(usize),
    /// Random weights.
    Random,
}

/// Everything a segmentation fine-tuning run is built from.
#[derive(Clone, Debug, PartialEq)]
pub struct FinetuneSetup {
    pub config: ModelConfig,
    pub preprocess: PreprocessConfig,
    /// Cubic training patch edge.
    pub patch: usize,
    /// The sliding window the fine-tuned model runs with (validation, its bundle).
    pub inference_patch: [usize; 3],
    pub class_names: Vec<String>,
    /// Training continues the starting model's own head.
    pub keep_head: bool,
    pub from_scratch: bool,
}

/// The training patch edge: an explicit one must be a positive multiple of `stride`; the
/// automatic one (the starting model's, capped) is rounded up to it.
pub fn finetune_patch(
    explicit: Option<usize>,
    automatic: usize,
    cap: Option<usize>,
    stride: usize,
) -> Result<usize, FinetuneError> {
    match explicit {
        Some(p) if p == 0 || p % stride != 0 => Err(FinetuneError::Request(format!(
            "patch {p} must be a positive multiple of the network's stride, {stride}"
        ))),
        Some(p) => Ok(p),
        None => {
            let p = cap.map_or(automatic, |c| automatic.min(c));
            Ok(p.div_ceil(stride).max(1) * stride)
        }
    }
}

/// The preprocessing to fine-tune with: `base` (what the starting model was trained
/// with) with `spacing` if given, padded for a network of `stride` and patches of `patch`.
pub fn finetune_preprocess(
    base: &PreprocessConfig,
    spacing: Option<f64>,
    stride: usize,
    patch: usize,
) -> Result<PreprocessConfig, FinetuneError> {
    let target_spacing = match spacing {
        Some(s) if !(s.is_finite() && s > 0.0) => {
            return Err(FinetuneError::Request(format!(
                "spacing {s} must be a positive number of millimetres"
            )))
        }
        Some(s) => [s; 3],
        None => base.target_spacing,
    };
    Ok(PreprocessConfig {
        target_spacing,
        pad_multiple: stride,
        min_size: [patch; 3],
        ..base.clone()
    })
}

/// `config`'s network on `device`: all of `bundle` when it is the same network (a
/// fine-tuned or exported model for as many outputs), else its representation under
/// fresh heads; random with `from_scratch` or without a bundle.
pub fn start_model(
    bundle: Option<&Bundle>,
    config: &ModelConfig,
    from_scratch: bool,
    device: &Device,
) -> Result<(BrainNet, Started), FinetuneError> {
    match bundle {
        Some(b) if !from_scratch && b.config() == config => {
            Ok((b.load_model(device)?, Started::Whole))
        }
        Some(b) if !from_scratch => representation(b, config, device),
        _ => Ok((config.init(device)?, Started::Random)),
    }
}

fn representation(
    bundle: &Bundle,
    config: &ModelConfig,
    device: &Device,
) -> Result<(BrainNet, Started), FinetuneError> {
    let mut model = config.init(device)?;
    let n = bundle.transfer_representation(&mut model)?;
    Ok((model, Started::Representation(n)))
}

impl FinetuneSetup {
    pub fn new(start: Start, options: &FinetuneOptions) -> Result<Self, FinetuneError> {
        let named = options.class_names.len();
        let bundle = start.bundle();
        // The model's head is kept when it fits: it is a segmentation head for at least
        // the data's labels, for exactly the classes named, and nothing else is attached
        // (segmentation_config would give back the same network).
        let own = bundle.and_then(|b| {
            let classes = b.config().seg_classes()?;
            (segmentation_config(b.config(), classes) == *b.config()).then_some(classes)
        });
        let keep_head = match own {
            Some(m) => {
                !options.new_head
                    && !options.from_scratch
                    && options.data_classes <= m
                    && (named == 0 || named == m)
            }
            None => false,
        };
        let classes = match own {
            Some(m) if keep_head => m,
            _ => options.data_classes.max(named).max(2),
        };
        let config = match start {
            Start::Bundle(b) => segmentation_config(b.config(), classes),
            Start::Preset(p) => p.config(Some(classes)),
        };
        let stride = config.stride();
        let patch = finetune_patch(options.patch, start.patch(), options.max_auto_patch, stride)?;
        let preprocess = finetune_preprocess(&start.preprocess(), options.spacing, stride, patch)?;
        let inference_patch = match (options.patch, bundle) {
            (Some(p), _) => [p; 3],
            (None, Some(b)) => b.meta().patch_size,
            (None, None) => [patch; 3],
        };
        let class_names = (0..classes)
            .map(|l| {
                let given = options.class_names.get(l).filter(|n| !n.is_empty());
                let own = bundle
                    .filter(|_| keep_head)
                    .and_then(|b| b.meta().class_names.get(l));
                match (given, own) {
                    (Some(n), _) | (None, Some(n)) => n.clone(),
                    _ if l == 0 => "background".into(),
                    _ => format!("label {l}"),
                }
            })
            .collect();
        Ok(Self {
            config,
            preprocess,
            patch,
            inference_patch,
            class_names,
            keep_head,
            from_scratch: options.from_scratch,
        })
    }

    pub fn classes(&self) -> usize {
        self.class_names.len()
    }

    /// The starting network on `device` (`bundle`: the one the set-up was built from).
    /// A fresh head is fresh even where the model's own would have fitted.
    pub fn start_model(
        &self,
        bundle: Option<&Bundle>,
        device: &Device,
    ) -> Result<(BrainNet, Started), FinetuneError> {
        match bundle {
            Some(b) if self.keep_head => Ok((b.load_model(device)?, Started::Whole)),
            Some(b) if !self.from_scratch => representation(b, &self.config, device),
            _ => Ok((self.config.init(device)?, Started::Random)),
        }
    }

    /// The fine-tuned bundle's metadata: this set-up's classes, preprocessing and window.
    pub fn meta(&self, name: String, provenance: String, created_by: String) -> BundleMeta {
        BundleMeta {
            postprocess: Default::default(),
            name,
            task: Task::Segmentation,
            class_names: self.class_names.clone(),
            preprocess: self.preprocess.clone(),
            patch_size: self.inference_patch,
            provenance,
            created_by,
        }
    }
}

#[cfg(test)]
#[path = "setup_tests.rs"]
mod tests;
