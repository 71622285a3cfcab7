//! Adaptive streaming: `format: "hls"` and `format: "dash"` make a ladder
//! of renditions in one ffmpeg run — one fragmented MP4 per rendition,
//! every one cut at the same keyframes, and the audio apart — which the
//! task then cuts into segments ([`crate::fmp4`]) and describes in an HLS
//! master playlist or a DASH manifest of its own writing.
//!
//! With `segment_format: ts` (HLS), each rendition is one MPEG-TS file
//! with its audio, cut at its keyframes ([`crate::ts`]).
//!
//! Storage: the manifest is the `output` file (`output.m3u8`,
//! `output.mpd`); media playlists and segments are its parts, at
//! `output/<rendition>.m3u8`, `output/<rendition>/init.mp4`,
//! `output/<rendition>/<n>.m4s` (or `<n>.ts`), referred to relatively.

use std::fmt::Write as _;

use drake_sdk::media::{
    AudioCodec, Burn, Job, JobInput, MP4, Output, Rate, StreamInfo, VideoCodec, audio_options,
    frame_rate_within, opts,
};
use drake_sdk::{Ctx, Input, TaskError, Values};
use serde::Deserialize;

use crate::fmp4::{self, Fmp4};

/// What `video.convert` writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One file (dragon's output).
    #[default]
    File,
    /// An HLS ladder (H.264 + AAC): `output.m3u8`, the master playlist.
    Hls,
    /// A DASH ladder (H.264 + AAC, VP9 or AV1 + Opus): `output.mpd`.
    Dash,
}

/// How a ladder's segments are stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SegmentFormat {
    /// Fragmented MP4 (CMAF): what HLS (since iOS 10) and DASH players
    /// read.
    #[default]
    Fmp4,
    /// MPEG-TS (HLS only).
    Ts,
}

/// Short sides of the ladder's rungs, each kept when the source is at
/// least that large: phone-sized, SD, HD and Full HD (never upscaled).
const SHORT_SIDES: [u32; 4] = [240, 360, 720, 1080];

/// Longest side of a rendition: 4K UHD's width. A panorama's rungs shrink
/// to fit (every H.264 level above 5.1 and every player takes it).
const MAX_LONG_SIDE: u32 = 3840;

/// H.264 bitrate of a 720p30 rendition, in kbit/s; other sizes scale by
/// pixels^0.75 (240p 480, 360p 880, 1080p 4590): per-pixel cost falls as
/// pictures grow. Keeps each rendition's SSIM ≥ 0.95 against the scaled
/// source on real footage (bench `ladder`, tests).
const KBPS_720P: f64 = 2500.0;

/// One rendition.
#[derive(Debug, Clone, PartialEq)]
pub struct Rung {
    /// `360p`: the short side (what `p` means on a landscape picture).
    pub name: String,
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Video bitrate, kbit/s.
    pub kbps: u32,
}

/// A ladder's fastest rate: what players and phones show; faster sources
/// (slow-motion clips) are divided evenly down to it.
const LADDER_MAX_FPS: f64 = 60.0;

/// The constant rate a ladder of `codec` runs at for a source of `fps`
/// (average; phones record variable rates): at most 60 — and at most the
/// codec's own limit (VP9, AV1, HEVC: 30) — a faster source divided evenly
/// as every output's limit is ([`frame_rate_within`]: a 240 fps
/// slow-motion clip plays at 60, 150 at 50); 25 when unknown.
pub fn ladder_rate(fps: f64, codec: VideoCodec) -> Rate {
    let max = codec.max_frame_rate().unwrap_or(LADDER_MAX_FPS);
    if fps.is_finite() && fps > 0.0 {
        Rate::of(frame_rate_within(fps, max.min(LADDER_MAX_FPS)))
    } else {
        Rate::whole(25)
    }
}

/// `x` rounded to even, at least 2.
fn even(x: f64) -> u32 {
    ((x / 2.0).round() as u32 * 2).max(2)
}

