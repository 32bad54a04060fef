//! `brainfm labels`: tissue label maps (0 background, 1 CSF, 2 GM, 3 WM) from real data,
//! over brainfm_core::synth::tissue.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use brainfm_core::synth::{tissue_from_intensity, tissue_from_probabilities, TissueRule};
use brainfm_core::volume::{header_from_grid, write_labels, LabelMap, ReadOptions, Volume};
use clap::{Args, Subcommand};

use crate::io::{read_scan, write_atomic};

/// Make tissue label maps (0 background, 1 CSF, 2 grey matter, 3 white matter).
///
/// Examples:
///   brainfm labels tissue --gm mni_icbm152_gm.nii.gz --wm mni_icbm152_wm.nii.gz \
///     --output icbm152_tissue.nii.gz
///   brainfm labels kmeans --image /usr/share/mricron/templates/ch2bet.nii.gz \
///     --classes 3 --output colin27_tissue.nii.gz
///   brainfm labels merge --input tissue.nii.gz --map 1,2,3=1 --output brain_mask.nii.gz
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct LabelsArgs {
    #[command(subcommand)]
    command: LabelsCommand,
}

#[derive(Subcommand, Debug)]
enum LabelsCommand {
    Tissue(TissueArgs),
    Kmeans(KmeansArgs),
    Merge(MergeArgs),
}

/// Relabel a label map: each --map rule `A,B,...=V` sends labels A, B, ... to V; labels
/// no rule names become 0. E.g. the brain mask of a tissue map: `--map 1,2,3=1`.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
struct MergeArgs {
    #[arg(long, short)]
    input: PathBuf,
    /// Rules `A,B,...=V` (repeatable).
    #[arg(long = "map", required = true)]
    rules: Vec<String>,
    #[arg(long, short)]
    output: PathBuf,
}

/// `["1,2,3=1"]` -> lookup table from old to new label.
fn parse_rules(rules: &[String]) -> Result<std::collections::HashMap<u16, u16>> {
    let mut table = std::collections::HashMap::new();
    for rule in rules {
        let bad = || format!("--map '{rule}' must look like 1,2,3=1 (labels 0..=65535)");
        let (from, to) = rule.split_once('=').with_context(bad)?;
        let to: u16 = to.trim().parse().with_context(bad)?;
        for f in from.split(',') {
            let f: u16 = f.trim().parse().with_context(bad)?;
            if table.insert(f, to).is_some_and(|old| old != to) {
                bail!("--map sends label {f} to two values");
            }
        }
    }
    Ok(table)
}

/// Labels from grey- and white-matter probability maps on one grid.
///
/// Rule: brain tissue = gm + wm >= --threshold; intracranial = brain tissue closed by a
/// ball of --envelope-mm, hole-filled (enclosed ventricles count), dilated by
/// --dilate-mm; inside it each voxel takes the most probable of CSF (= 1 - gm - wm),
/// GM and WM; outside it is background.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
struct TissueArgs {
    /// Grey-matter probability map.
    #[arg(long)]
    gm: PathBuf,
    /// White-matter probability map (same grid).
    #[arg(long)]
    wm: PathBuf,
    /// Probabilities are values / SCALE. Default: 1 if the maps' maximum is <= 1, 255 if
    /// it is <= 255 (8-bit maps such as ICBM152's), else the maximum.
    #[arg(long)]
    scale: Option<f32>,
    #[arg(long, default_value_t = 0.5)]
    threshold: f32,
    /// Closing radius (mm) that bridges sulci.
    #[arg(long, default_value_t = 3.0)]
    envelope_mm: f64,
    /// Extra dilation (mm) of the intracranial envelope (outer CSF).
    #[arg(long, default_value_t = 0.0)]
    dilate_mm: f64,
    #[arg(long, short)]
    output: PathBuf,
}

/// Tissue classes from intensities by deterministic 1-D k-means inside a mask (default:
/// the non-zero voxels), classes numbered 1..=K by increasing mean intensity (T1: CSF <
/// GM < WM). Voxels outside the mask are 0.
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
struct KmeansArgs {
    #[arg(long)]
    image: PathBuf,
    /// Mask on the image's grid (non-zero = inside).
    #[arg(long)]
    mask: Option<PathBuf>,
    #[arg(long, default_value_t = 3)]
    classes: usize,
    #[arg(long, short)]
    output: PathBuf,
}

