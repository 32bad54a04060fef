//! `brainfm finetune`: supervised segmentation from a pre-trained encoder (or from
//! scratch, for comparison) on an nnU-Net raw dataset, with a validation split and the
//! best checkpoint kept. Checkpoints, resume, metrics and progress are the pretraining
//! run's (crate::run). Classification and regression (`--task cls|reg`) share the
//! arguments and set-up helpers here; their data and loop are in `finetune_global.rs`.

#[path = "finetune_best.rs"]
mod best;
#[path = "finetune_global.rs"]
pub(crate) mod global;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use brainfm_core::augment::AugmentConfig;
use brainfm_core::bundle::{Bundle, BundleMeta};
use brainfm_core::infer::InferenceConfig;
use brainfm_core::model::{BrainNet, ModelConfig, Preset};
use brainfm_core::rng::Rng;
use brainfm_core::train::{
    finetune_patch, finetune_preprocess, finetune_step, prepare_pair,
    start_model as core_start_model, validation_dice, FinetuneOptions, FinetuneSetup, OverlapLoss,
    PatchSampler, SegLossConfig, Start, Started, TrainConfig, Trainable, Trainer,
};
use brainfm_core::volume::{PreprocessConfig, ReadOptions};
use burn::module::Module;
use burn::prelude::*;
use clap::Args;
use serde::{Deserialize, Serialize};

use crate::device::DeviceChoice;
use crate::io::{read_bundle, read_label_map, read_scan, write_atomic};
use crate::labelled::{LabelledCase, LabelledDataset, Split};
use crate::run::{step_bar, RunDir};
use best::{BestModel, Better};

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

/// Everything a resumed run must agree on.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct FinetuneSpec {
    model: ModelConfig,
    init: Option<String>,
    from_scratch: bool,
    trainable: Trainable,
    loss: SegLossConfig,
    train: TrainConfig,
    patch: usize,
    batch: usize,
    augment: bool,
    foreground: f64,
    preprocess: PreprocessConfig,
    val_cases: Vec<String>,
}

/// A held-out case, kept on its input grid: validation runs the real inference path.
struct ValCase {
    id: String,
    image: brainfm_core::volume::Volume,
    labels: brainfm_core::volume::LabelMap,
}

fn parse_loss(args: &FinetuneArgs) -> Result<SegLossConfig> {
    let overlap = match args.loss.as_str() {
        "dice" => OverlapLoss::Dice,
        "tversky" => {
            let (a, b) = (args.tversky_alpha, args.tversky_beta);
            if !(a >= 0.0 && b >= 0.0 && a + b > 0.0) {
                bail!("--tversky-alpha and --tversky-beta must be >= 0 and not both 0");
            }
            OverlapLoss::Tversky { alpha: a, beta: b }
        }
        other => bail!("--loss must be dice or tversky, got '{other}'"),
    };
    Ok(SegLossConfig {
        overlap,
        ..SegLossConfig::default()
    })
}

/// Where the run starts: --init, else --preset.
fn start<'a>(args: &FinetuneArgs, init: Option<&'a Bundle>) -> Result<Start<'a>> {
    Ok(match init {
        Some(bundle) => Start::Bundle(bundle),
        None => Start::Preset(Preset::parse(&args.preset)?),
    })
}

/// The segmentation set-up (core's rule, the browser's too) for the dataset's classes:
/// --init's preprocessing with --spacing and --patch as the only overrides.
fn segmentation_setup(
    args: &FinetuneArgs,
    init: Option<&Bundle>,
    class_names: &[String],
) -> Result<FinetuneSetup> {
    let options = FinetuneOptions {
        class_names: class_names.to_vec(),
        // dataset.json defines the labels; a label map with others is refused on load.
        data_classes: class_names.len(),
        new_head: false,
        from_scratch: args.from_scratch,
        patch: args.patch,
        max_auto_patch: None,
        spacing: args.spacing,
    };
    FinetuneSetup::new(start(args, init)?, &options).context("--patch / --spacing")
}

