//! `brainfm predict` on a folder or dataset: every scan `plan.rs` finds, one label map each,
//! a progress bar over the scans, and `volumes.csv` with every scan's volumes at the end.
//! A scan that fails (unreadable, hostile, too large) is reported by name and the rest go
//! on; the command fails at the end if any did. Scans whose label map exists already are
//! skipped (their volumes are measured from it), so a stopped run resumes.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use brainfm_core::metrics::{volumes_by_scan_csv, VolumesTable};
use indicatif::{ProgressBar, ProgressStyle};

use super::plan::{plan, Job, Layout, PIPELINE};
use super::{segment_file, segmenter, PredictArgs};
use crate::inference::Segmenter;
use crate::io::{read_label_map, write_atomic};

/// The dataset-wide volumes table in the output folder.
pub const VOLUMES_CSV: &str = "volumes.csv";

pub fn run(args: &PredictArgs) -> Result<()> {
    if args.output.is_file() {
        bail!(
            "--input {} is a folder, so --output must be a folder too, not the file {}",
            args.input.display(),
            args.output.display()
        );
    }
    if args.volumes_csv.is_some() {
        bail!("--volumes-csv is for one scan; a folder run writes {VOLUMES_CSV} with every scan's volumes in the output folder");
    }
    let plan = plan(&args.input, &args.output)?;
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("cannot create output folder {}", args.output.display()))?;
    let segmenter = segmenter(args)?;
    if plan.layout == Layout::Bids {
        write_bids_description(args, &segmenter)?;
    }
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(plan.jobs.len() as u64)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:<30!} [{bar:30}] {pos}/{len} scans, {elapsed} (eta {eta})",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    let started = Instant::now();
    let (mut done, mut skipped, mut failed) = (0usize, 0usize, Vec::new());
    let mut volumes = Vec::new();
    for job in &plan.jobs {
        bar.set_message(job.name.clone());
        let outcome = match job.done() {
            true => measure(&segmenter, job).inspect(|_| skipped += 1),
            false => make_parent(job)
                .and_then(|_| {
                    segment_file(
                        &segmenter,
                        args,
                        &job.input,
                        &job.labels,
                        job.volumes.as_deref(),
                        true,
                    )
                })
                .map(|(table, _)| table)
                .inspect(|_| done += 1),
        };
        match outcome {
            Ok(table) => volumes.push((job.name.clone(), table)),
            Err(e) => {
                // Most errors name the file already; the rest get its name in front.
                let message = format!("{e:#}");
                let shown = job.input.shown();
                bar.suspend(|| match message.contains(&shown) {
                    true => eprintln!("error: {message}"),
                    false => eprintln!("error: {shown}: {message}"),
                });
                failed.push(shown);
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let names = &segmenter.bundle.meta().class_names;
    write_atomic(
        &args.output.join(VOLUMES_CSV),
        volumes_by_scan_csv(names, &volumes).as_bytes(),
    )?;
    let total = plan.jobs.len();
    println!(
        "{done} segmented, {skipped} already done, {} failed, of {total} scans in {} ({:?} layout, {:.1} s); results and {VOLUMES_CSV} in {}",
        failed.len(),
        args.input.display(),
        plan.layout,
        started.elapsed().as_secs_f64(),
        args.output.display()
    );
    for (path, reason) in &plan.unreadable {
        eprintln!("warning: left out {}: {reason}", path.display());
    }
    if plan.left_out > 0 {
        println!(
            "{} images of channels other than 0000 were left out: the model takes one channel",
            plan.left_out
        );
    }
    if !failed.is_empty() {
        bail!(
            "{} of {total} scans failed: {}",
            failed.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

fn make_parent(job: &Job) -> Result<()> {
    let parent = job.labels.parent().context("an output has no folder")?;
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create output folder {}", parent.display()))
}

/// The volumes of a label map an earlier run wrote.
fn measure(segmenter: &Segmenter, job: &Job) -> Result<VolumesTable> {
    let labels = read_label_map(&job.labels)?;
    let names = &segmenter.bundle.meta().class_names;
    Ok(VolumesTable::measure(&labels, names.len(), names))
}

/// A BIDS derivative dataset's description, and the `dseg.tsv` that names the labels of
/// every `*_dseg` file below it (BIDS inheritance).
fn write_bids_description(args: &PredictArgs, segmenter: &Segmenter) -> Result<()> {
    let description = serde_json::json!({
        "Name": format!("brainfm segmentations of {}", args.input.display()),
        "BIDSVersion": "1.9.0",
        "DatasetType": "derivative",
        "GeneratedBy": [{
            "Name": PIPELINE,
            "Version": env!("CARGO_PKG_VERSION"),
            "Description": format!("model {}", segmenter.bundle.meta().name),
        }],
    });
    write_atomic(
        &args.output.join("dataset_description.json"),
        serde_json::to_string_pretty(&description)?.as_bytes(),
    )?;
    let mut tsv = String::from("index\tname\n");
    for (index, name) in segmenter.bundle.meta().class_names.iter().enumerate() {
        tsv.push_str(&format!("{index}\t{}\n", name.replace(['\t', '\n'], " ")));
    }
    write_atomic(&args.output.join("dseg.tsv"), tsv.as_bytes())
}
