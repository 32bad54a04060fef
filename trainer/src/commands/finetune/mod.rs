//! `brainfm finetune`: supervised fine-tuning from a pre-trained encoder (or from
//! scratch, for comparison), with a validation split and the best checkpoint kept.
//! Checkpoints, resume, metrics and progress are the pretraining run's (crate::run).
//! Segmentation on an nnU-Net raw dataset is `segmentation.rs`; classification and
//! regression (`--task cls|reg`) are `global.rs`; both take the arguments and the set-up
//! helpers here, and `best.rs` keeps their best model.

mod best;
mod global;
mod segmentation;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use brainfm_core::augment::AugmentConfig;
use brainfm_core::bundle::{Bundle, BundleMeta};
use brainfm_core::model::{BrainNet, ModelConfig, Preset};
use brainfm_core::rng::Rng;
use brainfm_core::train::{
    PatchSampler, Start, Started, StepReport, TrainConfig, Trainable, Trainer,
};
use burn::module::Module;
use clap::Args;
use indicatif::ProgressBar;
use serde::Serialize;

use self::best::{BestModel, Better};
use crate::device::DeviceChoice;
use crate::distributed::Replicas;
use crate::io::write_atomic;
use crate::run::{step_bar, MetricsLog, RunDir};

/// Fine-tune a segmentation, classification or regression model on labelled scans.
///
///   brainfm finetune --init run/pretrained.bfm --data nnUNet_raw/Dataset001_Brain --steps 500 --output ft
///   brainfm finetune --init run/pretrained.bfm --from-scratch --data ... --output scratch
///   brainfm finetune ... --output ft --resume
///   brainfm finetune --task cls --labels participants.tsv --target diagnosis --data bids --init ... --output cls
///   brainfm finetune --task reg --labels participants.tsv --target age --data bids --init ... --output age
///
/// Segmentation (--task seg, the default): the dataset needs dataset.json ("labels":
/// {"background": 0, ...}), imagesTr/CASE_0000.nii.gz and labelsTr/CASE.nii.gz. A share of
/// the cases (--val-fraction) is held out and segmented whole every --val-every steps; the
/// model with the best mean foreground Dice is written to OUTPUT/best.bfm, the final one
/// to OUTPUT/last.bfm.
///
/// Classification / regression (--task cls / reg): subjects from a BIDS, nnU-Net raw or
/// flat folder; one target per subject from a TSV/CSV (--labels, --id-column, --target).
/// Loss: cross-entropy with label smoothing / SmoothL1 (beta --smooth-l1-beta). Held-out
/// subjects are predicted whole (mean log-softmax / median over patches); best.bfm keeps
/// the best balanced accuracy / the lowest MAE.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct FinetuneArgs {
    /// nnU-Net raw dataset folder.
    #[arg(long)]
    data: PathBuf,
    /// Pre-trained bundle (`brainfm pretrain`'s pretrained.bfm, or any bundle with the
    /// same encoder): its encoder and latent split start the new model.
    #[arg(long)]
    init: Option<PathBuf>,
    /// Random weights instead of --init's (same architecture): the baseline the
    /// pre-training must beat.
    #[arg(long)]
    from_scratch: bool,
    /// Preset when there is no --init.
    #[arg(long, default_value = "tiny")]
    preset: String,
    /// `seg` (segmentation), `cls` (classification) or `reg` (regression).
    #[arg(long, default_value = "seg")]
    task: String,
    /// cls/reg: TSV or CSV with a subject id column and the target column.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// cls/reg: the target column (default: the only column besides the id).
    #[arg(long)]
    target: Option<String>,
    /// cls/reg: the subject id column (ids match with or without `sub-`).
    #[arg(long, default_value = "participant_id")]
    id_column: String,
    /// cls: label smoothing of the cross-entropy.
    #[arg(long, default_value_t = 0.1)]
    label_smoothing: f64,
    /// reg: SmoothL1 beta, in target units (quadratic below it, linear above).
    #[arg(long, default_value_t = 10.0)]
    smooth_l1_beta: f64,
    /// What learns: `all`, `decoder` (encoder frozen) or `last:N` (the N deepest encoder
    /// stages too).
    #[arg(long, default_value = "all")]
    trainable: String,
    /// Output folder: checkpoint, metrics.jsonl, best.bfm, last.bfm.
    #[arg(long, short)]
    output: PathBuf,
    #[arg(long, default_value_t = 500)]
    steps: u64,
    /// Patches per step.
    #[arg(long, default_value_t = 2)]
    batch: usize,
    /// Cubic patch edge (voxels); default: --init's patch, else the preset's.
    #[arg(long)]
    patch: Option<usize>,
    /// Peak learning rate (AdamW, warm-up + cosine).
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// dice (Dice + cross-entropy) or tversky (Tversky + cross-entropy).
    #[arg(long, default_value = "dice")]
    loss: String,
    #[arg(long, default_value_t = 0.3)]
    tversky_alpha: f64,
    #[arg(long, default_value_t = 0.7)]
    tversky_beta: f64,
    /// Isotropic voxel size (mm); default: --init's, else 1.
    #[arg(long)]
    spacing: Option<f64>,
    /// Share of cases held out for validation (at least one case stays for training).
    #[arg(long, default_value_t = 0.2)]
    val_fraction: f64,
    /// Validate every this many steps (default: a tenth of --steps).
    #[arg(long)]
    val_every: Option<u64>,
    /// Probability a patch is centred on a foreground voxel (seg: of a random class;
    /// cls/reg: of the non-zero scan). Default 0.33 (seg), 0.9 (cls/reg).
    #[arg(long)]
    foreground: Option<f64>,
    /// Disable augmentation.
    #[arg(long)]
    no_augment: bool,
    #[arg(long, default_value_t = 100)]
    checkpoint_every: u64,
    /// Continue from OUTPUT/checkpoint.bfck.
    #[arg(long)]
    resume: bool,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceChoice,
    #[arg(long, short)]
    quiet: bool,
}

