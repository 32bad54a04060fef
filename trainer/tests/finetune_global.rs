//! Classification and regression end to end on synthetic subjects: `brainfm synth`
//! anatomy (random contrasts), a target the image carries (a bright central "lesion" and
//! its size), finetune --task cls|reg, then eval on held-out subjects; and the errors.

mod common;

use common::{failure, ok, s, scratch};

use std::path::{Path, PathBuf};

use brainfm_core::volume::{read_nifti, write_volume, ReadOptions};

const TEMPLATES: &str = "/usr/share/mricron/templates";

/// `n` synthetic T1w subjects at 4 mm; returns their files.
fn synth(dir: &Path, n: usize) -> Vec<PathBuf> {
    let out = dir.join("synth");
    ok(&[
        "synth",
        "--labels",
        &format!("{TEMPLATES}/aal.nii.gz"),
        "--subjects",
        &n.to_string(),
        "--contrasts",
        "T1w",
        "--spacing",
        "4",
        "--output",
        s(&out),
    ]);
    let mut files: Vec<PathBuf> = walk(&out)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with("_T1w.nii.gz"))
        .collect();
    files.sort();
    assert_eq!(files.len(), n, "{files:?}");
    files
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Write `source` to `dest` with a bright ball ("lesion") of `radius` voxels (0: none)
/// at the brain's centroid: intensity mean + 3 std of the brain, so it stands out
/// whatever the subject's random contrast.
fn lesion_copy(source: &Path, dest: &Path, radius: f64) {
    let img = read_nifti(&std::fs::read(source).unwrap(), &ReadOptions::default()).unwrap();
    let [nx, ny, _] = img.volume.dims;
    let (mut n, mut sum, mut sq, mut c) = (0f64, 0f64, 0f64, [0f64; 3]);
    for (i, &v) in img.volume.data.iter().enumerate() {
        if v != 0.0 {
            let p = [i % nx, (i / nx) % ny, i / (nx * ny)];
            n += 1.0;
            sum += v as f64;
            sq += (v as f64).powi(2);
            for a in 0..3 {
                c[a] += p[a] as f64;
            }
        }
    }
    let mean = sum / n;
    let std = (sq / n - mean * mean).max(0.0).sqrt();
    let c = c.map(|x| x / n);
    let data = img
        .volume
        .data
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let p = [i % nx, (i / nx) % ny, i / (nx * ny)];
            let d2: f64 = (0..3).map(|a| (p[a] as f64 - c[a]).powi(2)).sum();
            if d2 <= radius * radius {
                (mean + 3.0 * std) as f32
            } else {
                v
            }
        })
        .collect();
    let vol = img.volume.with_data(data).unwrap();
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::write(dest, write_volume(Some(&img.header), &vol).unwrap()).unwrap();
}

fn report(json: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
}

fn finetune(task: &str, data: &Path, table: &Path, target: &str, out: &Path, steps: u64) -> String {
    let steps = steps.to_string();
    let val_every = (steps.parse::<u64>().unwrap() / 2).to_string();
    ok(&[
        "finetune",
        "--quiet",
        "--task",
        task,
        "--data",
        s(data),
        "--labels",
        s(table),
        "--target",
        target,
        "--preset",
        "tiny",
        "--patch",
        "32",
        "--spacing",
        "4",
        "--steps",
        &steps,
        "--batch",
        "4",
        "--lr",
        "1e-3",
        "--val-fraction",
        "0.25",
        "--val-every",
        &val_every,
        "--output",
        s(out),
    ])
}

