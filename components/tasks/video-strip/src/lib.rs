//! `video.strip`: `count` frames evenly spaced between `start` and `end`,
//! each fitted or cropped to `width` × `height`, laid out `wrap` to a row,
//! as one JPEG or PNG.
//!
//! Frame `i` of `n` is taken at the middle of the `i`-th of `n` equal
//! slices of `[start, end]`: evenly spaced, never the very last instant
//! (where many files have no frame), and for `n = 1` the middle.
//!
//! One ffmpeg job per frame (a keyframe seek then a decode to the exact
//! time, scaled, as raw RGB), so a strip of a long video reads only what
//! it shows and ffmpeg holds one decoder at a time; the host writes the
//! input to disk once for all the jobs. The grid is assembled and encoded
//! here.
//!
//! With `vtt` (drake's, beyond dragon), the strip is also a sprite sheet
//! for players' scrubbing previews: a WebVTT thumbnails track, file
//! `thumbnails`, has one cue per frame covering its slice of the range,
//! whose text is the frame's tile (`output.jpg#xywh=x,y,w,h`, relative:
//! both files sit side by side under the task — [`thumbnails_track`]).

use drake_sdk::media::StillFormat;
use drake_sdk::media::{
    Job, JobInput, Plan, centis, duration_of, fetch_and_probe, opts, rate_value, secs, video_stream,
};
use drake_sdk::{Ctx, Task, TaskError, Values};
use image::RgbImage;
use serde::Deserialize;

drake_sdk::task!(VideoStrip);

fn zero() -> f64 {
    0.0
}
fn ten() -> u32 {
    10
}

/// Most frames in a strip: each is one seek-and-decode job.
const MAX_COUNT: u32 = 100;
/// Largest strip side: JPEG's format limit.
const MAX_SIDE: u64 = 65_535;
/// Largest strip: 50 Mpx is 150 MB of RGB in the component.
const MAX_PIXELS: u64 = 50_000_000;

/// Parameters.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// URL of the video.
    pub url: String,
    /// Width of each frame; without `height` the aspect ratio is kept;
    /// without both, the video's size.
    #[schemars(range(min = 1, max = 8192))]
    pub width: Option<u32>,
    /// Height of each frame.
    #[schemars(range(min = 1, max = 8192))]
    pub height: Option<u32>,
    /// With both sides: `false` fits inside, `true` fills and crops the
    /// centre.
    #[serde(default)]
    pub crop: bool,
    /// Frames per row (default: all in one row).
    #[schemars(range(min = 1, max = 100))]
    pub wrap: Option<u32>,
    /// Start of the range, in seconds.
    #[serde(default = "zero")]
    #[schemars(range(min = 0.0))]
    pub start: f64,
    /// End of the range, in seconds (default: the end of the video).
    #[schemars(range(min = 0.0))]
    pub end: Option<f64>,
    /// Number of frames.
    #[serde(default = "ten")]
    #[schemars(range(min = 1, max = 100))]
    pub count: u32,
    /// Image format.
    #[serde(default)]
    pub format: StillFormat,
    /// Also publish `thumbnails`, a WebVTT thumbnails track pointing into
    /// the strip (players' scrubbing previews; use `wrap` for a grid).
    #[serde(default)]
    pub vtt: bool,
}

/// The task.
pub struct VideoStrip;

