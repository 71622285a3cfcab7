//! The ffmpeg capability and the video tasks end to end: results equal
//! ffprobe's and ffmpeg's own, hostile media ends in readable errors, and
//! the sandbox holds (no file or network escapes, CPU and output caps).
#![allow(clippy::unwrap_used, reason = "tests")]

use crate::common;

use std::path::Path;
use std::process::Command;

use crate::common::{Drake, Fixtures, Options};
use serde_json::{Value, json};

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
    let plain = common::ffmpeg_make(
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
    let rotated = common::ffmpeg_make(
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
        let probe = common::ffprobe(&v.dir.path().join(file));
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
    common::ffmpeg_make(
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
    let random = fx.add("random.mp4", "video/mp4", common::noise(20_000));
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
        "subtitles",
        "caption_label",
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
    assert!(msg(10).contains("not allowed"), "subtitles: {}", msg(10));
    assert!(
        msg(11).contains("not a pad label"),
        "caption_label: {}",
        msg(11)
    );
    // The host keeps serving and runs ffmpeg work after all that.
    assert_eq!(drake.get("/healthz").await.status(), 200);
    let fx = Fixtures::start().await;
    let v = videos(&fx);
    let s = &drake
        .create(json!({"task_name": "video.info", "url": v.plain}), true)
        .await[0];
    assert_eq!(s["status"], "success", "{s}");
}

/// Save a downloaded output next to the fixtures, for ffprobe/ffmpeg.
async fn save(dir: &Path, name: &str, url: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, common::download(url).await).unwrap();
    path
}

/// Run ffmpeg on `path` with `args` (after `-i`), stdout as bytes.
fn ffmpeg_out(before: &[&str], path: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-loglevel", "error"])
        .args(before)
        .arg("-i")
        .arg(path)
        .args(args)
        .arg("-")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Mean luma (0–255) of the frame at `t`.
fn luma_at(path: &Path, t: f64) -> f64 {
    let px = ffmpeg_out(
        &["-ss", &format!("{t:.3}")],
        path,
        &["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray"],
    );
    assert!(!px.is_empty(), "no frame at {t}");
    px.iter().map(|&p| f64::from(p)).sum::<f64>() / px.len() as f64
}

/// RMS (0–1) of the audio in `[from, from + len]`, mono.
fn rms(path: &Path, from: f64, len: f64) -> f64 {
    let pcm = ffmpeg_out(
        &["-ss", &format!("{from:.3}"), "-t", &format!("{len:.3}")],
        path,
        &["-f", "s16le", "-ac", "1", "-ar", "8000"],
    );
    let samples: Vec<f64> = pcm
        .chunks_exact(2)
        .map(|b| f64::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    (samples.iter().map(|s| s * s).sum::<f64>() / samples.len().max(1) as f64).sqrt()
}

fn stream<'a>(probe: &'a Value, kind: &str) -> Option<&'a Value> {
    probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == kind)
}

