//! Tenant isolation (issue 21): what one account's tasks may take from the
//! node is bounded by the host, whatever the task asks for.
#![allow(clippy::unwrap_used, reason = "tests: a failure is a panic")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::header;
use axum::response::IntoResponse;
use futures::StreamExt as _;
use serde_json::json;

use common::Drake;

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
