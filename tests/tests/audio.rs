//! The audio tasks end to end, against ffprobe on the same files:
//! generated tones in every input format, channel count and sample rate
//! the tasks promise, real files from registry packages, and bad input.
#![allow(clippy::unwrap_used, reason = "tests")]

use crate::common;

use std::path::Path;
use std::process::Command;

use crate::common::{Drake, Fixtures};
use serde_json::{Value, json};

/// Encode a 2.5 s tone with ffmpeg into `name`.
fn tone(dir: &Path, name: &str, rate: u32, channels: u32, codec: &[&str]) -> Vec<u8> {
    let source = format!("sine=frequency=440:sample_rate={rate}:duration=2.5");
    let channels = channels.to_string();
    let mut args = vec!["-f", "lavfi", "-i", &source, "-ac", &channels];
    args.extend_from_slice(codec);
    common::ffmpeg_make(dir, name, &args)
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
    let random = fx.add("random.mp3", "audio/mpeg", common::noise(30_000));
    let image = fx.add("x.png", "image/png", common::png(20, 20));
    // A long silent file within the caps: 20 minutes of 8 kHz mono.
    let long = fx.add(
        "long.wav",
        "audio/wav",
        common::ffmpeg_make(
            dir.path(),
            "long.wav",
            &[
                "-f",
                "lavfi",
                "-i",
                "anullsrc=r=8000:cl=mono",
                "-t",
                "1200",
                "-c:a",
                "pcm_u8",
            ],
        ),
    );
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
        let mut args = vec![
            "-f",
            "lavfi",
            "-i",
            "aevalsrc='if(gte(t,1),0.9*sin(2*PI*440*t),0)|if(gte(t,1),0.9*sin(2*PI*440*t),0)':s=48000:d=2",
        ];
        args.extend_from_slice(codec);
        fx.add(
            name,
            "application/octet-stream",
            common::ffmpeg_make(dir.path(), name, &args),
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

/// `path` decoded by ffmpeg to mono 16 kHz samples in [-1, 1].
fn decode_mono(path: &Path) -> Vec<f32> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "f32le", "-ac", "1", "-ar", "16000", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", path.display());
    out.stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn rms(samples: &[f32]) -> f64 {
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len().max(1) as f64).sqrt()
}

/// Save a downloaded output and probe it.
async fn fetch_output(dir: &Path, name: &str, url: &str) -> (std::path::PathBuf, Value) {
    let path = dir.join(name);
    std::fs::write(&path, common::download(url).await).unwrap();
    let probe = common::ffprobe(&path);
    (path, probe)
}

#[tokio::test]
async fn audio_convert_keeps_length_level_and_channels() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let dir = tempfile::tempdir().unwrap();
    let sources: &[(&str, u32, u32, &[&str])] = &[
        ("c.mp3", 44_100, 2, &["-c:a", "libmp3lame"]),
        ("c.m4a", 48_000, 2, &["-c:a", "aac"]),
        ("c.ogg", 22_050, 1, &["-c:a", "libvorbis"]),
        ("c.opus", 48_000, 2, &["-c:a", "libopus"]),
        ("c.flac", 96_000, 6, &["-c:a", "flac"]),
        ("c.wav", 8_000, 1, &["-c:a", "pcm_s16le"]),
        ("c.wma", 44_100, 2, &["-c:a", "wmav2"]),
    ];
    let mut tasks = Vec::new();
    let mut expected = Vec::new();
    let mut urls = Vec::new();
    for (i, (name, rate, channels, codec)) in sources.iter().enumerate() {
        let url = fx.add(
            name,
            "application/octet-stream",
            tone(dir.path(), name, *rate, *channels, codec),
        );
        // Every source to both codecs.
        for codec in ["mp3", "vorbis"] {
            tasks.push(json!({"task_name": "audio.convert", "url": url, "codec": codec}));
            expected.push((i, codec));
        }
        urls.push(url);
    }
    // The default codec is MP3.
    tasks.push(json!({"task_name": "audio.convert", "url": urls[5]}));
    expected.push((5, "mp3"));
    let statuses = drake.create(json!(tasks), true).await;
    for (s, (i, codec)) in statuses.iter().zip(&expected) {
        let (name, _, channels, _) = sources[*i];
        assert_eq!(s["status"], "success", "{name} → {codec}: {s}");
        let r = &s["result"];
        let (ext, ct, probe_codec) = match *codec {
            "mp3" => ("mp3", "audio/mpeg", "mp3"),
            _ => ("ogg", "audio/ogg", "vorbis"),
        };
        assert_eq!(r["content_type"], ct, "{name}");
        let url = r["output"].as_str().unwrap();
        assert!(url.ends_with(&format!(".{ext}")), "{url}");
        let (path, probe) = fetch_output(dir.path(), &format!("{i}.{ext}"), url).await;
        let stream = &probe["streams"][0];
        assert_eq!(stream["codec_name"], probe_codec, "{name}");
        let out_channels = stream["channels"].as_u64().unwrap() as u32;
        let want_channels = if *codec == "mp3" {
            channels.min(2)
        } else {
            channels
        };
        assert_eq!(out_channels, want_channels, "{name} → {codec}");
        let duration = r["duration"].as_f64().unwrap();
        assert!((duration - 2.5).abs() <= 0.06, "{name}: {duration}");
        assert!(
            (decoded_seconds(&path) - 2.5).abs() <= 0.06,
            "{name} → {codec}: decoded {}",
            decoded_seconds(&path)
        );
        // ffmpeg's sine source is 1/8 full scale: RMS 0.088 per channel.
        // Downmixing 5.1 to stereo or mono folds the channels with
        // ffmpeg's matrix, so only the unmixed cases compare levels.
        if channels <= 2 {
            let level = rms(&decode_mono(&path));
            assert!(
                (level - 0.0884).abs() < 0.01,
                "{name} → {codec}: rms {level}"
            );
        }
    }
}