#[tokio::test]
async fn video_convert_honours_every_parameter() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let v = videos(&fx);
    let silent = fx.add(
        "silent.mp4",
        "video/mp4",
        common::ffmpeg_make(
            v.dir.path(),
            "silent.mp4",
            &[
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=200x100:rate=10:duration=2",
            ],
        ),
    );
    let statuses = drake
        .create(
            json!([
                {"task_name": "video.convert", "url": v.plain},
                {"task_name": "video.convert", "url": v.rotated, "width": 120},
                {"task_name": "video.convert", "url": v.plain, "audio_codec": "mp2", "sample_rate": 44100},
                {"task_name": "video.convert", "url": v.plain, "audio_codec": "wmav2", "sample_rate": 22050, "audio_bitrate": 48},
                {"task_name": "video.convert", "url": v.plain, "audio_codec": "mp3", "width": 100, "height": 100, "crop": true},
                {"task_name": "video.convert", "url": v.plain, "video_codec": "mpeg4", "video_bitrate": 200, "width": 100, "height": 100},
                {"task_name": "video.convert", "url": silent, "audio_codec": "wmav1"},
                {"task_name": "video.convert", "url": v.plain, "sample_rate": 32000},
            ]),
            true,
        )
        .await;
    // (content type, size, audio codec, sample rate, video codec)
    let expected = [
        ("video/mp4", (320, 240), Some("aac"), 48_000, "h264"),
        ("video/mp4", (120, 160), Some("aac"), 48_000, "h264"),
        ("video/x-msvideo", (320, 240), Some("mp2"), 44_100, "h264"),
        ("video/x-ms-asf", (320, 240), Some("wmav2"), 22_050, "h264"),
        ("video/mp4", (100, 100), Some("mp3"), 48_000, "h264"),
        ("video/mp4", (100, 74), Some("aac"), 48_000, "mpeg4"),
        ("video/x-ms-asf", (200, 100), None, 0, "h264"),
    ];
    for (i, (ct, (w, h), audio, rate, vcodec)) in expected.into_iter().enumerate() {
        let s = &statuses[i];
        assert_eq!(s["status"], "success", "{i}: {s}");
        let r = &s["result"];
        assert_eq!(r["content_type"], ct, "{i}");
        assert_eq!(
            (r["width"].as_u64(), r["height"].as_u64()),
            (Some(w), Some(h)),
            "{i}"
        );
        assert_eq!(r["video_codec"], vcodec, "{i}");
        assert_eq!(r["audio_codec"].as_str(), audio, "{i}");
        let path = save(
            v.dir.path(),
            &format!("conv{i}"),
            r["output"].as_str().unwrap(),
        )
        .await;
        // Usage counts the ffmpeg process: its CPU (an x264 encode of 3 s,
        // far more than the guest's few milliseconds) and its resident set
        // (x264 alone is tens of MiB; the guest holds a few).
        let usage = &s["usage"];
        assert_eq!(
            usage["bytes_out"].as_u64(),
            Some(std::fs::metadata(&path).unwrap().len()),
            "{i}"
        );
        assert!(usage["cpu_ms"].as_u64().unwrap() >= 30, "{i}: {usage}");
        assert!(
            usage["peak_memory_bytes"].as_u64().unwrap() > 20 << 20,
            "{i}: {usage}"
        );
        let probe = common::ffprobe(&path);
        let video = stream(&probe, "video").unwrap();
        assert_eq!(video["codec_name"], vcodec, "{i}");
        assert_eq!(
            (video["width"].as_u64(), video["height"].as_u64()),
            (Some(w), Some(h)),
            "{i}"
        );
        assert!(
            video["side_data_list"].is_null(),
            "{i}: the output is upright, no rotation"
        );
        match audio {
            Some(codec) => {
                let a = stream(&probe, "audio").unwrap();
                assert_eq!(a["codec_name"], codec, "{i}");
                assert_eq!(a["sample_rate"], rate.to_string(), "{i}");
            }
            None => assert!(stream(&probe, "audio").is_none(), "{i}"),
        }
        let duration: f64 = video["duration"].as_str().unwrap().parse().unwrap();
        let want = if i == 6 { 2.0 } else { 3.0 };
        assert!((duration - want).abs() < 0.1, "{i}: {duration}");
        assert!(
            (r["duration"].as_f64().unwrap() - want).abs() < 0.1,
            "{i}: {r}"
        );
    }
    assert_eq!(statuses[0]["result"]["frame_rate"], 25.0);
    assert_eq!(statuses[0]["result"]["original_width"], 320);
    assert_eq!(statuses[1]["result"]["rotation"], 90);
    assert_eq!(statuses[1]["result"]["original_width"], 240);
    assert_eq!(statuses[0]["result"]["alpha"], false);
    // The picture is turned, not just relabelled: the converted frame
    // equals ffmpeg's own upright frame.
    let ours = luma_at(&v.dir.path().join("conv1"), 1.0);
    let theirs = {
        let px = ffmpeg_out(
            &["-ss", "1.0"],
            &v.dir.path().join("rotated.mp4"),
            &[
                "-frames:v",
                "1",
                "-vf",
                "scale=120:160",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "gray",
            ],
        );
        px.iter().map(|&p| f64::from(p)).sum::<f64>() / px.len() as f64
    };
    assert!((ours - theirs).abs() < 4.0, "{ours} vs {theirs}");
    let bad = &statuses[7];
    assert_eq!(bad["status"], "error");
    assert!(
        bad["result"]["parameters"]["sample_rate"][0]
            .as_str()
            .unwrap()
            .contains("22050, 44100, 48000"),
        "{bad}"
    );
}

