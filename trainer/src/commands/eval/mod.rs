//! `brainfm eval`: score segmentations against reference labels, or a classification /
//! regression model against a table of subject targets (`global.rs`).

mod global;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use brainfm_core::bundle::Task;
use brainfm_core::metrics::{segmentation_scores, LabelScore};
use brainfm_core::volume::{LabelMap, ReadOptions};
use clap::Args;
use serde::Serialize;

use crate::inference::{InferenceArgs, Segmenter};
use crate::io::{read_bundle, read_label_map, read_scan, write_atomic};
use crate::layout::{bids, discover, is_scan, LabelledDataset, Split};

/// Score segmentations: per-label Dice, HD95 (mm) and volumes, per case and averaged.
///
/// Either segment a labelled dataset with a model (`--model M --data DIR`: nnU-Net raw,
/// imagesTs/labelsTs when present, else imagesTr/labelsTr; or BIDS, every anatomical scan
/// of a subject that has a `*_dseg` label map), or compare existing label
/// maps (`--pred P --reference R`: two files, or two folders matched by file name).
///
/// A classification or regression model (`brainfm finetune --task cls|reg`) is scored
/// on the subjects of DIR (BIDS, nnU-Net raw or flat) against a TSV/CSV:
/// `--model M --data DIR --labels participants.tsv [--target COLUMN]`: per-subject
/// predictions, AUROC (one-vs-rest macro for more than two classes) and balanced
/// accuracy, or MAE and Pearson r.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Model bundle to segment the dataset with (needs --data).
    #[arg(long, requires = "data")]
    model: Option<PathBuf>,
    /// nnU-Net raw dataset folder (dataset.json, imagesTs/labelsTs or imagesTr/labelsTr).
    #[arg(long, requires = "model")]
    data: Option<PathBuf>,
    /// Predicted label map, or a folder of them (needs --reference).
    #[arg(long, requires = "reference", conflicts_with = "model")]
    pred: Option<PathBuf>,
    /// Reference label map, or a folder of them matched to --pred by file name.
    #[arg(long, requires = "pred")]
    reference: Option<PathBuf>,
    /// Segmentation: comma-separated label values to score (default: every label but 0).
    /// Classification/regression: the TSV/CSV of subject targets.
    #[arg(long)]
    labels: Option<String>,
    /// Classification/regression: the target column (default: the only column besides
    /// the id, or the column a regression model was trained on).
    #[arg(long)]
    target: Option<String>,
    /// Classification/regression: the subject id column.
    #[arg(long, default_value = "participant_id")]
    id_column: String,
    /// Also write every number as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    #[command(flatten)]
    inference: InferenceArgs,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Serialize)]
struct CaseScores {
    case: String,
    labels: Vec<LabelScore>,
}

#[derive(Serialize)]
struct LabelSummary {
    label: u16,
    name: String,
    mean_dice: Option<f64>,
    mean_hd95_mm: Option<f64>,
    cases: usize,
}

#[derive(Serialize)]
struct Report {
    source: String,
    cases: Vec<CaseScores>,
    summary: Vec<LabelSummary>,
}

