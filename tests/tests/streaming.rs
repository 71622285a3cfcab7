//! Adaptive streaming from `video.convert` (`format: "hls"` / `"dash"`):
//! the manifests are read the way a player reads them — every URL resolved
//! relative to the one before — and every rendition is downloaded, joined
//! (init segment + segments) and probed: codec, size, rate, duration,
//! keyframes exactly at the segment starts in every rendition, SSIM
//! against the source.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use url::Url;

use crate::common::{self, Drake, Fixtures};

/// A 640×360 25 fps source of `seconds` (testsrc2: moving, coloured,
/// detailed), with a tone unless `silent`; `rotate` tags it 90°.
pub fn source(dir: &Path, name: &str, seconds: u32, silent: bool, rotate: bool) -> Vec<u8> {
    let t = seconds.to_string();
    let mut args = vec!["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25"];
    if !silent {
        args.extend(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]);
    }
    args.extend(["-t", &t, "-c:v", "libx264", "-pix_fmt", "yuv420p"]);
    if !silent {
        args.extend(["-c:a", "aac", "-ac", "1"]);
    }
    if !rotate {
        return common::ffmpeg_make(dir, name, &args);
    }
    // The display-matrix tag goes on by stream copy (an encode drops it).
    let upright = format!("upright-{name}");
    common::ffmpeg_make(dir, &upright, &args);
    let upright = dir.join(upright);
    common::ffmpeg_make(
        dir,
        name,
        &[
            "-i",
            upright.to_str().unwrap(),
            "-c",
            "copy",
            "-metadata:s:v:0",
            "rotate=90",
        ],
    )
}

/// GET `url`: status, content type, body.
async fn get(url: &Url) -> (u16, String, Vec<u8>) {
    let r = common::client()
        .get(url.as_str())
        .header("Origin", "https://player.example")
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if status == 200 {
        // A player on another origin may read every piece.
        assert_eq!(
            headers
                .get("access-control-allow-origin")
                .and_then(|v| v.to_str().ok()),
            Some("*"),
            "{url}"
        );
    }
    (status, ct, r.bytes().await.unwrap().to_vec())
}

/// A rendition as a player fetches it: its init segment and segments, in
/// order, with their durations.
struct Rendition {
    /// The init segment (fMP4; MPEG-TS has none).
    init: Option<Url>,
    segments: Vec<(Url, f64)>,
}

impl Rendition {
    /// Download every piece, checking each content type; the joined file.
    async fn join(&self, dir: &Path, name: &str) -> PathBuf {
        let mut bytes = Vec::new();
        if let Some(init) = &self.init {
            let (code, ct, b) = get(init).await;
            assert_eq!((code, ct.as_str()), (200, "video/mp4"), "{init}");
            bytes = b;
        }
        for (url, _) in &self.segments {
            let (code, ct, b) = get(url).await;
            let want = if url.path().ends_with(".ts") {
                "video/mp2t"
            } else {
                "video/iso.segment"
            };
            assert_eq!((code, ct.as_str()), (200, want), "{url}");
            bytes.extend(b);
        }
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// Segment start times.
    fn starts(&self) -> Vec<f64> {
        let mut t = 0.0;
        self.segments
            .iter()
            .map(|(_, d)| {
                let s = t;
                t += d;
                s
            })
            .collect()
    }
}

/// An HLS media playlist at `url`.
async fn media_playlist(url: &Url) -> Rendition {
    let (code, ct, body) = get(url).await;
    assert_eq!((code, ct.as_str()), (200, "application/vnd.apple.mpegurl"));
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.starts_with("#EXTM3U\n") && text.ends_with("#EXT-X-ENDLIST\n"),
        "{text}"
    );
    let target: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:"))
        .unwrap()
        .parse()
        .unwrap();
    let map = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
        .map(|m| m.trim_end_matches('"'));
    let mut segments = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some(d) = line.strip_prefix("#EXTINF:") {
            let d: f64 = d.trim_end_matches(',').parse().unwrap();
            assert!(d.round() <= target, "{d} > {target}");
            segments.push((url.join(lines.next().unwrap()).unwrap(), d));
        }
    }
    Rendition {
        init: map.map(|m| url.join(m).unwrap()),
        segments,
    }
}

