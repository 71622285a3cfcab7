//! The output profiles of `video.create` (sxml.md §13: "63 names", in
//! fact a list of 64).
//!
//! Exact where the 2012 "supported coders, formats" page documents a
//! profile; elsewhere sxml.md's inference rule: `NNNp` is 16:9 at height
//! NNN in H.264/AAC MP4 at 25 fps unless a suffix names the rate,
//! `-slow`/`-sslow` lower the rate, `-hq` raises the bitrate, `-flv` is
//! the FLV container. `docs/sxml-rendering.md` has the table.
//!
//! Beyond §13, drake adds the same rule's names for today's codecs:
//! `NNNp-vp9`, `NNNp-av1` (Opus in WebM) and `NNNp-hevc` (AAC in MP4)
//! for 240p to 1080p, at the bitrates [`modern`] derives.

use drake_sdk::media::{MP4, VideoCodec, WEBM, opts};

pub use drake_sdk::media::Rate;

/// 24000/1001 (film on NTSC).
const FILM: Rate = Rate {
    num: 24_000,
    den: 1001,
};
/// 30000/1001 (NTSC).
const NTSC: Rate = Rate {
    num: 30_000,
    den: 1001,
};
/// 12.5 fps (half PAL).
const HALF_PAL: Rate = Rate { num: 25, den: 2 };
/// 12000/1001 (half NTSC film, "11.988").
const HALF_FILM: Rate = Rate {
    num: 12_000,
    den: 1001,
};

/// Codecs and container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// H.264 + AAC in MP4.
    H264,
    /// MPEG-4 part 2 + AAC in MP4 (old phones).
    Mpeg4,
    /// Sorenson H.263 (`flv`) + MP3 in FLV.
    Flv,
    /// H.264 + AAC in FLV.
    FlvH264,
    /// WMV7 + WMA in ASF.
    Wmv1,
    /// WMV8 + WMA in ASF.
    Wmv2,
    /// MPEG-2 + MPEG audio layer II in a DVD program stream.
    Dvd,
    /// MPEG-1 + MPEG audio layer II in an MPEG program stream.
    Mpeg1,
    /// VP9 + Opus in WebM.
    Vp9,
    /// AV1 + Opus in WebM.
    Av1,
    /// HEVC + AAC in MP4 (`hvc1`).
    Hevc,
}

/// One profile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    /// Its name.
    pub name: &'static str,
    /// Stored frame size (what the file holds).
    pub width: u32,
    /// Stored frame height.
    pub height: u32,
    /// Display aspect when the pixels are not square (DVD): `(16, 9)`.
    pub aspect: Option<(u32, u32)>,
    /// Frame rate.
    pub rate: Rate,
    /// Video bitrate, kbit/s.
    pub video_kbps: u32,
    /// Audio bitrate, kbit/s.
    pub audio_kbps: u32,
    /// Codecs and container.
    pub format: Format,
}

impl Profile {
    /// The size the timeline is drawn at: the display geometry (a 16:9
    /// DVD's 720×480 is drawn at 854×480, then squeezed).
    pub fn drawn(&self) -> (u32, u32) {
        match self.aspect {
            Some((aw, ah)) => (even(self.height * aw / ah), self.height),
            None => (self.width, self.height),
        }
    }

