//! The `ffmpeg` capability: typed jobs from the guest, native ffmpeg in a
//! sandbox on the host.
//!
//! - [`FfmpegPolicy`] (process-wide, [`policy`]): binaries, sandbox,
//!   rlimits, a semaphore bounding concurrent processes, the scratch root;
//! - [`FfmpegCtx`] (per run, [`context`]): the task's deadline and its
//!   inputs written to disk once;
//! - [`argv`] turns a job into an allow-listed argument vector, [`filter`]
//!   checks filter graphs, [`captions`] writes burned-in captions' script, [`probe`] reads ffprobe's answer, [`speech`]
//!   builds flite's, [`sandbox`] and [`process`] run the process.
//!
//! This module is the guest's three calls: `probe`, `run` and `speak`.
//! Each runs one process in a fresh scratch directory holding its inputs
//! (`in0`, `in1`, …) and its outputs (`out0`, …, read back into blobs),
//! deleted when the call ends, whatever the outcome.

use wasmtime::component::Resource;

use crate::bindings::Blob;
use crate::bindings::ffmpeg::{self, FfmpegError, MediaInfo};
use crate::budget::Body;
use crate::capabilities::HostState;
use crate::run::RunEvent;

pub mod argv;
pub mod captions;
pub mod context;
pub mod filter;
mod filter_options;
pub mod policy;
pub mod probe;
pub mod process;
pub mod sandbox;
pub mod speech;

pub use context::FfmpegCtx;
pub use policy::FfmpegPolicy;
pub use sandbox::{Limits, Sandbox};

use policy::Spec;

impl HostState {
    /// The bodies of the blobs `handles` (a handle the guest does not own
    /// traps).
    fn blob_bodies<'a>(
        &self,
        handles: impl IntoIterator<Item = &'a Resource<Blob>>,
    ) -> wasmtime::Result<Vec<Body>> {
        handles
            .into_iter()
            .map(|h| Ok(self.table.get(h)?.body.clone()))
            .collect()
    }

    /// A new blob handle for a body a call produced.
    fn new_blob(&mut self, body: Body, content_type: &str) -> wasmtime::Result<Resource<Blob>> {
        Ok(self.table.push(Blob {
            body,
            content_type: content_type.to_owned(),
            url: String::new(),
        })?)
    }
}

/// Unwrap a capability result, or answer the guest with its error.
macro_rules! or_answer {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        }
    };
}

impl ffmpeg::Host for HostState {
    async fn probe(
        &mut self,
        input: Resource<Blob>,
    ) -> wasmtime::Result<Result<MediaInfo, FfmpegError>> {
        let inputs = self.blob_bodies([&input])?;
        let ffprobe = or_answer!(self.ffmpeg.policy().binaries()).ffprobe.clone();
        let call = or_answer!(self.ffmpeg.call(&inputs).await);
        let spec = Spec {
            program: &ffprobe,
            args: &probe::probe_argv(),
            files: &[],
            capture: true,
            outputs: 0,
            probing: true,
            progress: false,
        };
        let ran = or_answer!(call.run(spec, |_| {}).await);
        let json = or_answer!(
            serde_json::from_slice(&ran.stdout)
                .map_err(|e| FfmpegError::Failed(format!("ffprobe output: {e}")))
        );
        Ok(probe::media_info(&json))
    }

    async fn run(
        &mut self,
        job: ffmpeg::Job,
    ) -> wasmtime::Result<Result<ffmpeg::JobResult, FfmpegError>> {
        let inputs = self.blob_bodies(job.inputs.iter().map(|i| &i.media))?;
        let policy = self.ffmpeg.policy();
        let ffmpeg_bin = or_answer!(policy.binaries()).ffmpeg.clone();
        let (host_filter, script) = match &job.captions {
            Some(burn) => (
                Some(or_answer!(
                    captions::filter(burn).map_err(FfmpegError::InvalidJob)
                )),
                or_answer!(captions::script(burn).map_err(FfmpegError::InvalidJob)),
            ),
            None => (None, String::new()),
        };
        let planned = argv::PlannedJob {
            inputs: job.inputs.iter().map(|i| i.options.as_slice()).collect(),
            filter_complex: job.filter_complex.as_deref(),
            host_filter: host_filter.as_deref(),
            outputs: job.outputs.iter().map(|o| o.options.as_slice()).collect(),
            threads: policy.threads,
        };
        let args = or_answer!(argv::build(&planned).map_err(FfmpegError::InvalidJob));
        let mut progress = Progress::new(
            self.progress.sender(),
            job.progress_span,
            job.progress_duration,
        );
        let call = or_answer!(self.ffmpeg.call(&inputs).await);
        let spec = Spec {
            program: &ffmpeg_bin,
            args: &args,
            files: if job.captions.is_some() {
                &[(captions::SCRIPT, script.as_bytes())]
            } else {
                &[]
            },
            capture: false,
            outputs: job.outputs.len(),
            probing: false,
            progress: true,
        };
        let ran = or_answer!(call.run(spec, |line| progress.line(line)).await);
        let mut outputs = Vec::with_capacity(ran.outputs.len());
        for body in ran.outputs {
            outputs.push(self.new_blob(body, "")?);
        }
        Ok(Ok(ffmpeg::JobResult {
            outputs,
            frames: progress.frames,
            out_time: progress.out_time,
        }))
    }

