//! Media work through the host's ffmpeg capability: plain-data copies of
//! the WIT `ffmpeg` types, so task code and its native tests never touch
//! the generated bindings.

use crate::{Input, TaskError};

/// One stream of a probed file (zero/empty when not applicable).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamInfo {
    /// Stream index.
    pub index: u32,
    /// `video`, `audio`, `subtitle`, `data` or `attachment`.
    pub kind: String,
    /// Codec name.
    pub codec: String,
    /// Stored width.
    pub width: u32,
    /// Stored height.
    pub height: u32,
    /// Average frame rate.
    pub frame_rate: f64,
    /// Degrees counter-clockwise to view as shot: 0, 90, 180, 270.
    pub rotation: u32,
    /// Pixel format.
    pub pixel_format: String,
    /// The pixel format has alpha.
    pub alpha: bool,
    /// Audio sample rate.
    pub sample_rate: u32,
    /// Audio channels.
    pub channels: u32,
    /// Bits per second.
    pub bit_rate: u64,
    /// Seconds.
    pub duration: f64,
}

impl StreamInfo {
    /// Width and height as shot (swapped for 90/270 rotations).
    pub fn display_size(&self) -> (u32, u32) {
        if self.rotation % 180 == 90 {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }
}

/// A probed file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaInfo {
    /// Demuxer names.
    pub format: String,
    /// Seconds.
    pub duration: f64,
    /// Bits per second.
    pub bit_rate: u64,
    /// Every stream.
    pub streams: Vec<StreamInfo>,
}

impl MediaInfo {
    /// The first stream of `kind`.
    pub fn first(&self, kind: &str) -> Option<&StreamInfo> {
        self.streams.iter().find(|s| s.kind == kind)
    }
}

/// An ffmpeg input: media plus input options.
pub struct JobInput<'a> {
    /// The media.
    pub media: &'a dyn Input,
    /// Input options (`ss`, `t`, ...), without the dash.
    pub options: Vec<(String, String)>,
}

/// A whole ffmpeg run.
pub struct Job<'a> {
    /// Inputs, in `-i` order.
    pub inputs: Vec<JobInput<'a>>,
    /// A `-filter_complex` graph.
    pub filter_complex: Option<String>,
    /// One option list per output file (`f` = muxer).
    pub outputs: Vec<Vec<(String, String)>>,
    /// Seconds of media written (for progress).
    pub progress_duration: Option<f64>,
    /// The task progress range this job covers.
    pub progress_span: (u8, u8),
    /// Captions the host burns into the graph's video.
    pub captions: Option<Burn>,
}

/// One caption: shown from `start_ms` to `end_ms`; `\n` breaks lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptionCue {
    /// Shown from, in milliseconds of the output.
    pub start_ms: u32,
    /// Hidden at.
    pub end_ms: u32,
    /// Plain text (no markup).
    pub text: String,
}

/// The typefaces burned captions can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CaptionFont {
    /// DejaVu Sans.
    #[default]
    Sans,
    /// DejaVu Serif.
    Serif,
    /// DejaVu Sans Mono.
    Mono,
}

/// Where burned captions sit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CaptionPosition {
    /// Centred near the bottom edge.
    #[default]
    Bottom,
    /// Centred in the frame.
    Middle,
    /// Centred near the top edge.
    Top,
}

/// How burned captions look: lengths in pixels of the frame, colours
/// `0xRRGGBB`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptionStyle {
    /// Typeface.
    pub font: CaptionFont,
    /// Bold face.
    pub bold: bool,
    /// Font size.
    pub size: u32,
    /// Fill colour.
    pub color: u32,
    /// Outline colour.
    pub outline_color: u32,
    /// Outline width.
    pub outline: u32,
    /// Placement.
    pub position: CaptionPosition,
    /// Distance from the top or bottom edge.
    pub margin: u32,
}

/// Captions burned into a job's video: the host writes the script and
/// appends `[input]ass=…[output]` to the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Burn {
    /// The cues, in the output's time.
    pub cues: Vec<CaptionCue>,
    /// Their look.
    pub style: CaptionStyle,
    /// The frame size at `input`.
    pub width: u32,
    /// The frame height at `input`.
    pub height: u32,
    /// An unconnected video pad label of the graph.
    pub input: String,
    /// The captioned video's label.
    pub output: String,
}

/// What a finished job made.
pub struct JobResult {
    /// One per job output, in order (empty when ffmpeg wrote nothing).
    pub outputs: Vec<Box<dyn Input>>,
    /// Video frames written to the first video output.
    pub frames: u64,
    /// Seconds of media written.
    pub out_time: f64,
}