    /// The extension, MIME type and ffmpeg options of the encoded file.
    pub fn encoding(&self, audio: bool) -> Encoding {
        let v = format!("{}k", self.video_kbps);
        let a = format!("{}k", self.audio_kbps);
        let (ext, mime, muxer, vcodec, acodec, rate) = match self.format {
            Format::H264 => ("mp4", "video/mp4", "mp4", "libx264", "aac", 44_100),
            Format::Mpeg4 => ("mp4", "video/mp4", "mp4", "mpeg4", "aac", 44_100),
            Format::Flv => ("flv", "video/x-flv", "flv", "flv", "libmp3lame", 44_100),
            Format::FlvH264 => ("flv", "video/x-flv", "flv", "libx264", "aac", 44_100),
            Format::Wmv1 => ("wmv", "video/x-ms-wmv", "asf", "wmv1", "wmav1", 44_100),
            Format::Wmv2 => ("wmv", "video/x-ms-wmv", "asf", "wmv2", "wmav1", 44_100),
            Format::Dvd => ("mpg", "video/mpeg", "dvd", "mpeg2video", "mp2", 48_000),
            Format::Mpeg1 => ("mpg", "video/mpeg", "mpeg", "mpeg1video", "mp2", 44_100),
            Format::Vp9 | Format::Av1 => ("webm", "video/webm", "webm", "", "libopus", 48_000),
            Format::Hevc => ("mp4", "video/mp4", "mp4", "", "aac", 44_100),
        };
        let modern = match self.format {
            Format::Vp9 => Some((VideoCodec::Vp9, WEBM)),
            Format::Av1 => Some((VideoCodec::Av1, WEBM)),
            Format::Hevc => Some((VideoCodec::Hevc, MP4)),
            _ => None,
        };
        let mut options = match modern {
            // The encoder settings video.convert uses (real time at 720p).
            Some((codec, container)) => {
                let mut o = codec.options(
                    self.video_kbps,
                    container,
                    (self.width, self.height),
                    self.rate.fps(),
                );
                if let Some(tag) = codec.tag(container) {
                    o.extend(opts([("tag:v", tag)]));
                }
                o
            }
            None => opts([("c:v", vcodec), ("b:v", &v)]),
        };
        if vcodec == "libx264" {
            // superfast: a 60 s 720p slideshow renders at ~5× real time
            // on 2 cores (bench/video-create); the bitrate is the profile's.
            options.extend(opts([("preset", "superfast"), ("pix_fmt", "yuv420p")]));
        }
        if matches!(self.format, Format::Dvd | Format::Mpeg1) {
            // DVD-Video's rate ceiling and VBV buffer (224 KiB).
            let gop = if self.rate == NTSC { "18" } else { "15" };
            options.extend(opts([
                ("maxrate", "9000k"),
                ("bufsize", "1835k"),
                ("g", gop),
            ]));
        }
        if audio {
            options.extend(opts([
                ("c:a", acodec),
                ("b:a", &a),
                ("ar", &rate.to_string()),
                ("ac", "2"),
            ]));
        } else {
            options.extend(opts([("an", "")]));
        }
        options.extend(opts([("f", muxer)]));
        if muxer == "mp4" {
            // The index first: players start before the download ends.
            options.extend(opts([("movflags", "+faststart")]));
        }
        Encoding {
            extension: ext,
            content_type: mime,
            options,
        }
    }
}

/// How a profile's file is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoding {
    /// File extension.
    pub extension: &'static str,
    /// MIME type.
    pub content_type: &'static str,
    /// ffmpeg output options (after `map`).
    pub options: Vec<(String, String)>,
}

fn even(n: u32) -> u32 {
    n & !1
}

const fn p(
    name: &'static str,
    width: u32,
    height: u32,
    rate: Rate,
    video_kbps: u32,
    audio_kbps: u32,
    format: Format,
) -> Profile {
    Profile {
        name,
        width,
        height,
        aspect: None,
        rate,
        video_kbps,
        audio_kbps,
        format,
    }
}

const fn dvd(name: &'static str, width: u32, height: u32, rate: Rate, wide: bool) -> Profile {
    Profile {
        name,
        width,
        height,
        aspect: Some(if wide { (16, 9) } else { (4, 3) }),
        rate,
        // DVD rates: full D1 at 6 Mbit/s, half D1 at 3; audio 224 kbit/s.
        video_kbps: if width >= 720 { 6000 } else { 3000 },
        audio_kbps: 224,
        format: Format::Dvd,
    }
}

/// A `NNNp-<codec>` profile: the H.264 profile `NNNp`'s size, rate and
/// audio bitrate, its video bitrate scaled to the codec's efficiency —
/// VP9 and HEVC reach H.264's quality with ~30 % fewer bits, AV1 with
/// ~40 % fewer (the usual figures at these sizes; drake's own
/// measurements in bench/README.md, "Video codecs").
const fn modern(name: &'static str, base: Profile, format: Format) -> Profile {
    let video_kbps = match format {
        Format::Av1 => base.video_kbps * 6 / 10,
        _ => base.video_kbps * 7 / 10,
    };
    Profile {
        name,
        video_kbps,
        format,
        ..base
    }
}

