//! A client of a drake server's API, for `drake create | status | stream`.
//!
//! Parameters given as `key=value` are typed with the server's own schemas
//! (`GET /v1/tasks`), exactly as `GET /v1/create_file` coerces a query:
//! `width=200` is a number, `crop=true` a boolean, a repeated key a list.
//! A value `@PATH` uploads the local file first (`POST /v1/uploads`) and
//! passes its reference (`drake:KEY/output`); `@@…` is a value starting
//! with one `@`.

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
        let mut resolved = Vec::with_capacity(pairs.len());
        for (key, value) in split_pairs(pairs)? {
            let value = match value.strip_prefix('@') {
                Some(literal) if literal.starts_with('@') => literal.to_owned(),
                Some(path) => self.upload(Path::new(path)).await?,
                None => value.to_owned(),
            };
            resolved.push((key, value));
        }
        let pairs: Vec<(&str, &str)> = resolved.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut def = Map::new();
        def.insert("task_name".into(), Value::from(task));
        def.extend(drake_rules::query::params(&schema, pairs));
        Ok(Value::Object(def))
    }

    /// `{"template": name, "fields": {…}}` from `field=value` pairs
    /// (`field=@FILE` uploads the file and passes its reference); the
    /// server types each value by its field.
    pub async fn template_definition(&self, name: &str, pairs: &[String]) -> anyhow::Result<Value> {
        let mut fields = Map::new();
        for (key, value) in split_pairs(pairs)? {
            let value = match value.strip_prefix('@') {
                Some(literal) if literal.starts_with('@') => literal.to_owned(),
                Some(path) => self.upload(Path::new(path)).await?,
                None => value.to_owned(),
            };
            fields.insert(key.to_owned(), Value::from(value));
        }
        Ok(json!({"template": name, "fields": fields}))
    }

    /// Store (or replace) a template: the stored template.
    pub async fn template_put(&self, template: Value) -> anyhow::Result<Value> {
        self.json(
            self.request(reqwest::Method::POST, "/v1/templates")
                .json(&template),
        )
        .await
    }

    /// Template `name`.
    pub async fn template_get(&self, name: &str) -> anyhow::Result<Value> {
        self.json(self.request(reqwest::Method::GET, &template_path(name)?))
            .await
    }

    /// Every template of the account.
    pub async fn template_list(&self) -> anyhow::Result<Value> {
        self.json(self.request(reqwest::Method::GET, "/v1/templates"))
            .await
    }

    /// Delete template `name`.
    pub async fn template_delete(&self, name: &str) -> anyhow::Result<Value> {
        self.json(self.request(reqwest::Method::DELETE, &template_path(name)?))
            .await
    }

    /// Upload the file at `path` (streamed): its reference.
    pub async fn upload(&self, path: &Path) -> anyhow::Result<String> {
        if self.secret.is_none() {
            bail!("uploading a file needs the account secret (--secret or DRAKE_SECRET)");
        }
        let file = tokio::fs::File::open(path)
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let content_type = mime_guess::from_path(path).first_or_octet_stream();
        let status = self
            .json(
                self.request(reqwest::Method::POST, "/v1/uploads")
                    .query(&[("filename", &name)])
                    .header("Content-Type", content_type.essence_str())
                    .body(reqwest::Body::from(file)),
            )
            .await
            .with_context(|| format!("uploading {}", path.display()))?;
        let reference = status["reference"]
            .as_str()
            .context("the server's upload answer has no reference")?;
        eprintln!("uploaded {} as {reference}", path.display());
        Ok(reference.to_owned())
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
    /// paths written. A ladder's manifest (`output.m3u8`, `output.mpd`)
    /// comes with every file it refers to, at the same relative paths
    /// (`dir/output/360p/1.m4s`), so the copy plays offline.
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
            let bytes = self.get_bytes(&url).await?;
            let path = dir.join(name);
            std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
            written.push(path);
            if is_manifest(name) {
                let base =
                    reqwest::Url::parse(&url).with_context(|| format!("output URL {url}"))?;
                self.download_parts(&base, &bytes, dir, &mut written)
                    .await?;
            }
        }
        Ok(written)
    }

    /// The body at `url`, with the secret when the URL is this server's
    /// (never to an object store).
    async fn get_bytes(&self, url: &str) -> anyhow::Result<bytes::Bytes> {
        let request = match url
            .strip_prefix(&self.base)
            .filter(|path| path.starts_with('/'))
        {
            Some(path) => self.request(reqwest::Method::GET, path),
            None => self.http.get(url),
        };
        let response = request.send().await?.error_for_status()?;
        Ok(response.bytes().await?)
    }

    /// The files a ladder's manifest at `base` refers to (and those its
    /// media playlists refer to), written under `dir` at their paths
    /// relative to the manifest's directory. References outside that
    /// directory or to another server are skipped: a manifest names no
    /// other file on disk or elsewhere.
    async fn download_parts(
        &self,
        base: &reqwest::Url,
        manifest: &[u8],
        dir: &Path,
        written: &mut Vec<PathBuf>,
    ) -> anyhow::Result<()> {
        let root = base.join(".")?;
        let mut pending: Vec<(reqwest::Url, Vec<u8>)> = vec![(base.clone(), manifest.to_vec())];
        let mut seen = std::collections::HashSet::new();
        while let Some((at, text)) = pending.pop() {
            for reference in manifest_references(&String::from_utf8_lossy(&text)) {
                let Ok(url) = at.join(&reference) else {
                    continue;
                };
                let Some(relative) = beneath(&root, &url) else {
                    continue;
                };
                if !seen.insert(relative.clone()) {
                    continue;
                }
                let bytes = self.get_bytes(url.as_str()).await?;
                let path = dir.join(&relative);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("creating {}", parent.display()))?;
                }
                std::fs::write(&path, &bytes)
                    .with_context(|| format!("writing {}", path.display()))?;
                written.push(path);
                if is_manifest(&relative) {
                    pending.push((url, bytes.to_vec()));
                }
            }
        }
        Ok(())
    }
}

