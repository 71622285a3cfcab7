//! Find the SeetaFace frontal model inside the `rustface` crate package
//! (the crate ships `model/seeta_fd_frontal_v1.0.bin` but exposes no
//! bytes), so `src/detect.rs` can `include_bytes!` it without a copy in
//! this repository. The package is located through `cargo metadata` (works
//! with any registry, vendoring or path override), falling back to the
//! registry sources under `$CARGO_HOME`.

use std::path::PathBuf;
use std::process::Command;

const MODEL: &str = "model/seeta_fd_frontal_v1.0.bin";

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let dir = from_metadata()
        .or_else(from_registry)
        .unwrap_or_else(|| panic!("the rustface crate package (with {MODEL}) was not found"));
    let model = dir.join(MODEL);
    assert!(model.is_file(), "{} is missing", model.display());
    println!("cargo::rerun-if-changed={}", model.display());
    println!("cargo::rustc-env=DRAKE_SEETA_MODEL={}", model.display());
}

/// The rustface package directory from `cargo metadata`.
fn from_metadata() -> Option<PathBuf> {
    let cargo = std::env::var_os("CARGO")?;
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?).join("Cargo.toml");
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    meta["packages"].as_array()?.iter().find_map(|p| {
        (p["name"] == "rustface")
            .then(|| {
                PathBuf::from(p["manifest_path"].as_str()?)
                    .parent()
                    .map(PathBuf::from)
            })
            .flatten()
    })
}

/// `$CARGO_HOME/registry/src/*/rustface-*` (the newest name wins).
fn from_registry() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let mut found: Vec<PathBuf> = std::fs::read_dir(home.join("registry/src"))
        .ok()?
        .flatten()
        .flat_map(|index| {
            std::fs::read_dir(index.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("rustface-"))
                && p.join(MODEL).is_file()
        })
        .collect();
    found.sort();
    found.pop()
}
