//! End-to-end tests of the `brainfm` binary on real files.

mod common;

use common::{failure, ok, s, scratch};

use std::path::{Path, PathBuf};

use brainfm_core::metrics::dice;
use brainfm_core::volume::{read_nifti, write_volume, ReadOptions, Volume};

const CH2: &str = "/usr/share/mricron/templates/ch2.nii.gz";
const CH2BET: &str = "/usr/share/mricron/templates/ch2bet.nii.gz";
/// The default model's Colin27 Dice (docs/MODEL_CARD.md) of the brain mask, CSF, GM and
/// WM: 0.920, 0.362, 0.808, 0.889 with skull; 0.950, 0.620, 0.774, 0.882 brain-extracted
/// (ch2bet). Floors a little below, so a worse model (or a broken pipeline) fails, on
/// either kind of input users give; the model before stage 10 (stage 8's) fails both.
const WITH_SKULL_FLOORS: [f64; 4] = [0.90, 0.32, 0.78, 0.86];
const STRIPPED_FLOORS: [f64; 4] = [0.93, 0.58, 0.75, 0.86];

fn predict_quietly(model: &str, input: &str, output: &str) {
    ok(&[
        "predict", "--quiet", "--model", model, "--input", input, "--output", output,
    ]);
}

fn total_parameters(preset: &str) -> u64 {
    let json: serde_json::Value = serde_json::from_str(&ok(&["info", preset, "--json"])).unwrap();
    json["total_parameters"].as_u64().unwrap()
}

#[test]
fn info_reports_the_published_sizes() {
    let base = total_parameters("base");
    assert!((17_000_000..=21_000_000).contains(&base), "base: {base}");
    let resenc = total_parameters("resenc-l");
    assert!(
        (90_000_000..=110_000_000).contains(&resenc),
        "resenc-l: {resenc}"
    );
    let text = ok(&["info", "base"]);
    assert!(text.contains("GFLOP per patch"), "{text}");
}

fn read(path: &Path) -> brainfm_core::volume::NiftiImage {
    read_nifti(&std::fs::read(path).unwrap(), &ReadOptions::default()).unwrap()
}

fn tiny_bundle(dir: &Path) -> PathBuf {
    let model = dir.join("tiny.bfm");
    // 2 mm keeps the CPU test quick; the grid logic is the same at any spacing.
    ok(&[
        "init",
        "--preset",
        "tiny",
        "--classes",
        "background,csf,gm,wm",
        "--spacing",
        "2",
        "--patch",
        "48",
        "--output",
        model.to_str().unwrap(),
    ]);
    model
}

fn assert_same_grid(input: &Path, output: &Path) {
    let a = read(input);
    let b = read(output);
    assert_eq!(a.volume.dims, b.volume.dims);
    assert_eq!(a.volume.affine, b.volume.affine);
    assert_eq!(
        (a.header.qform_code, a.header.sform_code),
        (b.header.qform_code, b.header.sform_code)
    );
    assert_eq!(a.header.pixdim[1..4], b.header.pixdim[1..4]);
    let max = b.volume.data.iter().cloned().fold(0f32, f32::max);
    assert!(max < 4.0, "labels must be class indices, found {max}");
}

