//! The dashboard at `/`, end to end in headless Chromium (Debian's
//! `chromium` + `chromium-driver`, installed by `make test`): a person
//! fills the generated form, submits, watches the task finish and sees its
//! preview. The browser is driven over the W3C WebDriver protocol (plain
//! JSON over HTTP to chromedriver).
#![allow(clippy::unwrap_used, reason = "tests")]

use crate::common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Drake, Fixtures, SECRET};
use serde_json::{Value, json};

/// The W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one headless browser session.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Browser {
        for bin in ["/usr/bin/chromedriver", "/usr/bin/chromium"] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: `make test` installs Debian's chromium and chromium-driver"
            );
        }
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Ok(r) = http.get(format!("{base}/status")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1000",
                         "--autoplay-policy=no-user-gesture-required",
                         format!("--user-data-dir={}", profile.path().display())],
            },
        }}});
        let r: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {r}"))
            .to_owned();
        Browser {
            driver,
            base,
            session,
            http,
            _profile: profile,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let r: Value = self
            .http
            .request(method, url)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if r["value"].get("error").is_some() {
            panic!("webdriver {path}: {r}");
        }
        r["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", json!({"url": url}))
            .await;
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .call(
                reqwest::Method::POST,
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        v[ELEMENT].as_str().unwrap().to_owned()
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            json!({}),
        )
        .await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/clear"),
            json!({}),
        )
        .await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            json!({"text": text}),
        )
        .await;
    }

    /// Choose an option of a `<select>` the way a person does.
    async fn choose(&self, select: &str, value: &str) {
        self.click(select).await;
        self.click(&format!("{select} option[value=\"{value}\"]"))
            .await;
    }

    /// Pick `file` in the file picker beside field `id`; the reference the
    /// upload put in the field.
    async fn pick_file(&self, id: &str, file: &Path) -> String {
        let picker = self.find(&format!("input.upload[data-for=\"{id}\"]")).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{picker}/value"),
            json!({"text": file.display().to_string()}),
        )
        .await;
        let reference = self
            .wait_for(
                &format!("the upload's reference in {id}"),
                &format!(
                    "const v = document.getElementById('{id}').value; \
                     return v.startsWith('drake:') && v"
                ),
            )
            .await;
        reference.as_str().unwrap_or_default().to_owned()
    }

    /// Submit the form and wait for a thumbnail `width` pixels wide.
    async fn submit_for_thumbnail(&self, width: u32) {
        self.click("#submit").await;
        self.wait_for(
            &format!("a thumbnail {width} pixels wide"),
            &format!(
                "const img = document.querySelector('.card[data-task=\"image.thumb\"] .previews img');\
                 return img && img.complete && img.naturalWidth === {width}"
            ),
        )
        .await;
    }

    async fn eval(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
        .await
    }

    /// Load the dashboard at `base` and wait for its task list.
    async fn open_dashboard(&self, base: &str) {
        self.goto(&format!("{base}/")).await;
        self.wait_for(
            "the task list",
            "return document.body.dataset.ready === 'true' && \
             document.querySelectorAll('#task option').length",
        )
        .await;
    }

    /// Poll `script` until it returns something truthy.
    async fn wait_for(&self, what: &str, script: &str) -> Value {
        let started = Instant::now();
        loop {
            let v = self.eval(script).await;
            let truthy = match &v {
                Value::Null | Value::Bool(false) => false,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if truthy {
                return v;
            }
            if started.elapsed() > Duration::from_secs(90) {
                let page = self.eval("return document.body.innerText").await;
                panic!(
                    "waited 90 s for {what}; page:\n{}",
                    page.as_str().unwrap_or("")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The status badge of the card of the task whose preview or values
/// match, once final.
const CARD_STATUSES: &str = "return [...document.querySelectorAll('#statuses .card')]\
     .map(c => c.dataset.task + ':' + c.querySelector('.badge').textContent)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_a_task_see_it_complete_and_preview_it() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let image = fx.add("photo.png", "image/png", common::png(640, 480));
    let browser = Browser::start().await;
    browser.open_dashboard(&drake.url).await;
    // The form is generated from the schemas: every task is offered, and
    // image.thumb's fields are its parameters.
    let options = browser
        .eval("return [...document.querySelectorAll('#task option')].map(o => o.value)")
        .await;
    for task in [
        "image.thumb",
        "image.info",
        "audio.convert",
        "video.convert",
    ] {
        assert!(
            options.as_array().unwrap().contains(&json!(task)),
            "{options}"
        );
    }
    browser.type_into("#secret", SECRET).await;
    browser.choose("#task", "image.thumb").await;
    let fields = browser
        .eval("return [...document.querySelectorAll('#fields [name]')].map(f => f.name + ':' + f.tagName + ':' + (f.dataset.kind || ''))")
        .await;
    for field in [
        "url:INPUT:string",
        "width:INPUT:integer",
        "crop:SELECT:boolean",
        "format:SELECT:enum",
        "rotation:SELECT:enum",
    ] {
        assert!(
            fields.as_array().unwrap().contains(&json!(field)),
            "{field} in {fields}"
        );
    }

    // Submit a thumbnail: the card goes to success and shows the image.
    browser.type_into("#f-url", &image).await;
    browser.type_into("#f-width", "100").await;
    browser.choose("#f-format", "\\\"png\\\"").await;
    browser.click("#submit").await;
    browser
        .wait_for(
            "the thumbnail",
            "const img = document.querySelector('.card[data-task=\"image.thumb\"] .previews img');\
             return img && img.complete && img.naturalWidth",
        )
        .await;
    let size = browser
        .eval("const img = document.querySelector('.card .previews img'); return [img.naturalWidth, img.naturalHeight, img.src]")
        .await;
    assert_eq!(size[0], 100, "{size}");
    assert_eq!(size[1], 75, "{size}");
    assert!(size[2].as_str().unwrap().ends_with("/output.png"), "{size}");
    let statuses = browser.eval(CARD_STATUSES).await;
    assert_eq!(statuses, json!(["image.thumb:success"]));

    // WebP and AVIF thumbnails preview too: Chromium decodes what drake
    // writes, to the same picture as the PNG (mean colours compared; the
    // PNG's kept first: querySelector finds the newest card).
    browser
        .eval(
            "window.pixelAt = i => { const c = document.createElement('canvas');\
               c.width = i.naturalWidth; c.height = i.naturalHeight;\
               const g = c.getContext('2d'); g.drawImage(i, 0, 0);\
               const d = g.getImageData(0, 0, c.width, c.height).data, m = [0, 0, 0, 0];\
               for (let k = 0; k < d.length; k++) m[k % 4] += d[k];\
               return m.map(v => Math.round(v / (d.length / 4))); };\
             window.pngPixel = window.pixelAt(document.querySelector('.card .previews img'));\
             return window.pngPixel",
        )
        .await;
    for format in ["webp", "avif"] {
        browser
            .choose("#f-format", &format!("\\\"{format}\\\""))
            .await;
        browser.click("#submit").await;
        let pixels = browser
            .wait_for(
                &format!("the {format} thumbnail"),
                &format!(
                    "const img = [...document.querySelectorAll('.card .previews img')]\
                       .find(i => i.src.endsWith('/output.{format}'));\
                     if (!img || !img.complete || !img.naturalWidth) return null;\
                     return [img.naturalWidth, img.naturalHeight, window.pixelAt(img), window.pngPixel]"
                ),
            )
            .await;
        assert_eq!(
            (pixels[0].clone(), pixels[1].clone()),
            (json!(100), json!(75)),
            "{pixels}"
        );
        let channels = |v: &Value| -> Vec<i64> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_i64().unwrap())
                .collect()
        };
        let (got, want) = (channels(&pixels[2]), channels(&pixels[3]));
        assert!(
            got.iter().zip(&want).all(|(a, b)| (a - b).abs() <= 4),
            "{format} mean colour {got:?} vs PNG {want:?}"
        );
    }
    let usage = browser
        .eval("return document.querySelector('.card .usage').textContent")
        .await;
    assert!(usage.as_str().unwrap().contains("ms CPU"), "{usage}");

    // JSON values are shown as such.
    browser.choose("#task", "image.info").await;
    browser.type_into("#f-url", &image).await;
    browser.click("#submit").await;
    let values = browser
        .wait_for(
            "image.info's values",
            "const pre = document.querySelector('.card[data-task=\"image.info\"] pre.values');\
             return pre && pre.textContent",
        )
        .await;
    let values: Value = serde_json::from_str(values.as_str().unwrap()).unwrap();
    assert_eq!(values["width"], 640);
    assert_eq!(values["height"], 480);

    // Audio gets a player that can play it.
    let tone: Vec<i16> = (0..44_100)
        .map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / 44_100.0).sin() * 12_000.0) as i16)
        .collect();
    let wav = drake_audio::tests_support::pcm16_wav(44_100, 1, &tone);
    let audio = fx.add("tone.wav", "audio/wav", wav);
    browser.choose("#task", "audio.convert").await;
    browser.type_into("#f-url", &audio).await;
    browser.click("#submit").await;
    let duration = browser
        .wait_for(
            "the audio player",
            "const a = document.querySelector('.card[data-task=\"audio.convert\"] audio');\
             return a && a.readyState >= 1 && a.duration",
        )
        .await;
    let duration = duration.as_f64().unwrap();
    assert!((duration - 1.0).abs() < 0.1, "{duration}");

    // A failing task shows its error (a parameter named).
    browser.choose("#task", "image.thumb").await;
    browser.type_into("#f-url", &fx.url("/f/missing.png")).await;
    browser.click("#submit").await;
    browser
        .wait_for(
            "the error",
            "return [...document.querySelectorAll('.card .badge')].some(b => b.textContent === 'error')",
        )
        .await;

    // The recent tasks of the account list all six, newest first.
    browser.click("#refresh").await;
    let recent = browser
        .wait_for(
            "the recent tasks",
            "const items = [...document.querySelectorAll('#recent li .name')].map(n => n.textContent);\
             return items.length >= 6 && items",
        )
        .await;
    assert_eq!(
        recent,
        json!([
            "image.thumb",
            "audio.convert",
            "image.info",
            "image.thumb",
            "image.thumb",
            "image.thumb"
        ])
    );

    // A running task is cancelled from its card: it ends in error, said
    // to be cancelled.
    browser.choose("#task", "test.hostile").await;
    browser.choose("#f-mode", "\\\"sleep\\\"").await;
    browser.type_into("#f-ms", "60000").await;
    browser.click("#submit").await;
    browser
        .wait_for(
            "the cancel button",
            "const b = document.querySelector('.card[data-task=\"test.hostile\"] button.cancel');\
             return !!b && document.querySelector('.card[data-task=\"test.hostile\"] .badge').textContent === 'executing'",
        )
        .await;
    browser
        .click(".card[data-task=\"test.hostile\"] button.cancel")
        .await;
    let cancelled = browser
        .wait_for(
            "the cancelled status",
            "const pre = document.querySelector('.card[data-task=\"test.hostile\"] pre.error');\
             return pre && pre.textContent",
        )
        .await;
    assert!(
        cancelled.as_str().unwrap().starts_with("cancelled"),
        "{cancelled}"
    );

    // A wrong secret is refused with the API's message.
    browser.type_into("#secret", "not-the-secret").await;
    browser.click("#submit").await;
    let error = browser
        .wait_for(
            "the auth error",
            "return document.getElementById('error').textContent",
        )
        .await;
    assert!(error.as_str().unwrap().contains("secret"), "{error}");
}

