//! Teaching views inside the worker: core's `infer::teach` on the user's scan, with a
//! pre-trained model (latent split + reconstruction decoder) the page sends.
//!
//! page -> worker: `teach {view: "mask" | "swap", bundle, scan, labels?, centreMm: [x, y, z],
//! ratio, block, seed}` (labels: a NIfTI label map on the scan's grid, for "swap").
//! worker -> page: `taught {view, images: [{key, width, height, data: Float32Array}], stats}`
//! or `teachError {view, message}`.

use brainfm_core::bundle::Bundle;
use brainfm_core::infer::teach::{
    contrast_swap, masked_reconstruction, synth_pair, teaching_patch, Slice,
};
use brainfm_core::ssl::MaskConfig;
use brainfm_core::volume::LabelMap;
use js_sys::{Array, Float32Array, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::gpu;
use crate::msg::{get, get_f64, get_string, obj};
use crate::worker::read_first_volume;

fn post(value: &JsValue, transfer: &Array) {
    let scope: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let _ = scope.post_message_with_transfer(value, transfer);
}

fn bytes(v: &JsValue, key: &str) -> Option<Vec<u8>> {
    get(v, key)
        .dyn_into::<Uint8Array>()
        .ok()
        .map(|a| a.to_vec())
}

/// `teach`: compute one view and post it, or post why not.
pub async fn handle(data: JsValue) {
    let view = get_string(&data, "view");
    if let Err(message) = run(&view, &data).await {
        post(
            &obj(&[
                ("type", "teachError".into()),
                ("view", view.into()),
                ("message", message.into()),
            ]),
            &Array::new(),
        );
    }
}

async fn run(view: &str, data: &JsValue) -> Result<(), String> {
    let (device, _) =
        gpu::device().ok_or("the compute device is not ready yet; try again in a moment")?;
    let bundle = Bundle::from_bytes(&bytes(data, "bundle").ok_or("no pre-trained model")?)
        .map_err(|e| format!("the pre-trained model: {e}"))?;
    let scan = read_first_volume(&bytes(data, "scan").ok_or("open a scan first")?)
        .map_err(|e| format!("the scan: {e}"))?
        .volume;
    let labels = match bytes(data, "labels") {
        Some(b) => Some(
            read_first_volume(&b)
                .map_err(|e| format!("the label map: {e}"))
                .and_then(|l| {
                    LabelMap::from_volume(&l.volume).map_err(|e| format!("the label map: {e}"))
                })?,
        ),
        None => None,
    };
    if let Some(l) = &labels {
        if l.dims != scan.dims {
            return Err(format!(
                "the label map is {:?} voxels but the scan is {:?}",
                l.dims, scan.dims
            ));
        }
    }
    let centre = Array::from(&get(data, "centreMm"));
    let centre: [f64; 3] = std::array::from_fn(|a| centre.get(a as u32).as_f64().unwrap_or(0.0));
    let model = bundle
        .load_model(&device)
        .map_err(|e| format!("the pre-trained model: {e}"))?;
    let patch = teaching_patch(
        &scan,
        labels.as_ref(),
        bundle.config(),
        bundle.meta(),
        centre,
    )
    .map_err(|e| e.to_string())?;
    let seed = get_f64(data, "seed") as u64;
    let (images, stats): (Vec<(&str, Slice)>, Vec<(&str, f64)>) = match view {
        "mask" => {
            let mask = MaskConfig {
                block: (get_f64(data, "block") as usize).max(1),
                ratio: get_f64(data, "ratio"),
            };
            let v = masked_reconstruction(&model, &patch, &mask, seed, &device)
                .await
                .map_err(|e| e.to_string())?;
            (
                vec![
                    ("original", v.original),
                    ("masked", v.masked),
                    ("reconstruction", v.reconstruction),
                    ("error", v.error),
                    ("mask", v.mask),
                ],
                vec![
                    ("maskedError", v.masked_error),
                    ("visibleError", v.visible_error),
                    ("maskedFraction", v.masked_fraction),
                ],
            )
        }
        "swap" => {
            if patch.labels.is_none() {
                return Err(
                    "segment the scan first (or choose a label map): the contrasts are synthesised from labels"
                        .into(),
                );
            }
            let [a, b] = synth_pair(&patch, seed).map_err(|e| e.to_string())?;
            let v = contrast_swap(&model, &a, &b, &patch, &device)
                .await
                .map_err(|e| e.to_string())?;
            (
                vec![
                    ("a", v.a),
                    ("b", v.b),
                    ("aInB", v.a_in_b),
                    ("error", v.error),
                ],
                vec![("swapVsB", v.swap_vs_b), ("aVsB", v.a_vs_b)],
            )
        }
        other => return Err(format!("internal error: unknown teaching view {other:?}")),
    };
    let list = Array::new();
    let transfer = Array::new();
    for (key, s) in images {
        let array = Float32Array::new_with_length(s.data.len() as u32);
        array.copy_from(&s.data);
        transfer.push(&array.buffer());
        list.push(&obj(&[
            ("key", key.into()),
            ("width", (s.width as f64).into()),
            ("height", (s.height as f64).into()),
            ("data", array.into()),
        ]));
    }
    let stats_obj = obj(&stats
        .iter()
        .map(|(k, v)| (*k, JsValue::from_f64(*v)))
        .collect::<Vec<_>>());
    post(
        &obj(&[
            ("type", "taught".into()),
            ("view", view.into()),
            ("images", list.into()),
            ("stats", stats_obj.into()),
        ]),
        &transfer,
    );
    Ok(())
}
