//! `video.upload.vimeo`: upload a video with Vimeo's Advanced API (v2,
//! OAuth 1.0a — the credentials dragon's task takes), on
//! `{base}/api/rest/v2`:
//!
//! 1. `vimeo.videos.upload.getQuota` → the free space (an output; a file
//!    larger than it is refused before uploading);
//! 2. `vimeo.videos.upload.getTicket` (`upload_method=streaming`) → a
//!    ticket and its upload endpoint;
//! 3. `PUT` of the bytes to the endpoint, verified with `Content-Range:
//!    bytes */N` and resumed from the 308's `Range` after a drop or a 5xx
//!    ([`drake_upload::resumable_put`]); the final verification gives
//!    `uploaded_file_size`;
//! 4. `vimeo.videos.upload.complete` → the video id;
//! 5. `vimeo.videos.setTitle` / `setDescription`.
//!
//! Every API call is a form POST signed with OAuth 1.0a HMAC-SHA1. The
//! base URL comes from the host's `[upload] vimeo_base_url`.

use drake_sdk::http::{Body, Request};
use drake_sdk::{Ctx, Task, TaskError, Values};
use drake_upload::sign::OAuth1;
use drake_upload::{BACKOFF, Platform, Resumed, form};
use serde::Deserialize;
use serde_json::Value;

drake_sdk::task!(UploadVimeo);

/// Parameters.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// URL of the video.
    pub url: String,
    /// Title.
    #[serde(default)]
    pub title: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// OAuth consumer key of the Vimeo app.
    pub consumer_key: String,
    /// OAuth consumer secret.
    pub consumer_secret: String,
    /// OAuth access token of the account.
    pub access_token_key: String,
    /// OAuth access token secret.
    pub access_token_secret: String,
}

/// The task.
pub struct UploadVimeo;

struct Api<'a> {
    vimeo: Platform,
    endpoint: String,
    oauth: OAuth1<'a>,
    calls: u64,
}

impl Api<'_> {
    /// One signed API call: `{"stat": "ok", …}` or the task error.
    fn call(
        &mut self,
        ctx: &mut dyn Ctx,
        method: &str,
        args: &[(&str, &str)],
    ) -> Result<Value, TaskError> {
        let mut params = vec![("format", "json"), ("method", method)];
        params.extend_from_slice(args);
        let body = form(&params);
        let answer = drake_upload::with_retries(ctx, BACKOFF, || {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            self.calls += 1;
            let nonce = drake_upload::sign::hmac_sha256_hex(
                &format!("{}-{}", now.as_nanos(), self.calls),
                &self.endpoint,
            );
            let auth =
                self.oauth
                    .header("POST", &self.endpoint, &params, now.as_secs(), &nonce[..32]);
            Request::new("POST", &self.endpoint)
                .header("Authorization", auth)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(Body::Bytes(body.as_bytes()))
        })
        .map_err(|e| self.vimeo.unreachable(method, &e))?;
        let json = answer.json();
        if answer.status != 200 || json["stat"] != "ok" {
            return Err(self.vimeo.refusal(method, &answer, "access_token_key"));
        }
        Ok(json)
    }
}

impl Task for UploadVimeo {
    const NAME: &'static str = "video.upload.vimeo";
    const SUMMARY: &'static str = "Upload a video to Vimeo (Advanced API, OAuth 1.0a, resumable streaming upload) with its title and description.";
    const VALUES: &'static [&'static str] = &["free_space", "uploaded_file_size", "output"];
    const FILES: &'static [&'static str] = &[];
    type Params = Params;

    fn run(ctx: &mut dyn Ctx, p: Params) -> Result<Values, TaskError> {
        let vimeo = Platform::new("Vimeo", "DRAKE_UPLOAD_VIMEO_BASE_URL")?;
        let endpoint = format!("{}/api/rest/v2", vimeo.base);
        let mut api = Api {
            vimeo,
            endpoint,
            oauth: OAuth1 {
                consumer_key: &p.consumer_key,
                consumer_secret: &p.consumer_secret,
                token: &p.access_token_key,
                token_secret: &p.access_token_secret,
            },
            calls: 0,
        };
        let source = drake_upload::source(ctx, &p.url)?;
        ctx.progress(5);

        let quota = api.call(ctx, "vimeo.videos.upload.getQuota", &[])?;
        let free =
            drake_upload::number(&quota["user"]["upload_space"]["free"]).ok_or_else(|| {
                TaskError::Failed("Vimeo: the quota answer has no upload_space.free".into())
            })?;
        if source.size > free {
            return Err(TaskError::Limit(format!(
                "Vimeo: the video ({} bytes) is larger than the account's free upload space ({free} bytes)",
                source.size
            )));
        }
        let ticket = api.call(
            ctx,
            "vimeo.videos.upload.getTicket",
            &[("upload_method", "streaming")],
        )?;
        let (Some(ticket_id), Some(upload_to)) = (
            ticket["ticket"]["id"].as_str().map(str::to_owned),
            ticket["ticket"]["endpoint"].as_str().map(str::to_owned),
        ) else {
            return Err(TaskError::Failed(
                "Vimeo: the ticket has no id or endpoint".into(),
            ));
        };
        ctx.progress(10);

        match drake_upload::resumable_put(ctx, &upload_to, &source, &[], BACKOFF, (10, 95))
            .map_err(|e| api.vimeo.unreachable("uploading", &e))?
        {
            Resumed::Done(_) => {}
            Resumed::Refused(r) => {
                return Err(api.vimeo.refusal("uploading", &r, "access_token_key"));
            }
        }
        // Verify: the endpoint says how much it holds.
        let check = ctx
            .http(
                &Request::new("PUT", &upload_to)
                    .header("Content-Range", format!("bytes */{}", source.size)),
            )
            .map_err(|e| api.vimeo.unreachable("verifying the upload", &e))?;
        let uploaded = check
            .header("range")
            .and_then(drake_upload::received_end)
            .map(|last| last + 1);
        let Some(uploaded) = uploaded.filter(|n| *n == source.size) else {
            return Err(TaskError::Failed(format!(
                "Vimeo: the upload endpoint holds {} of {} bytes",
                uploaded.unwrap_or(0),
                source.size
            )));
        };

        let completed = api.call(
            ctx,
            "vimeo.videos.upload.complete",
            &[("ticket_id", &ticket_id), ("filename", &source.file_name)],
        )?;
        let Some(video_id) = completed["ticket"]["video_id"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| {
                drake_upload::number(&completed["ticket"]["video_id"]).map(|n| n.to_string())
            })
        else {
            return Err(TaskError::Failed(
                "Vimeo: the completed ticket has no video_id".into(),
            ));
        };
        if !p.title.is_empty() {
            api.call(
                ctx,
                "vimeo.videos.setTitle",
                &[("video_id", &video_id), ("title", &p.title)],
            )?;
        }
        if !p.description.is_empty() {
            api.call(
                ctx,
                "vimeo.videos.setDescription",
                &[("video_id", &video_id), ("description", &p.description)],
            )?;
        }
        Ok(drake_sdk::values([
            ("free_space", free.into()),
            ("uploaded_file_size", uploaded.into()),
            ("output", format!("https://vimeo.com/{video_id}").into()),
        ]))
    }
}
