//! Labelled datasets in the nnU-Net raw layout:
//! `dataset.json` (labels, channel names, file ending), `imagesTr/CASE_0000.nii.gz`
//! (one file per channel), `labelsTr/CASE.nii.gz`, and optionally `imagesTs`/`labelsTs`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

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
        let json_path = root.join("dataset.json");
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
        let ending = json["file_ending"]
            .as_str()
            .unwrap_or(".nii.gz")
            .to_string();
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
                .map(|c| root.join(images_dir).join(format!("{id}_{c:04}{ending}")))
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