#[tokio::test]
async fn video_convert_speaks_vp9_av1_hevc_and_opus() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let v = videos(&fx);
    let statuses = drake
        .create(
            json!([
                {"task_name": "video.convert", "url": v.plain, "video_codec": "vp9"},
                {"task_name": "video.convert", "url": v.rotated, "video_codec": "av1", "width": 120},
                {"task_name": "video.convert", "url": v.plain, "video_codec": "hevc", "width": 160},
                {"task_name": "video.convert", "url": v.plain, "audio_codec": "opus"},
                {"task_name": "video.convert", "url": v.plain, "video_codec": "vp9", "audio_codec": "aac", "width": 200},
                // Under SVT-AV1's 64 px: libaom takes it.
                {"task_name": "video.convert", "url": v.plain, "video_codec": "av1", "width": 48},
                {"task_name": "video.convert", "url": v.plain, "video_codec": "hevc", "width": 12},
                {"task_name": "video.convert", "url": v.plain, "video_codec": "vp9", "audio_codec": "wmav2"},
                {"task_name": "video.convert", "url": v.plain, "video_codec": "av1", "sample_rate": 44100},
                {"task_name": "video.convert", "url": v.plain, "video_codec": "theora"},
            ]),
            true,
        )
        .await;
    // (content type, extension, size, video codec, its tag, audio codec)
    let expected = [
        ("video/webm", (320, 240), "vp9", None, "opus"),
        ("video/webm", (120, 160), "av1", None, "opus"),
        ("video/mp4", (160, 120), "hevc", Some("hvc1"), "aac"),
        ("video/mp4", (320, 240), "h264", Some("avc1"), "opus"),
        ("video/mp4", (200, 150), "vp9", Some("vp09"), "aac"),
        ("video/webm", (48, 36), "av1", None, "opus"),
    ];
    for (i, (ct, (w, h), vcodec, tag, acodec)) in expected.into_iter().enumerate() {
        let s = &statuses[i];
        assert_eq!(s["status"], "success", "{i}: {s}");
        let r = &s["result"];
        assert_eq!(r["content_type"], ct, "{i}");
        assert_eq!(
            (r["video_codec"].as_str(), r["audio_codec"].as_str()),
            (Some(vcodec), Some(acodec)),
            "{i}"
        );
        let output = r["output"].as_str().unwrap();
        let extension = if ct == "video/webm" { ".webm" } else { ".mp4" };
        assert!(output.ends_with(extension), "{i}: {output}");
        let path = save(v.dir.path(), &format!("codec{i}"), output).await;
        let probe = common::ffprobe(&path);
        let video = stream(&probe, "video").unwrap();
        assert_eq!(video["codec_name"], vcodec, "{i}");
        assert_eq!(
            (video["width"].as_u64(), video["height"].as_u64()),
            (Some(w), Some(h)),
            "{i}"
        );
        assert_eq!(
            rational(video["avg_frame_rate"].as_str().unwrap()),
            25.0,
            "{i}"
        );
        assert_eq!(video["pix_fmt"], "yuv420p", "{i}");
        if let Some(tag) = tag {
            assert_eq!(video["codec_tag_string"], tag, "{i}");
        }
        let audio = stream(&probe, "audio").unwrap();
        assert_eq!(audio["codec_name"], acodec, "{i}");
        assert_eq!(audio["sample_rate"], "48000", "{i}");
        let duration: f64 = probe["format"]["duration"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((duration - 3.0).abs() < 0.1, "{i}: {duration}");
        // The picture survives the encoder (a rotated source is compared
        // with its upright frames: ffmpeg applies the rotation on decode).
        let source = v
            .dir
            .path()
            .join(if i == 1 { "rotated.mp4" } else { "plain.mp4" });
        let quality = common::ssim(&path, &source, (w, h));
        assert!(quality > 0.9, "{i}: SSIM {quality}");
    }
    for (i, name, words) in [
        (6, "width", "at least 16×16"),
        (7, "audio_codec", "opus, aac, mp3"),
        (8, "sample_rate", "48000"),
        (9, "video_codec", "vp9"),
    ] {
        let s = &statuses[i];
        assert_eq!(s["status"], "error", "{i}: {s}");
        let message = s["result"]["parameters"][name][0]
            .as_str()
            .unwrap_or_default();
        assert!(message.contains(words), "{i}: {s}");
    }
}

