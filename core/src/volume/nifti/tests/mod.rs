//! NIfTI decode/encode tests: shared builders of headers and files here; reading valid
//! files, writing and reading back, and one test per kind of hostile input in the files
//! below.

mod decode;
mod hostile;
mod roundtrip;

use std::io::Write;

use super::header::{encode_header, NiftiHeader};
use super::*;
use crate::volume::VolumeError;

fn header(dims: [i64; 3], datatype: i32, bitpix: i32) -> NiftiHeader {
    NiftiHeader {
        dim: [3, dims[0], dims[1], dims[2], 1, 1, 1, 1],
        datatype,
        bitpix,
        pixdim: [1.0, 1.5, 2.0, 2.5, 0.0, 0.0, 0.0, 0.0],
        sform_code: 1,
        srow_x: [0.0, 0.0, -2.5, 10.0],
        srow_y: [-1.5, 0.0, 0.0, 20.0],
        srow_z: [0.0, 2.0, 0.0, -30.0],
        ..Default::default()
    }
}

fn file(h: &NiftiHeader, data: &[u8]) -> Vec<u8> {
    let mut b = encode_header(h);
    b.extend_from_slice(data);
    b
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn read(bytes: &[u8]) -> Result<NiftiImage, VolumeError> {
    read_nifti(bytes, &ReadOptions::default())
}

fn ok_file() -> (NiftiHeader, Vec<u8>) {
    let h = header([2, 3, 4], 2, 8);
    let data: Vec<u8> = (0..24).collect();
    let f = file(&h, &data);
    (h, f)
}
