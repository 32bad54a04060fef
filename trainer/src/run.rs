//! What every training run shares, whatever it optimises: atomic checkpoints with the
//! optimiser state, exact `--resume`, the JSONL metrics log and the step progress bar.
//! `pretrain` and `finetune` differ only in their data and objective.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use brainfm_core::train::{StepReport, Trainer};
use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use indicatif::{ProgressBar, ProgressStyle};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::io::{read_bytes, write_atomic_keeping};

const CKPT_MAGIC: &[u8; 8] = b"BFMCKPT\0";

#[derive(Serialize, Deserialize)]
struct CheckpointHeader<S> {
    step: u64,
    spec: S,
    model_len: u64,
    /// Run-specific state besides model and optimiser (e.g. the best validation score).
    #[serde(default)]
    extra: serde_json::Value,
    /// SHA-256 of this header (with this field empty) followed by everything after it
    /// (model and optimiser), so a flipped step count is caught as surely as a flipped
    /// weight. Checkpoints written before it existed have none and load unchecked.
    #[serde(default)]
    sha256: Option<String>,
}

/// Why a checkpoint could not be loaded: a damaged file (another may serve) or anything else.
enum LoadError {
    Damaged(anyhow::Error),
    Other(anyhow::Error),
}

/// A run's folder: `checkpoint.bfck` (and the one before it, `checkpoint.prev.bfck`) and
/// `metrics.jsonl`.
pub struct RunDir {
    pub dir: PathBuf,
}

impl RunDir {
    pub fn new(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create output folder {}", dir.display()))?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    pub fn checkpoint(&self) -> PathBuf {
        self.dir.join("checkpoint.bfck")
    }

    /// The checkpoint before the last: what `--resume` uses if the last one is damaged.
    pub fn previous_checkpoint(&self) -> PathBuf {
        self.dir.join("checkpoint.prev.bfck")
    }

    /// Write model, optimiser, step and `spec` (the settings a resume must repeat)
    /// through a temporary file, so a kill never leaves a broken checkpoint.
    pub fn save<S: Serialize>(
        &self,
        trainer: &Trainer,
        spec: &S,
        extra: serde_json::Value,
    ) -> Result<()> {
        let out = checkpoint_bytes(trainer, spec, extra)?;
        write_atomic_keeping(&self.checkpoint(), &out, Some(&self.previous_checkpoint()))
    }

    /// Load the checkpoint into `trainer` if `resume`; refuse one written with other
    /// settings. A damaged last checkpoint (truncated, failing its checksum) is reported and
    /// the previous one used. Returns the saved extra state (`Null` for a fresh run).
    pub fn resume<S: Serialize + DeserializeOwned + PartialEq>(
        &self,
        trainer: &mut Trainer,
        spec: &S,
        resume: bool,
    ) -> Result<serde_json::Value> {
        if !resume {
            return Ok(serde_json::Value::Null);
        }
        let (last, previous) = (self.checkpoint(), self.previous_checkpoint());
        if !last.exists() && !previous.exists() {
            bail!("--resume: no checkpoint at {}", last.display());
        }
        let mut damaged = Vec::new();
        for path in [&last, &previous] {
            if !path.exists() {
                continue;
            }
            match load_checkpoint(path, trainer, spec) {
                Ok(extra) => {
                    if !damaged.is_empty() {
                        eprintln!(
                            "warning: {}; resumed from {} (step {}) instead",
                            damaged.join("; "),
                            path.display(),
                            trainer.step
                        );
                    }
                    return Ok(extra);
                }
                Err(LoadError::Damaged(e)) => damaged.push(format!("{e:#}")),
                Err(LoadError::Other(e)) => return Err(e),
            }
        }
        bail!("--resume: no usable checkpoint: {}", damaged.join("; "))
    }

    /// The metrics log, opened for appending; a resumed run first cuts a partial last
    /// line (a run killed mid-write) and records the resume.
    pub fn metrics(&self, step: u64) -> Result<MetricsLog> {
        let path = self.dir.join("metrics.jsonl");
        if step > 0 {
            drop_partial_line(&path)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let mut log = MetricsLog { file };
        if step > 0 {
            log.write(serde_json::json!({"event": "resume", "step": step}))?;
        }
        Ok(log)
    }
}

/// A checkpoint's bytes: model, optimiser, step, `spec` and `extra`, checksummed (what
/// [`RunDir::save`] writes and [`read_checkpoint`] reads).
pub fn checkpoint_bytes<S: Serialize>(
    trainer: &Trainer,
    spec: &S,
    extra: serde_json::Value,
) -> Result<Vec<u8>> {
    let model = trainer
        .model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| anyhow::anyhow!("cannot serialise the model: {e:?}"))?;
    let optim = trainer
        .optimizer
        .into_bytes()
        .map_err(|e| anyhow::anyhow!("cannot serialise the optimiser: {e:?}"))?;
    let mut header = CheckpointHeader {
        step: trainer.step,
        spec,
        model_len: model.len() as u64,
        extra,
        sha256: None,
    };
    header.sha256 = Some(checksum(&header, &[&model[..], &optim[..]])?);
    let header = serde_json::to_vec(&header)?;
    let mut out = Vec::with_capacity(16 + header.len() + model.len() + optim.len());
    out.extend_from_slice(CKPT_MAGIC);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&model);
    out.extend_from_slice(&optim);
    Ok(out)
}

pub struct MetricsLog {
    file: File,
}

impl MetricsLog {
    /// One write per line: a killed run leaves at most one partial line.
    pub fn write(&mut self, line: serde_json::Value) -> Result<()> {
        self.file.write_all(format!("{line}\n").as_bytes())?;
        self.file.flush()?;
        Ok(())
    }

