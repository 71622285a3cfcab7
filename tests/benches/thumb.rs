//! `cargo bench -p drake-tests --bench thumb` (after `bench/thumb/setup.sh`,
//! which installs sharp from npm and takes real photos from Debian's
//! `lomiri-wallpapers-*` packages): drake's `image.thumb` against sharp
//! (libvips) over the matrix a user sends — baseline JPEGs in 4:2:2 (as
//! shot), 4:4:4 and 4:2:0, progressive JPEGs in 4:2:0 and 4:2:2, a PNG
//! and a WebP made from the photos — each to 256, 512, 1024 and 2048 px
//! wide JPEG at quality 85, one thread each, alternating round by round;
//! then throughput: 40 thumbnails submitted at once at 512 and 1024 px,
//! drake on its default workers against sharp's own pool; then the output
//! formats: WebP and AVIF thumbnails of three photos at 512 and 1024 px
//! against sharp's at the same settings, and their bytes and SSIM next to
//! drake's JPEG (each against a lossless PNG thumbnail by sharp).
//! `THUMB_INPUTS=WebP` runs the rows whose label has that text alone.
//!
//! drake's time is what a client sees: `POST /v1/create` with `block:
//! true` — HTTP, queue, the fetch of the photo over loopback, the task in
//! its wasm sandbox (decode at a DCT scale, resize, encode), storage. The
//! peer's is sharp's pipeline from the file on disk to the encoded
//! thumbnail. Goal: every cell ≤ 1.0× sharp. Quality: SSIM of drake's
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

/// Rounds per cell and side.
const ROUNDS: usize = 5;
const WIDTHS: [u32; 4] = [256, 512, 1024, 2048];
const QUALITY: u32 = 85;
/// Thumbnails submitted at once in the throughput runs.
const BATCH: usize = 40;

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

    fn ask(&mut self, line: &str) -> String {
        writeln!(self.stdin, "{line}").unwrap();
        let mut answer = String::new();
        self.stdout.read_line(&mut answer).unwrap();
        answer.trim().to_owned()
    }

    fn ms(&mut self, line: &str) -> Duration {
        Duration::from_secs_f64(self.ask(line).parse::<f64>().unwrap() / 1000.0)
    }

    fn thumb(&mut self, file: &Path, width: u32, out: &Path) -> Duration {
        self.ms(&format!(
            "{} {width} {QUALITY} {}",
            file.display(),
            out.display()
        ))
    }

    /// [`BATCH`] thumbnails at once; the wall time for all.
    fn batch(&mut self, file: &Path, width: u32) -> Duration {
        self.ms(&format!(
            "batch {BATCH} {} {width} {QUALITY}",
            file.display()
        ))
    }

    /// One thumbnail of `file` as `format` (png, webp, avif) into `out`.
    fn thumb_as(&mut self, file: &Path, width: u32, format: &str, out: &Path) -> Duration {
        self.ms(&format!(
            "as {} {width} {format} {}",
            file.display(),
            out.display()
        ))
    }

    /// `file` re-encoded as `format` into `out`, unless already there.
    fn make(&mut self, file: &Path, format: &str, out: &Path) {
        if !out.exists() {
            assert_eq!(
                self.ask(&format!(
                    "make {} {format} {}",
                    file.display(),
                    out.display()
                )),
                "ok"
            );
        }
    }
}

/// One input of the matrix.
struct Input {
    label: &'static str,
    path: PathBuf,
    content_type: &'static str,
}

fn mib(path: &Path) -> f64 {
    std::fs::metadata(path).unwrap().len() as f64 / f64::from(1 << 20)
}

