//! Teaching views inside the worker: core's `infer::teach` on the kept scan, with the kept
//! pre-trained model (latent split + reconstruction decoder), forward only.

use brainfm_core::infer::teach::{
    contrast_swap, masked_reconstruction, synth_pair, teaching_patch, Slice,
};
use brainfm_core::ssl::MaskConfig;
use brainfm_core::volume::LabelMap;

use super::{device, model, read_first_volume, reply, scan};
use crate::protocol::{F32s, Picture, Reply, Slot, TeachRequest, TeachView};

/// Compute one view and send it, or say why not.
pub async fn handle(request: TeachRequest) {
    let view = request.view;
    if let Err(message) = run(&request).await {
        reply(&Reply::TeachFailed { view, message });
    }
}

async fn run(request: &TeachRequest) -> Result<(), String> {
    let (device, _) = device()?;
    let kept = model(Slot::Teaching)?;
    let image = scan()?;
    let scan = &image.volume;
    let labels = match &request.labels {
        Some(b) => Some(
            read_first_volume(&b.0)
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
    let patch = teaching_patch(
        scan,
        labels.as_ref(),
        kept.bundle.config(),
        kept.bundle.meta(),
        request.centre_mm,
    )
    .map_err(|e| e.to_string())?;
    let seed = request.seed;
    let model = &kept.model;
    let (images, stats): (Vec<(&str, Slice)>, Vec<(&str, f64)>) = match request.view {
        TeachView::Mask => {
            let mask = MaskConfig {
                block: request.block.max(1),
                ratio: request.ratio,
            };
            let v = masked_reconstruction(model, &patch, &mask, seed, &device)
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
        TeachView::Swap => {
            if patch.labels.is_none() {
                return Err(
                    "segment the scan first (or choose a label map): the contrasts are synthesised from labels"
                        .into(),
                );
            }
            let [a, b] = synth_pair(&patch, seed).map_err(|e| e.to_string())?;
            let v = contrast_swap(model, &a, &b, &patch, &device)
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
    };
    reply(&Reply::Taught {
        view: request.view,
        images: images
            .into_iter()
            .map(|(key, s)| Picture {
                key: key.into(),
                width: s.width,
                height: s.height,
                data: F32s(s.data),
            })
            .collect(),
        stats: stats.into_iter().map(|(k, v)| (k.into(), v)).collect(),
    });
    Ok(())
}