/// Option pairs from `&str` pairs.
pub fn opts<const N: usize>(pairs: [(&str, &str); N]) -> Vec<(String, String)> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Why an ffmpeg call failed (the WIT `ffmpeg-error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FfmpegError {
    /// Outside the host's allow-list: a bug in the task.
    InvalidJob(String),
    /// The input is not readable media.
    InvalidInput(String),
    /// A sandbox limit ended the job.
    Limit(String),
    /// Any other failure.
    Failed(String),
}

impl FfmpegError {
    /// The task error for this failure.
    pub fn into_task_error(self) -> TaskError {
        match self {
            FfmpegError::InvalidJob(m) => TaskError::Failed(format!("internal error: {m}")),
            FfmpegError::InvalidInput(m) => TaskError::InvalidInput(m),
            FfmpegError::Limit(m) => TaskError::Limit(m),
            FfmpegError::Failed(m) => TaskError::Failed(m),
        }
    }
}

impl std::fmt::Display for FfmpegError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FfmpegError::InvalidJob(m)
            | FfmpegError::InvalidInput(m)
            | FfmpegError::Limit(m)
            | FfmpegError::Failed(m) => f.write_str(m),
        }
    }
}

/// Fetch `url` (parameter `param`) and probe it: the first two steps of
/// every media task. Unreadable media is an input error naming the
/// parameter.
pub fn fetch_and_probe(
    ctx: &mut dyn crate::Ctx,
    param: &str,
    url: &str,
) -> Result<(Box<dyn Input>, MediaInfo), TaskError> {
    let media = ctx.fetch(url, None).map_err(|e| e.into_task_error(param))?;
    if media.size() == 0 {
        return Err(TaskError::InvalidInput(format!(
            "{param}: the file is empty"
        )));
    }
    let info = ctx
        .probe(media.as_ref())
        .map_err(FfmpegError::into_task_error)?;
    Ok((media, info))
}

/// A seconds value for an ffmpeg option (`12.345`).
pub fn secs(t: f64) -> String {
    format!("{:.3}", t.max(0.0))
}

/// Output geometry: scale to `scaled`, then crop the centre to `out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Scaled width.
    pub scaled_w: u32,
    /// Scaled height.
    pub scaled_h: u32,
    /// Final width.
    pub out_w: u32,
    /// Final height.
    pub out_h: u32,
}

impl Plan {
    /// The geometry of image.thumb, for every video task: one side keeps
    /// the aspect ratio; with both, fit inside (`crop = false`) or fill
    /// and crop the centre; with neither, the source size.
    pub fn new(
        src_w: u32,
        src_h: u32,
        width: Option<u32>,
        height: Option<u32>,
        crop: bool,
    ) -> Plan {
        let (sw, sh) = (f64::from(src_w.max(1)), f64::from(src_h.max(1)));
        let side = |x: f64| (x.round() as u32).max(1);
        let (scaled_w, scaled_h) = match (width, height) {
            (None, None) => (src_w, src_h),
            (Some(w), None) => (w, side(sh * f64::from(w) / sw)),
            (None, Some(h)) => (side(sw * f64::from(h) / sh), h),
            (Some(w), Some(h)) => {
                let (fw, fh) = (f64::from(w) / sw, f64::from(h) / sh);
                let s = if crop { fw.max(fh) } else { fw.min(fh) };
                let (a, b) = (side(sw * s), side(sh * s));
                if crop {
                    (a.max(w), b.max(h))
                } else {
                    (a.min(w), b.min(h))
                }
            }
        };
        let (out_w, out_h) = match (width, height, crop) {
            (Some(w), Some(h), true) => (w, h),
            _ => (scaled_w, scaled_h),
        };
        Plan {
            scaled_w,
            scaled_h,
            out_w,
            out_h,
        }
    }

    /// The same plan with an even output size, which 4:2:0 video encoders
    /// need (at most one pixel less per side).
    pub fn even(self) -> Plan {
        let even = |x: u32| (x & !1).max(2);
        let cropped = (self.scaled_w, self.scaled_h) != (self.out_w, self.out_h);
        let (out_w, out_h) = (even(self.out_w), even(self.out_h));
        if cropped {
            Plan {
                out_w,
                out_h,
                scaled_w: self.scaled_w.max(out_w),
                scaled_h: self.scaled_h.max(out_h),
            }
        } else {
            Plan {
                scaled_w: out_w,
                scaled_h: out_h,
                out_w,
                out_h,
            }
        }
    }

    /// [`Plan::chain`] from the first input's video, through the `fps`
    /// filter first when frames drop to `rate` ([`dropped_rate`]: fewer
    /// frames to scale); with the output's frame rate (`source_fps` when
    /// every frame is kept).
    pub fn chain_at(&self, rate: Option<Rate>, source_fps: f64) -> (String, f64) {
        match rate {
            Some(r) => (
                format!("[0:v]fps=fps={}[rated];{}", r.text(), self.chain("rated")),
                r.fps(),
            ),
            None => (self.chain("0:v"), source_fps),
        }
    }

