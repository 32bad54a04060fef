//! Per-label volumes of a segmentation and their CSV. `brainfm predict --volumes-csv` and
//! the app's "Download volumes" write this one table, so a spreadsheet built on one
//! reads the other.

use std::fmt::Write;

use serde::Serialize;

use crate::volume::LabelMap;

/// Millilitres per label value `0..classes` (voxel count x voxel volume); labels at or
/// above `classes` are not counted.
pub fn label_volumes_ml(labels: &LabelMap, classes: usize) -> Vec<f64> {
    let voxel_ml = labels.spacing.iter().product::<f64>() / 1000.0;
    volumes_of_labels_ml(&labels.data, classes, voxel_ml)
}

/// [`label_volumes_ml`] for bare label values on voxels of `voxel_ml` each (the app's
/// display-order labels while they are being edited).
pub fn volumes_of_labels_ml(labels: &[u16], classes: usize, voxel_ml: f64) -> Vec<f64> {
    let mut counts = vec![0u64; classes.max(1)];
    for &l in labels {
        if let Some(c) = counts.get_mut(l as usize) {
            *c += 1;
        }
    }
    counts.into_iter().map(|c| c as f64 * voxel_ml).collect()
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LabelVolume {
    pub label: usize,
    pub name: String,
    pub ml: f64,
}

/// One row per label value, in label order.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct VolumesTable {
    pub rows: Vec<LabelVolume>,
}

/// The name a label goes by when the model has none for it (the same words the app's
/// legend and the nnU-Net dataset reader use for gaps).
pub fn label_name(class_names: &[String], label: usize) -> String {
    class_names
        .get(label)
        .filter(|n| !n.is_empty())
        .cloned()
        .unwrap_or_else(|| format!("label {label}"))
}

impl VolumesTable {
    /// Measure every label `0..classes` of `labels` on its own grid.
    pub fn measure(labels: &LabelMap, classes: usize, class_names: &[String]) -> Self {
        Self::from_volumes(&label_volumes_ml(labels, classes), class_names)
    }

    /// The table for volumes already measured (index = label value), such as
    /// `Segmentation::volumes_ml`.
    pub fn from_volumes(volumes_ml: &[f64], class_names: &[String]) -> Self {
        Self {
            rows: volumes_ml
                .iter()
                .enumerate()
                .map(|(label, &ml)| LabelVolume {
                    label,
                    name: label_name(class_names, label),
                    ml,
                })
                .collect(),
        }
    }

    /// `label,name,volume_ml`, one row per label, mL to three decimals. Names are quoted
    /// (RFC 4180) only when they hold a comma, a quote or a line break, so a class name
    /// can never shift a column.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("label,name,volume_ml\n");
        for row in &self.rows {
            let _ = writeln!(out, "{},{},{:.3}", row.label, csv_field(&row.name), row.ml);
        }
        out
    }
}

/// One row per scan, one column per label (mL, three decimals): `scan,NAME (mL),...`,
/// the table a folder run writes for a whole dataset, with the same quoting as
/// [`VolumesTable::to_csv`]. Columns follow `class_names`' labels; a scan's missing labels
/// are left empty.
pub fn volumes_by_scan_csv(class_names: &[String], scans: &[(String, VolumesTable)]) -> String {
    let columns = scans
        .iter()
        .map(|(_, t)| t.rows.len())
        .max()
        .unwrap_or(0)
        .max(class_names.len());
    let mut out = String::from("scan");
    for label in 0..columns {
        let _ = write!(
            out,
            ",{}",
            csv_field(&format!("{} (mL)", label_name(class_names, label)))
        );
    }
    out.push('\n');
    for (scan, table) in scans {
        out.push_str(&csv_field(scan));
        for label in 0..columns {
            match table.rows.get(label) {
                Some(row) => {
                    let _ = write!(out, ",{:.3}", row.ml);
                }
                None => out.push(','),
            }
        }
        out.push('\n');
    }
    out
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::affine::IDENTITY;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn volumes_are_voxel_counts_times_the_voxel_volume() {
        // 2 x 2 x 2 mm voxels = 0.008 mL; label 5 is beyond the model's 3 classes.
        let labels =
            LabelMap::new([2, 2, 2], [2.0; 3], IDENTITY, vec![0, 0, 0, 1, 1, 2, 5, 0]).unwrap();
        let table = VolumesTable::measure(&labels, 3, &names(&["background", "a"]));
        let ml: Vec<f64> = table.rows.iter().map(|r| r.ml).collect();
        assert_eq!(ml, vec![4.0 * 0.008, 2.0 * 0.008, 0.008]);
        let named: Vec<&str> = table.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(named, ["background", "a", "label 2"]);
    }

    #[test]
    fn the_csv_has_one_header_and_quotes_only_what_needs_it() {
        let table = VolumesTable::from_volumes(
            &[1200.0, 0.5, 2.0 / 3.0, 7.0, 1e-4],
            &names(&["background", "grey, cortical", "say \"WM\"", ""]),
        );
        assert_eq!(
            table.to_csv(),
            "label,name,volume_ml\n\
             0,background,1200.000\n\
             1,\"grey, cortical\",0.500\n\
             2,\"say \"\"WM\"\"\",0.667\n\
             3,label 3,7.000\n\
             4,label 4,0.000\n"
        );
        assert_eq!(
            VolumesTable::from_volumes(&[1.0], &names(&["two\nlines"])).to_csv(),
            "label,name,volume_ml\n0,\"two\nlines\",1.000\n"
        );
        assert_eq!(VolumesTable::default().to_csv(), "label,name,volume_ml\n");
    }

    #[test]
    fn bare_labels_count_below_the_class_count() {
        assert_eq!(
            volumes_of_labels_ml(&[0, 1, 1, 2, 9], 3, 0.5),
            vec![0.5, 1.0, 0.5]
        );
    }

    #[test]
    fn the_dataset_table_has_a_row_per_scan_and_a_column_per_label() {
        let model = names(&["background", "grey, cortical"]);
        let a = VolumesTable::from_volumes(&[10.0, 2.5, 1.0], &model);
        let b = VolumesTable::from_volumes(&[9.0, 3.25], &model);
        assert_eq!(
            volumes_by_scan_csv(
                &model,
                &[
                    ("sub-01/anat/sub-01_T1w.nii.gz".into(), a),
                    ("b,2".into(), b)
                ]
            ),
            "scan,background (mL),\"grey, cortical (mL)\",label 2 (mL)\n\
             sub-01/anat/sub-01_T1w.nii.gz,10.000,2.500,1.000\n\
             \"b,2\",9.000,3.250,\n"
        );
        assert_eq!(
            volumes_by_scan_csv(&model, &[]),
            "scan,background (mL),\"grey, cortical (mL)\"\n"
        );
    }
}
