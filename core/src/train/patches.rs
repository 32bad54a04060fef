//! Labelled training patches for fine-tuning: foreground-biased crops of (image, label
//! map) pairs through one shared spatial augmentation, then intensity augmentation of
//! the image. Host-side, so the trainer and the browser draw the same patches.

use std::ops::Range;

use super::TrainError;
use crate::augment::{intensity_augment, AugmentConfig, SpatialTransform};
use crate::rng::Rng;

/// Voxels remembered per class for foreground sampling (a stride through the class).
const MAX_CLASS_VOXELS: usize = 20_000;

/// One preprocessed case: image and labels on the same (network) grid, x fastest.
pub struct LabelledVolume {
    pub image: Vec<f32>,
    pub labels: Vec<u16>,
    pub dims: [usize; 3],
    /// For each foreground class present: some of its voxel indices.
    class_voxels: Vec<Vec<usize>>,
}

impl LabelledVolume {
    pub fn new(
        image: Vec<f32>,
        labels: Vec<u16>,
        dims: [usize; 3],
        classes: usize,
    ) -> Result<Self, TrainError> {
        let n: usize = dims.iter().product();
        if image.len() != n || labels.len() != n {
            return Err(TrainError::BadBatch(format!(
                "image ({}) and labels ({}) do not fill {dims:?}",
                image.len(),
                labels.len()
            )));
        }
        let mut all = vec![Vec::new(); classes];
        for (i, &l) in labels.iter().enumerate() {
            match all.get_mut(l as usize) {
                Some(v) => v.push(i),
                None => {
                    return Err(TrainError::BadBatch(format!(
                        "label {l} but the model has {classes} classes"
                    )))
                }
            }
        }
        let class_voxels = all
            .into_iter()
            .skip(1)
            .filter(|v| !v.is_empty())
            .map(|v| {
                let step = v.len().div_ceil(MAX_CLASS_VOXELS);
                v.into_iter().step_by(step).collect()
            })
            .collect();
        Ok(Self {
            image,
            labels,
            dims,
            class_voxels,
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct PatchSampler {
    pub patch: [usize; 3],
    /// Probability a patch is centred on a voxel of a random foreground class
    /// (nnU-Net's oversampling; rare classes get seen).
    pub foreground: f64,
    pub augment: AugmentConfig,
}

impl PatchSampler {
    fn start(&self, case: &LabelledVolume, rng: &mut Rng) -> [usize; 3] {
        let d = case.dims;
        let centre = if !case.class_voxels.is_empty() && rng.bool(self.foreground) {
            let class = &case.class_voxels[rng.below(case.class_voxels.len())];
            let i = class[rng.below(class.len())];
            Some([i % d[0], (i / d[0]) % d[1], i / (d[0] * d[1])])
        } else {
            None
        };
        std::array::from_fn(|a| {
            let room = d[a].saturating_sub(self.patch[a]);
            match centre {
                Some(c) => c[a].saturating_sub(self.patch[a] / 2).min(room),
                None => rng.below(room + 1),
            }
        })
    }

    /// The patches of `slots` of a step's batch: images (a patch's values per slot) and
    /// labels, both x fastest. Slot `g` draws its case and patch from
    /// `Rng::derive(step_seed, g)` alone, so a slot is the same patch on whichever
    /// data-parallel replica draws it.
    pub fn batch(
        &self,
        cases: &[LabelledVolume],
        slots: Range<usize>,
        step_seed: u64,
    ) -> (Vec<f32>, Vec<u16>) {
        let mut images = Vec::new();
        let mut labels = Vec::new();
        if cases.is_empty() {
            return (images, labels);
        }
        for slot in slots {
            let rng = &mut Rng::derive(step_seed, slot as u64);
            let (img, lab) = self.patch(&cases[rng.below(cases.len())], rng);
            images.extend(img);
            labels.extend(lab);
        }
        (images, labels)
    }

    /// One augmented patch of `case`: image and labels, x fastest.
    pub fn patch(&self, case: &LabelledVolume, rng: &mut Rng) -> (Vec<f32>, Vec<u16>) {
        let start = self.start(case, rng);
        let t = SpatialTransform::sample(&self.augment, rng);
        let mut img = t.sample_image(case.dims, start, self.patch, |i| case.image[i]);
        let lab = t.sample_labels(case.dims, start, self.patch, |i| case.labels[i]);
        if self.augment.intensity {
            intensity_augment(&mut img, self.patch, rng);
        }
        (img, lab)
    }
}
