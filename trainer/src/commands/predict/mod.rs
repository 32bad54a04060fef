//! `brainfm predict`: segment a scan and write the labels on the scan's own grid; given a
//! folder, a BIDS dataset or an nnU-Net dataset, every scan in it (`plan.rs` names the
//! outputs, `folder.rs` runs them).

mod folder;
pub(crate) mod plan;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use brainfm_core::metrics::VolumesTable;
use brainfm_core::volume::ReadOptions;
use clap::Args;

use crate::inference::{Builtin, InferenceArgs, Segmenter};
use crate::io::{encode_labels, read_dicom_series, read_scan, write_atomic, LabelFormat};
use plan::Source;

/// Segment a scan (NIfTI .nii/.nii.gz or FreeSurfer .mgz/.mgh) and write a label map
/// aligned with it; or every scan of a folder, a BIDS dataset or an nnU-Net dataset, into
/// an output folder.
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
    /// Input scan (.nii, .nii.gz, .mgz or .mgh; 3D, or 4D with --volume; or an Enhanced MR
    /// DICOM file), or a folder: a BIDS dataset (sub-*/[ses-*/]anat/), an nnU-Net dataset
    /// (imagesTs/, else imagesTr/), or a folder of scans and/or DICOM files (any depth; each
    /// DICOM series is one scan). Every scan is segmented; one that fails is reported while
    /// the rest go on.
    #[arg(long, short)]
    input: PathBuf,
    /// Output label map, written on the exact grid of the input; its ending chooses the
    /// format (.nii.gz, .nii, .mgz, .mgh). For a folder input, an output folder: BIDS
    /// derivatives (sub-*/anat/*_desc-brainfm_dseg.nii.gz) for a BIDS dataset, CASE.nii.gz
    /// for an nnU-Net one, NAME_seg.nii.gz and NAME_volumes.csv for a plain folder (NAME
    /// of a DICOM series: its number and description, S003_T1_MPRAGE), and
    /// volumes.csv with every scan's volumes. Scans whose label map is there already are
    /// skipped, so a stopped run resumes.
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
    // Refuse a bad output name before minutes of segmentation, not after.
    LabelFormat::of(&args.output)?;
    let started = Instant::now();
    let segmenter = segmenter(&args)?;
    let (volumes, summary) = segment_file(
        &segmenter,
        &args,
        &Source::File(args.input.clone()),
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

/// Segment `input` (a file or a DICOM series) and write its label map to `output` (format
/// by its ending) and, when asked,
/// its volumes to `csv`. Returns the volumes and a line about the run.
fn segment_file(
    segmenter: &Segmenter,
    args: &PredictArgs,
    input: &Source,
    output: &Path,
    csv: Option<&Path>,
    quiet: bool,
) -> Result<(VolumesTable, String)> {
    let scan = match input {
        Source::File(path) => read_scan(
            path,
            &ReadOptions {
                max_voxels: args.max_voxels,
                volume: args.volume,
            },
        )?,
        Source::Dicom(series) => read_dicom_series(series, args.max_voxels)?,
    };
    let result = segmenter
        .segment(&scan.volume, quiet)
        .with_context(|| format!("segmenting {} failed", input.shown()))?;
    let bytes = encode_labels(output, &scan.header, &result.labels)?;
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
