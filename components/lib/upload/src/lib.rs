//! What the `video.upload.*` tasks share:
//!
//! - [`Source`]: the video to upload, fetched and probed (it must be a
//!   video; its duration is an output);
//! - [`Platform`]: the API base URL from the host's `[upload]` config and
//!   the mapping of a platform's answers to task errors, which never echo
//!   a credential;
//! - [`Backoff`] and [`resumable_put`]: the resumable-upload protocol
//!   YouTube and Vimeo share (PUT the bytes; after a dropped connection or
//!   a 5xx, ask `Content-Range: bytes */N`, read the `Range` of a 308 and
//!   send the rest).

pub mod sign;

use drake_sdk::http::{Body, Error as HttpError, Request, Response};
use drake_sdk::media::{centis, duration_of, fetch_and_probe, video_stream};
use drake_sdk::{Ctx, Input, TaskError};

/// The video to upload.
pub struct Source {
    /// Host-held bytes.
    pub media: Box<dyn Input>,
    /// Seconds, rounded to 1/100.
    pub duration: f64,
    /// Content type to declare (`video/mp4`, …; `video/*` when unknown).
    pub content_type: String,
    /// Bytes.
    pub size: u64,
    /// A file name for platforms that want one (`video.mp4`).
    pub file_name: String,
}

/// Fetch and probe `url` (parameter `url`): a video, or an input error.
pub fn source(ctx: &mut dyn Ctx, url: &str) -> Result<Source, TaskError> {
    let (media, info) = fetch_and_probe(ctx, "url", url)?;
    let video = video_stream(&info)?;
    // A picture probes as a one-frame video stream (`png_pipe`, `image2`).
    let still = info.format.ends_with("_pipe") || info.format == "image2";
    let duration = centis(duration_of(&info, video));
    if still || duration <= 0.0 {
        return Err(TaskError::InvalidInput(
            "url: the file is a still image, not a video".into(),
        ));
    }
    let declared = media.content_type();
    let (content_type, ext) = match declared.split(';').next().unwrap_or("").trim() {
        t if t.starts_with("video/") => (t.to_owned(), extension(t)),
        _ => guess(&info.format),
    };
    let size = media.size();
    Ok(Source {
        media,
        duration,
        content_type,
        size,
        file_name: format!("video.{ext}"),
    })
}

fn extension(content_type: &str) -> &'static str {
    match content_type {
        "video/mp4" => "mp4",
        "video/quicktime" => "mov",
        "video/webm" => "webm",
        "video/x-matroska" => "mkv",
        "video/x-msvideo" => "avi",
        "video/x-ms-asf" | "video/x-ms-wmv" => "wmv",
        "video/mpeg" => "mpg",
        "video/3gpp" => "3gp",
        "video/x-flv" => "flv",
        _ => "mp4",
    }
}

/// A content type from ffprobe's demuxer names.
fn guess(format: &str) -> (String, &'static str) {
    let (t, e) = if format.contains("mp4") || format.contains("mov") {
        ("video/mp4", "mp4")
    } else if format.contains("matroska") || format.contains("webm") {
        ("video/webm", "webm")
    } else if format.contains("avi") {
        ("video/x-msvideo", "avi")
    } else if format.contains("asf") {
        ("video/x-ms-asf", "wmv")
    } else if format.contains("flv") {
        ("video/x-flv", "flv")
    } else if format.contains("mpeg") {
        ("video/mpeg", "mpg")
    } else {
        ("video/*", "mp4")
    };
    (t.to_owned(), e)
}

/// A video platform's API, as the task sees it.
pub struct Platform {
    /// For messages (`YouTube`).
    pub name: &'static str,
    /// The API base URL, without a trailing `/`.
    pub base: String,
}

