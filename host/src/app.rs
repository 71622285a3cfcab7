//! Wiring: build the store, the output storage, the fetcher, the engine,
//! the scheduler and the router from a [`Config`], then serve. No logic
//! lives here.

use std::sync::Arc;

use anyhow::Context as _;

use crate::api::{self, AppState};
use crate::callbacks::Callbacks;
use crate::capabilities::ffmpeg::FfmpegPolicy;
use crate::config::Config;
use crate::engine::Engine;
use crate::fetcher::Fetcher;
use crate::outputs::Storage;
use crate::scheduler::{self, Scheduler};

/// The process-wide fetcher (`[fetch]`): one connection pool for the
/// tasks' fetches, their `wasi:http` and the callbacks.
pub fn fetcher(config: &Config) -> anyhow::Result<Arc<Fetcher>> {
    Ok(Arc::new(
        Fetcher::new(&config.fetch).context("building the HTTP client")?,
    ))
}

/// Load the engine and every component, fetching through `fetcher`.
pub async fn engine_with(config: &Config, fetcher: Arc<Fetcher>) -> anyhow::Result<Arc<Engine>> {
    let ffmpeg = Arc::new(
        FfmpegPolicy::new(&config.ffmpeg)
            .await
            .context("[ffmpeg]")?,
    );
    let started = std::time::Instant::now();
    let engine = Engine::load(config, fetcher, ffmpeg).await?;
    let stats = engine.load_stats();
    tracing::info!(
        tasks = engine.tasks().len(),
        precompiled = stats.beside,
        cached = stats.cached,
        compiled = stats.compiled,
        elapsed_ms = started.elapsed().as_millis(),
        "components loaded"
    );
    Ok(Arc::new(engine))
}

/// Load the engine and every component (`drake run`, `drake tasks`).
pub async fn engine(config: &Config) -> anyhow::Result<Arc<Engine>> {
    engine_with(config, fetcher(config)?).await
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
    let (outputs, urls) = Storage::open(&config)?;
    let urls = Arc::new(urls);
    let fetcher = fetcher(&config)?;
    let engine = engine_with(&config, fetcher.clone()).await?;
    let node_id = format!("{}-{}", std::process::id(), crate::store::new_key());
    let callbacks = Callbacks::new(
        fetcher,
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
        outputs.clone(),
        &config,
        node_id,
    );
    let waiters = api::wait::Waiters::new(config.max_waiters, config.max_waiters_per_client);
    let state = AppState {
        store,
        engine,
        outputs,
        public_base: config.public_base().into(),
        urls,
        config: Arc::new(config),
        waiters,
        openapi: Arc::default(),
        queued: Arc::default(),
        scheduler: scheduler.clone(),
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
        state.outputs.clone(),
        maintenance,
    ));
    // The line tests and scripts wait for.
    println!(
        "drake listening on http://{local} (outputs under {}; {})",
        state.public_base,
        role.label()
    );
    let limits = crate::server::Limits {
        max_connections: state.config.max_connections,
        header_read_timeout: state.config.header_read_timeout,
    };
    let router = match role {
        Role::Worker => api::ops_router(state),
        Role::Both | Role::Api => api::router(state),
    };
    let server = crate::server::serve(listener, router, limits, stop.clone());
    // Open streams and `block` waits get the drain time too, not more.
    let mut cut_stop = stop;
    let cut = async move {
        let _ = cut_stop.wait_for(|stopped| *stopped).await;
        tokio::time::sleep(drain).await;
    };
    tokio::select! {
        () = server => {}
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
