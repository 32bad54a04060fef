//! Tissue label maps (0 background, 1 CSF, 2 grey matter, 3 white matter) derived from
//! real data, and synthetic head shells around a brain, for training data that has the
//! labels the default model predicts. Pure functions on grids; no filesystem.

mod intensity;
mod morphology;
mod probabilities;
mod shells;

#[cfg(test)]
mod tests;

pub use intensity::{kmeans_1d, tissue_from_intensity};
pub use morphology::{dilate, erode, fill_holes};
pub use probabilities::{tissue_from_probabilities, TissueRule};
pub use shells::add_head_shells;

/// Label values of the tissue maps.
pub const BACKGROUND: u16 = 0;
pub const CSF: u16 = 1;
pub const GREY_MATTER: u16 = 2;
pub const WHITE_MATTER: u16 = 3;