pub fn run(args: LabelsArgs) -> Result<()> {
    match args.command {
        LabelsCommand::Tissue(a) => tissue(a),
        LabelsCommand::Kmeans(a) => kmeans(a),
        LabelsCommand::Merge(a) => merge(a),
    }
}

fn read(path: &Path) -> Result<Volume> {
    Ok(read_scan(path, &ReadOptions::default())?.volume)
}

fn write(path: &Path, labels: &LabelMap) -> Result<()> {
    write_atomic(path, &write_labels(&header_from_grid(labels), labels)?)
}

fn summary(labels: &LabelMap, names: &[&str]) -> String {
    let voxel_ml = labels.spacing.iter().product::<f64>() / 1000.0;
    names
        .iter()
        .enumerate()
        .skip(1)
        .map(|(l, name)| {
            let n = labels.data.iter().filter(|&&v| v as usize == l).count();
            format!("{name} {:.0} ml", n as f64 * voxel_ml)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn tissue(args: TissueArgs) -> Result<()> {
    let mut gm = read(&args.gm)?;
    let mut wm = read(&args.wm)?;
    if gm.dims != wm.dims || gm.affine != wm.affine {
        bail!(
            "{} and {} are not on one grid",
            args.gm.display(),
            args.wm.display()
        );
    }
    let max = gm.data.iter().chain(&wm.data).cloned().fold(0f32, f32::max);
    let scale = match args.scale {
        Some(s) if s.is_finite() && s > 0.0 => s,
        Some(s) => bail!("--scale must be positive, got {s}"),
        None if max <= 1.0 => 1.0,
        None if max <= 255.0 => 255.0,
        None => max,
    };
    for v in gm.data.iter_mut().chain(wm.data.iter_mut()) {
        *v /= scale;
    }
    let rule = TissueRule {
        brain_threshold: args.threshold,
        envelope_mm: args.envelope_mm,
        dilate_mm: args.dilate_mm,
    };
    let labels = tissue_from_probabilities(&gm, &wm, &rule)
        .with_context(|| format!("cannot label {}", args.gm.display()))?;
    write(&args.output, &labels)?;
    println!(
        "wrote {} ({})",
        args.output.display(),
        summary(&labels, &["background", "CSF", "GM", "WM"])
    );
    Ok(())
}

fn kmeans(args: KmeansArgs) -> Result<()> {
    let image = read(&args.image)?;
    let mask = match &args.mask {
        Some(p) => {
            let m = read(p)?;
            if m.dims != image.dims {
                bail!(
                    "{} ({:?}) is not on the grid of {} ({:?})",
                    p.display(),
                    m.dims,
                    args.image.display(),
                    image.dims
                );
            }
            Some(m.data.iter().map(|&v| v != 0.0).collect::<Vec<bool>>())
        }
        None => None,
    };
    let (labels, centres) = tissue_from_intensity(&image, mask.as_deref(), args.classes)
        .with_context(|| format!("cannot classify {}", args.image.display()))?;
    write(&args.output, &labels)?;
    let names: Vec<String> = (0..=args.classes).map(|c| format!("class {c}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    println!(
        "wrote {} (centres {}; {})",
        args.output.display(),
        centres
            .iter()
            .map(|c| format!("{c:.1}"))
            .collect::<Vec<_>>()
            .join(", "),
        summary(&labels, &names)
    );
    Ok(())
}

fn merge(args: MergeArgs) -> Result<()> {
    let table = parse_rules(&args.rules)?;
    let image = read_scan(&args.input, &ReadOptions::default())?;
    let input =
        LabelMap::from_volume(&image.volume).with_context(|| args.input.display().to_string())?;
    let data: Vec<u16> = input
        .data
        .iter()
        .map(|l| table.get(l).copied().unwrap_or(0))
        .collect();
    let labels = input.with_data(data)?;
    write_atomic(&args.output, &write_labels(&image.header, &labels)?)?;
    println!("wrote {}", args.output.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_rules;

    #[test]
    fn merge_rules_parse_and_refuse_contradictions() {
        let t = parse_rules(&["1,2,3=1".into(), "4=2".into()]).unwrap();
        assert_eq!((t[&1], t[&3], t[&4]), (1, 1, 2));
        assert!(parse_rules(&["1,2=1".into(), "2=3".into()]).is_err());
        assert!(parse_rules(&["x=1".into()]).is_err());
        assert!(parse_rules(&["1,2".into()]).is_err());
    }
}
