//! Round trips of the full pipeline on oriented, anisotropic phantoms.

use super::*;
use crate::metrics::dice;
use crate::volume::affine;
use crate::volume::orient::orientation_code;
use crate::volume::test_util::phantom;

const CODES: [&str; 3] = ["LSA", "LPI", "RAS"];
const DIMS: [usize; 3] = [60, 52, 34];
const SPACING: [f64; 3] = [1.0, 1.3, 2.0];

fn ras_spacing(v: &Volume) -> [f64; 3] {
    let r = Reorientation::to_ras(&v.affine, v.dims).unwrap();
    r.perm.map(|p| v.spacing[p])
}

#[test]
fn labels_round_trip_exactly_without_resampling() {
    for code in CODES {
        let (img, labels) = phantom(code, DIMS, SPACING);
        let cfg = PreprocessConfig {
            target_spacing: ras_spacing(&img),
            ..Default::default()
        };
        let p = preprocess(&img, &cfg).unwrap();
        let t = &p.transform;
        assert_eq!(
            orientation_code(&p.volume.affine),
            ['R', 'A', 'S'],
            "{code}"
        );
        assert!(
            p.volume.dims.iter().all(|d| d % 16 == 0),
            "{code}: {:?}",
            p.volume.dims
        );
        assert_eq!(
            t.resampled_dims,
            t.crop.dims(),
            "{code}: no resampling expected"
        );
        assert!(
            t.crop
                .dims()
                .iter()
                .zip(t.reorientation.ras_dims())
                .any(|(c, f)| c < &f),
            "{code}: crop did nothing"
        );
        let processed = t.labels_from_input(&labels).unwrap();
        assert_eq!(processed.len(), p.volume.len());
        let back = t.labels_to_input(&processed).unwrap();
        assert_eq!(back, labels, "{code}");
    }
}

#[test]
fn labels_round_trip_through_1mm_with_high_dice() {
    for code in CODES {
        let (img, labels) = phantom(code, DIMS, SPACING);
        let p = preprocess(&img, &PreprocessConfig::default()).unwrap();
        let t = &p.transform;
        assert!(
            (t.processed_spacing.iter().all(|s| (s - 1.0).abs() < 0.05)),
            "{:?}",
            t.processed_spacing
        );
        let processed = t.labels_from_input(&labels).unwrap();
        let back = t.labels_to_input(&processed).unwrap();
        assert_eq!(
            (back.dims, back.affine, back.spacing),
            (labels.dims, labels.affine, labels.spacing)
        );
        for l in 0..=4 {
            let d = dice(&back.data, &labels.data, l).expect("the phantom holds every label");
            assert!(d >= 0.99, "{code} label {l}: dice {d}");
        }
    }
}

#[test]
fn probabilities_of_one_hot_labels_map_back() {
    for code in CODES {
        let (img, labels) = phantom(code, DIMS, SPACING);
        let p = preprocess(&img, &PreprocessConfig::default()).unwrap();
        let t = &p.transform;
        let processed = t.labels_from_input(&labels).unwrap();
        let n = processed.len();
        let mut probs = vec![0f32; 5 * n];
        for (i, &l) in processed.iter().enumerate() {
            probs[l as usize * n + i] = 1.0;
        }
        let back = t.probabilities_to_input(&probs, 5).unwrap();
        assert_eq!(back.dims, labels.dims);
        for l in 0..=4 {
            let d = dice(&back.data, &labels.data, l).expect("the phantom holds every label");
            assert!(d >= 0.99, "{code} label {l}: dice {d}");
        }
        assert!(t.probabilities_to_input(&probs[1..], 5).is_err());
        assert!(t.probabilities_to_input(&probs, 4).is_err());
    }
}

#[test]
fn processed_voxels_keep_their_world_position() {
    for code in CODES {
        let (img, _) = phantom(code, DIMS, SPACING);
        let cfg = PreprocessConfig {
            target_spacing: ras_spacing(&img),
            ..Default::default()
        };
        let t = preprocess(&img, &cfg).unwrap().transform;
        let r = &t.reorientation;
        // processed voxel p is RAS voxel p - before + crop.start, which is input voxel x with
        // x[perm[a]] = flip ? n - 1 - ras[a] : ras[a]
        for p in [
            [
                t.padding.before[0],
                t.padding.before[1],
                t.padding.before[2],
            ],
            [20, 17, 25],
            [31, 5, 9],
        ] {
            let ras: [f64; 3] =
                [0, 1, 2].map(|a| (p[a] + t.crop.start[a]) as f64 - t.padding.before[a] as f64);
            let mut x = [0f64; 3];
            for a in 0..3 {
                let n = r.original_dims[r.perm[a]] as f64;
                x[r.perm[a]] = if r.flip[a] { n - 1.0 - ras[a] } else { ras[a] };
            }
            let w_in = affine::apply(&t.input_affine, x);
            let w_out = affine::apply(&t.processed_affine, p.map(|v| v as f64));
            for d in 0..3 {
                assert!(
                    (w_in[d] - w_out[d]).abs() < 1e-9,
                    "{code}: {w_in:?} vs {w_out:?}"
                );
            }
        }
    }
}