/// A 640×480 photo on disk, and the dashboard of `drake` open with the
/// secret typed in.
async fn photo_and_dashboard(drake: &Drake) -> (tempfile::TempDir, std::path::PathBuf, Browser) {
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("photo.jpg");
    std::fs::write(&photo, common::jpeg(640, 480)).unwrap();
    let browser = Browser::start().await;
    browser.open_dashboard(&drake.url).await;
    browser.type_into("#secret", SECRET).await;
    (dir, photo, browser)
}

/// A template of the account appears in the task list once the secret is
/// given; choosing it shows a form of its fields (a URL field with its
/// file picker, a number with its default); the task made from it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_becomes_a_form() {
    let drake = Drake::start().await;
    let (code, stored) = drake
        .post(
            "/v1/templates",
            json!({"secret": SECRET, "name": "small", "description": "A small thumbnail",
                   "definition": {"task_name": "image.thumb", "url": "${photo}", "width": "${width}"},
                   "fields": [{"name": "photo", "type": "url", "required": true,
                               "description": "The photo"},
                              {"name": "width", "type": "number", "default": 64}]}),
        )
        .await;
    assert_eq!(code, reqwest::StatusCode::CREATED, "{stored}");
    let (_dir, photo, browser) = photo_and_dashboard(&drake).await;
    // Leaving the field commits the secret (its change event).
    browser.click("#summary").await;
    browser
        .wait_for(
            "the template in the task list",
            "return document.querySelector('#task option[value=\"template:small\"]') !== null",
        )
        .await;
    browser.choose("#task", "template:small").await;
    let placeholder = browser
        .wait_for(
            "the template's form",
            "const w = document.getElementById('f-width'); return w && w.placeholder",
        )
        .await;
    assert_eq!(placeholder, "64", "the default shows");
    browser.pick_file("f-photo", &photo).await;
    browser.type_into("#f-width", "48").await;
    browser.submit_for_thumbnail(48).await;
}

