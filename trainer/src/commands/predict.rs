//! `brainfm predict`: segment a scan and write the labels on the scan's own grid.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use brainfm_core::bundle::Bundle;
use brainfm_core::infer::{segment_volume, InferenceConfig, Segmentation};
use brainfm_core::metrics::VolumesTable;
use brainfm_core::model::BrainNet;
use brainfm_core::volume::{write_labels, ReadOptions, Volume};
use burn::prelude::Device;
use clap::Args;

use crate::device::DeviceChoice;
use crate::io::{read_bundle, read_scan, write_atomic};
use crate::progress::InferenceBar;

/// Segment a NIfTI scan (.nii or .nii.gz) and write a label map aligned with it.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// Model bundle (.bfm) from `brainfm finetune`, `brainfm export` or the app; default:
    /// a bundled model (background, CSF, grey matter, white matter; see --builtin and
    /// docs/MODEL_CARD.md).
    #[arg(long, short)]
    model: Option<PathBuf>,
    /// Which bundled model segments when no --model is given.
    #[arg(long, value_enum, default_value = "default", conflicts_with = "model")]
    builtin: Builtin,
    /// Input scan (.nii or .nii.gz, 3D or 4D with --volume).
    #[arg(long, short)]
    input: PathBuf,
    /// Output label map (.nii.gz), written on the exact grid of the input.
    #[arg(long, short)]
    output: PathBuf,
    #[command(flatten)]
    inference: InferenceArgs,
    /// Which volume of a 4D file to segment (0-based).
    #[arg(long)]
    volume: Option<usize>,
    /// Refuse scans with more voxels than this.
    #[arg(long, default_value_t = 512 * 512 * 512)]
    max_voxels: usize,
    /// Also write the volume of each label (mL) as CSV here.
    #[arg(long)]
    volumes_csv: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

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
}

/// The bundled models (www/models/, made by scripts/default-model/train.sh), compiled in
/// so `predict` works without files.
pub const DEFAULT_MODEL: &[u8] = include_bytes!("../../../www/models/default.bfm");
pub const MULTICONTRAST_MODEL: &[u8] = include_bytes!("../../../www/models/multicontrast.bfm");

/// The models compiled into the binary.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    /// The T1-weighted specialist (www/models/default.bfm): the best on T1w scans.
    Default,
    /// Trained on T1w, T2w and FLAIR alike (www/models/multicontrast.bfm): for other
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

    fn new(bundle: Bundle, what: &str, args: &InferenceArgs) -> Result<Self> {
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

pub fn run(args: PredictArgs) -> Result<()> {
    let name = args
        .output
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if !(name.ends_with(".nii.gz") || name.ends_with(".nii")) {
        bail!(
            "--output {} must end in .nii.gz (or .nii)",
            args.output.display()
        );
    }
    let started = Instant::now();
    let segmenter = match &args.model {
        Some(path) => Segmenter::load(path, &args.inference)?,
        None => Segmenter::builtin(args.builtin, &args.inference)?,
    };
    let scan = read_scan(
        &args.input,
        &ReadOptions {
            max_voxels: args.max_voxels,
            volume: args.volume,
        },
    )?;
    let result = segmenter
        .segment(&scan.volume, args.quiet)
        .with_context(|| format!("segmenting {} failed", args.input.display()))?;

    let mut bytes =
        write_labels(&scan.header, &result.labels).context("cannot encode the label map")?;
    if !name.ends_with(".gz") {
        bytes = gunzip(&bytes)?;
    }
    write_atomic(&args.output, &bytes)?;
    let volumes =
        VolumesTable::from_volumes(&result.volumes_ml, &segmenter.bundle.meta().class_names);
    if let Some(csv) = &args.volumes_csv {
        write_atomic(csv, volumes.to_csv().as_bytes())?;
    }
    let d = scan.volume.dims;
    println!(
        "segmented {} ({}x{}x{}) in {:.1} s on {:?}: patch {:?}, batch {}, network grid {:?}",
        args.input.display(),
        d[0],
        d[1],
        d[2],
        started.elapsed().as_secs_f64(),
        segmenter.device_choice,
        result.plan.patch,
        result.plan.batch,
        result.processed_dims
    );
    let mut out = std::io::stdout().lock();
    for row in &volumes.rows {
        writeln!(
            out,
            "  {:>3} {:<20} {:>10.2} mL",
            row.label, row.name, row.ml
        )?;
    }
    println!("wrote {}", args.output.display());
    Ok(())
}

fn gunzip(bytes: &[u8]) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out)?;
    Ok(out)
}
