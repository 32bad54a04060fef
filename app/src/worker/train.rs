//! Fine-tuning inside the worker: core's fine-tuning step (`brainfm_core::train::finetune_step`,
//! the one `brainfm finetune` uses) on the kept segmentation model, with the (image, label
//! map) pairs of a `TrainRequest`, progress after every step, and the adapted model back as
//! a .bfm bundle. Between steps the task yields so `TrainControl` messages land.

use std::cell::Cell;

use brainfm_core::augment::AugmentConfig;
use brainfm_core::bundle::Bundle;
use brainfm_core::infer::InferenceConfig;
use brainfm_core::train::{
    classes_of, finetune_step, prepare_pair, training_plan, validation_dice, FinetuneOptions,
    FinetuneSetup, PatchSampler, SegLossConfig, Start, TrainConfig, Trainable, Trainer,
};
use brainfm_core::volume::{LabelMap, Volume};
use burn::module::Module;

use super::gpu::Backend;
use super::{device, model, read_first_volume, reply, sleep};
use crate::protocol::{Bytes, Pair, Reply, Slot, TrainControl, TrainRequest, TrainStep};

thread_local! {
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    static PAUSED: Cell<bool> = const { Cell::new(false) };
    static STOP: Cell<bool> = const { Cell::new(false) };
}

/// Largest patch edge on the CPU path: WASM's single thread trains a 32^3 patch in
/// seconds, a 64^3 one in minutes.
const CPU_MAX_PATCH: usize = 32;

/// Pause, resume or stop the running fine-tuning.
pub fn control(c: TrainControl) {
    match c {
        TrainControl::Pause => PAUSED.with(|p| p.set(true)),
        TrainControl::Resume => PAUSED.with(|p| p.set(false)),
        TrainControl::Stop => {
            STOP.with(|s| s.set(true));
            PAUSED.with(|p| p.set(false));
        }
    }
}

/// Run it, reporting any failure as `TrainFailed`.
pub async fn handle(request: TrainRequest) {
    if ACTIVE.with(|a| a.replace(true)) {
        reply(&Reply::TrainFailed(
            "a fine-tuning run is already going".into(),
        ));
        return;
    }
    STOP.with(|s| s.set(false));
    PAUSED.with(|p| p.set(false));
    let result = run(&request).await;
    ACTIVE.with(|a| a.set(false));
    if let Err(message) = result {
        reply(&Reply::TrainFailed(message));
    }
}

/// One (image, label map) pair from the page's `{image, label}` object.
fn read_pair(pair: &Pair, what: &str) -> Result<(Volume, LabelMap), String> {
    let image = read_first_volume(&pair.image.0)
        .map_err(|e| format!("{what} image: {e}"))?
        .volume;
    let labels = read_first_volume(&pair.label.0)
        .map_err(|e| format!("{what} label map: {e}"))
        .and_then(|l| {
            LabelMap::from_volume(&l.volume).map_err(|e| format!("{what} label map: {e}"))
        })?;
    if labels.dims != image.dims {
        return Err(format!(
            "{what}: the label map is {:?} voxels but the image is {:?}",
            labels.dims, image.dims
        ));
    }
    Ok((image, labels))
}

/// The fine-tuning options in the page's `train` message. The drift test in
/// trainer/src/commands/finetune/segmentation.rs
/// (`the_cli_and_the_app_fine_tune_on_the_same_grid`) builds the same options for its
/// app side: keep the two in step.
fn options(request: &TrainRequest, data_classes: usize, cpu: bool) -> FinetuneOptions {
    FinetuneOptions {
        class_names: request
            .class_names
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        data_classes,
        new_head: request.new_head,
        from_scratch: false,
        patch: request.patch.filter(|&p| p > 0),
        max_auto_patch: cpu.then_some(CPU_MAX_PATCH),
        spacing: None,
    }
}

