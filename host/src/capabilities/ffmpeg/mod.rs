//! The `ffmpeg` capability: typed jobs from the guest, native ffmpeg in a
//! sandbox on the host.
//!
//! - [`FfmpegPolicy`] (process-wide): binaries, sandbox, rlimits, a
//!   semaphore bounding concurrent processes, the scratch root;
//! - [`FfmpegCtx`] (per run): the task's deadline;
//! - [`argv`] turns a job into an allow-listed argument vector,
//!   [`filter`] checks filter graphs, [`sandbox`] runs the process.
//!
//! Per call: a fresh scratch directory holds the inputs (`in0`, `in1`, …)
//! and the outputs (`out0`, …, read back into blobs); it is deleted when
//! the call ends, whatever the outcome. Each blob is written to disk once
//! per run and hard-linked into every call that reads it, since multi-job
//! tasks (a strip of frames, a reverse in segments) read one input many
//! times.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use wasmtime::component::Resource;

use crate::capabilities::blobs::Blob;
use crate::capabilities::progress::RunEvent;
use crate::engine::bindings::ffmpeg::{self, FfmpegError, MediaInfo, StreamInfo};

pub mod argv;
pub mod filter;
pub mod process;
pub mod sandbox;

pub use sandbox::{Limits, Sandbox};

/// Process-wide ffmpeg settings.
pub struct FfmpegPolicy {
    binaries: Result<(PathBuf, PathBuf), String>,
    sandbox: Sandbox,
    limits: Limits,
    threads: u32,
    permits: Semaphore,
    scratch: PathBuf,
}

/// What [`FfmpegPolicy::new`] needs.
#[derive(Debug, Clone)]
pub struct FfmpegSettings {
    /// ffmpeg binary (name on PATH or absolute).
    pub ffmpeg: String,
    /// ffprobe binary.
    pub ffprobe: String,
    /// Isolation.
    pub sandbox: Sandbox,
    /// rlimits.
    pub limits: Limits,
    /// Threads per job.
    pub threads: u32,
    /// Concurrent processes.
    pub max_concurrent: usize,
    /// Scratch root.
    pub scratch: PathBuf,
}

fn resolve(program: &str) -> Option<PathBuf> {
    let path = Path::new(program);
    if path.is_absolute() {
        return path.is_file().then(|| path.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

impl FfmpegPolicy {
    /// Resolve the binaries and check the sandbox works. Missing binaries
    /// are not fatal (tasks that need ffmpeg then fail with a clear
    /// message); a sandbox that cannot run is.
    pub async fn new(settings: FfmpegSettings) -> anyhow::Result<FfmpegPolicy> {
        let binaries = match (resolve(&settings.ffmpeg), resolve(&settings.ffprobe)) {
            (Some(a), Some(b)) => Ok((a, b)),
            _ => Err(format!(
                "ffmpeg is not installed on this server ({} / {} not found)",
                settings.ffmpeg, settings.ffprobe
            )),
        };
        if let (Ok((ffmpeg, _)), Sandbox::Bwrap(_)) = (&binaries, &settings.sandbox) {
            if !ffmpeg.starts_with("/usr/") {
                anyhow::bail!(
                    "ffmpeg at {} is outside /usr, which is all the bwrap sandbox shows; \
                     install it under /usr or set [ffmpeg] sandbox = \"none\"",
                    ffmpeg.display()
                );
            }
            sandbox::self_test(&settings.sandbox, &settings.limits, ffmpeg)
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "the ffmpeg sandbox (bubblewrap) does not work here: {e}; \
                         install bubblewrap, allow user namespaces, or set [ffmpeg] sandbox = \"none\""
                    )
                })?;
        }
        std::fs::create_dir_all(&settings.scratch)?;
        Ok(FfmpegPolicy {
            binaries,
            sandbox: settings.sandbox,
            limits: settings.limits,
            threads: settings.threads.max(1),
            permits: Semaphore::new(settings.max_concurrent.max(1)),
            scratch: settings.scratch,
        })
    }
}