/// VP9, AV1 and HEVC drop frames evenly above 30 fps unless
/// `frame_rate` says otherwise; H.264 keeps the source's rate; the
/// result's `frame_rate` is the file's.
#[tokio::test]
async fn video_convert_frame_rates_follow_the_codec_or_the_parameter() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let dir = tempfile::tempdir().unwrap();
    let at = |fps: u32| {
        let name = format!("fps{fps}.mp4");
        let clip = common::ffmpeg_make(
            dir.path(),
            &name,
            &[
                "-f",
                "lavfi",
                "-i",
                &format!("testsrc=size=160x120:rate={fps}"),
                "-t",
                "2",
                "-c:v",
                "libx264",
                "-pix_fmt",
                "yuv420p",
            ],
        );
        fx.add(&name, "video/mp4", clip)
    };
    let (fps60, fps50) = (at(60), at(50));
    let statuses = drake
        .create(
            json!([
                {"task_name": "video.convert", "url": fps60, "video_codec": "vp9"},
                {"task_name": "video.convert", "url": fps50, "video_codec": "hevc"},
                {"task_name": "video.convert", "url": fps60},
                {"task_name": "video.convert", "url": fps60, "video_codec": "av1", "frame_rate": 60},
                {"task_name": "video.convert", "url": fps60, "frame_rate": 24},
                {"task_name": "video.convert", "url": fps60, "format": "hls", "frame_rate": 30},
                {"task_name": "video.convert", "url": fps60, "frame_rate": 0},
            ]),
            true,
        )
        .await;
    for (i, fps) in [(0, 30.0), (1, 25.0), (2, 60.0), (3, 60.0), (4, 24.0)] {
        let s = &statuses[i];
        assert_eq!(s["status"], "success", "{i}: {s}");
        assert_eq!(s["result"]["frame_rate"], fps, "{i}: {s}");
        let path = save(
            dir.path(),
            &format!("out{i}"),
            s["result"]["output"].as_str().unwrap(),
        )
        .await;
        let probe = common::ffprobe(&path);
        let video = stream(&probe, "video").unwrap();
        // (WebM keeps milliseconds: 30 fps reads 30.0000003.)
        let rate = rational(video["avg_frame_rate"].as_str().unwrap());
        assert!((rate - fps).abs() < 0.01, "{i}: {rate} fps");
        // Two seconds of frames, none doubled.
        let frames = common::probe(&path).0 as f64;
        assert!((frames - 2.0 * fps).abs() <= 1.0, "{i}: {frames} frames");
    }
    for i in [5, 6] {
        let s = &statuses[i];
        assert_eq!(s["status"], "error", "{i}: {s}");
        assert!(
            s["result"]["parameters"]["frame_rate"].is_array(),
            "{i}: {s}"
        );
    }

    // A variable rate, as phones record: 24 frames at 30 fps, then 12 at
    // 10 (36 frames in 1.8 s). Every frame is kept with its timestamp —
    // none repeated up to a constant rate — in MP4, WebM and ASF.
    let clip = common::ffmpeg_make(
        dir.path(),
        "vfr.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=30",
            "-vf",
            "trim=end_frame=36,setpts='if(lt(N,24),N/30,0.8+(N-24)/10)/TB'",
            "-fps_mode",
            "vfr",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    let vfr = fx.add("vfr.mp4", "video/mp4", clip);
    let statuses = drake
        .create(
            json!([
                {"task_name": "video.convert", "url": vfr},
                {"task_name": "video.convert", "url": vfr, "video_codec": "vp9"},
                {"task_name": "video.convert", "url": vfr, "audio_codec": "wmav2"},
            ]),
            true,
        )
        .await;
    for (i, s) in statuses.iter().enumerate() {
        assert_eq!(s["status"], "success", "{i}: {s}");
        let path = save(
            dir.path(),
            &format!("vfr{i}"),
            s["result"]["output"].as_str().unwrap(),
        )
        .await;
        assert_eq!(common::probe(&path).0, 36, "{i}: {s}");
    }
}

