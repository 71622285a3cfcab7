//! The v1 API end to end: every route and status code of api.md §5 against
//! a real `drake serve` over HTTP on loopback.
#![allow(clippy::unwrap_used, reason = "tests")]

use crate::common;

use crate::common::{API_KEY, Drake, Fixtures, Options, SECRET};
use serde_json::{Value, json};

fn envelope_names(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .map(|e| e["name"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn create_one_task_given_as_an_object_and_block() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let url = fx.add("a.png", "image/png", common::png(320, 200));
    let statuses = drake
        .create(
            json!({"task_name": "image.info", "url": url, "task_metas": {"order": 7}}),
            true,
        )
        .await;
    assert_eq!(statuses.len(), 1, "a list even for one task");
    let s = &statuses[0];
    assert_eq!(s["status"], "success", "{s}");
    assert_eq!(s["result"]["width"], 320);
    assert_eq!(s["result"]["height"], 200);
    assert_eq!(s["result"]["content_type"], "image/png");
    assert_eq!(s["task_metas"], json!({"order": 7}));
    assert!(s["progress"].is_null());
    let key = s["key"].as_str().unwrap();
    assert_eq!(key.len(), 26);
    assert!(
        key.bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    );
    for event in ["queued", "started", "completed"] {
        let t = s["events"][event].as_str().unwrap();
        assert!(t.ends_with("+00:00") && t.len() == 32, "{event}: {t}");
    }
}

#[tokio::test]
async fn statuses_come_back_in_request_order() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let a = fx.add("a.png", "image/png", common::png(10, 20));
    let b = fx.add("b.jpg", "image/jpeg", common::jpeg(30, 40));
    let tasks = json!([
        {"task_name": "image.info", "url": a},
        {"task_name": "image.thumb", "url": b, "width": 15},
        {"task_name": "image.info", "url": b},
    ]);
    let created = drake.create(tasks, false).await;
    assert!(created.iter().all(|s| s["status"] == "queued"
        || s["status"] == "executing"
        || s["status"] == "success"));
    assert!(
        created[0].get("progress").is_none() || created[0]["status"] != "queued",
        "no progress in a fresh status"
    );
    let keys: Vec<&str> = created.iter().map(|s| s["key"].as_str().unwrap()).collect();
    // GET with repeated keys, blocking.
    let query = format!(
        "/v1/status?tasks={}&tasks={}&tasks={}&block=true",
        keys[2], keys[0], keys[1]
    );
    let r = drake.get(&query).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let got: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert_eq!(got, [keys[2], keys[0], keys[1]]);
    assert_eq!(body[0]["result"]["width"], 30);
    assert_eq!(body[1]["result"]["height"], 20);
    assert_eq!(body[2]["result"]["width"], 15);
    assert_eq!(body[2]["result"]["height"], 20);
    // POST form, one key as a string.
    let (code, body) = drake.post("/v1/status", json!({"tasks": keys[1]})).await;
    assert_eq!(code, 200);
    assert_eq!(body[0]["key"], keys[1]);
}

#[tokio::test]
async fn request_errors_use_the_envelope() {
    let drake = Drake::start().await;
    // Not JSON, whatever the content type.
    let r = common::client()
        .post(format!("{}/v1/create", drake.url))
        .header("content-type", "text/plain")
        .body("task_name=image.info")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "error");
    assert_eq!(envelope_names(&body), ["body"]);
    assert_eq!(body["errors"][0]["location"], "body");
    // Unknown task name: request-level 400 listing valid names.
    let (code, body) = drake
        .post(
            "/v1/create",
            json!({"secret": SECRET, "tasks": [{"task_name": "image.thumbz"}]}),
        )
        .await;
    assert_eq!(code, 400);
    assert_eq!(envelope_names(&body), ["task_name"]);
    let description = body["errors"][0]["description"].as_str().unwrap();
    assert!(
        description.contains("image.thumb") && description.contains("image.thumbz"),
        "{description}"
    );
    // Missing tasks.
    let (code, body) = drake.post("/v1/create", json!({"secret": SECRET})).await;
    assert_eq!(code, 400);
    assert_eq!(body["errors"][0]["description"], "tasks is missing");
    // Too large a body.
    let big = "x".repeat(2 << 20);
    let (code, _) = drake
        .post("/v1/create", json!({"secret": SECRET, "pad": big}))
        .await;
    assert_eq!(code, 413);
}

#[tokio::test]
async fn parameter_errors_end_the_task_in_error() {
    let drake = Drake::start().await;
    let created = drake
        .create(
            json!([
                {"task_name": "image.thumb"},
                {"task_name": "image.thumb", "url": "http://127.0.0.1/x.jpg", "width": "big",
                 "format": "bmp", "zoom": 2}
            ]),
            false,
        )
        .await;
    assert_eq!(created[0]["status"], "error");
    assert_eq!(
        created[0]["result"],
        json!({"parameters": {"url": ["this field is required"]}})
    );
    assert_eq!(
        created[1]["result"],
        json!({"parameters": {
            "width": ["not a valid integer"],
            "format": ["\"bmp\" is not a valid choice, choose one of: jpeg, gif, png, webp, avif"],
            "zoom": ["unknown parameter"],
        }})
    );
}

