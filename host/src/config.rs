//! drake's configuration: one TOML file, every key optional, plus `DRAKE_*`
//! environment overrides declared here and nowhere else.
//!
//! Loading collects every problem before failing, and each message names
//! the key or the environment variable at fault.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the API listens on.
    pub listen: SocketAddr,
    /// Base of output file URLs; default `http://<listen>`.
    pub public_url: Option<String>,
    /// Where the SQLite database and the output files live.
    pub data_dir: PathBuf,
    /// How long statuses and output files live (api.md §7).
    #[serde(with = "duration")]
    pub retention: Duration,
    /// Directory holding the task components (`drake_task_*.wasm`); default:
    /// next to the binary's build output, then `./components`.
    pub components_dir: Option<PathBuf>,
    /// Concurrent task runs on this node.
    pub workers: usize,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Largest file `POST /v1/uploads` keeps (an account may set its own).
    pub max_upload_bytes: u64,
    /// Most bytes of uploads one account keeps at once (until they
    /// expire; an account may set its own).
    pub max_stored_upload_bytes: u64,
    /// Longest `block: true` / create_file wait before answering with the
    /// current statuses.
    #[serde(with = "duration")]
    pub block_timeout: Duration,
    /// Open HTTP connections at once; past it a new one is closed at once.
    pub max_connections: usize,
    /// Longest time a client may take to send a request's head (a client
    /// dripping headers holds a connection otherwise: slowloris).
    #[serde(with = "duration")]
    pub header_read_timeout: Duration,
    /// Longest wait for the next part of a request body.
    #[serde(with = "duration")]
    pub body_read_timeout: Duration,
    /// Requests waiting for tasks at once (`block`, `create_file`, `file`,
    /// streams): each holds a connection and a notification receiver.
    pub max_waiters: usize,
    /// Of those, from one client address.
    pub max_waiters_per_client: usize,
    /// Idle time after which a stream re-sends a status as keep-alive.
    #[serde(with = "duration")]
    pub stream_keepalive: Duration,
    /// Require auth on read routes too (then a task must belong to the
    /// caller's account).
    pub require_auth_for_reads: bool,
    /// Allow secret auth over plain HTTP from non-loopback clients.
    pub allow_insecure_secrets: bool,
    /// Peers (CIDRs) whose `X-Forwarded-Proto` is believed: the
    /// terminating proxies in front of drake. Anyone else's is ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// A bearer token `/metrics` requires (`Authorization: Bearer …`);
    /// none: `/metrics` is open, as `/healthz` is.
    pub metrics_token: Option<String>,
    /// Load test-only components (`test.*` tasks) — for the test suite.
    pub test_tasks: bool,
    /// Wait before the first callback retry (×3 for each next one).
    #[serde(with = "duration")]
    pub callback_backoff: Duration,
    /// Callback deliveries tried in all.
    pub callback_tries: u32,
    /// Network policy for every URL a task reads.
    pub fetch: FetchConfig,
    /// Sandbox limits.
    pub engine: EngineConfig,
    /// What one task run may take from the node, whatever its guest does.
    pub budgets: BudgetsConfig,
    /// Native ffmpeg behind the `ffmpeg` capability.
    pub ffmpeg: FfmpegConfig,
    /// Task store.
    pub store: StoreConfig,
    /// Output file store.
    pub blobs: BlobsConfig,
    /// Leases, retries and maintenance.
    pub scheduler: SchedulerConfig,
    /// Video platforms' API endpoints.
    pub upload: UploadConfig,
    /// Map tiles and place names for `video.create`.
    pub maps: MapsConfig,
    /// Accounts allowed to create tasks.
    pub accounts: Vec<Account>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            data_dir: PathBuf::from("data"),
            // api.md §7: outputs expire after a week.
            retention: Duration::from_secs(7 * 24 * 3600),
            components_dir: None,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            // api.md §3: 1 MiB is plenty for JSON task definitions (SXML
            // timelines included) and bounds parse cost.
            max_body_bytes: 1 << 20,
            // As much as a task may fetch by default (budgets.fetch_bytes):
            // a larger upload no task could read.
            max_upload_bytes: 1 << 30,
            // Ten of the largest uploads: room for real work, while one
            // tenant (even with only its public api_key) cannot fill the
            // disk the others share.
            max_stored_upload_bytes: 10 << 30,
            // api.md §5: block waits are capped at 600 s by default.
            block_timeout: Duration::from_secs(600),
            // Under the usual 65 536 descriptors with room for files,
            // the store and ffmpeg; each connection is a few KiB.
            max_connections: 16_384,
            // An honest client sends its head in one packet; 10 s covers
            // a slow mobile link.
            header_read_timeout: Duration::from_secs(10),
            // Bodies are JSON of at most max_body_bytes: a pause this long
            // mid-body is a stalled or hostile client.
            body_read_timeout: Duration::from_secs(30),
            // A few KiB each: far above one deployment's honest clients,
            // and a bound on what an attacker's connections cost.
            max_waiters: 4096,
            // A whole office behind one NAT, a few streams each.
            max_waiters_per_client: 256,
            // api.md §5: keep-alive line after 15 s without change.
            stream_keepalive: Duration::from_secs(15),
            require_auth_for_reads: false,
            allow_insecure_secrets: false,
            // No proxy is trusted until the operator names it.
            trusted_proxies: Vec::new(),
            metrics_token: None,
            // api.md §6: 5 tries over about an hour (0, 1.5, 6, 19.5, 60 min).
            callback_backoff: Duration::from_secs(90),
            callback_tries: 5,
            test_tasks: false,
            fetch: FetchConfig::default(),
            engine: EngineConfig::default(),
            budgets: BudgetsConfig::default(),
            ffmpeg: FfmpegConfig::default(),
            store: StoreConfig::default(),
            blobs: BlobsConfig::default(),
            scheduler: SchedulerConfig::default(),
            upload: UploadConfig::default(),
            maps: MapsConfig::default(),
            accounts: Vec::new(),
        }
    }
}

