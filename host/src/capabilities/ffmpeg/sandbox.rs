//! Running ffmpeg/ffprobe as a sandboxed process.
//!
//! Layers, outermost first:
//! - `nice -n 10`: renders yield the CPU to the API and light tasks;
//! - `prlimit`: CPU seconds (SIGXCPU at the soft limit), address space,
//!   largest file written (SIGXFSZ), open files;
//! - `bwrap` (bubblewrap): new user, mount, network, PID, IPC and UTS
//!   namespaces; only `/usr` (read-only, for the binary, its libraries and
//!   fonts) and the job's scratch directory are visible, so `/etc/passwd`,
//!   the data directory and the network do not exist for ffmpeg; the
//!   environment is cleared; ffmpeg dies with drake;
//! - a wall-clock deadline (the task's), after which the process group is
//!   killed.
//!
//! `Sandbox::None` keeps the rlimits and the deadline but not the
//! namespaces: for machines without user namespaces, by explicit choice.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};
use tokio::time::Instant;

use super::process::Process;

/// stderr kept: the tail says what went wrong (and holds the `bench:`
/// lines); info lines before it (x264's summary) can take a few KiB.
const STDERR_TAIL: usize = 16 << 10;
/// stdout kept when captured (ffprobe JSON of a file with many streams).
const STDOUT_CAP: usize = 4 << 20;

/// How ffmpeg is isolated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sandbox {
    /// bubblewrap at this path.
    Bwrap(PathBuf),
    /// rlimits and deadline only.
    None,
}

/// ffmpeg's scheduling niceness: a render uses every core for minutes,
/// while the API, the guests and other accounts' light tasks need a few
/// milliseconds now; niced, ffmpeg takes what they leave.
const NICENESS: &str = "10";

/// Process limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// CPU seconds per process.
    pub cpu_seconds: u64,
    /// Address space in bytes.
    pub address_space: u64,
    /// Largest file the process may write.
    pub file_size: u64,
    /// Open files.
    pub open_files: u64,
}

/// How a run ended badly.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Past the deadline; killed.
    #[error("took longer than the time left to the task ({0:?})")]
    Timeout(Duration),
    /// No progress for this long; killed.
    #[error(
        "made no progress for {0:?} (a filter graph waiting for frames that never come); ended ([ffmpeg] stall_timeout)"
    )]
    Stalled(Duration),
    /// CPU seconds exhausted.
    #[error("used more than {0} CPU seconds")]
    Cpu(u64),
    /// A file grew past the cap.
    #[error("wrote a file larger than {0} bytes")]
    FileSize(u64),
    /// Out of memory under the address-space cap.
    #[error("needed more than {0} MiB of memory")]
    Memory(u64),
    /// Exited with an error.
    #[error("exited with status {code}: {stderr}")]
    Exit {
        /// Exit code.
        code: i32,
        /// stderr tail.
        stderr: String,
    },
    /// Could not start.
    #[error("could not start: {0}")]
    Spawn(std::io::Error),
}

/// A finished run.
#[derive(Debug)]
pub struct Finished {
    /// Captured stdout (empty unless asked for).
    pub stdout: Vec<u8>,
}

/// What the processes of one task used, summed as they are reaped
/// (shared with the job futures, hence atomics).
#[derive(Debug, Default)]
pub struct ProcessMeter {
    /// Wall time spent waiting for processes, in microseconds.
    pub wall_micros: AtomicU64,
    /// User + system CPU time, in microseconds.
    pub cpu_micros: AtomicU64,
    /// The largest peak memory any one ffmpeg reported, in bytes.
    pub max_rss: AtomicU64,
}

impl ProcessMeter {
    /// Add one reaped process: its CPU from rusage, its peak memory as
    /// ffmpeg reported it (`max_rss`, when known).
    fn record(&self, exit: &super::process::Exit, max_rss: Option<u64>, wall: Duration) {
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.wall_micros.fetch_add(micros(wall), Ordering::Relaxed);
        self.cpu_micros
            .fetch_add(micros(exit.cpu), Ordering::Relaxed);
        if let Some(rss) = max_rss {
            self.max_rss.fetch_max(rss, Ordering::Relaxed);
        }
    }
}

