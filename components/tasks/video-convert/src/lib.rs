//! `video.convert`: transcode a video to H.264, MPEG-4, VP9, AV1 or HEVC
//! with the chosen audio codec, optionally resized, in the container the
//! pair needs (see [`Output::choose`]).
//!
//! Steps: fetch → probe → plan the geometry as shot (ffmpeg turns rotated
//! phone videos upright while decoding, so the output carries no rotation)
//! → one ffmpeg job with progress → publish.

use drake_captions::{Captions, CaptionsParam};
use drake_sdk::media::{
    AudioCodec, Job, JobInput, Output, Plan, VideoCodec, audio_options, centis, dropped_rate,
    duration_of, fetch_and_probe, opts, rate_value, stream_duration, video_stream,
};
use drake_sdk::{Ctx, Task, TaskError, Values};
use serde::Deserialize;

mod fmp4;
mod ladder;
mod ts;

pub use ladder::{Format, SegmentFormat};

drake_sdk::task!(VideoConvert);

/// dragon's default video bitrate, kbit/s.
const VIDEO_KBPS: u32 = 512;

fn kbps_64() -> u32 {
    64
}
fn hz_48000() -> u32 {
    48_000
}

/// Parameters.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// URL of the video.
    pub url: String,
    /// Output width in pixels (rounded down to even); without `height`
    /// the aspect ratio is kept; without both, the source size.
    #[schemars(range(min = 2, max = 8192))]
    pub width: Option<u32>,
    /// Output height in pixels (rounded down to even).
    #[schemars(range(min = 2, max = 8192))]
    pub height: Option<u32>,
    /// With both sides: `false` fits inside, `true` fills and crops the
    /// centre.
    #[serde(default)]
    pub crop: bool,
    /// Audio codec; with the video codec it decides the container. By
    /// default `aac`, and `opus` beside `vp9` or `av1`.
    #[serde(default)]
    pub audio_codec: Option<AudioCodec>,
    /// Video codec.
    #[serde(default)]
    pub video_codec: VideoCodec,
    /// Video bitrate in kbit/s (512 when absent; a ladder sets each
    /// rendition's own).
    #[schemars(range(min = 32, max = 50_000), extend("default" = 512))]
    pub video_bitrate: Option<u32>,
    /// Frames a second of the output when the source runs faster (frames
    /// are dropped, never added). Absent: the source's rate with `h264`
    /// and `mpeg4`; with `vp9`, `av1` and `hevc` at most 30, frames
    /// dropped evenly (60 → 30, 50 → 25: even their fastest settings
    /// encode 720p60 below real time on 2 cores).
    #[schemars(range(min = 1, max = 240))]
    pub frame_rate: Option<f64>,
    /// Audio bitrate in kbit/s.
    #[serde(default = "kbps_64")]
    #[schemars(range(min = 8, max = 320))]
    pub audio_bitrate: u32,
    /// Audio sample rate: 22050, 44100 or 48000 Hz.
    #[serde(default = "hz_48000")]
    pub sample_rate: u32,
    /// `file` (one file), or an adaptive streaming ladder: `hls` (H.264 +
    /// AAC; the output is the master playlist) or `dash` (H.264 + AAC, VP9
    /// or AV1 + Opus; the output is the manifest). A ladder's renditions
    /// follow the source's size (never upscaled).
    #[serde(default)]
    pub format: Format,
    /// A ladder's segments: `fmp4` (default; fragmented MP4), or `ts`
    /// (MPEG-TS with the audio muxed in, HLS only: for players older than
    /// iOS 10).
    pub segment_format: Option<SegmentFormat>,
    /// Seconds per segment of a ladder, 2 to 6 (4 when absent): each
    /// starts on a keyframe of every rendition.
    #[schemars(range(min = 2, max = 6), extend("default" = 4))]
    pub segment_duration: Option<u32>,
    /// Captions: the URL of an SRT or WebVTT file, burned into the
    /// picture, or `{url, burn, font, bold, size, color, outline_color,
    /// outline, position, margin}`; `burn: false` publishes them as the
    /// WebVTT file `captions` instead (and a ladder's subtitle track).
    pub captions: Option<CaptionsParam>,
}

/// Segment length of a ladder when none is asked for: Apple's HLS
/// authoring guideline is 6 s, DASH players start faster on 2; 4 sits
/// between.
const SEGMENT_SECONDS: u32 = 4;

/// The task.
pub struct VideoConvert;

