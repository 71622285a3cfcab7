//! `drake`: the server and a local task runner. A thin shell over
//! `drake_host`; errors print their whole chain and exit with 1 (2 for bad
//! usage).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use drake_host::capabilities::progress::RunEvent;
use drake_host::client::Client;
use drake_host::config::{Account, Config};
use drake_host::engine::RunEnv;
use serde_json::{Map, Value};

/// drake: a self-hostable media task service (Stupeflix Tasks API v1).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (SQLite + a local directory unless configured).
    Serve {
        /// TOML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Listen address (overrides `listen`).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Data directory (overrides `data_dir`).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Serve the API without running tasks (workers run on other nodes
        /// sharing a Postgres store).
        #[arg(long, conflicts_with = "worker_only")]
        api_only: bool,
        /// Run tasks without serving the API (only /healthz, /readyz,
        /// /metrics answer).
        #[arg(long)]
        worker_only: bool,
    },
    /// Run one task locally, without a server: output files go into
    /// `--out`, the result JSON to stdout.
    Run {
        /// Task name, e.g. image.thumb.
        task: String,
        /// Parameters as key=value (repeat a key for lists).
        params: Vec<String>,
        /// Output directory.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// TOML configuration file (fetch policy, limits, components).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print a signed, expiring `create_file` URL for one task: it holds
    /// the API key and an HMAC under the secret, never the secret, so it
    /// can go in an `<img src>`.
    Sign {
        /// Task name, e.g. image.thumb.
        task: String,
        /// Parameters as key=value (repeat a key for lists).
        params: Vec<String>,
        /// How long the URL works, e.g. 30m, 1h, 7d.
        #[arg(long, default_value = "1h")]
        expires: String,
        /// The server's public base URL.
        #[arg(long, env = "DRAKE_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
        /// The account's API key (identifies the account).
        #[arg(long, env = "DRAKE_API_KEY")]
        api_key: String,
        /// The account's secret (signs; not part of the URL).
        #[arg(long, env = "DRAKE_SECRET", hide_env_values = true)]
        secret: String,
        /// File name in the path (`/v1/create_file/<name>`), e.g. cat.jpg.
        #[arg(long)]
        filename: Option<String>,
    },
    /// Create a task on a server; with --wait, follow it with a progress
    /// bar and print its final status (exit 1 if it fails).
    Create {
        /// Task name, e.g. image.thumb.
        task: String,
        /// Parameters as key=value (repeat a key for lists), typed by the
        /// server's schema.
        params: Vec<String>,
        /// Wait for the task to end.
        #[arg(long)]
        wait: bool,
        /// Download the output files into this directory (implies --wait).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The server.
        #[arg(long, env = "DRAKE_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
        /// The account secret.
        #[arg(long, env = "DRAKE_SECRET", hide_env_values = true)]
        secret: Option<String>,
    },
    /// Print the statuses of tasks (JSON list).
    Status {
        /// Task keys.
        #[arg(required = true)]
        keys: Vec<String>,
        /// The server.
        #[arg(long, env = "DRAKE_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
        /// The account secret, for servers that require auth on reads.
        #[arg(long, env = "DRAKE_SECRET", hide_env_values = true)]
        secret: Option<String>,
    },
    /// Print the statuses of tasks as they change (one JSON object per
    /// line) until all are final.
    Stream {
        /// Task keys.
        #[arg(required = true)]
        keys: Vec<String>,
        /// The server.
        #[arg(long, env = "DRAKE_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
        /// The account secret, for servers that require auth on reads.
        #[arg(long, env = "DRAKE_SECRET", hide_env_values = true)]
        secret: Option<String>,
    },
    /// List the tasks and their parameters.
    Tasks {
        /// TOML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // DRAKE_LOG: the filter (`info`, `drake_host=debug`, …);
    // DRAKE_LOG_FORMAT=json: one JSON object per line, with the task's
    // span fields (key, task, account) on every line of a run.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DRAKE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr);
    if std::env::var("DRAKE_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        logs.json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        logs.init();
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("drake: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("drake: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve {
            config,
            listen,
            data,
            api_only,
            worker_only,
        } => {
            let mut config = Config::load(config.as_deref())?;
            if let Some(listen) = listen {
                config.listen = listen;
            }
            if let Some(data) = data {
                config.data_dir = data;
            }
            if config.accounts.is_empty() {
                config.accounts.push(demo_account(&config)?);
            }
            let role = match (api_only, worker_only) {
                (true, _) => drake_host::app::Role::Api,
                (_, true) => drake_host::app::Role::Worker,
                _ => drake_host::app::Role::Both,
            };
            drake_host::app::serve(config, role).await
        }
        Command::Run {
            task,
            params,
            out,
            config,
        } => {
            let config = Config::load(config.as_deref())?;
            run_task(&config, &task, &params, out).await
        }
        Command::Sign {
            task,
            params,
            expires,
            url,
            api_key,
            secret,
            filename,
        } => {
            let valid = humantime::parse_duration(&expires)
                .with_context(|| format!("--expires {expires:?}: use e.g. 30m, 1h, 7d"))?;
            let until = std::time::SystemTime::now()
                .checked_add(valid)
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .context("--expires is too far in the future")?;
            println!(
                "{}",
                signed_url(
                    &url,
                    filename.as_deref(),
                    &task,
                    &params,
                    &api_key,
                    &secret,
                    until.as_secs()
                )?
            );
            Ok(())
        }
        Command::Create {
            task,
            params,
            wait,
            out,
            url,
            secret,
        } => create_task(&url, secret, &task, &params, wait || out.is_some(), out).await,
        Command::Status { keys, url, secret } => {
            let client = Client::new(&url, secret)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&client.status(&keys).await?)?
            );
            Ok(())
        }
        Command::Stream { keys, url, secret } => {
            let client = Client::new(&url, secret)?;
            client.stream(&keys, |status| println!("{status}")).await
        }
        Command::Tasks { config } => {
            let config = Config::load(config.as_deref())?;
            let engine = drake_host::app::engine(&config).await?;
            for t in engine.tasks().values() {
                let params = t
                    .schema
                    .get("properties")
                    .and_then(Value::as_object)
                    .map(|p| p.keys().cloned().collect::<Vec<_>>().join(", "))
                    .unwrap_or_default();
                println!(
                    "{:<22} {}\n{:<22} parameters: {params}",
                    t.info.name, t.info.summary, ""
                );
            }
            Ok(())
        }
    }
}

