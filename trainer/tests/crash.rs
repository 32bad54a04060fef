//! Crash safety of training, end to end through the `brainfm` binary (tiny preset, CPU):
//! `pretrain` and `finetune` killed with SIGKILL at random moments (some while a checkpoint
//! is being written) and resumed until they finish must end with the same weights and the
//! same loss curve as an uninterrupted run; a damaged checkpoint is reported and the one
//! before it used; a full disk is a clear error that leaves the last checkpoint loadable.
//!
//! `BRAINFM_CRASH_TRIALS` sets the trials per command (default 2, so the test suite stays
//! short); docs/RELIABILITY.md reports a campaign with more.

mod common;

use common::{brainfm, losses, ok, s, scratch};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use brainfm_core::bundle::Bundle;
use brainfm_core::rng::Rng;

const AAL: &str = "/usr/share/mricron/templates/aal.nii.gz";
const CHECKPOINT: &str = "checkpoint.bfck";
const PREVIOUS: &str = "checkpoint.prev.bfck";

/// Synthetic subjects from the AAL atlas at 4 mm: BIDS for pre-training, or an nnU-Net
/// raw dataset with four classes for fine-tuning.
fn data(dir: &Path, nnunet: bool) -> PathBuf {
    let out = dir.join(if nnunet { "nnunet" } else { "bids" });
    let mut args = vec![
        "synth",
        "--labels",
        AAL,
        "--subjects",
        "3",
        "--spacing",
        "4",
        "--seed",
        "11",
        "--output",
        s(&out),
    ];
    if nnunet {
        args.extend([
            "--format",
            "nnunet",
            "--classes",
            "background,a,b,c",
            "--contrasts",
            "T1w",
        ]);
    }
    ok(&args);
    out
}

/// A command line: (subcommand arguments, the bundle it ends with).
struct Job {
    args: Vec<String>,
    result: &'static str,
}

fn pretrain(data: &Path) -> Job {
    let args = [
        "pretrain",
        "--data",
        s(data),
        "--preset",
        "tiny",
        "--objective",
        "swap",
        "--steps",
        "24",
        "--patch",
        "16",
        "--batch",
        "2",
        "--lr",
        "2e-3",
        "--spacing",
        "4",
        "--seed",
        "5",
        "--checkpoint-every",
        "3",
        "--quiet",
    ];
    Job {
        args: args.iter().map(|a| a.to_string()).collect(),
        result: "pretrained.bfm",
    }
}

fn finetune(data: &Path) -> Job {
    let args = [
        "finetune",
        "--data",
        s(data),
        "--preset",
        "tiny",
        "--steps",
        "24",
        "--patch",
        "16",
        "--batch",
        "1",
        "--spacing",
        "4",
        "--lr",
        "2e-3",
        "--val-fraction",
        "0.34",
        "--val-every",
        "8",
        "--seed",
        "5",
        "--checkpoint-every",
        "3",
        "--quiet",
    ];
    Job {
        args: args.iter().map(|a| a.to_string()).collect(),
        result: "last.bfm",
    }
}

fn spawn(job: &Job, out: &Path, resume: bool) -> Child {
    let mut cmd = Command::new(common::binary());
    cmd.args(&job.args).args(["--output", s(out)]);
    if resume {
        cmd.arg("--resume");
    }
    cmd.stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("brainfm starts")
}

/// Wait for `child`; its stderr, and whether it succeeded (a panic fails the test).
fn finish(child: Child) -> (bool, String) {
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!stderr.contains("panicked"), "brainfm panicked: {stderr}");
    (out.status.success(), stderr)
}

/// What a finished run leaves: the result's weight checksum and the last loss per step.
#[derive(Debug, PartialEq)]
struct Outcome {
    weights_sha256: String,
    /// Per step: the loss and its reconstruction term (common::losses).
    losses: BTreeMap<u64, (f64, f64)>,
}

fn outcome(job: &Job, out: &Path) -> Outcome {
    let bytes = std::fs::read(out.join(job.result)).unwrap();
    let bundle = Bundle::from_bytes(&bytes).unwrap();
    Outcome {
        weights_sha256: bundle.header.weights.sha256.clone(),
        losses: losses(&out.join("metrics.jsonl")),
    }
}

/// An uninterrupted run: its outcome and how long it took.
fn reference(job: &Job, out: &Path) -> (Outcome, Duration) {
    let t0 = Instant::now();
    let (done, stderr) = finish(spawn(job, out, false));
    assert!(done, "the uninterrupted run failed: {stderr}");
    (outcome(job, out), t0.elapsed())
}

