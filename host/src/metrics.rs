//! `/metrics` in Prometheus' text format (0.0.4): what this node ran and
//! what the store holds.
//!
//! - `drake_tasks{task,state}` (gauge, from the store: every node's
//!   tasks not yet expired); `drake_queue_depth` (gauge, queued tasks);
//! - `drake_runs_total{task,status}` and `drake_run_duration_seconds{task}`
//!   (counter, histogram: runs on this node, instance start to result);
//! - `drake_instances_in_use` / `drake_instance_slots` (gauges: the
//!   engine's pool of concurrent instances);
//! - `drake_fetched_bytes_total`, `drake_ffmpeg_seconds_total` (counters,
//!   from the runs' capability contexts);
//! - `drake_store_commits_total` (counter, SQLite only: the durable
//!   commits that creates on this node shared; compare with the creates to
//!   see how many each fsync carried).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the run-duration histogram buckets: from an
/// `image.info` (milliseconds) to a long `video.convert` (minutes).
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0, 600.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Process-wide counters, updated by the engine.
#[derive(Default)]
pub struct Metrics {
    /// (task, "success" | "error") → runs.
    runs: Mutex<BTreeMap<(String, &'static str), u64>>,
    durations: Mutex<BTreeMap<String, Histogram>>,
    in_use: AtomicI64,
    fetched_bytes: AtomicU64,
    ffmpeg_micros: AtomicU64,
}

/// What one finished run used.
pub struct RunRecord<'a> {
    /// Task name.
    pub task: &'a str,
    /// Whether it succeeded.
    pub success: bool,
    /// Instance start to result.
    pub duration: Duration,
    /// Bytes fetched.
    pub fetched_bytes: u64,
    /// Wall time in ffmpeg processes.
    pub ffmpeg: Duration,
}

/// Decrements the in-use gauge when a run ends, however it ends.
pub struct InUse<'a>(&'a Metrics);

