//! The wasmtime engine: one per process, every task component loaded
//! (precompiled: [`cache`]), linked (`instantiate_pre`) and described once
//! at start-up; then one fresh, capped `Store` per run.
//!
//! - [`Engine::load`] fails start-up when a registered task has no
//!   component, a component does not link, or it describes itself under
//!   another name.
//! - [`Engine::run`] instantiates the task's `TaskPre` into a new store
//!   (memory cap, epoch deadline, capped resource table) and maps every
//!   way a run can end to `Ok(values)` or a [`crate::store::TaskFailure`]
//!   ([`outcome`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::Semaphore;
use wasmtime::bail;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::error::Context as _;
use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use crate::bindings;
use crate::budget::{HeldPool, RunBudget, Scratch};
use crate::capabilities::blobs::BlobsCtx;
use crate::capabilities::fetch::FetchCtx;
use crate::capabilities::ffmpeg::{FfmpegCtx, FfmpegPolicy};
use crate::capabilities::http::PolicyHooks;
use crate::capabilities::progress::ProgressCtx;
use crate::capabilities::{HostState, MemoryLimiter};
use crate::config::{Config as DrakeConfig, EngineConfig};
use crate::fetcher::Fetcher;
use crate::registry;
use crate::run::{RunEnv, RunOutcome};
use crate::store::Usage;

pub mod cache;
pub mod cpu;
mod outcome;

pub use outcome::cancelled;

use outcome::{budget_failure, internal, task_error, time_limit_failure, trap_failure, usage};

/// Epoch tick: the granularity of time limits and of cooperative yields to
/// the async runtime (a CPU-bound guest gives its thread back this often).
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Resource handles one instance may hold at once: a task juggles a few
/// inputs and outputs; thousands means a leak or an attack.
const MAX_RESOURCES: usize = 1024;

/// Guest stderr kept for the operator's failure detail (panic messages).
const STDERR_CAPTURE: usize = 16 << 10;

/// Instances alive at once in the pool. Runs wait on a semaphore of this
/// size, so the pool is never exhausted (the wasmtime
/// `fast_instantiation` warning); `describe` at start-up uses it too.
const POOL_INSTANCES: u32 = 64;

/// A loaded task kind.
pub struct LoadedTask {
    /// What the component says about itself.
    pub info: TaskInfo,
    /// The parameters JSON Schema, parsed.
    pub schema: Value,
    pre: bindings::TaskPre<HostState>,
    time_limit: Duration,
    budgets: crate::config::TaskBudgets,
}

/// A component's self-description (the WIT `task-info`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TaskInfo {
    /// Task name.
    pub name: String,
    /// One line.
    pub summary: String,
    /// Output value names.
    pub values: Vec<String>,
    /// Output file names.
    pub files: Vec<String>,
}

/// How the components were found at start-up (logged; the cold-start
/// bench reads it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadStats {
    /// Precompiled beside their `.wasm` files.
    pub beside: usize,
    /// From the per-user cache.
    pub cached: usize,
    /// Compiled at this start.
    pub compiled: usize,
}

