//! brainfm-trainer: the `brainfm` command line as a library. The binary (src/main.rs)
//! calls [`cli::main`]; the end-to-end tests and the benchmarks under examples/ import the
//! same modules. What the CLI adds to brainfm-core is files, folders, threads and
//! terminals: the rules themselves (preprocessing, training, metrics, label maps) are
//! core's.

pub mod allocator;
pub mod cli;
pub mod commands;
pub mod data;
pub mod device;
pub mod distributed;
pub mod inference;
pub mod io;
pub mod layout;
pub mod progress;
pub mod run;
