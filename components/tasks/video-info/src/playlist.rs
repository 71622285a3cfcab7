//! `video.info` on an adaptive streaming manifest: an HLS playlist
//! (master or media) or a DASH MPD is described by its renditions — size,
//! bandwidth, codecs, frame rate — read from the manifest itself, in the
//! component (no ffprobe: ffmpeg's own playlist demuxers stay off the
//! allow-list, they fetch URLs). An HLS master states no duration: the
//! first variant's media playlist is fetched (under the network policy)
//! for it.

use drake_sdk::media::{centis, rate_value};
use drake_sdk::{Ctx, Input, TaskError, Values};
use serde_json::Value;

/// Largest manifest read: a two-hour HLS media playlist in 2 s segments
/// is ~200 KiB; anything past 4 MiB is not a playlist worth describing.
pub const MAX_MANIFEST: u64 = 4 << 20;

/// What the fetched bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An HLS playlist (`#EXTM3U`).
    Hls,
    /// A DASH manifest (`<MPD`).
    Dash,
}

/// Whether `head` (the first bytes of a file) opens a manifest.
pub fn sniff(head: &[u8]) -> Option<Kind> {
    let text = String::from_utf8_lossy(head);
    let text = text.trim_start_matches('\u{feff}').trim_start();
    if text.starts_with("#EXTM3U") {
        return Some(Kind::Hls);
    }
    let xml = text.starts_with('<');
    (xml && text.contains("<MPD")).then_some(Kind::Dash)
}

/// One video rendition.
#[derive(Debug, Clone, Default, PartialEq)]
struct Rendition {
    width: u32,
    height: u32,
    bandwidth: u64,
    codecs: String,
    frame_rate: f64,
}

/// A described manifest.
#[derive(Debug, Default)]
struct Manifest {
    duration: f64,
    renditions: Vec<Rendition>,
    audio: Option<String>,
}

/// ffprobe's name of an RFC 6381 codec, and whether it is video.
fn codec_name(rfc6381: &str) -> Option<(&'static str, bool)> {
    let c = rfc6381.trim();
    let prefix = c.split('.').next().unwrap_or(c).to_ascii_lowercase();
    Some(match prefix.as_str() {
        "avc1" | "avc3" => ("h264", true),
        "hvc1" | "hev1" => ("hevc", true),
        "vp09" | "vp9" => ("vp9", true),
        "vp8" => ("vp8", true),
        "av01" => ("av1", true),
        "mp4v" => ("mpeg4", true),
        // mp4a.40.34 and mp4a.6B/69 are MPEG-1/2 Layer III.
        "mp4a" if c.ends_with(".34") || c.ends_with(".6B") || c.ends_with(".69") => ("mp3", false),
        "mp4a" => ("aac", false),
        "opus" => ("opus", false),
        "ac-3" => ("ac3", false),
        "ec-3" => ("eac3", false),
        "flac" => ("flac", false),
        "vorbis" => ("vorbis", false),
        _ => return None,
    })
}

/// The first video and first audio codec of a `codecs` list.
fn split_codecs(codecs: &str) -> (Option<&'static str>, Option<&'static str>) {
    let named: Vec<(&str, bool)> = codecs.split(',').filter_map(codec_name).collect();
    (
        named.iter().find(|(_, v)| *v).map(|(n, _)| *n),
        named.iter().find(|(_, v)| !*v).map(|(n, _)| *n),
    )
}