/// The engine.
pub struct Engine {
    engine: wasmtime::Engine,
    tasks: BTreeMap<String, LoadedTask>,
    fetcher: Arc<Fetcher>,
    ffmpeg: Arc<FfmpegPolicy>,
    /// Memory for fetched media, shared by every run (`budgets.held_bytes`).
    held: Arc<HeldPool>,
    config: EngineConfig,
    /// Environment variables every guest sees (the upload endpoints).
    guest_env: Vec<(String, String)>,
    permits: Arc<Semaphore>,
    epoch_stop: Arc<std::sync::atomic::AtomicBool>,
    metrics: crate::metrics::Metrics,
    stats: LoadStats,
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.epoch_stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Engine {
    /// Build the engine and load every registered component (the test
    /// guests too with `test_tasks`), from `components_dir`.
    pub async fn load(
        config: &DrakeConfig,
        fetcher: Arc<Fetcher>,
        ffmpeg: Arc<FfmpegPolicy>,
    ) -> wasmtime::Result<Engine> {
        let engine = new_wasmtime_engine(config.engine.memory_limit)?;
        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).context("linking WASI")?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .context("linking wasi:http")?;
        bindings::Task::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .context("linking the drake:task imports")?;

        let epoch_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        start_epoch_ticker(engine.clone(), epoch_stop.clone());

        let mut this = Engine {
            engine,
            tasks: BTreeMap::new(),
            fetcher,
            ffmpeg,
            held: HeldPool::new(config.budgets.held_bytes),
            config: config.engine.clone(),
            guest_env: [config.upload.env(), config.maps.env()].concat(),
            permits: Arc::new(Semaphore::new(POOL_INSTANCES as usize)),
            metrics: crate::metrics::Metrics::default(),
            epoch_stop,
            stats: LoadStats::default(),
        };
        let components_dir = config.components_dir();
        let cache_dir = config.engine.cache_dir.clone().or_else(cache::default_dir);
        for entry in registry::tasks(config.test_tasks) {
            let name = entry.name;
            let path = components_dir.join(registry::component_file(name));
            let (component, source) = cache::load(&this.engine, &path, cache_dir.as_deref())
                .with_context(|| {
                    format!("loading the component of {name} from {}", path.display())
                })?;
            match source {
                cache::Source::Beside => this.stats.beside += 1,
                cache::Source::Cache => this.stats.cached += 1,
                cache::Source::Compiled => this.stats.compiled += 1,
            }
            let pre = linker
                .instantiate_pre(&component)
                .with_context(|| format!("linking the component of {name}"))?;
            let pre = bindings::TaskPre::new(pre).with_context(|| {
                format!("the component of {name} does not export the drake:task world")
            })?;
            let time_limit = config
                .engine
                .time_limits
                .get(name)
                .copied()
                .or(entry.time_limit())
                .unwrap_or(config.engine.time_limit);
            let mut loaded = LoadedTask {
                info: TaskInfo {
                    name: name.to_owned(),
                    summary: String::new(),
                    values: vec![],
                    files: vec![],
                },
                schema: Value::Null,
                pre,
                time_limit,
                budgets: config.budgets.for_task(name),
            };
            let (info, schema) = this
                .describe(&loaded)
                .await
                .with_context(|| format!("describing the component of {name}"))?;
            if info.name != name {
                bail!(
                    "{}: the component describes itself as {:?}, expected {name:?}",
                    path.display(),
                    info.name
                );
            }
            loaded.info = info;
            loaded.schema = schema;
            this.tasks.insert(name.to_owned(), loaded);
        }
        let configured = config.engine.time_limits.keys();
        for name in configured.chain(config.budgets.tasks.keys()) {
            if !this.tasks.contains_key(name) {
                bail!(
                    "engine.time_limits / budgets.tasks: {name:?} is not a task this server runs"
                );
            }
        }
        Ok(this)
    }

    /// Compile every registered component of `components_dir` (test
    /// guests included) and write it beside its `.wasm` file, so that no
    /// start compiles: the paths written.
    pub fn precompile(config: &DrakeConfig) -> wasmtime::Result<Vec<PathBuf>> {
        let engine = new_wasmtime_engine(config.engine.memory_limit)?;
        let dir = config.components_dir();
        registry::tasks(true)
            .map(|entry| {
                let wasm = dir.join(registry::component_file(entry.name));
                cache::precompile(&engine, &wasm)
                    .with_context(|| format!("precompiling {}", wasm.display()))
            })
            .collect()
    }

    /// The loaded tasks by name.
    pub fn tasks(&self) -> &BTreeMap<String, LoadedTask> {
        &self.tasks
    }

    /// One task kind.
    pub fn task(&self, name: &str) -> Option<&LoadedTask> {
        self.tasks.get(name)
    }

    /// Every task with its summary, parameter schema and outputs, by name:
    /// the `/v1/tasks` document (and `drake tasks --json`).
    pub fn task_list(&self) -> Value {
        Value::Array(
            self.tasks
                .values()
                .map(|t| {
                    serde_json::json!({
                        "name": t.info.name,
                        "summary": t.info.summary,
                        "parameters": t.schema,
                        "values": t.info.values,
                        "files": t.info.files,
                    })
                })
                .collect(),
        )
    }

