//! [`FfmpegCtx`], the per-run part of the capability: the task's deadline,
//! what its processes used, and its inputs written to disk once.
//!
//! Multi-job tasks (a strip of frames, a reverse in segments) read one
//! input many times, so each blob is written once per run, into the run's
//! directory, and hard-linked into every call that reads it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use tokio::time::Instant;

use super::policy::{Call, FfmpegPolicy};
use super::sandbox::ProcessMeter;
use crate::bindings::ffmpeg::FfmpegError;

/// Per-run ffmpeg state.
pub struct FfmpegCtx {
    policy: Arc<FfmpegPolicy>,
    deadline: Instant,
    /// What this run's ffmpeg processes used (usage accounting).
    pub meter: Arc<ProcessMeter>,
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

    /// A call reading `inputs` (written to disk on first use).
    pub(super) async fn call(&mut self, inputs: &[Bytes]) -> Result<Call, FfmpegError> {
        let mut files = Vec::with_capacity(inputs.len());
        for bytes in inputs {
            files.push(self.file_of(bytes).await?);
        }
        Ok(Call {
            policy: self.policy.clone(),
            deadline: self.deadline,
            meter: self.meter.clone(),
            inputs: files,
        })
    }

    /// The policy (binaries, threads).
    pub(super) fn policy(&self) -> &FfmpegPolicy {
        &self.policy
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
                    .tempdir_in(self.policy.scratch_root())
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