use Format::{Av1, Flv, FlvH264, H264, Hevc, Mpeg1, Mpeg4, Vp9, Wmv1, Wmv2};

const PAL: Rate = Rate::whole(25);

const P240: Profile = p("240p", 426, 240, PAL, 400, 64, H264);
const P360: Profile = p("360p", 640, 360, PAL, 1024, 128, H264);
const P480: Profile = p("480p", 854, 480, PAL, 1200, 128, H264);
const P720: Profile = p("720p", 1280, 720, PAL, 1500, 256, H264);
const P1080: Profile = p("1080p", 1920, 1080, PAL, 4000, 256, H264);

/// Every profile, documented ones first, drake's own codec names last.
pub const PROFILES: &[Profile] = &[
    // Documented (sxml.md §13 table).
    p("iphone", 480, 320, PAL, 700, 96, H264),
    p("youtube", 640, 360, PAL, 1024, 128, H264),
    p("quicktime", 640, 480, PAL, 1024, 128, H264),
    p("quicktime-small", 320, 240, PAL, 256, 64, H264),
    p("flash-small", 320, 240, PAL, 192, 64, Flv),
    p("iphone-flv", 480, 320, PAL, 1024, 96, Flv),
    p("youtube-flv", 640, 360, PAL, 1700, 128, Flv),
    p("flash", 640, 480, PAL, 512, 96, Flv),
    p("flash-hq", 640, 480, PAL, 1200, 128, Flv),
    p("mobile-small", 176, 144, Rate::whole(15), 92, 32, Mpeg4),
    p("mobile", 320, 240, PAL, 256, 32, Mpeg4),
    p("wmv1", 640, 480, PAL, 1024, 128, Wmv1),
    p("wmv2", 640, 480, PAL, 1024, 128, Wmv2),
    dvd("dvd-ntsc-4-3", 720, 480, NTSC, false),
    dvd("dvd-ntsc-4-3-h", 352, 240, NTSC, false),
    dvd("dvd-ntsc-16-9", 720, 480, NTSC, true),
    dvd("dvd-ntsc-16-9-h", 352, 240, NTSC, true),
    dvd("dvd-pal-4-3", 720, 576, PAL, false),
    dvd("dvd-pal-4-3-h", 352, 288, PAL, false),
    dvd("dvd-pal-16-9", 720, 576, PAL, true),
    dvd("dvd-pal-16-9-h", 352, 288, PAL, true),
    P720,
    // Inferred: NNNp = 16:9 at height NNN, H.264/AAC MP4, 25 fps unless
    // the suffix says otherwise; bitrates scale with the pixel count.
    P240,
    p("240p-24-fps", 426, 240, Rate::whole(24), 400, 64, H264),
    P360,
    p("360p-24-fps", 640, 360, Rate::whole(24), 1024, 128, H264),
    p("360p-23-976-fps", 640, 360, FILM, 1024, 128, H264),
    p("360p-29-97-fps", 640, 360, NTSC, 1024, 128, H264),
    p("360p-12-5-fps", 640, 360, HALF_PAL, 768, 128, H264),
    p("360p-12-fps", 640, 360, Rate::whole(12), 768, 128, H264),
    p("360p-11-988-fps", 640, 360, HALF_FILM, 768, 128, H264),
    P480,
    p("480p-24-fps", 854, 480, Rate::whole(24), 1200, 128, H264),
    // "4-3": the 4:3 frame at 480 lines.
    p("480p-4-3-29-97-fps", 640, 480, NTSC, 1200, 128, H264),
    p("720p-24-fps", 1280, 720, Rate::whole(24), 1500, 256, H264),
    p("720p-23-98-fps", 1280, 720, FILM, 1500, 256, H264),
    p("720p-29-97-fps", 1280, 720, NTSC, 1500, 256, H264),
    p("720p-12-5-fps", 1280, 720, HALF_PAL, 1000, 256, H264),
    p("720p-12-fps", 1280, 720, Rate::whole(12), 1000, 256, H264),
    p("720p-hq", 1280, 720, PAL, 3000, 256, H264),
    // "th": a 720p variant with no documented difference.
    p("th720p", 1280, 720, PAL, 1500, 256, H264),
    P1080,
    p("1080p-24-fps", 1920, 1080, Rate::whole(24), 4000, 256, H264),
    // youtube variants: -slow = 12.5 fps, -sslow/-5fps = 5 fps.
    p("youtube-slow", 640, 360, HALF_PAL, 768, 128, H264),
    p("youtube-12-5fps", 640, 360, HALF_PAL, 768, 128, H264),
    p("youtube-5fps", 640, 360, Rate::whole(5), 512, 128, H264),
    p("youtube-slow-flv", 640, 360, HALF_PAL, 1200, 128, Flv),
    // iphone variants: 480×320 (3:2); -16-9 = 568×320.
    p("iphone-24p", 480, 320, Rate::whole(24), 700, 96, H264),
    p("iphone-slow", 480, 320, HALF_PAL, 500, 96, H264),
    p("iphone-sslow", 480, 320, Rate::whole(5), 350, 96, H264),
    p("iphone-16-9", 568, 320, PAL, 800, 96, H264),
    p("iphone-16-9-slow", 568, 320, HALF_PAL, 600, 96, H264),
    p("iphone-16-9-12fp", 568, 320, Rate::whole(12), 600, 96, H264),
    // Flash family.
    p("flash-large-4-3", 800, 600, PAL, 1500, 128, Flv),
    p("flash-med-16-9", 640, 360, PAL, 800, 96, Flv),
    p("flash-h264", 640, 480, PAL, 1024, 128, FlvH264),
    // Windows Media.
    p("wmv2-large-4-3", 800, 600, PAL, 2000, 128, Wmv2),
    p("ntsc-wide-wmv", 854, 480, NTSC, 2000, 128, Wmv2),
    // NTSC widescreen in square pixels.
    p("ntsc-wide", 854, 480, NTSC, 2000, 128, H264),
    // MPEG-1: full D1 and VideoCD's 352×240 (NTSC).
    p("dvd-mpeg1", 720, 480, NTSC, 5000, 224, Mpeg1),
    p("dvd-mpeg1-small", 352, 240, NTSC, 1150, 224, Mpeg1),
    // Others named only.
    p("square-400", 400, 400, PAL, 800, 128, H264),
    p("cine-half-hd", 960, 540, PAL, 2000, 192, H264),
    // "special": no description anywhere; the default profile's settings.
    p("special", 640, 360, PAL, 1024, 128, H264),
    // drake's: today's codecs under the same naming rule.
    modern("240p-vp9", P240, Vp9),
    modern("360p-vp9", P360, Vp9),
    modern("480p-vp9", P480, Vp9),
    modern("720p-vp9", P720, Vp9),
    modern("1080p-vp9", P1080, Vp9),
    modern("240p-av1", P240, Av1),
    modern("360p-av1", P360, Av1),
    modern("480p-av1", P480, Av1),
    modern("720p-av1", P720, Av1),
    modern("1080p-av1", P1080, Av1),
    modern("240p-hevc", P240, Hevc),
    modern("360p-hevc", P360, Hevc),
    modern("480p-hevc", P480, Hevc),
    modern("720p-hevc", P720, Hevc),
    modern("1080p-hevc", P1080, Hevc),
];

