//! The pieces of segmentation fine-tuning every front end shares (the `brainfm
//! finetune` CLI and the browser's fine-tuning tab): turning an (image, label map) pair
//! into a training case on the network grid, the network for a label set, the patch and
//! batch that fit a device, the step itself, and validation Dice on a held-out pair.

use std::ops::ControlFlow;

use burn::prelude::*;

use super::{
    LabelledVolume, PatchSampler, SegBatch, SegLossConfig, StepReport, TrainError, Trainer,
};
use crate::bundle::{BundleError, BundleMeta};
use crate::infer::{activation_bytes, segment_volume, InferError, InferenceConfig, Plan};
use crate::metrics::segmentation_scores;
use crate::model::{BrainNet, ModelConfig, ModelError, Preset};
use crate::rng::Rng;
use crate::volume::{preprocess, LabelMap, PreprocessConfig, Volume, VolumeError};

/// WebGPU's default `maxStorageBufferBindingSize` (and a sane cap anywhere): no training
/// buffer may be larger.
pub const MAX_TRAIN_BUFFER: u64 = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum FinetuneError {
    #[error(transparent)]
    Volume(#[from] VolumeError),
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Infer(#[from] InferError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("{0}")]
    Data(String),
    /// A fine-tuning option that cannot work (patch, spacing).
    #[error("{0}")]
    Request(String),
}

/// Number of classes a set of label maps needs (largest label + 1, at least 2).
pub fn classes_of<'a>(maps: impl IntoIterator<Item = &'a LabelMap>) -> usize {
    maps.into_iter()
        .flat_map(|m| m.data.iter().copied())
        .max()
        .map_or(2, |m| (m as usize + 1).max(2))
}

/// One training case: `image` preprocessed onto the network grid (`prep`) and `labels`
/// carried along the same transform (nearest neighbour).
pub fn prepare_pair(
    image: &Volume,
    labels: &LabelMap,
    prep: &PreprocessConfig,
    classes: usize,
) -> Result<LabelledVolume, FinetuneError> {
    if labels.dims != image.dims {
        return Err(FinetuneError::Data(format!(
            "the label map is {:?} voxels but the image is {:?}",
            labels.dims, image.dims
        )));
    }
    if let Some(&bad) = labels.data.iter().find(|&&l| l as usize >= classes) {
        return Err(FinetuneError::Data(format!(
            "label {bad} does not fit a model with {classes} classes"
        )));
    }
    let pre = preprocess(image, prep)?;
    let lab = pre.transform.labels_from_input(labels)?;
    Ok(LabelledVolume::new(
        pre.volume.data,
        lab,
        pre.volume.dims,
        classes,
    )?)
}

/// The segmentation network for `classes` on `base`'s encoder and latent split (its
/// reconstruction decoder, anatomy head and any global head dropped): what fine-tuning starts from,
/// before [`crate::bundle::Bundle::transfer_representation`] copies the weights in.
pub fn segmentation_config(base: &ModelConfig, classes: usize) -> ModelConfig {
    let mut config = base.clone();
    config.recon = None;
    config.head = None;
    config.anatomy = None;
    let convs = base
        .seg
        .as_ref()
        .map(|s| s.convs_per_level)
        .or_else(|| {
            Preset::parse(&base.preset)
                .ok()
                .and_then(|p| p.config(Some(classes)).seg)
                .map(|s| s.convs_per_level)
        })
        .unwrap_or(1);
    config.with_seg_classes(classes, convs)
}

/// Patch and batch for training within `budget` bytes per buffer (capped at
/// [`MAX_TRAIN_BUFFER`]): the requested patch (rounded to the network stride, at most the
/// smallest training volume) is shrunk until one patch's largest activation fits, then the
/// batch grows up to `max_batch` while it still fits.
pub fn training_plan(
    config: &ModelConfig,
    patch: [usize; 3],
    max_batch: usize,
    budget: u64,
    smallest_volume: [usize; 3],
) -> Result<Plan, InferError> {
    let stride = config.stride();
    // Never larger than the (padded) volumes: a patch must fit inside a case.
    let fit: [usize; 3] =
        std::array::from_fn(|a| patch[a].min((smallest_volume[a] / stride).max(1) * stride));
    let plan = InferenceConfig {
        patch: fit,
        overlap: 0.0,
        mirror_tta: false,
        max_batch: max_batch.max(1),
        memory_budget: budget.min(MAX_TRAIN_BUFFER),
    }
    .plan(config, fit)?;
    assert_eq!(
        plan.largest_activation,
        activation_bytes(config, plan.patch, plan.batch)
    );
    Ok(plan)
}

/// One fine-tuning step, as the CLI does it: `batch` patches (this replica's slots of the
/// step's batch) drawn from `Rng::derive(seed ^ 0xF17E, step)`, moved to `device`, then
/// [`Trainer::segmentation_step`].
#[allow(clippy::too_many_arguments)]
pub async fn finetune_step(
    trainer: &mut Trainer,
    sampler: &PatchSampler,
    cases: &[LabelledVolume],
    batch: usize,
    classes: usize,
    loss: &SegLossConfig,
    seed: u64,
    device: &Device,
) -> Result<StepReport, TrainError> {
    let step_seed = Rng::derive(seed ^ 0xF17E, trainer.step).next_u64();
    let (images, labels) = sampler.batch(cases, trainer.slots(batch), step_seed);
    let data = SegBatch::from_host(images, &labels, batch, sampler.patch, classes, device)?;
    trainer.segmentation_step(&data, loss).await
}

/// Mean foreground Dice of `model` on a held-out pair, segmented whole through the
/// inference path (image on its input grid).
pub async fn validation_dice(
    model: &BrainNet,
    config: &ModelConfig,
    meta: &BundleMeta,
    image: &Volume,
    labels: &LabelMap,
    inference: &InferenceConfig,
    device: &Device,
) -> Result<f64, FinetuneError> {
    let seg = segment_volume(model, config, meta, image, inference, device, &mut |_| {
        ControlFlow::Continue(())
    })
    .await?;
    let classes = config.seg_classes().unwrap_or(0);
    let fg: Vec<u16> = (1..classes as u16).collect();
    let scores = segmentation_scores(&seg.labels, labels, &fg)?;
    let dice: Vec<f64> = scores.iter().filter_map(|s| s.dice).collect();
    Ok(dice.iter().sum::<f64>() / dice.len().max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::AugmentConfig;
    use crate::bundle::{Bundle, Task};
    use crate::train::{TrainConfig, Trainable};

    fn sphere(n: usize) -> (Volume, LabelMap) {
        let eye = [
            [2.0, 0.0, 0.0, 0.0],
            [0.0, 2.0, 0.0, 0.0],
            [0.0, 0.0, 2.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ];
        let c = n as f32 / 2.0;
        let mut img = Vec::new();
        let mut lab = Vec::new();
        for z in 0..n {
            for y in 0..n {
                for x in 0..n {
                    let r =
                        ((x as f32 - c).powi(2) + (y as f32 - c).powi(2) + (z as f32 - c).powi(2))
                            .sqrt();
                    let inside = r < n as f32 / 4.0;
                    img.push(if inside { 100.0 } else { 30.0 } + (x % 3) as f32);
                    lab.push(inside as u16);
                }
            }
        }
        (
            Volume::new([n; 3], [2.0; 3], eye, img).unwrap(),
            LabelMap::new([n; 3], [2.0; 3], eye, lab).unwrap(),
        )
    }

    #[test]
    fn classes_cover_the_largest_label() {
        let (_, lab) = sphere(8);
        assert_eq!(classes_of([&lab]), 2);
        let mut more = lab.clone();
        more.data[0] = 4;
        assert_eq!(classes_of([&lab, &more]), 5);
        assert_eq!(classes_of(std::iter::empty()), 2);
    }

    #[test]
    fn the_plan_keeps_every_buffer_within_the_budget() {
        let config = Preset::Tiny.config(Some(4));
        let plan = training_plan(&config, [64; 3], 4, 8 << 20, [200; 3]).unwrap();
        assert!(plan.largest_activation <= 8 << 20);
        assert!(plan
            .patch
            .iter()
            .all(|&p| p % config.stride() == 0 && p > 0));
        // A huge budget is still capped at 256 MiB, and the volume bounds the patch.
        let plan = training_plan(&config, [512; 3], 64, 1 << 40, [48, 64, 40]).unwrap();
        assert!(plan.largest_activation <= MAX_TRAIN_BUFFER);
        assert_eq!(plan.patch, [48, 64, 40]);
    }

    #[test]
    fn a_new_head_on_a_pretrained_encoder_learns_a_sphere() {
        let dev = Device::flex().autodiff();
        let base = Preset::Tiny.config(Some(4));
        let pretrained = base.init(&dev).unwrap();
        let meta = BundleMeta {
            postprocess: Default::default(),
            name: "base".into(),
            task: Task::Segmentation,
            class_names: vec![],
            preprocess: PreprocessConfig::default(),
            patch_size: [16; 3],
            provenance: String::new(),
            created_by: String::new(),
        };
        let bundle = Bundle::from_model(&pretrained.valid(), base.clone(), meta.clone()).unwrap();
        let config = segmentation_config(bundle.config(), 2);
        assert_eq!(config.seg_classes(), Some(2));
        let mut model = config.init(&dev).unwrap();
        assert!(bundle.transfer_representation(&mut model).unwrap() > 0);

        let (img, lab) = sphere(24);
        let prep = PreprocessConfig {
            target_spacing: [2.0; 3],
            pad_multiple: config.stride(),
            min_size: [16; 3],
            ..PreprocessConfig::default()
        };
        let case = prepare_pair(&img, &lab, &prep, 2).unwrap();
        let sampler = PatchSampler {
            patch: [16; 3],
            foreground: 0.5,
            augment: AugmentConfig::none(),
        };
        let mut tcfg = TrainConfig::new(30);
        tcfg.schedule.base_lr = 3e-3;
        let mut trainer = Trainer::new(Trainable::Decoder.apply(model), tcfg);
        let loss = SegLossConfig::default();
        let cases = [case];
        let mut losses = Vec::new();
        for _ in 0..30 {
            let r = pollster::block_on(finetune_step(
                &mut trainer,
                &sampler,
                &cases,
                2,
                2,
                &loss,
                0,
                &dev,
            ))
            .unwrap();
            losses.push(r.loss);
        }
        let first: f32 = losses[..5].iter().sum::<f32>() / 5.0;
        let last: f32 = losses[25..].iter().sum::<f32>() / 5.0;
        assert!(last < first * 0.8, "loss {first} -> {last}");
        let meta = BundleMeta {
            postprocess: Default::default(),
            class_names: vec!["background".into(), "sphere".into()],
            preprocess: prep,
            ..meta
        };
        let dice = pollster::block_on(validation_dice(
            &trainer.model.valid(),
            &config,
            &meta,
            &img,
            &lab,
            &InferenceConfig {
                patch: [16; 3],
                ..InferenceConfig::default()
            },
            &Device::flex(),
        ))
        .unwrap();
        assert!((0.0..=1.0).contains(&dice));
    }
}
