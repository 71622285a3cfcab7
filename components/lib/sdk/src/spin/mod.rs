//! A task as a Spin HTTP component: the same [`Task`] code behind
//! `wasi:http/incoming-handler` instead of drake's task world.
//!
//! Built with the SDK's `spin` feature (`make spin`), [`task!`](crate::task)
//! exports the handler. The contract (docs/spin.md):
//!
//! - `POST /v1/run/<task_name>` with the parameters as a JSON object, or
//!   `GET /v1/run/<task_name>?<params>` with query values coerced as drake's
//!   `create_file` does ([`crate::query`]);
//! - a task with an output file answers a GET, or a request that does not
//!   ask for JSON, with the file itself (its content type; the values in an
//!   `X-Drake-Result` JSON header), so `<img src=".../v1/run/image.thumb?…">`
//!   works; otherwise `200` with a dragon status `{"status": "success",
//!   "result": {…}}` (files as `data:` URLs);
//! - parameter problems → `400` with `{"status": "error", "result":
//!   {"parameters": {…}}}`, a failed task → `400` with its error status (as
//!   `create_file`), request problems → the request-level envelope;
//! - `DRAKE_SECRET` (when set and not empty) is required exactly as drake's
//!   API requires a secret: `Authorization: Secret <key>`, `?secret=`, or
//!   `"secret"` in the body; `DRAKE_FETCH_ALLOW` lists the hosts/CIDRs
//!   exempt from the private-address block.
//!
//! Inside the component only an IP-literal URL host can be judged (there is
//! no resolver here): literal private, loopback and link-local addresses
//! are refused unless allowed; names are restricted by Spin's
//! `allowed_outbound_hosts`. Everything but the wasi:http glue
//! ([`wasm`]) is plain code, unit-tested natively with a fake network.

use std::collections::BTreeMap;
use std::time::Duration;

use drake_rules::auth::{self, Credential, CredentialError};
use drake_rules::net::{self, NetworkPolicy, RedirectRefused};
use serde_json::{Map, Value, json};

use crate::http;
use crate::{
    Ctx, FetchError, FfmpegError, Input, Job, JobResult, MediaInfo, MemInput, Task, TaskError,
    Values,
};

#[cfg(target_arch = "wasm32")]
pub mod wasm;
#[cfg(target_arch = "wasm32")]
pub use wasip2;

/// Largest request body read: parameters are small JSON objects (drake's
/// API caps bodies at 1 MiB too).
pub const MAX_BODY: usize = 1 << 20;
/// Largest download: hosted Spin gives a component far less memory than
/// drake's 512 MiB fetch cap; 100 MiB holds a large photo or an hour of MP3.
pub const MAX_FETCH_BYTES: u64 = 100 << 20;

/// Default [`Settings::fetch_budget`]: a few of the largest downloads; a
/// request downloading more is using the function as a proxy.
pub const FETCH_BUDGET: u64 = 256 << 20;

/// What a Spin component reads from its environment.
pub struct Settings {
    /// The secret requests must carry (`DRAKE_SECRET`), if any.
    secret: Option<String>,
    /// Addresses exempt from the private-address block (`DRAKE_FETCH_ALLOW`).
    policy: NetworkPolicy,
    /// The longest wait for a fetched server (`DRAKE_FETCH_TIMEOUT`,
    /// seconds): to connect, for the first byte, between bytes.
    fetch_timeout: Duration,
    /// Bytes one request's task may download in all, fetches and
    /// `wasi:http` responses together (`DRAKE_FETCH_BUDGET`): drake's
    /// `[budgets] fetch_bytes`.
    fetch_budget: u64,
}

/// Default [`Settings::fetch_timeout`]: under hosted Spin's ~30 s request
/// limit, so a stalled server is reported as a fetch timeout before the
/// platform cuts the whole request.
const FETCH_TIMEOUT: Duration = Duration::from_secs(20);

