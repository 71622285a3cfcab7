//! The host's URL fetcher: one policy-guarded `reqwest::Client` per process.
//!
//! [`Fetcher`] owns the only HTTP client the host uses for task URLs
//! (`url`, `images`, SXML `filename`; the `fetch` capability), for
//! components' own HTTP (`wasi:http`) and for callbacks. Built from
//! `[fetch]`. Every decision is delegated to drake-rules' [`NetworkPolicy`]
//! (shared with the Spin entry point);
//! this module is the mechanism that makes the policy hold at connect time:
//!
//! - the URL is checked before the request ([`NetworkPolicy::check_url`]);
//! - host names are resolved by `PolicyResolver`, which drops every address
//!   the policy refuses, and reqwest connects only to what it returns, so the
//!   checked address is the dialled address (no DNS-rebinding window). IP
//!   literals never reach a resolver in reqwest; `check_url` covers them;
//! - every redirect hop is re-checked by a custom redirect policy, and the
//!   chain stops after [`drake_rules::net::MAX_REDIRECTS`];
//! - environment proxies are ignored, so `HTTP_PROXY` cannot route around it;
//! - bodies are capped: `Content-Length` is checked first, then the stream is
//!   counted and abandoned as soon as it passes the cap.
//!
//! Denials raised inside reqwest (resolver, redirect policy) come back wrapped
//! in `reqwest::Error`; `find_denied` walks the `source()` chain to
//! recover them as [`Error::Blocked`].

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use url::Url;

use drake_rules::net::{Denied, NetworkPolicy, RedirectRefused};

use crate::config::FetchConfig;

/// The error type reqwest's resolver interface expects.
type BoxError = Box<dyn StdError + Send + Sync>;

/// Why 8 MiB: `Content-Length` is server-controlled, so it only sizes the
/// first allocation up to this much; larger bodies grow the buffer as bytes
/// actually arrive.
const MAX_PREALLOCATION: u64 = 8 * 1024 * 1024;

/// Why 200 characters: URLs are user-controlled and can be megabytes long;
/// error messages (and the logs they end up in) stay bounded.
const MAX_URL_IN_MESSAGE: usize = 200;

/// Content type reported when the response has none (or a non-ASCII one).
const FALLBACK_CONTENT_TYPE: &str = "application/octet-stream";

/// Sent on every request so origins can identify (and rate-limit) drake.
const USER_AGENT: &str = concat!("drake/", env!("CARGO_PKG_VERSION"));

/// Errors from [`Fetcher`]. [`Error::kind`] gives the stable snake_case name
/// logged as `error.type`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL does not parse.
    #[error("invalid URL {0}")]
    InvalidUrl(String),
    /// The network policy refused the URL, a redirect hop, or every address
    /// the host name resolved to.
    #[error("blocked by network policy: {0}")]
    Blocked(String),
    /// The body is larger than the cap (the value is the cap, in bytes).
    #[error("response body exceeds the limit of {0} bytes")]
    TooLarge(u64),
    /// The connect or total deadline passed.
    #[error("request timed out")]
    Timeout,
    /// The final response had a non-2xx status.
    #[error("HTTP status {0}")]
    HttpStatus(u16),
    /// Anything else: DNS failure, refused connection, TLS, too many
    /// redirects, a broken body stream.
    #[error("network error: {0}")]
    Network(String),
}

impl Error {
    /// The stable snake_case name of the variant, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidUrl(_) => "invalid_url",
            Self::Blocked(_) => "blocked",
            Self::TooLarge(_) => "too_large",
            Self::Timeout => "timeout",
            Self::HttpStatus(_) => "http_status",
            Self::Network(_) => "network",
        }
    }

    /// Classifies a reqwest error, recovering policy denials and redirect
    /// limits raised inside reqwest from its `source()` chain.
    fn from_reqwest(err: reqwest::Error) -> Self {
        if let Some(denied) = find_denied(&err) {
            return Self::Blocked(denied.public().to_owned());
        }
        let mut source: Option<&(dyn StdError + 'static)> = Some(&err);
        while let Some(e) = source {
            if let Some(refused) = e.downcast_ref::<RedirectRefused>() {
                return Self::Network(refused.to_string());
            }
            source = e.source();
        }
        if err.is_timeout() {
            return Self::Timeout;
        }
        // reqwest's message names the URL, query and all: it reaches task
        // statuses, and a query may hold a credential (an API key).
        Self::Network(error_chain(&err.without_url()))
    }
}

