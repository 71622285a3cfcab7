//! A client of a drake server's API, for `drake create | status | stream`.
//!
//! Parameters given as `key=value` are typed with the server's own schemas
//! (`GET /v1/tasks`), exactly as `GET /v1/create_file` coerces a query:
//! `width=200` is a number, `crop=true` a boolean, a repeated key a list.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use serde_json::{Map, Value, json};

/// A server and the credential to create tasks on it.
pub struct Client {
    http: reqwest::Client,
    base: String,
    secret: Option<String>,
}

impl Client {
    /// A client of the server at `base` (`http://127.0.0.1:8080`).
    pub fn new(base: &str, secret: Option<String>) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_owned(),
            secret,
        })
    }

    /// A request to `path`, with the secret (`Authorization: Secret`) when
    /// there is one: creating needs it, and so do reads on servers that
    /// require auth for them.
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.secret {
            Some(secret) => request.header("Authorization", format!("Secret {secret}")),
            None => request,
        }
    }

    async fn json(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = request.send().await.context("connecting to the server")?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .with_context(|| format!("the server's answer ({status}) is not JSON"))?;
        if !status.is_success() {
            bail!("the server answered {status}: {body}");
        }
        Ok(body)
    }

    /// The task definition `{"task_name": task, …}` from `key=value`
    /// pairs, typed with the server's schema for `task`.
    pub async fn definition(&self, task: &str, pairs: &[String]) -> anyhow::Result<Value> {
        let tasks = self
            .json(self.request(reqwest::Method::GET, "/v1/tasks"))
            .await?;
        let Some(schema) = tasks
            .as_array()
            .and_then(|list| list.iter().find(|t| t["name"] == task))
            .map(|t| t["parameters"].clone())
        else {
            let names: Vec<&str> = tasks
                .as_array()
                .map(|l| l.iter().filter_map(|t| t["name"].as_str()).collect())
                .unwrap_or_default();
            bail!(
                "the server has no task {task:?}; it has: {}",
                names.join(", ")
            );
        };
        let mut def = Map::new();
        def.insert("task_name".into(), Value::from(task));
        def.extend(drake_rules::query::params(&schema, split_pairs(pairs)?));
        Ok(Value::Object(def))
    }

    /// Create one task: its first status.
    pub async fn create(&self, definition: Value) -> anyhow::Result<Value> {
        if self.secret.is_none() {
            bail!("creating a task needs the account secret (--secret or DRAKE_SECRET)");
        }
        let body = json!({ "tasks": [definition] });
        let statuses = self
            .json(
                self.request(reqwest::Method::POST, "/v1/create")
                    .json(&body),
            )
            .await?;
        statuses
            .get(0)
            .cloned()
            .context("the server created no task")
    }

    /// Cancel `keys` and wait until every one is final: their statuses,
    /// in order.
    pub async fn cancel(&self, keys: &[String]) -> anyhow::Result<Value> {
        if self.secret.is_none() {
            bail!("cancelling needs the account secret (--secret or DRAKE_SECRET)");
        }
        self.json(
            self.request(reqwest::Method::POST, "/v1/cancel")
                .json(&json!({ "tasks": keys, "block": true })),
        )
        .await
    }

    /// The statuses of `keys`, in order.
    pub async fn status(&self, keys: &[String]) -> anyhow::Result<Value> {
        self.json(
            self.request(reqwest::Method::POST, "/v1/status")
                .json(&json!({ "tasks": keys })),
        )
        .await
    }

    /// Follow `keys` until every one is final, calling `each` with every
    /// status the server sends (NDJSON: the first line lists them all).
    pub async fn stream(
        &self,
        keys: &[String],
        mut each: impl FnMut(&Value),
    ) -> anyhow::Result<()> {
        let response = self
            .request(reqwest::Method::POST, "/v1/status_stream")
            .json(&json!({ "tasks": keys }))
            .send()
            .await
            .context("connecting to the server")?;
        if !response.status().is_success() {
            let status = response.status();
            bail!(
                "the server answered {status}: {}",
                response.text().await.unwrap_or_default()
            );
        }
        let mut body = response.bytes_stream();
        let mut pending = Vec::new();
        while let Some(chunk) = body.next().await {
            pending.extend_from_slice(&chunk.context("reading the stream")?);
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let value: Value = match serde_json::from_slice(&line) {
                    Ok(v) => v,
                    Err(_) if line.iter().all(u8::is_ascii_whitespace) => continue,
                    Err(e) => bail!("a stream line is not JSON: {e}"),
                };
                match value {
                    Value::Array(list) => list.iter().for_each(&mut each),
                    status => each(&status),
                }
            }
        }
        Ok(())
    }

    /// Download every output file of a final `status` into `dir`: the
    /// paths written.
    pub async fn download_outputs(
        &self,
        status: &Value,
        dir: &Path,
    ) -> anyhow::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut written = Vec::new();
        for url in output_urls(status) {
            let name = url
                .rsplit('/')
                .next()
                .filter(|n| !n.is_empty())
                .unwrap_or("output");
            let path = dir.join(name);
            // The secret goes only to this server, not to an object store.
            let request = match url
                .strip_prefix(&self.base)
                .filter(|path| path.starts_with('/'))
            {
                Some(path) => self.request(reqwest::Method::GET, path),
                None => self.http.get(&url),
            };
            let response = request.send().await?.error_for_status()?;
            let bytes = response.bytes().await?;
            std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
            written.push(path);
        }
        Ok(written)
    }
}

/// `drake create`: create `task` with `key=value` parameters; with
/// `wait`, follow it with a progress bar on stderr until it ends, then
/// download its output files into `out`. The last status known.
pub async fn create(
    client: &Client,
    task: &str,
    params: &[String],
    wait: bool,
    out: Option<&Path>,
) -> anyhow::Result<Value> {
    let definition = client.definition(task, params).await?;
    let mut status = client.create(definition).await?;
    if !wait {
        return Ok(status);
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
    if !is_final(&status) {
        status = client
            .status(std::slice::from_ref(&key))
            .await?
            .get(0)
            .cloned()
            .unwrap_or(status);
    }
    if status["status"] == "success"
        && let Some(dir) = out
    {
        for path in client.download_outputs(&status, dir).await? {
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(status)
}

/// The output-file URLs of a status (`result` values under `/v1/storage/`).
pub fn output_urls(status: &Value) -> Vec<String> {
    status["result"]
        .as_object()
        .map(|result| {
            result
                .values()
                .filter_map(Value::as_str)
                .filter(|v| v.contains("/v1/storage/"))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a status is final (`success` or `error`).
pub fn is_final(status: &Value) -> bool {
    matches!(status["status"].as_str(), Some("success" | "error"))
}

/// Command-line `key=value` parameters as pairs (the value may hold `=`).
pub fn split_pairs(pairs: &[String]) -> anyhow::Result<Vec<(&str, &str)>> {
    pairs
        .iter()
        .map(|pair| {
            pair.split_once('=')
                .ok_or_else(|| anyhow::anyhow!("parameter {pair:?} is not key=value"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_the_storage_urls() {
        let status = json!({"status": "success", "result": {
            "output": "http://h/v1/storage/K/output.jpg", "width": 10,
            "content_type": "image/jpeg", "page": "http://elsewhere/x"}});
        assert_eq!(output_urls(&status), ["http://h/v1/storage/K/output.jpg"]);
        assert!(is_final(&status));
        assert!(!is_final(&json!({"status": "executing"})));
    }
}
