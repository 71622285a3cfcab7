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
