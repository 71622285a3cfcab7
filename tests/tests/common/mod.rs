//! The end-to-end harness: a real `drake serve` process on a loopback port
//! (built by `make test` before the tests run), a fixture HTTP server in
//! the test process, and small helpers. Nothing here touches the internet:
//! the server's fetch allow-list opens loopback only.
#![allow(dead_code, reason = "the tests and each bench use different subsets")]
#![allow(clippy::unwrap_used, reason = "test harness: failures are panics")]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub mod corpus;
pub mod s3;

pub const SECRET: &str = "test-secret";
pub const API_KEY: &str = "test-api-key";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
}

/// The `drake` binary (`make test` builds it first).
pub fn drake_bin() -> PathBuf {
    let bin = target_dir().join("release").join("drake");
    assert!(
        bin.is_file(),
        "{} is missing: run `make test` (it builds the binary and components first)",
        bin.display()
    );
    bin
}

/// The built components.
pub fn components_dir() -> PathBuf {
    target_dir().join("wasm32-wasip2").join("release")
}

/// A running `drake serve`.
pub struct Drake {
    child: Option<Child>,
    pub url: String,
    pub data: PathBuf,
    config_path: PathBuf,
    json_logs: bool,
    args: Vec<String>,
    _tmp: Option<tempfile::TempDir>,
}

/// Extra configuration for a test server.
#[derive(Clone, Default)]
pub struct Options {
    /// Raw TOML appended to the base configuration (top-level keys only
    /// before any table).
    pub top: String,
    /// Raw TOML tables appended at the end.
    pub tables: String,
    /// Info-level JSON logs into `<data>/drake.log` (rather than warnings
    /// on the test's stderr).
    pub json_logs: bool,
    /// Raw TOML keys added to the `[fetch]` table.
    pub fetch: String,
    /// Raw TOML keys added to the `[scheduler]` table.
    pub scheduler: String,
    /// A data directory shared with other nodes (default: a fresh one).
    pub data_dir: Option<PathBuf>,
    /// Extra `drake serve` arguments (`--api-only`).
    pub args: Vec<String>,
    /// Concurrent task runs (default 2).
    pub workers: Option<usize>,
}

impl Drake {
    /// Start a server with the default test configuration.
    pub async fn start() -> Drake {
        Self::start_with(Options::default()).await
    }

    /// Start a server with extra configuration.
    pub async fn start_with(opts: Options) -> Drake {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().to_path_buf();
        let data_dir = opts.data_dir.clone().unwrap_or_else(|| data.clone());
        let cache = target_dir().join("drake-test-cache");
        let config = format!(
            r#"
listen = "127.0.0.1:0"
data_dir = "{data_dir}"
components_dir = "{components}"
test_tasks = true
workers = {workers}
{top}

[engine]
cache_dir = "{cache}"
memory_limit = 268435456
time_limits = {{ "test.hostile" = "3s" }}

[fetch]
allow = ["127.0.0.0/8"]
{fetch}

[scheduler]
lease = "3s"
maintenance_interval = "1s"
poll_interval = "200ms"
{scheduler}

[[accounts]]
name = "test"
secret = "{SECRET}"
api_keys = ["{API_KEY}"]
referrers = ["example.com", "*.example.org"]

[[accounts]]
name = "limited"
secret = "limited-secret"
max_tasks_per_hour = 2

{tables}
"#,
            data_dir = data_dir.display(),
            components = components_dir().display(),
            cache = cache.display(),
            top = opts.top,
            workers = opts.workers.unwrap_or(2),
            tables = opts.tables,
            fetch = opts.fetch,
            scheduler = opts.scheduler,
        );
        let config_path = data.join("drake.toml");
        std::fs::write(&config_path, config).unwrap();
        let mut drake = Drake {
            child: None,
            url: String::new(),
            data,
            config_path,
            json_logs: opts.json_logs,
            args: opts.args.clone(),
            _tmp: Some(tmp),
        };
        drake.spawn().await;
        drake
    }

