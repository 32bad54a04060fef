//! Where the windows go and how much each voxel of a window counts.

/// Start offsets along one axis of length `len` for windows of `patch` voxels overlapping
/// by `overlap` (0..1): evenly spread so the first starts at 0 and the last ends at `len`
/// (nnU-Net's scheme). `len` must be at least `patch`.
pub fn window_starts(len: usize, patch: usize, overlap: f64) -> Vec<usize> {
    debug_assert!(len >= patch && patch > 0);
    if len <= patch {
        return vec![0];
    }
    let step = ((patch as f64) * (1.0 - overlap)).max(1.0);
    let steps = ((len - patch) as f64 / step).ceil() as usize + 1;
    let actual = (len - patch) as f64 / (steps - 1) as f64;
    (0..steps)
        .map(|i| (i as f64 * actual).round() as usize)
        .collect()
}

/// Gaussian importance map over a patch, x fastest, sigma = 1/8 of the patch edge, peak 1:
/// centre voxels of a window are trusted more than its borders. The minimum is kept
/// above zero so every voxel gets some weight.
pub fn gaussian_importance(patch: [usize; 3]) -> Vec<f32> {
    // patch is [z, y, x] (tensor order); build separable 1D profiles.
    let profile = |n: usize| -> Vec<f64> {
        let sigma = n as f64 / 8.0;
        let centre = (n as f64 - 1.0) / 2.0;
        (0..n)
            .map(|i| {
                let d = i as f64 - centre;
                (-d * d / (2.0 * sigma * sigma)).exp()
            })
            .collect()
    };
    let (pz, py, px) = (profile(patch[0]), profile(patch[1]), profile(patch[2]));
    let mut map = Vec::with_capacity(patch.iter().product());
    for z in &pz {
        for y in &py {
            for x in &px {
                map.push((z * y * x) as f32);
            }
        }
    }
    let floor = map
        .iter()
        .cloned()
        .filter(|v| *v > 0.0)
        .fold(f32::INFINITY, f32::min);
    for v in &mut map {
        *v = v.max(floor).max(1e-6);
    }
    map
}
