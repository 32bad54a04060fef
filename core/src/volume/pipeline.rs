//! The one preprocessing pipeline (CLI, app and fine-tuning all use it) and its exact
//! inverse, which maps network outputs back onto the user's original grid.
//!
//! Forward: reorient to RAS -> crop the non-zero box + margin (at input resolution, where it
//! is cheap) -> resample to the target spacing -> z-score over the foreground -> pad to a
//! multiple / minimum size with 0. Inverse: unpad -> resample back to the exact cropped dims
//! -> place into the full RAS grid (outside = 0) -> undo the reorientation.

use serde::{Deserialize, Serialize};

use super::affine::Affine;
use super::crop::{crop, foreground_box, uncrop, CropBox};
use super::error::VolumeError;
use super::grid::{check_spacing, Grid, LabelMap, Volume};
use super::normalize::{apply_zscore, foreground_stats, is_foreground, IntensityStats};
use super::orient::Reorientation;
use super::pad::{pad, padding_for, unpad, Padding};
use super::resample::{
    dims_for_spacing, resample_nearest_to_dims, resample_slice, resample_to_dims,
};

/// Pads beyond this are configuration mistakes, not network requirements.
const MAX_PAD_MULTIPLE: usize = 1024;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct PreprocessConfig {
    /// Network voxel size in mm along R, A, S.
    pub target_spacing: [f64; 3],
    /// Voxels kept around the non-zero box.
    pub crop_margin: usize,
    /// Every processed dim becomes a multiple of this (the network's total stride).
    pub pad_multiple: usize,
    /// Every processed dim is at least this.
    pub min_size: [usize; 3],
    /// Z-score intensities over the foreground.
    pub normalize: bool,
}

impl Default for PreprocessConfig {
    fn default() -> Self {
        Self {
            target_spacing: [1.0; 3],
            crop_margin: 4,
            pad_multiple: 16,
            min_size: [0; 3],
            normalize: true,
        }
    }
}

impl PreprocessConfig {
    fn validate(&self) -> Result<(), VolumeError> {
        let bad = |message: String| Err(VolumeError::InvalidConfig { message });
        if check_spacing(self.target_spacing).is_err() {
            return bad(format!(
                "target_spacing {:?} must be finite and > 0",
                self.target_spacing
            ));
        }
        if self.pad_multiple > MAX_PAD_MULTIPLE {
            return bad(format!(
                "pad_multiple {} is over {MAX_PAD_MULTIPLE}",
                self.pad_multiple
            ));
        }
        if self
            .min_size
            .iter()
            .any(|&m| m > super::resample::MAX_RESAMPLED_VOXELS)
        {
            return bad(format!("min_size {:?} is absurdly large", self.min_size));
        }
        Ok(())
    }
}

/// Everything needed to map between the input grid and the network grid, both ways.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GridTransform {
    pub input_dims: [usize; 3],
    pub input_spacing: [f64; 3],
    pub input_affine: Affine,
    pub reorientation: Reorientation,
    /// Box in the RAS grid (input resolution).
    pub crop: CropBox,
    /// Dims after resampling the cropped box, before padding.
    pub resampled_dims: [usize; 3],
    pub padding: Padding,
    pub processed_dims: [usize; 3],
    pub processed_spacing: [f64; 3],
    pub processed_affine: Affine,
    /// Foreground intensity statistics used for z-scoring (`None`: not normalised or no
    /// foreground).
    pub intensity: Option<IntensityStats>,
}

/// The network input (RAS, processed grid) and how to get back.
#[derive(Clone, Debug, PartialEq)]
pub struct Preprocessed {
    pub volume: Volume,
    pub transform: GridTransform,
}

fn check_grid<T>(g: &Grid<T>) -> Result<(), VolumeError> {
    g.checked_len()?;
    check_spacing(g.spacing)?;
    VolumeError::check_affine(&g.affine)?;
    Ok(())
}

/// Runs the forward pipeline on an image.
pub fn preprocess(input: &Volume, cfg: &PreprocessConfig) -> Result<Preprocessed, VolumeError> {
    cfg.validate()?;
    check_grid(input)?;
    let reorientation = Reorientation::to_ras(&input.affine, input.dims)?;
    // NaN/Inf would spread through interpolation: they are background.
    let clean = input.with_data(
        input
            .data
            .iter()
            .map(|&v| if v.is_finite() { v } else { 0.0 })
            .collect(),
    )?;
    let ras = reorientation.apply(&clean)?;
    drop(clean);
    let crop_box = foreground_box(&ras, cfg.crop_margin);
    let cropped = crop(&ras, &crop_box)?;
    drop(ras);
    let resampled_dims = dims_for_spacing(cropped.dims, cropped.spacing, cfg.target_spacing)?;

    // Statistics and mask come from the original intensities (at input resolution), so
    // interpolation at the object border does not leak background into the foreground.
    let stats = if cfg.normalize {
        foreground_stats(&cropped.data)
    } else {
        None
    };
    let mask = if cfg.normalize {
        let m = cropped.with_data(cropped.data.iter().map(|&v| is_foreground(v)).collect())?;
        Some(resample_nearest_to_dims(&m, resampled_dims)?.data)
    } else {
        None
    };
    let mut resampled = resample_to_dims(&cropped, resampled_dims)?;
    drop(cropped);
    if let Some(mask) = &mask {
        match &stats {
            Some(s) => apply_zscore(&mut resampled.data, mask, s),
            None => resampled.data.iter_mut().for_each(|v| *v = 0.0),
        }
    }
    let padding = padding_for(resampled_dims, cfg.pad_multiple, cfg.min_size)?;
    let volume = pad(&resampled, &padding, 0.0)?;
    let transform = GridTransform {
        input_dims: input.dims,
        input_spacing: input.spacing,
        input_affine: input.affine,
        reorientation,
        crop: crop_box,
        resampled_dims,
        padding,
        processed_dims: volume.dims,
        processed_spacing: volume.spacing,
        processed_affine: volume.affine,
        intensity: stats,
    };
    Ok(Preprocessed { volume, transform })
}