/// `[fetch]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchConfig {
    /// Exceptions to the private-network block: CIDRs, IPs or host names
    /// (`*.example.com` wildcards).
    pub allow: Vec<String>,
    /// Destination ports allowed for hosts that are not allow-listed.
    pub ports: Vec<u16>,
    /// Largest download for video/audio (image tasks ask for less).
    pub max_bytes: u64,
    /// Connect timeout.
    #[serde(with = "duration")]
    pub connect_timeout: Duration,
    /// Whole-transfer timeout.
    #[serde(with = "duration")]
    pub timeout: Duration,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            allow: Vec::new(),
            // api.md §8: the web's ports only; anything else is an
            // internal service more often than a media server.
            ports: vec![80, 443],
            // api.md §8: 512 MiB covers long HD videos.
            max_bytes: 512 << 20,
            connect_timeout: Duration::from_secs(10),
            // Two minutes moves 512 MiB at ~35 Mbit/s; slower sources are
            // better served by a retry than by holding a worker.
            timeout: Duration::from_secs(120),
        }
    }
}

/// `[engine]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Linear-memory cap of one task instance.
    pub memory_limit: u64,
    /// Wall-clock limit of a task run, unless `time_limits` names the task.
    #[serde(with = "duration")]
    pub time_limit: Duration,
    /// Per-task wall-clock limits (`"image.thumb" = "30s"`).
    #[serde(with = "duration_map")]
    pub time_limits: BTreeMap<String, Duration>,
    /// Largest total size of the files one task may publish.
    pub max_output_bytes: u64,
    /// Where components compiled at start-up are kept for the next start,
    /// when they were not precompiled beside their `.wasm` files (default
    /// `$XDG_CACHE_HOME/drake/components`, else
    /// `~/.cache/drake/components`).
    pub cache_dir: Option<PathBuf>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            // api.md §8: 512 MiB per instance holds a decoded 50 MP image
            // (200 MB RGBA) plus its resized copy.
            memory_limit: 512 << 20,
            // Generous for media work; tasks with known costs get their
            // own limit from the registry or the config.
            time_limit: Duration::from_secs(300),
            time_limits: BTreeMap::new(),
            // 1 GiB: a long 1080p export fits; a runaway loop does not
            // fill the disk.
            max_output_bytes: 1 << 30,
            cache_dir: None,
        }
    }
}

/// `[budgets]`: what one task run may take from the node, enforced by
/// the host as bytes flow, whatever the guest does.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetsConfig {
    /// Bytes one run may download in all (`fetch` and `wasi:http`
    /// responses together).
    pub fetch_bytes: u64,
    /// Bytes one run may upload (`wasi:http` request bodies).
    pub send_bytes: u64,
    /// Scratch disk one run may use at once: fetched media spooled to
    /// disk, inputs written for ffmpeg, and the files ffmpeg writes.
    pub scratch_bytes: u64,
    /// Fetched media every run of this node together keeps in memory; a
    /// body that finds no room is spooled to the run's scratch instead.
    pub held_bytes: u64,
    /// Per-task overrides (`"video.create" = { fetch_bytes = 4294967296 }`).
    pub tasks: BTreeMap<String, BudgetOverrides>,
}

/// One task's `[budgets.tasks]` entry: the keys it sets replace the
/// defaults for that task.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetOverrides {
    /// Replaces `budgets.fetch_bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch_bytes: Option<u64>,
    /// Replaces `budgets.send_bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_bytes: Option<u64>,
    /// Replaces `budgets.scratch_bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scratch_bytes: Option<u64>,
}

/// The budgets of one task's runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskBudgets {
    /// See [`BudgetsConfig::fetch_bytes`].
    pub fetch_bytes: u64,
    /// See [`BudgetsConfig::send_bytes`].
    pub send_bytes: u64,
    /// See [`BudgetsConfig::scratch_bytes`].
    pub scratch_bytes: u64,
}

impl Default for BudgetsConfig {
    fn default() -> Self {
        BudgetsConfig {
            // Two downloads at the [fetch] max_bytes cap (a video and its
            // soundtrack); a timeline of many assets must stay below it.
            fetch_bytes: 1 << 30,
            // An upload of the largest output (engine.max_output_bytes)
            // twice over: a resumable upload that restarts once.
            send_bytes: 2 << 30,
            // The downloads, plus ffmpeg's intermediates and output of a
            // long 1080p render.
            scratch_bytes: 4 << 30,
            // Small media stays in memory (fast image tasks); 256 MiB
            // bounds what all runs together hold on a small node.
            held_bytes: 256 << 20,
            tasks: BTreeMap::new(),
        }
    }
}

impl BudgetsConfig {
    /// The budgets of task `name`'s runs.
    pub fn for_task(&self, name: &str) -> TaskBudgets {
        let o = self.tasks.get(name).cloned().unwrap_or_default();
        TaskBudgets {
            fetch_bytes: o.fetch_bytes.unwrap_or(self.fetch_bytes),
            send_bytes: o.send_bytes.unwrap_or(self.send_bytes),
            scratch_bytes: o.scratch_bytes.unwrap_or(self.scratch_bytes),
        }
    }
}