/// Whether a file name is an HLS playlist or a DASH manifest.
fn is_manifest(name: &str) -> bool {
    name.ends_with(".m3u8") || name.ends_with(".mpd")
}

/// `url`'s path relative to `root` (a directory URL), when `url` lies
/// beneath it on the same server, its segments plain names (no `..`:
/// `Url::join` has resolved those already, so one left is hostile).
fn beneath(root: &reqwest::Url, url: &reqwest::Url) -> Option<String> {
    if url.origin() != root.origin() {
        return None;
    }
    let relative = url.path().strip_prefix(root.path())?;
    let plain = |s: &str| !s.is_empty() && s != "." && s != ".." && !s.contains('\\');
    relative.split('/').all(plain).then(|| relative.to_owned())
}

/// The references in an HLS playlist (URI lines and `URI="…"`
/// attributes) or a DASH manifest (`BaseURL`s, and each
/// `SegmentTemplate`'s `initialization` and `media` with `$Number$`
/// expanded over its `SegmentTimeline`, from `startNumber`).
pub fn manifest_references(text: &str) -> Vec<String> {
    if text.trim_start().starts_with("#EXTM3U") {
        let mut refs = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() {
                continue;
            }
            if !line.starts_with('#') {
                refs.push(line.to_owned());
            } else if let Some(uri) = attribute(line, "URI") {
                refs.push(uri.to_owned());
            }
        }
        return refs;
    }
    let mut refs: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("<BaseURL>") {
        rest = &rest[start + "<BaseURL>".len()..];
        if let Some(end) = rest.find("</BaseURL>") {
            refs.push(rest[..end].trim().to_owned());
        }
    }
    let mut rest = text;
    while let Some(start) = rest.find("<SegmentTemplate") {
        rest = &rest[start..];
        let end = rest.find("</SegmentTemplate>").unwrap_or(rest.len());
        let template = &rest[..end];
        rest = &rest[end..];
        let head = &template[..template.find('>').unwrap_or(template.len())];
        refs.extend(attribute(head, "initialization").map(str::to_owned));
        let Some(media) = attribute(head, "media") else {
            continue;
        };
        let first: u64 = attribute(head, "startNumber")
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        // Each `<S>` is one segment and `r` more.
        let count: u64 = template
            .split("<S ")
            .skip(1)
            .map(|s| {
                let s = &s[..s.find('>').unwrap_or(s.len())];
                1 + attribute(s, "r")
                    .and_then(|r| r.parse::<u64>().ok())
                    .unwrap_or(0)
            })
            .sum();
        // A manifest from a drake server lists at most a few thousand.
        for n in first..first.saturating_add(count.min(MAX_SEGMENTS)) {
            refs.push(media.replace("$Number$", &n.to_string()));
        }
    }
    refs
}

/// Segments followed per template: a 24-hour stream in 2 s segments is
/// 43,200; a hostile `r` asks for billions.
const MAX_SEGMENTS: u64 = 50_000;

