//! `video.reverse`: the video played backwards, sound included, in the
//! chosen codecs (in the container the pair needs, as for
//! `video.convert`).
//!
//! ffmpeg's `reverse` filter holds every frame of its input, so the video
//! is reversed in segments whose decoded frames fit [`FRAME_BUDGET`]:
//!
//! 1. cut `[0, d]` into segments of `s` seconds from the end: output
//!    segment `k` is source `[d − (k+1)s, d − ks]` (the last one shorter);
//! 2. per segment, one ffmpeg job: seek, scale, `reverse`, encode to
//!    MPEG-TS with timestamps shifted to `1 + ks` (the 1 s keeps B-frame
//!    decode times positive, so no segment is shifted on its own); the
//!    audio `areverse`d to raw PCM padded or trimmed to the exact sample
//!    count of the slice;
//! 3. the TS segments and the PCM slices are concatenated byte for byte —
//!    both formats allow it — into one continuous stream each;
//! 4. one last job copies the video and encodes the audio once (no
//!    encoder gaps at segment joins) into the final container.
//!
//! MPEG-TS holds neither VP9 nor AV1: for those, the segments are an
//! H.264 mezzanine ([`MEZZANINE`]) and the last job encodes the video
//! once, in the codec asked for, while it encodes the audio.
//!
//! ffmpeg's memory is bounded by the budget whatever the length; what
//! grows with the length is the encoded video and the PCM (192 kB a
//! second at 48 kHz stereo), held by the host until the task ends.

use drake_sdk::media::{
    AudioCodec, Job, JobInput, Output, Plan, VideoCodec, audio_options, centis, dropped_rate,
    duration_of, fetch_and_probe, opts, secs, stream_duration, video_stream,
};
use drake_sdk::{Ctx, Input, Task, TaskError, Values};
use serde::Deserialize;

drake_sdk::task!(VideoReverse);

/// Decoded frames one segment may hold: 256 MiB is 185 frames of 720p
/// (6 s at 30 fps), well inside ffmpeg's default 4 GiB address space.
const FRAME_BUDGET: f64 = 256.0 * 1024.0 * 1024.0;
/// Segment length bounds: below 0.5 s the per-job start-up dominates;
/// above 30 s audio-only stretches gain nothing.
const SEGMENT_SECONDS: (f64, f64) = (0.5, 30.0);
/// The segments' video when the codec cannot go in MPEG-TS: x264's
/// fastest preset at CRF 16, near transparent (the final encode is the
/// one that loses; CRF 20 would cost 0.006 SSIM for 40 % fewer bytes).
/// ~12.5 Mbit/s at 720p on real footage: 94 MB a minute, held by the
/// host until the task ends, like the PCM.
const MEZZANINE: [(&str, &str); 4] = [
    ("c:v", "libx264"),
    ("preset", "ultrafast"),
    ("crf", "16"),
    ("pix_fmt", "yuv420p"),
];

fn kbps_512() -> u32 {
    512
}
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
    /// Output height in pixels (rounded down to even); with `width`, the
    /// video fits inside both.
    #[schemars(range(min = 2, max = 8192))]
    pub height: Option<u32>,
    /// Audio codec; with the video codec it decides the container. By
    /// default `aac`, and `opus` beside `vp9` or `av1`.
    #[serde(default)]
    pub audio_codec: Option<AudioCodec>,
    /// Video codec.
    #[serde(default)]
    pub video_codec: VideoCodec,
    /// Video bitrate in kbit/s.
    #[serde(default = "kbps_512")]
    #[schemars(range(min = 32, max = 50_000))]
    pub video_bitrate: u32,
    /// Frames a second of the output when the source runs faster (frames
    /// are dropped, never added). Absent: the source's rate with `h264`
    /// and `mpeg4`; with `vp9`, `av1` and `hevc` at most 30, frames
    /// dropped evenly (60 → 30, 50 → 25), as in `video.convert`.
    #[schemars(range(min = 1, max = 240))]
    pub frame_rate: Option<f64>,
    /// Audio bitrate in kbit/s.
    #[serde(default = "kbps_64")]
    #[schemars(range(min = 8, max = 320))]
    pub audio_bitrate: u32,
    /// Audio sample rate: 22050, 44100 or 48000 Hz.
    #[serde(default = "hz_48000")]
    pub sample_rate: u32,
}

/// The task.
pub struct VideoReverse;

/// One segment: the source slice `[start, end]` and where it lands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    /// Source start, seconds.
    pub start: f64,
    /// Source end, seconds.
    pub end: f64,
    /// Output start, seconds.
    pub at: f64,
}

