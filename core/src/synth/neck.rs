//! Neck, shoulders and face below and in front of the labelled head. A scan that runs down
//! to the neck holds more muscle, fat and bone than brain, and in T1w muscle is as grey as
//! grey matter: a model that has only seen a brain in shells and blobs calls the tongue
//! and the neck brain. This paints a coarse but anatomically placed body into the
//! background of a padded label map: a neck with skin fat, muscle, vertebrae (cortex,
//! marrow, discs), spinal canal and cord, airway and vessels; shoulders widening below
//! it; a face with skin fat, eyes in orbital fat, nasal cavity and sinuses (air), tongue
//! and mandible. Every size and position is drawn per subject, and the surfaces wobble
//! with a smooth field. Labels already in the map never change.
//!
//! Shapes are placed in world millimetres (RAS, from the affine) relative to the head's
//! bounding box, so any voxel orientation works.

use super::field::smooth_field;
use super::{SynthError, SynthSubject};
use crate::rng::Rng;
use crate::volume::orient::axis_orientation;
use crate::volume::{crop, CropBox, LabelMap, Padding, VolumeError};

/// The tissues `add_neck_and_face` paints. Tissue `t` gets label `max + 1 + t as u16`,
/// where `max` is the largest label in the map it is given, so `--order` rules can place
/// them (in T1w: bone < fluid < muscle < cord < marrow < fat).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeckTissue {
    /// Skin and subcutaneous fat of the neck and face, orbital fat.
    Fat = 0,
    /// Neck and face muscle.
    Muscle = 1,
    /// Deep muscle: the tongue and part of the neck's bulk, with its own intensity.
    DeepMuscle = 2,
    /// Cortical bone: vertebral cortex and arches, mandible, nasal septum, sclera.
    Bone = 3,
    /// Vertebral marrow.
    Marrow = 4,
    /// Fluid: vitreous, the spinal canal's CSF, discs, vessels.
    Fluid = 5,
    /// Spinal cord.
    Cord = 6,
}

/// How many labels `add_neck_and_face` adds.
pub const NECK_TISSUES: usize = 7;

/// The longest neck (mm) `neck_padding` accepts: shoulders and upper chest.
pub const MAX_NECK_MM: f64 = 300.0;

/// The voxel axis that runs along world superior-inferior (the assignment reorientation
/// to RAS uses), and whether its index 0 is the inferior end.
fn inferior_axis(labels: &LabelMap) -> Result<(usize, bool), SynthError> {
    let axes = axis_orientation(&labels.affine).map_err(bad_grid)?;
    let a = axes
        .iter()
        .position(|&(world, _)| world == 2)
        .ok_or_else(|| SynthError::BadConfig("no voxel axis runs head to foot".into()))?;
    Ok((a, !axes[a].1))
}

fn bad_grid(e: VolumeError) -> SynthError {
    SynthError::BadConfig(e.to_string())
}

/// The padding that grows `labels`' grid by `length_mm` below its inferior end, where the
/// neck goes.
pub fn neck_padding(labels: &LabelMap, length_mm: f64) -> Result<Padding, SynthError> {
    if !(length_mm.is_finite() && (0.0..=MAX_NECK_MM).contains(&length_mm)) {
        return Err(SynthError::BadConfig(format!(
            "the neck must be 0 to {MAX_NECK_MM} mm long, got {length_mm}"
        )));
    }
    let (a, low) = inferior_axis(labels)?;
    let per_voxel = labels.affine[2][a].abs().max(1e-6);
    let n = (length_mm / per_voxel).ceil() as usize;
    let mut p = Padding {
        before: [0; 3],
        after: [0; 3],
    };
    if low {
        p.before[a] = n;
    } else {
        p.after[a] = n;
    }
    Ok(p)
}

