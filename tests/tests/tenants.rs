//! Tenant isolation (issue 21): what one account's tasks may take from the
//! node is bounded by the host, whatever the task asks for; accounts take
//! turns; a flood loses nothing through a kill. The short form runs with
//! `make test` (a 1,000-task flood); `DRAKE_RELIABILITY=long`
//! (`tests/reliability.sh`) floods 10,000. Cancelling mid-ffmpeg and slow
//! clients are in api.rs (`cancel_ends_queued_and_running_tasks`,
//! `slow_and_surplus_connections_are_closed`).
#![allow(clippy::unwrap_used, reason = "tests: a failure is a panic")]

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::header;
use axum::response::IntoResponse;
use futures::StreamExt as _;
use serde_json::json;

use crate::common::Drake;

/// Bytes of each asset of the finding-1 timeline: a long WAV.
const ASSET_BYTES: u64 = 100 << 20;

/// A WAV header (16-bit mono 48 kHz) announcing `len` bytes in all.
fn wav_header(len: u64) -> Vec<u8> {
    let data = u32::try_from(len - 44).unwrap();
    let mut h = Vec::with_capacity(44);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(data + 36).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes()); // PCM
    h.extend_from_slice(&1u16.to_le_bytes()); // mono
    h.extend_from_slice(&48_000u32.to_le_bytes());
    h.extend_from_slice(&96_000u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&16u16.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data.to_le_bytes());
    h
}

/// Serves `/wav/<n>`: a 100 MiB WAV streamed from a header and silence
/// (nothing held), with its length announced for even `n` and not for odd
/// ones (a chunked body the host must cut off itself). Counts the bytes it
/// sent.
async fn wav_server() -> (String, Arc<AtomicU64>) {
    let sent = Arc::new(AtomicU64::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let serve = |State(sent): State<Arc<AtomicU64>>, UrlPath(n): UrlPath<u32>| async move {
        const CHUNK: u64 = 256 << 10;
        let header = bytes::Bytes::from(wav_header(ASSET_BYTES));
        let parts = futures::stream::iter(0..ASSET_BYTES.div_ceil(CHUNK)).map(move |i| {
            let len = CHUNK.min(ASSET_BYTES - i * CHUNK);
            let part = if i == 0 {
                let mut first = header.to_vec();
                first.resize(len as usize, 0);
                bytes::Bytes::from(first)
            } else {
                bytes::Bytes::from(vec![0u8; len as usize])
            };
            sent.fetch_add(len, Ordering::Relaxed);
            Ok::<_, std::io::Error>(part)
        });
        let mut response = Body::from_stream(parts).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, "audio/wav".parse().unwrap());
        if n % 2 == 0 {
            headers.insert(header::CONTENT_LENGTH, ASSET_BYTES.into());
        }
        response
    };
    let router = axum::Router::new()
        .route("/wav/{n}", axum::routing::get(serve))
        .with_state(sent.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (base, sent)
}

/// Finding 1: a timeline of twenty 100 MiB assets. Before budgets the host
/// held every download in memory (2.26 GiB RSS) and copied each to
/// scratch. Now downloads stream to the run's scratch, the run ends in a
/// limit error naming `budgets.fetch_bytes` once it has downloaded 1 GiB,
/// the host's peak RSS stays under 1 GiB, and the scratch is empty again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeline_of_huge_assets_ends_at_the_fetch_budget_in_bounded_memory() {
    let scratch = tempfile::tempdir().unwrap();
    let drake = Drake::start_with(common::Options {
        tables: format!("[ffmpeg]\nscratch_dir = \"{}\"\n", scratch.path().display()),
        ..Default::default()
    })
    .await;
    let (base, sent) = wav_server().await;
    let assets: String = (0..20)
        .map(|n| format!(r#"<audio filename="{base}/wav/{n}"/>"#))
        .collect();
    let definition = format!(
        r##"<movie service="craftsman-1.0"><body><stack duration="2">
          <effect type="none"><image color="#000000"/></effect>{assets}
        </stack></body></movie>"##
    );
    let statuses = drake
        .create(
            json!([{"task_name": "video.create", "definition": definition}]),
            true,
        )
        .await;
    let status = &statuses[0];
    assert_eq!(status["status"], "error", "{status}");
    let message = status["result"].as_str().unwrap_or_default();
    assert!(
        message.contains("budgets.fetch_bytes") && message.contains("1 GiB"),
        "{status}"
    );
    // Streaming stopped at the budget: the server sent at most the budget
    // plus what was in flight when the host cut the download off.
    let served = sent.load(Ordering::Relaxed);
    assert!(
        served < (1 << 30) + (64 << 20),
        "served {} MiB",
        served >> 20
    );
    // Ten assets came whole (1000 MiB); the eleventh announced a length
    // past the budget and was refused before its body was read.
    let bytes_in = status["usage"]["bytes_in"].as_u64().unwrap();
    assert!((900 << 20..=1 << 30).contains(&bytes_in), "{status}");
    let peak = common::peak_rss(drake.pid().unwrap());
    assert!(peak < 1 << 30, "host peak RSS {} MiB", peak >> 20);
    let left: Vec<_> = std::fs::read_dir(scratch.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "scratch left behind: {left:?}");
    eprintln!(
        "finding 1: served {} MiB, host peak RSS {} MiB",
        served >> 20,
        peak >> 20
    );
}

/// Accounts beside the harness's `test`: `other` (an idle tenant) and
/// `capped` (one task running at once, three queued).
fn tenants() -> common::Options {
    common::Options {
        tables: r#"
[[accounts]]
name = "other"
secret = "other-secret"

[[accounts]]
name = "capped"
secret = "capped-secret"
max_running = 1
max_queued = 3
"#
        .into(),
        ..Default::default()
    }
}

fn sleeps(n: usize, ms: u64) -> serde_json::Value {
    (0..n)
        .map(|i| json!({"task_name": "test.hostile", "mode": "sleep", "ms": ms + i as u64}))
        .collect()
}

/// Claims take turns between accounts: while `test` has a backlog filling
/// every worker, `other`'s task starts at once (the spare slot is for
/// accounts with nothing running) and ends long before the backlog does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_accounts_backlog_does_not_hold_a_task_back() {
    let drake = Drake::start_with(tenants()).await;
    let backlog = drake.create(sleeps(20, 1000), false).await;
    drake
        .wait_until_executing(backlog[0]["key"].as_str().unwrap())
        .await;
    let (code, done) = drake
        .post(
            "/v1/create",
            json!({"secret": "other-secret", "block": true,
                   "tasks": [{"task_name": "test.hostile", "mode": "sleep", "ms": 10}]}),
        )
        .await;
    assert_eq!(code, 200, "{done}");
    assert_eq!(done[0]["status"], "success", "{done}");
    // The backlog is 10 s of work on two workers; at most the first few
    // of its tasks can have ended by now.
    let keys: Vec<&str> = backlog.iter().map(|s| s["key"].as_str().unwrap()).collect();
    let (_, statuses) = drake.post("/v1/status", json!({"tasks": keys})).await;
    let ended = statuses
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "success")
        .count();
    assert!(ended <= 4, "{ended} of the backlog ended first");
}