impl Task for VideoStrip {
    const NAME: &'static str = "video.strip";
    const SUMMARY: &'static str =
        "Frames evenly spaced over a time range, side by side (wrapped into rows) in one image.";
    const VALUES: &'static [&'static str] = &[
        "count",
        "width",
        "height",
        "original_width",
        "original_height",
        "duration",
        "frame_rate",
        "content_type",
    ];
    const FILES: &'static [&'static str] = &["output", "thumbnails"];
    type Params = Params;

    fn run(ctx: &mut dyn Ctx, p: Params) -> Result<Values, TaskError> {
        let count = p.count.min(MAX_COUNT);
        let (media, info) = fetch_and_probe(ctx, "url", &p.url)?;
        let video = video_stream(&info)?;
        let (src_w, src_h) = video.display_size();
        let duration = duration_of(&info, video);
        let slices = slices(p.start, p.end, duration, count)?;
        let plan = Plan::new(src_w, src_h, p.width, p.height, p.crop);
        let (fw, fh) = (plan.out_w, plan.out_h);
        let columns = p.wrap.unwrap_or(count).clamp(1, count);
        let rows = count.div_ceil(columns);
        let (sw, sh) = (
            u64::from(fw) * u64::from(columns),
            u64::from(fh) * u64::from(rows),
        );
        if sw > MAX_SIDE || sh > MAX_SIDE || sw * sh > MAX_PIXELS {
            return Err(TaskError::parameter(
                if sw > MAX_SIDE { "wrap" } else { "width" },
                format!(
                    "the strip would be {sw}×{sh}; at most {MAX_SIDE} px a side and {} Mpx \
                     (use smaller frames, fewer frames or another wrap)",
                    MAX_PIXELS / 1_000_000
                ),
            ));
        }
        // Bounds checked above: both sides fit in u32.
        let mut strip = RgbImage::new(sw as u32, sh as u32);
        let graph = format!("{},format=rgb24[v]", plan.chain("0:v"));
        let frame_bytes = fw as usize * fh as usize * 3;
        let mut previous: Option<Vec<u8>> = None;
        for (i, slice) in slices.iter().enumerate() {
            let t = slice.at;
            let job = Job {
                inputs: vec![JobInput {
                    media: media.as_ref(),
                    options: opts([("ss", &secs(t))]),
                }],
                filter_complex: Some(graph.clone()),
                outputs: vec![opts([
                    ("map", "[v]"),
                    ("frames:v", "1"),
                    ("f", "rawvideo"),
                    ("c:v", "rawvideo"),
                ])],
                progress_duration: None,
                progress_span: (0, 0),
                captions: None,
            };
            let out = ctx
                .ffmpeg(job)
                .map_err(drake_sdk::FfmpegError::into_task_error)?;
            let pixels = out
                .first()
                .map(|o| o.read_all())
                .filter(|b| b.len() == frame_bytes);
            // Past a variable-rate file's last frame: repeat the one before.
            let Some(pixels) = pixels.or_else(|| previous.take()) else {
                return Err(TaskError::InvalidInput(format!(
                    "no frame could be decoded at {t:.2} s"
                )));
            };
            let (col, row) = (i as u32 % columns, i as u32 / columns);
            let frame = RgbImage::from_raw(fw, fh, pixels)
                .ok_or_else(|| TaskError::Failed("frame size mismatch".into()))?;
            image::imageops::replace(&mut strip, &frame, i64::from(col * fw), i64::from(row * fh));
            previous = Some(frame.into_raw());
            ctx.progress(((i + 1) * 95 / slices.len()) as u8);
        }
        let bytes = drake_imaging::encode_rgb(&strip, p.format)?;
        let content_type = p.format.content_type();
        ctx.publish("output", &bytes, content_type, p.format.extension())?;
        if p.vtt {
            let sprite = format!("output.{}", p.format.extension());
            let track = thumbnails_track(&slices, &sprite, (fw, fh), columns);
            ctx.publish("thumbnails", track.as_bytes(), "text/vtt", "vtt")?;
        }
        Ok(drake_sdk::values([
            ("count", count.into()),
            ("width", strip.width().into()),
            ("height", strip.height().into()),
            ("original_width", src_w.into()),
            ("original_height", src_h.into()),
            ("duration", centis(duration).into()),
            ("frame_rate", rate_value(video.frame_rate).into()),
            ("content_type", content_type.into()),
        ]))
    }
}

/// One frame's share of the range: the slice `[from, to]` it stands for
/// in a thumbnails track, and `at`, the instant it shows (the middle).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slice {
    /// Start of the slice, seconds.
    pub from: f64,
    /// End of the slice, seconds.
    pub to: f64,
    /// The frame's time, seconds.
    pub at: f64,
}

/// `count` equal slices of `[start, end]`, `end` defaulting to (and
/// capped at) the duration; each frame is taken at its slice's middle.
pub fn slices(
    start: f64,
    end: Option<f64>,
    duration: f64,
    count: u32,
) -> Result<Vec<Slice>, TaskError> {
    let known = duration > 0.0;
    if known && start >= duration {
        return Err(TaskError::parameter(
            "start",
            format!("{start} is past the end of the video ({duration:.2} s)"),
        ));
    }
    let end = match end {
        Some(e) if known => e.min(duration),
        Some(e) => e,
        None if known => duration,
        None => {
            return Err(TaskError::parameter(
                "end",
                "the video's duration is unknown: give end",
            ));
        }
    };
    if end <= start {
        return Err(TaskError::parameter(
            "end",
            format!("must be after start ({start} s)"),
        ));
    }
    let slice = (end - start) / f64::from(count);
    Ok((0..count)
        .map(|i| {
            let from = start + slice * f64::from(i);
            Slice {
                from,
                to: from + slice,
                at: from + slice / 2.0,
            }
        })
        .collect())
}

/// A WebVTT thumbnails track: cue `i` spans slice `i` and names frame
/// `i`'s tile of `sprite` with a media fragment (`#xywh=`), as Video.js,
/// JW Player, Plyr and Vidstack read it. The reference is relative, so it
/// resolves beside the track wherever both are served from one place
/// (drake's storage route, a public bucket).
pub fn thumbnails_track(
    slices: &[Slice],
    sprite: &str,
    (w, h): (u32, u32),
    columns: u32,
) -> String {
    let mut track = String::from("WEBVTT\n");
    for (i, s) in (0u32..).zip(slices) {
        let (x, y) = ((i % columns) * w, (i / columns) * h);
        track.push_str(&format!(
            "\n{} --> {}\n{sprite}#xywh={x},{y},{w},{h}\n",
            vtt_time(s.from),
            vtt_time(s.to)
        ));
    }
    track
}

