//! Captions (`captions`, `auto_captions`): burned in — the cue's text is
//! on the frame at its time and nowhere else, found by a pixel probe —
//! or published as a WebVTT sidecar read back here by a parser of the
//! test's own; hostile caption files end in errors naming the line or in
//! correct output within the limits, never a hang.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::path::Path;

use serde_json::{Value, json};

use crate::common::{self, Drake, Fixtures};

/// A 640×360 25 fps dark blue video of `seconds` with a tone: yellow
/// text is the only yellow on it.
fn plain_video(dir: &Path, seconds: u32) -> Vec<u8> {
    let t = seconds.to_string();
    common::ffmpeg_make(
        dir,
        "blue.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=0x102050:size=640x360:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-t",
            &t,
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
        ],
    )
}

/// Written the way subtitle editors write them: CRLF, a BOM, markup, an
/// ASS position tag, an entity.
const SRT: &str = "\u{feff}1\r\n00:00:01,000 --> 00:00:02,500\r\nHello <b>world</b>\r\n\r\n\
                   2\r\n00:00:04,000 --> 00:00:05,000\r\n{\\an8}Second &amp; last\r\n\r\n";

/// Yellow pixels (R, G high, B low) at `t` in rows `rows` of a `w` × `h`
/// frame of the video at `path`.
fn yellow(path: &Path, t: f64, (w, h): (usize, usize), rows: std::ops::Range<usize>) -> usize {
    let px = common::frame(path, t);
    assert_eq!(px.len(), w * h * 3, "frame at {t}");
    px.chunks_exact(3)
        .enumerate()
        .filter(|(i, px)| rows.contains(&(i / w)) && px[0] > 180 && px[1] > 180 && px[2] < 100)
        .count()
}

/// A WebVTT file's cues, read independently of drake's parser:
/// `(start ms, end ms, text)`.
fn vtt_cues(text: &str) -> Vec<(u64, u64, String)> {
    assert!(text.starts_with("WEBVTT"), "{text}");
    let ms = |t: &str| -> u64 {
        let (hms, millis) = t.trim().split_once('.').unwrap();
        let parts: Vec<u64> = hms.split(':').map(|p| p.parse().unwrap()).collect();
        let secs = parts.iter().fold(0, |acc, p| acc * 60 + p);
        secs * 1000 + millis.parse::<u64>().unwrap()
    };
    text.split("\n\n")
        .filter_map(|block| {
            let mut lines = block.lines();
            let timing = lines.find(|l| l.contains("-->"))?;
            let (a, b) = timing.split_once("-->").unwrap();
            let b = b.split_whitespace().next().unwrap();
            Some((ms(a), ms(b), lines.collect::<Vec<_>>().join("\n")))
        })
        .collect()
}

async fn save(dir: &Path, name: &str, url: &Value) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, common::download(url.as_str().unwrap()).await).unwrap();
    path
}