/// The ladder for a source shown at `width` × `height` and `rate`: every
/// rung of [`SHORT_SIDES`] the source reaches, plus the source's own size
/// when it lies between two rungs (a 540p source gets 240p, 360p and
/// 540p); a source below 240p is its own single rung.
pub fn rungs(width: u32, height: u32, codec: VideoCodec, rate: Rate) -> Vec<Rung> {
    let short = width.min(height);
    let mut sides: Vec<u32> = SHORT_SIDES
        .iter()
        .copied()
        .filter(|s| *s <= short)
        .collect();
    let top = sides.last().copied().unwrap_or(0);
    if short > top && short < SHORT_SIDES[SHORT_SIDES.len() - 1] {
        sides.push(short & !1);
    }
    // AV1 and HEVC reach H.264's quality at these fractions of its rate;
    // a 60 fps rendition takes half again.
    let factor = match codec {
        // libvpx's real-time mode is weaker than x264 at small sizes: at
        // 0.7 a 240p rendition fell to SSIM 0.949, at 0.85 it measured
        // 0.950–0.955 from run to run (bench `codecs`); at H.264's rate
        // it keeps the 0.95 floor with room.
        VideoCodec::Vp9 => 1.0,
        VideoCodec::Hevc => 0.7,
        VideoCodec::Av1 => 0.6,
        VideoCodec::H264 | VideoCodec::Mpeg4 => 1.0,
    } * if rate.fps() > 31.0 { 1.5 } else { 1.0 };
    let (w, h) = (f64::from(width.max(1)), f64::from(height.max(1)));
    sides
        .into_iter()
        .map(|side| {
            let s = f64::from(side) / w.min(h);
            let fit = (f64::from(MAX_LONG_SIDE) / (w.max(h) * s)).min(1.0);
            let (rw, rh) = (even(w * s * fit), even(h * s * fit));
            let pixels = f64::from(rw) * f64::from(rh);
            let kbps = KBPS_720P * (pixels / (1280.0 * 720.0)).powf(0.75) * factor;
            Rung {
                name: format!("{side}p"),
                width: rw,
                height: rh,
                kbps: ((kbps / 10.0).round() as u32 * 10).max(50),
            }
        })
        .collect()
}

/// The parameters a ladder is made from.
pub struct Request {
    /// HLS or DASH.
    pub format: Format,
    /// Codecs (the container is always fragmented MP4).
    pub output: Output,
    /// Seconds per segment.
    pub segment_seconds: u32,
    /// fMP4, or MPEG-TS (HLS only).
    pub segments: SegmentFormat,
    /// Audio bitrate, kbit/s.
    pub audio_kbps: u32,
    /// Audio sample rate.
    pub sample_rate: u32,
    /// Captions burned into the source frame before it is scaled (input
    /// pad `src`, output `cap`).
    pub captions: Option<Burn>,
    /// A WebVTT subtitle track for the players.
    pub subtitles: Option<String>,
}

/// Refuses the codecs a ladder cannot carry, naming the parameter.
pub fn check_codecs(format: Format, output: &Output) -> Result<(), TaskError> {
    let video_ok = match format {
        Format::Hls => output.video == VideoCodec::H264,
        _ => matches!(
            output.video,
            VideoCodec::H264 | VideoCodec::Vp9 | VideoCodec::Av1
        ),
    };
    if !video_ok {
        return Err(TaskError::parameter(
            "video_codec",
            match format {
                Format::Hls => {
                    "HLS ladders are H.264 (what every HLS player decodes); \
                                VP9 and AV1 ladders are DASH (format \"dash\")"
                }
                _ => "DASH ladders are H.264, VP9 or AV1",
            },
        ));
    }
    let audio_ok = match format {
        Format::Hls => output.audio == AudioCodec::Aac,
        _ => matches!(output.audio, AudioCodec::Aac | AudioCodec::Opus),
    };
    if !audio_ok {
        return Err(TaskError::parameter(
            "audio_codec",
            match format {
                Format::Hls => "HLS ladders carry AAC audio",
                _ => "DASH ladders carry AAC or Opus audio",
            },
        ));
    }
    Ok(())
}

/// What a ladder run needs from the probe.
pub struct Source<'a> {
    /// The fetched video.
    pub media: &'a dyn Input,
    /// Its video stream.
    pub video: &'a StreamInfo,
    /// Its first audio stream.
    pub audio: Option<&'a StreamInfo>,
    /// Seconds (for progress).
    pub duration: f64,
}