/// `drake create`: create, then (with `wait`) follow the task with a
/// progress bar on stderr, print the final status, download the outputs.
async fn create_task(
    url: &str,
    secret: Option<String>,
    task: &str,
    params: &[String],
    wait: bool,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    let client = Client::new(url, secret)?;
    let definition = client.definition(task, params).await?;
    let mut status = client.create(definition).await?;
    if !wait {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    let key = status["key"]
        .as_str()
        .context("the server gave no task key")?
        .to_owned();
    // Hidden when stderr is not a terminal.
    let bar = indicatif::ProgressBar::new(100).with_style(
        indicatif::ProgressStyle::with_template("{spinner} {prefix} {wide_bar} {pos:>3}% {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_prefix(format!("{task} {key}"));
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    client
        .stream(std::slice::from_ref(&key), |s| {
            if let Some(p) = s["progress"].as_u64() {
                bar.set_position(p);
            }
            bar.set_message(s["status"].as_str().unwrap_or("").to_owned());
            status = s.clone();
        })
        .await?;
    bar.finish_and_clear();
    if !drake_host::client::is_final(&status) {
        status = client
            .status(std::slice::from_ref(&key))
            .await?
            .get(0)
            .cloned()
            .unwrap_or(status);
    }
    println!("{}", serde_json::to_string_pretty(&status)?);
    if status["status"] != "success" {
        bail!("the task failed");
    }
    if let Some(dir) = out {
        for path in client.download_outputs(&status, &dir).await? {
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(())
}

/// `<url>/v1/create_file[/<filename>]?<canonical query>&signature=<hex>`.
fn signed_url(
    url: &str,
    filename: Option<&str>,
    task: &str,
    params: &[String],
    api_key: &str,
    secret: &str,
    expires: u64,
) -> anyhow::Result<String> {
    use drake_host::api::auth;
    let mut pairs = vec![("task_name".to_owned(), task.to_owned())];
    for pair in params {
        let Some((k, v)) = pair.split_once('=') else {
            bail!("parameter {pair:?} is not key=value");
        };
        if auth::SIGNED_PARAMS.contains(&k) || k == "secret" || k == "task_name" {
            bail!("{k} is set by drake sign");
        }
        pairs.push((k.to_owned(), v.to_owned()));
    }
    pairs.push(("api_key".into(), api_key.to_owned()));
    pairs.push(("expires".into(), expires.to_string()));
    let canonical = auth::canonical_query(&pairs);
    let path = match filename {
        Some(name) => format!("/v1/create_file/{}", auth::encode(name)),
        None => "/v1/create_file".to_owned(),
    };
    Ok(format!(
        "{}{path}?{canonical}&signature={}",
        url.trim_end_matches('/'),
        auth::sign(secret, &canonical)
    ))
}

/// With no account configured, `drake serve` makes one (`demo`) whose
/// secret is generated once and kept in the data directory.
fn demo_account(config: &Config) -> anyhow::Result<Account> {
    let path = config.data_dir.join("demo-secret");
    let secret = match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => s.trim().to_owned(),
        _ => {
            std::fs::create_dir_all(&config.data_dir)?;
            let s = drake_host::api::request::new_key();
            std::fs::write(&path, &s).with_context(|| format!("writing {}", path.display()))?;
            s
        }
    };
    println!(
        "no accounts configured: using account \"demo\" with secret {secret} (from {})",
        path.display()
    );
    Ok(Account {
        name: "demo".into(),
        secret: Some(secret),
        api_keys: vec![],
        referrers: vec![],
        max_tasks_per_hour: None,
        retention: None,
    })
}

async fn run_task(
    config: &Config,
    task: &str,
    pairs: &[String],
    out: PathBuf,
) -> anyhow::Result<()> {
    let engine = drake_host::app::engine(config).await?;
    let Some(loaded) = engine.task(task) else {
        let names: Vec<&str> = engine.tasks().keys().map(String::as_str).collect();
        bail!("unknown task {task:?}; choose one of: {}", names.join(", "));
    };
    let params = drake_sdk::query::params(&loaded.schema, drake_host::client::split_pairs(pairs)?);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
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
        sink: Arc::new(drake_host::storage::DirSink {
            dir: out.clone(),
            events: events.clone(),
        }),
        events,
    };
    let outcome = engine.run(task, &Value::Object(params), env).await;
    let files = files.await.unwrap_or_default();
    let usage = outcome.usage;
    eprintln!(
        "usage: {} ms wall, {} ms CPU, {} MiB peak memory, {} bytes in, {} bytes out",
        usage.wall_ms,
        usage.cpu_ms,
        usage.peak_memory_bytes >> 20,
        usage.bytes_in,
        usage.bytes_out
    );
    match outcome.result {
        Ok(mut values) => {
            values.extend(files);
            println!("{}", serde_json::to_string_pretty(&Value::Object(values))?);
            Ok(())
        }
        Err(failure) => {
            println!("{}", serde_json::to_string_pretty(&failure.public)?);
            bail!("the task failed")
        }
    }
}
