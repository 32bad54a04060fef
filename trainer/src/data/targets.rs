//! Subject-level targets for classification and regression: a TSV or CSV table
//! (BIDS participants.tsv style) with a subject id column and a target column, matched
//! to discovered subjects with or without the `sub-` prefix.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::layout::bids::bare;
use crate::layout::{discover, SubjectScans};

/// One column of a table, by subject id (as written in the table).
#[derive(Clone, Debug, PartialEq)]
pub struct TargetTable {
    pub column: String,
    /// Subject id without `sub-` -> raw cell.
    rows: BTreeMap<String, String>,
}

fn cells(line: &str, delimiter: char) -> Vec<String> {
    line.split(delimiter)
        .map(|c| c.trim().trim_matches('"').trim().to_string())
        .collect()
}

impl TargetTable {
    /// Read `id_column` and `target` (default: the one column besides the id) from a
    /// tab- or comma-separated file with a header line.
    pub fn read(path: &Path, id_column: &str, target: Option<&str>) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the label table {}", path.display()))?;
        Self::parse(&text, id_column, target)
            .with_context(|| format!("in the label table {}", path.display()))
    }

    pub fn parse(text: &str, id_column: &str, target: Option<&str>) -> Result<Self> {
        let mut lines = text
            .lines()
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| !l.trim().is_empty());
        let Some(header) = lines.next() else {
            bail!("the table is empty");
        };
        let delimiter = if header.contains('\t') { '\t' } else { ',' };
        let header = cells(header, delimiter);
        let find = |name: &str| header.iter().position(|h| h == name);
        let Some(id_at) = find(id_column) else {
            bail!(
                "no subject id column '{id_column}' (columns: {}); name it with --id-column",
                header.join(", ")
            );
        };
        let target_at = match target {
            Some(t) => find(t)
                .with_context(|| format!("no column '{t}' (columns: {})", header.join(", ")))?,
            None => {
                let others: Vec<usize> = (0..header.len()).filter(|&i| i != id_at).collect();
                match others[..] {
                    [only] => only,
                    _ => bail!(
                        "which column is the target? Pass --target (columns: {})",
                        header.join(", ")
                    ),
                }
            }
        };
        let mut rows = BTreeMap::new();
        for (n, line) in lines.enumerate() {
            let c = cells(line, delimiter);
            let (Some(id), Some(value)) = (c.get(id_at), c.get(target_at)) else {
                bail!(
                    "line {} has {} cells, fewer than the header",
                    n + 2,
                    c.len()
                );
            };
            if id.is_empty() {
                continue;
            }
            if rows.insert(bare(id).to_string(), value.clone()).is_some() {
                bail!("subject '{id}' appears twice");
            }
        }
        Ok(Self {
            column: header[target_at].clone(),
            rows,
        })
    }

    /// The cell of a discovered subject (`sub-01`, `sub-01_ses-a`, a case id), if any and
    /// not empty or `n/a`.
    pub fn get(&self, subject: &str) -> Option<&str> {
        let id = bare(subject);
        let session_free = id.split("_ses-").next().unwrap_or(id);
        [id, session_free]
            .into_iter()
            .find_map(|k| self.rows.get(k))
            .map(String::as_str)
            .filter(|v| {
                !v.is_empty() && !v.eq_ignore_ascii_case("n/a") && !v.eq_ignore_ascii_case("na")
            })
    }

    /// The cell of every subject, or an error naming the subjects without one.
    pub fn cells_for(&self, subjects: &[SubjectScans]) -> Result<Vec<String>> {
        let missing: Vec<&str> = subjects
            .iter()
            .filter(|s| self.get(&s.id).is_none())
            .map(|s| s.id.as_str())
            .collect();
        if !missing.is_empty() {
            bail!(
                "{} of {} subjects have no '{}' in the table: {}{}",
                missing.len(),
                subjects.len(),
                self.column,
                missing[..missing.len().min(5)].join(", "),
                if missing.len() > 5 { ", ..." } else { "" }
            );
        }
        Ok(subjects
            .iter()
            .map(|s| self.get(&s.id).unwrap_or_default().to_string())
            .collect())
    }
}

/// Class names (sorted distinct values) and each cell's class index.
pub fn classes(cells: &[String]) -> Result<(Vec<String>, Vec<usize>)> {
    let mut names: Vec<String> = cells.to_vec();
    names.sort();
    names.dedup();
    if names.len() < 2 {
        bail!(
            "classification needs at least 2 classes, but every subject is '{}'",
            names.first().map_or("", |s| s.as_str())
        );
    }
    let index = cells
        .iter()
        .map(|c| names.binary_search(c).unwrap_or(0))
        .collect();
    Ok((names, index))
}