    /// The filter chain from a video stream to this geometry (square
    /// pixels); `label` is the input pad, e.g. `0:v`.
    pub fn chain(&self, label: &str) -> String {
        let mut g = format!(
            "[{label}]scale={}:{}:flags=lanczos,setsar=1",
            self.scaled_w, self.scaled_h
        );
        if (self.out_w, self.out_h) != (self.scaled_w, self.scaled_h) {
            g.push_str(&format!(",crop={}:{}", self.out_w, self.out_h));
        }
        g
    }
}

/// The duration of probed media: the container's, else the stream's.
pub fn duration_of(info: &MediaInfo, stream: &StreamInfo) -> f64 {
    if info.duration > 0.0 {
        info.duration
    } else {
        stream.duration.max(0.0)
    }
}

/// The duration of one stream: its own, else the container's. For an
/// output, the video's length rather than the container's (which may
/// count audio padding, or a bitrate estimate in AVI).
pub fn stream_duration(info: &MediaInfo, stream: &StreamInfo) -> f64 {
    if stream.duration > 0.0 {
        stream.duration
    } else {
        info.duration.max(0.0)
    }
}

/// Seconds rounded to 1/100 (how every task reports durations).
pub fn centis(t: f64) -> f64 {
    (t * 100.0).round() / 100.0
}

/// Largest side of a source video: twice 8K, beyond any camera.
pub const MAX_SIDE: u32 = 16_384;
/// Largest source picture: 8K UHD is 33 Mpx; a decoded frame of this size
/// is 120 MiB, so a filter graph holding a few stays inside ffmpeg's cap.
pub const MAX_PIXELS: u64 = 40_000_000;

/// The first video stream, with a size within [`MAX_SIDE`] and
/// [`MAX_PIXELS`], or the input error saying why not.
pub fn video_stream(info: &MediaInfo) -> Result<&StreamInfo, TaskError> {
    let Some(video) = info.first("video") else {
        return Err(TaskError::InvalidInput(
            "the file has no video stream".into(),
        ));
    };
    let (w, h) = video.display_size();
    if w == 0 || h == 0 {
        return Err(TaskError::InvalidInput(
            "the video has no picture size".into(),
        ));
    }
    if w > MAX_SIDE || h > MAX_SIDE || u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(TaskError::InvalidInput(format!(
            "the video is {w}×{h}; at most {MAX_SIDE} px a side and {} Mpx are accepted",
            MAX_PIXELS / 1_000_000
        )));
    }
    Ok(video)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_matches_image_thumb() {
        let p = Plan::new(400, 300, Some(100), Some(100), false);
        assert_eq!(
            (p.scaled_w, p.scaled_h, p.out_w, p.out_h),
            (100, 75, 100, 75)
        );
        let p = Plan::new(400, 300, Some(100), Some(100), true);
        assert_eq!(
            (p.scaled_w, p.scaled_h, p.out_w, p.out_h),
            (133, 100, 100, 100)
        );
        assert_eq!(Plan::new(400, 300, Some(200), None, false).out_h, 150);
        assert_eq!(Plan::new(400, 300, None, Some(30), false).out_w, 40);
        assert_eq!(Plan::new(400, 300, None, None, true).out_w, 400);
    }

    #[test]
    fn even_sizes_for_encoders() {
        let p = Plan::new(641, 361, Some(101), None, false).even();
        assert_eq!((p.out_w, p.out_h), (100, 56));
        assert_eq!((p.scaled_w, p.scaled_h), (100, 56));
        let p = Plan::new(400, 300, Some(101), Some(101), true).even();
        assert_eq!((p.out_w, p.out_h), (100, 100));
        assert!(p.scaled_w >= 100 && p.scaled_h >= 100);
        assert_eq!(Plan::new(1, 1, None, None, false).even().out_w, 2);
        assert_eq!(
            Plan::new(400, 300, Some(100), Some(100), true).chain("0:v"),
            "[0:v]scale=133:100:flags=lanczos,setsar=1,crop=100:100"
        );
    }

    #[test]
    fn frame_rates_drop_frames_evenly_within_the_limit() {
        let within = |fps: f64| (frame_rate_within(fps, 30.0) * 1000.0).round() / 1000.0;
        for (source, made) in [
            (60.0, 30.0),
            (59.94, 29.97),
            (50.0, 25.0),
            (48.0, 24.0),
            (120.0, 30.0),
            (100.0, 25.0),
            (240.0, 30.0),
            // Phones' variable rates, a little over: kept.
            (30.0, 30.0),
            (31.2, 31.2),
            (25.0, 25.0),
            // Half would be too choppy: the limit itself.
            (40.0, 30.0),
            (33.0, 30.0),
        ] {
            assert_eq!(within(source), made, "{source} fps");
        }
        assert!(frame_rate_within(f64::NAN, 30.0).is_nan());
        assert_eq!(Rate::of(29.97).text(), "30000/1001");
        assert_eq!(Rate::of(23.976_02).text(), "24000/1001");
        assert_eq!(Rate::of(25.0).text(), "25");
        assert_eq!(Rate::of(12.5).text(), "25/2");
        assert_eq!(Rate::of(120.0).text(), "120");
        assert_eq!(Rate::of(0.0).text(), "1/1000");
        let dropped = |source: f64, asked: Option<f64>, codec| {
            dropped_rate(source, asked, codec).map(Rate::text)
        };
        assert_eq!(dropped(60.0, None, VideoCodec::Vp9).as_deref(), Some("30"));
        assert_eq!(
            dropped(59.94, None, VideoCodec::Hevc).as_deref(),
            Some("30000/1001")
        );
        assert_eq!(dropped(30.0, None, VideoCodec::Av1), None);
        assert_eq!(dropped(60.0, None, VideoCodec::H264), None);
        assert_eq!(
            dropped(60.0, Some(24.0), VideoCodec::H264).as_deref(),
            Some("24")
        );
        assert_eq!(dropped(60.0, Some(60.0), VideoCodec::Vp9), None);
        assert_eq!(dropped(25.0, Some(30.0), VideoCodec::H264), None);
        assert_eq!(
            dropped(0.0, Some(12.0), VideoCodec::H264).as_deref(),
            Some("12")
        );
        assert_eq!(dropped(f64::NAN, None, VideoCodec::Vp9), None);
        assert_eq!(frame_rate_within(0.0, 30.0), 0.0);
    }

    #[test]
    fn encoder_speed_follows_the_pixel_rate() {
        let preset = |fps: f64| {
            VideoCodec::H264
                .options(1500, MP4, (1280, 720), fps)
                .into_iter()
                .find(|(k, _)| k == "preset")
                .map(|(_, v)| v)
        };
        assert_eq!(preset(25.0).as_deref(), Some("veryfast"));
        assert_eq!(preset(30.0).as_deref(), Some("veryfast"));
        assert_eq!(preset(60.0).as_deref(), Some("superfast"));
        let hevc = VideoCodec::Hevc.options(1500, MP4, (1280, 720), 30.0);
        assert!(hevc.contains(&(
            "x265-params".to_owned(),
            "ctu=16:bframes=0:cutree=0:rd=1:frame-threads=1".to_owned()
        )));
        for codec in [VideoCodec::Vp9, VideoCodec::Av1, VideoCodec::Hevc] {
            assert_eq!(codec.max_frame_rate(), Some(30.0));
        }
        assert_eq!(VideoCodec::H264.max_frame_rate(), None);
    }
}

