//! Wiring: build the store, storage, fetcher, engine, scheduler and router
//! from a [`Config`], then serve. No logic lives here.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;

use crate::api::{self, AppState};
use crate::callbacks::Callbacks;
use crate::capabilities::fetch::client::{FetchLimits, Fetcher};
use crate::capabilities::fetch::policy::NetworkPolicy;
use crate::capabilities::ffmpeg::{FfmpegPolicy, FfmpegSettings, Limits, Sandbox};
use crate::config::Config;
use crate::engine::{Engine, EngineSettings};
use crate::scheduler::{self, Scheduler, SchedulerSettings};
use crate::storage::Storage;

/// The process-wide fetcher from the `[fetch]` section.
pub fn fetcher(config: &Config) -> anyhow::Result<Arc<Fetcher>> {
    let policy = NetworkPolicy::new(&config.fetch.allow, config.fetch.ports.clone())
        .context("fetch.allow")?;
    let limits = FetchLimits {
        max_bytes: config.fetch.max_bytes,
        connect_timeout: config.fetch.connect_timeout,
        total_timeout: config.fetch.timeout,
        ..FetchLimits::default()
    };
    Ok(Arc::new(
        Fetcher::new(Arc::new(policy), limits).context("building the HTTP client")?,
    ))
}

/// The process-wide ffmpeg policy from the `[ffmpeg]` section.
pub async fn ffmpeg(config: &Config) -> anyhow::Result<Arc<FfmpegPolicy>> {
    let c = &config.ffmpeg;
    let sandbox = match c.sandbox.as_str() {
        "none" => Sandbox::None,
        _ => Sandbox::Bwrap(c.bwrap.clone().into()),
    };
    let settings = FfmpegSettings {
        ffmpeg: c.ffmpeg.clone(),
        ffprobe: c.ffprobe.clone(),
        sandbox,
        limits: Limits {
            cpu_seconds: c.cpu_seconds,
            address_space: c.memory,
            file_size: c.max_file_bytes,
            // ffmpeg needs a few dozen descriptors; a long timeline a few
            // hundred inputs.
            open_files: 1024,
        },
        threads: c.threads,
        max_concurrent: c.max_concurrent,
        scratch: c
            .scratch_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("drake-ffmpeg")),
    };
    Ok(Arc::new(
        FfmpegPolicy::new(settings).await.context("[ffmpeg]")?,
    ))
}

/// Load the engine and every component.
pub async fn engine(config: &Config) -> anyhow::Result<Arc<Engine>> {
    let settings = EngineSettings {
        components_dir: config
            .components_dir
            .clone()
            .unwrap_or_else(crate::engine::default_components_dir),
        cache_dir: config
            .engine
            .cache_dir
            .clone()
            .unwrap_or_else(|| config.data_dir.join("cache")),
        memory_limit: config.engine.memory_limit,
        max_output_bytes: config.engine.max_output_bytes,
        time_limits: config.engine.time_limits.clone(),
        time_limit: config.engine.time_limit,
        test_tasks: config.test_tasks,
        guest_env: config.upload.env(),
    };
    check_spin(&settings.components_dir)?;
    let started = std::time::Instant::now();
    let engine = Engine::load(settings, fetcher(config)?, ffmpeg(config).await?).await?;
    tracing::info!(
        tasks = engine.tasks().len(),
        elapsed_ms = started.elapsed().as_millis(),
        "components loaded"
    );
    Ok(Arc::new(engine))
}

/// In a build tree (components in `<root>/target/wasm32-wasip2/release`,
/// `<root>/spin.toml` beside), check that the Spin deployment agrees with
/// the task registry: a drifted manifest stops start-up; Spin components
/// not built yet are only reported.
fn check_spin(components_dir: &std::path::Path) -> anyhow::Result<()> {
    if !components_dir.ends_with("wasm32-wasip2/release") {
        return Ok(());
    }
    let Some(root) = components_dir.ancestors().nth(3) else {
        return Ok(());
    };
    let Ok(manifest) = std::fs::read_to_string(root.join("spin.toml")) else {
        return Ok(());
    };
    let check = crate::registry::check_spin(&manifest, root);
    if !check.problems.is_empty() {
        anyhow::bail!(
            "spin.toml, the task registry and the Spin builds disagree:\n  {}",
            check.problems.join("\n  ")
        );
    }
    if !check.missing.is_empty() {
        tracing::info!(
            missing = check.missing.len(),
            "Spin components not built (`make spin`)"
        );
    }
    Ok(())
}

/// A built server, not yet listening.
pub struct App {
    /// Handler state.
    pub state: AppState,
    /// The scheduler.
    pub scheduler: Arc<Scheduler>,
    /// Callback delivery (also for tasks the rescuer fails).
    pub callbacks: Arc<Callbacks>,
}