#[tokio::test]
async fn audio_convert_bad_input() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let dir = tempfile::tempdir().unwrap();
    // A video without sound, a video with sound (its audio is converted),
    // random bytes named .mp3, an empty file, an image.
    let video = |name: &str, with_audio: bool| {
        let path = dir.path().join(name);
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
            .arg("testsrc=size=160x120:rate=10:duration=1.5");
        if with_audio {
            cmd.args(["-f", "lavfi", "-i", "sine=duration=1.5"]);
        }
        assert!(cmd.arg(&path).status().unwrap().success());
        fx.add(name, "video/mp4", std::fs::read(path).unwrap())
    };
    let silent = video("silent.mp4", false);
    let talkie = video("talkie.mp4", true);
    let random = fx.add("random.mp3", "audio/mpeg", common::noise(30_000));
    let empty = fx.add("empty.mp3", "audio/mpeg", Vec::new());
    let image = fx.add("x.png", "image/png", common::png(20, 20));
    let statuses = drake
        .create(
            json!([
                {"task_name": "audio.convert", "url": silent},
                {"task_name": "audio.convert", "url": talkie, "codec": "vorbis"},
                {"task_name": "audio.convert", "url": random},
                {"task_name": "audio.convert", "url": empty},
                {"task_name": "audio.convert", "url": image},
            ]),
            true,
        )
        .await;
    assert_eq!(statuses[0]["status"], "error", "{}", statuses[0]);
    assert!(
        statuses[0]["result"]
            .as_str()
            .unwrap()
            .contains("no audio stream"),
        "{}",
        statuses[0]
    );
    assert_eq!(statuses[1]["status"], "success", "{}", statuses[1]);
    assert!((statuses[1]["result"]["duration"].as_f64().unwrap() - 1.5).abs() < 0.06);
    for s in &statuses[2..] {
        assert_eq!(s["status"], "error", "{s}");
        assert!(s["result"].is_string(), "{s}");
    }
}

