//! `video.create` end to end: SXML documents rendered through the host and
//! the ffmpeg sandbox, checked on the files made — duration to the frame,
//! size, rate, codecs, sound present or absent and its level, pixels
//! proving that overlays, text and transitions are where and when they
//! should be — and bad definitions ending in readable errors.
#![allow(clippy::unwrap_used, reason = "tests")]

use crate::common;

use std::path::Path;
use std::process::Command;

use crate::common::{
    Drake, Fixtures, Options, frame, frame_size, near, pixel, probe, save, tile_color,
};
use serde_json::{Value, json};

/// The media the documents use, served on loopback under the names of
/// sxml.md §14 (sounds are WAV whatever their name: an MP3's codec delay
/// would blur the exact lengths the examples check).
struct Media {
    dir: tempfile::TempDir,
    base: String,
}

fn media(fx: &Fixtures) -> Media {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let make = |name: &str, ct: &str, args: &[&str]| {
        fx.add(name, ct, common::ffmpeg_make(d, name, args));
    };
    fn still(src: &str) -> Vec<&str> {
        vec!["-f", "lavfi", "-i", src, "-frames:v", "1"]
    }
    for (name, src) in [
        ("a.jpg", "testsrc2=s=640x480"),
        ("b.jpg", "smptebars=s=640x360"),
        ("c.jpg", "mandelbrot=s=480x480"),
        ("1.jpg", "rgbtestsrc=s=800x450"),
        ("2.jpg", "testsrc=s=450x800"),
        ("p.jpg", "yuvtestsrc=s=640x480"),
    ] {
        make(name, "image/jpeg", &still(src));
    }
    make(
        "logo.png",
        "image/png",
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=red@0.5:s=64x32,format=rgba",
            "-frames:v",
            "1",
        ],
    );
    make("badge.gif", "image/gif", &still("testsrc=s=48x48"));
    let sine = |f: u32, secs: u32| format!("sine=frequency={f}:duration={secs}");
    for (name, f, secs) in [
        ("music.mp3", 440, 12),
        ("song1.mp3", 330, 16),
        ("song2.mp3", 550, 16),
    ] {
        make(
            name,
            "audio/mpeg",
            &["-f", "lavfi", "-i", &sine(f, secs), "-f", "wav"],
        );
    }
    // A voice with a pause: sound in 0–0.6 s and 1.4–4 s.
    make(
        "voice.wav",
        "audio/wav",
        &[
            "-f",
            "lavfi",
            "-i",
            "aevalsrc='if(between(t,0.6,1.4),0,0.5*sin(2*PI*3000*t))':s=44100:d=4",
            "-f",
            "wav",
        ],
    );
    for (name, secs) in [
        ("footage.mov", "6"),
        ("postroll.mp4", "7"),
        ("launch.mov", "12"),
    ] {
        fx.add(
            name,
            "video/mp4",
            common::test_clip(d, name, "320x240", secs, common::H264_AAC_MP4),
        );
    }
    Media {
        dir,
        base: fx.url("/f/"),
    }
}

fn example(n: usize, m: &Media) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../components/lib/sxml/tests/examples/14.{n}.sxml"));
    std::fs::read_to_string(path)
        .unwrap()
        .replace("http://example.com/", &m.base)
}

