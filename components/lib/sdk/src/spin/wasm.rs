//! The `wasi:http` glue of the Spin entry point: an incoming request in,
//! [`serve`](super::serve) in the middle, the response out.

use wasip2::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasip2::io::streams::StreamError;

use super::{MAX_BODY, Net, Request, Response, Settings};
use crate::Task;
use crate::http;

/// Requests go out through `wasi:http/outgoing-handler`, which Spin
/// restricts to the component's `allowed_outbound_hosts`, with the
/// configured timeout on each wait.
struct WasiNet {
    timeout: std::time::Duration,
}

impl Net for WasiNet {
    fn send(
        &mut self,
        request: &http::Request<'_>,
        limit: u64,
    ) -> Result<http::Response, http::Error> {
        http::guest::send_limited(request, limit, Some(self.timeout))
    }
}

/// Answer one request with task `T`.
pub fn handle<T: Task>(request: IncomingRequest, out: ResponseOutparam) {
    let response = match Settings::from_env(|k| std::env::var(k).ok()) {
        Err(e) => Response::envelope(500, "environment", "header", &e),
        Ok(settings) => match read(request) {
            Ok(request) => {
                let mut net = WasiNet {
                    timeout: settings.fetch_timeout,
                };
                super::serve::<T>(&request, &settings, &mut net)
            }
            Err(response) => response,
        },
    };
    respond(out, response);
}

/// The request's parts and up to [`MAX_BODY`] + 1 bytes of its body (one
/// byte more than allowed tells [`serve`](super::serve) it is too large).
fn read(request: IncomingRequest) -> Result<Request, Response> {
    let broken = |what: &str| Response::envelope(400, "body", "body", what);
    let method = match request.method() {
        Method::Get => "GET".to_owned(),
        Method::Head => "HEAD".to_owned(),
        Method::Post => "POST".to_owned(),
        Method::Put => "PUT".to_owned(),
        Method::Delete => "DELETE".to_owned(),
        Method::Patch => "PATCH".to_owned(),
        Method::Options => "OPTIONS".to_owned(),
        Method::Connect => "CONNECT".to_owned(),
        Method::Trace => "TRACE".to_owned(),
        Method::Other(m) => m,
    };
    let target = request.path_with_query().unwrap_or_else(|| "/".into());
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), q.to_owned()),
        None => (target, String::new()),
    };
    let headers = request
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
        .collect();
    let mut body = Vec::new();
    if method == "POST" {
        let incoming = request
            .consume()
            .map_err(|()| broken("the body cannot be read"))?;
        let stream = incoming
            .stream()
            .map_err(|()| broken("the body cannot be read"))?;
        while body.len() <= MAX_BODY {
            match stream.blocking_read(64 << 10) {
                Ok(chunk) => body.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(_)) => {
                    return Err(broken("the body ended early"));
                }
            }
        }
    }
    Ok(Request {
        method,
        path,
        query,
        headers,
        body,
    })
}

/// Send `response`; a client gone mid-body is nobody's error.
fn respond(out: ResponseOutparam, response: Response) {
    let pairs: Vec<(String, Vec<u8>)> = response
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.as_bytes().to_vec()))
        .chain([(
            "content-length".to_owned(),
            response.body.len().to_string().into_bytes(),
        )])
        .collect();
    let headers = Fields::from_list(&pairs).unwrap_or_else(|_| Fields::new());
    let outgoing = OutgoingResponse::new(headers);
    // Every status `serve` makes is valid.
    let _ = outgoing.set_status_code(response.status);
    let Ok(body) = outgoing.body() else {
        return;
    };
    ResponseOutparam::set(out, Ok(outgoing));
    let Ok(stream) = body.write() else {
        return;
    };
    if http::guest::write_all(&stream, &response.body).is_ok() && stream.flush().is_ok() {
        stream.subscribe().block();
    }
    drop(stream);
    let _ = OutgoingBody::finish(body, None);
}