#[tokio::test]
async fn video_strip_takes_evenly_spaced_frames() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let v = videos(&fx);
    let statuses = drake
        .create(
            json!([
                {"task_name": "video.strip", "url": v.plain, "width": 80, "count": 4, "wrap": 2, "format": "png", "vtt": true},
                {"task_name": "video.strip", "url": v.plain},
                {"task_name": "video.strip", "url": v.rotated, "width": 50, "height": 50, "crop": true, "count": 3, "start": 1, "end": 2},
                {"task_name": "video.strip", "url": v.plain, "start": 3.5},
            ]),
            true,
        )
        .await;
    let r = &statuses[0]["result"];
    assert_eq!(statuses[0]["status"], "success", "{}", statuses[0]);
    assert_eq!(
        (r["width"].as_u64(), r["height"].as_u64()),
        (Some(160), Some(120))
    );
    assert_eq!(r["count"], 4);
    assert_eq!(r["frame_rate"], 25.0);
    assert_eq!(r["content_type"], "image/png");
    let strip = common::download(r["output"].as_str().unwrap()).await;
    let strip = image::load_from_memory(&strip).unwrap().to_rgb8();
    // Each cell is ffmpeg's own frame at the middle of its quarter.
    for (i, t) in [0.375, 1.125, 1.875, 2.625].into_iter().enumerate() {
        let theirs = ffmpeg_out(
            &["-ss", &format!("{t}")],
            &v.dir.path().join("plain.mp4"),
            &[
                "-frames:v",
                "1",
                "-vf",
                "scale=80:60:flags=lanczos",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "rgb24",
            ],
        );
        let (x0, y0) = ((i as u32 % 2) * 80, (i as u32 / 2) * 60);
        let mut diff = 0u64;
        for y in 0..60 {
            for x in 0..80 {
                let ours = strip.get_pixel(x0 + x, y0 + y).0;
                let at = ((y * 80 + x) * 3) as usize;
                for c in 0..3 {
                    diff += u64::from(ours[c].abs_diff(theirs[at + c]));
                }
            }
        }
        let mean = diff as f64 / (80.0 * 60.0 * 3.0);
        assert!(mean < 3.0, "frame {i} at {t}: mean difference {mean}");
    }
    // The thumbnails track: a cue per quarter of the 3 s, each naming
    // that frame's cell of the strip, relative to the track's own URL.
    let track_url = r["thumbnails"].as_str().unwrap();
    let answer = common::client().get(track_url).send().await.unwrap();
    assert_eq!(answer.headers()["content-type"], "text/vtt");
    let track = answer.text().await.unwrap();
    let mut lines = track.lines();
    assert_eq!(lines.next(), Some("WEBVTT"));
    let cues: Vec<(&str, &str)> = track
        .split("\n\n")
        .skip(1)
        .map(|cue| cue.trim().split_once('\n').unwrap())
        .collect();
    let expected = [
        ("00:00:00.000 --> 00:00:00.750", "output.png#xywh=0,0,80,60"),
        (
            "00:00:00.750 --> 00:00:01.500",
            "output.png#xywh=80,0,80,60",
        ),
        (
            "00:00:01.500 --> 00:00:02.250",
            "output.png#xywh=0,60,80,60",
        ),
        (
            "00:00:02.250 --> 00:00:03.000",
            "output.png#xywh=80,60,80,60",
        ),
    ];
    assert_eq!(cues, expected, "{track}");
    let sprite = reqwest::Url::parse(track_url)
        .unwrap()
        .join("output.png")
        .unwrap();
    assert_eq!(sprite.as_str(), r["output"].as_str().unwrap());
    let r = &statuses[1]["result"];
    assert_eq!(
        (r["width"].as_u64(), r["height"].as_u64()),
        (Some(3200), Some(240))
    );
    assert_eq!(r["content_type"], "image/jpeg");
    assert!(r["thumbnails"].is_null(), "a track only when asked: {r}");
    let r = &statuses[2]["result"];
    assert_eq!(
        (r["width"].as_u64(), r["height"].as_u64()),
        (Some(150), Some(50))
    );
    assert_eq!(
        (r["original_width"].as_u64(), r["original_height"].as_u64()),
        (Some(240), Some(320))
    );
    assert_eq!(statuses[3]["status"], "error");
    assert!(
        statuses[3]["result"]["parameters"]["start"].is_array(),
        "{}",
        statuses[3]
    );
}

