//! Fine-tuning inside the worker: the page sends (image, label map) NIfTI pairs and a
//! model bundle; this runs core's fine-tuning step (`brainfm_core::train::finetune_step`,
//! the one `brainfm finetune` uses) on the worker's device, posting progress after every
//! step, and sends the adapted model back as a .bfm bundle.
//!
//! page -> worker: `train {bundle, pairs: [{image, label}], val?: {image, label}, steps,
//! trainable, lr, newHead, classNames: [..], patch (0 = automatic), augment, seed, valEvery}`;
//! `trainControl {action: pause | resume | stop}`.
//! worker -> page: `trainPlan {text, patch, batch, classes, largestActivation}`,
//! `trainStep {step, total, loss, ce, dice, stepsPerSec, lr}`, `trainVal {step, dice}`,
//! `trained {bundle, steps, stopped, name}`, `trainError {message}`.
//! Between steps the task yields to the worker's event loop so control messages land.

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
use js_sys::{Array, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::gpu::{self, Backend};
use crate::msg::{get, get_bool, get_f64, get_string, obj};
use crate::worker::read_first_volume;

thread_local! {
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    static PAUSED: Cell<bool> = const { Cell::new(false) };
    static STOP: Cell<bool> = const { Cell::new(false) };
}

/// Largest patch edge on the CPU path: WASM's single thread trains a 32^3 patch in
/// seconds, a 64^3 one in minutes.
const CPU_MAX_PATCH: usize = 32;

fn post(value: &JsValue) {
    let scope: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let _ = scope.post_message(value);
}

/// `trainControl`: pause, resume or stop the running fine-tuning.
pub fn control(action: &str) {
    match action {
        "pause" => PAUSED.with(|p| p.set(true)),
        "resume" => PAUSED.with(|p| p.set(false)),
        "stop" => {
            STOP.with(|s| s.set(true));
            PAUSED.with(|p| p.set(false));
        }
        _ => {}
    }
}

/// `train`: run it, reporting any failure as `trainError`.
pub async fn handle(data: JsValue) {
    if ACTIVE.with(|a| a.replace(true)) {
        post(&obj(&[
            ("type", "trainError".into()),
            ("message", "a fine-tuning run is already going".into()),
        ]));
        return;
    }
    STOP.with(|s| s.set(false));
    PAUSED.with(|p| p.set(false));
    let result = run(&data).await;
    ACTIVE.with(|a| a.set(false));
    if let Err(message) = result {
        post(&obj(&[
            ("type", "trainError".into()),
            ("message", message.into()),
        ]));
    }
}

async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
        if scope
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
            .is_err()
        {
            let _ = resolve.call0(&JsValue::NULL);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

fn bytes(v: &JsValue, key: &str) -> Result<Vec<u8>, String> {
    get(v, key)
        .dyn_into::<Uint8Array>()
        .map(|a| a.to_vec())
        .map_err(|_| format!("internal error: no {key} bytes"))
}

/// One (image, label map) pair from the page's `{image, label}` object.
fn read_pair(v: &JsValue, what: &str) -> Result<(Volume, LabelMap), String> {
    let image = read_first_volume(&bytes(v, "image")?)
        .map_err(|e| format!("{what} image: {e}"))?
        .volume;
    let labels = read_first_volume(&bytes(v, "label")?)
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
fn options(data: &JsValue, data_classes: usize, cpu: bool) -> FinetuneOptions {
    FinetuneOptions {
        class_names: Array::from(&get(data, "classNames"))
            .iter()
            .filter_map(|v| v.as_string())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        data_classes,
        new_head: get_bool(data, "newHead"),
        from_scratch: false,
        patch: match get_f64(data, "patch") as usize {
            0 => None,
            p => Some(p),
        },
        max_auto_patch: cpu.then_some(CPU_MAX_PATCH),
        spacing: None,
    }
}

async fn run(data: &JsValue) -> Result<(), String> {
    let (inner, probe) =
        gpu::device().ok_or("the compute device is not ready yet; try again in a moment")?;
    let device = inner.clone().autodiff();
    let bundle = Bundle::from_bytes(&bytes(data, "bundle")?)
        .map_err(|e| format!("the starting model: {e}"))?;
    let pairs_js = Array::from(&get(data, "pairs"));
    if pairs_js.length() == 0 {
        return Err("add at least one (image, label map) pair".into());
    }
    let mut pairs = Vec::new();
    for (i, p) in pairs_js.iter().enumerate() {
        pairs.push(read_pair(&p, &format!("pair {}", i + 1))?);
    }
    let val_js = get(data, "val");
    let val = if val_js.is_object() {
        Some(read_pair(&val_js, "held-out pair")?)
    } else {
        None
    };
    let steps = (get_f64(data, "steps") as u64).max(1);
    let trainable = Trainable::parse(&get_string(data, "trainable"))
        .ok_or("trainable must be decoder, last:N or all")?;
    let lr = get_f64(data, "lr");
    if !(lr.is_finite() && lr > 0.0) {
        return Err("the learning rate must be a positive number".into());
    }
    let seed = get_f64(data, "seed") as u64;

    // Network, classes, preprocessing and patch: core's fine-tuning set-up, the CLI's
    // rule (the model's own preprocessing; its head when the labels fit it).
    let data_classes = classes_of(pairs.iter().map(|p| &p.1).chain(val.iter().map(|v| &v.1)));
    let setup = FinetuneSetup::new(
        Start::Bundle(&bundle),
        &options(data, data_classes, probe.backend == Backend::Flex),
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
    post(&obj(&[
        ("type", "trainPlan".into()),
        ("text", plan_text.into()),
        ("patch", (plan.patch[0] as f64).into()),
        ("batch", (plan.batch as f64).into()),
        ("classes", (classes as f64).into()),
        ("newHead", new_head.into()),
        ("largestActivation", (plan.largest_activation as f64).into()),
    ]));

    // The model on the autodiff device: the whole bundle, or its representation under a
    // fresh head.
    let (model, _) = setup
        .start_model(Some(&bundle), &device)
        .map_err(|e| format!("the starting model: {e}"))?;
    let mut tcfg = TrainConfig::new(steps);
    tcfg.schedule.base_lr = lr;
    tcfg.seed = seed;
    let mut trainer = Trainer::new(trainable.apply(model), tcfg);
    let sampler = PatchSampler {
        patch: plan.patch,
        foreground: 0.33,
        augment: if get_bool(data, "augment") {
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
                probe.backend.id(),
                get_string(data, "trainable"),
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
    let val_every = match get_f64(data, "valEvery") as u64 {
        0 => (steps / 4).max(1),
        n => n,
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
        let term = |n: &str| {
            report
                .terms
                .iter()
                .find(|(k, _)| k == n)
                .map_or(f64::NAN, |t| t.1 as f64)
        };
        post(&obj(&[
            ("type", "trainStep".into()),
            ("step", (trainer.step as f64).into()),
            ("total", (steps as f64).into()),
            ("loss", (report.loss as f64).into()),
            ("ce", term("ce").into()),
            ("dice", term("dice").into()),
            ("lr", report.lr.into()),
            ("skipped", report.skipped.into()),
            (
                "stepsPerSec",
                (trainer.step as f64 * 1000.0 / busy_ms.max(1.0)).into(),
            ),
        ]));
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
                post(&obj(&[
                    ("type", "trainVal".into()),
                    ("step", (trainer.step as f64).into()),
                    ("dice", dice.into()),
                ]));
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
    let array = Uint8Array::new_with_length(out.len() as u32);
    array.copy_from(&out);
    let msg = obj(&[
        ("type", "trained".into()),
        ("bundle", array.clone().into()),
        ("steps", (done as f64).into()),
        ("stopped", stopped.into()),
        ("name", meta(done).name.into()),
    ]);
    let scope: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let _ = scope.post_message_with_transfer(&msg, &Array::of1(&array.buffer()));
    Ok(())
}
