//! The ffmpeg capability and the video tasks end to end: results equal
//! ffprobe's and ffmpeg's own, hostile media ends in readable errors, and
//! the sandbox holds (no file or network escapes, CPU and output caps).
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::path::Path;
use std::process::Command;

use common::{Drake, Fixtures, Options};
use serde_json::{Value, json};

/// Make a test video with ffmpeg's own generators.
fn make_video(dir: &Path, name: &str, args: &[&str]) -> Vec<u8> {
    let path = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y"])
        .args(args)
        .arg(&path)
        .status()
        .expect("ffmpeg is installed by `make test`");
    assert!(status.success(), "ffmpeg {args:?}");
    std::fs::read(path).unwrap()
}

fn ffprobe(path: &Path) -> Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(path)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

fn rational(s: &str) -> f64 {
    let (a, b) = s.split_once('/').unwrap();
    a.parse::<f64>().unwrap() / b.parse::<f64>().unwrap()
}

struct Videos {
    dir: tempfile::TempDir,
    plain: String,
    rotated: String,
}

fn videos(fx: &Fixtures) -> Videos {
    let dir = tempfile::tempdir().unwrap();
    let plain = make_video(
        dir.path(),
        "plain.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440",
            "-t",
            "3",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
        ],
    );
    let plain_path = dir.path().join("plain.mp4");
    let rotated = make_video(
        dir.path(),
        "rotated.mp4",
        &[
            "-i",
            plain_path.to_str().unwrap(),
            "-c",
            "copy",
            "-metadata:s:v:0",
            "rotate=90",
        ],
    );
    Videos {
        plain: fx.add("plain.mp4", "video/mp4", plain),
        rotated: fx.add("rotated.mp4", "application/octet-stream", rotated),
        dir,
    }
}

#[tokio::test]
async fn video_info_equals_ffprobe() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let v = videos(&fx);
    let statuses = drake
        .create(
            json!([
                {"task_name": "video.info", "url": v.plain},
                {"task_name": "video.info", "url": v.rotated},
            ]),
            true,
        )
        .await;
    for (status, file) in statuses.iter().zip(["plain.mp4", "rotated.mp4"]) {
        assert_eq!(status["status"], "success", "{status}");
        let r = &status["result"];
        let probe = ffprobe(&v.dir.path().join(file));
        let video = probe["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["codec_type"] == "video")
            .unwrap();
        let rotation = video["side_data_list"]
            .as_array()
            .and_then(|l| l.iter().find_map(|d| d["rotation"].as_i64()))
            .unwrap_or(0);
        let (w, h) = (
            video["width"].as_u64().unwrap(),
            video["height"].as_u64().unwrap(),
        );
        let (w, h) = if rotation.rem_euclid(180) == 90 {
            (h, w)
        } else {
            (w, h)
        };
        assert_eq!(
            (r["width"].as_u64(), r["height"].as_u64()),
            (Some(w), Some(h)),
            "{file}: as shot"
        );
        assert_eq!(
            r["rotation"].as_i64(),
            Some(rotation.rem_euclid(360)),
            "{file}"
        );
        let duration: f64 = probe["format"]["duration"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (r["duration"].as_f64().unwrap() - duration).abs() < 0.01,
            "{file}"
        );
        let fps = rational(video["avg_frame_rate"].as_str().unwrap());
        assert!((r["frame_rate"].as_f64().unwrap() - fps).abs() < 0.001);
        assert_eq!(r["video_codec"], video["codec_name"]);
        assert_eq!(r["audio_codec"], "aac");
        assert_eq!(r["alpha"], false);
        assert_eq!(r["content_type"], "video/mp4");
    }
    assert_eq!(statuses[1]["result"]["rotation"], 90);
    assert_eq!(statuses[1]["result"]["width"], 240);
}