#[tokio::test]
async fn authentication_and_account_limits() {
    let drake = Drake::start().await;
    let task = json!({"task_name": "image.info", "url": "http://127.0.0.1:9/x.png"});
    // No credentials, wrong secret.
    let (code, body) = drake.post("/v1/create", json!({"tasks": task})).await;
    assert_eq!(code, 401, "{body}");
    let (code, body) = drake
        .post("/v1/create", json!({"secret": "wrong", "tasks": task}))
        .await;
    assert_eq!(code, 401);
    assert_eq!(body["status"], "error");
    // Secret in a header and in the query string.
    let r = common::client()
        .post(format!("{}/v1/create", drake.url))
        .header("Authorization", format!("secret {SECRET}"))
        .body(json!({"tasks": task}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = common::client()
        .post(format!("{}/v1/create?secret={SECRET}", drake.url))
        .body(json!({"tasks": task}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // API key: whitelisted referrer yes, foreign referrer no.
    let with_referer = |referer: &'static str| {
        common::client()
            .post(format!("{}/v1/create", drake.url))
            .header("Referer", referer)
            .body(json!({"api_key": API_KEY, "tasks": task}).to_string())
            .send()
    };
    assert_eq!(
        with_referer("https://www.example.org/page")
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        with_referer("https://example.com/").await.unwrap().status(),
        200
    );
    let r = with_referer("https://evil.example.net/").await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(envelope_names(&body), ["Referer"]);
    // Account limit: 2 per hour, then 401.
    for _ in 0..2 {
        let (code, _) = drake
            .post(
                "/v1/create",
                json!({"secret": "limited-secret", "tasks": task}),
            )
            .await;
        assert_eq!(code, 200);
    }
    let (code, body) = drake
        .post(
            "/v1/create",
            json!({"secret": "limited-secret", "tasks": task}),
        )
        .await;
    assert_eq!(code, 401);
    assert!(
        body["errors"][0]["description"]
            .as_str()
            .unwrap()
            .contains("limit"),
        "{body}"
    );
}

#[tokio::test]
async fn unknown_keys_are_404() {
    let drake = Drake::start().await;
    let r = drake
        .get("/v1/status?tasks=AAAAAAAAAAAAAAAAAAAAAAAAAA")
        .await;
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(envelope_names(&body), ["tasks"]);
    assert!(
        body["errors"][0]["description"]
            .as_str()
            .unwrap()
            .contains("AAAAAAAAAAAAAAAAAAAAAAAAAA")
    );
    let r = drake
        .get("/v1/file/output?task=AAAAAAAAAAAAAAAAAAAAAAAAAA")
        .await;
    assert_eq!(r.status(), 404);
    let r = drake
        .get("/v1/storage/AAAAAAAAAAAAAAAAAAAAAAAAAA/output.jpg")
        .await;
    assert_eq!(r.status(), 404);
}

/// A thumbnail of a small JPEG, blocked on: its key and output URL.
async fn one_thumbnail(drake: &Drake) -> (String, String) {
    let fx = Fixtures::start().await;
    let url = fx.add("a.jpg", "image/jpeg", common::jpeg(64, 64));
    let s = &drake
        .create(json!({"task_name": "image.thumb", "url": url}), true)
        .await[0];
    assert_eq!(s["status"], "success", "{s}");
    let key = s["key"].as_str().unwrap().to_owned();
    (key, s["result"]["output"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn expired_tasks_and_files_are_404() {
    let drake = Drake::start_with(Options {
        top: "retention = \"3s\"".into(),
        ..Options::default()
    })
    .await;
    let (key, file) = one_thumbnail(&drake).await;
    let key = key.as_str();
    assert_eq!(
        common::client().get(&file).send().await.unwrap().status(),
        200
    );
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    assert_eq!(
        drake.get(&format!("/v1/status?tasks={key}")).await.status(),
        404
    );
    assert_eq!(
        common::client().get(&file).send().await.unwrap().status(),
        404
    );
    // The reaper (1 s interval) deletes the files too.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(
        !drake
            .data
            .join("blobs")
            .join(key)
            .join("output.jpg")
            .exists(),
        "files reaped"
    );
}

#[tokio::test]
async fn create_file_redirects_to_a_thumbnail_of_the_requested_size() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let url = fx.add("big.jpg", "image/jpeg", common::jpeg(800, 600));
    // POST form.
    let r = common::client()
        .post(format!("{}/v1/create_file/cat.jpg", drake.url))
        .body(json!({"secret": SECRET, "task": {"task_name": "image.thumb", "url": url, "width": 200, "height": 100, "crop": true}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{}/v1/storage/", drake.url))
            && location.ends_with("/output.jpg"),
        "{location}"
    );
    let file = common::client().get(&location).send().await.unwrap();
    assert_eq!(file.status(), 200);
    assert_eq!(file.headers()["content-type"], "image/jpeg");
    let bytes = file.bytes().await.unwrap();
    let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg).unwrap();
    assert_eq!((img.width(), img.height()), (200, 100));
    // GET form with coerced query values; identical definition → same file (dedup).
    let encoded: String = url.replace(':', "%3A").replace('/', "%2F");
    let query = format!(
        "/v1/create_file?task_name=image.thumb&url={encoded}&width=200&height=100&crop=true&secret={SECRET}"
    );
    let r = drake.get(&query).await;
    assert_eq!(r.status(), 302);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        location,
        "deduplicated"
    );
    // Bad filename on a single-file task is fine; the GET form of a failing task is 400.
    let r = drake
        .get(&format!(
            "/v1/create_file/x.png?task_name=image.thumb&secret={SECRET}"
        ))
        .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "error");
    assert_eq!(
        body["result"]["parameters"]["url"][0],
        "this field is required"
    );
}

#[tokio::test]
async fn file_route_and_storage_headers() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let url = fx.add("p.png", "image/png", common::png(100, 80));
    let s = &drake
        .create(
            json!({"task_name": "image.thumb", "url": url, "format": "png"}),
            true,
        )
        .await[0];
    let key = s["key"].as_str().unwrap();
    let r = drake.get(&format!("/v1/file/anything?task={key}")).await;
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.ends_with(&format!("/v1/storage/{key}/output.png")),
        "{location}"
    );
    let r = common::client().get(&location).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "image/png");
    // A guest chose these bytes: browsers must not sniff them into HTML.
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["accept-ranges"], "bytes");
    let cache = h["cache-control"].to_str().unwrap();
    assert!(
        cache.starts_with("public, max-age=") && cache.ends_with("immutable"),
        "{cache}"
    );
    let max_age: u64 = cache["public, max-age=".len()..]
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(max_age > 6 * 86400 && max_age <= 7 * 86400, "{max_age}");
    let etag = h["etag"].to_str().unwrap().to_owned();
    let body = r.bytes().await.unwrap();
    assert_eq!(
        h["content-length"].to_str().unwrap(),
        body.len().to_string()
    );
    // Range request.
    let r = common::client()
        .get(&location)
        .header("Range", "bytes=0-7")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"].to_str().unwrap(),
        format!("bytes 0-7/{}", body.len())
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), &body[..8]);
    let r = common::client()
        .get(&location)
        .header("Range", "bytes=999999-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    // Conditional request.
    let r = common::client()
        .get(&location)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    // A name the task did not publish.
    assert_eq!(
        drake
            .get(&format!("/v1/storage/{key}/other.png"))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn hostile_inputs_end_in_readable_errors() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let mut truncated = common::jpeg(400, 300);
    truncated.truncate(truncated.len() / 3);
    let truncated = fx.add("t.jpg", "image/jpeg", truncated);
    let huge = fx.add(
        "huge.png",
        "image/png",
        common::png_header_only(80_000, 60_000),
    );
    let random = fx.add(
        "r.jpg",
        "image/jpeg",
        (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect(),
    );
    let statuses = drake
        .create(
            json!([
                {"task_name": "image.thumb", "url": truncated},
                {"task_name": "image.thumb", "url": huge},
                {"task_name": "image.info", "url": random},
                {"task_name": "image.thumb", "url": "http://169.254.169.254/latest/meta-data/"},
                {"task_name": "image.thumb", "url": fx.url("/redirect-to-metadata")},
                {"task_name": "image.thumb", "url": fx.url("/f/missing.jpg")},
            ]),
            true,
        )
        .await;
    for s in &statuses {
        assert_eq!(s["status"], "error", "{s}");
        assert!(s["result"].is_string(), "a readable message: {s}");
    }
    let msg = |i: usize| statuses[i]["result"].as_str().unwrap().to_owned();
    assert!(
        msg(0).contains("decode") || msg(0).contains("truncated") || msg(0).contains("corrupt"),
        "{}",
        msg(0)
    );
    assert_eq!(msg(1), "image is 80000x60000 pixels; the limit is 50000000");
    assert!(
        msg(2).contains("not a supported image") || msg(2).contains("image"),
        "{}",
        msg(2)
    );
    assert!(
        msg(3).contains("169.254.169.254") && msg(3).contains("blocked"),
        "{}",
        msg(3)
    );
    assert!(
        msg(4).contains("169.254.169.254"),
        "redirect hop checked: {}",
        msg(4)
    );
    assert!(msg(5).contains("404"), "{}", msg(5));
}

#[tokio::test]
async fn create_stream_orders_lines_and_closes() {
    let drake = Drake::start().await;
    let r = common::client()
        .post(format!("{}/v1/create_stream", drake.url))
        .body(
            json!({"secret": SECRET, "tasks": [
                {"task_name": "test.hostile", "mode": "sleep", "ms": 300},
                {"task_name": "test.hostile", "mode": "publish", "ms": 1},
            ]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    // The response ends by itself after the last final status.
    let text = tokio::time::timeout(std::time::Duration::from_secs(30), r.text())
        .await
        .expect("the stream closes")
        .unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let first = lines[0]
        .as_array()
        .expect("first line is the array of initial statuses");
    let keys: Vec<&str> = first.iter().map(|s| s["key"].as_str().unwrap()).collect();
    assert_eq!(keys.len(), 2);
    for line in &lines[1..] {
        assert!(
            line.is_object() && keys.contains(&line["key"].as_str().unwrap()),
            "{line}"
        );
    }
    // Each task's last line is final; nothing follows both finals.
    for key in &keys {
        let last = lines[1..].iter().rev().find(|l| l["key"] == *key).unwrap();
        assert_eq!(last["status"], "success", "{last}");
    }
    let last = lines.last().unwrap();
    assert_eq!(last["status"], "success");
    // Progress was streamed for the sleeping task.
    assert!(
        lines[1..]
            .iter()
            .any(|l| l["key"] == keys[0] && l["status"] == "executing"),
        "{text}"
    );
    // status_stream of finished tasks: one line, then closed.
    let r = drake
        .get(&format!("/v1/stream?tasks={}&tasks={}", keys[0], keys[1]))
        .await;
    let text = r.text().await.unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
}

#[tokio::test]
async fn streams_send_keepalive_lines_and_sse() {
    let drake = Drake::start_with(Options {
        top: "stream_keepalive = \"500ms\"".into(),
        ..Options::default()
    })
    .await;
    let key = sleeper(&drake, 2500).await;
    let r = common::client()
        .get(format!("{}/v1/status_stream?tasks={key}", drake.url))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let text = r.text().await.unwrap();
    let events: Vec<Value> = text
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
        .collect();
    assert!(events[0].is_array());
    assert_eq!(events.last().unwrap()["status"], "success");
    // 2.5 s of sleep with 10 progress steps and 0.5 s keep-alive: more
    // lines than changes alone would give is hard to pin; at least every
    // line is a valid status of this task.
    assert!(events[1..].iter().all(|e| e["key"] == key));
    assert!(events.len() >= 3, "{text}");
}

#[tokio::test]
async fn partial_results_appear_while_executing() {
    let drake = Drake::start().await;
    let s = &drake
        .create(
            json!({"task_name": "test.hostile", "mode": "publish", "ms": 42}),
            true,
        )
        .await[0];
    assert_eq!(s["status"], "success", "{s}");
    assert_eq!(s["result"]["ms"], 42);
    let url = s["result"]["output"].as_str().unwrap();
    assert!(url.ends_with("/output.txt"));
    assert!(
        s["result"]["preview"]
            .as_str()
            .unwrap()
            .ends_with("/preview.txt")
    );
    let r = common::client().get(url).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "text/plain");
    assert_eq!(r.text().await.unwrap(), "hello");

    // create_file on a multi-file task: a bad name is the dragon 404...
    let post = |name: &str, ms: u64| {
        common::client()
            .post(format!("{}/v1/create_file/{name}", drake.url))
            .body(json!({"secret": SECRET, "task": {"task_name": "test.hostile", "mode": "publish", "ms": ms}}).to_string())
            .send()
    };
    let r = post("medium", 1).await.unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"status": "error", "message": "'medium' is not a valid filename, choose one of: 'output', 'preview'"})
    );
    // ...and a file published early redirects while the task still runs.
    let r = post("preview.txt", 2000).await.unwrap();
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let key = location.split('/').rev().nth(1).unwrap().to_owned();
    let (_, now) = drake.post("/v1/status", json!({"tasks": key})).await;
    assert_eq!(now[0]["status"], "executing", "{now}");
    assert_eq!(now[0]["result"]["ms"], 2000, "partial value visible: {now}");
    assert_eq!(now[0]["result"]["preview"], location.as_str());
    assert!(now[0]["result"].get("output").is_none());
    let done = drake.wait(&key).await;
    assert!(done["result"]["output"].is_string(), "{done}");
}

#[tokio::test]
async fn cors_preflight_and_headers() {
    let drake = Drake::start().await;
    let r = common::client()
        .request(reqwest::Method::OPTIONS, format!("{}/v1/create", drake.url))
        .header("Origin", "https://app.example.org")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example.org"
    );
    assert!(
        r.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("Authorization")
    );
    assert_eq!(r.headers()["access-control-allow-methods"], "GET, POST");
    // Read routes answer any origin.
    let r = common::client()
        .get(format!("{}/v1/tasks", drake.url))
        .header("Origin", "https://elsewhere.net")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    // Create from a foreign origin gets no CORS grant.
    let r = common::client()
        .request(reqwest::Method::OPTIONS, format!("{}/v1/create", drake.url))
        .header("Origin", "https://evil.net")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn tasks_route_lists_schemas_and_health() {
    let drake = Drake::start().await;
    let tasks: Value = drake.get("/v1/tasks").await.json().await.unwrap();
    let thumb = tasks
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "image.thumb")
        .unwrap();
    assert_eq!(thumb["files"], json!(["output"]));
    assert!(thumb["parameters"]["properties"]["crop"].is_object());
    assert_eq!(drake.get("/healthz").await.status(), 200);
    assert_eq!(drake.get("/readyz").await.status(), 200);
}