/// One process to run.
pub struct Invocation<'a> {
    /// Isolation.
    pub sandbox: &'a Sandbox,
    /// rlimits.
    pub limits: &'a Limits,
    /// The job's scratch directory (the working directory).
    pub dir: &'a Path,
    /// ffmpeg or ffprobe, absolute.
    pub program: &'a Path,
    /// Arguments.
    pub args: &'a [String],
    /// Kill after this.
    pub deadline: Instant,
    /// Return stdout.
    pub capture: bool,
    /// Where the process's usage is added once it is reaped.
    pub meter: &'a ProcessMeter,
    /// For ffmpeg with `-progress`: kill it once its progress (frames,
    /// output time, output size) has not advanced for this long.
    pub stall: Option<Duration>,
}

/// Watches `-progress` lines for a job that stopped advancing: a filter
/// graph starved of frames (a stream cut to nothing that another waits
/// for) leaves ffmpeg idle until the task's deadline, holding a worker.
struct Stall {
    limit: Duration,
    advanced: Instant,
    /// The last `frame=`, `out_time_us=` and `total_size=` values.
    last: [String; 3],
}

impl Stall {
    fn new(limit: Duration) -> Stall {
        Stall {
            limit,
            advanced: Instant::now(),
            last: Default::default(),
        }
    }

    /// Until when the job may go without advancing.
    fn deadline(&self) -> Instant {
        self.advanced + self.limit
    }

    fn line(&mut self, line: &str) {
        let Some((key, value)) = line.split_once('=') else {
            return;
        };
        let slot = match key {
            "frame" => 0,
            "out_time_us" => 1,
            "total_size" => 2,
            _ => return,
        };
        if self.last[slot] != value {
            value.clone_into(&mut self.last[slot]);
            self.advanced = Instant::now();
        }
    }
}

/// Run an invocation. Each stdout line goes to `on_line` (ffmpeg
/// `-progress`); with `capture`, stdout is also returned (ffprobe JSON).
pub async fn run(inv: Invocation<'_>, mut on_line: impl FnMut(&str)) -> Result<Finished, RunError> {
    let Invocation {
        sandbox,
        limits,
        dir,
        program,
        args,
        deadline,
        capture,
        meter,
        stall,
    } = inv;
    // `nice` and `prlimit` exec what follows: the child stays one process.
    let mut cmd = Command::new("nice");
    cmd.args(["-n", NICENESS, "prlimit"]);
    cmd.arg(format!(
        "--cpu={}:{}",
        limits.cpu_seconds,
        limits.cpu_seconds + 1
    ))
    .arg(format!("--as={}", limits.address_space))
    .arg(format!("--fsize={}", limits.file_size))
    .arg(format!("--nofile={}", limits.open_files))
    .arg("--");
    match sandbox {
        Sandbox::Bwrap(bwrap) => {
            cmd.arg(bwrap);
            cmd.args([
                "--ro-bind",
                "/usr",
                "/usr",
                "--symlink",
                "usr/lib",
                "/lib",
                "--symlink",
                "usr/lib64",
                "/lib64",
                "--symlink",
                "usr/bin",
                "/bin",
                // Debian's library alternatives (libblas) and loader cache.
                "--ro-bind-try",
                "/etc/alternatives",
                "/etc/alternatives",
                "--ro-bind-try",
                "/etc/ld.so.cache",
                "/etc/ld.so.cache",
                "--ro-bind-try",
                "/etc/fonts",
                "/etc/fonts",
                // fontconfig's cache: without it libass (burned captions)
                // rescans every font directory in each job.
                "--ro-bind-try",
                "/var/cache/fontconfig",
                "/var/cache/fontconfig",
                "--proc",
                "/proc",
                "--dev",
                "/dev",
                "--unshare-all",
                // ffmpeg is the namespace's pid 1, bwrap's direct child:
                // bwrap reaps it, so its CPU time reaches our rusage (with
                // bwrap's own init in between it is lost). As pid 1 it
                // ignores SIGXCPU/SIGXFSZ: the hard CPU limit's SIGKILL
                // still ends it, and an oversized write fails with EFBIG.
                "--as-pid-1",
                "--die-with-parent",
                "--new-session",
                "--clearenv",
                "--setenv",
                "PATH",
                "/usr/bin",
            ]);
            cmd.arg("--bind")
                .arg(dir)
                .arg("/job")
                .args(["--chdir", "/job"]);
        }
        Sandbox::None => {
            cmd.env_clear()
                .env("PATH", "/usr/bin:/bin")
                .current_dir(dir);
        }
    }
    cmd.arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(RunError::Spawn)?;
    // From here the pidfd owns the process: dropped (a timeout, a
    // cancelled task) it kills and reaps it.
    let mut process = match Process::adopt(child.id()) {
        Ok(p) => p,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(RunError::Spawn(e));
        }
    };
    let stdout = child
        .stdout
        .take()
        .map(tokio::process::ChildStdout::from_std)
        .transpose()
        .map_err(RunError::Spawn)?;
    let stderr = child
        .stderr
        .take()
        .map(tokio::process::ChildStderr::from_std)
        .transpose()
        .map_err(RunError::Spawn)?;

    let stderr_task = tokio::spawn(async move {
        let mut tail = Vec::new();
        if let Some(mut err) = stderr {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > 2 * STDERR_TAIL {
                    tail.drain(..tail.len() - STDERR_TAIL);
                }
            }
        }
        tail
    });

    let mut watch = stall.map(Stall::new);
    let work = async {
        let mut captured = Vec::new();
        if let Some(out) = stdout {
            let mut lines = BufReader::new(out).lines();
            loop {
                let next = match &watch {
                    Some(w) => match tokio::time::timeout_at(w.deadline(), lines.next_line()).await
                    {
                        Ok(next) => next,
                        Err(_) => return None,
                    },
                    None => lines.next_line().await,
                };
                let Ok(Some(line)) = next else { break };
                if let Some(w) = &mut watch {
                    w.line(&line);
                }
                on_line(&line);
                if capture && captured.len() < STDOUT_CAP {
                    captured.extend_from_slice(line.as_bytes());
                    captured.push(b'\n');
                }
            }
        }
        Some((captured, process.wait().await))
    };
    let ended = tokio::time::timeout_at(deadline, work).await;
    let (captured, exit) = match ended {
        Ok(Some(done)) => done,
        ended => {
            // Kill now and count what it used up to here.
            if let Ok(exit) = process.kill().await {
                meter.record(&exit, None, started.elapsed());
            }
            return Err(match (ended, stall) {
                (Ok(None), Some(limit)) => RunError::Stalled(limit),
                _ => RunError::Timeout(started.elapsed()),
            });
        }
    };
    let exit = exit.map_err(RunError::Spawn)?;
    let tail = stderr_task.await.unwrap_or_default();
    let (stderr, max_rss) = parse_stderr(&tail);
    meter.record(&exit, max_rss, started.elapsed());
    if exit.code == 0 {
        return Ok(Finished { stdout: captured });
    }
    let code = exit.code;
    Err(match code {
        // 128 + SIGXCPU, or SIGKILL at the hard CPU limit (bwrap reports
        // its child's signal the same way).
        152 | 137 => RunError::Cpu(limits.cpu_seconds),
        // 128 + SIGXFSZ, or EFBIG when ffmpeg is a namespace's pid 1.
        153 => RunError::FileSize(limits.file_size),
        _ if stderr.contains("File too large") => RunError::FileSize(limits.file_size),
        _ if stderr.contains("Cannot allocate memory") => {
            RunError::Memory(limits.address_space >> 20)
        }
        _ => RunError::Exit { code, stderr },
    })
}