#[tokio::test]
async fn captions_burn_in_or_ride_along() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let dir = tempfile::tempdir().unwrap();
    let video = fx.add("blue.mp4", "video/mp4", plain_video(dir.path(), 6));
    let srt = fx.add("c.srt", "application/x-subrip", SRT.as_bytes().to_vec());
    let statuses = drake
        .create(
            json!([
                {"task_name": "video.convert", "url": video,
                 "captions": {"url": srt, "color": "#ffff00", "size": 40}},
                {"task_name": "video.convert", "url": video, "captions": {"url": srt, "burn": false}},
                {"task_name": "video.convert", "url": video, "format": "hls", "segment_duration": 2,
                 "captions": {"url": srt, "burn": false}},
                {"task_name": "video.convert", "url": video, "format": "dash", "segment_duration": 2,
                 "video_codec": "vp9", "captions": {"url": srt, "color": "#ff0", "size": 40, "position": "top"}},
            ]),
            true,
        )
        .await;
    for s in &statuses {
        assert_eq!(s["status"], "success", "{s}");
        assert_eq!(s["result"]["caption_cues"], 2, "{s}");
    }

    // Burned: the first cue at the bottom from 1 s to 2.5 s; the second,
    // `{\an8}` dropped by the parser, also at the bottom (the style
    // decides, not the file's markup).
    let burned = save(dir.path(), "burned.mp4", &statuses[0]["result"]["output"]).await;
    let size = (640, 360);
    let bottom = 270..360;
    assert!(yellow(&burned, 1.6, size, bottom.clone()) > 300);
    assert_eq!(yellow(&burned, 1.6, size, 0..200), 0);
    assert_eq!(yellow(&burned, 3.2, size, 0..360), 0, "no cue at 3.2 s");
    assert!(yellow(&burned, 4.5, size, bottom.clone()) > 300);
    assert_eq!(yellow(&burned, 5.5, size, 0..360), 0, "no cue at 5.5 s");

    // Sidecar: the picture is untouched, the WebVTT file reads back.
    let r = &statuses[1]["result"];
    let plain = save(dir.path(), "plain.mp4", &r["output"]).await;
    assert_eq!(yellow(&plain, 1.6, size, 0..360), 0);
    let url = r["captions"].as_str().unwrap();
    assert!(url.ends_with("/captions.vtt"), "{url}");
    let response = common::client().get(url).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/vtt");
    let vtt = response.text().await.unwrap();
    assert_eq!(
        vtt_cues(&vtt),
        [
            (1000, 2500, "Hello world".to_owned()),
            (4000, 5000, "Second &amp; last".to_owned())
        ],
        "{vtt}"
    );

    // HLS: a subtitle rendition in the master, its playlist and file
    // beside the others.
    let r = &statuses[2]["result"];
    assert!(r["captions"].as_str().unwrap().ends_with(".vtt"));
    let master_url = url::Url::parse(r["output"].as_str().unwrap()).unwrap();
    let master = common::client()
        .get(master_url.as_str())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(master.contains("TYPE=SUBTITLES"), "{master}");
    assert!(master.contains("SUBTITLES=\"subs\""), "{master}");
    let playlist_url = master_url.join("output/subtitles.m3u8").unwrap();
    let playlist = common::client()
        .get(playlist_url.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(playlist.status(), 200);
    let playlist = playlist.text().await.unwrap();
    assert!(playlist.contains("#EXTINF:6.0"), "{playlist}");
    assert!(playlist.contains("\nsubtitles.vtt\n"), "{playlist}");
    let track = common::client()
        .get(playlist_url.join("subtitles.vtt").unwrap().as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(track.headers()["content-type"], "text/vtt");
    assert_eq!(vtt_cues(&track.text().await.unwrap()).len(), 2);

    // DASH VP9 with captions burned on the source, at the top: every
    // rendition carries them (the 360p one is probed).
    let r = &statuses[3]["result"];
    let mpd_url = url::Url::parse(r["output"].as_str().unwrap()).unwrap();
    let init = common::download(mpd_url.join("output/360p/init.mp4").unwrap().as_str()).await;
    let mut joined = init.to_vec();
    for n in 1..=3 {
        let url = mpd_url.join(&format!("output/360p/{n}.m4s")).unwrap();
        joined.extend_from_slice(&common::download(url.as_str()).await);
    }
    let top = dir.path().join("dash360.mp4");
    std::fs::write(&top, joined).unwrap();
    assert!(yellow(&top, 1.6, size, 0..90) > 300);
    assert_eq!(yellow(&top, 1.6, size, 200..360), 0);
}

#[tokio::test]
async fn hostile_caption_files_end_in_errors_or_correct_output() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let dir = tempfile::tempdir().unwrap();
    let video = fx.add("blue.mp4", "video/mp4", plain_video(dir.path(), 2));
    let srt_time = |ms: u64| {
        format!(
            "{:02}:{:02}:{:02},{:03}",
            ms / 3_600_000,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000
        )
    };
    // Cue i from i × 10 ms for half a second: up to 50 on screen at once.
    let cues = |n: usize, text: &str| -> String {
        (0..n)
            .map(|i| {
                let a = i as u64 * 10;
                format!(
                    "{}\n{} --> {}\n{text} {i}\n\n",
                    i + 1,
                    srt_time(a),
                    srt_time(a + 500)
                )
            })
            .collect()
    };
    let files: [(&str, Vec<u8>); 7] = [
        // 10,000 overlapping cues: the limit itself, drawn.
        ("max.srt", cues(10_000, "cue").into_bytes()),
        ("over.srt", cues(10_001, "cue").into_bytes()),
        // Over the 4 MiB download cap.
        ("huge.srt", cues(5_000, &"x".repeat(900)).into_bytes()),
        (
            "binary.srt",
            b"1\n00:00:01,000 --> 00:00:02,000\nok\n\n\x00\x01\x02\xff".to_vec(),
        ),
        (
            "backwards.srt",
            b"1\n00:00:02,000 --> 00:00:01,000\nback\n".to_vec(),
        ),
        (
            "garbage.srt",
            b"WEBVTT\n\n00:00:01.000 --> soon\nhm\n".to_vec(),
        ),
        ("png.srt", image_bytes()),
    ];
    let tasks: Vec<Value> = files
        .iter()
        .map(|(name, bytes)| {
            let url = fx.add(name, "text/plain", bytes.clone());
            json!({"task_name": "video.convert", "url": video, "captions": url})
        })
        .collect();
    let statuses = drake.create(json!(tasks), true).await;
    let result = |i: usize| statuses[i]["result"].to_string();
    assert_eq!(statuses[0]["status"], "success", "{}", result(0));
    assert_eq!(statuses[0]["result"]["caption_cues"], 10_000);
    for (i, (name, _)) in files.iter().enumerate().skip(1) {
        let s = &statuses[i];
        assert_eq!(s["status"], "error", "{name}: {s}");
        assert!(!s.to_string().contains("ffmpeg"), "{name}: {s}");
    }
    assert!(result(1).contains("10000"), "{}", result(1));
    assert!(result(2).contains("larger than"), "{}", result(2));
    for i in [1, 3, 4, 5, 6] {
        let r = &statuses[i]["result"]["parameters"]["captions"];
        assert!(
            r[0].as_str().unwrap().starts_with("line "),
            "{}: {r}",
            files[i].0
        );
    }
    assert!(result(4).contains("line 2"), "{}", result(4));
    assert!(result(5).contains("line 3"), "{}", result(5));

    // Parameters: a colour, a size taller than the frame, both captions
    // sources at once.
    let srt = fx.add("ok.srt", "text/plain", SRT.as_bytes().to_vec());
    let statuses = drake
        .create(
            json!([
                {"task_name": "video.convert", "url": video, "captions": {"url": srt, "color": "teal-ish"}},
                {"task_name": "video.convert", "url": video, "captions": {"url": srt, "size": 400}},
                {"task_name": "video.convert", "url": video, "captions": {"burn": false}},
                {"task_name": "video.create", "definition": "<movie service=\"craftsman-1.0\"><body/></movie>",
                 "auto_captions": true, "captions": {"url": srt}},
            ]),
            true,
        )
        .await;
    let param = |i: usize, name: &str| statuses[i]["result"]["parameters"][name].to_string();
    assert!(param(0, "captions").contains("color"), "{}", statuses[0]);
    assert!(param(1, "captions").contains("taller"), "{}", statuses[1]);
    assert!(param(2, "captions").contains("url"), "{}", statuses[2]);
    assert!(param(3, "auto_captions").contains("url"), "{}", statuses[3]);

    // Real text: a 1,000-character cue (the limit itself; wrapped, many
    // lines up the frame) and right-to-left scripts beside Latin, burned
    // in yellow.
    let cue = |text: &str| format!("1\n00:00:00,500 --> 00:00:01,500\n{text}\n").into_bytes();
    let text = format!("{}sit amet!!", "lorem ipsum dolor ".repeat(55));
    assert_eq!(text.chars().count(), 1000);
    let long = fx.add("long.srt", "text/plain", cue(&text));
    let rtl = fx.add(
        "rtl.srt",
        "text/plain",
        cue("שלום עולם — مرحبا بالعالم — hello"),
    );
    let statuses = drake
        .create(
            json!([
                {"task_name": "video.convert", "url": video, "captions": {"url": long, "color": "#ff0"}},
                {"task_name": "video.convert", "url": video, "captions": {"url": rtl, "color": "#ff0"}},
            ]),
            true,
        )
        .await;
    let size = (640, 360);
    for (i, s) in statuses.iter().enumerate() {
        assert_eq!(s["status"], "success", "{s}");
        assert_eq!(s["result"]["caption_cues"], 1, "{s}");
        let path = save(dir.path(), &format!("text{i}.mp4"), &s["result"]["output"]).await;
        assert!(yellow(&path, 1.0, size, 0..360) > 300, "{i}");
        assert_eq!(yellow(&path, 1.8, size, 0..360), 0, "{i}");
        // The long cue wraps: lines reach the upper half.
        assert_eq!(yellow(&path, 1.0, size, 0..180) > 0, i == 0, "{i}");
    }
}

