//! `brainfm predict`: segment a scan and write the labels on the scan's own grid; given a
//! folder, every scan in it (`folder.rs`).

mod folder;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use brainfm_core::metrics::VolumesTable;
use brainfm_core::volume::{write_labels, ReadOptions};
use clap::Args;

use crate::inference::{Builtin, InferenceArgs, Segmenter};
use crate::io::{read_scan, write_atomic};

/// Segment a NIfTI scan (.nii or .nii.gz) and write a label map aligned with it; or every
/// scan in a folder, into an output folder.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// Model bundle (.bfm) from `brainfm finetune`, `brainfm export` or the app; default:
    /// a bundled model (background, CSF, grey matter, white matter; see --builtin and
    /// docs/MODEL_CARD.md).
    #[arg(long, short)]
    model: Option<PathBuf>,
    /// Which bundled model segments when no --model is given.
    #[arg(long, value_enum, default_value = "default", conflicts_with = "model")]
    builtin: Builtin,
    /// Input scan (.nii or .nii.gz, 3D or 4D with --volume), or a folder: every .nii and
    /// .nii.gz file in it is segmented, and one that fails is reported while the rest go on.
    #[arg(long, short)]
    input: PathBuf,
    /// Output label map (.nii.gz), written on the exact grid of the input; for a folder
    /// input, a folder that gets NAME_seg.nii.gz and NAME_volumes.csv per scan (scans whose
    /// label map is already there are skipped, so a stopped run resumes).
    #[arg(long, short)]
    output: PathBuf,
    #[command(flatten)]
    inference: InferenceArgs,
    /// Which volume of a 4D file to segment (0-based).
    #[arg(long)]
    volume: Option<usize>,
    /// Refuse scans with more voxels than this.
    #[arg(long, default_value_t = 512 * 512 * 512)]
    max_voxels: usize,
    /// Also write the volume of each label (mL) as CSV here.
    #[arg(long)]
    volumes_csv: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(args: PredictArgs) -> Result<()> {
    if args.input.is_dir() {
        return folder::run(&args);
    }
    let name = args
        .output
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if !(name.ends_with(".nii.gz") || name.ends_with(".nii")) {
        bail!(
            "--output {} must end in .nii.gz (or .nii)",
            args.output.display()
        );
    }
    let started = Instant::now();
    let segmenter = segmenter(&args)?;
    let (volumes, summary) = segment_file(
        &segmenter,
        &args,
        &args.input,
        &args.output,
        args.volumes_csv.as_deref(),
        args.quiet,
    )?;
    println!(
        "segmented {} in {:.1} s on {:?}: {summary}",
        args.input.display(),
        started.elapsed().as_secs_f64(),
        segmenter.device_choice,
    );
    let mut out = std::io::stdout().lock();
    for row in &volumes.rows {
        writeln!(
            out,
            "  {:>3} {:<20} {:>10.2} mL",
            row.label, row.name, row.ml
        )?;
    }
    println!("wrote {}", args.output.display());
    Ok(())
}

fn segmenter(args: &PredictArgs) -> Result<Segmenter> {
    match &args.model {
        Some(path) => Segmenter::load(path, &args.inference),
        None => Segmenter::builtin(args.builtin, &args.inference),
    }
}

/// Segment `input` and write its label map to `output` (.nii.gz or .nii) and, when asked,
/// its volumes to `csv`. Returns the volumes and a line about the run.
fn segment_file(
    segmenter: &Segmenter,
    args: &PredictArgs,
    input: &Path,
    output: &Path,
    csv: Option<&Path>,
    quiet: bool,
) -> Result<(VolumesTable, String)> {
    let scan = read_scan(
        input,
        &ReadOptions {
            max_voxels: args.max_voxels,
            volume: args.volume,
        },
    )?;
    let result = segmenter
        .segment(&scan.volume, quiet)
        .with_context(|| format!("segmenting {} failed", input.display()))?;
    let mut bytes =
        write_labels(&scan.header, &result.labels).context("cannot encode the label map")?;
    if !output.to_string_lossy().to_lowercase().ends_with(".gz") {
        bytes = gunzip(&bytes)?;
    }
    write_atomic(output, &bytes)?;
    let volumes =
        VolumesTable::from_volumes(&result.volumes_ml, &segmenter.bundle.meta().class_names);
    if let Some(csv) = csv {
        write_atomic(csv, volumes.to_csv().as_bytes())?;
    }
    let d = scan.volume.dims;
    let summary = format!(
        "{}x{}x{} voxels, patch {:?}, batch {}, network grid {:?}",
        d[0], d[1], d[2], result.plan.patch, result.plan.batch, result.processed_dims
    );
    Ok((volumes, summary))
}

fn gunzip(bytes: &[u8]) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out)?;
    Ok(out)
}