/// Luma of an encoded image (AVIF through ffmpeg: the `image` crate here
/// reads no AVIF).
fn luma(bytes: &[u8], dir: &Path) -> image::GrayImage {
    if bytes.get(4..12) != Some(b"ftypavif") {
        return image::load_from_memory(bytes).unwrap().to_luma8();
    }
    let (avif, png) = (dir.join("decode.avif"), dir.join("decode.png"));
    std::fs::write(&avif, bytes).unwrap();
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&avif)
        .arg(&png)
        .status()
        .unwrap();
    assert!(status.success());
    image::open(&png).unwrap().to_luma8()
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
    let photos = root.join("target/bench-photos");
    let photo = |f: &str| photos.join(f);
    let (kleiber, seeding, dragonfly) = (
        photo("Kleiber_by_Lukas_Baubkus.jpg"),
        photo("seeding_by_Clements_Engelhardt.jpg"),
        photo("Dragonfly_by_Bolly.jpg"),
    );
    if let Some(missing) = [&kleiber, &seeding, &dragonfly]
        .iter()
        .find(|p| !p.exists())
    {
        eprintln!("{} is missing: run bench/thumb/setup.sh", missing.display());
        std::process::exit(2);
    }
    let mut sharp = Sharp::start(&root);
    sharp.make(&kleiber, "jpeg444", &photo("kleiber-444.jpg"));
    sharp.make(&kleiber, "jpeg420", &photo("kleiber-420.jpg"));
    sharp.make(&seeding, "png", &photo("seeding.png"));
    sharp.make(&dragonfly, "webp", &photo("dragonfly.webp"));
    let input = |label, path: PathBuf, content_type| Input {
        label,
        path,
        content_type,
    };
    let inputs = [
        input(
            "Kleiber 6028×3391 baseline 4:2:2",
            kleiber.clone(),
            "image/jpeg",
        ),
        input(
            "Kleiber baseline 4:4:4 q90",
            photo("kleiber-444.jpg"),
            "image/jpeg",
        ),
        input(
            "Kleiber baseline 4:2:0 q90",
            photo("kleiber-420.jpg"),
            "image/jpeg",
        ),
        input(
            "seeding 5312×2988 progressive 4:2:0",
            seeding.clone(),
            "image/jpeg",
        ),
        input(
            "Dragonfly 4224×3168 progressive 4:2:2",
            dragonfly.clone(),
            "image/jpeg",
        ),
        input("seeding as PNG", photo("seeding.png"), "image/png"),
        input(
            "Dragonfly as WebP q85",
            photo("dragonfly.webp"),
            "image/webp",
        ),
    ];
    let drake = Drake::start().await;
    let fx = Fixtures::start().await;
    let dir = tempfile::tempdir().unwrap();
    println!("image.thumb → JPEG q{QUALITY}, {ROUNDS} alternating rounds, medians, drake/sharp:");
    // drake's floor: the same path for a photo with (almost) no pixels —
    // HTTP, queue, fetch, a fresh instance, storage.
    let tiny = common::jpeg(64, 48);
    let url = fx.add("tiny.jpg", "image/jpeg", tiny);
    let mut floor = Vec::new();
    for _ in 0..=ROUNDS * 3 {
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
    let mut worst = (0.0_f64, String::new());
    let mut lowest = (1.0_f64, String::new());
    // `THUMB_INPUTS=WebP` (part of a label above): those rows alone, and
    // no throughput or output-format section.
    let only = std::env::var("THUMB_INPUTS").ok();
    for Input {
        label,
        path,
        content_type,
    } in inputs
        .iter()
        .filter(|i| only.as_deref().is_none_or(|o| i.label.contains(o)))
    {
        let name = path.file_name().unwrap().to_str().unwrap();
        let url = fx.add(name, content_type, std::fs::read(path).unwrap());
        println!("  {label}, {:.1} MiB:", mib(path));
        for width in WIDTHS {
            let task = json!({"task_name": "image.thumb", "url": url, "width": width});
            let theirs_file = dir.path().join("sharp.jpg");
            // Warm-up: page cache, AOT cache, node's JIT.
            let mut output = through_drake(&drake, task.clone()).await;
            sharp.thumb(path, width, &theirs_file);
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                theirs.push(sharp.thumb(path, width, &theirs_file));
                let t = Instant::now();
                output = through_drake(&drake, task.clone()).await;
                ours.push(t.elapsed());
            }
            let (ours, theirs) = (median(ours), median(theirs));
            let a = image::load_from_memory(&common::download(&output).await)
                .unwrap()
                .to_luma8();
            let b = image::open(&theirs_file).unwrap().to_luma8();
            let ratio = ours.as_secs_f64() / theirs.as_secs_f64();
            let cell = format!("{label} at {width} px");
            if ratio > worst.0 {
                worst = (ratio, cell.clone());
            }
            let quality = if a.dimensions() == b.dimensions() {
                let s = ssim(&a, &b);
                if s < lowest.0 {
                    lowest = (s, cell);
                }
                format!("SSIM {s:.4}")
            } else {
                lowest = (0.0, cell);
                format!("sizes differ: {:?} vs {:?}", a.dimensions(), b.dimensions())
            };
            println!(
                "    {width:>5} px   sharp {:7.1} ms   drake {:7.1} ms   {ratio:.2}×   {quality}",
                theirs.as_secs_f64() * 1e3,
                ours.as_secs_f64() * 1e3,
            );
        }
    }
    println!("  worst cell: {:.2}× ({}; goal ≤ 1.0×)", worst.0, worst.1);
    println!("  lowest SSIM: {:.4} ({}; goal ≥ 0.97)", lowest.0, lowest.1);
    if only.is_some() {
        return;
    }
    // Throughput: BATCH thumbnails of the first photo at once.
    let url = fx.add(
        "throughput.jpg",
        "image/jpeg",
        std::fs::read(&kleiber).unwrap(),
    );
    println!("throughput, {BATCH} thumbnails of Kleiber submitted at once:");
    for width in [512, 1024] {
        let task = json!({"task_name": "image.thumb", "url": url, "width": width});
        let theirs = sharp.batch(&kleiber, width);
        let t = Instant::now();
        let runs = (0..BATCH).map(|_| through_drake(&drake, task.clone()));
        futures::future::join_all(runs).await;
        let ours = t.elapsed();
        let rate = |d: Duration| BATCH as f64 / d.as_secs_f64();
        println!(
            "  {width:>5} px   sharp {:5.1}/s   drake {:5.1}/s (default workers)   drake/sharp {:.2}",
            rate(theirs),
            rate(ours),
            rate(ours) / rate(theirs)
        );
    }
    output_formats(&drake, &fx, &mut sharp, &inputs[2..], dir.path()).await;
}