/// `reference` resolved against `base` (RFC 3986 §5.2, for the http(s)
/// URLs manifests use).
pub fn resolve(base: &str, reference: &str) -> String {
    let reference = reference.trim();
    if reference.contains("://") {
        return reference.to_owned();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    if let Some(net) = reference.strip_prefix("//") {
        return format!("{scheme}://{net}");
    }
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let path = path.split(['?', '#']).next().unwrap_or("");
    let (ref_path, query) = match reference.find(['?', '#']) {
        Some(i) => reference.split_at(i),
        None => (reference, ""),
    };
    let joined = if ref_path.starts_with('/') {
        ref_path.to_owned()
    } else if ref_path.is_empty() {
        path.to_owned()
    } else {
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        format!("{}{ref_path}", if dir.is_empty() { "/" } else { dir })
    };
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = joined.split('/').collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *seg {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("{scheme}://{authority}{}{query}", out.join("/"))
}

/// Every byte of a manifest, refused above [`MAX_MANIFEST`].
fn text_of(media: &dyn Input) -> Result<String, TaskError> {
    if media.size() > MAX_MANIFEST {
        return Err(TaskError::InvalidInput(format!(
            "url: a playlist larger than {} MiB",
            MAX_MANIFEST >> 20
        )));
    }
    String::from_utf8(media.read_all())
        .map_err(|_| TaskError::InvalidInput("url: the playlist is not UTF-8 text".into()))
}

/// `KEY=VALUE,KEY="VALUE, with commas"` attribute lists of HLS tags.
fn hls_attributes(list: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = list;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim().trim_start_matches(',');
        let after = &rest[eq + 1..];
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            (&quoted[..end], quoted.get(end + 1..).unwrap_or(""))
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        out.push((key.trim(), value));
        rest = next.trim_start_matches(',');
    }
    out
}

/// The summed `#EXTINF` durations of a media playlist.
fn media_duration(text: &str) -> f64 {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("#EXTINF:"))
        .filter_map(|d| d.split(',').next()?.trim().parse::<f64>().ok())
        .filter(|d| d.is_finite() && *d >= 0.0)
        .sum()
}

fn hls(ctx: &mut dyn Ctx, text: &str, url: &str) -> Result<Manifest, TaskError> {
    let mut manifest = Manifest::default();
    let mut first_variant: Option<String> = None;
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(list) = line.strip_prefix("#EXT-X-STREAM-INF:") else {
            continue;
        };
        let attrs = hls_attributes(list);
        let get = |k: &str| attrs.iter().find(|(a, _)| *a == k).map(|(_, v)| *v);
        let (width, height) = get("RESOLUTION")
            .and_then(|r| r.split_once('x'))
            .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
            .unwrap_or((0, 0));
        let codecs = get("CODECS").unwrap_or("").to_owned();
        let (_, audio) = split_codecs(&codecs);
        if manifest.audio.is_none() {
            manifest.audio = audio.map(str::to_owned);
        }
        let uri = lines.find(|l| !l.is_empty() && !l.starts_with('#'));
        if first_variant.is_none() {
            first_variant = uri.map(|u| resolve(url, u));
        }
        manifest.renditions.push(Rendition {
            width,
            height,
            bandwidth: get("BANDWIDTH").and_then(|b| b.parse().ok()).unwrap_or(0),
            codecs,
            frame_rate: get("FRAME-RATE")
                .and_then(|f| f.parse().ok())
                .unwrap_or(0.0),
        });
    }
    manifest.duration = match first_variant {
        // A master: its first variant's media playlist says how long.
        Some(variant) => {
            let media = ctx
                .fetch(&variant, Some(MAX_MANIFEST))
                .map_err(|e| e.into_task_error("url"))?;
            media_duration(&text_of(media.as_ref())?)
        }
        None if text.contains("#EXTINF:") => media_duration(text),
        None => {
            return Err(TaskError::InvalidInput(
                "url: the HLS playlist lists neither variants nor segments".into(),
            ));
        }
    };
    Ok(manifest)
}

/// An ISO 8601 duration (`PT1H2M3.5S`, `P1DT2H`) in seconds.
fn iso_duration(text: &str) -> Option<f64> {
    let rest = text.trim().strip_prefix('P')?;
    let (date, time) = rest.split_once('T').unwrap_or((rest, ""));
    let mut total = 0.0;
    for (part, units) in [
        (date, &[('D', 86_400.0)][..]),
        (time, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)][..]),
    ] {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                number.push(c);
                continue;
            }
            let scale = units.iter().find(|(u, _)| *u == c)?.1;
            total += number.parse::<f64>().ok()? * scale;
            number.clear();
        }
        if !number.is_empty() {
            return None;
        }
    }
    Some(total)
}

