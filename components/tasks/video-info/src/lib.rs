//! `video.info`: what a video is — container, size as shot, duration,
//! frame rate, alpha, rotation and codecs — from ffprobe through the
//! host's ffmpeg capability.

use drake_sdk::media::{centis, duration_of, fetch_and_probe, rate_value};
use drake_sdk::{Ctx, MediaInfo, Task, TaskError, Values};
use serde::Deserialize;
use serde_json::Value;

drake_sdk::task!(VideoInfo);

/// Parameters.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// URL of the video.
    pub url: String,
}

/// The task.
pub struct VideoInfo;

impl Task for VideoInfo {
    const NAME: &'static str = "video.info";
    const SUMMARY: &'static str =
        "Describe a video: container, size as shot, duration, frame rate, rotation, codecs.";
    const VALUES: &'static [&'static str] = &[
        "content_type",
        "width",
        "height",
        "duration",
        "frame_rate",
        "alpha",
        "rotation",
        "audio_codec",
        "video_codec",
    ];
    const FILES: &'static [&'static str] = &[];
    type Params = Params;

    fn run(ctx: &mut dyn Ctx, p: Params) -> Result<Values, TaskError> {
        let (media, info) = fetch_and_probe(ctx, "url", &p.url)?;
        describe(&info, &media.content_type())
    }
}

/// The values of a probed video.
pub fn describe(info: &MediaInfo, declared_type: &str) -> Result<Values, TaskError> {
    let Some(video) = info.first("video") else {
        return Err(TaskError::InvalidInput(
            "the file has no video stream".to_owned(),
        ));
    };
    let (width, height) = video.display_size();
    let duration = duration_of(info, video);
    let audio = info.first("audio").map(|a| Value::from(a.codec.clone()));
    Ok(drake_sdk::values([
        ("content_type", content_type(info, declared_type).into()),
        ("width", width.into()),
        ("height", height.into()),
        ("duration", centis(duration).into()),
        ("frame_rate", rate_value(video.frame_rate).into()),
        ("alpha", video.alpha.into()),
        ("rotation", video.rotation.into()),
        ("audio_codec", audio.unwrap_or(Value::Null)),
        ("video_codec", video.codec.clone().into()),
    ]))
}

/// The MIME type from the demuxer, unless the server declared a video
/// type (it knows `.mov` from `.mp4`; the demuxer reports both alike).
fn content_type(info: &MediaInfo, declared: &str) -> String {
    let declared = declared.split(';').next().unwrap_or("").trim();
    if declared.starts_with("video/") {
        return declared.to_owned();
    }
    let format = info.format.as_str();
    let has = |name: &str| format.split(',').any(|f| f == name);
    let vp = info
        .first("video")
        .is_some_and(|v| matches!(v.codec.as_str(), "vp8" | "vp9" | "av1"));
    let t = if has("mp4") || has("mov") {
        "video/mp4"
    } else if has("webm") && vp {
        "video/webm"
    } else if has("matroska") {
        "video/x-matroska"
    } else if has("avi") {
        "video/x-msvideo"
    } else if has("flv") {
        "video/x-flv"
    } else if has("mpegts") {
        "video/mp2t"
    } else if has("mpeg") {
        "video/mpeg"
    } else if has("asf") {
        "video/x-ms-asf"
    } else if has("ogg") {
        "video/ogg"
    } else if has("gif") {
        "image/gif"
    } else {
        "application/octet-stream"
    };
    t.to_owned()
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;
    use drake_sdk::{FakeCtx, StreamInfo};

    fn phone_video() -> MediaInfo {
        MediaInfo {
            format: "mov,mp4,m4a,3gp,3g2,mj2".into(),
            duration: 3.0333,
            bit_rate: 1,
            streams: vec![
                StreamInfo {
                    kind: "video".into(),
                    codec: "h264".into(),
                    width: 1920,
                    height: 1080,
                    frame_rate: 29.97002997,
                    rotation: 270,
                    pixel_format: "yuv420p".into(),
                    ..StreamInfo::default()
                },
                StreamInfo {
                    kind: "audio".into(),
                    codec: "aac".into(),
                    ..StreamInfo::default()
                },
            ],
        }
    }

    #[test]
    fn dimensions_are_as_shot() {
        let mut ctx = FakeCtx::default().with_input("http://x/v.mp4", "", vec![1, 2, 3]);
        ctx.probe_result = Some(phone_video());
        let v = drake_sdk::run_json::<VideoInfo>(&mut ctx, r#"{"url": "http://x/v.mp4"}"#).unwrap();
        assert_eq!(v["width"], 1080);
        assert_eq!(v["height"], 1920);
        assert_eq!(v["rotation"], 270);
        assert_eq!(v["duration"], 3.03);
        assert_eq!(v["frame_rate"], 29.97);
        assert_eq!(v["content_type"], "video/mp4");
        assert_eq!(v["audio_codec"], "aac");
        assert_eq!(v["video_codec"], "h264");
        assert_eq!(v["alpha"], false);
    }

    #[test]
    fn audio_only_and_unreadable_files_are_input_errors() {
        let mut ctx = FakeCtx::default().with_input("http://x/a", "", vec![1]);
        ctx.probe_result = Some(MediaInfo {
            streams: vec![StreamInfo {
                kind: "audio".into(),
                ..StreamInfo::default()
            }],
            ..MediaInfo::default()
        });
        let e = drake_sdk::run_json::<VideoInfo>(&mut ctx, r#"{"url": "http://x/a"}"#).unwrap_err();
        assert_eq!(
            e,
            TaskError::InvalidInput("the file has no video stream".into())
        );
        ctx.probe_result = None;
        let e = drake_sdk::run_json::<VideoInfo>(&mut ctx, r#"{"url": "http://x/a"}"#).unwrap_err();
        assert!(matches!(e, TaskError::InvalidInput(_)));
        let e = drake_sdk::run_json::<VideoInfo>(&mut ctx, r#"{}"#).unwrap_err();
        assert_eq!(e, TaskError::parameter("url", "this field is required"));
    }
}
