//! Cold and warm starts of `drake`, measured in one run (bench/README.md):
//!
//! - `drake tasks` and the first `drake serve` on a fresh data directory,
//!   by a user whose per-user cache is empty, with the components
//!   precompiled beside their `.wasm` files (what `make build` leaves);
//! - the same with no precompiled components (a copy of the `.wasm` files
//!   elsewhere): the first start compiles every component into the
//!   per-user cache, the second (warm) loads them from it.
//!
//! Times are wall clock from spawning the process to its answer (`drake
//! tasks` exiting, `drake serve` printing its listening line).
#![allow(clippy::unwrap_used, reason = "bench: a failure is a panic")]

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Repetitions of each warm measurement (the median is printed).
const ROUNDS: usize = 5;

/// A fresh home (per-user cache) and data directory.
struct Home(tempfile::TempDir);

impl Home {
    fn new() -> Home {
        Home(tempfile::tempdir().unwrap())
    }

    fn command(&self, components: &Path) -> Command {
        let mut command = Command::new(common::drake_bin());
        command
            .env("HOME", self.0.path())
            .env("XDG_CACHE_HOME", self.0.path().join("cache"))
            .env("DRAKE_COMPONENTS_DIR", components)
            .env("DRAKE_LOG", "warn");
        command
    }
}

/// `drake tasks`: spawn to exit.
fn tasks(home: &Home, components: &Path) -> Duration {
    let started = Instant::now();
    let out = home.command(components).arg("tasks").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed()
}

/// `drake serve` on a fresh data directory: spawn to its listening line.
fn serve(home: &Home, components: &Path) -> Duration {
    let data = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = home
        .command(components)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let elapsed = loop {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "drake exited");
        if line.starts_with("drake listening on ") {
            break started.elapsed();
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    elapsed
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let built = common::components_dir();
    // 1. Precompiled beside the .wasm files (`drake precompile`), an empty
    //    per-user cache each time: every user's first start.
    let precompile = Command::new(common::drake_bin())
        .arg("precompile")
        .env("DRAKE_COMPONENTS_DIR", &built)
        .status()
        .unwrap();
    assert!(precompile.success());
    let home = Home::new();
    let serve_first = serve(&home, &built);
    let serve_warm = median((0..ROUNDS).map(|_| serve(&home, &built)).collect());
    let tasks_fresh = median((0..ROUNDS).map(|_| tasks(&Home::new(), &built)).collect());

    // 2. No precompiled components: compile once into the cache, then warm.
    let bare = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&built).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "wasm") {
            std::fs::copy(&path, bare.path().join(entry.file_name())).unwrap();
        }
    }
    let home = Home::new();
    let serve_compiling = serve(&home, bare.path());
    let serve_cached = median((0..ROUNDS).map(|_| serve(&home, bare.path())).collect());
    let tasks_cached = median((0..ROUNDS).map(|_| tasks(&home, bare.path())).collect());

    println!("start times (median of {ROUNDS}; first starts: one run)");
    println!("| start | precompiled beside the .wasm | per-user cache only |");
    println!("|---|---|---|");
    println!(
        "| first `drake serve` of a user (fresh data dir, empty cache) | {} | {} (compiles every component) |",
        ms(serve_first),
        ms(serve_compiling)
    );
    println!(
        "| `drake serve` again (fresh data dir) | {} | {} |",
        ms(serve_warm),
        ms(serve_cached)
    );
    println!(
        "| `drake tasks` | {} (empty cache) | {} |",
        ms(tasks_fresh),
        ms(tasks_cached)
    );
}
