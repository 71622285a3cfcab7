//! `video.upload.fb`: upload a video with the Graph API's resumable video
//! upload, in three phases on `{base}/{GRAPH_VERSION}/me/videos`:
//!
//! 1. `upload_phase=start&file_size=N` → `video_id`, `upload_session_id`
//!    and the first chunk's `start_offset`/`end_offset`;
//! 2. `upload_phase=transfer` with the chunk as the `video_file_chunk`
//!    part of a multipart body → the next offsets, until they meet (a
//!    failed chunk is sent again; an answer naming other offsets is
//!    followed);
//! 3. `upload_phase=finish` with the title and description.
//!
//! Every call carries `access_token` and `appsecret_proof` (HMAC-SHA256 of
//! the token with the app secret). The base URL comes from the host's
//! `[upload] facebook_base_url`.

use drake_sdk::http::{Body, Request, Response};
use drake_sdk::{Ctx, Task, TaskError, Values};
use drake_upload::{BACKOFF, Platform, form, sign};
use serde::Deserialize;

drake_sdk::task!(UploadFacebook);

/// The Graph API version spoken.
const GRAPH_VERSION: &str = "v19.0";

/// The largest chunk the task holds in memory: Facebook asks for chunks of
/// a few MiB; more is a broken or hostile server.
const MAX_CHUNK: u64 = 64 << 20;

/// Parameters.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// URL of the video.
    pub url: String,
    /// The Facebook app's id (dragon's `api_key`); Graph calls are
    /// authorised by the token and the app-secret proof.
    pub api_key: String,
    /// The app secret (signs `appsecret_proof`).
    pub app_secret: String,
    /// User or page access token with the `publish_video` permission.
    pub access_token: String,
    /// Title.
    #[serde(default)]
    pub title: String,
    /// Description.
    #[serde(default)]
    pub description: String,
}

/// The task.
pub struct UploadFacebook;

impl Task for UploadFacebook {
    const NAME: &'static str = "video.upload.fb";
    const SUMMARY: &'static str =
        "Upload a video to Facebook (Graph API resumable upload) with its title and description.";
    const VALUES: &'static [&'static str] = &["output", "duration"];
    const FILES: &'static [&'static str] = &[];
    type Params = Params;

    fn run(ctx: &mut dyn Ctx, p: Params) -> Result<Values, TaskError> {
        if p.api_key.trim().is_empty() {
            return Err(TaskError::parameter("api_key", "this field is required"));
        }
        let fb = Platform::new("Facebook", "DRAKE_UPLOAD_FACEBOOK_BASE_URL")?;
        let source = drake_upload::source(ctx, &p.url)?;
        ctx.progress(5);
        let endpoint = format!("{}/{GRAPH_VERSION}/me/videos", fb.base);
        let proof = sign::hmac_sha256_hex(&p.app_secret, &p.access_token);
        let auth = [
            ("access_token", p.access_token.as_str()),
            ("appsecret_proof", proof.as_str()),
        ];
        let call = |ctx: &mut dyn Ctx, what: &str, fields: &[(&str, &str)]| {
            let body = form(&[&auth[..], fields].concat());
            let answer = drake_upload::with_retries(ctx, BACKOFF, || {
                Request::new("POST", &endpoint)
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(Body::Bytes(body.as_bytes()))
            })
            .map_err(|e| fb.unreachable(what, &e))?;
            if answer.status != 200 {
                return Err(fb.refusal(what, &answer, "access_token"));
            }
            Ok(answer.json())
        };

        let size = source.size.to_string();
        let started = call(
            ctx,
            "starting the upload",
            &[("upload_phase", "start"), ("file_size", &size)],
        )?;
        let (Some(video_id), Some(session)) = (
            started["video_id"].as_str().map(str::to_owned),
            started["upload_session_id"].as_str().map(str::to_owned),
        ) else {
            return Err(TaskError::Failed(
                "Facebook: the start answer has no video_id or upload_session_id".into(),
            ));
        };
        let mut range = (
            drake_upload::number(&started["start_offset"]),
            drake_upload::number(&started["end_offset"]),
        );
        let mut failures = 0;
        loop {
            let (Some(start), Some(end)) = range else {
                return Err(TaskError::Failed(
                    "Facebook: an answer without start_offset/end_offset".into(),
                ));
            };
            if start >= end {
                break;
            }
            if end > source.size || end - start > MAX_CHUNK {
                return Err(TaskError::Failed(format!(
                    "Facebook asked for bytes {start}–{end} of a {}-byte file",
                    source.size
                )));
            }
            let chunk = source
                .media
                .read(start, u32::try_from(end - start).unwrap_or(u32::MAX));
            let start_text = start.to_string();
            let (content_type, body) = sign::multipart(
                &[
                    &auth[..],
                    &[
                        ("upload_phase", "transfer"),
                        ("upload_session_id", session.as_str()),
                        ("start_offset", start_text.as_str()),
                    ],
                ]
                .concat(),
                "video_file_chunk",
                &source.file_name,
                &source.content_type,
                &chunk,
            );
            let answer = ctx.http(
                &Request::new("POST", &endpoint)
                    .header("Content-Type", content_type)
                    .body(Body::Bytes(&body)),
            );
            let realigned = match &answer {
                Ok(r) if r.status != 200 => realign(r),
                _ => None,
            };
            match answer {
                Ok(r) if r.status == 200 => {
                    let json = r.json();
                    range = (
                        drake_upload::number(&json["start_offset"]),
                        drake_upload::number(&json["end_offset"]),
                    );
                    failures = 0;
                    let done = start * 90 / source.size.max(1);
                    ctx.progress(5 + done as u8);
                    continue;
                }
                Ok(r) if realigned.is_none() && !drake_upload::transient(r.status) => {
                    return Err(fb.refusal("uploading", &r, "access_token"));
                }
                Err(e) if !drake_upload::retryable(&e) => {
                    return Err(fb.unreachable("uploading", &e));
                }
                // A drop or a 5xx (send the same chunk again), or offsets
                // Facebook names after a bad chunk (send those): either way
                // a failure, so a server that never settles ends the task.
                _ => {}
            }
            if let Some(named) = realigned {
                range = named;
            }
            failures += 1;
            if failures >= BACKOFF.tries {
                return Err(TaskError::Failed(format!(
                    "Facebook: the chunk at {start} failed {failures} times"
                )));
            }
            std::thread::sleep(BACKOFF.wait(failures));
        }
        let finished = call(
            ctx,
            "finishing the upload",
            &[
                ("upload_phase", "finish"),
                ("upload_session_id", &session),
                ("title", &p.title),
                ("description", &p.description),
            ],
        )?;
        if finished["success"] != serde_json::Value::Bool(true) {
            return Err(TaskError::Failed(
                "Facebook: the upload was not accepted at finish".into(),
            ));
        }
        Ok(drake_sdk::values([
            (
                "output",
                format!("https://www.facebook.com/video.php?v={video_id}").into(),
            ),
            ("duration", source.duration.into()),
        ]))
    }
}

/// The offsets of a 4xx answer's `error.error_data` (a chunk to resend
/// from elsewhere).
fn realign(r: &Response) -> Option<(Option<u64>, Option<u64>)> {
    let data = &r.json()["error"]["error_data"];
    let range = (
        drake_upload::number(&data["start_offset"]),
        drake_upload::number(&data["end_offset"]),
    );
    (r.status == 400 && range.0.is_some() && range.1.is_some()).then_some(range)
}