impl Platform {
    /// The platform whose API base URL the host passes in `variable`
    /// (its `[upload]` configuration, with the real endpoints as defaults).
    pub fn new(name: &'static str, variable: &str) -> Result<Platform, TaskError> {
        let base = std::env::var(variable)
            .ok()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                TaskError::Failed(format!(
                    "{name}: the host gives no API address ({variable})"
                ))
            })?;
        Ok(Platform {
            name,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// The task error for a refused or failed call. `auth_param` names the
    /// credential a 401/403 blames. The platform's own message is kept
    /// (trimmed), never the request.
    pub fn refusal(&self, what: &str, response: &Response, auth_param: &str) -> TaskError {
        let message = platform_message(response);
        let status = response.status;
        // The Graph API answers a bad token with 400 and an OAuthException;
        // Vimeo's v2 API with `"stat": "fail"` and error code 401.
        let json = response.json();
        let refused = status == 401
            || status == 403
            || json["error"]["type"] == "OAuthException"
            || json["err"]["code"] == "401";
        if refused {
            TaskError::parameter(
                auth_param,
                format!(
                    "{} refused the credentials (HTTP {status}){message}",
                    self.name
                ),
            )
        } else {
            TaskError::Failed(format!(
                "{}: {what} failed (HTTP {status}){message}",
                self.name
            ))
        }
    }

    /// The task error for a request that got no answer.
    pub fn unreachable(&self, what: &str, e: &HttpError) -> TaskError {
        TaskError::Failed(format!("{}: {what}: {e}", self.name))
    }
}

/// `: <message>` from a JSON error answer (`error.message`, `message`,
/// `err.msg`, `error_description`), at most 200 characters.
fn platform_message(response: &Response) -> String {
    let json = response.json();
    let candidates = [
        &json["error"]["message"],
        &json["message"],
        &json["err"]["msg"],
        &json["err"]["expl"],
        &json["error_description"],
        &json["error"],
    ];
    candidates
        .into_iter()
        .find_map(|v| v.as_str())
        .map(|m| format!(": {}", m.chars().take(200).collect::<String>()))
        .unwrap_or_default()
}

/// Exponential backoff between retries of a transient failure.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Tries in all (the first included).
    pub tries: u32,
    /// Wait before the second try; doubles after each.
    pub first: std::time::Duration,
}

/// Five tries over ~7.5 s: rides out a dropped connection or a brief 5xx
/// burst; longer outages fail the task (which the client may retry).
pub const BACKOFF: Backoff = Backoff {
    tries: 5,
    first: std::time::Duration::from_millis(500),
};

impl Backoff {
    /// The wait before try `n` (0-based; none before the first).
    pub fn wait(&self, n: u32) -> std::time::Duration {
        if n == 0 {
            std::time::Duration::ZERO
        } else {
            self.first * 2u32.saturating_pow(n - 1)
        }
    }
}

/// Whether a request that got no answer is worth sending again: a
/// network failure is; a refusal by the policy or an oversized answer
/// would fail the same way.
pub fn retryable(e: &HttpError) -> bool {
    matches!(e, HttpError::Network(_))
}

/// Whether an answer is worth retrying (server-side trouble).
pub fn transient(status: u16) -> bool {
    matches!(status, 500 | 502 | 503 | 504 | 429)
}

/// Send `request` (built fresh for each try), retrying network errors and
/// transient statuses with `backoff`; the last answer or error otherwise.
pub fn with_retries<'a>(
    ctx: &mut dyn Ctx,
    backoff: Backoff,
    mut request: impl FnMut() -> Request<'a>,
) -> Result<Response, HttpError> {
    let mut last = Err(HttpError::Network("not sent".into()));
    for n in 0..backoff.tries {
        std::thread::sleep(backoff.wait(n));
        last = ctx.http(&request());
        match &last {
            Ok(r) if !transient(r.status) => return last,
            Err(e) if !retryable(e) => return last,
            _ => {}
        }
    }
    last
}