#[test]
fn predict_writes_labels_on_the_input_grid_of_colin27() {
    if !Path::new(CH2).exists() {
        eprintln!("skipped: {CH2} missing (apt-get install mricron-data)");
        return;
    }
    let dir = scratch("ch2");
    let model = tiny_bundle(&dir);
    let seg = dir.join("seg.nii.gz");
    let csv = dir.join("volumes.csv");
    let stdout = ok(&[
        "predict",
        "--quiet",
        "--model",
        model.to_str().unwrap(),
        "--input",
        CH2,
        "--output",
        seg.to_str().unwrap(),
        "--volumes-csv",
        csv.to_str().unwrap(),
    ]);
    assert!(stdout.contains("wrote"), "{stdout}");
    assert_same_grid(Path::new(CH2), &seg);
    let csv = std::fs::read_to_string(csv).unwrap();
    assert!(
        csv.starts_with("label,name,volume_ml\n0,background,"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 5);
}

#[test]
fn predict_handles_a_non_ras_anisotropic_scan() {
    if !Path::new(CH2).exists() {
        eprintln!("skipped: {CH2} missing (apt-get install mricron-data)");
        return;
    }
    let dir = scratch("lpi");
    // Colin27 re-stored as L-S-P with 1 x 2 x 1.5 mm voxels: permute axes, flip, and keep
    // every 2nd / 3rd-of-2 slice so the grid is genuinely anisotropic and non-RAS.
    let ch2 = read(Path::new(CH2)).volume;
    let [nx, ny, nz] = ch2.dims;
    let (step_s, step_p) = (2usize, 1usize); // along the new 2nd and 3rd axes
    let out_dims = [nx, nz.div_ceil(step_s), ny.div_ceil(step_p)];
    let mut data = Vec::with_capacity(out_dims.iter().product());
    for p in 0..out_dims[2] {
        for s in 0..out_dims[1] {
            for l in 0..out_dims[0] {
                // new axis 0 runs R->L, axis 1 along S (every 2nd slice), axis 2 runs A->P.
                let i = nx - 1 - l;
                let k = s * step_s;
                let j = ny - 1 - p * step_p;
                data.push(ch2.data[i + nx * (j + ny * k)]);
            }
        }
    }
    // World of new voxel (l, s, p) = world of old (nx-1-l, ny-1-p, 2s).
    let a = ch2.affine;
    let col = |c: usize| [a[0][c], a[1][c], a[2][c]];
    let (ci, cj, ck) = (col(0), col(1), col(2));
    let mut affine = [[0.0; 4]; 4];
    for r in 0..3 {
        affine[r][0] = -ci[r];
        affine[r][1] = ck[r] * step_s as f64;
        affine[r][2] = -cj[r] * step_p as f64;
        affine[r][3] = a[r][3] + ci[r] * (nx - 1) as f64 + cj[r] * (ny - 1) as f64;
    }
    affine[3][3] = 1.0;
    let spacing = [
        ch2.spacing[0],
        ch2.spacing[2] * step_s as f64,
        ch2.spacing[1] * step_p as f64,
    ];
    let volume = Volume::new(out_dims, spacing, affine, data).unwrap();
    let input = dir.join("lsp.nii.gz");
    std::fs::write(&input, write_volume(None, &volume).unwrap()).unwrap();
    let reread = read(&input);
    assert_eq!(
        brainfm_core::volume::orientation_code(&reread.volume.affine),
        ['L', 'S', 'P']
    );

    let model = tiny_bundle(&dir);
    let seg = dir.join("seg.nii.gz");
    predict_quietly(
        model.to_str().unwrap(),
        input.to_str().unwrap(),
        seg.to_str().unwrap(),
    );
    assert_same_grid(&input, &seg);
}

#[test]
fn bad_inputs_are_clear_errors_naming_the_file() {
    let dir = scratch("errors");
    let model = tiny_bundle(&dir);
    let not_nifti = dir.join("notes.nii.gz");
    std::fs::write(&not_nifti, b"this is not a scan").unwrap();
    let err = failure(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--input",
        not_nifti.to_str().unwrap(),
        "--output",
        dir.join("x.nii.gz").to_str().unwrap(),
    ]);
    assert!(err.contains("notes.nii.gz"), "{err}");

    let mut corrupt = std::fs::read(&model).unwrap();
    let n = corrupt.len();
    corrupt[n - 10] ^= 0xff;
    let bad_model = dir.join("corrupt.bfm");
    std::fs::write(&bad_model, corrupt).unwrap();
    let err = failure(&[
        "predict",
        "--model",
        bad_model.to_str().unwrap(),
        "--input",
        not_nifti.to_str().unwrap(),
        "--output",
        dir.join("x.nii.gz").to_str().unwrap(),
    ]);
    assert!(
        err.contains("corrupt.bfm") && err.contains("checksum"),
        "{err}"
    );

    let err = failure(&[
        "predict",
        "--model",
        dir.join("missing.bfm").to_str().unwrap(),
        "--input",
        CH2,
        "--output",
        dir.join("x.nii.gz").to_str().unwrap(),
    ]);
    assert!(err.contains("missing.bfm"), "{err}");

    let err = failure(&["info", "enormous"]);
    assert!(err.contains("unknown preset"), "{err}");
    assert!(
        !dir.join("x.nii.gz").exists(),
        "no output is written on failure"
    );
}