/// Build every part from `config`.
pub async fn build(config: Config) -> anyhow::Result<App> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data_dir {}", config.data_dir.display()))?;
    let store = crate::store::open(&config.store_url())
        .await
        .with_context(|| format!("opening the store {}", config.store_url()))?;
    let (storage, urls) = Storage::open(&config)?;
    let urls = Arc::new(urls);
    let engine = engine(&config).await?;
    let node_id = format!("{}-{}", std::process::id(), crate::api::request::new_key());
    let callbacks = Callbacks::new(
        fetcher(&config)?,
        config
            .accounts
            .iter()
            .map(|a| (a.name.clone(), a.secret.clone())),
        urls.clone(),
        config.callback_backoff,
        config.callback_tries,
        // One POST takes at most the fetch timeout.
        config.fetch.timeout + std::time::Duration::from_secs(30),
    );
    let scheduler = Scheduler::new(
        store.clone(),
        engine.clone(),
        storage.clone(),
        SchedulerSettings {
            node_id,
            workers: config.workers,
            lease: config.scheduler.lease,
            poll_interval: config.scheduler.poll_interval,
        },
    );
    let state = AppState {
        store,
        engine,
        storage,
        public_base: config.public_base().into(),
        urls,
        config: Arc::new(config),
        openapi: Arc::default(),
    };
    Ok(App {
        state,
        scheduler,
        callbacks,
    })
}

/// Serve until Ctrl-C / SIGTERM.
/// What a node does: everything, or one half of a scaled-out deployment
/// (`drake serve --api-only` / `--worker-only`, on a shared Postgres store).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Role {
    /// The API and the workers.
    #[default]
    Both,
    /// The API only: tasks run on worker nodes.
    Api,
    /// Workers only: the HTTP listener answers probes and metrics.
    Worker,
}

impl Role {
    fn label(self) -> &'static str {
        match self {
            Role::Both => "api and workers",
            Role::Api => "api only",
            Role::Worker => "workers only: /healthz, /readyz, /metrics",
        }
    }
}

/// Serve on `config.listen` until SIGINT/SIGTERM. Every role runs the
/// rescuer, the reaper and callback delivery (all safe on many nodes at
/// once).
pub async fn serve(mut config: Config, role: Role) -> anyhow::Result<()> {
    if role != Role::Both && config.store_url().starts_with("sqlite://") {
        tracing::warn!(
            role = role.label(),
            "an SQLite store serves one node: split roles need a shared [store] url = \"postgres://…\""
        );
    }
    let listen = config.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let local = listener.local_addr()?;
    // With port 0 the real port is known only now.
    config.listen = local;
    let app = build(config).await?;
    let state = app.state.clone();
    let maintenance = state.config.scheduler.maintenance_interval;
    let drain = state.config.scheduler.drain_timeout;
    // SIGTERM/SIGINT: stop accepting connections and claims, let running
    // requests and tasks finish (api.md's graceful shutdown; deploy.md).
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: draining requests and running tasks");
        let _ = stop_tx.send(true);
    });
    let drained = if role == Role::Api {
        None
    } else {
        Some(tokio::spawn(app.scheduler.clone().run(stop.clone(), drain)))
    };
    tokio::spawn(scheduler::rescuer::run(state.store.clone(), maintenance));
    // Every role delivers due callbacks (claimed, so once across nodes).
    tokio::spawn(
        app.callbacks
            .clone()
            .run(state.store.clone(), state.config.scheduler.poll_interval),
    );
    tokio::spawn(scheduler::reaper::run(
        state.store.clone(),
        state.storage.clone(),
        maintenance,
    ));
    // The line tests and scripts wait for.
    println!(
        "drake listening on http://{local} (outputs under {}; {})",
        state.public_base,
        role.label()
    );
    let router = match role {
        Role::Worker => api::ops_router(state),
        Role::Both | Role::Api => api::router(state),
    }
    .into_make_service_with_connect_info::<SocketAddr>();
    let mut http_stop = stop.clone();
    let server = axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            let _ = http_stop.wait_for(|stopped| *stopped).await;
        })
        .into_future();
    // Open streams and `block` waits get the drain time too, not more.
    let mut cut_stop = stop;
    let cut = async move {
        let _ = cut_stop.wait_for(|stopped| *stopped).await;
        tokio::time::sleep(drain).await;
    };
    tokio::select! {
        served = server => served.context("serving")?,
        () = cut => tracing::warn!("connections still open at the drain deadline: closed"),
    }
    if let Some(drained) = drained {
        let left = drained.await.context("the scheduler panicked")?;
        if left > 0 {
            tracing::warn!(left, "exiting with tasks still running");
        }
    }
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
