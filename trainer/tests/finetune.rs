//! Fine-tuning end to end on real shipped volumes: pretrain -> finetune -> export ->
//! predict -> eval, and the errors a user meets with bad input.

mod common;

use common::{brainfm, failure, ok, s, scratch};

use std::path::{Path, PathBuf};

use brainfm_core::volume::{read_nifti, write_labels, write_volume, LabelMap, ReadOptions};

const TEMPLATES: &str = "/usr/share/mricron/templates";

/// A brain-mask dataset in the nnU-Net raw layout from Colin27 (ch2) and its
/// brain-extracted version (ch2bet): the real T1 and two intensity variants of it
/// (a gamma change and an inverted, T2-like contrast), all with the same mask.
fn colin_brain_mask_dataset(root: &Path) -> PathBuf {
    let read = |name: &str| {
        let bytes = std::fs::read(Path::new(TEMPLATES).join(name)).unwrap();
        read_nifti(&bytes, &ReadOptions::default()).unwrap()
    };
    let ch2 = read("ch2.nii.gz");
    let bet = read("ch2bet.nii.gz");
    assert_eq!(ch2.volume.dims, bet.volume.dims);
    let mask = LabelMap {
        data: bet.volume.data.iter().map(|&v| (v > 0.0) as u16).collect(),
        ..ch2
            .volume
            .with_data(vec![0u16; ch2.volume.data.len()])
            .unwrap()
    };
    let max = ch2.volume.data.iter().cloned().fold(0f32, f32::max);
    let variants: [(&str, Box<dyn Fn(f32) -> f32>); 3] = [
        ("colin", Box::new(|v| v)),
        ("colingamma", Box::new(move |v| max * (v / max).powf(1.6))),
        (
            "colininv",
            Box::new(move |v| if v > 0.05 * max { 1.05 * max - v } else { 0.0 }),
        ),
    ];
    let ds = root.join("Dataset001_Mask");
    for (id, f) in &variants {
        let vol = ch2
            .volume
            .with_data(ch2.volume.data.iter().map(|&v| f(v)).collect())
            .unwrap();
        let img = ds.join(format!("imagesTr/{id}_0000.nii.gz"));
        std::fs::create_dir_all(img.parent().unwrap()).unwrap();
        std::fs::write(&img, write_volume(Some(&ch2.header), &vol).unwrap()).unwrap();
        let lab = ds.join(format!("labelsTr/{id}.nii.gz"));
        std::fs::create_dir_all(lab.parent().unwrap()).unwrap();
        std::fs::write(&lab, write_labels(&ch2.header, &mask).unwrap()).unwrap();
    }
    std::fs::write(
        ds.join("dataset.json"),
        r#"{"channel_names": {"0": "T1"}, "labels": {"background": 0, "brain": 1},
            "numTraining": 3, "file_ending": ".nii.gz"}"#,
    )
    .unwrap();
    ds
}

