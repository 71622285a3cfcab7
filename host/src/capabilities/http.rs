//! Standard `wasi:http/outgoing-handler` for components (uploads, APIs),
//! under the same network policy as `fetch`: the URL is checked, every
//! address the name resolves to is vetted before connecting, redirects are
//! answered to the guest (which must send a new request, checked again),
//! and the response body is capped. Bytes received count against the run's
//! `fetch_bytes` budget and bytes sent against `send_bytes`; going over
//! ends the stream, and the run ends in that budget's error.
//!
//! wasmtime-wasi-http parses the guest's request; [`PolicyHooks`] sends it
//! with the fetcher's guarded client instead of wasmtime's default
//! connector (which would connect wherever the name points).

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt as _;
use http_body_util::{BodyDataStream, BodyExt as _, StreamBody};
use hyper::body::Frame;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use crate::budget::RunBudget;
use crate::fetcher::{self as client, Fetcher};

/// The hooks of one run: its fetcher and its budget.
pub struct PolicyHooks {
    fetcher: Arc<Fetcher>,
    /// Shared with the body streams, which outlive the calls.
    budget: Arc<RunBudget>,
}

impl PolicyHooks {
    /// Hooks sending through `fetcher`, counting against `budget`.
    pub fn new(fetcher: Arc<Fetcher>, budget: Arc<RunBudget>) -> Self {
        PolicyHooks { fetcher, budget }
    }
}

type Sent = Result<(
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
)>;
type Result<T, E = HttpError> = std::result::Result<T, E>;

impl WasiHttpHooks for PolicyHooks {
    // reqwest writes `Host` from the URL.
    fn set_host_header(&mut self) -> bool {
        false
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<dyn Future<Output = Sent> + Send> {
        let fetcher = self.fetcher.clone();
        let budget = self.budget.clone();
        Box::new(async move {
            let response = send(&fetcher, request, budget.clone()).await?;
            let cap = fetcher.max_bytes();
            let declared = response.content_length();
            if declared.is_some_and(|n| n > cap || budget.fetch_fits(n).is_err()) {
                return Err(HttpError::HttpResponseBodySize(declared));
            }
            let status = response.status();
            let headers = response.headers().clone();
            let mut received = 0u64;
            let body = response.bytes_stream().map(move |chunk| {
                let chunk = chunk.map_err(|e| {
                    if e.is_timeout() {
                        HttpError::ConnectionReadTimeout
                    } else {
                        HttpError::HttpResponseIncomplete
                    }
                })?;
                received += chunk.len() as u64;
                if received > cap || budget.fetch(chunk.len() as u64).is_err() {
                    return Err(HttpError::HttpResponseBodySize(Some(received)));
                }
                Ok(Frame::data(chunk))
            });
            let mut out = http::Response::new(StreamBody::new(body).boxed_unsync());
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            let io: Box<dyn Future<Output = Result<(), HttpError>> + Send> =
                Box::new(async { Ok(()) });
            Ok((out, io))
        })
    }
}

/// The guest's request through the guarded client.
async fn send(
    fetcher: &Fetcher,
    request: http::Request<WasiBody>,
    budget: Arc<RunBudget>,
) -> Result<reqwest::Response> {
    let (parts, body) = request.into_parts();
    let url =
        url::Url::parse(&parts.uri.to_string()).map_err(|_| HttpError::HttpRequestUriInvalid)?;
    let mut out = reqwest::Request::new(parts.method, url);
    *out.headers_mut() = parts.headers;
    let stream = BodyDataStream::new(body).map(move |chunk: Result<Bytes, HttpError>| {
        let chunk = chunk.map_err(|e| std::io::Error::other(format!("{e:?}")))?;
        budget
            .send(chunk.len() as u64)
            .map_err(std::io::Error::other)?;
        Ok::<_, std::io::Error>(chunk)
    });
    *out.body_mut() = Some(reqwest::Body::wrap_stream(stream));
    fetcher.send(out).await.map_err(|e| match e {
        client::Error::Blocked(_) => HttpError::DestinationIpProhibited,
        client::Error::InvalidUrl(_) => HttpError::HttpRequestUriInvalid,
        client::Error::Timeout => HttpError::ConnectionTimeout,
        other => HttpError::InternalError(Some(other.to_string())),
    })
}
