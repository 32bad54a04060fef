//! `brainfm synth`: a BIDS dataset of synthetic multi-contrast subjects from a label map.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use brainfm_core::synth::{add_head_label, synth_subject, SynthConfig};
use brainfm_core::volume::{
    header_from_grid, resample_nearest_to_spacing, write_labels, write_volume, LabelMap,
    ReadOptions,
};
use clap::Args;
use rayon::prelude::*;

use crate::io::{read_scan, write_atomic};

/// Make synthetic subjects (SynthSeg-style) with several co-registered contrasts each.
///
/// Example (AAL atlas on Colin27 from Debian's mricron-data, 2 mm):
///   brainfm synth --labels /usr/share/mricron/templates/aal.nii.gz \
///     --head /usr/share/mricron/templates/ch2.nii.gz --subjects 8 --spacing 2 --output synth
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct SynthArgs {
    /// Label map (.nii/.nii.gz, integer labels, 0 = background).
    #[arg(long)]
    labels: PathBuf,
    /// Optional head image on the same grid: bright non-brain voxels become an extra label
    /// (scalp/skull) with its own random contrast.
    #[arg(long)]
    head: Option<PathBuf>,
    /// Head voxels are those above this fraction of the head image's maximum.
    #[arg(long, default_value_t = 0.1)]
    head_threshold: f32,
    /// Number of subjects.
    #[arg(long, default_value_t = 10)]
    subjects: usize,
    /// Contrast names (BIDS suffixes), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "T1w,T2w,FLAIR")]
    contrasts: Vec<String>,
    /// Resample the label map to this isotropic voxel size (mm) first (nearest).
    #[arg(long)]
    spacing: Option<f64>,
    /// Displacement standard deviation (mm) of the random deformation.
    #[arg(long, default_value_t = 2.0)]
    deform_mm: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output BIDS folder.
    #[arg(long, short)]
    output: PathBuf,
}

pub fn run(args: SynthArgs) -> Result<()> {
    if args.subjects == 0 || args.subjects > 9999 {
        bail!(
            "--subjects must be between 1 and 9999, got {}",
            args.subjects
        );
    }
    let img = read_scan(&args.labels, &ReadOptions::default())?;
    if img
        .volume
        .data
        .iter()
        .any(|v| !v.is_finite() || *v < 0.0 || *v > u16::MAX as f32)
    {
        bail!(
            "{} is not a label map: values must be integers in 0..=65535",
            args.labels.display()
        );
    }
    let v = &img.volume;
    let mut labels = LabelMap {
        dims: v.dims,
        spacing: v.spacing,
        affine: v.affine,
        data: v.data.iter().map(|x| x.round() as u16).collect(),
    };
    if let Some(head_path) = &args.head {
        let head = read_scan(head_path, &ReadOptions::default())?.volume;
        let max = head.data.iter().cloned().fold(0f32, f32::max);
        labels = add_head_label(&labels, &head, args.head_threshold * max).with_context(|| {
            format!(
                "{} does not fit {}",
                head_path.display(),
                args.labels.display()
            )
        })?;
    }
    if let Some(s) = args.spacing {
        if !(s.is_finite() && s > 0.0) {
            bail!("--spacing must be a positive number of millimetres, got {s}");
        }
        labels = resample_nearest_to_spacing(&labels, [s; 3])
            .with_context(|| format!("cannot resample {}", args.labels.display()))?;
    }
    let cfg = SynthConfig {
        contrasts: args.contrasts.clone(),
        deform_mm: args.deform_mm,
        ..SynthConfig::default()
    };
    let out = &args.output;
    write_atomic(
        &out.join("dataset_description.json"),
        br#"{"Name": "brainfm synthetic subjects", "BIDSVersion": "1.9.0", "DatasetType": "raw", "GeneratedBy": [{"Name": "brainfm synth"}]}"#,
    )?;
    write_atomic(
        &out.join("derivatives/synth/dataset_description.json"),
        br#"{"Name": "brainfm synthetic label maps", "BIDSVersion": "1.9.0", "DatasetType": "derivative", "GeneratedBy": [{"Name": "brainfm synth"}]}"#,
    )?;
    (0..args.subjects)
        .into_par_iter()
        .try_for_each(|i| -> Result<()> {
            let sub = format!("sub-{:02}", i + 1);
            let s = synth_subject(
                &labels,
                &cfg,
                args.seed.wrapping_mul(1_000_003).wrapping_add(i as u64),
            )?;
            for (contrast, vol) in &s.images {
                let path = out.join(format!("{sub}/anat/{sub}_{contrast}.nii.gz"));
                write_atomic(&path, &write_volume(None, vol)?)?;
            }
            let dseg = out.join(format!("derivatives/synth/{sub}/anat/{sub}_dseg.nii.gz"));
            write_atomic(
                &dseg,
                &write_labels(&header_from_grid(&s.labels), &s.labels)?,
            )?;
            Ok(())
        })?;
    println!(
        "wrote {} subjects x {} contrasts ({}x{}x{} voxels) to {}",
        args.subjects,
        cfg.contrasts.len(),
        labels.dims[0],
        labels.dims[1],
        labels.dims[2],
        out.display()
    );
    Ok(())
}