/// A PNG, as a client uploading the wrong file would send.
fn image_bytes() -> Vec<u8> {
    let img = image::RgbImage::from_pixel(8, 8, image::Rgb([1, 2, 3]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[tokio::test]
async fn voices_caption_themselves() {
    let drake = Drake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let definition = "<movie service=\"craftsman-1.0\"><body><stack>\
        <audio voice=\"neospeech:julie\">Welcome to the harbour of our little town. \
        The boats come in at dawn!</audio></stack></body></movie>";
    let statuses = drake
        .create(
            json!([
                {"task_name": "video.create", "definition": definition, "preview": false,
                 "auto_captions": true, "captions": {"burn": false}},
                {"task_name": "video.create", "definition": definition, "preview": false,
                 "auto_captions": true, "captions": {"color": "#ffff00", "size": 30}},
            ]),
            true,
        )
        .await;
    for s in &statuses {
        assert_eq!(s["status"], "success", "{s}");
        assert_eq!(s["result"]["caption_cues"], 2, "{s}");
    }
    let r = &statuses[0]["result"];
    let duration = r["duration"].as_f64().unwrap();
    let vtt = String::from_utf8(
        common::download(r["captions"].as_str().unwrap())
            .await
            .to_vec(),
    )
    .unwrap();
    let cues = vtt_cues(&vtt);
    assert_eq!(cues.len(), 2, "{vtt}");
    assert_eq!(cues[0].2, "Welcome to the harbour of our little town.");
    assert_eq!(cues[1].2, "The boats come in at dawn!");
    // Back to back from the start, the last ending with the speech.
    assert_eq!(cues[0].0, 0);
    assert_eq!(cues[0].1, cues[1].0);
    assert!(
        ((cues[1].1 as f64) / 1000.0 - duration).abs() < 0.1,
        "{vtt} in {duration} s"
    );

    // Burned into the export: the first sentence while it is said.
    let r = &statuses[1]["result"];
    let export = save(dir.path(), "export.mp4", &r["export"]).await;
    let (w, h) = (
        r["width"].as_u64().unwrap() as usize,
        r["height"].as_u64().unwrap() as usize,
    );
    let first_mid = (cues[0].1 as f64) / 2000.0;
    assert!(yellow(&export, first_mid, (w, h), h * 3 / 4..h) > 100);
    assert_eq!(yellow(&export, first_mid, (w, h), 0..h / 2), 0);
}
