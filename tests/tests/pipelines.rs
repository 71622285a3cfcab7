//! Uploads and task outputs as inputs (`drake:KEY/NAME`): an upload feeds
//! a task, outputs feed the next tasks (image.thumb → image.gif →
//! video.create's SXML) across requests or in one (`drake:$N/NAME`, the
//! later tasks waiting), a failing step fails the chain, and every
//! reference that cannot be read — another
//! account's, a missing file, a failed or expired task, a public API key
//! reaching for the account's tasks — fails its task at once, naming the
//! parameter and the key.
#![expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]

use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{self, API_KEY, Drake, Options, SECRET};

/// `POST /v1/uploads?filename=NAME` with `bytes` as the body, proved by
/// `auth` (an `Authorization` value) and `referer`.
async fn upload_as(
    drake: &Drake,
    auth: &str,
    referer: Option<&str>,
    name: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> (StatusCode, Value) {
    let mut request = common::client()
        .post(format!("{}/v1/uploads", drake.url))
        .query(&[("filename", name)])
        .header("Authorization", auth)
        .header("Content-Type", content_type)
        .body(bytes);
    if let Some(referer) = referer {
        request = request.header("Referer", referer);
    }
    let r = request.send().await.unwrap();
    let code = r.status();
    let text = r.text().await.unwrap();
    (
        code,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn upload(drake: &Drake, name: &str, content_type: &str, bytes: Vec<u8>) -> Value {
    let auth = format!("Secret {SECRET}");
    let (code, status) = upload_as(drake, &auth, None, name, content_type, bytes).await;
    assert_eq!(code, StatusCode::OK, "{status}");
    status
}

/// Three photos of different sizes, uploaded: their statuses.
async fn three_photos(drake: &Drake) -> Vec<Value> {
    let mut uploads = Vec::new();
    for (i, (w, h)) in [(320, 240), (400, 300), (640, 480)].into_iter().enumerate() {
        let name = format!("p{i}.jpg");
        uploads.push(upload(drake, &name, "image/jpeg", common::jpeg(w, h)).await);
    }
    uploads
}

/// The messages a failed task gives for parameter `name`.
fn problems(status: &Value, name: &str) -> String {
    assert_eq!(status["status"], "error", "{status}");
    status["result"]["parameters"][name].to_string()
}

fn accounts() -> Options {
    Options {
        tables: r#"
[[accounts]]
name = "other"
secret = "other-secret"

[[accounts]]
name = "small"
secret = "small-secret"
max_upload_bytes = 1000
max_stored_upload_bytes = 1500
retention = "2s"
"#
        .into(),
        ..Default::default()
    }
}

/// A photo uploaded raw and another as a form become image.thumb's input;
/// the upload is a finished task whose file downloads byte for byte, and
/// its bytes count in the reading task's usage.
#[tokio::test]
async fn uploads_feed_tasks() {
    let drake = Drake::start().await;
    let photo = common::jpeg(640, 480);
    let up = upload(&drake, "holiday photo.JPG", "image/jpeg", photo.clone()).await;
    assert_eq!(up["status"], "success", "{up}");
    let key = up["key"].as_str().unwrap();
    let reference = up["reference"].as_str().unwrap();
    assert_eq!(reference, format!("drake:{key}/output"));
    assert_eq!(up["result"]["size"], photo.len());
    assert_eq!(up["result"]["content_type"], "image/jpeg");
    assert_eq!(up["result"]["filename"], "holiday photo.JPG");
    assert_eq!(up["usage"]["bytes_in"], photo.len(), "{up}");
    let url = up["result"]["output"].as_str().unwrap();
    assert!(url.ends_with(".jpg"), "{url}");
    assert_eq!(common::download(url).await, photo);
    // The status route knows it.
    assert_eq!(drake.wait(key).await["status"], "success");

    let thumb = &drake
        .create(
            json!({"task_name": "image.thumb", "url": reference, "width": 64, "height": 48}),
            true,
        )
        .await[0];
    assert_eq!(thumb["status"], "success", "{thumb}");
    assert_eq!(thumb["usage"]["bytes_in"], photo.len(), "{thumb}");
    let bytes = common::download(thumb["result"]["output"].as_str().unwrap()).await;
    let img = image::load_from_memory(&bytes).unwrap();
    assert_eq!((img.width(), img.height()), (64, 48));

    // Deduplication compares what references resolve to: the same photo
    // uploaded again is the same input; another photo is not.
    let again = upload(&drake, "copy.jpg", "image/jpeg", photo.clone()).await;
    let other = upload(&drake, "other.jpg", "image/jpeg", common::jpeg(64, 48)).await;
    assert_ne!(again["key"], up["key"]);
    let dedup = |reference: &Value| {
        json!({"secret": SECRET, "dedup": true, "block": true, "tasks": [
            {"task_name": "image.thumb", "url": reference, "width": 64, "height": 48}]})
    };
    let (_, same) = drake.post("/v1/create", dedup(&up["reference"])).await;
    assert_eq!(same[0]["key"], thumb["key"], "{same}");
    let (_, same) = drake.post("/v1/create", dedup(&again["reference"])).await;
    assert_eq!(same[0]["key"], thumb["key"], "the same bytes: {same}");
    let (_, fresh) = drake.post("/v1/create", dedup(&other["reference"])).await;
    assert_ne!(fresh[0]["key"], thumb["key"], "{fresh}");
    assert_eq!(fresh[0]["status"], "success", "{fresh}");

    // A form: the first file field, its own type and name.
    let png = common::png(120, 90);
    let boundary = "drake-test-boundary";
    let mut form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"pic.png\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    form.extend_from_slice(&png);
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let (code, up) = upload_as(
        &drake,
        &format!("Secret {SECRET}"),
        None,
        "",
        &format!("multipart/form-data; boundary={boundary}"),
        form,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{up}");
    assert_eq!(up["result"]["size"], png.len(), "{up}");
    assert_eq!(up["result"]["content_type"], "image/png");
    let info = &drake
        .create(
            json!({"task_name": "image.info", "url": up["reference"]}),
            true,
        )
        .await[0];
    assert_eq!(info["status"], "success", "{info}");
    assert_eq!(info["result"]["width"], 120, "{info}");

    // A page is kept as bytes, never served as a page.
    let page = upload(
        &drake,
        "x.html",
        "text/html",
        b"<script>1</script>".to_vec(),
    )
    .await;
    assert_eq!(page["result"]["content_type"], "application/octet-stream");
    let r = drake
        .get(
            page["result"]["output"]
                .as_str()
                .unwrap()
                .trim_start_matches(&drake.url),
        )
        .await;
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
}

/// The caps: an upload over the account's `max_upload_bytes`, or past its
/// `max_stored_upload_bytes` in all, is refused with 413 naming the
/// limit; an empty one and one without credentials with 400/401; an API
/// key needs a whitelisted Referer.
#[tokio::test]
async fn uploads_are_capped_and_authenticated() {
    let drake = Drake::start_with(accounts()).await;
    let (code, body) = upload_as(
        &drake,
        "Secret small-secret",
        None,
        "big.jpg",
        "image/jpeg",
        vec![7; 1001],
    )
    .await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let message = body["errors"][0]["description"].as_str().unwrap();
    assert!(message.contains("1000 bytes (max_upload_bytes)"), "{body}");
    let (code, body) = upload_as(&drake, "Secret small-secret", None, "e", "", vec![]).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    // Two of 800 bytes pass the file cap, not the account's total.
    let (code, body) = upload_as(&drake, "Secret small-secret", None, "a", "", vec![1; 800]).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let (code, body) = upload_as(&drake, "Secret small-secret", None, "b", "", vec![2; 800]).await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let message = body["errors"][0]["description"].as_str().unwrap();
    assert!(
        message.contains("800 bytes of its 1500 (max_stored_upload_bytes)"),
        "{body}"
    );
    let (code, body) = upload_as(&drake, "Secret nope", None, "a", "", vec![1]).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED, "{body}");
    // A form without a file, and a body that is not the form it says.
    let form = "--b\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--b--\r\n";
    let (code, body) = upload_as(
        &drake,
        &format!("Secret {SECRET}"),
        None,
        "",
        "multipart/form-data; boundary=b",
        form.into(),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("no file field"), "{body}");
    let (code, body) = upload_as(
        &drake,
        &format!("Secret {SECRET}"),
        None,
        "",
        "multipart/form-data; boundary=b",
        b"garbage".to_vec(),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    // Uploads count in max_tasks_per_hour (`limited`: 2).
    for expected in [StatusCode::OK, StatusCode::OK, StatusCode::UNAUTHORIZED] {
        let (code, body) = upload_as(
            &drake,
            "Secret limited-secret",
            None,
            "x.png",
            "image/png",
            vec![1; 10],
        )
        .await;
        assert_eq!(code, expected, "{body}");
        if code == StatusCode::UNAUTHORIZED {
            assert!(body.to_string().contains("max_tasks_per_hour"), "{body}");
        }
    }
    let key = format!("Api-Key {API_KEY}");
    let (code, body) = upload_as(&drake, &key, None, "a.png", "image/png", vec![1]).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED, "{body}");
    let (code, body) = upload_as(
        &drake,
        &key,
        Some("https://www.example.org/page"),
        "a.png",
        "image/png",
        common::png(8, 8),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
}

/// Outputs feed the next tasks, across requests: three thumbnails, a GIF
/// of them, then a video whose SXML shows a thumbnail and the GIF.
#[tokio::test]
async fn outputs_feed_the_next_tasks() {
    let drake = Drake::start().await;
    let mut thumbs = Vec::new();
    for up in three_photos(&drake).await {
        let s = &drake
            .create(
                json!({"task_name": "image.thumb", "url": up["reference"],
                       "width": 160, "height": 120}),
                true,
            )
            .await[0];
        assert_eq!(s["status"], "success", "{s}");
        thumbs.push(format!("drake:{}/output", s["key"].as_str().unwrap()));
    }
    let gif = &drake
        .create(
            // The first frame twice: one key named twice is read twice.
            json!({"task_name": "image.gif", "images": [&thumbs[0], &thumbs[1], &thumbs[2], &thumbs[0]],
                   "frame_duration": 0.2}),
            true,
        )
        .await[0];
    assert_eq!(gif["status"], "success", "{gif}");
    let gif_ref = format!("drake:{}/output", gif["key"].as_str().unwrap());
    let sxml = format!(
        r#"<movie service="craftsman-1.0"><body>
             <effect type="none" duration="1"><image filename="{}"/></effect>
             <effect type="none" duration="1"><image filename='{gif_ref}'/></effect>
           </body></movie>"#,
        thumbs[0]
    );
    let video = &drake
        .create(
            json!({"task_name": "video.create", "definition": sxml, "profile": "240p",
                   "preview": false}),
            true,
        )
        .await[0];
    assert_eq!(video["status"], "success", "{video}");
    common::assert_export(video, 2.0, 240).await;
}

/// Every reference that cannot be read fails its task at create time,
/// naming the parameter and the key: another account's, a file the task
/// does not have, a failed task, an expired one, a malformed reference,
/// an index past the request's earlier tasks, and an API key reaching
/// for a task made with the secret.
#[tokio::test]
async fn unreadable_references_fail_with_the_key_named() {
    let drake = Drake::start_with(accounts()).await;
    let theirs = {
        let (code, up) = upload_as(
            &drake,
            "Secret other-secret",
            None,
            "a.jpg",
            "image/jpeg",
            common::jpeg(32, 32),
        )
        .await;
        assert_eq!(code, StatusCode::OK, "{up}");
        up["key"].as_str().unwrap().to_owned()
    };
    let mine = upload(&drake, "a.jpg", "image/jpeg", common::jpeg(32, 32)).await;
    let mine = mine["key"].as_str().unwrap();
    let failed = &drake
        .create(
            json!({"task_name": "image.thumb", "url": "http://127.0.0.1:9/none.jpg"}),
            true,
        )
        .await[0];
    assert_eq!(failed["status"], "error");
    let failed = failed["key"].as_str().unwrap();
    let thumb = |url: String| json!({"task_name": "image.thumb", "url": url, "width": 8});
    let statuses = drake
        .create(
            json!([
                thumb(format!("drake:{theirs}/output")),
                thumb(format!("drake:{mine}/preview")),
                thumb(format!("drake:{failed}/output")),
                thumb("drake:nope/output".into()),
                thumb("drake:$9/output".into()),
            ]),
            false,
        )
        .await;
    let want = [
        format!("task {theirs} not found"),
        format!("task {mine} has no output \\\"preview\\\" (it has: output)"),
        format!("task {failed} failed"),
        "is not a valid reference".to_owned(),
        "may refer only to the tasks before it in its request ($0 to $3)".to_owned(),
    ];
    for (status, want) in statuses.iter().zip(want) {
        let got = problems(status, "url");
        assert!(got.contains(&want), "want {want:?} in {got}");
    }
    // The SXML attribute is named by its parameter.
    let doc = format!(
        r#"<movie service="craftsman-1.0"><body><effect type="none" duration="1"><image filename="drake:{theirs}/output"/></effect></body></movie>"#
    );
    let s = &drake
        .create(
            json!({"task_name": "video.create", "definition": doc}),
            false,
        )
        .await[0];
    assert!(problems(s, "definition").contains(&theirs), "{s}");

    // An API key may refer to uploads made with an API key, not to the
    // account's other tasks.
    let referer = "https://example.com/app";
    let key_auth = format!("Api-Key {API_KEY}");
    let (code, public) = upload_as(
        &drake,
        &key_auth,
        Some(referer),
        "b.png",
        "image/png",
        common::png(40, 30),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{public}");
    let base = drake.url.clone();
    let by_key = |url: String| {
        let base = base.clone();
        async move {
            let r = common::client()
                .post(format!("{base}/v1/create"))
                .header("Referer", referer)
                .body(
                    json!({"api_key": API_KEY, "block": true,
                       "tasks": [{"task_name": "image.info", "url": url}]})
                    .to_string(),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Value>().await.unwrap()[0].clone()
        }
    };
    let s = by_key(format!("drake:{mine}/output")).await;
    assert!(problems(&s, "url").contains("api_key"), "{s}");
    let s = by_key(public["reference"].as_str().unwrap().to_owned()).await;
    assert_eq!(s["status"], "success", "{s}");
    assert_eq!(s["result"]["width"], 40, "{s}");

    // `small` keeps tasks two seconds: its upload expires.
    let (code, up) = upload_as(
        &drake,
        "Secret small-secret",
        None,
        "c.png",
        "image/png",
        common::png(8, 8),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{up}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (code, s) = drake
        .post(
            "/v1/create",
            json!({"secret": "small-secret", "block": true,
                   "tasks": [{"task_name": "image.info", "url": up["reference"]}]}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{s}");
    assert!(problems(&s[0], "url").contains("not found"), "{s}");
}

/// Three photos → their thumbnails → a GIF of them → a video showing a
/// thumbnail and the GIF, in one request: later tasks name earlier ones by
/// index, wait (`queued`, `waiting_for` their keys) while those run, and
/// read their outputs. The same request again reuses every task (dedup
/// compares what the references resolve to).
#[tokio::test]
async fn a_pipeline_is_one_request() {
    let drake = Drake::start().await;
    let mut tasks = Vec::new();
    for up in three_photos(&drake).await {
        tasks.push(json!({"task_name": "image.thumb", "url": up["reference"],
                          "width": 160, "height": 120}));
    }
    tasks.push(json!({"task_name": "image.gif", "frame_duration": 0.2,
                      "images": ["drake:$0/output", "drake:$1/output", "drake:$2/output"]}));
    let sxml = r#"<movie service="craftsman-1.0"><body>
         <effect type="none" duration="1"><image filename="drake:$0/output"/></effect>
         <effect type="none" duration="1"><image filename='drake:$3/output'/></effect>
       </body></movie>"#;
    tasks.push(
        json!({"task_name": "video.create", "definition": sxml, "profile": "240p",
                      "preview": false}),
    );
    let body = json!({"secret": SECRET, "tasks": tasks, "dedup": true});
    let (code, created) = drake.post("/v1/create", body.clone()).await;
    assert_eq!(code, StatusCode::OK, "{created}");
    let keys: Vec<&str> = (0..5)
        .map(|i| created[i]["key"].as_str().unwrap())
        .collect();
    for (i, waits) in [
        (3, json!([keys[0], keys[1], keys[2]])),
        (4, json!([keys[0], keys[3]])),
    ] {
        assert_eq!(created[i]["status"], "queued", "{}", created[i]);
        assert_eq!(created[i]["waiting_for"], waits, "{}", created[i]);
    }
    let video = drake.wait(keys[4]).await;
    assert_eq!(video["status"], "success", "{video}");
    let gif = drake.wait(keys[3]).await;
    let bytes = common::download(gif["result"]["output"].as_str().unwrap()).await;
    let frames = image::codecs::gif::GifDecoder::new(std::io::Cursor::new(bytes)).unwrap();
    assert_eq!(image::AnimationDecoder::into_frames(frames).count(), 3);
    assert!(gif.get("waiting_for").is_none(), "{gif}");
    common::assert_export(&video, 2.0, 240).await;

    let (code, again) = drake.post("/v1/create", body).await;
    assert_eq!(code, StatusCode::OK, "{again}");
    let reused: Vec<&str> = (0..5).map(|i| again[i]["key"].as_str().unwrap()).collect();
    assert_eq!(reused, keys, "every task reused");
}

/// A step that fails ends every task after it, each naming the key it
/// waited for; a step refused at create fails its readers at once; an
/// index must name an earlier task; an API key may chain its own tasks.
#[tokio::test]
async fn a_failing_step_fails_the_chain() {
    let drake = Drake::start().await;
    let sxml = r#"<movie service="craftsman-1.0"><body><effect type="none" duration="1"><image filename="drake:$1/output"/></effect></body></movie>"#;
    let chain = drake
        .create(
            json!([
                {"task_name": "image.thumb", "url": "http://127.0.0.1:9/none.jpg"},
                {"task_name": "image.gif", "images": ["drake:$0/output"]},
                {"task_name": "video.create", "definition": sxml},
            ]),
            true,
        )
        .await;
    for i in 1..3 {
        let upstream = chain[i - 1]["key"].as_str().unwrap();
        assert_eq!(chain[i]["status"], "error", "{}", chain[i]);
        assert_eq!(
            chain[i]["result"],
            format!("input task {upstream} failed, so this task did not run"),
        );
    }
    assert_eq!(chain[0]["status"], "error", "{}", chain[0]);

    let refused = drake
        .create(
            json!([
                {"task_name": "image.thumb", "url": "http://127.0.0.1:9/a.jpg", "width": -5},
                {"task_name": "image.info", "url": "drake:$0/output"},
            ]),
            false,
        )
        .await;
    let first = refused[0]["key"].as_str().unwrap();
    assert!(problems(&refused[1], "url").contains(&format!("task {first} failed")));

    let forward = drake
        .create(
            json!([
                {"task_name": "image.info", "url": "drake:$1/output"},
                {"task_name": "image.info", "url": "drake:$1/output"},
            ]),
            false,
        )
        .await;
    assert!(problems(&forward[0], "url").contains("the first task of a request"));
    assert!(problems(&forward[1], "url").contains("($0 to $0)"));

    // With the public API key: its own request's tasks are readable.
    let referer = "https://example.com/app";
    let (code, up) = upload_as(
        &drake,
        &format!("Api-Key {API_KEY}"),
        Some(referer),
        "b.png",
        "image/png",
        common::png(40, 30),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{up}");
    let r = common::client()
        .post(format!("{}/v1/create", drake.url))
        .header("Referer", referer)
        .body(
            json!({"api_key": API_KEY, "block": true, "tasks": [
                {"task_name": "image.thumb", "url": up["reference"], "width": 20},
                {"task_name": "image.info", "url": "drake:$0/output"},
            ]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let statuses: Value = r.json().await.unwrap();
    assert_eq!(statuses[1]["status"], "success", "{statuses}");
    assert_eq!(statuses[1]["result"]["width"], 20, "{statuses}");
}

/// `drake create … url=@FILE` uploads the file, and the task reads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_uploads_local_files() {
    let drake = Drake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("photo.jpg");
    std::fs::write(&photo, common::jpeg(300, 200)).unwrap();
    let out = dir.path().join("out");
    let run = Command::new(common::drake_bin())
        .args(["create", "image.thumb", "width=30"])
        .arg(format!("url=@{}", photo.display()))
        .arg("--out")
        .arg(&out)
        .env("DRAKE_URL", &drake.url)
        .env("DRAKE_SECRET", SECRET)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("uploaded"), "{stderr}");
    let status: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(status["status"], "success", "{status}");
    let img = image::open(out.join("output.jpg")).unwrap();
    assert_eq!(img.width(), 30);
    // A missing file stops before anything is created.
    let run = Command::new(common::drake_bin())
        .args(["create", "image.thumb", "url=@/nonexistent/x.jpg"])
        .env("DRAKE_URL", &drake.url)
        .env("DRAKE_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("/nonexistent/x.jpg"),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // `drake run` has no stored tasks: a reference fails, saying why.
    let run = Command::new(common::drake_bin())
        .args(["run", "image.info"])
        .arg(format!("url=drake:{}/output", "A".repeat(26)))
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(!run.status.success(), "{all}");
    assert!(all.contains("not in drake run"), "{all}");
}

/// A stored input larger than what the reading task takes (html.scrape:
/// 10 MiB pages) fails the run as too large, as a download would.
#[tokio::test]
async fn a_stored_input_over_the_tasks_cap_is_too_large() {
    let drake = Drake::start().await;
    let page = format!("<html><body>{}</body></html>", "x".repeat(11 << 20));
    let up = upload(&drake, "big.html", "text/html", page.into_bytes()).await;
    let s = &drake
        .create(
            json!({"task_name": "html.scrape", "url": up["reference"]}),
            true,
        )
        .await[0];
    assert_eq!(s["status"], "error", "{s}");
    assert_eq!(s["result"], "url: the page is larger than 10 MiB", "{s}");
}