/// A rendition's stream made and cut.
struct Made {
    /// Directory and playlist name (`360p`, `audio`).
    name: String,
    /// The segments (an empty `init` for MPEG-TS, which has none).
    cut: Fmp4,
    /// Segment file extension: `m4s` or `ts`.
    extension: &'static str,
    /// Average and peak (per segment) bits per second.
    average: u64,
    peak: u64,
}

/// Encode, cut and publish the ladder; the output values describe it.
pub fn run(ctx: &mut dyn Ctx, req: &Request, src: &Source<'_>) -> Result<Values, TaskError> {
    let (width, height) = src.video.display_size();
    let rate = ladder_rate(src.video.frame_rate, req.output.video);
    let ladder = rungs(width, height, req.output.video, rate);
    for rung in &ladder {
        req.output.check_size((rung.width, rung.height), false)?;
    }
    let separate_audio = src.audio.filter(|_| req.segments == SegmentFormat::Fmp4);
    let files = encode(ctx, req, src, &ladder, rate)?;

    let names = ladder
        .iter()
        .map(|r| r.name.clone())
        .chain(separate_audio.map(|_| "audio".to_owned()));
    let streams = files.len();
    let frame_ticks = (90_000.0 / rate.fps()).round() as u64;
    let mut made = Vec::new();
    for (i, (name, file)) in names.zip(&files).enumerate() {
        let stream = match req.segments {
            SegmentFormat::Fmp4 => fmp4::parse(file.as_ref()),
            SegmentFormat::Ts => cut_ts(file.as_ref(), frame_ticks, src.audio.is_some()),
        }
        .map_err(|e| TaskError::Failed(format!("cutting the {name} rendition: {e}")))?;
        made.push(publish_stream(
            ctx,
            &name,
            file.as_ref(),
            stream,
            req.segments,
        )?);
        ctx.progress(90 + (9 * (i + 1) / streams.max(1)) as u8);
    }
    let (videos, audio) = made.split_at(ladder.len());
    let audio = audio.first();
    if videos.iter().any(|v| v.cut.segments.is_empty()) {
        return Err(TaskError::InvalidInput(
            "no frame of the video could be decoded".into(),
        ));
    }

    let duration = videos[0].cut.duration();
    let subtitles = req.subtitles.is_some();
    if let Some(vtt) = &req.subtitles {
        // TS segments keep ffmpeg's 1.4 s PTS offset: HLS maps the cues
        // onto it; fMP4 timelines start at zero.
        let vtt = match (req.format, req.segments, videos[0].cut.segments.first()) {
            (Format::Hls, SegmentFormat::Ts, Some(first)) => vtt.replacen(
                "WEBVTT\n",
                &format!(
                    "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:{},LOCAL:00:00:00.000\n",
                    first.start
                ),
                1,
            ),
            _ => vtt.clone(),
        };
        ctx.publish_part("output", SUBTITLES_VTT, vtt.as_bytes())?;
    }
    let (manifest, content_type, extension) = match req.format {
        Format::Hls => {
            if subtitles {
                ctx.publish_part(
                    "output",
                    "subtitles.m3u8",
                    subtitle_playlist(duration).as_bytes(),
                )?;
            }
            for stream in &made {
                let playlist = media_playlist(stream);
                ctx.publish_part(
                    "output",
                    &format!("{}.m3u8", stream.name),
                    playlist.as_bytes(),
                )?;
            }
            (
                master_playlist(&ladder, videos, audio, rate, src.audio, subtitles),
                "application/vnd.apple.mpegurl",
                "m3u8",
            )
        }
        _ => (
            mpd(&ladder, videos, audio, rate, req, src.audio, subtitles),
            "application/dash+xml",
            "mpd",
        ),
    };
    ctx.publish("output", manifest.as_bytes(), content_type, extension)?;

    let top = &ladder[ladder.len() - 1];
    let renditions: Vec<serde_json::Value> = ladder
        .iter()
        .zip(videos)
        .map(|(rung, v)| {
            serde_json::json!({
                "name": rung.name,
                "width": rung.width,
                "height": rung.height,
                "bitrate": v.average,
                "peak_bitrate": v.peak,
                "codecs": v.cut.codec,
                "segments": v.cut.segments.len(),
            })
        })
        .collect();
    Ok(drake_sdk::values([
        ("content_type", content_type.into()),
        ("width", top.width.into()),
        ("height", top.height.into()),
        ("original_width", width.into()),
        ("original_height", height.into()),
        ("duration", drake_sdk::media::centis(duration).into()),
        (
            "frame_rate",
            drake_sdk::media::rate_value(rate.fps()).into(),
        ),
        (
            "audio_codec",
            src.audio
                .map(|_| serde_json::Value::from(req.output.audio.name()))
                .unwrap_or_default(),
        ),
        ("video_codec", req.output.video.name().into()),
        ("alpha", false.into()),
        ("rotation", src.video.rotation.into()),
        ("renditions", renditions.into()),
    ]))
}

