//! `cargo bench -p drake-tests --bench api` (or `make bench`): the
//! foundation's figures, each printed next to a peer measured in the same
//! run on the same machine.
//!
//! 1. p50 latency of `POST /v1/create` with `block: true` for `image.info`
//!    on a small PNG, against the peer "GET the same PNG from the same
//!    fixture server" (the fetch the task itself makes): the difference is
//!    drake's overhead (goal ≤ 1 ms).
//! 2. Component instantiation (fresh store + instance), p50 and p99.
//! 3. `image.info` tasks per second with 2 workers (1,000 tasks).
//! 4. Cancellation: request to a running task's final status.
//! 5. Dispatch: this disk's fsync (measured here, to subtract from 1), and
//!    the commits 64 creates in flight share (`drake_store_commits_total`).
//! 6. Fairness: another account's image.info latency, idle and while one
//!    account has 500 `video.convert` of a 30 s 720p clip queued (goal:
//!    loaded p50 ≤ 3× idle p50).
#![allow(clippy::unwrap_used, reason = "benchmark")]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Drake, Fixtures, SECRET};
use serde_json::json;

/// Samples per latency figure: enough for a stable median on 2 cores.
const SAMPLES: usize = 300;
/// Tasks for the throughput figure.
const THROUGHPUT_TASKS: usize = 1000;

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    // The test configuration runs 2 workers.
    let drake = Drake::start().await;
    let fx = Fixtures::start().await;
    let url = fx.add("small.png", "image/png", common::png(64, 48));
    let client = common::client();

    // Warm up both paths (connections, AOT cache, SQLite pages).
    for _ in 0..20 {
        client
            .get(&url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        drake
            .post("/v1/create", json!({"secret": SECRET, "block": true, "tasks": {"task_name": "image.info", "url": url}}))
            .await;
    }

    // 1. Latency against the bare fetch.
    let mut fetch = Vec::with_capacity(SAMPLES);
    let mut create = Vec::with_capacity(SAMPLES);
    let body =
        json!({"secret": SECRET, "block": true, "tasks": {"task_name": "image.info", "url": url}})
            .to_string();
    for _ in 0..SAMPLES {
        let t = Instant::now();
        client
            .get(&url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        fetch.push(t.elapsed());
        let t = Instant::now();
        let r = client
            .post(format!("{}/v1/create", drake.url))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let text = r.text().await.unwrap();
        create.push(t.elapsed());
        assert!(text.contains("\"success\""), "{text}");
    }
    let (f50, c50) = (percentile(&mut fetch, 0.5), percentile(&mut create, 0.5));
    let (create50, c99) = (c50, percentile(&mut create, 0.99));
    println!(
        "create+block image.info p50: {:.3} ms (p99 {:.3} ms)",
        ms(c50),
        ms(c99)
    );
    println!("peer: direct fetch of the same PNG p50: {:.3} ms", ms(f50));
    println!(
        "drake overhead beyond the fetch p50: {:.3} ms (goal <= 1 ms); ratio {:.2}x",
        ms(c50.saturating_sub(f50)),
        c50.as_secs_f64() / f50.as_secs_f64()
    );

    // 2. Instantiation, in-process with the same engine configuration.
    let config = drake_host::config::Config {
        components_dir: Some(common::components_dir()),
        data_dir: drake.data.clone(),
        test_tasks: true,
        ..Default::default()
    };
    let engine = drake_host::app::engine(&config).await.unwrap();
    let mut inst = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        inst.push(engine.time_instantiation("image.info").await.unwrap());
    }
    let (i50, i99) = (percentile(&mut inst, 0.5), percentile(&mut inst, 0.99));
    println!(
        "instantiation (new store + instance) p50: {:.1} us, p99: {:.1} us",
        i50.as_secs_f64() * 1e6,
        i99.as_secs_f64() * 1e6
    );

    // 3. Throughput with 2 workers.
    let t = Instant::now();
    let mut keys = Vec::with_capacity(THROUGHPUT_TASKS);
    for _ in 0..THROUGHPUT_TASKS / 100 {
        let tasks: Vec<_> = (0..100)
            .map(|_| json!({"task_name": "image.info", "url": url}))
            .collect();
        for s in drake.create(json!(tasks), false).await {
            keys.push(s["key"].as_str().unwrap().to_owned());
        }
    }
    for chunk in keys.chunks(100) {
        let (code, body) = drake
            .post("/v1/status", json!({"tasks": chunk, "block": true}))
            .await;
        assert_eq!(code, 200);
        assert!(
            body.as_array()
                .unwrap()
                .iter()
                .all(|s| s["status"] == "success"),
            "{body}"
        );
    }
    let elapsed = t.elapsed();
    println!(
        "image.info throughput, 2 workers: {:.0} tasks/s ({THROUGHPUT_TASKS} tasks in {:.2} s)",
        THROUGHPUT_TASKS as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );

    // 4. Cancellation: from `POST /v1/cancel` to the running task's final
    //    status (the answer of a blocking cancel).
    let mut cancels = Vec::with_capacity(10);
    for _ in 0..10 {
        let key = drake
            .create(
                json!({"task_name": "test.hostile", "mode": "sleep", "ms": 60_000}),
                false,
            )
            .await[0]["key"]
            .as_str()
            .unwrap()
            .to_owned();
        drake.wait_until_executing(&key).await;
        let t = Instant::now();
        let (code, body) = drake
            .post(
                "/v1/cancel",
                json!({"secret": common::SECRET, "tasks": [key], "block": true}),
            )
            .await;
        cancels.push(t.elapsed());
        assert_eq!(code, 200);
        assert_eq!(body[0]["status"], "error", "{body}");
    }
    let (c50, c99) = (
        percentile(&mut cancels, 0.5),
        percentile(&mut cancels, 0.99),
    );
    println!(
        "cancel of a running task, request to final status p50: {:.1} ms, p99: {:.1} ms",
        c50.as_secs_f64() * 1e3,
        c99.as_secs_f64() * 1e3
    );

    dispatch(&drake, &url, f50, create50).await;
    fairness(&fx, &url).await;
}

