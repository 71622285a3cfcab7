//! What a task run produces and where it goes: the events it reports
//! ([`RunEvent`]: progress, partial values, published files), the sink its
//! files are written to ([`OutputSink`]: the task's objects for a served
//! task, a directory for `drake run`), and how it ended ([`RunOutcome`]).
//!
//! The engine runs a task with a [`RunEnv`]; the capabilities send into
//! it; whoever started the run (the scheduler, `drake run`) reads the
//! events and the outcome.

use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::budget::Body;
use crate::store::{OutputFile, TaskFailure, Usage};

/// Something the running task reported.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    /// Percent done.
    Progress(u8),
    /// Output values published early.
    Values(Map<String, Value>),
    /// An output file published (stored already).
    File(String, OutputFile),
}

/// Where published files go.
#[async_trait::async_trait]
pub trait OutputSink: Send + Sync {
    /// Store output `name` as `<name>.<extension>`; errors are messages
    /// for the operator.
    async fn publish(
        &self,
        name: &str,
        extension: &str,
        content_type: &str,
        body: Body,
    ) -> Result<(), String>;

    /// Store `body` as part `path` of output `name` (`<name>/<path>`; the
    /// path is checked by [`crate::outputs::part_content_type`]).
    async fn publish_part(&self, name: &str, path: &str, body: Body) -> Result<(), String> {
        drop(body);
        Err(format!("part {path:?} of {name:?} published outside a run"))
    }
}

/// A sink that refuses outputs (a task describing itself publishes none).
pub struct NoOutputs;

#[async_trait::async_trait]
impl OutputSink for NoOutputs {
    async fn publish(&self, name: &str, _: &str, _: &str, _: Body) -> Result<(), String> {
        Err(format!("output {name:?} published outside a run"))
    }
}

/// A stored file opened as a task's input.
pub struct StoredInput {
    /// Its size in bytes.
    pub size: u64,
    /// Its content type.
    pub content_type: String,
    /// Its bytes.
    pub body: futures::stream::BoxStream<'static, object_store::Result<bytes::Bytes>>,
}

/// Where `drake:` references are read from (`crate::inputs`).
#[async_trait::async_trait]
pub trait InputSource: Send + Sync {
    /// Open the file `url` names; errors are messages for the task's
    /// user, naming the reference.
    async fn open(&self, url: &str) -> Result<StoredInput, String>;
}

/// Per-run inputs besides the parameters.
pub struct RunEnv {
    /// Where published files go.
    pub sink: Arc<dyn OutputSink>,
    /// Progress and partial results.
    pub events: mpsc::Sender<RunEvent>,
    /// Where `drake:` references are read from; `None` outside a server
    /// (`drake run`), where there are no stored tasks to refer to.
    pub inputs: Option<Arc<dyn InputSource>>,
}

impl RunEnv {
    /// An environment that keeps nothing (describing a task, timing an
    /// instantiation).
    pub fn discard() -> RunEnv {
        let (events, _) = mpsc::channel(1);
        RunEnv {
            sink: Arc::new(NoOutputs),
            events,
            inputs: None,
        }
    }
}

/// How a run ended, and what it used.
pub struct RunOutcome {
    /// Output values, or why the task failed.
    pub result: Result<Map<String, Value>, TaskFailure>,
    /// Measured usage (`usage` in the final status).
    pub usage: Usage,
}
