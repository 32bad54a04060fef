//! `brainfm predict` on a folder: every `.nii`/`.nii.gz` in it, one label map and one
//! volumes table each, with a progress bar over the scans. A scan that fails (unreadable,
//! hostile, too large) is reported by name and the rest go on; the command fails at the end
//! if any did. Scans whose label map exists already are skipped, so a stopped run resumes.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use super::{segment_file, segmenter, PredictArgs};
use crate::layout::{is_nifti, stem};

/// The scans in `dir` (not its subfolders), sorted by name.
fn scans(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_nifti(p))
        .collect();
    found.sort();
    Ok(found)
}

pub fn run(args: &PredictArgs) -> Result<()> {
    if args.output.is_file() {
        bail!(
            "--input {} is a folder, so --output must be a folder too, not the file {}",
            args.input.display(),
            args.output.display()
        );
    }
    if args.volumes_csv.is_some() {
        bail!("--volumes-csv is for one scan; a folder run writes NAME_volumes.csv beside each label map");
    }
    let scans = scans(&args.input)?;
    if scans.is_empty() {
        bail!("{} holds no .nii or .nii.gz files", args.input.display());
    }
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("cannot create output folder {}", args.output.display()))?;
    let segmenter = segmenter(args)?;
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(scans.len() as u64)
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
    for scan in &scans {
        let name = stem(scan);
        bar.set_message(name.clone());
        let output = args.output.join(format!("{name}_seg.nii.gz"));
        let csv = args.output.join(format!("{name}_volumes.csv"));
        if output.exists() && csv.exists() {
            skipped += 1;
        } else {
            match segment_file(&segmenter, args, scan, &output, Some(&csv), true) {
                Ok(_) => done += 1,
                Err(e) => {
                    // Most errors name the file already; the rest get its name in front.
                    let message = format!("{e:#}");
                    let shown = scan.display().to_string();
                    bar.suspend(|| match message.contains(&shown) {
                        true => eprintln!("error: {message}"),
                        false => eprintln!("error: {shown}: {message}"),
                    });
                    failed.push(scan.clone());
                }
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!(
        "{done} segmented, {skipped} already done, {} failed, of {} scans in {} ({:.1} s); label maps and volumes in {}",
        failed.len(),
        scans.len(),
        args.input.display(),
        started.elapsed().as_secs_f64(),
        args.output.display()
    );
    if !failed.is_empty() {
        let names: Vec<String> = failed.iter().map(|p| p.display().to_string()).collect();
        bail!(
            "{} of {} scans failed: {}",
            failed.len(),
            scans.len(),
            names.join(", ")
        );
    }
    Ok(())
}
