//! `video.upload.youtube`: upload a video with the YouTube Data API v3
//! resumable protocol.
//!
//! 1. `POST {base}/upload/youtube/v3/videos?uploadType=resumable&part=snippet,status`
//!    with `Authorization: Bearer <access_token>`, the `key` (developer
//!    key), `X-Upload-Content-Length`/`-Type` and the metadata JSON
//!    (snippet title, description, tags, categoryId; status
//!    privacyStatus) → `200` with the session URL in `Location`;
//! 2. `PUT` the bytes to the session URL, resuming after a dropped
//!    connection or a 5xx ([`drake_upload::resumable_put`]) → `200`/`201`
//!    with the video resource (`id`).
//!
//! The base URL comes from the host's `[upload] youtube_base_url`.

use drake_sdk::http::Request;
use drake_sdk::{Ctx, Task, TaskError, Values};
use drake_upload::{BACKOFF, Platform, Resumed};
use serde::Deserialize;
use serde_json::json;

drake_sdk::task!(UploadYoutube);

/// Who may watch the video.
#[derive(Debug, Clone, Copy, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Privacy {
    /// Everyone.
    #[default]
    Public,
    /// The owner and whom they invite.
    Private,
    /// Whoever has the link.
    Unlisted,
}

impl Privacy {
    fn as_str(self) -> &'static str {
        match self {
            Privacy::Public => "public",
            Privacy::Private => "private",
            Privacy::Unlisted => "unlisted",
        }
    }
}

fn default_category() -> u32 {
    22
}

/// Parameters.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// URL of the video.
    pub url: String,
    /// OAuth 2.0 access token of the channel (scope `youtube.upload`).
    pub access_token: String,
    /// API key of the Google project (sent as `key`).
    pub developer_key: String,
    /// Title (at most 100 characters).
    #[schemars(length(min = 1, max = 100))]
    pub title: String,
    /// Description (at most 5000 bytes).
    #[serde(default)]
    #[schemars(length(max = 5000))]
    pub description: String,
    /// Keywords.
    #[serde(default)]
    pub tags: Vec<String>,
    /// YouTube video category (22: People & Blogs).
    #[serde(default = "default_category")]
    pub category_id: u32,
    /// `public`, `private` or `unlisted`.
    #[serde(default)]
    pub privacy_status: Privacy,
}

/// The task.
pub struct UploadYoutube;

impl Task for UploadYoutube {
    const NAME: &'static str = "video.upload.youtube";
    const SUMMARY: &'static str = "Upload a video to YouTube (Data API v3 resumable upload) with its title, description, tags, category and privacy.";
    const VALUES: &'static [&'static str] = &["output", "duration"];
    const FILES: &'static [&'static str] = &[];
    type Params = Params;

    fn run(ctx: &mut dyn Ctx, p: Params) -> Result<Values, TaskError> {
        if p.description.len() > 5000 {
            return Err(TaskError::parameter(
                "description",
                "longer than YouTube's 5000 bytes",
            ));
        }
        let youtube = Platform::new("YouTube", "DRAKE_UPLOAD_YOUTUBE_BASE_URL")?;
        let source = drake_upload::source(ctx, &p.url)?;
        ctx.progress(5);

        let metadata = json!({
            "snippet": {
                "title": p.title,
                "description": p.description,
                "tags": p.tags,
                "categoryId": p.category_id.to_string(),
            },
            "status": {"privacyStatus": p.privacy_status.as_str()},
        })
        .to_string();
        let start = format!(
            "{}/upload/youtube/v3/videos?uploadType=resumable&part=snippet,status&key={}",
            youtube.base,
            drake_upload::percent(&p.developer_key)
        );
        let bearer = format!("Bearer {}", p.access_token);
        let answer = drake_upload::with_retries(ctx, BACKOFF, || {
            Request::new("POST", &start)
                .header("Authorization", bearer.clone())
                .header("Content-Type", "application/json; charset=UTF-8")
                .header("X-Upload-Content-Length", source.size.to_string())
                .header("X-Upload-Content-Type", source.content_type.clone())
                .body(drake_sdk::http::Body::Bytes(metadata.as_bytes()))
        })
        .map_err(|e| youtube.unreachable("starting the upload", &e))?;
        if answer.status != 200 && answer.status != 201 {
            return Err(youtube.refusal("starting the upload", &answer, "access_token"));
        }
        let Some(session) = answer.header("location").map(str::to_owned) else {
            return Err(TaskError::Failed(
                "YouTube: no upload session URL (Location) in the answer".into(),
            ));
        };
        ctx.progress(10);

        let auth = [("Authorization".to_owned(), bearer)];
        let done = drake_upload::resumable_put(ctx, &session, &source, &auth, BACKOFF, (10, 99))
            .map_err(|e| youtube.unreachable("uploading", &e))?;
        let video = match done {
            Resumed::Done(r) => r.json(),
            Resumed::Refused(r) => return Err(youtube.refusal("uploading", &r, "access_token")),
        };
        let Some(id) = video["id"].as_str() else {
            return Err(TaskError::Failed(
                "YouTube: the upload ended without a video id".into(),
            ));
        };
        Ok(drake_sdk::values([
            (
                "output",
                format!("https://www.youtube.com/watch?v={id}").into(),
            ),
            ("duration", source.duration.into()),
        ]))
    }
}