/// `[ffmpeg]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FfmpegConfig {
    /// ffmpeg binary (on PATH or absolute).
    pub ffmpeg: String,
    /// ffprobe binary.
    pub ffprobe: String,
    /// How ffmpeg is isolated.
    pub sandbox: SandboxKind,
    /// bubblewrap binary.
    pub bwrap: String,
    /// CPU seconds per ffmpeg process.
    pub cpu_seconds: u64,
    /// Address space per ffmpeg process.
    pub memory: u64,
    /// Largest file an ffmpeg process may write.
    pub max_file_bytes: u64,
    /// Threads per job.
    pub threads: u32,
    /// Concurrent ffmpeg processes on this node.
    pub max_concurrent: usize,
    /// Per-job scratch directories go here (default: the system temp dir).
    pub scratch_dir: Option<PathBuf>,
    /// ffmpeg major versions accepted besides the ones drake's checks were
    /// made for ([`KNOWN_FFMPEG_MAJORS`]): a newer ffmpeg may add options
    /// that read or write files, which the filter check must know first.
    pub accept_versions: Vec<u32>,
    /// With `sandbox = "none"`, the operator's acknowledgement, in words:
    /// exactly [`UNSANDBOXED_CONSENT`].
    pub unsandboxed: Option<String>,
    /// A job whose progress (frames, output time, output size) has not
    /// advanced for this long is ended with an error naming the stall.
    #[serde(with = "duration")]
    pub stall_timeout: Duration,
}

/// The ffmpeg majors drake's argument and filter checks were made against
/// (Debian 12's 5.1): the option table is theirs.
pub const KNOWN_FFMPEG_MAJORS: &[u32] = &[5];

/// What `[ffmpeg] unsandboxed` must say for `sandbox = "none"` to run:
/// without namespaces, ffmpeg sees every file and the network drake sees.
pub const UNSANDBOXED_CONSENT: &str = "ffmpeg may read and write all that drake can";

impl Default for FfmpegConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        FfmpegConfig {
            ffmpeg: "ffmpeg".into(),
            ffprobe: "ffprobe".into(),
            sandbox: SandboxKind::Bwrap,
            bwrap: "bwrap".into(),
            // 10 CPU minutes: a 10-minute 1080p export with x264 veryfast
            // on 2 threads fits; a decoder stuck on a crafted file does not.
            cpu_seconds: 600,
            // 4 GiB of address space: x264 lookahead at 1080p plus filter
            // buffers; ffmpeg reserves more than it touches.
            memory: 4 << 30,
            // 2 GiB per file: larger than any output a task may publish.
            max_file_bytes: 2 << 30,
            // One job should not take every core from the API.
            threads: u32::try_from(cores).unwrap_or(2).clamp(1, 4),
            max_concurrent: cores,
            scratch_dir: None,
            accept_versions: Vec::new(),
            unsandboxed: None,
            // ffmpeg reports progress twice a second while it works, and
            // an encoder's lookahead fills in seconds even at 4K: a minute
            // without a new frame is a graph starved of input, not work.
            stall_timeout: Duration::from_secs(60),
        }
    }
}

/// `[ffmpeg] sandbox`
#[derive(Debug, Clone, Copy, Deserialize, Serialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SandboxKind {
    /// bubblewrap: namespaces (no network, only `/usr` and the job
    /// directory visible) plus the rlimits and the deadline.
    #[default]
    Bwrap,
    /// The rlimits and the deadline only (machines without user
    /// namespaces).
    None,
}

impl FfmpegConfig {
    /// The root of the per-job directories.
    pub fn scratch(&self) -> PathBuf {
        self.scratch_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("drake-ffmpeg"))
    }
}

/// `[upload]`: where the upload tasks find each platform's API (a local
/// fake in tests, a proxy or a regional endpoint in production). The
/// components read them as the WASI environment variables
/// `DRAKE_UPLOAD_YOUTUBE_BASE_URL`, `…_VIMEO_…`, `…_FACEBOOK_…`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct UploadConfig {
    /// YouTube Data API v3 (`/upload/youtube/v3/videos`).
    pub youtube_base_url: String,
    /// Vimeo's API (`/api/rest/v2`).
    pub vimeo_base_url: String,
    /// Facebook's Graph API for videos (`/<version>/me/videos`).
    pub facebook_base_url: String,
}

impl Default for UploadConfig {
    fn default() -> Self {
        UploadConfig {
            youtube_base_url: "https://www.googleapis.com".into(),
            vimeo_base_url: "https://vimeo.com".into(),
            // Graph API video uploads go to the graph-video host.
            facebook_base_url: "https://graph-video.facebook.com".into(),
        }
    }
}

impl UploadConfig {
    /// The guest environment: (variable, base URL without a trailing `/`).
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("DRAKE_UPLOAD_YOUTUBE_BASE_URL", &self.youtube_base_url),
            ("DRAKE_UPLOAD_VIMEO_BASE_URL", &self.vimeo_base_url),
            ("DRAKE_UPLOAD_FACEBOOK_BASE_URL", &self.facebook_base_url),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.trim_end_matches('/').to_owned()))
        .collect()
    }
}