/// `seconds` as a WebVTT timestamp.
fn vtt_time(seconds: f64) -> String {
    drake_captions::vtt_time((seconds.max(0.0) * 1000.0).round() as u64)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;
    use drake_sdk::{FakeCtx, MediaInfo, StreamInfo};

    fn times(start: f64, end: Option<f64>, duration: f64, count: u32) -> Vec<f64> {
        let s = slices(start, end, duration, count).unwrap();
        s.iter().map(|s| s.at).collect()
    }

    #[test]
    fn evenly_spaced_middles() {
        assert_eq!(times(0.0, None, 10.0, 5), [1.0, 3.0, 5.0, 7.0, 9.0]);
        assert_eq!(times(2.0, Some(4.0), 10.0, 1), [3.0]);
        // `end` past the end is the end.
        assert_eq!(times(8.0, Some(60.0), 10.0, 2), [8.5, 9.5]);
        let s = slices(8.0, Some(60.0), 10.0, 2).unwrap();
        assert_eq!(
            (s[0].from, s[0].to, s[1].from, s[1].to),
            (8.0, 9.0, 9.0, 10.0)
        );
        let e = slices(10.0, None, 10.0, 2).unwrap_err();
        assert!(matches!(e, TaskError::InvalidParameters(ref m) if m.contains_key("start")));
        let e = slices(5.0, Some(5.0), 10.0, 2).unwrap_err();
        assert!(matches!(e, TaskError::InvalidParameters(ref m) if m.contains_key("end")));
    }

    #[test]
    fn the_track_tiles_the_range_and_points_into_the_grid() {
        let s = slices(0.0, None, 3725.5, 3).unwrap();
        let track = thumbnails_track(&s, "output.jpg", (160, 90), 2);
        assert_eq!(
            track,
            "WEBVTT\n\
             \n00:00:00.000 --> 00:20:41.833\noutput.jpg#xywh=0,0,160,90\n\
             \n00:20:41.833 --> 00:41:23.667\noutput.jpg#xywh=160,0,160,90\n\
             \n00:41:23.667 --> 01:02:05.500\noutput.jpg#xywh=0,90,160,90\n"
        );
    }

    #[test]
    fn frames_are_laid_out_in_rows() {
        let mut ctx = FakeCtx::default().with_input("http://x/v.mp4", "video/mp4", vec![1]);
        ctx.probe_result = Some(MediaInfo {
            format: "mov,mp4".into(),
            duration: 4.0,
            bit_rate: 0,
            streams: vec![StreamInfo {
                kind: "video".into(),
                codec: "h264".into(),
                width: 40,
                height: 20,
                frame_rate: 25.0,
                ..StreamInfo::default()
            }],
        });
        // Frames of 4×2 px, each one grey level; the third is missing
        // (past the last frame) and repeats the second.
        for level in [10u8, 20, 0, 40] {
            let bytes = if level == 0 {
                Vec::new()
            } else {
                vec![level; 4 * 2 * 3]
            };
            ctx.job_results.push_back(Ok(vec![bytes]));
        }
        let v = drake_sdk::run_json::<VideoStrip>(
            &mut ctx,
            r#"{"url": "http://x/v.mp4", "width": 4, "count": 4, "wrap": 3, "format": "png"}"#,
        )
        .unwrap();
        assert_eq!(
            (v["width"].clone(), v["height"].clone()),
            (12.into(), 4.into())
        );
        assert_eq!(v["count"], 4);
        let png = image::load_from_memory(&ctx.published["output"].bytes)
            .unwrap()
            .to_rgb8();
        let at = |x, y| png.get_pixel(x, y).0[0];
        assert_eq!(
            [at(0, 0), at(4, 0), at(8, 0), at(0, 2), at(4, 2)],
            [10, 20, 20, 40, 0]
        );
        let seeks: Vec<_> = ctx.jobs.iter().map(|j| j.inputs[0][0].1.clone()).collect();
        assert_eq!(seeks, ["0.500", "1.500", "2.500", "3.500"]);
        assert_eq!(ctx.progress.last(), Some(&95));
        assert!(!ctx.published.contains_key("thumbnails"));
    }

    #[test]
    fn oversized_strips_are_refused() {
        let mut ctx = FakeCtx::default().with_input("http://x/v.mp4", "video/mp4", vec![1]);
        ctx.probe_result = Some(MediaInfo {
            format: "mov,mp4".into(),
            duration: 4.0,
            bit_rate: 0,
            streams: vec![StreamInfo {
                kind: "video".into(),
                codec: "h264".into(),
                width: 1920,
                height: 1080,
                ..StreamInfo::default()
            }],
        });
        let e = drake_sdk::run_json::<VideoStrip>(
            &mut ctx,
            r#"{"url": "http://x/v.mp4", "count": 40}"#,
        )
        .unwrap_err();
        assert!(
            matches!(e, TaskError::InvalidParameters(ref m) if m.contains_key("wrap")),
            "{e:?}"
        );
    }
}
