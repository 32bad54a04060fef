//! Data-parallel pre-training through MPI, as a user runs it (`mpirun -np 2 brainfm
//! pretrain ...`), on this CPU with Open MPI (scripts/setup.sh installs `openmpi-bin`):
//! two replicas with batch b train like one process with batch 2b; a killed rank stops
//! the job and `--resume` on two ranks ends where an uninterrupted run ends; ranks that
//! disagree on their arguments refuse to start.

mod common;

use common::{losses, ok, s, scratch};

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use brainfm_core::bundle::Bundle;
use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;

const AAL: &str = "/usr/share/mricron/templates/aal.nii.gz";

/// `mpirun` for `ranks` copies of `brainfm` with `args` each (`:` separates per-rank
/// argument lists, mpirun's MPMD form, when `per_rank` is given).
fn mpirun(per_rank: &[Vec<String>]) -> Command {
    let mut cmd = Command::new("mpirun");
    // The CI machine runs as root; Open MPI refuses that unless told twice. The other
    // settings let two ranks share a small container (cores, no ptrace for CMA).
    cmd.env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
        .env("OMPI_MCA_rmaps_base_oversubscribe", "1");
    for (i, args) in per_rank.iter().enumerate() {
        if i > 0 {
            cmd.arg(":");
        }
        cmd.args(["-np", "1"]).arg(common::binary()).args(args);
    }
    cmd
}

fn output(mut cmd: Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run mpirun ({e}): install Open MPI (scripts/setup.sh does)")
    });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "brainfm panicked: {stderr}");
    out
}

fn mpi_ok(per_rank: &[Vec<String>]) -> String {
    let out = output(mpirun(per_rank));
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "mpirun failed:\n{stderr}");
    stderr
}

/// Four synthetic subjects (T1w and T2w each) at 4 mm.
fn data(dir: &Path) -> PathBuf {
    let out = dir.join("bids");
    ok(&[
        "synth",
        "--labels",
        AAL,
        "--subjects",
        "4",
        "--spacing",
        "4",
        "--seed",
        "11",
        "--output",
        s(&out),
    ]);
    out
}

/// A pre-training command line; `extra` flags replace the defaults of the same name.
fn pretrain(data: &Path, out: &Path, batch: usize, steps: u64, extra: &[&str]) -> Vec<String> {
    let (batch, steps) = (batch.to_string(), steps.to_string());
    let defaults = [
        ("--data", s(data)),
        ("--output", s(out)),
        ("--preset", "tiny"),
        ("--objective", "swap"),
        ("--patch", "16"),
        ("--spacing", "4"),
        ("--lr", "2e-3"),
        ("--seed", "5"),
        ("--checkpoint-every", "2"),
        ("--workers", "1"),
        ("--batch", &batch),
        ("--steps", &steps),
    ];
    let mut args = vec!["pretrain".to_string(), "--quiet".to_string()];
    for (flag, value) in defaults {
        if !extra.contains(&flag) {
            args.extend([flag.to_string(), value.to_string()]);
        }
    }
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

fn weights(bundle: &Path) -> Vec<f32> {
    struct All(Vec<f32>);
    impl ModuleVisitor for All {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.0.extend(
                p.val()
                    .into_data()
                    .convert::<f32>()
                    .try_to_vec::<f32>()
                    .unwrap(),
            );
        }
    }
    let bundle = Bundle::from_bytes(&std::fs::read(bundle).unwrap()).unwrap();
    let model = bundle.load_model(&Device::flex()).unwrap();
    let mut all = All(Vec::new());
    model.visit(&mut all);
    all.0
}

fn sha(bundle: &Path) -> String {
    let bytes = std::fs::read(bundle).unwrap();
    Bundle::from_bytes(&bytes)
        .unwrap()
        .header
        .weights
        .sha256
        .clone()
}

fn distance(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| ((x - y) as f64).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// Largest difference relative to max(|a|, |b|, 1).
fn worst(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / x.abs().max(y.abs()).max(1.0))
        .fold(0.0, f64::max)
}

#[test]
fn two_ranks_with_batch_one_train_like_one_process_with_batch_two() {
    let dir = scratch("equivalence");
    let data = data(&dir);
    let (one, two) = (dir.join("one"), dir.join("two"));
    ok(&pretrain(&data, &one, 2, 6, &[])
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());
    let args = pretrain(&data, &two, 1, 6, &[]);
    let stderr = mpi_ok(&[args.clone(), args]);
    assert!(!stderr.contains("error"), "{stderr}");

    let (a, b) = (
        losses(&one.join("metrics.jsonl")),
        losses(&two.join("metrics.jsonl")),
    );
    assert_eq!(a.len(), 6, "one process logged {a:?}");
    assert_eq!(b.len(), 6, "rank 0 alone logs, once per step: {b:?}");
    let la: Vec<f64> = a.values().map(|v| v.0).collect();
    let lb: Vec<f64> = b.values().map(|v| v.0).collect();
    let gap = worst(&la, &lb);
    assert!(gap < 1e-4, "loss curves differ by {gap}: {la:?} vs {lb:?}");
    // Weights: AdamW turns rounding-level differences in near-zero gradients into steps
    // of up to the learning rate, so a few single weights differ; the runs as a whole
    // must be far closer to each other than to a run with another learning rate.
    let other = dir.join("other");
    ok(&pretrain(&data, &other, 2, 6, &["--lr", "3e-3"])
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());
    let (wa, wb, wo) = (
        weights(&one.join("pretrained.bfm")),
        weights(&two.join("pretrained.bfm")),
        weights(&other.join("pretrained.bfm")),
    );
    let (same, different) = (distance(&wa, &wb), distance(&wa, &wo));
    assert!(
        same < 0.05 * different,
        "one process and two ranks end {same} apart, the other learning rate {different}"
    );
}

