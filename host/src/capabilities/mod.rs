//! Host side of the `drake:task` imports, one module per capability.
//!
//! Each capability has a process-wide part (its policy: limits, clients),
//! a per-run `*Ctx` stored in [`HostState`], and the generated `Host`
//! traits implemented on [`HostState`] (wasmtime's `HasSelf` projection).
//! Adding a capability adds one field here and one module.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub mod blobs;
pub mod fetch;
pub mod ffmpeg;
pub mod http;
pub mod progress;

/// The data of one run's `Store`: a plain struct of contexts.
pub struct HostState {
    /// WASI (no files, env, args or sockets; stderr captured).
    pub wasi: WasiCtx,
    /// Resource handles (blobs, writers, WASI streams), capped.
    pub table: ResourceTable,
    /// Memory cap.
    pub limiter: MemoryLimiter,
    /// Bytes fetched and sent, scratch disk, held memory.
    pub budget: Arc<crate::budget::RunBudget>,
    /// The run's scratch directory (spooled bodies, ffmpeg inputs).
    pub scratch: Arc<crate::budget::Scratch>,
    /// Network reads.
    pub fetch: fetch::FetchCtx,
    /// Blob reads/writes and published outputs.
    pub blobs: blobs::BlobsCtx,
    /// Progress and partial results.
    pub progress: progress::ProgressCtx,
    /// Sandboxed ffmpeg jobs.
    pub ffmpeg: ffmpeg::FfmpegCtx,
    /// `wasi:http` (uploads, APIs) under the network policy.
    pub http: wasmtime_wasi_http::WasiHttpCtx,
    /// Sends `wasi:http` requests through the fetcher.
    pub http_hooks: http::PolicyHooks,
    /// The guest's stderr (panic messages), for failure details.
    pub stderr: MemoryOutputPipe,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl wasmtime_wasi_http::WasiHttpView for HostState {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_hooks,
        }
    }
}

impl crate::bindings::types::Host for HostState {}

/// Caps an instance's linear memories and remembers whether the cap was
/// hit, so a trap that follows is reported as "memory limit exceeded".
pub struct MemoryLimiter {
    limit: u64,
    hit: bool,
    /// Bytes of every linear memory together (memories never shrink, so
    /// this is also the high-water mark).
    committed: u64,
}

/// Tables are small in Rust guests; this bounds a hostile `table.grow`.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl MemoryLimiter {
    /// A limiter allowing `limit` bytes per memory.
    pub fn new(limit: u64) -> Self {
        MemoryLimiter {
            limit,
            hit: false,
            committed: 0,
        }
    }
    /// Linear-memory bytes the instance has grown to (creation included:
    /// wasmtime asks the limiter for the initial size too).
    pub fn committed(&self) -> u64 {
        self.committed
    }
    /// Whether a growth was refused.
    pub fn hit(&self) -> bool {
        self.hit
    }
    /// The cap in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.limit {
            self.hit = true;
            return Ok(false);
        }
        self.committed += desired.saturating_sub(current) as u64;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