impl Drop for InUse<'_> {
    fn drop(&mut self) {
        self.0.in_use.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A label value, escaped as the text format wants.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// An instance started; the guard marks its end.
    pub fn instance_started(&self) -> InUse<'_> {
        self.in_use.fetch_add(1, Ordering::Relaxed);
        InUse(self)
    }

    /// Count a finished run.
    pub fn record(&self, run: &RunRecord<'_>) {
        let status = if run.success { "success" } else { "error" };
        if let Ok(mut runs) = self.runs.lock() {
            *runs.entry((run.task.to_owned(), status)).or_default() += 1;
        }
        let seconds = run.duration.as_secs_f64();
        if let Ok(mut durations) = self.durations.lock() {
            let h = durations.entry(run.task.to_owned()).or_default();
            for (count, bound) in h.counts.iter_mut().zip(BUCKETS) {
                if seconds <= bound {
                    *count += 1;
                }
            }
            h.count += 1;
            h.sum += seconds;
        }
        self.fetched_bytes
            .fetch_add(run.fetched_bytes, Ordering::Relaxed);
        self.ffmpeg_micros.fetch_add(
            u64::try_from(run.ffmpeg.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The text exposition: these counters plus the store's `counts`
    /// ((task, state, n)) and the pool's size.
    pub fn render(
        &self,
        counts: &[(String, String, u64)],
        slots: usize,
        commits: Option<u64>,
    ) -> String {
        let mut out = String::new();
        if let Some(commits) = commits {
            let _ = writeln!(
                out,
                "# HELP drake_store_commits_total Durable commits of creates on this node (one fsync each, shared by the creates in flight)."
            );
            let _ = writeln!(out, "# TYPE drake_store_commits_total counter");
            let _ = writeln!(out, "drake_store_commits_total {commits}");
        }
        let _ = writeln!(
            out,
            "# HELP drake_tasks Tasks in the store by name and state (all nodes)."
        );
        let _ = writeln!(out, "# TYPE drake_tasks gauge");
        for (task, state, n) in counts {
            let _ = writeln!(
                out,
                "drake_tasks{{task=\"{}\",state=\"{}\"}} {n}",
                label(task),
                label(state)
            );
        }
        let queued: u64 = counts
            .iter()
            .filter(|(_, s, _)| s == "queued")
            .map(|(_, _, n)| n)
            .sum();
        let _ = writeln!(
            out,
            "# HELP drake_queue_depth Tasks waiting for a worker (all nodes)."
        );
        let _ = writeln!(out, "# TYPE drake_queue_depth gauge");
        let _ = writeln!(out, "drake_queue_depth {queued}");
        let _ = writeln!(
            out,
            "# HELP drake_runs_total Task runs finished on this node."
        );
        let _ = writeln!(out, "# TYPE drake_runs_total counter");
        if let Ok(runs) = self.runs.lock() {
            for ((task, status), n) in runs.iter() {
                let _ = writeln!(
                    out,
                    "drake_runs_total{{task=\"{}\",status=\"{status}\"}} {n}",
                    label(task)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP drake_run_duration_seconds Run time on this node, instance start to result."
        );
        let _ = writeln!(out, "# TYPE drake_run_duration_seconds histogram");
        if let Ok(durations) = self.durations.lock() {
            for (task, h) in durations.iter() {
                let task = label(task);
                for (count, bound) in h.counts.iter().zip(BUCKETS) {
                    let _ = writeln!(
                        out,
                        "drake_run_duration_seconds_bucket{{task=\"{task}\",le=\"{bound}\"}} {count}"
                    );
                }
                let _ = writeln!(
                    out,
                    "drake_run_duration_seconds_bucket{{task=\"{task}\",le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(
                    out,
                    "drake_run_duration_seconds_sum{{task=\"{task}\"}} {}",
                    h.sum
                );
                let _ = writeln!(
                    out,
                    "drake_run_duration_seconds_count{{task=\"{task}\"}} {}",
                    h.count
                );
            }
        }
        let gauges = [
            (
                "drake_instances_in_use",
                "Task instances running now on this node.",
                self.in_use.load(Ordering::Relaxed).max(0).to_string(),
            ),
            (
                "drake_instance_slots",
                "Task instances this node runs at once.",
                slots.to_string(),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        let counters = [
            (
                "drake_fetched_bytes_total",
                "Bytes tasks fetched on this node.",
                self.fetched_bytes.load(Ordering::Relaxed).to_string(),
            ),
            (
                "drake_ffmpeg_seconds_total",
                "Wall time of ffmpeg processes run for tasks on this node.",
                format!(
                    "{}",
                    self.ffmpeg_micros.load(Ordering::Relaxed) as f64 / 1e6
                ),
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        let guard = m.instance_started();
        for (ms, success) in [(3, true), (40, true), (2000, false)] {
            m.record(&RunRecord {
                task: "image.info",
                success,
                duration: Duration::from_millis(ms),
                fetched_bytes: 100,
                ffmpeg: Duration::from_millis(500),
            });
        }
        let text = m.render(&[("image.info".into(), "queued".into(), 4)], 8, Some(3));
        for line in [
            "drake_tasks{task=\"image.info\",state=\"queued\"} 4",
            "drake_queue_depth 4",
            "drake_runs_total{task=\"image.info\",status=\"success\"} 2",
            "drake_runs_total{task=\"image.info\",status=\"error\"} 1",
            "drake_run_duration_seconds_bucket{task=\"image.info\",le=\"0.005\"} 1",
            "drake_run_duration_seconds_bucket{task=\"image.info\",le=\"0.05\"} 2",
            "drake_run_duration_seconds_bucket{task=\"image.info\",le=\"2.5\"} 3",
            "drake_run_duration_seconds_bucket{task=\"image.info\",le=\"+Inf\"} 3",
            "drake_run_duration_seconds_count{task=\"image.info\"} 3",
            "drake_instances_in_use 1",
            "drake_instance_slots 8",
            "drake_fetched_bytes_total 300",
            "drake_ffmpeg_seconds_total 1.5",
            "drake_store_commits_total 3",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        drop(guard);
        let text = m.render(&[], 8, None);
        assert!(text.contains("drake_instances_in_use 0"));
        assert!(
            !text.contains("drake_store_commits_total"),
            "Postgres has no count"
        );
    }
}
