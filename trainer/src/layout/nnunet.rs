//! Labelled datasets in the nnU-Net raw layout:
//! `dataset.json` (labels, channel names, file ending), `imagesTr/CASE_0000.nii.gz`
//! (one file per channel), `labelsTr/CASE.nii.gz`, and optionally `imagesTs`/`labelsTs`.
//! Reading (`LabelledDataset`, `discover`) and writing (`brainfm synth`) share the names.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The dataset description at the root of every nnU-Net raw dataset.
pub const DATASET_JSON: &str = "dataset.json";

/// File ending `brainfm synth` writes (and the default when dataset.json names none).
pub const ENDING: &str = ".nii.gz";

/// The image file name of `case`'s `channel`: `CASE_0000.nii.gz`.
pub fn image_name(case: &str, channel: usize, ending: &str) -> String {
    format!("{case}_{channel:04}{ending}")
}

/// `(case, channel)` of an image file's stem (`CASE_0000`), if it follows the naming.
pub fn parse_image_stem(stem: &str) -> Option<(&str, &str)> {
    stem.rsplit_once('_')
        .filter(|(_, ch)| ch.len() == 4 && ch.chars().all(|c| c.is_ascii_digit()))
}

/// `ROOT/imagesTr/CASE_XXXX.nii.gz`, a training image.
pub fn training_image(root: &Path, case: &str, channel: usize) -> PathBuf {
    root.join("imagesTr")
        .join(image_name(case, channel, ENDING))
}

/// `ROOT/labelsTr/CASE.nii.gz`, a training label map.
pub fn training_labels(root: &Path, case: &str) -> PathBuf {
    root.join("labelsTr").join(format!("{case}{ENDING}"))
}

#[derive(Clone, Debug)]
pub struct LabelledCase {
    pub id: String,
    /// One image per channel, in channel order.
    pub images: Vec<PathBuf>,
    pub label: PathBuf,
}

#[derive(Clone, Debug)]
pub struct LabelledDataset {
    /// Label names, index = label value (gaps filled with "label N").
    pub class_names: Vec<String>,
    pub channels: usize,
    pub cases: Vec<LabelledCase>,
}

/// Which split of the dataset to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

impl LabelledDataset {
    pub fn open(root: &Path, split: Split) -> Result<Self> {
        let json_path = root.join(DATASET_JSON);
        let text = std::fs::read_to_string(&json_path).with_context(|| {
            format!(
                "{} is not an nnU-Net raw dataset: cannot read {}",
                root.display(),
                json_path.display()
            )
        })?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", json_path.display()))?;
        let labels = json["labels"]
            .as_object()
            .with_context(|| format!("{} has no \"labels\" object", json_path.display()))?;
        let mut class_names: Vec<String> = Vec::new();
        for (name, value) in labels {
            let Some(v) = value.as_u64() else {
                bail!(
                    "{}: label \"{name}\" is {value}; region-based (list) labels are not supported",
                    json_path.display()
                );
            };
            let v = v as usize;
            if v > u16::MAX as usize {
                bail!(
                    "{}: label \"{name}\" = {v} is too large",
                    json_path.display()
                );
            }
            if class_names.len() <= v {
                class_names.resize_with(v + 1, String::new);
            }
            class_names[v] = name.clone();
        }
        for (i, n) in class_names.iter_mut().enumerate() {
            if n.is_empty() {
                *n = format!("label {i}");
            }
        }
        if class_names.len() < 2 {
            bail!("{} defines fewer than two labels", json_path.display());
        }
        let channels = json["channel_names"]
            .as_object()
            .map_or(1, |c| c.len().max(1));
        let ending = json["file_ending"].as_str().unwrap_or(ENDING).to_string();
        let (images_dir, labels_dir) = match split {
            Split::Train => ("imagesTr", "labelsTr"),
            Split::Test => ("imagesTs", "labelsTs"),
        };
        let labels_dir = root.join(labels_dir);
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&labels_dir)
            .with_context(|| format!("cannot list {}", labels_dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(&ending))
            .collect();
        entries.sort();
        let mut cases = Vec::new();
        for label in entries {
            let file = label
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            let id = file[..file.len() - ending.len()].to_string();
            let images: Vec<PathBuf> = (0..channels)
                .map(|c| root.join(images_dir).join(image_name(&id, c, &ending)))
                .collect();
            if let Some(missing) = images.iter().find(|p| !p.exists()) {
                bail!(
                    "case {id}: label {} has no image {}",
                    label.display(),
                    missing.display()
                );
            }
            cases.push(LabelledCase { id, images, label });
        }
        if cases.is_empty() {
            bail!("{} holds no {ending} label files", labels_dir.display());
        }
        Ok(Self {
            class_names,
            channels,
            cases,
        })
    }

    /// The held-out split when it has labels, else the training split.
    pub fn open_for_evaluation(root: &Path) -> Result<(Self, Split)> {
        if root.join("labelsTs").is_dir() {
            Ok((Self::open(root, Split::Test)?, Split::Test))
        } else {
            Ok((Self::open(root, Split::Train)?, Split::Train))
        }
    }
}

/// dataset.json for a single-channel dataset whose labels are `classes` (index = value);
/// numTraining counts every label file in labelsTr, so cases copied in before the
/// dataset.json is written are included.
pub fn dataset_json(
    root: &Path,
    name: &str,
    description: &str,
    classes: &[String],
) -> Result<String> {
    let dir = root.join("labelsTr");
    let cases = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(ENDING))
        .count();
    // Written by hand to keep the labels in value order.
    let labels = classes
        .iter()
        .enumerate()
        .map(|(i, name)| Ok(format!("    {}: {i}", serde_json::to_string(name)?)))
        .collect::<Result<Vec<_>>>()?
        .join(",\n");
    Ok(format!(
        "{{\n  \"name\": {},\n  \"description\": {},\n  \"channel_names\": {{\"0\": \"MRI\"}},\n  \"labels\": {{\n{labels}\n  }},\n  \"numTraining\": {cases},\n  \"file_ending\": \"{ENDING}\"\n}}\n",
        serde_json::to_string(name)?,
        serde_json::to_string(description)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_round_trip() {
        let root = Path::new("/d");
        assert_eq!(
            training_image(root, "sub-01_T1w", 0),
            Path::new("/d/imagesTr/sub-01_T1w_0000.nii.gz")
        );
        assert_eq!(
            training_labels(root, "sub-01_T1w"),
            Path::new("/d/labelsTr/sub-01_T1w.nii.gz")
        );
        assert_eq!(
            parse_image_stem("sub-01_T1w_0003"),
            Some(("sub-01_T1w", "0003"))
        );
        assert_eq!(parse_image_stem("sub-01_T1w"), None);
        assert_eq!(parse_image_stem("case_12345"), None);
    }
}