/// How one trial went.
#[derive(Debug, Default)]
struct Trial {
    kills: usize,
    kills_during_write: usize,
    restarts_from_scratch: usize,
}

/// Run `job` to the end, killing it `kills` times: at a random moment, or (`in_write`)
/// as soon as the temporary file of its first to fourth checkpoint write (drawn at random)
/// appears. Every restart resumes from what the kill left, or starts afresh if no
/// checkpoint was written yet.
fn run_with_kills(
    job: &Job,
    out: &Path,
    span: Duration,
    kills: usize,
    in_write: bool,
    rng: &mut Rng,
) -> Trial {
    let mut trial = Trial::default();
    loop {
        let resume = out.join(CHECKPOINT).exists() || out.join(PREVIOUS).exists();
        if !resume && out.exists() {
            // Killed before the first checkpoint: nothing to resume.
            std::fs::remove_dir_all(out).unwrap();
            trial.restarts_from_scratch += 1;
        }
        let mut child = spawn(job, out, resume);
        if trial.kills == kills {
            let (done, stderr) = finish(child);
            assert!(done, "the last restart failed (after {trial:?}): {stderr}");
            return trial;
        }
        let start = Instant::now();
        let delay = span.mul_f64(0.05 + 0.9 * rng.uniform());
        let nth_write = 1 + (4.0 * rng.uniform()) as usize;
        let (mut writes_seen, mut was_writing) = (0, false);
        let mut in_checkpoint_write = false;
        while child.try_wait().unwrap().is_none() && start.elapsed() < span.mul_f64(1.5) {
            if in_write {
                let writing = writing_checkpoint(out);
                writes_seen += (writing && !was_writing) as usize;
                was_writing = writing;
                in_checkpoint_write = writing && writes_seen == nth_write;
                if in_checkpoint_write {
                    break;
                }
                std::thread::sleep(Duration::from_micros(200));
            } else if start.elapsed() >= delay {
                break;
            } else {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        if child.try_wait().unwrap().is_some() {
            // It finished before the kill came.
            let (done, stderr) = finish(child);
            assert!(done, "a run failed on its own (after {trial:?}): {stderr}");
            return trial;
        }
        child.kill().unwrap();
        let _ = child.wait();
        trial.kills += 1;
        trial.kills_during_write += in_checkpoint_write as usize;
    }
}

/// A checkpoint's temporary file exists in `out` (a write is under way).
fn writing_checkpoint(out: &Path) -> bool {
    std::fs::read_dir(out)
        .map(|d| {
            d.filter_map(|e| e.ok()).any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(".checkpoint.bfck.tmp-")
            })
        })
        .unwrap_or(false)
}

