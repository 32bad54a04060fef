//! `brainfm finetune --task cls|reg`: one target per subject (a TSV/CSV column) over a
//! BIDS, nnU-Net raw or flat dataset. Training patches are foreground-biased augmented
//! crops of random scans of the training subjects (core's PatchSampler, with the
//! non-zero mask as its label map); held-out subjects are predicted whole by
//! `predict_global_volume` (through crate::inference::predict_subject, which `eval` uses
//! too). Arguments, set-up helpers, checkpoints and logging are shared with segmentation
//! (the parent module and crate::run).

use std::time::Instant;

use anyhow::{Context, Result};
use brainfm_core::bundle::{Bundle, BundleMeta, Task};
use brainfm_core::infer::GlobalOutput;
use brainfm_core::metrics::{balanced_accuracy, mae};
use brainfm_core::model::{BrainNet, ModelConfig, Preset};
use brainfm_core::rng::Rng;
use brainfm_core::train::{
    finetune_patch, finetune_preprocess, scale_regression_head, start_model as core_start_model,
    GlobalBatch, GlobalTaskConfig, LabelledVolume, TrainConfig, Trainable,
};
use brainfm_core::volume::{preprocess, PreprocessConfig, ReadOptions, Volume};
use burn::module::Module;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::best::Better;
use super::{
    announce, check_common, optimisation, origin, split_ids, start, start_run, starting_point,
    write_bundle, write_last, FinetuneArgs, StepLoop,
};
use crate::data::targets::labelled_subjects;
use crate::distributed::Replicas;
use crate::inference::predict_subject;
use crate::io::{read_bundle, read_scan};

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

/// Everything a resumed run must agree on.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct GlobalSpec {
    model: ModelConfig,
    init: Option<String>,
    from_scratch: bool,
    trainable: Trainable,
    task: GlobalTaskConfig,
    train: TrainConfig,
    patch: usize,
    batch: usize,
    augment: bool,
    foreground: f64,
    preprocess: PreprocessConfig,
    class_names: Vec<String>,
    /// (subject, target) of every subject: class index or value.
    targets: Vec<(String, f64)>,
    val_subjects: Vec<String>,
}

/// The network: --init's encoder (and latent split) or a preset's, with a global head
/// and no decoders (nor the pre-training anatomy head).
fn model_config(init: Option<&Bundle>, preset: &str, outputs: usize) -> Result<ModelConfig> {
    let mut config = match init {
        Some(b) => b.config().clone(),
        None => Preset::parse(preset)?.config(None),
    };
    config.recon = None;
    config.seg = None;
    config.anatomy = None;
    Ok(config.with_global_head(outputs))
}

struct ValSubject {
    id: String,
    scans: Vec<Volume>,
    target: f64,
}

/// Balanced accuracy or MAE over the held-out subjects, and each one's prediction.
fn validate(
    model: &BrainNet,
    config: &ModelConfig,
    meta: &BundleMeta,
    subjects: &[ValSubject],
    patch: usize,
    device: &Device,
) -> Result<(f64, Vec<(String, f64)>)> {
    let mut predicted = Vec::new();
    for s in subjects {
        let out = predict_subject(model, config, meta, &s.scans, [patch; 3], device)
            .with_context(|| format!("validating on {}", s.id))?;
        predicted.push(match out {
            GlobalOutput::Class { index, .. } => index as f64,
            GlobalOutput::Value(v) => v,
        });
    }
    let truth: Vec<f64> = subjects.iter().map(|s| s.target).collect();
    let score = match meta.task {
        Task::Classification => {
            let p: Vec<usize> = predicted.iter().map(|&v| v as usize).collect();
            let t: Vec<usize> = truth.iter().map(|&v| v as usize).collect();
            balanced_accuracy(&p, &t)
        }
        _ => mae(&predicted, &truth),
    }
    .unwrap_or(f64::NAN);
    let per = subjects
        .iter()
        .map(|s| s.id.clone())
        .zip(predicted)
        .collect();
    Ok((score, per))
}