impl Task for VideoConvert {
    const NAME: &'static str = "video.convert";
    const SUMMARY: &'static str = "Transcode a video (H.264, MPEG-4, VP9, AV1 or HEVC; AAC, Opus, MP3, MP2 or WMA), \
         optionally resized or cropped.";
    const VALUES: &'static [&'static str] = &[
        "content_type",
        "width",
        "height",
        "original_width",
        "original_height",
        "duration",
        "frame_rate",
        "audio_codec",
        "video_codec",
        "alpha",
        "rotation",
        "renditions",
        "caption_cues",
    ];
    const FILES: &'static [&'static str] = &["output", "captions"];
    type Params = Params;

    fn run(ctx: &mut dyn Ctx, p: Params) -> Result<Values, TaskError> {
        let out = Output::choose(p.video_codec, p.audio_codec, p.sample_rate)?;
        check_format(&p, &out)?;
        // The captions first: a malformed file fails before the video's
        // download.
        let captions = match &p.captions {
            Some(c) => Some(drake_captions::load(ctx, "captions", c)?),
            None => None,
        };
        let (media, info) = fetch_and_probe(ctx, "url", &p.url)?;
        let video = video_stream(&info)?;
        let (src_w, src_h) = video.display_size();
        let duration = duration_of(&info, video);
        let audio = info.first("audio");
        if let Some(c) = captions.as_ref().filter(|c| !c.options.burn) {
            ctx.publish("captions", c.webvtt().as_bytes(), "text/vtt", "vtt")?;
        }
        let burned = captions.as_ref().filter(|c| c.options.burn);
        let cue_count = captions.as_ref().map(|c| c.cues.len());
        if p.format != Format::File {
            let request = ladder::Request {
                format: p.format,
                output: out,
                segment_seconds: p.segment_duration.unwrap_or(SEGMENT_SECONDS),
                segments: p.segment_format.unwrap_or_default(),
                audio_kbps: p.audio_bitrate,
                sample_rate: p.sample_rate,
                captions: burned
                    .map(|c| c.burn("captions", (src_w, src_h), "src", "cap"))
                    .transpose()?,
                subtitles: captions
                    .as_ref()
                    .filter(|c| !c.options.burn)
                    .map(Captions::webvtt),
            };
            let source = ladder::Source {
                media: media.as_ref(),
                video,
                audio,
                duration,
            };
            let mut values = ladder::run(ctx, &request, &source)?;
            if let Some(n) = cue_count {
                values.insert("caption_cues".into(), n.into());
            }
            return Ok(values);
        }
        let video_bitrate = p.video_bitrate.unwrap_or(VIDEO_KBPS);
        let plan = Plan::new(src_w, src_h, p.width, p.height, p.crop).even();
        let size = (plan.out_w, plan.out_h);
        out.check_size(size, p.width.is_some() || p.height.is_some())?;
        let container = out.container;
        // Frames dropped (before the scaling: fewer to scale) when the
        // source runs faster than the limit or the asked rate.
        let rate = dropped_rate(video.frame_rate, p.frame_rate, p.video_codec);
        let (chain, fps) = plan.chain_at(rate, video.frame_rate);

        let mut output = opts([("map", "[v]")]);
        output.extend(out.video_options(video_bitrate, size, fps));
        match audio {
            Some(a) => {
                output.extend(opts([("map", "0:a:0")]));
                output.extend(audio_options(
                    out.audio,
                    p.audio_bitrate,
                    p.sample_rate,
                    a.channels,
                ));
            }
            None => output.extend(opts([("an", "")])),
        }
        output.extend(out.container_options());
        // Each frame keeps its timestamp (a phone's variable-rate clip stays
        // variable): ffmpeg's MP4 default duplicates frames up to a constant
        // rate (41 frames became 46), ASF's likewise; WebM's and AVI's
        // muxers keep them already (AVI marks the gaps as dropped frames).
        if matches!(container.muxer, "mp4" | "webm" | "asf") {
            output.extend(opts([("fps_mode", "vfr")]));
        }
        // Burned captions go on the output frame, after the scaling.
        let (graph_out, captions) = match burned {
            Some(c) => ("sized", Some(c.burn("captions", size, "sized", "v")?)),
            None => ("v", None),
        };
        let job = Job {
            inputs: vec![JobInput {
                media: media.as_ref(),
                options: Vec::new(),
            }],
            filter_complex: Some(format!("{chain},format=yuv420p[{graph_out}]")),
            outputs: vec![output],
            progress_duration: (duration > 0.0).then_some(duration),
            progress_span: (0, 99),
            captions,
        };
        let mut done = ctx
            .ffmpeg_run(job)
            .map_err(drake_sdk::FfmpegError::into_task_error)?;
        drop(media);
        let converted = match done.outputs.pop() {
            Some(file) if done.frames > 0 && file.size() > 0 => file,
            _ => {
                return Err(TaskError::InvalidInput(
                    "no frame of the video could be decoded".into(),
                ));
            }
        };
        // The values describe the file made, known by construction (no
        // second probe: an ffprobe start is 2 % of a 30 s 720p convert):
        // the size is the filter graph's, the frames are the source's.
        ctx.publish_input(
            "output",
            converted.as_ref(),
            container.content_type,
            container.extension,
        )?;
        Ok(drake_sdk::values([
            ("content_type", container.content_type.into()),
            ("width", plan.out_w.into()),
            ("height", plan.out_h.into()),
            ("original_width", src_w.into()),
            ("original_height", src_h.into()),
            ("duration", centis(stream_duration(&info, video)).into()),
            ("frame_rate", rate_value(fps).into()),
            (
                "audio_codec",
                audio
                    .map(|_| serde_json::Value::from(out.audio.name()))
                    .unwrap_or_default(),
            ),
            ("video_codec", p.video_codec.name().into()),
            // 4:2:0 output: never alpha.
            ("alpha", false.into()),
            // The source's rotation, now applied to the pixels.
            ("rotation", video.rotation.into()),
            (
                "caption_cues",
                cue_count.map(serde_json::Value::from).unwrap_or_default(),
            ),
        ]))
    }
}