/// `[maps]`: where `video.create` draws `<image type="map">` from. The
/// component reads them as the WASI environment variables
/// `DRAKE_MAPS_TILE_URL`, `DRAKE_MAPS_SATELLITE_TILE_URL`,
/// `DRAKE_MAPS_GEOCODER_URL` and `DRAKE_MAPS_ATTRIBUTION`; every request
/// goes through the fetch policy.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MapsConfig {
    /// Slippy-map tiles: a URL with `{z}`, `{x}` and `{y}` (256-pixel
    /// tiles, OpenStreetMap's scheme). None by default: public tile
    /// servers have usage policies an operator must accept, so a map is
    /// an error naming this key until one is set.
    pub tile_url: Option<String>,
    /// Tiles for `maptype="satellite"` and `"hybrid"`; default: `tile_url`.
    pub satellite_tile_url: Option<String>,
    /// A Nominatim-style search for place names: a URL with `{query}`,
    /// answering a JSON array of objects with `lat` and `lon`. None by
    /// default (then only `lat,lng` centres work).
    pub geocoder_url: Option<String>,
    /// Drawn in a corner of every map: tile licences ask for it.
    pub attribution: String,
}

impl Default for MapsConfig {
    fn default() -> Self {
        MapsConfig {
            tile_url: None,
            satellite_tile_url: None,
            geocoder_url: None,
            attribution: "© OpenStreetMap contributors".into(),
        }
    }
}

impl MapsConfig {
    /// The guest environment: the variables set, and only those.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("DRAKE_MAPS_TILE_URL", self.tile_url.as_ref()),
            (
                "DRAKE_MAPS_SATELLITE_TILE_URL",
                self.satellite_tile_url.as_ref(),
            ),
            ("DRAKE_MAPS_GEOCODER_URL", self.geocoder_url.as_ref()),
            ("DRAKE_MAPS_ATTRIBUTION", Some(&self.attribution)),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_owned(), v?.clone())))
        .collect()
    }
}

/// `[store]`
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite://path` (default `<data_dir>/drake.db`).
    pub url: Option<String>,
}

/// `[blobs]`
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct BlobsConfig {
    /// `file:///path` (default `<data_dir>/blobs`) or `s3://bucket/prefix`.
    pub url: Option<String>,
    /// How output URLs reach the files.
    pub output_urls: OutputUrls,
    /// Base of `output_urls = "public"` links: `<base>/<KEY>/<name>`.
    pub public_base_url: Option<String>,
    /// The S3-compatible service of an `s3://` url.
    pub s3: S3Config,
}

/// `[blobs] output_urls`
#[derive(Debug, Clone, Copy, Deserialize, Serialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OutputUrls {
    /// `<public_url>/v1/storage/<KEY>/<name>`, served by drake from any
    /// backend (ranges, ETags, expiry checked on every read).
    #[default]
    Drake,
    /// S3 pre-signed GETs, valid until the task expires (at most 7 days).
    Presigned,
    /// `public_base_url` + the object path: a public bucket or a CDN.
    Public,
}

/// `[blobs.s3]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// Service URL of a non-AWS store (MinIO, R2, Ceph, …), addressed
    /// path-style. Default: AWS.
    pub endpoint: Option<String>,
    /// Signing region.
    pub region: String,
    /// Access key (default: the `AWS_*` environment and instance roles).
    pub access_key_id: Option<String>,
    /// Secret key.
    pub secret_access_key: Option<String>,
    /// Allow an `http://` endpoint (a store on a private network).
    pub allow_http: bool,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            endpoint: None,
            // AWS's default region; other stores mostly ignore it.
            region: "us-east-1".to_owned(),
            access_key_id: None,
            secret_access_key: None,
            allow_http: false,
        }
    }
}

/// What pre-signed links need to know about the bucket
/// (`[blobs] output_urls = "presigned"`), checked when the configuration
/// loads.
#[derive(Debug, Clone)]
pub struct S3Signing {
    /// `scheme://host[:port]`.
    pub origin: String,
    /// `host[:port]` as sent in the Host header.
    pub host: String,
    /// The endpoint's own path (raw), before the segments.
    pub base_path: String,
    /// Path segments before an object's key: the bucket (path style, on a
    /// configured endpoint), then the configured prefix's segments.
    pub segments: Vec<String>,
    /// Signing region.
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

impl S3Config {
    /// How links to objects under `bucket`/`prefix` are signed: path style
    /// on a configured endpoint (what MinIO and the like expect),
    /// virtual-hosted style on AWS (its recommended form for links).
    pub fn signing(&self, bucket: &str, prefix: &str) -> Result<S3Signing, String> {
        let (Some(access_key_id), Some(secret_access_key)) =
            (&self.access_key_id, &self.secret_access_key)
        else {
            return Err(
                "blobs.output_urls = \"presigned\" needs blobs.s3.access_key_id and \
                 blobs.s3.secret_access_key"
                    .to_owned(),
            );
        };
        let mut segments = Vec::new();
        let (origin, host, base_path) = match &self.endpoint {
            Some(endpoint) => {
                let url = url::Url::parse(endpoint)
                    .map_err(|e| format!("blobs.s3.endpoint: {endpoint:?}: {e}"))?;
                let Some(name) = url.host_str() else {
                    return Err(format!("blobs.s3.endpoint: {endpoint:?} has no host"));
                };
                let host = match url.port() {
                    Some(port) => format!("{name}:{port}"),
                    None => name.to_owned(),
                };
                segments.push(bucket.to_owned());
                let origin = format!("{}://{host}", url.scheme());
                (origin, host, url.path().trim_end_matches('/').to_owned())
            }
            None => {
                let host = format!("{bucket}.s3.{}.amazonaws.com", self.region);
                (format!("https://{host}"), host, String::new())
            }
        };
        segments.extend(
            prefix
                .split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
        Ok(S3Signing {
            origin,
            host,
            base_path,
            segments,
            region: self.region.clone(),
            access_key_id: access_key_id.clone(),
            secret_access_key: secret_access_key.clone(),
        })
    }
}

/// Where `[blobs] url` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobsLocation {
    /// A local directory.
    Dir(PathBuf),
    /// An S3 bucket and a key prefix (no slashes at either end).
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix, maybe empty.
        prefix: String,
    },
}

