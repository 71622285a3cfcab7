//! `cargo bench --profile release --workspace --bench codecs` (part of `make bench`;
//! `bench/codecs/setup.sh` first): `video.convert` of a minute of real
//! footage into each video codec at 720p, through drake, with the server's
//! `[ffmpeg] threads` on this machine's cores. Goal (issue 25): every codec
//! encodes a 720p minute at ≥ 1× real time on 2 cores, at every frame rate
//! it runs at by default (VP9, AV1 and HEVC at most 30 fps, frames dropped
//! evenly above). The matrix: animation, camera and screencast sources at
//! 20, 25, 30 and 60 fps (720p), then phone footage at 1080p (~27 and 60
//! fps) brought down to 720p, whose decoding alone takes a large share of
//! the minute. Printed per cell: wall time, speed against real time,
//! output frame rate, bitrate, SSIM against the source (scaled to 720p;
//! frames paired by index, one source frame per output frame, shifted by
//! the one frame that fits best);
//! per source the decoding and scaling alone; the worst cell of the 720p
//! sources (the goal's) and of the 1080p ones.
//!
//! Then the ladders (`format: hls` with H.264, `dash` with VP9 and AV1) of
//! animation and camera footage (30 and 60 fps): wall time and speed against real time
//! (all renditions, one ffmpeg run); per rendition: size, average and peak
//! bitrate, segments, and the SSIM of its joined segments against the
//! source scaled to its size (issue 25's floor: ≥ 0.95).
//!
//! `DRAKE_BENCH_SECONDS` (default 60) shortens every source.
#![allow(clippy::unwrap_used, reason = "benchmark")]

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::{Drake, Fixtures, Options};
use serde_json::json;

/// Threads for ffmpeg, as a 2-core server runs it.
const THREADS: &str = "2";

/// The matrix's sources (bench/codecs/setup.sh makes them): file, what it
/// is, whether it is 720p (the goal's cells).
const SOURCES: &[(&str, &str, bool)] = &[
    (
        "bbb-720p25.mp4",
        "animation (Big Buck Bunny), 720p25 + AAC",
        true,
    ),
    (
        "cockatoo-720p20.mp4",
        "camera (cockatoo), 720p20 4:4:4",
        true,
    ),
    (
        "screencast-720p30.mp4",
        "screencast + webcam, 720p30 + AAC",
        true,
    ),
    ("cockatoo-720p30.mp4", "camera retimed to 30 fps", true),
    ("cockatoo-720p60.mp4", "camera retimed to 60 fps", true),
    ("phone-1080p27.mp4", "phone, 1080p ~27 fps variable", false),
    ("phone-1080p60.mp4", "phone retimed to 60 fps, 1080p", false),
];

/// The 720p profile's bitrate, kbit/s.
const KBPS: u32 = 1500;