/// A DASH representation: id, frame size (video), codecs, its pieces.
struct Representation {
    id: String,
    size: Option<(u64, u64)>,
    codecs: String,
    rendition: Rendition,
}

/// `name="value"` in `tag`.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    tag[at..].split('"').next()
}

/// The DASH representations of the manifest at `url`: id, width, height,
/// codecs, and how to fetch them.
fn mpd_representations(url: &Url, mpd: &str) -> Vec<Representation> {
    mpd.split("<Representation ")
        .skip(1)
        .map(|rep| {
            let rep = &format!(" {rep}");
            let id = attr(rep, "id").unwrap().to_owned();
            let size = attr(rep, "width").map(|w| {
                (
                    w.parse().unwrap(),
                    attr(rep, "height").unwrap().parse().unwrap(),
                )
            });
            let codecs = attr(rep, "codecs").unwrap().to_owned();
            let template = &rep[rep.find("<SegmentTemplate").unwrap()..];
            let timescale: f64 = attr(template, "timescale").unwrap().parse().unwrap();
            let media = attr(template, "media").unwrap();
            let init = Some(url.join(attr(template, "initialization").unwrap()).unwrap());
            let mut segments = Vec::new();
            for s in template.split("<S ").skip(1) {
                let d: f64 = attr(&format!(" {s}"), "d").unwrap().parse().unwrap();
                let r: usize = attr(&format!(" {s}"), "r").map_or(0, |r| r.parse().unwrap());
                for _ in 0..=r {
                    let n = segments.len() + 1;
                    let seg = url
                        .join(&media.replace("$Number$", &n.to_string()))
                        .unwrap();
                    segments.push((seg, d / timescale));
                }
            }
            Representation {
                id,
                size,
                codecs,
                rendition: Rendition { init, segments },
            }
        })
        .collect()
}

/// ffprobe's view of the first stream of `path`.
fn probe_stream(path: &Path) -> Value {
    let probe = common::ffprobe(path);
    probe["streams"][0].clone()
}

/// Times of the video keyframes of `path`.
fn keyframes(path: &Path) -> Vec<f64> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["packet=pts_time,flags", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.contains('K'))
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect()
}