/// A file picked beside a URL field is uploaded and its reference fills
/// the field; files dropped on a list field are added as lines. The tasks
/// then read the uploads (a thumbnail, a GIF of two dropped frames).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_picked_or_dropped_are_uploaded_and_used() {
    let drake = Drake::start().await;
    let (_dir, photo, browser) = photo_and_dashboard(&drake).await;
    browser.choose("#task", "image.thumb").await;
    let reference = browser.pick_file("f-url", &photo).await;
    assert!(reference.ends_with("/output"), "{reference}");
    browser.type_into("#f-width", "64").await;
    browser.submit_for_thumbnail(64).await;

    // Two frames drawn in the page, dropped on image.gif's list.
    browser.choose("#task", "image.gif").await;
    browser
        .eval(
            "const frame = (colour) => new Promise(done => {\
               const c = document.createElement('canvas'); c.width = 40; c.height = 30;\
               const g = c.getContext('2d'); g.fillStyle = colour; g.fillRect(0, 0, 40, 30);\
               c.toBlob(b => done(new File([b], colour.slice(1) + '.png', {type: 'image/png'})), 'image/png');\
             });\
             Promise.all([frame('#ff0000'), frame('#0000ff')]).then(files => {\
               const dt = new DataTransfer(); files.forEach(f => dt.items.add(f));\
               document.getElementById('f-images').dispatchEvent(\
                 new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));\
             });",
        )
        .await;
    let lines = browser
        .wait_for(
            "two references in the images field",
            "const v = document.getElementById('f-images').value.split('\\n');\
             return v.length === 2 && v.every(l => l.startsWith('drake:')) && v",
        )
        .await;
    assert_ne!(lines[0], lines[1]);
    // Each upload shows as a card of its own.
    let cards = browser.eval(CARD_STATUSES).await;
    let uploads = cards
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| *c == "upload:success")
        .count();
    assert!(uploads >= 2, "{cards}");
    browser.click("#submit").await;
    let size = browser
        .wait_for(
            "the GIF of the dropped frames",
            "const img = document.querySelector('.card[data-task=\"image.gif\"] .previews img');\
             return img && img.complete && img.naturalWidth && [img.naturalWidth, img.naturalHeight]",
        )
        .await;
    assert_eq!(size, json!([40, 30]));
}

