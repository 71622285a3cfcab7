//! [`FfmpegCtx`], the per-run part of the capability: the task's deadline,
//! what its processes used, and its inputs on disk once.
//!
//! Multi-job tasks (a strip of frames, a reverse in segments) read one
//! input many times: a body spooled to the run's scratch is read where it
//! is; one in memory is written there once per run. Either file is
//! hard-linked into every call that reads it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::time::Instant;

use super::policy::{Call, FfmpegPolicy};
use super::sandbox::ProcessMeter;
use crate::bindings::ffmpeg::FfmpegError;
use crate::budget::{Body, BodyError, RunBudget, Scratch};

/// Per-run ffmpeg state.
pub struct FfmpegCtx {
    policy: Arc<FfmpegPolicy>,
    deadline: Instant,
    /// What this run's ffmpeg processes used (usage accounting).
    pub meter: Arc<ProcessMeter>,
    budget: Arc<RunBudget>,
    scratch: Arc<Scratch>,
    /// A memory body ([`Body::id`]) → the body (pinning the id) and its
    /// copy on disk; the entry goes when the guest drops the blob
    /// ([`FfmpegCtx::forget`]).
    written: HashMap<usize, (Body, Body)>,
}

impl FfmpegCtx {
    /// A context whose processes end by `deadline` (the task's) and write
    /// within `budget`'s scratch, in `scratch`.
    pub fn new(
        policy: Arc<FfmpegPolicy>,
        deadline: Instant,
        budget: Arc<RunBudget>,
        scratch: Arc<Scratch>,
    ) -> Self {
        FfmpegCtx {
            policy,
            deadline,
            meter: Arc::default(),
            budget,
            scratch,
            written: HashMap::new(),
        }
    }

    /// A call reading `inputs` (memory ones written to disk on first use).
    pub(super) async fn call(&mut self, inputs: &[Body]) -> Result<Call, FfmpegError> {
        let mut files = Vec::with_capacity(inputs.len());
        let mut keep = Vec::with_capacity(inputs.len());
        for body in inputs {
            let file = self.file_of(body).await?;
            let path = file.path().map(PathBuf::from);
            files.push(path.ok_or_else(|| FfmpegError::Failed("an input not on disk".into()))?);
            keep.push(file);
        }
        Ok(Call {
            policy: self.policy.clone(),
            deadline: self.deadline,
            meter: self.meter.clone(),
            budget: self.budget.clone(),
            scratch: self.scratch.clone(),
            inputs: files,
            _keep: keep,
        })
    }

    /// The policy (binaries, threads).
    pub(super) fn policy(&self) -> &FfmpegPolicy {
        &self.policy
    }

    /// `body` as a spooled body: itself, or its copy written on first use
    /// (charged to the run's scratch budget).
    async fn file_of(&mut self, body: &Body) -> Result<Body, FfmpegError> {
        if body.path().is_some() {
            return Ok(body.clone());
        }
        if let Some((_, file)) = self.written.get(&body.id()) {
            return Ok(file.clone());
        }
        let bytes = body.bytes().cloned().unwrap_or_default();
        let file = match Body::spool(&bytes, &self.budget, &self.scratch).await {
            Ok(file) => file,
            Err(BodyError::Exceeded(e)) => return Err(FfmpegError::Limit(e.to_string())),
            Err(BodyError::Io(e)) => {
                return Err(FfmpegError::Failed(format!("writing an input: {e}")));
            }
        };
        self.written.insert(body.id(), (body.clone(), file.clone()));
        Ok(file)
    }

    /// The guest dropped a blob: its copy on disk goes (once no running
    /// call holds it).
    pub fn forget(&mut self, body: &Body) {
        self.written.remove(&body.id());
    }

    /// Drop every copy on disk (the run is over).
    pub fn forget_all(&mut self) {
        self.written.clear();
    }
}