impl BlobsConfig {
    /// Parse `url` (default: `<data_dir>/blobs`).
    pub fn location(&self, data_dir: &Path) -> Result<BlobsLocation, String> {
        let Some(url) = &self.url else {
            return Ok(BlobsLocation::Dir(data_dir.join("blobs")));
        };
        if let Some(path) = url.strip_prefix("file://") {
            if path.is_empty() {
                return Err(format!("blobs.url: {url:?} has no path"));
            }
            return Ok(BlobsLocation::Dir(PathBuf::from(path)));
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(format!("blobs.url: {url:?} names no bucket"));
            }
            return Ok(BlobsLocation::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
            });
        }
        Err(format!(
            "blobs.url: {url:?} is not file:///path or s3://bucket/prefix"
        ))
    }

    /// `public_base_url` without a trailing slash.
    pub fn public_base(&self) -> Result<String, String> {
        match &self.public_base_url {
            Some(base) => Ok(base.trim_end_matches('/').to_owned()),
            None => Err("blobs.output_urls = \"public\" needs blobs.public_base_url".to_owned()),
        }
    }
}

/// `[scheduler]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    /// How long a claim is valid without a heartbeat; a crashed worker's
    /// task is re-queued after it.
    #[serde(with = "duration")]
    pub lease: Duration,
    /// Runs of one task before it fails for good (crash loops end).
    pub max_attempts: u32,
    /// Claim poll interval when no wake-up arrives.
    #[serde(with = "duration")]
    pub poll_interval: Duration,
    /// How often expired tasks and stuck leases are swept.
    #[serde(with = "duration")]
    pub maintenance_interval: Duration,
    /// On SIGTERM/SIGINT: how long running tasks may take to finish
    /// before the node exits anyway (their leases then expire and another
    /// node re-runs them).
    #[serde(with = "duration")]
    pub drain_timeout: Duration,
    /// Runs beyond `workers` that only an account with nothing running
    /// may take: one account's backlog of long tasks never makes another
    /// account wait for a whole run.
    pub spare_slots: usize,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            // 30 s: heartbeats every 10 s survive two missed beats.
            lease: Duration::from_secs(30),
            // 3: one crash is bad luck, three is the task.
            max_attempts: 3,
            // Wake-ups are pushed; polling only covers other nodes.
            poll_interval: Duration::from_secs(1),
            maintenance_interval: Duration::from_secs(30),
            // 120 s finishes most runs; orchestrators' grace periods
            // (Kubernetes: 30 s by default) must be set above it.
            drain_timeout: Duration::from_secs(120),
            // One: a light task of an idle account starts at once beside
            // the backlog (ffmpeg runs niced, so it gets the CPU it needs).
            spare_slots: 1,
        }
    }
}

/// `[[accounts]]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// Account name (stored with each task).
    pub name: String,
    /// Server-to-server secret.
    #[serde(default)]
    pub secret: Option<String>,
    /// Browser API keys (need a whitelisted Referer/Origin).
    #[serde(default)]
    pub api_keys: Vec<String>,
    /// Whitelisted referrer hosts (`example.com`, `*.example.org`).
    #[serde(default)]
    pub referrers: Vec<String>,
    /// Task creations allowed per rolling hour; past it → 401.
    #[serde(default)]
    pub max_tasks_per_hour: Option<u64>,
    /// Retention override for this account's tasks.
    #[serde(default, with = "opt_duration")]
    pub retention: Option<Duration>,
    /// Its weight in claims: while several accounts have tasks queued,
    /// each holds workers in proportion to its share.
    #[serde(default = "default_share")]
    pub share: u32,
    /// Its tasks running at once, across nodes; more wait, queued.
    #[serde(default)]
    pub max_running: Option<u32>,
    /// Its tasks queued at once; a create past it → 401.
    #[serde(default = "default_max_queued")]
    pub max_queued: u64,
    /// Largest file its uploads keep; default: the server's
    /// `max_upload_bytes`.
    #[serde(default)]
    pub max_upload_bytes: Option<u64>,
    /// Most bytes of uploads it keeps at once; default: the server's
    /// `max_stored_upload_bytes`.
    #[serde(default)]
    pub max_stored_upload_bytes: Option<u64>,
}

fn default_share() -> u32 {
    1
}

/// Bulk work (a whole catalogue of thumbnails) fits; a runaway client
/// filling the store does not.
fn default_max_queued() -> u64 {
    20_000
}

