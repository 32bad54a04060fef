//! `brainfm synth`: synthetic multi-contrast subjects from a label map, written as a BIDS
//! dataset (for pretraining) or an nnU-Net raw dataset (for fine-tuning).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use brainfm_core::rng::Rng;
use brainfm_core::synth::{
    add_head_clutter, add_head_label, add_head_shells, add_neck_and_face, cut_inferior,
    neck_padding, synth_subject_with, ClutterConfig, RealIntensities, SynthConfig,
};
use brainfm_core::volume::{
    header_from_grid, pad, resample_nearest_to_spacing, resample_to_spacing, write_labels,
    write_volume, Padding, ReadOptions,
};
use clap::{Args, ValueEnum};
use rayon::prelude::*;

use crate::io::{read_label_map, read_scan, write_atomic};
use crate::layout::{bids, nnunet};

/// Make synthetic subjects (SynthSeg-style) with several co-registered contrasts each.
///
/// Example (AAL atlas on Colin27 from Debian's mricron-data, 2 mm):
///   brainfm synth --labels /usr/share/mricron/templates/aal.nii.gz \
///     --head /usr/share/mricron/templates/ch2.nii.gz --subjects 8 --spacing 2 --output synth
///
/// nnU-Net raw dataset for fine-tuning (tissue labels, synthetic skull/scalp shells):
///   brainfm synth --labels tissue.nii.gz --shells 2,3,4 --format nnunet \
///     --classes background,CSF,GM,WM --subjects 16 --spacing 1.5 --output Dataset001_X
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct SynthArgs {
    /// Label map (.nii/.nii.gz, whole-number labels 0..=65535, 0 = background).
    #[arg(long)]
    labels: PathBuf,
    /// Optional head image on the same grid: bright non-brain voxels become an extra label
    /// (scalp/skull) with its own random contrast.
    #[arg(long)]
    head: Option<PathBuf>,
    /// Head voxels are those above this fraction of the head image's maximum.
    #[arg(long, default_value_t = 0.1)]
    head_threshold: f32,
    /// Optional real scan on the label map's grid (e.g. the template's own T1): every
    /// labelled voxel takes its intensity from it, warped with the subject and remapped per
    /// contrast by a random curve through the labels' random (or --order'ed) means, so the
    /// texture is real and the contrast random. Shells, clutter and --head stay synthetic.
    #[arg(long)]
    brain_image: Option<PathBuf>,
    /// Synthetic head shells around the labelled region: thicknesses (mm) of concentric
    /// layers, each an extra label with its own random contrast (e.g. 2,3,4 for
    /// CSF/dura, skull, scalp). Drawn per subject, scaled by 1 ± --shell-jitter.
    #[arg(long, value_delimiter = ',')]
    shells: Vec<f64>,
    #[arg(long, default_value_t = 0.4)]
    shell_jitter: f64,
    /// Extra-cerebral clutter (face, neck, muscle and fat stand-ins): this many extra
    /// labels of random contrast in an irregular envelope and ellipsoids around the head,
    /// drawn per subject (0 = none). Written as background, like --shells.
    #[arg(long, default_value_t = 0)]
    clutter: usize,
    /// Neck, shoulders and face (mm of neck): the grid grows by this much below the head,
    /// and each subject gets a neck with skin fat, muscle, vertebrae, spinal canal and cord,
    /// airway and vessels, widening into shoulders, and a face with eyes in orbital fat,
    /// nasal cavity, sinuses, tongue and mandible, every size drawn per subject. Each
    /// subject's field of view then stops at a random height between the head and the
    /// grid's end, as real scans do. Added after --shells and before --clutter, as labels
    /// max+1 ..= max+7 (fat, muscle, deep muscle, bone, marrow, fluid, cord: e.g. 7..=13
    /// after three shells) that --order can place; written as background. 0 = none.
    #[arg(long, default_value_t = 0.0)]
    neck_mm: f64,
    /// Enlarge the field of view by this many millimetres of air on every side first, so
    /// shells and clutter are not cut off by a brain-tight template grid.
    #[arg(long, default_value_t = 0.0)]
    pad_mm: f64,
    /// Probability per image that the air holds magnitude noise as in a raw scan
    /// (otherwise exactly zero, as in a masked one).
    #[arg(long, default_value_t = 0.0)]
    air: f64,
    /// Number of subjects.
    #[arg(long, default_value_t = 10)]
    subjects: usize,
    /// Contrast names (BIDS suffixes), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "T1w,T2w,FLAIR")]
    contrasts: Vec<String>,
    /// Resample the label map to this isotropic voxel size (mm) first (nearest).
    #[arg(long)]
    spacing: Option<f64>,
    /// Physics-like intensity order for a contrast, darkest label first (repeatable), e.g.
    /// `T1w=5,4,1,2,3` (skull < dura < CSF < GM < WM); unlisted contrasts and labels
    /// stay fully random.
    #[arg(long)]
    order: Vec<String>,
    /// Displacement standard deviation (mm) of the random deformation.
    #[arg(long, default_value_t = 2.0)]
    deform_mm: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// bids: sub-XX/anat/sub-XX_{contrast}.nii.gz plus derivatives/synth dseg (for
    /// pretraining). nnunet: imagesTr/sub-XX_{contrast}_0000.nii.gz and
    /// labelsTr/sub-XX_{contrast}.nii.gz, one single-channel case per subject and
    /// contrast, and dataset.json (for fine-tuning; needs --classes).
    #[arg(long, value_enum, default_value_t = Format::Bids)]
    format: Format,
    /// nnunet: class names for label values 0, 1, ... (e.g. background,CSF,GM,WM).
    /// Labels beyond the list (e.g. --head/--shells) are background in the written label
    /// maps but keep their own random intensity in the images.
    #[arg(long, value_delimiter = ',')]
    classes: Vec<String>,
    /// Output folder.
    #[arg(long, short)]
    output: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Bids,
    Nnunet,
}