    /// How the components were found at start-up.
    pub fn load_stats(&self) -> LoadStats {
        self.stats
    }

    async fn describe(&self, task: &LoadedTask) -> wasmtime::Result<(TaskInfo, Value)> {
        let mut store = self.new_store(task, RunEnv::discard());
        let instance = task.pre.instantiate_async(&mut store).await?;
        let info = instance.call_describe(&mut store).await?;
        let schema: Value = serde_json::from_str(&info.params_schema)
            .context("the parameter schema is not JSON")?;
        Ok((
            TaskInfo {
                name: info.name,
                summary: info.summary,
                values: info.values,
                files: info.files,
            },
            schema,
        ))
    }

    fn new_store(&self, task: &LoadedTask, env: RunEnv) -> wasmtime::Store<HostState> {
        let deadline = Instant::now() + task.time_limit;
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE);
        // No args, preopened dirs or sockets, and only the configured
        // variables: a task reaches the outside only through the drake:task
        // imports and wasi:http, both under the host's policies.
        let wasi = WasiCtxBuilder::new()
            .stderr(stderr.clone())
            .envs(&self.guest_env)
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        let budget = RunBudget::new(task.budgets.clone(), self.held.clone());
        let scratch = Scratch::new(self.ffmpeg.scratch_root());
        let state = HostState {
            wasi,
            table,
            limiter: MemoryLimiter::new(self.config.memory_limit),
            budget: budget.clone(),
            scratch: scratch.clone(),
            fetch: FetchCtx::new(self.fetcher.clone(), env.inputs),
            blobs: BlobsCtx::new(
                env.sink,
                task.info.files.clone(),
                self.config.max_output_bytes,
            ),
            progress: ProgressCtx::new(env.events),
            ffmpeg: FfmpegCtx::new(
                self.ffmpeg.clone(),
                deadline.into(),
                budget.clone(),
                scratch,
            ),
            http: wasmtime_wasi_http::WasiHttpCtx::new(),
            http_hooks: PolicyHooks::new(self.fetcher.clone(), budget),
            stderr,
        };
        let mut store = wasmtime::Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                // Give the runtime thread back between ticks.
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store
    }

    /// Time one fresh store + instantiation of task `name`, without
    /// calling it (benchmarks: the per-task sandbox cost).
    pub async fn time_instantiation(&self, name: &str) -> wasmtime::Result<Duration> {
        let task = self
            .tasks
            .get(name)
            .ok_or_else(|| wasmtime::format_err!("task {name:?} is not loaded"))?;
        let started = Instant::now();
        let mut store = self.new_store(task, RunEnv::discard());
        task.pre.instantiate_async(&mut store).await?;
        Ok(started.elapsed())
    }

    /// This engine's run counters (`/metrics`).
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// Instances that may run at once.
    pub fn instance_slots(&self) -> usize {
        POOL_INSTANCES as usize
    }

    /// Run task `name` with `params` in a fresh instance.
    ///
    /// When `cancel` completes first, the run is ended where it is (the
    /// instance dropped, its ffmpeg processes killed, their directories
    /// removed) and fails as cancelled, with what it used so far.
    pub async fn run(
        &self,
        name: &str,
        params: &Value,
        env: RunEnv,
        cancel: impl Future<Output = ()>,
    ) -> RunOutcome {
        let Some(task) = self.tasks.get(name) else {
            return RunOutcome {
                result: Err(internal(format!("task {name:?} is not loaded"))),
                usage: Usage::default(),
            };
        };
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            return RunOutcome {
                result: Err(internal("engine shutting down".into())),
                usage: Usage::default(),
            };
        };
        let params = params.to_string();
        let mut store = self.new_store(task, env);
        let time_limit = task.time_limit;
        // Epochs stop guest code; this stops a run stuck in a host call
        // (a slow fetch) at the same deadline, with a little slack so the
        // epoch path wins when both apply.
        let run = async {
            let instance = task.pre.instantiate_async(&mut store).await?;
            instance.call_run(&mut store, &params).await
        };
        let in_use = self.metrics.instance_started();
        let guest_cpu = std::sync::atomic::AtomicU64::new(0);
        let started = std::time::Instant::now();
        let outcome = tokio::select! {
            outcome = tokio::time::timeout(
                time_limit + Duration::from_secs(1),
                cpu::metered(run, &guest_cpu),
            ) => Some(outcome),
            () = cancel => None,
        };
        let duration = started.elapsed();
        drop(in_use);
        let state = store.data();
        let result = match outcome {
            None => Err(cancelled()),
            Some(Err(_elapsed)) => Err(time_limit_failure(time_limit)),
            Some(Ok(Ok(Ok(output)))) => match serde_json::from_str::<Value>(&output.values) {
                Ok(Value::Object(values)) => Ok(values),
                _ => Err(internal(
                    "the task returned values that are not a JSON object".into(),
                )),
            },
            Some(Ok(Ok(Err(e)))) => Err(task_error(e)),
            Some(Ok(Err(trap))) => Err(trap_failure(&trap, state, time_limit)),
        };
        // A budget overrun ends the run in its error, whatever the guest
        // made of the refusal it got.
        let result = match (state.budget.exceeded(), result) {
            (_, Err(e)) if e.kind == crate::store::FailureKind::Cancelled => Err(e),
            (Some(over), _) => Err(budget_failure(&over)),
            (None, result) => result,
        };
        let usage = usage(state, duration, guest_cpu.into_inner());
        self.metrics.record(&crate::metrics::RunRecord {
            task: name,
            success: result.is_ok(),
            duration,
            fetched_bytes: usage.bytes_in,
            ffmpeg: Duration::from_micros(
                state
                    .ffmpeg
                    .meter
                    .wall_micros
                    .load(std::sync::atomic::Ordering::Relaxed),
            ),
        });
        teardown(store, permit);
        RunOutcome { result, usage }
    }
}