/// Seconds of the stream at `path`.
fn seconds(path: &Path) -> f64 {
    common::ffprobe(path)["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Every keyframe of a rendition is a segment start and every segment
/// starts on one (frame-accurate), so every rendition switches anywhere.
fn assert_aligned(path: &Path, rendition: &Rendition) {
    let keys = keyframes(path);
    let starts = rendition.starts();
    assert_eq!(keys.len(), starts.len(), "{keys:?} vs {starts:?}");
    // B-frames may delay presentation by a frame or two (0.08 s at 25).
    let offset = keys[0];
    assert!(offset < 0.1, "{keys:?}");
    for (k, s) in keys.iter().zip(&starts) {
        assert!((k - offset - s).abs() < 0.021, "{keys:?} vs {starts:?}");
    }
}

#[tokio::test]
async fn video_convert_makes_hls_and_dash_ladders() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let dir = tempfile::tempdir().unwrap();
    let plain = fx.add(
        "plain.mp4",
        "video/mp4",
        source(dir.path(), "plain.mp4", 6, false, false),
    );
    let rotated = fx.add(
        "rotated.mp4",
        "video/mp4",
        source(dir.path(), "rotated.mp4", 5, false, true),
    );
    let silent = fx.add(
        "silent.mp4",
        "video/mp4",
        source(dir.path(), "silent.mp4", 5, true, false),
    );
    let statuses = drake
        .create(
            json!([
                {"task_name": "video.convert", "url": plain, "format": "hls", "segment_duration": 2},
                {"task_name": "video.convert", "url": rotated, "format": "dash", "video_codec": "vp9", "segment_duration": 2},
                {"task_name": "video.convert", "url": silent, "format": "dash", "video_codec": "av1"},
                {"task_name": "video.convert", "url": plain, "format": "hls", "width": 320},
                {"task_name": "video.convert", "url": rotated, "format": "hls", "segment_format": "ts", "segment_duration": 2},
            ]),
            true,
        )
        .await;
    for s in statuses[..3].iter().chain(&statuses[4..]) {
        assert_eq!(s["status"], "success", "{s}");
    }

    // HLS: the master lists 240p and 360p with one audio rendition.
    let r = &statuses[0]["result"];
    assert_eq!(r["content_type"], "application/vnd.apple.mpegurl");
    assert_eq!(r["duration"], 6.0);
    let master_url = Url::parse(r["output"].as_str().unwrap()).unwrap();
    assert!(master_url.path().ends_with("/output.m3u8"));
    let (code, ct, master) = get(&master_url).await;
    assert_eq!((code, ct.as_str()), (200, "application/vnd.apple.mpegurl"));
    let master = String::from_utf8(master).unwrap();
    let audio_uri = master
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA:TYPE=AUDIO,"))
        .and_then(|l| l.split("URI=\"").nth(1))
        .unwrap()
        .trim_end_matches('"');
    let mut variants = Vec::new();
    let mut lines = master.lines();
    while let Some(line) = lines.next() {
        if let Some(inf) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            let resolution = inf
                .split("RESOLUTION=")
                .nth(1)
                .unwrap()
                .split(',')
                .next()
                .unwrap();
            assert!(
                inf.contains("CODECS=\"avc1.") && inf.contains(",mp4a.40.2\""),
                "{inf}"
            );
            variants.push((
                resolution.to_owned(),
                master_url.join(lines.next().unwrap()).unwrap(),
            ));
        }
    }
    let resolutions: Vec<&str> = variants.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(resolutions, ["426x240", "640x360"]);
    let reference = dir.path().join("plain.mp4");
    let mut all_starts = Vec::new();
    for (i, (resolution, url)) in variants.iter().enumerate() {
        let rendition = media_playlist(url).await;
        assert_eq!(rendition.segments.len(), 3, "{resolution}");
        assert!(
            rendition
                .segments
                .iter()
                .all(|(_, d)| (d - 2.0).abs() < 0.01)
        );
        let joined = rendition.join(dir.path(), &format!("hls{i}.mp4")).await;
        let video = probe_stream(&joined);
        assert_eq!(video["codec_name"], "h264");
        assert_eq!(
            format!("{}x{}", video["width"], video["height"]),
            *resolution
        );
        assert_eq!(video["avg_frame_rate"], "25/1");
        assert!((seconds(&joined) - 6.0).abs() < 0.1);
        assert_aligned(&joined, &rendition);
        all_starts.push(rendition.starts());
        let (w, h) = resolution.split_once('x').unwrap();
        let quality = common::ssim(
            &joined,
            &reference,
            (w.parse().unwrap(), h.parse().unwrap()),
        );
        assert!(quality >= 0.95, "{resolution}: SSIM {quality}");
    }
    assert!(
        all_starts.windows(2).all(|w| w[0] == w[1]),
        "{all_starts:?}"
    );
    let audio = media_playlist(&master_url.join(audio_uri).unwrap()).await;
    let joined = audio.join(dir.path(), "hls-audio.mp4").await;
    let a = probe_stream(&joined);
    assert_eq!(
        (a["codec_name"].as_str(), a["sample_rate"].as_str()),
        (Some("aac"), Some("48000"))
    );
    assert_eq!(a["channels"], 1);
    assert!((seconds(&joined) - 6.0).abs() < 0.1, "{}", seconds(&joined));

    // What is not a part is not served.
    for bad in [
        "output/360p/1.html",
        "output/360p/x.y.m4s",
        "other/360p/1.m4s",
        "output/360p/99.m4s",
    ] {
        let (code, _, _) = get(&master_url.join(&format!("./{bad}")).unwrap()).await;
        assert_eq!(code, 404, "{bad}");
    }

    // DASH, VP9 + Opus, from a rotated source: portrait renditions.
    let r = &statuses[1]["result"];
    assert_eq!(
        (r["width"].as_u64(), r["height"].as_u64()),
        (Some(360), Some(640))
    );
    let mpd_url = Url::parse(r["output"].as_str().unwrap()).unwrap();
    let (code, ct, mpd) = get(&mpd_url).await;
    assert_eq!((code, ct.as_str()), (200, "application/dash+xml"));
    let mpd = String::from_utf8(mpd).unwrap();
    assert!(mpd.contains("type=\"static\"") && mpd.contains("mediaPresentationDuration=\"PT5."));
    let reps = mpd_representations(&mpd_url, &mpd);
    let ids: Vec<&str> = reps.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["240p", "360p", "audio"]);
    let reference = dir.path().join("rotated.mp4");
    let mut video_starts = Vec::new();
    for (i, rep) in reps.iter().enumerate() {
        let (id, size, codecs, rendition) = (&rep.id, &rep.size, &rep.codecs, &rep.rendition);
        let joined = rendition.join(dir.path(), &format!("dash{i}.mp4")).await;
        let stream = probe_stream(&joined);
        if let Some((w, h)) = size {
            assert!(codecs.starts_with("vp09.00."), "{codecs}");
            assert_eq!(stream["codec_name"], "vp9");
            assert_eq!(
                (stream["width"].as_u64(), stream["height"].as_u64()),
                (Some(*w), Some(*h))
            );
            assert_aligned(&joined, rendition);
            video_starts.push(rendition.starts());
            let quality = common::ssim(&joined, &reference, (*w, *h));
            assert!(quality >= 0.95, "{id}: SSIM {quality}");
        } else {
            assert_eq!(codecs, "opus");
            assert_eq!(stream["codec_name"], "opus");
        }
        assert!(
            (seconds(&joined) - 5.0).abs() < 0.1,
            "{id}: {}",
            seconds(&joined)
        );
    }
    assert_eq!(video_starts[0], video_starts[1]);

    // AV1 from a silent source: no audio set, 4 s segments.
    let r = &statuses[2]["result"];
    assert_eq!(r["audio_codec"], Value::Null);
    let mpd_url = Url::parse(r["output"].as_str().unwrap()).unwrap();
    let (_, _, mpd) = get(&mpd_url).await;
    let mpd = String::from_utf8(mpd).unwrap();
    assert!(!mpd.contains("contentType=\"audio\""));
    let reps = mpd_representations(&mpd_url, &mpd);
    assert_eq!(reps.len(), 2);
    for (i, rep) in reps.iter().enumerate() {
        let (codecs, rendition) = (&rep.codecs, &rep.rendition);
        assert!(codecs.starts_with("av01.0."), "{codecs}");
        let durations: Vec<f64> = rendition.segments.iter().map(|s| s.1).collect();
        assert_eq!(durations, [4.0, 1.0]);
        let joined = rendition.join(dir.path(), &format!("av1-{i}.mp4")).await;
        assert_eq!(probe_stream(&joined)["codec_name"], "av1");
        assert_aligned(&joined, rendition);
    }

    // video.info reads the manifests back: renditions, codecs, duration.
    let infos = drake
        .create(
            json!([
                {"task_name": "video.info", "url": statuses[0]["result"]["output"]},
                {"task_name": "video.info", "url": statuses[1]["result"]["output"]},
            ]),
            true,
        )
        .await;
    for (info, (ct, vcodec, acodec, top, duration)) in infos.iter().zip([
        (
            "application/vnd.apple.mpegurl",
            "h264",
            "aac",
            (640, 360),
            6.0,
        ),
        ("application/dash+xml", "vp9", "opus", (360, 640), 5.0),
    ]) {
        assert_eq!(info["status"], "success", "{info}");
        let r = &info["result"];
        assert_eq!(r["content_type"], ct);
        assert_eq!(
            (r["video_codec"].as_str(), r["audio_codec"].as_str()),
            (Some(vcodec), Some(acodec))
        );
        assert_eq!(
            (r["width"].as_u64(), r["height"].as_u64()),
            (Some(top.0), Some(top.1))
        );
        assert!(
            (r["duration"].as_f64().unwrap() - duration).abs() < 0.05,
            "{r}"
        );
        assert_eq!(r["frame_rate"], 25.0);
        assert_eq!(r["renditions"].as_array().unwrap().len(), 2, "{r}");
    }

    // A ladder picks its own sizes.
    let s = &statuses[3];
    assert_eq!(s["status"], "error");
    assert!(
        s["result"]["parameters"]["width"][0]
            .as_str()
            .unwrap()
            .contains("ladder"),
        "{s}"
    );

    // HLS in MPEG-TS: each rendition carries its audio; no init segment.
    let master_url = Url::parse(statuses[4]["result"]["output"].as_str().unwrap()).unwrap();
    let (_, _, master) = get(&master_url).await;
    let master = String::from_utf8(master).unwrap();
    assert!(!master.contains("#EXT-X-MEDIA"), "{master}");
    let variants: Vec<Url> = master
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| master_url.join(l).unwrap())
        .collect();
    assert_eq!(variants.len(), 2, "{master}");
    let reference = dir.path().join("rotated.mp4");
    let mut starts = Vec::new();
    for (i, url) in variants.iter().enumerate() {
        let rendition = media_playlist(url).await;
        assert!(rendition.init.is_none());
        assert_eq!(rendition.segments.len(), 3);
        let joined = rendition.join(dir.path(), &format!("ts{i}.ts")).await;
        let probe = common::ffprobe(&joined);
        let codecs: Vec<&str> = probe["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["codec_name"].as_str().unwrap())
            .collect();
        assert_eq!(codecs, ["h264", "aac"]);
        let video = &probe["streams"][0];
        let size = (
            video["width"].as_u64().unwrap(),
            video["height"].as_u64().unwrap(),
        );
        let aspect = size.0 as f64 / size.1 as f64;
        assert!((aspect - 9.0 / 16.0).abs() < 0.01, "portrait: {size:?}");
        assert!(
            (seconds(&joined) - 5.0).abs() < 0.15,
            "{}",
            seconds(&joined)
        );
        // MPEG-TS timestamps start where the muxer put them (1.4 s in).
        let keys = keyframes(&joined);
        let first = keys[0];
        let relative: Vec<f64> = keys.iter().map(|k| k - first).collect();
        let expected = rendition.starts();
        assert_eq!(
            relative.len(),
            expected.len(),
            "{relative:?} vs {expected:?}"
        );
        assert!(
            relative
                .iter()
                .zip(&expected)
                .all(|(a, b)| (a - b).abs() < 0.021)
        );
        starts.push(expected);
        let quality = common::ssim(&joined, &reference, size);
        assert!(quality >= 0.95, "ts {i}: SSIM {quality}");
    }
    assert_eq!(starts[0], starts[1]);
}