fn movie(body: &str) -> String {
    format!(r#"<movie service="craftsman-1.0"><body>{body}</body></movie>"#)
}

/// RMS (0–1) of the sound in `[from, from + len]`, mono, after `filter`.
fn rms(path: &Path, from: f64, len: f64, filter: &str) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-ss", &format!("{from:.3}")])
        .args(["-t", &format!("{len:.3}"), "-i"])
        .arg(path)
        .args([
            "-af", filter, "-f", "s16le", "-ac", "1", "-ar", "16000", "-",
        ])
        .output()
        .unwrap();
    let s: Vec<f64> = out
        .stdout
        .chunks_exact(2)
        .map(|b| f64::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    (s.iter().map(|v| v * v).sum::<f64>() / s.len().max(1) as f64).sqrt()
}

/// `jpeg` with an APP1 Exif segment saying `orientation` (little endian).
fn with_orientation(orientation: u16, jpeg: &[u8]) -> Vec<u8> {
    let mut tiff = b"II*\0".to_vec();
    tiff.extend(8u32.to_le_bytes());
    tiff.extend(1u16.to_le_bytes());
    tiff.extend(0x0112u16.to_le_bytes());
    tiff.extend(3u16.to_le_bytes());
    tiff.extend(1u32.to_le_bytes());
    tiff.extend(orientation.to_le_bytes());
    tiff.extend([0, 0, 0, 0, 0, 0]);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(tiff);
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend(u16::try_from(app1.len() + 2).unwrap().to_be_bytes());
    out.extend(app1);
    out.extend(&jpeg[2..]);
    out
}

fn error_text(status: &Value) -> String {
    assert_eq!(status["status"], "error", "{status}");
    status["result"].to_string()
}

/// Length in seconds of flite's "Hello and welcome." (the host speaks
/// with the same engine).
fn speech_seconds(text: &str) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-f", "lavfi", "-i"])
        .arg(format!("flite=text='{text}':voice=slt"))
        .args(["-f", "s16le", "-"])
        .output()
        .unwrap();
    out.stdout.len() as f64 / 2.0 / 16_000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn section_14_examples_render_to_the_frame() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let m = media(&fx);
    let voice = speech_seconds("Hello and welcome.");
    // (example, seconds, has sound).
    let cases = [
        (1, 17.0, true),
        (2, 23.0, true),
        (3, voice + 2.0, true),
        (4, 11.5, true),
        (5, 10.0, false),
        (6, 10.0, false),
        (7, 10.0, true),
        (8, 6.0, false),
    ];
    let tasks: Vec<Value> = cases
        .iter()
        .map(|(n, ..)| {
            json!({"task_name": "video.create", "definition": example(*n, &m), "profile": "240p",
                   "thumbnail_time": 2.0})
        })
        .collect();
    let statuses = drake.create(Value::Array(tasks), false).await;
    for ((n, seconds, sound), status) in cases.iter().zip(statuses) {
        let s = drake.wait(status["key"].as_str().unwrap()).await;
        assert_eq!(s["status"], "success", "14.{n}: {s}");
        let r = &s["result"];
        let frames = (seconds * 25.0).round();
        assert!(
            (r["duration"].as_f64().unwrap() - frames / 25.0).abs() < 0.006,
            "14.{n}: {r}"
        );
        assert_eq!(
            (r["width"].clone(), r["height"].clone()),
            (426.into(), 240.into())
        );
        let export = save(m.dir.path(), &format!("14.{n}.mp4"), &r["export"]).await;
        let (got, w, h, rate, vcodec, acodec) = probe(&export);
        assert_eq!(got as f64, frames, "14.{n}: frames");
        assert_eq!((w, h, rate), (426, 240, 25.0), "14.{n}");
        assert_eq!(vcodec, "h264");
        assert_eq!(acodec.is_some(), *sound, "14.{n}: sound");
        let preview = save(m.dir.path(), &format!("14.{n}.p.mp4"), &r["preview"]).await;
        let (pf, pw, ph, prate, ..) = probe(&preview);
        assert_eq!((pw, ph, prate), (318, 180, 12.5), "14.{n}: preview");
        assert!(
            (pf as f64 - seconds * 12.5).abs() <= 1.0,
            "14.{n}: preview frames {pf}"
        );
        let thumb = common::download(r["thumbnail"].as_str().unwrap()).await;
        let img = image::load_from_memory(&thumb).unwrap();
        assert_eq!((img.width(), img.height()), (426, 240));
    }
    // 14.1's part 2 is silent, its part 1 has the music.
    let first = m.dir.path().join("14.1.mp4");
    assert!(rms(&first, 3.0, 2.0, "anull") > 0.05);
    assert!(rms(&first, 13.0, 3.0, "anull") < 0.01);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlays_text_and_transitions_land_where_and_when_they_should() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let m = media(&fx);
    let doc = movie(
        r##"<stack duration="4">
          <effect type="none"><image color="#ff0000"/></effect>
          <overlay left="0.5" width="0.25" top="0.5" height="0.25" margin-start="1" duration="1.5">
            <image color="#0000ff"/></overlay>
          <text type="zone" top="0" height="0.3" fontcolor="#ffffff" fontsize="40">WWWW</text>
        </stack>
        <transition type="crossfade" duration="1"/>
        <effect type="none" duration="3"><image color="#00ff00"/></effect>
        <transition type="scan" direction="left" duration="1"/>
        <effect type="none" duration="2"><image color="#ffffff"/></effect>"##,
    );
    let s = &drake
        .create(json!({"task_name": "video.create", "definition": doc, "profile": "360p", "preview": false}), true)
        .await[0];
    assert_eq!(s["status"], "success", "{s}");
    assert_eq!(s["result"]["duration"], 7.0);
    assert!(s["result"].get("preview").is_none());
    let v = save(m.dir.path(), "probe.mp4", &s["result"]["export"]).await;
    let (frames, ..) = probe(&v);
    assert_eq!(frames, 175);
    let (red, blue, green, white) = ([255, 0, 0], [0, 0, 255], [0, 255, 0], [255, 255, 255]);
    near(pixel(&v, 0.5, 0.6, 0.6), red, "before the overlay");
    near(pixel(&v, 2.0, 0.6, 0.6), blue, "inside the overlay");
    near(pixel(&v, 2.0, 0.45, 0.6), red, "left of the overlay");
    near(pixel(&v, 2.0, 0.6, 0.8), red, "below the overlay");
    near(pixel(&v, 2.8, 0.6, 0.6), red, "after the overlay");
    near(
        pixel(&v, 3.5, 0.2, 0.9),
        [128, 128, 0],
        "halfway through the crossfade",
    );
    near(pixel(&v, 4.5, 0.2, 0.9), green, "after the crossfade");
    near(
        pixel(&v, 5.5, 0.1, 0.5),
        green,
        "the wipe's left, not reached yet",
    );
    near(
        pixel(&v, 5.5, 0.9, 0.5),
        white,
        "the wipe's right, revealed",
    );
    near(pixel(&v, 6.5, 0.5, 0.5), white, "the last item");
    // The text is white in the top band, centred; nothing white below.
    let px = frame(&v, 1.0);
    let (w, h) = frame_size(&v);
    let white_rows: Vec<usize> = (0..h)
        .filter(|y| (0..w).any(|x| px[(y * w + x) * 3 + 1] > 200))
        .collect();
    assert!(!white_rows.is_empty(), "no text drawn");
    assert!(
        white_rows.iter().all(|&y| y < h * 3 / 10),
        "text outside its zone: rows {:?}",
        (white_rows.first(), white_rows.last())
    );
    // A mask made of SXML: the left half of a full-frame blue box.
    let masked = movie(
        r##"<stack duration="2">
          <effect type="none"><image color="#ff0000"/></effect>
          <overlay><image color="#0000ff"/>
            <filter type="mask"><stack><overlay left="0" width="0.5"><image color="#ffffff"/></overlay></stack></filter>
          </overlay>
        </stack>"##,
    );
    let s = &drake
        .create(
            json!({"task_name": "video.create", "definition": masked, "preview": false}),
            true,
        )
        .await[0];
    assert_eq!(s["status"], "success", "{s}");
    let mv = save(m.dir.path(), "masked.mp4", &s["result"]["export"]).await;
    near(pixel(&mv, 1.0, 0.25, 0.5), blue, "the mask's opaque half");
    near(
        pixel(&mv, 1.0, 0.75, 0.5),
        red,
        "the mask's transparent half",
    );
    // A phone photo stored sideways (EXIF orientation 6) shows upright:
    // stored 64×32 with its left half white, it is seen 32×64, white on top.
    let sideways = fx.add(
        "sideways.jpg",
        "image/jpeg",
        with_orientation(
            6,
            &common::ffmpeg_make(
                m.dir.path(),
                "halves.jpg",
                &[
                    "-f",
                    "lavfi",
                    "-i",
                    "color=white:s=32x32[a];color=black:s=32x32[b];[a][b]hstack",
                    "-frames:v",
                    "1",
                ],
            ),
        ),
    );
    let upright = movie(&format!(
        r#"<effect type="none" duration="1"><image filename="{sideways}"/></effect>"#
    ));
    let s = &drake
        .create(
            json!({"task_name": "video.create", "definition": upright, "preview": false}),
            true,
        )
        .await[0];
    assert_eq!(s["status"], "success", "{s}");
    let uv = save(m.dir.path(), "upright.mp4", &s["result"]["export"]).await;
    near(
        pixel(&uv, 0.5, 0.5, 0.25),
        white,
        "the photo's left side, turned to the top",
    );
    near(
        pixel(&uv, 0.5, 0.5, 0.75),
        [0, 0, 0],
        "the photo's right side, turned to the bottom",
    );
    near(
        pixel(&uv, 0.5, 0.1, 0.5),
        [0, 0, 0],
        "the bars of a portrait picture",
    );
    let cols: Vec<usize> = (0..w)
        .filter(|x| white_rows.iter().any(|y| px[(y * w + x) * 3 + 1] > 200))
        .collect();
    let centre = (cols[0] + cols[cols.len() - 1]) as f64 / 2.0;
    assert!(
        (centre - w as f64 / 2.0).abs() < w as f64 * 0.03,
        "text not centred: {centre}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sound_mixes_ducks_and_stays_out_when_asked() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let m = media(&fx);
    let b = &m.base;
    let ducked = movie(&format!(
        r##"<stack duration="6">
          <effect type="none"><image color="#000000"/></effect>
          <audio filename="{b}music.mp3" duration=".."/>
          <audio filename="{b}voice.wav" margin-start="2" duration="2" duck-others="0.2" duck-margin="0" duck-fade="0.1"/>
        </stack>"##
    ));
    let muted = movie(&format!(
        r#"<effect type="none"><video filename="{b}footage.mov" audio="false"/></effect>"#
    ));
    let silent = movie(r##"<effect type="none" duration="1"><image color="#000000"/></effect>"##);
    let statuses = drake
        .create(
            json!([
                {"task_name": "video.create", "definition": ducked, "preview": false},
                {"task_name": "video.create", "definition": muted, "preview": false},
                {"task_name": "video.create", "definition": silent, "preview": false},
            ]),
            true,
        )
        .await;
    for s in &statuses {
        assert_eq!(s["status"], "success", "{s}");
    }
    let v = save(m.dir.path(), "ducked.mp4", &statuses[0]["result"]["export"]).await;
    // The music alone (below 1 kHz) before, during and after the voice.
    let music = "lowpass=f=1000,lowpass=f=1000";
    // The voice (margin-start 2, 2 s) sounds in 2–2.6 s and 3.4–4 s.
    let (before, during, pause, after) = (
        rms(&v, 0.5, 1.0, music),
        rms(&v, 2.1, 0.4, music),
        rms(&v, 2.8, 0.4, music),
        rms(&v, 4.5, 1.0, music),
    );
    // lavfi sines peak at 1/8: an RMS of 0.088 before the low-pass.
    assert!(before > 0.03, "music level {before}");
    let ratio = during / before;
    assert!((0.1..0.35).contains(&ratio), "ducked to {ratio} (want 0.2)");
    // duck-margin 0, duck-fade 0.1: the music is back in the voice's pause.
    assert!(
        (pause / before - 1.0).abs() < 0.15,
        "in the pause: {pause}/{before}"
    );
    assert!(
        (after / before - 1.0).abs() < 0.15,
        "music back after: {after}/{before}"
    );
    assert!(rms(&v, 2.1, 0.4, "highpass=f=2000") > 0.04, "the voice");
    let (_, _, _, _, _, audio) = probe(&v);
    assert_eq!(audio.as_deref(), Some("aac"));
    // audio="false" and no sound at all: no audio stream.
    for (i, s) in statuses.iter().enumerate().skip(1) {
        let f = save(
            m.dir.path(),
            &format!("quiet{i}.mp4"),
            &s["result"]["export"],
        )
        .await;
        assert_eq!(probe(&f).5, None);
    }
    assert_eq!(statuses[1]["result"]["duration"], 6.0, "the clip's length");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_profile_writes_its_container_codecs_size_and_rate() {
    let drake = Drake::start().await;
    let doc = movie(r##"<effect type="none" duration="0.4"><image color="#336699"/></effect>"##);
    let profiles = drake_task_video_create::profile::PROFILES;
    let tasks: Vec<Value> = profiles
        .iter()
        .map(|p| {
            json!({"task_name": "video.create", "definition": doc, "profile": p.name,
                         "preview": false, "thumbnail_time": 0})
        })
        .collect();
    let statuses = drake.create(Value::Array(tasks), true).await;
    let dir = tempfile::tempdir().unwrap();
    for (p, s) in profiles.iter().zip(&statuses) {
        assert_eq!(s["status"], "success", "{}: {s}", p.name);
        let r = &s["result"];
        assert_eq!(
            (r["width"].as_u64(), r["height"].as_u64()),
            (Some(p.width.into()), Some(p.height.into()))
        );
        let url = r["export"].as_str().unwrap();
        let ext = url.rsplit('.').next().unwrap();
        let f = save(dir.path(), &format!("{}.{ext}", p.name), &r["export"]).await;
        let (frames, w, h, rate, vcodec, _) = probe(&f);
        use drake_task_video_create::profile::Format;
        let (want_ext, want_codec) = match p.format {
            Format::H264 => ("mp4", "h264"),
            Format::Mpeg4 => ("mp4", "mpeg4"),
            Format::Flv => ("flv", "flv1"),
            Format::FlvH264 => ("flv", "h264"),
            Format::Wmv1 => ("wmv", "wmv1"),
            Format::Wmv2 => ("wmv", "wmv2"),
            Format::Dvd | Format::Mpeg1 => (
                "mpg",
                if p.format == Format::Dvd {
                    "mpeg2video"
                } else {
                    "mpeg1video"
                },
            ),
            Format::Vp9 => ("webm", "vp9"),
            Format::Av1 => ("webm", "av1"),
            Format::Hevc => ("mp4", "hevc"),
        };
        assert_eq!((ext, vcodec.as_str()), (want_ext, want_codec), "{}", p.name);
        assert_eq!(
            (w, h),
            (u64::from(p.width), u64::from(p.height)),
            "{}",
            p.name
        );
        assert!(
            (rate - p.rate.fps()).abs() < 0.01,
            "{}: rate {rate}",
            p.name
        );
        let want = (0.4 * p.rate.fps()).round() as u64;
        assert!(
            frames.abs_diff(want) <= 1,
            "{}: {frames} frames, want {want}",
            p.name
        );
        let thumb = common::download(r["thumbnail"].as_str().unwrap()).await;
        let img = image::load_from_memory(&thumb).unwrap();
        assert_eq!((img.width(), img.height()), p.drawn(), "{}", p.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_director_theme_lays_out_its_tracks() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let m = media(&fx);
    let b = &m.base;
    let doc = movie(&format!(
        r#"<widget type="director.theme.tiles">
          <track type="video">
            <image filename="{b}a.jpg" duration="3"><track type="caption"><text>First</text></track></image>
            <text duration="4">A title slide</text>
            <image filename="{b}b.jpg"/>
          </track>
          <track type="audio"><audio filename="{b}music.mp3"/></track>
        </widget>"#
    ));
    let s = &render(&drake, &doc).await;
    // 3 + 4 + 5 s, two 1 s crossfades.
    assert_eq!(s["result"]["duration"], 10.0);
    let v = save(m.dir.path(), "theme.mp4", &s["result"]["export"]).await;
    assert_eq!(probe(&v).5.as_deref(), Some("aac"));
}

/// Render `doc` without a preview; its status, asserted a success.
async fn render(drake: &Drake, doc: &str) -> Value {
    let mut statuses = drake
        .create(
            json!({"task_name": "video.create", "definition": doc, "preview": false}),
            true,
        )
        .await;
    let s = statuses.remove(0);
    assert_eq!(s["status"], "success", "{s}");
    s
}

/// Mean absolute difference of two RGB frames of the same size.
fn frame_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let sum: u64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    sum as f64 / a.len() as f64
}

/// A `skip` past the end of a clip (a 6 s clip skipped by 18 and 36 s, a
/// crossfade between them) shows the clip's last frame for the item's
/// time: it used to leave the crossfade waiting for frames that never
/// came, holding the worker until the task's one-hour limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skip_past_the_end_of_a_clip_holds_its_last_frame() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let m = media(&fx);
    let b = &m.base;
    let doc = movie(&format!(
        r#"<sequence>
          <effect type="none" duration="2"><video filename="{b}footage.mov" skip="18"/></effect>
          <transition type="crossfade" duration="1"/>
          <effect type="none" duration="2"><video filename="{b}footage.mov" skip="36"/></effect>
          <effect type="none" duration="1"><video filename="{b}footage.mov"/></effect>
        </sequence>"#
    ));
    let s = &render(&drake, &doc).await;
    // 2 + 2 − 1 + 1 s.
    assert_eq!(s["result"]["duration"], 4.0);
    // Each is said, with where.
    let said = s["result"]["warnings"]
        .as_array()
        .unwrap_or_else(|| panic!("{s}"));
    assert_eq!(said.len(), 2, "{s}");
    assert!(
        said.iter().all(|w| w
            .as_str()
            .is_some_and(|w| w.contains("past the end of the 6.00 s file"))),
        "{s}"
    );
    let v = save(m.dir.path(), "skip.mp4", &s["result"]["export"]).await;
    // Held: the first item's frames are one picture, the second's too (the
    // same one), and it is not the clip's first frame (shown at 3.5 s).
    let (early, late, second) = (frame(&v, 0.2), frame(&v, 1.5), frame(&v, 2.6));
    let first = frame(&v, 3.5);
    assert!(frame_diff(&early, &late) < 3.0, "the picture moved");
    assert!(frame_diff(&late, &second) < 3.0, "a different picture");
    assert!(
        frame_diff(&early, &first) > 3.0,
        "not the clip's last frame"
    );
}

/// Written as client code that ran against the original writes it: a
/// typo'd attribute and an element of the client's own are ignored, and
/// the result says so (they ended the task before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_attributes_and_elements_are_ignored_and_reported() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let m = media(&fx);
    let b = &m.base;
    let doc = format!(
        "<movie service=\"craftsman-1.0\"><body>\n<effect type=\"none\" alighn=\"left\" duration=\"2\">\
         <image filename=\"{b}a.jpg\"/><clientdata id=\"42\"/></effect>\n</body></movie>"
    );
    let s = render(&drake, &doc).await;
    assert_eq!(s["result"]["duration"], 2.0);
    assert_eq!(
        s["result"]["warnings"],
        json!([
            "line 2, column 1: <effect>: unknown attribute \"alighn\" ignored",
            format!(
                "line 2, column {}: <effect>: unknown element <clientdata> ignored",
                73 + b.len()
            ),
        ]),
        "{s}"
    );
    // A document without anything to ignore has no warnings value; an
    // empty text (a client's empty data slot) takes its time, drawing
    // nothing over the black background.
    let clean = movie(&format!(
        r#"<effect type="none" duration="1"><image filename="{b}a.jpg"/></effect><text duration="1"></text>"#
    ));
    let s = render(&drake, &clean).await;
    assert!(s["result"].get("warnings").is_none(), "{s}");
    assert_eq!(s["result"]["duration"], 2.0);
    let v = save(m.dir.path(), "empty-text.mp4", &s["result"]["export"]).await;
    near(
        pixel(&v, 1.5, 0.5, 0.5),
        [0, 0, 0],
        "an empty text draws nothing",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_definitions_end_in_readable_errors() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let missing = fx.url("/f/nothing-here.jpg");
    // Hostile media inside a definition: noise named .jpg, half a JPEG, a
    // PNG header claiming 100000×100000, an empty file.
    let noise = fx.add("noise.jpg", "image/jpeg", common::noise(4096));
    let whole = common::jpeg(640, 480);
    let half = fx.add("half.jpg", "image/jpeg", whole[..whole.len() / 2].to_vec());
    let bomb = fx.add(
        "bomb.png",
        "image/png",
        common::png_header_only(100_000, 100_000),
    );
    let empty = fx.add("empty.mp4", "video/mp4", Vec::new());
    let with_image = |url: &str| {
        movie(&format!(
            r#"<effect type="none" duration="1"><image filename="{url}"/></effect>"#
        ))
    };
    let nested = format!(
        "{}<effect type=\"none\"><image color=\"#000000\"/></effect>{}",
        "<stack>".repeat(10_000),
        "</stack>".repeat(10_000)
    );
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><movie service="craftsman-1.0"><body><text type="zone">&lol3;</text></body></movie>"#;
    let cases: Vec<(String, &str)> = vec![
        ("<movie service=\"craftsman-1.0\"><body>".into(), "line 1"),
        (movie("<bogus/>"), "bogus"),
        (
            movie("<stack><audio filename=\"x\" volume=\"11\"/></stack>"),
            "volume",
        ),
        (
            movie("<effect type=\"none\" duration=\"0\"><image color=\"#000000\"/></effect>"),
            "duration",
        ),
        (
            movie("<effect type=\"none\" duration=\"-2\"><image color=\"#000000\"/></effect>"),
            "duration",
        ),
        (movie(&nested), "deep"),
        (
            movie(&"<text type=\"zone\">x</text>".repeat(100_000 / 4)),
            "elements",
        ),
        (
            movie(&format!(
                "<effect type=\"none\"><image filename=\"{missing}\"/></effect>"
            )),
            "nothing-here.jpg",
        ),
        (laughs.into(), "DOCTYPE"),
        (
            movie("<effect type=\"none\"><image type=\"map\" center=\"1,2\"/></effect>"),
            "[maps] tile_url",
        ),
        (
            movie("<stack><audio voice=\"neospeech:bob\">hi</audio></stack>"),
            "voice",
        ),
        (with_image(&noise), "noise.jpg"),
        (with_image(&bomb), "bomb.png"),
        (
            movie(&format!(
                r#"<effect type="none"><video filename="{empty}"/></effect>"#
            )),
            "empty.mp4",
        ),
    ];
    let tasks: Vec<Value> = cases
        .iter()
        .map(|(d, _)| json!({"task_name": "video.create", "definition": d}))
        .collect();
    let statuses = drake.create(Value::Array(tasks), true).await;
    for ((doc, needle), s) in cases.iter().zip(&statuses) {
        let s = drake
            .wait(s["key"].as_str().unwrap_or_else(|| panic!("{s}")))
            .await;
        let text = error_text(&s);
        assert!(
            text.to_lowercase().contains(&needle.to_lowercase()),
            "{needle:?} not in {text} (for {:.80})",
            doc
        );
    }
    // Errors of the definition name the parameter, line and column.
    assert!(
        statuses[1]["result"]["parameters"]["definition"][0]
            .as_str()
            .unwrap()
            .starts_with("line 1, column ")
    );
    // Half a JPEG: ffmpeg conceals the missing rows (grey), as browsers
    // do: a movie, not an error.
    let s = &drake
        .create(
            json!({"task_name": "video.create", "definition": with_image(&half), "preview": false}),
            true,
        )
        .await[0];
    assert_eq!(s["status"], "success", "{s}");
    assert_eq!(s["result"]["duration"], 1.0);
    // A definition over the size cap is refused by the API's body limit.
    let huge = movie(&" ".repeat(1 << 20));
    let (code, body) = drake
        .post(
            "/v1/create",
            json!({"tasks": [{"task_name": "video.create", "definition": huge}]}),
        )
        .await;
    assert_eq!(code.as_u16(), 413, "{body}");
    assert!(body.as_str().is_some_and(|t| t.contains("limit")), "{body}");
    // The server is still up.
    let ok = &drake
        .create(json!({"task_name": "video.create", "definition": movie("<effect type=\"none\" duration=\"0.2\"><image color=\"#000000\"/></effect>"), "preview": false}), true)
        .await[0];
    assert_eq!(ok["status"], "success", "{ok}");
}

/// Every widget renders (issue 22): each family its own look from the
/// same slots, `style` layers recolouring and hiding parts, any other
/// type through the generic renderer with a warning, and a
/// `set.transitions.*` widget drawing a custom transition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn widget_families_have_looks_of_their_own() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let m = media(&fx);
    let b = &m.base;
    let red = r##"<image color="#ff0000" duration="2"/>"##;
    let doc = movie(&format!(
        r##"<widget type="slideshow.reflect.simple.index">{red}</widget>
        <widget type="set.scrapbook.text.01b.m.01"><style layer="background:lightColor" color="#F892FE"/>{red}<text>Happy birthday</text></widget>
        <widget type="set.scrapbook.photo.02"><image filename="{b}c.jpg" duration="2"/><text>Paper</text></widget>
        <widget type="set.moviestyle.machete.solo.01">{red}<text>MACHETE</text></widget>
        <widget type="set.moviestyle.machete.solo.01"><style layer="bars" visible="false"/><style layer="fx:vignette" visible="false"/>{red}</widget>
        <widget type="customers2.acme.01">{red}<text>Generic</text></widget>
        <transition type="custom" duration="1"><widget type="set.transitions.dissolve.01"/></transition>
        <widget type="set.transitions.wipe.01"><image color="#0000ff" duration="2"/><image color="#00ff00" duration="2"/></widget>"##
    ));
    let s = render(&drake, &doc).await;
    // Six widgets of 2 s, then 2 + 2 − 1 s joined by the widget's wipe,
    // overlapping the one before by the custom transition's 1 s.
    assert_eq!(s["result"]["duration"], 14.0, "{s}");
    assert_eq!(
        s["result"]["warnings"],
        json!([
            "line 6, column 9: <widget>: type \"customers2.acme.01\" is not one of drake's widget families; drawn by the generic widget renderer"
        ]),
        "{s}"
    );
    let v = save(m.dir.path(), "widgets.mp4", &s["result"]["export"]).await;
    let probes: &[(f64, f64, f64, [u8; 3], &str)] = &[
        (1.0, 0.02, 0.02, [16, 16, 24], "reflect: a dark stage"),
        (1.0, 0.5, 0.3, [255, 0, 0], "reflect: the picture"),
        (
            1.0,
            0.5,
            0.67,
            [88, 13, 19],
            "reflect: its mirror image, faded",
        ),
        (
            3.0,
            0.02,
            0.02,
            [248, 146, 254],
            "scrapbook: the style's paper colour",
        ),
        (3.0, 0.5, 0.42, [255, 0, 0], "scrapbook: the photo"),
        (5.0, 0.02, 0.02, [243, 233, 210], "scrapbook: its own paper"),
        (7.0, 0.5, 0.04, [0, 0, 0], "moviestyle: the letterbox bar"),
        (7.0, 0.5, 0.5, [255, 0, 0], "moviestyle: the picture"),
        (
            9.0,
            0.5,
            0.04,
            [255, 0, 0],
            "moviestyle: bars and vignette hidden",
        ),
        (11.0, 0.02, 0.02, [255, 0, 0], "generic: full frame"),
        (
            13.5,
            0.5,
            0.5,
            [0, 255, 0],
            "transitions widget: its second item",
        ),
    ];
    for &(t, x, y, want, what) in probes {
        near(pixel(&v, t, x, y), want, what);
    }
}

/// What client code that ran against the original sends (issue 22):
/// an unknown effect type, `&` and `<` left unescaped in text and in a
/// URL, transitions inside a theme's track and as its last child. All
/// render, each listed in the warnings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_originals_leniency_renders_client_documents() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let m = media(&fx);
    let b = &m.base;
    let doc = format!(
        "<movie service=\"craftsman-1.0\"><body>\n\
         <effect type=\"tv\" duration=\"2\"><image filename=\"{b}a.jpg?w=640&h=480\"/></effect>\n\
         <stack><effect type=\"none\" duration=\"2\"><image filename=\"{b}b.jpg\"/></effect><text type=\"zone\">Fish & Chips < 5</text></stack>\n\
         <widget type=\"director.theme.tiles\"><track type=\"video\"><image filename=\"{b}a.jpg\" duration=\"2\"/>\
         <transition type=\"swirl\" duration=\"1\"/><image filename=\"{b}c.jpg\" duration=\"2\"/><transition type=\"cube\"/></track></widget>\n\
         </body></movie>"
    );
    let s = render(&drake, &doc).await;
    assert_eq!(s["result"]["duration"], 2.0 + 2.0 + 3.0, "{s}");
    let warnings: Vec<&str> = s["result"]["warnings"]
        .as_array()
        .unwrap_or_else(|| panic!("{s}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let said = |line: u32, what: &str| {
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with(&format!("line {line}, ")) && w.contains(what)),
            "{what} on line {line}: {warnings:?}"
        );
    };
    said(2, "unescaped '&'");
    said(2, "type: \"tv\" is not one of");
    said(3, "unescaped '&'");
    said(3, "unescaped '<'");
    said(4, "<transition>: nothing follows it in <track>; ignored");
    assert_eq!(warnings.len(), 5, "{warnings:?}");
}

/// `<image type="map">` (issue 22): drawn from the configured tile server,
/// a place name found through the geocoder, a fractional zoom, a marker
/// and the attribution; each tile and each place fetched once per task,
/// however many maps use them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maps_are_drawn_from_tiles_and_place_names() {
    let fx = Fixtures::start().await;
    let tables = format!(
        "[maps]\ntile_url = \"{}\"\ngeocoder_url = \"{}\"\n",
        fx.url("/tiles/{z}/{x}/{y}.png"),
        fx.url("/geocode?format=json&q={query}")
    );
    let drake = Drake::start_with(Options {
        tables,
        ..Options::default()
    })
    .await;
    let m = media(&fx);
    let paris =
        r#"<image type="map" center="Paris" zoom="10.5" size="640x360" markers="48.8566,2.3522"/>"#;
    let doc = movie(&format!(
        r#"<effect type="none" duration="2">{paris}</effect>
        <widget type="set.scrapbook.map.01b" duration="2"><image type="map" center="48.8566,2.3522" zoom="10" size="640x360"/><text>Paris</text></widget>
        <effect type="none" duration="2">{paris}</effect>"#
    ));
    let s = render(&drake, &doc).await;
    assert_eq!(s["result"]["duration"], 6.0, "{s}");
    // One place name, asked once; every tile fetched once.
    assert_eq!(fx.hits("/geocode"), [("/geocode?q=Paris".to_owned(), 1)]);
    let tiles = fx.hits("/tiles/");
    assert!(tiles.len() >= 4, "{tiles:?}");
    assert!(tiles.iter().all(|(_, n)| *n == 1), "{tiles:?}");
    // Zoom 10.5 draws zoom-10 tiles, scaled; Paris is on tile (518, 352).
    assert!(
        tiles.iter().any(|(p, _)| p == "/tiles/10/518/352"),
        "{tiles:?}"
    );
    let v = save(m.dir.path(), "map.mp4", &s["result"]["export"]).await;
    near(
        pixel(&v, 1.0, 0.5, 0.5),
        [220, 40, 40],
        "the marker, at the centre",
    );
    let ground = pixel(&v, 1.0, 0.25, 0.25);
    assert!(
        [tile_color(0, 0), tile_color(0, 1)].iter().any(|c| {
            c.iter()
                .zip(ground)
                .all(|(a, b)| (i32::from(*a) - i32::from(b)).abs() <= 48)
        }),
        "the tiles: {ground:?}"
    );
    let note = pixel(&v, 1.0, 0.99, 0.965);
    assert!(
        note.iter().all(|c| *c >= 150),
        "the attribution's light box: {note:?}"
    );
    // The scrapbook shows the map as a photo on its paper.
    near(
        pixel(&v, 3.0, 0.02, 0.02),
        [243, 233, 210],
        "scrapbook paper",
    );
}