/// Audio codecs of the video outputs (`video.convert`, `video.reverse`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AudioCodec {
    /// MPEG-1 Layer II.
    Mp2,
    /// MPEG-1 Layer III (LAME).
    Mp3,
    /// AAC-LC.
    #[default]
    Aac,
    /// Windows Media Audio 1.
    Wmav1,
    /// Windows Media Audio 2.
    Wmav2,
    /// Opus (libopus): the default beside VP9 and AV1; always 48 kHz.
    Opus,
}

/// Video codecs of the video outputs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VideoCodec {
    /// H.264 (x264), High profile, 4:2:0.
    #[default]
    H264,
    /// MPEG-4 Part 2 (ffmpeg's encoder).
    Mpeg4,
    /// VP9 (libvpx), in WebM beside Opus.
    Vp9,
    /// AV1 (SVT-AV1; libaom below 64 px a side), in WebM beside Opus.
    Av1,
    /// HEVC / H.265 (x265), tagged `hvc1` in MP4 (what Apple players need).
    Hevc,
}

/// MP4, with the index first (`+faststart`, set by [`Output::container_options`]).
pub const MP4: Container = Container {
    muxer: "mp4",
    extension: "mp4",
    content_type: "video/mp4",
};

/// WebM: VP9 or AV1 with Opus, what browsers play natively.
pub const WEBM: Container = Container {
    muxer: "webm",
    extension: "webm",
    content_type: "video/webm",
};

/// Where a video output goes: muxer, file extension, content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Container {
    /// ffmpeg muxer.
    pub muxer: &'static str,
    /// File extension.
    pub extension: &'static str,
    /// Content type.
    pub content_type: &'static str,
}

