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

use crate::io::{read_bytes, write_atomic};

const CKPT_MAGIC: &[u8; 8] = b"BFMCKPT\0";

#[derive(Serialize, Deserialize)]
struct CheckpointHeader<S> {
    step: u64,
    spec: S,
    model_len: u64,
    /// Run-specific state besides model and optimiser (e.g. the best validation score).
    #[serde(default)]
    extra: serde_json::Value,
}

/// A run's folder: `checkpoint.bfck` and `metrics.jsonl`.
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

    /// Write model, optimiser, step and `spec` (the settings a resume must repeat)
    /// through a temporary file, so a kill never leaves a broken checkpoint.
    pub fn save<S: Serialize>(
        &self,
        trainer: &Trainer,
        spec: &S,
        extra: serde_json::Value,
    ) -> Result<()> {
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
        let header = serde_json::to_vec(&CheckpointHeader {
            step: trainer.step,
            spec,
            model_len: model.len() as u64,
            extra,
        })?;
        let mut out = Vec::with_capacity(16 + header.len() + model.len() + optim.len());
        out.extend_from_slice(CKPT_MAGIC);
        out.extend_from_slice(&(header.len() as u64).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&model);
        out.extend_from_slice(&optim);
        write_atomic(&self.checkpoint(), &out)
    }

    /// Load the checkpoint into `trainer` if `resume`; refuse one written with other
    /// settings. Returns the saved extra state (`Null` for a fresh run).
    pub fn resume<S: Serialize + DeserializeOwned + PartialEq>(
        &self,
        trainer: &mut Trainer,
        spec: &S,
        resume: bool,
    ) -> Result<serde_json::Value> {
        let path = self.checkpoint();
        if !resume {
            return Ok(serde_json::Value::Null);
        }
        if !path.exists() {
            bail!("--resume: no checkpoint at {}", path.display());
        }
        let bytes = read_bytes(&path, "checkpoint")?;
        let bad = || {
            anyhow::anyhow!(
                "{} is not a brainfm checkpoint (or is truncated)",
                path.display()
            )
        };
        if bytes.len() < 16 || &bytes[..8] != CKPT_MAGIC {
            return Err(bad());
        }
        let hlen = u64::from_le_bytes(bytes[8..16].try_into()?) as usize;
        let header: CheckpointHeader<S> = serde_json::from_slice(
            bytes.get(16..16 + hlen).ok_or_else(bad)?,
        )
        .with_context(|| {
            format!(
                "{} has a corrupt header or comes from another command",
                path.display()
            )
        })?;
        if &header.spec != spec {
            bail!(
                "{} was written with different settings; resume with the original arguments",
                path.display()
            );
        }
        let m0 = 16 + hlen;
        let m1 = m0 + header.model_len as usize;
        let model = bytes.get(m0..m1).ok_or_else(bad)?.to_vec();
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(model))
            .map_err(|e| anyhow::anyhow!("{}: bad model record: {e:?}", path.display()))?;
        trainer.model = trainer
            .model
            .clone()
            .try_load_record(record)
            .map_err(|e| anyhow::anyhow!("{}: model does not fit: {e:?}", path.display()))?;
        trainer.optimizer = trainer
            .config
            .optimizer()
            .from_bytes(Bytes::from_bytes_vec(bytes[m1..].to_vec()))
            .map_err(|e| anyhow::anyhow!("{}: bad optimiser state: {e:?}", path.display()))?;
        trainer.step = header.step;
        Ok(header.extra)
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