/// The median fundamental frequency (Hz) of the voiced 40 ms frames of
/// 16 kHz speech: the autocorrelation peak between 70 and 400 Hz.
fn median_pitch(samples: &[f32]) -> f64 {
    const RATE: usize = 16_000;
    let frame = RATE / 25;
    let loudest = samples.iter().fold(0f32, |m, s| m.max(s.abs()));
    let mut pitches = Vec::new();
    for chunk in samples.chunks_exact(frame) {
        if rms(chunk) < f64::from(loudest) * 0.1 {
            continue;
        }
        let corr = |lag: usize| -> f64 {
            chunk
                .iter()
                .zip(&chunk[lag..])
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum()
        };
        let energy = corr(0);
        let (lag, best) = (RATE / 400..=RATE / 70)
            .map(|lag| (lag, corr(lag)))
            .fold((0, f64::MIN), |a, b| if b.1 > a.1 { b } else { a });
        // Voiced: a strong periodicity.
        if best > 0.4 * energy {
            pitches.push(RATE as f64 / lag as f64);
        }
    }
    assert!(pitches.len() >= 10, "only {} voiced frames", pitches.len());
    pitches.sort_by(f64::total_cmp);
    pitches[pitches.len() / 2]
}

#[tokio::test]
async fn audio_tts_speaks_in_two_voices() {
    let drake = Drake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let text = "Good morning. This is a test of the speech service, reading a sentence aloud.";
    let statuses = drake
        .create(
            json!([
                {"task_name": "audio.tts", "text": text},
                {"task_name": "audio.tts", "text": text, "voice": "neospeech:paul", "codec": "ogg"},
                {"task_name": "audio.tts", "text": text, "voice": "NeoSpoken: Julie", "codec": "ogg"},
                {"task_name": "audio.tts", "text": format!("{text} {text}"), "voice": "neospoken: paul"},
            ]),
            true,
        )
        .await;
    let mut decoded = Vec::new();
    for (i, s) in statuses.iter().enumerate() {
        assert_eq!(s["status"], "success", "{i}: {s}");
        let r = &s["result"];
        let (ext, ct, codec) = if i % 3 == 0 {
            ("mp3", "audio/mpeg", "mp3")
        } else {
            ("ogg", "audio/ogg", "vorbis")
        };
        assert_eq!(r["content_type"], ct, "{i}");
        let (path, probe) = fetch_output(
            dir.path(),
            &format!("{i}.{ext}"),
            r["output"].as_str().unwrap(),
        )
        .await;
        assert_eq!(probe["streams"][0]["codec_name"], codec, "{i}");
        let duration = r["duration"].as_f64().unwrap();
        // A sentence of 14 words is several seconds of speech.
        assert!((3.0..12.0).contains(&duration), "{i}: {duration}");
        assert!(
            (decoded_seconds(&path) - duration).abs() < 0.1,
            "{i}: decoded {} vs {duration}",
            decoded_seconds(&path)
        );
        let samples = decode_mono(&path);
        assert!(rms(&samples) > 0.02, "{i}: silent ({})", rms(&samples));
        decoded.push((samples, duration));
    }
    // Julie is the female voice: a clearly higher pitch than Paul's.
    let (julie, paul) = (median_pitch(&decoded[0].0), median_pitch(&decoded[1].0));
    assert!(
        julie > 1.3 * paul,
        "julie {julie:.0} Hz vs paul {paul:.0} Hz"
    );
    assert!((150.0..300.0).contains(&julie), "julie {julie:.0} Hz");
    assert!((70.0..150.0).contains(&paul), "paul {paul:.0} Hz");
    // Both spellings reach the same voice; twice the text, about twice
    // the speech.
    assert!((decoded[2].1 - decoded[0].1).abs() < 0.05);
    let ratio = decoded[3].1 / decoded[1].1;
    assert!((1.7..2.3).contains(&ratio), "{ratio}");
}