/// The error lines of a stderr tail (the last five, as `; `-joined
/// text) and the `bench: maxrss=<n>kB` figure in bytes.
///
/// ffmpeg runs with `-loglevel level+info -benchmark`: every line carries
/// its level (`[error] …`, `[h264 @ 0x…] [error] …`); info lines are
/// dropped from messages, errors lose their level tag so they read as at
/// `-loglevel error`. Lines without a level (ffprobe's) are kept.
///
/// The memory figure is ffmpeg's own `getrusage`: the rusage seen when
/// reaping is no use for memory, since a process exec'd from drake
/// inherits drake's high-water mark in its `maxrss`.
pub fn parse_stderr(bytes: &[u8]) -> (String, Option<u64>) {
    let start = bytes.len().saturating_sub(STDERR_TAIL);
    let text = String::from_utf8_lossy(&bytes[start..]);
    let mut max_rss = None;
    let mut lines = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        // The first tag on the line is ffmpeg's; a later one is text (a
        // file's metadata can say anything).
        let level = [
            "info", "verbose", "debug", "trace", "warning", "error", "fatal", "panic",
        ]
        .into_iter()
        .filter_map(|lvl| {
            let tag = format!("[{lvl}] ");
            line.find(&tag).map(|at| (lvl, at, tag.len()))
        })
        .min_by_key(|&(_, at, _)| at);
        match level {
            Some(("info", at, len)) => {
                let rest = &line[at + len..];
                if let Some(kb) = rest
                    .strip_prefix("bench: maxrss=")
                    .and_then(|v| v.trim().strip_suffix("kB"))
                    .and_then(|v| v.parse::<u64>().ok())
                {
                    max_rss = Some(kb * 1024);
                }
            }
            Some(("error" | "fatal" | "panic", at, len)) => {
                lines.push(format!("{}{}", &line[..at], &line[at + len..]));
            }
            Some(_) => {}
            None => lines.push(line.to_owned()),
        }
    }
    let kept = lines[lines.len().saturating_sub(5)..].join("; ");
    (kept, max_rss)
}

