pub mod eval;
pub mod info;
pub mod init;
pub mod predict;
pub mod pretrain;
pub mod synth;