    /// The step report as JSON, plus run-specific fields.
    pub fn step(&mut self, report: &StepReport, extra: serde_json::Value) -> Result<()> {
        let terms: serde_json::Map<String, serde_json::Value> = report
            .terms
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::json!(v)))
            .collect();
        let mut line = serde_json::json!({"step": report.step, "loss": report.loss, "lr": report.lr,
            "grad_norm": report.grad_norm, "terms": terms, "skipped": report.skipped});
        if let (Some(line), serde_json::Value::Object(extra)) = (line.as_object_mut(), extra) {
            line.extend(extra);
        }
        self.write(line)
    }
}

fn drop_partial_line(path: &Path) -> Result<()> {
    let Ok(text) = std::fs::read(path) else {
        return Ok(());
    };
    if text.last().is_some_and(|&b| b != b'\n') {
        let keep = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let f = OpenOptions::new()
            .write(true)
            .open(path)
            .with_context(|| format!("cannot repair {}", path.display()))?;
        f.set_len(keep as u64)
            .with_context(|| format!("cannot repair {}", path.display()))?;
    }
    Ok(())
}

/// `steps` bar starting at `position`, hidden when quiet.
pub fn step_bar(steps: u64, position: u64, quiet: bool) -> ProgressBar {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(steps)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} steps {msg} [{elapsed} eta {eta}]")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_position(position);
    bar
}

/// Read `path` into `trainer`, checking magic, lengths and checksum before anything loads.
fn load_checkpoint<S: Serialize + DeserializeOwned + PartialEq>(
    path: &Path,
    trainer: &mut Trainer,
    spec: &S,
) -> std::result::Result<serde_json::Value, LoadError> {
    let bytes = read_bytes(path, "checkpoint").map_err(LoadError::Other)?;
    load_checkpoint_bytes(&bytes, path, trainer, spec)
}

/// [`RunDir::resume`]'s reader on bytes (`path` names them in errors), for the fuzzer
/// (fuzz/fuzz_targets/checkpoint.rs): an error, never a panic, whatever the bytes.
pub fn read_checkpoint<S: Serialize + DeserializeOwned + PartialEq>(
    bytes: &[u8],
    path: &Path,
    trainer: &mut Trainer,
    spec: &S,
) -> Result<serde_json::Value> {
    load_checkpoint_bytes(bytes, path, trainer, spec).map_err(|e| match e {
        LoadError::Damaged(e) | LoadError::Other(e) => e,
    })
}

fn load_checkpoint_bytes<S: Serialize + DeserializeOwned + PartialEq>(
    bytes: &[u8],
    path: &Path,
    trainer: &mut Trainer,
    spec: &S,
) -> std::result::Result<serde_json::Value, LoadError> {
    let damaged = |why: &str| {
        LoadError::Damaged(anyhow::anyhow!(
            "{} is damaged ({why}); it is kept as it is",
            path.display()
        ))
    };
    if bytes.len() < 16 || &bytes[..8] != CKPT_MAGIC {
        return Err(damaged("not a brainfm checkpoint, or truncated"));
    }
    let hlen = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes")) as usize;
    let head = bytes
        .get(16..16usize.saturating_add(hlen))
        .ok_or_else(|| damaged("truncated header"))?;
    let header: CheckpointHeader<S> = match serde_json::from_slice(head) {
        Ok(h) => h,
        // A well-formed header of another command is not damage: say so plainly.
        Err(e) if serde_json::from_slice::<serde_json::Value>(head).is_ok() => {
            return Err(LoadError::Other(anyhow::anyhow!(
                "{} comes from another command ({e})",
                path.display()
            )))
        }
        Err(_) => return Err(damaged("corrupt header")),
    };
    let m0 = 16 + hlen;
    let m1 = m0
        .checked_add(header.model_len as usize)
        .filter(|&m1| m1 <= bytes.len())
        .ok_or_else(|| damaged("truncated model"))?;
    let mut header = header;
    if let Some(expected) = header.sha256.take() {
        let found = checksum(&header, &[&bytes[m0..]]).map_err(LoadError::Other)?;
        if found != expected {
            return Err(damaged(&format!(
                "its contents fail the checksum: SHA-256 {found}, recorded {expected}"
            )));
        }
    }
    if &header.spec != spec {
        return Err(LoadError::Other(anyhow::anyhow!(
            "{} was written with different settings; resume with the original arguments",
            path.display()
        )));
    }
    let other = |e: String| LoadError::Other(anyhow::anyhow!("{}: {e}", path.display()));
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes[m0..m1].to_vec()))
        .map_err(|e| other(format!("bad model record: {e:?}")))?;
    trainer.model = trainer
        .model
        .clone()
        .try_load_record(record)
        .map_err(|e| other(format!("model does not fit: {e:?}")))?;
    trainer.optimizer = trainer
        .config
        .optimizer()
        .from_bytes(Bytes::from_bytes_vec(bytes[m1..].to_vec()))
        .map_err(|e| other(format!("bad optimiser state: {e:?}")))?;
    trainer.step = header.step;
    Ok(header.extra)
}

/// SHA-256 (hex) of `header` as JSON (its `sha256` empty) and then `payload`.
fn checksum<S: Serialize>(header: &CheckpointHeader<S>, payload: &[&[u8]]) -> Result<String> {
    debug_assert!(header.sha256.is_none());
    let mut hash = Sha256::new();
    hash.update(serde_json::to_vec(header)?);
    for part in payload {
        hash.update(part);
    }
    Ok(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