/// The codec suffixes drake adds to sxml.md's names.
pub const CODEC_SUFFIXES: [&str; 3] = ["-vp9", "-av1", "-hevc"];

/// The profile called `name`.
pub fn find(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name)
}

/// The names, for the parameter schema and error messages.
pub fn names() -> Vec<&'static str> {
    PROFILES.iter().map(|p| p.name).collect()
}

/// What the timeline is drawn on.
#[derive(Debug, Clone, Copy)]
pub struct Canvas {
    /// Width in pixels (even).
    pub width: u32,
    /// Height in pixels (even).
    pub height: u32,
    /// Frame rate.
    pub rate: Rate,
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    /// sxml.md §13's list, verbatim (it says 63 names; the list holds 64
    /// distinct ones, and drake serves them all).
    const SPEC: &str = "iphone-24p dvd-pal-16-9 360p 360p-23-976-fps 480p-4-3-29-97-fps \
dvd-ntsc-4-3-h dvd-pal-4-3-h 360p-24-fps 360p-12-5-fps 1080p-24-fps youtube-12-5fps dvd-pal-4-3 \
480p-24-fps iphone-slow ntsc-wide-wmv special 360p-11-988-fps dvd-mpeg1-small youtube-flv \
720p-12-fps dvd-pal-16-9-h youtube-slow 720p-12-5-fps wmv2 flash flash-hq mobile-small \
youtube-5fps flash-large-4-3 iphone 720p-24-fps iphone-flv iphone-16-9-12fp 1080p wmv1 \
240p-24-fps iphone-16-9 quicktime 720p-23-98-fps th720p 360p-29-97-fps youtube-slow-flv \
wmv2-large-4-3 dvd-mpeg1 ntsc-wide flash-small dvd-ntsc-16-9 480p dvd-ntsc-4-3 mobile \
iphone-sslow 720p youtube 720p-hq square-400 dvd-ntsc-16-9-h iphone-16-9-slow cine-half-hd \
flash-h264 240p quicktime-small 720p-29-97-fps 360p-12-fps flash-med-16-9";