/// 3-D turns (issue 22): custom keys turning about y (`rot`) or x
/// (`orient`'s first angle) draw the picture in perspective — narrower,
/// or shorter, as it turns, with what lies beside it unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turns_about_x_and_y_draw_in_perspective() {
    let drake = Drake::start().await;
    let doc = movie(
        r##"<stack><effect type="none" duration="2"><image color="#000000"/></effect>
        <overlay left="0.05" top="0.2" width="0.4" height="0.6"><image color="#FF0000"/>
          <animator type="custom"><key time="0" rot="0,0,1,0"/><key time="2" rot="80,0,1,0"/></animator></overlay>
        <overlay left="0.55" top="0.2" width="0.4" height="0.6"><image color="#00FF00"/>
          <animator type="custom"><key time="0" orient="0,0,0"/><key time="2" orient="80,0,0"/></animator></overlay>
        </stack>"##,
    );
    let s = render(&drake, &doc).await;
    let dir = tempfile::tempdir().unwrap();
    let v = save(dir.path(), "turns.mp4", &s["result"]["export"]).await;
    // At the start both stand flat.
    near(
        pixel(&v, 0.05, 0.4, 0.5),
        [255, 0, 0],
        "about y, flat: its right part",
    );
    near(
        pixel(&v, 0.05, 0.75, 0.25),
        [0, 255, 0],
        "about x, flat: its top part",
    );
    // Turned by ~78°: the red box is a narrow band about its centre, the
    // green one a low band about its middle.
    near(
        pixel(&v, 1.95, 0.25, 0.5),
        [255, 0, 0],
        "about y: its centre",
    );
    near(
        pixel(&v, 1.95, 0.4, 0.5),
        [0, 0, 0],
        "about y: beside it now",
    );
    near(
        pixel(&v, 1.95, 0.75, 0.5),
        [0, 255, 0],
        "about x: its middle",
    );
    near(
        pixel(&v, 1.95, 0.75, 0.25),
        [0, 0, 0],
        "about x: above it now",
    );
}

