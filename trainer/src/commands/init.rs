//! `brainfm init`: a randomly initialised model bundle (for tests and as a starting point).

use std::path::PathBuf;

use anyhow::{bail, Result};
use brainfm_core::bundle::{Bundle, BundleMeta, Task};
use brainfm_core::model::Preset;
use brainfm_core::volume::PreprocessConfig;
use burn::module::Module;
use burn::prelude::*;
use clap::Args;

/// Write a randomly initialised segmentation model bundle.
#[derive(Args, Debug)]
pub struct InitArgs {
    /// Network preset: tiny, small, base or resenc-l.
    #[arg(long, default_value = "tiny")]
    preset: String,
    /// Comma-separated class names, background first (e.g. background,csf,gm,wm).
    #[arg(long, value_delimiter = ',', default_value = "background,brain")]
    classes: Vec<String>,
    /// Output bundle path (.bfm).
    #[arg(long, short)]
    output: PathBuf,
    /// Seed of the random initialisation.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Isotropic voxel size (mm) scans are resampled to.
    #[arg(long, default_value_t = 1.0)]
    spacing: f64,
    /// Sliding-window patch edge (voxels); defaults to the preset's.
    #[arg(long)]
    patch: Option<usize>,
}

pub fn run(args: InitArgs) -> Result<()> {
    let preset = Preset::parse(&args.preset)?;
    let classes: Vec<String> = args
        .classes
        .iter()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect();
    if classes.len() < 2 {
        bail!(
            "--classes needs at least two names (background and one structure), got {:?}",
            args.classes
        );
    }
    if !(args.spacing.is_finite() && args.spacing > 0.0) {
        bail!(
            "--spacing must be a positive number of millimetres, got {}",
            args.spacing
        );
    }
    let config = preset.config(Some(classes.len()));
    let device = Device::flex();
    device.seed(args.seed);
    let model = config.init(&device)?;
    let patch = args.patch.unwrap_or(preset.default_patch());
    let meta = BundleMeta {
        postprocess: Default::default(),
        name: format!("{}-random-seed{}", preset.name(), args.seed),
        task: Task::Segmentation,
        class_names: classes,
        preprocess: PreprocessConfig {
            target_spacing: [args.spacing; 3],
            pad_multiple: config.stride(),
            ..PreprocessConfig::default()
        },
        patch_size: [patch; 3],
        provenance: format!("random initialisation (seed {}), untrained", args.seed),
        created_by: format!("brainfm {}", env!("CARGO_PKG_VERSION")),
    };
    let params = model.num_params();
    let bytes = Bundle::from_model(&model, config, meta)?.to_bytes();
    crate::io::write_atomic(&args.output, &bytes)?;
    println!(
        "wrote {} ({} preset, {} parameters, {:.1} MB)",
        args.output.display(),
        preset.name(),
        params,
        bytes.len() as f64 / 1e6
    );
    Ok(())
}
