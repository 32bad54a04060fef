//! Regression metrics.

pub fn mae(predicted: &[f64], truth: &[f64]) -> Option<f64> {
    assert_eq!(predicted.len(), truth.len());
    (!truth.is_empty()).then(|| {
        predicted
            .iter()
            .zip(truth)
            .map(|(p, t)| (p - t).abs())
            .sum::<f64>()
            / truth.len() as f64
    })
}

/// Pearson correlation; `None` for fewer than two points or a constant series.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    assert_eq!(x.len(), y.len());
    let n = x.len() as f64;
    if x.len() < 2 {
        return None;
    }
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_values() {
        assert_eq!(mae(&[1.0, 2.0, 6.0], &[2.0, 2.0, 3.0]), Some(4.0 / 3.0));
        assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]).unwrap() - 1.0).abs() < 1e-12);
        assert!((pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]).unwrap() + 1.0).abs() < 1e-12);
        // x = 1,2,3,4; y = 1,3,2,4: sxy = 4, sxx = syy = 5 -> 0.8.
        assert!(
            (pearson(&[1.0, 2.0, 3.0, 4.0], &[1.0, 3.0, 2.0, 4.0]).unwrap() - 0.8).abs() < 1e-12
        );
        assert_eq!(pearson(&[1.0, 1.0], &[1.0, 2.0]), None);
    }
}
