//! `drake-catalog [--check] [WORKSPACE]`: regenerate the host's task table
//! and `spin.toml` from the task crates (`make catalog`), or with
//! `--check` only say which of them is out of date (exit 1).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut check = false;
    let mut root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--check" => check = true,
            "-h" | "--help" => {
                println!(
                    "drake-catalog [--check] [WORKSPACE]: write {} and {} from the task crates",
                    drake_catalog::REGISTRY_RS,
                    drake_catalog::SPIN_TOML
                );
                return ExitCode::SUCCESS;
            }
            path => root = PathBuf::from(path),
        }
    }
    let catalog = match drake_catalog::scan(&root) {
        Ok(catalog) => catalog,
        Err(problems) => {
            eprintln!("drake-catalog: {problems}");
            return ExitCode::FAILURE;
        }
    };
    let stale = catalog.stale(&root);
    if check {
        if stale.is_empty() {
            return ExitCode::SUCCESS;
        }
        eprintln!(
            "drake-catalog: out of date: {} (run `make catalog`)",
            stale.join(", ")
        );
        return ExitCode::FAILURE;
    }
    for (path, text) in catalog.generated() {
        if !stale.contains(&path) {
            continue;
        }
        if let Err(e) = std::fs::write(root.join(path), text) {
            eprintln!("drake-catalog: writing {path}: {e}");
            return ExitCode::FAILURE;
        }
        println!("wrote {path}");
    }
    println!("{} tasks", catalog.tasks.len());
    ExitCode::SUCCESS
}