/// Paints a neck, shoulders and face (labels `max + 1 ..= max + NECK_TISSUES`, see
/// `NeckTissue`) into the background of `labels`, placed from the labelled head's extent.
/// The grid should already reach below the head (`neck_padding`); air cavities stay 0.
pub fn add_neck_and_face(labels: &LabelMap, rng: &mut Rng) -> Result<LabelMap, SynthError> {
    let max = labels.data.iter().copied().max().unwrap_or(0);
    if max == 0 {
        return Err(SynthError::EmptyLabels);
    }
    if max as usize + NECK_TISSUES > u16::MAX as usize {
        return Err(SynthError::BadConfig("too many labels".into()));
    }
    let head = HeadExtent::of(labels);
    let body = Body::draw(&head, rng);
    let wobble = smooth_field(labels.dims, 6, 1.0, rng);
    let split = smooth_field(labels.dims, 8, 1.0, rng);
    let threshold = rng.range(-0.5, 0.5) as f32;
    let data = labels
        .data
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            if l != 0 {
                return l;
            }
            let deep = split[i] > threshold;
            match body.tissue(world_at(labels, i), f64::from(wobble[i]), deep) {
                Some(t) => max + 1 + t as u16,
                None => 0,
            }
        })
        .collect();
    Ok(LabelMap {
        data,
        ..labels.clone()
    })
}

/// Cuts `slices` voxel slices off the inferior end of the subject's grid (labels and every
/// image alike), as a scan whose field of view stops higher up the neck.
pub fn cut_inferior(subject: &SynthSubject, slices: usize) -> Result<SynthSubject, SynthError> {
    let (a, low) = inferior_axis(&subject.labels)?;
    let dims = subject.labels.dims;
    let slices = slices.min(dims[a] - 1);
    let mut b = CropBox::full(dims);
    if low {
        b.start[a] = slices;
    } else {
        b.end[a] = dims[a] - slices;
    }
    Ok(SynthSubject {
        labels: crop(&subject.labels, &b).map_err(bad_grid)?,
        images: subject
            .images
            .iter()
            .map(|(c, v)| Ok((c.clone(), crop(v, &b).map_err(bad_grid)?)))
            .collect::<Result<_, SynthError>>()?,
    })
}

/// World position (mm) of voxel `i` (x fastest), computed where it is needed: a padded
/// head at 1.5 mm has ~10^7 voxels, and a table of their positions would take 24 bytes each.
fn world_at(labels: &LabelMap, i: usize) -> [f64; 3] {
    let [nx, ny, _] = labels.dims;
    labels.voxel_to_world([
        (i % nx) as f64,
        ((i / nx) % ny) as f64,
        (i / (nx * ny)) as f64,
    ])
}

/// The labelled head in world millimetres: its bounding box, where the brainstem leaves it
/// (the centroid of its lowest 15 mm) and how far forward it reaches at each height.
struct HeadExtent {
    min: [f64; 3],
    max: [f64; 3],
    stem: [f64; 2],
    /// Front-most y of the head's middle half (|x - centre| < width / 4), per 2 mm of z
    /// from `min[2]`.
    front: Vec<f64>,
}

impl HeadExtent {
    fn of(labels: &LabelMap) -> Self {
        let head = || {
            (0..labels.data.len())
                .filter(|&i| labels.data[i] > 0)
                .map(|i| world_at(labels, i))
        };
        let mut min = [f64::INFINITY; 3];
        let mut max = [f64::NEG_INFINITY; 3];
        for p in head() {
            for a in 0..3 {
                min[a] = min[a].min(p[a]);
                max[a] = max[a].max(p[a]);
            }
        }
        let (mut sum, mut n) = ([0.0; 2], 0.0);
        let cx = (min[0] + max[0]) / 2.0;
        let quarter = (max[0] - min[0]) / 4.0;
        let mut front = vec![f64::NEG_INFINITY; ((max[2] - min[2]) / 2.0) as usize + 1];
        for p in head() {
            if p[2] < min[2] + 15.0 {
                sum[0] += p[0];
                sum[1] += p[1];
                n += 1.0;
            }
            if (p[0] - cx).abs() < quarter {
                let bin = ((p[2] - min[2]) / 2.0) as usize;
                front[bin] = front[bin].max(p[1]);
            }
        }
        Self {
            min,
            max,
            stem: [sum[0] / n, sum[1] / n],
            front,
        }
    }