/// How a resumable upload ended.
pub enum Resumed {
    /// The platform accepted the whole file: its final answer.
    Done(Response),
    /// The platform refused (its answer: 4xx other than a resumable 308).
    Refused(Response),
}

/// PUT `source` to an upload `session` URL, resuming after dropped
/// connections and transient errors: each time, `Content-Range: bytes
/// */<size>` asks what arrived; a 308's `Range: bytes=0-<last>` says where
/// to continue (no `Range`: from the start), a 200/201 that it is all
/// there. `headers` are added to every PUT (auth).
pub fn resumable_put(
    ctx: &mut dyn Ctx,
    session: &str,
    source: &Source,
    headers: &[(String, String)],
    backoff: Backoff,
    progress: (u8, u8),
) -> Result<Resumed, HttpError> {
    let size = source.size;
    let mut offset = 0u64;
    let mut failures = 0u32;
    loop {
        let mut put = Request::new("PUT", session)
            .header("Content-Type", source.content_type.clone())
            .body(Body::Media {
                media: source.media.as_ref(),
                offset,
                len: size - offset,
            });
        if offset > 0 {
            put = put.header(
                "Content-Range",
                format!("bytes {offset}-{}/{size}", size.saturating_sub(1)),
            );
        }
        for (k, v) in headers {
            put = put.header(k, v.clone());
        }
        let answer = ctx.http(&put);
        match answer {
            Ok(r) if r.status == 200 || r.status == 201 => {
                ctx.progress(progress.1);
                return Ok(Resumed::Done(r));
            }
            Ok(r) if r.status != 308 && !transient(r.status) => return Ok(Resumed::Refused(r)),
            Err(e) if !retryable(&e) => return Err(e),
            // A drop, a 5xx or a 308 mid-way: ask what arrived.
            _ => {}
        }
        failures += 1;
        if failures >= backoff.tries {
            return Err(HttpError::Network(format!(
                "the upload did not complete after {failures} tries"
            )));
        }
        std::thread::sleep(backoff.wait(failures));
        let mut status =
            Request::new("PUT", session).header("Content-Range", format!("bytes */{size}"));
        for (k, v) in headers {
            status = status.header(k, v.clone());
        }
        match ctx.http(&status) {
            Ok(r) if r.status == 200 || r.status == 201 => return Ok(Resumed::Done(r)),
            Ok(r) if r.status == 308 => {
                offset = r
                    .header("range")
                    .and_then(received_end)
                    .map_or(0, |last| (last + 1).min(size));
                let (lo, hi) = progress;
                let done = (offset * 100).checked_div(size).unwrap_or(0);
                ctx.progress(lo + ((u64::from(hi - lo) * done) / 100) as u8);
            }
            Ok(r) if transient(r.status) => {}
            Ok(r) => return Ok(Resumed::Refused(r)),
            Err(e) if !retryable(&e) => return Err(e),
            Err(_) => {}
        }
    }
}

/// The last byte received from a `Range: bytes=0-<last>` header.
pub fn received_end(range: &str) -> Option<u64> {
    let (start, end) = range.trim().strip_prefix("bytes=")?.split_once('-')?;
    (start.trim() == "0").then_some(())?;
    end.trim().parse().ok()
}

/// A number in a platform's JSON, which may come as a string (`"1048576"`).
pub fn number(v: &serde_json::Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.parse().ok())
}

