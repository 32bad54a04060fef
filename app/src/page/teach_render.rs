//! Pictures of the teaching views: a network-grid slice as grey levels (one window shared
//! by the pictures that must be compared), masked voxels tinted, errors as a heat map.
//! Pure, so it is unit-tested natively.

use super::render::Rgba;

/// Tint of hidden voxels in "what the model sees": blue, so no grey level is mistaken for it.
pub const HIDDEN: [u8; 3] = [40, 70, 160];

/// Grey-level window (1st and 99th percentile of the finite values), never empty.
pub fn window(data: &[f32]) -> (f32, f32) {
    let mut v: Vec<f32> = data.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return (0.0, 1.0);
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    let (lo, hi) = (at(0.01), at(0.99));
    if hi > lo {
        (lo, hi)
    } else {
        (lo, lo + 1.0)
    }
}

/// `data` (`width` x `height`, row-major) scaled up `scale` times by nearest neighbour;
/// `colour` maps a value to RGB.
fn paint(
    width: usize,
    height: usize,
    scale: usize,
    data: &[f32],
    colour: impl Fn(usize) -> [u8; 3],
) -> Rgba {
    let s = scale.max(1);
    let (w, h) = (width * s, height * s);
    let mut pixels = vec![0u8; w * h * 4];
    for y in 0..h {
        for x in 0..w {
            let i = (y / s) * width + x / s;
            let [r, g, b] = if i < data.len() { colour(i) } else { [0; 3] };
            let o = (y * w + x) * 4;
            pixels[o..o + 4].copy_from_slice(&[r, g, b, 255]);
        }
    }
    Rgba {
        width: w as u32,
        height: h as u32,
        pixels,
    }
}

fn grey_level(v: f32, lo: f32, hi: f32) -> u8 {
    if !v.is_finite() {
        return 0;
    }
    ((v - lo) / (hi - lo) * 255.0).clamp(0.0, 255.0).round() as u8
}

/// Grey levels in the window `lo..hi`; where `hidden[i]` is 1 the tint is shown instead.
pub fn grey(
    width: usize,
    height: usize,
    scale: usize,
    data: &[f32],
    (lo, hi): (f32, f32),
    hidden: Option<&[f32]>,
) -> Rgba {
    paint(width, height, scale, data, |i| {
        if hidden.is_some_and(|m| m.get(i).copied().unwrap_or(0.0) > 0.5) {
            return HIDDEN;
        }
        let g = grey_level(data[i], lo, hi);
        [g, g, g]
    })
}

/// Black (no error) through red to yellow at `top` and above.
pub fn heat(width: usize, height: usize, scale: usize, data: &[f32], top: f32) -> Rgba {
    let top = if top > 0.0 && top.is_finite() {
        top
    } else {
        1.0
    };
    paint(width, height, scale, data, |i| {
        let t = if data[i].is_finite() {
            (data[i] / top).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let r = (t * 2.0).min(1.0);
        let g = (t * 2.0 - 1.0).max(0.0);
        [(r * 255.0).round() as u8, (g * 255.0).round() as u8, 0]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_ignores_outliers_and_nan() {
        let mut d: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        d.push(f32::NAN);
        d.push(1e9);
        let (lo, hi) = window(&d);
        assert!(lo < 20.0 && hi > 980.0 && hi < 1e6, "{lo} {hi}");
        assert_eq!(window(&[3.0, 3.0]), (3.0, 4.0));
        assert_eq!(window(&[]), (0.0, 1.0));
    }

    #[test]
    fn grey_scales_up_and_tints_hidden_voxels() {
        let img = grey(2, 1, 3, &[0.0, 10.0], (0.0, 10.0), Some(&[0.0, 1.0]));
        assert_eq!((img.width, img.height), (6, 3));
        assert_eq!(&img.pixels[0..4], &[0, 0, 0, 255]);
        let right = (3 * 4) as usize;
        assert_eq!(&img.pixels[right..right + 3], &HIDDEN);
        let plain = grey(2, 1, 1, &[0.0, 10.0], (0.0, 10.0), None);
        assert_eq!(&plain.pixels[4..8], &[255, 255, 255, 255]);
    }

    #[test]
    fn heat_is_black_at_zero_and_bright_at_the_top() {
        let img = heat(3, 1, 1, &[0.0, 0.5, 2.0], 1.0);
        assert_eq!(&img.pixels[0..3], &[0, 0, 0]);
        assert_eq!(&img.pixels[4..7], &[255, 0, 0]);
        assert_eq!(&img.pixels[8..11], &[255, 255, 0]);
    }
}
