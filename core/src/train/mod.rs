//! One training step, shared by the native trainer and the browser app: forward the
//! objective (self-supervised, segmentation, classification or regression), backward, clip the global gradient norm, AdamW with warm-up + cosine.
//! The only tensor readback is one async read of the loss terms per step, so the same
//! code runs on WebGPU (where blocking reads panic).

pub mod clip;
pub mod collective;
pub mod finetune;
pub mod freeze;
pub mod global;
pub mod patches;
pub mod schedule;
pub mod segmentation;
pub mod setup;
pub mod step;

#[cfg(test)]
mod collective_tests;
#[cfg(test)]
mod global_tests;
#[cfg(test)]
mod segmentation_tests;
#[cfg(test)]
mod tests;

pub use clip::clip_global_norm;
pub use collective::{average_gradients, Collective, CollectiveError, ThreadGroup};
pub use finetune::{
    classes_of, finetune_step, prepare_pair, segmentation_config, training_plan, validation_dice,
    FinetuneError, MAX_TRAIN_BUFFER,
};
pub use freeze::Trainable;
pub use global::{global_loss, scale_regression_head, GlobalBatch, GlobalTaskConfig};
pub use patches::{LabelledVolume, PatchSampler};
pub use schedule::LrSchedule;
pub use segmentation::{segmentation_loss, OverlapLoss, SegBatch, SegLossConfig};
pub use setup::{
    finetune_patch, finetune_preprocess, start_model, FinetuneOptions, FinetuneSetup, Start,
    Started,
};
pub use step::{StepReport, TrainConfig, TrainError, Trainer};