/// 12 subjects: 8 to fine-tune on (2 of them validate), 4 held out for eval.
/// Classification: healthy vs a central lesion of radius 4 voxels (16 mm). Regression:
/// 'age' = 20 + 10 x the lesion radius in voxels (0..6).
#[test]
fn classification_learns_a_lesion_and_regression_runs_end_to_end() {
    let dir = scratch("e2e");
    let files = synth(&dir, 12);
    let mut tsv = String::from("participant_id\tgroup\tage\n");
    for (i, f) in files.iter().enumerate() {
        let lesion = i % 2 == 1;
        let radius = ((i * 5) % 12) as f64 / 11.0 * 6.0;
        let part = if i < 8 { "train" } else { "test" };
        let id = format!("sub-{i:02}");
        lesion_copy(
            f,
            &dir.join(format!("cls-{part}/{id}/anat/{id}_T1w.nii.gz")),
            if lesion { 4.0 } else { 0.0 },
        );
        lesion_copy(
            f,
            &dir.join(format!("reg-{part}/{id}/anat/{id}_T1w.nii.gz")),
            radius,
        );
        tsv.push_str(&format!(
            "{id}\t{}\t{:.1}\n",
            if lesion { "lesion" } else { "healthy" },
            20.0 + 10.0 * radius
        ));
    }
    let table = dir.join("participants.tsv");
    std::fs::write(&table, &tsv).unwrap();

    // Classification.
    let cls = dir.join("cls");
    let out = finetune("cls", &dir.join("cls-train"), &table, "group", &cls, 150);
    assert!(out.contains("best validation balanced accuracy"), "{out}");
    let log = std::fs::read_to_string(cls.join("metrics.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 150);
    assert_eq!(log.matches("val_balanced_accuracy").count(), 2);
    let json = dir.join("cls.json");
    let table_out = ok(&[
        "eval",
        "--quiet",
        "--model",
        s(&cls.join("last.bfm")),
        "--data",
        s(&dir.join("cls-test")),
        "--labels",
        s(&table),
        "--target",
        "group",
        "--json",
        s(&json),
    ]);
    assert!(table_out.contains("balanced accuracy"), "{table_out}");
    let r = report(&json);
    let bacc = r["summary"]["balanced_accuracy"].as_f64().unwrap();
    let auc = r["summary"]["auroc"].as_f64().unwrap();
    eprintln!(
        "classification on 4 held-out subjects: balanced accuracy {bacc}, AUROC {auc}\n{table_out}"
    );
    assert_eq!(r["class_names"], serde_json::json!(["healthy", "lesion"]));
    // Chance is 0.5 for both.
    assert!(
        bacc >= 0.75 && auc >= 0.75,
        "balanced accuracy {bacc}, AUROC {auc}"
    );

    // Regression: the plumbing only (a learning check needs more steps than this test
    // can afford on two CPU cores; see the report of this change).
    let reg = dir.join("reg");
    let out = finetune("reg", &dir.join("reg-train"), &table, "age", &reg, 10);
    assert!(out.contains("best validation MAE"), "{out}");
    let json = dir.join("reg.json");
    // The model remembers its target column: no --target needed.
    let table_out = ok(&[
        "eval",
        "--quiet",
        "--model",
        s(&reg.join("last.bfm")),
        "--data",
        s(&dir.join("reg-test")),
        "--labels",
        s(&table),
        "--json",
        s(&json),
    ]);
    let r = report(&json);
    let got = r["summary"]["mae"].as_f64().unwrap();
    // Chance: predicting the training subjects' mean age for every test subject.
    let ages: Vec<f64> = tsv
        .lines()
        .skip(1)
        .map(|l| l.split('\t').nth(2).unwrap().parse().unwrap())
        .collect();
    let train_mean = ages[..8].iter().sum::<f64>() / 8.0;
    let chance = ages[8..]
        .iter()
        .map(|a| (a - train_mean).abs())
        .sum::<f64>()
        / 4.0;
    let r_val = r["summary"]["pearson_r"].as_f64().unwrap_or(f64::NAN);
    eprintln!(
        "regression on 4 held-out subjects: MAE {got} (chance {chance}), r {r_val}\n{table_out}"
    );
    assert!(
        got.is_finite() && got < 3.0 * chance,
        "MAE {got} vs chance {chance}"
    );
    assert_eq!(r["subjects"].as_array().unwrap().len(), 4);
}

/// The errors a user meets with a bad table or task.
#[test]
fn finetune_global_explains_bad_input() {
    let dir = scratch("bad");
    let files = synth(&dir, 3);
    let data = dir.join("bids");
    for (i, f) in files.iter().enumerate() {
        let id = format!("sub-{i:02}");
        lesion_copy(f, &data.join(format!("{id}/anat/{id}_T1w.nii.gz")), 0.0);
    }
    let table = dir.join("t.tsv");
    let out_dir = dir.join("o");
    let run = |tsv: &str, extra: &[&str]| {
        std::fs::write(&table, tsv).unwrap();
        let mut args = vec![
            "finetune",
            "--data",
            s(&data),
            "--labels",
            s(&table),
            "--output",
            s(&out_dir),
            "--steps",
            "1",
            "--patch",
            "32",
            "--spacing",
            "4",
        ];
        args.extend_from_slice(extra);
        failure(&args)
    };
    let err = run("participant_id\tage\n00\t30\n01\t40\n", &["--task", "reg"]);
    assert!(err.contains("sub-02") && err.contains("no 'age'"), "{err}");
    let err = run(
        "participant_id\tage\n00\t30\n01\t40\n02\t50\n",
        &["--task", "reg", "--target", "sex"],
    );
    assert!(err.contains("no column 'sex'"), "{err}");
    let err = run(
        "participant_id\tage\n00\t30\n01\told\n02\t50\n",
        &["--task", "reg"],
    );
    assert!(err.contains("'age' of sub-01 is 'old'"), "{err}");
    let err = run(
        "participant_id\tdx\n00\tAD\n01\tAD\n02\tAD\n",
        &["--task", "cls"],
    );
    assert!(err.contains("at least 2 classes"), "{err}");
    let err = run("id\tdx\n00\tAD\n", &["--task", "cls"]);
    assert!(err.contains("--id-column"), "{err}");
    let err = failure(&[
        "finetune",
        "--task",
        "cls",
        "--data",
        s(&data),
        "--output",
        s(&dir.join("o")),
    ]);
    assert!(err.contains("--labels"), "{err}");
    let err = run(
        "participant_id\tdx\n00\tAD\n01\tCN\n02\tAD\n",
        &["--task", "age"],
    );
    assert!(err.contains("--task must be seg, cls or reg"), "{err}");
}