#[tokio::test]
async fn video_reverse_plays_backwards_across_segments() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let dir = tempfile::tempdir().unwrap();
    // 1080p60 (1.4 s segments, so three joins in 3 s): the picture fades
    // from black to white, the tone grows from silence.
    let ramp = common::ffmpeg_make(
        dir.path(),
        "ramp.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=white:s=1920x1080:r=60:d=3,fade=in:0:180",
            "-f",
            "lavfi",
            "-i",
            "aevalsrc='0.9*t/3*sin(2*PI*440*t)':s=48000:d=3",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
        ],
    );
    let ramp = fx.add("ramp.mp4", "video/mp4", ramp);
    let statuses = drake
        .create(
            json!([
                {"task_name": "video.reverse", "url": ramp},
                {"task_name": "video.reverse", "url": ramp, "width": 320, "audio_codec": "wmav2", "sample_rate": 44100},
                {"task_name": "video.reverse", "url": ramp, "width": 320, "video_codec": "vp9"},
                {"task_name": "video.reverse", "url": ramp, "width": 320, "video_codec": "hevc"},
            ]),
            true,
        )
        .await;
    for s in &statuses {
        assert_eq!(s["status"], "success", "{s}");
        assert!(
            (s["result"]["duration"].as_f64().unwrap() - 3.0).abs() < 0.05,
            "{s}"
        );
    }
    let path = save(
        dir.path(),
        "rev.mp4",
        statuses[0]["result"]["output"].as_str().unwrap(),
    )
    .await;
    let probe = common::ffprobe(&path);
    let video = stream(&probe, "video").unwrap();
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(1920), Some(1080))
    );
    assert_eq!(stream(&probe, "audio").unwrap()["codec_name"], "aac");
    let frames = ffmpeg_out(&[], &path, &["-f", "framecrc"]);
    let frames = String::from_utf8_lossy(&frames)
        .lines()
        .filter(|l| l.starts_with("0,"))
        .count();
    assert!((179..=181).contains(&frames), "{frames} frames");
    // Output time t shows source time 3 − t, on both sides of every join.
    for t in [0.1, 0.7, 1.3, 1.5, 2.0, 2.6, 2.9] {
        let expected = 255.0 * ((3.0 - t) / 3.0);
        let got = luma_at(&path, t);
        assert!(
            (got - expected).abs() < 12.0,
            "luma at {t}: {got}, expected {expected}"
        );
    }
    // The tone fades out instead of in.
    let (start, end) = (rms(&path, 0.1, 0.4), rms(&path, 2.5, 0.4));
    assert!(start > 0.4 && end < 0.12, "rms {start} → {end}");
    let path = save(
        dir.path(),
        "rev.asf",
        statuses[1]["result"]["output"].as_str().unwrap(),
    )
    .await;
    let probe = common::ffprobe(&path);
    assert_eq!(stream(&probe, "video").unwrap()["width"], 320);
    // ASF keeps one timestamp per frame: segments bound for it have no
    // B-frames.
    assert_eq!(stream(&probe, "video").unwrap()["has_b_frames"], 0);
    let audio = stream(&probe, "audio").unwrap();
    assert_eq!(
        (audio["codec_name"].as_str(), audio["sample_rate"].as_str()),
        (Some("wmav2"), Some("44100"))
    );
    // VP9 (from an H.264 mezzanine) and HEVC (copied, tagged for MP4):
    // backwards too.
    for (i, name, vcodec, acodec, tag) in [
        (2, "rev.webm", "vp9", "opus", None),
        (3, "rev-hevc.mp4", "hevc", "aac", Some("hvc1")),
    ] {
        let path = save(
            dir.path(),
            name,
            statuses[i]["result"]["output"].as_str().unwrap(),
        )
        .await;
        let probe = common::ffprobe(&path);
        let video = stream(&probe, "video").unwrap();
        assert_eq!(
            (video["codec_name"].as_str(), video["width"].as_u64()),
            (Some(vcodec), Some(320)),
            "{name}"
        );
        if let Some(tag) = tag {
            assert_eq!(video["codec_tag_string"], tag, "{name}");
        }
        assert_eq!(
            stream(&probe, "audio").unwrap()["codec_name"],
            acodec,
            "{name}"
        );
        for t in [0.2, 1.5, 2.8] {
            let expected = 255.0 * ((3.0 - t) / 3.0);
            let got = luma_at(&path, t);
            assert!(
                (got - expected).abs() < 12.0,
                "{name}: luma at {t}: {got}, expected {expected}"
            );
        }
        let (start, end) = (rms(&path, 0.1, 0.4), rms(&path, 2.5, 0.4));
        assert!(start > 0.4 && end < 0.12, "{name}: rms {start} → {end}");
    }
}

