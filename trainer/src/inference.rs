//! What `predict`, `eval` and fine-tuning's validation share: a bundle loaded on a device
//! with the inference settings (`Segmenter`), the inference flags, the models compiled
//! into the binary, and the whole-subject prediction of a classification or regression
//! model. Each of those commands uses this module; none reaches into another's.

use std::path::Path;

use anyhow::{Context, Result};
use brainfm_core::bundle::{Bundle, BundleMeta};
use brainfm_core::infer::{
    aggregate_log_probabilities, median, predict_global_volume, segment_volume, GlobalOutput,
    InferenceConfig, Postprocess, Segmentation,
};
use brainfm_core::model::{BrainNet, ModelConfig};
use brainfm_core::volume::Volume;
use burn::prelude::Device;
use clap::Args;

use crate::device::DeviceChoice;
use crate::io::read_bundle;
use crate::progress::InferenceBar;

/// A loaded model on its device with the inference settings: what `predict` and `eval`
/// share, so both segment a scan the same way.
pub struct Segmenter {
    pub bundle: Bundle,
    model: BrainNet,
    device: Device,
    pub device_choice: DeviceChoice,
    pub inference: InferenceConfig,
}

/// Inference options common to `predict` and `eval`.
#[derive(Args, Debug, Clone)]
pub struct InferenceArgs {
    /// Compute device.
    #[arg(long, value_enum, default_value = "cpu")]
    pub device: DeviceChoice,
    /// Fraction of overlap between neighbouring windows, in [0, 1).
    #[arg(long, default_value_t = 0.5)]
    pub overlap: f64,
    /// Average over the 8 mirrorings of every window (8x slower, slightly better).
    #[arg(long)]
    pub tta: bool,
    /// Patch edge in voxels; defaults to the model's.
    #[arg(long)]
    pub patch: Option<usize>,
    /// Most patches per forward pass.
    #[arg(long, default_value_t = 2)]
    pub batch: usize,
    /// Memory budget (MiB) for the largest activation tensor; patch and batch shrink to fit.
    #[arg(long, default_value_t = 1024)]
    pub memory_mib: u64,
    /// Override the model's post-processing: keep the foreground connected to the largest
    /// piece left after eroding it by this many mm (0: plain largest connected component;
    /// negative: none). Unset: the model's own setting (`brainfm info` shows it).
    #[arg(long, allow_negative_numbers = true)]
    pub largest_component_mm: Option<f64>,
}

/// The bundled models (models/, made by scripts/default-model/train.sh), compiled in
/// so `predict` works without files.
pub const DEFAULT_MODEL: &[u8] = include_bytes!("../../models/default.bfm");

pub const MULTICONTRAST_MODEL: &[u8] = include_bytes!("../../models/multicontrast.bfm");

/// The models compiled into the binary.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    /// The T1-weighted specialist (models/default.bfm): the best on T1w scans.
    Default,
    /// Trained on T1w, T2w and FLAIR alike (models/multicontrast.bfm): for other
    /// contrasts; rougher than the default on T1w.
    Multicontrast,
}

impl Builtin {
    pub fn bytes(self) -> &'static [u8] {
        match self {
            Builtin::Default => DEFAULT_MODEL,
            Builtin::Multicontrast => MULTICONTRAST_MODEL,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Builtin::Default => "the bundled default model",
            Builtin::Multicontrast => "the bundled multi-contrast model",
        }
    }
}

impl Segmenter {
    pub fn load(model_path: &Path, args: &InferenceArgs) -> Result<Self> {
        Self::new(
            read_bundle(model_path)?,
            &model_path.display().to_string(),
            args,
        )
    }

    /// One of the bundled models.
    pub fn builtin(which: Builtin, args: &InferenceArgs) -> Result<Self> {
        let what = which.describe();
        let bundle =
            Bundle::from_bytes(which.bytes()).with_context(|| format!("{what} is damaged"))?;
        Self::new(bundle, what, args)
    }

    fn new(mut bundle: Bundle, what: &str, args: &InferenceArgs) -> Result<Self> {
        if let Some(r) = args.largest_component_mm {
            let p = Postprocess::largest_component(r);
            p.check()
                .map_err(|e| anyhow::anyhow!("--largest-component-mm: {e}"))?;
            bundle.header.meta.postprocess = p;
        }
        let device = args.device.device()?;
        let model = bundle
            .load_model(&device)
            .with_context(|| format!("cannot load {what}"))?;
        let inference = InferenceConfig {
            patch: args
                .patch
                .map(|p| [p; 3])
                .unwrap_or(bundle.meta().patch_size),
            overlap: args.overlap,
            mirror_tta: args.tta,
            max_batch: args.batch,
            memory_budget: args.memory_mib << 20,
        };
        Ok(Self {
            bundle,
            model,
            device,
            device_choice: args.device,
            inference,
        })
    }

    pub fn segment(&self, volume: &Volume, quiet: bool) -> Result<Segmentation> {
        let bar = InferenceBar::new(quiet);
        let result = pollster::block_on(segment_volume(
            &self.model,
            self.bundle.config(),
            self.bundle.meta(),
            volume,
            &self.inference,
            &self.device,
            &mut |p| bar.update(p),
        ));
        bar.finish();
        Ok(result?)
    }
}

/// One subject's prediction over all its scans: the mean of the scans' mean
/// log-softmax (classification) or the median of their values (regression).
pub fn predict_subject(
    model: &BrainNet,
    config: &ModelConfig,
    meta: &BundleMeta,
    scans: &[Volume],
    patch: [usize; 3],
    device: &Device,
) -> Result<GlobalOutput> {
    let mut outputs = Vec::new();
    for scan in scans {
        let p = pollster::block_on(predict_global_volume(
            model, config, meta, scan, patch, device,
        ))?;
        outputs.push(p.output);
    }
    let mut rows = Vec::new();
    let mut vals = Vec::new();
    for o in outputs {
        match o {
            GlobalOutput::Class {
                log_probabilities, ..
            } => rows.push(log_probabilities),
            GlobalOutput::Value(v) => vals.push(v),
        }
    }
    Ok(if rows.is_empty() {
        GlobalOutput::Value(median(&vals).context("a subject without scans")?)
    } else {
        let (index, log_probabilities, probabilities) = aggregate_log_probabilities(&rows);
        GlobalOutput::Class {
            index,
            log_probabilities,
            probabilities,
        }
    })
}
