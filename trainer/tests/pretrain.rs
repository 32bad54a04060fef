//! Issue 3's "done when" checks, end to end through the `brainfm` binary on synthetic
//! subjects made from the AAL atlas (Debian mricron-data), tiny preset, CPU.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use brainfm_core::bundle::Bundle;
use brainfm_core::ssl::cosine_per_voxel;
use brainfm_core::volume::{preprocess, read_nifti, ReadOptions};
use burn::prelude::*;

const AAL: &str = "/usr/share/mricron/templates/aal.nii.gz";

fn brainfm(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_brainfm"))
        .args(args)
        .output()
        .expect("brainfm runs");
    assert!(
        out.status.success(),
        "brainfm {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("brainfm-pretrain-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn synth(out: &Path, subjects: usize, seed: u64) {
    let s = out.to_str().unwrap();
    brainfm(&[
        "synth",
        "--labels",
        AAL,
        "--subjects",
        &subjects.to_string(),
        "--spacing",
        "4",
        "--deform-mm",
        "6",
        "--seed",
        &seed.to_string(),
        "--output",
        s,
    ]);
}

/// Last logged loss (and recon term) per step: a resumed run re-logs steps after its checkpoint.
fn losses(metrics: &Path) -> BTreeMap<u64, (f64, f64)> {
    let text = std::fs::read_to_string(metrics).unwrap();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if let (Some(step), Some(loss)) = (v["step"].as_u64(), v["loss"].as_f64()) {
            if v.get("event").is_none() {
                out.insert(step, (loss, v["terms"]["recon"].as_f64().unwrap_or(loss)));
            }
        }
    }
    out
}

fn pretrain_args<'a>(data: &'a str, out: &'a str, steps: &'a str) -> Vec<&'a str> {
    vec![
        "pretrain",
        "--data",
        data,
        "--output",
        out,
        "--preset",
        "tiny",
        "--objective",
        "swap",
        "--steps",
        steps,
        "--patch",
        "16",
        "--batch",
        "2",
        "--lr",
        "2e-3",
        "--spacing",
        "4",
        "--quiet",
        "--seed",
        "3",
    ]
}