/// Section 5: the fsync an acknowledged create needs, measured on the
/// server's data disk, subtracted from the create overhead; then the
/// commits 64 concurrent creates share.
async fn dispatch(drake: &Drake, url: &str, fetch50: Duration, create50: Duration) {
    let path = drake.data.join("fsync-probe");
    let mut syncs = Vec::with_capacity(100);
    for i in 0..100u8 {
        let t = Instant::now();
        let mut f = std::fs::File::create(&path).unwrap();
        std::io::Write::write_all(&mut f, &[i; 512]).unwrap();
        f.sync_all().unwrap();
        syncs.push(t.elapsed());
    }
    let _ = std::fs::remove_file(&path);
    let sync50 = percentile(&mut syncs, 0.5);
    println!(
        "peer: this disk's fsync (512-byte write) p50: {:.3} ms",
        ms(sync50)
    );
    println!(
        "drake overhead beyond the fetch and one fsync p50: {:.3} ms (goal <= 1 ms)",
        ms(create50.saturating_sub(fetch50).saturating_sub(sync50))
    );
    let commits = || async {
        let text = drake.get("/metrics").await.text().await.unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("drake_store_commits_total "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap()
    };
    // 64 keep-alive connections opened first, so the creates are in
    // flight together rather than spread by connection set-up.
    let client = reqwest::Client::new();
    let open = (0..64).map(|_| client.get(format!("{}/healthz", drake.url)).send());
    for r in futures::future::join_all(open).await {
        r.unwrap().bytes().await.unwrap();
    }
    let before = commits().await;
    let body = json!({"secret": SECRET, "tasks": {"task_name": "image.info", "url": url}});
    let creates = (0..64).map(|_| {
        client
            .post(format!("{}/v1/create", drake.url))
            .body(body.to_string())
            .send()
    });
    for r in futures::future::join_all(creates).await {
        assert_eq!(r.unwrap().status(), 200);
    }
    let used = commits().await - before;
    println!(
        "64 concurrent creates: {used} commits ({:.2} fsyncs per task; goal well below 1)",
        used as f64 / 64.0
    );
}

/// Section 6: an idle account's image.info, alone and beside another
/// account's backlog of 500 renders.
async fn fairness(fx: &Fixtures, png: &str) {
    let drake = Drake::start_with(common::Options {
        tables: "[[accounts]]\nname = \"other\"\nsecret = \"other-secret\"\n".into(),
        ..Default::default()
    })
    .await;
    let media = tempfile::tempdir().unwrap();
    let clip = common::ffmpeg_make(
        media.path(),
        "clip.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=30:duration=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=30",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
        ],
    );
    let clip_url = fx.add("clip.mp4", "video/mp4", clip);
    let other = json!({"secret": "other-secret", "block": true,
                       "tasks": {"task_name": "image.info", "url": png}})
    .to_string();
    let client = common::client();
    let sample = |n: usize| {
        let (client, other, base) = (client.clone(), other.clone(), drake.url.clone());
        async move {
            let mut times = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                let text = client
                    .post(format!("{base}/v1/create"))
                    .body(other.clone())
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                times.push(t.elapsed());
                assert!(text.contains("\"success\""), "{text}");
            }
            times
        }
    };
    sample(10).await;
    let mut idle = sample(60).await;
    let mut keys = Vec::with_capacity(500);
    for _ in 0..5 {
        let tasks: Vec<_> = (0..100)
            .map(|_| json!({"task_name": "video.convert", "url": clip_url}))
            .collect();
        for s in drake.create(json!(tasks), false).await {
            keys.push(s["key"].as_str().unwrap().to_owned());
        }
    }
    drake.wait_until_executing(&keys[0]).await;
    drake.wait_until_executing(&keys[1]).await;
    let mut loaded = sample(60).await;
    let (_, statuses) = drake
        .post("/v1/status", json!({"tasks": &keys[..10]}))
        .await;
    let running = statuses
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "executing")
        .count();
    for chunk in keys.chunks(100) {
        drake
            .post("/v1/cancel", json!({"secret": SECRET, "tasks": chunk}))
            .await;
    }
    let (i50, i99) = (percentile(&mut idle, 0.5), percentile(&mut idle, 0.99));
    let (l50, l99) = (percentile(&mut loaded, 0.5), percentile(&mut loaded, 0.99));
    println!(
        "another account's image.info, idle server: p50 {:.1} ms, p99 {:.1} ms",
        ms(i50),
        ms(i99)
    );
    println!(
        "the same beside 500 queued video.convert (30 s 720p; {running} rendering): \
         p50 {:.1} ms, p99 {:.1} ms; ratio p50 {:.2}x, p99 {:.2}x (goal: p50 <= 3x)",
        ms(l50),
        ms(l99),
        l50.as_secs_f64() / i50.as_secs_f64(),
        l99.as_secs_f64() / i99.as_secs_f64()
    );
}