pub fn run(args: EvalArgs) -> Result<()> {
    if let (Some(model), Some(data)) = (&args.model, &args.data) {
        let bundle = read_bundle(model)?;
        if matches!(bundle.meta().task, Task::Classification | Task::Regression) {
            return global::run(bundle, model, data, &args);
        }
    }
    let only: Option<Vec<u16>> = args
        .labels
        .as_deref()
        .map(|l| {
            l.split(',')
                .map(|v| {
                    v.trim().parse::<u16>().with_context(|| {
                        format!("--labels {l}: label values must be integers 0..65535 (a table of targets is for classification/regression models)")
                    })
                })
                .collect::<Result<Vec<u16>>>()
        })
        .transpose()?;
    let (source, pairs, names, failed) =
        match (&args.model, &args.data, &args.pred, &args.reference) {
            (Some(model), Some(data), None, None) => segment_dataset(model, data, &args)?,
            (None, None, Some(pred), Some(reference)) => (
                format!("{} vs {}", pred.display(), reference.display()),
                read_pairs(pred, reference)?,
                Vec::new(),
                Vec::new(),
            ),
            _ => bail!("give either --model and --data, or --pred and --reference"),
        };
    let mut cases = Vec::new();
    for (case, pred, reference) in &pairs {
        let labels = match &only {
            Some(l) => l.clone(),
            None => {
                let max = reference
                    .data
                    .iter()
                    .chain(&pred.data)
                    .copied()
                    .max()
                    .unwrap_or(0);
                let max = max.max(names.len().saturating_sub(1) as u16);
                (1..=max).collect()
            }
        };
        let scores = segmentation_scores(pred, reference, &labels).with_context(|| {
            format!("case {case}: prediction and reference are on different grids")
        })?;
        cases.push(CaseScores {
            case: case.clone(),
            labels: scores,
        });
    }
    let summary = summarise(&cases, &names);
    print_table(&cases, &summary);
    let report = Report {
        source,
        cases,
        summary,
    };
    if let Some(path) = &args.json {
        write_atomic(path, serde_json::to_string_pretty(&report)?.as_bytes())?;
        println!("wrote {}", path.display());
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} cases could not be scored: {}",
            failed.len(),
            failed.len() + report.cases.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

type Pair = (String, LabelMap, LabelMap);

/// Segment every case of `data` with `model`: the (case, prediction, reference) pairs, the
/// class names, and the ids of the cases that failed (each reported as it happens; the
/// rest are still scored).
fn segment_dataset(
    model: &Path,
    data: &Path,
    args: &EvalArgs,
) -> Result<(String, Vec<Pair>, Vec<String>, Vec<String>)> {
    let segmenter = Segmenter::load(model, &args.inference)?;
    // (case, image, reference labels)
    let (cases, class_names): (Vec<(String, PathBuf, PathBuf)>, Vec<String>) =
        if bids::is_bids(data) {
            // Every anatomical scan of a subject (and session) with a label map (`*_dseg` in
            // its anat folder or under derivatives/*/) against that map.
            let mut cases = Vec::new();
            for subject in discover(data)? {
                let Some(labels) = subject.labels else {
                    continue;
                };
                for scan in subject.scans {
                    let id = scan
                        .path
                        .strip_prefix(data)
                        .unwrap_or(&scan.path)
                        .display()
                        .to_string();
                    cases.push((id, scan.path, labels.clone()));
                }
            }
            if cases.is_empty() {
                bail!(
                    "{} is a BIDS dataset without label maps (*_dseg) to score against",
                    data.display()
                );
            }
            (cases, segmenter.bundle.meta().class_names.clone())
        } else {
            let (dataset, split) = LabelledDataset::open_for_evaluation(data)?;
            if split == Split::Train {
                eprintln!(
                    "note: {} has no labelsTs; scoring the training split (imagesTr/labelsTr)",
                    data.display()
                );
            }
            if dataset.channels != 1 {
                bail!(
                    "{} has {} channels; brainfm models take one contrast per pass",
                    data.display(),
                    dataset.channels
                );
            }
            let cases = dataset
                .cases
                .into_iter()
                .map(|c| (c.id, c.images[0].clone(), c.label))
                .collect();
            (cases, dataset.class_names)
        };
    let (mut pairs, mut failed) = (Vec::new(), Vec::new());
    for (id, image, label) in &cases {
        let pair = || -> Result<Pair> {
            let scan = read_scan(image, &ReadOptions::default())?;
            let reference = read_label_map(label)?;
            let seg = segmenter
                .segment(&scan.volume, args.quiet)
                .with_context(|| format!("segmenting {} failed", image.display()))?;
            Ok((id.clone(), seg.labels, reference))
        };
        match pair() {
            Ok(p) => pairs.push(p),
            Err(e) => {
                eprintln!("error: case {id}: {e:#}");
                failed.push(id.clone());
            }
        }
    }
    if pairs.is_empty() {
        bail!("no case of {} could be segmented", data.display());
    }
    Ok((
        format!("{} on {}", model.display(), data.display()),
        pairs,
        class_names,
        failed,
    ))
}

fn read_pairs(pred: &Path, reference: &Path) -> Result<Vec<Pair>> {
    if pred.is_file() {
        let name = pred
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        return Ok(vec![(
            name,
            read_label_map(pred)?,
            read_label_map(reference)?,
        )]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(pred)
        .with_context(|| format!("cannot list {}", pred.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_scan(p))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{} holds no .nii/.nii.gz files", pred.display());
    }
    files
        .into_iter()
        .map(|p| {
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            let r = reference.join(&name);
            if !r.exists() {
                bail!("{} has no reference {}", p.display(), r.display());
            }
            Ok((name, read_label_map(&p)?, read_label_map(&r)?))
        })
        .collect()
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let v: Vec<f64> = values.collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn summarise(cases: &[CaseScores], names: &[String]) -> Vec<LabelSummary> {
    let mut labels: Vec<u16> = cases
        .iter()
        .flat_map(|c| c.labels.iter().map(|s| s.label))
        .collect();
    labels.sort();
    labels.dedup();
    labels
        .into_iter()
        .map(|label| {
            let scores: Vec<&LabelScore> = cases
                .iter()
                .flat_map(|c| c.labels.iter())
                .filter(|s| s.label == label)
                .collect();
            LabelSummary {
                label,
                name: names.get(label as usize).cloned().unwrap_or_default(),
                mean_dice: mean(scores.iter().filter_map(|s| s.dice)),
                // Infinite distances (label missing from one map) are reported per case
                // but would make the mean meaningless.
                mean_hd95_mm: mean(
                    scores
                        .iter()
                        .filter_map(|s| s.hd95_mm)
                        .filter(|d| d.is_finite()),
                ),
                cases: scores.iter().filter(|s| s.dice.is_some()).count(),
            }
        })
        .collect()
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) if x.is_infinite() => "inf".into(),
        Some(x) => format!("{x:.digits$}"),
        None => "-".into(),
    }
}

fn print_table(cases: &[CaseScores], summary: &[LabelSummary]) {
    println!(
        "{:<28} {:>5} {:>8} {:>10} {:>12} {:>12}",
        "case", "label", "dice", "hd95 mm", "pred mL", "ref mL"
    );
    for c in cases {
        for s in &c.labels {
            println!(
                "{:<28} {:>5} {:>8} {:>10} {:>12.2} {:>12.2}",
                c.case,
                s.label,
                fmt(s.dice, 4),
                fmt(s.hd95_mm, 2),
                s.predicted_ml,
                s.reference_ml
            );
        }
    }
    println!();
    println!(
        "{:<20} {:>5} {:>10} {:>14} {:>6}",
        "label", "value", "mean dice", "mean hd95 mm", "cases"
    );
    for s in summary {
        println!(
            "{:<20} {:>5} {:>10} {:>14} {:>6}",
            if s.name.is_empty() { "-" } else { &s.name },
            s.label,
            fmt(s.mean_dice, 4),
            fmt(s.mean_hd95_mm, 2),
            s.cases
        );
    }
}