/// `outer: inner: innermost`, since `reqwest::Error`'s `Display` omits its causes.
fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        message.push_str(": ");
        message.push_str(&e.to_string());
        source = e.source();
    }
    message
}

/// A successfully fetched body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The whole body, at most the cap in effect.
    pub bytes: Bytes,
    /// The response `Content-Type`, verbatim, or `application/octet-stream`
    /// when absent.
    pub content_type: String,
    /// The URL after redirects.
    pub final_url: Url,
}

/// A download under way ([`Fetcher::open`]).
#[derive(Debug)]
pub struct Opened {
    response: reqwest::Response,
    url: Url,
    cap: u64,
    received: u64,
    /// The length the server announced.
    pub declared: Option<u64>,
    /// As in [`Fetched`].
    pub content_type: String,
    /// The URL after redirects.
    pub final_url: Url,
}

impl Opened {
    /// The next part of the body; `None` at its end. Past the cap:
    /// [`Error::TooLarge`].
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        let chunk = self
            .response
            .chunk()
            .await
            .map_err(|e| request_failed(&self.url, e))?;
        if let Some(chunk) = &chunk {
            self.received += chunk.len() as u64;
            if self.received > self.cap {
                return Err(Error::TooLarge(self.cap));
            }
        }
        Ok(chunk)
    }
}

/// Resolves host names with the system resolver, then keeps only the
/// addresses the policy allows. reqwest connects to exactly these addresses,
/// so this is the IP-after-DNS check.
struct PolicyResolver {
    policy: Arc<NetworkPolicy>,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: reqwest substitutes the URL's port.
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let mut allowed: Vec<SocketAddr> = Vec::new();
            let mut first_denial = None;
            for addr in resolved {
                match policy.check_ip(&host, addr.ip()) {
                    Ok(()) => allowed.push(addr),
                    Err(denied) => {
                        tracing::debug!(%host, ip = %addr.ip(), "dropping denied address");
                        first_denial.get_or_insert(denied);
                    }
                }
            }
            match (allowed.is_empty(), first_denial) {
                // Boxed as itself (not via `.into()`, which would wrap the box
                // again) so `find_denied` can downcast it.
                (true, Some(denied)) => Err(Box::new(denied) as BoxError),
                (true, None) => Err(format!("{host} resolved to no addresses").into()),
                (false, _) => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}

/// The process-wide fetcher. Cheap to share behind an `Arc`; holds one
/// connection pool.
#[derive(Debug)]
pub struct Fetcher {
    client: reqwest::Client,
    /// The same guards but no redirects followed and no overall deadline:
    /// components' own HTTP (`wasi:http`), which sees each 3xx and whose
    /// uploads are bounded by the task's deadline instead.
    raw: reqwest::Client,
    policy: Arc<NetworkPolicy>,
    /// The largest body accepted (`[fetch] max_bytes`); a call may ask
    /// for less.
    max_bytes: u64,
}

impl Fetcher {
    /// Builds the policy-guarded client.
    pub fn new(config: &FetchConfig) -> Result<Self, Error> {
        let policy = NetworkPolicy::new(&config.allow, config.ports.clone())
            .map(Arc::new)
            .map_err(|e| Error::Network(format!("fetch.allow: {e}")))?;
        let redirect_policy = {
            let policy = Arc::clone(&policy);
            reqwest::redirect::Policy::custom(move |attempt| {
                // `previous` holds every URL requested so far, the original included.
                let followed = attempt.previous().len().saturating_sub(1);
                match policy.check_redirect(followed, attempt.url()) {
                    Ok(()) => attempt.follow(),
                    // The denial itself, so `find_denied` recovers it.
                    Err(RedirectRefused::Denied(denied)) => attempt.error(denied),
                    Err(refused) => attempt.error(refused),
                }
            })
        };
        let guarded = || {
            reqwest::Client::builder()
                .dns_resolver(Arc::new(PolicyResolver {
                    policy: Arc::clone(&policy),
                }))
                .no_proxy()
                .referer(false)
                .user_agent(USER_AGENT)
                .connect_timeout(config.connect_timeout)
        };
        let built = |b: reqwest::ClientBuilder| {
            b.build()
                .map_err(|e| Error::Network(format!("building HTTP client: {}", error_chain(&e))))
        };
        let client = built(guarded().redirect(redirect_policy).timeout(config.timeout))?;
        let raw = built(guarded().redirect(reqwest::redirect::Policy::none()))?;
        Ok(Self {
            client,
            raw,
            policy,
            max_bytes: config.max_bytes,
        })
    }

