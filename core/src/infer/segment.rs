//! The whole segmentation of a scan: preprocess, sliding window, map back to the
//! input grid. The CLI and the browser both call this; neither re-implements a step.

use core::ops::ControlFlow;

use burn::prelude::*;

use super::{sliding_window, InferError, InferenceConfig, Plan, Progress, Stage};
use crate::bundle::BundleMeta;
use crate::metrics::label_volumes_ml;
use crate::model::{BrainNet, ModelConfig, ModelError};
use crate::volume::{preprocess, LabelMap, Volume};

/// A label map on the exact grid of the input scan, with what produced it.
#[derive(Clone, Debug)]
pub struct Segmentation {
    pub labels: LabelMap,
    pub plan: Plan,
    /// Dimensions of the network's (RAS, resampled, cropped, padded) grid.
    pub processed_dims: [usize; 3],
    /// Volume of each label in millilitres, index = label value.
    pub volumes_ml: Vec<f64>,
}

pub async fn segment_volume(
    model: &BrainNet,
    config: &ModelConfig,
    meta: &BundleMeta,
    input: &Volume,
    inference: &InferenceConfig,
    device: &Device,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
) -> Result<Segmentation, InferError> {
    let classes = config
        .seg_classes()
        .ok_or(crate::model::ModelError::MissingPart(
            "segmentation decoder",
        ))?;
    if progress(Progress {
        stage: Stage::Preprocessing,
        done: 0,
        total: 1,
    })
    .is_break()
    {
        return Err(InferError::Cancelled);
    }
    let pre = preprocess(input, &meta.preprocess)?;
    let dims = pre.volume.dims;
    let plan = inference.plan(config, [dims[2], dims[1], dims[0]])?;
    let (probs, channels) = sliding_window(
        model,
        &pre.volume.data,
        dims,
        &plan,
        inference,
        device,
        progress,
    )
    .await?;
    if channels != classes {
        return Err(ModelError::InvalidConfig(format!(
            "its segmentation head gives {channels} channels for {classes} classes"
        ))
        .into());
    }
    if progress(Progress {
        stage: Stage::Postprocessing,
        done: 0,
        total: 1,
    })
    .is_break()
    {
        return Err(InferError::Cancelled);
    }
    let mut labels = pre.transform.probabilities_to_input(&probs, channels)?;
    meta.postprocess.apply(&mut labels);
    let volumes_ml = label_volumes_ml(&labels, classes);
    // Nothing is left to cancel: the result is ready.
    let _ = progress(Progress {
        stage: Stage::Postprocessing,
        done: 1,
        total: 1,
    });
    Ok(Segmentation {
        labels,
        plan,
        processed_dims: dims,
        volumes_ml,
    })
}