/// Each cell as a number; `ids` name the subjects in errors.
pub fn values(cells: &[String], ids: &[&str], column: &str) -> Result<Vec<f64>> {
    cells
        .iter()
        .zip(ids)
        .map(|(c, id)| match c.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => bail!("regression needs numbers, but '{column}' of {id} is '{c}'"),
        })
        .collect()
}

/// Subjects with their targets: class indices (with names) or values.
pub struct Labelled {
    pub subjects: Vec<SubjectScans>,
    pub targets: Vec<f64>,
    pub class_names: Vec<String>,
    pub column: String,
}

/// Discover `data` and give every subject its target from `table`. With `known_classes`
/// (evaluating a trained model) cells must be among them; otherwise the classes are the
/// sorted distinct cells.
pub fn labelled_subjects(
    data: &Path,
    table: &Path,
    id_column: &str,
    target: Option<&str>,
    classify: bool,
    known_classes: Option<&[String]>,
) -> Result<Labelled> {
    let subjects = discover(data)?;
    let table = TargetTable::read(table, id_column, target)?;
    let cells = table.cells_for(&subjects)?;
    let (targets, class_names) = if classify {
        match known_classes {
            Some(names) => {
                let t = cells
                    .iter()
                    .zip(&subjects)
                    .map(|(c, s)| match names.iter().position(|n| n == c) {
                        Some(i) => Ok(i as f64),
                        None => bail!(
                            "{}: '{c}' is not one of the model's classes ({})",
                            s.id,
                            names.join(", ")
                        ),
                    })
                    .collect::<Result<Vec<f64>>>()?;
                (t, names.to_vec())
            }
            None => {
                let (names, index) = classes(&cells)?;
                (index.into_iter().map(|i| i as f64).collect(), names)
            }
        }
    } else {
        let ids: Vec<&str> = subjects.iter().map(|s| s.id.as_str()).collect();
        (values(&cells, &ids, &table.column)?, Vec::new())
    };
    Ok(Labelled {
        subjects,
        targets,
        class_names,
        column: table.column,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(id: &str) -> SubjectScans {
        SubjectScans {
            id: id.into(),
            scans: vec![],
            labels: None,
        }
    }

    #[test]
    fn reads_tsv_and_csv_and_matches_with_or_without_sub() {
        let t = TargetTable::parse(
            "participant_id\tage\tgroup\nsub-01\t30\tAD\n02\t41.5\tCN\nsub-03\tn/a\tCN\n",
            "participant_id",
            Some("age"),
        )
        .unwrap();
        assert_eq!(t.get("sub-01"), Some("30"));
        assert_eq!(t.get("01"), Some("30"));
        assert_eq!(t.get("sub-02_ses-a"), Some("41.5"));
        assert_eq!(t.get("sub-03"), None);
        let err = t
            .cells_for(&[subject("sub-01"), subject("sub-03"), subject("sub-09")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("2 of 3") && err.contains("sub-09"), "{err}");

        let c = TargetTable::parse("id,dx\n\"a\",yes\nb,no\n", "id", None).unwrap();
        assert_eq!((c.column.as_str(), c.get("b")), ("dx", Some("no")));
        let cells = c.cells_for(&[subject("a"), subject("b")]).unwrap();
        let (names, index) = classes(&cells).unwrap();
        assert_eq!(
            (names, index),
            (vec!["no".into(), "yes".into()], vec![1, 0])
        );
    }

    #[test]
    fn explains_bad_tables() {
        let e = |r: Result<TargetTable>| r.unwrap_err().to_string();
        assert!(e(TargetTable::parse("", "id", None)).contains("empty"));
        assert!(e(TargetTable::parse("x\ty\n", "id", None)).contains("--id-column"));
        assert!(e(TargetTable::parse("id\ta\tb\n", "id", None)).contains("--target"));
        assert!(e(TargetTable::parse("id\ta\n", "id", Some("c"))).contains("no column 'c'"));
        assert!(e(TargetTable::parse("id\ta\n1\t2\n1\t3\n", "id", None)).contains("twice"));
        assert!(classes(&["x".into(), "x".into()])
            .unwrap_err()
            .to_string()
            .contains("at least 2"));
        let err = values(&["3".into(), "old".into()], &["a", "b"], "age").unwrap_err();
        assert!(err.to_string().contains("'age' of b is 'old'"), "{err}");
    }
}