fn trials() -> usize {
    std::env::var("BRAINFM_CRASH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

fn kill_and_resume(name: &str, job: impl Fn(&Path) -> Job, nnunet: bool) {
    if !Path::new(AAL).exists() {
        eprintln!("skipping: {AAL} missing (apt install mricron-data)");
        return;
    }
    let dir = scratch(name);
    let job = job(&data(&dir, nnunet));
    let (expected, span) = reference(&job, &dir.join("reference"));
    let mut rng = Rng::new(20);
    let (mut kills, mut in_write) = (0, 0);
    for t in 0..trials() {
        let out = dir.join(format!("trial{t}"));
        // Every other trial aims at checkpoint writes; each has one to three kills.
        let trial = run_with_kills(&job, &out, span, 1 + t % 3, t % 2 == 1, &mut rng);
        let got = outcome(&job, &out);
        assert_eq!(
            got, expected,
            "trial {t} ({trial:?}) ended elsewhere than the uninterrupted run"
        );
        eprintln!("{name} trial {t}: {trial:?}: same weights and losses");
        kills += trial.kills;
        in_write += trial.kills_during_write;
        let _ = std::fs::remove_dir_all(&out);
    }
    eprintln!(
        "{name}: {} trials, {kills} kills ({in_write} during a checkpoint write), all ended with the uninterrupted run's weights ({}) in {:.1} s each uninterrupted",
        trials(),
        expected.weights_sha256,
        span.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pretrain_killed_at_random_resumes_to_the_same_weights() {
    kill_and_resume("pretrain-kills", pretrain, false);
}

#[test]
fn finetune_killed_at_random_resumes_to_the_same_weights() {
    kill_and_resume("finetune-kills", finetune, true);
}

#[test]
fn a_damaged_checkpoint_is_reported_and_the_previous_one_used() {
    if !Path::new(AAL).exists() {
        eprintln!("skipping: {AAL} missing (apt install mricron-data)");
        return;
    }
    let dir = scratch("damaged");
    let job = pretrain(&data(&dir, false));
    let out = dir.join("run");
    let (expected, _) = reference(&job, &out);
    let last = out.join(CHECKPOINT);
    let previous = out.join(PREVIOUS);
    assert!(previous.exists(), "no previous checkpoint kept");

    // One flipped byte in the optimiser state: the checksum catches it.
    let good_previous = std::fs::read(&previous).unwrap();
    let good = std::fs::read(&last).unwrap();
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 100] ^= 0x40;
    std::fs::write(&last, &bad).unwrap();
    let mut args: Vec<&str> = job.args.iter().map(String::as_str).collect();
    args.extend(["--output", s(&out), "--resume"]);
    let run = brainfm(&args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("fail the checksum") && stderr.contains(PREVIOUS),
        "{stderr}"
    );
    assert_eq!(outcome(&job, &out), expected);

    // The header is covered too: a step count edited from 24 to 21 is caught. (The resume
    // above rotated the damaged file into the previous slot: put the good one back.)
    std::fs::write(&previous, &good_previous).unwrap();
    let at = good
        .windows(9)
        .position(|w| w == b"\"step\":24")
        .expect("the last checkpoint is at step 24");
    let mut edited = good.clone();
    edited[at + 8] = b'1';
    std::fs::write(&last, &edited).unwrap();
    let run = brainfm(&args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success() && stderr.contains("fail the checksum"),
        "{stderr}"
    );
    assert_eq!(outcome(&job, &out), expected);

    // Both damaged (one truncated): a clear error, and both files stay for inspection.
    std::fs::write(&last, &bad).unwrap();
    let prev = std::fs::read(&previous).unwrap();
    std::fs::write(&previous, &prev[..prev.len() / 2]).unwrap();
    let run = brainfm(&args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(
        stderr.contains("no usable checkpoint") && stderr.matches("is damaged").count() == 2,
        "{stderr}"
    );
    assert_eq!(std::fs::read(&last).unwrap(), bad);
    assert_eq!(std::fs::read(&previous).unwrap().len(), prev.len() / 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_full_disk_is_a_clear_error_and_the_last_checkpoint_stays_loadable() {
    if !Path::new(AAL).exists() {
        eprintln!("skipping: {AAL} missing (apt install mricron-data)");
        return;
    }
    let dir = scratch("full-disk");
    let job = pretrain(&data(&dir, false));
    let (expected, _) = reference(&job, &dir.join("reference"));
    let size = std::fs::metadata(dir.join("reference").join(CHECKPOINT))
        .unwrap()
        .len();
    // A file system with room for two checkpoints and the log, not for the third copy a
    // checkpoint write needs (its temporary file beside the last and the previous one).
    let disk = dir.join("disk");
    std::fs::create_dir_all(&disk).unwrap();
    let kib = (2 * size + (256 << 10)) / 1024;
    let mounted = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            &format!("size={kib}k"),
            "tmpfs",
            s(&disk),
        ])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !mounted {
        eprintln!("skipping: cannot mount a small tmpfs here (needs root); the full-disk path is untested");
        return;
    }
    // The preprocessing cache goes elsewhere: only checkpoints and the log fill this disk.
    let job = Job {
        args: [
            job.args,
            vec!["--cache".into(), s(&dir.join("cache")).into()],
        ]
        .concat(),
        result: job.result,
    };
    let out = disk.join("run");
    let (done, stderr) = finish(spawn(&job, &out, false));
    assert!(!done, "the run fitted on a {kib} KiB disk");
    assert!(
        stderr.contains("No space left on device") && stderr.contains("is left as it was"),
        "{stderr}"
    );
    assert!(
        !writing_checkpoint(&out),
        "a temporary checkpoint was left behind"
    );
    // The last checkpoint loads: moved to a roomy disk, the run resumes to the same end.
    let moved = dir.join("moved");
    let status = Command::new("cp")
        .args(["-r", s(&out), s(&moved)])
        .status()
        .unwrap();
    assert!(status.success());
    let _ = Command::new("umount").arg(s(&disk)).status();
    let (done, stderr) = finish(spawn(&job, &moved, true));
    assert!(done, "{stderr}");
    assert_eq!(outcome(&job, &moved), expected);
    let _ = std::fs::remove_dir_all(&dir);
}