/// The pid of `brainfm` rank `rank` writing to `out`, from /proc.
fn rank_pid(rank: usize, out: &Path) -> Option<u32> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        let has =
            |hay: &[u8], needle: &str| hay.split(|&b| b == 0).any(|part| part == needle.as_bytes());
        if has(&cmdline, s(out)) && has(&environ, &format!("OMPI_COMM_WORLD_RANK={rank}")) {
            return Some(pid);
        }
    }
    None
}

fn wait_with_timeout(mut child: Child, limit: Duration) -> (bool, String) {
    let t0 = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            return (status.success(), stderr);
        }
        if t0.elapsed() > limit {
            child.kill().ok();
            panic!("mpirun still running {limit:?} after one of its ranks was killed");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_killed_rank_stops_the_job_and_resume_ends_like_an_uninterrupted_run() {
    let dir = scratch("kill");
    let data = data(&dir);
    let steps = 30;
    let reference = dir.join("reference");
    let args = pretrain(&data, &reference, 1, steps, &[]);
    mpi_ok(&[args.clone(), args]);

    let out = dir.join("killed");
    let args = pretrain(&data, &out, 1, steps, &[]);
    let mut cmd = mpirun(&[args.clone(), args.clone()]);
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mpirun starts");
    // Kill rank 1 once rank 0 has written a checkpoint (step 2 or later).
    let t0 = Instant::now();
    while !out.join("checkpoint.bfck").exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no checkpoint appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = rank_pid(1, &out).expect("rank 1 is running");
    let killed = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let (done, stderr) = wait_with_timeout(child, Duration::from_secs(60));
    assert!(!done, "the job went on without rank 1");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let logged = losses(&out.join("metrics.jsonl"));
    assert!(
        logged.len() < steps as usize,
        "rank 1 died after the run had finished: {logged:?}"
    );

    let stderr = mpi_ok(&[
        [args.clone(), vec!["--resume".into()]].concat(),
        [args, vec!["--resume".into()]].concat(),
    ]);
    assert!(!stderr.contains("error"), "{stderr}");
    assert_eq!(
        sha(&out.join("pretrained.bfm")),
        sha(&reference.join("pretrained.bfm")),
        "the resumed run ended with other weights than the uninterrupted one"
    );
    assert_eq!(
        losses(&out.join("metrics.jsonl")),
        losses(&reference.join("metrics.jsonl"))
    );
}

#[test]
fn ranks_started_with_different_arguments_refuse_to_run() {
    let dir = scratch("disagree");
    let data = data(&dir);
    let out = dir.join("run");
    let a = pretrain(&data, &out, 1, 4, &[]);
    let b = pretrain(&data, &out, 1, 4, &["--lr", "1e-3"]);
    let result = output(mpirun(&[a, b]));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        !result.status.success(),
        "ranks with different settings trained"
    );
    assert!(
        stderr.contains("ranks 1 have other settings or brainfm version than rank 0"),
        "{stderr}"
    );
    assert!(!out.join("pretrained.bfm").exists());
}

#[test]
fn finetune_trains_data_parallel_with_rank_0_alone_validating_and_writing() {
    let dir = scratch("finetune");
    let data = dir.join("nnunet");
    ok(&[
        "synth",
        "--labels",
        AAL,
        "--subjects",
        "3",
        "--spacing",
        "4",
        "--seed",
        "11",
        "--format",
        "nnunet",
        "--classes",
        "background,a,b,c",
        "--contrasts",
        "T1w",
        "--output",
        s(&data),
    ]);
    let out = dir.join("run");
    let args: Vec<String> = [
        "finetune",
        "--data",
        s(&data),
        "--output",
        s(&out),
        "--preset",
        "tiny",
        "--steps",
        "6",
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
        "3",
        "--seed",
        "5",
        "--quiet",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    let stderr = mpi_ok(&[args.clone(), args]);
    assert!(!stderr.contains("error"), "{stderr}");
    let text = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len(),
        6,
        "one line per step, from rank 0 alone:\n{text}"
    );
    let validated = lines.iter().filter(|l| l.get("val_dice").is_some()).count();
    assert_eq!(validated, 2, "validation at steps 3 and 6:\n{text}");
    for name in ["last.bfm", "best.bfm", "checkpoint.bfck"] {
        assert!(out.join(name).exists(), "{name} missing");
    }
    let bundle = Bundle::from_bytes(&std::fs::read(out.join("last.bfm")).unwrap()).unwrap();
    assert!(
        bundle.meta().provenance.contains("6 steps"),
        "{}",
        bundle.meta().provenance
    );
}