    /// (Re)start the process on the same data directory.
    pub async fn spawn(&mut self) {
        let mut command = Command::new(drake_bin());
        command
            .args(["serve", "--config"])
            .arg(&self.config_path)
            .args(&self.args)
            .env("DRAKE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if self.json_logs {
            let log = std::fs::File::create(self.data.join("drake.log")).unwrap();
            command
                .env("DRAKE_LOG", "info")
                .env("DRAKE_LOG_FORMAT", "json")
                .stderr(Stdio::from(log));
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let url = tokio::task::spawn_blocking(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap() == 0 {
                    panic!("drake exited before listening");
                }
                if let Some(rest) = line.strip_prefix("drake listening on ") {
                    let url = rest.split_whitespace().next().unwrap().to_owned();
                    // Keep draining stdout so the child never blocks on it.
                    std::thread::spawn(move || {
                        let mut sink = String::new();
                        while reader.read_line(&mut sink).unwrap_or(0) > 0 {
                            sink.clear();
                        }
                    });
                    return url;
                }
            }
        });
        let url = tokio::time::timeout(Duration::from_secs(120), url)
            .await
            .expect("drake did not start within 120 s")
            .unwrap();
        self.url = url;
        self.child = Some(child);
    }

    /// The server's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL the process (no cleanup, like a crash).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM the process and wait (up to `limit`) for it to exit; its
    /// exit status.
    pub async fn terminate(&mut self, limit: Duration) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("drake is running");
        let pid = child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let waited = tokio::time::timeout(
            limit,
            tokio::task::spawn_blocking(move || {
                let status = child.wait();
                (child, status)
            }),
        )
        .await;
        match waited {
            Ok(Ok((_, status))) => status.unwrap(),
            _ => panic!("drake did not exit within {limit:?} of SIGTERM"),
        }
    }

    /// POST JSON to `path`.
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let r = client()
            .post(format!("{}{path}", self.url))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = StatusCode::from_u16(r.status().as_u16()).unwrap();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// GET `path` (no redirects followed).
    pub async fn get(&self, path: &str) -> reqwest::Response {
        client()
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
    }

    /// Create tasks with the test secret; returns the status list.
    pub async fn create(&self, tasks: Value, block: bool) -> Vec<Value> {
        let (code, body) = self
            .post(
                "/v1/create",
                json!({"secret": SECRET, "tasks": tasks, "block": block}),
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{body}");
        body.as_array().unwrap().clone()
    }

    /// Poll (up to 5 s) until a task is executing.
    pub async fn wait_until_executing(&self, key: &str) {
        for _ in 0..100 {
            let (_, s) = self.post("/v1/status", json!({"tasks": key})).await;
            if s[0]["status"] == "executing" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait for a task to be final.
    pub async fn wait(&self, key: &str) -> Value {
        let (code, body) = self
            .post("/v1/status", json!({"tasks": key, "block": true}))
            .await;
        assert_eq!(code, StatusCode::OK, "{body}");
        body[0].clone()
    }
}

impl Drop for Drake {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// An HTTP client that never follows redirects (tests look at them).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap()
}

/// GET `url` and return its body (panics on a transport error).
pub async fn download(url: &str) -> bytes::Bytes {
    client()
        .get(url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
}

/// Fixture name → (content type, body).
type FixtureFiles = HashMap<String, (String, Vec<u8>)>;

/// Files served by the fixture server.
#[derive(Clone, Default)]
pub struct Fixtures {
    files: Arc<Mutex<FixtureFiles>>,
    /// Requests per path, for the generated routes (tiles, geocoder).
    hits: Arc<Mutex<HashMap<String, usize>>>,
    pub addr: Option<SocketAddr>,
}

impl Fixtures {
    /// Start an empty fixture server on loopback.
    pub async fn start() -> Fixtures {
        let mut fixtures = Fixtures::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        fixtures.addr = Some(listener.local_addr().unwrap());
        let router = axum::Router::new()
            .route("/f/{name}", axum::routing::get(serve_fixture))
            // A slippy-map tile server: 256-px PNG tiles, blue and yellow
            // in a checkerboard of tiles.
            .route("/tiles/{z}/{x}/{y}", axum::routing::get(serve_tile))
            // A Nominatim-style geocoder that knows one place, Paris.
            .route("/geocode", axum::routing::get(serve_geocode))
            // A redirect to a fixture (`/r/x` → `/f/x`): what a page's
            // relative URLs resolve against is where it ended up.
            .route(
                "/r/{name}",
                axum::routing::get(|UrlPath(name): UrlPath<String>| async move {
                    (
                        StatusCode::FOUND,
                        [(header::LOCATION, format!("/f/{name}"))],
                    )
                }),
            )
            .route(
                "/redirect-to-metadata",
                axum::routing::get(|| async {
                    (
                        StatusCode::FOUND,
                        [(header::LOCATION, "http://169.254.169.254/latest/meta-data/")],
                    )
                }),
            )
            .with_state(fixtures.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        fixtures
    }

    /// Serve `bytes` at `/f/<name>`; returns its URL.
    pub fn add(&self, name: &str, content_type: &str, bytes: Vec<u8>) -> String {
        self.files
            .lock()
            .unwrap()
            .insert(name.to_owned(), (content_type.to_owned(), bytes));
        self.url(&format!("/f/{name}"))
    }

    /// Requests so far to each path starting with `prefix`.
    pub fn hits(&self, prefix: &str) -> Vec<(String, usize)> {
        let mut hits: Vec<(String, usize)> = self
            .hits
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p.starts_with(prefix))
            .map(|(p, n)| (p.clone(), *n))
            .collect();
        hits.sort();
        hits
    }

    /// An absolute URL on the fixture server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr.unwrap())
    }
}

async fn serve_fixture(State(f): State<Fixtures>, UrlPath(name): UrlPath<String>) -> Response {
    match f.files.lock().unwrap().get(&name) {
        Some((ct, bytes)) => (
            [(header::CONTENT_TYPE, ct.clone())],
            Body::from(bytes.clone()),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The colour of map tile (x, y) on the fixture tile server.
pub fn tile_color(x: u32, y: u32) -> [u8; 3] {
    if (x + y).is_multiple_of(2) {
        [40, 90, 200]
    } else {
        [240, 200, 60]
    }
}

async fn serve_tile(
    State(f): State<Fixtures>,
    UrlPath((z, x, y)): UrlPath<(u32, u32, String)>,
) -> Response {
    let y: u32 = y.trim_end_matches(".png").parse().unwrap_or(0);
    *f.hits
        .lock()
        .unwrap()
        .entry(format!("/tiles/{z}/{x}/{y}"))
        .or_default() += 1;
    let tile = image::RgbImage::from_pixel(256, 256, image::Rgb(tile_color(x, y)));
    (
        [(header::CONTENT_TYPE, "image/png")],
        encode(&tile, image::ImageFormat::Png),
    )
        .into_response()
}

async fn serve_geocode(
    State(f): State<Fixtures>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let query = q.get("q").cloned().unwrap_or_default();
    *f.hits
        .lock()
        .unwrap()
        .entry(format!("/geocode?q={query}"))
        .or_default() += 1;
    let found = if query.eq_ignore_ascii_case("paris") {
        json!([{"lat": "48.8566", "lon": "2.3522", "display_name": "Paris, France"}])
    } else {
        json!([])
    };
    axum::Json(found).into_response()
}

/// Download `url` into `dir/name`.
pub async fn save(dir: &Path, name: &str, url: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, download(url.as_str().unwrap()).await).unwrap();
    path
}

/// Assert that a succeeded video task's `export` lasts `seconds` (±0.2 s)
/// and is `height` pixels high.
pub async fn assert_export(status: &Value, seconds: f64, height: u64) {
    let dir = tempfile::tempdir().unwrap();
    let path = save(dir.path(), "v.mp4", &status["result"]["export"]).await;
    let (frames, _, got_height, rate, _, _) = probe(&path);
    let got = frames as f64 / rate;
    assert!(
        (got - seconds).abs() < 0.2,
        "{frames} frames at {rate}, not {seconds} s"
    );
    assert_eq!(got_height, height);
}

/// (frames, width, height, rate, video codec, audio codec) of a file.
pub fn probe(path: &Path) -> (u64, u64, u64, f64, String, Option<String>) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-print_format", "json"])
        .args(["-show_streams", "-show_format"])
        .arg(path)
        .output()
        .unwrap();
    let p: Value = serde_json::from_slice(&out.stdout).unwrap();
    let streams = p["streams"].as_array().unwrap();
    let v = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
    let a = streams.iter().find(|s| s["codec_type"] == "audio");
    let rate = v["r_frame_rate"].as_str().unwrap();
    let (n, d) = rate.split_once('/').unwrap();
    (
        v["nb_read_frames"].as_str().unwrap().parse().unwrap(),
        v["width"].as_u64().unwrap(),
        v["height"].as_u64().unwrap(),
        n.parse::<f64>().unwrap() / d.parse::<f64>().unwrap(),
        v["codec_name"].as_str().unwrap().to_owned(),
        a.map(|a| a["codec_name"].as_str().unwrap().to_owned()),
    )
}

/// The RGB pixel at fractions `(fx, fy)` of the frame at `t`.
pub fn pixel(path: &Path, t: f64, fx: f64, fy: f64) -> [u8; 3] {
    let (w, h) = frame_size(path);
    let px = frame(path, t);
    let (x, y) = ((fx * w as f64) as usize, (fy * h as f64) as usize);
    let i = (y * w + x) * 3;
    [px[i], px[i + 1], px[i + 2]]
}

pub fn frame_size(path: &Path) -> (usize, usize) {
    let (_, w, h, ..) = probe(path);
    (w as usize, h as usize)
}

/// The RGB24 pixels of the frame at `t`.
pub fn frame(path: &Path, t: f64) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-ss", &format!("{t:.3}"), "-i"])
        .arg(path)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert!(!out.stdout.is_empty(), "no frame at {t}");
    out.stdout
}

/// `got` within 48 of `want` in every channel.
pub fn near(got: [u8; 3], want: [u8; 3], what: &str) {
    let ok = got
        .iter()
        .zip(want)
        .all(|(g, w)| (i32::from(*g) - i32::from(w)).abs() <= 48);
    assert!(ok, "{what}: got {got:?}, want {want:?}");
}

/// Encoder options of an H.264 + AAC MP4 (a [`test_clip`]).
pub const H264_AAC_MP4: &[&str] = &[
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-pix_fmt",
    "yuv420p",
    "-c:a",
    "aac",
    "-f",
    "mp4",
];

/// A `secs`-second test clip (`testsrc` at 25 fps, `size`, a 660 Hz
/// tone) written with the encoder options `codecs`.
pub fn test_clip(dir: &Path, name: &str, size: &str, secs: &str, codecs: &[&str]) -> Vec<u8> {
    let src = format!("testsrc=s={size}:r=25");
    let mut args = vec![
        "-f",
        "lavfi",
        "-i",
        &src,
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=660",
        "-t",
        secs,
    ];
    args.extend_from_slice(codecs);
    ffmpeg_make(dir, name, &args)
}

/// `secs` seconds of a `hz` tone as MP3 (a soundtrack).
pub fn tone_mp3(dir: &Path, name: &str, hz: u32, secs: u32) -> Vec<u8> {
    let src = format!("sine=frequency={hz}:duration={secs}");
    ffmpeg_make(
        dir,
        name,
        &["-f", "lavfi", "-i", &src, "-c:a", "libmp3lame", "-f", "mp3"],
    )
}

/// Whether the long form of the reliability and tenant suites runs
/// (`DRAKE_RELIABILITY=long`, what `tests/reliability.sh` sets).
pub fn long_form() -> bool {
    std::env::var("DRAKE_RELIABILITY").is_ok_and(|v| v == "long")
}

/// Wait for every key to be final (blocking status calls, 100 at a time).
pub async fn finals(drake: &Drake, keys: &[String]) -> Vec<Value> {
    let mut out = Vec::with_capacity(keys.len());
    for batch in keys.chunks(100) {
        let (code, body) = drake
            .post("/v1/status", json!({"tasks": batch, "block": true}))
            .await;
        assert_eq!(code, StatusCode::OK, "{body}");
        let statuses = body.as_array().unwrap();
        assert_eq!(statuses.len(), batch.len());
        out.extend(statuses.iter().cloned());
    }
    out
}

/// Every task succeeded, and no two ran at the same time (their
/// `started`–`completed` intervals do not overlap).
pub fn assert_one_at_a_time(finals: &[Value]) {
    let mut runs: Vec<(String, String)> = finals
        .iter()
        .map(|done| {
            assert_eq!(done["status"], "success", "{done}");
            let at = |e: &str| done["events"][e].as_str().unwrap().to_owned();
            (at("started"), at("completed"))
        })
        .collect();
    runs.sort();
    for pair in runs.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "runs overlap: {runs:?}");
    }
}