    async fn speak(
        &mut self,
        text: String,
        voice: String,
    ) -> wasmtime::Result<Result<Resource<Blob>, FfmpegError>> {
        let ffmpeg_bin = or_answer!(self.ffmpeg.policy().binaries()).ffmpeg.clone();
        if text.len() > speech::MAX_SPEECH_TEXT {
            return Ok(Err(FfmpegError::InvalidJob(format!(
                "the text is longer than {} bytes",
                speech::MAX_SPEECH_TEXT
            ))));
        }
        let args = or_answer!(speech::speech_argv(&voice));
        let call = or_answer!(self.ffmpeg.call(&[]).await);
        let spec = Spec {
            program: &ffmpeg_bin,
            args: &args,
            files: &[("text.txt", text.as_bytes())],
            capture: false,
            outputs: 1,
            probing: false,
            progress: false,
        };
        let mut ran = or_answer!(call.run(spec, |_| {}).await);
        match ran.outputs.pop() {
            Some(wav) if !wav.is_empty() => Ok(Ok(self.new_blob(wav, "audio/wav")?)),
            _ => Ok(Err(FfmpegError::Failed("flite wrote no speech".into()))),
        }
    }
}

/// ffmpeg's `-progress` lines of one job: its frame count and output time,
/// and its share (`span`, in percent of the task) reported as progress.
struct Progress {
    events: tokio::sync::mpsc::Sender<RunEvent>,
    span: (u8, u8),
    /// The output's expected length in seconds, when known.
    duration: Option<f64>,
    last: Option<u8>,
    frames: u64,
    out_time: f64,
}

impl Progress {
    fn new(
        events: tokio::sync::mpsc::Sender<RunEvent>,
        span: (u8, u8),
        duration: Option<f64>,
    ) -> Progress {
        Progress {
            events,
            span,
            duration: duration.filter(|d| d.is_finite() && *d > 0.0),
            last: None,
            frames: 0,
            out_time: 0.0,
        }
    }

    fn line(&mut self, line: &str) {
        if let Some(n) = line
            .strip_prefix("frame=")
            .and_then(|v| v.trim().parse().ok())
        {
            self.frames = n;
            return;
        }
        let Some(us) = line
            .strip_prefix("out_time_us=")
            .and_then(|v| v.trim().parse::<f64>().ok())
        else {
            return;
        };
        self.out_time = (us / 1e6).max(0.0);
        let Some(duration) = self.duration else {
            return;
        };
        let (lo, hi) = self.span;
        let fraction = (us / 1e6 / duration).clamp(0.0, 1.0);
        let span = f64::from(hi.saturating_sub(lo));
        let percent = (f64::from(lo) + span * fraction).round().min(100.0) as u8;
        if self.last != Some(percent) {
            self.last = Some(percent);
            // Lossy on purpose: a later report supersedes this one.
            let _ = self.events.try_send(RunEvent::Progress(percent));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_map_into_the_span() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let mut p = Progress::new(tx, (20, 60), Some(10.0));
        for line in [
            "frame=12",
            "out_time_us=5000000",
            "out_time_us=5000000",
            "junk",
        ] {
            p.line(line);
        }
        assert_eq!(p.frames, 12);
        assert!((p.out_time - 5.0).abs() < 1e-9);
        assert_eq!(rx.try_recv().ok(), Some(RunEvent::Progress(40)));
        assert!(
            rx.try_recv().is_err(),
            "a repeated percentage is not sent again"
        );
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let mut unknown = Progress::new(tx, (0, 100), Some(f64::NAN));
        unknown.line("out_time_us=1000000");
        assert!(rx.try_recv().is_err(), "no length, no percentage");
    }
}
