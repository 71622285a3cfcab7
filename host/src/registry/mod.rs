//! The task registry: which tasks this build serves, from the task
//! crates' own `[package.metadata.drake]` (generated into [`TASKS`] by
//! drake-catalog, `make catalog`; a test fails when it is out of date),
//! and the one naming rule from a task name to its component.

use std::time::Duration;

pub use drake_catalog::{component_file, component_id, spin_artifact};

mod catalog;

pub use catalog::TASKS;

/// One task of this build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskEntry {
    /// Task name (`image.thumb`).
    pub name: &'static str,
    /// Also deployed on Spin (`spin.toml`).
    pub spin: bool,
    /// A test guest, served only with `test_tasks = true`.
    pub test_only: bool,
    /// Its own wall-clock limit (seconds), when it has one.
    pub time_limit_secs: Option<u64>,
}

impl TaskEntry {
    /// The task kind's own time limit, when it differs from the configured
    /// default.
    pub fn time_limit(&self) -> Option<Duration> {
        self.time_limit_secs.map(Duration::from_secs)
    }
}

/// The tasks to load: the dragon tasks, plus the test guests when asked.
pub fn tasks(test_tasks: bool) -> impl Iterator<Item = &'static TaskEntry> {
    TASKS.iter().filter(move |t| test_tasks || !t.test_only)
}

/// The task named `name`.
pub fn task(name: &str) -> Option<&'static TaskEntry> {
    TASKS.iter().find(|t| t.name == name)
}
