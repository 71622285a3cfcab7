//! Templates (`/v1/templates`, `{"template": NAME, "fields": {…}}`): stored
//! per account with the secret, rendered at create time with either
//! credential; typed fields, XML-hostile text kept as text in SXML and in
//! JSON, field errors naming the field, dedup on the rendered definition,
//! a browser page's `create_file` URL filling a template.
#![expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{self, API_KEY, Drake, Fixtures, SECRET};

/// `POST /v1/templates` with the secret.
async fn put(drake: &Drake, template: Value) -> (StatusCode, Value) {
    let mut body = template;
    body["secret"] = json!(SECRET);
    drake.post("/v1/templates", body).await
}

async fn get(drake: &Drake, path: &str) -> (StatusCode, Value) {
    let r = common::client()
        .get(format!("{}{path}", drake.url))
        .header("Authorization", format!("Secret {SECRET}"))
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

/// The SXML of a photo and a title: the title lands in XML text, an
/// attribute and CDATA; the photo in an attribute; the number in one.
const SLIDE: &str = r#"<movie service="craftsman-1.0"><body>
  <effect type="none" duration="${seconds}"><image filename="${photo}"/></effect>
  <effect type="none" duration="1"><text type="zone"><![CDATA[${title}]]></text></effect>
  <effect type="none" duration="1"><text type="zone" name="${title}">${title}</text></effect>
</body></movie>"#;

fn slide_template() -> Value {
    json!({
        "name": "slide",
        "description": "A titled photo",
        "definition": {
            "task_name": "video.create",
            "definition": SLIDE,
            "profile": "240p",
            "preview": false,
            "task_metas": {"title": "${title}", "seconds": "${seconds}"},
        },
        "fields": [
            {"name": "title", "type": "text", "required": true},
            {"name": "photo", "type": "url", "required": true},
            {"name": "seconds", "type": "number", "default": 1},
        ],
    })
}

/// Stored, replaced, listed, read and deleted with the secret; refused
/// with the API key; a template whose placeholders name no field, or whose
/// fields are malformed, is a 400 naming each problem.
#[tokio::test]
async fn templates_are_stored_listed_and_deleted() {
    let drake = Drake::start().await;
    let (code, stored) = put(&drake, slide_template()).await;
    assert_eq!(code, StatusCode::CREATED, "{stored}");
    assert_eq!(stored["name"], "slide");
    assert!(stored["created"].as_str().unwrap().ends_with("+00:00"));
    let mut second = slide_template();
    second["name"] = json!("a-first");
    assert_eq!(put(&drake, second.clone()).await.0, StatusCode::CREATED);
    second["description"] = json!("replaced");
    let (code, replaced) = put(&drake, second).await;
    assert_eq!(code, StatusCode::OK, "{replaced}");
    let (code, list) = get(&drake, "/v1/templates").await;
    assert_eq!(code, StatusCode::OK);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a-first", "slide"]);
    assert_eq!(list[0]["description"], "replaced");
    let (code, one) = get(&drake, "/v1/templates/slide").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(one["fields"][2]["default"], 1);

    let r = common::client()
        .delete(format!("{}/v1/templates/a-first", drake.url))
        .header("Authorization", format!("Secret {SECRET}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        get(&drake, "/v1/templates/a-first").await.0,
        StatusCode::NOT_FOUND
    );

    // The public API key neither defines nor reads templates.
    let (code, _) = drake
        .post(
            "/v1/templates",
            json!({"api_key": API_KEY, "name": "x", "definition": {"task_name": "image.info"}}),
        )
        .await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);

    let (code, refused) = put(
        &drake,
        json!({"name": "bad/name", "definition": {"task_name": "image.thumb",
                 "url": "${u}", "width": "${nope}"},
               "fields": [{"name": "u", "type": "url", "default": "ftp://x"}]}),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let text = refused.to_string();
    for want in ["template name", "${nope} names no field", "not a valid URL"] {
        assert!(text.contains(want), "{want} in {text}");
    }
    let (code, refused) = put(
        &drake,
        json!({"name": "t", "definition": {"task_name": "image.info"},
               "fields": [{"name": "d", "type": "date"}]}),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{refused}");
}

/// A title full of XML's special characters renders as text wherever it
/// lands (SXML text, attribute, CDATA, and JSON `task_metas`); a number
/// field gives a number; the rendered video is made. Field errors fail
/// the task naming the field; the template edited later leaves tasks as
/// they were rendered; dedup compares rendered definitions.
#[tokio::test]
async fn fields_render_as_text_and_typed_values() {
    let drake = Drake::start().await;
    let fixtures = Fixtures::start().await;
    let photo = fixtures.add("p.jpg", "image/jpeg", common::jpeg(320, 240));
    assert_eq!(put(&drake, slide_template()).await.0, StatusCode::CREATED);
    let hostile = r#"Tom & Jerry <b>"quoted"</b> 'apos' ]]> ${title}"#;
    let task = json!({"template": "slide", "task_metas": {"mine": true},
                      "fields": {"title": hostile, "photo": photo, "seconds": "2"}});
    let status = &drake.create(task.clone(), true).await[0];
    assert_eq!(status["status"], "success", "{status}");
    // The request's task_metas win over the template's.
    assert_eq!(status["task_metas"], json!({"mine": true}));
    common::assert_export(status, 4.0, 240).await;

    // Without task_metas of its own, the template's echo the fields as
    // they were given: the JSON string holds the text unchanged.
    let echo = json!({"template": "slide", "fields": {"title": hostile, "photo": photo}});
    let created = drake.create(echo.clone(), false).await;
    assert_eq!(
        created[0]["task_metas"],
        json!({"title": hostile, "seconds": 1})
    );

    // Same fields, dedup: the same task; other fields: another.
    let (_, again) = drake
        .post(
            "/v1/create",
            json!({"secret": SECRET, "tasks": echo, "dedup": true}),
        )
        .await;
    assert_eq!(again[0]["key"], created[0]["key"]);

    // The template changes; the task made before keeps its rendering.
    let mut edited = slide_template();
    edited["definition"]["task_metas"] = json!({"edited": "${title}"});
    assert_eq!(put(&drake, edited).await.0, StatusCode::OK);
    let key = created[0]["key"].as_str().unwrap();
    let (_, now) = drake.post("/v1/status", json!({"tasks": key})).await;
    assert_eq!(now[0]["task_metas"]["title"], hostile);
    let fresh = drake.create(echo, false).await;
    assert_eq!(fresh[0]["task_metas"], json!({"edited": hostile}));

    // Field problems fail the task, naming each field.
    let bad = &drake
        .create(
            json!({"template": "slide",
                   "fields": {"photo": "not a url", "seconds": "long", "colour": "#fff"}}),
            false,
        )
        .await[0];
    assert_eq!(bad["status"], "error", "{bad}");
    let params = &bad["result"]["parameters"];
    assert!(
        params["title"][0].as_str().unwrap().contains("required"),
        "{bad}"
    );
    assert!(
        params["photo"][0].as_str().unwrap().contains("URL"),
        "{bad}"
    );
    assert!(
        params["seconds"][0].as_str().unwrap().contains("number"),
        "{bad}"
    );
    assert!(
        params["colour"][0].as_str().unwrap().contains("no field"),
        "{bad}"
    );

    // A template that does not exist, or a parameter beside the fields,
    // is a request error.
    let (code, body) = drake
        .post(
            "/v1/create",
            json!({"secret": SECRET, "tasks": [{"template": "nope"},
                   {"template": "slide", "width": 3}]}),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let text = body.to_string();
    assert!(text.contains("no template \\\"nope\\\""), "{text}");
    assert!(text.contains("belongs in the template"), "{text}");
}

/// A browser page embeds a `create_file` URL that fills a template with
/// the public API key; fields may name an earlier task of the request
/// (`drake:$0/output`) in a pipeline of template tasks.
#[tokio::test]
async fn create_file_and_pipelines_fill_templates() {
    let drake = Drake::start().await;
    let fixtures = Fixtures::start().await;
    let photo = fixtures.add("p.jpg", "image/jpeg", common::jpeg(400, 300));
    let (code, stored) = put(
        &drake,
        json!({"name": "thumb", "definition": {"task_name": "image.thumb",
                 "url": "${photo}", "width": "${width}"},
               "fields": [{"name": "photo", "type": "url", "required": true},
                          {"name": "width", "type": "number", "default": 64}]}),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{stored}");
    let encoded: String = url::form_urlencoded::byte_serialize(photo.as_bytes()).collect();
    let r = common::client()
        .get(format!(
            "{}/v1/create_file?template=thumb&photo={encoded}&width=48&api_key={API_KEY}",
            drake.url
        ))
        .header("Referer", "https://example.com/page")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND, "{:?}", r.text().await);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let bytes = common::download(&location).await;
    assert_eq!(image::load_from_memory(&bytes).unwrap().width(), 48);

    let chain = drake
        .create(
            json!([
                {"template": "thumb", "fields": {"photo": photo, "width": 200}},
                {"template": "thumb", "fields": {"photo": "drake:$0/output", "width": 50}},
            ]),
            true,
        )
        .await;
    assert_eq!(chain[1]["status"], "success", "{chain:?}");
    assert_eq!(chain[1]["result"]["width"], 50);
}

/// `drake template put|get|list|rm` and `drake create --template NAME
/// field=value …` (a field `@FILE` uploads the file).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_manages_templates_and_fills_them() {
    let drake = Drake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| {
        let run = std::process::Command::new(common::drake_bin())
            .args(args)
            .env("DRAKE_URL", &drake.url)
            .env("DRAKE_SECRET", SECRET)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
        (
            run.status.success(),
            String::from_utf8_lossy(&run.stdout).into_owned(),
            stderr,
        )
    };
    let file = dir.path().join("thumb.json");
    std::fs::write(
        &file,
        json!({"name": "small", "description": "A small thumbnail",
               "definition": {"task_name": "image.thumb", "url": "${photo}", "width": "${width}"},
               "fields": [{"name": "photo", "type": "url", "required": true},
                          {"name": "width", "type": "number", "default": 64}]})
        .to_string(),
    )
    .unwrap();
    let (ok, out, err) = cli(&["template", "put", file.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["name"],
        "small"
    );
    let (ok, out, err) = cli(&["template", "list"]);
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()[0]["name"],
        "small"
    );
    let (ok, out, _) = cli(&["template", "get", "small"]);
    assert!(ok);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["fields"][1]["default"],
        64
    );
    // What `get` prints, edited, goes back with `put`.
    std::fs::write(&file, out.replace("A small thumbnail", "Edited")).unwrap();
    let (ok, out, err) = cli(&["template", "put", file.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["description"],
        "Edited"
    );

    let photo = dir.path().join("p.jpg");
    std::fs::write(&photo, common::jpeg(300, 200)).unwrap();
    let photo_arg = format!("photo=@{}", photo.display());
    let (ok, out, err) = cli(&[
        "create",
        "--template",
        "small",
        &photo_arg,
        "width=40",
        "--wait",
    ]);
    assert!(ok, "{err}");
    let status: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["status"], "success", "{status}");
    assert_eq!(status["result"]["width"], 40);
    // A field of the wrong type: the task fails naming it.
    let (ok, out, _) = cli(&[
        "create",
        "--template",
        "small",
        &photo_arg,
        "width=wide",
        "--wait",
    ]);
    assert!(!ok);
    assert!(out.contains("width"), "{out}");

    let (ok, _, err) = cli(&["template", "rm", "small"]);
    assert!(ok, "{err}");
    let (ok, _, err) = cli(&["template", "get", "small"]);
    assert!(!ok && err.contains("404"), "{err}");
}