#[tokio::test]
async fn video_thumb_equals_ffmpegs_frame_at_t() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let v = videos(&fx);
    let s = &drake
        .create(
            json!({"task_name": "video.thumb", "url": v.plain, "time": 1.24, "format": "png"}),
            true,
        )
        .await[0];
    assert_eq!(s["status"], "success", "{s}");
    assert_eq!(s["result"]["content_type"], "image/png");
    let ours = common::download(s["result"]["output"].as_str().unwrap()).await;
    let ours = image::load_from_memory(&ours).unwrap().to_rgb8();
    let reference = v.dir.path().join("ref.png");
    make_video(
        v.dir.path(),
        "ref.png",
        &[
            "-ss",
            "1.24",
            "-i",
            v.dir.path().join("plain.mp4").to_str().unwrap(),
            "-frames:v",
            "1",
        ],
    );
    let theirs = image::open(&reference).unwrap().to_rgb8();
    assert_eq!(ours.dimensions(), theirs.dimensions());
    let diff: u64 = ours
        .as_raw()
        .iter()
        .zip(theirs.as_raw())
        .map(|(a, b)| u64::from(a.abs_diff(*b)))
        .sum();
    let mean = diff as f64 / ours.as_raw().len() as f64;
    // Same frame; only the scaler's colour conversion may differ a little.
    assert!(mean < 2.0, "mean abs difference {mean}");

    // Fit, crop, poster and the rotated video, as JPEG.
    let statuses = drake
        .create(
            json!([
                {"task_name": "video.thumb", "url": v.plain, "width": 100, "height": 100},
                {"task_name": "video.thumb", "url": v.plain, "width": 100, "height": 100, "crop": true},
                {"task_name": "video.thumb", "url": v.rotated, "width": 60},
                {"task_name": "video.thumb", "url": v.plain, "poster": true, "format": "png", "time": 1.24},
                {"task_name": "video.thumb", "url": v.plain, "time": 30},
            ]),
            true,
        )
        .await;
    let size = |i: usize| {
        (
            statuses[i]["result"]["width"].as_u64().unwrap(),
            statuses[i]["result"]["height"].as_u64().unwrap(),
        )
    };
    assert_eq!(size(0), (100, 75));
    assert_eq!(size(1), (100, 100));
    assert_eq!(size(2), (60, 80), "rotated: 240×320 as shot");
    for (i, status) in statuses.iter().take(3).enumerate() {
        let url = status["result"]["output"].as_str().unwrap();
        let bytes = common::download(url).await;
        let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg).unwrap();
        assert_eq!((u64::from(img.width()), u64::from(img.height())), size(i));
    }
    let poster = common::download(statuses[3]["result"]["output"].as_str().unwrap()).await;
    let poster = image::load_from_memory(&poster).unwrap().to_rgb8();
    let centre = |img: &image::RgbImage| *img.get_pixel(img.width() / 2 + 4, img.height() / 2);
    assert_ne!(
        centre(&poster),
        centre(&theirs),
        "the play icon is drawn in the centre"
    );
    let corner = |img: &image::RgbImage| *img.get_pixel(2, 2);
    assert_eq!(corner(&poster), corner(&ours), "only the centre changes");
    assert_eq!(statuses[4]["status"], "error");
    assert!(
        statuses[4]["result"]["parameters"]["time"][0]
            .as_str()
            .unwrap()
            .contains("past the end")
    );
}

#[tokio::test]
async fn hostile_videos_end_in_readable_errors() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let v = videos(&fx);
    let mut truncated = std::fs::read(v.dir.path().join("plain.mp4")).unwrap();
    truncated.truncate(truncated.len() / 2);
    let truncated = fx.add("trunc.mp4", "video/mp4", truncated);
    let random = fx.add(
        "random.mp4",
        "video/mp4",
        (0..20_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect(),
    );
    let empty = fx.add("empty.mp4", "video/mp4", vec![]);
    let image = fx.add("image.png", "image/png", common::png(32, 32));
    let statuses = drake
        .create(
            json!([
                {"task_name": "video.info", "url": random},
                {"task_name": "video.thumb", "url": random},
                {"task_name": "video.info", "url": empty},
                {"task_name": "video.thumb", "url": truncated, "time": 2.9},
                {"task_name": "video.info", "url": "http://169.254.169.254/latest/"},
            ]),
            true,
        )
        .await;
    for s in &statuses {
        assert_eq!(s["status"], "error", "{s}");
        assert!(s["result"].is_string(), "{s}");
    }
    assert!(
        statuses[0]["result"]
            .as_str()
            .unwrap()
            .contains("not readable media"),
        "{}",
        statuses[0]
    );
    assert!(statuses[2]["result"].as_str().unwrap().contains("empty"));
    assert!(statuses[4]["result"].as_str().unwrap().contains("blocked"));
    // A still image is media too: video.info describes it or says why not.
    let s = &drake
        .create(json!({"task_name": "video.info", "url": image}), true)
        .await[0];
    assert!(s["status"] == "success" || s["result"].is_string(), "{s}");
}

#[tokio::test]
async fn the_ffmpeg_sandbox_holds() {
    let drake = Drake::start_with(Options {
        tables: "[ffmpeg]\ncpu_seconds = 2\nmax_file_bytes = 20000000\n".into(),
        ..Options::default()
    })
    .await;
    let attacks = [
        "input_path",
        "concat",
        "concat_sniffed",
        "hls_file",
        "hls_http",
        "movie",
        "textfile",
        "file_url",
        "cpu",
        "output",
    ];
    let tasks: Vec<Value> = attacks
        .iter()
        .map(|a| json!({"task_name": "test.hostile", "mode": "ffmpeg", "attack": a}))
        .collect();
    let statuses = drake.create(json!(tasks), true).await;
    for (attack, s) in attacks.iter().zip(&statuses) {
        assert_eq!(s["status"], "error", "{attack}: {s}");
        assert!(
            !s.to_string().contains("root:"),
            "{attack} read /etc/passwd: {s}"
        );
    }
    let msg = |i: usize| statuses[i]["result"].as_str().unwrap_or("").to_owned();
    for i in [0, 1, 5, 6, 7] {
        assert!(
            msg(i).contains("not allowed") || msg(i).contains("invalid value"),
            "{}: {}",
            attacks[i],
            msg(i)
        );
    }
    for i in [2, 3, 4] {
        assert!(
            msg(i).contains("not readable media"),
            "{}: {}",
            attacks[i],
            msg(i)
        );
    }
    assert!(
        msg(8).contains("CPU seconds") || msg(8).contains("time"),
        "cpu: {}",
        msg(8)
    );
    assert!(msg(9).contains("larger than"), "output: {}", msg(9));
    // The host keeps serving and runs ffmpeg work after all that.
    assert_eq!(drake.get("/healthz").await.status(), 200);
    let fx = Fixtures::start().await;
    let v = videos(&fx);
    let s = &drake
        .create(json!({"task_name": "video.info", "url": v.plain}), true)
        .await[0];
    assert_eq!(s["status"], "success", "{s}");
}
