//! Classification metrics.

/// Area under the ROC curve of `scores` for binary `positives`, by the Mann-Whitney U
/// statistic with ties counted as half. `None` unless both classes are present.
pub fn auroc(scores: &[f64], positives: &[bool]) -> Option<f64> {
    assert_eq!(scores.len(), positives.len());
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Average ranks (1-based) over runs of tied scores.
    let mut ranks = vec![0f64; scores.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        i = j + 1;
    }
    let n_pos = positives.iter().filter(|&&p| p).count() as f64;
    let n_neg = positives.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return None;
    }
    let rank_sum: f64 = ranks
        .iter()
        .zip(positives)
        .filter(|(_, &p)| p)
        .map(|(r, _)| r)
        .sum();
    Some((rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg))
}

/// Mean per-class recall over the classes present in `truth`.
pub fn balanced_accuracy(predicted: &[usize], truth: &[usize]) -> Option<f64> {
    assert_eq!(predicted.len(), truth.len());
    let classes = truth.iter().chain(predicted).max().map_or(0, |m| m + 1);
    let mut hits = vec![0u64; classes];
    let mut totals = vec![0u64; classes];
    for (&p, &t) in predicted.iter().zip(truth) {
        totals[t] += 1;
        hits[t] += (p == t) as u64;
    }
    let recalls: Vec<f64> = totals
        .iter()
        .zip(&hits)
        .filter(|(&n, _)| n > 0)
        .map(|(&n, &h)| h as f64 / n as f64)
        .collect();
    (!recalls.is_empty()).then(|| recalls.iter().sum::<f64>() / recalls.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auroc_counts_ordered_pairs_and_half_ties() {
        // Positives 0.8, 0.4; negatives 0.5, 0.1: pairs (pos > neg) = 3 of 4.
        let s = [0.8, 0.5, 0.4, 0.1];
        let y = [true, false, true, false];
        assert_eq!(auroc(&s, &y), Some(0.75));
        assert_eq!(auroc(&[0.3, 0.3], &[true, false]), Some(0.5));
        assert_eq!(auroc(&[0.9, 0.1], &[true, false]), Some(1.0));
        assert_eq!(auroc(&[0.9, 0.1], &[true, true]), None);
    }

    #[test]
    fn balanced_accuracy_averages_recalls() {
        // Class 0: 3 of 4 right; class 1: 1 of 2 right -> (0.75 + 0.5) / 2.
        let truth = [0, 0, 0, 0, 1, 1];
        let pred = [0, 0, 0, 1, 1, 0];
        assert_eq!(balanced_accuracy(&pred, &truth), Some(0.625));
    }
}