impl Settings {
    /// Read `DRAKE_SECRET`, `DRAKE_FETCH_ALLOW`, `DRAKE_FETCH_TIMEOUT` and
    /// `DRAKE_FETCH_BUDGET` through `var`; an empty value is unset (Spin's `environment` table
    /// cannot unset).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let secret = var("DRAKE_SECRET").filter(|s| !s.trim().is_empty());
        let allow = net::parse_allow_list(&var("DRAKE_FETCH_ALLOW").unwrap_or_default());
        // Ports are Spin's business (`allowed_outbound_hosts`): only
        // addresses are judged here.
        let policy =
            NetworkPolicy::any_port(&allow).map_err(|e| format!("DRAKE_FETCH_ALLOW: {e}"))?;
        // At most an hour: no platform keeps a request open longer.
        let fetch_timeout = match var("DRAKE_FETCH_TIMEOUT").filter(|s| !s.trim().is_empty()) {
            None => FETCH_TIMEOUT,
            Some(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|t| t.is_finite() && *t > 0.0 && *t <= 3600.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| {
                    format!("DRAKE_FETCH_TIMEOUT: {s:?} is not a number of seconds in (0, 3600]")
                })?,
        };
        let fetch_budget = match var("DRAKE_FETCH_BUDGET").filter(|s| !s.trim().is_empty()) {
            None => FETCH_BUDGET,
            Some(s) => s
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("DRAKE_FETCH_BUDGET: {s:?} is not a number of bytes"))?,
        };
        Ok(Settings {
            secret,
            policy,
            fetch_timeout,
            fetch_budget,
        })
    }

    /// Refuse a URL that is not http(s) or whose host is a literal blocked
    /// address (names are the runtime's: there is no resolver here).
    fn check_url(&self, url: &url::Url) -> Result<(), String> {
        self.policy
            .check_url(url)
            .map_err(|d| d.message().to_owned())
    }
}

/// An HTTP request as the handler sees it.
#[derive(Debug, Default, Clone)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The raw query string (without `?`).
    pub query: String,
    /// Header pairs (names in any case).
    pub headers: Vec<(String, String)>,
    /// The body (at most [`MAX_BODY`] + 1 bytes are read).
    pub body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        http::header_in(&self.headers, name)
    }
}

/// The handler's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header pairs.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    fn json(status: u16, body: &Value) -> Self {
        Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    /// The request-level error envelope of api.md §3.
    pub(crate) fn envelope(status: u16, name: &str, location: &str, description: &str) -> Self {
        Self::json(
            status,
            &json!({"status": "error", "errors": [
                {"name": name, "location": location, "description": description}
            ]}),
        )
    }
}

/// Where a Spin component's HTTP requests go: wasi:http on wasm, a fake in
/// tests. `limit` caps the response body.
pub trait Net {
    /// Send one request.
    fn send(
        &mut self,
        request: &http::Request<'_>,
        limit: u64,
    ) -> Result<http::Response, http::Error>;
}

/// Answer one request for task `T`.
pub fn serve<T: Task>(request: &Request, settings: &Settings, net: &mut dyn Net) -> Response {
    let route = format!("/v1/run/{}", T::NAME);
    if request.path.trim_end_matches('/') != route {
        return Response::envelope(
            404,
            "task_name",
            "path",
            &format!("this component runs {} at {route}", T::NAME),
        );
    }
    let method = request.method.to_ascii_uppercase();
    if method != "GET" && method != "POST" {
        let mut r = Response::envelope(
            405,
            "method",
            "path",
            &format!("{method} is not allowed; use GET or POST"),
        );
        r.headers.push(("allow".into(), "GET, POST".into()));
        return r;
    }
    let (params, secret) = match read_params::<T>(request, &method) {
        Ok(found) => found,
        Err(r) => return r,
    };
    if let Some(expected) = &settings.secret {
        match secret {
            None => return Response::envelope(401, "secret", "header", "secret is missing"),
            Some(given) if !auth::same_key(&given, expected) => {
                return Response::envelope(401, "secret", "header", "invalid secret");
            }
            Some(_) => {}
        }
    }
    let mut ctx = SpinCtx {
        settings,
        net,
        published: BTreeMap::new(),
        partial: Map::new(),
        fetched: 0,
        over_budget: false,
    };
    let outcome =
        crate::decode_params_value::<T>(Value::Object(params)).and_then(|p| T::run(&mut ctx, p));
    // Over the budget, the task ends in that error, whatever it made of
    // the refusal it got (as on drake's host).
    if ctx.over_budget {
        return failure(TaskError::Limit(format!(
            "budget exceeded: the task downloaded more than {} bytes (fetch_bytes)",
            settings.fetch_budget
        )));
    }
    let values = match outcome {
        Ok(values) => values,
        Err(e) => return failure(e),
    };
    let mut result = std::mem::take(&mut ctx.partial);
    result.extend(values);
    let file = T::FILES.iter().find_map(|f| ctx.published.get(*f));
    let wants_json = request
        .header("accept")
        .is_some_and(|a| a.to_ascii_lowercase().contains("application/json"));
    match file {
        Some(file) if method == "GET" || !wants_json => Response {
            status: 200,
            headers: vec![
                ("content-type".into(), file.content_type.clone()),
                ("x-drake-result".into(), ascii_json(&Value::Object(result))),
                ("cache-control".into(), "private, max-age=3600".into()),
            ],
            body: file.bytes.clone(),
        },
        _ => {
            for (name, file) in &ctx.published {
                result.insert(name.clone(), Value::from(data_url(file)));
            }
            Response::json(200, &json!({"status": "success", "result": result}))
        }
    }
}