    /// The underlying client. Requests sent through it get the resolver,
    /// redirect, proxy and timeout guards, but not the initial
    /// [`NetworkPolicy::check_url`]: call that first.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The policy this fetcher enforces.
    pub fn policy(&self) -> &Arc<NetworkPolicy> {
        &self.policy
    }

    /// The largest body a fetch accepts.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Parses `url` (user-controlled: it comes from a task definition) and
    /// checks it against the policy.
    pub fn check(&self, url: &str) -> Result<Url, Error> {
        let parsed =
            Url::parse(url).map_err(|e| Error::InvalidUrl(format!("{}: {e}", truncated(url))))?;
        self.policy
            .check_url(&parsed)
            .map_err(|denied| blocked(&parsed, &denied))?;
        Ok(parsed)
    }

    /// Downloads `url` into memory.
    ///
    /// `max_bytes` (caller-controlled, e.g. a lower cap for images) can only
    /// lower [`Fetcher::max_bytes`], never raise it.
    pub async fn get(&self, url: &str, max_bytes: Option<u64>) -> Result<Fetched, Error> {
        let mut opened = self.open(url, max_bytes).await?;
        let initial = opened.declared.unwrap_or(0).min(MAX_PREALLOCATION);
        // Bounded by MAX_PREALLOCATION, so this conversion cannot truncate.
        let mut body = BytesMut::with_capacity(usize::try_from(initial).unwrap_or(0));
        while let Some(chunk) = opened.chunk().await? {
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            bytes: body.freeze(),
            content_type: opened.content_type,
            final_url: opened.final_url,
        })
    }

    /// Starts downloading `url`: the checked response, its body to be read
    /// with [`Opened::chunk`] (capped as [`Fetcher::get`] caps it).
    pub async fn open(&self, url: &str, max_bytes: Option<u64>) -> Result<Opened, Error> {
        let cap = max_bytes.map_or(self.max_bytes, |m| m.min(self.max_bytes));
        let url = self.check(url)?;
        let response = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| request_failed(&url, e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(Error::HttpStatus(status.as_u16()));
        }
        let declared = response.content_length();
        if declared.is_some_and(|len| len > cap) {
            return Err(Error::TooLarge(cap));
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(FALLBACK_CONTENT_TYPE)
            .to_owned();
        Ok(Opened {
            final_url: response.url().clone(),
            response,
            url,
            cap,
            received: 0,
            declared,
            content_type,
        })
    }

    /// Sends `request` as it is (any method, headers and body; redirects
    /// are answered, not followed) under the policy: its URL is checked
    /// first, and the resolver vets every address it connects to.
    pub async fn send(&self, request: reqwest::Request) -> Result<reqwest::Response, Error> {
        let url = request.url().clone();
        self.policy
            .check_url(&url)
            .map_err(|denied| blocked(&url, &denied))?;
        self.raw
            .execute(request)
            .await
            .map_err(|e| request_failed(&url, e))
    }

    /// POSTs a JSON body (e.g. a task callback) under the same policy and
    /// returns the response status; the response body is not read. `url` is
    /// user-controlled (the task's callback URL).
    pub async fn post_json(
        &self,
        url: &str,
        body: Vec<u8>,
        headers: HeaderMap,
    ) -> Result<u16, Error> {
        let url = self.check(url)?;
        let response = self
            .client
            .post(url.clone())
            .headers(headers)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body)
            .send()
            .await
            .map_err(|e| request_failed(&url, e))?;
        Ok(response.status().as_u16())
    }
}