/// Encode the ladder: one file per rendition, in order, then the audio
/// rendition's when it is separate (fMP4 with a source audio stream).
fn encode(
    ctx: &mut dyn Ctx,
    req: &Request,
    src: &Source<'_>,
    ladder: &[Rung],
    rate: Rate,
) -> Result<Vec<Box<dyn Input>>, TaskError> {
    let gop = ((f64::from(req.segment_seconds) * rate.fps()).round() as u32).max(1);

    let gop_text = gop.to_string();
    let mut outputs = Vec::new();
    for (i, rung) in ladder.iter().enumerate() {
        let mut o = opts([("map", &format!("[v{i}]"))]);
        o.extend(
            req.output
                .video
                .options(rung.kbps, MP4, (rung.width, rung.height), rate.fps()),
        );
        // A keyframe every segment and nowhere else, in every rendition:
        // segments start at the same instants whatever the size.
        o.extend(opts([
            ("g", &gop_text),
            ("keyint_min", &gop_text),
            ("sc_threshold", "0"),
        ]));
        match (req.segments, src.audio) {
            // MPEG-TS segments carry their audio (HLS's classic layout).
            (SegmentFormat::Ts, audio) => {
                if let Some(a) = audio {
                    o.extend(opts([("map", "0:a:0")]));
                    o.extend(audio_options(
                        req.output.audio,
                        req.audio_kbps,
                        req.sample_rate,
                        a.channels,
                    ));
                } else {
                    o.extend(opts([("an", "")]));
                }
                o.extend(opts([("f", "mpegts")]));
            }
            (SegmentFormat::Fmp4, _) => o.extend(opts([
                ("an", ""),
                ("f", "mp4"),
                // `delay_moov`: the `moov` is written with the first
                // fragment, so it carries the edit list that starts the
                // picture at 0 despite B-frame delay (and AAC's priming).
                ("movflags", "+frag_keyframe+delay_moov+default_base_moof"),
            ])),
        }
        outputs.push(o);
    }
    let separate_audio = src.audio.filter(|_| req.segments == SegmentFormat::Fmp4);
    let audio_output = separate_audio.map(|a| {
        let mut o = opts([("map", "0:a:0"), ("vn", "")]);
        o.extend(audio_options(
            req.output.audio,
            req.audio_kbps,
            req.sample_rate,
            a.channels,
        ));
        o.extend(opts([
            ("f", "mp4"),
            ("movflags", "+delay_moov+default_base_moof"),
            (
                "frag_duration",
                &(u64::from(req.segment_seconds) * 1_000_000).to_string(),
            ),
        ]));
        o
    });

    // One run decodes once for every rendition. SVT-AV1 is the exception:
    // each encoder reserves over 2 GiB of address space (its thread pools),
    // so three in one ffmpeg exceed the job's cap; AV1 renditions go one
    // job each (decoding again is cheap next to AV1 encoding).
    let groups: Vec<Vec<usize>> = if req.output.video == VideoCodec::Av1 {
        (0..ladder.len()).map(|i| vec![i]).collect()
    } else {
        vec![(0..ladder.len()).collect()]
    };
    let mut files: Vec<Option<Box<dyn Input>>> = (0..ladder.len()).map(|_| None).collect();
    let mut audio_file = None;
    let jobs = groups.len();
    for (j, group) in groups.iter().enumerate() {
        // Burned captions are drawn once, on the source frame, and scale
        // with it.
        let mut graph = format!("[0:v]fps=fps={},format=yuv420p", rate.text());
        if req.captions.is_some() {
            graph.push_str("[src];[cap]");
        } else {
            graph.push(',');
        }
        let _ = write!(graph, "split={}", group.len());
        for i in group {
            let _ = write!(graph, "[s{i}]");
        }
        for &i in group {
            let _ = write!(
                graph,
                ";[s{i}]scale={}:{}:flags=lanczos,setsar=1[v{i}]",
                ladder[i].width, ladder[i].height
            );
        }
        let mut job_outputs: Vec<_> = group.iter().map(|&i| outputs[i].clone()).collect();
        let with_audio = j == 0 && audio_output.is_some();
        if let Some(a) = audio_output.as_ref().filter(|_| with_audio) {
            job_outputs.push(a.clone());
        }
        let span = |k: usize| (90 * k / jobs) as u8;
        let job = Job {
            inputs: vec![JobInput {
                media: src.media,
                options: Vec::new(),
            }],
            filter_complex: Some(graph),
            outputs: job_outputs,
            progress_duration: (src.duration > 0.0).then_some(src.duration),
            progress_span: (span(j), span(j + 1)),
            captions: req.captions.clone(),
        };
        let done = ctx
            .ffmpeg_run(job)
            .map_err(drake_sdk::FfmpegError::into_task_error)?;
        if done.frames == 0 {
            return Err(TaskError::InvalidInput(
                "no frame of the video could be decoded".into(),
            ));
        }
        let mut made = done.outputs.into_iter();
        for &i in group {
            files[i] = made.next();
        }
        if with_audio {
            audio_file = made.next();
        }
    }
    files
        .into_iter()
        .chain(separate_audio.map(|_| audio_file.take()))
        .map(|f| f.ok_or_else(|| TaskError::Failed("ffmpeg wrote fewer files than asked".into())))
        .collect()
}

