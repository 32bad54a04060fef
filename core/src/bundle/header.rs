use serde::{Deserialize, Serialize};

use crate::infer::Postprocess;
use crate::model::ModelConfig;
use crate::volume::PreprocessConfig;

pub const FORMAT_NAME: &str = "brainfm-bundle";

/// What the bundle's weights are for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    /// Self-supervised encoder (and reconstruction decoder), no task head.
    Pretrained,
    Segmentation,
    Classification,
    Regression,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BundleMeta {
    pub name: String,
    pub task: Task,
    /// Names of the output classes, index = label value (segmentation, classification).
    #[serde(default)]
    pub class_names: Vec<String>,
    /// The preprocessing the network was trained with; inference repeats it exactly.
    pub preprocess: PreprocessConfig,
    /// Sliding-window patch edge lengths (voxels).
    pub patch_size: [usize; 3],
    /// Where the weights came from: data, recipe, licence.
    #[serde(default)]
    pub provenance: String,
    /// brainfm version that wrote the bundle.
    pub created_by: String,
    /// What inference does to the labels after the network (chosen at export).
    #[serde(default)]
    pub postprocess: Postprocess,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightsInfo {
    pub encoding: String,
    pub len: u64,
    pub sha256: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BundleHeader {
    pub format: String,
    pub version: u32,
    pub model: ModelConfig,
    pub meta: BundleMeta,
    pub weights: WeightsInfo,
}
