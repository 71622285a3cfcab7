//! [`FfmpegPolicy`], the process-wide part of the capability: the
//! binaries, the sandbox and its limits, a semaphore bounding concurrent
//! processes, and the scratch root; and [`Call`], one sandboxed process in
//! a fresh scratch directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::sandbox::{self, Limits, ProcessMeter, RunError, Sandbox};
use crate::bindings::ffmpeg::FfmpegError;
use crate::budget::{Body, BodyError, RunBudget, SPILL_BYTES, Scratch};
use crate::config::{FfmpegConfig, KNOWN_FFMPEG_MAJORS, SandboxKind};

/// Open files per process: ffmpeg needs a few dozen descriptors; a long
/// timeline a few hundred inputs.
const OPEN_FILES: u64 = 1024;

/// Process-wide ffmpeg settings.
pub struct FfmpegPolicy {
    binaries: Result<Binaries, String>,
    sandbox: Sandbox,
    limits: Limits,
    /// Threads per job (`-threads`).
    pub(super) threads: u32,
    /// How long a job may go without progress.
    stall: Duration,
    permits: Semaphore,
    scratch: PathBuf,
}

/// The programs, resolved to absolute paths.
#[derive(Debug, Clone)]
pub(super) struct Binaries {
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
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
    pub async fn new(config: &FfmpegConfig) -> anyhow::Result<FfmpegPolicy> {
        let binaries = match (resolve(&config.ffmpeg), resolve(&config.ffprobe)) {
            (Some(ffmpeg), Some(ffprobe)) => Ok(Binaries { ffmpeg, ffprobe }),
            _ => Err(format!(
                "ffmpeg is not installed on this server ({} / {} not found)",
                config.ffmpeg, config.ffprobe
            )),
        };
        let sandbox = match config.sandbox {
            SandboxKind::Bwrap => Sandbox::Bwrap(config.bwrap.clone().into()),
            SandboxKind::None => Sandbox::None,
        };
        let limits = Limits {
            cpu_seconds: config.cpu_seconds,
            address_space: config.memory,
            file_size: config.max_file_bytes,
            open_files: OPEN_FILES,
        };
        if let Ok(found) = &binaries {
            let out = tokio::process::Command::new(&found.ffmpeg)
                .arg("-version")
                .output()
                .await
                .with_context(|| format!("running {} -version", found.ffmpeg.display()))?;
            let first = String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned();
            check_version(&first, &config.accept_versions)?;
        }
        if let (Ok(found), Sandbox::Bwrap(_)) = (&binaries, &sandbox) {
            if !found.ffmpeg.starts_with("/usr/") {
                anyhow::bail!(
                    "ffmpeg at {} is outside /usr, which is all the bwrap sandbox shows; \
                     install it under /usr or set [ffmpeg] sandbox = \"none\"",
                    found.ffmpeg.display()
                );
            }
            sandbox::self_test(&sandbox, &limits, &found.ffmpeg)
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "the ffmpeg sandbox (bubblewrap) does not work here: {e}; \
                         install bubblewrap, allow user namespaces, or set [ffmpeg] sandbox = \"none\""
                    )
                })?;
        }
        let scratch = config.scratch();
        std::fs::create_dir_all(&scratch)
            .with_context(|| format!("creating the ffmpeg scratch root {}", scratch.display()))?;
        Ok(FfmpegPolicy {
            binaries,
            sandbox,
            limits,
            threads: config.threads.max(1),
            stall: config.stall_timeout,
            permits: Semaphore::new(config.max_concurrent.max(1)),
            scratch,
        })
    }

    /// The programs, or why there are none.
    pub(super) fn binaries(&self) -> Result<&Binaries, FfmpegError> {
        self.binaries
            .as_ref()
            .map_err(|e| FfmpegError::Failed(e.clone()))
    }

    /// Where runs keep their scratch (`run-*` directories) and calls
    /// their own (`job-*`).
    pub fn scratch_root(&self) -> &Path {
        &self.scratch
    }
}