async fn run(request: &TrainRequest) -> Result<(), String> {
    let (inner, probe) = device()?;
    let device = inner.clone().autodiff();
    // The kept model's parsed bundle: fine-tuning starts from what the page shows.
    let kept = model(Slot::Segmentation).map_err(|e| format!("{e} to start from"))?;
    let bundle = &kept.bundle;
    if request.pairs.is_empty() {
        return Err("add at least one (image, label map) pair".into());
    }
    let mut pairs = Vec::new();
    for (i, p) in request.pairs.iter().enumerate() {
        pairs.push(read_pair(p, &format!("pair {}", i + 1))?);
    }
    let val = match &request.val {
        Some(v) => Some(read_pair(v, "held-out pair")?),
        None => None,
    };
    let steps = request.steps.max(1);
    let trainable =
        Trainable::parse(&request.trainable).ok_or("trainable must be decoder, last:N or all")?;
    let lr = request.lr;
    if !(lr.is_finite() && lr > 0.0) {
        return Err("the learning rate must be a positive number".into());
    }
    let seed = request.seed;

    // Network, classes, preprocessing and patch: core's fine-tuning set-up, the CLI's
    // rule (the model's own preprocessing; its head when the labels fit it).
    let data_classes = classes_of(pairs.iter().map(|p| &p.1).chain(val.iter().map(|v| &v.1)));
    let setup = FinetuneSetup::new(
        Start::Bundle(bundle),
        &options(request, data_classes, probe.backend == Backend::Flex),
    )
    .map_err(|e| e.to_string())?;
    let (config, prep, requested) = (&setup.config, &setup.preprocess, setup.patch);
    let (classes, class_names, new_head) = (setup.classes(), &setup.class_names, !setup.keep_head);
    let mut cases = Vec::new();
    for (i, (image, labels)) in pairs.iter().enumerate() {
        cases.push(
            prepare_pair(image, labels, prep, classes)
                .map_err(|e| format!("pair {}: {e}", i + 1))?,
        );
    }
    let smallest: [usize; 3] =
        std::array::from_fn(|a| cases.iter().map(|c| c.dims[a]).min().unwrap_or(1));
    let max_batch = 2;
    let plan = training_plan(config, [requested; 3], max_batch, probe.budget, smallest)
        .map_err(|e| format!("no patch fits this device: {e}"))?;
    let budget = probe.budget.min(brainfm_core::train::MAX_TRAIN_BUFFER);
    let plan_text = format!(
        "patch {}x{}x{}, batch {}: largest buffer {:.1} MiB of the {} MiB allowed ({}); {} classes ({}), {}",
        plan.patch[0],
        plan.patch[1],
        plan.patch[2],
        plan.batch,
        plan.largest_activation as f64 / (1u64 << 20) as f64,
        budget >> 20,
        match probe.backend {
            Backend::WebGpu => "WebGPU binding limit, capped at 256 MiB",
            Backend::Flex => "CPU budget",
        },
        classes,
        class_names.join(", "),
        if new_head { "new head" } else { "the model's own head" }
    );
    reply(&Reply::TrainPlan { text: plan_text });

    // The model on the autodiff device: the whole bundle, or its representation under a
    // fresh head.
    let (model, _) = setup
        .start_model(Some(bundle), &device)
        .map_err(|e| format!("the starting model: {e}"))?;
    let mut tcfg = TrainConfig::new(steps);
    tcfg.schedule.base_lr = lr;
    tcfg.seed = seed;
    let mut trainer = Trainer::new(trainable.apply(model), tcfg);
    let sampler = PatchSampler {
        patch: plan.patch,
        foreground: 0.33,
        augment: if request.augment {
            AugmentConfig::default()
        } else {
            AugmentConfig::none()
        },
    };
    let loss = SegLossConfig::default();
    let start_name = bundle.meta().name.clone();
    let meta = |done: u64| {
        setup.meta(
            format!("{start_name}-finetuned"),
            format!(
                "fine-tuned in the browser ({}) from {start_name}: trainable {}, {} pair(s), {done} steps of {steps}, lr {lr}, patch {:?}, batch {}, seed {seed}{}",
                probe.backend.wire().id(),
                request.trainable,
                cases.len(),
                plan.patch,
                plan.batch,
                if new_head { ", new head" } else { "" }
            ),
            format!("brainfm-app {}", env!("CARGO_PKG_VERSION")),
        )
    };
    let inference = InferenceConfig {
        patch: setup.inference_patch,
        overlap: 0.25,
        mirror_tta: false,
        max_batch: 1,
        memory_budget: probe.budget,
    };
    let val_every = match request.val_every {
        None | Some(0) => (steps / 4).max(1),
        Some(n) => n,
    };

    let mut busy_ms = 0.0;
    let mut stopped = false;
    while trainer.step < steps {
        if STOP.with(|s| s.get()) {
            stopped = true;
            break;
        }
        if PAUSED.with(|p| p.get()) {
            sleep(100).await;
            continue;
        }
        let t = js_sys::Date::now();
        let report = finetune_step(
            &mut trainer,
            &sampler,
            &cases,
            plan.batch,
            classes,
            &loss,
            seed,
            &device,
        )
        .await
        .map_err(|e| match probe.backend {
            Backend::WebGpu => format!(
                "training step {}: {e} (on WebGPU; the CPU may work)",
                trainer.step + 1
            ),
            Backend::Flex => format!("training step {}: {e}", trainer.step + 1),
        })?;
        busy_ms += js_sys::Date::now() - t;
        let dice = report
            .terms
            .iter()
            .find(|(k, _)| k == "dice")
            .map_or(f64::NAN, |t| t.1 as f64);
        reply(&Reply::TrainStep(TrainStep {
            step: trainer.step as usize,
            total: steps as usize,
            loss: report.loss as f64,
            dice,
            steps_per_sec: trainer.step as f64 * 1000.0 / busy_ms.max(1.0),
        }));
        if let Some((image, labels)) = &val {
            if trainer.step % val_every == 0 || trainer.step == steps {
                let dice = validation_dice(
                    &trainer.model.valid(),
                    config,
                    &meta(trainer.step),
                    image,
                    labels,
                    &inference,
                    &inner,
                )
                .await
                .map_err(|e| format!("validation: {e}"))?;
                reply(&Reply::TrainVal {
                    step: trainer.step as usize,
                    dice,
                });
            }
        }
        // Let pause / stop messages in.
        sleep(0).await;
    }
    let done = trainer.step;
    let out = Bundle::from_model_async(&trainer.model.valid(), config.clone(), meta(done))
        .await
        .map_err(|e| format!("saving the adapted model: {e}"))?
        .to_bytes();
    reply(&Reply::Trained {
        bundle: Bytes(out),
        steps: done as usize,
        stopped,
        name: meta(done).name,
    });
    Ok(())
}