#[test]
fn normalised_foreground_has_zero_mean_unit_std() {
    let (img, _) = phantom("LPI", DIMS, SPACING);
    let cfg = PreprocessConfig {
        target_spacing: ras_spacing(&img),
        ..Default::default()
    };
    let p = preprocess(&img, &cfg).unwrap();
    let fg: Vec<f64> = p
        .volume
        .data
        .iter()
        .filter(|v| **v != 0.0)
        .map(|&v| v as f64)
        .collect();
    let mean = fg.iter().sum::<f64>() / fg.len() as f64;
    let std = (fg.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / fg.len() as f64).sqrt();
    assert!(
        mean.abs() < 1e-4 && (std - 1.0).abs() < 1e-4,
        "{mean} {std}"
    );
    // background stays exactly 0 and input NaNs are background
    let mut nan = img.clone();
    nan.data[0] = f32::NAN;
    let q = preprocess(&nan, &cfg).unwrap();
    assert!(q.volume.data.iter().all(|v| v.is_finite()));
}

#[test]
fn rejects_bad_config_and_inputs() {
    let (img, labels) = phantom("RAS", [20, 20, 20], [3.0; 3]);
    let bad = PreprocessConfig {
        target_spacing: [0.0, 1.0, 1.0],
        ..Default::default()
    };
    assert!(matches!(
        preprocess(&img, &bad),
        Err(VolumeError::InvalidConfig { .. })
    ));
    let mut short = img.clone();
    short.data.pop();
    assert!(matches!(
        preprocess(&short, &PreprocessConfig::default()),
        Err(VolumeError::DataLength { .. })
    ));
    let t = preprocess(&img, &PreprocessConfig::default())
        .unwrap()
        .transform;
    assert!(t.labels_to_input(&[0, 1]).is_err());
    let wrong = Grid::new([20, 20, 19], [3.0; 3], labels.affine, vec![0u16; 7600]).unwrap();
    assert!(t.labels_from_input(&wrong).is_err());
    // config survives JSON
    let cfg = PreprocessConfig::default();
    let json = serde_json::to_string(&cfg).unwrap();
    assert_eq!(
        serde_json::from_str::<PreprocessConfig>(&json).unwrap(),
        cfg
    );
    assert_eq!(serde_json::from_str::<PreprocessConfig>("{}").unwrap(), cfg);
}

#[test]
fn mricron_ch2_crop_mask_round_trips_if_installed() {
    let path = "/usr/share/mricron/templates/ch2.nii.gz";
    let Ok(bytes) = std::fs::read(path) else {
        eprintln!("skipping: {path} not found (Debian package mricron-data)");
        return;
    };
    let img = crate::volume::read_nifti(&bytes, &Default::default()).unwrap();
    let v = &img.volume;
    assert_eq!(v.dims, [181, 217, 181]);
    let p = preprocess(v, &PreprocessConfig::default()).unwrap();
    let t = &p.transform;
    assert!(t.reorientation.is_identity());
    assert_eq!(t.resampled_dims, t.crop.dims());
    // all ones inside the unpadded region: back on the input grid it is exactly the crop box
    let ones = t
        .labels_from_input(&v.with_data(vec![1u16; v.len()]).unwrap())
        .unwrap();
    assert_eq!(
        ones.iter().filter(|&&l| l == 1).count(),
        t.crop.dims().iter().product::<usize>()
    );
    let back = t.labels_to_input(&ones).unwrap();
    assert_eq!(
        (back.dims, back.affine, back.spacing),
        (v.dims, v.affine, v.spacing)
    );
    for k in 0..v.dims[2] {
        for j in 0..v.dims[1] {
            for i in 0..v.dims[0] {
                let inside =
                    (0..3).all(|a| [i, j, k][a] >= t.crop.start[a] && [i, j, k][a] < t.crop.end[a]);
                assert_eq!(back.get(i, j, k), Some(inside as u16));
            }
        }
    }
    // and the written label file opens on the same grid
    let file = crate::volume::write_labels(&img.header, &back).unwrap();
    let again = crate::volume::read_nifti(&file, &Default::default()).unwrap();
    assert_eq!((again.volume.dims, again.volume.affine), (v.dims, v.affine));
}

#[test]
fn oblique_input_round_trips_exactly_without_resampling() {
    // 20 degrees about z on top of an LPI grid: orientation is still read as L/P/I, the
    // rotation stays in the affine, and labels come back exactly.
    let (mut img, mut labels) = phantom("LPI", [40, 36, 24], [1.0, 1.3, 2.0]);
    let (s, c) = 20f64.to_radians().sin_cos();
    let rot = [
        [c, -s, 0.0, 0.0],
        [s, c, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
        [0.0, 0.0, 0.0, 1.0],
    ];
    img.affine = affine::mul(&rot, &img.affine);
    labels.affine = img.affine;
    assert_eq!(orientation_code(&img.affine), ['L', 'P', 'I']);
    let cfg = PreprocessConfig {
        target_spacing: ras_spacing(&img),
        ..Default::default()
    };
    let p = preprocess(&img, &cfg).unwrap();
    assert_eq!(orientation_code(&p.volume.affine), ['R', 'A', 'S']);
    let t = &p.transform;
    assert_eq!(
        t.labels_to_input(&t.labels_from_input(&labels).unwrap())
            .unwrap(),
        labels
    );
}
