//! `brainfm labels` (tissue maps) and `brainfm synth --format nnunet`, end to end; the
//! nnU-Net output is opened with the reader the fine-tuner and `eval` use.

mod common;

use common::{brainfm, failure, ok, scratch};

use std::path::Path;

use brainfm_core::volume::{
    header_from_grid, read_nifti, write_labels, write_volume, LabelMap, ReadOptions, Volume,
};

use brainfm_trainer::layout::{LabelledDataset, Split};

const N: usize = 24;

fn affine(s: f64) -> [[f64; 4]; 4] {
    let mut a = [[0.0; 4]; 4];
    for (i, row) in a.iter_mut().enumerate().take(3) {
        row[i] = s;
    }
    a[3][3] = 1.0;
    a
}

fn radius(i: usize) -> f64 {
    let (x, y, z) = (i % N, (i / N) % N, i / (N * N));
    [x, y, z]
        .iter()
        .map(|&c| (c as f64 - 11.5).powi(2))
        .sum::<f64>()
        .sqrt()
}

fn volume(f: impl Fn(f64) -> f32) -> Volume {
    Volume::new(
        [N; 3],
        [2.0; 3],
        affine(2.0),
        (0..N * N * N).map(|i| f(radius(i))).collect(),
    )
    .unwrap()
}

/// Writes a nested-ball label map (label by radius in voxels) to `dir/tissue.nii.gz`.
fn ball_labels(dir: &Path, label: impl Fn(f64) -> u16) -> std::path::PathBuf {
    let labels = LabelMap::new(
        [N; 3],
        [2.0; 3],
        affine(2.0),
        (0..N * N * N).map(|i| label(radius(i))).collect(),
    )
    .unwrap();
    let path = dir.join("tissue.nii.gz");
    std::fs::write(
        &path,
        write_labels(&header_from_grid(&labels), &labels).unwrap(),
    )
    .unwrap();
    path
}

fn save(path: &Path, v: &Volume) {
    std::fs::write(path, write_volume(None, v).unwrap()).unwrap();
}

fn read(path: &Path) -> Volume {
    read_nifti(&std::fs::read(path).unwrap(), &ReadOptions::default())
        .unwrap()
        .volume
}

fn at(v: &Volume, x: usize, y: usize, z: usize) -> f32 {
    v.data[x + N * (y + N * z)]
}

