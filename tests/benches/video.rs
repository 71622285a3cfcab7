//! `cargo bench -p drake-tests --bench video` (part of `make bench`):
//! `video.convert` through drake against the same ffmpeg command run
//! directly on the same input, in the same run. Goal: overhead ≤ 3 % of
//! wall time.
//!
//! drake's time is the whole task as a client sees it: create (blocking)
//! → fetch over loopback → probe → the job in the bubblewrap sandbox →
//! probe of the output → stored → success. The peer is ffmpeg alone, with
//! the argv drake builds for the default parameters, reading and writing
//! local files.
#![allow(clippy::unwrap_used, reason = "benchmark")]

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Drake, Fixtures, Options};
use serde_json::json;

/// Rounds per side, alternating, so drift (thermal, page cache) hits both.
const ROUNDS: usize = 5;
/// Threads for both sides (drake's `[ffmpeg] threads`).
const THREADS: &str = "2";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.mp4");
    // 30 s of 720p30 with sound: long enough that per-task costs show as
    // what they are, a small fraction.
    let made = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=1280x720:rate=30:duration=30")
        .args(["-f", "lavfi", "-i", "sine=frequency=440:duration=30"])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"])
        .arg(&input)
        .status()
        .unwrap();
    assert!(made.success());

    let drake = Drake::start_with(Options {
        tables: format!("[ffmpeg]\nthreads = {THREADS}\n"),
        ..Options::default()
    })
    .await;
    let fx = Fixtures::start().await;
    let url = fx.add("in.mp4", "video/mp4", std::fs::read(&input).unwrap());
    let task = json!({"task_name": "video.convert", "url": url});
    let output = dir.path().join("out.mp4");
    // The argv drake builds for the defaults (host/src/capabilities/ffmpeg/argv.rs).
    let peer = |output: &std::path::Path| {
        let status = Command::new("ffmpeg")
            .args(["-nostdin", "-hide_banner", "-nostats", "-loglevel", "error"])
            .args(["-filter_complex_threads", THREADS, "-i"])
            .arg(&input)
            .args([
                "-filter_complex",
                "[0:v]scale=1280:720:flags=lanczos,setsar=1,format=yuv420p[v]",
                "-map",
                "[v]",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-b:v",
                "512k",
                "-pix_fmt",
                "yuv420p",
                "-map",
                "0:a:0",
                "-c:a",
                "aac",
                "-b:a",
                "64k",
                "-ar",
                "48000",
                "-ac",
                "2",
                "-f",
                "mp4",
                "-movflags",
                "+faststart",
                "-threads",
                THREADS,
                "-y",
            ])
            .arg(output)
            .status()
            .unwrap();
        assert!(status.success());
    };
    let through_drake = || async {
        let status = &drake.create(task.clone(), true).await[0];
        assert_eq!(status["status"], "success", "{status}");
    };

    // Warm-up: AOT cache, page cache, both binaries.
    through_drake().await;
    peer(&output);

    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let t = Instant::now();
        peer(&output);
        theirs.push(t.elapsed());
        let t = Instant::now();
        through_drake().await;
        ours.push(t.elapsed());
    }
    let (ours, theirs) = (median(ours), median(theirs));
    let overhead = ours.as_secs_f64() / theirs.as_secs_f64() - 1.0;
    println!("video.convert, 30 s 720p30 + AAC → H.264 512k/AAC 64k, {ROUNDS} rounds, medians:");
    println!("  ffmpeg alone            {:8.3} s", theirs.as_secs_f64());
    println!("  through drake           {:8.3} s", ours.as_secs_f64());
    println!(
        "  overhead                {:+8.2} %   (goal ≤ 3 %)",
        overhead * 100.0
    );
}
