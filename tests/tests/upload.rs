//! The `video.upload.*` tasks against local fakes of each platform's API
//! (`[upload] *_base_url` points at them): the fakes check method, path,
//! headers, auth, body and resumable offsets, and inject failures (5xx, a
//! connection dropped mid-upload, a bad token).
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use common::{Drake, Fixtures, Options};
use serde_json::{Value, json};

const TOKEN: &str = "ya29.secret-access-token";
const DEV_KEY: &str = "AIza-secret-developer-key";

/// A small real video (H.264 + AAC in MP4, ~300 KB).
fn video() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.mp4");
    let status = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc=size=320x240:rate=25:duration=4")
        .args(["-f", "lavfi", "-i", "sine=frequency=330:duration=4"])
        .args([
            "-c:v", "libx264", "-b:v", "500k", "-pix_fmt", "yuv420p", "-c:a", "aac",
        ])
        .arg(&path)
        .status()
        .expect("ffmpeg is installed by `make test`");
    assert!(status.success());
    std::fs::read(path).unwrap()
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
    if let Some(refused) = youtube_auth(&headers) {
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
        if !body.is_empty() {
            yt.violations.push("status query with a body".into());
        }
        return if have == total {
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
