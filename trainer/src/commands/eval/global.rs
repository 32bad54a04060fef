//! `brainfm eval` for classification and regression models: predict every subject of a
//! dataset whole (as validation during fine-tuning does) and score against a table.

use std::path::Path;

use anyhow::{Context, Result};
use brainfm_core::bundle::{Bundle, Task};
use brainfm_core::infer::GlobalOutput;
use brainfm_core::metrics::{auroc, balanced_accuracy, mae, pearson};
use brainfm_core::volume::ReadOptions;
use serde::Serialize;

use super::{fmt, EvalArgs};
use crate::data::targets::labelled_subjects;
use crate::inference::predict_subject;
use crate::io::{read_scan, write_atomic};

#[derive(Serialize)]
struct SubjectPrediction {
    subject: String,
    /// Class name or value.
    truth: serde_json::Value,
    predicted: serde_json::Value,
    /// Classification: one probability per class.
    #[serde(skip_serializing_if = "Option::is_none")]
    probabilities: Option<Vec<f64>>,
}

#[derive(Serialize, Default)]
struct Summary {
    subjects: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    auroc: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    balanced_accuracy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mae: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pearson_r: Option<f64>,
}

#[derive(Serialize)]
struct Report {
    source: String,
    task: Task,
    target: String,
    class_names: Vec<String>,
    subjects: Vec<SubjectPrediction>,
    summary: Summary,
}

/// AUROC of the class probabilities: class 1's for two classes, else the mean of the
/// one-vs-rest AUROCs of the classes that have both positives and negatives.
fn class_auroc(probabilities: &[Vec<f64>], truth: &[usize], classes: usize) -> Option<f64> {
    let one_vs_rest = |c: usize| {
        let scores: Vec<f64> = probabilities.iter().map(|p| p[c]).collect();
        let positives: Vec<bool> = truth.iter().map(|&t| t == c).collect();
        auroc(&scores, &positives)
    };
    if classes == 2 {
        return one_vs_rest(1);
    }
    let all: Vec<f64> = (0..classes).filter_map(one_vs_rest).collect();
    (!all.is_empty()).then(|| all.iter().sum::<f64>() / all.len() as f64)
}

pub(super) fn run(bundle: Bundle, model_path: &Path, data: &Path, args: &EvalArgs) -> Result<()> {
    let meta = bundle.meta().clone();
    let classify = meta.task == Task::Classification;
    let table = args.labels.as_deref().with_context(|| {
        format!(
            "{} is a {:?} model: give the subjects' targets with --labels TABLE.tsv",
            model_path.display(),
            meta.task
        )
    })?;
    // A regression model records its target column as its one output name.
    let recorded = (!classify).then(|| meta.class_names.first()).flatten();
    let target = args.target.as_deref().or(recorded.map(String::as_str));
    let labelled = labelled_subjects(
        data,
        Path::new(table),
        &args.id_column,
        target,
        classify,
        classify.then_some(meta.class_names.as_slice()),
    )?;
    let device = args.inference.device.device()?;
    let model = bundle
        .load_model(&device)
        .with_context(|| format!("cannot load {}", model_path.display()))?;
    let patch = args
        .inference
        .patch
        .map(|p| [p; 3])
        .unwrap_or(meta.patch_size);
    let mut rows = Vec::new();
    let mut outputs = Vec::new();
    for (subject, &truth) in labelled.subjects.iter().zip(&labelled.targets) {
        let scans = subject
            .scans
            .iter()
            .map(|s| Ok(read_scan(&s.path, &ReadOptions::default())?.volume))
            .collect::<Result<Vec<_>>>()?;
        let out = predict_subject(&model, bundle.config(), &meta, &scans, patch, &device)
            .with_context(|| format!("predicting {}", subject.id))?;
        if !args.quiet {
            eprintln!("predicted {}", subject.id);
        }
        let name =
            |i: usize| serde_json::json!(meta.class_names.get(i).cloned().unwrap_or_default());
        rows.push(match &out {
            GlobalOutput::Class {
                index,
                probabilities,
                ..
            } => SubjectPrediction {
                subject: subject.id.clone(),
                truth: name(truth as usize),
                predicted: name(*index),
                probabilities: Some(probabilities.clone()),
            },
            GlobalOutput::Value(v) => SubjectPrediction {
                subject: subject.id.clone(),
                truth: serde_json::json!(truth),
                predicted: serde_json::json!(v),
                probabilities: None,
            },
        });
        outputs.push(out);
    }
    let mut summary = Summary {
        subjects: rows.len(),
        ..Summary::default()
    };
    if classify {
        let truth: Vec<usize> = labelled.targets.iter().map(|&t| t as usize).collect();
        let (mut predicted, mut probs) = (Vec::new(), Vec::new());
        for o in &outputs {
            if let GlobalOutput::Class {
                index,
                probabilities,
                ..
            } = o
            {
                predicted.push(*index);
                probs.push(probabilities.clone());
            }
        }
        summary.balanced_accuracy = balanced_accuracy(&predicted, &truth);
        summary.auroc = class_auroc(&probs, &truth, meta.class_names.len());
    } else {
        let predicted: Vec<f64> = outputs
            .iter()
            .map(|o| match o {
                GlobalOutput::Value(v) => *v,
                GlobalOutput::Class { .. } => f64::NAN,
            })
            .collect();
        summary.mae = mae(&predicted, &labelled.targets);
        summary.pearson_r = pearson(&predicted, &labelled.targets);
    }

    let show = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => format!("{:.3}", n.as_f64().unwrap_or(f64::NAN)),
        other => other.to_string(),
    };
    println!(
        "{:<28} {:>14} {:>14} {:>10}",
        "subject", "truth", "predicted", "p(pred)"
    );
    for r in &rows {
        let p = r.probabilities.as_ref().and_then(|p| {
            let i = meta
                .class_names
                .iter()
                .position(|n| serde_json::json!(n) == r.predicted)?;
            p.get(i).copied()
        });
        println!(
            "{:<28} {:>14} {:>14} {:>10}",
            r.subject,
            show(&r.truth),
            show(&r.predicted),
            fmt(p, 3)
        );
    }
    println!();
    if classify {
        println!(
            "{} subjects, classes {}: AUROC {}, balanced accuracy {}",
            summary.subjects,
            meta.class_names.join(", "),
            fmt(summary.auroc, 4),
            fmt(summary.balanced_accuracy, 4)
        );
    } else {
        println!(
            "{} subjects, '{}': MAE {}, Pearson r {}",
            summary.subjects,
            labelled.column,
            fmt(summary.mae, 4),
            fmt(summary.pearson_r, 4)
        );
    }
    let report = Report {
        source: format!("{} on {}", model_path.display(), data.display()),
        task: meta.task,
        target: labelled.column,
        class_names: if classify {
            meta.class_names.clone()
        } else {
            vec![]
        },
        subjects: rows,
        summary,
    };
    if let Some(path) = &args.json {
        write_atomic(path, serde_json::to_string_pretty(&report)?.as_bytes())?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
