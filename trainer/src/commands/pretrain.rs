//! `brainfm pretrain`: self-supervised pre-training (MAE, cross-contrast swap, swap +
//! anatomy consistency) with atomic checkpoints and exact resume.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use brainfm_core::bundle::{Bundle, BundleMeta, Task};
use brainfm_core::model::{AnatomyHeadConfig, ModelConfig, Preset};
use brainfm_core::ssl::{MaskConfig, Objective, ObjectiveConfig, ReconLoss, SslBatch};
use brainfm_core::train::{TrainConfig, Trainer};
use brainfm_core::volume::PreprocessConfig;
use burn::module::Module;
use burn::prelude::*;
use clap::Args;
use serde::{Deserialize, Serialize};

use crate::data::{build_cache, Loader, LoaderConfig};
use crate::device::DeviceChoice;
use crate::distributed::Replicas;
use crate::io::write_atomic;
use crate::layout::discover;
use crate::run::{step_bar, RunDir};

/// Pre-train a model without labels on a folder of scans.
///
/// Data: BIDS (sub-*/[ses-*/]anat/*_T1w.nii.gz ...), nnU-Net raw (imagesTr/CASE_0000.nii.gz)
/// or a flat folder (SUBJECT_CONTRAST.nii.gz). Scans of one subject are treated as
/// co-registered contrasts (the swap objectives pair them). With swap+anat, subjects
/// with a label map (BIDS *_dseg in anat/ or derivatives/*/, e.g. from `brainfm synth`;
/// nnU-Net labelsTr/CASE) also train a 1x1x1 anatomy head on z_s against it.
///
///   brainfm synth --labels aal.nii.gz --subjects 20 --spacing 2 --output synth
///   brainfm pretrain --data synth --preset tiny --objective swap --steps 2000 --output run
///   brainfm pretrain --data synth --preset tiny --objective swap --steps 2000 --output run --resume
///
/// Writes run/checkpoint.bfck (every --checkpoint-every steps, atomically), run/metrics.jsonl
/// (one JSON line per step) and run/pretrained.bfm (the model bundle for fine-tuning and
/// the app).
///
/// Data-parallel, one replica per GPU or machine, gradients averaged every step (needs an
/// MPI: Open MPI or MPICH; --batch is per replica):
///   mpirun -np 8 brainfm pretrain --data synth --device cuda --batch 2 --output run
///   mpirun -np 2 --hostfile hosts brainfm pretrain --data synth --device cuda --output run
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct PretrainArgs {
    /// Dataset folder (BIDS, nnU-Net raw or flat).
    #[arg(long)]
    data: PathBuf,
    /// Network preset: tiny, small, base or resenc-l.
    #[arg(long, default_value = "tiny")]
    preset: String,
    /// mae, swap (FOMO25 winner) or swap+anat (swap + anatomy consistency).
    #[arg(long, default_value = "swap")]
    objective: String,
    /// Output folder: checkpoint, metrics log, final bundle.
    #[arg(long, short)]
    output: PathBuf,
    /// Total optimisation steps.
    #[arg(long, default_value_t = 1000)]
    steps: u64,
    /// Subjects per batch on each replica (each contributes up to two scans).
    #[arg(long, default_value_t = 2)]
    batch: usize,
    /// Cubic patch edge (voxels); defaults to the preset's.
    #[arg(long)]
    patch: Option<usize>,
    /// Peak learning rate (AdamW).
    #[arg(long, default_value_t = 1e-4)]
    lr: f64,
    /// Linear warm-up steps (default: 5 % of --steps).
    #[arg(long)]
    warmup: Option<u64>,
    /// Steps of the KL weight ramp (default: a quarter of --steps).
    #[arg(long)]
    kl_ramp: Option<u64>,
    /// Steps of the swap objectives' cosine-weight ramp (default: the KL ramp's; 0: full
    /// weight from step 0, as the FOMO25 winner).
    #[arg(long)]
    cos_ramp: Option<u64>,
    /// Weight of swap+anat's anatomical-segmentation term (subjects with label maps;
    /// default 2).
    #[arg(long)]
    anat_seg_weight: Option<f64>,
    /// Initial bias of the log-variance heads (default: the preset's, -4), or `burn`:
    /// burn's default initialisation, as the FOMO25 winner (and bundles made before the
    /// presets set it).
    #[arg(long, allow_hyphen_values = true, value_parser = parse_logvar_bias)]
    logvar_bias: Option<LogvarBias>,
    /// Reconstruction loss: mse (masked voxels only, the default) or smooth-l1 (whole
    /// patch, beta 0.1, the FOMO25 winner's other option).
    #[arg(long)]
    recon: Option<String>,
    /// Mask block edge (default: 4 for swap, 16 for mae).
    #[arg(long)]
    mask_block: Option<usize>,
    /// Masked fraction (default: 0.6 for swap, 0.75 for mae).
    #[arg(long)]
    mask_ratio: Option<f64>,
    /// Isotropic voxel size (mm) scans are resampled to.
    #[arg(long, default_value_t = 1.0)]
    spacing: f64,
    /// Disable augmentation (flips, gamma, bias field, noise).
    #[arg(long)]
    no_augment: bool,
    /// Data-loading threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Write a checkpoint every this many steps (and at the end).
    #[arg(long, default_value_t = 100)]
    checkpoint_every: u64,
    /// Continue from OUTPUT/checkpoint.bfck.
    #[arg(long)]
    resume: bool,
    /// Preprocessing cache folder (default OUTPUT/cache).
    #[arg(long)]
    cache: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceChoice,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

/// Everything a resumed run must agree on.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct RunSpec {
    preset: String,
    model: ModelConfig,
    objective: ObjectiveConfig,
    train: TrainConfig,
    patch: usize,
    batch: usize,
    augment: bool,
    spacing: f64,
}

