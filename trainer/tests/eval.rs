//! `brainfm eval` against numbers computed independently in this test.

mod common;

use common::{brainfm, ok, scratch};

use std::path::Path;

use brainfm_core::volume::{header_from_grid, write_labels, write_volume, LabelMap, Volume};

const EYE: [[f64; 4]; 4] = [
    [1.0, 0.0, 0.0, 0.0],
    [0.0, 1.0, 0.0, 0.0],
    [0.0, 0.0, 1.0, 0.0],
    [0.0, 0.0, 0.0, 1.0],
];

fn cube(n: usize, lo: [usize; 3], hi: [usize; 3]) -> Vec<u16> {
    let mut v = vec![0u16; n * n * n];
    for k in lo[2]..hi[2] {
        for j in lo[1]..hi[1] {
            for i in lo[0]..hi[0] {
                v[i + n * (j + n * k)] = 1;
            }
        }
    }
    v
}

fn write_map(path: &Path, n: usize, data: Vec<u16>) {
    let map = LabelMap::new([n; 3], [1.0; 3], EYE, data).unwrap();
    std::fs::write(path, write_labels(&header_from_grid(&map), &map).unwrap()).unwrap();
}

/// Surface voxels (6-neighbourhood, grid border outside) and the brute-force HD95.
fn brute_hd95(a: &[u16], b: &[u16], n: usize) -> f64 {
    let surface = |m: &[u16]| -> Vec<[i64; 3]> {
        let mut s = Vec::new();
        for k in 0..n {
            for j in 0..n {
                for i in 0..n {
                    if m[i + n * (j + n * k)] != 1 {
                        continue;
                    }
                    let inside = |x: i64, y: i64, z: i64| {
                        (0..n as i64).contains(&x)
                            && (0..n as i64).contains(&y)
                            && (0..n as i64).contains(&z)
                            && m[x as usize + n * (y as usize + n * z as usize)] == 1
                    };
                    let (x, y, z) = (i as i64, j as i64, k as i64);
                    let all_in = [
                        (1, 0, 0),
                        (-1, 0, 0),
                        (0, 1, 0),
                        (0, -1, 0),
                        (0, 0, 1),
                        (0, 0, -1),
                    ]
                    .iter()
                    .all(|(dx, dy, dz)| inside(x + dx, y + dy, z + dz));
                    if !all_in {
                        s.push([x, y, z]);
                    }
                }
            }
        }
        s
    };
    let (sa, sb) = (surface(a), surface(b));
    let directed = |from: &[[i64; 3]], to: &[[i64; 3]]| -> f64 {
        let mut d: Vec<f64> = from
            .iter()
            .map(|p| {
                to.iter()
                    .map(|q| {
                        (((p[0] - q[0]).pow(2) + (p[1] - q[1]).pow(2) + (p[2] - q[2]).pow(2))
                            as f64)
                            .sqrt()
                    })
                    .fold(f64::INFINITY, f64::min)
            })
            .collect();
        d.sort_by(f64::total_cmp);
        let pos = 0.95 * (d.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        d[lo] + (d[hi] - d[lo]) * (pos - lo as f64)
    };
    directed(&sa, &sb).max(directed(&sb, &sa))
}

#[test]
fn eval_matches_a_hand_built_overlap() {
    let dir = scratch("cubes");
    let n = 12;
    let pred = cube(n, [2, 2, 2], [6, 6, 6]); // 64 voxels
    let reference = cube(n, [3, 3, 3], [8, 7, 7]); // 5*4*4 = 80 voxels
                                                   // Overlap [3,6)^3 = 27 voxels: Dice = 54 / 144.
    let expected_dice = 54.0 / 144.0;
    let expected_hd95 = brute_hd95(&pred, &reference, n);
    write_map(&dir.join("p.nii.gz"), n, pred);
    write_map(&dir.join("r.nii.gz"), n, reference);
    let json = dir.join("scores.json");
    let table = ok(&[
        "eval",
        "--pred",
        dir.join("p.nii.gz").to_str().unwrap(),
        "--reference",
        dir.join("r.nii.gz").to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(table.contains("mean dice"), "{table}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    let score = &report["cases"][0]["labels"][0];
    assert_eq!(score["label"], 1);
    assert!((score["dice"].as_f64().unwrap() - expected_dice).abs() < 1e-12);
    assert!(
        (score["hd95_mm"].as_f64().unwrap() - expected_hd95).abs() < 1e-9,
        "{score} vs {expected_hd95}"
    );
    assert!((score["predicted_ml"].as_f64().unwrap() - 0.064).abs() < 1e-12);
    assert!((score["reference_ml"].as_f64().unwrap() - 0.080).abs() < 1e-12);
    assert!((report["summary"][0]["mean_dice"].as_f64().unwrap() - expected_dice).abs() < 1e-12);
}

#[test]
fn eval_segments_an_nnunet_dataset_with_a_model() {
    let dir = scratch("nnunet");
    let data = dir.join("Dataset001_Ball");
    for sub in ["imagesTr", "labelsTr"] {
        std::fs::create_dir_all(data.join(sub)).unwrap();
    }
    std::fs::write(data.join("dataset.json"), r#"{"channel_names": {"0": "T1"}, "labels": {"background": 0, "ball": 1}, "numTraining": 1, "file_ending": ".nii.gz"}"#).unwrap();
    let n = 32;
    let ball: Vec<u16> = (0..n * n * n)
        .map(|i| {
            let (x, y, z) = (
                (i % n) as f64 - 15.5,
                ((i / n) % n) as f64 - 15.5,
                (i / (n * n)) as f64 - 15.5,
            );
            ((x * x + y * y + z * z).sqrt() < 9.0) as u16
        })
        .collect();
    let image = Volume::new(
        [n; 3],
        [1.0; 3],
        EYE,
        ball.iter().map(|&l| 100.0 + 50.0 * l as f32).collect(),
    )
    .unwrap();
    std::fs::write(
        data.join("imagesTr/ball_0000.nii.gz"),
        write_volume(None, &image).unwrap(),
    )
    .unwrap();
    write_map(&data.join("labelsTr/ball.nii.gz"), n, ball);
    let model = dir.join("m.bfm");
    ok(&[
        "init",
        "--preset",
        "tiny",
        "--classes",
        "background,ball",
        "--spacing",
        "2",
        "--output",
        model.to_str().unwrap(),
    ]);
    let json = dir.join("scores.json");
    ok(&[
        "eval",
        "--quiet",
        "--model",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["cases"].as_array().unwrap().len(), 1);
    assert_eq!(report["summary"][0]["name"], "ball");
    let reference_ml = report["cases"][0]["labels"][0]["reference_ml"]
        .as_f64()
        .unwrap();
    assert!((reference_ml - ball_volume_ml(n)).abs() < 1e-9);

    // The same scan and labels as a BIDS dataset (the label map under derivatives/): the
    // same scores, the case named by its path.
    let bids = dir.join("bids");
    let anat = bids.join("sub-01/anat");
    std::fs::create_dir_all(&anat).unwrap();
    std::fs::create_dir_all(bids.join("derivatives/manual/sub-01/anat")).unwrap();
    std::fs::copy(
        data.join("imagesTr/ball_0000.nii.gz"),
        anat.join("sub-01_T1w.nii.gz"),
    )
    .unwrap();
    std::fs::copy(
        data.join("labelsTr/ball.nii.gz"),
        bids.join("derivatives/manual/sub-01/anat/sub-01_dseg.nii.gz"),
    )
    .unwrap();
    let bids_json = dir.join("bids.json");
    ok(&[
        "eval",
        "--quiet",
        "--model",
        model.to_str().unwrap(),
        "--data",
        bids.to_str().unwrap(),
        "--json",
        bids_json.to_str().unwrap(),
    ]);
    let bids_report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&bids_json).unwrap()).unwrap();
    assert_eq!(
        bids_report["cases"][0]["case"],
        "sub-01/anat/sub-01_T1w.nii.gz"
    );
    assert_eq!(
        bids_report["cases"][0]["labels"],
        report["cases"][0]["labels"]
    );

    // A truncated case among good ones: it is named, the rest are scored and written, and
    // the command fails at the end.
    let good = std::fs::read(data.join("imagesTr/ball_0000.nii.gz")).unwrap();
    std::fs::write(
        data.join("imagesTr/broken_0000.nii.gz"),
        &good[..good.len() / 2],
    )
    .unwrap();
    std::fs::copy(
        data.join("labelsTr/ball.nii.gz"),
        data.join("labelsTr/broken.nii.gz"),
    )
    .unwrap();
    std::fs::remove_file(&json).unwrap();
    let out = brainfm(&[
        "eval",
        "--quiet",
        "--model",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("case broken") && stderr.contains("1 of 2 cases could not be scored"),
        "{stderr}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["cases"].as_array().unwrap().len(), 1);
}

fn ball_volume_ml(n: usize) -> f64 {
    (0..n * n * n)
        .filter(|i| {
            let (x, y, z) = (
                (i % n) as f64 - 15.5,
                ((i / n) % n) as f64 - 15.5,
                (i / (n * n)) as f64 - 15.5,
            );
            (x * x + y * y + z * z).sqrt() < 9.0
        })
        .count() as f64
        / 1000.0
}