/// The parameters that go with `format`: a ladder chooses each
/// rendition's size, rate and bitrate (so `width`, `height`, `crop`,
/// `video_bitrate` and `frame_rate` are refused beside it) and carries only the codecs its
/// players read; segment settings mean nothing to one file.
fn check_format(p: &Params, out: &Output) -> Result<(), TaskError> {
    if p.format == Format::File {
        return refuse_set(
            &[
                ("segment_format", p.segment_format.is_some()),
                ("segment_duration", p.segment_duration.is_some()),
            ],
            "applies to format \"hls\" or \"dash\" only",
        );
    }
    // (`segment_duration`'s 2 to 6 s is the schema's.)
    refuse_set(
        &[
            ("width", p.width.is_some()),
            ("height", p.height.is_some()),
            ("crop", p.crop),
            ("video_bitrate", p.video_bitrate.is_some()),
            ("frame_rate", p.frame_rate.is_some()),
        ],
        "a ladder chooses each rendition's size, rate and bitrate from the source \
         (see the renditions in the result); leave it out with format \"hls\" or \"dash\"",
    )?;
    match (p.format, p.segment_format.unwrap_or_default()) {
        (_, SegmentFormat::Fmp4) => {}
        (Format::Hls, SegmentFormat::Ts) => {}
        _ => {
            return Err(TaskError::parameter(
                "segment_format",
                "DASH segments are fmp4",
            ));
        }
    }
    ladder::check_codecs(p.format, out)
}

