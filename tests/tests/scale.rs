//! Several `drake serve` nodes on one Postgres (started by the harness, or
//! the server at `DATABASE_URL`) and one shared output store (a data
//! directory, or an S3 bucket on a moto server the harness starts): tasks
//! created on any node run exactly once, `block` and the status streams on
//! one node see work done by another, a node killed mid-run loses nothing
//! (its leases expire and another node runs its tasks), and expired tasks
//! are deleted once, with their files, and 404 on every node.
#![allow(clippy::unwrap_used, reason = "tests: a failure is a panic")]

use crate::common;

use std::collections::HashSet;
use std::time::Duration;

use drake_host::store::postgres::testing;
use serde_json::{Value, json};

use crate::common::s3::S3Server;
use crate::common::{Drake, Fixtures, Options};

/// A stateless node: its own fresh data directory, tasks in `db`, files
/// in `bucket`/out on `s3` (`blobs`: more `[blobs]` keys), JSON logs.
async fn s3_node(
    db: &testing::TestDb,
    s3: &S3Server,
    bucket: &str,
    blobs: &str,
    top: &str,
) -> Drake {
    Drake::start_with(Options {
        top: top.to_owned(),
        tables: format!(
            "[store]\nurl = \"{}\"\n{}",
            db.url,
            s3.blobs_table(bucket, "out", blobs)
        ),
        json_logs: true,
        ..Options::default()
    })
    .await
}