    /// The head's front at height `z` (the nearest height that has one).
    fn front_at(&self, z: f64) -> f64 {
        let bin = (((z - self.min[2]) / 2.0).max(0.0) as usize).min(self.front.len() - 1);
        (0..self.front.len())
            .flat_map(|d| [bin.checked_sub(d), Some(bin + d)])
            .flatten()
            .filter_map(|b| self.front.get(b).copied())
            .find(|f| f.is_finite())
            .unwrap_or(self.max[1])
    }
}

/// An ellipsoid in world millimetres.
#[derive(Clone, Copy)]
struct Ellipsoid {
    centre: [f64; 3],
    radii: [f64; 3],
}

impl Ellipsoid {
    fn contains(&self, p: [f64; 3]) -> bool {
        (0..3)
            .map(|a| ((p[a] - self.centre[a]) / self.radii[a]).powi(2))
            .sum::<f64>()
            <= 1.0
    }
}

/// One subject's neck and face, every size drawn from the head's extent.
struct Body {
    cx: f64,
    // Neck: an elliptic column, widening into shoulders below `shoulder_z`.
    neck_y: f64,
    neck_r: [f64; 2],
    neck_top: f64,
    shoulder_z: f64,
    shoulder_slope: f64,
    skin_fat: f64,
    // Spine: canal (cord inside), arch around it, vertebral body in front with discs.
    canal: [f64; 2],
    canal_r: f64,
    cord_r: f64,
    arch: f64,
    body_y: f64,
    body_r: f64,
    cortex: f64,
    disc_period: f64,
    disc_phase: f64,
    disc: f64,
    airway: [f64; 3],
    airway_r: [f64; 2],
    vessels: [[f64; 3]; 2],
    // Face: a rounded box in front of the spine, from the chin to above the eyes.
    face_y: [f64; 2],
    face_z: [f64; 2],
    face_rx: f64,
    face_fat: f64,
    eyes: [[f64; 3]; 2],
    eye_r: f64,
    orbit_fat: f64,
    nasal: [f64; 5],
    sinuses: Option<[Ellipsoid; 2]>,
    tongue: Ellipsoid,
    mouth: Option<Ellipsoid>,
    mandible_top: f64,
}

