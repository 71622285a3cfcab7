//! General HTTP for tasks (uploads, platform APIs) through the standard
//! `wasi:http/outgoing-handler`, which the host serves under its network
//! policy (addresses vetted after DNS, redirects answered rather than
//! followed, response bodies capped).
//!
//! [`Ctx::http`](crate::Ctx::http) sends one request; a request body may
//! stream from host-held media ([`Body::Media`]) so a video is uploaded
//! without ever being whole in guest memory.

use std::fmt;

use crate::Input;

/// A request body.
pub enum Body<'a> {
    /// No body.
    Empty,
    /// Bytes held by the task (JSON, a form).
    Bytes(&'a [u8]),
    /// `len` bytes of host-held media from `offset` (a resumable upload's
    /// remainder), copied through the guest a chunk at a time.
    Media {
        /// The media.
        media: &'a dyn Input,
        /// First byte sent.
        offset: u64,
        /// Bytes sent.
        len: u64,
    },
}

impl Body<'_> {
    /// Bytes the body holds.
    pub fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::Media { len, .. } => *len,
        }
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One request.
pub struct Request<'a> {
    /// `GET`, `POST`, `PUT`, `PATCH`, `DELETE`, …
    pub method: &'a str,
    /// Absolute `http(s)` URL.
    pub url: &'a str,
    /// Header name/value pairs (`Content-Length` is added for a body).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body<'a>,
}

impl<'a> Request<'a> {
    /// A request without headers or body.
    pub fn new(method: &'a str, url: &'a str) -> Self {
        Request {
            method,
            url,
            headers: Vec::new(),
            body: Body::Empty,
        }
    }

    /// Add a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Set the body.
    pub fn body(mut self, body: Body<'a>) -> Self {
        self.body = body;
        self
    }
}

/// A response, its body read whole (APIs answer small JSON documents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Not an absolute http(s) URL.
    InvalidUrl(String),
    /// Denied by the network policy.
    Blocked,
    /// The connection failed or dropped (worth retrying).
    Network(String),
    /// The response was larger than the host's cap.
    TooLarge,
    /// No answer in time: connecting, the first byte, or between bytes.
    Timeout,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidUrl(m) => write!(f, "invalid URL: {m}"),
            Error::Blocked => f.write_str("blocked by the network policy"),
            Error::Network(m) => write!(f, "network error: {m}"),
            Error::TooLarge => f.write_str("the response is larger than the limit"),
            Error::Timeout => f.write_str("timed out"),
        }
    }
}

impl std::error::Error for Error {}

/// `scheme`, `authority`, `path?query` of an absolute http(s) URL.
pub fn split_url(url: &str) -> Result<(&str, &str, &str), Error> {
    let invalid = || Error::InvalidUrl(url.chars().take(200).collect());
    if url.starts_with("drake:") {
        // Read from a drake server's blob store by its `fetch`; over
        // wasi:http (Spin) there is no store to read them from.
        return Err(Error::InvalidUrl(format!(
            "{}: drake: references are read by a drake server, not over HTTP (Spin)",
            url.chars().take(80).collect::<String>()
        )));
    }
    let (scheme, rest) = url.split_once("://").ok_or_else(invalid)?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(invalid());
    }
    let rest = rest.split('#').next().unwrap_or(rest);
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(invalid());
    }
    Ok((scheme, authority, path))
}

/// The path-and-query to send: always starting with `/`.
pub fn request_target(path: &str) -> String {
    if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    }
}

/// The first value of header `name` (any case) in a header list.
pub(crate) fn header_in<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[cfg(target_arch = "wasm32")]
pub(crate) mod guest {
    //! The wasi:http client.

    use std::time::Duration;

    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{
        ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions,
        Scheme, http_error_code,
    };
    use wasip2::io::streams::{OutputStream, StreamError};

    use super::{Body, Error, Request, Response};

    /// The declared `content-length`, if any.
    fn headers_len(headers: &[(String, String)]) -> Option<u64> {
        super::header_in(headers, "content-length").and_then(|v| v.trim().parse().ok())
    }