#[tokio::test]
async fn bad_videos_end_in_readable_errors_for_every_task() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let dir = tempfile::tempdir().unwrap();
    let audio_only = fx.add(
        "tone.m4a",
        "audio/mp4",
        common::ffmpeg_make(
            dir.path(),
            "tone.m4a",
            &["-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac"],
        ),
    );
    // A video stream with a size and no frame at all.
    let no_frames = fx.add(
        "zero.y4m",
        "video/x-yuv4mpeg",
        b"YUV4MPEG2 W64 H64 F25:1 Ip A1:1 C420jpeg\n".to_vec(),
    );
    // A stream header claiming 17000×15000, then a truncated frame.
    let mut y4m = b"YUV4MPEG2 W17000 H15000 F25:1 Ip A1:1 C420jpeg\nFRAME\n".to_vec();
    y4m.extend([16u8; 4096]);
    let huge = fx.add("huge.y4m", "video/x-yuv4mpeg", y4m);
    // Variable frame rate: frame times jitter around 25 fps.
    let vfr_bytes = common::ffmpeg_make(
        dir.path(),
        "vfr.mkv",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=25:d=2,setpts='(N/25+0.013*sin(N))/TB'",
            "-fps_mode",
            "vfr",
            "-c:v",
            "libx264",
        ],
    );
    let vfr = fx.add("vfr.mkv", "video/x-matroska", vfr_bytes);
    let mut truncated = std::fs::read(real_media().join("iphone5.mov")).unwrap();
    truncated.truncate(truncated.len() / 3);
    let truncated = fx.add("cut.mov", "video/quicktime", truncated);
    let random = fx.add("random.mp4", "video/mp4", common::noise(50_000));
    let tasks_names = [
        "video.convert",
        "video.strip",
        "video.reverse",
        "video.thumb",
    ];
    // (url, what the message says per task; `None`: a success)
    let cases: [(&String, Option<[&str; 4]>); 6] = [
        (&audio_only, Some(["no video stream"; 4])),
        (
            &no_frames,
            Some(["no frame", "duration", "duration", "no frame"]),
        ),
        (&huge, Some(["at most 16384 px"; 4])),
        (&truncated, Some(["not readable media"; 4])),
        (&random, Some(["not readable media"; 4])),
        (&vfr, None),
    ];
    let mut tasks = Vec::new();
    for task in tasks_names {
        for (url, _) in &cases {
            tasks.push(json!({"task_name": task, "url": url}));
        }
    }
    let statuses = drake.create(json!(tasks), true).await;
    for (i, s) in statuses.iter().enumerate() {
        let what = &tasks[i];
        let (t, c) = (i / cases.len(), i % cases.len());
        let Some(messages) = cases[c].1 else {
            assert_eq!(s["status"], "success", "{what}: {s}");
            continue;
        };
        assert_eq!(s["status"], "error", "{what}: {s}");
        let msg = s["result"]
            .as_str()
            .map_or_else(|| s["result"].to_string(), str::to_owned);
        assert!(msg.contains(messages[t]), "{what}: {msg}");
    }
    assert_eq!(drake.get("/healthz").await.status(), 200);
}

/// The committed real files (see `tests/fixtures/media/README.md`).
fn real_media() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/media")
}

