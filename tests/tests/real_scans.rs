//! The volume pipeline on real scans shipped by Debian (Colin27 and its AAL atlas).

use brainfm_core::metrics::dice;
use brainfm_core::volume::{
    preprocess, read_nifti, write_volume, PreprocessConfig, ReadOptions, Volume, VolumeError,
};
use brainfm_tests::{as_labels, shipped, AAL, CH2, CH2_BET};

/// Colin27 re-stored as P-I-L (axes permuted and flipped, no resampling).
fn pil_copy(v: &Volume) -> Volume {
    let [nx, ny, nz] = v.dims;
    let dims = [ny, nz, nx];
    let mut data = Vec::with_capacity(v.data.len());
    for l in 0..nx {
        for i in 0..nz {
            for p in 0..ny {
                data.push(v.data[(nx - 1 - l) + nx * ((ny - 1 - p) + ny * (nz - 1 - i))]);
            }
        }
    }
    let a = v.affine;
    let mut affine = [[0.0; 4]; 4];
    for r in 0..3 {
        affine[r][0] = -a[r][1];
        affine[r][1] = -a[r][2];
        affine[r][2] = -a[r][0];
        affine[r][3] = a[r][3]
            + a[r][0] * (nx - 1) as f64
            + a[r][1] * (ny - 1) as f64
            + a[r][2] * (nz - 1) as f64;
    }
    affine[3][3] = 1.0;
    Volume::new(
        dims,
        [v.spacing[1], v.spacing[2], v.spacing[0]],
        affine,
        data,
    )
    .unwrap()
}

#[test]
fn the_network_input_does_not_depend_on_the_file_orientation() {
    let Some(ch2) = shipped(CH2) else { return };
    let pil = pil_copy(&ch2.volume);
    // Through the NIfTI writer and reader, as a user's file would arrive.
    let reread = read_nifti(&write_volume(None, &pil).unwrap(), &ReadOptions::default()).unwrap();
    assert_eq!(
        brainfm_core::volume::orientation_code(&reread.volume.affine),
        ['P', 'I', 'L']
    );
    let config = PreprocessConfig::default();
    let a = preprocess(&ch2.volume, &config).unwrap();
    let b = preprocess(&reread.volume, &config).unwrap();
    assert_eq!(a.volume.dims, b.volume.dims);
    assert_eq!(
        a.volume.data, b.volume.data,
        "same voxels, same network input"
    );
    for r in 0..4 {
        for c in 0..4 {
            assert!((a.volume.affine[r][c] - b.volume.affine[r][c]).abs() < 1e-6);
        }
    }
}

#[test]
fn atlas_labels_round_trip_exactly_at_native_spacing() {
    let (Some(ch2), Some(aal)) = (shipped(CH2), shipped(AAL)) else {
        return;
    };
    let labels = as_labels(&aal);
    let pre = preprocess(&ch2.volume, &PreprocessConfig::default()).unwrap();
    let processed = pre.transform.labels_from_input(&labels).unwrap();
    assert_eq!(processed.len(), pre.volume.data.len());
    let back = pre.transform.labels_to_input(&processed).unwrap();
    assert_eq!(back.dims, labels.dims);
    assert_eq!(
        back.data, labels.data,
        "1 mm in, 1 mm network grid: labels must come back exactly"
    );
}

#[test]
fn the_brain_mask_survives_resampling_to_1_5_mm_and_back() {
    let (Some(ch2), Some(bet)) = (shipped(CH2), shipped(CH2_BET)) else {
        return;
    };
    let mask: Vec<u16> = bet.volume.data.iter().map(|&v| (v > 0.0) as u16).collect();
    let labels = brainfm_core::volume::LabelMap::new(
        bet.volume.dims,
        bet.volume.spacing,
        bet.volume.affine,
        mask,
    )
    .unwrap();
    let config = PreprocessConfig {
        target_spacing: [1.5; 3],
        ..PreprocessConfig::default()
    };
    let pre = preprocess(&ch2.volume, &config).unwrap();
    assert!(
        pre.volume
            .dims
            .iter()
            .zip(ch2.volume.dims)
            .all(|(p, i)| *p < i),
        "1.5 mm grid is smaller"
    );
    // One-hot probabilities through the same inverse the network output takes.
    let processed = pre.transform.labels_from_input(&labels).unwrap();
    let n = processed.len();
    let mut probs = vec![0f32; 2 * n];
    for (v, &l) in processed.iter().enumerate() {
        probs[l as usize * n + v] = 1.0;
    }
    let back = pre.transform.probabilities_to_input(&probs, 2).unwrap();
    let d = dice(&back.data, &labels.data, 1).expect("the brain mask is not empty");
    eprintln!("brain mask Dice after 1 mm -> 1.5 mm -> 1 mm: {d:.4}");
    assert!(d >= 0.98, "brain mask Dice {d}");
}

#[test]
fn damaged_real_files_are_errors_not_panics() {
    let Some(_) = shipped(CH2) else { return };
    let bytes = std::fs::read(CH2).unwrap();
    // Cut inside the gzip stream: the data is truncated.
    let cut = &bytes[..bytes.len() / 2];
    assert!(read_nifti(cut, &ReadOptions::default()).is_err());
    // Flip bytes inside the deflate stream: corrupt gzip.
    let mut corrupt = bytes.clone();
    for b in &mut corrupt[200..260] {
        *b ^= 0x5a;
    }
    assert!(read_nifti(&corrupt, &ReadOptions::default()).is_err());
    // A cap below Colin27's 7.1 M voxels refuses it before allocating.
    let small_cap = ReadOptions {
        max_voxels: 1_000_000,
        ..ReadOptions::default()
    };
    assert!(matches!(
        read_nifti(&bytes, &small_cap),
        Err(VolumeError::TooManyVoxels { .. })
    ));
}