impl AudioCodec {
    /// ffmpeg's encoder.
    pub fn encoder(self) -> &'static str {
        match self {
            AudioCodec::Mp2 => "mp2",
            AudioCodec::Mp3 => "libmp3lame",
            AudioCodec::Aac => "aac",
            AudioCodec::Wmav1 => "wmav1",
            AudioCodec::Wmav2 => "wmav2",
            AudioCodec::Opus => "libopus",
        }
    }

    /// The codec's name as ffprobe reports it.
    pub fn name(self) -> &'static str {
        match self {
            AudioCodec::Mp2 => "mp2",
            AudioCodec::Mp3 => "mp3",
            AudioCodec::Aac => "aac",
            AudioCodec::Wmav1 => "wmav1",
            AudioCodec::Wmav2 => "wmav2",
            AudioCodec::Opus => "opus",
        }
    }

    /// The container for this audio codec — the one decision per codec:
    /// - `aac`, `mp3` → MP4 (`+faststart`): every browser and phone plays
    ///   H.264 with either in MP4;
    /// - `opus` → MP4 too (beside H.264, MPEG-4 or HEVC; browsers play
    ///   Opus in MP4) — [`Output::choose`] puts it in WebM beside VP9 and
    ///   AV1;
    /// - `mp2` → AVI: ISO registers MPEG-1 audio in MP4 but browsers and
    ///   most players do not play it there; AVI is its classic home;
    /// - `wmav1`, `wmav2` → ASF: MP4 cannot hold WMA; ASF is Windows
    ///   Media's own container (what `.wmv` files are).
    pub fn container(self) -> Container {
        match self {
            AudioCodec::Aac | AudioCodec::Mp3 | AudioCodec::Opus => MP4,
            AudioCodec::Mp2 => Container {
                muxer: "avi",
                extension: "avi",
                content_type: "video/x-msvideo",
            },
            AudioCodec::Wmav1 | AudioCodec::Wmav2 => Container {
                muxer: "asf",
                extension: "asf",
                content_type: "video/x-ms-asf",
            },
        }
    }
}