/// Peak resident memory of a process (VmHWM), bytes.
pub fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// A `w`×`h` test picture (gradient + shapes) as JPEG.
pub fn jpeg(w: u32, h: u32) -> Vec<u8> {
    encode(&picture(w, h), image::ImageFormat::Jpeg)
}

/// A `w`×`h` test picture as PNG.
pub fn png(w: u32, h: u32) -> Vec<u8> {
    encode(&picture(w, h), image::ImageFormat::Png)
}

fn picture(w: u32, h: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        let r = (x * 255 / w.max(1)) as u8;
        let g = (y * 255 / h.max(1)) as u8;
        let b = if (x / 16 + y / 16) % 2 == 0 { 200 } else { 40 };
        image::Rgb([r, g, b])
    })
}

fn encode(img: &image::RgbImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// A PNG that claims `w`×`h` pixels but holds no pixel data (header only,
/// valid CRCs): decoding it would need w*h*4 bytes.
pub fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc_input = kind.to_vec();
        crc_input.extend_from_slice(data);
        out.extend_from_slice(&crc_input);
        out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]); // 8-bit RGBA
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Make `dir/name` with `ffmpeg -loglevel error -y ARGS dir/name` and
/// return its bytes (test media from lavfi sources or other files).
pub fn ffmpeg_make(dir: &Path, name: &str, args: &[&str]) -> Vec<u8> {
    let path = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y"])
        .args(args)
        .arg(&path)
        .status()
        .expect("ffmpeg is installed by `make test`");
    assert!(status.success(), "ffmpeg {args:?}");
    std::fs::read(path).unwrap()
}