#[test]
fn an_exported_half_precision_bundle_predicts_the_same_labels() {
    let dir = scratch("export");
    let model = tiny_bundle(&dir);
    let web = dir.join("web.bfm");
    let out = ok(&[
        "export",
        "--model",
        model.to_str().unwrap(),
        "--to",
        "web",
        "--half",
        "--output",
        web.to_str().unwrap(),
    ]);
    assert!(out.contains("gzipped"), "{out}");
    let full_size = std::fs::metadata(&model).unwrap().len() as f64;
    let web_size = std::fs::metadata(&web).unwrap().len() as f64;
    assert!(web_size < 0.6 * full_size, "{web_size} vs {full_size}");
    // A 40^3 phantom with a bright ball, 1 mm, RAS.
    let n = 40;
    let data: Vec<f32> = (0..n * n * n)
        .map(|i| {
            let (x, y, z) = (
                (i % n) as f64 - 20.0,
                ((i / n) % n) as f64 - 20.0,
                (i / (n * n)) as f64 - 20.0,
            );
            if (x * x + y * y + z * z).sqrt() < 12.0 {
                200.0
            } else {
                50.0 + (i % 7) as f32
            }
        })
        .collect();
    let eye = [
        [1.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
        [0.0, 0.0, 0.0, 1.0],
    ];
    let input = dir.join("ball.nii.gz");
    std::fs::write(
        &input,
        write_volume(None, &Volume::new([n; 3], [1.0; 3], eye, data).unwrap()).unwrap(),
    )
    .unwrap();
    let (a, b) = (dir.join("a.nii.gz"), dir.join("b.nii.gz"));
    predict_quietly(
        model.to_str().unwrap(),
        input.to_str().unwrap(),
        a.to_str().unwrap(),
    );
    predict_quietly(
        web.to_str().unwrap(),
        input.to_str().unwrap(),
        b.to_str().unwrap(),
    );
    let (la, lb) = (read(&a).volume.data, read(&b).volume.data);
    let agree = la.iter().zip(&lb).filter(|(x, y)| x == y).count() as f64 / la.len() as f64;
    assert!(
        agree >= 0.99,
        "f16 and f32 bundles agree on {agree:.4} of voxels"
    );
}

/// 6-connected pieces of the non-zero voxels of a label volume.
fn foreground_pieces(data: &[f32], dims: [usize; 3]) -> usize {
    let [nx, ny, _] = dims;
    let mut seen = vec![false; data.len()];
    let mut pieces = 0;
    for seed in 0..data.len() {
        if data[seed] == 0.0 || seen[seed] {
            continue;
        }
        pieces += 1;
        seen[seed] = true;
        let mut stack = vec![seed];
        while let Some(i) = stack.pop() {
            let (x, y, z) = (i % nx, (i / nx) % ny, i / (nx * ny));
            let near = [
                (x > 0).then(|| i - 1),
                (x + 1 < nx).then(|| i + 1),
                (y > 0).then(|| i - nx),
                (y + 1 < ny).then(|| i + nx),
                (z > 0).then(|| i - nx * ny),
                (z + 1 < dims[2]).then(|| i + nx * ny),
            ];
            for j in near.into_iter().flatten() {
                if data[j] != 0.0 && !seen[j] {
                    seen[j] = true;
                    stack.push(j);
                }
            }
        }
    }
    pieces
}

/// `export --largest-component-mm` stores the post-processing in the bundle; `info` shows
/// it, `predict` applies it (one foreground piece is left) unless told otherwise, and an
/// unusable radius is refused.
#[test]
fn exported_post_processing_keeps_one_piece_and_can_be_overridden() {
    let dir = scratch("postprocess");
    // The bundled default leaves a few specks outside Colin27's brain; an untrained network
    // labels everything one class (one piece either way).
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/default.bfm");
    let kept = dir.join("kept.bfm");
    ok(&[
        "export",
        "--model",
        s(&model),
        "--largest-component-mm",
        "0",
        "--output",
        s(&kept),
    ]);
    let info = ok(&["info", s(&kept)]);
    assert!(info.contains("keep the largest component"), "{info}");
    let (with, without) = (dir.join("with.nii.gz"), dir.join("without.nii.gz"));
    predict_quietly(s(&kept), CH2, s(&with));
    ok(&[
        "predict",
        "--quiet",
        "--model",
        s(&kept),
        "--largest-component-mm",
        "-1",
        "--input",
        CH2,
        "--output",
        s(&without),
    ]);
    let (a, b) = (read(&with).volume, read(&without).volume);
    let pieces = foreground_pieces(&b.data, b.dims);
    assert!(
        pieces > 1,
        "the default left {pieces} piece(s) without post-processing"
    );
    assert_eq!(foreground_pieces(&a.data, a.dims), 1);
    for (x, y) in a.data.iter().zip(&b.data) {
        assert!(*x == *y || *x == 0.0, "post-processing only removes labels");
    }
    let err = failure(&[
        "predict",
        "--model",
        s(&kept),
        "--largest-component-mm",
        "99",
        "--input",
        CH2,
        "--output",
        s(&dir.join("x.nii.gz")),
    ]);
    assert!(err.contains("largest-component"), "{err}");
}

/// Class indices of a label volume read as floats; `brain`: any class but 0 becomes 1.
fn class_indices(data: &[f32], brain: bool) -> Vec<u16> {
    data.iter()
        .map(|&l| if brain { (l > 0.0) as u16 } else { l as u16 })
        .collect()
}

/// The model card's Colin27 tissue reference: the 3-class k-means of ch2bet.
fn colin27_kmeans(dir: &Path) -> Volume {
    let tissue = dir.join("colin27_tissue.nii.gz");
    ok(&[
        "labels",
        "kmeans",
        "--image",
        CH2BET,
        "--output",
        tissue.to_str().unwrap(),
    ]);
    read(&tissue).volume
}

/// `predict` without `--model` runs the bundled default model (models/default.bfm,
/// docs/MODEL_CARD.md). On Colin27 (never used in training), with its skull and
/// brain-extracted, the union of its tissue classes must match the brain that ch2bet keeps,
/// and its tissue classes the 3-class k-means of ch2bet (the model card's reference).
#[test]
fn predict_without_a_model_uses_the_bundled_default() {
    let dir = scratch("default-model");
    let reference = colin27_kmeans(&dir);
    let reference_classes = class_indices(&reference.data, false);
    let reference_brain = class_indices(&reference.data, true);
    for (input, floors) in [(CH2, WITH_SKULL_FLOORS), (CH2BET, STRIPPED_FLOORS)] {
        let out = dir.join("seg.nii.gz");
        let stdout = ok(&[
            "predict",
            "--quiet",
            "--input",
            input,
            "--output",
            out.to_str().unwrap(),
        ]);
        assert!(stdout.contains("GM") && stdout.contains("WM"), "{stdout}");
        let seg = read(&out).volume;
        assert_eq!(seg.dims, reference.dims);
        assert!(seg.data.iter().all(|&l| (0.0..=3.0).contains(&l)));
        let (classes, brain) = (
            class_indices(&seg.data, false),
            class_indices(&seg.data, true),
        );
        let scores = [
            dice(&brain, &reference_brain, 1),
            dice(&classes, &reference_classes, 1),
            dice(&classes, &reference_classes, 2),
            dice(&classes, &reference_classes, 3),
        ]
        .map(|d| d.unwrap_or(0.0));
        for ((name, score), floor) in ["brain mask", "CSF", "GM", "WM"]
            .iter()
            .zip(scores)
            .zip(floors)
        {
            assert!(
                score > floor,
                "{input}: {name} Dice {score:.3} (floor {floor}; all: {scores:.3?})"
            );
        }
    }
}

/// Colin27's brain-extracted T1 with its contrast turned T2-like: intensities inside the
/// brain reversed (CSF bright, white matter dark), the background left at zero. A real
/// head's anatomy in a contrast no bundled model was trained on as such a scan.
fn t2_like_colin27(path: &Path) {
    let mut image = read(Path::new(CH2BET));
    let mut brain: Vec<f32> = image
        .volume
        .data
        .iter()
        .copied()
        .filter(|&v| v > 0.0)
        .collect();
    brain.sort_by(f32::total_cmp);
    let top = brain[(brain.len() - 1) * 995 / 1000];
    for v in &mut image.volume.data {
        if *v > 0.0 {
            *v = (top - *v).max(0.0) + 1.0;
        }
    }
    std::fs::write(
        path,
        write_volume(Some(&image.header), &image.volume).unwrap(),
    )
    .unwrap();
}

/// `--builtin multicontrast` (models/multicontrast.bfm, docs/MODEL_CARD.md) is for
/// contrasts other than T1w: on the T2-like Colin27 its grey and white matter must stay
/// above floors a little under what the model card reports (0.52, 0.40), and its white
/// matter must beat the T1w default's (0.02) clearly, which is why it ships.
#[test]
fn the_bundled_multicontrast_model_segments_a_t2_like_scan() {
    let dir = scratch("multicontrast-model");
    let input = dir.join("colin27_t2like.nii.gz");
    t2_like_colin27(&input);
    let reference = class_indices(&colin27_kmeans(&dir).data, false);
    let scores = |builtin: &str| {
        let out = dir.join(format!("{builtin}.nii.gz"));
        ok(&[
            "predict",
            "--quiet",
            "--builtin",
            builtin,
            "--input",
            input.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
        ]);
        let classes = class_indices(&read(&out).volume.data, false);
        [2, 3].map(|c| dice(&classes, &reference, c).unwrap_or(0.0))
    };
    let [gm, wm] = scores("multicontrast");
    let [_, default_wm] = scores("default");
    assert!(
        gm > 0.45 && wm > 0.33,
        "multicontrast GM {gm:.3}, WM {wm:.3}"
    );
    assert!(
        wm > default_wm + 0.2,
        "multicontrast WM {wm:.3} against the default's {default_wm:.3}"
    );
    let refused = failure(&[
        "predict",
        "--builtin",
        "multicontrast",
        "--model",
        "x.bfm",
        "--input",
        CH2,
        "--output",
        "y.nii.gz",
    ]);
    assert!(refused.contains("cannot be used with"), "{refused}");
}

/// A folder of scans, two of them hostile: the good ones are segmented, each bad one is
/// named, the command fails at the end, and a second run skips what is done.
#[test]
fn predict_on_a_folder_goes_past_bad_scans_and_resumes() {
    let dir = scratch("folder");
    let input = dir.join("scans");
    std::fs::create_dir_all(&input).unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../www/sample/colin27_t1_2mm.nii.gz");
    std::fs::copy(&sample, input.join("a.nii.gz")).unwrap();
    std::fs::copy(&sample, input.join("c.nii.gz")).unwrap();
    let bytes = std::fs::read(&sample).unwrap();
    std::fs::write(input.join("b_truncated.nii.gz"), &bytes[..bytes.len() / 3]).unwrap();
    std::fs::write(input.join("d_text.nii"), b"not a scan at all").unwrap();
    std::fs::write(input.join("notes.txt"), b"ignored").unwrap();
    let output = dir.join("out");
    let args = [
        "predict",
        "--quiet",
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ];
    let err = failure(&args);
    assert!(
        err.contains("b_truncated.nii.gz") && err.contains("d_text.nii"),
        "{err}"
    );
    assert!(err.contains("2 of 4 scans failed"), "{err}");
    for name in ["a", "c"] {
        let seg = read_nifti(
            &std::fs::read(output.join(format!("{name}_seg.nii.gz"))).unwrap(),
            &ReadOptions::default(),
        )
        .unwrap();
        assert_eq!(seg.volume.dims, [91, 109, 91]);
        let csv = std::fs::read_to_string(output.join(format!("{name}_volumes.csv"))).unwrap();
        assert!(csv.starts_with("label,name,volume_ml"), "{csv}");
    }
    assert!(!output.join("b_truncated_seg.nii.gz").exists());
    let table = std::fs::read_to_string(output.join("volumes.csv")).unwrap();
    let rows: Vec<&str> = table.lines().collect();
    assert_eq!(rows.len(), 3, "{table}");
    assert!(rows[0].starts_with("scan,background (mL),"), "{table}");
    assert!(rows[1].starts_with("a.nii.gz,") && rows[2].starts_with("c.nii.gz,"));
    assert_eq!(
        rows[1]["a".len()..],
        rows[2]["c".len()..],
        "same scan, same volumes"
    );
    // Again: the two done are skipped (their volumes measured from the label maps written),
    // the two bad ones fail again.
    let again = common::brainfm(&args);
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(!again.status.success());
    assert!(
        stdout.contains("0 segmented, 2 already done, 2 failed"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(output.join("volumes.csv")).unwrap(),
        table
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// FreeSurfer files in and out, and a BIDS dataset: `sub-02` holds the sample as .mgz, and
/// its label map (a BIDS derivative) matches `sub-01`'s from the .nii.gz voxel for voxel on
/// the same world grid; `--output x.mgz` writes the same labels as FreeSurfer's format.
#[test]
fn predict_reads_mgz_and_writes_bids_derivatives() {
    use brainfm_core::volume::{read_scan, write_mgh_volume};
    let dir = scratch("bids-mgz");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../www/sample/colin27_t1_2mm.nii.gz");
    let bids = dir.join("bids");
    let anat = |sub: &str| bids.join(format!("{sub}/anat"));
    std::fs::create_dir_all(anat("sub-01")).unwrap();
    std::fs::create_dir_all(anat("sub-02")).unwrap();
    std::fs::copy(&sample, anat("sub-01").join("sub-01_T1w.nii.gz")).unwrap();
    let image = read(&sample);
    let mgz = anat("sub-02").join("sub-02_T1w.mgz");
    std::fs::write(&mgz, write_mgh_volume(&image.volume, true).unwrap()).unwrap();
    let out = dir.join("derivatives");
    let summary = ok(&[
        "predict",
        "--quiet",
        "--input",
        bids.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(
        summary.contains("2 segmented") && summary.contains("Bids"),
        "{summary}"
    );
    let seg = |sub: &str| read(&out.join(format!("{sub}/anat/{sub}_desc-brainfm_dseg.nii.gz")));
    let (one, two) = (seg("sub-01"), seg("sub-02"));
    assert_eq!(one.volume.data, two.volume.data);
    let from_mgz = read_scan(&std::fs::read(&mgz).unwrap(), &ReadOptions::default()).unwrap();
    for r in 0..3 {
        for c in 0..4 {
            let (a, b) = (two.volume.affine[r][c], from_mgz.volume.affine[r][c]);
            assert!((a - b).abs() < 1e-4, "[{r}][{c}] {a} vs {b}");
            assert!((a - image.volume.affine[r][c]).abs() < 1e-4);
        }
    }
    let description: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("dataset_description.json")).unwrap())
            .unwrap();
    assert_eq!(description["DatasetType"], "derivative");
    let tsv = std::fs::read_to_string(out.join("dseg.tsv")).unwrap();
    assert!(tsv.starts_with("index\tname\n0\tbackground\n"), "{tsv}");
    let table = std::fs::read_to_string(out.join("volumes.csv")).unwrap();
    assert!(table.contains("\nsub-02/anat/sub-02_T1w.mgz,"), "{table}");

    // One file in, FreeSurfer's format out.
    let labels_mgz = dir.join("labels.mgz");
    ok(&[
        "predict",
        "--quiet",
        "--input",
        mgz.to_str().unwrap(),
        "--output",
        labels_mgz.to_str().unwrap(),
    ]);
    let back = read_scan(
        &std::fs::read(&labels_mgz).unwrap(),
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(back.volume.data, one.volume.data);
    let refused = failure(&[
        "predict",
        "--input",
        mgz.to_str().unwrap(),
        "--output",
        dir.join("labels.png").to_str().unwrap(),
    ]);
    assert!(refused.contains(".mgz or .mgh"), "{refused}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// DICOM in: a folder tree holding two series, and one Enhanced MR file. Each series is
/// segmented onto its own grid (the grid dcm2niix gives the same files), and the enhanced
/// file, which holds the same volume as the first series, gets the same labels.
#[test]
fn predict_segments_each_dicom_series_of_a_folder() {
    let dir = scratch("dicom");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/src/volume/dicom/fixtures");
    let study = dir.join("in/PATIENT/STUDY");
    std::fs::create_dir_all(&study).unwrap();
    for e in std::fs::read_dir(fixtures.join("series")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), study.join(e.file_name())).unwrap();
    }
    let out = dir.join("out");
    let summary = ok(&[
        "predict",
        "--quiet",
        "--input",
        dir.join("in").to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(summary.contains("2 segmented"), "{summary}");
    let first = read(&out.join("S001_oblique_t1_seg.nii.gz"));
    let dcm2niix = read(&fixtures.join("dcm2niix_series.nii.gz"));
    let ours = brainfm_core::volume::reorient_to_ras(&first.volume)
        .unwrap()
        .0;
    let theirs = brainfm_core::volume::reorient_to_ras(&dcm2niix.volume)
        .unwrap()
        .0;
    assert_eq!(ours.dims, theirs.dims);
    for r in 0..3 {
        for c in 0..4 {
            assert!(
                (ours.affine[r][c] - theirs.affine[r][c]).abs() < 1e-4,
                "[{r}][{c}]"
            );
        }
    }
    assert_eq!(
        read(&out.join("S002_sagittal_localiser_seg.nii.gz"))
            .volume
            .dims,
        [16, 14, 6]
    );
    let table = std::fs::read_to_string(out.join("volumes.csv")).unwrap();
    assert!(
        table.contains("S001_oblique_t1 (DICOM: 1 oblique t1"),
        "{table}"
    );

    let single = dir.join("enhanced_seg.nii.gz");
    ok(&[
        "predict",
        "--quiet",
        "--input",
        fixtures.join("enhanced.dcm").to_str().unwrap(),
        "--output",
        single.to_str().unwrap(),
    ]);
    let enhanced = brainfm_core::volume::reorient_to_ras(&read(&single).volume)
        .unwrap()
        .0;
    assert_eq!(enhanced.data, ours.data, "the same volume, the same labels");
    // One slice of a classic series is not a volume: the error says what to give instead.
    let one = failure(&[
        "predict",
        "--input",
        study.join("S1IM0000").to_str().unwrap(),
        "--output",
        dir.join("x.nii.gz").to_str().unwrap(),
    ]);
    assert!(
        one.contains("single slice") && one.contains("give the folder"),
        "{one}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `embed`: a row per scan from files and folders, columns named by part, the same scan
/// giving the same features wherever it comes from, different scans different ones.
#[test]
fn embed_writes_a_row_of_features_per_scan() {
    let dir = scratch("embed");
    let model = tiny_bundle(&dir);
    let folder = dir.join("scans");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(CH2BET, folder.join("copy_of_ch2bet.nii.gz")).unwrap();
    let table = dir.join("features.tsv");
    ok(&[
        "embed",
        "--quiet",
        "--model",
        s(&model),
        "--input",
        CH2,
        "--input",
        CH2BET,
        "--input",
        s(&folder),
        "--output",
        s(&table),
    ]);
    let text = std::fs::read_to_string(&table).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    // The tiny preset: z_s and z_m of 16 channels, a deepest level of 40.
    let header = &rows[0];
    assert_eq!(header.len(), 2 + 16 + 16 + 40, "{header:?}");
    assert_eq!(
        (header[0], header[1], header[2], header[18], header[34]),
        ("scan", "patches", "zs_0", "zm_0", "deep_0")
    );
    assert_eq!(rows.len(), 4, "{text}");
    assert!(rows[1][0].ends_with("ch2.nii.gz") && rows[3][0].ends_with("copy_of_ch2bet.nii.gz"));
    let values =
        |r: &Vec<&str>| -> Vec<f64> { r[2..].iter().map(|v| v.parse().unwrap()).collect() };
    assert!(rows[1..].iter().all(|r| r.len() == header.len()
        && r[1].parse::<usize>().unwrap() > 0
        && values(r).iter().all(|v| v.is_finite())));
    assert_eq!(values(&rows[2]), values(&rows[3]));
    assert_ne!(values(&rows[1]), values(&rows[2]));

    let err = failure(&[
        "embed",
        "--model",
        s(&model),
        "--input",
        s(&dir.join("absent.nii.gz")),
        "--output",
        s(&dir.join("x.tsv")),
    ]);
    assert!(err.contains("absent.nii.gz"), "{err}");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let err = failure(&[
        "embed",
        "--model",
        s(&model),
        "--input",
        s(&empty),
        "--output",
        s(&dir.join("x.tsv")),
    ]);
    assert!(err.contains("no scans"), "{err}");
    assert!(!dir.join("x.tsv").exists(), "nothing is written on failure");
}