impl VideoCodec {
    /// The codec's name as ffprobe reports it.
    pub fn name(self) -> &'static str {
        match self {
            VideoCodec::H264 => "h264",
            VideoCodec::Mpeg4 => "mpeg4",
            VideoCodec::Vp9 => "vp9",
            VideoCodec::Av1 => "av1",
            VideoCodec::Hevc => "hevc",
        }
    }

    /// The sample entry's code in `container`, where the muxer's default
    /// is not the one players want: HEVC in MP4 as `hvc1` (parameter sets
    /// in the sample entry), which Apple's players require, not `hev1`.
    pub fn tag(self, container: Container) -> Option<&'static str> {
        (self == VideoCodec::Hevc && container.muxer == "mp4").then_some("hvc1")
    }

    /// Whether MPEG-TS carries the codec (segments joined byte for byte:
    /// `video.reverse`). ffmpeg 5.1 writes neither VP9 nor AV1 there.
    pub fn in_mpegts(self) -> bool {
        matches!(
            self,
            VideoCodec::H264 | VideoCodec::Mpeg4 | VideoCodec::Hevc
        )
    }

    /// The frame rate the codec's output runs at by default at most
    /// (`video.convert`'s `frame_rate`): VP9, AV1 and HEVC at 30 — even
    /// their fastest settings encode 720p60 at 0.45–0.7× real time on 2
    /// cores (bench/README.md, "Video codecs"); H.264 and MPEG-4 keep the
    /// source's rate, as dragon did.
    pub fn max_frame_rate(self) -> Option<f64> {
        match self {
            VideoCodec::Vp9 | VideoCodec::Av1 | VideoCodec::Hevc => Some(30.0),
            VideoCodec::H264 | VideoCodec::Mpeg4 => None,
        }
    }

    /// The smallest frame side the encoder takes: x265 refuses frames
    /// under 16 px a side (its smallest coding unit); the others take 2.
    pub fn min_side(self) -> u32 {
        match self {
            VideoCodec::Hevc => 16,
            _ => 2,
        }
    }

    /// Encoder options at `kbps` for frames of `width` × `height` at `fps`
    /// in `container`, always 4:2:0 (what every player decodes). The speed
    /// settings keep a 720p minute at or above real time on 2 cores at
    /// the frame rates the codec runs at by default (bench/README.md,
    /// "Video codecs", measured on real footage at 20 to 60 fps; VP9, AV1
    /// and HEVC run at most [`VideoCodec::max_frame_rate`]) — all but
    /// HEVC on 60 fps sources, at 0.96–1.04×:
    /// - H.264: x264 `veryfast` up to 720p30's pixel rate, `superfast`
    ///   above (veryfast encodes 720p60 camera footage at 0.7× real time,
    ///   superfast at 1.05×);
    /// - VP9: libvpx's `realtime` deadline at `cpu-used` 8 (its fastest)
    ///   with row multithreading (`good` at `cpu-used` 4–5 runs at
    ///   0.2–0.3×), at constant bitrate;
    /// - AV1: SVT-AV1 preset 12 (preset 11 is too close to 1×; 13 is
    ///   "for debugging" by SVT's own words; libaom's fastest real-time
    ///   mode is below it); SVT-AV1 refuses frames under 64 px a side, so
    ///   those — a few pixels, fast anyway — go to libaom's real-time mode;
    /// - HEVC: x265 `ultrafast` with 16 px coding trees, no B-frames, no
    ///   cu-tree, `rd` 1 and one frame thread (the wavefront rows keep the
    ///   threads busy): 0.76× → 1.15× real time on 720p30 camera footage,
    ///   SSIM 0.987 → 0.989 at the same bitrate.
    ///
    /// `container` is where the stream ends up, even through an
    /// intermediate file (`video.reverse`'s MPEG-TS segments): AVI and ASF
    /// store one timestamp per frame, so there H.264 and MPEG-4 go without
    /// B-frames (whose display order would need a second one).
    pub fn options(
        self,
        kbps: u32,
        container: Container,
        (width, height): (u32, u32),
        fps: f64,
    ) -> Vec<(String, String)> {
        let rate = format!("{kbps}k");
        let pixel_rate = f64::from(width) * f64::from(height) * fps;
        let mut o = match self {
            VideoCodec::H264 => opts([
                ("c:v", "libx264"),
                (
                    "preset",
                    // An unknown rate (NaN) counts as a low one.
                    if pixel_rate > PIXEL_RATE_720P30 {
                        "superfast"
                    } else {
                        "veryfast"
                    },
                ),
            ]),
            VideoCodec::Mpeg4 => opts([("c:v", "mpeg4")]),
            // libvpx's one-pass VBR overshoots by half in real-time
            // mode; constant bitrate with a 2 s buffer keeps it within
            // ~10 % of `kbps` (bench/README.md, "Video codecs").
            VideoCodec::Vp9 => opts([
                ("c:v", "libvpx-vp9"),
                ("deadline", "realtime"),
                ("cpu-used", "8"),
                ("row-mt", "1"),
                ("minrate", &rate),
                ("maxrate", &rate),
                ("bufsize", &format!("{}k", kbps.saturating_mul(2))),
            ]),
            VideoCodec::Av1 if width.min(height) >= 64 => {
                opts([("c:v", "libsvtav1"), ("preset", "12")])
            }
            VideoCodec::Av1 => opts([
                ("c:v", "libaom-av1"),
                ("usage", "realtime"),
                ("cpu-used", "8"),
                ("row-mt", "1"),
            ]),
            // 16 px coding trees: twice the wavefront rows of 32, which
            // two threads need to keep busy (0.94× → 1.5× real time at
            // 720p25, SSIM within 0.001).
            VideoCodec::Hevc => opts([
                ("c:v", "libx265"),
                ("preset", "ultrafast"),
                (
                    "x265-params",
                    "ctu=16:bframes=0:cutree=0:rd=1:frame-threads=1",
                ),
            ]),
        };
        o.extend(opts([("b:v", &rate), ("pix_fmt", "yuv420p")]));
        if matches!(container.muxer, "avi" | "asf") {
            o.extend(opts([("bf", "0")]));
        }
        o
    }
}

/// Pixels a second of 720p at 30 fps: up to it x264 runs `veryfast`.
const PIXEL_RATE_720P30: f64 = 1280.0 * 720.0 * 30.5;

/// A frame rate as a fraction: what `fps=`, `-r` and the manifests take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Frames…
    pub num: u32,
    /// …per this many seconds.
    pub den: u32,
}

impl Rate {
    /// Whole frames per second.
    pub const fn whole(fps: u32) -> Rate {
        Rate { num: fps, den: 1 }
    }

    /// `fps` as a fraction: NTSC rates (23.976, 29.97, 59.94) exact,
    /// others to 1/1000 (12.5 → 25/2), at least 1/1000.
    pub fn of(fps: f64) -> Rate {
        for base in [24u32, 30, 60] {
            let ntsc = f64::from(base) * 1000.0 / 1001.0;
            if (fps - ntsc).abs() < 0.02 {
                return Rate {
                    num: base * 1000,
                    den: 1001,
                };
            }
        }
        let milli = (fps * 1000.0).round().max(1.0) as u32;
        let g = gcd(milli, 1000);
        Rate {
            num: milli / g,
            den: 1000 / g,
        }
    }

    /// Frames per second.
    pub fn fps(self) -> f64 {
        f64::from(self.num) / f64::from(self.den)
    }

    /// The frame nearest to `seconds`.
    pub fn frames(self, seconds: f64) -> i64 {
        // Durations are capped at a day by the parsers: no overflow.
        (seconds * self.fps()).round() as i64
    }