#[tokio::test]
async fn audio_tts_parameter_errors() {
    let drake = Drake::start().await;
    let statuses = drake
        .create(
            json!([
                {"task_name": "audio.tts", "text": "x ".repeat(3_000)},
                {"task_name": "audio.tts", "text": "hello", "voice": "neospeech:bob"},
                {"task_name": "audio.tts", "text": "  ...  "},
                {"task_name": "audio.tts", "text": "hello", "codec": "wav"},
            ]),
            true,
        )
        .await;
    for (s, param) in statuses.iter().zip(["text", "voice", "text", "codec"]) {
        assert_eq!(s["status"], "error", "{s}");
        assert!(s["result"]["parameters"][param].is_array(), "{param}: {s}");
    }
}

#[tokio::test]
async fn audio_tts_hostile_texts_end_within_limits() {
    let drake = Drake::start().await;
    let statuses = drake
        .create(
            json!([
                // No English word: nothing to say.
                {"task_name": "audio.tts", "text": "日本語のテキスト 😀"},
                // Markup and control characters are read as text.
                {"task_name": "audio.tts", "text": "<speak>Hi\u{0}\u{1b}[31m there</speak> &amp; \"quotes\" 'and' :colons: = ok"},
            ]),
            true,
        )
        .await;
    assert_eq!(statuses[0]["status"], "error", "{}", statuses[0]);
    assert!(statuses[0]["result"]["parameters"]["text"].is_array());
    assert_eq!(statuses[1]["status"], "success", "{}", statuses[1]);
}

/// A drum loop: a kick (decaying 55 Hz) on every beat from `start`, a
/// snare-like noise burst on beats 2 and 4, hi-hat ticks on the eighths,
/// as 16-bit stereo WAV at 44.1 kHz.
fn drum_loop(bpm: f64, start: f64, seconds: f64) -> Vec<u8> {
    const RATE: f64 = 44_100.0;
    let n = (RATE * seconds) as usize;
    let period = 60.0 / bpm;
    let mut noise = 0x2545_f491_u32;
    let mut out = Vec::with_capacity(n * 2);
    for i in 0..n {
        let t = i as f64 / RATE;
        noise ^= noise << 13;
        noise ^= noise >> 17;
        noise ^= noise << 5;
        let white = f64::from(noise) / f64::from(u32::MAX) * 2.0 - 1.0;
        let mut x = 0.0;
        if t >= start {
            let beat = (t - start) / period;
            let (k, since) = (beat.floor(), (beat - beat.floor()) * period);
            x += 0.6 * (std::f64::consts::TAU * 55.0 * since).sin() * (-since * 18.0).exp();
            if k as i64 % 2 == 1 {
                x += 0.3 * white * (-since * 30.0).exp();
            }
            let eighth = (since / (period / 2.0)).fract() * period / 2.0;
            x += 0.08 * white * (-eighth * 120.0).exp();
        }
        let s = (x.clamp(-1.0, 1.0) * 32_000.0) as i16;
        out.extend([s, s]);
    }
    drake_audio::tests_support::pcm16_wav(44_100, 2, &out)
}

/// mir_eval's beat F-measure (±70 ms), both lists trimmed of the first
/// 5 s as mir_eval's `trim_beats` does.
fn f_measure(reference: &[f64], estimated: &[f64]) -> f64 {
    let reference: Vec<f64> = reference.iter().copied().filter(|&t| t >= 5.0).collect();
    let estimated: Vec<f64> = estimated.iter().copied().filter(|&t| t >= 5.0).collect();
    if reference.is_empty() || estimated.is_empty() {
        return 0.0;
    }
    // Greedy one-to-one matching in time order (the lists are sorted and
    // the window is far smaller than a beat, so it is the optimum).
    let (mut i, mut j, mut hits) = (0, 0, 0usize);
    while i < reference.len() && j < estimated.len() {
        let d = estimated[j] - reference[i];
        if d.abs() <= 0.07 {
            hits += 1;
            i += 1;
            j += 1;
        } else if d < 0.0 {
            j += 1;
        } else {
            i += 1;
        }
    }
    let precision = hits as f64 / estimated.len() as f64;
    let recall = hits as f64 / reference.len() as f64;
    if hits == 0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    }
}