impl Account {
    /// The account `drake serve` makes when none is configured: `demo`,
    /// with a secret generated once and kept in `<data_dir>/demo-secret`.
    /// Returns it and the file.
    pub fn demo(data_dir: &Path) -> std::io::Result<(Account, PathBuf)> {
        let path = data_dir.join("demo-secret");
        let secret = match std::fs::read_to_string(&path) {
            Ok(s) if !s.trim().is_empty() => s.trim().to_owned(),
            _ => {
                std::fs::create_dir_all(data_dir)?;
                let s = crate::store::new_key();
                std::fs::write(&path, &s)?;
                s
            }
        };
        let account = Account {
            name: "demo".into(),
            secret: Some(secret),
            api_keys: vec![],
            referrers: vec![],
            max_tasks_per_hour: None,
            retention: None,
            share: default_share(),
            max_running: None,
            max_queued: default_max_queued(),
            max_upload_bytes: None,
            max_stored_upload_bytes: None,
        };
        Ok((account, path))
    }
}

/// A configuration problem list.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigError(pub Vec<String>);

impl Config {
    /// Load `path` (if any), then apply `DRAKE_*` overrides, then validate.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError(vec![format!("cannot read {}: {e}", path.display())])
                })?;
                Self::from_toml(&text)?
            }
            None => Config::default(),
        };
        let env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with("DRAKE_"))
            .collect();
        config.apply_env(&env)?;
        config.validate()?;
        Ok(config)
    }

    /// Parse TOML text.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError(vec![e.to_string()]))
    }

    /// Apply `DRAKE_*` environment overrides.
    pub fn apply_env(&mut self, vars: &[(String, String)]) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        for (key, value) in vars {
            let mut bad = |what: &str| problems.push(format!("{key}={value:?}: {what}"));
            match key.as_str() {
                "DRAKE_LISTEN" => match value.parse() {
                    Ok(v) => self.listen = v,
                    Err(_) => bad("not an address like 127.0.0.1:8080"),
                },
                "DRAKE_PUBLIC_URL" => self.public_url = Some(value.clone()),
                "DRAKE_DATA_DIR" => self.data_dir = PathBuf::from(value),
                "DRAKE_RETENTION" => match humantime::parse_duration(value) {
                    Ok(v) => self.retention = v,
                    Err(_) => bad("not a duration like 7d"),
                },
                "DRAKE_COMPONENTS_DIR" => self.components_dir = Some(PathBuf::from(value)),
                "DRAKE_WORKERS" => match value.parse() {
                    Ok(v) => self.workers = v,
                    Err(_) => bad("not a number"),
                },
                "DRAKE_STORE_URL" => self.store.url = Some(value.clone()),
                "DRAKE_BLOBS_URL" => self.blobs.url = Some(value.clone()),
                "DRAKE_BLOBS_S3_ENDPOINT" => self.blobs.s3.endpoint = Some(value.clone()),
                "DRAKE_BLOBS_S3_REGION" => self.blobs.s3.region = value.clone(),
                "DRAKE_BLOBS_S3_ACCESS_KEY_ID" => {
                    self.blobs.s3.access_key_id = Some(value.clone());
                }
                "DRAKE_BLOBS_S3_SECRET_ACCESS_KEY" => {
                    self.blobs.s3.secret_access_key = Some(value.clone());
                }
                "DRAKE_FETCH_ALLOW" => self.fetch.allow = drake_rules::net::parse_allow_list(value),
                "DRAKE_TEST_TASKS" => self.test_tasks = matches!(value.as_str(), "1" | "true"),
                "DRAKE_METRICS_TOKEN" => self.metrics_token = Some(value.clone()),
                // Variables of other tools (DRAKE_BLESS, DRAKE_LOG, ...)
                // are not configuration.
                _ => {}
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(problems))
        }
    }

    /// Check cross-field rules; every problem at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if self.workers == 0 {
            problems.push("workers: must be at least 1".to_owned());
        }
        if self.max_connections == 0 {
            problems.push("max_connections: must be at least 1".to_owned());
        }
        if self.header_read_timeout.is_zero() || self.body_read_timeout.is_zero() {
            problems
                .push("header_read_timeout, body_read_timeout: must be longer than 0s".to_owned());
        }
        if self.max_waiters == 0 || self.max_waiters_per_client == 0 {
            problems.push("max_waiters, max_waiters_per_client: must be at least 1".to_owned());
        }
        if self.retention.is_zero() {
            problems.push("retention: must be longer than 0s".to_owned());
        }
        if self.engine.memory_limit < (16 << 20) {
            problems.push("engine.memory_limit: must be at least 16 MiB".to_owned());
        }
        if let Err(e) =
            drake_rules::net::NetworkPolicy::new(&self.fetch.allow, self.fetch.ports.clone())
        {
            problems.push(format!("fetch: {e}"));
        }
        if self.ffmpeg.sandbox == SandboxKind::None
            && self.ffmpeg.unsandboxed.as_deref() != Some(UNSANDBOXED_CONSENT)
        {
            problems.push(format!(
                "ffmpeg.sandbox = \"none\" runs ffmpeg on crafted media with drake's own access \
                 to files and the network; to mean it, set ffmpeg.unsandboxed = \"{UNSANDBOXED_CONSENT}\""
            ));
        }
        if self.budgets.held_bytes < (1 << 20) {
            problems.push("budgets.held_bytes: must be at least 1 MiB".to_owned());
        }
        for account in &self.accounts {
            if account.share == 0 {
                problems.push(format!(
                    "accounts.{}.share: must be at least 1",
                    account.name
                ));
            }
        }
        if self.scheduler.max_attempts == 0 {
            problems.push("scheduler.max_attempts: must be at least 1".to_owned());
        }
        if let Some(url) = &self.public_url
            && url::Url::parse(url).is_err()
        {
            problems.push(format!("public_url: {url:?} is not an absolute URL"));
        }
        match self.blobs.location(&self.data_dir) {
            Err(e) => problems.push(e),
            Ok(location) => {
                let s3 = matches!(location, BlobsLocation::S3 { .. });
                match self.blobs.output_urls {
                    OutputUrls::Drake => {}
                    OutputUrls::Public => {
                        if let Err(e) = self.blobs.public_base() {
                            problems.push(e);
                        }
                    }
                    OutputUrls::Presigned if !s3 => problems.push(
                        "blobs.output_urls: \"presigned\" needs an s3:// blobs.url".to_owned(),
                    ),
                    OutputUrls::Presigned => {
                        if let BlobsLocation::S3 { bucket, prefix } = &location
                            && let Err(e) = self.blobs.s3.signing(bucket, prefix)
                        {
                            problems.push(e);
                        }
                    }
                }
                if s3
                    && self.blobs.s3.access_key_id.is_some()
                        != self.blobs.s3.secret_access_key.is_some()
                {
                    problems.push(
                        "blobs.s3: access_key_id and secret_access_key go together".to_owned(),
                    );
                }
            }
        }
        let mut names = std::collections::HashSet::new();
        for account in &self.accounts {
            if !names.insert(&account.name) {
                problems.push(format!("accounts: duplicate name {:?}", account.name));
            }
            if account.secret.is_none() && account.api_keys.is_empty() {
                problems.push(format!(
                    "accounts.{}: needs a secret or api_keys",
                    account.name
                ));
            }
            if !account.api_keys.is_empty() && account.referrers.is_empty() {
                problems.push(format!(
                    "accounts.{}: api_keys need referrers to whitelist",
                    account.name
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(problems))
        }
    }

    /// The base of output URLs, without a trailing slash.
    pub fn public_base(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }

    /// The store URL.
    pub fn store_url(&self) -> String {
        self.store
            .url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("drake.db").display()))
    }

    /// Where the task components are: `components_dir`, else beside the
    /// build output of this binary (`target/release/drake` →
    /// `target/wasm32-wasip2/release`), else `./components`.
    pub fn components_dir(&self) -> PathBuf {
        if let Some(dir) = &self.components_dir {
            return dir.clone();
        }
        let from_exe = std::env::current_exe().ok().and_then(|exe| {
            let target = exe.parent()?.parent()?;
            let dir = target.join("wasm32-wasip2").join("release");
            dir.is_dir().then_some(dir)
        });
        from_exe.unwrap_or_else(|| PathBuf::from("components"))
    }
}

