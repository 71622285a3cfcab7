//! `cargo bench -p drake-tests --bench thumb` (after `bench/thumb/setup.sh`,
//! which installs sharp from npm and takes real photos from Debian's
//! `lomiri-wallpapers-*` packages): drake's `image.thumb` against sharp
//! (libvips) on the same large JPEGs → 256 px wide JPEG at quality 85,
//! one thread each, alternating round by round.
//!
//! drake's time is what a client sees: `POST /v1/create` with `block:
//! true` — HTTP, queue, the fetch of the photo over loopback, the task in
//! its wasm sandbox (decode at a DCT scale, resize, encode), storage. The
//! peer's is sharp's pipeline from the file on disk to the encoded
//! thumbnail. Goal: drake ≤ 1.0× sharp. Quality: SSIM of drake's
//! thumbnail against sharp's (luma, 8×8 windows), goal ≥ 0.97.
#![allow(clippy::unwrap_used, reason = "benchmark")]

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Drake, Fixtures};
use serde_json::json;

/// Rounds per photo and side.
const ROUNDS: usize = 15;
const WIDTH: u32 = 256;
const QUALITY: u32 = 85;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Mean SSIM of the luma of two same-sized images over 8×8 windows
/// (stride 4), with the usual constants for 8-bit data.
fn ssim(a: &image::GrayImage, b: &image::GrayImage) -> f64 {
    const C1: f64 = (0.01 * 255.0) * (0.01 * 255.0);
    const C2: f64 = (0.03 * 255.0) * (0.03 * 255.0);
    let (w, h) = a.dimensions();
    let mut total = 0.0;
    let mut n = 0u32;
    for y in (0..h.saturating_sub(7)).step_by(4) {
        for x in (0..w.saturating_sub(7)).step_by(4) {
            let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for dy in 0..8 {
                for dx in 0..8 {
                    let p = f64::from(a.get_pixel(x + dx, y + dy).0[0]);
                    let q = f64::from(b.get_pixel(x + dx, y + dy).0[0]);
                    sa += p;
                    sb += q;
                    saa += p * p;
                    sbb += q * q;
                    sab += p * q;
                }
            }
            let m = 64.0;
            let (ma, mb) = (sa / m, sb / m);
            let (va, vb) = (saa / m - ma * ma, sbb / m - mb * mb);
            let cov = sab / m - ma * mb;
            total += ((2.0 * ma * mb + C1) * (2.0 * cov + C2))
                / ((ma * ma + mb * mb + C1) * (va + vb + C2));
            n += 1;
        }
    }
    total / f64::from(n.max(1))
}

struct Sharp {
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
    _child: std::process::Child,
}

impl Sharp {
    fn start(root: &Path) -> Sharp {
        let mut child = Command::new("node")
            .arg(root.join("bench/thumb/sharp-peer.js"))
            .current_dir(root.join("bench/thumb"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node (run bench/thumb/setup.sh first)");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut versions = String::new();
        stdout.read_line(&mut versions).unwrap();
        println!("peer: {}", versions.trim());
        Sharp {
            stdin: child.stdin.take().unwrap(),
            stdout,
            _child: child,
        }
    }

    fn thumb(&mut self, file: &Path, out: &Path) -> Duration {
        writeln!(
            self.stdin,
            "{} {WIDTH} {QUALITY} {}",
            file.display(),
            out.display()
        )
        .unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        Duration::from_secs_f64(line.trim().parse::<f64>().unwrap() / 1000.0)
    }
}

/// Run `task` through drake (`block: true`); the URL of its `output`.
async fn through_drake(drake: &Drake, task: serde_json::Value) -> String {
    let status = &drake.create(task, true).await[0];
    assert_eq!(status["status"], "success", "{status}");
    status["result"]["output"].as_str().unwrap().to_owned()
}

#[tokio::main]
async fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let photos: Vec<PathBuf> = [
        "Kleiber_by_Lukas_Baubkus.jpg",
        "seeding_by_Clements_Engelhardt.jpg",
        "Dragonfly_by_Bolly.jpg",
    ]
    .iter()
    .map(|f| root.join("target/bench-photos").join(f))
    .collect();
    if let Some(missing) = photos.iter().find(|p| !p.exists()) {
        eprintln!("{} is missing: run bench/thumb/setup.sh", missing.display());
        std::process::exit(2);
    }
    let drake = Drake::start().await;
    let fx = Fixtures::start().await;
    let mut sharp = Sharp::start(&root);
    let dir = tempfile::tempdir().unwrap();
    println!("image.thumb → {WIDTH} px JPEG q{QUALITY}, {ROUNDS} alternating rounds, medians:");
    // drake's floor: the same path for a photo with (almost) no pixels —
    // HTTP, queue, fetch, a fresh instance, storage.
    let tiny = common::jpeg(64, 48);
    let url = fx.add("tiny.jpg", "image/jpeg", tiny);
    let mut floor = Vec::new();
    for _ in 0..=ROUNDS {
        let t = Instant::now();
        through_drake(
            &drake,
            json!({"task_name": "image.thumb", "url": url, "width": 32}),
        )
        .await;
        floor.push(t.elapsed());
    }
    println!(
        "  drake's floor (a 64×48 JPEG, same path): {:.2} ms",
        median(floor).as_secs_f64() * 1e3
    );
    for photo in &photos {
        let name = photo.file_name().unwrap().to_str().unwrap();
        let url = fx.add(name, "image/jpeg", std::fs::read(photo).unwrap());
        let task = json!({"task_name": "image.thumb", "url": url, "width": WIDTH});
        let theirs_file = dir.path().join("sharp.jpg");
        // Warm-up: page cache, AOT cache, node's JIT.
        let mut output = through_drake(&drake, task.clone()).await;
        sharp.thumb(photo, &theirs_file);
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            theirs.push(sharp.thumb(photo, &theirs_file));
            let t = Instant::now();
            output = through_drake(&drake, task.clone()).await;
            ours.push(t.elapsed());
        }
        let (ours, theirs) = (median(ours), median(theirs));
        let a = image::load_from_memory(&common::download(&output).await)
            .unwrap()
            .to_luma8();
        let b = image::open(&theirs_file).unwrap().to_luma8();
        let quality = if a.dimensions() == b.dimensions() {
            format!("SSIM {:.4}", ssim(&a, &b))
        } else {
            format!("sizes differ: {:?} vs {:?}", a.dimensions(), b.dimensions())
        };
        println!(
            "  {name:38} sharp {:7.2} ms   drake {:7.2} ms   drake/sharp {:.2}×   {quality}",
            theirs.as_secs_f64() * 1e3,
            ours.as_secs_f64() * 1e3,
            ours.as_secs_f64() / theirs.as_secs_f64()
        );
    }
}