/// A document cannot turn into thousands of requests to the operator's
/// tile server: distinct tiles per task are capped (issue 22).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maps_are_bounded_per_task() {
    let fx = Fixtures::start().await;
    let drake = Drake::start_with(Options {
        tables: format!(
            "[maps]\ntile_url = \"{}\"\n",
            fx.url("/tiles/{z}/{x}/{y}.png")
        ),
        ..Options::default()
    })
    .await;
    // One map at the largest size (81 tiles in one frame) renders.
    let one = movie(
        r#"<effect type="none" duration="1"><image type="map" center="-60,-60" zoom="10" size="2048x2048"/></effect>"#,
    );
    render(&drake, &one).await;
    // Six full-size maps far apart: 81 tiles each.
    let maps: String = (0..6)
        .map(|i| {
            format!(
                r#"<effect type="none" duration="1"><image type="map" center="{},{}" zoom="10" size="2048x2048"/></effect>"#,
                i * 10,
                i * 10
            )
        })
        .collect();
    let statuses = drake
        .create(
            json!({"task_name": "video.create", "definition": movie(&maps), "preview": false}),
            true,
        )
        .await;
    let s = &statuses[0];
    assert_eq!(s["status"], "error", "{s}");
    let text = s["result"]["error"].as_str().unwrap_or_default().to_owned() + &s.to_string();
    assert!(text.contains("more than 400 tiles"), "{s}");
    let fetched: usize = fx.hits("/tiles/").iter().map(|(_, n)| n).sum();
    assert_eq!(
        fetched,
        81 + 400,
        "each tile once per task, none past the cap"
    );
}