impl Body {
    fn draw(h: &HeadExtent, rng: &mut Rng) -> Self {
        let cx = (h.min[0] + h.max[0]) / 2.0;
        let width = h.max[0] - h.min[0];
        let length = h.max[1] - h.min[1];
        let height = h.max[2] - h.min[2];
        let z0 = h.min[2];

        let neck_r = [
            width * rng.range(0.28, 0.38),
            length * rng.range(0.22, 0.30),
        ];
        let canal = [h.stem[0] - cx, h.stem[1]];
        let canal_r = rng.range(6.0, 8.0);
        let arch = rng.range(2.0, 4.0);
        let body_r = rng.range(8.0, 11.0);
        let body_y = canal[1] + canal_r + arch + body_r;
        let neck_y = body_y - neck_r[1] * rng.range(0.0, 0.25);
        let airway_r = [rng.range(6.0, 10.0), rng.range(4.0, 8.0)];
        let airway_y = body_y + body_r + airway_r[1] + rng.range(3.0, 10.0);
        let vessel = |side: f64, rng: &mut Rng| {
            [
                side * rng.range(18.0, 28.0),
                body_y + rng.range(0.0, 10.0),
                rng.range(3.0, 6.0),
            ]
        };

        let eye_r = rng.range(10.0, 13.0);
        let eye_z = z0 + height * rng.range(0.20, 0.30);
        let face_front = h.max[1] + rng.range(0.0, 20.0);
        let eye_y = (h.front_at(eye_z) + eye_r * rng.range(0.2, 0.8)).min(face_front - eye_r - 4.0);
        let eye_x = rng.range(28.0, 36.0);
        let chin = eye_z - rng.range(90.0, 120.0);
        let sinus = |side: f64, rng: &mut Rng| Ellipsoid {
            centre: [
                side * rng.range(20.0, 28.0),
                eye_y - rng.range(10.0, 20.0),
                eye_z - rng.range(28.0, 38.0),
            ],
            radii: [
                rng.range(9.0, 14.0),
                rng.range(12.0, 18.0),
                rng.range(12.0, 18.0),
            ],
        };
        let tongue = Ellipsoid {
            centre: [
                0.0,
                eye_y - rng.range(25.0, 40.0),
                eye_z - rng.range(62.0, 78.0),
            ],
            radii: [
                rng.range(20.0, 28.0),
                rng.range(25.0, 35.0),
                rng.range(10.0, 16.0),
            ],
        };
        Self {
            cx,
            neck_y,
            neck_r,
            neck_top: z0 + height * rng.range(0.10, 0.25),
            shoulder_z: z0 - rng.range(90.0, 130.0),
            shoulder_slope: rng.range(1.0, 2.0),
            skin_fat: rng.range(3.0, 12.0),
            canal,
            canal_r,
            cord_r: canal_r * rng.range(0.55, 0.7),
            arch,
            body_y,
            body_r,
            cortex: rng.range(1.5, 3.0),
            disc_period: rng.range(15.0, 20.0),
            disc_phase: rng.range(0.0, 20.0),
            disc: rng.range(3.0, 6.0),
            airway: [
                rng.range(-3.0, 3.0),
                airway_y,
                eye_z - rng.range(40.0, 60.0),
            ],
            airway_r,
            vessels: [vessel(-1.0, rng), vessel(1.0, rng)],
            face_y: [body_y + body_r + rng.range(0.0, 10.0), face_front],
            face_z: [chin, eye_z + rng.range(10.0, 20.0)],
            face_rx: width * rng.range(0.30, 0.38),
            face_fat: rng.range(3.0, 10.0),
            eyes: [[-eye_x, eye_y, eye_z], [eye_x, eye_y, eye_z]],
            eye_r,
            orbit_fat: rng.range(4.0, 9.0),
            nasal: [
                rng.range(8.0, 14.0),
                eye_y - rng.range(25.0, 40.0),
                face_front - rng.range(3.0, 6.0),
                eye_z - rng.range(45.0, 55.0),
                eye_z + rng.range(0.0, 10.0),
            ],
            sinuses: rng.bool(0.85).then(|| [sinus(-1.0, rng), sinus(1.0, rng)]),
            tongue,
            mouth: rng.bool(0.5).then(|| Ellipsoid {
                centre: [
                    0.0,
                    tongue.centre[1],
                    tongue.centre[2] + tongue.radii[2] + 2.0,
                ],
                radii: [
                    tongue.radii[0] * 0.8,
                    tongue.radii[1] * 0.8,
                    rng.range(1.0, 5.0),
                ],
            }),
            mandible_top: chin + rng.range(25.0, 40.0),
        }
    }

    /// The tissue at world point `p` (None: air or outside the body). `wobble` (a smooth
    /// field of sd 1) bends the outer surfaces; `deep` picks the second muscle class.
    fn tissue(&self, p: [f64; 3], wobble: f64, deep: bool) -> Option<NeckTissue> {
        let q = [p[0] - self.cx, p[1], p[2]];
        let muscle = if deep {
            NeckTissue::DeepMuscle
        } else {
            NeckTissue::Muscle
        };
        let swell = (0.08 * wobble).exp();
        self.face(q, swell, muscle)
            .or_else(|| self.neck(q, swell, muscle))
            .flatten()
    }