/// `drake tasks --json` lists what `/v1/tasks` serves, loading the
/// components precompiled beside their `.wasm` files (`make test` runs
/// `drake precompile`, as `make build` does): it compiles nothing, so the
/// per-user cache of its (empty) home stays empty.
#[tokio::test]
async fn drake_tasks_lists_the_served_tasks_without_compiling() {
    let drake = Drake::start().await;
    let served: Value = common::client()
        .get(format!("{}/v1/tasks", drake.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("drake.toml");
    std::fs::write(
        &config,
        format!(
            "components_dir = \"{}\"\ntest_tasks = true\n[engine]\nmemory_limit = 268435456\n",
            common::components_dir().display()
        ),
    )
    .unwrap();
    let tasks = |json: bool| {
        let mut command = std::process::Command::new(common::drake_bin());
        command.args(["tasks", "--config"]).arg(&config);
        if json {
            command.arg("--json");
        }
        let out = command
            .env("HOME", home.path())
            .env("XDG_CACHE_HOME", home.path().join("cache"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let listed: Value = serde_json::from_str(&tasks(true)).unwrap();
    assert_eq!(listed, served);
    let text = tasks(false);
    for task in served.as_array().unwrap() {
        assert!(text.contains(task["name"].as_str().unwrap()), "{text}");
    }
    let cache = home.path().join("cache/drake/components");
    let compiled = std::fs::read_dir(&cache).map_or(0, |d| d.count());
    assert_eq!(compiled, 0, "{} holds compiled components", cache.display());
}

#[tokio::test]
async fn runaway_guests_end_in_error_and_the_host_keeps_serving() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let url = fx.add("ok.png", "image/png", common::png(50, 50));
    let statuses = drake
        .create(
            json!([
                {"task_name": "test.hostile", "mode": "loop"},
                {"task_name": "test.hostile", "mode": "alloc"},
                {"task_name": "test.hostile", "mode": "panic"},
                {"task_name": "image.info", "url": url},
            ]),
            true,
        )
        .await;
    assert_eq!(statuses[0]["status"], "error");
    assert!(
        statuses[0]["result"]
            .as_str()
            .unwrap()
            .starts_with("time limit exceeded"),
        "{}",
        statuses[0]
    );
    assert_eq!(statuses[1]["status"], "error");
    assert!(
        statuses[1]["result"]
            .as_str()
            .unwrap()
            .starts_with("memory limit exceeded"),
        "{}",
        statuses[1]
    );
    assert_eq!(statuses[2]["result"], "internal error: the task crashed");
    assert_eq!(statuses[3]["status"], "success");
    assert_eq!(drake.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn a_task_of_a_killed_server_completes_after_restart() {
    let mut drake = Drake::start().await;
    let key = sleeper(&drake, 2000).await;
    // Wait until it runs, then kill -9 mid-task.
    drake.wait_until_executing(&key).await;
    drake.kill9();
    drake.spawn().await;
    // The lease (3 s) expires, the rescuer re-queues, a worker reruns it.
    let s = drake.wait(&key).await;
    assert_eq!(s["status"], "success", "{s}");
    assert_eq!(s["result"]["ms"], 2000);
}

/// Create a `test.hostile` task that sleeps `ms`; its key.
async fn sleeper(drake: &Drake, ms: u64) -> String {
    let created = drake
        .create(
            json!({"task_name": "test.hostile", "mode": "sleep", "ms": ms}),
            false,
        )
        .await;
    created[0]["key"].as_str().unwrap().to_owned()
}

/// Waiting requests are capped per client address (and in all): past the
/// cap a stream or a `block` answers 503 with `Retry-After` instead of
/// holding one more connection; a repeated key is one task; a closed
/// stream frees its place.
#[tokio::test]
async fn waits_are_capped_per_client() {
    let drake = Drake::start_with(Options {
        top: "max_waiters_per_client = 2".into(),
        ..Options::default()
    })
    .await;
    let key = sleeper(&drake, 20_000).await;
    let stream = || {
        common::client()
            .get(format!("{}/v1/status_stream?tasks={key}", drake.url))
            .send()
    };
    let (first, second) = (stream().await.unwrap(), stream().await.unwrap());
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let third = stream().await.unwrap();
    assert_eq!(third.status().as_u16(), 503);
    assert!(third.headers().contains_key("retry-after"));
    let blocked = drake
        .post("/v1/status", json!({"tasks": [key], "block": true}))
        .await;
    assert_eq!(blocked.0, 503, "{}", blocked.1);
    // Reads that do not wait are not counted; 500 repetitions of one key
    // are 500 statuses of one task.
    let many: Vec<&str> = vec![key.as_str(); 500];
    let (code, list) = drake.post("/v1/status", json!({"tasks": many})).await;
    assert_eq!(code, 200);
    assert_eq!(list.as_array().unwrap().len(), 500);
    drop(first);
    // The server sees the close when it next writes: a keep-alive or a
    // change. Retry until the place is free.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    loop {
        let again = stream().await.unwrap();
        if again.status().as_u16() == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the closed stream's place never freed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// A client that drips its request head (slowloris) is cut off at
/// `header_read_timeout`; past `max_connections`, a new connection is
/// closed before it is served, and a freed place is taken again.
#[tokio::test]
async fn slow_and_surplus_connections_are_closed() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let drake = Drake::start_with(Options {
        top: "header_read_timeout = \"1s\"".into(),
        ..Options::default()
    })
    .await;
    let addr = drake.url.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    let mut buf = [0u8; 1024];
    let mut drips = 0;
    let closed = loop {
        match tokio::time::timeout(std::time::Duration::from_millis(300), slow.read(&mut buf)).await
        {
            // Closed, or hyper's 408 before it closes.
            Ok(Ok(_) | Err(_)) => break true,
            Err(_) if drips >= 100 => break false,
            Err(_) => {
                drips += 1;
                if slow.write_all(b"X-Drip: 1\r\n").await.is_err() {
                    break true;
                }
            }
        }
    };
    assert!(
        closed,
        "a client dripping headers is still connected after {drips} lines"
    );

    let drake = Drake::start_with(Options {
        top: "max_connections = 4".into(),
        ..Options::default()
    })
    .await;
    let addr = drake.url.trim_start_matches("http://").to_owned();
    let request = b"GET /healthz HTTP/1.1\r\nHost: drake\r\nConnection: close\r\n\r\n";
    // A whole request on a fresh connection: its answer, empty if refused.
    let ask = || async {
        let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let _ = c.write_all(request).await;
        let mut answer = Vec::new();
        let _ = c.read_to_end(&mut answer).await;
        String::from_utf8_lossy(&answer).into_owned()
    };
    assert!(ask().await.starts_with("HTTP/1.1 200"), "under the cap");
    // Four held connections, each answered once and kept open (so all
    // four hold a place). The server may not have released an earlier
    // connection's place when they arrive (a loaded machine): one of them
    // is then closed at once, and the four are tried again.
    let mut held = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        held.clear();
        for _ in 0..4 {
            held.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
        }
        let mut served = 0;
        for c in &mut held {
            let _ = c
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: drake\r\n\r\n")
                .await;
            let mut first = [0u8; 12];
            if c.read_exact(&mut first).await.is_ok() && &first == b"HTTP/1.1 200" {
                served += 1;
            }
        }
        if served == held.len() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "four connections are never all served"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(ask().await, "", "a fifth connection is served");
    drop(held.pop());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !ask().await.starts_with("HTTP/1.1 200") {
        assert!(
            std::time::Instant::now() < deadline,
            "the freed place is never taken"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Processes whose command line names `dir` (bwrap binds the job's
/// scratch directory by its path).
fn processes_in(dir: &std::path::Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            cmdline.contains(&needle).then_some(cmdline)
        })
        .collect()
}

/// `POST /v1/cancel`: a queued task ends at once, a running one (mid
/// ffmpeg) promptly — its process gone, its scratch removed — both in
/// error with a cancelled message and their usage; another account's key
/// is unknown and an api_key may not cancel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_ends_queued_and_running_tasks() {
    let scratch = tempfile::tempdir().unwrap();
    // One run at a time (no spare slot either), so a second task waits.
    let drake = Drake::start_with(Options {
        workers: Some(1),
        scheduler: "spare_slots = 0".into(),
        tables: format!("[ffmpeg]\nscratch_dir = \"{}\"", scratch.path().display()),
        ..Options::default()
    })
    .await;
    let fx = Fixtures::start().await;
    let media = tempfile::tempdir().unwrap();
    let clip = common::ffmpeg_make(
        media.path(),
        "long.avi",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=640x360:rate=25:duration=120",
            "-c:v",
            "mpeg4",
            "-q:v",
            "20",
        ],
    );
    let url = fx.add("long.avi", "video/x-msvideo", clip);
    let running = drake
        .create(json!({"task_name": "video.convert", "url": url}), false)
        .await[0]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    drake.wait_until_executing(&running).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while processes_in(scratch.path()).is_empty() {
        assert!(std::time::Instant::now() < deadline, "ffmpeg never started");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // One worker: this one waits in the queue.
    let queued = sleeper(&drake, 1_000).await;
    let cancel = |secret: &str, keys: Vec<&str>, block: bool| {
        drake.post(
            "/v1/cancel",
            json!({"secret": secret, "tasks": keys, "block": block}),
        )
    };
    let (code, body) = cancel(SECRET, vec![&queued], false).await;
    assert_eq!(code, 200, "{body}");
    let status = &body[0];
    assert_eq!(status["status"], "error", "{status}");
    assert!(
        status["result"].as_str().unwrap().starts_with("cancelled"),
        "{status}"
    );
    assert_eq!(status["usage"]["wall_ms"], 0, "{status}");

    // Another account's key is unknown; an api_key does not cancel.
    let (code, _) = cancel("limited-secret", vec![&running], false).await;
    assert_eq!(code, 404);
    let by_key = common::client()
        .post(format!("{}/v1/cancel", drake.url))
        .header("Referer", "https://example.com/")
        .body(json!({"api_key": API_KEY, "tasks": [running]}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(by_key.status().as_u16(), 401);
    let (_, still) = drake.post("/v1/status", json!({"tasks": running})).await;
    assert_eq!(
        still[0]["status"], "executing",
        "refused cancels change nothing"
    );

    let (code, body) = cancel(SECRET, vec![&running], true).await;
    assert_eq!(code, 200, "{body}");
    let status = &body[0];
    assert_eq!(status["status"], "error", "{status}");
    assert!(
        status["result"].as_str().unwrap().starts_with("cancelled"),
        "{status}"
    );
    assert!(status["usage"]["wall_ms"].as_u64().unwrap() > 0, "{status}");
    assert!(status["usage"]["cpu_ms"].as_u64().unwrap() > 0, "{status}");
    // The process and the task's scratch are gone.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let left: Vec<_> = std::fs::read_dir(scratch.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        let procs = processes_in(scratch.path());
        if left.is_empty() && procs.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "left behind: {left:?}, processes {procs:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The worker is free again.
    let next = sleeper(&drake, 10).await;
    assert_eq!(drake.wait(&next).await["status"], "success");
}

/// SIGTERM drains: the listener closes at once, the running task ends
/// normally, then the process exits 0 — after a restart the task is
/// already done (a killed run would still be re-running).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_running_tasks_finish_before_exiting() {
    let mut drake = Drake::start().await;
    let key = sleeper(&drake, 2000).await;
    drake.wait_until_executing(&key).await;
    let url = drake.url.clone();
    let exit = drake.terminate(std::time::Duration::from_secs(60)).await;
    assert!(exit.success(), "{exit:?}");
    assert!(common::client().get(&url).send().await.is_err(), "closed");
    drake.spawn().await;
    let (_, s) = drake.post("/v1/status", json!({"tasks": key})).await;
    assert_eq!(s[0]["status"], "success", "{s}");
}

/// When the drain time runs out first, the process still exits cleanly,
/// leaving the running task to the rescuer: after a restart it is not
/// done (its run died with the process), then it reruns and succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_short_drain_leaves_the_task_to_be_rerun() {
    let mut drake = Drake::start_with(Options {
        scheduler: "drain_timeout = \"200ms\"".into(),
        ..Options::default()
    })
    .await;
    let key = sleeper(&drake, 2500).await;
    drake.wait_until_executing(&key).await;
    let exit = drake.terminate(std::time::Duration::from_secs(60)).await;
    assert!(exit.success(), "{exit:?}");
    drake.spawn().await;
    let (_, s) = drake.post("/v1/status", json!({"tasks": &key})).await;
    assert_ne!(s[0]["status"], "success", "the run outlived the drain: {s}");
    // The lease (3 s) expires, the rescuer re-queues, a worker reruns it.
    let s = drake.wait(&key).await;
    assert_eq!(s["status"], "success", "{s}");
}

/// Callbacks are durable: the node is SIGKILLed while a delivery waits for
/// its retry; after a restart the retry still comes, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_callback_retry_survives_a_crash() {
    let (receiver, seen) = callback_receiver().await;
    let mut drake = Drake::start_with(Options {
        top: "callback_backoff = \"3s\"".into(),
        ..Options::default()
    })
    .await;
    let fx = Fixtures::start().await;
    let png = fx.add("cb.png", "image/png", common::png(30, 20));
    let task =
        json!({"task_name": "image.info", "url": png, "url_callback": format!("{receiver}/cb")});
    let status = &drake.create(task, true).await[0];
    assert_eq!(status["status"], "success", "{status}");
    let count = || {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == "cb")
            .count()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while count() == 0 {
        assert!(std::time::Instant::now() < deadline, "no first delivery");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The 503 is recorded in the store; the retry is 3 s away. Crash.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    drake.kill9();
    assert_eq!(count(), 1);
    drake.spawn().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while count() < 2 {
        assert!(std::time::Instant::now() < deadline, "the retry never came");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Delivered (200): nothing more.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    assert_eq!(count(), 2);
    let body: Value = serde_json::from_slice(&seen.lock().unwrap()[1].body).unwrap();
    assert_eq!(body["key"], status["key"]);
}

/// `require_auth_for_reads`: statuses and output files answer only the
/// task's account (401 without credentials or with another account's).
#[tokio::test]
async fn reads_need_the_owners_credentials_when_configured() {
    let drake = Drake::start_with(Options {
        top: "require_auth_for_reads = true".into(),
        ..Options::default()
    })
    .await;
    let (key, file) = one_thumbnail(&drake).await;
    let key = key.as_str();
    let http = common::client();
    let status_url = format!("{}/v1/status?tasks={key}", drake.url);
    for target in [&status_url, &file] {
        let anonymous = http.get(target).send().await.unwrap();
        assert_eq!(anonymous.status(), 401, "{target}");
        let other = http
            .get(target)
            .header("authorization", "Secret limited-secret")
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), 401, "{target}");
        let owner = http
            .get(target)
            .header("authorization", format!("Secret {SECRET}"))
            .send()
            .await
            .unwrap();
        assert_eq!(owner.status(), 200, "{target}");
        if target == &file {
            let cache = owner.headers()["cache-control"]
                .to_str()
                .unwrap()
                .to_owned();
            assert!(cache.starts_with("private"), "{cache}");
            assert_eq!(owner.bytes().await.unwrap()[..2], [0xFF, 0xD8]);
        }
    }
}

/// One request a callback receiver saw.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    signature: String,
    body: Vec<u8>,
}

/// A callback receiver on loopback that records every request and fails
/// the first delivery to `/cb` with a 503: its base URL and the record.
async fn callback_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Received>>>) {
    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, StatusCode};
    use std::sync::{Arc, Mutex};

    // A receiver that fails the first delivery to /cb with a 503.
    let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver = format!("http://{}", listener.local_addr().unwrap());
    let router = axum::Router::new()
        .route(
            "/{path}",
            axum::routing::post(
                |State(seen): State<Arc<Mutex<Vec<Received>>>>,
                 Path(path): Path<String>,
                 headers: HeaderMap,
                 body: bytes::Bytes| async move {
                    let mut seen = seen.lock().unwrap();
                    let first = !seen.iter().any(|r| r.path == path);
                    seen.push(Received {
                        path: path.clone(),
                        signature: headers
                            .get("x-drake-signature")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned(),
                        body: body.to_vec(),
                    });
                    if path == "cb" && first {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::OK
                    }
                },
            ),
        )
        .with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (receiver, seen)
}

#[tokio::test]
async fn callbacks_are_signed_and_retried() {
    use hmac::{Hmac, Mac};

    let (receiver, seen) = callback_receiver().await;

    let drake = Drake::start_with(Options {
        top: "callback_backoff = \"100ms\"".into(),
        ..Options::default()
    })
    .await;
    let fx = Fixtures::start().await;
    let png = fx.add("cb.png", "image/png", common::png(30, 20));
    let statuses = drake
        .create(
            json!([
                {"task_name": "image.info", "url": png, "url_callback": format!("{receiver}/cb")},
                {"task_name": "image.info", "url": fx.url("/f/missing.png"),
                 "url_callback": format!("{receiver}/never"), "url_errback": format!("{receiver}/eb")},
            ]),
            true,
        )
        .await;
    assert_eq!(statuses[0]["status"], "success");
    assert_eq!(statuses[1]["status"], "error");

    // Wait for: /cb twice (503, then 200), /eb once.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let seen = loop {
        let now = seen.lock().unwrap().clone();
        let count = |p: &str| now.iter().filter(|r| r.path == p).count();
        if count("cb") >= 2 && count("eb") >= 1 {
            break now;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "callbacks so far: {now:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(seen.iter().all(|r| r.path != "never"), "errback preferred");
    for (path, status) in [("cb", &statuses[0]), ("eb", &statuses[1])] {
        let got: Vec<&Received> = seen.iter().filter(|r| r.path == path).collect();
        for r in &got {
            // t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
            let (t, v1) = r.signature.split_once(",v1=").unwrap();
            let t = t.strip_prefix("t=").unwrap();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            assert!(now.abs_diff(t.parse().unwrap()) < 60, "{t}");
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
            mac.update(format!("{t}.").as_bytes());
            mac.update(&r.body);
            mac.verify_slice(&hex::decode(v1).unwrap())
                .expect("signature matches the account secret");
            // The body is the final status, as the status route shows it.
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(&body, status, "{path}");
        }
    }
    assert_eq!(
        seen.iter().filter(|r| r.path == "cb").count(),
        2,
        "one retry after the 503"
    );
}

/// `drake sign` makes a create_file URL with the API key and an HMAC, no
/// secret: it works from anywhere (no Referer) until it expires; any
/// change to it is refused.
#[tokio::test]
async fn signed_create_file_urls() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let image = fx.add("big.jpg", "image/jpeg", common::jpeg(400, 300));
    let sign = |api_key: &str, secret: &str, expires: &str| {
        let out = std::process::Command::new(common::drake_bin())
            .args(["sign", "image.thumb", &format!("url={image}"), "width=120"])
            .args([
                "--url",
                &drake.url,
                "--filename",
                "t.jpg",
                "--expires",
                expires,
            ])
            .args(["--api-key", api_key, "--secret", secret])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let url = sign(API_KEY, SECRET, "10m");
    assert!(!url.contains(SECRET), "{url}");
    let r = common::client().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 302, "{:?}", r.text().await);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let bytes = common::download(&location).await;
    assert_eq!(image::load_from_memory(&bytes).unwrap().width(), 120);
    // One parameter changed, the expiry pushed back, a wrong secret or an
    // unknown key: 401.
    let tampered = [
        url.replace("width=120", "width=121"),
        {
            let expires: u64 = url
                .split("expires=")
                .nth(1)
                .and_then(|s| s.split('&').next())
                .unwrap()
                .parse()
                .unwrap();
            url.replace(
                &format!("expires={expires}"),
                &format!("expires={}", expires + 3600),
            )
        },
        sign(API_KEY, "not-the-secret", "10m"),
        sign("unknown-key", SECRET, "10m"),
        url.split("&signature=").next().unwrap().to_owned() + "&signature=00",
        // The file name is signed too.
        url.replace("/v1/create_file/t.jpg?", "/v1/create_file/other.jpg?"),
    ];
    for bad in &tampered {
        let r = common::client().get(bad).send().await.unwrap();
        assert_eq!(r.status(), 401, "{bad}");
    }
    // A signed query authorises only the task it signs: not a POST create
    // of other tasks, not the POST form of create_file.
    let query = url.split_once('?').unwrap().1;
    for path in ["/v1/create", "/v1/create_file"] {
        let r = common::client()
            .post(format!("{}{path}?{query}", drake.url))
            .body(json!({"tasks": [{"task_name": "image.info", "url": image}], "task": {"task_name": "image.info", "url": image}}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    // Expired: signed correctly, but for a moment in the past.
    let pairs: Vec<(String, String)> = [
        ("task_name", "image.thumb"),
        ("url", image.as_str()),
        ("width", "120"),
        ("api_key", API_KEY),
        ("expires", "1700000000"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let canonical = drake_host::sign::canonical_query(&pairs);
    let signed = drake_host::sign::signing_string("/v1/create_file", &pairs);
    let expired = format!(
        "{}/v1/create_file?{canonical}&signature={}",
        drake.url,
        drake_host::sign::url_signature(SECRET, &signed)
    );
    let r = common::client().get(&expired).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert!(body.to_string().contains("expired"), "{body}");
    // A list's values in another order are another task (another GIF):
    // the order is signed.
    let gif = |order: [&str; 2]| {
        let images: Vec<(String, String)> = order
            .iter()
            .map(|name| ("images".to_owned(), fx.url(&format!("/f/{name}"))))
            .collect();
        drake_host::sign::create_file_url(
            &drake.url,
            None,
            "image.gif",
            &images,
            API_KEY,
            SECRET,
            4_102_444_800,
        )
        .unwrap()
    };
    let (ab, ba) = (gif(["a.png", "b.png"]), gif(["b.png", "a.png"]));
    let signature = |url: &str| url.split("&signature=").nth(1).unwrap().to_owned();
    assert_ne!(signature(&ab), signature(&ba));
    let swapped = ab.replace(&signature(&ab), &signature(&ba));
    let r = common::client().get(&swapped).send().await.unwrap();
    assert_eq!(r.status(), 401, "{swapped}");
}

/// `/metrics` counts the runs of this node and the store's tasks.
#[tokio::test]
async fn metrics_in_prometheus_text() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let png = fx.add("m.png", "image/png", common::png(16, 16));
    let statuses = drake
        .create(
            json!([
                {"task_name": "image.info", "url": png},
                {"task_name": "image.info", "url": png},
                {"task_name": "image.info", "url": fx.url("/f/missing.png")},
            ]),
            true,
        )
        .await;
    assert_eq!(statuses[2]["status"], "error");
    let r = drake.get("/metrics").await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = r.text().await.unwrap();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    assert_eq!(
        value("drake_tasks{task=\"image.info\",state=\"succeeded\"}"),
        2.0
    );
    assert_eq!(
        value("drake_tasks{task=\"image.info\",state=\"failed\"}"),
        1.0
    );
    assert_eq!(value("drake_queue_depth"), 0.0);
    assert_eq!(
        value("drake_runs_total{task=\"image.info\",status=\"success\"}"),
        2.0
    );
    assert_eq!(
        value("drake_runs_total{task=\"image.info\",status=\"error\"}"),
        1.0
    );
    assert_eq!(
        value("drake_run_duration_seconds_count{task=\"image.info\"}"),
        3.0
    );
    assert_eq!(
        value("drake_run_duration_seconds_bucket{task=\"image.info\",le=\"+Inf\"}"),
        3.0
    );
    assert!(value("drake_fetched_bytes_total") >= 2.0 * common::png(16, 16).len() as f64);
    assert_eq!(value("drake_instances_in_use"), 0.0);
    // Every sample line belongs to a declared metric.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let name = line.split(['{', ' ']).next().unwrap();
        let family = name
            .trim_end_matches("_bucket")
            .trim_end_matches("_sum")
            .trim_end_matches("_count");
        assert!(
            text.contains(&format!("# TYPE {family} "))
                || text.contains(&format!("# TYPE {name} ")),
            "{line}"
        );
    }
}

/// `drake create --wait --out`, `drake status`, `drake stream` against a
/// real server. Multi-threaded: the CLI runs as a blocking child process
/// while this runtime serves its fixtures.
/// With `metrics_token`, `/metrics` answers only its bearer (the counters
/// tell every account's activity); without it, it is open.
#[tokio::test]
async fn metrics_can_require_a_bearer_token() {
    let drake = Drake::start_with(Options {
        top: "metrics_token = \"m3trics\"".into(),
        ..Options::default()
    })
    .await;
    let metrics = |token: Option<&str>| {
        let mut request = common::client().get(format!("{}/metrics", drake.url));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(metrics(None).await, 401);
    assert_eq!(metrics(Some("guess")).await, 401);
    assert_eq!(metrics(Some("m3trics")).await, 200);
    // The probes stay open.
    assert_eq!(drake.get("/healthz").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_cli() {
    // Reads need the owner's credentials here: the CLI sends its secret.
    let drake = Drake::start_with(Options {
        top: "require_auth_for_reads = true".into(),
        ..Options::default()
    })
    .await;
    let fx = Fixtures::start().await;
    let image = fx.add("c.jpg", "image/jpeg", common::jpeg(300, 200));
    let out = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(common::drake_bin())
            .args(args)
            .env("DRAKE_URL", &drake.url)
            .env("DRAKE_SECRET", SECRET)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    // Typed by the schema: width is a number, crop a boolean.
    let (ok, stdout, stderr) = cli(&[
        "create",
        "image.thumb",
        &format!("url={image}"),
        "width=60",
        "height=60",
        "crop=true",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}\n{stdout}");
    let status: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(status["status"], "success", "{status}");
    let thumb = image::open(out.path().join("output.jpg")).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (60, 60));
    let key = status["key"].as_str().unwrap();
    // status and stream of that key (already final: one line).
    let (ok, stdout, _) = cli(&["status", key]);
    assert!(ok);
    let list: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(list[0]["key"], key);
    let anonymous = std::process::Command::new(common::drake_bin())
        .args(["status", key, "--url", &drake.url])
        .env_remove("DRAKE_SECRET")
        .output()
        .unwrap();
    assert!(!anonymous.status.success());
    assert!(String::from_utf8_lossy(&anonymous.stderr).contains("401"));
    let (ok, stdout, _) = cli(&["stream", key]);
    assert!(ok);
    let line: Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(line["status"], "success");
    // Without --wait: the first status; a failing task: exit 1 with its
    // error status printed; an unknown task: the server's list.
    let (ok, stdout, _) = cli(&["create", "image.info", &format!("url={image}")]);
    assert!(ok);
    assert!(serde_json::from_str::<Value>(&stdout).unwrap()["key"].is_string());
    let (ok, stdout, _) = cli(&[
        "create",
        "image.info",
        &format!("url={}", fx.url("/f/none.png")),
        "--wait",
    ]);
    assert!(!ok);
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap()["status"],
        "error"
    );
    let (ok, _, stderr) = cli(&["create", "image.nope"]);
    assert!(!ok && stderr.contains("image.thumb"), "{stderr}");
}

/// `DRAKE_LOG_FORMAT=json`: one JSON object per line; lines logged during
/// a run carry its key, task name and account; no secret is ever logged.
#[tokio::test]
async fn json_logs_name_the_task_never_the_secret() {
    let drake = Drake::start_with(Options {
        json_logs: true,
        ..Options::default()
    })
    .await;
    let statuses = drake
        .create(
            json!([{"task_name": "image.info", "url": "http://169.254.169.254/latest/meta-data/"}]),
            true,
        )
        .await;
    let key = statuses[0]["key"].as_str().unwrap().to_owned();
    let r = common::client()
        .post(format!("{}/v1/create", drake.url))
        .body(json!({"secret": "wrong-secret-value", "tasks": []}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let log = std::fs::read_to_string(drake.data.join("drake.log")).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(!lines.is_empty());
    let blocked = lines
        .iter()
        .find(|l| l["span"]["key"] == key.as_str())
        .unwrap_or_else(|| panic!("no line of the run in\n{log}"));
    assert_eq!(blocked["span"]["task"], "image.info", "{blocked}");
    assert_eq!(blocked["span"]["account"], "test", "{blocked}");
    assert!(blocked["level"].is_string() && blocked["timestamp"].is_string());
    assert!(!log.contains(SECRET) && !log.contains("wrong-secret-value"));
}

fn usage(status: &Value) -> [u64; 5] {
    let u = &status["usage"];
    [
        "wall_ms",
        "cpu_ms",
        "peak_memory_bytes",
        "bytes_in",
        "bytes_out",
    ]
    .map(|k| {
        u[k].as_u64()
            .unwrap_or_else(|| panic!("usage.{k} in {status}"))
    })
}

#[tokio::test]
async fn final_statuses_carry_measured_usage() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    // PNG: no DCT-domain downscaling, the whole picture is decoded.
    let png = common::png(1600, 1200);
    let url = fx.add("big.png", "image/png", png.clone());
    let statuses = drake
        .create(
            json!([
                {"task_name": "image.thumb", "url": url, "width": 200},
                {"task_name": "image.thumb", "width": 200},
                {"task_name": "test.hostile", "mode": "sleep", "ms": 400},
                {"task_name": "test.hostile", "mode": "loop"},
                {"task_name": "test.hostile", "mode": "alloc"},
            ]),
            true,
        )
        .await;

    // A decode and resize: the bytes are counted exactly, the rest is
    // real work (the 1600×1200 RGB decode alone needs 5.5 MiB).
    let thumb = &statuses[0];
    assert_eq!(thumb["status"], "success", "{thumb}");
    let output = common::download(thumb["result"]["output"].as_str().unwrap()).await;
    let [wall, cpu, memory, bytes_in, bytes_out] = usage(thumb);
    assert_eq!(bytes_in, png.len() as u64);
    assert_eq!(bytes_out, output.len() as u64);
    assert!(memory > 1600 * 1200 * 3, "{thumb}");
    assert!(cpu > 0 && wall > 0, "{thumb}");

    // Refused before running: nothing used, and it says so.
    assert_eq!(statuses[1]["status"], "error");
    assert_eq!(usage(&statuses[1]), [0; 5]);

    // Sleeping takes wall time, not CPU.
    let [wall, cpu, ..] = usage(&statuses[2]);
    assert!(wall >= 400 && cpu * 4 < wall, "{}", statuses[2]);

    // A spinning guest burns CPU until the 3 s limit stops it (on a busy
    // machine it gets less than all of it; it never gets more).
    let [wall, cpu, ..] = usage(&statuses[3]);
    assert_eq!(statuses[3]["status"], "error");
    assert!(
        wall >= 3000 && cpu >= 500 && cpu <= wall + 50,
        "{}",
        statuses[3]
    );

    // Allocating until the 256 MiB cap refuses.
    let [_, _, memory, ..] = usage(&statuses[4]);
    assert!(memory > 200 << 20 && memory <= 256 << 20, "{}", statuses[4]);

    // Statuses read later carry the same stored usage.
    let again = drake.wait(thumb["key"].as_str().unwrap()).await;
    assert_eq!(again["usage"], thumb["usage"]);
    // Unfinished statuses have none.
    let queued = drake
        .create(
            json!({"task_name": "test.hostile", "mode": "sleep", "ms": 200}),
            false,
        )
        .await;
    assert!(queued[0].get("usage").is_none(), "{}", queued[0]);
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                match (k.as_str(), child) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => collect_refs(child, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_refs(i, out)),
        _ => {}
    }
}

#[tokio::test]
async fn openapi_describes_every_route_and_task_as_served() {
    let drake = Drake::start().await;
    let doc: Value = drake.get("/openapi.json").await.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let schemas = doc["components"]["schemas"].as_object().unwrap();

    // Every reference resolves inside the document.
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(refs.len() > 50, "{}", refs.len());
    for r in &refs {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{r}"));
        assert!(schemas.contains_key(name), "unresolved {r}");
    }

    // Every task is there, generated from its component: its parameters,
    // `task_name` fixed, its outputs in its result.
    let tasks: Vec<Value> = drake.get("/v1/tasks").await.json().await.unwrap();
    assert_eq!(
        doc["components"]["schemas"]["TaskDefinition"]["oneOf"]
            .as_array()
            .unwrap()
            .len(),
        tasks.len()
    );
    for task in &tasks {
        let name = task["name"].as_str().unwrap();
        let def = &schemas[name];
        assert_eq!(def["properties"]["task_name"]["const"], name);
        assert_eq!(def["required"][0], "task_name");
        for param in task["parameters"]["properties"].as_object().unwrap().keys() {
            assert!(def["properties"].get(param).is_some(), "{name}.{param}");
        }
        let result = &schemas[&format!("{name}.result")]["properties"];
        for file in task["files"].as_array().unwrap() {
            assert_eq!(result[file.as_str().unwrap()]["format"], "uri", "{name}");
        }
        for value in task["values"].as_array().unwrap() {
            assert!(result.get(value.as_str().unwrap()).is_some(), "{name}");
        }
    }
    let crop = &schemas["image.thumb"]["properties"]["crop"];
    assert_eq!(crop["type"], "boolean");

    // Every documented operation is served, and a minimal request gets an
    // answer the document lists for it.
    let client = common::client();
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let url = format!(
                "{}{}",
                drake.url,
                path.replace("{filename}", "output")
                    .replace("{key}", "AAAAAAAAAAAAAAAAAAAAAAAAAA")
                    .replace("{name}", "output.jpg")
            );
            let request = match method.as_str() {
                "get" => client.get(&url),
                "post" => client.post(&url).body("{}"),
                "delete" => client.delete(&url),
                other => panic!("{other} {path}"),
            };
            let code = request.send().await.unwrap().status().as_u16();
            assert!(
                op["responses"].get(code.to_string()).is_some(),
                "{method} {path} answered {code}, documented: {}",
                op["responses"]
            );
        }
    }
    assert_eq!(operations, 29);
}

#[tokio::test]
async fn recent_lists_the_callers_tasks_newest_first() {
    let drake = Drake::start().await;
    let sleep = |ms: u64| json!({"task_name": "test.hostile", "mode": "sleep", "ms": ms});
    for ms in [1, 2, 3] {
        drake.create(sleep(ms), false).await;
    }
    let (code, _) = drake
        .post(
            "/v1/create",
            json!({"secret": "limited-secret", "tasks": [sleep(4)]}),
        )
        .await;
    assert_eq!(code, 200);
    let recent = |query: &str, secret: Option<&str>| {
        let mut request = common::client().get(format!("{}/v1/recent{query}", drake.url));
        if let Some(secret) = secret {
            request = request.header("Authorization", format!("Secret {secret}"));
        }
        async move {
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (code, list) = recent("", Some(SECRET)).await;
    assert_eq!(code, 200);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 3, "only the caller's: {list:?}");
    assert!(list.iter().all(|s| s["task_name"] == "test.hostile"));
    let queued: Vec<_> = list
        .iter()
        .map(|s| s["events"]["queued"].as_str().unwrap().to_owned())
        .collect();
    assert!(queued.windows(2).all(|w| w[0] >= w[1]), "{queued:?}");
    let (_, two) = recent("?limit=2", Some(SECRET)).await;
    let keys = |l: &[Value]| -> Vec<Value> { l.iter().map(|s| s["key"].clone()).collect() };
    assert_eq!(keys(two.as_array().unwrap()), keys(&list[..2]));
    let (code, body) = recent("?limit=0", Some(SECRET)).await;
    assert_eq!(
        (code, envelope_names(&body)),
        (400, vec!["limit".to_owned()])
    );
    let (code, _) = recent("", None).await;
    assert_eq!(code, 401);
    // The public api_key (and a Referer, which any client can forge)
    // creates tasks but does not list them.
    let by_key = common::client()
        .get(format!("{}/v1/recent", drake.url))
        .header("Authorization", format!("Api-Key {API_KEY}"))
        .header("Referer", "https://example.com/page")
        .send()
        .await
        .unwrap();
    assert_eq!(by_key.status().as_u16(), 401);
    let body: Value = by_key.json().await.unwrap();
    assert_eq!(envelope_names(&body), ["secret"], "{body}");
}

/// Callbacks are signed with the account's secret, so only a request
/// made with the secret may set one: a task created with the public
/// api_key that sets `url_callback` or `url_errback` ends in a parameter
/// error naming them (and calls nobody); with the secret it is accepted.
#[tokio::test]
async fn only_the_secret_sets_callbacks() {
    let drake = Drake::start().await;
    let (receiver, received) = callback_receiver().await;
    let url = format!("{receiver}/ok");
    let task = json!({"task_name": "test.hostile", "mode": "sleep", "ms": 1,
                      "url_callback": url, "url_errback": url});
    let by_key = common::client()
        .post(format!("{}/v1/create", drake.url))
        .header("Referer", "https://example.com/page")
        .body(json!({"api_key": API_KEY, "tasks": [task.clone()], "block": true}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(by_key.status().as_u16(), 200);
    let status = &by_key.json::<Value>().await.unwrap()[0];
    assert_eq!(status["status"], "error", "{status}");
    let problems = status["result"]["parameters"].as_object().unwrap();
    let mut named: Vec<&str> = problems.keys().map(String::as_str).collect();
    named.sort_unstable();
    assert_eq!(named, ["url_callback", "url_errback"], "{status}");
    // With the secret, the same definition runs and calls back once.
    let ok = drake.create(task, true).await;
    assert_eq!(ok[0]["status"], "success", "{ok:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while received.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let got = received.lock().unwrap();
    assert_eq!(got.len(), 1, "one callback, the secret's task's");
}
