//! `drake`: the server and a local task runner. A thin shell over
//! `drake_host`; errors print their whole chain and exit with 1 (2 for bad
//! usage).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use drake_host::client::{self, Client};
use drake_host::config::{Account, Config};
use serde_json::Value;

/// drake: a self-hostable media task service (Stupeflix Tasks API v1).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum TemplateAction {
    /// Store (or replace) the template in a JSON file (`-`: standard
    /// input): {"name", "definition", "fields", "description"?}.
    Put {
        /// The file.
        file: PathBuf,
    },
    /// Print a template (JSON).
    Get {
        /// Its name.
        name: String,
    },
    /// Print the account's templates (JSON list).
    List,
    /// Delete a template (tasks made from it keep what it rendered).
    Rm {
        /// Its name.
        name: String,
    },
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
        /// Task name, e.g. image.thumb (with --template, the first field).
        task: Option<String>,
        /// Parameters as key=value (repeat a key for lists), typed by the
        /// server's schema; key=@FILE uploads a local file and passes its
        /// reference (key=@@x is the value "@x"). With --template: the
        /// template's fields as field=value, typed by the template.
        params: Vec<String>,
        /// Make the task from this template of the account (see `drake
        /// template`); the arguments are its fields.
        #[arg(long)]
        template: Option<String>,
        /// Wait for the task to end.
        #[arg(long)]
        wait: bool,
        /// Download the output files into this directory (implies --wait);
        /// a ladder's manifest comes with every file it refers to.
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
    /// Cancel tasks (queued ones end at once, running ones promptly) and
    /// print their final statuses.
    Cancel {
        /// Task keys.
        #[arg(required = true)]
        keys: Vec<String>,
        /// The server.
        #[arg(long, env = "DRAKE_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
        /// The account secret.
        #[arg(long, env = "DRAKE_SECRET", hide_env_values = true)]
        secret: Option<String>,
    },
    /// Manage the account's templates: task definitions with ${field}
    /// blanks (docs/templates.md).
    Template {
        #[command(subcommand)]
        action: TemplateAction,
        /// The server.
        #[arg(
            long,
            env = "DRAKE_URL",
            default_value = "http://127.0.0.1:8080",
            global = true
        )]
        url: String,
        /// The account secret (templates need it).
        #[arg(long, env = "DRAKE_SECRET", hide_env_values = true, global = true)]
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
    /// List the tasks and their parameters (with --json: the document
    /// `GET /v1/tasks` answers).
    Tasks {
        /// TOML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print the task list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Compile the task components and write each beside its `.wasm`
    /// file, so that no start of this build compiles (`make build` runs
    /// it).
    Precompile {
        /// TOML configuration file (`components_dir`, engine settings).
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
            let run = drake_host::local::run(&config, &task, &params, &out).await?;
            let usage = run.usage;
            eprintln!(
                "usage: {} ms wall, {} ms CPU, {} MiB peak memory, {} bytes in, {} bytes out",
                usage.wall_ms,
                usage.cpu_ms,
                usage.peak_memory_bytes >> 20,
                usage.bytes_in,
                usage.bytes_out
            );
            match run.result {
                Ok(values) => {
                    println!("{}", serde_json::to_string_pretty(&Value::Object(values))?);
                    Ok(())
                }
                Err(failure) => {
                    println!("{}", serde_json::to_string_pretty(&failure.public)?);
                    bail!("the task failed")
                }
            }
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
            let pairs: Vec<(String, String)> = client::split_pairs(&params)?
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            let signed = drake_host::sign::create_file_url(
                &url,
                filename.as_deref(),
                &task,
                &pairs,
                &api_key,
                &secret,
                until.as_secs(),
            )
            .map_err(anyhow::Error::msg)?;
            println!("{signed}");
            Ok(())
        }
        Command::Create {
            task,
            params,
            template,
            wait,
            out,
            url,
            secret,
        } => {
            let client = Client::new(&url, secret)?;
            let wait = wait || out.is_some();
            let what = match (template, task) {
                (Some(name), first) => {
                    client::What::Template(name, first.into_iter().chain(params).collect())
                }
                (None, Some(task)) => client::What::Task(task, params),
                (None, None) => bail!("name a task (drake create image.thumb url=…) or --template"),
            };
            let status = client::create(&client, what, wait, out.as_deref()).await?;
            println!("{}", serde_json::to_string_pretty(&status)?);
            if wait && status["status"] != "success" {
                bail!("the task failed");
            }
            Ok(())
        }
        Command::Status { keys, url, secret } => {
            let client = Client::new(&url, secret)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&client.status(&keys).await?)?
            );
            Ok(())
        }
        Command::Cancel { keys, url, secret } => {
            let client = Client::new(&url, secret)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&client.cancel(&keys).await?)?
            );
            Ok(())
        }
        Command::Template {
            action,
            url,
            secret,
        } => {
            let client = Client::new(&url, secret)?;
            let answer = match action {
                TemplateAction::Put { file } => {
                    let text = if file.as_os_str() == "-" {
                        std::io::read_to_string(std::io::stdin())?
                    } else {
                        std::fs::read_to_string(&file)
                            .with_context(|| format!("reading {}", file.display()))?
                    };
                    let template: serde_json::Value = serde_json::from_str(&text)
                        .with_context(|| format!("{} is not JSON", file.display()))?;
                    client.template_put(template).await?
                }
                TemplateAction::Get { name } => client.template_get(&name).await?,
                TemplateAction::List => client.template_list().await?,
                TemplateAction::Rm { name } => client.template_delete(&name).await?,
            };
            println!("{}", serde_json::to_string_pretty(&answer)?);
            Ok(())
        }
        Command::Stream { keys, url, secret } => {
            let client = Client::new(&url, secret)?;
            client.stream(&keys, |status| println!("{status}")).await
        }
        Command::Tasks { config, json } => {
            let config = Config::load(config.as_deref())?;
            let engine = drake_host::app::engine(&config).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&engine.task_list())?);
                return Ok(());
            }
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
        Command::Precompile { config } => {
            let config = Config::load(config.as_deref())?;
            let written = drake_host::engine::Engine::precompile(&config)?;
            eprintln!(
                "precompiled {} components into {}",
                written.len(),
                config.components_dir().display()
            );
            Ok(())
        }
    }
}

/// With no account configured, `drake serve` makes one (`demo`) whose
/// secret is generated once and kept in the data directory.
fn demo_account(config: &Config) -> anyhow::Result<Account> {
    let (account, path) = Account::demo(&config.data_dir)
        .with_context(|| format!("the demo account's secret in {}", config.data_dir.display()))?;
    println!(
        "no accounts configured: using account \"demo\" with secret {} (from {})",
        account.secret.as_deref().unwrap_or_default(),
        path.display()
    );
    Ok(account)
}