/// Bytes `range` of `file`, read from the host in slices.
fn read_range(file: &dyn Input, range: std::ops::Range<u64>) -> Result<Vec<u8>, TaskError> {
    // The host's largest slice is 16 MiB; 8 keeps the guest buffer small.
    const SLICE: u64 = 8 << 20;
    let mut out = Vec::with_capacity(usize::try_from(range.end - range.start).unwrap_or(0));
    let mut at = range.start;
    while at < range.end {
        let chunk = file.read(at, (range.end - at).min(SLICE) as u32);
        if chunk.is_empty() {
            return Err(TaskError::Failed("an encoded rendition ended early".into()));
        }
        at += chunk.len() as u64;
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// An MPEG-TS rendition cut at its keyframes, as an [`Fmp4`] without an
/// init segment (90 kHz ticks; the codecs include the muxed audio).
fn cut_ts(file: &dyn Input, frame_ticks: u64, audio: bool) -> Result<Fmp4, String> {
    let cut = crate::ts::cut(file, frame_ticks)?;
    let video = cut.codec.ok_or("no H.264 sequence parameter set")?;
    Ok(Fmp4 {
        init: 0..0,
        timescale: 90_000,
        codec: if audio {
            format!("{video},mp4a.40.2")
        } else {
            video
        },
        segments: cut.segments,
    })
}

/// Publish a cut stream's init segment (fMP4) and segments under
/// `output/<name>/`.
fn publish_stream(
    ctx: &mut dyn Ctx,
    name: &str,
    file: &dyn Input,
    cut: Fmp4,
    format: SegmentFormat,
) -> Result<Made, TaskError> {
    let extension = match format {
        SegmentFormat::Fmp4 => "m4s",
        SegmentFormat::Ts => "ts",
    };
    if !cut.init.is_empty() {
        let init = read_range(file, cut.init.clone())?;
        ctx.publish_part("output", &format!("{name}/init.mp4"), &init)?;
    }
    let (mut bytes, mut peak) = (0u64, 0u64);
    for (i, segment) in cut.segments.iter().enumerate() {
        let data = read_range(file, segment.bytes.clone())?;
        ctx.publish_part("output", &format!("{name}/{}.{extension}", i + 1), &data)?;
        let bits = data.len() as u64 * 8;
        bytes += data.len() as u64;
        // A last segment of a few frames would claim a huge rate: at
        // least a tenth of a second.
        let seconds = cut.seconds(segment.duration).max(0.1);
        peak = peak.max((bits as f64 / seconds) as u64);
    }
    let seconds = cut.duration().max(0.1);
    Ok(Made {
        name: name.to_owned(),
        extension,
        average: ((bytes * 8) as f64 / seconds) as u64,
        peak,
        cut,
    })
}

/// An HLS media playlist (`output/<name>.m3u8`).
fn media_playlist(stream: &Made) -> String {
    let cut = &stream.cut;
    let target = cut
        .segments
        .iter()
        .map(|s| cut.seconds(s.duration).round() as u64)
        .max()
        .unwrap_or(1)
        .max(1);
    let mut m = format!(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:1\n\
         #EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n"
    );
    if !cut.init.is_empty() {
        let _ = writeln!(m, "#EXT-X-MAP:URI=\"{}/init.mp4\"", stream.name);
    }
    for (i, s) in cut.segments.iter().enumerate() {
        let _ = write!(
            m,
            "#EXTINF:{:.6},\n{}/{}.{}\n",
            cut.seconds(s.duration),
            stream.name,
            i + 1,
            stream.extension
        );
    }
    m.push_str("#EXT-X-ENDLIST\n");
    m
}

/// The subtitle track's one file, beside the renditions.
const SUBTITLES_VTT: &str = "subtitles.vtt";

/// The subtitle track's media playlist: the whole WebVTT file as one
/// segment (a sidecar is small; players fetch it once).
fn subtitle_playlist(duration: f64) -> String {
    format!(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:1\n\
         #EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:{duration:.6},\n{SUBTITLES_VTT}\n#EXT-X-ENDLIST\n",
        duration.ceil().max(1.0) as u64
    )
}

/// The HLS master playlist (`output.m3u8`): one variant per rendition,
/// lowest first, sharing one audio rendition and the subtitle track.
fn master_playlist(
    ladder: &[Rung],
    videos: &[Made],
    audio: Option<&Made>,
    rate: Rate,
    source_audio: Option<&StreamInfo>,
    subtitles: bool,
) -> String {
    let mut m = String::from("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    if subtitles {
        m.push_str(
            "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"captions\",DEFAULT=YES,\
             AUTOSELECT=YES,URI=\"output/subtitles.m3u8\"\n",
        );
    }
    if let (Some(a), Some(s)) = (audio, source_audio) {
        let _ = writeln!(
            m,
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio\",DEFAULT=YES,\
             AUTOSELECT=YES,CHANNELS=\"{}\",URI=\"output/{}.m3u8\"",
            if s.channels == 1 { 1 } else { 2 },
            a.name
        );
    }
    for (rung, v) in ladder.iter().zip(videos) {
        let (peak, average, codecs) = match audio {
            Some(a) => (
                v.peak + a.peak,
                v.average + a.average,
                format!("{},{}", v.cut.codec, a.cut.codec),
            ),
            None => (v.peak, v.average, v.cut.codec.clone()),
        };
        let _ = write!(
            m,
            "#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={average},CODECS=\"{codecs}\",\
             RESOLUTION={}x{},FRAME-RATE={:.3}",
            rung.width,
            rung.height,
            rate.fps()
        );
        if audio.is_some() {
            m.push_str(",AUDIO=\"audio\"");
        }
        if subtitles {
            m.push_str(",SUBTITLES=\"subs\"");
        }
        let _ = write!(m, "\noutput/{}.m3u8\n", v.name);
    }
    m
}

/// A DASH `SegmentTemplate` with its timeline (equal durations run
/// together).
fn segment_template(stream: &Made) -> String {
    let cut = &stream.cut;
    let mut t = format!(
        "<SegmentTemplate timescale=\"{}\" initialization=\"output/{n}/init.mp4\" \
         media=\"output/{n}/$Number$.m4s\" startNumber=\"1\"><SegmentTimeline>",
        cut.timescale,
        n = stream.name
    );
    let mut next: Option<u64> = None;
    let mut runs: Vec<(u64, u64, u32)> = Vec::new();
    for s in &cut.segments {
        match runs.last_mut() {
            Some((_, d, r)) if *d == s.duration && next == Some(s.start) => *r += 1,
            _ => runs.push((s.start, s.duration, 0)),
        }
        next = Some(s.start + s.duration);
    }
    let mut expected: Option<u64> = None;
    for (start, d, r) in runs {
        t.push_str("<S");
        if expected != Some(start) {
            let _ = write!(t, " t=\"{start}\"");
        }
        let _ = write!(t, " d=\"{d}\"");
        if r > 0 {
            let _ = write!(t, " r=\"{r}\"");
        }
        t.push_str("/>");
        expected = Some(start + d * (u64::from(r) + 1));
    }
    t.push_str("</SegmentTimeline></SegmentTemplate>");
    t
}

/// The DASH manifest (`output.mpd`, static, live profile's templates):
/// one video adaptation set with every rendition, one audio set.
fn mpd(
    ladder: &[Rung],
    videos: &[Made],
    audio: Option<&Made>,
    rate: Rate,
    req: &Request,
    source_audio: Option<&StreamInfo>,
    subtitles: bool,
) -> String {
    let duration = videos[0].cut.duration();
    let mut m = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" type=\"static\" \
         profiles=\"urn:mpeg:dash:profile:isoff-live:2011\" \
         mediaPresentationDuration=\"PT{duration:.3}S\" minBufferTime=\"PT{}S\">\n\
         <Period id=\"0\" start=\"PT0S\">\n\
         <AdaptationSet id=\"0\" contentType=\"video\" mimeType=\"video/mp4\" \
         segmentAlignment=\"true\" startWithSAP=\"1\" frameRate=\"{}\">\n",
        req.segment_seconds,
        rate.text()
    );
    for (rung, v) in ladder.iter().zip(videos) {
        let _ = writeln!(
            m,
            "<Representation id=\"{}\" bandwidth=\"{}\" codecs=\"{}\" width=\"{}\" height=\"{}\" \
             sar=\"1:1\">{}</Representation>",
            v.name,
            v.peak,
            v.cut.codec,
            rung.width,
            rung.height,
            segment_template(v)
        );
    }
    m.push_str("</AdaptationSet>\n");
    if let (Some(a), Some(s)) = (audio, source_audio) {
        let _ = write!(
            m,
            "<AdaptationSet id=\"1\" contentType=\"audio\" mimeType=\"audio/mp4\" lang=\"und\" \
             segmentAlignment=\"true\" startWithSAP=\"1\">\n\
             <Representation id=\"{}\" bandwidth=\"{}\" codecs=\"{}\" audioSamplingRate=\"{}\">\
             <AudioChannelConfiguration \
             schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" value=\"{}\"/>\
             {}</Representation>\n</AdaptationSet>\n",
            a.name,
            a.peak,
            a.cut.codec,
            req.sample_rate,
            if s.channels == 1 { 1 } else { 2 },
            segment_template(a)
        );
    }
    if subtitles {
        let _ = write!(
            m,
            "<AdaptationSet id=\"2\" contentType=\"text\" mimeType=\"text/vtt\" lang=\"und\">\n\
             <Role schemeIdUri=\"urn:mpeg:dash:role:2011\" value=\"subtitle\"/>\n\
             <Representation id=\"subtitles\" bandwidth=\"256\">\
             <BaseURL>output/{SUBTITLES_VTT}</BaseURL></Representation>\n</AdaptationSet>\n"
        );
    }
    m.push_str("</Period>\n</MPD>\n");
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rungs_never_upscale_and_follow_the_shape() {
        let r25 = ladder_rate(25.0, VideoCodec::H264);
        let names = |l: &[Rung]| l.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
        let hd = rungs(1920, 1080, VideoCodec::H264, r25);
        assert_eq!(names(&hd), ["240p", "360p", "720p", "1080p"]);
        assert_eq!((hd[0].width, hd[0].height), (426, 240));
        assert_eq!((hd[3].width, hd[3].height, hd[3].kbps), (1920, 1080, 4590));
        assert_eq!(hd[2].kbps, 2500);
        // Portrait: the short side is the width.
        let phone = rungs(720, 1280, VideoCodec::H264, r25);
        assert_eq!(names(&phone), ["240p", "360p", "720p"]);
        assert_eq!((phone[1].width, phone[1].height), (360, 640));
        // Between rungs: the source's own size on top.
        let qhd = rungs(960, 540, VideoCodec::Vp9, r25);
        assert_eq!(names(&qhd), ["240p", "360p", "540p"]);
        assert_eq!((qhd[2].width, qhd[2].height), (960, 540));
        // Below the first rung: one rendition at the source's size.
        let tiny = rungs(320, 180, VideoCodec::H264, r25);
        assert_eq!(names(&tiny), ["180p"]);
        assert_eq!((tiny[0].width, tiny[0].height), (320, 180));
        // A panorama fits 3840 px.
        let wide = rungs(16_000, 1200, VideoCodec::H264, r25);
        assert!(wide.iter().all(|r| r.width <= 3840 && r.width % 2 == 0));
        // Codec and rate factors.
        let av1 = rungs(1280, 720, VideoCodec::Av1, Rate::of(59.94));
        assert_eq!(av1[2].kbps, 2250);
        let vp9 = rungs(1280, 720, VideoCodec::Vp9, r25);
        assert_eq!(vp9[0].kbps, 480);
    }

    #[test]
    fn rates() {
        assert_eq!(ladder_rate(29.97, VideoCodec::H264).text(), "30000/1001");
        assert_eq!(
            ladder_rate(23.976_02, VideoCodec::H264).text(),
            "24000/1001"
        );
        assert_eq!(ladder_rate(25.0, VideoCodec::H264).text(), "25");
        assert_eq!(ladder_rate(240.0, VideoCodec::H264).text(), "60");
        assert_eq!(ladder_rate(150.0, VideoCodec::H264).text(), "50");
        assert_eq!(ladder_rate(119.88, VideoCodec::H264).text(), "60000/1001");
        assert_eq!(ladder_rate(59.94, VideoCodec::Vp9).text(), "30000/1001");
        assert_eq!(ladder_rate(50.0, VideoCodec::Av1).text(), "25");
        assert_eq!(ladder_rate(0.0, VideoCodec::H264).text(), "25");
        assert_eq!(ladder_rate(12.5, VideoCodec::H264).text(), "25/2");
    }

    fn made(name: &str, durations: &[u64]) -> Made {
        let mut start = 0;
        let segments = durations
            .iter()
            .map(|d| {
                let s = fmp4::Segment {
                    bytes: 0..1,
                    start,
                    duration: *d,
                };
                start += d;
                s
            })
            .collect();
        Made {
            name: name.into(),
            extension: "m4s",
            cut: Fmp4 {
                init: 0..1,
                timescale: 1000,
                codec: "avc1.64001e".into(),
                segments,
            },
            average: 800_000,
            peak: 900_000,
        }
    }

    #[test]
    fn playlists_and_timelines() {
        let v = made("360p", &[4000, 4000, 4000, 1500]);
        let p = media_playlist(&v);
        assert!(p.starts_with("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n"));
        assert!(p.contains("#EXT-X-MAP:URI=\"360p/init.mp4\"\n#EXTINF:4.000000,\n360p/1.m4s\n"));
        assert!(p.ends_with("#EXTINF:1.500000,\n360p/4.m4s\n#EXT-X-ENDLIST\n"));
        assert_eq!(
            segment_template(&v),
            "<SegmentTemplate timescale=\"1000\" initialization=\"output/360p/init.mp4\" \
             media=\"output/360p/$Number$.m4s\" startNumber=\"1\"><SegmentTimeline>\
             <S t=\"0\" d=\"4000\" r=\"2\"/><S d=\"1500\"/></SegmentTimeline></SegmentTemplate>"
        );
        let rung = Rung {
            name: "360p".into(),
            width: 640,
            height: 360,
            kbps: 880,
        };
        let audio = StreamInfo {
            channels: 6,
            ..StreamInfo::default()
        };
        let a = made("audio", &[4000, 4000, 4000, 1500]);
        let master = master_playlist(
            &[rung],
            &[v],
            Some(&a),
            ladder_rate(25.0, VideoCodec::H264),
            Some(&audio),
            true,
        );
        assert!(master.contains("CHANNELS=\"2\",URI=\"output/audio.m3u8\""));
        assert!(master.contains(
            "#EXT-X-STREAM-INF:BANDWIDTH=1800000,AVERAGE-BANDWIDTH=1600000,\
             CODECS=\"avc1.64001e,avc1.64001e\",RESOLUTION=640x360,FRAME-RATE=25.000,\
             AUDIO=\"audio\",SUBTITLES=\"subs\"\noutput/360p.m3u8\n"
        ));
        assert!(master.contains(
            "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"captions\",DEFAULT=YES,\
             AUTOSELECT=YES,URI=\"output/subtitles.m3u8\"\n"
        ));
        assert_eq!(
            subtitle_playlist(12.2),
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:13\n#EXT-X-MEDIA-SEQUENCE:1\n\
             #EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:12.200000,\nsubtitles.vtt\n#EXT-X-ENDLIST\n"
        );
    }
}
