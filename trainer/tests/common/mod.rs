//! What every end-to-end test of the `brainfm` binary shares: running it (a panic is
//! always a failure, whatever the exit status), expecting success or a clean error, and
//! a fresh scratch folder per test process.

// Each test crate uses its own subset.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test: `BRAINFM_BIN` when set, else the one cargo built. Cargo's
/// path is the uplifted `target/debug/brainfm`, which any other checkout sharing the
/// target folder overwrites when it builds; `BRAINFM_BIN` can name this build's own
/// `deps/brainfm-HASH` instead.
pub fn binary() -> PathBuf {
    std::env::var_os("BRAINFM_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_brainfm")))
}

/// Run `brainfm` with `args`; fails the test if it panicked.
pub fn brainfm(args: &[&str]) -> Output {
    let out = Command::new(binary())
        .args(args)
        .output()
        .expect("brainfm runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "brainfm panicked: {stderr}");
    out
}

/// Run `brainfm`, require success, return its stdout.
pub fn ok(args: &[&str]) -> String {
    let out = brainfm(args);
    assert!(
        out.status.success(),
        "brainfm {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Run `brainfm`, require failure, return its stderr (the error the user sees).
pub fn failure(args: &[&str]) -> String {
    let out = brainfm(args);
    assert!(!out.status.success(), "brainfm {args:?} should have failed");
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// An empty folder for this test crate, process and `name` (tests run in parallel).
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "brainfm-{}-{}-{name}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A path as the `&str` a command line takes.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("scratch paths are UTF-8")
}

/// Last logged loss (and recon term) per step: a resumed run re-logs steps after its checkpoint.
pub fn losses(metrics: &Path) -> BTreeMap<u64, (f64, f64)> {
    let text = std::fs::read_to_string(metrics).unwrap();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if let (Some(step), Some(loss)) = (v["step"].as_u64(), v["loss"].as_f64()) {
            if v.get("event").is_none() {
                out.insert(step, (loss, v["terms"]["recon"].as_f64().unwrap_or(loss)));
            }
        }
    }
    out
}