/// `application/x-www-form-urlencoded` encoding of `pairs`.
pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent(k), percent(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// RFC 3986 percent-encoding, as OAuth 1.0a requires.
pub use drake_sdk::http::percent;

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;
    use drake_sdk::{FakeCtx, MemInput, RecordedRequest};
    use std::sync::{Arc, Mutex};

    fn source(bytes: &[u8]) -> Source {
        Source {
            media: Box::new(MemInput::new("video/mp4", bytes.to_vec())),
            duration: 1.0,
            content_type: "video/mp4".into(),
            size: bytes.len() as u64,
            file_name: "video.mp4".into(),
        }
    }

    fn answer(status: u16, headers: &[(&str, &str)]) -> Response {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: Vec::new(),
        }
    }

    const FAST: Backoff = Backoff {
        tries: 4,
        first: std::time::Duration::from_millis(1),
    };

    #[test]
    fn a_dropped_upload_resumes_where_the_platform_says() {
        let video: Vec<u8> = (0..100u8).collect();
        let seen = Arc::new(Mutex::new(Vec::<RecordedRequest>::new()));
        let log = seen.clone();
        let mut ctx = FakeCtx {
            http_handler: Some(Box::new(move |r| {
                let n = log.lock().unwrap().len();
                log.lock().unwrap().push(r.clone());
                match n {
                    0 => Err(HttpError::Network("connection reset".into())),
                    1 => Ok(answer(308, &[("range", "bytes=0-39")])),
                    _ => Ok(answer(201, &[])),
                }
            })),
            ..FakeCtx::default()
        };
        let headers = [("Authorization".to_owned(), "Bearer t".to_owned())];
        let done = resumable_put(
            &mut ctx,
            "http://x/s",
            &source(&video),
            &headers,
            FAST,
            (0, 100),
        )
        .unwrap();
        assert!(matches!(done, Resumed::Done(r) if r.status == 201));
        let seen = seen.lock().unwrap();
        assert_eq!(seen[0].body, video);
        let range = |r: &RecordedRequest| {
            r.headers
                .iter()
                .find(|(k, _)| k == "Content-Range")
                .map(|(_, v)| v.clone())
        };
        assert_eq!(range(&seen[1]).as_deref(), Some("bytes */100"));
        assert!(seen[1].body.is_empty());
        assert_eq!(range(&seen[2]).as_deref(), Some("bytes 40-99/100"));
        assert_eq!(seen[2].body, video[40..]);
        assert!(seen.iter().all(|r| r.headers.contains(&headers[0])));
    }

    #[test]
    fn refusals_and_endless_failures_end() {
        let mut ctx = FakeCtx {
            http_handler: Some(Box::new(|_| Ok(answer(401, &[])))),
            ..FakeCtx::default()
        };
        let out =
            resumable_put(&mut ctx, "http://x/s", &source(b"abc"), &[], FAST, (0, 100)).unwrap();
        assert!(matches!(out, Resumed::Refused(r) if r.status == 401));
        let mut ctx = FakeCtx {
            http_handler: Some(Box::new(|_| Ok(answer(503, &[])))),
            ..FakeCtx::default()
        };
        assert!(
            resumable_put(&mut ctx, "http://x/s", &source(b"abc"), &[], FAST, (0, 100)).is_err()
        );
        assert!(ctx.requests.len() <= 2 * FAST.tries as usize);
    }

    #[test]
    fn ranges_forms_and_messages() {
        assert_eq!(received_end("bytes=0-524287"), Some(524_287));
        assert_eq!(received_end("bytes=5-9"), None);
        assert_eq!(percent("a b&c=d/é~"), "a%20b%26c%3Dd%2F%C3%A9~");
        assert_eq!(form(&[("a", "1 2"), ("b", "x")]), "a=1%202&b=x");
        let r = Response {
            status: 401,
            headers: vec![],
            body: br#"{"error": {"code": 401, "message": "Invalid Credentials"}}"#.to_vec(),
        };
        let p = Platform {
            name: "YouTube",
            base: String::new(),
        };
        assert_eq!(
            p.refusal("upload", &r, "access_token"),
            TaskError::parameter(
                "access_token",
                "YouTube refused the credentials (HTTP 401): Invalid Credentials"
            )
        );
        assert_eq!(BACKOFF.wait(0), std::time::Duration::ZERO);
        assert_eq!(BACKOFF.wait(3), std::time::Duration::from_secs(2));
    }
}
