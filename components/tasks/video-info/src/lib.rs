//! `video.info`: what a video is — container, size as shot, duration,
//! frame rate, alpha, rotation and codecs — from ffprobe through the
//! host's ffmpeg capability.

use drake_sdk::media::{FfmpegError, centis, duration_of, rate_value};
use drake_sdk::{Ctx, MediaInfo, Task, TaskError, Values};
use serde::Deserialize;
use serde_json::Value;

mod playlist;

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
        "renditions",
    ];
    const FILES: &'static [&'static str] = &[];
    type Params = Params;

    fn run(ctx: &mut dyn Ctx, p: Params) -> Result<Values, TaskError> {
        let media = ctx
            .fetch(&p.url, None)
            .map_err(|e| e.into_task_error("url"))?;
        if media.size() == 0 {
            return Err(TaskError::InvalidInput("url: the file is empty".into()));
        }
        // An HLS or DASH manifest is described from its text.
        if let Some(kind) = playlist::sniff(&media.read(0, 1024)) {
            return playlist::describe(ctx, kind, media.as_ref(), &p.url);
        }
        let info = ctx
            .probe(media.as_ref())
            .map_err(FfmpegError::into_task_error)?;
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

    /// An HLS master (its duration from the first variant's media
    /// playlist, fetched relative to it) and a DASH manifest, described
    /// from their text; a DTD or a cut manifest is an input error.
    #[test]
    fn manifests_are_described_by_their_renditions() {
        let master = "#EXTM3U\n#EXT-X-VERSION:7\n\
            #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"a\",URI=\"output/audio.m3u8\"\n\
            #EXT-X-STREAM-INF:BANDWIDTH=900000,CODECS=\"avc1.64001e,mp4a.40.2\",RESOLUTION=640x360,FRAME-RATE=25.000,AUDIO=\"a\"\n\
            output/360p.m3u8\n\
            #EXT-X-STREAM-INF:BANDWIDTH=500000,CODECS=\"avc1.64000d,mp4a.40.2\",RESOLUTION=426x240,FRAME-RATE=25.000,AUDIO=\"a\"\n\
            output/240p.m3u8\n";
        let media = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.000000,\n360p/1.m4s\n\
            #EXTINF:1.52,\n360p/2.m4s\n#EXT-X-ENDLIST\n";
        let mut ctx = FakeCtx::default()
            .with_input("http://x/K/output.m3u8", "", master.as_bytes().to_vec())
            .with_input("http://x/K/output/360p.m3u8", "", media.as_bytes().to_vec());
        let v = drake_sdk::run_json::<VideoInfo>(&mut ctx, r#"{"url": "http://x/K/output.m3u8"}"#)
            .unwrap();
        assert_eq!(v["content_type"], "application/vnd.apple.mpegurl");
        assert_eq!(
            (v["width"].clone(), v["height"].clone()),
            (640.into(), 360.into())
        );
        assert_eq!(v["duration"], 5.52);
        assert_eq!(v["frame_rate"], 25.0);
        assert_eq!(
            (v["video_codec"].clone(), v["audio_codec"].clone()),
            ("h264".into(), "aac".into())
        );
        assert_eq!(v["renditions"][0]["width"], 426);
        assert_eq!(v["renditions"][1]["bandwidth"], 900_000);

        let mpd = r#"<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" mediaPresentationDuration="PT1M2.5S">
            <Period><AdaptationSet contentType="video" mimeType="video/mp4" frameRate="30000/1001" codecs="vp09.00.21.08">
            <Representation id="a" bandwidth="300000" width="426" height="240"/>
            <Representation id="b" bandwidth="700000" width="640" height="360"/></AdaptationSet>
            <AdaptationSet mimeType="audio/mp4"><Representation id="c" codecs="opus" bandwidth="64000"/></AdaptationSet>
            </Period></MPD>"#;
        let mut ctx = FakeCtx::default().with_input("http://x/o.mpd", "", mpd.as_bytes().to_vec());
        let v = drake_sdk::run_json::<VideoInfo>(&mut ctx, r#"{"url": "http://x/o.mpd"}"#).unwrap();
        assert_eq!(v["content_type"], "application/dash+xml");
        assert_eq!(
            (v["width"].clone(), v["duration"].clone()),
            (640.into(), 62.5.into())
        );
        assert_eq!(
            (v["video_codec"].clone(), v["audio_codec"].clone()),
            ("vp9".into(), "opus".into())
        );
        assert_eq!(v["frame_rate"], 29.97);
        assert_eq!(v["renditions"].as_array().unwrap().len(), 2);

        for bad in [
            "<?xml version=\"1.0\"?><!DOCTYPE MPD [<!ENTITY a \"aaaa\">]><MPD>&a;</MPD>",
            "<?xml version=\"1.0\"?><MPD><Period>",
            "#EXTM3U\n#EXT-X-VERSION:3\n",
        ] {
            let mut ctx = FakeCtx::default().with_input("http://x/m", "", bad.as_bytes().to_vec());
            let e =
                drake_sdk::run_json::<VideoInfo>(&mut ctx, r#"{"url": "http://x/m"}"#).unwrap_err();
            assert!(matches!(e, TaskError::InvalidInput(_)), "{bad}: {e:?}");
        }
        // A master whose variant cannot be fetched names the URL.
        let mut ctx =
            FakeCtx::default().with_input("http://x/K/output.m3u8", "", master.as_bytes().to_vec());
        let e = drake_sdk::run_json::<VideoInfo>(&mut ctx, r#"{"url": "http://x/K/output.m3u8"}"#)
            .unwrap_err();
        assert!(e.to_string().contains("url"), "{e}");
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