/// WebP and AVIF output: time against sharp at the same settings, and
/// bytes and SSIM against drake's JPEG q85, all against sharp's lossless
/// PNG thumbnail.
async fn output_formats(
    drake: &Drake,
    fx: &Fixtures,
    sharp: &mut Sharp,
    inputs: &[Input],
    dir: &Path,
) {
    println!(
        "output formats, drake/sharp time; bytes and SSIM (vs a lossless thumbnail) beside drake's JPEG q{QUALITY}:"
    );
    let mut worst = (0.0_f64, String::new());
    for Input {
        label,
        path,
        content_type,
    } in inputs.iter().filter(|i| !i.label.contains("4:2:2"))
    {
        let name = path.file_name().unwrap().to_str().unwrap();
        let url = fx.add(name, content_type, std::fs::read(path).unwrap());
        println!("  {label}:");
        for width in [512, 1024] {
            let reference = dir.join("reference.png");
            sharp.thumb_as(path, width, "png", &reference);
            let reference = image::open(&reference).unwrap().to_luma8();
            let mut jpeg_bytes = 0;
            for format in ["jpeg", "webp", "avif"] {
                let task = json!({"task_name": "image.thumb", "url": url, "width": width, "format": format});
                let theirs_file = dir.join(format!("sharp.{format}"));
                let mut output = through_drake(drake, task.clone()).await;
                let (mut ours, mut theirs) = (Vec::new(), Vec::new());
                for _ in 0..ROUNDS {
                    theirs.push(if format == "jpeg" {
                        sharp.thumb(path, width, &theirs_file)
                    } else {
                        sharp.thumb_as(path, width, format, &theirs_file)
                    });
                    let t = Instant::now();
                    output = through_drake(drake, task.clone()).await;
                    ours.push(t.elapsed());
                }
                let (ours, theirs) = (median(ours), median(theirs));
                let bytes = common::download(&output).await;
                let ssim = ssim(&luma(&bytes, dir), &reference);
                let theirs_bytes = std::fs::metadata(&theirs_file).unwrap().len();
                if format == "jpeg" {
                    jpeg_bytes = bytes.len();
                }
                let ratio = ours.as_secs_f64() / theirs.as_secs_f64();
                if format != "jpeg" && ratio > worst.0 {
                    worst = (ratio, format!("{label}, {format} at {width} px"));
                }
                println!(
                    "    {width:>5} px {format:<5} sharp {:7.1} ms   drake {:7.1} ms   {ratio:.2}×   \
                     {:6.1} KiB ({:3.0}% of the JPEG; sharp's {:6.1} KiB)   SSIM {ssim:.4}",
                    theirs.as_secs_f64() * 1e3,
                    ours.as_secs_f64() * 1e3,
                    bytes.len() as f64 / 1024.0,
                    100.0 * bytes.len() as f64 / jpeg_bytes.max(1) as f64,
                    theirs_bytes as f64 / 1024.0,
                );
            }
        }
    }
    println!("  worst WebP/AVIF cell: {:.2}× ({})", worst.0, worst.1);
}