impl GridTransform {
    pub fn input_dims(&self) -> [usize; 3] {
        self.input_dims
    }

    pub fn processed_dims(&self) -> [usize; 3] {
        self.processed_dims
    }

    fn processed_len(&self) -> usize {
        // saturating: a deserialised transform may hold anything
        self.processed_dims
            .iter()
            .fold(1usize, |a, &d| a.saturating_mul(d))
    }

    fn processed_grid<T>(&self, data: Vec<T>) -> Grid<T> {
        Grid {
            dims: self.processed_dims,
            spacing: self.processed_spacing,
            affine: self.processed_affine,
            data,
        }
    }

    fn check_processed_len(
        &self,
        what: &'static str,
        len: usize,
        channels: usize,
    ) -> Result<(), VolumeError> {
        let expected = self.processed_len().saturating_mul(channels);
        if len != expected || channels == 0 {
            return Err(VolumeError::BufferLength {
                what,
                expected,
                actual: len,
            });
        }
        Ok(())
    }

    /// Cropped-box labels (RAS, input resolution) -> the input grid: uncrop with 0, undo
    /// the reorientation, and take the input geometry verbatim.
    fn cropped_to_input(&self, cropped: Grid<u16>) -> Result<LabelMap, VolumeError> {
        let full = uncrop(&cropped, self.reorientation.ras_dims(), &self.crop, 0)?;
        let mut out = self.reorientation.invert(&full)?;
        out.affine = self.input_affine;
        out.spacing = self.input_spacing;
        Ok(out)
    }

    /// Labels on the processed grid (network output argmax) -> labels on the input grid,
    /// by nearest neighbour: exact when no resampling happened.
    pub fn labels_to_input(&self, labels: &[u16]) -> Result<LabelMap, VolumeError> {
        self.check_processed_len("processed label map", labels.len(), 1)?;
        let g = unpad(&self.processed_grid(labels.to_vec()), &self.padding)?;
        let c = resample_nearest_to_dims(&g, self.crop.dims())?;
        self.cropped_to_input(c)
    }

    /// Class probabilities (channel-major, `channels` volumes on the processed grid) -> labels
    /// on the input grid: each channel is resampled trilinearly to the cropped input
    /// resolution and the argmax taken there (nnU-Net style, smoother than resampling the
    /// argmax). Outside the crop the label is 0. Channels are processed one at a time, so
    /// memory stays at a few single-channel volumes.
    pub fn probabilities_to_input(
        &self,
        probs: &[f32],
        channels: usize,
    ) -> Result<LabelMap, VolumeError> {
        self.check_processed_len("probability field", probs.len(), channels)?;
        if channels > u16::MAX as usize + 1 {
            return Err(VolumeError::InvalidConfig {
                message: format!("{channels} channels do not fit u16 labels"),
            });
        }
        let n = self.processed_len();
        let cd = self.crop.dims();
        let mut best: Vec<f32> = Vec::new();
        let mut arg: Vec<u16> = Vec::new();
        for (c, chunk) in probs.chunks_exact(n).enumerate() {
            let g = unpad(&self.processed_grid(chunk.to_vec()), &self.padding)?;
            let r = resample_slice(&g.data, g.dims, cd);
            if c == 0 {
                arg = vec![0; r.len()];
                best = r;
                continue;
            }
            for ((b, a), v) in best.iter_mut().zip(arg.iter_mut()).zip(r) {
                // strict: ties keep the lower class; NaN never wins
                if v > *b {
                    *b = v;
                    *a = c as u16;
                }
            }
        }
        let cropped = Grid {
            dims: cd,
            spacing: self.input_spacing,
            affine: self.input_affine,
            data: arg,
        };
        self.cropped_to_input(cropped)
    }

    /// A label map on the input grid -> the processed grid (nearest), e.g. training targets
    /// for fine-tuning. Labels outside the crop box are dropped (the box holds all non-zero
    /// intensities plus the margin).
    pub fn labels_from_input(&self, labels: &LabelMap) -> Result<Vec<u16>, VolumeError> {
        if labels.dims != self.input_dims {
            return Err(VolumeError::DimsMismatch {
                header: self.input_dims.iter().map(|&d| d as i64).collect(),
                labels: labels.dims,
            });
        }
        let ras = self.reorientation.apply(labels)?;
        let c = crop(&ras, &self.crop)?;
        let r = resample_nearest_to_dims(&c, self.resampled_dims)?;
        Ok(pad(&r, &self.padding, 0)?.data)
    }
}

#[cfg(test)]
mod tests;