/// A parameter error naming each of `params` that is set, `why`.
fn refuse_set(params: &[(&str, bool)], why: &str) -> Result<(), TaskError> {
    let errors: Vec<(&str, &str)> = params
        .iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| (*name, why))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(TaskError::parameters(errors))
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;
    use drake_sdk::{FakeCtx, MediaInfo, StreamInfo};

    fn source(rotation: u32, audio: bool) -> MediaInfo {
        let mut streams = vec![StreamInfo {
            kind: "video".into(),
            codec: "h264".into(),
            width: 1280,
            height: 720,
            frame_rate: 30.0,
            rotation,
            ..StreamInfo::default()
        }];
        if audio {
            streams.push(StreamInfo {
                index: 1,
                kind: "audio".into(),
                codec: "aac".into(),
                channels: 6,
                sample_rate: 44_100,
                ..StreamInfo::default()
            });
        }
        MediaInfo {
            format: "mov,mp4".into(),
            duration: 10.0,
            bit_rate: 0,
            streams,
        }
    }

    /// A context whose input probes as [`source`] and whose one job
    /// writes `written`.
    fn probed(audio: bool, written: &[u8]) -> FakeCtx {
        let mut ctx = FakeCtx::default().with_input("http://x/v.mp4", "video/mp4", vec![1]);
        ctx.probe_result = Some(source(0, audio));
        ctx.job_results.push_back(Ok(vec![written.to_vec()]));
        ctx
    }

    fn run(ctx: &mut FakeCtx, params: &str) -> Result<Values, TaskError> {
        drake_sdk::run_json::<VideoConvert>(ctx, params)
    }

    /// `params` (after `url`) are refused naming `name`, before any job.
    fn assert_refused(params: &str, name: &str) {
        let mut ctx = FakeCtx::default().with_input("http://x/v.mp4", "video/mp4", vec![1]);
        ctx.probe_result = Some(source(0, true));
        let e = run(
            &mut ctx,
            &format!(r#"{{"url": "http://x/v.mp4", {params}}}"#),
        )
        .unwrap_err();
        assert!(
            matches!(e, TaskError::InvalidParameters(ref m) if m.contains_key(name)),
            "{params}: {e:?}"
        );
        assert!(ctx.jobs.is_empty(), "{params}");
    }

    #[test]
    fn wma_goes_to_asf_and_rotation_is_applied() {
        let mut ctx = FakeCtx::default().with_input("http://x/v.mov", "video/quicktime", vec![1]);
        ctx.probe_result = Some(source(90, true));
        ctx.job_results.push_back(Ok(vec![b"asf".to_vec()]));
        let v = run(
            &mut ctx,
            r#"{"url": "http://x/v.mov", "width": 181, "audio_codec": "wmav2", "sample_rate": 44100}"#,
        )
        .unwrap();
        assert_eq!(v["original_width"], 720);
        assert_eq!(v["original_height"], 1280);
        assert_eq!(
            (v["width"].clone(), v["height"].clone()),
            (180.into(), 322.into())
        );
        assert_eq!(v["rotation"], 90);
        assert_eq!(v["content_type"], "video/x-ms-asf");
        assert_eq!(ctx.published["output"].extension, "asf");
        let job = &ctx.jobs[0];
        assert_eq!(
            job.filter_complex.as_deref(),
            Some("[0:v]scale=180:322:flags=lanczos,setsar=1,format=yuv420p[v]")
        );
        let out = &job.outputs[0];
        let has = |k: &str, v: &str| out.iter().any(|(a, b)| a == k && b == v);
        assert!(has("c:a", "wmav2") && has("ar", "44100") && has("ac", "2") && has("f", "asf"));
        assert!(has("c:v", "libx264") && has("b:v", "512k") && has("map", "0:a:0"));
    }

    #[test]
    fn captions_burn_after_the_scaling_or_ride_along() {
        const SRT: &[u8] = b"1\n00:00:01,000 --> 00:00:02,000\nHi\n";
        let mut ctx = probed(true, b"mp4").with_input("http://x/c.srt", "text/plain", SRT.to_vec());
        let v = run(
            &mut ctx,
            r#"{"url": "http://x/v.mp4", "width": 640, "captions": "http://x/c.srt"}"#,
        )
        .unwrap();
        assert_eq!(v["caption_cues"], 1);
        let job = &ctx.jobs[0];
        assert_eq!(
            job.filter_complex.as_deref(),
            Some("[0:v]scale=640:360:flags=lanczos,setsar=1,format=yuv420p[sized]")
        );
        let burn = job.captions.as_ref().unwrap();
        assert_eq!((burn.input.as_str(), burn.output.as_str()), ("sized", "v"));
        assert_eq!((burn.width, burn.height, burn.style.size), (640, 360, 20));
        assert!(!ctx.published.contains_key("captions"));

        let mut ctx = probed(true, b"mp4").with_input("http://x/c.srt", "text/plain", SRT.to_vec());
        run(
            &mut ctx,
            r#"{"url": "http://x/v.mp4", "captions": {"url": "http://x/c.srt", "burn": false}}"#,
        )
        .unwrap();
        assert!(ctx.jobs[0].captions.is_none());
        let vtt = &ctx.published["captions"];
        assert_eq!(
            (vtt.content_type.as_str(), vtt.extension.as_str()),
            ("text/vtt", "vtt")
        );
    }

    #[test]
    fn a_bad_caption_file_fails_before_the_video_is_fetched() {
        let mut ctx =
            FakeCtx::default().with_input("http://x/c.srt", "text/plain", b"\x00".to_vec());
        let e = run(
            &mut ctx,
            r#"{"url": "http://x/v.mp4", "captions": "http://x/c.srt"}"#,
        )
        .unwrap_err();
        assert!(
            matches!(e, TaskError::InvalidParameters(ref m) if m.contains_key("captions")),
            "{e:?}"
        );
        assert!(ctx.jobs.is_empty());
    }

    #[test]
    fn silent_video_has_no_audio_codec() {
        let mut ctx = probed(false, b"mp4");
        let v = run(&mut ctx, r#"{"url": "http://x/v.mp4"}"#).unwrap();
        assert_eq!(v["audio_codec"], serde_json::Value::Null);
        assert_eq!(v["content_type"], "video/mp4");
        let out = &ctx.jobs[0].outputs[0];
        assert!(out.iter().any(|(k, _)| k == "an"));
        assert!(
            out.iter()
                .any(|(k, v)| k == "movflags" && v == "+faststart")
        );
    }

    #[test]
    fn parameter_errors_name_the_parameter() {
        let mut ctx = FakeCtx::default();
        for (params, name) in [
            (
                r#"{"url": "http://x/v", "sample_rate": 8000}"#,
                "sample_rate",
            ),
            (
                r#"{"url": "http://x/v", "audio_codec": "vorbis"}"#,
                "audio_codec",
            ),
            (
                r#"{"url": "http://x/v", "video_codec": "vp9", "audio_codec": "wmav2"}"#,
                "audio_codec",
            ),
            (
                r#"{"url": "http://x/v", "video_codec": "hevc", "audio_codec": "mp2"}"#,
                "audio_codec",
            ),
            (
                r#"{"url": "http://x/v", "video_codec": "av1", "sample_rate": 44100}"#,
                "sample_rate",
            ),
            (
                r#"{"url": "http://x/v", "video_codec": "theora"}"#,
                "video_codec",
            ),
            (
                r#"{"url": "http://x/v", "video_bitrate": 0}"#,
                "video_bitrate",
            ),
            (r#"{"url": "http://x/v", "width": 1}"#, "width"),
        ] {
            let e = run(&mut ctx, params).unwrap_err();
            assert!(
                matches!(e, TaskError::InvalidParameters(ref m) if m.contains_key(name)),
                "{params}: {e:?}"
            );
        }
    }

    #[test]
    fn vp9_and_av1_default_to_opus_in_webm_hevc_is_tagged_for_apple() {
        for (codec, encoder) in [("vp9", "libvpx-vp9"), ("av1", "libsvtav1")] {
            let mut ctx = probed(true, b"webm");
            let v = run(
                &mut ctx,
                &format!(r#"{{"url": "http://x/v.mp4", "video_codec": "{codec}"}}"#),
            )
            .unwrap();
            assert_eq!(v["content_type"], "video/webm");
            assert_eq!(
                (v["video_codec"].clone(), v["audio_codec"].clone()),
                (codec.into(), "opus".into())
            );
            assert_eq!(ctx.published["output"].extension, "webm");
            let out = &ctx.jobs[0].outputs[0];
            let has = |k: &str, v: &str| out.iter().any(|(a, b)| a == k && b == v);
            assert!(
                has("c:v", encoder) && has("c:a", "libopus") && has("f", "webm"),
                "{out:?}"
            );
            assert!(!out.iter().any(|(k, _)| k == "movflags"));
        }
        // VP9 with AAC asked for: MP4, which holds both.
        let mut ctx = probed(true, b"mp4");
        let v = run(
            &mut ctx,
            r#"{"url": "http://x/v.mp4", "video_codec": "vp9", "audio_codec": "aac"}"#,
        )
        .unwrap();
        assert_eq!(
            (v["content_type"].clone(), v["audio_codec"].clone()),
            ("video/mp4".into(), "aac".into())
        );

        let mut ctx = probed(true, b"mp4");
        let v = run(
            &mut ctx,
            r#"{"url": "http://x/v.mp4", "video_codec": "hevc"}"#,
        )
        .unwrap();
        assert_eq!(
            (v["content_type"].clone(), v["audio_codec"].clone()),
            ("video/mp4".into(), "aac".into())
        );
        let out = &ctx.jobs[0].outputs[0];
        let has = |k: &str, v: &str| out.iter().any(|(a, b)| a == k && b == v);
        assert!(has("c:v", "libx265") && has("tag:v", "hvc1") && has("preset", "ultrafast"));
    }

    /// VP9, AV1 and HEVC drop frames evenly above 30 fps unless
    /// `frame_rate` says otherwise; H.264 keeps the source's rate, at a
    /// faster preset above 720p30's pixel rate.
    #[test]
    fn frame_rates_follow_the_codec_or_the_parameter() {
        let at = |fps: f64, params: &str| {
            let mut ctx = probed(true, b"out");
            if let Some(info) = ctx.probe_result.as_mut() {
                info.streams[0].frame_rate = fps;
            }
            let v = run(&mut ctx, &format!(r#"{{"url": "http://x/v.mp4"{params}}}"#)).unwrap();
            let mut job = ctx.jobs.remove(0);
            (
                v["frame_rate"].clone(),
                job.filter_complex.unwrap(),
                job.outputs.remove(0),
            )
        };
        let (rate, graph, _) = at(60.0, r#", "video_codec": "vp9""#);
        assert_eq!(rate, 30.0);
        assert!(
            graph.starts_with("[0:v]fps=fps=30[rated];[rated]scale=1280:720"),
            "{graph}"
        );
        let (rate, graph, _) = at(59.94, r#", "video_codec": "hevc""#);
        assert_eq!(rate, 29.97);
        assert!(
            graph.starts_with("[0:v]fps=fps=30000/1001[rated]"),
            "{graph}"
        );
        let (rate, graph, _) = at(25.0, r#", "video_codec": "av1""#);
        assert_eq!(rate, 25.0);
        assert!(graph.starts_with("[0:v]scale="), "{graph}");
        let (rate, graph, out) = at(60.0, "");
        assert_eq!(rate, 60.0);
        assert!(!graph.contains("fps="), "{graph}");
        assert!(
            out.contains(&("preset".into(), "superfast".into())),
            "{out:?}"
        );
        let (rate, graph, out) = at(60.0, r#", "frame_rate": 24"#);
        assert_eq!(rate, 24.0);
        assert!(graph.starts_with("[0:v]fps=fps=24[rated]"), "{graph}");
        assert!(
            out.contains(&("preset".into(), "veryfast".into())),
            "{out:?}"
        );
        let (rate, graph, _) = at(60.0, r#", "video_codec": "vp9", "frame_rate": 60"#);
        assert_eq!(rate, 60.0);
        assert!(!graph.contains("fps="), "{graph}");
        // A source of unknown rate: the asked rate as is, no default limit.
        let (rate, graph, _) = at(0.0, r#", "frame_rate": 12"#);
        assert_eq!(rate, 12.0);
        assert!(graph.starts_with("[0:v]fps=fps=12[rated]"), "{graph}");
        let (_, graph, _) = at(f64::NAN, r#", "video_codec": "vp9""#);
        assert!(!graph.contains("fps="), "{graph}");
        // Frames keep their timestamps (variable rates stay variable) in
        // MP4, WebM and ASF.
        for codecs in [
            "",
            r#", "video_codec": "vp9""#,
            r#", "audio_codec": "wmav2""#,
        ] {
            let (_, _, out) = at(30.0, codecs);
            assert!(
                out.contains(&("fps_mode".into(), "vfr".into())),
                "{codecs}: {out:?}"
            );
        }
        let (_, _, out) = at(30.0, r#", "audio_codec": "mp2""#);
        assert!(!out.iter().any(|(k, _)| k == "fps_mode"), "{out:?}");
    }

    /// An HLS ladder of a 1280×720 source with audio: three renditions
    /// and the audio in one job, each cut at the same keyframes, the
    /// manifests and every segment published.
    #[test]
    fn hls_ladder_publishes_master_media_playlists_and_segments() {
        use crate::fmp4::fixture::file;
        let mut ctx = FakeCtx::default().with_input("http://x/v.mp4", "video/mp4", vec![1]);
        ctx.probe_result = Some(source(0, true));
        let rendition = file(&[100, 100, 50]);
        ctx.job_results.push_back(Ok(vec![
            rendition.clone(),
            rendition.clone(),
            rendition.clone(),
            file(&[100, 100, 50]),
        ]));
        let v = run(&mut ctx, r#"{"url": "http://x/v.mp4", "format": "hls"}"#).unwrap();
        assert_eq!(v["content_type"], "application/vnd.apple.mpegurl");
        assert_eq!(
            (v["width"].clone(), v["height"].clone()),
            (1280.into(), 720.into())
        );
        let names: Vec<&str> = v["renditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["240p", "360p", "720p"]);
        assert_eq!(v["renditions"][0]["segments"], 3);
        assert_eq!(v["renditions"][0]["codecs"], "avc1.64001f");
        assert_eq!(v["duration"], 10.0);

        let job = &ctx.jobs[0];
        assert_eq!(
            job.filter_complex.as_deref(),
            Some(
                "[0:v]fps=fps=30,format=yuv420p,split=3[s0][s1][s2];\
                 [s0]scale=426:240:flags=lanczos,setsar=1[v0];\
                 [s1]scale=640:360:flags=lanczos,setsar=1[v1];\
                 [s2]scale=1280:720:flags=lanczos,setsar=1[v2]"
            )
        );
        assert_eq!(job.outputs.len(), 4);
        for (i, out) in job.outputs[..3].iter().enumerate() {
            let has = |k: &str, v: &str| out.iter().any(|(a, b)| a == k && b == v);
            assert!(has("map", &format!("[v{i}]")) && has("g", "120") && has("keyint_min", "120"));
            assert!(has("sc_threshold", "0") && has("an", "") && has("f", "mp4"));
            assert!(has(
                "movflags",
                "+frag_keyframe+delay_moov+default_base_moof"
            ));
        }
        let audio = &job.outputs[3];
        let has = |k: &str, v: &str| audio.iter().any(|(a, b)| a == k && b == v);
        assert!(has("c:a", "aac") && has("frag_duration", "4000000") && has("vn", ""));

        let master = String::from_utf8(ctx.published["output"].bytes.clone()).unwrap();
        assert_eq!(ctx.published["output"].extension, "m3u8");
        assert!(master.contains("URI=\"output/audio.m3u8\""), "{master}");
        assert!(
            master.contains(
                "RESOLUTION=640x360,FRAME-RATE=30.000,AUDIO=\"audio\"\noutput/360p.m3u8\n"
            )
        );
        let media = String::from_utf8(ctx.parts["output/720p.m3u8"].clone()).unwrap();
        assert!(media.contains("#EXTINF:4.000000,\n720p/1.m4s\n"), "{media}");
        assert!(media.contains("#EXTINF:2.000000,\n720p/3.m4s\n#EXT-X-ENDLIST"));
        for part in [
            "240p/init.mp4",
            "240p/3.m4s",
            "audio/init.mp4",
            "audio/2.m4s",
            "audio.m3u8",
        ] {
            assert!(ctx.parts.contains_key(&format!("output/{part}")), "{part}");
        }
        // The parts are the file's bytes, cut: together they are the file.
        let joined: Vec<u8> = ["init.mp4", "1.m4s", "2.m4s", "3.m4s"]
            .iter()
            .flat_map(|p| ctx.parts[&format!("output/360p/{p}")].clone())
            .collect();
        assert_eq!(joined, rendition);
    }

    /// HLS in MPEG-TS: the audio goes in every rendition, the segments
    /// are `.ts`, the playlists have no init segment.
    #[test]
    fn ladder_captions_burn_before_the_split_or_map_onto_ts_time() {
        const SRT: &[u8] = b"1\n00:00:00,000 --> 00:00:00,100\nHi\n";
        let ladder = |captions: &str| {
            let mut ctx = FakeCtx::default()
                .with_input("http://x/v.mp4", "video/mp4", vec![1])
                .with_input("http://x/c.srt", "text/plain", SRT.to_vec());
            let mut info = source(0, true);
            info.streams[0].width = 640;
            info.streams[0].height = 360;
            ctx.probe_result = Some(info);
            let ts = crate::ts::fixture::file();
            ctx.job_results.push_back(Ok(vec![ts.clone(), ts]));
            let params = format!(
                r#"{{"url": "http://x/v.mp4", "format": "hls", "segment_format": "ts", "captions": {captions}}}"#
            );
            run(&mut ctx, &params).unwrap();
            ctx
        };
        let ctx = ladder(r#""http://x/c.srt""#);
        let job = &ctx.jobs[0];
        let graph = job.filter_complex.as_deref().unwrap();
        assert!(
            graph.starts_with("[0:v]fps=fps=30,format=yuv420p[src];[cap]split=2"),
            "{graph}"
        );
        let burn = job.captions.as_ref().unwrap();
        assert_eq!((burn.input.as_str(), burn.output.as_str()), ("src", "cap"));
        assert_eq!((burn.width, burn.height), (640, 360));
        assert!(!ctx.parts.contains_key("output/subtitles.vtt"));

        let ctx = ladder(r#"{"url": "http://x/c.srt", "burn": false}"#);
        assert!(ctx.jobs[0].captions.is_none());
        let vtt = String::from_utf8(ctx.parts["output/subtitles.vtt"].clone()).unwrap();
        // The first segment's PTS (ffmpeg's 1.4 s offset) is cue time 0.
        assert!(
            vtt.starts_with("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:126000,LOCAL:00:00:00.000\n"),
            "{vtt}"
        );
        let playlist = String::from_utf8(ctx.parts["output/subtitles.m3u8"].clone()).unwrap();
        assert!(playlist.contains("\nsubtitles.vtt\n"), "{playlist}");
        let master = String::from_utf8(ctx.published["output"].bytes.clone()).unwrap();
        assert!(master.contains("SUBTITLES=\"subs\""), "{master}");
        assert_eq!(ctx.published["captions"].content_type, "text/vtt");
    }

    #[test]
    fn hls_ladder_in_mpeg_ts_muxes_the_audio() {
        let mut ctx = FakeCtx::default().with_input("http://x/v.mp4", "video/mp4", vec![1]);
        let mut info = source(0, true);
        info.streams[0].width = 640;
        info.streams[0].height = 360;
        ctx.probe_result = Some(info);
        let ts = crate::ts::fixture::file();
        ctx.job_results.push_back(Ok(vec![ts.clone(), ts.clone()]));
        let v = run(
            &mut ctx,
            r#"{"url": "http://x/v.mp4", "format": "hls", "segment_format": "ts"}"#,
        )
        .unwrap();
        assert_eq!(v["renditions"][1]["codecs"], "avc1.64001e,mp4a.40.2");
        assert_eq!(v["renditions"][1]["segments"], 3);
        let job = &ctx.jobs[0];
        assert_eq!(job.outputs.len(), 2);
        for out in &job.outputs {
            let has = |k: &str, v: &str| out.iter().any(|(a, b)| a == k && b == v);
            assert!(
                has("f", "mpegts") && has("map", "0:a:0") && has("c:a", "aac"),
                "{out:?}"
            );
        }
        let master = String::from_utf8(ctx.published["output"].bytes.clone()).unwrap();
        assert!(!master.contains("EXT-X-MEDIA"), "{master}");
        assert!(
            master.contains("CODECS=\"avc1.64001e,mp4a.40.2\""),
            "{master}"
        );
        let media = String::from_utf8(ctx.parts["output/360p.m3u8"].clone()).unwrap();
        assert!(!media.contains("EXT-X-MAP"), "{media}");
        assert!(media.contains("#EXTINF:0.160000,\n360p/1.ts\n"), "{media}");
        let joined: Vec<u8> = (1..=3)
            .flat_map(|n| ctx.parts[&format!("output/360p/{n}.ts")].clone())
            .collect();
        assert_eq!(joined, ts);
        assert!(
            !ctx.parts
                .keys()
                .any(|k| k.contains("init.mp4") || k.contains("audio"))
        );
    }

    #[test]
    fn dash_ladder_of_vp9_writes_a_manifest_with_opus() {
        use crate::fmp4::fixture::file;
        let mut ctx = FakeCtx::default().with_input("http://x/v.mp4", "video/mp4", vec![1]);
        let mut info = source(0, true);
        info.streams[0].width = 640;
        info.streams[0].height = 360;
        ctx.probe_result = Some(info);
        ctx.job_results
            .push_back(Ok(vec![file(&[50]), file(&[50]), file(&[50])]));
        let v = run(
            &mut ctx,
            r#"{"url": "http://x/v.mp4", "format": "dash", "video_codec": "vp9", "segment_duration": 2}"#,
        )
        .unwrap();
        assert_eq!(v["content_type"], "application/dash+xml");
        assert_eq!(v["audio_codec"], "opus");
        let mpd = String::from_utf8(ctx.published["output"].bytes.clone()).unwrap();
        assert!(mpd.contains("<Representation id=\"360p\""), "{mpd}");
        assert!(mpd.contains("media=\"output/audio/$Number$.m4s\""));
        assert!(mpd.contains("audioSamplingRate=\"48000\""));
        let out = &ctx.jobs[0].outputs[0];
        let has = |k: &str, v: &str| out.iter().any(|(a, b)| a == k && b == v);
        assert!(has("c:v", "libvpx-vp9") && has("g", "60"));
        assert!(
            ctx.jobs[0].outputs[2]
                .iter()
                .any(|(k, v)| k == "c:a" && v == "libopus")
        );
        assert!(!ctx.parts.keys().any(|k| k.ends_with(".m3u8")));
    }

    #[test]
    fn ladder_parameters_are_checked_before_any_work() {
        for (params, name) in [
            (r#""format": "hls", "width": 640"#, "width"),
            (r#""format": "dash", "video_bitrate": 900"#, "video_bitrate"),
            (r#""format": "hls", "crop": true"#, "crop"),
            (r#""format": "hls", "frame_rate": 30"#, "frame_rate"),
            (r#""format": "hls", "video_codec": "vp9""#, "video_codec"),
            (r#""format": "dash", "video_codec": "hevc""#, "video_codec"),
            (r#""format": "hls", "audio_codec": "mp3""#, "audio_codec"),
            (
                r#""format": "dash", "segment_format": "ts""#,
                "segment_format",
            ),
            (
                r#""format": "hls", "segment_duration": 10"#,
                "segment_duration",
            ),
            (r#""segment_duration": 4"#, "segment_duration"),
            (r#""format": "m3u""#, "format"),
        ] {
            assert_refused(params, name);
        }
    }

    #[test]
    fn frame_sizes_the_encoder_refuses_name_their_parameter() {
        for (params, name) in [
            (
                r#""video_codec": "hevc", "width": 8, "height": 40"#,
                "width",
            ),
            (
                r#""video_codec": "hevc", "width": 40, "height": 8, "crop": true"#,
                "height",
            ),
        ] {
            assert_refused(params, name);
        }
        // AV1 below SVT-AV1's 64 px goes to libaom.
        let mut ctx = probed(false, b"webm");
        run(
            &mut ctx,
            r#"{"url": "http://x/v.mp4", "video_codec": "av1", "width": 48}"#,
        )
        .unwrap();
        assert!(
            ctx.jobs[0].outputs[0]
                .iter()
                .any(|(k, v)| k == "c:v" && v == "libaom-av1")
        );
    }
}