/// `drake create … --out DIR` of a ladder writes the master playlist and
/// every file it refers to, at the same relative paths: the copy plays
/// from disk (ffprobe reads it through the local playlists).
// (Multi-threaded: the fixtures are served while the CLI runs.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_downloads_a_whole_ladder() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let dir = tempfile::tempdir().unwrap();
    let clip = fx.add(
        "clip.mp4",
        "video/mp4",
        source(dir.path(), "clip.mp4", 3, false, false),
    );
    let out = dir.path().join("out");
    let run = Command::new(common::drake_bin())
        .args(["create", "video.convert", &format!("url={clip}")])
        .args(["format=hls", "segment_duration=2", "--out"])
        .arg(&out)
        .env("DRAKE_URL", &drake.url)
        .env("DRAKE_SECRET", common::SECRET)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr),
    );
    assert!(run.status.success(), "{stderr}\n{stdout}");
    let status: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(status["status"], "success", "{status}");
    // Master, two media playlists (360p's video, the audio), each with an
    // init segment and two segments.
    let mut files: Vec<String> = walk(&out)
        .iter()
        .map(|p| p.strip_prefix(&out).unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "output.m3u8",
            "output/240p.m3u8",
            "output/240p/1.m4s",
            "output/240p/2.m4s",
            "output/240p/init.mp4",
            "output/360p.m3u8",
            "output/360p/1.m4s",
            "output/360p/2.m4s",
            "output/360p/init.mp4",
            "output/audio.m3u8",
            "output/audio/1.m4s",
            "output/audio/2.m4s",
            "output/audio/init.mp4",
        ]
    );
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-print_format", "json", "-show_streams"])
        .arg(out.join("output.m3u8"))
        .output()
        .unwrap();
    let probe: Value = serde_json::from_slice(&probe.stdout).unwrap();
    let codecs: Vec<&str> = probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["codec_name"].as_str().unwrap())
        .collect();
    assert!(
        codecs.contains(&"h264") && codecs.contains(&"aac"),
        "{probe}"
    );
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