/// `30000/1001` or `25`.
fn frame_rate(text: &str) -> f64 {
    match text.split_once('/') {
        Some((a, b)) => match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(a), Ok(b)) if b > 0.0 => a / b,
            _ => 0.0,
        },
        None => text.parse().unwrap_or(0.0),
    }
}

fn dash(text: &str) -> Result<Manifest, TaskError> {
    // roxmltree refuses DTDs (no entity expansion).
    let doc = roxmltree::Document::parse(text)
        .map_err(|e| TaskError::InvalidInput(format!("url: the DASH manifest is not XML: {e}")))?;
    let mpd = doc.root_element();
    if mpd.tag_name().name() != "MPD" {
        return Err(TaskError::InvalidInput(
            "url: the XML is not a DASH manifest".into(),
        ));
    }
    let mut manifest = Manifest {
        duration: mpd
            .attribute("mediaPresentationDuration")
            .and_then(iso_duration)
            .unwrap_or(0.0),
        ..Manifest::default()
    };
    let sets = mpd
        .descendants()
        .filter(|n| n.has_tag_name("AdaptationSet"));
    for set in sets {
        for rep in set.children().filter(|n| n.has_tag_name("Representation")) {
            // A representation inherits what its set states.
            let attr = |name: &str| rep.attribute(name).or_else(|| set.attribute(name));
            let kind = attr("contentType")
                .or_else(|| attr("mimeType").and_then(|m| m.split('/').next()))
                .unwrap_or("");
            // Subtitles and images (thumbnail tracks) are no rendition.
            let mime = attr("mimeType").unwrap_or("");
            if matches!(kind, "text" | "image") || mime.starts_with("text/") {
                continue;
            }
            let codecs = attr("codecs").unwrap_or("").to_owned();
            let (video, audio) = split_codecs(&codecs);
            if kind == "audio" || (video.is_none() && audio.is_some()) {
                if manifest.audio.is_none() {
                    manifest.audio = audio.map(str::to_owned);
                }
                continue;
            }
            let number = |name: &str| attr(name).and_then(|v| v.parse().ok()).unwrap_or(0);
            manifest.renditions.push(Rendition {
                width: number("width"),
                height: number("height"),
                bandwidth: attr("bandwidth").and_then(|v| v.parse().ok()).unwrap_or(0),
                codecs,
                frame_rate: attr("frameRate").map_or(0.0, frame_rate),
            });
        }
    }
    Ok(manifest)
}