/// The segments of a `duration`-second video in output order, each at
/// most `length` seconds.
pub fn segments(duration: f64, length: f64) -> Vec<Segment> {
    let n = (duration / length).ceil().max(1.0) as usize;
    (0..n)
        .map(|k| {
            let end = duration - length * k as f64;
            Segment {
                start: (end - length).max(0.0),
                end,
                at: length * k as f64,
            }
        })
        .collect()
}

/// Segment length for frames of `w` × `h` at `fps`.
pub fn segment_length(w: u32, h: u32, fps: f64) -> f64 {
    let frame = f64::from(w) * f64::from(h) * 1.5; // yuv420p
    let fps = if fps.is_finite() && fps > 0.0 {
        fps.min(240.0)
    } else {
        30.0
    };
    (FRAME_BUDGET / frame / fps).clamp(SEGMENT_SECONDS.0, SEGMENT_SECONDS.1)
}

impl Task for VideoReverse {
    const NAME: &'static str = "video.reverse";
    const SUMMARY: &'static str = "Play a video backwards (picture and sound).";
    const VALUES: &'static [&'static str] = &["duration"];
    const FILES: &'static [&'static str] = &["output"];
    type Params = Params;

    fn run(ctx: &mut dyn Ctx, p: Params) -> Result<Values, TaskError> {
        let target = Output::choose(p.video_codec, p.audio_codec, p.sample_rate)?;
        let (media, info) = fetch_and_probe(ctx, "url", &p.url)?;
        let video = video_stream(&info)?;
        let (src_w, src_h) = video.display_size();
        let duration = duration_of(&info, video);
        if duration <= 0.0 {
            return Err(TaskError::InvalidInput(
                "the video's duration is unknown".into(),
            ));
        }
        let audio = info.first("audio");
        let plan = Plan::new(src_w, src_h, p.width, p.height, false).even();
        let size = (plan.out_w, plan.out_h);
        target.check_size(size, p.width.is_some() || p.height.is_some())?;
        // Copied at the end, or encoded there from a mezzanine.
        let copy = target.video.in_mpegts();
        let segments_span = if copy { 90 } else { 50 };
        // Frames dropped before the scaling (and before `reverse` holds
        // them: longer segments) as `video.convert` drops them.
        let rate = dropped_rate(video.frame_rate, p.frame_rate, p.video_codec);
        let (rated, fps) = plan.chain_at(rate, video.frame_rate);
        let length = segment_length(plan.out_w, plan.out_h, fps);
        let parts = segments(duration, length);
        let rate = p.sample_rate;
        let channels: u32 = match audio {
            Some(a) if a.channels == 1 => 1,
            _ => 2,
        };
        let layout = if channels == 1 { "mono" } else { "stereo" };
        let samples = |t: f64| (t * f64::from(rate)).round() as u64;

        let mut video_parts: Vec<Box<dyn Input>> = Vec::with_capacity(parts.len());
        let mut audio_parts: Vec<Box<dyn Input>> = Vec::with_capacity(parts.len());
        for (k, seg) in parts.iter().enumerate() {
            let mut graph = format!("{rated},format=yuv420p,reverse[v]");
            let mut video_out = opts([("map", "[v]")]);
            if copy {
                // The final container's rules (no B-frames for AVI/ASF):
                // the segments are copied into it.
                video_out.extend(target.video_options(p.video_bitrate, size, fps));
            } else {
                video_out.extend(opts(MEZZANINE));
            }
            video_out.extend(opts([
                ("output_ts_offset", &secs(1.0 + seg.at)),
                ("f", "mpegts"),
            ]));
            let mut outputs = vec![video_out];
            if audio.is_some() {
                let n = samples(seg.end) - samples(seg.start);
                graph.push_str(&format!(
                    ";[0:a:0]aresample={rate},aformat=sample_fmts=s16:channel_layouts={layout},\
                     areverse,apad=whole_len={n},atrim=end_sample={n}[a]"
                ));
                outputs.push(opts([("map", "[a]"), ("c:a", "pcm_s16le"), ("f", "s16le")]));
            }
            let lo = (k * segments_span / parts.len()) as u8;
            let hi = ((k + 1) * segments_span / parts.len()) as u8;
            let job = Job {
                inputs: vec![JobInput {
                    media: media.as_ref(),
                    options: opts([("ss", &secs(seg.start)), ("t", &secs(seg.end - seg.start))]),
                }],
                filter_complex: Some(graph),
                outputs,
                progress_duration: Some(seg.end - seg.start),
                progress_span: (lo, hi),
                captions: None,
            };
            let mut out = ctx
                .ffmpeg(job)
                .map_err(drake_sdk::FfmpegError::into_task_error)?
                .into_iter();
            let (Some(v), a) = (out.next(), out.next()) else {
                return Err(TaskError::Failed("a segment job returned no output".into()));
            };
            video_parts.push(v);
            audio_parts.extend(a);
        }
        drop(media);
        let joined_video = ctx.concat(&refs(&video_parts))?;
        drop(video_parts);
        if joined_video.size() == 0 {
            return Err(TaskError::InvalidInput(
                "no frame of the video could be decoded".into(),
            ));
        }
        let joined_audio = match audio {
            Some(_) => Some(ctx.concat(&refs(&audio_parts))?),
            None => None,
        };
        drop(audio_parts);

        let mut inputs = vec![JobInput {
            media: joined_video.as_ref(),
            options: opts([("f", "mpegts")]),
        }];
        let mut output = opts([("map", "0:v:0")]);
        if copy {
            output.extend(opts([("c:v", "copy")]));
        } else {
            output.extend(target.video_options(p.video_bitrate, size, fps));
        }
        match &joined_audio {
            Some(pcm) => {
                inputs.push(JobInput {
                    media: pcm.as_ref(),
                    options: opts([
                        ("f", "s16le"),
                        ("ar", &rate.to_string()),
                        ("ac", &channels.to_string()),
                    ]),
                });
                output.extend(opts([("map", "1:a:0")]));
                output.extend(audio_options(target.audio, p.audio_bitrate, rate, channels));
            }
            None => output.extend(opts([("an", "")])),
        }
        output.extend(target.container_options());
        let job = Job {
            inputs,
            filter_complex: None,
            outputs: vec![output],
            progress_duration: Some(duration),
            progress_span: (segments_span as u8, 99),
            captions: None,
        };
        let mut out = ctx
            .ffmpeg(job)
            .map_err(drake_sdk::FfmpegError::into_task_error)?;
        let Some(reversed) = out.pop().filter(|o| o.size() > 0) else {
            return Err(TaskError::Failed("the final job wrote nothing".into()));
        };
        let probed = ctx
            .probe(reversed.as_ref())
            .map_err(drake_sdk::FfmpegError::into_task_error)?;
        let out_duration = probed
            .first("video")
            .map_or(probed.duration, |v| stream_duration(&probed, v));
        ctx.publish_input(
            "output",
            reversed.as_ref(),
            target.container.content_type,
            target.container.extension,
        )?;
        Ok(drake_sdk::values([(
            "duration",
            centis(out_duration).into(),
        )]))
    }
}

