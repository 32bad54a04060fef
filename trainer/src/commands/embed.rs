//! `brainfm embed`: one row of features per scan for probes of the representation — the
//! subject latent z_s, the contrast latent z_m (bundles with a latent split) and the
//! deepest encoder level, each averaged over the scan (core's `embed_volume`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use brainfm_core::infer::{embed_volume, Embedding};
use brainfm_core::volume::ReadOptions;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::predict::plan::{plan, Source};
use crate::device::DeviceChoice;
use crate::io::{read_bundle, read_dicom_series, read_scan, write_atomic};

/// Write a table of whole-scan features from a model's encoder.
///
///   brainfm embed --model run/pretrained.bfm --input held_out --output features.tsv
///
/// --input takes scan files and folders (BIDS, nnU-Net raw or flat, as `predict` reads
/// them), as often as needed. Each scan is preprocessed as in training and tiled with
/// the model's patch; the output (TSV) has a row per scan: its name, the patches averaged,
/// then zs_0.., zm_0.. (when the model has a latent split) and deep_0.. columns.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct EmbedArgs {
    /// Model bundle (a pre-trained or fine-tuned one).
    #[arg(long)]
    pub model: PathBuf,
    /// Scan file or folder; repeat for more.
    #[arg(long, required = true)]
    pub input: Vec<PathBuf>,
    /// The table to write (TSV).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Patch edge in voxels; defaults to the model's.
    #[arg(long)]
    pub patch: Option<usize>,
    #[arg(long, value_enum, default_value = "cpu")]
    pub device: DeviceChoice,
    #[arg(short, long)]
    pub quiet: bool,
}

/// Every scan the inputs name, with the name it gets in the table.
fn scans(inputs: &[PathBuf]) -> Result<Vec<(String, Source)>> {
    let mut scans = Vec::new();
    for input in inputs {
        if input.is_dir() {
            // The plan's label paths are never written: only its scans are used.
            for job in plan(input, Path::new(""))?.jobs {
                scans.push((input.join(&job.name).display().to_string(), job.input));
            }
        } else if input.is_file() {
            scans.push((input.display().to_string(), Source::File(input.clone())));
        } else {
            bail!("--input {} is neither a file nor a folder", input.display());
        }
    }
    Ok(scans)
}

pub fn run(args: EmbedArgs) -> Result<()> {
    let scans = scans(&args.input)?;
    let bundle = read_bundle(&args.model)?;
    let device = args.device.device()?;
    let model = bundle
        .load_model(&device)
        .with_context(|| format!("cannot load {}", args.model.display()))?;
    let patch = args
        .patch
        .map(|p| [p; 3])
        .unwrap_or(bundle.meta().patch_size);
    let bar = match args.quiet {
        true => ProgressBar::hidden(),
        false => ProgressBar::new(scans.len() as u64),
    };
    bar.set_style(
        ProgressStyle::with_template("{msg:<30!} [{bar:30}] {pos}/{len} scans (eta {eta})")
            .expect("static template")
            .progress_chars("=> "),
    );
    let mut table = String::new();
    for (i, (name, source)) in scans.iter().enumerate() {
        bar.set_message(name.clone());
        let scan = match source {
            Source::File(path) => read_scan(path, &ReadOptions::default())?,
            Source::Dicom(series) => read_dicom_series(series, ReadOptions::default().max_voxels)?,
        };
        let e = pollster::block_on(embed_volume(
            &model,
            bundle.config(),
            bundle.meta(),
            &scan.volume,
            patch,
            &device,
        ))
        .with_context(|| format!("embedding {} failed", source.shown()))?;
        if i == 0 {
            table.push_str(&header(&e));
        }
        table.push_str(&row(name, &e));
        bar.inc(1);
    }
    bar.finish_and_clear();
    write_atomic(&args.output, table.as_bytes())?;
    if !args.quiet {
        eprintln!("wrote {} scans to {}", scans.len(), args.output.display());
    }
    Ok(())
}

fn header(e: &Embedding) -> String {
    let mut h = String::from("scan\tpatches");
    for (part, values) in e.parts() {
        for i in 0..values.len() {
            let _ = write!(h, "\t{part}_{i}");
        }
    }
    h + "\n"
}

fn row(name: &str, e: &Embedding) -> String {
    // A tab or newline in a file name would shift the columns.
    let mut r = name.replace(['\t', '\n', '\r'], " ");
    let _ = write!(r, "\t{}", e.patches);
    for (_, values) in e.parts() {
        for v in values {
            let _ = write!(r, "\t{v:.6e}");
        }
    }
    r + "\n"
}