/// `--logvar-bias`: a value, or `None` for burn's default initialisation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogvarBias(Option<f64>);

fn parse_logvar_bias(text: &str) -> Result<LogvarBias, String> {
    if text == "burn" {
        return Ok(LogvarBias(None));
    }
    match text.parse::<f64>() {
        Ok(b) if b.is_finite() => Ok(LogvarBias(Some(b))),
        _ => Err(format!("expected a number or `burn`, got '{text}'")),
    }
}

pub fn run(mut args: PretrainArgs) -> Result<()> {
    let replicas = Replicas::join()?;
    // Rank 0 speaks for the run.
    args.quiet |= !replicas.is_root();
    let preset = Preset::parse(&args.preset)?;
    let Some(objective) = Objective::parse(&args.objective) else {
        bail!(
            "--objective must be mae, swap or swap+anat, got '{}'",
            args.objective
        );
    };
    if args.batch == 0 || args.steps == 0 {
        bail!("--batch and --steps must be at least 1");
    }
    let mut config = preset.config(None);
    if let (Some(LogvarBias(b)), Some(latent)) = (args.logvar_bias, config.latent.as_mut()) {
        latent.logvar_bias = b;
    }
    let patch = args.patch.unwrap_or(preset.default_patch());
    if patch == 0 || patch % config.stride() != 0 {
        bail!(
            "--patch {patch} must be a positive multiple of {} for the {} preset",
            config.stride(),
            preset.name()
        );
    }
    let mut ocfg = ObjectiveConfig::new(objective);
    ocfg.mask = MaskConfig {
        block: args.mask_block.unwrap_or(ocfg.mask.block),
        ratio: args.mask_ratio.unwrap_or(ocfg.mask.ratio),
    };
    ocfg.mask.validate()?;
    ocfg.swap.kl_ramp_steps = args.kl_ramp.unwrap_or(args.steps / 4);
    if let Some(w) = args.anat_seg_weight {
        ocfg.anatomy_seg = w;
    }
    ocfg.swap.cos_ramp_steps = args.cos_ramp.unwrap_or(ocfg.swap.kl_ramp_steps);
    if let Some(r) = &args.recon {
        ocfg.recon = match r.as_str() {
            "mse" => ReconLoss::MaskedMse,
            "smooth-l1" => ReconLoss::SmoothL1 { beta: 0.1 },
            _ => bail!("--recon must be mse or smooth-l1, got '{r}'"),
        };
    }
    let mut tcfg = TrainConfig::new(args.steps);
    tcfg.schedule.base_lr = args.lr;
    if let Some(w) = args.warmup {
        tcfg.schedule.warmup_steps = w;
    }
    tcfg.seed = args.seed;
    let prep = PreprocessConfig {
        target_spacing: [args.spacing; 3],
        pad_multiple: config.stride(),
        min_size: [patch; 3],
        ..PreprocessConfig::default()
    };
    let subjects = discover(&args.data)?;
    let cache = args
        .cache
        .clone()
        .unwrap_or_else(|| args.output.join("cache"));
    let t0 = Instant::now();
    let cached = Arc::new(replicas.first_per_machine(|| {
        build_cache(&subjects, &prep, &cache, objective == Objective::SwapAnat)
    })?);
    let scans: usize = cached.iter().map(|s| s.scans()).sum();
    if !args.quiet {
        let contrasts: std::collections::BTreeSet<&str> = cached
            .iter()
            .flat_map(|s| s.contrasts.iter().map(String::as_str))
            .collect();
        eprintln!(
            "{} subjects, {scans} scans ({contrasts:?}) preprocessed/cached in {:.1}s ({})",
            cached.len(),
            t0.elapsed().as_secs_f64(),
            cache.display()
        );
    }
    // swap+anat with label maps: an anatomy head on z_s over every label value present.
    let labelled = cached.iter().filter(|s| s.has_labels()).count();
    if let (true, Some(latent)) = (labelled > 0, config.latent.as_ref()) {
        let classes = cached.iter().map(|s| s.max_label()).max().unwrap_or(0) as usize + 1;
        config.anatomy = Some(AnatomyHeadConfig::new(
            latent.subject_channels,
            classes.max(2),
        ));
    }
    if objective == Objective::SwapAnat && !args.quiet {
        match &config.anatomy {
            Some(a) => eprintln!(
                "{labelled} of {} subjects have label maps: anatomical-segmentation term on ({} classes)",
                cached.len(),
                a.classes
            ),
            None => eprintln!("no label maps found: anatomical-segmentation term off"),
        }
    }
    let spec = RunSpec {
        preset: preset.name().into(),
        model: config.clone(),
        objective: ocfg.clone(),
        train: tcfg.clone(),
        patch,
        batch: args.batch,
        augment: !args.no_augment,
        spacing: args.spacing,
    };

    replicas.agree(
        "settings or brainfm version",
        &(&spec, env!("CARGO_PKG_VERSION"), args.steps, args.seed),
    )?;
    if let (Some(line), false) = (replicas.describe(), args.quiet) {
        eprintln!("{line}");
    }

    let device = args.device.device_for(replicas.local_rank)?.autodiff();
    device.seed(args.seed);
    let mut trainer = Trainer::new(config.init(&device)?, tcfg);
    if let Some(collective) = replicas.collective() {
        trainer = trainer.with_replicas(collective);
    }
    let run = match replicas.is_root() {
        true => Some(RunDir::new(&args.output)?),
        false => None,
    };
    replicas.start(run.as_ref(), &mut trainer, &spec, args.resume)?;

    let lcfg = LoaderConfig {
        patch,
        subjects_per_batch: args.batch,
        scans_per_subject: if objective == Objective::Mae { 1 } else { 2 },
        foreground: 0.67,
        augment: !args.no_augment,
        workers: args.workers,
        seed: args.seed,
        replica: replicas.rank(),
        replicas: replicas.world(),
    };
    let mut loader = Loader::new(cached, lcfg, trainer.step);

    let mut log = run.as_ref().map(|r| r.metrics(trainer.step)).transpose()?;
    let bar = step_bar(args.steps, trainer.step, args.quiet);
    while trainer.step < args.steps {
        let wait = Instant::now();
        let host = loader.next_batch().context("data loader stopped")?;
        let wait_s = wait.elapsed().as_secs_f64();
        let step_t = Instant::now();
        let scans = Tensor::<5>::from_data(
            TensorData::new(host.data, [host.n, 1, patch, patch, patch]),
            &device,
        );
        let report = pollster::block_on(trainer.ssl_step(
            &SslBatch {
                scans,
                subjects: host.subjects,
                labels: host.labels,
                keys: host.keys,
            },
            &ocfg,
        ))?;
        let step_s = step_t.elapsed().as_secs_f64();
        // Volumes of the whole batch (every replica's) per second.
        let vps = (host.n * replicas.world()) as f64 / (step_s + wait_s);
        if let Some(log) = log.as_mut() {
            log.step(
                &report,
                serde_json::json!({"step_s": step_s, "loader_wait_s": wait_s, "volumes_per_s": vps}),
            )?;
        }
        bar.set_message(format!(
            "loss {:.4} | {:.2} vol/s | loader wait {:.0} ms",
            report.loss,
            vps,
            wait_s * 1e3
        ));
        bar.inc(1);
        let checkpoint =
            trainer.step % args.checkpoint_every.max(1) == 0 || trainer.step == args.steps;
        if let (Some(run), true) = (&run, checkpoint) {
            run.save(&trainer, &spec, serde_json::Value::Null)?;
        }
    }
    bar.finish_and_clear();
    if run.is_none() {
        return Ok(());
    }

    let meta = BundleMeta {
        postprocess: Default::default(),
        name: format!("{}-{}-pretrained", preset.name(), objective.name()),
        task: Task::Pretrained,
        class_names: vec![],
        preprocess: prep,
        patch_size: [patch; 3],
        provenance: format!(
            "brainfm pretrain --objective {} on {} ({} steps, seed {}{})",
            objective.name(),
            args.data.display(),
            args.steps,
            args.seed,
            match replicas.world() {
                1 => String::new(),
                n => format!(", {n} data-parallel replicas of batch {}", args.batch),
            }
        ),
        created_by: format!("brainfm {}", env!("CARGO_PKG_VERSION")),
    };
    let bundle = Bundle::from_model(&trainer.model.valid(), config, meta)?;
    let out = args.output.join("pretrained.bfm");
    write_atomic(&out, &bundle.to_bytes())?;
    println!("wrote {} after {} steps", out.display(), trainer.step);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logvar_bias_is_a_finite_number_or_burns_default() {
        assert_eq!(parse_logvar_bias("-4"), Ok(LogvarBias(Some(-4.0))));
        assert_eq!(parse_logvar_bias("burn"), Ok(LogvarBias(None)));
        for bad in ["", "nan", "inf", "default"] {
            assert!(parse_logvar_bias(bad).is_err(), "{bad}");
        }
    }
}