/// The values of the manifest `media` (of `kind`), fetched from `url`.
pub fn describe(
    ctx: &mut dyn Ctx,
    kind: Kind,
    media: &dyn Input,
    url: &str,
) -> Result<Values, TaskError> {
    let text = text_of(media)?;
    // Relative references resolve against where the bytes came from.
    let base = Some(media.url()).filter(|u| !u.is_empty());
    let base = base.as_deref().unwrap_or(url);
    let (mut manifest, content_type) = match kind {
        Kind::Hls => (hls(ctx, &text, base)?, "application/vnd.apple.mpegurl"),
        Kind::Dash => (dash(&text)?, "application/dash+xml"),
    };
    manifest
        .renditions
        .sort_by_key(|r| (u64::from(r.width) * u64::from(r.height), r.bandwidth));
    let top = manifest.renditions.last().cloned();
    let video_codec = top.as_ref().and_then(|r| split_codecs(&r.codecs).0);
    let renditions: Vec<Value> = manifest
        .renditions
        .iter()
        .map(|r| {
            serde_json::json!({
                "width": r.width,
                "height": r.height,
                "bandwidth": r.bandwidth,
                "codecs": r.codecs,
                "frame_rate": rate_value(r.frame_rate),
            })
        })
        .collect();
    let top = top.unwrap_or_default();
    Ok(drake_sdk::values([
        ("content_type", content_type.into()),
        ("width", top.width.into()),
        ("height", top.height.into()),
        ("duration", centis(manifest.duration).into()),
        ("frame_rate", rate_value(top.frame_rate).into()),
        ("alpha", false.into()),
        ("rotation", 0.into()),
        (
            "audio_codec",
            manifest.audio.map(Value::from).unwrap_or(Value::Null),
        ),
        (
            "video_codec",
            video_codec.map(Value::from).unwrap_or(Value::Null),
        ),
        ("renditions", renditions.into()),
    ]))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    #[test]
    fn references_resolve_like_a_browser() {
        let base = "https://cdn.example/v1/storage/K/output.m3u8?sig=1";
        assert_eq!(
            resolve(base, "output/360p.m3u8"),
            "https://cdn.example/v1/storage/K/output/360p.m3u8"
        );
        assert_eq!(resolve(base, "/a/b.m3u8"), "https://cdn.example/a/b.m3u8");
        assert_eq!(
            resolve(base, "../x/./y.m3u8?q=2"),
            "https://cdn.example/v1/storage/x/y.m3u8?q=2"
        );
        assert_eq!(
            resolve(base, "//other.example/z"),
            "https://other.example/z"
        );
        assert_eq!(resolve(base, "http://a.example/b"), "http://a.example/b");
        assert_eq!(resolve("http://h", "a.m3u8"), "http://h/a.m3u8");
        assert_eq!(resolve("http://h/a/b", "../../../c"), "http://h/c");
    }

    #[test]
    fn sniffing_and_durations() {
        assert_eq!(sniff(b"\xef\xbb\xbf#EXTM3U\n"), Some(Kind::Hls));
        assert_eq!(
            sniff(b"<?xml version=\"1.0\"?>\n<MPD xmlns=\"x\">"),
            Some(Kind::Dash)
        );
        assert_eq!(sniff(b"\x00\x00\x00\x18ftypisom"), None);
        assert_eq!(iso_duration("PT1H2M3.5S"), Some(3723.5));
        assert_eq!(iso_duration("P1DT1S"), Some(86_401.0));
        assert_eq!(iso_duration("PT5"), None);
        assert_eq!(iso_duration("1S"), None);
        assert!((frame_rate("30000/1001") - 29.97).abs() < 0.01);
        assert_eq!(frame_rate("x/0"), 0.0);
        assert_eq!(
            hls_attributes(r#"BANDWIDTH=1,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=640x360"#),
            [
                ("BANDWIDTH", "1"),
                ("CODECS", "avc1.64001f,mp4a.40.2"),
                ("RESOLUTION", "640x360")
            ]
        );
        assert_eq!(
            split_codecs("mp4a.40.2, avc1.4d401f"),
            (Some("h264"), Some("aac"))
        );
        assert_eq!(
            split_codecs("vp09.00.31.08,opus"),
            (Some("vp9"), Some("opus"))
        );
    }

    #[test]
    fn subtitle_sets_are_no_rendition() {
        let mpd = r#"<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" mediaPresentationDuration="PT6.000S"><Period>
<AdaptationSet contentType="video" mimeType="video/mp4" frameRate="25"><Representation id="360p" bandwidth="900000" codecs="vp09.00.21.08" width="640" height="360"/></AdaptationSet>
<AdaptationSet contentType="audio" mimeType="audio/mp4"><Representation id="audio" bandwidth="70000" codecs="opus"/></AdaptationSet>
<AdaptationSet contentType="text" mimeType="text/vtt" lang="und"><Representation id="subtitles" bandwidth="256"><BaseURL>output/subtitles.vtt</BaseURL></Representation></AdaptationSet>
</Period></MPD>"#;
        let m = dash(mpd).unwrap();
        assert_eq!(m.renditions.len(), 1);
        assert_eq!(m.renditions[0].height, 360);
        assert_eq!(m.audio.as_deref(), Some("opus"));
    }
}
