//! Writing and reading back: volumes and label maps keep their grid, and the writer picks
//! NIfTI-2 where NIfTI-1 cannot hold the geometry or the dims.

use super::*;
use crate::volume::affine::IDENTITY;
use crate::volume::{Grid, LabelMap, Volume};

fn ras_volume(dims: [usize; 3], affine: [[f64; 4]; 4], spacing: [f64; 3]) -> Volume {
    let n = dims[0] * dims[1] * dims[2];
    let data = (0..n).map(|i| (i as f32) * 0.37 - 5.0).collect();
    Grid::new(dims, spacing, affine, data).unwrap()
}

#[test]
fn volume_round_trip_without_header_is_exact() {
    // 1.3 is not an f32: the writer must pick NIfTI-2 to keep the affine exact
    let affine = [
        [0.0, 0.0, -2.0, 90.1],
        [-1.0, 0.0, 0.0, 126.3],
        [0.0, 1.3, 0.0, -72.7],
        [0.0, 0.0, 0.0, 1.0],
    ];
    let v = ras_volume([5, 6, 7], affine, [1.0, 1.3, 2.0]);
    let bytes = write_volume(None, &v).unwrap();
    let back = read(&bytes).unwrap();
    assert_eq!(back.header.version, 2);
    assert_eq!(back.volume, v);
    assert_eq!(back.header.sform_code, 2);
    assert_eq!(back.header.qform_code, 2);
    // the qform alone gives the same grid
    let mut q = back.header.clone();
    q.sform_code = 0;
    let (qa, _) = header_geometry(&q).unwrap();
    for r in 0..3 {
        for c in 0..4 {
            assert!((qa[r][c] - affine[r][c]).abs() < 1e-9, "{qa:?}");
        }
    }
    // f32-representable geometry stays NIfTI-1
    let v1 = ras_volume([4, 4, 4], IDENTITY, [1.0; 3]);
    let back = read(&write_volume(None, &v1).unwrap()).unwrap();
    assert_eq!(back.header.version, 1);
    assert_eq!(back.volume, v1);
}

#[test]
fn labels_round_trip_on_the_input_grid() {
    let (h, f) = ok_file();
    let img = read(&f).unwrap();
    for max in [200u16, 3000] {
        let data: Vec<u16> = (0..24).map(|i| (i * 13 % 7) as u16 * (max / 6)).collect();
        let labels: LabelMap = img.volume.with_data(data.clone()).unwrap();
        let bytes = write_labels(&img.header, &labels).unwrap();
        assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
        let back = read(&bytes).unwrap();
        assert_eq!(back.volume.dims, img.volume.dims);
        assert_eq!(back.volume.affine, img.volume.affine);
        assert_eq!(back.volume.spacing, img.volume.spacing);
        let got: Vec<u16> = back.volume.data.iter().map(|&v| v as u16).collect();
        assert_eq!(got, data);
        let bh = &back.header;
        assert_eq!(bh.datatype, if max < 256 { 2 } else { 512 });
        assert_eq!(bh.intent_code, NIFTI_INTENT_LABEL);
        assert_eq!((bh.scl_slope, bh.scl_inter), (1.0, 0.0));
        assert_eq!(bh.vox_offset, 352.0);
        assert_eq!(bh.cal_max, *data.iter().max().unwrap() as f64);
        assert_eq!(bh.descrip, "brainfm segmentation");
        assert_eq!(
            (bh.srow_x, bh.srow_y, bh.srow_z),
            (h.srow_x, h.srow_y, h.srow_z)
        );
        assert_eq!(
            (bh.qform_code, bh.sform_code, bh.xyzt_units),
            (h.qform_code, h.sform_code, h.xyzt_units)
        );
        assert_eq!(bh.pixdim[..4], h.pixdim[..4]);
    }
    // wrong grid
    let wrong: LabelMap = Grid::new([2, 3, 5], [1.0; 3], IDENTITY, vec![0u16; 30]).unwrap();
    assert!(matches!(
        write_labels(&img.header, &wrong),
        Err(VolumeError::DimsMismatch { .. })
    ));
}

#[test]
fn volume_written_on_a_given_header_keeps_its_grid() {
    let (h, f) = ok_file();
    let img = read(&f).unwrap();
    let mut v = img.volume.clone();
    v.data.iter_mut().for_each(|x| *x = *x * 0.5 - 1.0);
    let back = read(&write_volume(Some(&h), &v).unwrap()).unwrap();
    assert_eq!(back.volume, v);
    assert_eq!(back.header.datatype, 16);
    let wrong: Volume = Grid::new([4, 3, 2], [1.0; 3], IDENTITY, vec![0f32; 24]).unwrap();
    assert!(matches!(
        write_volume(Some(&h), &wrong),
        Err(VolumeError::DimsMismatch { .. })
    ));
}

#[test]
fn big_dims_are_written_as_nifti2() {
    let v: LabelMap = Grid::new([40000, 1, 1], [1.0; 3], IDENTITY, vec![1u16; 40000]).unwrap();
    let h = header_from_grid(&v);
    let back = read(&write_labels(&h, &v).unwrap()).unwrap();
    assert_eq!(back.header.version, 2);
    assert_eq!(back.header.vox_offset, 544.0);
    assert_eq!(back.volume.dims, [40000, 1, 1]);
}