/// `max_queued` refuses a create past it with 401 naming the limit;
/// `max_running` keeps the account's runs one at a time although workers
/// are free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_limits_on_queued_and_running_tasks() {
    let drake = Drake::start_with(tenants()).await;
    let create = |tasks: serde_json::Value| {
        drake.post(
            "/v1/create",
            json!({"secret": "capped-secret", "tasks": tasks}),
        )
    };
    let (code, created) = create(sleeps(3, 300)).await;
    assert_eq!(code, 200, "{created}");
    let (code, refused) = create(sleeps(2, 300)).await;
    assert_eq!(code, 401, "{refused}");
    let message = refused["errors"][0]["description"].as_str().unwrap_or("");
    assert!(message.contains("max_queued"), "{refused}");
    let keys: Vec<String> = created
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap().to_owned())
        .collect();
    common::assert_one_at_a_time(&common::finals(&drake, &keys).await);
}

/// A flood from one tenant: thousands of creates at concurrency 16 (10,000
/// in the long form), the node SIGKILLed halfway and restarted, while an
/// idle tenant's tasks keep completing. Every acknowledged task ends in
/// success; the idle tenant's blocking creates all succeed, their
/// latencies printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_through_a_kill_loses_nothing_and_starves_no_one() {
    let total = if common::long_form() { 10_000 } else { 1_000 };
    let mut drake = Drake::start_with(tenants()).await;
    let flood = |drake: &Drake, n: usize| {
        let url = drake.url.clone();
        async move {
            let client = reqwest::Client::new();
            let batches = (0..n / 20).map(|b| {
                let (client, url) = (client.clone(), url.clone());
                async move {
                    let tasks = sleeps(20, 5 + b as u64 % 7);
                    let body = json!({"secret": common::SECRET, "tasks": tasks});
                    let r = client
                        .post(format!("{url}/v1/create"))
                        .body(body.to_string())
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                    let statuses: serde_json::Value = r.json().await.unwrap();
                    statuses
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| s["key"].as_str().unwrap().to_owned())
                        .collect::<Vec<_>>()
                }
            });
            futures::stream::iter(batches)
                .buffer_unordered(16)
                .concat()
                .await
        }
    };
    let other = |drake: &Drake| {
        let drake_url = drake.url.clone();
        async move {
            let started = std::time::Instant::now();
            let r = reqwest::Client::new()
                .post(format!("{drake_url}/v1/create"))
                .body(
                    json!({"secret": "other-secret", "block": true,
                       "tasks": [{"task_name": "test.hostile", "mode": "sleep", "ms": 5}]})
                    .to_string(),
                )
                .send()
                .await
                .unwrap();
            let statuses: serde_json::Value = r.json().await.unwrap();
            assert_eq!(statuses[0]["status"], "success", "{statuses}");
            started.elapsed()
        }
    };
    // Half the flood, the idle tenant beside it, then a kill mid-backlog.
    let (mut keys, first) = tokio::join!(flood(&drake, total / 2), other(&drake));
    drake.kill9();
    drake.spawn().await;
    let (more, second) = tokio::join!(flood(&drake, total / 2), other(&drake));
    keys.extend(more);
    assert_eq!(keys.len(), total);
    let statuses = common::finals(&drake, &keys).await;
    let lost: Vec<_> = statuses
        .iter()
        .filter(|s| s["status"] != "success")
        .collect();
    assert!(
        lost.is_empty(),
        "{} not successful: {:?}",
        lost.len(),
        lost.first()
    );
    eprintln!(
        "flood of {total} through a kill: none lost; the idle tenant's task took {:.0} ms, then {:.0} ms",
        first.as_secs_f64() * 1e3,
        second.as_secs_f64() * 1e3
    );
}