/// Maps a failed request, logging a policy denial (with its stable reason)
/// once, here at the fetcher's edge rather than inside the conversion.
fn request_failed(url: &Url, err: reqwest::Error) -> Error {
    match find_denied(&err) {
        Some(denied) => blocked(url, denied),
        None => Error::from_reqwest(err),
    }
}

/// Logs a policy denial (the whole message: a name's resolved address
/// too) and turns it into [`Error::Blocked`] with what the requester may
/// read ([`Denied::public`]).
fn blocked(url: &Url, denied: &Denied) -> Error {
    tracing::warn!(
        error.type = denied.reason().as_str(),
        url = %loggable(url),
        "fetch blocked: {denied}"
    );
    Error::Blocked(denied.public().to_owned())
}

/// A URL fit for logs: no query, fragment or userinfo, which may carry
/// credentials (an API key, a pre-signed URL's signature).
pub fn loggable(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}

/// The policy denial raised inside reqwest (resolver or redirect policy), if any.
fn find_denied(err: &reqwest::Error) -> Option<&Denied> {
    let mut source: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(denied) = e.downcast_ref::<Denied>() {
            return Some(denied);
        }
        source = e.source();
    }
    None
}

/// Shortens a user-controlled URL for an error message.
fn truncated(url: &str) -> String {
    match url.char_indices().nth(MAX_URL_IN_MESSAGE) {
        Some((end, _)) => format!("{:?}…", &url[..end]),
        None => format!("{url:?}"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use axum::Router;
    use axum::body::Body;
    use axum::extract::State;
    use axum::http::{StatusCode, header};
    use axum::response::{IntoResponse, Redirect, Response};
    use axum::routing::{get, post};

    use super::*;

    #[derive(Clone)]
    struct Fixture {
        port: u16,
        loop_hits: Arc<AtomicUsize>,
    }

    const BIG: usize = 10_000;

    async fn slow_body() -> Response {
        let chunks = futures::stream::unfold(0u8, |n| async move {
            if n > 0 {
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
            Some((Ok::<_, std::io::Error>(Bytes::from_static(b"x")), n + 1))
        });
        Body::from_stream(chunks).into_response()
    }

    /// Serves the fixture routes on 127.0.0.1:0 and returns the port.
    async fn serve() -> Fixture {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fixture server");
        let port = listener.local_addr().expect("local addr").port();
        let fixture = Fixture {
            port,
            loop_hits: Arc::new(AtomicUsize::new(0)),
        };
        let app = Router::new()
            .route("/ok", get(|| async { "hello" }))
            .route(
                "/typed",
                get(|| async { ([(header::CONTENT_TYPE, "image/png; q=1")], "png-bytes") }),
            )
            .route(
                "/untyped",
                get(|| async {
                    let mut r = Response::new(Body::from("raw"));
                    r.headers_mut().remove(header::CONTENT_TYPE);
                    r
                }),
            )
            .route("/redirect-ok", get(|| async { Redirect::temporary("/ok") }))
            .route(
                "/redirect-metadata",
                get(|| async { Redirect::temporary("http://169.254.169.254/latest/meta-data") }),
            )
            .route(
                "/redirect-mapped",
                get(|State(f): State<Fixture>| async move {
                    Redirect::temporary(&format!("http://[::ffff:127.0.0.1]:{}/ok", f.port))
                }),
            )
            .route(
                "/redirect-ftp",
                get(|| async { Redirect::temporary("ftp://example.com/a.mp4") }),
            )
            .route(
                "/redirect-file",
                get(|| async { Redirect::temporary("file:///etc/passwd") }),
            )
            .route(
                "/loop",
                get(|State(f): State<Fixture>| async move {
                    f.loop_hits.fetch_add(1, Ordering::SeqCst);
                    Redirect::temporary("/loop")
                }),
            )
            .route("/big", get(|| async { vec![b'a'; BIG] }))
            .route(
                "/big-stream",
                get(|| async {
                    let chunks = futures::stream::iter(
                        (0..BIG / 100)
                            .map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'b'; 100]))),
                    );
                    Body::from_stream(chunks)
                }),
            )
            .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    "late"
                }),
            )
            .route("/slow-body", get(slow_body))
            .route(
                "/callback",
                post(|headers: axum::http::HeaderMap, body: Bytes| async move {
                    let json = headers
                        .get(header::CONTENT_TYPE)
                        .is_some_and(|v| v == "application/json");
                    if json && body.as_ref() == b"{\"ok\":true}" {
                        StatusCode::ACCEPTED
                    } else {
                        StatusCode::BAD_REQUEST
                    }
                }),
            )
            .with_state(fixture.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fixture server");
        });
        fixture
    }

    fn fetcher(allow: &[&str], ports: Vec<u16>, tweak: impl FnOnce(&mut FetchConfig)) -> Fetcher {
        let mut config = FetchConfig {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            ports,
            ..FetchConfig::default()
        };
        tweak(&mut config);
        Fetcher::new(&config).expect("client builds")
    }

    fn loopback_allowed() -> Fetcher {
        fetcher(&["127.0.0.0/8"], vec![80, 443], |_| {})
    }

    fn expect_blocked(result: Result<Fetched, Error>, needle: &str) {
        match result {
            Err(Error::Blocked(message)) => assert!(
                message.contains(needle),
                "message {message:?} should contain {needle:?}"
            ),
            other => panic!("expected Blocked({needle}), got {other:?}"),
        }
    }

    #[tokio::test]
    async fn loopback_blocked_by_default() {
        let f = serve().await;
        let url = format!("http://127.0.0.1:{}/ok", f.port);
        let default = Fetcher::new(&FetchConfig::default()).expect("client builds");
        expect_blocked(default.get(&url, None).await, "127.0.0.1");
        // With the port opened, the address itself is what is refused.
        let port_open = fetcher(&[], vec![f.port], |_| {});
        expect_blocked(
            port_open.get(&url, None).await,
            "127.0.0.1 is a loopback address",
        );
    }

    #[tokio::test]
    async fn network_errors_do_not_repeat_the_url() {
        // A closed port: the connection is refused; the message must not
        // carry the query (it may hold a credential).
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = closed.local_addr().expect("addr").port();
        drop(closed);
        let url = format!("http://127.0.0.1:{port}/v?key=top-secret-key");
        match loopback_allowed().get(&url, None).await {
            Err(Error::Network(message)) => {
                assert!(!message.contains("top-secret-key"), "{message}");
                assert!(!message.is_empty());
            }
            other => panic!("expected a network error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn loopback_allowed_by_cidr() {
        let f = serve().await;
        let url = format!("http://127.0.0.1:{}/ok", f.port);
        let got = loopback_allowed().get(&url, None).await.expect("fetch");
        assert_eq!(got.bytes.as_ref(), b"hello");
        assert_eq!(got.content_type, "text/plain; charset=utf-8");
        assert_eq!(got.final_url.as_str(), url);
    }

    #[tokio::test]
    async fn name_resolving_to_loopback_is_blocked_after_dns() {
        let f = serve().await;
        // The port is allowed, so check_url passes and the resolver decides.
        let fetcher = fetcher(&[], vec![f.port], |_| {});
        let url = format!("http://localhost:{}/ok", f.port);
        // The requester is not told what the name resolved to (the log
        // is): a refusal must not answer internal DNS queries.
        let err = fetcher.get(&url, None).await.expect_err("blocked");
        let Error::Blocked(message) = &err else {
            panic!("expected Blocked, got {err:?}");
        };
        assert_eq!(message, "localhost resolves to a non-public address");
    }

    #[tokio::test]
    async fn name_allowed_by_host_list() {
        let f = serve().await;
        let fetcher = fetcher(&["localhost"], vec![80, 443], |_| {});
        let got = fetcher
            .get(&format!("http://localhost:{}/ok", f.port), None)
            .await
            .expect("fetch");
        assert_eq!(got.bytes.as_ref(), b"hello");
    }

    #[tokio::test]
    async fn allowed_redirect_is_followed() {
        let f = serve().await;
        let url = format!("http://127.0.0.1:{}/redirect-ok", f.port);
        let got = loopback_allowed().get(&url, None).await.expect("fetch");
        assert_eq!(got.bytes.as_ref(), b"hello");
        assert_eq!(got.final_url.path(), "/ok");
    }

    #[tokio::test]
    async fn redirect_to_metadata_is_blocked() {
        let f = serve().await;
        let url = format!("http://127.0.0.1:{}/redirect-metadata", f.port);
        expect_blocked(
            loopback_allowed().get(&url, None).await,
            "169.254.169.254 is a link-local address",
        );
    }

    #[tokio::test]
    async fn redirect_to_mapped_loopback_is_blocked_when_only_name_allowed() {
        let f = serve().await;
        let fetcher = fetcher(&["localhost"], vec![80, 443], |_| {});
        let url = format!("http://localhost:{}/redirect-mapped", f.port);
        expect_blocked(
            fetcher.get(&url, None).await,
            "IPv4-mapped IPv6 address embedding 127.0.0.1, a loopback address",
        );
    }

    #[tokio::test]
    async fn redirect_to_other_scheme_is_blocked() {
        let f = serve().await;
        let url = format!("http://127.0.0.1:{}/redirect-ftp", f.port);
        expect_blocked(loopback_allowed().get(&url, None).await, "\"ftp\"");
        // A Location without an authority is not a valid request target, so
        // reqwest does not follow it at all; the 3xx is returned as-is.
        let url = format!("http://127.0.0.1:{}/redirect-file", f.port);
        assert_eq!(
            loopback_allowed().get(&url, None).await,
            Err(Error::HttpStatus(307))
        );
    }

    #[tokio::test]
    async fn redirect_loop_stops_after_max_redirects() {
        let f = serve().await;
        let url = format!("http://127.0.0.1:{}/loop", f.port);
        let err = loopback_allowed()
            .get(&url, None)
            .await
            .expect_err("loop must fail");
        assert_eq!(err, Error::Network("stopped after 5 redirects".into()));
        // The original request plus five followed redirects.
        assert_eq!(f.loop_hits.load(Ordering::SeqCst), 6);
    }

    #[tokio::test]
    async fn body_over_cap_with_content_length() {
        let f = serve().await;
        let url = format!("http://127.0.0.1:{}/big", f.port);
        let fetcher = fetcher(&["127.0.0.0/8"], vec![], |c| c.max_bytes = 1_000);
        assert_eq!(fetcher.get(&url, None).await, Err(Error::TooLarge(1_000)));
        // A per-call cap lowers the limit...
        assert_eq!(fetcher.get(&url, Some(10)).await, Err(Error::TooLarge(10)));
        // ...but never raises it.
        assert_eq!(
            fetcher.get(&url, Some(1 << 40)).await,
            Err(Error::TooLarge(1_000))
        );
    }

    #[tokio::test]
    async fn body_over_cap_without_content_length() {
        let f = serve().await;
        let url = format!("http://127.0.0.1:{}/big-stream", f.port);
        let fetcher = loopback_allowed();
        assert_eq!(
            fetcher.get(&url, Some(1_000)).await,
            Err(Error::TooLarge(1_000))
        );
        let got = fetcher
            .get(&url, Some(BIG as u64))
            .await
            .expect("exactly at the cap");
        assert_eq!(got.bytes.len(), BIG);
    }

    #[tokio::test]
    async fn http_error_status() {
        let f = serve().await;
        let url = format!("http://127.0.0.1:{}/missing", f.port);
        let err = loopback_allowed().get(&url, None).await.expect_err("404");
        assert_eq!(err, Error::HttpStatus(404));
        assert_eq!(err.kind(), "http_status");
    }

    #[tokio::test]
    async fn slow_server_times_out() {
        let f = serve().await;
        let fetcher = fetcher(&["127.0.0.0/8"], vec![], |c| {
            c.timeout = Duration::from_millis(300)
        });
        for path in ["slow", "slow-body"] {
            let url = format!("http://127.0.0.1:{}/{path}", f.port);
            let started = std::time::Instant::now();
            assert_eq!(fetcher.get(&url, None).await, Err(Error::Timeout), "{path}");
            assert!(started.elapsed() < Duration::from_secs(5), "{path}");
        }
    }

    #[tokio::test]
    async fn content_type_passed_through() {
        let f = serve().await;
        let fetcher = loopback_allowed();
        let got = fetcher
            .get(&format!("http://127.0.0.1:{}/typed", f.port), None)
            .await
            .expect("fetch");
        assert_eq!(got.content_type, "image/png; q=1");
        assert_eq!(got.bytes.as_ref(), b"png-bytes");
        let got = fetcher
            .get(&format!("http://127.0.0.1:{}/untyped", f.port), None)
            .await
            .expect("fetch");
        assert_eq!(got.content_type, "application/octet-stream");
    }

    #[tokio::test]
    async fn invalid_and_non_http_urls() {
        let fetcher = loopback_allowed();
        let err = fetcher.get("not a url", None).await.expect_err("invalid");
        assert_eq!(
            err.to_string(),
            "invalid URL \"not a url\": relative URL without a base"
        );
        let long = format!("http://{}", "a".repeat(10_000));
        let err = fetcher
            .get(&format!("{long} x"), None)
            .await
            .expect_err("invalid");
        assert!(err.to_string().len() < 300, "{err}");
        assert_eq!(err.kind(), "invalid_url");
        expect_blocked(fetcher.get("file:///etc/passwd", None).await, "\"file\"");
        expect_blocked(
            fetcher.get("gopher://127.0.0.1:70/_", None).await,
            "\"gopher\"",
        );
    }

    #[tokio::test]
    async fn post_json_uses_the_same_policy() {
        let f = serve().await;
        let url = format!("http://127.0.0.1:{}/callback", f.port);
        let body = b"{\"ok\":true}".to_vec();
        let status = loopback_allowed()
            .post_json(&url, body.clone(), HeaderMap::new())
            .await
            .expect("post");
        assert_eq!(status, 202);
        let default = Fetcher::new(&FetchConfig::default()).expect("client builds");
        let err = default
            .post_json(&url, body, HeaderMap::new())
            .await
            .expect_err("blocked");
        assert_eq!(err.kind(), "blocked");
    }

    #[test]
    fn error_kinds_are_stable() {
        let kinds = [
            Error::InvalidUrl(String::new()).kind(),
            Error::Blocked(String::new()).kind(),
            Error::TooLarge(1).kind(),
            Error::Timeout.kind(),
            Error::HttpStatus(500).kind(),
            Error::Network(String::new()).kind(),
        ];
        assert_eq!(
            kinds,
            [
                "invalid_url",
                "blocked",
                "too_large",
                "timeout",
                "http_status",
                "network"
            ]
        );
    }
}