impl FfmpegPolicy {
    /// A turn among the concurrent processes and a fresh scratch
    /// directory for one process (deleted when dropped).
    async fn slot(&self) -> Result<(tokio::sync::SemaphorePermit<'_>, Scratch), FfmpegError> {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| FfmpegError::Failed("shutting down".into()))?;
        Ok((permit, Scratch::new(&self.scratch)?))
    }

    /// Run `program args` in `scratch` under the sandbox until `deadline`.
    async fn run_in(
        &self,
        scratch: &Scratch,
        program: &Path,
        args: &[String],
        opts: RunOpts<'_>,
        on_line: impl FnMut(&str),
    ) -> Result<sandbox::Finished, sandbox::RunError> {
        let inv = sandbox::Invocation {
            sandbox: &self.sandbox,
            limits: &self.limits,
            dir: scratch.path(),
            program,
            args,
            deadline: opts.deadline,
            capture: opts.capture,
            meter: opts.meter,
        };
        sandbox::run(inv, on_line).await
    }
}

/// How one process runs: until when, whether its stdout is kept, and
/// where its usage is added.
struct RunOpts<'a> {
    deadline: Instant,
    capture: bool,
    meter: &'a sandbox::ProcessMeter,
}

/// Per-run ffmpeg state.
pub struct FfmpegCtx {
    policy: Arc<FfmpegPolicy>,
    deadline: Instant,
    /// What this run's ffmpeg processes used (usage accounting).
    pub meter: Arc<sandbox::ProcessMeter>,
    /// The run's directory of written inputs (created on first use,
    /// removed with the context).
    run_dir: Option<tempfile::TempDir>,
    /// Blob bytes (address, length) → its file in `run_dir`. The `Bytes`
    /// clone pins the address, so a key never names two byte strings; the
    /// entry goes when the guest drops the blob ([`FfmpegCtx::forget`]).
    written: HashMap<(usize, usize), (Bytes, PathBuf)>,
    /// Files written so far: names are never reused (a forgotten blob's
    /// name could still be hard-linked into a running call).
    files: u64,
}

impl FfmpegCtx {
    /// A context whose processes end by `deadline` (the task's).
    pub fn new(policy: Arc<FfmpegPolicy>, deadline: Instant) -> Self {
        FfmpegCtx {
            policy,
            deadline,
            meter: Arc::default(),
            run_dir: None,
            written: HashMap::new(),
            files: 0,
        }
    }

    fn key(bytes: &Bytes) -> (usize, usize) {
        (bytes.as_ptr() as usize, bytes.len())
    }