#[test]
fn pretrain_finetune_export_predict_eval_on_colin27() {
    let dir = scratch("e2e");
    let synth = dir.join("synth");
    ok(&[
        "synth",
        "--labels",
        &format!("{TEMPLATES}/aal.nii.gz"),
        "--head",
        &format!("{TEMPLATES}/ch2.nii.gz"),
        "--subjects",
        "3",
        "--contrasts",
        "T1w,T2w",
        "--spacing",
        "4",
        "--output",
        s(&synth),
    ]);
    let pre = dir.join("pre");
    ok(&[
        "pretrain",
        "--quiet",
        "--data",
        s(&synth),
        "--preset",
        "tiny",
        "--objective",
        "swap",
        "--steps",
        "20",
        "--patch",
        "32",
        "--spacing",
        "4",
        "--lr",
        "1e-3",
        "--output",
        s(&pre),
    ]);
    let ds = colin_brain_mask_dataset(&dir);
    let ft = dir.join("ft");
    let out = ok(&[
        "finetune",
        "--quiet",
        "--init",
        s(&pre.join("pretrained.bfm")),
        "--data",
        s(&ds),
        "--steps",
        "120",
        "--patch",
        "32",
        "--lr",
        "3e-3",
        "--val-fraction",
        "0.34",
        "--val-every",
        "40",
        "--output",
        s(&ft),
    ]);
    assert!(out.contains("best validation Dice"), "{out}");
    // The log records training and validation.
    let log = std::fs::read_to_string(ft.join("metrics.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 120);
    let vals: Vec<f64> = lines
        .iter()
        .filter_map(|l| l["val_dice"].as_f64())
        .collect();
    assert_eq!(vals.len(), 3, "validation at 40, 80, 120");

    // A segmentation model for the same classes continues as a whole (decoder included).
    let more = brainfm(&[
        "finetune",
        "--init",
        s(&ft.join("best.bfm")),
        "--data",
        s(&ds),
        "--steps",
        "3",
        "--patch",
        "32",
        "--val-fraction",
        "0",
        "--output",
        s(&dir.join("ft2")),
    ]);
    let stderr = String::from_utf8_lossy(&more.stderr);
    assert!(more.status.success(), "{stderr}");
    assert!(stderr.contains("continuing from all"), "{stderr}");

    let web = dir.join("web.bfm");
    ok(&[
        "export",
        "--model",
        s(&ft.join("best.bfm")),
        "--to",
        "web",
        "--half",
        "--output",
        s(&web),
    ]);
    let pred = dir.join("pred.nii.gz");
    let ch2 = format!("{TEMPLATES}/ch2.nii.gz");
    ok(&[
        "predict",
        "--quiet",
        "--model",
        s(&web),
        "--input",
        &ch2,
        "--output",
        s(&pred),
    ]);
    let reference = ds.join("labelsTr/colin.nii.gz");
    let json = dir.join("scores.json");
    ok(&[
        "eval",
        "--pred",
        s(&pred),
        "--reference",
        s(&reference),
        "--json",
        s(&json),
    ]);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let score = &report["cases"][0]["labels"][0];
    let dice = score["dice"].as_f64().unwrap();
    // Chance: a predictor that marks a random share of voxels equal to the brain's.
    let bytes = std::fs::read(&reference).unwrap();
    let mask = read_nifti(&bytes, &ReadOptions::default()).unwrap().volume;
    let brain = mask.data.iter().filter(|&&v| v > 0.0).count() as f64 / mask.data.len() as f64;
    assert!(
        dice > 0.8 && dice > 2.0 * brain,
        "brain-mask Dice {dice} vs chance {brain}"
    );
}

#[test]
fn finetune_explains_bad_input() {
    let dir = scratch("bad");
    let missing = dir.join("nothing");
    let err = failure(&[
        "finetune",
        "--data",
        s(&missing),
        "--output",
        s(&dir.join("o")),
    ]);
    assert!(err.contains("dataset.json"), "{err}");

    let ds = dir.join("Dataset002_Bad");
    std::fs::create_dir_all(ds.join("imagesTr")).unwrap();
    std::fs::create_dir_all(ds.join("labelsTr")).unwrap();
    std::fs::write(
        ds.join("dataset.json"),
        r#"{"labels": {"background": 0, "brain": 1}, "file_ending": ".nii.gz"}"#,
    )
    .unwrap();
    let bytes = std::fs::read(Path::new(TEMPLATES).join("ch2bet.nii.gz")).unwrap();
    let img = read_nifti(&bytes, &ReadOptions::default()).unwrap();
    std::fs::write(ds.join("imagesTr/a_0000.nii.gz"), &bytes).unwrap();
    // Label 2 is not in dataset.json.
    let labels = img
        .volume
        .with_data(
            img.volume
                .data
                .iter()
                .map(|&v| if v > 0.0 { 2 } else { 0 })
                .collect(),
        )
        .unwrap();
    std::fs::write(
        ds.join("labelsTr/a.nii.gz"),
        write_labels(&img.header, &labels).unwrap(),
    )
    .unwrap();
    let out_dir = dir.join("o");
    let out = s(&out_dir);
    let err = failure(&[
        "finetune",
        "--data",
        s(&ds),
        "--output",
        out,
        "--steps",
        "1",
    ]);
    assert!(err.contains("label 2"), "{err}");
    let err = failure(&[
        "finetune",
        "--data",
        s(&ds),
        "--output",
        out,
        "--trainable",
        "half",
    ]);
    assert!(err.contains("--trainable"), "{err}");
    let err = failure(&[
        "finetune",
        "--data",
        s(&ds),
        "--output",
        out,
        "--trainable",
        "decoder",
    ]);
    assert!(err.contains("randomly initialised"), "{err}");
    let err = failure(&[
        "finetune",
        "--data",
        s(&ds),
        "--output",
        out,
        "--loss",
        "focal",
    ]);
    assert!(err.contains("--loss"), "{err}");
    let err = failure(&[
        "finetune",
        "--data",
        s(&ds),
        "--output",
        out,
        "--patch",
        "30",
    ]);
    assert!(err.contains("multiple"), "{err}");
}