#[test]
fn tissue_and_kmeans_label_a_ball_brain() {
    let dir = scratch("tissue");
    // 8-bit probability maps: WM core, GM rind, a CSF "ventricle" in the middle.
    let gm = volume(|r| if (5.0..8.0).contains(&r) { 230.0 } else { 0.0 });
    let wm = volume(|r| if (2.0..5.0).contains(&r) { 240.0 } else { 0.0 });
    let (g, w, out) = (
        dir.join("gm.nii.gz"),
        dir.join("wm.nii.gz"),
        dir.join("t.nii.gz"),
    );
    save(&g, &gm);
    save(&w, &wm);
    let text = ok(&[
        "labels",
        "tissue",
        "--gm",
        g.to_str().unwrap(),
        "--wm",
        w.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(text.contains("CSF") && text.contains("WM"), "{text}");
    let t = read(&out);
    assert_eq!(t.dims, [N; 3]);
    assert_eq!(at(&t, 11, 11, 11), 1.0, "ventricle");
    assert_eq!(at(&t, 11, 11, 14), 3.0, "white matter");
    assert_eq!(at(&t, 11, 11, 18), 2.0, "grey matter");
    assert_eq!(at(&t, 11, 11, 21), 0.0, "outside");

    // T1-like intensities, dark CSF < GM < bright WM; k-means numbers them 1, 2, 3.
    let t1 = volume(|r| match r {
        r if r < 2.0 => 20.0,
        r if r < 5.0 => 110.0,
        r if r < 8.0 => 70.0,
        _ => 0.0,
    });
    let (img, km) = (dir.join("t1.nii.gz"), dir.join("km.nii.gz"));
    save(&img, &t1);
    ok(&[
        "labels",
        "kmeans",
        "--image",
        img.to_str().unwrap(),
        "--classes",
        "3",
        "--output",
        km.to_str().unwrap(),
    ]);
    let k = read(&km);
    let differ = t.data.iter().zip(&k.data).filter(|(a, b)| a != b).count();
    let labelled = k.data.iter().filter(|&&v| v > 0.0).count();
    assert!(
        differ * 100 < labelled,
        "both routes agree: {differ} of {labelled} differ"
    );

    let mask = dir.join("mask.nii.gz");
    save(&mask, &volume(|r| if r < 5.0 { 1.0 } else { 0.0 }));
    let bad = brainfm(&[
        "labels",
        "kmeans",
        "--image",
        img.to_str().unwrap(),
        "--mask",
        g.to_str().unwrap(),
        "--classes",
        "0",
        "--output",
        km.to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    ok(&[
        "labels",
        "kmeans",
        "--image",
        img.to_str().unwrap(),
        "--mask",
        mask.to_str().unwrap(),
        "--classes",
        "2",
        "--output",
        km.to_str().unwrap(),
    ]);
    let k = read(&km);
    assert_eq!(at(&k, 11, 11, 18), 0.0, "outside the mask");
    assert_eq!(at(&k, 11, 11, 14), 2.0);
    assert_eq!(at(&k, 11, 11, 11), 1.0);
}

#[test]
fn synth_writes_an_nnunet_dataset_the_finetuner_can_open() {
    let dir = scratch("nnunet");
    let lpath = ball_labels(&dir, |r| match r {
        r if r < 2.0 => 1,
        r if r < 5.0 => 3,
        r if r < 7.0 => 2,
        _ => 0,
    });
    let data = dir.join("Dataset001_Test");
    let args = [
        "synth",
        "--labels",
        lpath.to_str().unwrap(),
        "--shells",
        "2,2",
        "--subjects",
        "2",
        "--contrasts",
        "T1w,T2w",
        "--format",
        "nnunet",
        "--output",
        data.to_str().unwrap(),
    ];
    let missing_classes = brainfm(&args);
    assert!(!missing_classes.status.success(), "nnunet needs --classes");
    let mut with_classes = args.to_vec();
    with_classes.extend(["--classes", "background,CSF,GM,WM"]);
    ok(&with_classes);

    let ds = LabelledDataset::open(&data, Split::Train).unwrap();
    assert_eq!(ds.class_names, ["background", "CSF", "GM", "WM"]);
    assert_eq!(ds.channels, 1);
    let ids: Vec<&str> = ds.cases.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        ["sub-01_T1w", "sub-01_T2w", "sub-02_T1w", "sub-02_T2w"]
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("dataset.json")).unwrap()).unwrap();
    assert_eq!(json["numTraining"], 4);
    assert_eq!(json["labels"]["WM"], 3);
    assert_eq!(json["file_ending"], ".nii.gz");

    for case in &ds.cases {
        let seg = read(&case.label);
        let img = read(&case.images[0]);
        assert_eq!(seg.dims, img.dims);
        assert!(seg.data.iter().all(|&l| [0.0, 1.0, 2.0, 3.0].contains(&l)));
        assert!(seg.data.iter().any(|&l| l == 3.0));
        // The shells are background in the labels but bright in the image (the head the
        // model must learn to ignore); far outside, the image is empty.
        let head = seg
            .data
            .iter()
            .zip(&img.data)
            .filter(|(&l, &v)| l == 0.0 && v > 0.05)
            .count();
        assert!(head > 500, "{}: {head} non-brain head voxels", case.id);
        assert_eq!(at(&img, 0, 0, 0), 0.0);
    }
    // The two contrasts of a subject share the anatomy but not the intensities.
    let (a, b) = (read(&ds.cases[0].images[0]), read(&ds.cases[1].images[0]));
    assert_ne!(a.data, b.data);
    assert_eq!(read(&ds.cases[0].label).data, read(&ds.cases[1].label).data);
}

/// synth used to round such a file silently (while its message said integers were
/// required); now it refuses it as every other reader of label maps does.
#[test]
fn synth_refuses_a_label_map_that_holds_fractions() {
    let dir = scratch("fractional");
    let path = dir.join("fractional.nii.gz");
    save(&path, &volume(|r| if r < 3.0 { 1.5 } else { 0.0 }));
    let out = dir.join("synth");
    let err = failure(&[
        "synth",
        "--labels",
        path.to_str().unwrap(),
        "--subjects",
        "1",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(err.contains(path.to_str().unwrap()), "{err}");
    assert!(err.contains("holds 1.5"), "{err}");
    assert!(err.contains("not a whole number"), "{err}");
    assert!(!out.exists(), "nothing is written for a refused label map");
}

#[test]
fn synth_clutter_air_and_padding_widen_the_head_and_stay_background() {
    let dir = scratch("clutter");
    let lpath = ball_labels(&dir, |r| match r {
        r if r < 3.0 => 3,
        r if r < 5.0 => 2,
        _ => 0,
    });
    let data = dir.join("Dataset001_Clutter");
    let args = |extra: &[&'static str]| {
        let mut a = vec![
            "synth",
            "--labels",
            lpath.to_str().unwrap(),
            "--shells",
            "2",
            "--subjects",
            "2",
            "--contrasts",
            "T1w",
            "--format",
            "nnunet",
            "--classes",
            "background,CSF,GM,WM",
            "--output",
            data.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run = |extra: &[&'static str]| {
        let a = args(extra);
        brainfm(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    for bad in [
        &["--air", "1.5"][..],
        &["--pad-mm", "-3"],
        &["--clutter", "100"],
    ] {
        let out = run(bad);
        assert!(!out.status.success(), "{bad:?} must be refused");
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
    let out = run(&["--clutter", "3", "--air", "1", "--pad-mm", "6"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let ds = LabelledDataset::open(&data, Split::Train).unwrap();
    assert_eq!(ds.cases.len(), 2);
    for case in &ds.cases {
        let (seg, img) = (read(&case.label), read(&case.images[0]));
        // 6 mm of air on each side at 2 mm: 3 voxels.
        assert_eq!(seg.dims, [N + 6; 3]);
        assert!(seg.data.iter().all(|&l| [0.0, 2.0, 3.0].contains(&l)));
        // Shells and clutter are written as background but show as tissue in the image,
        // and reach further than the 2 mm shell alone would.
        let tissue_outside = seg
            .data
            .iter()
            .zip(&img.data)
            .filter(|(&l, &v)| l == 0.0 && v > 0.1)
            .count();
        let brain = seg.data.iter().filter(|&&l| l > 0.0).count();
        assert!(
            tissue_outside > brain,
            "{}: {tissue_outside} non-brain tissue voxels around a {brain}-voxel brain",
            case.id
        );
        // --air 1: the corner of the field of view is noise, not exact zero.
        assert!(img.data[0] > 0.0, "{}: air is exactly zero", case.id);
    }
}

fn correlation(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len() as f32;
    let (ma, mb) = (a.iter().sum::<f32>() / n, b.iter().sum::<f32>() / n);
    let cov: f32 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f32 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f32 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

#[test]
fn synth_brain_image_lends_its_texture_through_resampling_and_padding() {
    let dir = scratch("brain-image");
    // One brain label, so the remap is a pure scaling and the test does not depend on
    // how far apart the random means of several labels happen to fall.
    let label = |r: f64| if r < 7.0 { 2 } else { 0 };
    let lpath = ball_labels(&dir, label);
    // The "real scan": each label at its own level plus a ramp along x (the texture).
    let real = Volume::new(
        [N; 3],
        [2.0; 3],
        affine(2.0),
        (0..N * N * N)
            .map(|i| match label(radius(i)) {
                0 => 0.0,
                _ => 50.0 + 10.0 * (i % N) as f32,
            })
            .collect(),
    )
    .unwrap();
    let rpath = dir.join("t1.nii.gz");
    save(&rpath, &real);
    let run = |out: &str, brain_image: Option<&Path>| {
        let mut a = vec![
            "synth".to_string(),
            "--labels".into(),
            lpath.to_str().unwrap().into(),
            "--shells".into(),
            "2".into(),
            "--spacing".into(),
            "1".into(),
            "--pad-mm".into(),
            "4".into(),
            "--subjects".into(),
            "1".into(),
            "--contrasts".into(),
            "T1w".into(),
            "--order".into(),
            "T1w=4,2".into(),
            "--format".into(),
            "nnunet".into(),
            "--classes".into(),
            "background,CSF,GM,WM".into(),
            "--output".into(),
            dir.join(out).to_str().unwrap().into(),
        ];
        if let Some(p) = brain_image {
            a.extend(["--brain-image".into(), p.to_str().unwrap().into()]);
        }
        brainfm(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let out = run("real", Some(&rpath));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run("plain", None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let case = |out: &str| {
        let ds = LabelledDataset::open(&dir.join(out), Split::Train).unwrap();
        (read(&ds.cases[0].label), read(&ds.cases[0].images[0]))
    };
    let ((seg, with), (plain_seg, plain)) = (case("real"), case("plain"));
    // 2 mm -> 1 mm and 4 mm of padding: 48 + 8 voxels; the same seed, the same subject.
    assert_eq!(with.dims, [2 * N + 8; 3]);
    assert_eq!(seg.data, plain_seg.data);
    // The same seed draws the same means, bias field and noise, so the ratio of the two
    // images is what the real image adds: in the brain it follows the real ramp along x.
    let n = with.dims[0];
    let gm: Vec<usize> = (0..seg.data.len())
        .filter(|&i| seg.data[i] == 2.0 && plain.data[i] > 0.0)
        .collect();
    let x: Vec<f32> = gm.iter().map(|&i| (i % n) as f32).collect();
    let ratio: Vec<f32> = gm.iter().map(|&i| with.data[i] / plain.data[i]).collect();
    let r = correlation(&ratio, &x);
    assert!(r > 0.7, "the brain follows the real ramp: r = {r}");
    // Outside the brain (the synthetic shell), far from it, nothing changed.
    let shell = (0..seg.data.len())
        .filter(|&i| seg.data[i] == 0.0 && plain.data[i] > 0.05)
        .filter(|&i| (with.data[i] - plain.data[i]).abs() < 1e-4)
        .count();
    assert!(shell > 50, "{shell} unchanged shell voxels");

    // A real image on another grid is an error that says so, not a panic.
    let small = Volume::new(
        [N, N, N / 2],
        [2.0; 3],
        affine(2.0),
        vec![1.0; N * N * N / 2],
    )
    .unwrap();
    let spath = dir.join("small.nii.gz");
    save(&spath, &small);
    let out = run("bad", Some(&spath));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("does not fit") && !err.contains("panicked"),
        "{err}"
    );
}
