//! Correcting a segmentation by hand, the pure part: which voxels a round brush covers in
//! one slice, and the strokes that change labels, with undo and redo. Each stroke keeps
//! only the voxels it changed (index, before, after), so undo is exact and cheap.

use super::render::PlaneAxes;

/// One stroke: every voxel it changed, once, with its label before and after.
#[derive(Clone, Debug, Default, PartialEq)]
struct Stroke {
    changes: Vec<(u32, u16, u16)>,
}

/// The strokes made so far (undoable), the ones undone (redoable) and the one being drawn.
#[derive(Clone, Debug, Default)]
pub struct History {
    done: Vec<Stroke>,
    undone: Vec<Stroke>,
    open: Option<Stroke>,
}

impl History {
    /// Paint `voxels` with `value`, as part of the stroke being drawn (one is started if
    /// none is). Returns whether any label changed.
    pub fn paint(
        &mut self,
        labels: &mut [u16],
        voxels: impl IntoIterator<Item = usize>,
        value: u16,
    ) -> bool {
        let stroke = self.open.get_or_insert_with(Stroke::default);
        let before = stroke.changes.len();
        for i in voxels {
            if let Some(l) = labels.get_mut(i) {
                if *l != value {
                    stroke.changes.push((i as u32, *l, value));
                    *l = value;
                }
            }
        }
        stroke.changes.len() > before
    }

    /// The stroke is finished (the button is up): it becomes undoable, and what was undone
    /// before it can no longer be redone.
    pub fn end_stroke(&mut self) {
        if let Some(stroke) = self.open.take().filter(|s| !s.changes.is_empty()) {
            self.done.push(stroke);
            self.undone.clear();
        }
    }

    pub fn undo(&mut self, labels: &mut [u16]) -> bool {
        self.end_stroke();
        let Some(stroke) = self.done.pop() else {
            return false;
        };
        for &(i, before, _) in stroke.changes.iter().rev() {
            labels[i as usize] = before;
        }
        self.undone.push(stroke);
        true
    }

    pub fn redo(&mut self, labels: &mut [u16]) -> bool {
        let Some(stroke) = self.undone.pop() else {
            return false;
        };
        for &(i, _, after) in &stroke.changes {
            labels[i as usize] = after;
        }
        self.done.push(stroke);
        true
    }

    pub fn can_undo(&self) -> bool {
        !self.done.is_empty() || self.open.as_ref().is_some_and(|s| !s.changes.is_empty())
    }

    pub fn can_redo(&self) -> bool {
        !self.undone.is_empty()
    }

    /// Voxels that differ from the model's segmentation now (a voxel painted twice counts
    /// once; one painted back to its first label does not count).
    pub fn changed_voxels(&self) -> usize {
        let mut first: std::collections::HashMap<u32, (u16, u16)> = Default::default();
        for stroke in self.done.iter().chain(self.open.as_ref()) {
            for &(i, before, after) in &stroke.changes {
                first.entry(i).or_insert((before, after)).1 = after;
            }
        }
        first.values().filter(|(a, b)| a != b).count()
    }
}

/// The voxels of a round brush of radius `radius_mm` centred on voxel `centre`, within the
/// slice `centre[axes.fixed]` (the plane being drawn on), measured in millimetres so the
/// brush is round on anisotropic grids. Linear indices, x fastest.
pub fn disc(
    dims: [usize; 3],
    spacing: [f64; 3],
    axes: PlaneAxes,
    centre: [usize; 3],
    radius_mm: f64,
) -> Vec<usize> {
    let (c, r) = (axes.col, axes.row);
    let reach = |axis: usize| (radius_mm / spacing[axis]).floor().max(0.0) as i64;
    let mut out = Vec::new();
    for dr in -reach(r)..=reach(r) {
        for dc in -reach(c)..=reach(c) {
            let (mc, mr) = (dc as f64 * spacing[c], dr as f64 * spacing[r]);
            if mc * mc + mr * mr > radius_mm * radius_mm {
                continue;
            }
            let mut v = centre.map(|x| x as i64);
            v[c] += dc;
            v[r] += dr;
            if (0..3).all(|a| v[a] >= 0 && v[a] < dims[a] as i64) {
                out.push(v[0] as usize + dims[0] * (v[1] as usize + dims[1] * v[2] as usize));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::render::Plane;

    #[test]
    fn the_brush_is_round_in_millimetres_and_stays_in_its_slice() {
        let dims = [20, 10, 6];
        // Axial: columns along x (1 mm), rows along y (2 mm), slice z = 3.
        let voxels = disc(dims, [1.0, 2.0, 3.0], Plane::Axial.axes(), [10, 5, 3], 4.0);
        let coords: Vec<[usize; 3]> = voxels
            .iter()
            .map(|&i| [i % 20, (i / 20) % 10, i / 200])
            .collect();
        assert!(coords.iter().all(|v| v[2] == 3));
        // 4 mm reaches 4 voxels along x but 2 along y.
        assert!(coords.contains(&[14, 5, 3]) && coords.contains(&[10, 7, 3]));
        assert!(!coords.contains(&[15, 5, 3]) && !coords.contains(&[10, 8, 3]));
        assert!(
            !coords.contains(&[14, 7, 3]),
            "a corner is outside the circle"
        );
        // At the edge of the grid the brush is clipped, not wrapped.
        let edge = disc(dims, [1.0; 3], Plane::Coronal.axes(), [0, 0, 0], 2.0);
        assert!(edge.iter().all(|&i| i / 20 % 10 == 0));
        assert_eq!(edge.len(), 6, "a quarter disc of radius 2 in x and z");
        assert_eq!(
            disc(dims, [1.0; 3], Plane::Axial.axes(), [1, 1, 1], 0.0).len(),
            1
        );
    }

    #[test]
    fn strokes_undo_and_redo_exactly() {
        let original: Vec<u16> = vec![0, 1, 2, 3, 0, 1];
        let mut labels = original.clone();
        let mut h = History::default();
        assert!(!h.can_undo());
        assert!(h.paint(&mut labels, [0, 1, 2], 3));
        assert!(h.paint(&mut labels, [2, 3], 3) || labels[3] == 3);
        h.end_stroke();
        let after_first = labels.clone();
        assert_eq!(after_first, [3, 3, 3, 3, 0, 1]);
        assert!(h.paint(&mut labels, [1, 4], 0));
        h.end_stroke();
        assert_eq!(
            h.changed_voxels(),
            3,
            "voxel 1 painted twice counts once; 3 unchanged"
        );
        assert!(h.undo(&mut labels));
        assert_eq!(labels, after_first);
        assert!(h.undo(&mut labels));
        assert_eq!(labels, original);
        assert!(!h.undo(&mut labels) && h.can_redo());
        assert!(h.redo(&mut labels));
        assert_eq!(labels, after_first);
        // A new stroke after an undo drops what could be redone.
        h.paint(&mut labels, [5], 2);
        h.end_stroke();
        assert!(!h.can_redo());
        assert_eq!(h.changed_voxels(), 4);
        // Painting what is already there is no stroke at all.
        let mut h2 = History::default();
        assert!(!h2.paint(&mut labels, [0], 3));
        h2.end_stroke();
        assert!(!h2.can_undo());
    }
}