    /// Body bytes copied per write (the host buffers up to 1 MiB).
    const CHUNK: u64 = 1 << 20;
    /// Response bytes read per call.
    const READ: u64 = 64 << 10;

    fn network(e: impl std::fmt::Debug) -> Error {
        Error::Network(format!("{e:?}"))
    }

    fn code(e: ErrorCode) -> Error {
        match e {
            ErrorCode::DestinationIpProhibited => Error::Blocked,
            ErrorCode::HttpRequestUriInvalid => Error::InvalidUrl("rejected by the host".into()),
            ErrorCode::HttpResponseBodySize(_) => Error::TooLarge,
            ErrorCode::ConnectionTimeout
            | ErrorCode::ConnectionReadTimeout
            | ErrorCode::ConnectionWriteTimeout
            | ErrorCode::HttpResponseTimeout => Error::Timeout,
            other => network(other),
        }
    }

    fn method(m: &str) -> Method {
        match m.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "PATCH" => Method::Patch,
            "OPTIONS" => Method::Options,
            other => Method::Other(other.to_owned()),
        }
    }

    /// Write every byte (the stream says how much it takes at a time).
    pub(crate) fn write_all(stream: &OutputStream, mut bytes: &[u8]) -> Result<(), Error> {
        while !bytes.is_empty() {
            let room = stream.check_write().map_err(network)?;
            if room == 0 {
                stream.subscribe().block();
                continue;
            }
            let n = bytes.len().min(usize::try_from(room).unwrap_or(usize::MAX));
            stream.write(&bytes[..n]).map_err(network)?;
            bytes = &bytes[n..];
        }
        Ok(())
    }

    fn send_body(body: &OutgoingBody, source: &Body<'_>) -> Result<(), Error> {
        // Nothing to write: the stream is left alone (once a bodiless
        // request is on its way the runtime may already have closed it).
        if source.is_empty() {
            return Ok(());
        }
        let stream = body.write().map_err(network)?;
        match source {
            Body::Empty => {}
            Body::Bytes(b) => write_all(&stream, b)?,
            Body::Media { media, offset, len } => {
                let end = offset.saturating_add(*len);
                let mut at = *offset;
                while at < end {
                    let want = (end - at).min(CHUNK);
                    let chunk = media.read(at, u32::try_from(want).unwrap_or(u32::MAX));
                    if chunk.is_empty() {
                        return Err(Error::Network("the media ended early".into()));
                    }
                    write_all(&stream, &chunk)?;
                    at += chunk.len() as u64;
                }
            }
        }
        stream.flush().map_err(network)?;
        stream.subscribe().block();
        stream.check_write().map_err(network)?;
        Ok(())
    }

    /// Send `request` and read its response.
    #[cfg_attr(
        feature = "spin",
        expect(dead_code, reason = "Spin builds only send with a limit")
    )]
    pub fn send(request: &Request<'_>) -> Result<Response, Error> {
        send_limited(request, u64::MAX, None)
    }

    /// The runtime's request options for `timeout` on each wait
    /// (connecting, the first byte, between bytes). A runtime that does not
    /// support an option keeps its own for it.
    fn options(timeout: Duration) -> RequestOptions {
        let options = RequestOptions::new();
        let ns = Some(u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX));
        let _ = options.set_connect_timeout(ns);
        let _ = options.set_first_byte_timeout(ns);
        let _ = options.set_between_bytes_timeout(ns);
        options
    }

    /// Send `request` and read its response, refusing a body over `limit`
    /// bytes as soon as it says or reaches so, and giving up after
    /// `timeout` on any one wait (`None`: the runtime's timeouts).
    pub fn send_limited(
        request: &Request<'_>,
        limit: u64,
        timeout: Option<Duration>,
    ) -> Result<Response, Error> {
        let (scheme, authority, path) = super::split_url(request.url)?;
        let mut headers: Vec<(String, Vec<u8>)> = request
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.as_bytes().to_vec()))
            .collect();
        // Every body gets its length, an empty one too: a PUT or POST
        // without it would go out chunked (resumable status queries must
        // say `Content-Length: 0`).
        let bodiless = matches!(request.method.to_ascii_uppercase().as_str(), "GET" | "HEAD");
        if !bodiless || !request.body.is_empty() {
            headers.push((
                "content-length".into(),
                request.body.len().to_string().into_bytes(),
            ));
        }
        let fields = Fields::from_list(&headers).map_err(network)?;
        let outgoing = OutgoingRequest::new(fields);
        let bad = |what: &str| Error::InvalidUrl(format!("{what} rejected"));
        outgoing
            .set_method(&method(request.method))
            .map_err(|()| bad("method"))?;
        let scheme = if scheme.eq_ignore_ascii_case("https") {
            Scheme::Https
        } else {
            Scheme::Http
        };
        outgoing
            .set_scheme(Some(&scheme))
            .map_err(|()| bad("scheme"))?;
        outgoing
            .set_authority(Some(authority))
            .map_err(|()| bad("authority"))?;
        outgoing
            .set_path_with_query(Some(&super::request_target(path)))
            .map_err(|()| bad("path"))?;
        let body = outgoing.body().map_err(|()| network("no request body"))?;
        let pending = outgoing_handler::handle(outgoing, timeout.map(options)).map_err(code)?;
        send_body(&body, &request.body)?;
        OutgoingBody::finish(body, None).map_err(code)?;

        pending.subscribe().block();
        let response = match pending.get() {
            Some(Ok(Ok(r))) => r,
            Some(Ok(Err(e))) => return Err(code(e)),
            Some(Err(())) | None => return Err(network("no response")),
        };
        let status = response.status();
        let headers: Vec<(String, String)> = response
            .headers()
            .entries()
            .into_iter()
            .map(|(k, v)| {
                (
                    k.to_ascii_lowercase(),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })
            .collect();
        let declared = headers_len(&headers);
        if declared.is_some_and(|n| n > limit) {
            return Err(Error::TooLarge);
        }
        let incoming = response
            .consume()
            .map_err(|()| network("no response body"))?;
        let mut body = Vec::new();
        {
            let stream = incoming.stream().map_err(|()| network("no body stream"))?;
            loop {
                match stream.blocking_read(READ) {
                    Ok(chunk) => {
                        if (body.len() + chunk.len()) as u64 > limit {
                            return Err(Error::TooLarge);
                        }
                        body.extend_from_slice(&chunk);
                    }
                    Err(StreamError::Closed) => break,
                    Err(StreamError::LastOperationFailed(e)) => {
                        return Err(match http_error_code(&e) {
                            Some(c) => code(c),
                            None => network(e.to_debug_string()),
                        });
                    }
                }
            }
        }
        let trailers = IncomingBody::finish(incoming);
        trailers.subscribe().block();
        if let Some(Ok(Err(e))) = trailers.get() {
            return Err(code(e));
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

/// RFC 3986 percent-encoding: everything but `A–Z a–z 0–9 - . _ ~` (a
/// query value, an OAuth 1.0a signature base).
pub fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_their_parts() {
        assert_eq!(
            split_url("https://www.googleapis.com/upload/youtube/v3/videos?part=snippet#x"),
            Ok((
                "https",
                "www.googleapis.com",
                "/upload/youtube/v3/videos?part=snippet"
            ))
        );
        assert_eq!(
            split_url("http://127.0.0.1:8080"),
            Ok(("http", "127.0.0.1:8080", ""))
        );
        assert_eq!(split_url("http://h?q=1"), Ok(("http", "h", "?q=1")));
        assert_eq!(request_target(""), "/");
        assert_eq!(request_target("?q=1"), "/?q=1");
        assert_eq!(request_target("/a?b"), "/a?b");
        for bad in ["ftp://h/", "//h/", "http:///x", "http://u:p@h/"] {
            assert!(split_url(bad).is_err(), "{bad}");
        }
        let Err(Error::InvalidUrl(why)) = split_url("drake:ABCDEFGHIJKLMNOPQRSTUVWXYZ/output")
        else {
            panic!("a reference is not fetched over HTTP");
        };
        assert!(why.contains("drake server"), "{why}");
    }
}