#[tokio::test]
async fn real_videos_match_ffprobe_and_ffmpeg() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<std::path::PathBuf> = [
        "iphone5.mov",
        "face_mp3.mp4",
        "deer_1080p.mp4",
        "promo.ts",
        "text.wmv",
        "text.flv",
        "hevc_vfr.mov",
    ]
    .iter()
    .map(|f| real_media().join(f))
    .collect();
    // A phone held upright: the iPhone clip with a 90° display matrix.
    let upright = dir.path().join("iphone5_rot90.mov");
    common::ffmpeg_make(
        dir.path(),
        "iphone5_rot90.mov",
        &[
            "-i",
            files[0].to_str().unwrap(),
            "-map",
            "0",
            "-c",
            "copy",
            "-metadata:s:v:0",
            "rotate=90",
        ],
    );
    files.push(upright);
    let urls: Vec<String> = files
        .iter()
        .map(|f| {
            let name = f.file_name().unwrap().to_str().unwrap();
            fx.add(name, "application/octet-stream", std::fs::read(f).unwrap())
        })
        .collect();
    let mut tasks = Vec::new();
    for url in &urls {
        tasks.push(json!({"task_name": "video.info", "url": url}));
        tasks.push(json!({"task_name": "video.thumb", "url": url, "time": 0.5, "format": "png"}));
        tasks.push(json!({"task_name": "video.convert", "url": url, "width": 160}));
    }
    let statuses = drake.create(json!(tasks), true).await;
    for (i, file) in files.iter().enumerate() {
        let name = file.file_name().unwrap().to_str().unwrap();
        let [info, thumb, convert] = [&statuses[3 * i], &statuses[3 * i + 1], &statuses[3 * i + 2]];
        for s in [info, thumb, convert] {
            assert_eq!(s["status"], "success", "{name}: {s}");
        }
        let probe = common::ffprobe(file);
        let video = stream(&probe, "video").unwrap();
        let rotation = video["side_data_list"]
            .as_array()
            .and_then(|l| l.iter().find_map(|d| d["rotation"].as_i64()))
            .unwrap_or(0)
            .rem_euclid(360);
        let (w, h) = (
            video["width"].as_u64().unwrap(),
            video["height"].as_u64().unwrap(),
        );
        let (w, h) = if rotation % 180 == 90 { (h, w) } else { (w, h) };
        let r = &info["result"];
        assert_eq!(
            (r["width"].as_u64(), r["height"].as_u64()),
            (Some(w), Some(h)),
            "{name}"
        );
        assert_eq!(r["rotation"].as_i64(), Some(rotation), "{name}");
        assert_eq!(r["video_codec"], video["codec_name"], "{name}");
        let audio = stream(&probe, "audio").map(|a| a["codec_name"].clone());
        assert_eq!(r["audio_codec"], audio.unwrap_or(Value::Null), "{name}");
        let duration: f64 = probe["format"]["duration"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (r["duration"].as_f64().unwrap() - duration).abs() < 0.01,
            "{name}"
        );
        let fps = rational(video["avg_frame_rate"].as_str().unwrap());
        assert!(
            (r["frame_rate"].as_f64().unwrap() - fps).abs() < 0.001,
            "{name}"
        );

        // The thumb at 0.5 s is ffmpeg's own frame at 0.5 s.
        let ours = common::download(thumb["result"]["output"].as_str().unwrap()).await;
        let ours = image::load_from_memory(&ours).unwrap().to_rgb8();
        assert_eq!(
            (u64::from(ours.width()), u64::from(ours.height())),
            (w, h),
            "{name}"
        );
        let theirs = ffmpeg_out(
            &["-ss", "0.5"],
            file,
            &["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24"],
        );
        assert_eq!(theirs.len(), ours.as_raw().len(), "{name}");
        let diff: u64 = ours
            .as_raw()
            .iter()
            .zip(&theirs)
            .map(|(a, b)| u64::from(a.abs_diff(*b)))
            .sum();
        let mean = diff as f64 / theirs.len() as f64;
        assert!(
            mean < 2.0,
            "{name}: thumb differs from ffmpeg's frame by {mean}"
        );

        // Converted: upright, 160 wide, as long as the source.
        let r = &convert["result"];
        let expected_h = ((h as f64 * 160.0 / w as f64).round() as u64) & !1;
        assert_eq!(
            (r["width"].as_u64(), r["height"].as_u64()),
            (Some(160), Some(expected_h)),
            "{name}"
        );
        assert_eq!(
            (r["original_width"].as_u64(), r["original_height"].as_u64()),
            (Some(w), Some(h)),
            "{name}"
        );
        assert!(
            (r["duration"].as_f64().unwrap() - duration).abs() < 0.15,
            "{name}: {r}"
        );
    }
}

#[tokio::test]
async fn long_jobs_report_ffmpegs_progress() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let dir = tempfile::tempdir().unwrap();
    let long = common::ffmpeg_make(
        dir.path(),
        "long.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30:duration=40",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
        ],
    );
    let long = fx.add("long.mp4", "video/mp4", long);
    let created = drake
        .create(json!({"task_name": "video.convert", "url": long}), false)
        .await;
    let key = created[0]["key"].as_str().unwrap();
    let text = common::client()
        .get(format!("{}/v1/status_stream?tasks={key}", drake.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let progress: Vec<u64> = lines
        .iter()
        .filter(|s| s["status"] == "executing")
        .filter_map(|s| s["progress"].as_u64())
        .collect();
    assert!(
        progress.iter().any(|p| (1..99).contains(p)),
        "progress from ffmpeg's -progress lines: {progress:?}"
    );
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert_eq!(lines.last().unwrap()["status"], "success", "{text}");
}
