//! The `video.upload.*` tasks against local fakes of each platform's API
//! (`[upload] *_base_url` points at them): the fakes check method, path,
//! headers, auth, body and resumable offsets, and inject failures (5xx, a
//! connection dropped mid-upload, a bad token).
#![allow(clippy::unwrap_used, reason = "tests")]

use crate::common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::common::{Drake, Fixtures, Options};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

const TOKEN: &str = "ya29.secret-access-token";
const DEV_KEY: &str = "AIza-secret-developer-key";

/// A small real video (H.264 + AAC in MP4, ~120 KB).
fn video() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    common::ffmpeg_make(
        dir.path(),
        "v.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25:duration=4",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=330:duration=4",
            "-c:v",
            "libx264",
            "-b:v",
            "500k",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
        ],
    )
}

/// Start an axum app on loopback; its base URL.
async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// End the connection without an answer, like a network failure (an
/// unwinding handler drops its connection; `resume_unwind` skips the
/// panic message).
fn drop_connection() -> ! {
    std::panic::resume_unwind(Box::new("fake: connection dropped"))
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

// ---- YouTube -------------------------------------------------------------

#[derive(Default)]
struct YouTube {
    /// Failures to inject: 5xx answers to the next session starts.
    start_failures: u32,
    /// Drop the connection once, after this many bytes of the first PUT.
    drop_after: Option<usize>,
    /// The base URL (for session Locations).
    base: String,
    /// Metadata received at the start.
    metadata: Vec<Value>,
    /// Bytes received per session.
    received: HashMap<String, Vec<u8>>,
    /// Declared size per session.
    declared: HashMap<String, u64>,
    /// Every request: (method, path, Content-Range).
    log: Vec<(String, String, String)>,
    /// Protocol violations seen.
    violations: Vec<String>,
    /// Session PUTs carry no credentials (Vimeo's upload endpoints).
    open_puts: bool,
}

type Shared<T> = Arc<Mutex<T>>;

fn youtube_auth(headers: &HeaderMap) -> Option<Response> {
    if header_str(headers, "authorization") != format!("Bearer {TOKEN}") {
        return Some(
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"error": {"code": 401, "message": "Invalid Credentials"}})),
            )
                .into_response(),
        );
    }
    None
}

async fn youtube_start(
    State(yt): State<Shared<YouTube>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut yt = yt.lock().unwrap();
    yt.log.push(("POST".into(), "start".into(), String::new()));
    if let Some(refused) = youtube_auth(&headers) {
        return refused;
    }
    if yt.start_failures > 0 {
        yt.start_failures -= 1;
        return (StatusCode::SERVICE_UNAVAILABLE, "backend error").into_response();
    }
    let mut check = |ok: bool, what: &str| {
        if !ok {
            yt.violations.push(what.to_owned());
        }
    };
    check(
        q.get("uploadType").map(String::as_str) == Some("resumable"),
        "uploadType",
    );
    check(
        q.get("part").map(String::as_str) == Some("snippet,status"),
        "part",
    );
    check(q.get("key").map(String::as_str) == Some(DEV_KEY), "key");
    check(
        header_str(&headers, "content-type").starts_with("application/json"),
        "content-type",
    );
    check(
        header_str(&headers, "x-upload-content-type") == "video/mp4",
        "x-upload-content-type",
    );
    let declared: u64 = header_str(&headers, "x-upload-content-length")
        .parse()
        .unwrap_or(0);
    check(declared > 0, "x-upload-content-length");
    let metadata: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    yt.metadata.push(metadata);
    let id = format!("s{}", yt.declared.len() + 1);
    yt.declared.insert(id.clone(), declared);
    yt.received.insert(id.clone(), Vec::new());
    let location = format!("{}/upload/session/{id}", yt.base);
    (StatusCode::OK, [(header::LOCATION, location)]).into_response()
}