/// The parameters (without auth and `task_name`) and the secret given,
/// from the query (GET) or the JSON body (POST), found as drake's API
/// finds credentials ([`auth::find`]: body, then header, then query). An
/// API key authorises nothing here (there are no referrers to check it
/// against): it is taken out of the parameters and ignored.
fn read_params<T: Task>(
    request: &Request,
    method: &str,
) -> Result<(Map<String, Value>, Option<String>), Response> {
    let (mut params, pairs) = if method == "GET" {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(request.query.as_bytes())
            .into_owned()
            .collect();
        let schema = schemars::schema_for!(T::Params);
        let params = crate::query::params(
            schema.as_value(),
            pairs
                .iter()
                .filter(|(k, _)| !auth::FIELDS.contains(&k.as_str()))
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        (params, pairs)
    } else {
        if request.body.len() > MAX_BODY {
            return Err(Response::envelope(
                413,
                "body",
                "body",
                &format!("the body is larger than {MAX_BODY} bytes"),
            ));
        }
        match serde_json::from_slice::<Value>(&request.body) {
            Ok(Value::Object(map)) => (map, Vec::new()),
            Ok(_) => {
                return Err(Response::envelope(
                    400,
                    "body",
                    "body",
                    "the body must be a JSON object of parameters",
                ));
            }
            Err(e) => {
                return Err(Response::envelope(
                    400,
                    "body",
                    "body",
                    &format!("the body is not valid JSON: {e}"),
                ));
            }
        }
    };
    let location = if method == "GET" {
        "querystring"
    } else {
        "body"
    };
    let secret = match auth::find(Some(&mut params), request.header("authorization"), &pairs) {
        Ok(Some((Credential::Secret(key), _))) => Some(key),
        Ok(Some((Credential::ApiKey(_), _)) | None) => None,
        Err(e @ CredentialError::NotAString(field)) => {
            return Err(Response::envelope(400, field, location, &e.to_string()));
        }
        Err(e @ CredentialError::Scheme) => {
            return Err(Response::envelope(
                401,
                "Authorization",
                "header",
                &e.to_string(),
            ));
        }
    };
    if let Some(name) = params.remove("task_name")
        && name.as_str() != Some(T::NAME)
    {
        return Err(Response::envelope(
            400,
            "task_name",
            location,
            &format!("this route runs {}", T::NAME),
        ));
    }
    Ok((params, secret))
}

/// A failed task as `create_file` answers it: 400 with the error status.
fn failure(e: TaskError) -> Response {
    let result = match e {
        TaskError::InvalidParameters(map) => json!({"parameters": map}),
        other => Value::from(other.to_string()),
    };
    Response::json(400, &json!({"status": "error", "result": result}))
}

/// JSON with every non-ASCII character escaped: a header value must be
/// ASCII to survive every HTTP stack.
fn ascii_json(value: &Value) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// A published file as a `data:` URL (the JSON answer carries files whole).
fn data_url(file: &Published) -> String {
    format!(
        "data:{};base64,{}",
        file.content_type,
        data_encoding::BASE64.encode(&file.bytes)
    )
}

struct Published {
    bytes: Vec<u8>,
    content_type: String,
}

/// [`Ctx`] on Spin: fetches through [`Net`] under the literal-address
/// check, outputs kept in memory, no ffmpeg.
struct SpinCtx<'a> {
    settings: &'a Settings,
    net: &'a mut dyn Net,
    published: BTreeMap<String, Published>,
    partial: Values,
    /// Bytes downloaded so far, against `settings.fetch_budget`.
    fetched: u64,
    /// A download was cut off by the budget.
    over_budget: bool,
}

