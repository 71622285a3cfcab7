//! drake-sdk: everything a drake task component needs, so a task crate
//! writes only its `Params` type and its `run` function.
//!
//! - [`bindings`] holds the one `wit_bindgen::generate!` of the
//!   `drake:task` world (no task crate runs bindgen itself);
//! - [`Task`] is what a task implements, [`task!`] exports it;
//! - [`Ctx`] is the task's view of the host (fetch, publish, progress) with
//!   the wasm implementation in [`guest`] and a native [`FakeCtx`] so task
//!   logic is unit-tested with plain `cargo test`;
//! - [`validate`] turns the parameters JSON into the dragon error shape
//!   `{"url": ["this field is required"]}` before serde sees it;
//! - with the `spin` feature, [`task!`] exports the task as a Spin HTTP
//!   component instead (`spin`: `GET|POST /v1/run/<task_name>`), from the
//!   same task code.
//!
//! ```
//! use drake_sdk::{Ctx, Task, TaskError, Values};
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! pub struct Params { text: String, #[serde(default)] shout: bool }
//!
//! pub struct Echo;
//! impl Task for Echo {
//!     const NAME: &'static str = "test.echo";
//!     const SUMMARY: &'static str = "Echo a text.";
//!     const VALUES: &'static [&'static str] = &["text"];
//!     const FILES: &'static [&'static str] = &[];
//!     type Params = Params;
//!     fn run(_ctx: &mut dyn Ctx, p: Params) -> Result<Values, TaskError> {
//!         let text = if p.shout { p.text.to_uppercase() } else { p.text };
//!         Ok(drake_sdk::values([("text", text.into())]))
//!     }
//! }
//!
//! let mut ctx = drake_sdk::FakeCtx::default();
//! let out = drake_sdk::run_json::<Echo>(&mut ctx, r#"{"text": "hi", "shout": true}"#).unwrap();
//! assert_eq!(out["text"], "HI");
//! let err = drake_sdk::run_json::<Echo>(&mut ctx, r#"{"shout": 3}"#).unwrap_err();
//! assert_eq!(
//!     err,
//!     TaskError::parameters([("shout", "not a valid boolean"), ("text", "this field is required")])
//! );
//! ```
#![deny(missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::fmt;

pub use serde_json::{Map, Value};

pub mod http;
pub mod media;

/// Query strings as parameters (shared with the host: `drake-rules`).
pub use drake_rules::query;
/// Parameter validation (shared with the host: `drake-rules`).
pub use drake_rules::validate;

pub use media::{FfmpegError, Job, JobInput, JobResult, MediaInfo, StreamInfo};

/// The generated bindings of the `drake:task` world (one copy for every task;
/// absent from Spin builds, which export `wasi:http` instead).
#[cfg(not(all(target_arch = "wasm32", feature = "spin")))]
#[allow(missing_docs, reason = "generated code")]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "task",
        pub_export_macro: true,
        default_bindings_module: "drake_sdk::bindings",
        export_macro_name: "export",
    });
}

#[cfg(all(target_arch = "wasm32", not(feature = "spin")))]
pub mod guest;
#[cfg(any(feature = "spin", test))]
pub mod spin;

/// Output values of a task: a JSON object, merged into the status `result`.
pub type Values = Map<String, Value>;

/// Build [`Values`] from pairs.
pub fn values<const N: usize>(pairs: [(&str, Value); N]) -> Values {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// A task: its name, outputs, parameter type and logic.
pub trait Task {
    /// The dragon task name (`image.thumb`).
    const NAME: &'static str;
    /// One line for humans.
    const SUMMARY: &'static str;
    /// Output value names.
    const VALUES: &'static [&'static str];
    /// Output file names.
    const FILES: &'static [&'static str];
    /// The parameters; `#[serde(deny_unknown_fields)]` and a JSON Schema.
    type Params: serde::de::DeserializeOwned + schemars::JsonSchema;
    /// Run the task.
    fn run(ctx: &mut dyn Ctx, params: Self::Params) -> Result<Values, TaskError>;
}