    /// The file holding `bytes`, written on first use.
    async fn file_of(&mut self, bytes: &Bytes) -> Result<PathBuf, FfmpegError> {
        if let Some((_, path)) = self.written.get(&Self::key(bytes)) {
            return Ok(path.clone());
        }
        let dir = match &self.run_dir {
            Some(dir) => dir.path().to_path_buf(),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("run-")
                    .tempdir_in(&self.policy.scratch)
                    .map_err(|e| FfmpegError::Failed(format!("scratch directory: {e}")))?;
                let path = dir.path().to_path_buf();
                self.run_dir = Some(dir);
                path
            }
        };
        let path = dir.join(format!("blob{}", self.files));
        self.files += 1;
        tokio::fs::write(&path, bytes)
            .await
            .map_err(|e| FfmpegError::Failed(format!("writing an input: {e}")))?;
        self.written
            .insert(Self::key(bytes), (bytes.clone(), path.clone()));
        Ok(path)
    }

    /// The guest dropped a blob: delete its file, if one was written.
    pub fn forget(&mut self, bytes: &Bytes) {
        if let Some((_, path)) = self.written.remove(&Self::key(bytes)) {
            // Best effort: the run directory goes with the context anyway.
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The one mapping from process failures to the WIT variant.
fn convert_error(e: sandbox::RunError, probing: bool) -> FfmpegError {
    use sandbox::RunError as R;
    match e {
        R::Timeout(_) | R::Cpu(_) | R::FileSize(_) | R::Memory(_) => {
            FfmpegError::Limit(format!("ffmpeg {e}"))
        }
        R::Exit { stderr, .. } => {
            let input_problem = probing
                || [
                    "Invalid data found",
                    "moov atom not found",
                    "could not find codec parameters",
                    "Error opening input",
                    "End of file",
                    "Invalid argument",
                    "does not contain any stream",
                    "not in allowed list",
                ]
                .iter()
                .any(|m| stderr.contains(m));
            let msg = stderr.replace("/job/", "").replace("in0", "the input");
            if input_problem {
                FfmpegError::InvalidInput(format!("the input is not readable media: {msg}"))
            } else {
                FfmpegError::Failed(format!("ffmpeg failed: {msg}"))
            }
        }
        R::Spawn(io) => FfmpegError::Failed(format!("ffmpeg could not start: {io}")),
    }
}

/// A scratch directory removed on drop.
struct Scratch(tempfile::TempDir);

impl Scratch {
    fn new(root: &Path) -> Result<Scratch, FfmpegError> {
        tempfile::Builder::new()
            .prefix("job-")
            .tempdir_in(root)
            .map(Scratch)
            .map_err(|e| FfmpegError::Failed(format!("scratch directory: {e}")))
    }
    fn path(&self) -> &Path {
        self.0.path()
    }
}

/// Make the run's file `from` input `i` of a call: a hard link (same
/// file system, no copy), else a copy.
async fn link_input(dir: &Path, i: usize, from: &Path) -> Result<(), FfmpegError> {
    let to = dir.join(format!("in{i}"));
    if tokio::fs::hard_link(from, &to).await.is_ok() {
        return Ok(());
    }
    tokio::fs::copy(from, &to)
        .await
        .map(drop)
        .map_err(|e| FfmpegError::Failed(format!("writing an input: {e}")))
}

impl crate::capabilities::HostState {
    fn ffmpeg_binaries(&self) -> Result<(PathBuf, PathBuf), FfmpegError> {
        self.ffmpeg
            .policy
            .binaries
            .clone()
            .map_err(FfmpegError::Failed)
    }
}

impl ffmpeg::Host for crate::capabilities::HostState {
    async fn probe(
        &mut self,
        input: Resource<Blob>,
    ) -> wasmtime::Result<Result<MediaInfo, FfmpegError>> {
        let (_, ffprobe) = match self.ffmpeg_binaries() {
            Ok(b) => b,
            Err(e) => return Ok(Err(e)),
        };
        let bytes = self.table.get(&input)?.bytes.clone();
        let file = match self.ffmpeg.file_of(&bytes).await {
            Ok(f) => f,
            Err(e) => return Ok(Err(e)),
        };
        let policy = self.ffmpeg.policy.clone();
        let deadline = self.ffmpeg.deadline;
        let meter = self.ffmpeg.meter.clone();
        let result = async {
            let (_permit, scratch) = policy.slot().await?;
            link_input(scratch.path(), 0, &file).await?;
            let args: Vec<String> = [
                "-v",
                "error",
                "-protocol_whitelist",
                "file",
                "-format_whitelist",
                argv::DEMUXERS,
                "-print_format",
                "json",
                "-show_format",
                "-show_streams",
                "in0",
            ]
            .map(String::from)
            .to_vec();
            let done = policy
                .run_in(
                    &scratch,
                    &ffprobe,
                    &args,
                    RunOpts {
                        deadline,
                        capture: true,
                        meter: &meter,
                    },
                    |_| {},
                )
                .await
                .map_err(|e| convert_error(e, true))?;
            let json: Value = serde_json::from_slice(&done.stdout)
                .map_err(|e| FfmpegError::Failed(format!("ffprobe output: {e}")))?;
            media_info(&json)
        }
        .await;
        Ok(result)
    }

    async fn run(
        &mut self,
        job: ffmpeg::Job,
    ) -> wasmtime::Result<Result<ffmpeg::JobResult, FfmpegError>> {
        let (ffmpeg_bin, _) = match self.ffmpeg_binaries() {
            Ok(b) => b,
            Err(e) => return Ok(Err(e)),
        };
        let mut inputs = Vec::with_capacity(job.inputs.len());
        for input in &job.inputs {
            let bytes = self.table.get(&input.media)?.bytes.clone();
            match self.ffmpeg.file_of(&bytes).await {
                Ok(file) => inputs.push(file),
                Err(e) => return Ok(Err(e)),
            }
        }
        let policy = self.ffmpeg.policy.clone();
        let deadline = self.ffmpeg.deadline;
        let meter = self.ffmpeg.meter.clone();
        let events = self.progress.sender();
        let input_options: Vec<&[(String, String)]> =
            job.inputs.iter().map(|i| i.options.as_slice()).collect();
        let output_options: Vec<&[(String, String)]> =
            job.outputs.iter().map(|o| o.options.as_slice()).collect();
        let planned = argv::PlannedJob {
            inputs: input_options,
            filter_complex: job.filter_complex.as_deref(),
            outputs: output_options,
            threads: policy.threads,
        };
        let args = match argv::build(&planned) {
            Ok(a) => a,
            Err(e) => return Ok(Err(FfmpegError::InvalidJob(e))),
        };
        let n_outputs = job.outputs.len();
        let (span_lo, span_hi) = job.progress_span;
        let duration = job.progress_duration.filter(|d| d.is_finite() && *d > 0.0);
        let result = async {
            let (_permit, scratch) = policy.slot().await?;
            for (i, file) in inputs.iter().enumerate() {
                link_input(scratch.path(), i, file).await?;
            }
            let mut last = None;
            let (mut frames, mut out_time) = (0u64, 0f64);
            let on_line = |line: &str| {
                if let Some(n) = line
                    .strip_prefix("frame=")
                    .and_then(|v| v.trim().parse().ok())
                {
                    frames = n;
                    return;
                }
                let Some(us) = line
                    .strip_prefix("out_time_us=")
                    .and_then(|v| v.trim().parse::<f64>().ok())
                else {
                    return;
                };
                out_time = (us / 1e6).max(0.0);
                let Some(duration) = duration else { return };
                let fraction = (us / 1e6 / duration).clamp(0.0, 1.0);
                let span = f64::from(span_hi.saturating_sub(span_lo));
                let percent = (f64::from(span_lo) + span * fraction).round().min(100.0) as u8;
                if last != Some(percent) {
                    last = Some(percent);
                    // Lossy on purpose: a later report supersedes this one.
                    let _ = events.try_send(RunEvent::Progress(percent));
                }
            };
            policy
                .run_in(
                    &scratch,
                    &ffmpeg_bin,
                    &args,
                    RunOpts {
                        deadline,
                        capture: false,
                        meter: &meter,
                    },
                    on_line,
                )
                .await
                .map_err(|e| convert_error(e, false))?;
            let stats = (frames, out_time);
            let mut outputs = Vec::with_capacity(n_outputs);
            for i in 0..n_outputs {
                // ffmpeg creates no file when nothing was decoded (a
                // seek past the last frame, a stream without frames): that
                // is an empty output, for the task to judge.
                let bytes = match tokio::fs::read(scratch.path().join(format!("out{i}"))).await {
                    Ok(b) => b,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                    Err(e) => {
                        return Err(FfmpegError::Failed(format!("reading output {i}: {e}")));
                    }
                };
                outputs.push(Bytes::from(bytes));
            }
            Ok((outputs, stats))
        }
        .await;
        match result {
            Ok((outputs, (frames, out_time))) => {
                let mut handles = Vec::with_capacity(outputs.len());
                for bytes in outputs {
                    handles.push(self.table.push(Blob {
                        bytes,
                        content_type: String::new(),
                        url: String::new(),
                    })?);
                }
                Ok(Ok(ffmpeg::JobResult {
                    outputs: handles,
                    frames,
                    out_time,
                }))
            }
            Err(e) => Ok(Err(e)),
        }
    }

    async fn speak(
        &mut self,
        text: String,
        voice: String,
    ) -> wasmtime::Result<Result<Resource<Blob>, FfmpegError>> {
        let (ffmpeg_bin, _) = match self.ffmpeg_binaries() {
            Ok(b) => b,
            Err(e) => return Ok(Err(e)),
        };
        if text.len() > MAX_SPEECH_TEXT {
            return Ok(Err(FfmpegError::InvalidJob(format!(
                "the text is longer than {MAX_SPEECH_TEXT} bytes"
            ))));
        }
        let args = match speech_argv(&voice) {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        let policy = self.ffmpeg.policy.clone();
        let deadline = self.ffmpeg.deadline;
        let meter = self.ffmpeg.meter.clone();
        let result = async {
            let (_permit, scratch) = policy.slot().await?;
            tokio::fs::write(scratch.path().join("text.txt"), text.as_bytes())
                .await
                .map_err(|e| FfmpegError::Failed(format!("writing the text: {e}")))?;
            policy
                .run_in(
                    &scratch,
                    &ffmpeg_bin,
                    &args,
                    RunOpts {
                        deadline,
                        capture: false,
                        meter: &meter,
                    },
                    |_| {},
                )
                .await
                .map_err(|e| convert_error(e, false))?;
            tokio::fs::read(scratch.path().join("out0"))
                .await
                .map(Bytes::from)
                .map_err(|e| FfmpegError::Failed(format!("reading the speech: {e}")))
        }
        .await;
        match result {
            Ok(bytes) => Ok(Ok(self.table.push(Blob {
                bytes,
                content_type: "audio/wav".into(),
                url: String::new(),
            })?)),
            Err(e) => Ok(Err(e)),
        }
    }
}

/// flite voices built into ffmpeg that `speak` accepts.
const VOICES: &[&str] = &["slt", "rms", "awb", "kal", "kal16"];

/// Longest text `speak` takes, in bytes: about 15 minutes of speech, far
/// past any task's own cap (audio.tts takes 5 000 characters).
const MAX_SPEECH_TEXT: usize = 64 * 1024;

/// The argv of a `speak` call: flite reads `text.txt` in the scratch
/// directory; the voice is from [`VOICES`], so no guest string reaches
/// the lavfi graph.
fn speech_argv(voice: &str) -> Result<Vec<String>, FfmpegError> {
    if !VOICES.contains(&voice) {
        return Err(FfmpegError::InvalidJob(format!(
            "unknown voice {voice:?} (one of {})",
            VOICES.join(", ")
        )));
    }
    Ok([
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-loglevel",
        "level+info",
        "-benchmark",
        "-f",
        "lavfi",
        "-i",
        &format!("flite=textfile=text.txt:voice={voice}"),
        "-c:a",
        "pcm_s16le",
        "-f",
        "wav",
        "-y",
        "out0",
    ]
    .map(String::from)
    .to_vec())
}

/// ffprobe JSON → `media-info`.
fn media_info(json: &Value) -> Result<MediaInfo, FfmpegError> {
    let format = &json["format"];
    let num = |v: &Value| -> f64 {
        match v {
            Value::String(s) => s.parse().unwrap_or(0.0),
            Value::Number(n) => n.as_f64().unwrap_or(0.0),
            _ => 0.0,
        }
    };
    let streams = json["streams"]
        .as_array()
        .map(|list| list.iter().map(stream_info).collect())
        .unwrap_or_default();
    if format.is_null() {
        return Err(FfmpegError::InvalidInput(
            "the input is not readable media".into(),
        ));
    }
    Ok(MediaInfo {
        format: format["format_name"].as_str().unwrap_or("").to_owned(),
        duration: num(&format["duration"]),
        bit_rate: num(&format["bit_rate"]) as u64,
        streams,
    })
}

fn rational(s: &str) -> f64 {
    match s.split_once('/') {
        Some((a, b)) => {
            let (a, b) = (
                a.parse::<f64>().unwrap_or(0.0),
                b.parse::<f64>().unwrap_or(0.0),
            );
            if b == 0.0 { 0.0 } else { a / b }
        }
        None => s.parse().unwrap_or(0.0),
    }
}

/// Pixel formats with an alpha channel (ffmpeg's naming).
fn has_alpha(pix_fmt: &str) -> bool {
    pix_fmt.starts_with("yuva")
        || pix_fmt.starts_with("gbrap")
        || pix_fmt.starts_with("ya")
        || ["rgba", "bgra", "argb", "abgr", "rgba64", "bgra64"]
            .iter()
            .any(|p| pix_fmt.starts_with(p))
}

/// Counter-clockwise degrees to view as shot: ffprobe's display-matrix
/// `rotation` is counter-clockwise already (−90 for a portrait phone
/// video); the legacy `rotate` tag is clockwise.
fn rotation(stream: &Value) -> u32 {
    let from_matrix = stream["side_data_list"].as_array().and_then(|list| {
        list.iter().find_map(|d| {
            d["rotation"]
                .as_f64()
                .or_else(|| d["rotation"].as_str().and_then(|s| s.parse().ok()))
        })
    });
    let ccw = match from_matrix {
        Some(r) => r,
        None => match stream["tags"]["rotate"]
            .as_str()
            .and_then(|s| s.parse::<f64>().ok())
        {
            Some(cw) => -cw,
            None => 0.0,
        },
    };
    let normalised = ((ccw.round() as i64 % 360) + 360) % 360;
    // Snap to a quarter turn: anything else is not a display rotation.
    (((normalised + 45) / 90 * 90) % 360) as u32
}

fn stream_info(s: &Value) -> StreamInfo {
    let u = |v: &Value| -> u64 {
        match v {
            Value::String(s) => s.parse().unwrap_or(0),
            Value::Number(n) => n.as_u64().unwrap_or(0),
            _ => 0,
        }
    };
    let pix = s["pix_fmt"].as_str().unwrap_or("").to_owned();
    let mut frame_rate = rational(s["avg_frame_rate"].as_str().unwrap_or(""));
    if frame_rate == 0.0 {
        frame_rate = rational(s["r_frame_rate"].as_str().unwrap_or(""));
    }
    StreamInfo {
        index: u(&s["index"]) as u32,
        kind: s["codec_type"].as_str().unwrap_or("").to_owned(),
        codec: s["codec_name"].as_str().unwrap_or("").to_owned(),
        width: u(&s["width"]) as u32,
        height: u(&s["height"]) as u32,
        frame_rate,
        rotation: rotation(s),
        alpha: has_alpha(&pix),
        pixel_format: pix,
        sample_rate: u(&s["sample_rate"]) as u32,
        channels: u(&s["channels"]) as u32,
        bit_rate: u(&s["bit_rate"]),
        duration: s["duration"]
            .as_str()
            .and_then(|d| d.parse().ok())
            .unwrap_or(0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn speech_takes_only_known_voices() {
        let argv = speech_argv("slt").unwrap_or_else(|e| panic!("{e:?}"));
        assert!(argv.contains(&"flite=textfile=text.txt:voice=slt".to_owned()));
        for hostile in ["nope", "slt:textfile=/etc/passwd", "slt,movie=x", ""] {
            assert!(
                matches!(speech_argv(hostile), Err(FfmpegError::InvalidJob(_))),
                "{hostile}"
            );
        }
    }

    #[test]
    fn rotation_directions() {
        assert_eq!(
            rotation(&json!({"side_data_list": [{"rotation": -90}]})),
            270
        );
        assert_eq!(rotation(&json!({"side_data_list": [{"rotation": 90}]})), 90);
        assert_eq!(
            rotation(&json!({"side_data_list": [{"rotation": 180}]})),
            180
        );
        assert_eq!(rotation(&json!({"tags": {"rotate": "90"}})), 270);
        assert_eq!(rotation(&json!({})), 0);
    }

    #[test]
    fn probe_json_maps() {
        let info = media_info(&json!({
            "format": {"format_name": "mov,mp4", "duration": "2.500000", "bit_rate": "1000"},
            "streams": [
                {"index": 0, "codec_type": "video", "codec_name": "h264", "width": 320, "height": 240,
                 "avg_frame_rate": "30000/1001", "pix_fmt": "yuva420p", "duration": "2.5"},
                {"index": 1, "codec_type": "audio", "codec_name": "aac", "sample_rate": "48000", "channels": 2}
            ]
        }))
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(info.duration, 2.5);
        assert!((info.streams[0].frame_rate - 29.97).abs() < 0.01);
        assert!(info.streams[0].alpha);
        assert_eq!(info.streams[1].sample_rate, 48000);
    }
}
