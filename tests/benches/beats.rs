//! `cargo bench -p drake-tests --bench beats` (after `bench/beats/setup.sh`,
//! which renders 40 real MIDI songs from Debian packages with fluidsynth
//! and builds a venv with librosa and mir_eval): `audio.beats` against
//! librosa's `beat_track` on the same files, in the same run.
//!
//! 1. drake's tracker in the wasm sandbox: `drake-audio`'s `beats`
//!    example, built for `wasm32-wasip2` (the component's code and
//!    compiler flags), run in wasmtime over the corpus; it times decoding
//!    and tracking separately, so the tracker is compared with
//!    `beat_track` (both start from decoded samples; goal ≥ 20×).
//! 2. Every file through drake's API (`POST /v1/create`, `block: true`):
//!    the beats must equal the example's, and the task's time (fetch,
//!    decode, track) is compared with librosa's load + beat_track.
//!    (`BEATS_BENCH=tracker` stops after step 1 and prints its total.)
//! 3. `bench/beats/compare.py` runs librosa (JIT warmed up, BLAS on one
//!    thread), scores both against the MIDI beats (mir_eval F-measure,
//!    ±70 ms) and prints the table and the ratios.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark")]

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::{Drake, Fixtures, SECRET};
use serde_json::{Value, json};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::sync::Command as WasiCommand;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

struct State {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Run the wasm `beats` example over `names` in `corpus`, results in `out`.
fn run_wasm_tracker(wasm: &Path, corpus: &Path, out: &Path, names: &[String]) {
    let engine = Engine::default();
    let component = Component::from_file(&engine, wasm).unwrap();
    let mut linker = Linker::<State>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
    let mut args = vec!["beats".to_owned(), "/out".to_owned()];
    args.extend(names.iter().map(|n| format!("/corpus/{n}.wav")));
    let wasi = WasiCtx::builder()
        .inherit_stderr()
        .args(&args)
        .preopened_dir(corpus, "/corpus", FsPerms::ReadOnly)
        .unwrap()
        .preopened_dir(out, "/out", FsPerms::ReadWrite)
        .unwrap()
        .build();
    let mut store = Store::new(
        &engine,
        State {
            wasi,
            table: ResourceTable::new(),
        },
    );
    let command = WasiCommand::instantiate(&mut store, &component, &linker).unwrap();
    command
        .wasi_cli_run()
        .call_run(&mut store)
        .unwrap()
        .expect("the beats example failed");
}

#[tokio::main]
async fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let corpus = root.join("target/beats-corpus");
    let python = root.join("target/beats-venv/bin/python");
    if !corpus.is_dir() || !python.exists() {
        eprintln!("no corpus or venv: run bench/beats/setup.sh first");
        std::process::exit(2);
    }
    let mut names: Vec<String> = std::fs::read_dir(&corpus)
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".beats.json").map(str::to_owned)
        })
        .filter(|n| corpus.join(format!("{n}.wav")).exists())
        .collect();
    names.sort();

    // 1. The tracker in wasm, built as the components are.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .current_dir(&root)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "-p",
            "drake-audio",
            "--example",
            "beats",
        ])
        .status()
        .unwrap();
    assert!(built.success(), "building the wasm beats example");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let wasm = target.join("wasm32-wasip2/release/examples/beats.wasm");
    let out = root.join("target/beats-drake");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    {
        let (wasm, corpus, out, names) = (wasm.clone(), corpus.clone(), out.clone(), names.clone());
        tokio::task::spawn_blocking(move || run_wasm_tracker(&wasm, &corpus, &out, &names))
            .await
            .unwrap();
    }

    if std::env::var("BEATS_BENCH").is_ok_and(|v| v == "tracker") {
        // Only the wasm tracker's total (for quick iterations).
        let total: f64 = names
            .iter()
            .map(|n| {
                let r: Value =
                    serde_json::from_slice(&std::fs::read(out.join(format!("{n}.json"))).unwrap())
                        .unwrap();
                r["track_seconds"].as_f64().unwrap()
            })
            .sum();
        println!("wasm tracker: {total:.4} s for {} files", names.len());
        return;
    }
    // 2. The real task, file by file (after one warm-up run).
    let drake = Drake::start().await;
    let fx = Fixtures::start().await;
    let mut task_total = 0.0;
    for (i, name) in names.iter().enumerate() {
        let url = fx.add(
            &format!("{name}.wav"),
            "audio/wav",
            std::fs::read(corpus.join(format!("{name}.wav"))).unwrap(),
        );
        let body = json!({"secret": SECRET, "block": true,
                          "tasks": {"task_name": "audio.beats", "url": url}});
        if i == 0 {
            drake.post("/v1/create", body.clone()).await;
        }
        let started = Instant::now();
        let (code, statuses) = drake.post("/v1/create", body).await;
        let seconds = started.elapsed().as_secs_f64();
        assert_eq!(code, 200);
        assert_eq!(statuses[0]["status"], "success", "{name}: {statuses}");
        task_total += seconds;
        let path = out.join(format!("{name}.json"));
        let mut result: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let ours: Vec<f64> = serde_json::from_value(result["beats"].clone()).unwrap();
        let task: Vec<f64> =
            serde_json::from_value(statuses[0]["result"]["beats"].clone()).unwrap();
        assert!(
            ours.len() == task.len() && ours.iter().zip(&task).all(|(a, b)| (a - b).abs() < 6e-4),
            "{name}: the task's beats differ from the benchmarked tracker's"
        );
        result["task_seconds"] = json!(seconds);
        std::fs::write(&path, result.to_string()).unwrap();
    }
    println!(
        "audio.beats through drake's API: {} files in {task_total:.2} s (beats identical to the wasm tracker's)",
        names.len()
    );

    // 3. librosa on the same files, and the comparison.
    let status = Command::new(&python)
        .arg(root.join("bench/beats/compare.py"))
        .arg(&corpus)
        .arg("--drake")
        .arg(&out)
        .arg("--json")
        .arg(root.join("target/beats-bench.json"))
        .status()
        .unwrap();
    assert!(status.success(), "compare.py");
}