/// Why a task failed; maps 1:1 to the WIT `task-error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskError {
    /// Parameter problems: parameter name → messages.
    InvalidParameters(BTreeMap<String, Vec<String>>),
    /// The input is unusable (not an image, truncated, ...).
    InvalidInput(String),
    /// An input or sandbox limit was reached.
    Limit(String),
    /// Anything else, with a message fit for the client.
    Failed(String),
}

impl TaskError {
    /// One message per parameter.
    pub fn parameters<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut map = BTreeMap::<String, Vec<String>>::new();
        for (name, msg) in pairs {
            map.entry(name.to_owned()).or_default().push(msg.to_owned());
        }
        TaskError::InvalidParameters(map)
    }

    /// A single parameter problem.
    pub fn parameter(name: &str, msg: impl Into<String>) -> Self {
        TaskError::InvalidParameters(BTreeMap::from([(name.to_owned(), vec![msg.into()])]))
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::InvalidParameters(map) => {
                let json = serde_json::to_string(map).map_err(|_| fmt::Error)?;
                write!(f, "invalid parameters: {json}")
            }
            TaskError::InvalidInput(m) | TaskError::Limit(m) | TaskError::Failed(m) => {
                f.write_str(m)
            }
        }
    }
}

impl std::error::Error for TaskError {}

/// Why a fetch failed (the WIT `fetch-error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// Not a valid absolute http(s) URL.
    InvalidUrl(String),
    /// Denied by the network policy.
    Blocked(String),
    /// Larger than the cap (bytes).
    TooLarge(u64),
    /// Took too long.
    Timeout,
    /// Non-success HTTP status.
    HttpStatus(u16),
    /// DNS, connection or protocol failure.
    Network(String),
}

impl FetchError {
    /// The task error for a failed fetch of parameter `param`: a limit for
    /// the size cap, a failure with a readable message otherwise.
    pub fn into_task_error(self, param: &str) -> TaskError {
        match self {
            FetchError::InvalidUrl(m) => TaskError::parameter(param, m),
            FetchError::TooLarge(cap) => TaskError::Limit(format!(
                "{param}: the download is larger than the limit of {cap} bytes"
            )),
            other => TaskError::Failed(format!("{param}: could not fetch: {other}")),
        }
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::InvalidUrl(m) => write!(f, "invalid URL: {m}"),
            FetchError::Blocked(m) => write!(f, "blocked by the network policy: {m}"),
            FetchError::TooLarge(cap) => write!(f, "larger than the limit of {cap} bytes"),
            FetchError::Timeout => f.write_str("timed out"),
            FetchError::HttpStatus(code) => write!(f, "the server answered HTTP {code}"),
            FetchError::Network(m) => write!(f, "network error: {m}"),
        }
    }
}

/// Bytes fetched by the host. Reads go to the host on wasm; the fake keeps
/// them in memory.
pub trait Input {
    /// For the host implementation to recover its handle.
    fn as_any(&self) -> &dyn std::any::Any;
    /// Length in bytes.
    fn size(&self) -> u64;
    /// Content type declared by the source (may be empty).
    fn content_type(&self) -> String;
    /// The URL the bytes came from, after redirects (empty when the task
    /// or ffmpeg made them).
    fn url(&self) -> String {
        String::new()
    }
    /// Up to `len` bytes from `offset`.
    fn read(&self, offset: u64, len: u32) -> Vec<u8>;
    /// Every byte.
    fn read_all(&self) -> Vec<u8> {
        read_in_chunks(self)
    }
}

