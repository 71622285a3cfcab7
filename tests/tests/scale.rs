//! Several `drake serve` nodes on one Postgres (started by the harness, or
//! the server at `DATABASE_URL`) and one shared data directory: tasks
//! created on any node run exactly once, `block` and the status streams on
//! one node see work done by another, and a node killed mid-run loses
//! nothing — its leases expire and another node runs its tasks.
#![allow(clippy::unwrap_used, reason = "tests: a failure is a panic")]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use drake_host::store::postgres::testing;
use serde_json::{Value, json};

use common::{Drake, Fixtures, Options};

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
        let attempts: i64 = {
            use sqlx::Connection as _;
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar("SELECT attempt FROM tasks WHERE key = $1")
                .bind(key)
                .fetch_one(&mut conn)
                .await
                .unwrap()
        };
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
