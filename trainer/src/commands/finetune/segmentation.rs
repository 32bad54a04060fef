//! `brainfm finetune --task seg`: an nnU-Net raw dataset (dataset.json, imagesTr,
//! labelsTr), whole subjects held out for validation (segmented whole through core's
//! inference path), core's fine-tuning set-up and step, best.bfm by mean foreground Dice.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use brainfm_core::bundle::{Bundle, BundleMeta};
use brainfm_core::infer::InferenceConfig;
use brainfm_core::model::{BrainNet, ModelConfig};
use brainfm_core::train::{
    finetune_step, prepare_pair, validation_dice, FinetuneOptions, FinetuneSetup, OverlapLoss,
    SegLossConfig, TrainConfig, Trainable,
};
use brainfm_core::volume::{LabelMap, PreprocessConfig, ReadOptions, Volume};
use burn::module::Module;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::best::Better;
use super::{
    announce, check_common, optimisation, origin, split_ids, start, start_run, starting_point,
    write_bundle, write_last, FinetuneArgs, StepLoop,
};
use crate::distributed::Replicas;
use crate::io::{read_bundle, read_label_map, read_scan};
use crate::layout::{bids, LabelledCase, LabelledDataset, Split};

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
    image: Volume,
    labels: LabelMap,
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
    let subject = |id: &str| bids::subject_of(id).to_string();
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

fn load_case(case: &LabelledCase) -> Result<(Volume, LabelMap)> {
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

pub(super) fn run(args: FinetuneArgs, replicas: &Replicas) -> Result<()> {
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

    let inner = args.device.device_for(replicas.local_rank)?;
    let device = inner.clone().autodiff();
    device.seed(args.seed);
    let (model, started) = setup
        .start_model(init.as_ref(), &device)
        .with_context(|| starting_point(&args))?;
    announce(&args, init.as_ref(), started, trainable)?;
    let (run, mut trainer, mut best) = start_run(
        &args,
        replicas,
        model,
        trainable,
        tcfg,
        &spec,
        Better::Higher,
    )?;

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
        let report = pollster::block_on(finetune_step(
            &mut trainer,
            &steps.sampler,
            &train,
            args.batch,
            classes,
            &loss,
            args.seed,
            &device,
        ))?;
        let mut extra = serde_json::json!({"step_s": t.elapsed().as_secs_f64()});
        let done = trainer.step;
        if !val.is_empty() && steps.validates(done) {
            steps.bar.set_message("validating");
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
        steps.log_step(&report, extra)?;
        let dice = report
            .terms
            .iter()
            .find(|(n, _)| n != "ce")
            .map_or(0.0, |t| t.1);
        steps.bar.set_message(format!(
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
        steps.bar.inc(1);
        if let (Some(run), true) = (&run, steps.checkpoints(done)) {
            run.save(&trainer, &spec, best.state()?)?;
        }
    }
    steps.bar.finish_and_clear();
    if run.is_none() {
        return Ok(());
    }
    write_last(&trainer, config, meta(&name, trainer.step), &args)?;
    println!("{}", best.summary("Dice", val.len(), "cases"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use brainfm_core::train::Start;
    use clap::Parser;
    use std::path::PathBuf;

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

    /// What app/src/worker/train.rs's `options` builds from the page's `TrainRequest` (patch
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
        let mut bundle = Bundle::from_bytes(crate::inference::DEFAULT_MODEL).unwrap();
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