/// Validation cases: whole subjects are held out, so scans of one subject (BIDS-style ids
/// `sub-XX_...`, e.g. the contrasts `brainfm synth --format nnunet` writes) never sit on
/// both sides of the split. Other ids are subjects of their own.
fn split_cases(cases: &[LabelledCase], fraction: f64, seed: u64) -> Result<Vec<String>> {
    let subject = |id: &str| match id.split_once('_') {
        Some((s, _)) if s.starts_with("sub-") => s.to_string(),
        _ => id.to_string(),
    };
    let mut subjects: Vec<String> = cases.iter().map(|c| subject(&c.id)).collect();
    subjects.sort();
    subjects.dedup();
    let held = split_ids(subjects, fraction, seed)?;
    Ok(cases
        .iter()
        .filter(|c| held.contains(&subject(&c.id)))
        .map(|c| c.id.clone())
        .collect())
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

fn load_case(
    case: &LabelledCase,
) -> Result<(brainfm_core::volume::Volume, brainfm_core::volume::LabelMap)> {
    let image = read_scan(&case.images[0], &ReadOptions::default())?.volume;
    let labels = read_label_map(&case.label)?;
    if labels.dims != image.dims {
        bail!(
            "case {}: label map {:?} and image {:?} differ in size",
            case.id,
            labels.dims,
            image.dims
        );
    }
    Ok((image, labels))
}

/// Mean foreground Dice of each validation case, segmented whole (core's
/// `validation_dice`, the browser's too).
fn validate(
    model: &BrainNet,
    config: &ModelConfig,
    meta: &BundleMeta,
    cases: &[ValCase],
    patch: [usize; 3],
    device: &Device,
) -> Result<Vec<(String, f64)>> {
    let inference = InferenceConfig {
        patch,
        overlap: 0.25,
        mirror_tta: false,
        max_batch: 2,
        memory_budget: 1 << 30,
    };
    cases
        .iter()
        .map(|case| {
            let dice = pollster::block_on(validation_dice(
                model,
                config,
                meta,
                &case.image,
                &case.labels,
                &inference,
                device,
            ))
            .with_context(|| format!("validating on {}", case.id))?;
            Ok((case.id.clone(), dice))
        })
        .collect()
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

/// Patch edge and preprocessing for `config` (cls/reg): core's rules, as for
/// segmentation: --init's (else the preset's), with --patch and --spacing as overrides.
fn grid(
    args: &FinetuneArgs,
    init: Option<&Bundle>,
    config: &ModelConfig,
) -> Result<(usize, PreprocessConfig)> {
    let start = start(args, init)?;
    let stride = config.stride();
    let patch = finetune_patch(args.patch, start.patch(), None, stride).context("--patch")?;
    let prep = finetune_preprocess(&start.preprocess(), args.spacing, stride, patch)
        .context("--spacing")?;
    Ok((patch, prep))
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

/// `config`'s network on `device` (cls/reg): core's `start_model` from --init unless
/// --from-scratch.
fn start_model(
    args: &FinetuneArgs,
    init: Option<&Bundle>,
    config: &ModelConfig,
    trainable: Trainable,
    device: &Device,
) -> Result<BrainNet> {
    let (model, started) = core_start_model(init, config, args.from_scratch, device)
        .with_context(|| starting_point(args))?;
    announce(args, init, started, trainable)?;
    Ok(model)
}

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

/// The trainer for `model` with `trainable`'s parts frozen, resumed from `run`'s
/// checkpoint when asked; returns the checkpoint's extra state (`Null` when fresh).
fn start_trainer<S: Serialize + serde::de::DeserializeOwned + PartialEq>(
    run: &RunDir,
    model: BrainNet,
    trainable: Trainable,
    train: TrainConfig,
    spec: &S,
    resume: bool,
) -> Result<(Trainer, serde_json::Value)> {
    let mut trainer = Trainer::new(trainable.apply(model), train);
    let extra = run.resume(&mut trainer, spec, resume)?;
    // Records do not carry the frozen flags: freeze again after loading.
    trainer.model = trainable.apply(trainer.model);
    Ok((trainer, extra))
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

pub fn run(args: FinetuneArgs) -> Result<()> {
    match args.task.as_str() {
        "seg" => run_segmentation(args),
        "cls" => global::run(args, true),
        "reg" => global::run(args, false),
        other => bail!("--task must be seg, cls or reg, got '{other}'"),
    }
}

fn run_segmentation(args: FinetuneArgs) -> Result<()> {
    let trainable = check_common(&args)?;
    let loss = parse_loss(&args)?;
    let dataset = LabelledDataset::open(&args.data, Split::Train)?;
    if dataset.channels != 1 {
        bail!(
            "{} has {} channels per case; brainfm models take one scan per case (multi-channel fine-tuning is not supported yet)",
            args.data.display(),
            dataset.channels
        );
    }
    let init = args.init.as_deref().map(read_bundle).transpose()?;
    let setup = segmentation_setup(&args, init.as_ref(), &dataset.class_names)?;
    let (config, prep, patch) = (&setup.config, &setup.preprocess, setup.patch);
    let classes = setup.classes();
    let val_ids = split_cases(&dataset.cases, args.val_fraction, args.seed)?;
    let (tcfg, augment) = optimisation(&args);
    let foreground = args.foreground.unwrap_or(0.33);
    let spec = FinetuneSpec {
        model: config.clone(),
        init: init.as_ref().map(|b| b.meta().name.clone()),
        from_scratch: args.from_scratch,
        trainable,
        loss: loss.clone(),
        train: tcfg.clone(),
        patch,
        batch: args.batch,
        augment: !args.no_augment,
        foreground,
        preprocess: prep.clone(),
        val_cases: val_ids.clone(),
    };

    let inner = args.device.device()?;
    let device = inner.clone().autodiff();
    device.seed(args.seed);
    let (model, started) = setup
        .start_model(init.as_ref(), &device)
        .with_context(|| starting_point(&args))?;
    announce(&args, init.as_ref(), started, trainable)?;
    let run = RunDir::new(&args.output)?;
    let (mut trainer, extra) = start_trainer(&run, model, trainable, tcfg, &spec, args.resume)?;
    let mut best = BestModel::restore(extra, Better::Higher, &args.output);

    // Preprocess every case once: training cases onto the network grid, validation
    // cases kept as read.
    let t0 = Instant::now();
    let mut train = Vec::new();
    let mut val = Vec::new();
    for case in &dataset.cases {
        let (image, labels) = load_case(case)?;
        if let Some(&bad) = labels.data.iter().find(|&&l| l as usize >= classes) {
            bail!(
                "case {}: label {bad} is not in dataset.json's {classes} labels",
                case.id
            );
        }
        if val_ids.contains(&case.id) {
            val.push(ValCase {
                id: case.id.clone(),
                image,
                labels,
            });
            continue;
        }
        train.push(
            prepare_pair(&image, &labels, prep, classes)
                .with_context(|| format!("preprocessing {}", case.id))?,
        );
    }
    if !args.quiet {
        eprintln!(
            "{} training and {} validation cases ({} classes) preprocessed in {:.1}s",
            train.len(),
            val.len(),
            classes,
            t0.elapsed().as_secs_f64()
        );
    }

    let meta = |name: &str, steps: u64| {
        setup.meta(
            name.to_string(),
            format!(
                "brainfm finetune {} --trainable {} on {} ({} training cases, {steps} steps, seed {})",
                origin(&args),
                args.trainable,
                args.data.display(),
                train.len(),
                args.seed
            ),
            format!("brainfm {}", env!("CARGO_PKG_VERSION")),
        )
    };
    let name = format!("{}-finetuned", config.preset);
    let sampler = PatchSampler {
        patch: [patch; 3],
        foreground,
        augment,
    };
    let val_every = args.val_every.unwrap_or((args.steps / 10).max(1)).max(1);
    let mut log = run.metrics(trainer.step)?;
    let bar = step_bar(args.steps, trainer.step, args.quiet);
    while trainer.step < args.steps {
        let t = Instant::now();
        let report = pollster::block_on(finetune_step(
            &mut trainer,
            &sampler,
            &train,
            args.batch,
            classes,
            &loss,
            args.seed,
            &device,
        ))?;
        let mut extra = serde_json::json!({"step_s": t.elapsed().as_secs_f64()});
        let done = trainer.step;
        if !val.is_empty() && (done % val_every == 0 || done == args.steps) {
            bar.set_message("validating");
            let valid = trainer.model.valid();
            let scores = validate(
                &valid,
                config,
                &meta(&name, done),
                &val,
                setup.inference_patch,
                &inner,
            )?;
            let mean = scores.iter().map(|(_, d)| d).sum::<f64>() / scores.len() as f64;
            extra["val_dice"] = serde_json::json!(mean);
            extra["val_cases"] = serde_json::json!(scores);
            best.offer(mean, done, |path| {
                write_bundle(path, &valid, config, meta(&name, done))
            })?;
        }
        log.step(&report, extra)?;
        let dice = report
            .terms
            .iter()
            .find(|(n, _)| n != "ce")
            .map_or(0.0, |t| t.1);
        bar.set_message(format!(
            "loss {:.4} | train {} {:.3}{}",
            report.loss,
            if matches!(loss.overlap, OverlapLoss::Dice) {
                "dice"
            } else {
                "tversky"
            },
            dice,
            best.progress("dice")
        ));
        bar.inc(1);
        if done % args.checkpoint_every.max(1) == 0 || done == args.steps {
            run.save(&trainer, &spec, best.state()?)?;
        }
    }
    bar.finish_and_clear();
    write_last(&trainer, config, meta(&name, trainer.step), &args)?;
    println!("{}", best.summary("Dice", val.len(), "cases"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: FinetuneArgs,
    }

    /// `brainfm finetune` as a user types it.
    fn cli(extra: &[&str]) -> FinetuneArgs {
        let mut argv = vec!["brainfm", "--data", "d", "--init", "m.bfm", "--output", "o"];
        argv.extend(extra);
        Cli::parse_from(argv).args
    }

    /// What app/src/train.rs's `options` builds from the page's `train` message (patch
    /// field 0 = automatic; WebGPU, so no CPU cap), for label maps needing `data_classes`.
    fn app(patch: usize, class_names: &[String], data_classes: usize) -> FinetuneOptions {
        FinetuneOptions {
            class_names: class_names.to_vec(),
            data_classes,
            new_head: false,
            from_scratch: false,
            patch: (patch != 0).then_some(patch),
            max_auto_patch: None,
            spacing: None,
        }
    }

    /// The shipped default model with preprocessing no default would produce, so a path
    /// that rebuilt it from `PreprocessConfig::default()` (as the CLI once did) shows.
    fn bundle() -> Bundle {
        let mut bundle = Bundle::from_bytes(super::super::predict::DEFAULT_MODEL).unwrap();
        bundle.header.meta.preprocess = PreprocessConfig {
            target_spacing: [1.25, 1.25, 2.5],
            crop_margin: 9,
            pad_multiple: 4,
            min_size: [16; 3],
            normalize: false,
        };
        bundle
    }

    #[test]
    fn the_cli_and_the_app_fine_tune_on_the_same_grid() {
        let bundle = bundle();
        let names = bundle.meta().class_names.clone();
        let stride = bundle.config().stride();
        for (flags, patch) in [(&[][..], 0), (&["--patch", "32"][..], 32)] {
            let from_cli = segmentation_setup(&cli(flags), Some(&bundle), &names).unwrap();
            // The page names no classes; its label maps hold all four.
            let from_app =
                FinetuneSetup::new(Start::Bundle(&bundle), &app(patch, &[], names.len())).unwrap();
            assert_eq!(from_cli.preprocess, from_app.preprocess, "{flags:?}");
            assert_eq!(from_cli, from_app, "{flags:?}");
            let edge = if patch == 0 { 48 } else { patch };
            assert_eq!(
                from_cli.preprocess,
                PreprocessConfig {
                    pad_multiple: stride,
                    min_size: [edge; 3],
                    ..bundle.meta().preprocess.clone()
                }
            );
            assert!(
                from_cli.keep_head,
                "the default model's head fits its classes"
            );
        }
        // --spacing, which the tab does not offer, overrides the voxel size and nothing else.
        let spaced =
            segmentation_setup(&cli(&["--spacing", "1.5"]), Some(&bundle), &names).unwrap();
        let from_app = FinetuneSetup::new(Start::Bundle(&bundle), &app(0, &[], 4)).unwrap();
        assert_eq!(
            spaced.preprocess,
            PreprocessConfig {
                target_spacing: [1.5; 3],
                ..from_app.preprocess
            }
        );
    }

    fn case(id: &str) -> LabelledCase {
        LabelledCase {
            id: id.into(),
            images: vec![],
            label: PathBuf::new(),
        }
    }

    #[test]
    fn validation_holds_out_whole_subjects() {
        let cases: Vec<LabelledCase> = [
            "icbm152",
            "sub-01_T1w",
            "sub-01_T2w",
            "sub-02_T1w",
            "sub-02_T2w",
            "sub-03_T1w",
        ]
        .into_iter()
        .map(case)
        .collect();
        for seed in 0..20 {
            let val = split_cases(&cases, 0.5, seed).unwrap();
            for s in ["sub-01", "sub-02"] {
                let n = val.iter().filter(|v| v.starts_with(s)).count();
                assert!(n == 0 || n == 2, "seed {seed}: {val:?} splits {s}");
            }
            assert!(!val.is_empty() && val.len() < cases.len());
        }
        assert!(split_cases(&cases, 1.0, 0).is_err());
        assert_eq!(
            split_cases(&cases[..1], 0.5, 0).unwrap(),
            Vec::<String>::new()
        );
    }
}