/// The major version in `ffmpeg -version`'s first line (`ffmpeg version
/// 5.1.9-0+deb12u1 …`, `ffmpeg version n6.1.1 …`); `None` for a build
/// without one (`N-109421-g…`, a git snapshot).
fn major(version_line: &str) -> Option<u32> {
    let version = version_line.strip_prefix("ffmpeg version ")?;
    let version = version.strip_prefix('n').unwrap_or(version);
    let digits: String = version.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Refuse an ffmpeg whose major drake's argument and filter checks were
/// not made for ([`KNOWN_FFMPEG_MAJORS`]), unless the operator accepts it.
fn check_version(version_line: &str, accepted: &[u32]) -> anyhow::Result<()> {
    let known = KNOWN_FFMPEG_MAJORS;
    match major(version_line) {
        Some(m) if known.contains(&m) || accepted.contains(&m) => Ok(()),
        Some(m) => anyhow::bail!(
            "{version_line:?}: ffmpeg {m} is not a version drake's checks were made for \
             ({known:?}); a newer ffmpeg may have options that read or write files the \
             filter check does not know. To run it anyway: [ffmpeg] accept_versions = [{m}]"
        ),
        None => anyhow::bail!(
            "{version_line:?}: not an ffmpeg release with a version number; drake's checks \
             were made for ffmpeg {known:?}"
        ),
    }
}

/// What one process needs besides its arguments: the run's policy,
/// deadline, usage meter, budget and scratch, and the files of its inputs.
pub(super) struct Call {
    pub policy: Arc<FfmpegPolicy>,
    pub deadline: Instant,
    pub meter: Arc<ProcessMeter>,
    pub budget: Arc<RunBudget>,
    pub scratch: Arc<Scratch>,
    /// Input `i` of the call, linked into its directory as `in<i>`.
    pub inputs: Vec<PathBuf>,
    /// The bodies whose files those are, kept while the call runs.
    pub _keep: Vec<Body>,
}

/// What a call leaves: the captured stdout and its output files (small
/// ones read into memory, others moved into the run's scratch).
pub(super) struct Ran {
    pub stdout: Vec<u8>,
    pub outputs: Vec<Body>,
}

/// How a call's process is run.
pub(super) struct Spec<'a> {
    /// ffmpeg or ffprobe.
    pub program: &'a Path,
    pub args: &'a [String],
    /// Files written into the directory first (name, bytes).
    pub files: &'a [(&'a str, &'a [u8])],
    /// Keep stdout (ffprobe JSON).
    pub capture: bool,
    /// `out0`, `out1`, … read back after the process exits.
    pub outputs: usize,
    /// Whether a failure means the input is unreadable (probing).
    pub probing: bool,
    /// Whether the process reports `-progress` (then a job that stops
    /// advancing is ended: [`FfmpegConfig::stall_timeout`]).
    pub progress: bool,
}

impl Call {
    /// Wait for a turn among the concurrent processes, then run `spec` in
    /// a fresh scratch directory holding the inputs (deleted afterwards,
    /// whatever the outcome); each stdout line goes to `on_line`.
    pub async fn run(&self, spec: Spec<'_>, on_line: impl FnMut(&str)) -> Result<Ran, FfmpegError> {
        let policy = &self.policy;
        let _permit = policy
            .permits
            .acquire()
            .await
            .map_err(|_| FfmpegError::Failed("shutting down".into()))?;
        let scratch = tempfile::Builder::new()
            .prefix("job-")
            .tempdir_in(&policy.scratch)
            .map_err(|e| FfmpegError::Failed(format!("scratch directory: {e}")))?;
        let dir = scratch.path();
        for (i, file) in self.inputs.iter().enumerate() {
            link_input(dir, i, file).await?;
        }
        for (name, bytes) in spec.files {
            tokio::fs::write(dir.join(name), bytes)
                .await
                .map_err(|e| FfmpegError::Failed(format!("writing {name}: {e}")))?;
        }
        // ffmpeg writes within the run's scratch budget: the file-size
        // limit is lowered to what is left of it.
        let scratch_left = self.budget.scratch_left();
        let limits = Limits {
            file_size: policy.limits.file_size.min(scratch_left),
            ..policy.limits.clone()
        };
        let finished = sandbox::run(
            sandbox::Invocation {
                sandbox: &policy.sandbox,
                limits: &limits,
                dir,
                program: spec.program,
                args: spec.args,
                deadline: self.deadline,
                capture: spec.capture,
                meter: &self.meter,
                stall: spec.progress.then_some(policy.stall),
            },
            on_line,
        )
        .await
        .map_err(|e| match e {
            RunError::FileSize(_) if limits.file_size < policy.limits.file_size => {
                FfmpegError::Limit(self.budget.scratch_exceeded().to_string())
            }
            e => convert_error(e, spec.probing),
        })?;
        let mut outputs = Vec::with_capacity(spec.outputs);
        for i in 0..spec.outputs {
            outputs.push(self.output(&dir.join(format!("out{i}"))).await?);
        }
        Ok(Ran {
            stdout: finished.stdout,
            outputs,
        })
    }
}