/// What a task that needs ffmpeg gets on Spin.
fn no_ffmpeg() -> FfmpegError {
    FfmpegError::Failed(
        "this input needs ffmpeg, which drake's own host provides and Spin cannot; \
         run the task on drake"
            .into(),
    )
}

impl SpinCtx<'_> {
    /// The cap of the next download: `asked`, lowered to what is left of
    /// the budget.
    fn cap(&self, asked: u64) -> u64 {
        asked.min(self.settings.fetch_budget.saturating_sub(self.fetched))
    }

    /// One GET under the policy, following redirects as drake's host does
    /// ([`NetworkPolicy::check_redirect`]: each hop checked, at most
    /// [`net::MAX_REDIRECTS`]).
    fn get(&mut self, url: &str, cap: u64) -> Result<(url::Url, http::Response), FetchError> {
        let mut at = url::Url::parse(url).map_err(|e| FetchError::InvalidUrl(e.to_string()))?;
        self.settings.check_url(&at).map_err(FetchError::Blocked)?;
        let mut followed = 0;
        loop {
            let response = self
                .net
                .send(&http::Request::new("GET", at.as_str()), cap)
                .map_err(|e| match e {
                    http::Error::InvalidUrl(m) => FetchError::InvalidUrl(m),
                    http::Error::Blocked => FetchError::Blocked("refused by the runtime".into()),
                    http::Error::TooLarge => FetchError::TooLarge(cap),
                    http::Error::Network(m) => FetchError::Network(m),
                    http::Error::Timeout => FetchError::Timeout,
                })?;
            let next = match net::redirect_target(&at, response.status, response.header("location"))
            {
                None if (200..=299).contains(&response.status) => return Ok((at, response)),
                None => return Err(FetchError::HttpStatus(response.status)),
                Some(next) => next.map_err(|e| FetchError::InvalidUrl(e.to_string()))?,
            };
            self.settings
                .policy
                .check_redirect(followed, &next)
                .map_err(|e| match e {
                    RedirectRefused::Denied(_) => FetchError::Blocked(e.to_string()),
                    other => FetchError::Network(other.to_string()),
                })?;
            followed += 1;
            at = next;
        }
    }
}

