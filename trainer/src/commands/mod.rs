pub mod eval;
pub mod export;
pub mod finetune;
pub mod info;
pub mod init;
pub mod predict;
pub mod pretrain;
pub mod synth;