impl Call {
    /// Output file `path` as a body: read when small, else moved into
    /// the run's scratch (charged to its budget). ffmpeg creates no file
    /// when nothing was decoded (a seek past the last frame, a stream
    /// without frames): that is an empty output, for the task to judge.
    async fn output(&self, path: &Path) -> Result<Body, FfmpegError> {
        let failed = |e: std::io::Error| FfmpegError::Failed(format!("reading an output: {e}"));
        let len = match tokio::fs::metadata(path).await {
            Ok(meta) => meta.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(failed(e)),
        };
        if len == 0 {
            return Ok(Body::from_bytes(bytes::Bytes::new()));
        }
        if len <= SPILL_BYTES {
            let bytes = tokio::fs::read(path).await.map_err(failed)?;
            return Ok(Body::from_bytes(bytes.into()));
        }
        Body::adopt(path, len, &self.budget, &self.scratch)
            .await
            .map_err(|e| match e {
                BodyError::Exceeded(e) => FfmpegError::Limit(e.to_string()),
                BodyError::Io(e) => failed(e),
            })
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

/// The one mapping from process failures to the WIT variant.
fn convert_error(e: RunError, probing: bool) -> FfmpegError {
    match e {
        RunError::Timeout(_)
        | RunError::Stalled(_)
        | RunError::Cpu(_)
        | RunError::FileSize(_)
        | RunError::Memory(_) => FfmpegError::Limit(format!("ffmpeg {e}")),
        RunError::Exit { stderr, .. } => {
            // A filter instance (`[Parsed_concat_3 @ …]`) or the graph's
            // setup speaking: the job is wrong, whatever else it says.
            let graph_problem = [
                "[Parsed_",
                "Error reinitializing filters",
                "Error initializing complex filters",
                "Failed to configure",
            ]
            .iter()
            .any(|m| stderr.contains(m));
            let input_problem = !graph_problem
                && (probing
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
                    .any(|m| stderr.contains(m)));
            // ffmpeg's own words go to the operator; the task hears what
            // concerns its input, never the internals of a filter graph.
            tracing::warn!(target: "drake::ffmpeg", stderr = %stderr, input_problem, "ffmpeg exited with an error");
            if input_problem {
                let msg = stderr.replace("/job/", "").replace("in0", "the input");
                FfmpegError::InvalidInput(format!("the input is not readable media: {msg}"))
            } else {
                FfmpegError::Failed(
                    "ffmpeg could not carry out the job (its messages are in the server log)"
                        .into(),
                )
            }
        }
        RunError::Spawn(io) => FfmpegError::Failed(format!("ffmpeg could not start: {io}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ffmpeg_internals_stay_in_the_log() {
        let graph = RunError::Exit {
            code: 1,
            stderr: "[Parsed_concat_3 @ 0x5] Input link in0:v0 parameters (size 320x180, SAR 1:1) do not match; Failed to inject frame into filter network: Invalid argument".into(),
        };
        let FfmpegError::Failed(m) = convert_error(graph, false) else {
            panic!("a graph error is a failure");
        };
        assert!(!m.contains("concat") && m.contains("server log"), "{m}");
        let input = RunError::Exit {
            code: 1,
            stderr: "/job/in0: Invalid data found when processing input".into(),
        };
        let FfmpegError::InvalidInput(m) = convert_error(input, false) else {
            panic!("an unreadable input is the input's fault");
        };
        assert_eq!(
            m,
            "the input is not readable media: the input: Invalid data found when processing input"
        );
    }

    #[test]
    fn versions_are_checked() {
        assert_eq!(
            major("ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000"),
            Some(5)
        );
        assert_eq!(major("ffmpeg version n6.1.1 Copyright"), Some(6));
        assert_eq!(major("ffmpeg version 7.0"), Some(7));
        assert_eq!(major("ffmpeg version N-109421-g0a1b2c3"), None);
        assert_eq!(major("avconv version 12"), None);
        assert!(check_version("ffmpeg version 5.1.9-0+deb12u1", &[]).is_ok());
        let newer = check_version("ffmpeg version 7.1", &[]);
        assert!(newer.is_err_and(|e| e.to_string().contains("accept_versions = [7]")));
        assert!(check_version("ffmpeg version 7.1", &[7]).is_ok());
        assert!(check_version("ffmpeg version N-1-gabc", &[7]).is_err());
    }
}
