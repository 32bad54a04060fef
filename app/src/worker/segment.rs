//! Segmentation in the worker: core's `segment_volume` (the one `brainfm predict` runs) on
//! the kept scan with the kept model, progress after every window.

use std::ops::ControlFlow;

use brainfm_core::infer::{segment_volume, InferenceConfig, Progress, Stage};
use brainfm_core::volume::write_labels;

use super::gpu::Backend;
use super::{device, model, reply, scan};
use crate::protocol::{Bytes, Reply, Segmentation, Slot, U16s};

fn stage_name(s: Stage) -> &'static str {
    match s {
        Stage::Preprocessing => "preprocessing",
        Stage::Inference => "inference",
        Stage::Postprocessing => "postprocessing",
    }
}

/// After a failure on WebGPU: whether the device was lost, as www/static/worker.js records
/// it in `self.brainfmDeviceLost`. The loss and the failed read it causes come in no fixed
/// order, so this waits up to a second for the record.
async fn device_was_lost() -> bool {
    for _ in 0..20 {
        if crate::js::get(&js_sys::global(), "brainfmDeviceLost").is_object() {
            return true;
        }
        super::sleep(50).await;
    }
    false
}

/// Segment the kept scan. `Ok` also when the WebGPU device was lost mid-run: the page,
/// told by www/static/worker.js, finishes the run on the CPU in a fresh worker, so no
/// failure is sent that would race that message.
pub async fn run() -> Result<(), String> {
    let result = segment().await;
    if let Err(e) = &result {
        if device()?.1.backend == Backend::WebGpu && device_was_lost().await {
            let note = format!("brainfm: the WebGPU device was lost mid-run ({e})");
            web_sys::console::log_1(&note.into());
            return Ok(());
        }
    }
    result
}

async fn segment() -> Result<(), String> {
    let (device, probe) = device()?;
    let image = scan()?;
    let kept = model(Slot::Segmentation)?;
    let meta = kept.bundle.meta();
    let inference = InferenceConfig {
        patch: meta.patch_size,
        overlap: 0.5,
        mirror_tta: false,
        max_batch: if probe.backend == Backend::WebGpu {
            2
        } else {
            1
        },
        memory_budget: probe.budget,
    };
    let mut report = |p: Progress| {
        reply(&Reply::Progress {
            stage: stage_name(p.stage).into(),
            done: p.done,
            total: p.total,
        });
        ControlFlow::Continue(())
    };
    let t0 = js_sys::Date::now();
    let seg = segment_volume(
        &kept.model,
        kept.bundle.config(),
        meta,
        &image.volume,
        &inference,
        &device,
        &mut report,
    )
    .await
    .map_err(|e| match probe.backend {
        Backend::WebGpu => {
            format!("{e} (on WebGPU; switch to the CPU and retry if the GPU is the problem)")
        }
        Backend::Flex => e.to_string(),
    })?;
    let inference_ms = js_sys::Date::now() - t0;
    let nifti = write_labels(&image.header, &seg.labels)
        .map_err(|e| format!("writing the segmentation: {e}"))?;
    reply(&Reply::Segmented(Box::new(Segmentation {
        backend: probe.backend.wire(),
        model_name: meta.name.clone(),
        inference_ms,
        plan: format!(
            "patch {:?}, batch {}, largest activation {:.1} MiB (budget {} MiB), network grid {:?}",
            seg.plan.patch,
            seg.plan.batch,
            seg.plan.largest_activation as f64 / (1u64 << 20) as f64,
            probe.budget >> 20,
            seg.processed_dims
        ),
        largest_activation: seg.plan.largest_activation as u64,
        labels: U16s(seg.labels.data),
        volumes_ml: seg.volumes_ml,
        names: meta.class_names.clone(),
        nifti: Bytes(nifti),
    })));
    Ok(())
}