#[tokio::main]
async fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let minutes = root.join("target/bench-video/minutes");
    assert!(
        minutes.join(SOURCES[SOURCES.len() - 1].0).exists(),
        "run bench/codecs/setup.sh first"
    );
    let seconds: f64 = std::env::var("DRAKE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60.0);
    let dir = tempfile::tempdir().unwrap();
    let drake = Drake::start_with(Options {
        tables: format!("[ffmpeg]\nthreads = {THREADS}\n"),
        ..Options::default()
    })
    .await;
    let fx = Fixtures::start().await;
    let mut inputs = Vec::new();
    for (name, _, _) in SOURCES {
        let input = dir.path().join(name);
        let cut = Command::new("ffmpeg")
            .args(["-loglevel", "error", "-y", "-i"])
            .arg(minutes.join(name))
            .args(["-t", &seconds.to_string(), "-c", "copy"])
            .arg(&input)
            .status()
            .unwrap();
        assert!(cut.success());
        let url = fx.add(name, "video/mp4", std::fs::read(&input).unwrap());
        inputs.push((input, url));
    }

    println!(
        "video.convert to 720p at {KBPS} kbit/s of {seconds} s of real footage per source, \
         ffmpeg threads = {THREADS}, through drake:"
    );
    let mut worst: [Option<(f64, String)>; 2] = [None, None];
    for ((name, what, is_720p), (input, url)) in SOURCES.iter().zip(&inputs) {
        let t = Instant::now();
        let decoded = Command::new("ffmpeg")
            .args(["-loglevel", "error", "-threads", THREADS, "-i"])
            .arg(input)
            .args(["-vf", "scale=-2:720:flags=lanczos", "-f", "null", "-"])
            .status()
            .unwrap();
        assert!(decoded.success());
        println!(
            "  {name}: {what}; decoding and scaling alone {:.2}× real time",
            seconds / t.elapsed().as_secs_f64()
        );
        let source_fps = source_rate(input);
        println!("    codec   wall s   × real time   fps     kbit/s   SSIM");
        for codec in ["h264", "vp9", "av1", "hevc"] {
            let task = json!({"task_name": "video.convert", "url": url, "height": 720,
                              "video_codec": codec, "video_bitrate": KBPS});
            let t = Instant::now();
            let status = &drake.create(task, true).await[0];
            let wall = t.elapsed().as_secs_f64();
            assert_eq!(status["status"], "success", "{status}");
            let r = &status["result"];
            let out = dir.path().join(format!("{codec}-{name}"));
            std::fs::write(&out, common::download(r["output"].as_str().unwrap()).await).unwrap();
            let size = (r["width"].as_u64().unwrap(), r["height"].as_u64().unwrap());
            let kbits = std::fs::metadata(&out).unwrap().len() as f64 * 8.0 / 1000.0 / seconds;
            let speed = seconds / wall;
            // Frames paired by index: one source frame in `every`.
            let fps = r["frame_rate"].as_f64().unwrap();
            let every = (source_fps / fps).round().max(1.0) as u32;
            println!(
                "    {codec:5}  {wall:7.1}   {speed:8.2}×   {fps:5.2}   {kbits:7.0}   {:.4}",
                common::ssim_aligned(&out, input, size, every)
            );
            let slot = &mut worst[usize::from(!is_720p)];
            if slot.as_ref().is_none_or(|(s, _)| speed < *s) {
                *slot = Some((speed, format!("{codec} on {name}")));
            }
        }
    }
    for ((speed, cell), sources) in worst.iter().flatten().zip(["720p", "1080p"]) {
        println!("  worst cell of the {sources} sources: {cell} at {speed:.2}× real time");
    }

    println!(
        "video.convert ladders of {seconds} s of real footage, 4 s segments, \
         ffmpeg threads = {THREADS}, through drake:"
    );
    let mut worst_ssim: Option<(f64, String)> = None;
    let ladders = [("hls", "h264"), ("dash", "vp9"), ("dash", "av1")];
    let sources = SOURCES.iter().zip(&inputs).filter(|((name, _, _), _)| {
        matches!(
            *name,
            "bbb-720p25.mp4" | "cockatoo-720p30.mp4" | "cockatoo-720p60.mp4"
        )
    });
    for ((source, _, _), (input, url)) in sources {
        for (format, codec) in ladders {
            let task = json!({"task_name": "video.convert", "url": url, "format": format,
                              "video_codec": codec});
            let t = Instant::now();
            let status = &drake.create(task, true).await[0];
            let wall = t.elapsed().as_secs_f64();
            assert_eq!(status["status"], "success", "{status}");
            let r = &status["result"];
            // Frames the ladder dropped (60 → 30 in VP9 and AV1): the
            // reference keeps one in `every`.
            let fps = r["frame_rate"].as_f64().unwrap();
            let every = (source_rate(input) / fps).round().max(1.0) as u32;
            println!(
                "  {source} {format} {codec}: {wall:.1} s, {:.2}× real time, {fps} fps",
                seconds / wall
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
                let ssim = common::ssim_aligned(&path, input, size, every);
                println!(
                    "    {name:9}   {:>4}x{:<4}   {:6}   {:5}   {segments:8}   {ssim:.4}",
                    size.0,
                    size.1,
                    rendition["bitrate"].as_u64().unwrap() / 1000,
                    rendition["peak_bitrate"].as_u64().unwrap() / 1000,
                );
                if worst_ssim.as_ref().is_none_or(|(s, _)| ssim < *s) {
                    worst_ssim = Some((ssim, format!("{source} {format} {codec} {name}")));
                }
            }
        }
    }
    if let Some((ssim, cell)) = worst_ssim {
        println!("  lowest SSIM: {cell} at {ssim:.4} (floor 0.95)");
    }
}

/// A video's average frame rate (ffprobe).
fn source_rate(path: &Path) -> f64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=avg_frame_rate", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (n, d) = text.trim().split_once('/').unwrap();
    n.parse::<f64>().unwrap() / d.parse::<f64>().unwrap()
}