fn refs(parts: &[Box<dyn Input>]) -> Vec<&dyn Input> {
    parts.iter().map(|p| p.as_ref()).collect()
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;
    use drake_sdk::{FakeCtx, MediaInfo, StreamInfo};

    #[test]
    fn segments_tile_the_video_from_the_end() {
        let s = segments(10.0, 4.0);
        assert_eq!(s.len(), 3);
        assert_eq!((s[0].start, s[0].end, s[0].at), (6.0, 10.0, 0.0));
        assert_eq!((s[1].start, s[1].end, s[1].at), (2.0, 6.0, 4.0));
        assert_eq!((s[2].start, s[2].end, s[2].at), (0.0, 2.0, 8.0));
        assert_eq!(segments(3.0, 4.0).len(), 1);
        // 720p at 30 fps: about 6 s of frames per segment.
        let l = segment_length(1280, 720, 30.0);
        assert!((6.0..6.5).contains(&l), "{l}");
        assert_eq!(segment_length(64, 64, 30.0), 30.0);
        assert_eq!(segment_length(8192, 8192, 240.0), 0.5);
    }

    /// A 70 s 160×120 source with mono sound, probed twice (source,
    /// result), with its four jobs' results (three segments, the mux).
    fn seventy_seconds() -> FakeCtx {
        let mut ctx = FakeCtx::default().with_input("http://x/v.mp4", "video/mp4", vec![1]);
        let source = MediaInfo {
            format: "mov,mp4".into(),
            duration: 70.0,
            bit_rate: 0,
            streams: vec![
                StreamInfo {
                    kind: "video".into(),
                    codec: "h264".into(),
                    width: 160,
                    height: 120,
                    frame_rate: 25.0,
                    ..StreamInfo::default()
                },
                StreamInfo {
                    index: 1,
                    kind: "audio".into(),
                    codec: "aac".into(),
                    channels: 1,
                    ..StreamInfo::default()
                },
            ],
        };
        ctx.probe_queue.push_back(source.clone());
        ctx.probe_queue.push_back(source);
        // 160×120 → 30 s segments: 30 + 30 + 10.
        for k in 0..3u8 {
            ctx.job_results
                .push_back(Ok(vec![vec![k; 3], vec![10 + k; 2]]));
        }
        ctx.job_results.push_back(Ok(vec![b"mp4".to_vec()]));
        ctx
    }

    #[test]
    fn jobs_per_segment_then_one_mux() {
        let mut ctx = seventy_seconds();
        let v = drake_sdk::run_json::<VideoReverse>(
            &mut ctx,
            r#"{"url": "http://x/v.mp4", "audio_codec": "mp3", "sample_rate": 22050}"#,
        )
        .unwrap();
        assert_eq!(v["duration"], 70.0);
        assert_eq!(ctx.jobs.len(), 4);
        let first = &ctx.jobs[0];
        assert_eq!(first.inputs[0], opts([("ss", "40.000"), ("t", "30.000")]));
        let g = first.filter_complex.as_deref().unwrap();
        assert!(g.contains("reverse[v]") && g.contains("areverse"), "{g}");
        assert!(
            g.contains("channel_layouts=mono") && g.contains("whole_len=661500"),
            "{g}"
        );
        assert!(first.outputs[0].contains(&("output_ts_offset".into(), "1.000".into())));
        assert!(ctx.jobs[1].outputs[0].contains(&("output_ts_offset".into(), "31.000".into())));
        let last = &ctx.jobs[3];
        assert_eq!(
            last.inputs[1],
            opts([("f", "s16le"), ("ar", "22050"), ("ac", "1")])
        );
        assert!(last.outputs[0].contains(&("c:v".into(), "copy".into())));
        assert!(last.outputs[0].contains(&("c:a".into(), "libmp3lame".into())));
        assert_eq!(ctx.published["output"].extension, "mp4");
        assert!(!first.outputs[0].iter().any(|(k, _)| k == "bf"));

        // Segments bound for ASF go without B-frames, as ASF needs.
        let mut ctx = seventy_seconds();
        drake_sdk::run_json::<VideoReverse>(
            &mut ctx,
            r#"{"url": "http://x/v.mp4", "audio_codec": "wmav2", "sample_rate": 44100}"#,
        )
        .unwrap();
        for segment in &ctx.jobs[..3] {
            assert!(segment.outputs[0].contains(&("bf".into(), "0".into())));
            assert!(segment.outputs[0].contains(&("f".into(), "mpegts".into())));
        }
        assert_eq!(ctx.published["output"].extension, "asf");
    }

    #[test]
    fn vp9_segments_are_a_mezzanine_encoded_once_at_the_end() {
        let mut ctx = seventy_seconds();
        drake_sdk::run_json::<VideoReverse>(
            &mut ctx,
            r#"{"url": "http://x/v.mp4", "video_codec": "vp9"}"#,
        )
        .unwrap();
        let has =
            |o: &[(String, String)], k: &str, v: &str| o.iter().any(|(a, b)| a == k && b == v);
        for segment in &ctx.jobs[..3] {
            let o = &segment.outputs[0];
            assert!(has(o, "c:v", "libx264") && has(o, "crf", "16") && has(o, "f", "mpegts"));
        }
        let last = &ctx.jobs[3];
        let o = &last.outputs[0];
        assert!(
            has(o, "c:v", "libvpx-vp9") && has(o, "b:v", "512k"),
            "{o:?}"
        );
        assert!(has(o, "c:a", "libopus") && has(o, "f", "webm"), "{o:?}");
        assert_eq!(ctx.published["output"].extension, "webm");

        // HEVC goes in MPEG-TS: copied, then tagged for MP4.
        let mut ctx = seventy_seconds();
        drake_sdk::run_json::<VideoReverse>(
            &mut ctx,
            r#"{"url": "http://x/v.mp4", "video_codec": "hevc"}"#,
        )
        .unwrap();
        let o = &ctx.jobs[0].outputs[0];
        assert!(has(o, "c:v", "libx265") && !o.iter().any(|(k, _)| k == "tag:v"));
        let o = &ctx.jobs[3].outputs[0];
        assert!(has(o, "c:v", "copy") && has(o, "tag:v", "hvc1") && has(o, "f", "mp4"));
    }

    /// Frames drop as in `video.convert`: VP9 at most 30 fps (50 → 25),
    /// H.264 at the source's rate unless `frame_rate` asks for less.
    #[test]
    fn frame_rates_follow_the_codec_or_the_parameter() {
        let graph = |params: &str| {
            let mut ctx = seventy_seconds();
            for info in ctx.probe_queue.iter_mut() {
                info.streams[0].frame_rate = 50.0;
            }
            drake_sdk::run_json::<VideoReverse>(
                &mut ctx,
                &format!(r#"{{"url": "http://x/v.mp4"{params}}}"#),
            )
            .unwrap();
            ctx.jobs[0].filter_complex.clone().unwrap()
        };
        let g = graph(r#", "video_codec": "vp9""#);
        assert!(g.starts_with("[0:v]fps=fps=25[rated];[rated]scale"), "{g}");
        let g = graph("");
        assert!(g.starts_with("[0:v]scale"), "{g}");
        let g = graph(r#", "frame_rate": 10"#);
        assert!(g.starts_with("[0:v]fps=fps=10[rated];"), "{g}");
    }
}
