pub mod info;
pub mod init;
pub mod predict;
