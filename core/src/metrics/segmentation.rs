//! Per-label scores of one segmented case.

use serde::Serialize;

use super::{hd95, LabelCounts};
use crate::volume::{LabelMap, VolumeError};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LabelScore {
    pub label: u16,
    /// `None` when the label is in neither map.
    pub dice: Option<f64>,
    /// 95th-percentile Hausdorff distance in mm; `None` when the label is in neither
    /// map, infinite when it is missing from one.
    pub hd95_mm: Option<f64>,
    pub predicted_ml: f64,
    pub reference_ml: f64,
}

/// Dice, HD95 and volumes for each of `labels`; both maps must share one grid.
pub fn segmentation_scores(
    pred: &LabelMap,
    reference: &LabelMap,
    labels: &[u16],
) -> Result<Vec<LabelScore>, VolumeError> {
    if pred.dims != reference.dims {
        return Err(VolumeError::DimsMismatch {
            header: reference.dims.iter().map(|&d| d as i64).collect(),
            labels: pred.dims,
        });
    }
    let voxel_ml = reference.spacing.iter().product::<f64>() / 1000.0;
    Ok(labels
        .iter()
        .map(|&label| {
            let counts = LabelCounts::of(&pred.data, &reference.data, label);
            LabelScore {
                label,
                dice: counts.dice(),
                hd95_mm: hd95(
                    &pred.data,
                    &reference.data,
                    label,
                    reference.dims,
                    reference.spacing,
                ),
                predicted_ml: counts.predicted as f64 * voxel_ml,
                reference_ml: counts.reference as f64 * voxel_ml,
            }
        })
        .collect())
}