/// End a run: what it leaves outside the instance (resources with their
/// spooled bodies and held memory, ffmpeg's copies, the scratch
/// directory) goes now, before its status is final; the instance itself is
/// freed off the result's path (resetting its memory slot is a memset of up
/// to [`KEEP_RESIDENT`], ~0.2 ms), and the engine `permit` with it, so a new
/// run never finds the slot still taken.
fn teardown(mut store: wasmtime::Store<HostState>, permit: tokio::sync::OwnedSemaphorePermit) {
    let state = store.data_mut();
    drop(std::mem::replace(&mut state.table, ResourceTable::new()));
    state.ffmpeg.forget_all();
    state.scratch.remove();
    let free = move || drop((store, permit));
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn_blocking(free)),
        Err(_) => free(),
    }
}

/// Bytes of each linear memory kept resident between runs (see above).
const KEEP_RESIDENT: usize = 16 << 20;

fn new_wasmtime_engine(memory_limit: u64) -> wasmtime::Result<wasmtime::Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(POOL_INSTANCES)
        // A Rust wasip2 component has a few core instances (the main
        // module plus shims); 16 leaves room for larger toolchains.
        .max_core_instances_per_component(16)
        .total_core_instances(POOL_INSTANCES * 16)
        .total_memories(POOL_INSTANCES * 2)
        .total_tables(POOL_INSTANCES * 8)
        .total_stacks(POOL_INSTANCES)
        // The slot must hold the cap; the limiter enforces the exact value.
        .max_memory_size(usize::try_from(memory_limit).unwrap_or(usize::MAX))
        // A reused slot's first pages are zeroed in place instead of being
        // given back to the OS: an image task touches a few MiB, and
        // faulting them in again on every run costs more than the memset.
        .linear_memory_keep_resident(KEEP_RESIDENT);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .memory_init_cow(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    wasmtime::Engine::new(&config)
}

fn start_epoch_ticker(engine: wasmtime::Engine, stop: Arc<std::sync::atomic::AtomicBool>) {
    std::thread::Builder::new()
        .name("drake-epoch".into())
        .spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })
        .map(drop)
        .unwrap_or_else(
            |e| tracing::error!(error = %e, "cannot start the epoch thread: time limits are off"),
        );
}