/// `"7d"`, `"600s"`, `"250ms"` ↔ `Duration`.
mod duration {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s)
            .map_err(|e| serde::de::Error::custom(format!("{s:?} is not a duration: {e}")))
    }
}

mod opt_duration {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.collect_str(&humantime::format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| {
            humantime::parse_duration(&s)
                .map_err(|e| serde::de::Error::custom(format!("{s:?} is not a duration: {e}")))
        })
        .transpose()
    }
}

mod duration_map {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::collections::BTreeMap;
    use std::time::Duration;

    pub fn serialize<S: Serializer>(
        m: &BTreeMap<String, Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(
            m.iter()
                .map(|(k, d)| (k, humantime::format_duration(*d).to_string())),
        )
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, Duration>, D::Error> {
        let m = BTreeMap::<String, String>::deserialize(d)?;
        m.into_iter()
            .map(|(k, s)| {
                humantime::parse_duration(&s)
                    .map(|v| (k.clone(), v))
                    .map_err(|e| serde::de::Error::custom(format!("{k}: {s:?}: {e}")))
            })
            .collect()
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_documented_keys_parse() {
        let config = Config::from_toml(
            r#"
            listen = "127.0.0.1:9090"
            public_url = "http://127.0.0.1:9090"
            data_dir = "d"
            retention = "7d"
            [fetch]
            allow = ["127.0.0.0/8"]
            [[accounts]]
            name = "demo"
            secret = "s"
            api_keys = ["k"]
            referrers = ["example.com", "*.example.org"]
            max_tasks_per_hour = 1000
            "#,
        )
        .unwrap();
        assert_eq!(config.retention, Duration::from_secs(7 * 86400));
        assert_eq!(config.accounts[0].max_tasks_per_hour, Some(1000));
        assert_eq!(config.fetch.allow, vec!["127.0.0.0/8"]);
        config.validate().unwrap();
    }

    #[test]
    fn blobs_on_s3() {
        let config = Config::from_toml(
            r#"
            [blobs]
            url = "s3://media/drake/outputs/"
            output_urls = "presigned"
            [blobs.s3]
            endpoint = "http://127.0.0.1:9000"
            region = "eu-west-3"
            access_key_id = "id"
            secret_access_key = "secret"
            allow_http = true
            "#,
        )
        .unwrap();
        config.validate().unwrap();
        assert_eq!(
            config.blobs.location(Path::new("d")).unwrap(),
            BlobsLocation::S3 {
                bucket: "media".into(),
                prefix: "drake/outputs".into()
            }
        );
        let local = Config::default();
        assert_eq!(
            local.blobs.location(Path::new("d")).unwrap(),
            BlobsLocation::Dir(PathBuf::from("d/blobs"))
        );
        let problems = |toml: &str| Config::from_toml(toml).unwrap().validate().unwrap_err().0;
        // Pre-signing needs a bucket and keys; public links need a base.
        assert_eq!(problems("[blobs]\noutput_urls = \"presigned\"").len(), 1);
        assert_eq!(
            problems("[blobs]\nurl = \"s3://b\"\noutput_urls = \"presigned\"").len(),
            1
        );
        assert_eq!(problems("[blobs]\noutput_urls = \"public\"").len(), 1);
        assert!(problems("[blobs]\nurl = \"gs://b\"")[0].contains("blobs.url"));
        assert!(problems("[blobs]\nurl = \"s3://\"")[0].contains("no bucket"));
        assert!(
            problems("[blobs]\nurl = \"s3://b\"\n[blobs.s3]\naccess_key_id = \"a\"")[0]
                .contains("go together")
        );
        assert!(Config::from_toml("[blobs]\noutput_urls = \"cdn\"").is_err());
    }

    /// Every key of `value` as a dotted path (`fetch.allow`); the entries
    /// of `accounts` as `accounts.<key>`; `maps` are leaves.
    fn key_paths(value: &serde_json::Value, at: &str, maps: &[&str], out: &mut BTreeSet<String>) {
        match value {
            serde_json::Value::Object(obj) if !maps.contains(&at) => {
                for (k, v) in obj {
                    let path = if at.is_empty() {
                        k.clone()
                    } else {
                        format!("{at}.{k}")
                    };
                    key_paths(v, &path, maps, out);
                }
            }
            serde_json::Value::Array(list) if list.first().is_some_and(|v| v.is_object()) => {
                for v in list {
                    key_paths(v, at, maps, out);
                }
            }
            _ => {
                out.insert(at.to_owned());
            }
        }
    }

    /// docs/configuration.md shows every key the configuration has, and
    /// nothing else: its TOML block parses (unknown keys are refused) and
    /// has the keys of a configuration with every option set; every
    /// `DRAKE_*` variable read here is named there.
    #[test]
    fn the_configuration_page_matches_the_structs() {
        let page = include_str!("../../docs/configuration.md");
        let block = page
            .split("```toml\n")
            .nth(1)
            .and_then(|rest| rest.split("\n```").next())
            .unwrap();
        let documented = Config::from_toml(block).unwrap();
        assert_eq!(documented.accounts.len(), 1);
        let maps = ["engine.time_limits", "budgets.tasks"];
        let mut shown = BTreeSet::new();
        let table: toml::Table = toml::from_str(block).unwrap();
        key_paths(
            &serde_json::to_value(&table).unwrap(),
            "",
            &maps,
            &mut shown,
        );

        // Every option set, so that none is left out of the JSON.
        let mut full = Config {
            public_url: Some("http://h".into()),
            components_dir: Some("c".into()),
            ..Config::default()
        };
        full.engine.cache_dir = Some("c".into());
        full.ffmpeg.scratch_dir = Some("s".into());
        full.ffmpeg.unsandboxed = Some("u".into());
        full.store.url = Some("sqlite://d".into());
        full.blobs.url = Some("file:///d".into());
        full.blobs.public_base_url = Some("http://cdn".into());
        full.blobs.s3.endpoint = Some("http://s3".into());
        full.blobs.s3.access_key_id = Some("a".into());
        full.blobs.s3.secret_access_key = Some("s".into());
        full.metrics_token = Some("t".into());
        full.maps.tile_url = Some("http://t/{z}/{x}/{y}.png".into());
        full.maps.satellite_tile_url = Some("http://s/{z}/{x}/{y}.jpg".into());
        full.maps.geocoder_url = Some("http://g/search?q={query}".into());
        full.accounts = documented.accounts.clone();
        full.accounts[0].retention = Some(Duration::from_secs(60));
        full.accounts[0].max_tasks_per_hour = Some(1);
        full.accounts[0].max_running = Some(1);
        let mut keys = BTreeSet::new();
        key_paths(&serde_json::to_value(&full).unwrap(), "", &maps, &mut keys);
        assert_eq!(
            shown, keys,
            "docs/configuration.md and the config structs differ"
        );

        let source = include_str!("config.rs");
        for var in source.split('"').filter(|w| {
            w.starts_with("DRAKE_")
                && w.len() > 6
                && w.bytes()
                    .all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit())
        }) {
            assert!(page.contains(var), "{var} is not in docs/configuration.md");
        }
    }

    /// Running ffmpeg without namespaces takes words, not a typo.
    #[test]
    fn an_unsandboxed_ffmpeg_must_be_meant() {
        let none = "[ffmpeg]\nsandbox = \"none\"";
        let problems = Config::from_toml(none).unwrap().validate().unwrap_err().0;
        assert!(problems[0].contains("ffmpeg.unsandboxed"), "{problems:?}");
        let loose = format!("{none}\nunsandboxed = \"yes\"");
        assert!(Config::from_toml(&loose).unwrap().validate().is_err());
        let meant = format!("{none}\nunsandboxed = \"{UNSANDBOXED_CONSENT}\"");
        Config::from_toml(&meant).unwrap().validate().unwrap();
    }

    #[test]
    fn unknown_keys_and_every_problem_are_reported() {
        assert!(Config::from_toml("listne = 1").is_err());
        let mut config = Config::from_toml(
            "workers = 0\n[[accounts]]\nname = \"a\"\n[[accounts]]\nname = \"a\"\nsecret = \"x\"",
        )
        .unwrap();
        let err = config.validate().unwrap_err();
        assert_eq!(err.0.len(), 3, "{err}");
        let err = config
            .apply_env(&[("DRAKE_WORKERS".into(), "many".into())])
            .unwrap_err();
        assert!(err.to_string().contains("DRAKE_WORKERS"));
    }
}