/// The value of `name="…"` in a tag or an HLS attribute list.
fn attribute<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("{name}=\"");
    let mut from = 0;
    while let Some(i) = text[from..].find(&key) {
        let at = from + i;
        // A whole name: `media=` must not match inside `somemedia=`.
        let whole = at == 0 || !text.as_bytes()[at - 1].is_ascii_alphanumeric();
        let value = &text[at + key.len()..];
        if whole {
            return value.find('"').map(|end| &value[..end]);
        }
        from = at + key.len();
    }
    None
}

/// What `drake create` makes.
pub enum What {
    /// A task and its `key=value` parameters.
    Task(String, Vec<String>),
    /// A template and its `field=value` fields.
    Template(String, Vec<String>),
}

/// `drake create`: create a task with `key=value` parameters, or from a
/// template with `field=value` fields; with `wait`, follow it with a
/// progress bar on stderr until it ends, then download its output files
/// into `out`. The last status known.
pub async fn create(
    client: &Client,
    what: What,
    wait: bool,
    out: Option<&Path>,
) -> anyhow::Result<Value> {
    let (definition, task) = match what {
        What::Task(task, params) => (client.definition(&task, &params).await?, task),
        What::Template(name, fields) => (
            client.template_definition(&name, &fields).await?,
            format!("template {name}"),
        ),
    };
    let task = task.as_str();
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

/// `/v1/templates/NAME`, for a name that is one path segment.
fn template_path(name: &str) -> anyhow::Result<String> {
    if !crate::templates::valid_template_name(name) {
        bail!("{name:?} is not a template name (letters, digits, '.', '_', '-')");
    }
    Ok(format!("/v1/templates/{name}"))
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
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
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

    /// HLS: URI lines and `URI="…"` attributes; DASH: templates expanded
    /// over their timelines, `BaseURL`s.
    #[test]
    fn manifests_name_their_parts() {
        let master = "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",URI=\"output/audio.m3u8\"\n\
                      #EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"avc1\"\noutput/240p.m3u8\n";
        assert_eq!(
            manifest_references(master),
            ["output/audio.m3u8", "output/240p.m3u8"]
        );
        let media =
            "#EXTM3U\n#EXT-X-MAP:URI=\"240p/init.mp4\"\n#EXTINF:4,\n240p/1.m4s\n#EXT-X-ENDLIST\n";
        assert_eq!(manifest_references(media), ["240p/init.mp4", "240p/1.m4s"]);
        let mpd = "<MPD><Period><AdaptationSet><Representation id=\"240p\">\
            <SegmentTemplate timescale=\"1000\" initialization=\"output/240p/init.mp4\" \
            media=\"output/240p/$Number$.m4s\" startNumber=\"1\"><SegmentTimeline>\
            <S t=\"0\" d=\"4000\" r=\"2\"/><S d=\"1500\"/></SegmentTimeline></SegmentTemplate>\
            </Representation></AdaptationSet><AdaptationSet><Representation>\
            <BaseURL>output/subtitles.vtt</BaseURL></Representation></AdaptationSet></Period></MPD>";
        assert_eq!(
            manifest_references(mpd),
            [
                "output/subtitles.vtt",
                "output/240p/init.mp4",
                "output/240p/1.m4s",
                "output/240p/2.m4s",
                "output/240p/3.m4s",
                "output/240p/4.m4s",
            ]
        );
        let hostile = "<SegmentTemplate media=\"$Number$\"><SegmentTimeline>\
                       <S d=\"1\" r=\"999999999999\"/></SegmentTimeline></SegmentTemplate>";
        assert_eq!(manifest_references(hostile).len() as u64, MAX_SEGMENTS);
    }

    /// Only files beneath the manifest's directory on its own server.
    #[test]
    fn parts_stay_beneath_the_manifest() {
        let base = reqwest::Url::parse("http://h/v1/storage/K/output.m3u8").unwrap();
        let root = base.join(".").unwrap();
        let at = |r: &str| beneath(&root, &base.join(r).unwrap());
        assert_eq!(at("output/240p.m3u8").as_deref(), Some("output/240p.m3u8"));
        assert_eq!(at("../L/output.jpg"), None);
        assert_eq!(at("/etc/passwd"), None);
        assert_eq!(at("http://elsewhere/v1/storage/K/x"), None);
        assert_eq!(at("output//x"), None);
        assert_eq!(at("output/%2e%2e/%2e%2e/L/x"), None);
    }
}
