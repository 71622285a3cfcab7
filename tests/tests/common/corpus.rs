//! The SXML corpus (`tests/fixtures/sxml-corpus/`) and the media its
//! documents use, for the corpus test and the corpus bench.

use std::path::Path;

use super::{Fixtures, H264_AAC_MP4, ffmpeg_make};

/// Where the documents are.
pub const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/sxml-corpus");
/// The media URL prefix the documents are written with.
const PLACEHOLDER: &str = "http://media.example/";

/// One corpus document, ready to send.
pub struct Document {
    pub name: String,
    /// The definition, its media on the fixture server.
    pub text: String,
    /// Seconds, from its header.
    pub duration: f64,
    /// (t, x, y, rgb) from its header.
    pub probes: Vec<(f64, f64, f64, [u8; 3])>,
}

/// Every document, in file name order, its media at `base`. The header
/// comments are ours, not the client's: they are taken off.
pub fn documents(base: &str) -> Vec<Document> {
    let mut paths: Vec<_> = std::fs::read_dir(DIR)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sxml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let raw = std::fs::read_to_string(path).unwrap();
            let (mut duration, mut probes, mut body) = (None, Vec::new(), String::new());
            for line in raw.lines() {
                let header = line
                    .strip_prefix("<!-- ")
                    .and_then(|l| l.strip_suffix(" -->"));
                match header.and_then(|h| h.split_once(": ")) {
                    Some(("duration", d)) => duration = d.trim().parse().ok(),
                    Some(("probe", p)) => {
                        let v: Vec<f64> =
                            p.split_whitespace().map(|n| n.parse().unwrap()).collect();
                        probes.push((v[0], v[1], v[2], [v[3] as u8, v[4] as u8, v[5] as u8]));
                    }
                    _ => {
                        body.push_str(line);
                        body.push('\n');
                    }
                }
            }
            Document {
                name: path.file_stem().unwrap().to_string_lossy().into_owned(),
                text: body.replace(PLACEHOLDER, base),
                duration: duration
                    .unwrap_or_else(|| panic!("{}: no duration header", path.display())),
                probes,
            }
        })
        .collect()
}

/// A server with maps on the fixture server, the corpus' media there,
/// and the documents: what the corpus test and bench start from.
pub struct Corpus {
    pub fx: Fixtures,
    pub drake: super::Drake,
    /// Holds the media files for as long as the corpus is used.
    pub dir: tempfile::TempDir,
    pub docs: Vec<Document>,
}

/// Start a [`Corpus`].
pub async fn start() -> Corpus {
    start_with("").await
}

/// Start a [`Corpus`] whose server has `tables` (TOML) in its configuration.
pub async fn start_with(tables: &str) -> Corpus {
    let fx = Fixtures::start().await;
    let drake = super::Drake::start_with(super::Options {
        tables: format!("{}{tables}", maps_config(&fx)),
        ..super::Options::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let base = media(&fx, dir.path());
    let docs = documents(&base);
    Corpus {
        fx,
        drake,
        dir,
        docs,
    }
}

/// `[maps]` on the fixture server's tiles and geocoder.
pub fn maps_config(fx: &Fixtures) -> String {
    format!(
        "[maps]\ntile_url = \"{}\"\ngeocoder_url = \"{}\"\n",
        fx.url("/tiles/{z}/{x}/{y}.png"),
        fx.url("/geocode?format=json&q={query}")
    )
}

/// The corpus' media on the fixture server, made with ffmpeg in `dir`;
/// the URL prefix to put in the documents.
pub fn media(fx: &Fixtures, dir: &Path) -> String {
    let make = |name: &str, ct: &str, args: &[&str]| {
        fx.add(name, ct, ffmpeg_make(dir, name, args));
    };
    let still = |name: &str, ct: &str, src: &str, extra: &[&str]| {
        let mut args = vec!["-f", "lavfi", "-i", src, "-frames:v", "1"];
        args.extend_from_slice(extra);
        make(name, ct, &args);
    };
    // A camera-sized photo, a phone's portrait, a square PNG, a JPEG whose
    // pixels are not square (JFIF density 72:89), an animated GIF, a
    // logo with transparency.
    still(
        "photo.jpg",
        "image/jpeg",
        "mandelbrot=s=1920x1280",
        &["-q:v", "4"],
    );
    still("portrait.jpg", "image/jpeg", "testsrc2=s=720x1280", &[]);
    still("square.png", "image/png", "rgbtestsrc=s=600x600", &[]);
    still(
        "sar.jpg",
        "image/jpeg",
        "testsrc2=s=640x480",
        &["-vf", "setsar=72/89"],
    );
    still(
        "logo.png",
        "image/png",
        "color=c=red@0.5:s=64x32,format=rgba",
        &[],
    );
    make(
        "anim.gif",
        "image/gif",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=s=160x120:r=5:d=1",
            "-f",
            "gif",
        ],
    );
    // Clips in the containers clients uploaded: Flash video, Windows
    // Media, QuickTime, MP4 (each with sound).
    let clip = |name: &str, ct: &str, secs: &str, size: &str, codecs: &[&str]| {
        fx.add(name, ct, super::test_clip(dir, name, size, secs, codecs));
    };
    clip(
        "clip.flv",
        "video/x-flv",
        "4",
        "320x240",
        &[
            "-c:v",
            "flv1",
            "-c:a",
            "libmp3lame",
            "-ar",
            "44100",
            "-f",
            "flv",
        ],
    );
    clip(
        "clip.wmv",
        "video/x-ms-wmv",
        "4",
        "320x240",
        &["-c:v", "wmv2", "-c:a", "wmav2", "-f", "asf"],
    );
    clip(
        "clip.mov",
        "video/quicktime",
        "3",
        "320x240",
        &[&H264_AAC_MP4[..9], &["mov"]].concat(),
    );
    clip("clip.mp4", "video/mp4", "5", "640x360", H264_AAC_MP4);
    fx.add(
        "music.mp3",
        "audio/mpeg",
        super::tone_mp3(dir, "music.mp3", 440, 20),
    );
    fx.url("/f/")
}