    #[test]
    fn exactly_the_documented_names() {
        let mut spec: Vec<&str> = SPEC.split_whitespace().collect();
        let (mut ours, extra): (Vec<&str>, Vec<&str>) = names()
            .into_iter()
            .partition(|n| !CODEC_SUFFIXES.iter().any(|s| n.ends_with(s)));
        spec.sort_unstable();
        ours.sort_unstable();
        assert_eq!(spec.len(), 64);
        assert_eq!(ours, spec);
        // Each codec name is an `NNNp` of the spec with a suffix.
        assert_eq!(extra.len(), 15);
        for name in extra {
            let (base, _) = name.rsplit_once('-').unwrap();
            let (b, p) = (find(base).unwrap(), find(name).unwrap());
            assert_eq!(
                (b.width, b.height, b.rate),
                (p.width, p.height, p.rate),
                "{name}"
            );
            assert!(p.video_kbps < b.video_kbps, "{name}");
        }
    }

    #[test]
    fn codec_profiles_use_the_convert_encoders() {
        let has = |e: &Encoding, k: &str, v: &str| e.options.iter().any(|(a, b)| a == k && b == v);
        let vp9 = find("720p-vp9").unwrap().encoding(true);
        assert_eq!((vp9.extension, vp9.content_type), ("webm", "video/webm"));
        assert!(has(&vp9, "c:v", "libvpx-vp9") && has(&vp9, "b:v", "1050k"));
        assert!(has(&vp9, "c:a", "libopus") && has(&vp9, "ar", "48000") && has(&vp9, "f", "webm"));
        let av1 = find("1080p-av1").unwrap().encoding(false);
        assert!(has(&av1, "c:v", "libsvtav1") && has(&av1, "b:v", "2400k") && has(&av1, "an", ""));
        let hevc = find("240p-hevc").unwrap().encoding(true);
        assert_eq!((hevc.extension, hevc.content_type), ("mp4", "video/mp4"));
        assert!(has(&hevc, "c:v", "libx265") && has(&hevc, "tag:v", "hvc1"));
        assert!(has(&hevc, "c:a", "aac") && has(&hevc, "movflags", "+faststart"));
    }

    #[test]
    fn sizes_are_even_and_rates_match_names() {
        for p in PROFILES {
            assert_eq!(p.width % 2, 0, "{}", p.name);
            assert_eq!(p.height % 2, 0, "{}", p.name);
            if p.name.contains("29-97") {
                assert_eq!(p.rate, NTSC, "{}", p.name);
            }
            if p.name.contains("23-9") {
                assert_eq!(p.rate, FILM, "{}", p.name);
            }
            if p.name.contains("12-5") {
                assert_eq!(p.rate, HALF_PAL, "{}", p.name);
            }
        }
        let dvd = find("dvd-ntsc-16-9").unwrap();
        assert_eq!((dvd.width, dvd.height, dvd.drawn()), (720, 480, (852, 480)));
        assert_eq!(find("720p").unwrap().video_kbps, 1500);
        assert_eq!(find("360p").unwrap().drawn(), (640, 360));
    }
}