/// Where the run starts: --init, else --preset.
fn start<'a>(args: &FinetuneArgs, init: Option<&'a Bundle>) -> Result<Start<'a>> {
    Ok(match init {
        Some(bundle) => Start::Bundle(bundle),
        None => Start::Preset(Preset::parse(&args.preset)?),
    })
}

/// The held-out share of `ids` (cases or subjects), sorted; at least one id stays for
/// training.
fn split_ids(mut ids: Vec<String>, fraction: f64, seed: u64) -> Result<Vec<String>> {
    if !(0.0..1.0).contains(&fraction) {
        bail!("--val-fraction must be in [0, 1), got {fraction}");
    }
    let n = ids.len();
    let n_val = ((n as f64 * fraction).round() as usize).min(n.saturating_sub(1));
    let mut rng = Rng::derive(seed ^ 0x5917, 0);
    for i in (1..ids.len()).rev() {
        ids.swap(i, rng.below(i + 1));
    }
    let mut val: Vec<String> = ids.into_iter().take(n_val).collect();
    val.sort();
    Ok(val)
}

/// The checks every task shares; returns what learns.
fn check_common(args: &FinetuneArgs) -> Result<Trainable> {
    if args.batch == 0 || args.steps == 0 {
        bail!("--batch and --steps must be at least 1");
    }
    if args.from_scratch && args.init.is_none() && args.preset.is_empty() {
        bail!("--from-scratch needs --init (for its architecture) or --preset");
    }
    Trainable::parse(&args.trainable).with_context(|| {
        format!(
            "--trainable must be all, decoder or last:N, got '{}'",
            args.trainable
        )
    })
}

/// Optimiser settings and augmentation from the flags.
fn optimisation(args: &FinetuneArgs) -> (TrainConfig, AugmentConfig) {
    let mut tcfg = TrainConfig::new(args.steps);
    tcfg.schedule.base_lr = args.lr;
    tcfg.seed = args.seed;
    let augment = if args.no_augment {
        AugmentConfig::none()
    } else {
        AugmentConfig::default()
    };
    (tcfg, augment)
}

/// What failed when the starting model cannot be built (the context of that error).
fn starting_point(args: &FinetuneArgs) -> String {
    match &args.init {
        Some(p) => format!("cannot start from {}", p.display()),
        None => format!("cannot build the --preset {} network", args.preset),
    }
}

/// Say where the weights came from; refuses to freeze random weights.
fn announce(
    args: &FinetuneArgs,
    init: Option<&Bundle>,
    started: Started,
    trainable: Trainable,
) -> Result<()> {
    let name = init.map_or("", |b| b.meta().name.as_str());
    match started {
        Started::Whole if !args.quiet => {
            eprintln!("continuing from all of {name} (decoder included)")
        }
        Started::Representation(n) if !args.quiet => {
            eprintln!("took {n} pre-trained tensors (encoder and latent split) from {name}")
        }
        Started::Random if trainable != Trainable::All => bail!(
            "--trainable {}: freezing a randomly initialised encoder makes no sense; use --trainable all",
            args.trainable
        ),
        _ => {}
    }
    Ok(())
}

