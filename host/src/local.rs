//! `drake run`: one task run on this machine, without a server — the
//! engine as `drake serve` builds it, parameters typed as a GET
//! `create_file` query is, output files written into a directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use serde_json::{Map, Value};

use crate::budget::Body;

use crate::config::Config;
use crate::run::{OutputSink, RunEnv, RunEvent};
use crate::store::{OutputFile, TaskFailure, Usage};

/// What a local run gave: its values (published files as their paths),
/// or its failure, and its usage.
pub struct LocalRun {
    /// The result, as a status `result` shows it (files: local paths).
    pub result: Result<Map<String, Value>, TaskFailure>,
    /// What it used.
    pub usage: Usage,
}

/// Run `task` with `key=value` parameters (`pairs`) and write its files
/// into `out`.
pub async fn run(
    config: &Config,
    task: &str,
    pairs: &[String],
    out: &Path,
) -> anyhow::Result<LocalRun> {
    let engine = crate::app::engine(config).await?;
    let Some(loaded) = engine.task(task) else {
        let names: Vec<&str> = engine.tasks().keys().map(String::as_str).collect();
        bail!("unknown task {task:?}; choose one of: {}", names.join(", "));
    };
    let params = drake_rules::query::params(&loaded.schema, crate::client::split_pairs(pairs)?);
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let (events, mut rx) = tokio::sync::mpsc::channel(16);
    // Progress is not shown; published files are listed in the result.
    let files = tokio::spawn(async move {
        let mut files = Map::new();
        while let Some(event) = rx.recv().await {
            if let RunEvent::File(name, file) = event {
                files.insert(name, Value::from(file.path));
            }
        }
        files
    });
    let env = RunEnv {
        sink: Arc::new(DirSink {
            dir: out.to_path_buf(),
            events: events.clone(),
        }),
        events,
        inputs: None,
    };
    // Nothing cancels a local run but Ctrl-C.
    let outcome = engine
        .run(task, &Value::Object(params), env, std::future::pending())
        .await;
    let files = files.await.unwrap_or_default();
    Ok(LocalRun {
        result: outcome.result.map(|mut values| {
            values.extend(files);
            values
        }),
        usage: outcome.usage,
    })
}

/// The sink of `drake run`: files go into a directory and are announced
/// as [`RunEvent::File`] with their local path.
pub struct DirSink {
    /// Output directory.
    pub dir: PathBuf,
    /// Where the run's events go.
    pub events: tokio::sync::mpsc::Sender<RunEvent>,
}

#[async_trait::async_trait]
impl OutputSink for DirSink {
    async fn publish(
        &self,
        name: &str,
        extension: &str,
        content_type: &str,
        body: Body,
    ) -> Result<(), String> {
        let path = self.dir.join(format!("{name}.{extension}"));
        let written = match (body.bytes(), body.path()) {
            (Some(bytes), _) => tokio::fs::write(&path, bytes).await,
            (None, Some(from)) => tokio::fs::copy(from, &path).await.map(drop),
            (None, None) => Ok(()),
        };
        written.map_err(|e| format!("{}: {e}", path.display()))?;
        let file = OutputFile {
            path: path.display().to_string(),
            content_type: content_type.to_owned(),
        };
        self.events
            .send(RunEvent::File(name.to_owned(), file))
            .await
            .map_err(|_| "the run's event receiver is gone".to_owned())
    }

    async fn publish_part(&self, name: &str, path: &str, body: Body) -> Result<(), String> {
        let path = self.dir.join(name).join(path);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let written = match (body.bytes(), body.path()) {
            (Some(bytes), _) => tokio::fs::write(&path, bytes).await,
            (None, Some(from)) => tokio::fs::copy(from, &path).await.map(drop),
            (None, None) => tokio::fs::write(&path, b"").await,
        };
        written.map_err(|e| format!("{}: {e}", path.display()))
    }
}