    /// The time of frame `n`.
    pub fn seconds(self, frames: i64) -> f64 {
        frames as f64 / self.fps()
    }

    /// `30000/1001`, `25`: as ffmpeg's options and expressions take it.
    pub fn text(self) -> String {
        if self.den == 1 {
            self.num.to_string()
        } else {
            format!("{}/{}", self.num, self.den)
        }
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a.max(1) } else { gcd(b, a % b) }
}

/// The rate a source of `fps` plays at within `max` frames a second:
/// - `fps` itself within 5 % of `max` (phones' variable rates average a
///   little over 30), or when unknown (not finite, ≤ 0);
/// - else `fps` divided by the smallest whole number that brings it
///   within, so frames drop evenly and motion keeps its cadence (60 → 30,
///   59.94 → 29.97, 50 → 25, 120 → 30, 100 → 25 against 30);
/// - `max` itself when that would fall under ¾ of it (40 → 30, not 20:
///   a quarter of the frames dropped beats half the motion's smoothness).
pub fn frame_rate_within(fps: f64, max: f64) -> f64 {
    let ceiling = max * 1.05;
    if !(fps.is_finite() && fps > 0.0 && max > 0.0) || fps <= ceiling {
        return fps;
    }
    let even = fps / (fps / ceiling).ceil();
    if even >= max * 0.75 { even } else { max }
}

/// The rate frames drop to in an output of `codec` from a source of
/// `source` fps: `asked` (the task's `frame_rate`) or the codec's limit
/// ([`VideoCodec::max_frame_rate`], divided evenly: [`frame_rate_within`]);
/// `None` when every frame is kept — the source is within both, or its
/// rate is unknown (ffprobe cannot tell) and nothing was asked: an asked
/// rate applies as is to such a source.
pub fn dropped_rate(source: f64, asked: Option<f64>, codec: VideoCodec) -> Option<Rate> {
    let known = source.is_finite() && source > 0.0;
    match asked {
        Some(asked) => (!known || asked < source).then_some(asked),
        None => codec
            .max_frame_rate()
            .map(|max| frame_rate_within(source, max))
            .filter(|&fps| known && fps < source),
    }
    .map(Rate::of)
}

/// The codecs and the container of a video output (`video.convert`,
/// `video.reverse`), settled from the parameters once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    /// Video codec.
    pub video: VideoCodec,
    /// Audio codec: the one asked for, or the default for the video codec.
    pub audio: AudioCodec,
    /// Where both go.
    pub container: Container,
}

impl Output {
    /// The output for `video_codec` and `audio_codec` (absent: the
    /// default) at `sample_rate` Hz:
    /// - VP9 and AV1 default to Opus, in WebM (what browsers play);
    ///   with AAC or MP3 asked for, they go in MP4 (ISO registers both);
    /// - H.264, MPEG-4 and HEVC default to AAC; the container follows the
    ///   audio codec ([`AudioCodec::container`]);
    /// - VP9, AV1 and HEVC have no place in AVI or ASF: with MP2 or WMA
    ///   the `audio_codec` is refused, naming the ones that go;
    /// - Opus encodes at 48 kHz only (the format's own clock), so another
    ///   `sample_rate` with it is refused rather than quietly changed.
    pub fn choose(
        video: VideoCodec,
        audio: Option<AudioCodec>,
        sample_rate: u32,
    ) -> Result<Output, TaskError> {
        check_sample_rate(sample_rate)?;
        let modern = matches!(video, VideoCodec::Vp9 | VideoCodec::Av1);
        let audio = audio.unwrap_or(if modern {
            AudioCodec::Opus
        } else {
            AudioCodec::Aac
        });
        let container = match audio {
            AudioCodec::Opus if modern => WEBM,
            AudioCodec::Mp2 | AudioCodec::Wmav1 | AudioCodec::Wmav2
                if modern || video == VideoCodec::Hevc =>
            {
                return Err(TaskError::parameter(
                    "audio_codec",
                    format!(
                        "{} cannot go with video_codec {} (no container holds both), \
                         choose one of: opus, aac, mp3",
                        audio.name(),
                        video.name()
                    ),
                ));
            }
            _ => audio.container(),
        };
        if audio == AudioCodec::Opus && sample_rate != 48_000 {
            return Err(TaskError::parameter(
                "sample_rate",
                format!("Opus encodes at 48000 Hz only, not {sample_rate}"),
            ));
        }
        Ok(Output {
            video,
            audio,
            container,
        })
    }

