//! Volume overlap.

/// Voxel counts of one label in a prediction and a reference.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LabelCounts {
    pub predicted: u64,
    pub reference: u64,
    pub both: u64,
}

impl LabelCounts {
    pub fn of(pred: &[u16], reference: &[u16], label: u16) -> Self {
        let mut c = LabelCounts::default();
        for (&p, &r) in pred.iter().zip(reference) {
            let (ip, ir) = (p == label, r == label);
            c.predicted += ip as u64;
            c.reference += ir as u64;
            c.both += (ip && ir) as u64;
        }
        c
    }

    /// Dice = 2|P ∩ R| / (|P| + |R|); `None` when the label is in neither (nnU-Net
    /// reports such cases as NaN and leaves them out of means).
    pub fn dice(&self) -> Option<f64> {
        let total = self.predicted + self.reference;
        (total > 0).then(|| 2.0 * self.both as f64 / total as f64)
    }
}

/// Dice of `label` between a prediction and a reference on the same grid.
pub fn dice(pred: &[u16], reference: &[u16], label: u16) -> Option<f64> {
    assert_eq!(
        pred.len(),
        reference.len(),
        "dice needs two label maps on one grid"
    );
    LabelCounts::of(pred, reference, label).dice()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dice_of_a_hand_built_overlap() {
        // P = {0,1,2,3}, R = {2,3,4,5,6,7}: |P∩R| = 2 -> 2*2/(4+6) = 0.4.
        let p = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0];
        let r = [0, 0, 1, 1, 1, 1, 1, 1, 0, 0];
        assert_eq!(dice(&p, &r, 1), Some(0.4));
        // Background: P0 = {4..9} (6), R0 = {0,1,8,9} (4), both = {8,9}: 4/10.
        assert_eq!(dice(&p, &r, 0), Some(0.4));
        assert_eq!(dice(&p, &r, 7), None);
        assert_eq!(dice(&p, &p, 1), Some(1.0));
    }
}
