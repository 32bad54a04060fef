//! Evaluation metrics: Dice and HD95 for segmentation, AUROC and balanced accuracy for
//! classification, MAE and Pearson r for regression. Pure functions on plain slices, so
//! the CLI's `eval` and the app's validation compute identical numbers.

mod classification;
mod overlap;
mod regression;
mod segmentation;
mod surface;

pub use classification::{auroc, balanced_accuracy};
pub use overlap::{dice, LabelCounts};
pub use regression::{mae, pearson};
pub use segmentation::{segmentation_scores, LabelScore};
pub use surface::{euclidean_distance_transform, hd95};