#[tokio::test]
async fn audio_beats_finds_the_beat_in_every_format() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let dir = tempfile::tempdir().unwrap();
    let (bpm, start) = (128.0, 0.75);
    let wav = dir.path().join("loop.wav");
    std::fs::write(&wav, drum_loop(bpm, start, 24.0)).unwrap();
    let reference: Vec<f64> = (0..)
        .map(|k| start + f64::from(k) * 60.0 / bpm)
        .take_while(|&t| t < 24.0)
        .collect();
    // (file, encoder options): every input format, 8 kHz mono to 96 kHz
    // 6 channels.
    let cases: &[(&str, &[&str])] = &[
        ("loop.mp3", &["-c:a", "libmp3lame"]),
        ("loop.m4a", &["-c:a", "aac"]),
        ("loop.ogg", &["-c:a", "libvorbis"]),
        ("loop.opus", &["-c:a", "libopus"]),
        ("loop.flac", &["-ar", "96000", "-ac", "6", "-c:a", "flac"]),
        (
            "loop8k.wav",
            &["-ar", "8000", "-ac", "1", "-c:a", "pcm_s16le"],
        ),
        ("loop24.wav", &["-ar", "48000", "-c:a", "pcm_s24le"]),
    ];
    let mut urls = vec![fx.add("loop.wav", "audio/wav", std::fs::read(&wav).unwrap())];
    for (name, codec) in cases {
        let source = wav.to_str().unwrap();
        let mut args = vec!["-i", source];
        args.extend_from_slice(codec);
        urls.push(fx.add(
            name,
            "application/octet-stream",
            common::ffmpeg_make(dir.path(), name, &args),
        ));
    }
    let fixture = |name: &str| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/media")
            .join(name)
    };
    let music = fx.add(
        "mosey_along.mp3",
        "audio/mpeg",
        std::fs::read(fixture("mosey_along.mp3")).unwrap(),
    );
    let mut tasks: Vec<Value> = urls
        .iter()
        .map(|url| json!({"task_name": "audio.beats", "url": url}))
        .collect();
    tasks.push(json!({"task_name": "audio.beats", "url": music}));
    let statuses = drake.create(json!(tasks), true).await;
    for (i, s) in statuses.iter().take(urls.len()).enumerate() {
        assert_eq!(s["status"], "success", "{i}: {s}");
        let r = &s["result"];
        let tempo = r["tempo"].as_f64().unwrap();
        assert!((tempo - bpm).abs() < 1.5, "{i}: tempo {tempo}");
        assert!(
            (r["duration"].as_f64().unwrap() - 24.0).abs() < 0.06,
            "{i}: {r}"
        );
        let beats: Vec<f64> = serde_json::from_value(r["beats"].clone()).unwrap();
        assert!(beats.windows(2).all(|w| w[0] < w[1]), "{i}: not ascending");
        let f = f_measure(&reference, &beats);
        assert!(f >= 0.95, "{i}: F = {f:.3}: {beats:?}");
        // No beat before the music starts.
        assert!(beats[0] > start - 0.07, "{i}: first beat {}", beats[0]);
    }
    // Real music: OpenTTD's "Mosey Along", beats from its MIDI tempo map.
    let r = &statuses[urls.len()]["result"];
    assert_eq!(statuses[urls.len()]["status"], "success", "{r}");
    let reference: Vec<f64> =
        serde_json::from_slice(&std::fs::read(fixture("mosey_along.beats.json")).unwrap()).unwrap();
    let beats: Vec<f64> = serde_json::from_value(r["beats"].clone()).unwrap();
    let f = f_measure(&reference, &beats);
    assert!(f >= 0.9, "mosey_along: F = {f:.3}");
    assert!((r["tempo"].as_f64().unwrap() - 140.0).abs() < 2.0, "{r}");
}

