//! Evaluation metrics: Dice and HD95 for segmentation, AUROC and balanced accuracy for
//! classification, MAE and Pearson r for regression, and the per-label volumes table.
//! Pure functions on plain slices, so the CLI and the app compute identical numbers; no
//! front end keeps a Dice or a volumes CSV of its own.

mod classification;
mod overlap;
mod regression;
mod segmentation;
mod surface;
mod volumes;

pub use classification::{auroc, balanced_accuracy};
pub use overlap::{dice, LabelCounts};
pub use regression::{mae, pearson};
pub use segmentation::{segmentation_scores, LabelScore};
pub use surface::{euclidean_distance_transform, hd95};
pub use volumes::{
    label_name, label_volumes_ml, volumes_by_scan_csv, volumes_of_labels_ml, LabelVolume,
    VolumesTable,
};