/// A DASH ladder (VP9 + Opus: Debian's Chromium has no H.264) made from
/// the form plays in the card's preview through drake's own player
/// (`/player.js`, under the page's CSP): the playhead passes 3 s with no
/// error, and the player moved up from the lowest rendition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dash_ladder_plays_in_the_dashboard() {
    let (drake, fx) = (Drake::start().await, Fixtures::start().await);
    let dir = tempfile::tempdir().unwrap();
    let video = crate::streaming::source(dir.path(), "clip.mp4", 8, false, false);
    let url = fx.add("clip.mp4", "video/mp4", video);
    let srt = fx.add(
        "clip.srt",
        "text/plain",
        b"1\n00:00:00,500 --> 00:00:02,000\nOne\n\n2\n00:00:03,000 --> 00:00:04,000\nTwo\n"
            .to_vec(),
    );
    let browser = Browser::start().await;
    browser.open_dashboard(&drake.url).await;
    browser.type_into("#secret", SECRET).await;
    browser.choose("#task", "video.convert").await;
    browser.type_into("#f-url", &url).await;
    // The sidecar as a JSON object in the string-or-object field.
    browser
        .type_into(
            "#f-captions",
            &format!(r#"{{"url": "{srt}", "burn": false}}"#),
        )
        .await;
    browser.choose("#f-format", "\\\"dash\\\"").await;
    browser.choose("#f-video_codec", "\\\"vp9\\\"").await;
    browser.type_into("#f-segment_duration", "2").await;
    browser.click("#submit").await;
    browser
        .wait_for(
            "the ladder's player",
            "const v = document.querySelector('.card[data-task=\"video.convert\"] .previews video.stream');\
             return v && v.dataset.renditions",
        )
        .await;
    browser
        .eval("document.querySelector('.previews video.stream').play(); return true")
        .await;
    let played = browser
        .wait_for(
            "3 s of playback",
            "const v = document.querySelector('.previews video.stream');\
             if (v.dataset.error || v.error) return 'error: ' + (v.dataset.error || v.error.message);\
             const cues = v.textTracks.length && v.textTracks[0].cues ? v.textTracks[0].cues.length : 0;\
             return v.currentTime > 3 && cues === 2 && [v.currentTime, v.dataset.renditions, v.videoWidth, v.dataset.subtitles]",
        )
        .await;
    assert!(played.is_array(), "{played}");
    assert!(
        played[3]
            .as_str()
            .unwrap()
            .ends_with("/output/subtitles.vtt"),
        "{played}"
    );
    let renditions = played[1].as_str().unwrap();
    assert!(
        renditions.starts_with("240p,") && renditions.contains("360p"),
        "{renditions}"
    );
    let src = browser
        .eval("return [...document.querySelectorAll('.previews a')].find((a) => a.textContent === 'output').href")
        .await;
    assert!(src.as_str().unwrap().ends_with("/output.mpd"), "{src}");

    // What MSE cannot play is said under the video, not left blank: an
    // MPEG-TS ladder, and H.264 in a browser without it (this Chromium).
    let statuses = drake
        .create(
            json!([
                {"task_name": "video.convert", "url": url, "format": "hls", "segment_format": "ts"},
                {"task_name": "video.convert", "url": url, "format": "hls"},
            ]),
            true,
        )
        .await;
    for (s, reason) in statuses.iter().zip(["MPEG-TS", "avc1"]) {
        assert_eq!(s["status"], "success", "{s}");
        let output = s["result"]["output"].as_str().unwrap();
        let h264 = browser
            .eval("return MediaSource.isTypeSupported('video/mp4; codecs=\"avc1.64001e\"')")
            .await;
        if reason == "avc1" && h264 == json!(true) {
            continue;
        }
        browser
            .eval(&format!(
                "const v = document.createElement('video'); v.id = 'ts-{reason}';\
                 document.body.append(v); drakePlayer.attach(v, {output:?}); return true"
            ))
            .await;
        let shown = browser
            .wait_for(
                "the player's reason",
                &format!(
                    "const v = document.getElementById('ts-{reason}'); const p = v.nextElementSibling;\
                     return v.dataset.error && p && p.className === 'stream-error' && p.textContent"
                ),
            )
            .await;
        assert!(shown.as_str().unwrap().contains(reason), "{shown}");
    }
}