#[tokio::test]
async fn audio_beats_bad_input() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let silence = fx.add(
        "silence.wav",
        "audio/wav",
        drake_audio::tests_support::wav(22_050, 2, 30.0),
    );
    let tiny = fx.add(
        "tiny.wav",
        "audio/wav",
        drake_audio::tests_support::wav(8_000, 1, 0.01),
    );
    let random = fx.add("random.mp3", "audio/mpeg", common::noise(40_000));
    let empty = fx.add("empty.mp3", "audio/mpeg", Vec::new());
    let image = fx.add("x.png", "image/png", common::png(20, 20));
    let statuses = drake
        .create(
            json!([
                {"task_name": "audio.beats", "url": silence},
                {"task_name": "audio.beats", "url": tiny},
                {"task_name": "audio.beats", "url": random},
                {"task_name": "audio.beats", "url": empty},
                {"task_name": "audio.beats", "url": image},
            ]),
            true,
        )
        .await;
    // Silence and a blip: no beats, and saying so is a result.
    for s in &statuses[..2] {
        assert_eq!(s["status"], "success", "{s}");
        assert_eq!(s["result"]["beats"], json!([]), "{s}");
        assert_eq!(s["result"]["tempo"], 0.0, "{s}");
    }
    assert_eq!(statuses[0]["result"]["duration"], 30.0);
    for s in &statuses[2..5] {
        assert_eq!(s["status"], "error", "{s}");
        assert!(s["result"].is_string(), "{s}");
    }
}

/// Every audio task on every awkward input: a result or a readable error,
/// never a crash; valid audio of any shape gives a result.
#[tokio::test]
async fn every_audio_task_on_awkward_input() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let dir = tempfile::tempdir().unwrap();
    let mp3 = tone(dir.path(), "t.mp3", 44_100, 2, &["-c:a", "libmp3lame"]);
    let long_silence = common::ffmpeg_make(
        dir.path(),
        "long.flac",
        &[
            "-f",
            "lavfi",
            "-i",
            "anullsrc=r=8000:cl=mono",
            "-t",
            "3600",
            "-c:a",
            "flac",
        ],
    );
    // (name, bytes, is valid audio)
    let inputs: Vec<(&str, Vec<u8>, bool)> = vec![
        ("truncated.mp3", mp3[..mp3.len() / 3].to_vec(), true),
        ("empty.mp3", Vec::new(), false),
        ("random.mp3", common::noise(50_000), false),
        ("image.mp3", common::png(40, 40), false),
        ("hour_of_silence.flac", long_silence, true),
        (
            "six.flac",
            tone(dir.path(), "six.flac", 96_000, 6, &["-c:a", "flac"]),
            true,
        ),
        (
            "eight.wav",
            tone(dir.path(), "eight.wav", 8_000, 1, &["-c:a", "pcm_s16le"]),
            true,
        ),
        (
            "u8.wav",
            tone(dir.path(), "u8.wav", 11_025, 2, &["-c:a", "pcm_u8"]),
            true,
        ),
    ];
    let tasks = [
        "audio.info",
        "audio.convert",
        "audio.waveform",
        "audio.beats",
    ];
    let mut list = Vec::new();
    for (name, bytes, _) in &inputs {
        let url = fx.add(name, "application/octet-stream", bytes.clone());
        for task in tasks {
            list.push(json!({"task_name": task, "url": url}));
        }
    }
    let statuses = drake.create(json!(list), true).await;
    for (i, s) in statuses.iter().enumerate() {
        let (name, _, valid) = &inputs[i / tasks.len()];
        let task = tasks[i % tasks.len()];
        if *valid {
            assert_eq!(s["status"], "success", "{task} on {name}: {s}");
            assert!(
                s["result"]["duration"].as_f64().unwrap() > 0.0,
                "{task} on {name}: {s}"
            );
        } else {
            assert_eq!(s["status"], "error", "{task} on {name}: {s}");
            let message = s["result"].as_str().unwrap_or_default();
            assert!(
                !message.is_empty() && !message.contains("panicked") && !message.contains("trap"),
                "{task} on {name}: {s}"
            );
        }
    }
}
