//! The Spin components (`make spin`) on a real `wasi:http` runtime:
//! wasmtime-wasi-http's proxy host as `wasmtime serve` runs it
//! (`tests/spin-serve`; no `spin` CLI is installable from the registries).
//! Every Spin task answers as the
//! same task on drake's host for the same input, byte for byte; literal
//! private addresses are refused; the secret is enforced; bad requests get
//! dragon's shapes; `spin.toml`, the registry and the artefacts agree.
#![allow(clippy::unwrap_used, reason = "tests: a failure is a panic")]

use crate::common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use drake_host::registry;
use reqwest::StatusCode;
use serde_json::{Map, Value, json};

use crate::common::{Drake, Fixtures};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The tests' `wasi:http` runtime (`tests/spin-serve`, which `make test`
/// builds with the workspace).
fn spin_serve_bin() -> PathBuf {
    let bin = common::target_dir()
        .join("release")
        .join("drake-spin-serve");
    assert!(
        bin.is_file(),
        "{} is missing: `make test` builds it first",
        bin.display()
    );
    bin
}

/// One Spin component under drake-spin-serve on a loopback port.
struct Serve {
    child: Child,
    url: String,
}

impl Serve {
    /// Serve `task`'s Spin build with `env` as its environment.
    fn start(task: &str, env: &[(&str, &str)]) -> Serve {
        let wasm = workspace().join(registry::spin_artifact(task));
        assert!(
            wasm.is_file(),
            "{} is missing: `make test` runs `make spin` first",
            wasm.display()
        );
        let mut cmd = Command::new(spin_serve_bin());
        cmd.args(["--addr", "127.0.0.1:0"]);
        for (k, v) in env {
            cmd.arg("--env").arg(format!("{k}={v}"));
        }
        let child = cmd
            .arg(&wasm)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Owned at once, so a failure below still kills and reaps it.
        let mut serve = Serve {
            child,
            url: String::new(),
        };
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let stdout = serve.child.stdout.take().unwrap();
        let stderr = serve.child.stderr.take().unwrap();
        for stream in [
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Box::new(stderr),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        // Compiling a component takes a few seconds; 120 s allows for a
        // loaded machine.
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("drake-spin-serve {task}: no address"));
            if let Some(url) = line.strip_prefix("Serving HTTP on ") {
                serve.url = url.trim_end_matches('/').to_owned();
                return serve;
            }
        }
    }

    fn run_url(&self, task: &str) -> String {
        format!("{}/v1/run/{task}", self.url)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The fixture server's loopback address is the one private address the
/// components may reach.
const ALLOW: (&str, &str) = ("DRAKE_FETCH_ALLOW", "127.0.0.1");

/// A working definition of every Spin task, its inputs on `fixtures`.
fn definitions(fixtures: &Fixtures) -> Vec<(&'static str, Value)> {
    let photo = fixtures.add("photo.jpg", "image/jpeg", common::jpeg(1200, 800));
    let small = fixtures.add("small.png", "image/png", common::png(160, 120));
    let song = fixtures.add(
        "song.mp3",
        "audio/mpeg",
        std::fs::read(workspace().join("tests/fixtures/media/mosey_along.mp3")).unwrap(),
    );
    let wav = fixtures.add(
        "tone.wav",
        "audio/wav",
        drake_audio::tests_support::wav(22_050, 2, 3.0),
    );
    let page = fixtures.add(
        "page.html",
        "text/html; charset=utf-8",
        std::fs::read(workspace().join("tests/fixtures/html/famous.html")).unwrap(),
    );
    vec![
        ("image.info", json!({"url": photo})),
        (
            "image.thumb",
            json!({"url": photo, "width": 200, "height": 150, "crop": true}),
        ),
        ("image.face", json!({"url": photo})),
        ("image.saliency", json!({"url": photo})),
        (
            "image.smartcrop",
            json!({"url": photo, "aspect_ratio": 1.0, "boxes_number": 2}),
        ),
        ("image.gif", json!({"images": [photo, small], "width": 120})),
        ("audio.info", json!({"url": song})),
        (
            "audio.waveform",
            json!({"url": wav, "width": 300, "height": 60}),
        ),
        ("audio.beats", json!({"url": song})),
        ("html.scrape", json!({"url": page})),
    ]
}

/// Split a result into its values and its files (by the task's file
/// names), the files as bytes: drake's are downloaded, Spin's decoded from
/// their `data:` URLs.
async fn split(
    task: &str,
    result: &Value,
    files: &[String],
) -> (Map<String, Value>, Vec<(String, Vec<u8>)>) {
    let mut values = result.as_object().cloned().unwrap_or_default();
    let mut bytes = Vec::new();
    for name in files {
        let Some(Value::String(at)) = values.remove(name) else {
            continue;
        };
        let body = match at.strip_prefix("data:") {
            Some(data) => {
                let (_, b64) = data.split_once(";base64,").unwrap();
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).unwrap()
            }
            None => common::download(&at).await.to_vec(),
        };
        assert!(!body.is_empty(), "{task}: empty {name}");
        bytes.push((name.clone(), body));
    }
    (values, bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_spin_task_answers_as_on_drake() {
    let fixtures = Fixtures::start().await;
    let defs = definitions(&fixtures);
    let mut defined: Vec<&str> = defs.iter().map(|(t, _)| *t).collect();
    defined.sort_unstable();
    assert_eq!(defined, spin_tasks(), "one definition per Spin task");
    let drake = Drake::start().await;
    let tasks = common::client()
        .get(format!("{}/v1/tasks", drake.url))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    // Start every component at once: each compiles for a few seconds.
    let serves: Vec<Serve> = std::thread::scope(|s| {
        let handles: Vec<_> = defs
            .iter()
            .map(|(task, _)| s.spawn(move || Serve::start(task, &[ALLOW])))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let http = common::client();
    for ((task, params), serve) in defs.iter().zip(&serves) {
        let files: Vec<String> = tasks
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == *task)
            .and_then(|t| t["files"].as_array())
            .map(|f| {
                f.iter()
                    .filter_map(|n| n.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();

        let mut def = params.as_object().cloned().unwrap();
        def.insert("task_name".into(), Value::from(*task));
        let on_drake = drake.create(Value::Object(def), true).await.remove(0);
        assert_eq!(on_drake["status"], "success", "{task} on drake: {on_drake}");

        let answer = http
            .post(serve.run_url(task))
            .header("accept", "application/json")
            .json(params)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{task} on Spin");
        let on_spin: Value = answer.json().await.unwrap();
        assert_eq!(on_spin["status"], "success", "{task} on Spin: {on_spin}");

        let (drake_values, drake_files) = split(task, &on_drake["result"], &files).await;
        let (spin_values, spin_files) = split(task, &on_spin["result"], &files).await;
        assert_eq!(spin_values, drake_values, "{task}: values");
        assert_eq!(
            spin_files.len(),
            drake_files.len(),
            "{task}: the same output files"
        );
        for ((name, a), (_, b)) in spin_files.iter().zip(&drake_files) {
            assert!(
                a == b,
                "{task}: {name} differs ({} vs {} bytes)",
                a.len(),
                b.len()
            );
        }

        // A GET of a file task answers with the file, values in a header.
        if let Some((name, bytes)) = drake_files.first() {
            let query: Vec<(String, String)> = params
                .as_object()
                .unwrap()
                .iter()
                .flat_map(|(k, v)| match v {
                    Value::Array(items) => items
                        .iter()
                        .map(|i| (k.clone(), i.as_str().unwrap_or_default().to_owned()))
                        .collect::<Vec<_>>(),
                    Value::String(s) => vec![(k.clone(), s.clone())],
                    other => vec![(k.clone(), other.to_string())],
                })
                .collect();
            let got = http
                .get(serve.run_url(task))
                .query(&query)
                .send()
                .await
                .unwrap();
            assert_eq!(got.status(), StatusCode::OK, "GET {task}");
            let header = |n: &str| {
                got.headers()
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            let content_type = header("content-type");
            let result: Value = serde_json::from_str(&header("x-drake-result")).unwrap();
            assert!(
                content_type.starts_with("image/"),
                "GET {task}: {content_type}"
            );
            assert_eq!(result, Value::Object(drake_values.clone()), "GET {task}");
            let body = got.bytes().await.unwrap();
            assert!(body == bytes.as_slice(), "GET {task}: {name} differs");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn literal_private_addresses_are_refused() {
    let fixtures = Fixtures::start().await;
    let photo = fixtures.add("p.jpg", "image/jpeg", common::jpeg(64, 48));
    let port = fixtures.addr.unwrap().port();
    let closed = Serve::start("image.info", &[]);
    let open = Serve::start("image.info", &[ALLOW]);
    let http = common::client();
    let run = |serve: &Serve, url: String| {
        let request = http.get(serve.run_url("image.info")).query(&[("url", url)]);
        async move {
            let r = request.send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    for url in [
        photo.clone(),
        format!("http://[::ffff:127.0.0.1]:{port}/f/p.jpg"),
        format!("http://[::1]:{port}/f/p.jpg"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/x.jpg".to_owned(),
    ] {
        let (status, body) = run(&closed, url.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}");
        let message = body["result"].as_str().unwrap_or_default();
        assert!(
            message.contains("blocked by the network policy"),
            "{url}: {body}"
        );
    }
    // Allowed, the fixture is fetched; a redirect from it to the metadata
    // address is still refused.
    let (status, body) = run(&open, photo).await;
    assert_eq!(
        (status, &body["result"]["width"]),
        (StatusCode::OK, &json!(64))
    );
    let (status, body) = run(&open, fixtures.url("/redirect-to-metadata")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["result"]
            .as_str()
            .unwrap_or_default()
            .contains("169.254.169.254 is a link-local address"),
        "{body}"
    );
}

/// A server that accepts the connection and never answers is a fetch
/// timeout after `DRAKE_FETCH_TIMEOUT`, not a request that hangs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_server_is_a_fetch_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        // Connections are held open, unanswered, until the test ends.
        let held: Vec<_> = listener.incoming().collect();
        drop(held);
    });
    let serve = Serve::start("image.info", &[ALLOW, ("DRAKE_FETCH_TIMEOUT", "1")]);
    let r = common::client()
        .get(serve.run_url("image.info"))
        .query(&[("url", format!("http://{addr}/photo.jpg"))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"status": "error", "result": "url: could not fetch: timed out"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_is_enforced_and_bad_requests_get_dragon_shapes() {
    let fixtures = Fixtures::start().await;
    let photo = fixtures.add("p.jpg", "image/jpeg", common::jpeg(64, 48));
    let serve = Serve::start("image.thumb", &[ALLOW, ("DRAKE_SECRET", "s3cret")]);
    let url = serve.run_url("image.thumb");
    let http = common::client();
    let params = [("url", photo.as_str()), ("width", "32")];

    let missing = http.get(&url).query(&params).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(
        body,
        json!({"status": "error", "errors": [
            {"name": "secret", "location": "header", "description": "secret is missing"}]})
    );
    let wrong = http
        .get(&url)
        .query(&params)
        .header("authorization", "Secret nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let by_header = http
        .get(&url)
        .query(&params)
        .header("authorization", "Secret s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(by_header.status(), StatusCode::OK);
    let thumb = image::load_from_memory(&by_header.bytes().await.unwrap()).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (32, 24));
    let by_query = http
        .get(&url)
        .query(&params)
        .query(&[("secret", "s3cret")])
        .send()
        .await
        .unwrap();
    assert_eq!(by_query.status(), StatusCode::OK);
    let by_body = http
        .post(&url)
        .json(&json!({"url": photo, "width": 32, "secret": "s3cret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(by_body.status(), StatusCode::OK);
    assert_eq!(
        by_body.headers()["content-type"].to_str().unwrap(),
        "image/jpeg"
    );

    let authed = |r: reqwest::RequestBuilder| r.header("authorization", "Secret s3cret");
    let bad = authed(http.get(&url))
        .query(&[("url", photo.as_str()), ("width", "wide"), ("zoom", "2")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        bad.json::<Value>().await.unwrap(),
        json!({"status": "error", "result": {"parameters": {
            "width": ["not a valid integer"], "zoom": ["unknown parameter"]}}})
    );
    let junk = authed(http.post(&url))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(junk.status(), StatusCode::BAD_REQUEST);
    let junk: Value = junk.json().await.unwrap();
    assert_eq!(junk["errors"][0]["name"], "body", "{junk}");
    let elsewhere = authed(http.get(format!("{}/v1/run/image.info", serve.url)))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND);
    let gone = authed(http.get(&url))
        .query(&[("url", fixtures.url("/f/missing.jpg"))])
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        gone.json::<Value>().await.unwrap(),
        json!({"status": "error", "result": "url: could not fetch: the server answered HTTP 404"})
    );
}

/// The Spin tasks, by name.
fn spin_tasks() -> Vec<&'static str> {
    registry::TASKS
        .iter()
        .filter(|t| t.spin)
        .map(|t| t.name)
        .collect()
}

/// The registry (generated from the task crates, as spin.toml is: the
/// catalog's own test checks both are current) and the built artefacts
/// agree: every task has its component, every Spin task its Spin build,
/// which exports `wasi:http/incoming-handler` and none of drake's task
/// world; spin.toml names exactly those builds.
#[test]
fn the_manifest_the_registry_and_the_artefacts_agree() {
    let root = workspace();
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(root.join("spin.toml")).unwrap()).unwrap();
    let components = manifest["component"].as_table().unwrap();
    let mut ids: Vec<&str> = components.keys().map(String::as_str).collect();
    ids.sort_unstable();
    let expected: Vec<String> = spin_tasks()
        .iter()
        .map(|t| registry::component_id(t))
        .collect();
    assert_eq!(ids, expected);
    for task in registry::TASKS {
        let wasm = common::components_dir().join(registry::component_file(task.name));
        let bytes = std::fs::read(&wasm)
            .unwrap_or_else(|e| panic!("{}: {e} (`make components`)", wasm.display()));
        let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        assert!(
            has(b"drake:task/"),
            "{}: not a drake task component",
            wasm.display()
        );
        if !task.spin {
            continue;
        }
        let source = components[&registry::component_id(task.name)]["source"]
            .as_str()
            .unwrap();
        assert_eq!(source, registry::spin_artifact(task.name));
        let spin = std::fs::read(root.join(source))
            .unwrap_or_else(|e| panic!("{source}: {e} (`make spin`)"));
        let has = |needle: &[u8]| spin.windows(needle.len()).any(|w| w == needle);
        assert!(
            has(b"wasi:http/incoming-handler@") && !has(b"drake:task/"),
            "{source} is not a Spin build of {}",
            task.name
        );
    }
}