/// Every byte of `input`, 4 MiB at a time (few host calls, modest
/// copies). Guest memory is capped by the host; a read larger than the cap
/// traps there as "memory limit exceeded" rather than corrupting.
pub fn read_in_chunks<I: Input + ?Sized>(input: &I) -> Vec<u8> {
    const CHUNK: u32 = 4 << 20;
    let size = input.size();
    let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    while (out.len() as u64) < size {
        let chunk = input.read(out.len() as u64, CHUNK);
        if chunk.is_empty() {
            break;
        }
        out.extend_from_slice(&chunk);
    }
    out
}

/// The task's view of the host.
pub trait Ctx {
    /// Fetch a URL under the host's network policy. `max_bytes` lowers the
    /// host's byte cap for this download.
    fn fetch(&mut self, url: &str, max_bytes: Option<u64>) -> Result<Box<dyn Input>, FetchError>;
    /// Publish output file `name` (stored as `<name>.<extension>`).
    fn publish(
        &mut self,
        name: &str,
        bytes: &[u8],
        content_type: &str,
        extension: &str,
    ) -> Result<(), TaskError>;
    /// Publish `bytes` as part `path` of output `name`, stored at
    /// `<name>/<path>` beside the output's file (an HLS or DASH manifest's
    /// media playlists and segments, which it refers to relatively).
    fn publish_part(&mut self, name: &str, path: &str, bytes: &[u8]) -> Result<(), TaskError> {
        let _ = (name, bytes);
        Err(TaskError::Failed(format!(
            "this host stores no output parts ({path})"
        )))
    }
    /// Report progress, 0–100.
    fn progress(&mut self, percent: u8);
    /// Publish output values before the end.
    fn partial(&mut self, values: &Values);
    /// Publish output file `name` from host-held media (an ffmpeg output
    /// or a fetched input) without copying it through the guest (an
    /// in-memory context copies).
    fn publish_input(
        &mut self,
        name: &str,
        media: &dyn Input,
        content_type: &str,
        extension: &str,
    ) -> Result<(), TaskError> {
        let bytes = media.read_all();
        self.publish(name, &bytes, content_type, extension)
    }
    /// Probe media with ffprobe.
    fn probe(&mut self, media: &dyn Input) -> Result<MediaInfo, FfmpegError>;
    /// Run an ffmpeg job: its outputs and what it wrote.
    fn ffmpeg_run(&mut self, job: Job<'_>) -> Result<JobResult, FfmpegError>;
    /// Run an ffmpeg job; one output per job output, in order.
    fn ffmpeg(&mut self, job: Job<'_>) -> Result<Vec<Box<dyn Input>>, FfmpegError> {
        self.ffmpeg_run(job).map(|r| r.outputs)
    }
    /// One host-held media made of `parts` end to end (byte-concatenable
    /// streams: MPEG-TS segments, raw PCM), copied through the guest a
    /// chunk at a time (an in-memory context joins them in memory).
    fn concat(&mut self, parts: &[&dyn Input]) -> Result<Box<dyn Input>, TaskError> {
        let bytes = parts.iter().flat_map(|p| p.read_all()).collect();
        Ok(Box::new(MemInput::new("", bytes)))
    }
    /// Speak English `text` with a flite voice (`slt`, `rms`, …): a
    /// 16 kHz mono WAV held by the host.
    fn speak(&mut self, text: &str, voice: &str) -> Result<Box<dyn Input>, FfmpegError>;
    /// Send one HTTP request (`wasi:http` under the host's network policy;
    /// redirects are answered, not followed).
    fn http(&mut self, request: &http::Request<'_>) -> Result<http::Response, http::Error>;
}

/// Validate `params` (JSON text) against `T`'s schema, decode them and run
/// the task. This is what the exported `run` does, and what native tests
/// call with a [`FakeCtx`].
pub fn run_json<T: Task>(ctx: &mut dyn Ctx, params: &str) -> Result<Values, TaskError> {
    let params = decode_params::<T>(params)?;
    T::run(ctx, params)
}

/// Parse and validate parameters, reporting every problem at once in the
/// dragon form.
pub fn decode_params<T: Task>(params: &str) -> Result<T::Params, TaskError> {
    let value: Value = serde_json::from_str(params)
        .map_err(|e| TaskError::Failed(format!("parameters are not valid JSON: {e}")))?;
    decode_params_value::<T>(value)
}

/// [`decode_params`] of parsed JSON.
pub fn decode_params_value<T: Task>(value: Value) -> Result<T::Params, TaskError> {
    let schema = schemars::schema_for!(T::Params);
    let problems = validate::check_params(&value, schema.as_value());
    if !problems.is_empty() {
        return Err(TaskError::InvalidParameters(problems));
    }
    // The schema check covers what serde checks; a serde error that slips
    // through still names its field.
    serde_json::from_value(value).map_err(|e| {
        let msg = e.to_string();
        let field = msg
            .split('`')
            .nth(1)
            .map(str::to_owned)
            .unwrap_or_else(|| "parameters".to_owned());
        TaskError::InvalidParameters(BTreeMap::from([(field, vec![msg])]))
    })
}

/// The `task-info` of `T` as plain data.
pub fn info<T: Task>() -> TaskInfo {
    let schema = schemars::schema_for!(T::Params);
    TaskInfo {
        name: T::NAME.to_owned(),
        summary: T::SUMMARY.to_owned(),
        params_schema: schema.as_value().to_string(),
        values: T::VALUES.iter().map(|s| (*s).to_owned()).collect(),
        files: T::FILES.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// Plain-data copy of the WIT `task-info`.
#[derive(Debug, Clone)]
pub struct TaskInfo {
    /// Task name.
    pub name: String,
    /// One line for humans.
    pub summary: String,
    /// JSON Schema of the parameters.
    pub params_schema: String,
    /// Output value names.
    pub values: Vec<String>,
    /// Output file names.
    pub files: Vec<String>,
}

/// Export `T` as this component's task.
///
/// ```ignore
/// drake_sdk::task!(ImageThumb);
/// ```
#[cfg(not(feature = "spin"))]
#[macro_export]
macro_rules! task {
    ($task:ty) => {
        #[cfg(target_arch = "wasm32")]
        struct __DrakeGuest;

        #[cfg(target_arch = "wasm32")]
        impl $crate::bindings::Guest for __DrakeGuest {
            fn describe() -> $crate::bindings::drake::task::types::TaskInfo {
                $crate::guest::describe::<$task>()
            }
            fn run(
                params: ::std::string::String,
            ) -> ::std::result::Result<
                $crate::bindings::drake::task::types::TaskOutput,
                $crate::bindings::drake::task::types::TaskError,
            > {
                $crate::guest::run::<$task>(&params)
            }
        }

        #[cfg(target_arch = "wasm32")]
        $crate::bindings::export!(__DrakeGuest);
    };
}

/// Export `T` as this component's task: with the `spin` feature, as a
/// `wasi:http` handler serving `/v1/run/<task_name>` (see [`spin`]).
#[cfg(feature = "spin")]
#[macro_export]
macro_rules! task {
    ($task:ty) => {
        #[cfg(target_arch = "wasm32")]
        struct __DrakeSpin;

        #[cfg(target_arch = "wasm32")]
        impl $crate::spin::wasip2::exports::http::incoming_handler::Guest for __DrakeSpin {
            fn handle(
                request: $crate::spin::wasip2::http::types::IncomingRequest,
                out: $crate::spin::wasip2::http::types::ResponseOutparam,
            ) {
                $crate::spin::wasm::handle::<$task>(request, out)
            }
        }

        #[cfg(target_arch = "wasm32")]
        $crate::spin::wasip2::http::proxy::export!(__DrakeSpin);
    };
}

/// An output file captured by [`FakeCtx`].
#[derive(Debug, Clone)]
pub struct Published {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Content type.
    pub content_type: String,
    /// File extension.
    pub extension: String,
}

/// A native stand-in for the host: URLs map to in-memory bodies, published
/// files and progress are recorded.
#[derive(Default)]
pub struct FakeCtx {
    /// URL → (content type, body).
    pub inputs: HashMap<String, (String, Vec<u8>)>,
    /// Output name → file.
    pub published: BTreeMap<String, Published>,
    /// `<output name>/<part path>` → bytes.
    pub parts: BTreeMap<String, Vec<u8>>,
    /// Every progress report.
    pub progress: Vec<u8>,
    /// Every partial result.
    pub partials: Vec<Values>,
    /// What `probe` answers (an error when `None`) once `probe_queue` is
    /// empty.
    pub probe_result: Option<MediaInfo>,
    /// What successive probes answer first, in order.
    pub probe_queue: std::collections::VecDeque<MediaInfo>,
    /// Every ffmpeg job run: (filter graph, outputs' options).
    pub jobs: Vec<RecordedJob>,
    /// What successive ffmpeg jobs return (outputs' bytes), in order.
    pub job_results: std::collections::VecDeque<Result<Vec<Vec<u8>>, FfmpegError>>,
    /// URL → where a redirect took it (what the fetched input's `url`
    /// reports).
    pub redirects: HashMap<String, String>,
    /// Every `speak` call: (text, voice).
    pub spoken: Vec<(String, String)>,
    /// What `speak` returns (WAV bytes); an error when `None`.
    pub speech: Option<Vec<u8>>,
    /// Every HTTP request sent.
    pub requests: Vec<RecordedRequest>,
    /// Answers HTTP requests (a network error when `None`).
    pub http_handler: Option<HttpHandler>,
}

/// A [`FakeCtx`] HTTP server: request in, response (or error) out.
pub type HttpHandler = Box<dyn FnMut(&RecordedRequest) -> Result<http::Response, http::Error>>;

/// An HTTP request as [`FakeCtx`] saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// Method.
    pub method: String,
    /// URL.
    pub url: String,
    /// Headers as given.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

/// An ffmpeg job as [`FakeCtx`] saw it.
#[derive(Debug, Clone)]
pub struct RecordedJob {
    /// Each input's options.
    pub inputs: Vec<Vec<(String, String)>>,
    /// The filter graph.
    pub filter_complex: Option<String>,
    /// Each output's options.
    pub outputs: Vec<Vec<(String, String)>>,
    /// Captions to burn.
    pub captions: Option<media::Burn>,
}

impl FakeCtx {
    /// Serve `body` at `url`.
    pub fn with_input(mut self, url: &str, content_type: &str, body: Vec<u8>) -> Self {
        self.inputs
            .insert(url.to_owned(), (content_type.to_owned(), body));
        self
    }
}

/// Media held by the task itself (a generated overlay, a playlist): pass
/// it wherever an [`Input`] is expected; the host copy is made on use.
pub struct MemInput {
    content_type: String,
    bytes: Vec<u8>,
    url: String,
}

impl MemInput {
    /// Wrap `bytes`.
    pub fn new(content_type: &str, bytes: Vec<u8>) -> Self {
        MemInput {
            content_type: content_type.to_owned(),
            bytes,
            url: String::new(),
        }
    }

    /// Say where the bytes came from (after redirects).
    pub fn with_url(mut self, url: &str) -> Self {
        self.url = url.to_owned();
        self
    }
}

impl Input for MemInput {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn size(&self) -> u64 {
        self.bytes.len() as u64
    }
    fn content_type(&self) -> String {
        self.content_type.clone()
    }
    fn url(&self) -> String {
        self.url.clone()
    }
    fn read(&self, offset: u64, len: u32) -> Vec<u8> {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        let end = start.saturating_add(len as usize).min(self.bytes.len());
        self.bytes[start..end].to_vec()
    }
}

impl Ctx for FakeCtx {
    fn fetch(&mut self, url: &str, max_bytes: Option<u64>) -> Result<Box<dyn Input>, FetchError> {
        let (content_type, bytes) = self
            .inputs
            .get(url)
            .cloned()
            .ok_or(FetchError::HttpStatus(404))?;
        if let Some(cap) = max_bytes
            && bytes.len() as u64 > cap
        {
            return Err(FetchError::TooLarge(cap));
        }
        // A URL served from `redirects` ends at its target.
        let url = self
            .redirects
            .get(url)
            .cloned()
            .unwrap_or_else(|| url.to_owned());
        Ok(Box::new(MemInput {
            content_type,
            bytes,
            url,
        }))
    }

    fn publish(
        &mut self,
        name: &str,
        bytes: &[u8],
        content_type: &str,
        extension: &str,
    ) -> Result<(), TaskError> {
        self.published.insert(
            name.to_owned(),
            Published {
                bytes: bytes.to_vec(),
                content_type: content_type.to_owned(),
                extension: extension.to_owned(),
            },
        );
        Ok(())
    }

    fn publish_part(&mut self, name: &str, path: &str, bytes: &[u8]) -> Result<(), TaskError> {
        self.parts.insert(format!("{name}/{path}"), bytes.to_vec());
        Ok(())
    }

    fn progress(&mut self, percent: u8) {
        self.progress.push(percent.min(100));
    }

    fn partial(&mut self, values: &Values) {
        self.partials.push(values.clone());
    }

    fn probe(&mut self, _media: &dyn Input) -> Result<MediaInfo, FfmpegError> {
        if let Some(info) = self.probe_queue.pop_front() {
            return Ok(info);
        }
        self.probe_result
            .clone()
            .ok_or_else(|| FfmpegError::InvalidInput("not media (FakeCtx)".into()))
    }

    fn speak(&mut self, text: &str, voice: &str) -> Result<Box<dyn Input>, FfmpegError> {
        self.spoken.push((text.to_owned(), voice.to_owned()));
        let bytes = self
            .speech
            .clone()
            .ok_or_else(|| FfmpegError::Failed("no speech queued (FakeCtx)".into()))?;
        Ok(Box::new(MemInput::new("audio/wav", bytes)))
    }

    fn http(&mut self, request: &http::Request<'_>) -> Result<http::Response, http::Error> {
        let body = match &request.body {
            http::Body::Empty => Vec::new(),
            http::Body::Bytes(b) => b.to_vec(),
            http::Body::Media { media, offset, len } => {
                let all = media.read_all();
                let start = usize::try_from(*offset)
                    .unwrap_or(usize::MAX)
                    .min(all.len());
                let end = start
                    .saturating_add(usize::try_from(*len).unwrap_or(usize::MAX))
                    .min(all.len());
                all[start..end].to_vec()
            }
        };
        let recorded = RecordedRequest {
            method: request.method.to_owned(),
            url: request.url.to_owned(),
            headers: request.headers.clone(),
            body,
        };
        self.requests.push(recorded.clone());
        match &mut self.http_handler {
            Some(handler) => handler(&recorded),
            None => Err(http::Error::Network("no network in FakeCtx".into())),
        }
    }

    fn ffmpeg_run(&mut self, job: Job<'_>) -> Result<JobResult, FfmpegError> {
        self.jobs.push(RecordedJob {
            inputs: job.inputs.iter().map(|i| i.options.clone()).collect(),
            filter_complex: job.filter_complex.clone(),
            outputs: job.outputs.clone(),
            captions: job.captions.clone(),
        });
        let outputs = self
            .job_results
            .pop_front()
            .unwrap_or_else(|| Err(FfmpegError::Failed("no job result queued (FakeCtx)".into())))?;
        // A fake job "wrote" one frame per non-empty output.
        let frames = outputs.iter().filter(|o| !o.is_empty()).count() as u64;
        Ok(JobResult {
            outputs: outputs
                .into_iter()
                .map(|bytes| Box::new(MemInput::new("", bytes)) as Box<dyn Input>)
                .collect(),
            frames,
            out_time: 0.0,
        })
    }
}
