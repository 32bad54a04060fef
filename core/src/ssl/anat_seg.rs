//! Anatomical-segmentation consistency (`swap+anat` where label maps exist): a 1x1x1 head
//! reads label logits from each scan's subject latent, and cross-entropy against the
//! subject's label map (mode-downsampled to latent resolution) makes every scan's z_s,
//! whatever its contrast, carry the same anatomy. Scans without labels add nothing.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

use super::SslError;

/// The most frequent label in every `factor`^3 cell of `labels` (`dims`, x fastest); ties
/// go to the smaller label so the result does not depend on scan order.
pub fn mode_downsample(
    labels: &[u16],
    dims: [usize; 3],
    factor: usize,
) -> Result<Vec<u16>, SslError> {
    if factor == 0 || dims.iter().any(|d| d % factor != 0) {
        return Err(SslError::BadBatch(format!(
            "label patch {dims:?} is not a multiple of the latent stride {factor}"
        )));
    }
    if labels.len() != dims.iter().product::<usize>() {
        return Err(SslError::BadBatch(format!(
            "{} labels for a {dims:?} patch",
            labels.len()
        )));
    }
    let out_dims = dims.map(|d| d / factor);
    let mut out = Vec::with_capacity(out_dims.iter().product());
    let mut cell = Vec::with_capacity(factor * factor * factor);
    for z in 0..out_dims[2] {
        for y in 0..out_dims[1] {
            for x in 0..out_dims[0] {
                cell.clear();
                for dz in 0..factor {
                    for dy in 0..factor {
                        for dx in 0..factor {
                            let (px, py, pz) = (x * factor + dx, y * factor + dy, z * factor + dz);
                            cell.push(labels[px + dims[0] * (py + dims[1] * pz)]);
                        }
                    }
                }
                cell.sort_unstable();
                let (mut best, mut best_n, mut i) = (cell[0], 0, 0);
                while i < cell.len() {
                    let j = cell[i..].iter().take_while(|&&l| l == cell[i]).count();
                    if j > best_n {
                        (best, best_n) = (cell[i], j);
                    }
                    i += j;
                }
                out.push(best);
            }
        }
    }
    Ok(out)
}

/// Mean cross-entropy of `logits` (`[n, classes, d, h, w]`) against `targets[i]` (scan
/// i's labels at the logits' resolution, x fastest) over the voxels of labelled scans;
/// zero when no scan has labels.
pub fn anatomy_segmentation(
    logits: Tensor<5>,
    targets: &[Option<Vec<u16>>],
) -> Result<Tensor<1>, SslError> {
    let [n, classes, d, h, w] = logits.dims();
    let device = logits.device();
    let voxels = d * h * w;
    if targets.len() != n {
        return Err(SslError::BadBatch(format!(
            "{} label maps for {n} scans",
            targets.len()
        )));
    }
    let (mut index, mut weight) = (Vec::with_capacity(n * voxels), vec![0f32; n * voxels]);
    for (i, t) in targets.iter().enumerate() {
        match t {
            Some(t) if t.len() != voxels => {
                return Err(SslError::BadBatch(format!(
                    "scan {i}: {} labels for {voxels} latent voxels",
                    t.len()
                )))
            }
            Some(t) => {
                if let Some(&bad) = t.iter().find(|&&l| l as usize >= classes) {
                    return Err(SslError::BadBatch(format!(
                        "scan {i}: label {bad} but the anatomy head has {classes} classes"
                    )));
                }
                index.extend(t.iter().map(|&l| l as i64));
                weight[i * voxels..(i + 1) * voxels].fill(1.0);
            }
            None => index.extend(std::iter::repeat_n(0i64, voxels)),
        }
    }
    let used: f32 = weight.iter().sum();
    if used == 0.0 {
        return Ok(Tensor::zeros([1], &device));
    }
    // burn's volumes are [d, h, w] with w fastest; the host labels are x fastest with
    // x = w, so flattening both the same way lines them up.
    let rows = logits
        .reshape([n, classes, voxels])
        .swap_dims(1, 2)
        .reshape([n * voxels, classes]);
    let picked = log_softmax(rows, 1).gather(
        1,
        Tensor::<2, Int>::from_data(TensorData::new(index, [n * voxels, 1]), &device),
    );
    let w = Tensor::<2>::from_data(TensorData::new(weight, [n * voxels, 1]), &device);
    Ok((picked * w).sum().neg().div_scalar(used as f64))
}
