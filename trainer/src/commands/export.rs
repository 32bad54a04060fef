//! `brainfm export`: a deployment bundle (for the browser app).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use brainfm_core::bundle::{export_for_inference, ExportOptions};
use brainfm_core::infer::Postprocess;
use clap::{Args, ValueEnum};
use flate2::write::GzEncoder;
use flate2::Compression;

use crate::io::{read_bundle, write_atomic};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// The browser app: only the parts inference runs.
    Web,
}

/// Write a bundle for deployment: drops pre-training-only parts, optionally f16 weights.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Model bundle to export.
    #[arg(long, short)]
    model: PathBuf,
    /// Where the bundle will run.
    #[arg(long, value_enum, default_value = "web")]
    to: Target,
    /// Store weights as f16 (half the download; computation stays f32).
    #[arg(long)]
    half: bool,
    /// Post-processing stored in the bundle, which predict, eval and the app then apply:
    /// keep the foreground connected to the largest piece left after eroding it by this
    /// many mm (an opening; cuts thin bridges to false positives in the neck). 0 keeps the
    /// plain largest connected component; negative: none; unset keeps the bundle's.
    #[arg(long, allow_negative_numbers = true)]
    largest_component_mm: Option<f64>,
    /// Output bundle path.
    #[arg(long, short)]
    output: PathBuf,
}

pub fn run(args: ExportArgs) -> Result<()> {
    let bundle = read_bundle(&args.model)?;
    let Target::Web = args.to;
    let exported = export_for_inference(
        &bundle,
        ExportOptions {
            half: args.half,
            postprocess: args
                .largest_component_mm
                .map(Postprocess::largest_component),
        },
    )?;
    let bytes = exported.to_bytes();
    write_atomic(&args.output, &bytes)?;
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&bytes)?;
    let compressed = gz.finish()?.len();
    println!(
        "wrote {}: {:.2} MB ({:.2} MB gzipped as served), from {:.2} MB{}",
        args.output.display(),
        bytes.len() as f64 / 1e6,
        compressed as f64 / 1e6,
        bundle.to_bytes().len() as f64 / 1e6,
        if args.half { ", f16 weights" } else { "" }
    );
    Ok(())
}