    /// Refuses a frame size the video encoder cannot take, naming the
    /// parameter that set it (`width`/`height`, or `video_codec` when the
    /// size is the source's own).
    pub fn check_size(&self, (width, height): (u32, u32), asked: bool) -> Result<(), TaskError> {
        let min = self.video.min_side();
        if width.min(height) >= min {
            return Ok(());
        }
        let name = match (asked, width < min) {
            (false, _) => "video_codec",
            (true, true) => "width",
            (true, false) => "height",
        };
        Err(TaskError::parameter(
            name,
            format!(
                "{} needs frames of at least {min}×{min} pixels, this one is {width}×{height}",
                self.video.name()
            ),
        ))
    }

    /// Options of the video stream at `kbps` for a `size` frame.
    pub fn video_options(&self, kbps: u32, size: (u32, u32), fps: f64) -> Vec<(String, String)> {
        self.video.options(kbps, self.container, size, fps)
    }

    /// The muxer, the video's sample entry code ([`VideoCodec::tag`]), and
    /// for MP4 the index first (players start before the download ends).
    pub fn container_options(&self) -> Vec<(String, String)> {
        let mut o = opts([("f", self.container.muxer)]);
        if let Some(tag) = self.video.tag(self.container) {
            o.extend(opts([("tag:v", tag)]));
        }
        if self.container.muxer == "mp4" {
            o.extend(opts([("movflags", "+faststart")]));
        }
        o
    }
}

/// The default `sample_rate` choice set: what every listed encoder takes.
pub const SAMPLE_RATES: [u32; 3] = [22_050, 44_100, 48_000];

/// `sample_rate` must be one of [`SAMPLE_RATES`] (dragon's choice message).
pub fn check_sample_rate(rate: u32) -> Result<(), TaskError> {
    if SAMPLE_RATES.contains(&rate) {
        return Ok(());
    }
    Err(TaskError::parameter(
        "sample_rate",
        format!("{rate} is not a valid choice, choose one of: 22050, 44100, 48000"),
    ))
}

/// Audio output options: codec, bitrate, rate, and at most two channels
/// (the default bitrates are stereo-sized, and mp2/WMA stop at two).
pub fn audio_options(
    codec: AudioCodec,
    kbps: u32,
    rate: u32,
    channels: u32,
) -> Vec<(String, String)> {
    opts([
        ("c:a", codec.encoder()),
        ("b:a", &format!("{kbps}k")),
        ("ar", &rate.to_string()),
        // Unknown (0) counts as stereo.
        ("ac", if channels == 1 { "1" } else { "2" }),
    ])
}

/// The image format of a still output (thumbnails, strips, waveforms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StillFormat {
    /// JPEG (quality 90).
    #[default]
    Jpeg,
    /// PNG (lossless).
    Png,
}

impl StillFormat {
    /// Content type.
    pub fn content_type(self) -> &'static str {
        match self {
            StillFormat::Jpeg => "image/jpeg",
            StillFormat::Png => "image/png",
        }
    }

    /// File extension.
    pub fn extension(self) -> &'static str {
        match self {
            StillFormat::Jpeg => "jpg",
            StillFormat::Png => "png",
        }
    }
}

/// Frame rates are reported to 1/1000 fps.
pub fn rate_value(fps: f64) -> f64 {
    (fps * 1000.0).round() / 1000.0
}

/// The flite voice for a dragon voice name.
pub fn flite_voice(name: &str) -> Option<&'static str> {
    let key: String = name
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    match key.as_str() {
        "neospeech:julie" | "neospoken:julie" => Some("slt"),
        "neospeech:paul" | "neospoken:paul" => Some("rms"),
        _ => None,
    }
}

/// The length of a PCM WAV from its first bytes and its size: the data
/// chunk's bytes over the format's byte rate (no decoding, no copy of a
/// long speech into the component).
pub fn wav_seconds(head: &[u8], size: u64) -> Option<f64> {
    let u32_at = |i: usize| -> Option<u32> {
        Some(u32::from_le_bytes(head.get(i..i + 4)?.try_into().ok()?))
    };
    if head.get(0..4)? != b"RIFF" || head.get(8..12)? != b"WAVE" {
        return None;
    }
    let (mut at, mut byte_rate) = (12usize, None);
    while at + 8 <= head.len() {
        let (id, len) = (head.get(at..at + 4)?, u32_at(at + 4)?);
        match id {
            b"fmt " => byte_rate = u32_at(at + 16).filter(|&r| r > 0),
            b"data" => {
                // A streamed WAV may state 0 or ~0: the rest of the file.
                let rest = size.saturating_sub(at as u64 + 8);
                let bytes = if len == 0 || u64::from(len) > rest {
                    rest
                } else {
                    u64::from(len)
                };
                return Some(bytes as f64 / f64::from(byte_rate?));
            }
            _ => {}
        }
        at = at.checked_add(8 + len as usize + (len as usize & 1))?;
    }
    None
}