/// SSIM (all planes, ffmpeg's `ssim` filter) of the video at `path`
/// against the one at `reference` scaled (bicubic) to `w` × `h`, frames
/// paired by timestamp.
pub fn ssim(path: &Path, reference: &Path, size: (u64, u64)) -> f64 {
    ssim_with(path, reference, size, "[0:v]null[o];[1:v]")
}

/// [`ssim`] with frames paired by their index, the reference keeping one
/// frame in `every` (a rate halved: 2), and the pairing shifted by the
/// one frame either way that fits the first 40 frames best: for outputs
/// whose timestamps moved (WebM's milliseconds, a first frame repeated to
/// cover a source's start offset) while keeping every frame.
pub fn ssim_aligned(path: &Path, reference: &Path, size: (u64, u64), every: u32) -> f64 {
    let pairing = |(out, reference): (u32, u32), frames: &str| {
        // Both at frame index / 25 s, whatever their time bases.
        format!(
            "[0:v]trim=start_frame={out}{frames},setpts=N/(25*TB)[o];\
             [1:v]select='not(mod(n,{every}))',trim=start_frame={reference}{frames},\
             setpts=N/(25*TB),"
        )
    };
    let shifts = [(0, 0), (1, 0), (0, 1)];
    let best = shifts
        .into_iter()
        .map(|shift| {
            let first = ssim_with(path, reference, size, &pairing(shift, ":end_frame=40"));
            (first, shift)
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map_or((0, 0), |(_, shift)| shift);
    ssim_with(path, reference, size, &pairing(best, ""))
}

fn ssim_with(path: &Path, reference: &Path, (w, h): (u64, u64), pairing: &str) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-i"])
        .arg(path)
        .arg("-i")
        .arg(reference)
        .args([
            "-lavfi",
            &format!("{pairing}scale={w}:{h}:flags=bicubic[r];[o][r]ssim"),
            "-f",
            "null",
            "-",
        ])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let all = log
        .rsplit_once("All:")
        .unwrap_or_else(|| panic!("no SSIM from ffmpeg: {log}"))
        .1;
    all.split_whitespace().next().unwrap().parse().unwrap()
}

/// ffprobe's JSON (format and streams) for a file.
pub fn ffprobe(path: &Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(path)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `len` bytes of deterministic noise (no format's magic bytes): the
/// "random bytes with a media name" input of the bad-input tests.
pub fn noise(len: u32) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}