impl Ctx for SpinCtx<'_> {
    fn fetch(&mut self, url: &str, max_bytes: Option<u64>) -> Result<Box<dyn Input>, FetchError> {
        let asked = max_bytes.map_or(MAX_FETCH_BYTES, |m| m.min(MAX_FETCH_BYTES));
        let cap = self.cap(asked);
        let (at, response) = match self.get(url, cap) {
            Err(FetchError::TooLarge(_)) if cap < asked => {
                self.over_budget = true;
                return Err(FetchError::TooLarge(cap));
            }
            other => other?,
        };
        self.fetched += response.body.len() as u64;
        let content_type = response.header("content-type").unwrap_or("").to_owned();
        Ok(Box::new(
            MemInput::new(&content_type, response.body).with_url(at.as_str()),
        ))
    }

    fn publish(
        &mut self,
        name: &str,
        bytes: &[u8],
        content_type: &str,
        _extension: &str,
    ) -> Result<(), TaskError> {
        self.published.insert(
            name.to_owned(),
            Published {
                bytes: bytes.to_vec(),
                content_type: content_type.to_owned(),
            },
        );
        Ok(())
    }

    fn progress(&mut self, _percent: u8) {}

    fn partial(&mut self, values: &Values) {
        self.partial.extend(values.clone());
    }

    fn probe(&mut self, _media: &dyn Input) -> Result<MediaInfo, FfmpegError> {
        Err(no_ffmpeg())
    }

    fn ffmpeg_run(&mut self, _job: Job<'_>) -> Result<JobResult, FfmpegError> {
        Err(no_ffmpeg())
    }

    fn speak(&mut self, _text: &str, _voice: &str) -> Result<Box<dyn Input>, FfmpegError> {
        Err(no_ffmpeg())
    }

    fn http(&mut self, request: &http::Request<'_>) -> Result<http::Response, http::Error> {
        let url =
            url::Url::parse(request.url).map_err(|e| http::Error::InvalidUrl(e.to_string()))?;
        self.settings
            .check_url(&url)
            .map_err(|_| http::Error::Blocked)?;
        let cap = self.cap(MAX_FETCH_BYTES);
        let response = self.net.send(request, cap);
        match &response {
            Ok(r) => self.fetched += r.body.len() as u64,
            Err(http::Error::TooLarge) if cap < MAX_FETCH_BYTES => self.over_budget = true,
            Err(_) => {}
        }
        response
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    /// Echo: a value task; Pic: a file task that fetches.
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct EchoParams {
        text: String,
        #[serde(default)]
        times: Option<u32>,
    }
    struct Echo;
    impl Task for Echo {
        const NAME: &'static str = "test.echo";
        const SUMMARY: &'static str = "Echo.";
        const VALUES: &'static [&'static str] = &["text"];
        const FILES: &'static [&'static str] = &[];
        type Params = EchoParams;
        fn run(_ctx: &mut dyn Ctx, p: EchoParams) -> Result<Values, TaskError> {
            let text = p.text.repeat(p.times.unwrap_or(1) as usize);
            Ok(crate::values([("text", text.into())]))
        }
    }

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct PicParams {
        url: String,
    }
    struct Pic;
    impl Task for Pic {
        const NAME: &'static str = "test.pic";
        const SUMMARY: &'static str = "Copy.";
        const VALUES: &'static [&'static str] = &["size"];
        const FILES: &'static [&'static str] = &["output"];
        type Params = PicParams;
        fn run(ctx: &mut dyn Ctx, p: PicParams) -> Result<Values, TaskError> {
            let input = ctx
                .fetch(&p.url, None)
                .map_err(|e| e.into_task_error("url"))?;
            let bytes = input.read_all();
            ctx.publish("output", &bytes, "image/png", "png")?;
            Ok(crate::values([
                ("size", bytes.len().into()),
                ("note", "é".into()),
            ]))
        }
    }

    /// Serves `/a.png` (redirected from `/old`) on any host.
    struct FakeNet(Vec<String>);
    impl Net for FakeNet {
        fn send(
            &mut self,
            request: &http::Request<'_>,
            limit: u64,
        ) -> Result<http::Response, http::Error> {
            self.0.push(request.url.to_owned());
            let (status, headers, body) = if request.url.ends_with("/old") {
                (302, vec![("location".into(), "/a.png".into())], vec![])
            } else if request.url.ends_with("/a.png") {
                (
                    200,
                    vec![("content-type".into(), "image/png".into())],
                    b"PNGDATA".to_vec(),
                )
            } else if request.url.ends_with("/huge") {
                // A body of MAX_FETCH_BYTES + 1, refused by the limit given.
                assert_eq!(limit, MAX_FETCH_BYTES);
                return Err(http::Error::TooLarge);
            } else if request.url.ends_with("/private") {
                (
                    302,
                    vec![("location".into(), "http://10.0.0.1/a.png".into())],
                    vec![],
                )
            } else {
                (404, vec![], vec![])
            };
            if body.len() as u64 > limit {
                return Err(http::Error::TooLarge);
            }
            Ok(http::Response {
                status,
                headers,
                body,
            })
        }
    }

    /// Fetches `url` `times` times, ignoring refusals (a task that
    /// catches its errors).
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct ManyParams {
        url: String,
        times: u32,
    }
    struct Many;
    impl Task for Many {
        const NAME: &'static str = "test.many";
        const SUMMARY: &'static str = "Fetch again and again.";
        const VALUES: &'static [&'static str] = &["fetched"];
        const FILES: &'static [&'static str] = &[];
        type Params = ManyParams;
        fn run(ctx: &mut dyn Ctx, p: ManyParams) -> Result<Values, TaskError> {
            let fetched = (0..p.times)
                .filter(|_| ctx.fetch(&p.url, None).is_ok())
                .count();
            Ok(crate::values([("fetched", fetched.into())]))
        }
    }

    /// The downloads of one request are capped in all (`DRAKE_FETCH_BUDGET`),
    /// and going over ends the task in that error even when it carried on.
    #[test]
    fn the_fetch_budget_caps_a_request_in_all() {
        let s = Settings::from_env(|k| (k == "DRAKE_FETCH_BUDGET").then(|| "20".into())).unwrap();
        let mut net = FakeNet(vec![]);
        // Two 7-byte bodies fit in 20; the third is refused.
        let r = serve::<Many>(
            &get("/v1/run/test.many", "url=http://h/a.png&times=2"),
            &s,
            &mut net,
        );
        assert_eq!(body(&r)["result"]["fetched"], 2, "{:?}", body(&r));
        let r = serve::<Many>(
            &get("/v1/run/test.many", "url=http://h/a.png&times=5"),
            &s,
            &mut net,
        );
        assert_eq!(r.status, 400);
        assert_eq!(
            body(&r)["result"],
            "budget exceeded: the task downloaded more than 20 bytes (fetch_bytes)"
        );
        assert!(Settings::from_env(|k| (k == "DRAKE_FETCH_BUDGET").then(|| "-1".into())).is_err());
    }

    fn settings(secret: Option<&str>, allow: &str) -> Settings {
        Settings::from_env(|k| match k {
            "DRAKE_SECRET" => secret.map(str::to_owned),
            "DRAKE_FETCH_ALLOW" => Some(allow.to_owned()),
            _ => None,
        })
        .unwrap()
    }

    fn get(path: &str, query: &str) -> Request {
        Request {
            method: "GET".into(),
            path: path.into(),
            query: query.into(),
            ..Request::default()
        }
    }

    fn body(r: &Response) -> Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    #[test]
    fn get_coerces_the_query_and_post_reads_json() {
        let s = settings(None, "");
        let r = serve::<Echo>(
            &get("/v1/run/test.echo", "text=ab&times=2"),
            &s,
            &mut FakeNet(vec![]),
        );
        assert_eq!(r.status, 200);
        assert_eq!(
            body(&r),
            json!({"status": "success", "result": {"text": "abab"}})
        );
        let post = Request {
            method: "POST".into(),
            path: "/v1/run/test.echo".into(),
            body: br#"{"text": "x", "task_name": "test.echo"}"#.to_vec(),
            ..Request::default()
        };
        let r = serve::<Echo>(&post, &s, &mut FakeNet(vec![]));
        assert_eq!(body(&r)["result"]["text"], "x");
    }

    #[test]
    fn bad_requests_get_dragon_shapes() {
        let s = settings(None, "");
        let net = &mut FakeNet(vec![]);
        let r = serve::<Echo>(&get("/v1/run/test.echo", "times=x"), &s, net);
        assert_eq!(r.status, 400);
        assert_eq!(
            body(&r),
            json!({"status": "error", "result": {"parameters": {
                "text": ["this field is required"], "times": ["not a valid integer"]}}})
        );
        let junk = Request {
            method: "POST".into(),
            path: "/v1/run/test.echo".into(),
            body: b"{nope".to_vec(),
            ..Request::default()
        };
        let r = serve::<Echo>(&junk, &s, net);
        assert_eq!(
            (r.status, body(&r)["errors"][0]["name"].clone()),
            (400, json!("body"))
        );
        assert_eq!(
            serve::<Echo>(&get("/v1/run/image.thumb", ""), &s, net).status,
            404
        );
        let put = Request {
            method: "PUT".into(),
            ..get("/v1/run/test.echo", "")
        };
        assert_eq!(serve::<Echo>(&put, &s, net).status, 405);
        let other = get("/v1/run/test.echo", "text=a&task_name=image.thumb");
        assert_eq!(serve::<Echo>(&other, &s, net).status, 400);
    }

    #[test]
    fn the_secret_is_required_when_set() {
        let s = settings(Some("k3y"), "");
        let net = &mut FakeNet(vec![]);
        let missing = serve::<Echo>(&get("/v1/run/test.echo", "text=a"), &s, net);
        assert_eq!(
            (
                missing.status,
                body(&missing)["errors"][0]["description"].clone()
            ),
            (401, json!("secret is missing"))
        );
        let wrong = serve::<Echo>(&get("/v1/run/test.echo", "text=a&secret=nope"), &s, net);
        assert_eq!(wrong.status, 401);
        let query = serve::<Echo>(&get("/v1/run/test.echo", "text=a&secret=k3y"), &s, net);
        assert_eq!(body(&query)["result"], json!({"text": "a"}));
        let mut header = get("/v1/run/test.echo", "text=a");
        header
            .headers
            .push(("Authorization".into(), " secret  k3y ".into()));
        assert_eq!(serve::<Echo>(&header, &s, net).status, 200);
        let post = Request {
            method: "POST".into(),
            path: "/v1/run/test.echo".into(),
            body: br#"{"text": "x", "secret": "k3y"}"#.to_vec(),
            ..Request::default()
        };
        assert_eq!(serve::<Echo>(&post, &s, net).status, 200);
    }

    #[test]
    fn files_come_back_whole_or_as_data_urls() {
        let s = settings(None, "");
        let mut net = FakeNet(vec![]);
        let r = serve::<Pic>(
            &get("/v1/run/test.pic", "url=http%3A%2F%2Fmedia.example%2Fold"),
            &s,
            &mut net,
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.body, b"PNGDATA");
        let header = |n: &str| {
            r.headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(header("content-type").as_deref(), Some("image/png"));
        assert_eq!(
            header("x-drake-result").as_deref(),
            Some(r#"{"note":"\u00e9","size":7}"#)
        );
        assert_eq!(
            net.0,
            ["http://media.example/old", "http://media.example/a.png"]
        );

        let post = Request {
            method: "POST".into(),
            path: "/v1/run/test.pic".into(),
            headers: vec![("accept".into(), "application/json".into())],
            body: br#"{"url": "http://media.example/a.png"}"#.to_vec(),
            ..Request::default()
        };
        let r = serve::<Pic>(&post, &s, &mut net);
        assert_eq!(
            body(&r)["result"],
            json!({"size": 7, "note": "é", "output": "data:image/png;base64,UE5HREFUQQ=="})
        );
    }

    #[test]
    fn literal_private_addresses_are_refused_unless_allowed() {
        let s = settings(None, "");
        let mut net = FakeNet(vec![]);
        for url in [
            "http://127.0.0.1/a.png",
            "http://[::1]/a.png",
            "http://169.254.169.254/a.png",
            "http://media.example/private",
            "file:///etc/passwd",
        ] {
            let q = format!(
                "url={}",
                form_urlencoded::byte_serialize(url.as_bytes()).collect::<String>()
            );
            let r = serve::<Pic>(&get("/v1/run/test.pic", &q), &s, &mut net);
            assert_eq!(r.status, 400, "{url}");
            let message = body(&r)["result"].as_str().unwrap().to_owned();
            assert!(
                message.contains("blocked by the network policy"),
                "{url}: {message}"
            );
        }
        // Only the public hop of the redirect was sent.
        assert_eq!(net.0, ["http://media.example/private"]);
        let open = settings(None, "127.0.0.0/8, ::1");
        let r = serve::<Pic>(
            &get("/v1/run/test.pic", "url=http://127.0.0.1:8080/a.png"),
            &open,
            &mut net,
        );
        assert_eq!(r.status, 200);
        assert!(
            Settings::from_env(|k| (k == "DRAKE_FETCH_ALLOW").then(|| "*.10.0.0.1".into()))
                .is_err()
        );
    }

    #[test]
    fn fetch_timeout_from_the_environment() {
        let timeout = |v: Option<&str>| {
            Settings::from_env(|k| (k == "DRAKE_FETCH_TIMEOUT").then(|| v.map(str::to_owned))?)
                .map(|s| s.fetch_timeout)
        };
        assert_eq!(timeout(None), Ok(FETCH_TIMEOUT));
        assert_eq!(timeout(Some(" ")), Ok(FETCH_TIMEOUT));
        assert_eq!(timeout(Some("1.5")), Ok(Duration::from_millis(1500)));
        for bad in ["0", "-3", "soon", "inf", "7200"] {
            let e = timeout(Some(bad)).unwrap_err();
            assert!(e.starts_with("DRAKE_FETCH_TIMEOUT: "), "{e}");
        }
    }

    #[test]
    fn downloads_and_bodies_are_capped() {
        let s = settings(None, "");
        let r = serve::<Pic>(
            &get("/v1/run/test.pic", "url=http://media.example/huge"),
            &s,
            &mut FakeNet(vec![]),
        );
        assert_eq!(r.status, 400);
        assert_eq!(
            body(&r)["result"],
            format!("url: the download is larger than the limit of {MAX_FETCH_BYTES} bytes")
        );
        let big = Request {
            method: "POST".into(),
            path: "/v1/run/test.echo".into(),
            body: vec![b' '; MAX_BODY + 1],
            ..Request::default()
        };
        assert_eq!(serve::<Echo>(&big, &s, &mut FakeNet(vec![])).status, 413);
    }

    #[test]
    fn fetch_failures_name_the_parameter() {
        let s = settings(None, "");
        let r = serve::<Pic>(
            &get("/v1/run/test.pic", "url=http://media.example/missing"),
            &s,
            &mut FakeNet(vec![]),
        );
        assert_eq!(r.status, 400);
        assert_eq!(
            body(&r)["result"],
            "url: could not fetch: the server answered HTTP 404"
        );
    }
}
