//! The `brainfm` command line: arguments (clap), logging, and the dispatch to
//! `commands`; `main.rs` only calls [`main`].

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands;

/// brainfm: a brain-MRI foundation model (3D CNN U-Net) that segments scans on your
/// own machine — CPU, wgpu or CUDA.
///
/// Typical use:
///   brainfm info base                        # parameters and FLOPs of a preset
///   brainfm init --preset tiny --classes background,brain --output tiny.bfm
///   brainfm predict --model tiny.bfm --input scan.nii.gz --output seg.nii.gz
///   brainfm synth --labels aal.nii.gz --subjects 8 --spacing 2 --output synth
///   brainfm labels tissue --gm gm.nii.gz --wm wm.nii.gz --output tissue.nii.gz
///   brainfm pretrain --data synth --preset tiny --objective swap --steps 500 --output run
///   brainfm finetune --init run/pretrained.bfm --data nnUNet_raw/Dataset001_X --output ft
///   brainfm embed --model run/pretrained.bfm --input scans --output features.tsv
#[derive(Parser, Debug)]
#[command(name = "brainfm", version, about, long_about, verbatim_doc_comment)]
pub struct Cli {
    /// Log level (error, warn, info, debug, trace); also RUST_LOG.
    #[arg(long, global = true, default_value = "warn")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    Info(commands::info::InfoArgs),
    Init(commands::init::InitArgs),
    Predict(commands::predict::PredictArgs),
    Eval(commands::eval::EvalArgs),
    Embed(commands::embed::EmbedArgs),
    Export(commands::export::ExportArgs),
    Synth(commands::synth::SynthArgs),
    Labels(commands::labels::LabelsArgs),
    Pretrain(commands::pretrain::PretrainArgs),
    Finetune(commands::finetune::FinetuneArgs),
}

/// Parse the arguments, run the command, print any error; exit status 1 on failure.
pub fn main() -> ExitCode {
    crate::allocator::keep_freed_memory();
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cli.log));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Info(args) => commands::info::run(args),
        Command::Init(args) => commands::init::run(args),
        Command::Predict(args) => commands::predict::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Embed(args) => commands::embed::run(args),
        Command::Export(args) => commands::export::run(args),
        Command::Synth(args) => commands::synth::run(args),
        Command::Labels(args) => commands::labels::run(args),
        Command::Pretrain(args) => commands::pretrain::run(args),
        Command::Finetune(args) => commands::finetune::run(args),
    };
    match result {
        Ok(()) => {
            crate::distributed::finish();
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            // A data-parallel rank that stops alone would leave the others waiting.
            crate::distributed::abort_if_joined(1);
            ExitCode::FAILURE
        }
    }
}