#[test]
#[ignore = "fails today: over 240 steps at 16^3 / 4 mm the per-batch loss is too noisy and falls only ~10 % (1.25 -> 1.13); needs a fixed evaluation batch or larger patches (issue 3)"]
fn swap_pretraining_cuts_the_loss_and_separates_subjects() {
    if !Path::new(AAL).exists() {
        eprintln!("skipping: {AAL} missing (apt install mricron-data)");
        return;
    }
    let dir = scratch("swap");
    let (train, held, run) = (dir.join("train"), dir.join("held"), dir.join("run"));
    synth(&train, 8, 1);
    synth(&held, 3, 77);
    let t = Instant::now();
    let mut args = pretrain_args(train.to_str().unwrap(), run.to_str().unwrap(), "240");
    args.extend(["--checkpoint-every", "1000", "--no-augment"]);
    brainfm(&args);
    eprintln!("240 swap steps in {:.1}s", t.elapsed().as_secs_f64());

    let l = losses(&run.join("metrics.jsonl"));
    assert_eq!(l.len(), 240);
    let mean = |r: std::ops::Range<u64>| {
        r.clone().map(|k| l[&k].1).sum::<f64>() / (r.end - r.start) as f64
    };
    let (first, last) = (mean(0..20), mean(220..240));
    assert!(
        last < 0.6 * first,
        "reconstruction loss {first:.4} -> {last:.4}: not cut by 40 %"
    );

    // Held-out subjects: z_s of two contrasts of one subject must be closer than z_s of
    // different subjects (also in different contrasts, so contrast alone cannot decide).
    let bundle = Bundle::from_bytes(&std::fs::read(run.join("pretrained.bfm")).unwrap()).unwrap();
    let dev = Device::flex();
    let model = bundle.load_model(&dev).unwrap();
    let latent = |sub: usize, contrast: &str| -> Tensor<5> {
        let p = held.join(format!("sub-{sub:02}/anat/sub-{sub:02}_{contrast}.nii.gz"));
        let img = read_nifti(&std::fs::read(&p).unwrap(), &ReadOptions::default()).unwrap();
        let pre = preprocess(&img.volume, &bundle.meta().preprocess).unwrap();
        let d = pre.volume.dims;
        let c = [d[0] / 2 - 8, d[1] / 2 - 8, d[2] / 2 - 8];
        let mut patch = vec![0f32; 16 * 16 * 16];
        for z in 0..16 {
            for y in 0..16 {
                for x in 0..16 {
                    patch[x + 16 * (y + 16 * z)] =
                        pre.volume.data[(c[0] + x) + d[0] * ((c[1] + y) + d[1] * (c[2] + z))];
                }
            }
        }
        let x = Tensor::<5>::from_data(TensorData::new(patch, [1, 1, 16, 16, 16]), &dev);
        model.represent(x).latents.unwrap().subject_mean
    };
    let contrasts = ["T1w", "T2w", "FLAIR"];
    let z: Vec<Vec<Tensor<5>>> = (1..=3)
        .map(|s| contrasts.iter().map(|c| latent(s, c)).collect())
        .collect();
    let cos = |a: &Tensor<5>, b: &Tensor<5>| {
        pollster::block_on(cosine_per_voxel(a.clone(), b.clone()).into_scalar_async::<f32>())
            .unwrap()
    };
    let (mut same, mut diff) = (vec![], vec![]);
    for s in 0..3 {
        for t in 0..3 {
            for a in 0..3 {
                for b in 0..3 {
                    if a != b && (s < t || (s == t && a < b)) {
                        let d = 1.0 - cos(&z[s][a], &z[t][b]);
                        if s == t {
                            same.push(d)
                        } else {
                            diff.push(d)
                        }
                    }
                }
            }
        }
    }
    let avg = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    eprintln!(
        "held-out z_s cosine distance: same subject {:.4}, different subjects {:.4}",
        avg(&same),
        avg(&diff)
    );
    assert!(
        avg(&same) < avg(&diff),
        "same-subject distance {} not below different-subject {}",
        avg(&same),
        avg(&diff)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_killed_run_resumes_to_the_same_losses() {
    if !Path::new(AAL).exists() {
        eprintln!("skipping: {AAL} missing (apt install mricron-data)");
        return;
    }
    let dir = scratch("resume");
    let data = dir.join("data");
    synth(&data, 4, 5);
    let (full, cut) = (dir.join("full"), dir.join("cut"));
    let ds = data.to_str().unwrap();
    let mut args = pretrain_args(ds, full.to_str().unwrap(), "40");
    args.extend(["--checkpoint-every", "8"]);
    brainfm(&args);

    // Same run, killed (SIGKILL) once it is past its second checkpoint.
    let mut args = pretrain_args(ds, cut.to_str().unwrap(), "40");
    args.extend(["--checkpoint-every", "8"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_brainfm"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let n = std::fs::read_to_string(cut.join("metrics.jsonl"))
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if n >= 19 || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    let _ = child.wait();
    let killed_at = losses(&cut.join("metrics.jsonl")).len();
    assert!(killed_at < 40, "the run finished before it was killed");
    args.push("--resume");
    brainfm(&args);

    let (a, b) = (
        losses(&full.join("metrics.jsonl")),
        losses(&cut.join("metrics.jsonl")),
    );
    assert_eq!(a.len(), 40);
    assert_eq!(b.len(), 40);
    for (k, (x, _)) in &a {
        let y = b[k].0;
        assert!(
            (x - y).abs() <= 1e-3 * x.abs().max(1.0),
            "step {k}: uninterrupted {x} vs resumed {y} (killed after {killed_at} steps)"
        );
    }
    // The resumed run re-did the steps after its last checkpoint and logged the resume.
    assert!(std::fs::read_to_string(cut.join("metrics.jsonl"))
        .unwrap()
        .contains("\"resume\""));
    let _ = std::fs::remove_dir_all(&dir);
}