async fn attempts(db: &testing::TestDb, key: &str) -> i64 {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query_scalar("SELECT attempt FROM tasks WHERE key = $1")
        .bind(key)
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

async fn state_of(db: &testing::TestDb, key: &str) -> String {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query_scalar("SELECT state FROM tasks WHERE key = $1")
        .bind(key)
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

async fn count_in_state(db: &testing::TestDb, state: &str) -> i64 {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query_scalar("SELECT count(*) FROM tasks WHERE state = $1")
        .bind(state)
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

async fn node(db: &testing::TestDb, data: &std::path::Path, args: &[&str]) -> Drake {
    Drake::start_with(Options {
        tables: format!("[store]\nurl = \"{}\"\n", db.url),
        data_dir: Some(data.to_path_buf()),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        ..Options::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_on_one_postgres_share_the_work_and_survive_a_kill() {
    let db = testing::database().await;
    let shared = tempfile::tempdir().unwrap();
    let fixtures = Fixtures::start().await;
    let photo = fixtures.add("p.jpg", "image/jpeg", common::jpeg(800, 600));
    let mut a = node(&db, shared.path(), &[]).await;
    let b = node(&db, shared.path(), &[]).await;

    // A task created on A, awaited with `block` on B.
    let created = a
        .create(
            json!([{"task_name": "image.thumb", "url": photo, "width": 64}]),
            false,
        )
        .await;
    let key = created[0]["key"].as_str().unwrap().to_owned();
    let done = b.wait(&key).await;
    assert_eq!(done["status"], "success", "{done}");
    let thumb = common::download(done["result"]["output"].as_str().unwrap()).await;
    assert_eq!(image::load_from_memory(&thumb).unwrap().width(), 64);

    // B's status stream follows a task created on A to its end.
    let slow = a
        .create(
            json!([{"task_name": "test.hostile", "mode": "sleep", "ms": 1500}]),
            false,
        )
        .await;
    let slow_key = slow[0]["key"].as_str().unwrap().to_owned();
    let stream = common::client()
        .get(format!("{}/v1/status_stream?tasks={slow_key}", b.url))
        .send()
        .await
        .unwrap()
        .text();
    let lines = tokio::time::timeout(Duration::from_secs(60), stream)
        .await
        .expect("the stream on B ends when A's task does")
        .unwrap();
    let last: Value = serde_json::from_str(lines.lines().last().unwrap()).unwrap();
    assert_eq!(last["status"], "success", "{lines}");

    // Forty tasks through both nodes; A is killed while they run.
    let mut keys = Vec::new();
    for i in 0..40 {
        let on = if i % 2 == 0 { &a } else { &b };
        let task = json!([{"task_name": "test.hostile", "mode": "sleep", "ms": 200 + 10 * i}]);
        let status = on.create(task, false).await;
        keys.push(status[0]["key"].as_str().unwrap().to_owned());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.kill9();
    let mut finals = Vec::new();
    for key in &keys {
        finals.push(b.wait(key).await);
    }
    for (key, status) in keys.iter().zip(&finals) {
        assert_eq!(status["status"], "success", "{key}: {status}");
    }
    let unique: HashSet<&String> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len());
    // Exactly once: no task ran more often than its lease expiries allow
    // (a task A held when it died ran again on B: attempt 2 at most).
    for key in &keys {
        let attempts = attempts(&db, key).await;
        assert!((1..=2).contains(&attempts), "{key}: {attempts} attempts");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_only_and_worker_only_nodes_split_the_work() {
    let db = testing::database().await;
    let shared = tempfile::tempdir().unwrap();
    let fixtures = Fixtures::start().await;
    let photo = fixtures.add("p.jpg", "image/jpeg", common::jpeg(400, 300));
    let api = node(&db, shared.path(), &["--api-only"]).await;
    let created = api
        .create(
            json!([{"task_name": "image.thumb", "url": photo, "width": 40}]),
            false,
        )
        .await;
    let key = created[0]["key"].as_str().unwrap().to_owned();
    // Nothing runs tasks yet.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (_, queued) = api.post("/v1/status", json!({"tasks": key})).await;
    assert_eq!(queued[0]["status"], "queued", "{queued}");

    let worker = node(&db, shared.path(), &["--worker-only"]).await;
    let done = api.wait(&key).await;
    assert_eq!(done["status"], "success", "{done}");
    // The worker answers probes, not the API.
    let http = common::client();
    let health = http
        .get(format!("{}/readyz", worker.url))
        .send()
        .await
        .unwrap();
    assert!(health.status().is_success());
    let create = http
        .post(format!("{}/v1/create", worker.url))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(create.status(), reqwest::StatusCode::NOT_FOUND);
}

/// A cancel sent to an API-only node ends the run on the worker node that
/// holds it: the blocking cancel answers with the final status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_on_one_node_ends_the_run_on_another() {
    let db = testing::database().await;
    let shared = tempfile::tempdir().unwrap();
    let api = node(&db, shared.path(), &["--api-only"]).await;
    let _worker = node(&db, shared.path(), &["--worker-only"]).await;
    let created = api
        .create(
            json!([{"task_name": "test.hostile", "mode": "sleep", "ms": 600_000}]),
            false,
        )
        .await;
    let key = created[0]["key"].as_str().unwrap().to_owned();
    api.wait_until_executing(&key).await;
    let (code, body) = api
        .post(
            "/v1/cancel",
            json!({"secret": common::SECRET, "tasks": [&key], "block": true}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body[0]["status"], "error", "{body}");
    assert!(
        body[0]["result"].as_str().unwrap().starts_with("cancelled"),
        "{body}"
    );
    assert_eq!(attempts(&db, &key).await, 1, "ended, not re-run");
}

/// `max_running` holds across nodes: one account's tasks, created on two
/// nodes with free workers, run one at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accounts_max_running_holds_across_nodes() {
    let db = testing::database().await;
    let shared = tempfile::tempdir().unwrap();
    let capped = "[[accounts]]\nname = \"capped\"\nsecret = \"capped-secret\"\nmax_running = 1\n";
    let start = || {
        Drake::start_with(Options {
            tables: format!("[store]\nurl = \"{}\"\n{capped}", db.url),
            data_dir: Some(shared.path().to_path_buf()),
            ..Options::default()
        })
    };
    let (a, b) = (start().await, start().await);
    let mut keys = Vec::new();
    for (i, on) in [&a, &b, &a, &b].into_iter().enumerate() {
        let (code, body) = on
            .post(
                "/v1/create",
                json!({"secret": "capped-secret",
                       "tasks": [{"task_name": "test.hostile", "mode": "sleep", "ms": 300 + i}]}),
            )
            .await;
        assert_eq!(code, 200, "{body}");
        keys.push(body[0]["key"].as_str().unwrap().to_owned());
    }
    let mut finals = Vec::new();
    for key in &keys {
        finals.push(a.wait(key).await);
    }
    common::assert_one_at_a_time(&finals);
}

/// Three stateless nodes (own data directories) on one Postgres and one
/// S3 bucket; 500 tasks created round-robin through all three; one node
/// SIGKILLed mid-run. Every task succeeds once, with its one output file
/// in the bucket, which any live node serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_on_postgres_and_s3_complete_500_tasks_through_a_kill() {
    const TASKS: usize = 500;
    let db = testing::database().await;
    let s3 = S3Server::start("drake-scale").await;
    let fixtures = Fixtures::start().await;
    let photo = fixtures.add("p.jpg", "image/jpeg", common::jpeg(160, 120));
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(s3_node(&db, &s3, "drake-scale", "", "").await);
    }

    let mut keys = Vec::new();
    for (i, batch) in (0..TASKS).collect::<Vec<_>>().chunks(25).enumerate() {
        let tasks: Vec<Value> = batch
            .iter()
            .map(|n| json!({"task_name": "image.thumb", "url": photo, "width": 32 + n % 8}))
            .collect();
        let statuses = nodes[i % 3].create(Value::Array(tasks), false).await;
        keys.extend(
            statuses
                .iter()
                .map(|s| s["key"].as_str().unwrap().to_owned()),
        );
    }
    assert_eq!(keys.iter().collect::<HashSet<_>>().len(), TASKS);

    // Kill the third node once the work is well under way.
    let started = std::time::Instant::now();
    while count_in_state(&db, "succeeded").await < 100 {
        assert!(started.elapsed() < Duration::from_secs(120), "no progress");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    nodes[2].kill9();

    for (n, key) in keys.iter().enumerate() {
        let node = &nodes[n % 2];
        let status = node.wait(key).await;
        assert_eq!(status["status"], "success", "{key}: {status}");
        let url = status["result"]["output"].as_str().unwrap();
        assert_eq!(url, format!("{}/v1/storage/{key}/output.jpg", node.url));
        let attempts = attempts(&db, key).await;
        assert!((1..=2).contains(&attempts), "{key}: {attempts} attempts");
        if n % 10 == 0 {
            let thumb = common::download(url).await;
            let width = image::load_from_memory(&thumb).unwrap().width() as usize;
            assert_eq!(width, 32 + n % 8, "{key}");
        }
    }
    // One output per task, nothing else in the bucket.
    let mut stored = s3.keys("drake-scale", "out/").await;
    stored.sort();
    let mut expected: Vec<String> = keys.iter().map(|k| format!("out/{k}/output.jpg")).collect();
    expected.sort();
    assert_eq!(stored, expected);
}

/// S3 outputs linked by pre-signed URLs; drake's own `/v1/storage` route
/// serves the same objects (ranges, ETag); once expired, every node
/// answers 404 and the files are gone from the bucket, deleted by exactly
/// one node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_outputs_are_presigned_and_reaped_once_across_nodes() {
    let db = testing::database().await;
    let s3 = S3Server::start("drake-ret").await;
    let fixtures = Fixtures::start().await;
    let photo = fixtures.add("p.jpg", "image/jpeg", common::jpeg(320, 240));
    let top = "retention = \"8s\"";
    let a = s3_node(&db, &s3, "drake-ret", "output_urls = \"presigned\"", top).await;
    let b = s3_node(&db, &s3, "drake-ret", "output_urls = \"presigned\"", top).await;

    let mut keys = Vec::new();
    for (i, on) in [&a, &b, &a, &b, &a, &b].into_iter().enumerate() {
        let task = json!({"task_name": "image.thumb", "url": photo, "width": 40 + i});
        let status = &on.create(task, true).await[0];
        assert_eq!(status["status"], "success", "{status}");
        let key = status["key"].as_str().unwrap().to_owned();
        let url = status["result"]["output"].as_str().unwrap();
        let object = format!("{}/drake-ret/out/{key}/output.jpg?", s3.endpoint);
        assert!(url.starts_with(&object), "{url}");
        for part in [
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Expires=",
            "X-Amz-Signature=",
        ] {
            assert!(url.contains(part), "{url}");
        }
        let thumb = common::download(url).await;
        assert_eq!(
            image::load_from_memory(&thumb).unwrap().width() as usize,
            40 + i
        );

        // drake serves the same S3 object itself, with ranges and ETags.
        let route = format!("/v1/storage/{key}/output.jpg");
        let other = if i % 2 == 0 { &b } else { &a };
        let whole = other.get(&route).await;
        assert_eq!(whole.status(), 200);
        let etag = whole.headers()["etag"].to_str().unwrap().to_owned();
        assert!(etag.starts_with('"') && !etag.starts_with("\"\""), "{etag}");
        assert_eq!(whole.bytes().await.unwrap(), thumb);
        let http = common::client();
        let part = http
            .get(format!("{}{route}", other.url))
            .header("range", "bytes=0-1")
            .send()
            .await
            .unwrap();
        assert_eq!(part.status(), 206);
        assert_eq!(part.bytes().await.unwrap().as_ref(), &thumb[..2]);
        let cached = http
            .get(format!("{}{route}", other.url))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(cached.status(), 304);
        keys.push(key);
    }
    assert_eq!(s3.keys("drake-ret", "out/").await.len(), keys.len());

    // Expiry: 404 everywhere, then the bucket empties.
    let started = std::time::Instant::now();
    loop {
        let mut gone = s3.keys("drake-ret", "out/").await.is_empty();
        for key in &keys {
            for node in [&a, &b] {
                let status = node.get(&format!("/v1/status?tasks={key}")).await.status();
                let file = node
                    .get(&format!("/v1/storage/{key}/output.jpg"))
                    .await
                    .status();
                gone &= status == 404 && file == 404;
            }
        }
        if gone {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not reaped in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Each expired task was deleted by exactly one node.
    let mut reaped = 0;
    for node in [&a, &b] {
        let log = std::fs::read_to_string(node.data.join("drake.log")).unwrap();
        for line in log.lines().filter(|l| l.contains("reaped expired tasks")) {
            let entry: Value = serde_json::from_str(line).unwrap();
            reaped += entry["deleted"].as_u64().unwrap_or(0);
        }
    }
    assert_eq!(reaped, keys.len() as u64);
}

/// An upload on one node is read by a task on another (Postgres + S3): a
/// file of two multipart parts comes back byte for byte from either node,
/// and a photo uploaded to one feeds an image.thumb created on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_on_one_node_feed_tasks_on_another() {
    let db = testing::database().await;
    let s3 = S3Server::start("drake-up").await;
    let a = s3_node(&db, &s3, "drake-up", "", "").await;
    let b = s3_node(&db, &s3, "drake-up", "", "").await;
    let http = common::client();
    let upload = |on: &Drake, name: &str, bytes: Vec<u8>| {
        http.post(format!("{}/v1/uploads", on.url))
            .query(&[("filename", name)])
            .header("Authorization", format!("Secret {}", common::SECRET))
            .body(bytes)
            .send()
    };
    // Over one 8 MiB part.
    let big = common::noise(9 << 20);
    let up: Value = upload(&a, "big.bin", big.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(up["result"]["size"], big.len(), "{up}");
    let key = up["key"].as_str().unwrap();
    let got = b.get(&format!("/v1/storage/{key}/output.bin")).await;
    assert_eq!(got.status(), 200);
    assert!(
        got.bytes().await.unwrap() == big,
        "the upload came back changed"
    );

    let photo = common::jpeg(400, 300);
    let up: Value = upload(&a, "p.jpg", photo)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let thumb = &b
        .create(
            json!({"task_name": "image.thumb", "url": up["reference"], "width": 50}),
            true,
        )
        .await[0];
    assert_eq!(thumb["status"], "success", "{thumb}");
    let bytes = common::download(thumb["result"]["output"].as_str().unwrap()).await;
    assert_eq!(image::load_from_memory(&bytes).unwrap().width(), 50);
}

/// A pipeline created on one node survives that node's death between its
/// steps: A runs the first step and dies during the second (a GIF of
/// twelve large frames); B, started after, runs what is left (A's lease
/// expires), each waiting step released once its input succeeded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_survives_a_node_killed_between_steps() {
    let db = testing::database().await;
    let s3 = S3Server::start("drake-pipe").await;
    let mut a = s3_node(&db, &s3, "drake-pipe", "", "").await;
    let fixtures = Fixtures::start().await;
    let photo = fixtures.add("p.jpg", "image/jpeg", common::jpeg(1200, 900));
    let frames: Vec<&str> = vec!["drake:$0/output"; 12];
    let created = a
        .create(
            json!([
                {"task_name": "image.thumb", "url": photo, "width": 1200},
                {"task_name": "image.gif", "images": frames, "frame_duration": 0.1},
                {"task_name": "image.thumb", "url": "drake:$1/output", "width": 32},
                {"task_name": "image.info", "url": "drake:$2/output"},
            ]),
            false,
        )
        .await;
    let keys: Vec<String> = created
        .iter()
        .map(|s| s["key"].as_str().unwrap().to_owned())
        .collect();
    let first = a.wait(&keys[0]).await;
    assert_eq!(first["status"], "success", "{first}");
    a.kill9();
    // Killed between steps: the last waits for what A left unfinished.
    assert_eq!(state_of(&db, &keys[3]).await, "waiting");
    let b = s3_node(&db, &s3, "drake-pipe", "", "").await;
    let last = b.wait(&keys[3]).await;
    assert_eq!(last["status"], "success", "{last}");
    assert_eq!(last["result"]["width"], 32, "{last}");
    for key in &keys {
        let attempts = attempts(&db, key).await;
        assert!((1..=2).contains(&attempts), "{key}: {attempts} attempts");
    }
    assert_eq!(count_in_state(&db, "waiting").await, 0);
}