pub fn run(args: FinetuneArgs, classify: bool, replicas: &Replicas) -> Result<()> {
    let trainable = check_common(&args)?;
    let table = args
        .labels
        .as_deref()
        .with_context(|| format!("--task {} needs --labels TABLE.tsv", args.task))?;
    let labelled = labelled_subjects(
        &args.data,
        table,
        &args.id_column,
        args.target.as_deref(),
        classify,
        None,
    )?;
    let task = if classify {
        GlobalTaskConfig::Classification {
            classes: labelled.class_names.len(),
            label_smoothing: args.label_smoothing,
        }
    } else {
        GlobalTaskConfig::Regression {
            beta: args.smooth_l1_beta,
        }
    };
    task.validate()
        .map_err(|e| anyhow::anyhow!("{e} (--label-smoothing / --smooth-l1-beta)"))?;
    let init = args.init.as_deref().map(read_bundle).transpose()?;
    let config = model_config(init.as_ref(), &args.preset, task.outputs())?;
    let (patch, prep) = grid(&args, init.as_ref(), &config)?;
    let ids: Vec<String> = labelled.subjects.iter().map(|s| s.id.clone()).collect();
    let val_ids = split_ids(ids.clone(), args.val_fraction, args.seed)?;
    let (tcfg, augment) = optimisation(&args);
    let foreground = args.foreground.unwrap_or(0.9);
    let spec = GlobalSpec {
        model: config.clone(),
        init: init.as_ref().map(|b| b.meta().name.clone()),
        from_scratch: args.from_scratch,
        trainable,
        task,
        train: tcfg.clone(),
        patch,
        batch: args.batch,
        augment: !args.no_augment,
        foreground,
        preprocess: prep.clone(),
        class_names: labelled.class_names.clone(),
        targets: ids.iter().cloned().zip(labelled.targets.clone()).collect(),
        val_subjects: val_ids.clone(),
    };

    let inner = args.device.device_for(replicas.local_rank)?;
    let device = inner.clone().autodiff();
    device.seed(args.seed);
    let mut model = start_model(&args, init.as_ref(), &config, trainable, &device)?;
    let train_targets: Vec<f64> = ids
        .iter()
        .zip(&labelled.targets)
        .filter(|(id, _)| !val_ids.contains(id))
        .map(|(_, &t)| t)
        .collect();
    if !classify {
        // A fresh head at the targets' scale (a resumed run loads its own weights).
        let n = train_targets.len() as f64;
        let mean = train_targets.iter().sum::<f64>() / n;
        let std = (train_targets
            .iter()
            .map(|t| (t - mean).powi(2))
            .sum::<f64>()
            / n)
            .sqrt();
        model = scale_regression_head(model, mean, std);
    }
    let better = if classify {
        Better::Higher
    } else {
        Better::Lower
    };
    let (run, mut trainer, mut best) =
        start_run(&args, replicas, model, trainable, tcfg, &spec, better)?;

    // Training scans onto the network grid (with their non-zero mask for foreground
    // sampling); validation scans kept as read.
    let t0 = Instant::now();
    let mut train = Vec::new();
    let mut targets = Vec::new();
    let mut val = Vec::new();
    for (subject, &target) in labelled.subjects.iter().zip(&labelled.targets) {
        let is_val = val_ids.contains(&subject.id);
        let mut scans = Vec::new();
        for scan in &subject.scans {
            let image = read_scan(&scan.path, &ReadOptions::default())?.volume;
            if is_val {
                scans.push(image);
                continue;
            }
            let pre = preprocess(&image, &prep)
                .with_context(|| format!("preprocessing {}", scan.path.display()))?;
            let mask = pre.volume.data.iter().map(|&v| (v != 0.0) as u16).collect();
            train.push(LabelledVolume::new(
                pre.volume.data,
                mask,
                pre.volume.dims,
                2,
            )?);
            targets.push(target as f32);
        }
        if is_val {
            val.push(ValSubject {
                id: subject.id.clone(),
                scans,
                target,
            });
        }
    }
    if !args.quiet {
        eprintln!(
            "{} training scans and {} validation subjects ({}) preprocessed in {:.1}s",
            train.len(),
            val.len(),
            if classify {
                format!("classes {}", labelled.class_names.join(", "))
            } else {
                format!("target '{}'", labelled.column)
            },
            t0.elapsed().as_secs_f64()
        );
    }

    let n_train = ids.len() - val_ids.len();
    let meta = |name: &str, steps: u64| {
        BundleMeta {
            postprocess: Default::default(),
        name: name.to_string(),
        task: if classify {
            Task::Classification
        } else {
            Task::Regression
        },
        // Regression: the one output's name.
        class_names: if classify {
            labelled.class_names.clone()
        } else {
            vec![labelled.column.clone()]
        },
        preprocess: prep.clone(),
        patch_size: [patch; 3],
        provenance: format!(
            "brainfm finetune --task {} {} --trainable {} on {} with '{}' from {} ({n_train} training subjects, {steps} steps, seed {})",
            args.task,
            origin(&args),
            args.trainable,
            args.data.display(),
            labelled.column,
            table.display(),
            args.seed
        ),
        created_by: format!("brainfm {}", env!("CARGO_PKG_VERSION")),
    }
    };
    let name = format!(
        "{}-{}",
        config.preset,
        if classify { "classifier" } else { "regressor" }
    );
    let metric = if classify { "balanced accuracy" } else { "MAE" };
    let mut steps = StepLoop::new(
        &args,
        run.as_ref(),
        trainer.step,
        patch,
        foreground,
        augment,
    )?;
    while trainer.step < args.steps {
        let t = Instant::now();
        // Slot by slot, as core's PatchSampler::batch: a replica draws its own slots.
        let step_seed = Rng::derive(args.seed ^ 0xF17E, trainer.step).next_u64();
        let mut images = Vec::new();
        let mut batch_targets = Vec::new();
        for slot in trainer.slots(args.batch) {
            let rng = &mut Rng::derive(step_seed, slot as u64);
            let i = rng.below(train.len());
            images.extend(steps.sampler.patch(&train[i], rng).0);
            batch_targets.push(targets[i]);
        }
        let batch = GlobalBatch::from_host(images, &batch_targets, [patch; 3], &task, &device)?;
        let sample_s = t.elapsed().as_secs_f64();
        let report = pollster::block_on(trainer.global_step(&batch, &task))?;
        let step_s = t.elapsed().as_secs_f64() - sample_s;
        let mut extra = serde_json::json!({"step_s": step_s, "sample_s": sample_s});
        let done = trainer.step;
        if !val.is_empty() && steps.validates(done) {
            steps.bar.set_message("validating");
            let valid = trainer.model.valid();
            let (score, per) = validate(&valid, &config, &meta(&name, done), &val, patch, &inner)?;
            let key = if classify {
                "val_balanced_accuracy"
            } else {
                "val_mae"
            };
            extra[key] = serde_json::json!(score);
            extra["val_predictions"] = serde_json::json!(per);
            best.offer(score, done, |path| {
                write_bundle(path, &valid, &config, meta(&name, done))
            })?;
        }
        steps.log_step(&report, extra)?;
        steps
            .bar
            .set_message(format!("loss {:.4}{}", report.loss, best.progress(metric)));
        steps.bar.inc(1);
        if let (Some(run), true) = (&run, steps.checkpoints(done)) {
            run.save(&trainer, &spec, best.state()?)?;
        }
    }
    steps.bar.finish_and_clear();
    if run.is_none() {
        return Ok(());
    }
    write_last(&trainer, &config, meta(&name, trainer.step), &args)?;
    println!("{}", best.summary(metric, val.len(), "subjects"));
    Ok(())
}