    /// Some(tissue or air) inside the face, None outside it.
    fn face(&self, q: [f64; 3], swell: f64, muscle: NeckTissue) -> Option<Option<NeckTissue>> {
        let half = [
            self.face_rx,
            (self.face_y[1] - self.face_y[0]) / 2.0,
            (self.face_z[1] - self.face_z[0]) / 2.0,
        ];
        let centre = [
            0.0,
            (self.face_y[0] + self.face_y[1]) / 2.0,
            (self.face_z[0] + self.face_z[1]) / 2.0,
        ];
        // A superellipsoid (exponent 4): a rounded box.
        let s = (0..3)
            .map(|a| ((q[a] - centre[a]) / half[a]).powi(4))
            .sum::<f64>()
            .powf(0.25)
            / swell;
        if half.iter().any(|&h| h <= 0.0) || s > 1.0 {
            return None;
        }
        let depth = (1.0 - s) * half.iter().copied().fold(f64::INFINITY, f64::min);
        for e in &self.eyes {
            let d = (0..3).map(|a| (q[a] - e[a]).powi(2)).sum::<f64>().sqrt();
            if d < self.eye_r {
                return Some(Some(if d > self.eye_r - 1.5 {
                    NeckTissue::Bone
                } else {
                    NeckTissue::Fluid
                }));
            }
            if d < self.eye_r + self.orbit_fat {
                return Some(Some(NeckTissue::Fat));
            }
            if d < self.eye_r + self.orbit_fat + 2.0 {
                return Some(Some(NeckTissue::Bone));
            }
        }
        let [hw, y0, y1, z0, z1] = self.nasal;
        if q[0].abs() < hw && (y0..y1).contains(&q[1]) && (z0..z1).contains(&q[2]) {
            return Some((q[0].abs() < 1.0).then_some(NeckTissue::Bone));
        }
        if let Some(sinuses) = &self.sinuses {
            if sinuses.iter().any(|e| e.contains(q)) {
                return Some(None);
            }
        }
        if depth < self.face_fat {
            return Some(Some(NeckTissue::Fat));
        }
        if q[2] < self.mandible_top && depth < self.face_fat + 6.0 {
            return Some(Some(NeckTissue::Bone));
        }
        if let Some(mouth) = &self.mouth {
            if mouth.contains(q) {
                return Some(None);
            }
        }
        if self.tongue.contains(q) {
            return Some(Some(NeckTissue::DeepMuscle));
        }
        Some(Some(muscle))
    }

