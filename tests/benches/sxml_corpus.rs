//! `cargo bench --profile release -p drake-tests --bench sxml_corpus`
//! (part of `make bench`): every document of the SXML corpus
//! (`tests/fixtures/sxml-corpus/`, documents shaped like real clients')
//! rendered by `video.create` at 720p through drake — create with
//! `block`, fetch over loopback, preview, export, thumbnail, stored — one
//! at a time on the default workers. Prints each document's × real time
//! (movie seconds / wall seconds), the worst and the median (goals: every
//! document ≥ 1×, median ≥ 3×), and the filters that dominate its
//! graphs' time.
//!
//! Per-filter time: ffmpeg 5.1 has none of its own, so ffmpeg runs with
//! `filterprof.c` preloaded (built here with `cc`), which times every
//! filter's callbacks in libavfilter's own tables (exclusive wall time,
//! a clock read per call). For that, ffmpeg runs through a wrapper
//! script with `sandbox = "none"` (bubblewrap would hide the wrapper);
//! without a C compiler the bench runs sandboxed and prints no filters.
#![allow(clippy::unwrap_used, reason = "benchmark")]

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use common::SECRET;
use serde_json::json;

#[tokio::main]
async fn main() {
    let profile = tempfile::tempdir().unwrap();
    let tables = match filter_profiler(profile.path()) {
        Ok(wrapper) => format!(
            "[ffmpeg]\nffmpeg = \"{}\"\nsandbox = \"none\"\nunsandboxed = \"ffmpeg may read and write all that drake can\"\n",
            wrapper.display()
        ),
        Err(why) => {
            println!("(no per-filter time: {why})");
            String::new()
        }
    };
    let common::corpus::Corpus { drake, docs, .. } = common::corpus::start_with(&tables).await;
    println!(
        "video.create, the SXML corpus at 720p (whole task: preview, export, thumbnail), one at a time;"
    );
    println!("  the filters' shares of ffmpeg's wall time (the rest: decoding, encoding, muxing):");
    let mut speeds = Vec::new();
    let mut corpus = Profile::default();
    for doc in &docs {
        let task = json!({"task_name": "video.create", "definition": doc.text, "profile": "720p"});
        let t = Instant::now();
        let (code, body) = drake
            .post(
                "/v1/create",
                json!({"secret": SECRET, "block": true, "tasks": task}),
            )
            .await;
        let wall = t.elapsed().as_secs_f64();
        assert_eq!(code, 200);
        assert_eq!(body[0]["status"], "success", "{}: {body}", doc.name);
        let x = doc.duration / wall;
        let filters = Profile::take(profile.path());
        println!(
            "  {:<36} {:>6.2} s movie  {:>6.2} s wall  {:>6.2}× real time  {}",
            doc.name,
            doc.duration,
            wall,
            x,
            filters.top(3)
        );
        corpus.add(&filters);
        speeds.push((x, doc.name.clone()));
    }
    speeds.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (worst, name) = &speeds[0];
    let median = speeds[speeds.len() / 2].0;
    println!("  worst: {worst:.2}× ({name}; goal ≥ 1×)   median: {median:.2}× (goal ≥ 3×)");
    println!("  the whole corpus: {}", corpus.top(6));
}

/// Build `filterprof.c` and a wrapper that runs ffmpeg with it, writing
/// its reports into `out`; the wrapper's path.
fn filter_profiler(out: &Path) -> Result<PathBuf, String> {
    let dir = common::target_dir().join("filterprof");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let lib = dir.join("filterprof.so");
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/filterprof.c");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let built = std::process::Command::new(&cc)
        .args(["-O2", "-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(source)
        .arg("-ldl")
        .status()
        .map_err(|e| format!("{cc}: {e}"))?;
    if !built.success() {
        return Err(format!("{cc} failed on {source}"));
    }
    let ffmpeg = which("ffmpeg").ok_or("no ffmpeg on PATH")?;
    let wrapper = dir.join("ffmpeg");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nDRAKE_FILTER_PROFILE='{}' LD_PRELOAD='{}' exec '{}' \"$@\"\n",
            out.display(),
            lib.display(),
            ffmpeg.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    Ok(wrapper)
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}

/// Seconds per filter and ffmpeg's wall seconds, over some ffmpeg runs.
#[derive(Default)]
struct Profile {
    filters: HashMap<String, f64>,
    wall: f64,
    unavailable: Option<String>,
}

impl Profile {
    /// The reports written since the last call (removed once read).
    fn take(dir: &Path) -> Profile {
        let mut p = Profile::default();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            std::fs::remove_file(&path).unwrap();
            let mut runs_filters = false;
            let mut wall = 0.0;
            for line in text.lines() {
                if let Some(why) = line.strip_prefix("unavailable: ") {
                    p.unavailable = Some(why.to_owned());
                }
                let fields: Vec<&str> = line.split_whitespace().collect();
                match fields[..] {
                    ["wall", s] => wall = s.parse().unwrap_or(0.0),
                    [name, _calls, s] => {
                        runs_filters = true;
                        *p.filters.entry(name.to_owned()).or_default() +=
                            s.parse::<f64>().unwrap_or(0.0);
                    }
                    _ => {}
                }
            }
            // Probes and version checks run no graph.
            if runs_filters {
                p.wall += wall;
            }
        }
        p
    }

    fn add(&mut self, other: &Profile) {
        for (name, s) in &other.filters {
            *self.filters.entry(name.clone()).or_default() += s;
        }
        self.wall += other.wall;
        if other.unavailable.is_some() {
            self.unavailable.clone_from(&other.unavailable);
        }
    }

    /// `n` filters with the most time, as shares of ffmpeg's wall time.
    fn top(&self, n: usize) -> String {
        if let Some(why) = &self.unavailable {
            return format!("(no per-filter time: {why})");
        }
        if self.wall <= 0.0 {
            return String::new();
        }
        let mut by_time: Vec<(&String, &f64)> = self.filters.iter().collect();
        by_time.sort_by(|a, b| b.1.total_cmp(a.1));
        let all: f64 = self.filters.values().sum();
        let mut out: Vec<String> = by_time
            .iter()
            .take(n)
            .map(|(name, s)| format!("{name} {:.0}%", 100.0 * *s / self.wall))
            .collect();
        out.push(format!("(filters {:.0}%)", 100.0 * all / self.wall));
        out.join(" ")
    }
}