pub fn run(args: SynthArgs) -> Result<()> {
    if args.subjects == 0 || args.subjects > 9999 {
        bail!(
            "--subjects must be between 1 and 9999, got {}",
            args.subjects
        );
    }
    if args.format == Format::Nnunet && args.classes.len() < 2 {
        bail!(
            "--format nnunet needs --classes with at least two names (e.g. background,CSF,GM,WM)"
        );
    }
    if !(args.shell_jitter.is_finite() && (0.0..1.0).contains(&args.shell_jitter)) {
        bail!(
            "--shell-jitter must be in [0, 1), got {}",
            args.shell_jitter
        );
    }
    let mut labels = read_label_map(&args.labels)?;
    let mut real = match &args.brain_image {
        Some(path) => {
            let image = read_scan(path, &ReadOptions::default())?.volume;
            Some(RealIntensities::new(image, &labels).with_context(|| {
                format!("{} does not fit {}", path.display(), args.labels.display())
            })?)
        }
        None => None,
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
        if let Some(r) = &mut real {
            r.image = resample_to_spacing(&r.image, [s; 3]).context("--brain-image")?;
        }
    }
    if !(args.pad_mm.is_finite() && (0.0..=500.0).contains(&args.pad_mm)) {
        bail!(
            "--pad-mm must be between 0 and 500 millimetres, got {}",
            args.pad_mm
        );
    }
    if !(args.air.is_finite() && (0.0..=1.0).contains(&args.air)) {
        bail!("--air is a probability in [0, 1], got {}", args.air);
    }
    if args.pad_mm > 0.0 {
        let voxels = [0, 1, 2].map(|a| (args.pad_mm / labels.spacing[a]).ceil() as usize);
        let padding = Padding {
            before: voxels,
            after: voxels,
        };
        labels = pad(&labels, &padding, 0).context("--pad-mm")?;
        if let Some(r) = &mut real {
            r.image = pad(&r.image, &padding, 0.0).context("--pad-mm")?;
        }
    }
    let neck = if args.neck_mm > 0.0 {
        let padding = neck_padding(&labels, args.neck_mm).context("--neck-mm")?;
        labels = pad(&labels, &padding, 0).context("--neck-mm")?;
        if let Some(r) = &mut real {
            r.image = pad(&r.image, &padding, 0.0).context("--neck-mm")?;
        }
        padding.before.iter().chain(&padding.after).sum::<usize>()
    } else {
        0
    };
    let mut orders = Vec::new();
    for rule in &args.order {
        let bad = || {
            format!("--order '{rule}' must look like T1w=5,1,2,3 (contrast=labels, darkest first)")
        };
        let (contrast, labels) = rule.split_once('=').with_context(bad)?;
        let labels: Vec<u16> = labels
            .split(',')
            .map(|l| l.trim().parse())
            .collect::<Result<_, _>>()
            .with_context(bad)?;
        if !args.contrasts.iter().any(|c| c == contrast) {
            bail!(
                "--order names {contrast}, which is not in --contrasts {:?}",
                args.contrasts
            );
        }
        orders.push((contrast.to_string(), labels));
    }
    let cfg = SynthConfig {
        contrasts: args.contrasts.clone(),
        deform_mm: args.deform_mm,
        orders,
        air_prob: args.air,
        ..SynthConfig::default()
    };
    let clutter = ClutterConfig {
        classes: args.clutter,
        ..ClutterConfig::default()
    };
    let out = &args.output;
    if args.format == Format::Bids {
        write_atomic(
            &bids::description(out, None),
            br#"{"Name": "brainfm synthetic subjects", "BIDSVersion": "1.9.0", "DatasetType": "raw", "GeneratedBy": [{"Name": "brainfm synth"}]}"#,
        )?;
        write_atomic(
            &bids::description(out, Some("synth")),
            br#"{"Name": "brainfm synthetic label maps", "BIDSVersion": "1.9.0", "DatasetType": "derivative", "GeneratedBy": [{"Name": "brainfm synth"}]}"#,
        )?;
    }
    let kept = args.classes.len();
    (0..args.subjects)
        .into_par_iter()
        .try_for_each(|i| -> Result<()> {
            let sub = bids::subject(i + 1);
            let seed = args.seed.wrapping_mul(1_000_003).wrapping_add(i as u64);
            let subject_labels = if args.shells.is_empty() {
                labels.clone()
            } else {
                let mut rng = Rng::derive(seed, 0x5e11);
                let thickness: Vec<f64> = args
                    .shells
                    .iter()
                    .map(|t| t * rng.range(1.0 - args.shell_jitter, 1.0 + args.shell_jitter))
                    .collect();
                add_head_shells(&labels, &thickness).context("--shells")?
            };
            let subject_labels = if neck == 0 {
                subject_labels
            } else {
                let mut rng = Rng::derive(seed, 0x9ec4);
                add_neck_and_face(&subject_labels, &mut rng).context("--neck-mm")?
            };
            let subject_labels = if args.clutter == 0 {
                subject_labels
            } else {
                let mut rng = Rng::derive(seed, 0xc1_a77e);
                add_head_clutter(&subject_labels, &clutter, &mut rng).context("--clutter")?
            };
            let s = synth_subject_with(&subject_labels, real.as_ref(), &cfg, seed)?;
            let s = if neck == 0 {
                s
            } else {
                let cut = Rng::derive(seed, 0xc07).below(neck + 1);
                cut_inferior(&s, cut).context("--neck-mm")?
            };
            match args.format {
                Format::Bids => {
                    for (contrast, vol) in &s.images {
                        let path = bids::anat_file(out, &sub, contrast);
                        write_atomic(&path, &write_volume(None, vol)?)?;
                    }
                    let dseg = bids::derivative_labels(out, "synth", &sub);
                    write_atomic(
                        &dseg,
                        &write_labels(&header_from_grid(&s.labels), &s.labels)?,
                    )?;
                }
                Format::Nnunet => {
                    let mut seg = s.labels.clone();
                    for l in &mut seg.data {
                        if *l as usize >= kept {
                            *l = 0;
                        }
                    }
                    let seg_bytes = write_labels(&header_from_grid(&seg), &seg)?;
                    for (contrast, vol) in &s.images {
                        let case = format!("{sub}_{contrast}");
                        let image = nnunet::training_image(out, &case, 0);
                        write_atomic(&image, &write_volume(None, vol)?)?;
                        write_atomic(&nnunet::training_labels(out, &case), &seg_bytes)?;
                    }
                }
            }
            Ok(())
        })?;
    if args.format == Format::Nnunet {
        write_atomic(
            &out.join(nnunet::DATASET_JSON),
            nnunet::dataset_json(
                out,
                "brainfm synthetic subjects",
                "SynthSeg-style synthetic contrasts from a label map (brainfm synth)",
                &args.classes,
            )?
            .as_bytes(),
        )?;
    }
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