/// Whether `sandbox` can run here (a start-up check).
pub async fn self_test(sandbox: &Sandbox, limits: &Limits, program: &Path) -> Result<(), RunError> {
    let dir = std::env::temp_dir();
    let deadline = Instant::now() + Duration::from_secs(20);
    let args = ["-version".to_owned()];
    let inv = Invocation {
        sandbox,
        limits,
        dir: &dir,
        program,
        args: &args,
        deadline,
        capture: false,
        meter: &ProcessMeter::default(),
        stall: None,
    };
    run(inv, |_| {}).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ffmpeg (unsandboxed: the test needs no namespaces) with `args`,
    /// ended after `stall` without progress.
    async fn ffmpeg(args: &[&str], stall: Duration) -> Result<Finished, RunError> {
        let limits = Limits {
            cpu_seconds: 60,
            address_space: 4 << 30,
            file_size: 1 << 30,
            open_files: 256,
        };
        let dir = tempfile::tempdir().map_err(RunError::Spawn)?;
        let mut argv: Vec<String> = ["-nostdin", "-loglevel", "error", "-progress", "pipe:1"]
            .map(String::from)
            .to_vec();
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        let inv = Invocation {
            sandbox: &Sandbox::None,
            limits: &limits,
            dir: dir.path(),
            program: Path::new("/usr/bin/ffmpeg"),
            args: &argv,
            deadline: Instant::now() + Duration::from_secs(60),
            capture: false,
            meter: &ProcessMeter::default(),
            stall: Some(stall),
        };
        run(inv, |_| {}).await
    }

    /// A graph that never outputs a frame is ended at the stall limit, not
    /// at the task's deadline; one that advances runs past the limit.
    #[tokio::test]
    async fn a_job_without_progress_is_ended_as_stalled() {
        if !Path::new("/usr/bin/ffmpeg").exists() {
            eprintln!("skipped: no /usr/bin/ffmpeg");
            return;
        }
        // Wide enough that a loaded 2-core machine (a build beside the
        // tests) starting ffmpeg does not look like a stall.
        let stall = Duration::from_millis(3000);
        let starved = ffmpeg(
            &[
                "-f",
                "lavfi",
                "-i",
                "nullsrc=s=16x16:r=25",
                "-vf",
                "select=0",
                "-f",
                "null",
                "-",
            ],
            stall,
        )
        .await;
        assert!(
            matches!(starved, Err(RunError::Stalled(d)) if d == stall),
            "{starved:?}"
        );
        let started = Instant::now();
        let slow = ffmpeg(
            &[
                "-re",
                "-f",
                "lavfi",
                "-i",
                "testsrc=s=16x16:r=10:d=5",
                "-f",
                "null",
                "-",
            ],
            stall,
        )
        .await;
        assert!(slow.is_ok(), "{slow:?}");
        assert!(
            started.elapsed() > stall,
            "the job ran past the stall limit"
        );
    }

    #[test]
    fn errors_are_kept_info_dropped_and_maxrss_read() {
        let stderr = b"[info] Input #0, lavfi, from 'testsrc':\n\
            [libx264 @ 0x55] [info] using SAR=1/1\n\
            [mov,mp4 @ 0x56] [warning] low score\n\
            [mov,mp4 @ 0x56] [error] moov atom not found\n\
            [error] in0: Invalid data found when processing input\n\
            [info] bench: utime=0.034s stime=0.010s rtime=0.052s\n\
            [info] bench: maxrss=49056kB\n";
        let (errors, rss) = parse_stderr(stderr);
        assert_eq!(
            errors,
            "[mov,mp4 @ 0x56] moov atom not found; in0: Invalid data found when processing input"
        );
        assert_eq!(rss, Some(49_056 * 1024));
        // The level is the first tag: text quoting `[info] ` stays an error.
        let (errors, _) = parse_stderr(b"[error] bad title \"[info] x\"\n");
        assert_eq!(errors, "bad title \"[info] x\"");
        // ffprobe's plain lines stay as they are.
        let (errors, rss) = parse_stderr(b"in0: Invalid data\n\n");
        assert_eq!((errors.as_str(), rss), ("in0: Invalid data", None));
    }
}