    /// Some(tissue or air) inside the neck and shoulders, None outside them.
    fn neck(&self, q: [f64; 3], swell: f64, muscle: NeckTissue) -> Option<Option<NeckTissue>> {
        if q[2] > self.neck_top {
            return None;
        }
        let below = (self.shoulder_z - q[2]).max(0.0) * self.shoulder_slope;
        let r = [self.neck_r[0] + below, self.neck_r[1] + below * 0.25];
        let rho = ((q[0] / r[0]).powi(2) + ((q[1] - self.neck_y) / r[1]).powi(2)).sqrt() / swell;
        if rho > 1.0 {
            return None;
        }
        let canal = (q[0] - self.canal[0]).hypot(q[1] - self.canal[1]);
        if canal < self.cord_r {
            return Some(Some(NeckTissue::Cord));
        }
        if canal < self.canal_r {
            return Some(Some(NeckTissue::Fluid));
        }
        if canal < self.canal_r + self.arch {
            return Some(Some(NeckTissue::Bone));
        }
        let vertebra = (q[0] / 1.3).hypot(q[1] - self.body_y);
        if vertebra < self.body_r {
            let in_disc = (q[2] - self.disc_phase).rem_euclid(self.disc_period) < self.disc;
            return Some(Some(if in_disc {
                NeckTissue::Fluid
            } else if vertebra > self.body_r - self.cortex {
                NeckTissue::Bone
            } else {
                NeckTissue::Marrow
            }));
        }
        let [ax, ay, top] = self.airway;
        let airway =
            ((q[0] - ax) / self.airway_r[0]).powi(2) + ((q[1] - ay) / self.airway_r[1]).powi(2);
        if q[2] < top && airway <= 1.0 {
            return Some(None);
        }
        if self
            .vessels
            .iter()
            .any(|v| (q[0] - v[0]).hypot(q[1] - v[1]) < v[2])
        {
            return Some(Some(NeckTissue::Fluid));
        }
        if (1.0 - rho) * r[0].min(r[1]) < self.skin_fat {
            return Some(Some(NeckTissue::Fat));
        }
        Some(Some(muscle))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{synth_subject, SynthConfig};
    use crate::volume::pad;
    use crate::volume::test_util::affine_for;

    /// A labelled ellipsoid head (semi-axes 70 x 90 x 80 mm, brain label 1 inside label 2)
    /// at 4 mm, with `z_sign` the direction of the voxel z axis in the world.
    fn head(z_sign: f64) -> LabelMap {
        let dims = [44, 54, 48];
        let sp = 4.0;
        let code = if z_sign > 0.0 { "RAS" } else { "RAI" };
        let g = LabelMap {
            dims,
            spacing: [sp; 3],
            affine: affine_for(code, [sp; 3], [0.0; 3]),
            data: vec![0; dims[0] * dims[1] * dims[2]],
        };
        let world = world_coordinates(&g);
        let centre = g.voxel_to_world([21.5, 26.5, 23.5]);
        let data = world
            .iter()
            .map(|p| {
                let r = ((p[0] - centre[0]) / 70.0).powi(2)
                    + ((p[1] - centre[1]) / 90.0).powi(2)
                    + ((p[2] - centre[2]) / 80.0).powi(2);
                if r < 0.6 {
                    1
                } else if r < 1.0 {
                    2
                } else {
                    0
                }
            })
            .collect();
        LabelMap { data, ..g }
    }

    fn world_coordinates(labels: &LabelMap) -> Vec<[f64; 3]> {
        (0..labels.data.len())
            .map(|i| world_at(labels, i))
            .collect()
    }

    fn with_neck(labels: &LabelMap, seed: u64) -> (LabelMap, LabelMap) {
        let padded = pad(labels, &neck_padding(labels, 160.0).unwrap(), 0).unwrap();
        let out = add_neck_and_face(&padded, &mut Rng::new(seed)).unwrap();
        (padded, out)
    }

    fn count(l: &LabelMap, t: NeckTissue) -> usize {
        l.data.iter().filter(|&&v| v == 3 + t as u16).count()
    }

    #[test]
    fn the_neck_hangs_below_the_head_in_either_voxel_orientation() {
        for z_sign in [1.0, -1.0] {
            let labels = head(z_sign);
            let (padded, out) = with_neck(&labels, 7);
            assert_eq!(padded.dims[2], labels.dims[2] + 40);
            let world = world_coordinates(&out);
            let head_bottom = world
                .iter()
                .zip(&padded.data)
                .filter(|(_, &l)| l > 0)
                .map(|(p, _)| p[2])
                .fold(f64::INFINITY, f64::min);
            let mut below = 0;
            let mut painted = 0;
            for ((p, &before), &after) in world.iter().zip(&padded.data).zip(&out.data) {
                if before > 0 {
                    assert_eq!(before, after, "labelled voxels must not change");
                    continue;
                }
                assert!(after == 0 || (3..3 + NECK_TISSUES as u16).contains(&after));
                if after > 0 {
                    painted += 1;
                    below += (p[2] < head_bottom) as usize;
                }
            }
            let head_voxels = padded.data.iter().filter(|&&l| l > 0).count();
            assert!(
                painted > head_voxels / 2,
                "{painted} painted, head {head_voxels}"
            );
            assert!(
                below * 2 > painted,
                "z {z_sign}: most of the body must lie below the head ({below} of {painted})"
            );
            // The neck reaches the grid's inferior end, as in a scan that runs to the shoulders.
            let bottom = if z_sign > 0.0 { 0 } else { out.dims[2] - 1 };
            let [nx, ny, _] = out.dims;
            let edge = (0..nx * ny)
                .filter(|&i| out.data[i + nx * ny * bottom] > 0)
                .count();
            assert!(
                edge > 100,
                "z {z_sign}: {edge} body voxels on the bottom slice"
            );
        }
    }

    #[test]
    fn every_tissue_appears_and_the_cord_runs_down_the_midline() {
        let (_, out) = with_neck(&head(1.0), 3);
        for t in [
            NeckTissue::Fat,
            NeckTissue::Muscle,
            NeckTissue::DeepMuscle,
            NeckTissue::Bone,
            NeckTissue::Marrow,
            NeckTissue::Fluid,
            NeckTissue::Cord,
        ] {
            assert!(count(&out, t) > 0, "{t:?} missing");
        }
        let world = world_coordinates(&out);
        let centre_x = out.voxel_to_world([21.5, 0.0, 0.0])[0];
        for (p, &l) in world.iter().zip(&out.data) {
            if l == 3 + NeckTissue::Cord as u16 {
                assert!(
                    (p[0] - centre_x).abs() < 10.0,
                    "cord off the midline at {p:?}"
                );
            }
        }
    }

    #[test]
    fn subjects_differ_and_a_seed_repeats() {
        let (_, a) = with_neck(&head(1.0), 1);
        let (_, a2) = with_neck(&head(1.0), 1);
        let (_, b) = with_neck(&head(1.0), 2);
        assert_eq!(a.data, a2.data);
        let differ = a.data.iter().zip(&b.data).filter(|(x, y)| x != y).count();
        assert!(differ > 1000, "two subjects differ in {differ} voxels");
    }

    #[test]
    fn cutting_the_field_of_view_keeps_world_positions_and_cuts_the_inferior_end() {
        for z_sign in [1.0, -1.0] {
            let (_, labels) = with_neck(&head(z_sign), 5);
            let cfg = SynthConfig {
                contrasts: vec!["T1w".into()],
                ..SynthConfig::default()
            };
            let s = synth_subject(&labels, &cfg, 0).unwrap();
            let cut = cut_inferior(&s, 10).unwrap();
            assert_eq!(cut.labels.dims[2], labels.dims[2] - 10);
            assert_eq!(cut.images[0].1.dims, cut.labels.dims);
            let lowest = |l: &LabelMap| {
                let (a, b) = (l.voxel_to_world([0.0; 3])[2], {
                    let k = (l.dims[2] - 1) as f64;
                    l.voxel_to_world([0.0, 0.0, k])[2]
                });
                a.min(b)
            };
            assert!((lowest(&cut.labels) - (lowest(&s.labels) + 40.0)).abs() < 1e-9);
            // The top slice is the same voxel for voxel.
            let (nx, ny) = (labels.dims[0], labels.dims[1]);
            let top = |l: &LabelMap| {
                let k = if z_sign > 0.0 { l.dims[2] - 1 } else { 0 };
                l.data[nx * ny * k..nx * ny * (k + 1)].to_vec()
            };
            assert_eq!(top(&cut.labels), top(&s.labels));
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        let labels = head(1.0);
        assert!(neck_padding(&labels, -1.0).is_err());
        assert!(neck_padding(&labels, f64::NAN).is_err());
        assert!(neck_padding(&labels, MAX_NECK_MM + 1.0).is_err());
        let empty = LabelMap {
            data: vec![0; labels.data.len()],
            ..labels
        };
        assert_eq!(
            add_neck_and_face(&empty, &mut Rng::new(0)).err(),
            Some(SynthError::EmptyLabels)
        );
    }
}