async fn youtube_put(
    State(yt): State<Shared<YouTube>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut yt = yt.lock().unwrap();
    let range = header_str(&headers, "content-range").to_owned();
    yt.log.push(("PUT".into(), id.clone(), range.clone()));
    if !yt.open_puts
        && let Some(refused) = youtube_auth(&headers)
    {
        return refused;
    }
    let Some(&total) = yt.declared.get(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let have = yt.received[&id].len() as u64;
    let incomplete = |have: u64| {
        let mut r = (StatusCode::PERMANENT_REDIRECT, "").into_response();
        if have > 0 {
            r.headers_mut()
                .insert("range", format!("bytes=0-{}", have - 1).parse().unwrap());
        }
        r
    };
    // A status query.
    if range == format!("bytes */{total}") {
        if !body.is_empty() || header_str(&headers, "content-length") != "0" {
            yt.violations
                .push("status query without Content-Length: 0".into());
        }
        // YouTube answers a complete upload with the video; Vimeo's
        // streaming endpoints keep answering 308 with the whole range.
        return if have == total && !yt.open_puts {
            (StatusCode::OK, axum::Json(json!({"id": "dQw4w9WgXcQ"}))).into_response()
        } else {
            incomplete(have)
        };
    }
    // Bytes: from the start, or from where we are.
    let start = if range.is_empty() {
        0
    } else {
        match range
            .strip_prefix("bytes ")
            .and_then(|r| r.split_once('-'))
            .and_then(|(a, _)| a.parse::<u64>().ok())
        {
            Some(start) => start,
            None => {
                yt.violations.push(format!("bad Content-Range {range:?}"));
                return StatusCode::BAD_REQUEST.into_response();
            }
        }
    };
    if start != have {
        yt.violations
            .push(format!("resumed at {start}, had {have}"));
    }
    if header_str(&headers, "content-type") != "video/mp4" {
        yt.violations.push("PUT content-type".into());
    }
    if let Some(limit) = yt.drop_after.take() {
        let keep = limit.min(body.len());
        yt.received
            .get_mut(&id)
            .unwrap()
            .extend_from_slice(&body[..keep]);
        drop(yt);
        drop_connection();
    }
    yt.received.get_mut(&id).unwrap().extend_from_slice(&body);
    let have = yt.received[&id].len() as u64;
    if have == total {
        (
            StatusCode::CREATED,
            axum::Json(json!({"kind": "youtube#video", "id": "dQw4w9WgXcQ"})),
        )
            .into_response()
    } else {
        incomplete(have)
    }
}

async fn youtube_fake(yt: YouTube) -> (Shared<YouTube>, String) {
    let state = Arc::new(Mutex::new(yt));
    let app = axum::Router::new()
        .route(
            "/upload/youtube/v3/videos",
            axum::routing::post(youtube_start),
        )
        .route("/upload/session/{id}", axum::routing::put(youtube_put))
        .with_state(state.clone());
    let base = serve(app).await;
    state.lock().unwrap().base = base.clone();
    (state, base)
}

fn drake_options(tables: &str) -> Options {
    Options {
        tables: tables.to_owned(),
        json_logs: true,
        ..Options::default()
    }
}

fn assert_no_secrets(drake: &Drake, statuses: &[Value], secrets: &[&str]) {
    let log = std::fs::read_to_string(drake.data.join("drake.log")).unwrap_or_default();
    assert!(
        log.contains("task succeeded") || log.contains("task failed"),
        "no task log lines"
    );
    for secret in secrets {
        assert!(!log.contains(secret), "{secret} in the log");
        for status in statuses {
            assert!(!status.to_string().contains(secret), "{secret} in {status}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn youtube_resumable_upload_survives_a_drop_and_a_5xx() {
    let video = video();
    let (yt, base) = youtube_fake(YouTube {
        start_failures: 1,
        drop_after: Some(video.len() * 2 / 5),
        ..YouTube::default()
    })
    .await;
    let drake = Drake::start_with(drake_options(&format!(
        "[upload]\nyoutube_base_url = \"{base}\"\n"
    )))
    .await;
    let fx = Fixtures::start().await;
    let url = fx.add("clip.mp4", "video/mp4", video.clone());
    let statuses = drake
        .create(
            json!({"task_name": "video.upload.youtube", "url": url, "access_token": TOKEN,
                   "developer_key": DEV_KEY, "title": "Été à Paris", "description": "a clip",
                   "tags": ["drake", "test"], "privacy_status": "unlisted"}),
            true,
        )
        .await;
    let s = &statuses[0];
    assert_eq!(s["status"], "success", "{s}");
    assert_eq!(
        s["result"]["output"],
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    );
    assert_eq!(s["result"]["duration"], 4.0);

    let yt = yt.lock().unwrap();
    assert!(yt.violations.is_empty(), "{:?}", yt.violations);
    // The 503 was retried: two starts, one session (the first answer made none).
    let starts = yt.log.iter().filter(|l| l.1 == "start").count();
    assert_eq!(starts, 2, "{:?}", yt.log);
    assert_eq!(yt.received.len(), 1);
    assert_eq!(yt.received["s1"], video, "the platform got the exact file");
    assert_eq!(yt.declared["s1"], video.len() as u64);
    // After the drop: a status query, then the rest from where it stopped.
    let puts: Vec<&str> = yt
        .log
        .iter()
        .filter(|l| l.0 == "PUT")
        .map(|l| l.2.as_str())
        .collect();
    let kept = video.len() * 2 / 5;
    assert_eq!(
        puts,
        [
            String::new(),
            format!("bytes */{}", video.len()),
            format!("bytes {kept}-{}/{}", video.len() - 1, video.len())
        ]
    );
    assert_eq!(
        yt.metadata[0],
        json!({"snippet": {"title": "Été à Paris", "description": "a clip",
                           "tags": ["drake", "test"], "categoryId": "22"},
               "status": {"privacyStatus": "unlisted"}})
    );
    drop(yt);
    assert_no_secrets(&drake, &statuses, &[TOKEN, DEV_KEY]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn youtube_refusals_and_bad_sources_end_in_clear_errors() {
    let (_yt, base) = youtube_fake(YouTube::default()).await;
    let drake = Drake::start_with(drake_options(&format!(
        "[upload]\nyoutube_base_url = \"{base}\"\n"
    )))
    .await;
    let fx = Fixtures::start().await;
    let clip = fx.add("clip.mp4", "video/mp4", video());
    let image = fx.add("photo.png", "image/png", common::png(64, 64));
    let text = fx.add("notes.txt", "text/plain", b"not a video at all".to_vec());
    let def = |url: &str, token: &str| {
        json!({"task_name": "video.upload.youtube", "url": url, "access_token": token,
               "developer_key": DEV_KEY, "title": "t"})
    };
    let statuses = drake
        .create(
            json!([
                def(&clip, "expired-token"),
                def(&image, TOKEN),
                def(&text, TOKEN),
                {"task_name": "video.upload.youtube", "url": clip, "title": "t"},
                def(&fx.url("/redirect-to-metadata"), TOKEN),
            ]),
            true,
        )
        .await;
    assert!(
        statuses.iter().all(|s| s["status"] == "error"),
        "{statuses:?}"
    );
    assert_eq!(
        statuses[0]["result"]["parameters"]["access_token"][0],
        "YouTube refused the credentials (HTTP 401): Invalid Credentials"
    );
    assert_eq!(
        statuses[1]["result"],
        "url: the file is a still image, not a video"
    );
    assert!(statuses[2]["result"].is_string(), "{}", statuses[2]);
    let missing = &statuses[3]["result"]["parameters"];
    assert_eq!(missing["access_token"][0], "this field is required");
    assert_eq!(missing["developer_key"][0], "this field is required");
    assert!(
        statuses[4]["result"].as_str().unwrap().contains("blocked"),
        "{}",
        statuses[4]
    );
    assert_no_secrets(&drake, &statuses, &[DEV_KEY, "expired-token"]);
}

// ---- Facebook ------------------------------------------------------------

const FB_TOKEN: &str = "EAAB-secret-page-token";
const APP_SECRET: &str = "fb-secret-app-secret";
/// The fake's chunk size: the 120 KB video takes four.
const FB_CHUNK: usize = 30_000;

#[derive(Default)]
struct Facebook {
    size: usize,
    received: Vec<u8>,
    /// Transfers to answer 503 (the first of the second chunk).
    fail_second_chunk: bool,
    /// Drop the connection on the third chunk, once.
    drop_third_chunk: bool,
    transfers: Vec<usize>,
    finished: Option<(String, String)>,
    violations: Vec<String>,
}

fn hmac_hex(key: &str, message: &str) -> String {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A minimal multipart/form-data parser: name → bytes (and the file part's
/// content type).
fn multipart(content_type: &str, body: &[u8]) -> HashMap<String, (Option<String>, Vec<u8>)> {
    let mut parts = HashMap::new();
    let Some(boundary) = content_type.split("boundary=").nth(1) else {
        return parts;
    };
    let delimiter = format!("--{boundary}");
    let d = delimiter.as_bytes();
    let mut positions = Vec::new();
    let mut i = 0;
    while i + d.len() <= body.len() {
        if &body[i..i + d.len()] == d {
            positions.push(i);
            i += d.len();
        } else {
            i += 1;
        }
    }
    for pair in positions.windows(2) {
        let part = &body[pair[0] + d.len()..pair[1]];
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let Some(split) = part.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&part[..split]).into_owned();
        let content = part[split + 4..]
            .strip_suffix(b"\r\n")
            .unwrap_or(&part[split + 4..]);
        let name = head
            .split("name=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("")
            .to_owned();
        let ct = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Type: "))
            .map(str::to_owned);
        parts.insert(name, (ct, content.to_vec()));
    }
    parts
}

async fn facebook_videos(
    State(fb): State<Shared<Facebook>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = header_str(&headers, "content-type").to_owned();
    let fields: HashMap<String, (Option<String>, Vec<u8>)> =
        if content_type.starts_with("multipart/form-data") {
            multipart(&content_type, &body)
        } else {
            url::form_urlencoded::parse(&body)
                .map(|(k, v)| (k.into_owned(), (None, v.as_bytes().to_vec())))
                .collect()
        };
    let text = |k: &str| {
        fields
            .get(k)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default()
    };
    let mut fb = fb.lock().unwrap();
    if text("access_token") != FB_TOKEN || text("appsecret_proof") != hmac_hex(APP_SECRET, FB_TOKEN)
    {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": {"message": "Invalid OAuth access token.",
                                        "type": "OAuthException", "code": 190}})),
        )
            .into_response();
    }
    let next = |at: usize, size: usize| json!({"start_offset": at.to_string(), "end_offset": (at + FB_CHUNK).min(size).to_string()});
    match text("upload_phase").as_str() {
        "start" => {
            if text("file_size") != fb.size.to_string() {
                fb.violations
                    .push(format!("file_size {}", text("file_size")));
            }
            let mut answer = next(0, fb.size);
            answer["video_id"] = json!("10153231379946729");
            answer["upload_session_id"] = json!("2257231394567");
            axum::Json(answer).into_response()
        }
        "transfer" => {
            let start: usize = text("start_offset").parse().unwrap_or(usize::MAX);
            if text("upload_session_id") != "2257231394567" || start != fb.received.len() {
                fb.violations.push(format!("transfer at {start}"));
                return StatusCode::BAD_REQUEST.into_response();
            }
            let Some((ct, chunk)) = fields.get("video_file_chunk") else {
                fb.violations.push("no video_file_chunk".into());
                return StatusCode::BAD_REQUEST.into_response();
            };
            if ct.as_deref() != Some("video/mp4") || chunk.len() != FB_CHUNK.min(fb.size - start) {
                fb.violations
                    .push(format!("chunk {ct:?} of {}", chunk.len()));
            }
            fb.transfers.push(start);
            if start == FB_CHUNK && fb.fail_second_chunk {
                fb.fail_second_chunk = false;
                return (StatusCode::INTERNAL_SERVER_ERROR, "try again").into_response();
            }
            if start == 2 * FB_CHUNK && fb.drop_third_chunk {
                fb.drop_third_chunk = false;
                drop(fb);
                drop_connection();
            }
            fb.received.extend_from_slice(chunk);
            let at = fb.received.len();
            axum::Json(next(at, fb.size)).into_response()
        }
        "finish" => {
            if fb.received.len() != fb.size {
                fb.violations.push("finish before the end".into());
            }
            fb.finished = Some((text("title"), text("description")));
            axum::Json(json!({"success": true})).into_response()
        }
        other => {
            fb.violations.push(format!("phase {other:?}"));
            StatusCode::BAD_REQUEST.into_response()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facebook_chunked_upload_resends_failed_chunks() {
    let video = video();
    let fb = Arc::new(Mutex::new(Facebook {
        size: video.len(),
        fail_second_chunk: true,
        drop_third_chunk: true,
        ..Facebook::default()
    }));
    let base = serve(
        axum::Router::new()
            .route("/v19.0/me/videos", axum::routing::post(facebook_videos))
            .with_state(fb.clone()),
    )
    .await;
    let drake = Drake::start_with(drake_options(&format!(
        "[upload]\nfacebook_base_url = \"{base}\"\n"
    )))
    .await;
    let fx = Fixtures::start().await;
    let url = fx.add("clip.mp4", "video/mp4", video.clone());
    let def = |token: &str| {
        json!({"task_name": "video.upload.fb", "url": url, "api_key": "1234567890",
               "app_secret": APP_SECRET, "access_token": token,
               "title": "Un titre", "description": "Une description"})
    };
    let statuses = drake
        .create(json!([def(FB_TOKEN), def("EAAB-expired")]), true)
        .await;
    let s = &statuses[0];
    assert_eq!(s["status"], "success", "{s}");
    assert_eq!(
        s["result"]["output"],
        "https://www.facebook.com/video.php?v=10153231379946729"
    );
    assert_eq!(s["result"]["duration"], 4.0);
    assert_eq!(
        statuses[1]["result"]["parameters"]["access_token"][0],
        "Facebook refused the credentials (HTTP 400): Invalid OAuth access token."
    );
    let fb = fb.lock().unwrap();
    assert!(fb.violations.is_empty(), "{:?}", fb.violations);
    assert_eq!(fb.received, video, "the platform got the exact file");
    // Every chunk once, the failed and the dropped ones twice.
    let chunks = video.len().div_ceil(FB_CHUNK);
    let mut expected: Vec<usize> = (0..chunks).map(|i| i * FB_CHUNK).collect();
    expected.insert(2, FB_CHUNK);
    expected.insert(4, 2 * FB_CHUNK);
    assert_eq!(fb.transfers, expected);
    assert_eq!(
        fb.finished,
        Some(("Un titre".to_owned(), "Une description".to_owned()))
    );
    drop(fb);
    assert_no_secrets(&drake, &statuses, &[FB_TOKEN, APP_SECRET, "EAAB-expired"]);
}

// ---- Vimeo ---------------------------------------------------------------

const CONSUMER_SECRET: &str = "vimeo-secret-consumer";
const TOKEN_SECRET: &str = "vimeo-secret-token";

#[derive(Default)]
struct Vimeo {
    /// The API URL calls are signed for.
    base: String,
    /// Where tickets send the bytes (the streaming fake).
    upload_base: String,
    free: u64,
    calls: Vec<String>,
    titles: Vec<(String, String)>,
    violations: Vec<String>,
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Check an OAuth 1.0a HMAC-SHA1 signature (RFC 5849 §3.4), written
/// independently of the task's.
fn oauth_valid(url: &str, authorization: &str, form: &[(String, String)]) -> bool {
    use base64::Engine as _;
    use hmac::Mac as _;
    let Some(fields) = authorization.strip_prefix("OAuth ") else {
        return false;
    };
    let mut oauth: Vec<(String, String)> = fields
        .split(", ")
        .filter_map(|f| {
            let (k, v) = f.split_once('=')?;
            let v = v.trim_matches('"');
            let v = percent_encoding_decode(v);
            Some((k.to_owned(), v))
        })
        .collect();
    let Some(at) = oauth.iter().position(|(k, _)| k == "oauth_signature") else {
        return false;
    };
    let given = oauth.remove(at).1;
    let token_ok = oauth
        .iter()
        .any(|(k, v)| k == "oauth_token" && v == "vimeo-token")
        && oauth
            .iter()
            .any(|(k, v)| k == "oauth_consumer_key" && v == "vimeo-consumer");
    let mut all: Vec<(String, String)> = oauth
        .iter()
        .chain(form)
        .map(|(k, v)| (percent_encode(k), percent_encode(v)))
        .collect();
    all.sort();
    let params = all
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let base = format!("POST&{}&{}", percent_encode(url), percent_encode(&params));
    let key = format!(
        "{}&{}",
        percent_encode(CONSUMER_SECRET),
        percent_encode(TOKEN_SECRET)
    );
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(base.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    token_ok && given == expected
}

fn percent_encoding_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

async fn vimeo_api(State(vm): State<Shared<Vimeo>>, headers: HeaderMap, body: Bytes) -> Response {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut vm = vm.lock().unwrap();
    let url = format!("{}/api/rest/v2", vm.base);
    if !oauth_valid(&url, header_str(&headers, "authorization"), &form) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"generated_in": "0.01", "stat": "fail",
                              "err": {"code": "401", "expl": "The oauth_signature passed was not valid.",
                                      "msg": "Invalid signature"}})),
        )
            .into_response();
    }
    let method = get("method");
    vm.calls.push(method.clone());
    if get("format") != "json" {
        vm.violations.push("format".into());
    }
    let answer = match method.as_str() {
        "vimeo.videos.upload.getQuota" => json!({"stat": "ok", "user": {"id": "1", "upload_space":
            {"free": vm.free.to_string(), "max": "5368709120", "used": "0"}}}),
        "vimeo.videos.upload.getTicket" => {
            if get("upload_method") != "streaming" {
                vm.violations.push("upload_method".into());
            }
            json!({"stat": "ok", "ticket": {"id": "s1", "endpoint": format!("{}/upload/session/s1", vm.upload_base),
                                            "max_file_size": "26843545600"}})
        }
        "vimeo.videos.upload.complete" => {
            if get("ticket_id") != "s1" || get("filename") != "video.mp4" {
                vm.violations.push("complete".into());
            }
            json!({"stat": "ok", "ticket": {"id": "s1", "video_id": "76979871"}})
        }
        "vimeo.videos.setTitle" => {
            let title = get("title");
            vm.titles.push((get("video_id"), title));
            json!({"stat": "ok"})
        }
        "vimeo.videos.setDescription" => {
            let description = get("description");
            vm.titles.push((get("video_id"), description));
            json!({"stat": "ok"})
        }
        other => {
            vm.violations.push(format!("method {other}"));
            json!({"stat": "fail", "err": {"code": "1", "msg": "unknown method"}})
        }
    };
    axum::Json(answer).into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vimeo_signed_calls_and_a_verified_streaming_upload() {
    let video = video();
    let vm = Arc::new(Mutex::new(Vimeo {
        free: 1 << 30,
        ..Vimeo::default()
    }));
    // The streaming endpoint: the YouTube fake's session PUTs, open.
    let (stream, stream_base) = youtube_fake(YouTube {
        drop_after: Some(video.len() / 2),
        open_puts: true,
        ..YouTube::default()
    })
    .await;
    {
        let mut s = stream.lock().unwrap();
        s.declared.insert("s1".into(), video.len() as u64);
        s.received.insert("s1".into(), Vec::new());
    }
    let api_base = serve(
        axum::Router::new()
            .route("/api/rest/v2", axum::routing::post(vimeo_api))
            .with_state(vm.clone()),
    )
    .await;
    vm.lock().unwrap().base = api_base.clone();
    vm.lock().unwrap().upload_base = stream_base;
    let drake = Drake::start_with(drake_options(&format!(
        "[upload]\nvimeo_base_url = \"{api_base}\"\n"
    )))
    .await;
    let fx = Fixtures::start().await;
    let url = fx.add("clip.mp4", "video/mp4", video.clone());
    let def = |secret: &str| {
        json!({"task_name": "video.upload.vimeo", "url": url, "title": "A title",
               "description": "A description", "consumer_key": "vimeo-consumer",
               "consumer_secret": CONSUMER_SECRET, "access_token_key": "vimeo-token",
               "access_token_secret": secret})
    };
    let statuses = drake
        .create(json!([def(TOKEN_SECRET), def("wrong-secret")]), true)
        .await;
    let s = &statuses[0];
    assert_eq!(s["status"], "success", "{s}");
    assert_eq!(s["result"]["output"], "https://vimeo.com/76979871");
    assert_eq!(s["result"]["free_space"], 1u64 << 30);
    assert_eq!(s["result"]["uploaded_file_size"], video.len());
    assert_eq!(
        statuses[1]["result"]["parameters"]["access_token_key"][0],
        "Vimeo refused the credentials (HTTP 401): Invalid signature"
    );
    let vm = vm.lock().unwrap();
    assert!(vm.violations.is_empty(), "{:?}", vm.violations);
    assert_eq!(
        vm.calls,
        [
            "vimeo.videos.upload.getQuota",
            "vimeo.videos.upload.getTicket",
            "vimeo.videos.upload.complete",
            "vimeo.videos.setTitle",
            "vimeo.videos.setDescription"
        ]
    );
    assert_eq!(
        vm.titles,
        [
            ("76979871".to_owned(), "A title".to_owned()),
            ("76979871".to_owned(), "A description".to_owned())
        ]
    );
    drop(vm);
    let stream = stream.lock().unwrap();
    assert!(stream.violations.is_empty(), "{:?}", stream.violations);
    assert_eq!(
        stream.received["s1"], video,
        "the platform got the exact file"
    );
    drop(stream);
    assert_no_secrets(
        &drake,
        &statuses,
        &[CONSUMER_SECRET, TOKEN_SECRET, "wrong-secret"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_cannot_send_the_upload_to_a_private_address() {
    // The session URL points at the cloud metadata service: the task's
    // wasi:http request is refused by the network policy, like a fetch.
    let base = serve(axum::Router::new().route(
        "/upload/youtube/v3/videos",
        axum::routing::post(|| async {
            (
                StatusCode::OK,
                [(header::LOCATION, "http://169.254.169.254/latest/meta-data/")],
            )
        }),
    ))
    .await;
    let drake = Drake::start_with(drake_options(&format!(
        "[upload]\nyoutube_base_url = \"{base}\"\n"
    )))
    .await;
    let fx = Fixtures::start().await;
    let clip = fx.add("clip.mp4", "video/mp4", video());
    let statuses = drake
        .create(
            json!({"task_name": "video.upload.youtube", "url": clip, "access_token": TOKEN,
                   "developer_key": DEV_KEY, "title": "t"}),
            true,
        )
        .await;
    assert_eq!(statuses[0]["status"], "error");
    assert_eq!(
        statuses[0]["result"],
        "YouTube: uploading: blocked by the network policy"
    );
    assert_no_secrets(&drake, &statuses, &[TOKEN, DEV_KEY]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_answers_get_the_fetch_policy_redirects_and_cap() {
    // wasi:http answers a redirect to the component (which must not
    // follow it by itself) and caps bodies like fetch (1 MB here).
    let followed = Arc::new(Mutex::new(false));
    let flag = followed.clone();
    let app = axum::Router::new()
        .route(
            "/upload/youtube/v3/videos",
            axum::routing::post(|body: Bytes| async move {
                let metadata: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                match metadata["snippet"]["title"].as_str() {
                    Some("redirect") => {
                        (StatusCode::FOUND, [(header::LOCATION, "/elsewhere")]).into_response()
                    }
                    _ => vec![b'x'; 2_000_000].into_response(),
                }
            }),
        )
        .route(
            "/elsewhere",
            axum::routing::any(move || async move {
                *flag.lock().unwrap() = true;
                (StatusCode::OK, [(header::LOCATION, "/upload/session/s1")])
            }),
        );
    let base = serve(app).await;
    let drake = Drake::start_with(Options {
        fetch: "max_bytes = 1000000".into(),
        ..drake_options(&format!("[upload]\nyoutube_base_url = \"{base}\"\n"))
    })
    .await;
    let fx = Fixtures::start().await;
    let clip = fx.add("clip.mp4", "video/mp4", video());
    let def = |title: &str| {
        json!({"task_name": "video.upload.youtube", "url": clip, "access_token": TOKEN,
               "developer_key": DEV_KEY, "title": title})
    };
    let statuses = drake
        .create(json!([def("redirect"), def("huge")]), true)
        .await;
    assert_eq!(
        statuses[0]["result"],
        "YouTube: starting the upload failed (HTTP 302)"
    );
    assert!(!*followed.lock().unwrap(), "the redirect was followed");
    assert_eq!(
        statuses[1]["result"],
        "YouTube: starting the upload: the response is larger than the limit"
    );
}