/// The run folder (OUTPUT; rank 0's alone in a data-parallel run), the trainer for
/// `model` with `trainable`'s parts frozen, resumed from its checkpoint when asked (rank
/// 0's state on every replica), and the best model so far (none when fresh).
fn start_run<S: Serialize + serde::de::DeserializeOwned + PartialEq>(
    args: &FinetuneArgs,
    replicas: &Replicas,
    model: BrainNet,
    trainable: Trainable,
    train: TrainConfig,
    spec: &S,
    better: Better,
) -> Result<(Option<RunDir>, Trainer, BestModel)> {
    replicas.agree(
        "settings or brainfm version",
        &(spec, env!("CARGO_PKG_VERSION"), args.steps, args.seed),
    )?;
    if let (Some(line), false) = (replicas.describe(), args.quiet) {
        eprintln!("{line}");
    }
    let run = match replicas.is_root() {
        true => Some(RunDir::new(&args.output)?),
        false => None,
    };
    let mut trainer = Trainer::new(trainable.apply(model), train);
    if let Some(collective) = replicas.collective() {
        trainer = trainer.with_replicas(collective);
    }
    let extra = replicas.start(run.as_ref(), &mut trainer, spec, args.resume)?;
    // Records do not carry the frozen flags: freeze again after loading.
    trainer.model = trainable.apply(trainer.model);
    let best = BestModel::restore(extra, better, &args.output);
    Ok((run, trainer, best))
}

/// What the step loop of either task needs once its data is ready: the patch sampler,
/// the metrics log and progress bar picked up at the trainer's step, and the validation
/// and checkpoint cadence. Only rank 0 of a data-parallel run logs, validates and
/// checkpoints (`run` is `None` elsewhere).
struct StepLoop {
    sampler: PatchSampler,
    log: Option<MetricsLog>,
    bar: ProgressBar,
    steps: u64,
    val_every: u64,
    checkpoint_every: u64,
}

impl StepLoop {
    fn new(
        args: &FinetuneArgs,
        run: Option<&RunDir>,
        step: u64,
        patch: usize,
        foreground: f64,
        augment: AugmentConfig,
    ) -> Result<Self> {
        Ok(Self {
            sampler: PatchSampler {
                patch: [patch; 3],
                foreground,
                augment,
            },
            log: run.map(|r| r.metrics(step)).transpose()?,
            bar: step_bar(args.steps, step, args.quiet),
            steps: args.steps,
            val_every: args.val_every.unwrap_or((args.steps / 10).max(1)).max(1),
            checkpoint_every: args.checkpoint_every.max(1),
        })
    }

    /// Whether step `done` is validated (the last step always is; rank 0 only).
    fn validates(&self, done: u64) -> bool {
        self.log.is_some() && (done % self.val_every == 0 || done == self.steps)
    }

    /// Whether step `done` is checkpointed (the last step always is; rank 0 only).
    fn checkpoints(&self, done: u64) -> bool {
        self.log.is_some() && (done % self.checkpoint_every == 0 || done == self.steps)
    }

    fn log_step(&mut self, report: &StepReport, extra: serde_json::Value) -> Result<()> {
        match self.log.as_mut() {
            Some(log) => log.step(report, extra),
            None => Ok(()),
        }
    }
}

/// Write `model` as a bundle to `path` (best.bfm, last.bfm).
fn write_bundle(
    path: &std::path::Path,
    model: &BrainNet,
    config: &ModelConfig,
    meta: BundleMeta,
) -> Result<()> {
    let bundle = Bundle::from_model(model, config.clone(), meta)?;
    write_atomic(path, &bundle.to_bytes())
}

/// The final model as OUTPUT/last.bfm.
fn write_last(
    trainer: &Trainer,
    config: &ModelConfig,
    meta: BundleMeta,
    args: &FinetuneArgs,
) -> Result<()> {
    let path = args.output.join("last.bfm");
    write_bundle(&path, &trainer.model.valid(), config, meta)?;
    println!("wrote {} after {} steps", path.display(), trainer.step);
    Ok(())
}

/// Where the weights started, for the bundle's provenance.
fn origin(args: &FinetuneArgs) -> String {
    match (&args.init, args.from_scratch) {
        (Some(p), false) => format!("--init {}", p.display()),
        (Some(p), true) => format!("--from-scratch (architecture of {})", p.display()),
        (None, _) => format!("--preset {}", args.preset),
    }
}

pub fn run(mut args: FinetuneArgs) -> Result<()> {
    let replicas = Replicas::join()?;
    // Rank 0 speaks for the run.
    args.quiet |= !replicas.is_root();
    match args.task.as_str() {
        "seg" => segmentation::run(args, &replicas),
        "cls" => global::run(args, true, &replicas),
        "reg" => global::run(args, false, &replicas),
        other => bail!("--task must be seg, cls or reg, got '{other}'"),
    }
}
